// When the simulated plant produces: shifts in local time of an IANA time zone (DST-aware,
// shifts may run over midnight), breaks inside each shift, weekends off unless enabled.
// A shift belongs to the day it starts on; a weekend day is Saturday or Sunday.
import { createZone } from '../shifts/zone.js'

export interface ShiftDefinition {
  name: string
  /** Local "HH:MM". */
  start: string
  /** Local "HH:MM"; at or before `start` means the next day. */
  end: string
}

export interface BreakDefinition {
  /** Minutes after the shift start. */
  afterMinutes: number
  minutes: number
}

export interface ShiftPatternOptions {
  timeZone: string
  shifts: readonly ShiftDefinition[]
  breaks: readonly BreakDefinition[]
  /** Produce on Saturdays and Sundays too. */
  weekends: boolean
}

export interface ShiftInstance {
  name: string
  startTs: number
  endTs: number
  /** false for a shift that starts on a weekend day while weekends are off. */
  workday: boolean
  breaks: readonly { startTs: number; endTs: number }[]
}

export interface ShiftPattern {
  /** The shift instance covering `ts`, or undefined between shifts. */
  instanceAt(ts: number): ShiftInstance | undefined
  /** Start of the first shift instance that starts after `ts`. */
  nextStartAfter(ts: number): number
  /** Whether machines produce at `ts`: inside a workday shift and not on a break. */
  producingAt(ts: number): boolean
}

export const DEFAULT_SHIFTS: readonly Readonly<ShiftDefinition>[] = Object.freeze([
  Object.freeze({ name: 'early', start: '06:00', end: '14:00' }),
  Object.freeze({ name: 'late', start: '14:00', end: '22:00' }),
  Object.freeze({ name: 'night', start: '22:00', end: '06:00' }),
])
export const DEFAULT_BREAKS: readonly Readonly<BreakDefinition>[] = Object.freeze([Object.freeze({ afterMinutes: 240, minutes: 30 })])

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/
const DAY_MS = 86_400_000

export function parseHhMm(text: string): number {
  const m = HHMM.exec(text)
  if (!m) throw new RangeError(`"${text}" is not a time like "06:00"`)
  return Number(m[1]) * 60 + Number(m[2])
}

export function createShiftPattern(options: ShiftPatternOptions): ShiftPattern {
  const zone = createZone(options.timeZone)
  const shifts = options.shifts.map((s) => {
    const startMin = parseHhMm(s.start)
    const endMin = parseHhMm(s.end)
    return { name: s.name, startMin, endMin, overnight: endMin <= startMin }
  })
  // Cache the answer for the interval it holds for: the plant asks once per tick.
  let cached: { fromTs: number; untilTs: number; instance: ShiftInstance | undefined } | undefined

  /** Instances of every shift starting on the local day `dayIndex` (days since 1970-01-01, local). */
  const instancesOfDay = (dayIndex: number): ShiftInstance[] =>
    shifts.map((s) => {
      const startTs = zone.localToUtc(dayIndex, s.startMin)
      const endTs = zone.localToUtc(dayIndex + (s.overnight ? 1 : 0), s.endMin)
      const weekday = new Date(dayIndex * DAY_MS).getUTCDay()
      return {
        name: s.name,
        startTs,
        endTs,
        workday: options.weekends || (weekday !== 0 && weekday !== 6),
        breaks: options.breaks.map((b) => ({
          startTs: Math.min(endTs, startTs + b.afterMinutes * 60_000),
          endTs: Math.min(endTs, startTs + (b.afterMinutes + b.minutes) * 60_000),
        })),
      }
    })

  const lookup = (ts: number): { fromTs: number; untilTs: number; instance: ShiftInstance | undefined } => {
    const today = zone.localDayIndex(ts)
    for (const day of [today - 1, today]) {
      for (const inst of instancesOfDay(day)) {
        if (inst.startTs <= ts && ts < inst.endTs) return { fromTs: inst.startTs, untilTs: inst.endTs, instance: inst }
      }
    }
    let prevEnd = -Infinity
    for (const day of [today - 1, today]) {
      for (const inst of instancesOfDay(day)) if (inst.endTs <= ts && inst.endTs > prevEnd) prevEnd = inst.endTs
    }
    return { fromTs: prevEnd, untilTs: nextStartAfter(ts), instance: undefined }
  }

  const nextStartAfter = (ts: number): number => {
    const today = zone.localDayIndex(ts)
    let best = Infinity
    for (const day of [today, today + 1, today + 2]) {
      for (const inst of instancesOfDay(day)) if (inst.startTs > ts && inst.startTs < best) best = inst.startTs
    }
    return best
  }

  const instanceAt = (ts: number): ShiftInstance | undefined => {
    if (cached === undefined || ts < cached.fromTs || ts >= cached.untilTs) cached = lookup(ts)
    return cached.instance
  }

  return {
    instanceAt,
    nextStartAfter,
    producingAt(ts) {
      const inst = instanceAt(ts)
      if (inst === undefined || !inst.workday) return false
      for (const b of inst.breaks) if (b.startTs <= ts && ts < b.endTs) return false
      return true
    },
  }
}
