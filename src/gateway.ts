// The composition root: the only place that constructs stages. Starts them in dependency
// order (journal → pump → MQTT), stops them in reverse, each stop on its own.
import { collectDefaultMetrics, Registry } from 'prom-client'
import { createKafkaBus } from './bus/kafka-bus.js'
import type { Config } from './config/load-config.js'
import { describeError } from './errors.js'
import { createJournal, type Journal } from './ingest/journal.js'
import { registerLedgerMetrics } from './ingest/ledger-metrics.js'
import { createMqttSubscriber, type MqttSubscriberOptions } from './ingest/mqtt-subscriber.js'
import { createMessageParser } from './ingest/parse-message.js'
import { createPump } from './ingest/pump.js'
import { createTopicMapper } from './ingest/topic-map.js'
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

export function createGateway(deps: GatewayDeps): Gateway {
  const { config, log } = deps
  const clock = deps.clock ?? systemClock
  const registry = new Registry()
  const started: Service[] = []
  let journal: Journal | undefined
  let stopping: Promise<void> | undefined

  async function startAll(): Promise<void> {
    collectDefaultMetrics({ register: registry, prefix: 'shiftscribe_process_' })
    const j = createJournal({ ...config.journal, log: log.child({ stage: 'journal' }) })
    journal = j
    started.push({ name: 'journal', start: async () => undefined, stop: async () => j.close(), health: () => ({ ok: true, detail: config.journal.file }) })
    const metrics = registerLedgerMetrics(registry, j, clock)

    const bus = createKafkaBus({ brokers: config.kafka.local.brokers, clientId: config.kafka.local.clientId, log })
    const pump = createPump({
      journal: j,
      bus,
      topics: config.kafka.local.topics,
      partitions: config.kafka.local.partitions,
      replicationFactor: config.kafka.local.replicationFactor,
      settings: config.pump,
      log,
      clock,
      onDelivered: (_records, sendMs) => metrics.observeSend(sendMs),
    })
    const subscriber = createMqttSubscriber({
      settings: { ...config.mqtt, filters: config.mqtt.subscriptions.map((s) => s.filter) },
      parse: createMessageParser({
        mapTopic: createTopicMapper(config.mqtt.subscriptions, config.site),
        maxPayloadBytes: config.mqtt.maxPayloadBytes,
        maxReadings: config.mqtt.maxReadingsPerMessage,
      }),
      journal: j,
      log,
      clock,
      connect: deps.connectMqtt,
      onJournaled: () => pump.notify(),
    })
    for (const stage of [pump, subscriber]) {
      await stage.start()
      started.push(stage)
    }
    const l = j.ledger()
    log.info({ site: config.site, pending: l.pending, journal: config.journal.file }, 'gateway started')
  }

  async function stopAll(): Promise<void> {
    for (const stage of started.splice(0).reverse()) {
      try {
        await stage.stop()
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
