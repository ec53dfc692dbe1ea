import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { anomalyId } from '../detect/anomaly-event.js'
import { detectConfigSchema } from '../detect/config.js'
import { createDetectorBank } from '../detect/detector-bank.js'
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
    machineStates: d.prepare('SELECT * FROM machine_states ORDER BY site, line, machine').all(),
  }
}

interface StateFields {
  state?: 'online' | 'offline'
  cause?: string
  machine?: string
  edgeNode?: string
  device?: string
  bdSeq?: number
}

/** A machine_state message (Sparkplug B birth or death) as ingest writes it to factory.readings. */
function stateMsg(offset: number, ts: number, f: StateFields = {}): IncomingMessage {
  const cause = f.cause ?? 'NDEATH'
  const state = f.state ?? (cause.endsWith('DEATH') ? 'offline' : 'online')
  const value = {
    v: 1,
    type: 'machine_state',
    site: 's',
    line: 'l1',
    machine: f.machine ?? 'm1',
    state,
    ts,
    cause,
    group: 'G',
    edgeNode: f.edgeNode ?? 'E1',
    ...(f.device !== undefined ? { device: f.device } : {}),
    ...(f.bdSeq !== undefined ? { bdSeq: f.bdSeq } : {}),
    receivedAt: ts,
    mqttTopic: `spBv1.0/G/${cause}/E1`,
  }
  return { offset: String(offset), value: Buffer.from(JSON.stringify(value)) }
}

const offlineId = (machine: string, since: number) => anomalyId(`s/l1/${machine}/_status`, 'offline', since, 'event')

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

describe('machine states (Sparkplug B births and deaths)', () => {
  const MIN = 60_000

  it('opens one critical offline anomaly on a death, none for a second death, and closes it on the birth', () => {
    const d = db()
    const p = processor(d)
    const died = T0 + MIN
    const back = died + 12.5 * MIN
    const out = p.applyBatch(
      0,
      [msg(0, 't', T0, 50), stateMsg(1, died, { bdSeq: 4 }), stateMsg(2, died + MIN, { cause: 'DDEATH', device: 'm1' }), stateMsg(3, back, { cause: 'NBIRTH', bdSeq: 5 })],
      T0,
    )
    expect(out).toMatchObject({ applied: 4, machineStates: 3, invalid: 0, skipped: 0 })
    const id = offlineId('m1', died)
    expect(out.anomalies).toEqual([
      {
        id,
        state: 'open',
        kind: 'offline',
        severity: 'critical',
        key: 's/l1/m1/_status',
        site: 's',
        line: 'l1',
        machine: 'm1',
        sensor: '_status',
        startedAt: died,
        observed: 0,
        expected: 1,
        detail: 'l1/m1 offline: edge node E1 sent NDEATH (bdSeq 4).',
        clock: 'event',
        cause: 'NDEATH',
      },
      expect.objectContaining({ id, state: 'closed', startedAt: died, endedAt: back, detail: 'l1/m1 back online (NBIRTH) after 12.5 min.', cause: 'NDEATH' }),
    ])
    expect(d.prepare('SELECT id, kind, sensor, state, started_at, ended_at, cause FROM anomalies').all()).toEqual([
      { id, kind: 'offline', sensor: '_status', state: 'closed', started_at: died, ended_at: back, cause: 'NDEATH' },
    ])
    expect(d.prepare('SELECT * FROM machine_states').all()).toEqual([
      { site: 's', line: 'l1', machine: 'm1', state: 'online', since: back, cause: 'NBIRTH', updated_at_event: back },
    ])
    // Published like detector anomalies, keyed by the status sensor, without cause or clock.
    const events = p.outbox.readBatch(0, 10, 1 << 20).map((r) => ({ key: r.key.toString(), value: JSON.parse(r.value.toString()) as Record<string, unknown> }))
    expect(events.map((e) => [e.key, e.value.state, e.value.kind])).toEqual([
      ['s/l1/m1/_status', 'open', 'offline'],
      ['s/l1/m1/_status', 'closed', 'offline'],
    ])
    expect(events[0]?.value).not.toHaveProperty('cause')
    expect(events[0]?.value).not.toHaveProperty('clock')
    // No buckets or sensors for machine states, and event time stays the readings'.
    expect(d.prepare('SELECT key FROM sensors').all()).toEqual([{ key: 's/l1/m1/t' }])
    expect(d.prepare('SELECT count(*) AS n FROM buckets').get()).toEqual({ n: 1 })
    expect(p.maxEventTs()).toBe(T0)
  })

  it('words a device death, and finds the open anomaly again after a restart', () => {
    const d = db()
    const died = T0 + 5 * MIN
    const first = processor(d).applyBatch(0, [stateMsg(0, died, { cause: 'DDEATH', device: 'm1' })], T0)
    expect(first.anomalies.map((e) => [e.state, e.detail])).toEqual([['open', 'l1/m1 offline: device m1 of edge node E1 sent DDEATH.']])
    // A new processor (a restart, or a reload after a failed batch) knows only the database.
    expect(processor(d).applyBatch(0, [stateMsg(1, died + MIN, { bdSeq: 2 })], T0).anomalies).toEqual([])
    const closed = processor(d).applyBatch(0, [stateMsg(2, died + 90 * MIN, { cause: 'DBIRTH' })], T0)
    expect(closed.anomalies).toEqual([expect.objectContaining({ id: offlineId('m1', died), state: 'closed', endedAt: died + 90 * MIN, cause: 'DDEATH', detail: 'l1/m1 back online (DBIRTH) after 90 min.' })])
    expect(d.prepare("SELECT count(*) AS n FROM anomalies WHERE state = 'open'").get()).toEqual({ n: 0 })
  })

  it('ignores a message older than the newest applied for the machine (no flip back)', () => {
    const d = db()
    const p = processor(d)
    const died = T0 + 10 * MIN
    p.applyBatch(0, [stateMsg(0, died, { bdSeq: 1 })], T0)
    // A birth from before the death arrives late: the machine stays offline, the anomaly open.
    const late = p.applyBatch(0, [stateMsg(1, died - MIN, { cause: 'NBIRTH' })], T0)
    expect(late).toMatchObject({ applied: 1, machineStates: 1, anomalies: [] })
    expect(d.prepare('SELECT state, since, cause, updated_at_event FROM machine_states').get()).toEqual({ state: 'offline', since: died, cause: 'NDEATH', updated_at_event: died })
    // A repeated death moves only updated_at_event; a birth older than that is still ignored.
    p.applyBatch(0, [stateMsg(2, died + 2 * MIN, { cause: 'DDEATH' }), stateMsg(3, died + MIN, { cause: 'DBIRTH' })], T0)
    expect(d.prepare('SELECT state, since, cause, updated_at_event FROM machine_states').get()).toEqual({ state: 'offline', since: died, cause: 'NDEATH', updated_at_event: died + 2 * MIN })
    expect(d.prepare("SELECT state FROM anomalies WHERE kind = 'offline'").all()).toEqual([{ state: 'open' }])
    // A birth at the same time as the newest applied message counts (partition order decides).
    expect(p.applyBatch(0, [stateMsg(4, died + 2 * MIN, { cause: 'NBIRTH' })], T0).anomalies.map((e) => e.state)).toEqual(['closed'])
  })

  it('counts invalid machine_state messages as invalid and applies nothing of them', () => {
    const d = db()
    const p = processor(d)
    const good = JSON.parse(stateMsg(0, T0).value?.toString() ?? '') as Record<string, unknown>
    const bad: unknown[] = [
      { ...good, machine: 'm 1' },
      { ...good, line: '' },
      { ...good, state: 'online' }, // contradicts NDEATH
      { ...good, cause: 'STATE' },
      { ...good, state: 'dead' },
      { ...good, ts: String(T0) },
      { ...good, ts: T0 + 0.5 },
      { ...good, edgeNode: undefined },
      { ...good, edgeNode: 'E1\n' },
      { ...good, edgeNode: 'x'.repeat(129) },
      { ...good, device: 7 },
      { ...good, bdSeq: '4' },
      { ...good, type: 'machine_status' },
      null,
      [good],
    ]
    const msgs: IncomingMessage[] = bad.map((v, i) => ({ offset: String(i), value: Buffer.from(JSON.stringify(v)) }))
    const out = p.applyBatch(0, msgs, T0)
    expect(out).toMatchObject({ applied: 0, machineStates: 0, invalid: bad.length, anomalies: [] })
    expect(p.nextOffset(0)).toBe(bad.length)
    expect(d.prepare('SELECT count(*) AS n FROM machine_states').get()).toEqual({ n: 0 })
    expect(d.prepare('SELECT count(*) AS n FROM anomalies').get()).toEqual({ n: 0 })
    // The same message, valid, applies.
    expect(p.applyBatch(0, [stateMsg(bad.length, T0)], T0)).toMatchObject({ applied: 1, machineStates: 1, invalid: 0 })
  })

  it('changes nothing when a batch with machine states is redelivered', () => {
    const d = db()
    const p = processor(d)
    const msgs = [msg(0, 't', T0, 50), stateMsg(1, T0 + MIN), msg(2, 't', T0 + 2 * MIN, 60, 'm2'), stateMsg(3, T0 + 3 * MIN, { cause: 'NBIRTH' }), stateMsg(4, T0 + 4 * MIN, { machine: 'm2', cause: 'NDEATH' })]
    expect(p.applyBatch(0, msgs, T0).anomalies).toHaveLength(3)
    const before = dump(d)
    const outboxBefore = p.outbox.readBatch(0, 100, 1 << 20).length
    expect(p.applyBatch(0, msgs, T0)).toMatchObject({ applied: 0, skipped: 5, anomalies: [] })
    expect(processor(d).applyBatch(0, msgs.slice(2), T0)).toMatchObject({ applied: 0, skipped: 3, anomalies: [] })
    expect(dump(d)).toEqual(before)
    expect(p.outbox.readBatch(0, 100, 1 << 20)).toHaveLength(outboxBefore)
  })

  it('gives the same tables and events whatever the batch boundaries, with the real detectors (dropouts of a dead machine suppressed)', () => {
    // Two machines reporting every 10 s for 3 h; m1 dies at 40 min (its death arrives 20 s after
    // its last reading) and is back at 100 min. m2 stops at 150 min for good, but its death arrives
    // only 3 min later, when its sensor's dropout was already due (100 s: ten intervals).
    const msgs: IncomingMessage[] = []
    let o = 0
    for (let i = 0; i < 1080; i++) {
      const ts = T0 + i * 10_000
      const min = (ts - T0) / MIN
      if (ts === T0 + 40 * MIN + 10_000) msgs.push(stateMsg(o++, ts, { bdSeq: 1 }))
      if (ts === T0 + 100 * MIN) msgs.push(stateMsg(o++, ts, { cause: 'NBIRTH', bdSeq: 2 }))
      if (ts === T0 + 153 * MIN) msgs.push(stateMsg(o++, ts, { machine: 'm2', cause: 'DDEATH', device: 'm2' }))
      if (min < 40 || min >= 100) for (const sensor of ['temp', 'pressure']) msgs.push(msg(o++, sensor, ts, 60 + Math.sin(i / 7) + (sensor === 'pressure' ? 20 : 0)))
      if (min < 150) msgs.push(msg(o++, 'temp', ts, 50 + Math.cos(i / 5), 'm2'))
      // m3 never dies: it keeps the watermark moving.
      msgs.push(msg(o++, 'temp', ts, 40 + Math.sin(i / 3), 'm3'))
    }
    const detectors = () => createDetectorBank(detectConfigSchema.parse({ defaults: { flatline: { enabled: false } } }))
    const tables = (d: StateDb) => ({ ...dump(d), state: d.prepare('SELECT * FROM detector_state ORDER BY key').all() })
    const whole = db()
    const events = processor(whole, detectors()).applyBatch(0, msgs, T0).anomalies
    // One offline anomaly per death, and no dropouts for m1's sensors; m2's was due before its death was known.
    expect(events.map((e) => `${e.state} ${e.kind} ${e.machine}/${e.sensor}`)).toEqual([
      'open offline m1/_status',
      'closed offline m1/_status',
      'open dropout m2/temp',
      'open offline m2/_status',
    ])
    for (const size of [1, 7, 250]) {
      const d = db()
      const p = processor(d, detectors())
      const seen: AnomalyEvent[] = []
      for (let i = 0; i < msgs.length; i += size) seen.push(...p.applyBatch(0, msgs.slice(i, i + size), T0).anomalies)
      expect(seen).toEqual(events)
      expect(tables(d)).toEqual(tables(whole))
    }
  })
})
