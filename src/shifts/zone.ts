// Local time in an IANA time zone without a date library: local day numbers and local wall
// time → UTC, DST included (a 23 h or 25 h day is just a day whose offset changes).

const DAY_MS = 86_400_000

export interface Zone {
  readonly timeZone: string
  /** Local calendar day of `ts` as days since 1970-01-01. */
  localDayIndex(ts: number): number
  /** UTC offset (ms) in force at `ts`. */
  offsetAt(ts: number): number
  /**
   * The instant of local day `dayIndex` at `minuteOfDay`. A wall time skipped by spring-forward
   * lands after the gap (02:30 → 03:30); a repeated one (fall-back) takes its first occurrence.
   */
  localToUtc(dayIndex: number, minuteOfDay: number): number
}

export function createZone(timeZone: string): Zone {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  })
  // Offsets only change at DST transitions (on quarter hours everywhere); cache per quarter hour.
  const offsets = new Map<number, number>()
  const offsetAt = (ts: number): number => {
    const bucket = Math.floor(ts / 900_000)
    let off = offsets.get(bucket)
    if (off === undefined) {
      const at = bucket * 900_000
      const p: Record<string, number> = {}
      for (const part of format.formatToParts(new Date(at))) if (part.type !== 'literal') p[part.type] = Number(part.value)
      const local = Date.UTC(p.year ?? 1970, (p.month ?? 1) - 1, p.day ?? 1, p.hour ?? 0, p.minute ?? 0, p.second ?? 0)
      off = local - at
      if (offsets.size > 10_000) offsets.clear()
      offsets.set(bucket, off)
    }
    return off
  }
  return {
    timeZone,
    offsetAt,
    localDayIndex: (ts) => Math.floor((ts + offsetAt(ts)) / DAY_MS),
    localToUtc: (dayIndex, minuteOfDay) => {
      const wall = dayIndex * DAY_MS + minuteOfDay * 60_000
      // Both offsets around the wall time: before and after a possible transition.
      const early = offsetAt(wall - DAY_MS / 2)
      const late = offsetAt(wall + DAY_MS / 2)
      const a = wall - early
      const b = wall - late
      const valid = (t: number) => t + offsetAt(t) === wall
      if (valid(a) && valid(b)) return Math.min(a, b) // repeated hour: the first occurrence
      if (valid(a)) return a
      if (valid(b)) return b
      // Skipped hour: keep the offset from before the gap, which lands after it.
      return wall - early
    },
  }
}

/** "YYYY-MM-DD" of a local day index. */
export function dayIndexToDate(dayIndex: number): string {
  return new Date(dayIndex * DAY_MS).toISOString().slice(0, 10)
}

/** Local day index of "YYYY-MM-DD". */
export function dateToDayIndex(date: string): number {
  const ms = Date.parse(`${date}T00:00:00Z`)
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || Number.isNaN(ms)) throw new RangeError(`"${date}" is not a date like 2026-03-29`)
  return Math.floor(ms / DAY_MS)
}
