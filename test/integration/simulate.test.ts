// The simulator against the real mosquitto: a plain QoS1 subscriber receives exactly what the
// simulator's summary says was PUBACKed, split into good readings and bad payloads by kind,
// also when the broker drops the simulator's connection mid-run; and as Sparkplug B, births
// before data, seq in order, a rebirth answered, and the NDEATH will sent by the broker.
import mqtt, { type MqttClient } from 'mqtt'
import sparkplug from 'sparkplug-payload'
import { afterEach, describe, expect, it } from 'vitest'
import { BAD_KINDS, type BadKind } from '../../src/simulate/bad-payloads.js'
import { runSimulation } from '../../src/simulate/run-simulation.js'
import { secureRandom, services } from '../helpers/env.js'
import { createTeardown } from '../helpers/teardown.js'
import { waitFor } from '../helpers/wait-for.js'

const teardown = createTeardown()
afterEach(() => teardown.run())

const SEGMENT = /^[A-Za-z0-9_.-]{1,64}$/
const START = Date.UTC(2025, 0, 6, 6, 0)

interface Received {
  topic: string
  payload: Buffer
}

async function subscribe(filter: string): Promise<{ client: MqttClient; received: Received[] }> {
  const clientId = `sim-sub-${secureRandom()}`
  const client = await mqtt.connectAsync(services.mqttUrl, { protocolVersion: 5, clientId, clean: true, reconnectPeriod: 0 })
  teardown.add(`end ${clientId}`, () => client.endAsync(true))
  const received: Received[] = []
  client.on('message', (topic, payload) => received.push({ topic, payload }))
  const granted = await client.subscribeAsync(filter, { qos: 1 })
  expect(granted[0]?.qos).toBe(1)
  return { client, received }
}

/** What the gateway should make of a message, decided independently of the simulator's code. */
function classify({ topic, payload }: Received): 'reading' | BadKind {
  if (payload.length > 65_536) return 'payload_too_large'
  if (payload.length === 0) return 'empty_payload'
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(payload)
  } catch {
    return 'invalid_utf8'
  }
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return 'not_json'
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'wrong_type'
  const o = v as Record<string, unknown>
  if (!('value' in o)) return 'missing_value'
  if (typeof o.value !== 'number') return 'wrong_type'
  if (!Number.isFinite(o.value)) return 'non_finite_value'
  if (typeof o.ts !== 'number' || !Number.isInteger(o.ts)) return 'bad_timestamp'
  if (o.ts < Date.UTC(2000, 0, 1) || o.ts > Date.UTC(2100, 0, 1)) return 'timestamp_out_of_range'
  if (!topic.split('/').every((s) => SEGMENT.test(s))) return 'bad_topic_segment'
  return 'reading'
}

/** Waits until `expected` arrived and then a little longer, so extra copies would show up. */
async function settle(received: Received[], expected: number): Promise<void> {
  await waitFor(() => received.length >= expected, { timeoutMs: 60_000, what: `${expected} messages (have ${received.length})` })
  await new Promise((r) => setTimeout(r, 500))
}

describe('simulator → mosquitto (QoS1)', () => {
  it('delivers exactly the PUBACKed count, with the good/bad split by kind the summary reports', async () => {
    const prefix = `factory-${secureRandom()}`
    const sub = await subscribe(`${prefix}/#`)
    const summary = await runSimulation({
      url: services.mqttUrl,
      prefix,
      count: 20_000,
      ratePerS: 10_000,
      speed: 60,
      startTs: START,
      badRatio: 0.05,
      anomalies: { mode: 'count', count: 6 },
      seed: 'integration',
    })
    expect(summary).toMatchObject({ published: 20_000, sent: 20_000, failed: 0, unacked: 0, stoppedBy: 'count' })
    expect(summary.ratePerS).toBeGreaterThan(5000)
    await settle(sub.received, summary.published)
    expect(sub.received).toHaveLength(summary.published)

    const byKind = Object.fromEntries(BAD_KINDS.map((k) => [k, 0])) as Record<BadKind, number>
    let good = 0
    const readingKeys = new Set<string>()
    for (const m of sub.received) {
      const kind = classify(m)
      if (kind === 'reading') {
        good++
        readingKeys.add(`${m.topic}@${(JSON.parse(m.payload.toString()) as { ts: number }).ts}`)
      } else {
        byKind[kind]++
      }
    }
    expect(good).toBe(summary.good)
    expect(byKind).toEqual(summary.badByKind)
    expect(summary.bad).toBeGreaterThan(700) // ≈ 5 % of 20,000
    for (const kind of BAD_KINDS) expect(summary.badByKind[kind]).toBeGreaterThan(20)
    expect(readingKeys.size).toBe(good) // (topic, ts) is unique
    expect(summary.truth.length).toBe(summary.anomalies)
    expect(summary.anomalies).toBeGreaterThanOrEqual(5)
  })

  it('counts every message once when the broker drops the simulator mid-run and mqtt.js resends', async () => {
    const prefix = `factory-${secureRandom()}`
    const sub = await subscribe(`${prefix}/#`)
    const clientId = `sim-${secureRandom()}`
    const warnings: string[] = []
    const run = runSimulation(
      { url: services.mqttUrl, prefix, clientId, count: 20_000, ratePerS: 5000, startTs: START, anomalies: { mode: 'none' }, window: 1000 },
      { onWarning: (w) => warnings.push(w) },
    )
    // A second connection with the same client id makes mosquitto disconnect the simulator.
    await waitFor(() => sub.received.length > 3000, { what: 'the run to get going' })
    const usurper = await mqtt.connectAsync(services.mqttUrl, { protocolVersion: 5, clientId, clean: true, reconnectPeriod: 0 })
    await usurper.endAsync()
    const summary = await run
    expect(summary).toMatchObject({ published: 20_000, good: 20_000, failed: 0, unacked: 0 })
    expect(summary.reconnects).toBeGreaterThanOrEqual(1)
    expect(warnings.some((w) => w.includes('reconnected'))).toBe(true)
    await settle(sub.received, summary.published)
    // Resent messages may arrive twice (QoS1 is at-least-once); by (topic, ts) each arrived.
    const unique = new Set(sub.received.map((m) => `${m.topic}@${(JSON.parse(m.payload.toString()) as { ts: number }).ts}`))
    expect(unique.size).toBe(20_000)
    expect(sub.received.length).toBeGreaterThanOrEqual(20_000)
  })
})

const tahu = sparkplug.get('spBv1.0')!
/** Tahu gives 64-bit fields as Long. */
const num = (x: unknown): number => (typeof x === 'number' ? x : (x as { toNumber(): number }).toNumber())

interface SparkplugMessage {
  type: string
  edge: string
  device: string | undefined
  seq: number | undefined
  metrics: { name?: string | null; value: unknown }[]
}

/** Decodes with Tahu; undefined for a payload it cannot decode (the simulator's bad_protobuf). */
function decodeSparkplug({ topic, payload }: Received): SparkplugMessage | undefined {
  const [, , type, edge, device] = topic.split('/')
  try {
    const p = tahu.decodePayload(payload)
    return { type: type as string, edge: edge as string, device, seq: p.seq == null ? undefined : num(p.seq), metrics: p.metrics ?? [] }
  } catch {
    return undefined
  }
}

describe('simulator → mosquitto as Sparkplug B', () => {
  it('sends births before data with seq in order, answers an NCMD rebirth, and ends with deaths; readings as the summary says', async () => {
    const group = `sp-${secureRandom()}`
    const sub = await subscribe(`spBv1.0/${group}/#`)
    const run = runSimulation({ url: services.mqttUrl, format: 'sparkplug', sparkplugGroup: group, lines: 2, machines: 2, count: 14_000, ratePerS: 5000, startTs: START, badRatio: 0.02, anomalies: { mode: 'none' }, seed: 'sparkplug' })
    const line1 = () => sub.received.filter((m) => m.topic.split('/')[3] === 'line1')
    await waitFor(() => line1().some((m) => m.topic.includes('/DDATA/')), { what: 'line1 data' })
    const rebirth = Buffer.from(tahu.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] }))
    await sub.client.publishAsync(`spBv1.0/${group}/NCMD/line1`, rebirth, { qos: 1 })
    const summary = await run
    expect(summary).toMatchObject({ format: 'sparkplug', failed: 0, unacked: 0, stoppedBy: 'count', sparkplug: { rebirths: 1, nbirths: 3, ndeaths: 2, ddeaths: 4 } })
    await settle(sub.received, summary.published + 1) // + our NCMD

    const byEdge = new Map<string, SparkplugMessage[]>()
    let undecodable = 0
    let readings = 0
    for (const m of sub.received) {
      if (m.topic.includes('/NCMD/')) continue
      const d = decodeSparkplug(m)
      if (d === undefined) {
        expect(m.topic).toMatch(new RegExp(`^spBv1\\.0/${group}/DDATA/line[12]/m[12]$`))
        undecodable++
        continue
      }
      if (d.type === 'DBIRTH' || d.type === 'DDATA') readings += d.metrics.filter((x) => x.value !== null).length
      byEdge.set(d.edge, [...(byEdge.get(d.edge) ?? []), d])
    }
    expect(undecodable).toBe(summary.bad)
    expect(undecodable).toBeGreaterThan(100)
    expect(readings).toBe(summary.readings)
    expect(readings + undecodable).toBe(14_000)
    for (const [edge, msgs] of byEdge) {
      expect(msgs.slice(0, 3).map((m) => [m.type, m.seq])).toEqual([
        ['NBIRTH', 0],
        ['DBIRTH', 1],
        ['DBIRTH', 2],
      ])
      // Every message carries the node's next seq (0 again at an NBIRTH); the NDEATH carries none.
      let expected = 0
      for (const m of msgs.slice(0, -1)) {
        if (m.type === 'NBIRTH') expected = 0
        expect(m.seq, `${edge} ${m.type}`).toBe(expected)
        expected = (expected + 1) % 256
      }
      const births = msgs.filter((m) => m.type === 'NBIRTH')
      expect(births).toHaveLength(edge === 'line1' ? 2 : 1)
      for (const b of births) expect(b.metrics.map((x) => [x.name, x.name === 'bdSeq' ? num(x.value) : x.value])).toEqual([['bdSeq', 0], ['Node Control/Rebirth', false]])
      if (edge === 'line1') {
        const again = msgs.findIndex((m, i) => i > 0 && m.type === 'NBIRTH')
        expect(msgs.slice(again + 1, again + 3).map((m) => m.type)).toEqual(['DBIRTH', 'DBIRTH'])
      }
      expect(msgs.slice(-3).map((m) => m.type)).toEqual(['DDEATH', 'DDEATH', 'NDEATH'])
      expect(msgs.at(-1)?.metrics.map((x) => [x.name, num(x.value)])).toEqual([['bdSeq', 0]])
    }
  })

  it('the broker sends the NDEATH will when an edge node connection drops, and the node is born again with the next bdSeq', async () => {
    const group = `sp-${secureRandom()}`
    const clientId = `sim-${secureRandom()}`
    const sub = await subscribe(`spBv1.0/${group}/#`)
    const run = runSimulation({ url: services.mqttUrl, format: 'sparkplug', sparkplugGroup: group, clientId, lines: 1, machines: 2, count: 10_000, ratePerS: 4000, startTs: START, anomalies: { mode: 'none' } })
    await waitFor(() => sub.received.length > 200, { what: 'the run to get going' })
    // A second connection with the edge node's client id makes mosquitto drop the simulator's.
    const usurper = await mqtt.connectAsync(services.mqttUrl, { protocolVersion: 5, clientId: `${clientId}-line1`, clean: true, reconnectPeriod: 0 })
    await usurper.endAsync()
    const summary = await run
    expect(summary.reconnects).toBeGreaterThanOrEqual(1)
    await settle(sub.received, summary.published)
    const msgs = sub.received.map(decodeSparkplug).filter((d): d is SparkplugMessage => d !== undefined)
    const deaths = msgs.filter((m) => m.type === 'NDEATH').map((m) => num(m.metrics[0]?.value))
    const births = msgs.filter((m) => m.type === 'NBIRTH').map((m) => num(m.metrics[0]?.value))
    expect(deaths[0]).toBe(0) // the will of the first connection
    expect(births.slice(0, 2)).toEqual([0, 1])
    const willAt = msgs.findIndex((m) => m.type === 'NDEATH')
    const rebornAt = msgs.findIndex((m, i) => i > 0 && m.type === 'NBIRTH')
    expect(willAt).toBeLessThan(rebornAt)
    expect(deaths.at(-1)).toBe(births.at(-1)) // the explicit NDEATH at the end matches the last birth
  })
})
