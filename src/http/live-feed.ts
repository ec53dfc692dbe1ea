// Turns what the aggregator applied into live events for the page: the latest value of each
// sensor that changed (read from the sensors table, at most once per interval however many
// batches arrive), anomaly opens/closes and closed shifts. The gateway calls `applied()` from
// the aggregator's onApplied and `stop()` on shutdown.
import type { AnomalyEvent } from '../detect/types.js'
import type { ShiftKpis } from '../shifts/kpis.js'
import type { StateDb } from '../store/state-db.js'
import type { Clock } from '../util/clock.js'
import type { LiveHub, LiveReading } from './live-hub.js'

export interface LiveFeedOptions {
  db: StateDb
  site: string
  live: LiveHub
  clock: Clock
  /** Readings events at most this often (default 1 s). */
  minIntervalMs?: number
}

export interface LiveFeed {
  applied(event: { anomalies?: readonly AnomalyEvent[]; closedShifts?: readonly ShiftKpis[] }): void
  /** Publishes the changed sensors now (also what the timer calls). */
  flush(): void
  stop(): void
}

const MINUTE = 60_000

export function createLiveFeed(options: LiveFeedOptions): LiveFeed {
  const { db, live, clock } = options
  const minIntervalMs = options.minIntervalMs ?? 1000
  const query = db.prepare('SELECT key, last_ts, last_value, readings FROM sensors WHERE site = ?')
  // Only what changed since the last flush: the readings count moves with every reading.
  const seen = new Map<string, number>()
  for (const r of query.iterate(options.site) as IterableIterator<{ key: string; readings: number }>) seen.set(r.key, r.readings)
  let timer: unknown
  let lastFlush = -Infinity
  let stopped = false

  function flush(): void {
    timer = undefined
    lastFlush = clock.now()
    if (stopped || !db.open) return
    const changed: LiveReading[] = []
    for (const r of query.iterate(options.site) as IterableIterator<{ key: string; last_ts: number; last_value: number; readings: number }>) {
      if (seen.get(r.key) === r.readings) continue
      seen.set(r.key, r.readings)
      changed.push({ key: r.key, value: r.last_value, ts: r.last_ts, minute: Math.floor(r.last_ts / MINUTE) * MINUTE })
    }
    if (changed.length > 0) live.publish({ type: 'readings', data: changed })
  }

  return {
    applied(event) {
      if (stopped) return
      for (const a of event.anomalies ?? []) {
        live.publish({
          type: 'anomaly',
          data: { id: a.id, state: a.state, kind: a.kind, severity: a.severity, key: a.key, line: a.line, machine: a.machine, sensor: a.sensor, startedAt: a.startedAt, endedAt: a.endedAt ?? null },
        })
      }
      for (const s of event.closedShifts ?? []) live.publish({ type: 'shift', data: { id: s.shift.id, name: s.shift.name, date: s.shift.date } })
      if (timer !== undefined) return
      const wait = Math.max(0, lastFlush + minIntervalMs - clock.now())
      timer = clock.setTimeout(flush, wait)
    },
    flush,
    stop() {
      stopped = true
      if (timer !== undefined) clock.clearTimeout(timer)
      timer = undefined
    },
  }
}
