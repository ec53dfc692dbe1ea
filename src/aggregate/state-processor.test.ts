import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { AnomalyEvent, DetectorBank, ReadingInput } from '../detect/types.js'
import { silentLogger } from '../log.js'
import { createShiftCalendar } from '../shifts/shift-calendar.js'
import { openStateDb, type StateDb } from '../store/state-db.js'
import { createStateProcessor, type IncomingMessage } from './state-processor.js'

const dirs: string[] = []
const dbs: StateDb[] = []
afterEach(() => {
  for (const db of dbs.splice(0)) db.close()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function db(): StateDb {
  const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-state-'))
  dirs.push(dir)
  const d = openStateDb(join(dir, 'state.db'))
  dbs.push(d)
  return d
}

/** A fake bank: opens an anomaly when a value exceeds 100, closes it when it drops back. */
function fakeBank(options: { throwOn?: number } = {}): DetectorBank {
  const openByKey = new Map<string, AnomalyEvent>()
  const dirty = new Set<string>()
  return {
    observe(r: ReadingInput) {
      if (r.value === options.throwOn) throw new Error('boom')
      dirty.add(r.key)
      const open = openByKey.get(r.key)
      if (r.value > 100 && open === undefined) {
        const e: AnomalyEvent = { id: `${r.key}@${r.ts}`, state: 'open', kind: 'limit_breach', severity: 'critical', key: r.key, site: r.site, line: r.line, machine: r.machine, sensor: r.sensor, startedAt: r.ts, observed: r.value, expected: 100, detail: 'over 100', clock: 'event' }
        openByKey.set(r.key, e)
        return [e]
      }
      if (r.value <= 100 && open !== undefined) {
        openByKey.delete(r.key)
        return [{ ...open, state: 'closed', endedAt: r.ts }]
      }
      return []
    },
    tick: () => [],
    machineState: () => [],
    takeDirtyState() {
      const out = [...dirty].map((key) => ({ key, state: JSON.stringify({ open: openByKey.has(key) }) }))
      dirty.clear()
      return out
    },
    restore() {},
    open: () => [...openByKey.values()],
  }
}

const T0 = Date.UTC(2026, 10, 23, 6, 0, 0) // Monday 06:00 UTC
const calendar = createShiftCalendar({
  timeZone: 'UTC',
  shifts: [
    { name: 'early', start: '06:00', end: '14:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'] },
    { name: 'late', start: '14:00', end: '22:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'] },
  ],
})

function processor(d: StateDb, bank = fakeBank()) {
  return createStateProcessor({
    db: d,
    readingsTopic: 'readings',
    publish: { anomalies: 'anomalies', kpis: 'kpis' },
    site: 's',
    detectors: bank,
    calendar,
    shifts: { allowedLatenessMs: 60_000, idleTimeoutMs: 600_000, counters: ['part_count', 'reject_count'], partsSensor: 'part_count', rejectsSensor: 'reject_count' },
    log: silentLogger(),
  })
}

function msg(offset: number, sensor: string, ts: number, value: number, machine = 'm1'): IncomingMessage {
  return {
    offset: String(offset),
    value: Buffer.from(JSON.stringify({ v: 1, site: 's', line: 'l1', machine, sensor, ts, value, unit: 'u', receivedAt: ts, mqttTopic: 'x' })),
  }
}

function dump(d: StateDb) {
  return {
    buckets: d.prepare('SELECT * FROM buckets ORDER BY key, minute').all(),
    sensors: d.prepare('SELECT * FROM sensors ORDER BY key').all(),
    offsets: d.prepare('SELECT * FROM offsets ORDER BY partition').all(),
    anomalies: d.prepare('SELECT * FROM anomalies ORDER BY id').all(),
  }
}

/** A noisy stream: values with many decimals, so float sums are order-sensitive. */
function stream(n: number): IncomingMessage[] {
  return Array.from({ length: n }, (_, i) => msg(i, `t${i % 3}`, T0 + i * 7_000 + (i % 5 === 0 ? -30_000 : 0), Math.sin(i) * 50 + 60 + i / 7))
}

describe('state processor', () => {
  it('applies each offset once: a redelivered batch changes nothing', () => {
    const d = db()
    const p = processor(d)
    const msgs = stream(200)
    expect(p.applyBatch(0, msgs.slice(0, 120), T0)).toMatchObject({ applied: 120, skipped: 0 })
    const before = dump(d)
    // Kafka redelivers the first batch and then an overlapping one.
    expect(p.applyBatch(0, msgs.slice(0, 120), T0)).toMatchObject({ applied: 0, skipped: 120 })
    expect(dump(d)).toEqual(before)
    expect(p.applyBatch(0, msgs.slice(100, 200), T0)).toMatchObject({ applied: 80, skipped: 20 })
    expect(p.nextOffset(0)).toBe(200)
    const total = d.prepare('SELECT sum(count) AS n FROM buckets').get() as { n: number }
    expect(total.n).toBe(200)
  })

  it('gives bit-identical buckets whatever the batch boundaries (a rebuild equals the live state)', () => {
    const msgs = stream(500)
    const a = db()
    const pa = processor(a)
    for (let i = 0; i < 500; i += 37) pa.applyBatch(0, msgs.slice(i, i + 37), T0)
    const b = db()
    processor(b).applyBatch(0, msgs, T0)
    expect(dump(a).buckets).toEqual(dump(b).buckets)
    expect(dump(a).sensors).toEqual(dump(b).sensors)
  })

  it('closes shifts at the same reading whatever the batch boundaries, so KPIs match a rebuild', () => {
    // 10 h of readings every 20 s, with late readings (up to 3 min) around the 14:00 boundary.
    const msgs: IncomingMessage[] = []
    for (let i = 0; i < 1800; i++) {
      const ts = T0 + i * 20_000 - (i % 4 === 0 ? 180_000 : 0)
      msgs.push(msg(i, i % 2 === 0 ? 'part_count' : 'temp', ts, i % 2 === 0 ? 1000 + i : 60 + Math.cos(i)))
    }
    const tables = (d: StateDb) => ({
      ...dump(d),
      shifts: d.prepare('SELECT * FROM shifts ORDER BY id').all(),
      kpis: d.prepare('SELECT * FROM shift_kpis ORDER BY shift_id, key').all(),
      machines: d.prepare('SELECT * FROM shift_machine_kpis ORDER BY shift_id').all(),
    })
    const a = db()
    const pa = processor(a)
    for (let i = 0; i < msgs.length; i += 97) pa.applyBatch(0, msgs.slice(i, i + 97), T0)
    const b = db()
    processor(b).applyBatch(0, msgs, T0)
    expect(tables(a).shifts).toHaveLength(1)
    expect(tables(a)).toEqual(tables(b))
  })

  it('puts late and out-of-order readings into their event-time minute', () => {
    const d = db()
    const p = processor(d)
    p.applyBatch(0, [msg(0, 't', T0 + 125_000, 5), msg(1, 't', T0 + 5_000, 1), msg(2, 't', T0 + 61_000, 3), msg(3, 't', T0 + 1_000, 2)], T0)
    const rows = d.prepare('SELECT minute, count, sum, first_ts, first_value, last_ts, last_value FROM buckets ORDER BY minute').all()
    expect(rows).toEqual([
      { minute: T0, count: 2, sum: 3, first_ts: T0 + 1_000, first_value: 2, last_ts: T0 + 5_000, last_value: 1 },
      { minute: T0 + 60_000, count: 1, sum: 3, first_ts: T0 + 61_000, first_value: 3, last_ts: T0 + 61_000, last_value: 3 },
      { minute: T0 + 120_000, count: 1, sum: 5, first_ts: T0 + 125_000, first_value: 5, last_ts: T0 + 125_000, last_value: 5 },
    ])
    expect(d.prepare('SELECT first_ts, last_ts, last_value, readings FROM sensors').get()).toEqual({ first_ts: T0 + 1_000, last_ts: T0 + 125_000, last_value: 5, readings: 4 })
  })

  it('skips messages that are not readings but consumes their offsets', () => {
    const d = db()
    const p = processor(d)
    const out = p.applyBatch(3, [{ offset: '0', value: Buffer.from('nope') }, { offset: '1', value: null }, msg(2, 't', T0, 1)], T0)
    expect(out).toMatchObject({ applied: 1, invalid: 2 })
    expect(p.nextOffset(3)).toBe(3)
  })

  it('rolls back everything, offsets included, when a batch fails part way', () => {
    const d = db()
    const p = processor(d, fakeBank({ throwOn: 42 }))
    p.applyBatch(0, [msg(0, 't', T0, 1)], T0)
    const before = dump(d)
    expect(() => p.applyBatch(0, [msg(1, 't', T0 + 1000, 7), msg(2, 't', T0 + 2000, 42)], T0)).toThrow('boom')
    expect(dump(d)).toEqual(before)
    expect(p.nextOffset(0)).toBe(1)
  })

  it('records anomaly open and close events and puts them in the outbox with the state', () => {
    const d = db()
    const p = processor(d)
    const out = p.applyBatch(0, [msg(0, 't', T0, 50), msg(1, 't', T0 + 1000, 130), msg(2, 't', T0 + 2000, 140), msg(3, 't', T0 + 3000, 90)], T0)
    expect(out.anomalies.map((e) => e.state)).toEqual(['open', 'closed'])
    expect(d.prepare('SELECT id, state, started_at, ended_at FROM anomalies').all()).toEqual([
      { id: `s/l1/m1/t@${T0 + 1000}`, state: 'closed', started_at: T0 + 1000, ended_at: T0 + 3000 },
    ])
    const events = p.outbox.readBatch(0, 10, 1 << 20).map((r) => ({ topic: r.topic, key: r.key.toString(), value: JSON.parse(r.value.toString()) }))
    expect(events.map((e) => [e.topic, e.key, e.value.state, e.value.v])).toEqual([
      ['anomalies', 's/l1/m1/t', 'open', 1],
      ['anomalies', 's/l1/m1/t', 'closed', 1],
    ])
    expect(events[0]?.value).not.toHaveProperty('clock')
  })

  it('closes a shift when the watermark passes its end, with KPIs per sensor and machine', () => {
    const d = db()
    const p = processor(d)
    const msgs: IncomingMessage[] = []
    let o = 0
    // Early shift 06:00–14:00: readings every minute for the first 4 h; counters rise.
    for (let min = 0; min < 240; min++) {
      const ts = T0 + min * 60_000 + 10_000
      msgs.push(msg(o++, 'temp', ts, 60 + (min % 2)))
      msgs.push(msg(o++, 'part_count', ts, 1000 + min * 2))
      msgs.push(msg(o++, 'reject_count', ts, 50 + Math.floor(min / 24)))
    }
    expect(p.applyBatch(0, msgs, T0).closedShifts).toEqual([])
    // Watermark reaches 14:00 + lateness only with data at 14:01:00 or later.
    const late = p.applyBatch(0, [msg(o++, 'temp', T0 + 8 * 3600_000 + 60_000, 61)], T0)
    expect(late.closedShifts.map((k) => k.shift.id)).toEqual(['2026-11-23/early'])
    const kpi = late.closedShifts[0]
    const temp = kpi?.sensors.find((s) => s.sensor === 'temp')
    expect(temp).toMatchObject({ count: 240, mean: 60.5, min: 60, max: 61, std: 0.5, coveragePct: 50 })
    expect(kpi?.sensors.find((s) => s.sensor === 'part_count')?.delta).toBe(478)
    // The fake bank flags the part counter (> 100) once: counted for the machine.
    expect(kpi?.machines).toEqual([{ line: 'l1', machine: 'm1', parts: 478, rejects: 9, rejectRatePct: 1.88, coveragePct: 50, anomalies: 1 }])
    expect(d.prepare('SELECT id, closed_by FROM shifts').all()).toEqual([{ id: '2026-11-23/early', closed_by: 'watermark' }])
    expect(p.outbox.readBatch(0, 10, 1 << 20).map((r) => r.topic)).toEqual(['anomalies', 'kpis'])
    // The same shift never closes twice.
    expect(p.applyBatch(0, [msg(o++, 'temp', T0 + 9 * 3600_000, 61)], T0).closedShifts).toEqual([])
  })

  it('closes a shift by the idle timeout when data stops', () => {
    const d = db()
    const p = processor(d)
    p.applyBatch(0, [msg(0, 'temp', T0 + 8 * 3600_000 - 60_000, 60)], 1_000_000)
    expect(p.tick(1_000_000 + 599_000).closedShifts).toEqual([])
    expect(p.tick(1_000_000 + 600_000).closedShifts.map((k) => k.shift.id)).toEqual(['2026-11-23/early'])
    expect(d.prepare('SELECT closed_by FROM shifts').get()).toEqual({ closed_by: 'idle' })
  })

  it('picks up where it left off after a restart (offsets, watermark, shift cursor)', () => {
    const d = db()
    processor(d).applyBatch(1, stream(50), T0)
    const again = processor(d)
    expect(again.nextOffset(1)).toBe(50)
    expect(again.maxEventTs()).toBe(T0 + 49 * 7_000)
    expect(again.applyBatch(1, stream(60), T0)).toMatchObject({ applied: 10, skipped: 50 })
  })
})
