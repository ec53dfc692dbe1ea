// The pump: a durable local table (the ingest journal, the state outbox) → local Kafka.
// Batched, idempotent, acks=all. A record leaves its table only after Kafka acked it; while
// Kafka is unreachable the pump backs off (capped, exponential, jittered) and retries the
// same records, so nothing is lost, and a retry after an ambiguous failure may duplicate
// (at-least-once; consumers dedupe by key + ts, or by id).
import { SCHEMA_VERSION } from '../bus/messages.js'
import type { BusMessage, BusProducer, KafkaBus, TopicBatch, TopicSpec } from '../bus/kafka-bus.js'
import { describeError, GatewayError } from '../errors.js'
import type { Log } from '../log.js'
import type { Health, Service } from '../service.js'
import { backoffMs, sleep, type Clock } from '../util/clock.js'

export interface PumpRecord {
  id: number
  key: Buffer
  value: Buffer
  bytes: number
}

/** Where the pump takes records from: ids only grow; delivered records are deleted. */
export interface RecordSource<R extends PumpRecord> {
  readBatch(afterId: number, maxRecords: number, maxBytes: number): R[]
  markDelivered(afterId: number, upToId: number): number
  /** Records with id <= upTo are in flight (a bounded source must not drop them). */
  reserve(upTo: number): void
  pending(): number
}

export interface Route {
  topic: string
  headers: Record<string, Buffer>
}

export interface PumpSettings {
  batchMaxMessages: number
  batchMaxBytes: number
  lingerMs: number
  compression: 'gzip' | 'none'
  retryMinMs: number
  retryMaxMs: number
  drainTimeoutMs: number
}

export interface PumpOptions<R extends PumpRecord> {
  /** For logs and health: "pump", "outbox". */
  name: string
  source: RecordSource<R>
  /** The topic and headers of a record. */
  route: (record: R) => Route
  bus: KafkaBus
  /** Topics to create at start (missing ones only). */
  topics: readonly TopicSpec[]
  settings: PumpSettings
  log: Log
  clock: Clock
  /** Called after each acknowledged batch (metrics). */
  onDelivered?: (records: number, sendMs: number) => void
}

export interface PumpStatus {
  connected: boolean
  lastSuccessAt?: number
  lastError?: string
  lastErrorAt?: number
  failingSince?: number
  batches: number
}

export interface Pump extends Service {
  /** Something was journaled: send soon. */
  notify(): void
  status(): PumpStatus
}

/** Header values as Buffers, made once per schema: kafkajs would convert strings for every message. */
export function schemaHeaders(schema: string): Record<string, Buffer> {
  return {
    schema: Buffer.from(schema),
    'schema-version': Buffer.from(String(SCHEMA_VERSION)),
    'content-type': Buffer.from('application/json'),
  }
}

export function createPump<R extends PumpRecord>(options: PumpOptions<R>): Pump {
  const { source, route, bus, settings, clock } = options
  const log = options.log.child({ stage: options.name })
  let producer: BusProducer | undefined
  let topicsReady = false
  let running: Promise<void> | undefined
  let stopping = false
  let drainDeadline = Infinity
  const abort = new AbortController()
  let wake: (() => void) | undefined
  let lastSentId = 0
  let attempt = 0
  const status: PumpStatus = { connected: false, batches: 0 }

  function waitForWork(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = clock.setTimeout(done, ms)
      function done() {
        clock.clearTimeout(timer)
        wake = undefined
        resolve()
      }
      wake = done
    })
  }

  async function connect(): Promise<void> {
    if (!topicsReady) {
      const { created } = await bus.ensureTopics(options.topics)
      if (created.length > 0) log.info({ topics: created }, 'created Kafka topics')
      topicsReady = true
    }
    producer = await bus.createProducer()
    status.connected = true
    log.info({ brokers: bus.brokers }, 'Kafka producer ready')
  }

  async function dropProducer(): Promise<void> {
    const p = producer
    producer = undefined
    status.connected = false
    await p?.disconnect().catch(() => undefined)
  }

  function fail(err: unknown): void {
    const now = clock.now()
    status.lastError = describeError(err)
    status.lastErrorAt = now
    status.failingSince ??= now
    attempt++
  }

  async function loop(): Promise<void> {
    for (;;) {
      if (stopping && (clock.now() >= drainDeadline || source.pending() === 0)) return
      if (producer === undefined) {
        try {
          await connect()
          if (attempt > 0) log.info({ after: attempt }, 'Kafka reachable again')
        } catch (err) {
          if (err instanceof GatewayError && !err.retriable) {
            log.error({ err: describeError(err) }, 'cannot prepare Kafka topics; records stay buffered')
          }
          fail(err)
          const wait = backoffMs(attempt - 1, settings.retryMinMs, settings.retryMaxMs)
          log.warn({ err: describeError(err), retryInMs: wait, attempt }, 'Kafka unavailable; records stay buffered')
          await sleep(clock, Math.min(wait, Math.max(0, drainDeadline - clock.now())), stopping ? undefined : abort.signal)
          continue
        }
      }

      let batch = source.readBatch(lastSentId, settings.batchMaxMessages, settings.batchMaxBytes)
      if (batch.length === 0) {
        if (stopping) return
        await waitForWork(250)
        continue
      }
      if (batch.length < settings.batchMaxMessages && settings.lingerMs > 0 && !stopping) {
        // Let a small batch grow a little: fewer, larger Kafka requests under load.
        await sleep(clock, settings.lingerMs)
        batch = source.readBatch(lastSentId, settings.batchMaxMessages, settings.batchMaxBytes)
      }
      const last = batch[batch.length - 1]
      if (last === undefined) continue
      source.reserve(last.id)

      const byTopic = new Map<string, BusMessage[]>()
      for (const r of batch) {
        const { topic, headers } = route(r)
        let list = byTopic.get(topic)
        if (list === undefined) byTopic.set(topic, (list = []))
        list.push({ key: r.key, value: r.value, headers })
      }
      const batches: TopicBatch[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }))
      const started = clock.now()
      try {
        const p = producer
        if (p === undefined) continue
        await p.send(batches, { compression: settings.compression })
      } catch (err) {
        fail(err)
        const wait = backoffMs(attempt - 1, settings.retryMinMs, settings.retryMaxMs)
        log.warn({ err: describeError(err), records: batch.length, retryInMs: wait, attempt }, 'Kafka send failed; will retry the same records')
        // A fresh producer after repeated failures: kafkajs can stay stuck on a dead connection.
        if (attempt % 3 === 0) await dropProducer()
        await sleep(clock, Math.min(wait, Math.max(0, drainDeadline - clock.now())), stopping ? undefined : abort.signal)
        continue
      }
      source.markDelivered(lastSentId, last.id)
      lastSentId = last.id
      const now = clock.now()
      if (status.failingSince !== undefined) {
        log.info({ downMs: now - status.failingSince }, 'Kafka sends succeed again')
        status.failingSince = undefined
      }
      attempt = 0
      status.lastSuccessAt = now
      status.batches++
      options.onDelivered?.(batch.length, now - started)
    }
  }

  return {
    name: options.name,

    async start() {
      if (running) return
      // Connection problems are not fatal: the source table buffers until Kafka is back.
      running = loop().catch((err: unknown) => {
        log.fatal({ err: describeError(err) }, 'pump stopped unexpectedly')
        throw err
      })
    },

    async stop() {
      if (stopping) return running
      stopping = true
      drainDeadline = clock.now() + settings.drainTimeoutMs
      abort.abort()
      wake?.()
      try {
        await running
      } finally {
        const left = source.pending()
        if (left > 0) log.warn({ pending: left }, 'stopped with records not yet in Kafka; they are sent after the next start')
        await dropProducer()
      }
    },

    notify() {
      wake?.()
    },

    status() {
      return { ...status }
    },

    health(): Health {
      if (status.failingSince !== undefined) {
        return { ok: false, detail: `Kafka unavailable for ${Math.round((clock.now() - status.failingSince) / 1000)} s: ${status.lastError ?? ''}` }
      }
      return { ok: status.connected || source.pending() === 0, detail: status.connected ? 'connected' : 'connecting' }
    },
  }
}
