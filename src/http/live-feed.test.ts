import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AnomalyEvent } from '../detect/types.js'
import type { ShiftKpis } from '../shifts/kpis.js'
import { openStateDb, type StateDb } from '../store/state-db.js'
import type { Clock } from '../util/clock.js'
import { createLiveFeed } from './live-feed.js'
import { createLiveHub, type LiveEvent } from './live-hub.js'

let dir: string
let db: StateDb

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shiftscribe-feed-'))
  db = openStateDb(join(dir, 'state.db'))
})

afterAll(() => {
  db.close()
  rmSync(dir, { recursive: true, force: true })
})

/** A clock whose timers run only when the test advances it. */
function manualClock() {
  let now = 1_000_000
  const timers = new Map<number, { at: number; fn: () => void }>()
  let next = 1
  const clock: Clock = {
    now: () => now,
    setTimeout: (fn, ms) => {
      timers.set(next, { at: now + ms, fn })
      return next++
    },
    clearTimeout: (h) => void timers.delete(h as number),
  }
  const advance = (ms: number) => {
    now += ms
    for (const [id, t] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
      if (t.at <= now) {
        timers.delete(id)
        t.fn()
      }
    }
  }
  return { clock, advance, pending: () => timers.size }
}

const upsert = (key: string, ts: number, value: number, readings: number) =>
  db
    .prepare(
      `INSERT INTO sensors (key, site, line, machine, sensor, unit, first_ts, last_ts, last_value, readings) VALUES (?, 'plant1', 'l', 'm', ?, NULL, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET last_ts = excluded.last_ts, last_value = excluded.last_value, readings = excluded.readings`,
    )
    .run(key, key.split('/').pop(), ts, ts, value, readings)

describe('live feed', () => {
  it('publishes the latest value of each changed sensor, at most once per interval', () => {
    upsert('plant1/l/m/a', 60_000, 1, 1)
    upsert('plant1/l/m/b', 60_000, 2, 1)
    const hub = createLiveHub()
    const events: LiveEvent[] = []
    hub.subscribe((e) => void events.push(e))
    const { clock, advance, pending } = manualClock()
    const feed = createLiveFeed({ db, site: 'plant1', live: hub, clock, minIntervalMs: 1000 })

    upsert('plant1/l/m/a', 125_000, 1.5, 2)
    feed.applied({})
    feed.applied({})
    expect(pending()).toBe(1)
    advance(0)
    expect(events).toEqual([{ type: 'readings', data: [{ key: 'plant1/l/m/a', value: 1.5, ts: 125_000, minute: 120_000 }] }])

    // The next batch right after: it waits out the interval, then sends only what changed.
    upsert('plant1/l/m/b', 130_000, 2.5, 2)
    feed.applied({})
    advance(999)
    expect(events).toHaveLength(1)
    advance(1)
    expect(events[1]).toEqual({ type: 'readings', data: [{ key: 'plant1/l/m/b', value: 2.5, ts: 130_000, minute: 120_000 }] })

    // Nothing changed: nothing published.
    feed.applied({})
    advance(1000)
    expect(events).toHaveLength(2)
    feed.applied({})
    feed.stop()
    advance(5000)
    expect(pending()).toBe(0)
    expect(events).toHaveLength(2)
  })

  it('publishes anomaly opens and closes and closed shifts at once', () => {
    const hub = createLiveHub()
    const events: LiveEvent[] = []
    hub.subscribe((e) => void events.push(e))
    const { clock } = manualClock()
    const feed = createLiveFeed({ db, site: 'plant1', live: hub, clock })
    const anomaly = { id: 'a1', state: 'open', kind: 'spike', severity: 'warning', key: 'plant1/l/m/a', site: 'plant1', line: 'l', machine: 'm', sensor: 'a', startedAt: 5, observed: 1, expected: 0, detail: 'd', clock: 'event' } as AnomalyEvent
    const shift = { shift: { id: '2026-11-23/early', name: 'early', date: '2026-11-23', startTs: 0, endTs: 1 }, sensors: [], machines: [] } as ShiftKpis
    feed.applied({ anomalies: [anomaly, { ...anomaly, state: 'closed', endedAt: 9 }], closedShifts: [shift] })
    expect(events.map((e) => [e.type, (e.data as { state?: string; id: string }).state ?? (e.data as { id: string }).id])).toEqual([
      ['anomaly', 'open'],
      ['anomaly', 'closed'],
      ['shift', '2026-11-23/early'],
    ])
    expect(events[1]?.data).toMatchObject({ id: 'a1', endedAt: 9, line: 'l', machine: 'm' })
    feed.stop()
  })
})
