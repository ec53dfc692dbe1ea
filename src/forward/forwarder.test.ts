// The forwarder's promises with fake buses: commit only after the central ack, retry the same
// messages after a failure, headers and dedupId, priority of narratives, the upload cap, and
// clear words for TLS and SASL failures.
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import type { BusConsumer, BusMessage, BusProducer, ConsumedBatch, KafkaBus, TopicBatch } from '../bus/kafka-bus.js'
import { silentLogger } from '../log.js'
import type { Config } from '../config/load-config.js'
import { systemClock } from '../util/clock.js'
import { centralSecurity } from './central-client.js'
import { createForwarder, explainCentralError, type ForwardRoute } from './forwarder.js'

interface LocalTopic {
  batches: ConsumedBatch[]
  commits: number[]
}

function fakeLocal(topics: Record<string, LocalTopic>): KafkaBus {
  return {
    brokers: ['local:1'],
    ensureTopics: async () => ({ created: [], existing: [] }),
    createProducer: async () => {
      throw new Error('not used')
    },
    createConsumer(o): BusConsumer {
      const t = topics[o.topic] as LocalTopic
      let stopped = false
      let running: Promise<void> = Promise.resolve()
      return {
        async run(onBatch) {
          // Like kafkajs: run() returns once consuming has begun.
          running = (async () => {
            for (const b of t.batches) {
              if (stopped) return
              await onBatch({ ...b, heartbeat: async () => undefined })
            }
          })()
        },
        async commit(offsets) {
          for (const o of offsets) t.commits.push(o.offset)
        },
        async stop() {
          stopped = true
          await running
        },
        watermarks: async () => new Map(),
      }
    },
  }
}

interface RefetchTopic {
  messages: ReturnType<typeof msg>[]
  commits: number[]
  /** Each delivery of the batch: where it started, and the error that ended it. */
  deliveries: { from: number; error?: string }[]
  /** Throw to fail a commit or a heartbeat during the given delivery. */
  onCommit?: (delivery: number) => void
  onHeartbeat?: (delivery: number) => void
}

/** One partition consumed as kafkajs does it: a batch whose handler throws is fetched again from the committed offset. */
function refetchingLocal(t: RefetchTopic): KafkaBus {
  return {
    brokers: ['local:1'],
    ensureTopics: async () => ({ created: [], existing: [] }),
    createProducer: async () => {
      throw new Error('not used')
    },
    createConsumer(): BusConsumer {
      let stopped = false
      let current = -1
      let running: Promise<void> = Promise.resolve()
      return {
        async run(onBatch) {
          running = (async () => {
            while (!stopped) {
              const from = t.commits[t.commits.length - 1] ?? 0
              if (from >= t.messages.length) {
                await new Promise((r) => setTimeout(r, 5))
                continue
              }
              const d = (current = t.deliveries.push({ from }) - 1)
              try {
                await onBatch({ topic: 'n', partition: 0, messages: t.messages.slice(from), highWatermark: String(t.messages.length), heartbeat: async () => t.onHeartbeat?.(d) })
              } catch (err) {
                ;(t.deliveries[d] as { error?: string }).error = (err as Error).message
              }
            }
          })()
        },
        async commit(offsets) {
          t.onCommit?.(current)
          for (const o of offsets) t.commits.push(o.offset)
        },
        async stop() {
          stopped = true
          await running
        },
        watermarks: async () => new Map(),
      }
    },
  }
}

const rebalancing = () => Object.assign(new Error('The group is rebalancing, so a rejoin is needed'), { name: 'KafkaJSProtocolError', type: 'REBALANCE_IN_PROGRESS', retriable: true })

interface Central {
  sent: { topic: string; messages: BusMessage[]; at: number }[]
  failures: number
  connects: number
}

function fakeCentral(c: Central): () => KafkaBus {
  return () => ({
    brokers: ['central:1'],
    ensureTopics: async () => ({ created: [], existing: [] }),
    createConsumer: () => {
      throw new Error('not used')
    },
    async createProducer(): Promise<BusProducer> {
      c.connects++
      return {
        async send(batches: TopicBatch[]) {
          if (c.failures > 0) {
            c.failures--
            throw Object.assign(new Error('SASL SCRAM SHA512 authentication failed: Authentication failed'), { name: 'KafkaJSSASLAuthenticationError' })
          }
          for (const b of batches) c.sent.push({ topic: b.topic, messages: b.messages, at: Date.now() })
        },
        disconnect: async () => undefined,
      }
    },
  })
}

const msg = (offset: number, key: string, value: object, ts = 1_000) => ({ offset: String(offset), key: Buffer.from(key), value: Buffer.from(JSON.stringify({ v: 1, ...value })), timestamp: String(ts), headers: { schema: Buffer.from('shiftscribe.narrative') } })
const batch = (topic: string, messages: ReturnType<typeof msg>[], high = messages.length): ConsumedBatch => ({ topic, partition: 0, messages, highWatermark: String(high) })
const route = (name: ForwardRoute['name'], source: string, target: string): ForwardRoute => ({ name, source: { topic: source, partitions: 1, replicationFactor: 1 }, target })

function forwarder(local: KafkaBus, central: Central, routes: ForwardRoute[], settings: Partial<{ maxBytesPerS: number; batchMaxMessages: number }> = {}, registry?: Registry) {
  return createForwarder({
    ...(registry ? { registry } : {}),
    site: 'plant1',
    gatewayId: 'gw-1',
    local,
    connectCentral: fakeCentral(central),
    routes,
    groupId: 'gw-1-forward',
    settings: { batchMaxMessages: settings.batchMaxMessages ?? 100, maxBytesPerS: settings.maxBytesPerS ?? 0, retryMinMs: 20, retryMaxMs: 40 },
    log: silentLogger(),
    clock: systemClock,
  })
}

const until = async (cond: () => boolean, ms = 5000) => {
  for (const end = Date.now() + ms; !cond(); ) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('forwarder', () => {
  it('forwards in order with key, headers and a stable dedupId, and commits after the central ack', async () => {
    const narratives: LocalTopic = { batches: [batch('factory.narratives', [msg(0, 'plant1/site', { id: 'a' }), msg(1, 'plant1/L1/m1', { id: 'b' }), msg(2, 'plant1/site', { id: 'c' })])], commits: [] }
    const central: Central = { sent: [], failures: 0, connects: 0 }
    const f = forwarder(fakeLocal({ 'factory.narratives': narratives }), central, [route('narratives', 'factory.narratives', 'plant.summaries')])
    await f.start()
    await until(() => narratives.commits.length > 0)
    await f.stop()
    const out = central.sent.flatMap((s) => s.messages.map((m) => ({ topic: s.topic, key: m.key.toString(), value: JSON.parse(m.value.toString()) as Record<string, unknown>, headers: m.headers })))
    expect(out.map((m) => m.value['id'])).toEqual(['a', 'b', 'c'])
    expect(out.map((m) => m.key)).toEqual(['plant1/site', 'plant1/L1/m1', 'plant1/site'])
    expect(out[1]?.value['dedupId']).toBe('plant1:factory.narratives:0:1')
    expect(out[0]?.topic).toBe('plant.summaries')
    expect(out[0]?.headers).toMatchObject({ schema: 'shiftscribe.narrative', 'schema-version': '1', site: 'plant1', 'gateway-id': 'gw-1', 'source-topic': 'factory.narratives', 'source-partition': '0', 'source-offset': '0' })
    expect(narratives.commits).toEqual([3])
    expect(f.status().routes['narratives']).toMatchObject({ forwarded: 3, lag: 0 })
  })

  it('gives a message without a schema header the schema its local topic carries (singular, as the producers set it)', async () => {
    const bare = (topic: string): LocalTopic => ({ batches: [{ topic, partition: 0, messages: [{ ...msg(0, 'k', { id: topic }), headers: {} }], highWatermark: '1' }], commits: [] })
    const topics = { n: bare('n'), a: bare('a'), q: bare('q') }
    const central: Central = { sent: [], failures: 0, connects: 0 }
    const f = forwarder(fakeLocal(topics), central, [route('narratives', 'n', 'cn'), route('anomalies', 'a', 'ca'), route('answers', 'q', 'cq')])
    await f.start()
    await until(() => Object.values(topics).every((t) => t.commits.length > 0))
    await f.stop()
    const schemaOf = Object.fromEntries(central.sent.map((s) => [s.topic, s.messages[0]?.headers?.['schema']]))
    expect(schemaOf).toEqual({ cn: 'shiftscribe.narrative', ca: 'shiftscribe.anomaly', cq: 'shiftscribe.answer' })
  })

  it('does not commit while the central cluster fails, retries the same messages, reconnects and reports a clear error', async () => {
    const narratives: LocalTopic = { batches: [batch('n', [msg(0, 'k', { id: 'a' }), msg(1, 'k', { id: 'b' })])], commits: [] }
    const central: Central = { sent: [], failures: 4, connects: 0 }
    const f = forwarder(fakeLocal({ n: narratives }), central, [route('narratives', 'n', 'c')])
    await f.start()
    await until(() => central.failures === 2)
    expect(narratives.commits).toEqual([])
    expect(f.health().ok).toBe(false)
    expect(f.health().detail).toMatch(/rejected the SASL credentials/)
    await until(() => narratives.commits.length > 0)
    await f.stop()
    expect(central.sent.flatMap((s) => s.messages.map((m) => JSON.parse(m.value.toString()).id))).toEqual(['a', 'b'])
    expect(central.connects).toBeGreaterThanOrEqual(5)
    expect(f.health().ok).toBe(true)
    // The outage's error stays readable after recovery, with its time.
    expect(f.health().detail).toMatch(/last error \d{4}-\d\d-\d\dT[^:]+:\d\d:\d\d\.\d+Z: the central cluster rejected the SASL credentials/)
    expect(f.status()).toMatchObject({ failingSince: undefined, lastError: expect.stringMatching(/rejected the SASL credentials/), lastErrorAt: expect.any(Number) })
  })

  it('counts errors and stamps the last one in its metrics', async () => {
    const narratives: LocalTopic = { batches: [batch('n', [msg(0, 'k', { id: 'a' })])], commits: [] }
    const central: Central = { sent: [], failures: 2, connects: 0 }
    const registry = new Registry()
    const before = Date.now() / 1000
    const f = forwarder(fakeLocal({ n: narratives }), central, [route('narratives', 'n', 'c')], {}, registry)
    const value = async (name: string) => (await registry.getSingleMetric(name)?.get())?.values[0]?.value
    expect(await value('shiftscribe_forward_last_error_timestamp_seconds')).toBe(0)
    await f.start()
    await until(() => narratives.commits.length > 0)
    await f.stop()
    expect(await value('shiftscribe_forward_errors_total')).toBe(2)
    expect(await value('shiftscribe_forward_last_error_timestamp_seconds')).toBeGreaterThanOrEqual(before)
    expect(await value('shiftscribe_forward_last_success_timestamp_seconds')).toBeGreaterThanOrEqual(before)
    expect(await value('shiftscribe_forward_messages_total')).toBe(1)
  })

  it('forgets the consumer of a failed attempt: a long outage does not pile up clients', async () => {
    const narratives: LocalTopic = { batches: [batch('n', [msg(0, 'k', { id: 'a' })])], commits: [] }
    const base = fakeLocal({ n: narratives })
    let ensureFailures = 25
    const stops = new Map<number, number>()
    let created = 0
    const local: KafkaBus = {
      ...base,
      // The local topic cannot be set up for 25 attempts (e.g. local Kafka down at start).
      ensureTopics: async () => {
        if (ensureFailures-- > 0) throw new Error('KafkaJSConnectionError: connect ECONNREFUSED')
        return { created: [], existing: [] }
      },
      createConsumer(o) {
        const id = created++
        const c = base.createConsumer(o)
        return { ...c, stop: async () => { stops.set(id, (stops.get(id) ?? 0) + 1); await c.stop() } }
      },
    }
    const central: Central = { sent: [], failures: 0, connects: 0 }
    const f = createForwarder({
      site: 'plant1', gatewayId: 'gw-1', local, connectCentral: fakeCentral(central), routes: [route('narratives', 'n', 'c')], groupId: 'g',
      settings: { batchMaxMessages: 100, maxBytesPerS: 0, retryMinMs: 1, retryMaxMs: 2 },
      log: silentLogger(),
      clock: { ...systemClock, setTimeout: (fn: () => void) => setTimeout(fn, 0) } as typeof systemClock,
    })
    await f.start()
    await until(() => narratives.commits.length > 0, 20_000)
    await f.stop()
    expect(created).toBe(26)
    // Each failed attempt's consumer was stopped once, when it failed; stop() stops only the live one.
    expect([...stops.values()].every((n) => n === 1)).toBe(true)
    expect(stops.size).toBe(26)
  })

  it('questions mirror: drops the central client and consumer of each failed attempt; stop() stops only the live one', async () => {
    let connects = 0
    const stops: number[] = []
    const connectCentral = (): KafkaBus => {
      const id = connects++
      stops[id] = 0
      return {
        brokers: ['central:1'],
        ensureTopics: async () => ({ created: [], existing: [] }),
        createProducer: async () => {
          throw new Error('not used')
        },
        createConsumer: () => ({
          // The central cluster refuses the first three attempts.
          run: async () => {
            if (id < 3) throw Object.assign(new Error('Connection error: connect ECONNREFUSED'), { name: 'KafkaJSConnectionError' })
          },
          commit: async () => undefined,
          stop: async () => {
            stops[id] = (stops[id] ?? 0) + 1
          },
          watermarks: async () => new Map(),
        }),
      }
    }
    const local: KafkaBus = { ...fakeLocal({}), createProducer: async () => ({ send: async () => undefined, disconnect: async () => undefined }) }
    const f = createForwarder({
      site: 'plant1',
      gatewayId: 'gw-1',
      local,
      connectCentral,
      routes: [],
      questions: { source: 'plant.questions', target: { topic: 'factory.questions', partitions: 1, replicationFactor: 1 }, accept: () => undefined },
      groupId: 'g',
      settings: { batchMaxMessages: 100, maxBytesPerS: 0, retryMinMs: 1, retryMaxMs: 2 },
      log: silentLogger(),
      clock: systemClock,
    })
    await f.start()
    await until(() => connects === 4)
    expect(stops).toEqual([1, 1, 1, 0])
    await f.stop()
    expect(stops).toEqual([1, 1, 1, 1])
  })

  it('ends the batch when the local commit fails after the central ack: sent once more, not in a loop, and reported as a local failure', async () => {
    const t: RefetchTopic = {
      messages: [msg(0, 'k', { id: 'a' }), msg(1, 'k', { id: 'b' })],
      commits: [],
      deliveries: [],
      onCommit: (d) => {
        // The first delivery's member was rebalanced out: every commit it tries fails.
        if (d === 0) throw rebalancing()
      },
    }
    const central: Central = { sent: [], failures: 0, connects: 0 }
    const registry = new Registry()
    const f = forwarder(refetchingLocal(t), central, [route('narratives', 'n', 'c')], {}, registry)
    await f.start()
    await until(() => t.commits.length > 0)
    await f.stop()
    expect(t.deliveries).toEqual([{ from: 0, error: 'The group is rebalancing, so a rejoin is needed' }, { from: 0 }])
    expect(central.sent.flatMap((s) => s.messages.map((m) => JSON.parse(m.value.toString()).id))).toEqual(['a', 'b', 'a', 'b'])
    expect(t.commits).toEqual([2])
    expect(f.status()).toMatchObject({ failingSince: undefined, lastError: 'local offset commit of n[0] up to 2 failed after the central ack: The group is rebalancing, so a rejoin is needed' })
    expect(f.status().routes['narratives']?.forwarded).toBe(2)
    expect(f.health()).toMatchObject({ ok: true, detail: expect.stringMatching(/last error .*: local offset commit of n\[0\]/) })
    const errors = (await registry.getSingleMetric('shiftscribe_forward_errors_total')?.get())?.values
    expect(errors).toEqual([
      { labels: { step: 'central_send' }, value: 0 },
      { labels: { step: 'local_commit' }, value: 1 },
      { labels: { step: 'local_heartbeat' }, value: 0 },
    ])
  })

  it('ends the batch when a heartbeat fails while it waits out a central failure, instead of retrying a partition it may have lost', async () => {
    const t: RefetchTopic = {
      messages: [msg(0, 'k', { id: 'a' })],
      commits: [],
      deliveries: [],
      onHeartbeat: (d) => {
        if (d === 0) throw rebalancing()
      },
    }
    const central: Central = { sent: [], failures: 1, connects: 0 }
    const registry = new Registry()
    const f = forwarder(refetchingLocal(t), central, [route('narratives', 'n', 'c')], {}, registry)
    await f.start()
    await until(() => t.commits.length > 0)
    await f.stop()
    expect(t.deliveries).toEqual([{ from: 0, error: 'The group is rebalancing, so a rejoin is needed' }, { from: 0 }])
    expect(central.sent.flatMap((s) => s.messages.map((m) => JSON.parse(m.value.toString()).id))).toEqual(['a'])
    expect(f.status().lastError).toBe('local heartbeat for n[0] failed: The group is rebalancing, so a rejoin is needed')
    const errors = (await registry.getSingleMetric('shiftscribe_forward_errors_total')?.get())?.values
    expect(errors).toEqual([
      { labels: { step: 'central_send' }, value: 1 },
      { labels: { step: 'local_commit' }, value: 0 },
      { labels: { step: 'local_heartbeat' }, value: 1 },
    ])
  })

  it('reports the lag of a route as the sum over its partitions, in status and in the lag gauge', async () => {
    // Partition 0 ends 2 behind its high watermark, partition 1 ends 3 behind: 5 in all.
    const n: LocalTopic = {
      batches: [batch('n', [msg(0, 'a', { id: 'p0-0' }), msg(1, 'a', { id: 'p0-1' }), msg(2, 'a', { id: 'p0-2' })], 5), { ...batch('n', [msg(4, 'b', { id: 'p1-4' }), msg(5, 'b', { id: 'p1-5' }), msg(6, 'b', { id: 'p1-6' })], 10), partition: 1 }],
      commits: [],
    }
    const central: Central = { sent: [], failures: 0, connects: 0 }
    const registry = new Registry()
    const f = forwarder(fakeLocal({ n }), central, [route('narratives', 'n', 'c')], {}, registry)
    await f.start()
    await until(() => n.commits.length === 2)
    await f.stop()
    expect(f.status().routes['narratives']).toMatchObject({ forwarded: 6, lag: 5, oldestWaitingTs: undefined })
    const lag = (await registry.getSingleMetric('shiftscribe_forward_lag_messages')?.get())?.values
    expect(lag).toEqual([{ labels: { source: 'narratives' }, value: 5 }])
  })

  it('drains narratives before anomalies before KPIs when backlogged', async () => {
    const n: LocalTopic = { batches: [batch('n', [msg(0, 'k', { id: 'n0' }), msg(1, 'k', { id: 'n1' })], 2)], commits: [] }
    const a: LocalTopic = { batches: [batch('a', [msg(0, 'k', { id: 'a0' })], 1)], commits: [] }
    const k: LocalTopic = { batches: [batch('k', [msg(0, 'k', { id: 'k0' })], 1)], commits: [] }
    // The central cluster is down at first: everything backs up, then drains by priority.
    const central: Central = { sent: [], failures: 3, connects: 0 }
    const f = forwarder(fakeLocal({ n, a, k }), central, [route('narratives', 'n', 'cn'), route('anomalies', 'a', 'ca'), route('kpis', 'k', 'ck')], { batchMaxMessages: 1 })
    await f.start()
    await until(() => k.commits.length > 0 && a.commits.length > 0 && n.commits.length > 1)
    await f.stop()
    expect(central.sent.map((s) => s.topic)).toEqual(['cn', 'cn', 'ca', 'ck'])
  })

  it('keeps to the upload cap', async () => {
    const big = 'x'.repeat(900)
    const n: LocalTopic = { batches: [batch('n', [0, 1, 2, 3].map((i) => msg(i, 'k', { id: String(i), big })))], commits: [] }
    const central: Central = { sent: [], failures: 0, connects: 0 }
    const f = forwarder(fakeLocal({ n }), central, [route('narratives', 'n', 'c')], { batchMaxMessages: 1, maxBytesPerS: 2000 })
    const t0 = Date.now()
    await f.start()
    await until(() => n.commits.length === 4)
    await f.stop()
    // About 3.8 KB at 2 KB/s with a full bucket at the start: at least ~0.9 s.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(850)
  })
})

describe('forwarder secrets', () => {
  it('never writes the central SASL password to its log or health, even when the failing client error carries its settings', async () => {
    const password = 'pw-9f3k-never-log-me'
    const lines: string[] = []
    // No redaction here: the forwarder itself must keep the password out, whatever the logger does.
    const log = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) })
    const settings = { enabled: true, brokers: ['central:9094'], tls: {}, sasl: { mechanism: 'scram-sha-512', username: 'gw', passwordFile: '/run/credentials/central' } } as unknown as Config['kafka']['central']
    const rejected = (security: ReturnType<typeof centralSecurity>) =>
      Object.assign(new Error('SASL SCRAM SHA512 authentication failed: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512'), {
        name: 'KafkaJSSASLAuthenticationError',
        // As a careless wrapper might attach it: a logged error object would carry the secret.
        connection: { brokers: settings.brokers, ...security },
      })
    const connectCentral = (): KafkaBus => {
      const security = centralSecurity(settings, () => Buffer.from(`${password}\n`))
      expect(security.sasl).toMatchObject({ password })
      return {
        brokers: settings.brokers,
        ensureTopics: async () => ({ created: [], existing: [] }),
        createProducer: async () => {
          throw rejected(security)
        },
        createConsumer: () => ({
          run: async () => {
            throw rejected(security)
          },
          commit: async () => undefined,
          stop: async () => undefined,
          watermarks: async () => new Map(),
        }),
      }
    }
    const n: LocalTopic = { batches: [batch('n', [msg(0, 'k', { id: 'a' })])], commits: [] }
    const local: KafkaBus = { ...fakeLocal({ n }), createProducer: async () => ({ send: async () => undefined, disconnect: async () => undefined }) }
    const f = createForwarder({
      site: 'plant1',
      gatewayId: 'gw-1',
      local,
      connectCentral,
      routes: [route('narratives', 'n', 'c')],
      questions: { source: 'plant.questions', target: { topic: 'factory.questions', partitions: 1, replicationFactor: 1 }, accept: () => undefined },
      groupId: 'g',
      settings: { batchMaxMessages: 100, maxBytesPerS: 0, retryMinMs: 10, retryMaxMs: 20 },
      log,
      clock: systemClock,
    })
    await f.start()
    await until(() => lines.some((l) => l.includes('cannot forward to the central cluster')) && lines.some((l) => l.includes('cannot read central questions')))
    const health = f.health()
    const status = JSON.stringify(f.status())
    await f.stop()
    const text = lines.join('')
    // The log did get the failures, with their explanation.
    expect(text).toMatch(/rejected the SASL credentials/)
    expect(health).toMatchObject({ ok: false, detail: expect.stringMatching(/rejected the SASL credentials/) })
    expect(n.commits).toEqual([])
    for (const out of [text, health.detail, status]) expect(out).not.toContain(password)
  })
})

describe('explainCentralError', () => {
  it('names the cause of TLS and SASL failures', () => {
    expect(explainCentralError(Object.assign(new Error('x'), { name: 'KafkaJSConnectionError', originalError: Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }) }))).toMatch(/not signed by a trusted CA.*caFile/)
    expect(explainCentralError(Object.assign(new Error("Hostname/IP does not match certificate's altnames: Host: x. is not in the cert's altnames: DNS:localhost"), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }))).toMatch(/does not carry the name/)
    expect(explainCentralError(Object.assign(new Error('SASL PLAIN authentication failed'), { name: 'KafkaJSSASLAuthenticationError' }))).toMatch(/rejected the SASL credentials/)
  })
})
