// The forwarder: store-and-forward from the local topics (narratives, anomalies, KPIs) to the
// central cluster. A local offset is committed only after the central cluster acknowledged
// the message (acks=all, idempotent producer, one request in flight), so nothing is lost; the
// local topic's retention is the offline buffer. Per key order holds: each local partition is
// sent in order and the central key is the local key. When backlogged, narratives drain
// before anomalies before KPIs.
import { Counter, Gauge, type Registry } from 'prom-client'
import type { BusMessage, BusProducer, ConsumedBatch, ConsumedMessage, KafkaBus, TopicSpec } from '../bus/kafka-bus.js'
import { SCHEMA_VERSION } from '../bus/messages.js'
import { describeError } from '../errors.js'
import type { Log } from '../log.js'
import type { Health, Service } from '../service.js'
import { backoffMs, sleep, type Clock } from '../util/clock.js'

export type SourceName = 'narratives' | 'anomalies' | 'kpis' | 'answers'

export interface ForwardRoute {
  name: SourceName
  /** The local topic. */
  source: TopicSpec
  /** The central topic. */
  target: string
  /** Only messages this accepts are forwarded (the others are committed past, counted as filtered). */
  filter?: (value: Record<string, unknown>) => boolean
}

/** Central questions mirrored down to the local questions topic: only those for this site. */
export interface QuestionMirror {
  /** The central topic. */
  source: string
  /** The local topic. */
  target: TopicSpec
  /** Validates a central question; the mirrored message gets replyTo "central". */
  accept: (value: unknown) => { id: string; site?: string } | undefined
}

export interface ForwarderSettings {
  batchMaxMessages: number
  maxBytesPerS: number
  retryMinMs: number
  retryMaxMs: number
}

export interface ForwarderOptions {
  site: string
  gatewayId: string
  local: KafkaBus
  /** A fresh central client: called again after a failure, so a fixed secret file applies without a restart. */
  connectCentral: () => KafkaBus
  /** Central topics to create when missing, at each (re)connection; omit when the central team creates them. */
  centralTopics?: readonly TopicSpec[]
  /** In priority order: the first drains first. */
  routes: readonly ForwardRoute[]
  questions?: QuestionMirror
  groupId: string
  settings: ForwarderSettings
  log: Log
  clock: Clock
  registry?: Registry
}

export interface RouteStatus {
  forwarded: number
  /** Messages in the local topic not yet acknowledged by the central cluster (as of the last batch). */
  lag: number
  /** Kafka timestamp of the oldest message waiting for the central ack, if any. */
  oldestWaitingTs?: number
  skipped: number
  filtered: number
}

export interface ForwarderStatus {
  routes: Record<string, RouteStatus>
  /** Central questions: mirrored to the local topic, and skipped (another site, or invalid). */
  questions?: { mirrored: number; otherSite: number; invalid: number; lastError?: string }
  lastSuccessAt?: number
  /** The newest failure, kept after recovery (failingSince says whether it is still failing). */
  lastError?: string
  lastErrorAt?: number
  failingSince?: number
}

export interface Forwarder extends Service {
  status(): ForwarderStatus
}

/** A readable cause for the central cluster's failures (TLS and SASL problems first). */
export function explainCentralError(err: unknown): string {
  const chain: { name?: string; code?: string; message?: string }[] = []
  for (let e: unknown = err, i = 0; e !== undefined && e !== null && i < 6; i++) {
    const x = e as { name?: string; code?: string; message?: string; cause?: unknown; originalError?: unknown }
    chain.push(x)
    e = x.originalError ?? x.cause
  }
  const codes = chain.map((c) => c.code ?? '')
  const names = chain.map((c) => c.name ?? '')
  const text = chain.map((c) => c.message ?? '').join(' | ')
  if (names.includes('KafkaJSSASLAuthenticationError') || /SASL .*authentication failed|Authentication failed/i.test(text)) {
    return `the central cluster rejected the SASL credentials (check kafka.central.sasl username and password/passwordFile): ${chain[0]?.message ?? text}`
  }
  if (codes.includes('ERR_TLS_CERT_ALTNAME_INVALID') || /altnames|Hostname\/IP does not match/i.test(text)) {
    return `the central broker's certificate does not carry the name we connect to (fix the broker address or kafka.central.tls.servername): ${text}`
  }
  if (codes.some((c) => /SELF_SIGNED|UNABLE_TO_VERIFY|CERT_UNTRUSTED|UNABLE_TO_GET_ISSUER/.test(c)) || /self[- ]signed|unable to verify|unable to get (local )?issuer/i.test(text)) {
    return `the central broker's certificate is not signed by a trusted CA (check kafka.central.tls.caFile): ${text}`
  }
  if (/certificate required|alert number 116|bad certificate|alert.*certificate/i.test(text)) {
    return `the central broker wants a client certificate (set kafka.central.tls.certFile and keyFile): ${text}`
  }
  return describeError(err)
}

/** The `schema` header the producers of each local topic set; used when a message lacks it. */
const SCHEMA_BY_SOURCE: Record<SourceName, string> = { narratives: 'shiftscribe.narrative', anomalies: 'shiftscribe.anomaly', kpis: 'shiftscribe.kpis', answers: 'shiftscribe.answer' }

function headerValue(v: Buffer | string | undefined): string | undefined {
  return v === undefined ? undefined : v.toString()
}

export function createForwarder(options: ForwarderOptions): Forwarder {
  const { clock, settings } = options
  const log = options.log.child({ stage: 'forward' })
  const status: ForwarderStatus = {
    routes: Object.fromEntries(options.routes.map((r) => [r.name, { forwarded: 0, lag: 0, skipped: 0, filtered: 0 }])),
    ...(options.questions ? { questions: { mirrored: 0, otherSite: 0, invalid: 0 } } : {}),
  }
  // The running consumers (one per route, and the questions mirror), stopped at stop(); a failed attempt's is forgotten.
  const consumers = new Set<{ stop(): Promise<void> }>()
  const runs: Promise<void>[] = []
  const abort = new AbortController()
  let stopped = false
  let central: { bus: KafkaBus; producer: BusProducer } | undefined
  let mirrorProducer: BusProducer | undefined
  let connecting: Promise<BusProducer> | undefined
  let lastLoggedError = ''
  let lastLoggedAt = 0
  // Token bucket for the upload cap.
  let tokens = settings.maxBytesPerS
  let tokensAt = clock.now()

  const metrics = options.registry
    ? {
        forwarded: new Counter({ name: 'shiftscribe_forward_messages_total', help: 'Messages acknowledged by the central cluster, by source', labelNames: ['source'], registers: [options.registry] }),
        lag: new Gauge({ name: 'shiftscribe_forward_lag_messages', help: 'Local messages not yet acknowledged by the central cluster, by source', labelNames: ['source'], registers: [options.registry] }),
        oldest: new Gauge({
          name: 'shiftscribe_forward_oldest_unforwarded_age_seconds',
          help: 'Age of the oldest message waiting for the central ack (0 when caught up)',
          registers: [options.registry],
          collect() {
            const ts = Object.values(status.routes)
              .map((r) => r.oldestWaitingTs)
              .filter((t): t is number => t !== undefined)
            this.set(ts.length === 0 ? 0 : (clock.now() - Math.min(...ts)) / 1000)
          },
        }),
        lastSuccess: new Gauge({ name: 'shiftscribe_forward_last_success_timestamp_seconds', help: 'When the central cluster last acknowledged a batch', registers: [options.registry] }),
        lastError: new Gauge({ name: 'shiftscribe_forward_last_error_timestamp_seconds', help: 'When a send to the central cluster last failed (0: never since start)', registers: [options.registry] }),
        errors: new Counter({
          name: 'shiftscribe_forward_errors_total',
          help: 'Forwarding failures, by step: central_send (connect or send to the central cluster), local_commit and local_heartbeat (the local consumer group)',
          labelNames: ['step'],
          registers: [options.registry],
        }),
      }
    : undefined
  // Every step shows from the start, at 0.
  for (const step of ['central_send', 'local_commit', 'local_heartbeat']) metrics?.errors.inc({ step }, 0)

  async function producer(): Promise<BusProducer> {
    if (central) return central.producer
    connecting ??= (async () => {
      const bus = options.connectCentral()
      if (options.centralTopics && options.centralTopics.length > 0) {
        const { created } = await bus.ensureTopics(options.centralTopics)
        if (created.length > 0) log.info({ topics: created }, 'created central topics')
      }
      const p = await bus.createProducer()
      central = { bus, producer: p }
      return p
    })().finally(() => {
      connecting = undefined
    })
    return connecting
  }

  async function dropCentral(): Promise<void> {
    const c = central
    central = undefined
    await c?.producer.disconnect().catch(() => undefined)
  }

  function failed(err: unknown): string {
    const why = explainCentralError(err)
    status.lastError = why
    status.lastErrorAt = clock.now()
    status.failingSince ??= clock.now()
    metrics?.errors.inc({ step: 'central_send' })
    metrics?.lastError.set(status.lastErrorAt / 1000)
    // Log a new error at once, the same one again once a minute.
    if (why !== lastLoggedError || clock.now() - lastLoggedAt >= 60_000) {
      log.warn({ err: why, failingForS: Math.round((clock.now() - (status.failingSince ?? clock.now())) / 1000) }, 'cannot forward to the central cluster; retrying')
      lastLoggedError = why
      lastLoggedAt = clock.now()
    }
    return why
  }

  /**
   * A local commit or heartbeat failed (a rebalance, local Kafka gone): recorded and logged as
   * local, not as a central outage, and rethrown by the caller so the batch ends and kafkajs
   * fetches it again (from the committed offset after a rejoin).
   */
  function failedLocally(step: 'local_commit' | 'local_heartbeat', what: string, fields: Record<string, unknown>, err: unknown): void {
    if (stopped) return
    status.lastError = `${what}: ${describeError(err)}`
    status.lastErrorAt = clock.now()
    metrics?.errors.inc({ step })
    metrics?.lastError.set(status.lastErrorAt / 1000)
    log.warn({ ...fields, err: describeError(err) }, `${what}; ending the batch, it is fetched again`)
  }

  async function heartbeat(route: ForwardRoute, batch: ConsumedBatch): Promise<void> {
    try {
      await batch.heartbeat?.()
    } catch (err) {
      if (stopped) return
      failedLocally('local_heartbeat', `local heartbeat for ${route.source.topic}[${batch.partition}] failed`, { source: route.source.topic, partition: batch.partition }, err)
      throw err
    }
  }

  /** The central cluster acknowledged a chunk: its outage, if any, is over. */
  function centralAcked(): void {
    const now = clock.now()
    if (status.failingSince !== undefined) log.info({ downS: Math.round((now - status.failingSince) / 1000) }, 'forwarding to the central cluster again')
    status.failingSince = undefined
    lastLoggedError = ''
    status.lastSuccessAt = now
    metrics?.lastSuccess.set(now / 1000)
  }

  /** Acknowledged and committed: counted as forwarded (a chunk whose commit failed counts when it goes again). */
  function forwarded(route: ForwardRoute, n: number): void {
    const r = status.routes[route.name] as RouteStatus
    r.forwarded += n
    metrics?.forwarded.inc({ source: route.name }, n)
  }

  /** Waits (keeping the group membership) while a route of higher priority has work. */
  async function yieldToHigher(route: ForwardRoute, batch: ConsumedBatch): Promise<void> {
    const mine = options.routes.indexOf(route)
    const busy = () =>
      options.routes.slice(0, mine).some((r) => {
        const s = status.routes[r.name] as RouteStatus
        return s.lag > 0 || s.oldestWaitingTs !== undefined
      })
    while (!stopped && busy()) {
      await sleep(clock, 200, abort.signal)
      await heartbeat(route, batch)
    }
  }

  async function throttle(bytes: number): Promise<void> {
    if (settings.maxBytesPerS <= 0) return
    for (;;) {
      const now = clock.now()
      tokens = Math.min(settings.maxBytesPerS, tokens + ((now - tokensAt) / 1000) * settings.maxBytesPerS)
      tokensAt = now
      // A message larger than a second's budget goes once the bucket is full.
      if (tokens >= Math.min(bytes, settings.maxBytesPerS) || stopped) {
        tokens -= bytes
        return
      }
      await sleep(clock, Math.ceil(((Math.min(bytes, settings.maxBytesPerS) - tokens) / settings.maxBytesPerS) * 1000), abort.signal)
    }
  }

  /** The central message; undefined when the local one is broken, null when the route filters it out. */
  function toCentral(route: ForwardRoute, partition: number, m: ConsumedMessage): BusMessage | undefined | null {
    let value: Record<string, unknown>
    try {
      value = JSON.parse(m.value?.toString() ?? '') as Record<string, unknown>
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object')
    } catch (err) {
      log.error({ topic: route.source.topic, partition, offset: m.offset, err: describeError(err) }, 'local message is not a JSON object; not forwarded')
      return undefined
    }
    if (route.filter && !route.filter(value)) return null
    const dedupId = `${options.site}:${route.source.topic}:${partition}:${m.offset}`
    const schema = headerValue(m.headers?.['schema']) ?? SCHEMA_BY_SOURCE[route.name]
    return {
      key: m.key ?? Buffer.from(options.site),
      value: JSON.stringify({ ...value, dedupId }),
      headers: {
        schema,
        'schema-version': String(value['v'] ?? SCHEMA_VERSION),
        'content-type': 'application/json',
        site: options.site,
        'gateway-id': options.gatewayId,
        'source-topic': route.source.topic,
        'source-partition': String(partition),
        'source-offset': m.offset,
      },
    }
  }

  // Per route, each partition's lag and oldest waiting message; the route's figures are their
  // sum and minimum (a topic with several partitions is not as far behind as its last batch's).
  const partitions = new Map<string, Map<number, { lag: number; oldestWaitingTs?: number }>>()

  function setPartition(route: ForwardRoute, partition: number, lag: number, oldestWaitingTs?: number): void {
    let byPartition = partitions.get(route.name)
    if (!byPartition) partitions.set(route.name, (byPartition = new Map()))
    byPartition.set(partition, oldestWaitingTs === undefined ? { lag } : { lag, oldestWaitingTs })
    const r = status.routes[route.name] as RouteStatus
    const all = [...byPartition.values()]
    r.lag = all.reduce((sum, p) => sum + p.lag, 0)
    const waiting = all.map((p) => p.oldestWaitingTs).filter((t): t is number => t !== undefined)
    r.oldestWaitingTs = waiting.length === 0 ? undefined : Math.min(...waiting)
    metrics?.lag.set({ source: route.name }, r.lag)
  }

  async function forwardBatch(route: ForwardRoute, batch: ConsumedBatch, commit: (offset: number) => Promise<void>): Promise<void> {
    try {
      await forwardChunks(route, batch, commit)
    } finally {
      // Nothing of this partition waits in the forwarder once its batch ended, by error or stop
      // included: lower priorities must not wait on a batch kafkajs may hand to another member.
      const lag = partitions.get(route.name)?.get(batch.partition)?.lag ?? 0
      setPartition(route, batch.partition, lag)
    }
  }

  async function forwardChunks(route: ForwardRoute, batch: ConsumedBatch, commit: (offset: number) => Promise<void>): Promise<void> {
    const r = status.routes[route.name] as RouteStatus
    const high = Number(batch.highWatermark)
    for (let i = 0; i < batch.messages.length && !stopped; ) {
      const chunk = batch.messages.slice(i, i + settings.batchMaxMessages)
      const last = chunk[chunk.length - 1] as ConsumedMessage
      setPartition(route, batch.partition, Math.max(0, high - Number(chunk[0]?.offset ?? high)), Number(chunk[0]?.timestamp ?? clock.now()))
      await yieldToHigher(route, batch)
      const converted = chunk.map((m) => toCentral(route, batch.partition, m))
      const messages = converted.filter((m): m is BusMessage => m !== undefined && m !== null)
      r.filtered += converted.filter((m) => m === null).length
      r.skipped += converted.filter((m) => m === undefined).length
      const bytes = messages.reduce((a, m) => a + m.value.length + m.key.length, 0)
      for (let attempt = 0; !stopped; attempt++) {
        try {
          await throttle(bytes)
          const p = await producer()
          if (messages.length > 0) await p.send([{ topic: route.target, messages }], { compression: 'gzip' })
        } catch (err) {
          failed(err)
          await dropCentral()
          const wait = backoffMs(attempt, settings.retryMinMs, settings.retryMaxMs)
          // Wait in slices, keeping the local group membership alive. A failed heartbeat (a
          // rebalance: the partition may be another member's now) ends the batch.
          for (const until = clock.now() + wait; !stopped && clock.now() < until; ) {
            await sleep(clock, Math.min(1000, until - clock.now()), abort.signal)
            await heartbeat(route, batch)
          }
          continue
        }
        centralAcked()
        // Committed only now: the central cluster has every message up to `last`. A failed
        // commit ends the batch rather than resending the chunk in a loop: kafkajs fetches the
        // batch again, so what was acknowledged goes once more (dedupId marks the copies).
        const next = Number(last.offset) + 1
        try {
          await commit(next)
        } catch (err) {
          failedLocally('local_commit', `local offset commit of ${route.source.topic}[${batch.partition}] up to ${next} failed after the central ack`, { source: route.source.topic, partition: batch.partition, offset: next }, err)
          throw err
        }
        forwarded(route, messages.length)
        break
      }
      if (stopped) return
      i += chunk.length
      setPartition(route, batch.partition, Math.max(0, high - (Number(last.offset) + 1)))
    }
  }

  async function runRoute(route: ForwardRoute): Promise<void> {
    for (let attempt = 0; !stopped; attempt++) {
      const consumer = options.local.createConsumer({ groupId: `${options.groupId}-${route.name}`, topic: route.source.topic, maxWaitTimeMs: 500, maxBytes: 4 * 1024 * 1024 })
      consumers.add(consumer)
      try {
        await options.local.ensureTopics([route.source])
        await consumer.run(async (batch) => {
          if (stopped) return
          await forwardBatch(route, batch, (offset) => consumer.commit([{ partition: batch.partition, offset }]))
        })
        return
      } catch (err) {
        if (stopped) return
        const wait = backoffMs(attempt, 500, 30_000)
        log.warn({ source: route.source.topic, err: describeError(err), retryInMs: wait }, 'cannot consume the local topic yet; retrying')
        await consumer.stop().catch(() => undefined)
        // Forgotten, so a long outage does not pile up stopped clients.
        consumers.delete(consumer)
        await sleep(clock, wait, abort.signal)
      }
    }
  }

  /**
   * Central questions → local questions topic, for this site only. The central offset is
   * committed after the local ack, so a question is mirrored at least once (the question
   * agent answers an id once).
   */
  async function runQuestions(mirror: QuestionMirror): Promise<void> {
    const q = status.questions as NonNullable<ForwarderStatus['questions']>
    // consumer.run() returns once the consumer runs; the producer lives until stop().
    await mirrorLoop()

    async function mirrorLoop(): Promise<void> {
      for (let attempt = 0; !stopped; attempt++) {
        let consumer: ReturnType<KafkaBus['createConsumer']> | undefined
        try {
          const bus = options.connectCentral()
          if (options.centralTopics && options.centralTopics.length > 0) await bus.ensureTopics(options.centralTopics)
          consumer = bus.createConsumer({ groupId: `${options.groupId}-questions`, topic: mirror.source, maxWaitTimeMs: 500 })
          consumers.add(consumer)
          await options.local.ensureTopics([mirror.target])
          mirrorProducer ??= await options.local.createProducer()
          const producerNow = mirrorProducer
          const c = consumer
          await c.run(async (batch) => {
            const out: BusMessage[] = []
            for (const m of batch.messages) {
              let value: unknown
              try {
                value = JSON.parse(m.value?.toString('utf8') ?? '')
              } catch {
                value = undefined
              }
              const accepted = mirror.accept(value)
              if (accepted === undefined) q.invalid++
              else if (accepted.site !== options.site) q.otherSite++
              else out.push({ key: accepted.id, value: JSON.stringify({ ...(value as object), replyTo: 'central' }), headers: { schema: 'shiftscribe.question', 'schema-version': String(SCHEMA_VERSION), 'content-type': 'application/json', 'source-topic': mirror.source } })
            }
            if (out.length > 0) await producerNow.send([{ topic: mirror.target.topic, messages: out }], { compression: 'none' })
            q.mirrored += out.length
            const last = batch.messages[batch.messages.length - 1]
            if (last !== undefined) await c.commit([{ partition: batch.partition, offset: Number(last.offset) + 1 }])
            if (out.length > 0) log.info({ questions: out.length }, 'central questions mirrored to the local questions topic')
          })
          return
        } catch (err) {
          if (stopped) return
          q.lastError = explainCentralError(err)
          const wait = backoffMs(attempt, settings.retryMinMs, settings.retryMaxMs)
          log.warn({ err: q.lastError, retryInMs: wait }, 'cannot read central questions; retrying')
          await consumer?.stop().catch(() => undefined)
          if (consumer) consumers.delete(consumer)
          await sleep(clock, wait, abort.signal)
        }
      }
    }
  }

  return {
    name: 'forward',
    async start() {
      stopped = false
      for (const route of options.routes) runs.push(runRoute(route))
      if (options.questions) runs.push(runQuestions(options.questions))
      log.info({ routes: options.routes.map((r) => `${r.source.topic} → ${r.target}`) }, 'forwarding to the central cluster')
    },
    async stop() {
      if (stopped) return
      stopped = true
      abort.abort()
      // A batch waiting for the central cluster ends without committing: it is sent again after the next start.
      await Promise.all([...consumers].map((c) => c.stop().catch(() => undefined)))
      await Promise.all(runs)
      await dropCentral()
      await mirrorProducer?.disconnect().catch(() => undefined)
      mirrorProducer = undefined
    },
    health(): Health {
      const lag = Object.entries(status.routes)
        .map(([name, r]) => `${name} ${r.lag}`)
        .join(', ')
      if (status.failingSince !== undefined) {
        return { ok: false, detail: `central unreachable for ${Math.round((clock.now() - status.failingSince) / 1000)} s: ${status.lastError ?? '?'}; lag ${lag}` }
      }
      const lastError = status.lastErrorAt !== undefined ? `; last error ${new Date(status.lastErrorAt).toISOString()}: ${status.lastError ?? '?'}` : ''
      return { ok: true, detail: `forwarding; lag ${lag}${status.lastSuccessAt ? `; last ack ${new Date(status.lastSuccessAt).toISOString()}` : ''}${lastError}` }
    },
    status: () => ({ ...status, routes: Object.fromEntries(Object.entries(status.routes).map(([k, v]) => [k, { ...v }])) }),
  }
}
