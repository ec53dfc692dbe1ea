// Both Kafka clusters, as the scripts start them, with kafkajs 2.2.4: admin creates a topic,
// an idempotent acks=all producer writes keyed messages, a consumer group reads them all
// and commits, and the committed offsets are visible to admin. The two are separate clusters.
import { CompressionTypes, ConfigResourceTypes, Kafka, logLevel } from 'kafkajs'
import { afterEach, describe, expect, it } from 'vitest'
import { createKafkaBus } from '../../src/bus/kafka-bus.js'
import { silentLogger } from '../../src/log.js'
import { secureRandom, services } from '../helpers/env.js'
import { createTeardown } from '../helpers/teardown.js'
import { waitFor } from '../helpers/wait-for.js'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const teardown = createTeardown()
afterEach(() => teardown.run())

const clusters = [
  { name: 'local', brokers: services.kafkaLocal },
  { name: 'central', brokers: services.kafkaCentral },
]

describe.each(clusters)('Kafka $name cluster', ({ brokers }) => {
  it('creates a topic, produces idempotently with acks=all, consumes with a group and commits', async () => {
    const kafka = new Kafka({ clientId: `test-${secureRandom()}`, brokers: [...brokers], logLevel: logLevel.WARN })
    const topic = `test.kafka.${secureRandom()}`
    const groupId = `test-group-${secureRandom()}`

    const admin = kafka.admin()
    await admin.connect()
    teardown.add('admin disconnect', () => admin.disconnect())
    expect(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true })).toBe(true)
    teardown.add('delete topic', () => admin.deleteTopics({ topics: [topic] }))

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    teardown.add('producer disconnect', () => producer.disconnect())
    const total = 300
    const sent = await producer.send({
      topic,
      acks: -1,
      compression: CompressionTypes.GZIP,
      messages: Array.from({ length: total }, (_, i) => ({ key: `sensor-${i % 10}`, value: JSON.stringify({ v: 1, seq: i }) })),
    })
    expect(sent.every((r) => r.errorCode === 0)).toBe(true)

    // A short fetch wait keeps disconnect fast on an idle topic (default 5 s).
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 250 })
    await consumer.connect()
    teardown.add('consumer disconnect', () => consumer.disconnect())
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    const byKey = new Map<string, number[]>()
    await consumer.run({
      eachMessage: async ({ message }) => {
        const key = message.key?.toString() ?? ''
        const list = byKey.get(key) ?? []
        list.push((JSON.parse(message.value?.toString() ?? '{}') as { seq: number }).seq)
        byKey.set(key, list)
      },
    })
    await waitFor(() => [...byKey.values()].reduce((n, l) => n + l.length, 0) >= total, { what: `${total} messages` })
    await consumer.stop()

    // Per-key order holds across partitions.
    for (const [key, seqs] of byKey) {
      expect(seqs, key).toEqual([...seqs].sort((a, b) => a - b))
    }
    expect([...byKey.values()].flat().sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i))

    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] })
    const committed = offsets[0]?.partitions.reduce((n, p) => n + Number(p.offset), 0)
    expect(committed).toBe(total)
    const ends = await admin.fetchTopicOffsets(topic)
    expect(ends.reduce((n, p) => n + Number(p.high), 0)).toBe(total)
  })
})

describe('the two clusters', () => {
  it('are separate clusters with their own ids and topics', async () => {
    const local = new Kafka({ clientId: 'test-ids', brokers: [...services.kafkaLocal], logLevel: logLevel.WARN }).admin()
    const central = new Kafka({ clientId: 'test-ids', brokers: [...services.kafkaCentral], logLevel: logLevel.WARN }).admin()
    await local.connect()
    teardown.add('local admin', () => local.disconnect())
    await central.connect()
    teardown.add('central admin', () => central.disconnect())
    const [a, b] = await Promise.all([local.describeCluster(), central.describeCluster()])
    expect(a.clusterId).not.toBe(b.clusterId)

    const topic = `test.only-local.${secureRandom()}`
    await local.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
    teardown.add('delete topic', () => local.deleteTopics({ topics: [topic] }))
    expect(await local.listTopics()).toContain(topic)
    expect(await central.listTopics()).not.toContain(topic)
  })
})

describe('the gateway topic setup (createKafkaBus.ensureTopics)', () => {
  it('creates a forwarded topic with its retention, and reports an existing one that keeps messages for less', async () => {
    const bus = createKafkaBus({ brokers: services.kafkaLocal, clientId: `test-retention-${secureRandom()}`, log: silentLogger() })
    const admin = new Kafka({ clientId: 'test-retention', brokers: [...services.kafkaLocal], logLevel: logLevel.WARN }).admin()
    await admin.connect()
    teardown.add('admin', () => admin.disconnect())
    const week = 168 * 3_600_000
    const fresh = `test.retention-new.${secureRandom()}`
    const short = `test.retention-short.${secureRandom()}`
    const forever = `test.retention-forever.${secureRandom()}`
    teardown.add('delete topics', () => admin.deleteTopics({ topics: [fresh, short, forever] }))
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        { topic: short, numPartitions: 1, configEntries: [{ name: 'retention.ms', value: String(3_600_000) }] },
        { topic: forever, numPartitions: 1, configEntries: [{ name: 'retention.ms', value: '-1' }] },
      ],
    })
    const spec = (topic: string) => ({ topic, partitions: 1, replicationFactor: 1, retentionMs: week })
    const res = await bus.ensureTopics([spec(fresh), spec(short), spec(forever)])
    expect(res.created).toEqual([fresh])
    expect(res.shortRetention).toEqual([{ topic: short, retentionMs: 3_600_000, wantedMs: week }])
    const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: fresh, configNames: ['retention.ms'] }] })
    expect(described.resources[0]?.configEntries[0]?.configValue).toBe(String(week))
  })
})
