import sparkplug from 'sparkplug-payload'
import { describe, expect, it } from 'vitest'
import type { OutMessage } from './message-source.js'
import { createPlant, type PlantOptions } from './plant.js'
import { SENSOR_NAMES } from './sensors.js'
import { createSparkplugEdge } from './sparkplug-edge.js'

const tahu = sparkplug.get('spBv1.0')!
const base: PlantOptions = { seed: 7, startTs: Date.UTC(2025, 0, 6, 7), intervalMs: 1000, lines: 2, machinesPerLine: 3 }

/** Tahu gives 64-bit fields as Long. */
const num = (x: unknown): number => (typeof x === 'number' ? x : (x as { toNumber(): number }).toNumber())

interface Decoded {
  type: string
  edge: string
  device: string | undefined
  seq: number | undefined
  timestamp: number | undefined
  metrics: { name?: string; alias?: number; type: string; value: unknown; timestamp?: number }[]
  msg: OutMessage
}

function decode(msg: OutMessage): Decoded {
  const [ns, group, type, edge, device] = msg.topic.split('/')
  expect([ns, group]).toEqual(['spBv1.0', 'g'])
  const p = tahu.decodePayload(msg.payload)
  return {
    type: type as string,
    edge: edge as string,
    device,
    seq: p.seq == null ? undefined : num(p.seq),
    timestamp: p.timestamp == null ? undefined : num(p.timestamp),
    metrics: (p.metrics ?? []).map((m) => ({
      ...(m.name == null ? {} : { name: m.name }),
      ...(m.alias == null ? {} : { alias: num(m.alias) }),
      type: m.type,
      value: m.value === null || typeof m.value === 'boolean' || typeof m.value === 'number' ? m.value : num(m.value),
      ...(m.timestamp == null ? {} : { timestamp: num(m.timestamp) }),
    })),
    msg,
  }
}

function started(options: PlantOptions = base, keepAliveAtEnd = false) {
  const plant = createPlant(options)
  const edge = createSparkplugEdge({ plant, group: 'g', keepAliveAtEnd })
  for (const c of edge.connections) edge.connected(c.id, false)
  const take = (n: number, maxSamples = Infinity): OutMessage[] => Array.from({ length: n }, () => edge.next(maxSamples))
  return { plant, edge, take }
}

describe('createSparkplugEdge', () => {
  it('one connection per line, with its NDEATH (bdSeq 0) as will and its NCMD topic', () => {
    const { edge } = started()
    expect(edge.format).toBe('sparkplug')
    expect(edge.connections.map((c) => [c.id, c.will?.topic, c.subscriptions])).toEqual([
      ['line1', 'spBv1.0/g/NDEATH/line1', ['spBv1.0/g/NCMD/line1']],
      ['line2', 'spBv1.0/g/NDEATH/line2', ['spBv1.0/g/NCMD/line2']],
    ])
    for (const c of edge.connections) {
      const will = tahu.decodePayload(c.will!.payload)
      expect(will.seq).toBeUndefined()
      expect(will.metrics?.map((m) => [m.name, m.type, num(m.value)])).toEqual([['bdSeq', 'Int64', 0]])
    }
  })

  it('sends NBIRTH, then a DBIRTH per device with every metric named, aliased, typed and valued, then DDATA by alias only, with the plant’s values', () => {
    const { take } = started()
    const out = take(60).map(decode)
    // The same plant as JSON: every metric value is the reading at that (key, ts).
    const json = createPlant(base)
    const truth = new Map<string, number>()
    for (let i = 0; i < 60 * SENSOR_NAMES.length; i++) {
      const m = json.next()
      truth.set(`${m.line}/${m.machine}/${m.sensor}@${m.ts}`, m.reading!.value)
    }
    for (const edgeId of ['line1', 'line2']) {
      const mine = out.filter((d) => d.edge === edgeId)
      expect(mine[0]?.type).toBe('NBIRTH')
      expect(mine[0]?.seq).toBe(0)
      expect(mine[0]?.metrics).toEqual([
        { name: 'bdSeq', type: 'Int64', value: 0, timestamp: base.startTs },
        { name: 'Node Control/Rebirth', type: 'Boolean', value: false, timestamp: base.startTs },
      ])
      const births = mine.slice(1, 4)
      expect(births.map((d) => [d.type, d.device])).toEqual([
        ['DBIRTH', 'm1'],
        ['DBIRTH', 'm2'],
        ['DBIRTH', 'm3'],
      ])
      const aliases = new Map<string, { name: string; type: string }>()
      for (const b of births) {
        expect(b.metrics.map((m) => m.name)).toEqual(SENSOR_NAMES)
        for (const m of b.metrics) {
          expect(m.timestamp).toBe(b.timestamp)
          expect(m.value).toBe(truth.get(`${edgeId}/${b.device}/${m.name}@${b.timestamp}`))
          aliases.set(String(m.alias), { name: m.name as string, type: m.type })
        }
        expect(Object.fromEntries(b.metrics.map((m) => [m.name, m.type]))).toMatchObject({ spindle_temp: 'Double', vibration_rms: 'Double', part_count: 'Int64', reject_count: 'Int64' })
      }
      expect(aliases.size).toBe(3 * SENSOR_NAMES.length) // unique per edge node
      const data = mine.slice(4)
      expect(data.length).toBeGreaterThan(20)
      for (const d of data) {
        expect(d.type).toBe('DDATA')
        expect(d.metrics).toHaveLength(SENSOR_NAMES.length) // one tick of one machine in one message
        for (const m of d.metrics) {
          expect(m.name).toBeUndefined()
          const def = aliases.get(String(m.alias))
          expect(def).toBeDefined()
          expect(m.type).toBe(def?.type)
          expect(m.timestamp).toBe(d.timestamp)
          expect(m.value).toBe(truth.get(`${edgeId}/${d.device}/${def?.name}@${d.timestamp}`))
        }
        expect(d.msg).toMatchObject({ kind: 'reading', samples: SENSOR_NAMES.length, readings: SENSOR_NAMES.length, connection: edgeId })
      }
    }
  })

  it('counts seq +1 per message of a node (NBIRTH 0, DBIRTH, DDATA, DDEATH), wraps 255 → 0, and NDEATH has none', () => {
    const { edge, take } = started({ ...base, lines: 1, machinesPerLine: 2 })
    const seqs = take(600).map((m) => decode(m).seq)
    expect(seqs.slice(0, 3)).toEqual([0, 1, 2])
    expect(seqs).toEqual(seqs.map((_, i) => i % 256))
    const end = edge.end().map(decode)
    expect(end.map((d) => [d.type, d.device, d.seq])).toEqual([
      ['DDEATH', 'm1', 600 % 256],
      ['DDEATH', 'm2', 601 % 256],
      ['NDEATH', undefined, undefined],
    ])
    expect(end[2]?.metrics.map((m) => [m.name, m.value])).toEqual([['bdSeq', 0]])
  })

  it('answers an NCMD Node Control/Rebirth with NBIRTH (seq 0, same bdSeq) and a DBIRTH per device before its next DDATA; ignores other commands', () => {
    const { edge, take } = started()
    take(40)
    const ncmd = (value: boolean) => Buffer.from(tahu.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value }] }))
    expect(edge.receive('line1', 'spBv1.0/g/NCMD/line1', ncmd(false))).toBe(false)
    expect(edge.receive('line1', 'spBv1.0/g/NCMD/line1', Buffer.from([0xff, 0x01]))).toBe(false)
    expect(edge.receive('line1', 'spBv1.0/other/NCMD/line1', ncmd(true))).toBe(false)
    expect(edge.hasControl()).toBe(false)
    expect(edge.receive('line1', 'spBv1.0/g/NCMD/line1', ncmd(true))).toBe(true)
    expect(edge.hasControl()).toBe(true)
    const after = take(30).map(decode)
    const line1 = after.filter((d) => d.edge === 'line1')
    expect(line1.slice(0, 4).map((d) => [d.type, d.seq])).toEqual([
      ['NBIRTH', 0],
      ['DBIRTH', 1],
      ['DBIRTH', 2],
      ['DBIRTH', 3],
    ])
    expect(line1[0]?.metrics[0]).toMatchObject({ name: 'bdSeq', value: 0 })
    expect(new Set(line1.slice(1, 4).map((d) => d.device))).toEqual(new Set(['m1', 'm2', 'm3']))
    expect(line1.slice(4).every((d) => d.type === 'DDATA')).toBe(true)
    expect(line1.slice(4).map((d) => d.seq)).toEqual(line1.slice(4).map((_, i) => 4 + i))
    // line2 carries on undisturbed.
    expect(after.filter((d) => d.edge === 'line2').every((d) => d.type === 'DDATA')).toBe(true)
    expect(edge.sparkplug()).toMatchObject({ rebirths: 1, nbirths: 3, dbirths: 9 })
  })

  it('sends bad_protobuf as undecodable bytes on the machine’s DDATA topic, without using a seq', () => {
    const { take } = started({ ...base, badRatio: 0.2, badKinds: ['bad_protobuf'] })
    const out = take(400)
    const bad = out.filter((m) => m.kind === 'bad_protobuf')
    expect(bad.length).toBeGreaterThan(100)
    for (const m of bad) {
      expect(m.topic).toMatch(/^spBv1\.0\/g\/DDATA\/line[12]\/m[123]$/)
      expect(m.payload.length).toBeGreaterThan(0)
      expect(() => tahu.decodePayload(m.payload)).toThrow()
      expect(m).toMatchObject({ samples: 1, readings: 0 })
    }
    for (const edgeId of ['line1', 'line2']) {
      const seqs = out.filter((m) => m.connection === edgeId && m.kind !== 'bad_protobuf').map((m) => decode(m).seq)
      expect(seqs).toEqual(seqs.map((_, i) => i % 256))
    }
    // Each sample is a reading or a malformed message: none lost, none twice.
    const samples = out.reduce((n, m) => n + m.samples, 0)
    const readings = out.reduce((n, m) => n + m.readings, 0)
    expect(samples).toBe(readings + bad.length)
  })

  it('after a lost connection: the next will and NBIRTH carry bdSeq + 1, and the devices are born again', () => {
    const { edge, take } = started({ ...base, lines: 1 })
    take(10)
    const will = edge.disconnected('line1')
    expect(tahu.decodePayload(will!.payload).metrics?.map((m) => [m.name, num(m.value)])).toEqual([['bdSeq', 1]])
    edge.connected('line1', true)
    const again = take(4).map(decode)
    expect(again.map((d) => [d.type, d.seq])).toEqual([
      ['NBIRTH', 0],
      ['DBIRTH', 1],
      ['DBIRTH', 2],
      ['DBIRTH', 3],
    ])
    expect(again[0]?.metrics[0]).toMatchObject({ name: 'bdSeq', value: 1 })
    const end = edge.end().map(decode)
    expect(end.at(-1)?.metrics.map((m) => [m.name, m.value])).toEqual([['bdSeq', 1]])
    expect(edge.sparkplug()).toMatchObject({ reconnectBirths: 1, ndeaths: 1, ddeaths: 3 })
  })

  it('sends no deaths at the end with keepAliveAtEnd', () => {
    const { edge, take } = started(base, true)
    take(20)
    expect(edge.end()).toEqual([])
  })

  it('cuts a batch at maxSamples, so a count ends on the same sample as JSON', () => {
    const { take } = started({ ...base, lines: 1, machinesPerLine: 1 })
    const [nbirth, dbirth, ddata] = take(3, 3)
    expect(nbirth).toMatchObject({ samples: 0, kind: 'control' })
    expect(dbirth).toMatchObject({ samples: 3, readings: 3 })
    const birth = decode(dbirth!)
    expect(birth.metrics.map((m) => m.value === null)).toEqual([false, false, false, true, true, true, true]) // the rest is not yet sampled
    expect(ddata).toMatchObject({ samples: 3 })
    expect(decode(ddata!).metrics.map((m) => m.alias)).toEqual([4, 5, 6]) // the rest of that tick
  })
})
