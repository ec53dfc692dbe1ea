// The aggregator service: consumes factory.readings as a consumer group, starting each
// partition at the offset stored in SQLite (not Kafka's), and applies each batch through the
// state processor in one transaction. Kafka's group offsets are committed afterwards, only so
// that lag tools see progress. A wall-clock tick drives dropouts and idle shift closing.
import type { BusConsumer, KafkaBus, TopicSpec } from '../bus/kafka-bus.js'
import { describeError } from '../errors.js'
import type { Log } from '../log.js'
import type { Health, Service } from '../service.js'
import type { ShiftKpis } from '../shifts/kpis.js'
import { backoffMs, sleep, type Clock } from '../util/clock.js'
import type { AnomalyEvent } from '../detect/types.js'
import type { BatchOutcome, StateProcessor } from './state-processor.js'

export interface AggregatorOptions {
  bus: KafkaBus
  topic: TopicSpec
  groupId: string
  /** Builds the processor (and its detector bank) from the database; called again after a failed batch. */
  makeProcessor: () => StateProcessor
  /** Prunes old state a step at a time, by event time. */
  retention?: { pruneStep(now: number): { buckets: number; anomalies: number } }
  log: Log
  clock: Clock
  tickMs?: number
  /** After each applied batch or tick (metrics, the narrator, SSE). */
  onApplied?: (event: { readings: number; lag: number; anomalies: readonly AnomalyEvent[]; closedShifts: readonly ShiftKpis[] }) => void
  /** Called when the processor has written outbox events (wakes the outbox pump). */
  onOutbox?: () => void
}

export interface Aggregator extends Service {
  processor(): StateProcessor
  status(): { applied: number; skipped: number; invalid: number; lag: number; lastBatchAt?: number; lastError?: string }
}

const COMMIT_EVERY_MS = 5_000

export function createAggregator(options: AggregatorOptions): Aggregator {
  const { bus, clock } = options
  const log = options.log.child({ stage: 'aggregate' })
  let processor = options.makeProcessor()
  let consumer: BusConsumer | undefined
  let stopped = false
  let ticker: unknown
  let runner: Promise<void> | undefined
  const lagByPartition = new Map<number, number>()
  let lastCommit = 0
  const stats = { applied: 0, skipped: 0, invalid: 0, lag: 0, lastBatchAt: undefined as number | undefined, lastError: undefined as string | undefined }

  function report(outcome: Pick<BatchOutcome, 'applied' | 'anomalies' | 'closedShifts'>): void {
    if (outcome.anomalies.length > 0 || outcome.closedShifts.length > 0) options.onOutbox?.()
    options.onApplied?.({ readings: outcome.applied, lag: stats.lag, anomalies: outcome.anomalies, closedShifts: outcome.closedShifts })
  }

  async function consume(): Promise<void> {
    for (let attempt = 0; !stopped; attempt++) {
      try {
        await bus.ensureTopics([options.topic])
        const c = bus.createConsumer({ groupId: options.groupId, topic: options.topic.topic, startOffset: (p) => processor.nextOffset(p) })
        consumer = c
        await c.run(async (batch) => {
          let outcome: BatchOutcome
          try {
            outcome = processor.applyBatch(batch.partition, batch.messages, clock.now())
          } catch (err) {
            // The transaction rolled back but the detectors' memory did not: start over from the database.
            stats.lastError = describeError(err)
            log.error({ err: stats.lastError, partition: batch.partition }, 'batch failed; reloading state from the database, Kafka redelivers')
            processor = options.makeProcessor()
            throw err
          }
          stats.applied += outcome.applied
          stats.skipped += outcome.skipped
          stats.invalid += outcome.invalid
          if (outcome.invalid > 0) log.warn({ invalid: outcome.invalid, partition: batch.partition }, 'skipped messages that are not readings')
          const last = batch.messages[batch.messages.length - 1]
          if (last !== undefined) lagByPartition.set(batch.partition, Math.max(0, Number(batch.highWatermark) - Number(last.offset) - 1))
          stats.lag = [...lagByPartition.values()].reduce((a, b) => a + b, 0)
          stats.lastBatchAt = clock.now()
          report(outcome)
          if (clock.now() - lastCommit >= COMMIT_EVERY_MS) {
            lastCommit = clock.now()
            const offsets = [...processor.offsets()].map(([partition, offset]) => ({ partition, offset }))
            await c.commit(offsets).catch((err: unknown) => log.debug({ err: describeError(err) }, 'advisory offset commit failed'))
          }
        })
        return
      } catch (err) {
        if (stopped) return
        stats.lastError = describeError(err)
        const wait = backoffMs(attempt, 500, 30_000)
        log.warn({ err: stats.lastError, retryInMs: wait }, 'cannot consume readings yet; retrying')
        await consumer?.stop().catch(() => undefined)
        consumer = undefined
        await sleep(clock, wait)
      }
    }
  }

  let lastPrune = 0
  let pruning = false
  function tick(): void {
    if (stopped) return
    try {
      report({ applied: 0, ...processor.tick(clock.now()) })
      // Retention in small steps: keep going each tick while a step deletes rows, else once a minute.
      const eventNow = processor.maxEventTs()
      if (options.retention && eventNow !== undefined && (pruning || clock.now() - lastPrune >= 60_000)) {
        lastPrune = clock.now()
        const pruned = options.retention.pruneStep(eventNow)
        pruning = pruned.buckets + pruned.anomalies > 0
        if (pruning) log.debug(pruned, 'pruned old state')
      }
    } catch (err) {
      log.error({ err: describeError(err) }, 'tick failed; reloading state from the database')
      processor = options.makeProcessor()
    }
    ticker = clock.setTimeout(tick, options.tickMs ?? 1000)
  }

  return {
    name: 'aggregate',
    processor: () => processor,
    async start() {
      runner = consume()
      ticker = clock.setTimeout(tick, options.tickMs ?? 1000)
    },
    async stop() {
      if (stopped) return
      stopped = true
      clock.clearTimeout(ticker)
      await consumer?.stop()
      await runner?.catch(() => undefined)
    },
    status: () => ({ ...stats }),
    health(): Health {
      if (stats.lastError !== undefined && (stats.lastBatchAt === undefined || clock.now() - stats.lastBatchAt > 60_000)) {
        return { ok: false, detail: `not consuming: ${stats.lastError}` }
      }
      return { ok: true, detail: `lag ${stats.lag}` }
    },
  }
}
