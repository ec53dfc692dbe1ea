// The plant's shift calendar: named shifts with local start/end times (crossing midnight
// allowed) on chosen weekdays, in an IANA time zone. A shift belongs to the local day it
// starts on; its length follows the clock on DST days (a night shift can be 7 h or 9 h).
import { createZone, dayIndexToDate, type Zone } from './zone.js'

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const
export type Weekday = (typeof WEEKDAYS)[number]

export interface ShiftDefinition {
  name: string
  /** Local "HH:MM". */
  start: string
  /** Local "HH:MM"; at or before `start` means the next day. */
  end: string
  /** Weekdays the shift starts on. */
  days: readonly Weekday[]
}

export interface ShiftInstance {
  /** `YYYY-MM-DD/name`, the local date the shift starts on. */
  id: string
  name: string
  date: string
  startTs: number
  endTs: number
}

export interface ShiftCalendar {
  readonly zone: Zone
  /** Shift instances overlapping [fromTs, toTs), by start time. */
  instancesBetween(fromTs: number, toTs: number): ShiftInstance[]
  /** The shift covering `ts` (the earliest starting one if shifts overlap). */
  instanceAt(ts: number): ShiftInstance | undefined
  /** The instance with this id, if the calendar has it. */
  byId(id: string): ShiftInstance | undefined
}

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/
const MAX_SHIFT_DAYS = 2

export function parseHhMm(text: string): number {
  const m = HHMM.exec(text)
  if (!m) throw new RangeError(`"${text}" is not a local time like "06:00"`)
  return Number(m[1]) * 60 + Number(m[2])
}

export function createShiftCalendar(options: { timeZone: string; shifts: readonly ShiftDefinition[] }): ShiftCalendar {
  const zone = createZone(options.timeZone)
  const shifts = options.shifts.map((s) => {
    const startMin = parseHhMm(s.start)
    const endMin = parseHhMm(s.end)
    return { name: s.name, startMin, endMin, overnight: endMin <= startMin, days: new Set(s.days) }
  })

  const instancesOfDay = (dayIndex: number): ShiftInstance[] => {
    // 1970-01-01 was a Thursday.
    const weekday = WEEKDAYS[(((dayIndex + 4) % 7) + 7) % 7] as Weekday
    const date = dayIndexToDate(dayIndex)
    return shifts
      .filter((s) => s.days.has(weekday))
      .map((s) => ({
        id: `${date}/${s.name}`,
        name: s.name,
        date,
        startTs: zone.localToUtc(dayIndex, s.startMin),
        endTs: zone.localToUtc(dayIndex + (s.overnight ? 1 : 0), s.endMin),
      }))
  }

  const instancesBetween = (fromTs: number, toTs: number): ShiftInstance[] => {
    const out: ShiftInstance[] = []
    const first = zone.localDayIndex(fromTs) - MAX_SHIFT_DAYS
    const last = zone.localDayIndex(toTs)
    for (let day = first; day <= last; day++) {
      for (const inst of instancesOfDay(day)) if (inst.endTs > fromTs && inst.startTs < toTs) out.push(inst)
    }
    return out.sort((a, b) => a.startTs - b.startTs || a.name.localeCompare(b.name))
  }

  return {
    zone,
    instancesBetween,
    instanceAt: (ts) => instancesBetween(ts, ts + 1)[0],
    byId(id) {
      const [date, name] = id.split('/')
      if (date === undefined || name === undefined) return undefined
      const dayIndex = Math.floor(Date.parse(`${date}T00:00:00Z`) / 86_400_000)
      if (Number.isNaN(dayIndex)) return undefined
      return instancesOfDay(dayIndex).find((i) => i.name === name)
    },
  }
}
