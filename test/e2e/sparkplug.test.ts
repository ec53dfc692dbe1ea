// The gateway as a Sparkplug B host application against the real mosquitto and Kafka, with an
// edge node played by mqtt.js and payloads encoded by Eclipse Tahu's library:
// STATE online/offline (retained, will), rebirth requests seen on the broker (data before
// birth, seq gap), aliased data decoded, decoded again after a gateway restart from the
// persisted birth, malformed protobuf quarantined without a crash, the edge node's death
// (its MQTT will) → machine offline → an `offline` anomaly, STATE "online" put back after
// someone marks the host offline, and a balanced ledger.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { machineStateMessageSchema, quarantineMessageSchema, readingMessageSchema } from '../../src/bus/messages.js'
import { repoRoot, secureRandom, services } from '../helpers/env.js'
import { gatewayFixture, startGateway, type GatewayFixture, type GatewayProcess } from '../helpers/gateway-process.js'
import { readTopic, type TopicReader } from '../helpers/kafka-reader.js'
import { waitFor } from '../helpers/wait-for.js'

const require = createRequire(import.meta.url)
const tahu = (require('sparkplug-payload') as { get(ns: string): { encodePayload(p: unknown): Uint8Array; decodePayload(b: Uint8Array): { metrics?: { name?: string; value: unknown }[] } } }).get('spBv1.0')!
const encode = (p: unknown) => Buffer.from(tahu.encodePayload(p))

let fixture: GatewayFixture
let gateway: GatewayProcess | undefined
let edge: MqttClient | undefined
let watcher: MqttClient | undefined
const readers: TopicReader[] = []
const group = `G${secureRandom()}`
const hostId = `host-${secureRandom()}`
const seen: { topic: string; payload: Buffer; retain: boolean; at: number }[] = []

beforeAll(async () => {
  fixture = gatewayFixture({
    mqtt: { subscriptions: [], sparkplug: { enabled: true, hostId, groups: [group], rebirthMinIntervalS: 0.2 } },
    aggregate: { enabled: true, groupId: `agg-${secureRandom()}` },
  })
  // Who sees what on the broker: the host's STATE and the rebirth commands it sends.
  watcher = await mqtt.connectAsync(services.mqttUrl, { protocolVersion: 5, clientId: `watch-${secureRandom()}`, clean: true })
  watcher.on('message', (topic, payload, packet) => seen.push({ topic, payload, retain: packet.retain, at: Date.now() }))
  await watcher.subscribeAsync([`spBv1.0/STATE/${hostId}`, `spBv1.0/${group}/NCMD/+`], { qos: 1 })
  gateway = await startGateway(fixture)
})

afterAll(async () => {
  for (const r of readers) await r.close()
  await edge?.endAsync(true).catch(() => undefined)
  await watcher?.endAsync(true).catch(() => undefined)
  if (gateway && gateway.child.exitCode === null) await gateway.term()
})

const states = () => seen.filter((s) => s.topic === `spBv1.0/STATE/${hostId}`).map((s) => ({ ...(JSON.parse(s.payload.toString()) as { online: boolean; timestamp: number }), retain: s.retain }))
const rebirths = () => seen.filter((s) => s.topic === `spBv1.0/${group}/NCMD/line7`).map((s) => tahu.decodePayload(s.payload).metrics?.[0])

function ledger(): { received: number; journaled: number; quarantined: number; pending: number; balanced: boolean; quarantinedByReason: Record<string, number> } {
  const r = spawnSync(process.execPath, [join(repoRoot, 'dist', 'cli', 'index.js'), 'ledger', '--config', fixture.configFile, '--json'], { encoding: 'utf8' })
  expect(r.status, r.stderr).toBe(0)
  return JSON.parse(r.stdout) as ReturnType<typeof ledger>
}

describe('Sparkplug B host application', () => {
  it('speaks Sparkplug with an edge node: STATE, rebirths, aliases across a restart, deaths, quarantine', async () => {
    const T = Date.now()
    // 1. The host says it is online (retained, Sparkplug 3.0 JSON).
    await waitFor(() => states().some((s) => s.online), { what: 'STATE online', timeoutMs: 10_000 })
    expect(states().at(-1)).toMatchObject({ online: true })

    // 2. An edge node whose will is its NDEATH with bdSeq 3.
    const base = `spBv1.0/${group}`
    edge = await mqtt.connectAsync(services.mqttUrl, {
      protocolVersion: 5,
      clientId: `edge-${secureRandom()}`,
      clean: true,
      reconnectPeriod: 0,
      will: { topic: `${base}/NDEATH/line7`, payload: encode({ timestamp: T, metrics: [{ name: 'bdSeq', type: 'Int64', value: 3 }] }), qos: 1, retain: false },
    })
    let seq = 0
    const next = () => (seq = (seq + 1) % 256)
    const ddata = (value: number, s = next()) => encode({ timestamp: Date.now(), seq: s, metrics: [{ alias: 1, type: 'Double', value }, { alias: 2, type: 'Int64', value: Math.round(value) }] })

    // Data before any birth: quarantined no_birth, and a rebirth request appears on the broker.
    await edge.publishAsync(`${base}/DDATA/line7/press3`, ddata(1, 41), { qos: 1 })
    await waitFor(() => rebirths().length >= 1, { what: 'NCMD rebirth after data before birth', timeoutMs: 10_000 })
    expect(rebirths()[0]).toMatchObject({ name: 'Node Control/Rebirth', value: true })

    // The edge node answers with its births, then aliased data.
    seq = 0
    await edge.publishAsync(`${base}/NBIRTH/line7`, encode({ timestamp: Date.now(), seq: 0, metrics: [{ name: 'bdSeq', type: 'Int64', value: 3 }, { name: 'Node Control/Rebirth', type: 'Boolean', value: false }] }), { qos: 1 })
    await edge.publishAsync(
      `${base}/DBIRTH/line7/press3`,
      encode({
        timestamp: Date.now(),
        seq: next(),
        metrics: [
          { name: 'Hydraulic/Pressure', alias: 1, type: 'Double', value: 180.5, properties: { engUnit: { type: 'String', value: 'bar' } } },
          { name: 'strokes', alias: 2, type: 'Int64', value: 100 },
          { name: 'recipe', alias: 3, type: 'String', value: 'A-12' },
        ],
      }),
      { qos: 1 },
    )
    for (const v of [181.25, 182.5]) await edge.publishAsync(`${base}/DDATA/line7/press3`, ddata(v), { qos: 1 })
    // Malformed protobuf on a data topic: quarantined, nothing else disturbed.
    await edge.publishAsync(`${base}/DDATA/line7/press3`, Buffer.from('{"value": 1} is not protobuf'), { qos: 1 })

    const readings = await readTopic(fixture.topics.readings)
    readers.push(readings)
    const pressures = () =>
      readings.messages
        .filter((m) => m.headers['schema'] === 'shiftscribe.reading')
        .map((m) => readingMessageSchema.parse(JSON.parse(m.value)))
        .filter((r) => r.sensor === 'Hydraulic.Pressure')
    await readings.settle(() => pressures().length >= 3, { timeoutMs: 30_000 })
    expect(pressures().map((r) => [r.line, r.machine, r.value, r.unit])).toEqual([
      ['line7', 'press3', 180.5, 'bar'],
      ['line7', 'press3', 181.25, 'bar'],
      ['line7', 'press3', 182.5, 'bar'],
    ])

    // 3. A seq gap: a rebirth request is observed on the broker.
    const before = rebirths().length
    await new Promise((r) => setTimeout(r, 300)) // past rebirthMinIntervalS
    next()
    await edge.publishAsync(`${base}/DDATA/line7/press3`, ddata(999), { qos: 1 }) // seq skips one
    await waitFor(() => rebirths().length > before, { what: 'NCMD rebirth after a seq gap', timeoutMs: 10_000 })
    // The edge node is born again.
    seq = 0
    await edge.publishAsync(`${base}/NBIRTH/line7`, encode({ timestamp: Date.now(), seq: 0, metrics: [{ name: 'bdSeq', type: 'Int64', value: 3 }] }), { qos: 1 })
    await edge.publishAsync(`${base}/DBIRTH/line7/press3`, encode({ timestamp: Date.now(), seq: next(), metrics: [{ name: 'Hydraulic/Pressure', alias: 1, type: 'Double', value: 183, properties: { engUnit: { type: 'String', value: 'bar' } } }, { name: 'strokes', alias: 2, type: 'Int64', value: 101 }] }), { qos: 1 })

    // 4. Gateway restart: it says offline (retained) on the way out; the edge node goes on
    // publishing aliased data meanwhile (the persistent session queues it); after the restart
    // the persisted birth decodes it, with no rebirth needed.
    const rebirthsBeforeRestart = rebirths().length
    expect(await gateway!.term()).toBe(0)
    await waitFor(() => states().at(-1)?.online === false, { what: 'STATE offline at stop', timeoutMs: 10_000 })
    for (const v of [184.5, 185.75]) await edge.publishAsync(`${base}/DDATA/line7/press3`, ddata(v), { qos: 1 })
    gateway = await startGateway(fixture)
    await waitFor(() => states().at(-1)?.online === true, { what: 'STATE online after restart', timeoutMs: 10_000 })
    await edge.publishAsync(`${base}/DDATA/line7/press3`, ddata(186.25), { qos: 1 })
    await readings.settle(() => pressures().some((r) => r.value === 186.25), { timeoutMs: 30_000 })
    expect(pressures().map((r) => r.value)).toEqual(expect.arrayContaining([183, 184.5, 185.75, 186.25]))
    expect(pressures().some((r) => r.value === 999)).toBe(false) // the gap's message was held, not mis-mapped
    expect(rebirths().length).toBe(rebirthsBeforeRestart)

    // 5. The edge node dies uncleanly: the broker publishes its will (NDEATH, bdSeq 3).
    edge.stream.destroy()
    await readings.settle(() => readings.messages.some((m) => m.headers['schema'] === 'shiftscribe.machine-state' && m.value.includes('"offline"')), { timeoutMs: 30_000 })
    const machineStates = readings.messages.filter((m) => m.headers['schema'] === 'shiftscribe.machine-state').map((m) => ({ key: m.key, ...machineStateMessageSchema.parse(JSON.parse(m.value)) }))
    expect(machineStates.map((s) => [s.key, s.state, s.cause])).toEqual([
      [`${fixture.site}/line7/press3`, 'online', 'DBIRTH'],
      [`${fixture.site}/line7/press3`, 'online', 'DBIRTH'],
      [`${fixture.site}/line7/press3`, 'offline', 'NDEATH'],
    ])
    expect(machineStates.at(-1)?.bdSeq).toBe(3)

    // … and the aggregator opens an `offline` anomaly for the machine.
    const anomalies = await readTopic(fixture.topics.anomalies)
    readers.push(anomalies)
    await anomalies.settle((m) => m.some((a) => a.value.includes('"offline"')), { timeoutMs: 30_000 })
    const offline = anomalies.messages.map((m) => JSON.parse(m.value) as { kind: string; state: string; line: string; machine: string }).filter((a) => a.kind === 'offline')
    expect(offline).toMatchObject([{ state: 'open', line: 'line7', machine: 'press3' }])

    // 6. Quarantine: the malformed payload kept whole, data before birth and the gap's message as no_birth.
    const quarantine = await readTopic(fixture.topics.quarantine)
    readers.push(quarantine)
    await quarantine.settle((m) => m.length >= 3, { timeoutMs: 30_000 })
    const q = quarantine.messages.map((m) => quarantineMessageSchema.parse(JSON.parse(m.value)))
    expect(q.map((x) => x.reason).sort()).toEqual(['bad_protobuf', 'no_birth', 'no_birth'])
    expect(Buffer.from(q.find((x) => x.reason === 'bad_protobuf')!.payloadBase64, 'base64').toString()).toBe('{"value": 1} is not protobuf')

    // 7. Someone marks the host offline (as a late will would): it puts "online" back.
    const marks = states().length
    await watcher!.publishAsync(`spBv1.0/STATE/${hostId}`, JSON.stringify({ online: false, timestamp: Date.now() }), { qos: 1, retain: true })
    await waitFor(() => states().length > marks + 1 && states().at(-1)?.online === true, { what: 'STATE online re-published', timeoutMs: 10_000 })

    expect(gateway.child.exitCode).toBeNull()
    await waitFor(() => ledger().pending === 0, { what: 'journal drained' })
    const l = ledger()
    expect(l.balanced).toBe(true)
    expect(l.quarantinedByReason).toMatchObject({ bad_protobuf: 1, no_birth: 2 })
  })
})
