// The composition root: the only place that constructs stages. Starts them in dependency
// order (journal → pump → state → outbox pump → LLM → narrator → aggregator → forwarder → http → MQTT), stops them
// in reverse, each stop on its own.
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client'
import { createAggregator, type Aggregator } from './aggregate/aggregator.js'
import { createStateProcessor } from './aggregate/state-processor.js'
import { createKafkaBus } from './bus/kafka-bus.js'
import type { DetectConfig } from './detect/config.js'
import { createDetectorBank } from './detect/detector-bank.js'
import type { DetectorBank } from './detect/types.js'
import { createShiftCalendar, type ShiftCalendar } from './shifts/shift-calendar.js'
import type { KpiOptions } from './shifts/kpis.js'
import { centralSecurity } from './forward/central-client.js'
import { createForwarder, type Forwarder, type ForwardRoute } from './forward/forwarder.js'
import { createLlmEngine, type LlmEngine, type LlmEngineOptions } from './narrate/engine.js'
import type { FactsOptions } from './narrate/facts.js'
import { createNarrator, type Narrator } from './narrate/narrator.js'
import { createAsker, type Asker } from './ask/asker.js'
import { questionMessageSchema } from './bus/messages.js'
import { createOutbox } from './store/outbox.js'
import { createRetention } from './store/retention.js'
import { openStateDb, type StateDb } from './store/state-db.js'
import { createHttpApp } from './http/app.js'
import { createLiveFeed, type LiveFeed } from './http/live-feed.js'
import { createLiveHub } from './http/live-hub.js'
import { createReadiness } from './http/readiness.js'
import { pipelineStatus } from './http/pipeline.js'
import { createSettingsResolver } from './detect/sensor-settings.js'
import { readFileSync } from 'node:fs'
import type { Config } from './config/load-config.js'
import { describeError, GatewayError } from './errors.js'
import { createJournal, journalRoute, type Journal } from './ingest/journal.js'
import { registerLedgerMetrics } from './ingest/ledger-metrics.js'
import { createMqttSubscriber, type MqttSubscriberOptions } from './ingest/mqtt-subscriber.js'
import { createMessageParser } from './ingest/parse-message.js'
import { createPump, schemaHeaders, type Route } from './ingest/pump.js'
import { createTopicMapper } from './ingest/topic-map.js'
import { createSparkplugHost } from './ingest/sparkplug/host.js'
import { registerSparkplugMetrics } from './ingest/sparkplug/metrics.js'
import { createSparkplugStore } from './ingest/sparkplug/store.js'
import { createSubscriptionStore } from './ingest/session-store.js'
import type { Log } from './log.js'
import type { Health, Service } from './service.js'
import { systemClock, type Clock } from './util/clock.js'

export interface GatewayDeps {
  config: Config
  log: Log
  clock?: Clock
  connectMqtt?: MqttSubscriberOptions['connect']
}

export interface Gateway {
  start(): Promise<void>
  stop(): Promise<void>
  health(): Record<string, Health>
  readonly registry: Registry
  /** Open after start(); for the CLI and tests. */
  journal(): Journal | undefined
}

/** What the state processor needs from the config: shared by the gateway and rebuild/verify. */
export function stateProcessing(config: Config): {
  calendar: ShiftCalendar
  shifts: KpiOptions & { allowedLatenessMs: number; idleTimeoutMs: number }
  makeDetectors: () => DetectorBank
} {
  return {
    calendar: createShiftCalendar({ timeZone: config.timeZone, shifts: config.shifts.definitions }),
    shifts: {
      counters: [config.detect.counters.parts, config.detect.counters.rejects],
      partsSensor: config.detect.counters.parts,
      rejectsSensor: config.detect.counters.rejects,
      allowedLatenessMs: config.shifts.allowedLatenessS * 1000,
      idleTimeoutMs: config.shifts.idleTimeoutS * 1000,
    },
    // The bank reads its config and never writes it; its type is just not declared readonly.
    makeDetectors: () => createDetectorBank(config.detect as DetectConfig),
  }
}

/** What the narrator needs from the config: shared by the gateway, `summarize` and the benchmark. */
export function narrateSetup(config: Config, log: Log): { facts: FactsOptions; engine: LlmEngineOptions } {
  const processing = stateProcessing(config)
  return {
    facts: {
      ...processing.shifts,
      site: config.site,
      zone: processing.calendar.zone,
      coalesceWindowMs: config.narrate.coalesceWindowS * 1000,
      incidentContextMs: config.narrate.incidentContextMin * 60_000,
      maxPromptFacts: config.narrate.maxPromptFacts,
    },
    engine: { ...config.llm, mode: config.narrate.mode, maxTokens: config.narrate.maxTokens, log },
  }
}

export function createGateway(deps: GatewayDeps): Gateway {
  const { config, log } = deps
  const clock = deps.clock ?? systemClock
  const registry = new Registry()
  const started: Service[] = []
  let journal: Journal | undefined
  let stopping: Promise<void> | undefined

  async function startAll(): Promise<void> {
    let stateDb: StateDb | undefined
    let narrator: Narrator | undefined
    let asker: Asker | undefined
    let llm: LlmEngine | undefined
    let aggregatorStage: Aggregator | undefined
    let forwarderStage: Forwarder | undefined
    const live = createLiveHub()
    let liveFeed: LiveFeed | undefined
    collectDefaultMetrics({ register: registry, prefix: 'shiftscribe_process_' })
    const j = createJournal({ ...config.journal, log: log.child({ stage: 'journal' }) })
    journal = j
    started.push({ name: 'journal', start: async () => undefined, stop: async () => j.close(), health: () => ({ ok: true, detail: config.journal.file }) })
    const metrics = registerLedgerMetrics(registry, j, clock)

    const bus = createKafkaBus({ brokers: config.kafka.local.brokers, clientId: config.kafka.local.clientId, log })
    const central = config.kafka.central
    const forwarded = new Set(
      central.enabled
        ? (['narratives', 'anomalies', 'kpis', 'answers'] as const).filter((s) => config.forward.sources[s]).map((s) => config.kafka.local.topics[s])
        : [],
    )
    // A forwarded topic keeps at least localRetentionHours: the uplink's offline buffer.
    const topicSpec = (topic: string) => ({
      topic,
      partitions: config.kafka.local.partitions,
      replicationFactor: config.kafka.local.replicationFactor,
      ...(forwarded.has(topic) ? { retentionMs: config.forward.localRetentionHours * 3_600_000 } : {}),
    })
    const pump = createPump({
      name: 'pump',
      source: j,
      route: journalRoute(config.kafka.local.topics),
      bus,
      topics: [topicSpec(config.kafka.local.topics.readings), topicSpec(config.kafka.local.topics.quarantine)],
      settings: config.pump,
      log,
      clock,
      onDelivered: (_records, sendMs) => metrics.observeSend(sendMs),
    })
    const sparkplugHost =
      config.mqtt.enabled && config.mqtt.sparkplug.enabled
        ? createSparkplugHost({
            config: config.mqtt.sparkplug,
            hostId: config.mqtt.sparkplug.hostId ?? config.gatewayId,
            site: config.site,
            store: createSparkplugStore(j.database()),
            maxPayloadBytes: config.mqtt.maxPayloadBytes,
            log,
            clock,
          })
        : undefined
    if (sparkplugHost) registerSparkplugMetrics(registry, sparkplugHost)
    const parseJson = createMessageParser({
      mapTopic: createTopicMapper(config.mqtt.subscriptions, config.site),
      maxPayloadBytes: config.mqtt.maxPayloadBytes,
      maxReadings: config.mqtt.maxReadingsPerMessage,
    })
    const subscriber = !config.mqtt.enabled
      ? undefined
      : createMqttSubscriber({
          settings: { ...config.mqtt, filters: config.mqtt.subscriptions.map((s) => s.filter) },
          parse: sparkplugHost
            ? (topic, payload, receivedAt) => (sparkplugHost.owns(topic) ? sparkplugHost.parse(topic, payload, receivedAt) : parseJson(topic, payload, receivedAt))
            : parseJson,
          journal: j,
          log,
          clock,
          connect: deps.connectMqtt,
          onJournaled: () => pump.notify(),
          subscriptions: createSubscriptionStore(j.database(), config.mqtt.clientId),
          ...(sparkplugHost
            ? {
                session: {
                  filters: sparkplugHost.filters,
                  ...(config.mqtt.sparkplug.publishState ? { nextWill: () => sparkplugHost.nextWill(), farewell: () => ({ ...sparkplugHost.offlineState(), retain: true }) } : {}),
                  connected: (publish) => sparkplugHost.connected(publish),
                  disconnected: () => sparkplugHost.disconnected(),
                },
              }
            : {}),
        })
    await pump.start()
    started.push(pump)

    if (config.aggregate.enabled) {
      const db = openStateDb(config.store.file, { synchronous: config.store.synchronous })
      stateDb = db
      started.push({ name: 'state', start: async () => undefined, stop: async () => void db.close(), health: () => ({ ok: db.open, detail: config.store.file }) })
      const topics = config.kafka.local.topics
      const asking = config.narrate.enabled && config.ask.enabled
      const headers = new Map<string, Record<string, Buffer>>()
      const outboxPump = createPump({
        name: 'outbox',
        source: createOutbox(db),
        route: (r): Route => {
          let h = headers.get(r.schema)
          if (h === undefined) headers.set(r.schema, (h = schemaHeaders(r.schema)))
          return { topic: r.topic, headers: h }
        },
        bus,
        topics: [topicSpec(topics.anomalies), topicSpec(topics.kpis), topicSpec(topics.narratives), ...(asking ? [topicSpec(topics.answers)] : [])],
        settings: config.pump,
        log,
        clock,
      })
      await outboxPump.start()
      started.push(outboxPump)
      if (config.narrate.enabled) {
        const setup = narrateSetup(config, log)
        const engine = createLlmEngine(setup.engine)
        await engine.start()
        started.push(engine)
        llm = engine
        const n = createNarrator({
          db,
          engine,
          facts: setup.facts,
          settings: config.narrate,
          publish: { topic: topics.narratives },
          log,
          clock,
          registry,
          onOutbox: () => outboxPump.notify(),
          onWritten: (w) => live.publish({ type: 'narrative', data: { id: w.id, kind: w.kind, scope: w.scope, headline: w.headline } }),
        })
        await n.start()
        started.push(n)
        narrator = n
        if (asking) {
          await bus.ensureTopics([topicSpec(topics.questions)])
          const a = createAsker({
            db,
            narrator: n,
            facts: setup.facts,
            calendar: stateProcessing(config).calendar,
            settings: config.ask,
            publish: { topic: topics.answers },
            consumer: bus.createConsumer({ groupId: `${config.gatewayId}-ask`, topic: topics.questions }),
            log,
            clock,
            registry,
            onOutbox: () => outboxPump.notify(),
            onAnswered: (ans) => live.publish({ type: 'answer', data: { id: ans.questionId, headline: ans.headline } }),
          })
          await a.start()
          started.push(a)
          asker = a
        }
      }
      if (config.http.enabled) liveFeed = createLiveFeed({ db, site: config.site, live, clock })
      const processing = stateProcessing(config)
      const retention = createRetention(db, { retentionDays: config.store.retentionDays })
      const aggregator = createAggregator({
        bus,
        topic: topicSpec(topics.readings),
        groupId: config.aggregate.groupId,
        makeProcessor: () =>
          createStateProcessor({
            db,
            readingsTopic: topics.readings,
            publish: { anomalies: topics.anomalies, kpis: topics.kpis },
            site: config.site,
            detectors: processing.makeDetectors(),
            calendar: processing.calendar,
            shifts: processing.shifts,
            log,
          }),
        retention,
        log,
        clock,
        onOutbox: () => outboxPump.notify(),
        onApplied: (event) => {
          narrator?.notify(event)
          liveFeed?.applied(event)
        },
      })
      new Gauge({
        name: 'shiftscribe_aggregate_lag_messages',
        help: 'Messages in factory.readings not yet applied to the state database (as of the last batch)',
        registers: [registry],
        collect() {
          this.set(aggregator.status().lag)
        },
      })
      await aggregator.start()
      started.push(aggregator)
      aggregatorStage = aggregator
    }

    if (central.enabled) {
      const local = config.kafka.local.topics
      const targets = { answers: central.topics.answers, narratives: central.topics.summaries, anomalies: central.topics.anomalies, kpis: central.topics.kpis }
      const asking = config.aggregate.enabled && config.narrate.enabled && config.ask.enabled
      // Answers first: someone is waiting for them. Only answers to central questions go up.
      const routes: ForwardRoute[] = (['answers', 'narratives', 'anomalies', 'kpis'] as const)
        .filter((s) => config.forward.sources[s] && (s !== 'answers' || asking))
        .map((name) => ({
          name,
          source: topicSpec(local[name]),
          target: targets[name],
          ...(name === 'answers' ? { filter: (v: Record<string, unknown>) => v['replyTo'] === 'central' } : {}),
        }))
      const questions =
        asking && config.forward.questions
          ? {
              source: central.topics.questions,
              target: topicSpec(local.questions),
              accept: (v: unknown) => {
                const q = questionMessageSchema.safeParse(v)
                return q.success ? { id: q.data.id, ...(q.data.site !== undefined ? { site: q.data.site } : {}) } : undefined
              },
            }
          : undefined
      const forwarder = createForwarder({
        site: config.site,
        gatewayId: config.gatewayId,
        local: bus,
        connectCentral: () =>
          createKafkaBus({ brokers: central.brokers, clientId: central.clientId, log: log.child({ cluster: 'central' }), retries: 2, ...centralSecurity(central) }),
        routes,
        ...(questions ? { questions } : {}),
        ...(central.createTopics
          ? {
              centralTopics: [...routes.map((r) => r.target), ...(questions ? [questions.source] : [])].map((topic) => ({
                topic,
                partitions: central.partitions,
                replicationFactor: central.replicationFactor,
              })),
            }
          : {}),
        groupId: config.forward.groupId,
        settings: config.forward,
        log,
        clock,
        registry,
      })
      await forwarder.start()
      started.push(forwarder)
      forwarderStage = forwarder
    }

    if (config.http.enabled) {
      if (stateDb === undefined) log.warn('http.enabled needs aggregate.enabled (the page reads the state database); not serving the page')
      else {
        const db = stateDb
        const calendar = stateProcessing(config).calendar
        const limitsOf = createSettingsResolver(config.detect as DetectConfig)
        const token = config.http.tokenFile !== undefined ? readFileSync(config.http.tokenFile, 'utf8').trim() : config.http.token
        const stages = () => Object.fromEntries(started.map((st) => [st.name, st.health()]))
        const app = await createHttpApp({
          db,
          site: config.site,
          timeZone: config.timeZone,
          registry,
          health: stages,
          // The stages' own numbers as fields of /api/system (their health lines have them only as text).
          pipeline: () => pipelineStatus({ aggregate: aggregatorStage, llm, narrate: narrator, forward: forwarderStage }),
          ready: createReadiness({
            mqtt: () => (subscriber !== undefined && started.includes(subscriber) ? subscriber.health() : undefined),
            kafka: () => (started.includes(pump) ? pump.status() : undefined),
            stores: { journal: j.database(), state: db },
            now: () => clock.now(),
          }),
          live,
          log: log.child({ stage: 'http' }),
          ...(token !== undefined && narrator !== undefined
            ? {
                token,
                regenerate: async (id: string) => {
                  const n = await narrator?.regenerate(id)
                  if (n === undefined) throw new GatewayError('USAGE', `no narrative ${id}`)
                  return { id: n.id }
                },
              }
            : {}),
          ...(asker !== undefined ? { ask: asker } : {}),
          ledger: () => j.ledger(),
          files: { journal: config.journal.file, state: config.store.file },
          calendar,
          kpi: stateProcessing(config).shifts,
          limits: (l, m, sn) => {
            const lim = limitsOf(l, m, sn).limits
            return lim.high === undefined && lim.low === undefined ? undefined : { ...(lim.high !== undefined ? { high: lim.high } : {}), ...(lim.low !== undefined ? { low: lim.low } : {}) }
          },
        })
        started.push({
          name: 'http',
          start: async () => undefined,
          stop: async () => {
            liveFeed?.stop()
            await app.close()
          },
          health: () => ({ ok: true, detail: `http://${config.http.host}:${config.http.port}` }),
        })
        await app.listen({ host: config.http.host, port: config.http.port })
        log.info({ url: `http://${config.http.host}:${config.http.port}/` }, 'serving the page')
      }
    }

    if (subscriber !== undefined) {
      await subscriber.start()
      started.push(subscriber)
    }
    if (sparkplugHost !== undefined) {
      const host = sparkplugHost
      started.push({
        name: 'sparkplug',
        start: async () => undefined,
        stop: async () => undefined,
        health: () => {
          const s = host.stats()
          return {
            ok: true,
            detail: `host ${host.stateTopic}: ${s.nodes.online}/${s.nodes.online + s.nodes.offline} edge nodes and ${s.devices.online}/${s.devices.online + s.devices.offline} devices online; ${s.rebirthRequests} rebirths requested, ${s.noBirth} messages without birth`,
          }
        },
      })
    }
    const l = j.ledger()
    log.info(
      { site: config.site, stages: started.map((st) => st.name), pending: l.pending, journal: config.journal.file },
      subscriber === undefined ? 'gateway started (mqtt.enabled is false: no ingest)' : 'gateway started',
    )
  }

  async function stopAll(): Promise<void> {
    for (const stage of started.splice(0).reverse()) {
      const t0 = clock.now()
      try {
        await stage.stop()
        log.info({ stage: stage.name, ms: clock.now() - t0 }, 'stage stopped')
      } catch (err) {
        log.error({ stage: stage.name, err: describeError(err) }, 'stage failed to stop cleanly')
      }
    }
  }

  return {
    registry,
    journal: () => journal,
    async start() {
      try {
        await startAll()
      } catch (err) {
        await stopAll()
        throw err
      }
    },
    stop() {
      stopping ??= stopAll()
      return stopping
    },
    health() {
      return Object.fromEntries(started.map((s) => [s.name, s.health()]))
    },
  }
}
