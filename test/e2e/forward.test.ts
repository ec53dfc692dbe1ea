// Store-and-forward to the central cluster over SASL_SSL (SCRAM-SHA-512, CA file, password
// file), end to end with the built gateway:
// - the central broker is stopped for 60 s while the gateway produces narratives, anomalies and
//   KPIs from simulated data: afterwards every local message is in the central topics (by
//   dedupId), in order per key; duplicates only those dedupId reveals, counted; Debian's kcat
//   reads the central topics over SASL_SSL and every message validates against docs/schemas;
// - the gateway is killed with SIGKILL while it drains a backlog: nothing is lost.
import { Kafka, logLevel } from 'kafkajs'
import { afterEach, describe, expect, it } from 'vitest'
import { runSimulation } from '../../src/simulate/run-simulation.js'
import { centralConfig, centralService, compareDelivery, kcatRead, schemaErrors } from '../helpers/central.js'
import { services } from '../helpers/env.js'
import { gatewayFixture, startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { readTopic, type TopicReader } from '../helpers/kafka-reader.js'
import { createTeardown } from '../helpers/teardown.js'
import { waitFor } from '../helpers/wait-for.js'

const teardown = createTeardown()
afterEach(() => teardown.run())

async function readAll(topic: string, brokers: readonly string[]): Promise<TopicReader> {
  const r = await readTopic(topic, brokers)
  teardown.add(`reader ${topic}`, () => r.close())
  return r
}

describe('forward (real central Kafka over SASL_SSL)', () => {
  it('rides out a 60 s central outage: all local messages arrive, in order per key, readable by kcat and valid against the JSON Schemas', async () => {
    const fixture = gatewayFixture({
      aggregate: { enabled: true },
      kafkaLocal: { partitions: 1 },
      shifts: { allowedLatenessS: 60, idleTimeoutS: 3600 },
      kafkaCentral: centralConfig(),
      forward: { retryMinMs: 200, retryMaxMs: 3000 },
    })
    let gw: GatewayProcess | undefined
    teardown.add('stop gateway', async () => {
      if (gw && gw.child.exitCode === null && gw.child.signalCode === null) await gw.term()
    })
    teardown.add('central back up', async () => centralService('up'))
    gw = await startGateway(fixture)

    // 100 s of readings at 60× speed from 13:30 event time: the early shift closes, 20 anomalies.
    const sim = runSimulation({
      url: services.mqttUrl,
      prefix: fixture.prefix,
      lines: 1,
      machines: 3,
      ratePerS: 600,
      count: 60_000,
      speed: 60,
      seed: 9,
      startTs: Date.UTC(2026, 10, 23, 13, 30),
      anomalies: { mode: 'count', count: 20 },
      progressIntervalMs: 60_000,
    })
    await new Promise((r) => setTimeout(r, 10_000))
    const downAt = Date.now()
    centralService('down')
    await new Promise((r) => setTimeout(r, 60_000))
    centralService('up')
    console.log(`[forward outage] central down for ${((Date.now() - downAt) / 1000).toFixed(0)} s`)
    expect((await sim).published).toBe(60_000)
    expect(gw.output()).toContain('cannot forward to the central cluster; retrying')

    const pairs = [
      [fixture.topics.narratives, fixture.centralTopics.summaries, 'narrative.v1.json'],
      [fixture.topics.anomalies, fixture.centralTopics.anomalies, 'anomaly.v1.json'],
      [fixture.topics.kpis, fixture.centralTopics.kpis, 'kpis.v1.json'],
    ] as const
    for (const [localTopic, centralTopic, schema] of pairs) {
      const local = await readAll(localTopic, services.kafkaLocal)
      const central = await readAll(centralTopic, services.kafkaCentral)
      // Local first (quiet for 10 s: the gateway has produced everything), then central catches up.
      await local.settle(() => false, { timeoutMs: 120_000, quietMs: 10_000 })
      await waitFor(() => compareDelivery(fixture.site, localTopic, local.messages, central.messages).missing.length === 0, {
        timeoutMs: 120_000,
        intervalMs: 500,
        what: `every message of ${localTopic} in ${centralTopic}`,
      })
      const d = compareDelivery(fixture.site, localTopic, local.messages, central.messages)
      expect(local.messages.length).toBeGreaterThan(0)
      expect(d.missing).toEqual([])
      expect(d.outOfOrderKeys).toEqual([])
      console.log(`[forward outage] ${localTopic}: ${local.messages.length} local, ${central.messages.length} central, ${d.duplicates} duplicates (by dedupId)`)
      const lines = kcatRead(centralTopic)
      expect(lines.length).toBe(central.messages.length)
      expect(schemaErrors(schema, lines)).toEqual([])
      expect(central.messages[0]?.headers).toMatchObject({ site: fixture.site, 'source-topic': localTopic, 'schema-version': '1' })
    }
    expect(gw.output()).toContain('forwarding to the central cluster again')
  }, 420_000)

  it('loses nothing when the gateway is killed with SIGKILL mid-drain', async () => {
    const fixture = gatewayFixture({
      kafkaLocal: { partitions: 1 },
      kafkaCentral: centralConfig(),
      // A slow uplink (about 100 messages/s) so the kill lands mid-drain.
      forward: { batchMaxMessages: 20, maxBytesPerS: 40_000, sources: { narratives: true, anomalies: false, kpis: false } },
    })
    // A backlog of 2,000 narratives-like messages in the local topic, before the gateway starts.
    const kafka = new Kafka({ clientId: 'test-backlog', brokers: [...services.kafkaLocal], logLevel: logLevel.NOTHING })
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: fixture.topics.narratives, numPartitions: 1 }], waitForLeaders: true })
    await admin.disconnect()
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    for (let i = 0; i < 2000; i += 500) {
      await producer.send({
        topic: fixture.topics.narratives,
        acks: -1,
        messages: Array.from({ length: 500 }, (_, j) => ({ key: `${fixture.site}/line1/m${(i + j) % 7}`, value: JSON.stringify({ v: 1, id: `n${i + j}`, text: 'x'.repeat(300) }) })),
      })
    }
    await producer.disconnect()

    let gw: GatewayProcess | undefined
    teardown.add('stop gateway', async () => {
      if (gw && gw.child.exitCode === null && gw.child.signalCode === null) await gw.term()
    })
    gw = await startGateway(fixture)
    const central = await readAll(fixture.centralTopics.summaries, services.kafkaCentral)
    await waitFor(() => central.messages.length >= 300, { timeoutMs: 60_000, intervalMs: 100, what: 'the drain to be under way' })
    const at = central.messages.length
    await gw.kill9()
    console.log(`[forward kill -9] killed after ${at} of 2000 messages reached central`)
    gw = await startGateway(fixture)
    const local = await readAll(fixture.topics.narratives, services.kafkaLocal)
    await local.settle((m) => m.length >= 2000, { timeoutMs: 30_000 })
    await waitFor(() => compareDelivery(fixture.site, fixture.topics.narratives, local.messages, central.messages).missing.length === 0, {
      timeoutMs: 120_000,
      intervalMs: 500,
      what: 'all 2,000 messages at central',
    })
    const d = compareDelivery(fixture.site, fixture.topics.narratives, local.messages, central.messages)
    expect(d.missing).toEqual([])
    expect(d.outOfOrderKeys).toEqual([])
    console.log(`[forward kill -9] ${central.messages.length} central messages for 2000, ${d.duplicates} duplicates (by dedupId)`)
  }, 300_000)
})
