// All Kafka access goes through here (kafkajs 2.2.4 today), so the client can be swapped
// without touching the stages. Errors come out as GatewayError with `retriable` set.
import type { ConnectionOptions } from 'node:tls'
import { promisify } from 'node:util'
import { gunzip, gzip } from 'node:zlib'
import kafkajs, { CompressionTypes, Kafka, logLevel as KafkaLogLevel, Partitioners, type Producer, type SASLOptions, type logCreator } from 'kafkajs'
import { GatewayError } from '../errors.js'
import type { Log } from '../log.js'

export interface KafkaBusOptions {
  brokers: readonly string[]
  clientId: string
  log: Log
  connectionTimeoutMs?: number
  requestTimeoutMs?: number
  /** TLS options (Node's tls.connect: ca, cert, key, servername); hostname verification stays on. */
  ssl?: ConnectionOptions
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string }
  /** Retries inside kafkajs for one request (the stages' own backoff handles long outages). */
  retries?: number
}

export interface TopicSpec {
  topic: string
  partitions: number
  replicationFactor: number
  /** retention.ms for a topic this creates (existing topics keep theirs, with a warning when theirs is shorter). */
  retentionMs?: number
}

export interface BusMessage {
  key: string | Buffer
  value: string | Buffer
  headers?: Record<string, string | Buffer>
}

export interface TopicBatch {
  topic: string
  messages: BusMessage[]
}

export interface BusProducer {
  /** Sends with acks=all; resolves only when every message is acknowledged. */
  send(batches: TopicBatch[], options: { compression: 'gzip' | 'none' }): Promise<void>
  disconnect(): Promise<void>
}

export interface ConsumedMessage {
  offset: string
  key: Buffer | null
  value: Buffer | null
  /** Kafka's message timestamp (epoch ms, as a string). */
  timestamp?: string
  headers?: Record<string, Buffer | string | undefined>
}

export interface ConsumedBatch {
  topic: string
  partition: number
  messages: ConsumedMessage[]
  /** The partition's end offset when the batch was fetched (for lag). */
  highWatermark: string
  /** Keeps the group membership alive while a batch takes long (e.g. waiting out an uplink outage). */
  heartbeat?: () => Promise<void>
}

export interface ConsumerOptions {
  groupId: string
  topic: string
  /**
   * Where each partition starts, asked on every (re)join: the caller's own stored next offset.
   * undefined → the partition's earliest offset. Kafka's committed group offsets are never
   * trusted for this; they are only written for monitoring (commit()).
   * Without this function the group's committed offsets are the bookmark (the forwarder):
   * a new group starts at the earliest offset, and commit() is what moves it.
   */
  startOffset?: (partition: number) => number | undefined
  maxWaitTimeMs?: number
  maxBytes?: number
}

export interface BusConsumer {
  /** Joins the group and calls onBatch for each fetched batch, one at a time, until stop(). */
  run(onBatch: (batch: ConsumedBatch) => Promise<void>): Promise<void>
  /** Advisory commit of group offsets (lag tools read them); the truth is the caller's store. */
  commit(offsets: readonly { partition: number; offset: number }[]): Promise<void>
  /** Waits for the batch in progress, then leaves the group. */
  stop(): Promise<void>
  /** Partition → [low, high) offsets of the topic, now. */
  watermarks(): Promise<Map<number, { low: number; high: number }>>
}

export interface KafkaBus {
  /**
   * Creates missing topics; returns what it created, and the existing topics whose retention.ms
   * is shorter than their spec asks (kept, and logged as a warning: an operator set it). Throws
   * a non-retriable error for a bad spec.
   */
  ensureTopics(specs: readonly TopicSpec[]): Promise<{ created: string[]; existing: string[]; shortRetention?: { topic: string; retentionMs: number; wantedMs: number }[] }>
  /** An idempotent producer (one request in flight, so per-partition order holds across retries). */
  createProducer(): Promise<BusProducer>
  /** A group consumer of one topic that starts where the caller says (not where Kafka says). */
  createConsumer(options: ConsumerOptions): BusConsumer
  readonly brokers: readonly string[]
}

const gzipAsync = promisify(gzip)
const gunzipAsync = promisify(gunzip)

/**
 * kafkajs's GZIP codec uses zlib's default level 6. Level 1 compresses sensor JSON almost as
 * well and measured ~25 % more produce throughput here.
 * kafkajs keeps codecs in a process-wide registry, so this is set once, idempotently.
 */
function useFastGzip(): void {
  kafkajs.CompressionCodecs[CompressionTypes.GZIP] = () => ({
    compress: (encoder: { buffer: Buffer }) => gzipAsync(encoder.buffer, { level: 1 }),
    decompress: (buffer: Buffer) => gunzipAsync(buffer),
  })
}

export function createKafkaBus(options: KafkaBusOptions): KafkaBus {
  useFastGzip()
  const log = options.log.child({ stage: 'kafka' })
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    requestTimeout: options.requestTimeoutMs ?? 30000,
    logLevel: KafkaLogLevel.WARN,
    logCreator: kafkaLogCreator(log),
    retry: { initialRetryTime: 200, maxRetryTime: 5000, retries: options.retries ?? 5 },
    ...(options.ssl ? { ssl: options.ssl } : {}),
    ...(options.sasl ? { sasl: options.sasl as SASLOptions } : {}),
  })

  return {
    brokers: options.brokers,

    async ensureTopics(specs) {
      const admin = kafka.admin()
      try {
        await admin.connect()
        const existing = new Set(await admin.listTopics())
        const missing = specs.filter((s) => !existing.has(s.topic))
        if (missing.length > 0) {
          await admin.createTopics({
            waitForLeaders: true,
            topics: missing.map((s) => ({
              topic: s.topic,
              numPartitions: s.partitions,
              replicationFactor: s.replicationFactor,
              ...(s.retentionMs !== undefined ? { configEntries: [{ name: 'retention.ms', value: String(Math.round(s.retentionMs)) }] } : {}),
            })),
          })
        }
        const present = specs.filter((s) => existing.has(s.topic))
        if (present.length > 0) {
          const meta = await admin.fetchTopicMetadata({ topics: present.map((s) => s.topic) })
          for (const t of meta.topics) {
            const want = specs.find((s) => s.topic === t.name)
            if (want && t.partitions.length !== want.partitions) {
              log.warn({ topic: t.name, partitions: t.partitions.length, configured: want.partitions }, 'topic exists with a different partition count; keeping it')
            }
          }
        }
        // A forwarded topic is the offline buffer: its retention bounds the outage it survives.
        const shortRetention: { topic: string; retentionMs: number; wantedMs: number }[] = []
        const withRetention = present.filter((s) => s.retentionMs !== undefined)
        if (withRetention.length > 0) {
          const described = await admin.describeConfigs({
            includeSynonyms: false,
            resources: withRetention.map((s) => ({ type: kafkajs.ConfigResourceTypes.TOPIC, name: s.topic, configNames: ['retention.ms'] })),
          })
          for (const r of described.resources) {
            const value = Number(r.configEntries.find((e) => e.configName === 'retention.ms')?.configValue)
            const wantedMs = withRetention.find((s) => s.topic === r.resourceName)?.retentionMs as number
            // -1 keeps forever.
            if (Number.isFinite(value) && value >= 0 && value < wantedMs) {
              shortRetention.push({ topic: r.resourceName, retentionMs: value, wantedMs })
              log.warn(
                { topic: r.resourceName, retentionHours: Math.round((value / 3_600_000) * 10) / 10, wantedHours: Math.round((wantedMs / 3_600_000) * 10) / 10 },
                `topic ${r.resourceName} keeps messages for less than forward.localRetentionHours: an outage of the central link longer than its retention loses messages; raise it (kafka-configs --alter --entity-type topics --entity-name ${r.resourceName} --add-config retention.ms=${Math.round(wantedMs)})`,
              )
            }
          }
        }
        return { created: missing.map((s) => s.topic), existing: present.map((s) => s.topic), shortRetention }
      } catch (err) {
        throw toGatewayError(err, `cannot create topics ${specs.map((s) => s.topic).join(', ')} on ${options.brokers.join(',')}`)
      } finally {
        await admin.disconnect().catch(() => undefined)
      }
    },

    createConsumer(copts) {
      const consumer = kafka.consumer({
        groupId: copts.groupId,
        maxWaitTimeInMs: copts.maxWaitTimeMs ?? 500,
        maxBytes: copts.maxBytes ?? 16 * 1024 * 1024,
        maxBytesPerPartition: copts.maxBytes ?? 16 * 1024 * 1024,
        retry: { initialRetryTime: 300, maxRetryTime: 10_000, retries: 10 },
      })
      const admin = kafka.admin()
      let earliest = new Map<number, { low: number; high: number }>()
      const watermarks = async () => {
        await admin.connect()
        const offsets = await admin.fetchTopicOffsets(copts.topic)
        return new Map(offsets.map((o) => [o.partition, { low: Number(o.low), high: Number(o.high) }]))
      }
      return {
        async run(onBatch) {
          try {
            await consumer.connect()
            earliest = await watermarks()
            await consumer.subscribe({ topics: [copts.topic], fromBeginning: true })
          } catch (err) {
            await consumer.disconnect().catch(() => undefined)
            throw toGatewayError(err, `cannot consume ${copts.topic} from ${options.brokers.join(',')}`)
          }
          // Synchronously, so the seeks are in place before the first fetch after the join.
          const startOffset = copts.startOffset
          if (!startOffset) {
            consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
              log.info({ topic: copts.topic, groupId: copts.groupId, partitions: payload.memberAssignment[copts.topic] ?? [] }, 'consumer joined; positions from the committed group offsets')
            })
          } else consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
            const assigned = payload.memberAssignment[copts.topic] ?? []
            for (const partition of assigned) {
              // Below the earliest offset (retention), Kafka answers out-of-range and the
              // consumer falls back to the earliest: fine, that data is gone anyway.
              const offset = startOffset(partition) ?? earliest.get(partition)?.low ?? 0
              consumer.seek({ topic: copts.topic, partition, offset: String(offset) })
            }
            log.info({ topic: copts.topic, partitions: assigned }, 'consumer joined; positions from the local store')
          })
          await consumer.run({
            autoCommit: false,
            eachBatch: async ({ batch, heartbeat }) => {
              await onBatch({
                topic: batch.topic,
                partition: batch.partition,
                highWatermark: batch.highWatermark,
                messages: batch.messages.map((m) => ({ offset: m.offset, key: m.key, value: m.value, timestamp: m.timestamp, headers: m.headers as Record<string, Buffer | string | undefined> | undefined })),
                heartbeat,
              })
              await heartbeat()
            },
          })
        },
        async commit(offsets) {
          await consumer.commitOffsets(offsets.map((o) => ({ topic: copts.topic, partition: o.partition, offset: String(o.offset) })))
        },
        async stop() {
          await consumer.disconnect().catch(() => undefined)
          await admin.disconnect().catch(() => undefined)
        },
        watermarks,
      }
    },

    async createProducer() {
      const producer: Producer = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
        // Short internal retries; the caller's backoff handles long outages.
        retry: { initialRetryTime: 200, maxRetryTime: 2000, retries: 3 },
      })
      try {
        await producer.connect()
      } catch (err) {
        await producer.disconnect().catch(() => undefined)
        throw toGatewayError(err, `cannot connect a producer to ${options.brokers.join(',')}`)
      }
      return {
        async send(batches, { compression }) {
          try {
            await producer.sendBatch({
              acks: -1,
              compression: compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
              topicMessages: batches.filter((b) => b.messages.length > 0),
            })
          } catch (err) {
            throw toGatewayError(err, `send to ${options.brokers.join(',')} failed`)
          }
        },
        async disconnect() {
          await producer.disconnect()
        },
      }
    },
  }
}

function toGatewayError(err: unknown, what: string): GatewayError {
  if (err instanceof GatewayError) return err
  const e = err as { message?: string; retriable?: boolean; type?: string; name?: string }
  // kafkajs marks connection and leadership errors retriable; a bad topic spec is not.
  const retriable = e.retriable !== false || e.name === 'KafkaJSNumberOfRetriesExceeded' || e.name === 'KafkaJSConnectionError'
  const hint =
    e.type === 'INVALID_REPLICATION_FACTOR'
      ? ' (lower kafka.local.replicationFactor to at most the number of brokers)'
      : e.type === 'POLICY_VIOLATION' || e.type === 'TOPIC_AUTHORIZATION_FAILED'
        ? ' (create the topics by hand or grant the gateway rights to)'
        : ''
  return new GatewayError('BUS_UNAVAILABLE', `${what}: ${e.message ?? String(err)}${hint}`, { retriable, cause: err })
}

function kafkaLogCreator(log: Log): logCreator {
  return () =>
    ({ level, log: entry }) => {
      const { message, ...fields } = entry
      // Our producer's retries are bounded on purpose: the pump's own backoff takes over.
      if (message.startsWith('Limiting retries for the idempotent producer')) return
      // kafkajs logs retried conditions as ERROR; the caller logs what it could not handle.
      if (level <= KafkaLogLevel.WARN) log.warn({ kafkajs: fields }, message)
      else log.debug({ kafkajs: fields }, message)
    }
}
