// The pump: journal → local Kafka. Batched, idempotent, acks=all. A record leaves the journal
// only after Kafka acked it; while Kafka is unreachable the pump backs off (capped,
// exponential, jittered) and retries the same records, so nothing is lost, and a retry after
// an ambiguous failure may duplicate (at-least-once; consumers dedupe by key + ts).
import { SCHEMA_VERSION } from '../bus/messages.js'
import type { BusMessage, BusProducer, KafkaBus, TopicBatch } from '../bus/kafka-bus.js'
import { describeError, GatewayError } from '../errors.js'
import type { Log } from '../log.js'
import type { Health, Service } from '../service.js'
import { backoffMs, sleep, type Clock } from '../util/clock.js'
import type { Journal } from './journal.js'

export interface PumpSettings {
  batchMaxMessages: number
  batchMaxBytes: number
  lingerMs: number
  compression: 'gzip' | 'none'
  retryMinMs: number
  retryMaxMs: number
  drainTimeoutMs: number
}

export interface PumpOptions {
  journal: Journal
  bus: KafkaBus
  topics: { readings: string; quarantine: string }
  partitions: number
  replicationFactor: number
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

// Header values as Buffers, made once: kafkajs would convert strings for every message.
const headers = (schema: string) => ({
  schema: Buffer.from(schema),
  'schema-version': Buffer.from(String(SCHEMA_VERSION)),
  'content-type': Buffer.from('application/json'),
})
const READING_HEADERS = headers('shiftscribe.reading')
const QUARANTINE_HEADERS = headers('shiftscribe.quarantine')

export function createPump(options: PumpOptions): Pump {
  const { journal, bus, topics, settings, clock } = options
  const log = options.log.child({ stage: 'pump' })
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
      const specs = [topics.readings, topics.quarantine].map((topic) => ({
        topic,
        partitions: options.partitions,
        replicationFactor: options.replicationFactor,
      }))
      const { created } = await bus.ensureTopics(specs)
      if (created.length > 0) log.info({ topics: created, partitions: options.partitions }, 'created Kafka topics')
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
      if (stopping && (clock.now() >= drainDeadline || journal.ledger().pending === 0)) return
      if (producer === undefined) {
        try {
          await connect()
          if (attempt > 0) log.info({ after: attempt }, 'Kafka reachable again')
        } catch (err) {
          if (err instanceof GatewayError && !err.retriable) {
            log.error({ err: describeError(err) }, 'cannot prepare Kafka topics; records stay in the journal')
          }
          fail(err)
          const wait = backoffMs(attempt - 1, settings.retryMinMs, settings.retryMaxMs)
          log.warn({ err: describeError(err), retryInMs: wait, attempt }, 'Kafka unavailable; journal keeps buffering')
          await sleep(clock, Math.min(wait, Math.max(0, drainDeadline - clock.now())), stopping ? undefined : abort.signal)
          continue
        }
      }

      let batch = journal.readBatch(lastSentId, settings.batchMaxMessages, settings.batchMaxBytes)
      if (batch.length === 0) {
        if (stopping) return
        await waitForWork(250)
        continue
      }
      if (batch.length < settings.batchMaxMessages && settings.lingerMs > 0 && !stopping) {
        // Let a small batch grow a little: fewer, larger Kafka requests under load.
        await sleep(clock, settings.lingerMs)
        batch = journal.readBatch(lastSentId, settings.batchMaxMessages, settings.batchMaxBytes)
      }
      const last = batch[batch.length - 1]
      if (last === undefined) continue
      journal.reserve(last.id)

      const readings: BusMessage[] = []
      const quarantined: BusMessage[] = []
      for (const r of batch) {
        if (r.kind === 'reading') readings.push({ key: r.key, value: r.value, headers: READING_HEADERS })
        else quarantined.push({ key: r.key, value: r.value, headers: QUARANTINE_HEADERS })
      }
      const batches: TopicBatch[] = [
        { topic: topics.readings, messages: readings },
        { topic: topics.quarantine, messages: quarantined },
      ]
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
      journal.markDelivered(lastSentId, last.id)
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
    name: 'pump',

    async start() {
      if (running) return
      // Connection problems are not fatal: the journal buffers until Kafka is back.
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
        const left = journal.ledger().pending
        if (left > 0) log.warn({ pending: left }, 'pump stopped with records still in the journal; they are sent after the next start')
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
      return { ok: status.connected || journal.ledger().pending === 0, detail: status.connected ? 'connected' : 'connecting' }
    },
  }
}
