import { describe, expect, it } from 'vitest'
import { createShiftCalendar, type ShiftDefinition } from './shift-calendar.js'
import { createZone } from './zone.js'

const ALL = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const
const three = (days: ShiftDefinition['days'] = ALL): ShiftDefinition[] => [
  { name: 'early', start: '06:00', end: '14:00', days },
  { name: 'late', start: '14:00', end: '22:00', days },
  { name: 'night', start: '22:00', end: '06:00', days },
]
const hours = (i: { startTs: number; endTs: number } | undefined) => (i ? (i.endTs - i.startTs) / 3600_000 : NaN)
const utc = (iso: string) => Date.parse(iso)

describe('shift calendar', () => {
  it.each([
    ['Europe/Berlin', '2026-03-28', 7, '2026-03-28T21:00:00Z', '2026-03-29T04:00:00Z'],
    ['Europe/Berlin', '2026-10-24', 9, '2026-10-24T20:00:00Z', '2026-10-25T05:00:00Z'],
    ['America/Chicago', '2026-03-07', 7, '2026-03-08T04:00:00Z', '2026-03-08T11:00:00Z'],
    ['America/Chicago', '2026-10-31', 9, '2026-11-01T03:00:00Z', '2026-11-01T12:00:00Z'],
  ])('%s: the night shift starting %s lasts %i h (DST)', (timeZone, date, h, start, end) => {
    const cal = createShiftCalendar({ timeZone, shifts: three() })
    const night = cal.byId(`${date}/night`)
    expect(night).toMatchObject({ id: `${date}/night`, name: 'night', date, startTs: utc(start), endTs: utc(end) })
    expect(hours(night)).toBe(h)
  })

  it.each([
    ['Europe/Berlin', '2026-03-29', 23],
    ['Europe/Berlin', '2026-10-25', 25],
    ['America/Chicago', '2026-03-08', 23],
    ['America/Chicago', '2026-11-01', 25],
    ['Europe/Berlin', '2026-07-01', 24],
  ])('%s: the shifts of the local day %s cover %i h without gaps or overlaps', (timeZone, date, total) => {
    const cal = createShiftCalendar({ timeZone, shifts: three() })
    const zone = createZone(timeZone)
    const dayStart = zone.localToUtc(Math.floor(Date.parse(`${date}T00:00:00Z`) / 86_400_000), 0)
    const nextDay = zone.localToUtc(Math.floor(Date.parse(`${date}T00:00:00Z`) / 86_400_000) + 1, 0)
    expect((nextDay - dayStart) / 3600_000).toBe(total)
    const inside = cal.instancesBetween(dayStart, nextDay)
    // Consecutive instances touch exactly.
    for (let i = 1; i < inside.length; i++) expect(inside[i]?.startTs).toBe(inside[i - 1]?.endTs)
    const covered = inside.reduce((sum, s) => sum + Math.min(s.endTs, nextDay) - Math.max(s.startTs, dayStart), 0)
    expect(covered / 3600_000).toBe(total)
  })

  it('gives a day shift on a DST day its 8 h, and names a shift by the day it starts on', () => {
    const cal = createShiftCalendar({ timeZone: 'Europe/Berlin', shifts: three() })
    expect(hours(cal.byId('2026-03-29/early'))).toBe(8)
    expect(cal.instanceAt(utc('2026-06-10T23:30:00Z'))?.id).toBe('2026-06-10/night') // 01:30 local on the 11th
  })

  it('has no shift on a day that is not scheduled', () => {
    const cal = createShiftCalendar({ timeZone: 'Europe/Berlin', shifts: three(['mon', 'tue', 'wed', 'thu', 'fri']) })
    // Saturday 2026-11-28, 10:00 local
    expect(cal.instanceAt(utc('2026-11-28T09:00:00Z'))).toBeUndefined()
    expect(cal.byId('2026-11-28/early')).toBeUndefined()
    // Friday night runs into Saturday morning: it belongs to Friday.
    expect(cal.instanceAt(utc('2026-11-28T03:00:00Z'))?.id).toBe('2026-11-27/night')
    const weekend = cal.instancesBetween(utc('2026-11-28T05:00:00Z'), utc('2026-11-29T23:00:00Z'))
    expect(weekend.map((s) => s.id)).toEqual([])
  })

  it('places local times in a DST gap after it and repeated times at their first occurrence', () => {
    const zone = createZone('Europe/Berlin')
    const day = (d: string) => Math.floor(Date.parse(`${d}T00:00:00Z`) / 86_400_000)
    expect(new Date(zone.localToUtc(day('2026-03-29'), 150)).toISOString()).toBe('2026-03-29T01:30:00.000Z') // 02:30 → 03:30 CEST
    expect(new Date(zone.localToUtc(day('2026-10-25'), 150)).toISOString()).toBe('2026-10-25T00:30:00.000Z') // first 02:30 (CEST)
    expect(new Date(zone.localToUtc(day('2026-10-25'), 180)).toISOString()).toBe('2026-10-25T02:00:00.000Z') // 03:00 CET
  })

  it('supports shifts of other lengths and sorts overlapping instances by start', () => {
    const cal = createShiftCalendar({
      timeZone: 'UTC',
      shifts: [
        { name: 'day', start: '07:00', end: '19:00', days: ALL },
        { name: 'maint', start: '12:00', end: '13:00', days: ['wed'] },
      ],
    })
    const wed = cal.instancesBetween(utc('2026-11-25T00:00:00Z'), utc('2026-11-26T00:00:00Z'))
    expect(wed.map((s) => s.id)).toEqual(['2026-11-25/day', '2026-11-25/maint'])
    expect(hours(cal.byId('2026-11-25/day'))).toBe(12)
  })
})
