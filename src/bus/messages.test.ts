// The events the state processor really writes (through the outbox) validate against the
// published schemas: what central consumers are promised is what they get.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { seedStateDb } from '../simulate/seed-state.js'
import { anomalyMessageSchema, kpisMessageSchema } from './messages.js'

describe('message schemas', () => {
  it('accept every anomaly and KPI event of a seeded simulated shift', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-messages-'))
    const seeded = seedStateDb({ file: join(dir, 'state.db'), hours: 9, keepOutbox: true })
    try {
      const rows = seeded.db.prepare('SELECT topic, key, value FROM outbox ORDER BY id').all() as { topic: string; key: Buffer; value: Buffer }[]
      const anomalies = rows.filter((r) => r.topic === 'seed.anomalies')
      const kpis = rows.filter((r) => r.topic === 'seed.kpis')
      expect(anomalies.length).toBeGreaterThan(5)
      expect(kpis.length).toBe(1)
      for (const r of anomalies) {
        const m = anomalyMessageSchema.parse(JSON.parse(r.value.toString()))
        expect(r.key.toString()).toBe(m.key)
      }
      for (const r of kpis) expect(kpisMessageSchema.parse(JSON.parse(r.value.toString())).site).toBe(r.key.toString())
    } finally {
      seeded.db.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
