import { describe, expect, it } from 'vitest'
import { createShiftPattern, DEFAULT_BREAKS, DEFAULT_SHIFTS } from './shift-pattern.js'

const at = (iso: string) => Date.parse(iso)

describe('createShiftPattern', () => {
  const utc = createShiftPattern({ timeZone: 'UTC', shifts: DEFAULT_SHIFTS, breaks: DEFAULT_BREAKS, weekends: false })

  it('finds the shift for a time, including the night shift over midnight', () => {
    // 2025-01-06 is a Monday.
    expect(utc.instanceAt(at('2025-01-06T07:00:00Z'))).toMatchObject({ name: 'early', startTs: at('2025-01-06T06:00:00Z'), endTs: at('2025-01-06T14:00:00Z'), workday: true })
    expect(utc.instanceAt(at('2025-01-06T14:00:00Z'))?.name).toBe('late')
    expect(utc.instanceAt(at('2025-01-07T03:00:00Z'))).toMatchObject({ name: 'night', startTs: at('2025-01-06T22:00:00Z'), endTs: at('2025-01-07T06:00:00Z') })
  })

  it('produces inside shifts, not during the break 4 h in, and not on shifts that start on a weekend', () => {
    expect(utc.producingAt(at('2025-01-06T09:59:59Z'))).toBe(true)
    expect(utc.producingAt(at('2025-01-06T10:00:00Z'))).toBe(false) // break 10:00–10:30
    expect(utc.producingAt(at('2025-01-06T10:29:59Z'))).toBe(false)
    expect(utc.producingAt(at('2025-01-06T10:30:00Z'))).toBe(true)
    expect(utc.producingAt(at('2025-01-11T03:00:00Z'))).toBe(true) // Friday's night shift runs into Saturday
    expect(utc.producingAt(at('2025-01-11T10:30:00Z'))).toBe(false) // Saturday
    expect(utc.instanceAt(at('2025-01-11T10:30:00Z'))?.workday).toBe(false)
    expect(utc.producingAt(at('2025-01-12T23:00:00Z'))).toBe(false) // Sunday's night shift
    const weekends = createShiftPattern({ timeZone: 'UTC', shifts: DEFAULT_SHIFTS, breaks: [], weekends: true })
    expect(weekends.producingAt(at('2025-01-11T10:15:00Z'))).toBe(true)
  })

  it('follows the time zone across a DST change', () => {
    const berlin = createShiftPattern({ timeZone: 'Europe/Berlin', shifts: DEFAULT_SHIFTS, breaks: [], weekends: true })
    // Winter: 06:00 local is 05:00Z. Summer (after 2025-03-30 02:00): 04:00Z.
    expect(berlin.instanceAt(at('2025-01-06T05:30:00Z'))).toMatchObject({ name: 'early', startTs: at('2025-01-06T05:00:00Z') })
    expect(berlin.instanceAt(at('2025-03-31T04:30:00Z'))).toMatchObject({ name: 'early', startTs: at('2025-03-31T04:00:00Z') })
    // The night shift over the change is an hour short: 22:00 CET to 06:00 CEST.
    const night = berlin.instanceAt(at('2025-03-30T01:00:00Z'))
    expect(night).toMatchObject({ name: 'night', startTs: at('2025-03-29T21:00:00Z'), endTs: at('2025-03-30T04:00:00Z') })
  })

  it('reports gaps between shifts and the next start', () => {
    const day = createShiftPattern({ timeZone: 'UTC', shifts: [{ name: 'day', start: '08:00', end: '16:00' }], breaks: [], weekends: true })
    expect(day.instanceAt(at('2025-01-06T17:00:00Z'))).toBeUndefined()
    expect(day.producingAt(at('2025-01-06T17:00:00Z'))).toBe(false)
    expect(day.nextStartAfter(at('2025-01-06T17:00:00Z'))).toBe(at('2025-01-07T08:00:00Z'))
    expect(day.instanceAt(at('2025-01-07T08:00:00Z'))?.name).toBe('day')
  })
})
