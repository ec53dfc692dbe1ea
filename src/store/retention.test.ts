import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createRetention } from './retention.js'
import { openStateDb, type StateDb } from './state-db.js'

let dir: string
let db: StateDb
afterEach(() => {
  db?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('retention', () => {
  it('prunes old buckets and closed anomalies in bounded steps, keeping recent and open ones', () => {
    dir = mkdtempSync(join(tmpdir(), 'shiftscribe-ret-'))
    db = openStateDb(join(dir, 's.db'))
    const DAY = 86_400_000
    const now = 100 * DAY
    const insert = db.prepare('INSERT INTO buckets VALUES (?, ?, 1, 1, 1, 1, 1, ?, 1, ?, 1)')
    db.transaction(() => {
      for (let m = 0; m < 12_000; m++) insert.run('k', now - 40 * DAY + m * 60_000, 0, 0) // 40 days old
      for (let m = 0; m < 100; m++) insert.run('k', now - DAY + m * 60_000, 0, 0) // yesterday
    })()
    const anomaly = db.prepare(
      "INSERT INTO anomalies (id, key, site, line, machine, sensor, kind, severity, state, started_at, ended_at, observed, expected, detail, clock) VALUES (?, 'k', 's', 'l', 'm', 'x', 'spike', 'warning', ?, 0, ?, 1, 1, 'd', 'event')",
    )
    anomaly.run('old-closed', 'closed', now - 31 * DAY)
    anomaly.run('old-open', 'open', null)
    anomaly.run('new-closed', 'closed', now - DAY)
    const r = createRetention(db, { retentionDays: 30, stepRows: 5000 })
    const steps: number[] = []
    for (;;) {
      const out = r.pruneStep(now)
      steps.push(out.buckets)
      if (out.buckets === 0 && out.anomalies === 0) break
    }
    expect(steps).toEqual([5000, 5000, 2000, 0])
    expect((db.prepare('SELECT count(*) AS n FROM buckets').get() as { n: number }).n).toBe(100)
    expect(db.prepare('SELECT id FROM anomalies ORDER BY id').all()).toEqual([{ id: 'new-closed' }, { id: 'old-open' }])
  })
})
