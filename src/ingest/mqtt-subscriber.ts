// MQTT 5 subscriber with a persistent session. Each QoS1 message is committed to the journal
// inside mqtt.js's customHandleAcks, and the PUBACK goes out only after the commit: a
// message that is not durable is never acked, so the broker redelivers it after a crash.
// When the journal is full (policy "block") the ack waits, and mqtt.js, which handles one
// packet at a time, stops taking more: the broker keeps them.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { QuarantineReason } from '../bus/messages.js'
import { describeError } from '../errors.js'
import type { Log } from '../log.js'
import type { Health, Service } from '../service.js'
import { backoffMs, type Clock } from '../util/clock.js'
import type { Journal } from './journal.js'
import type { MessageParser, ParseResult } from './parse-message.js'

export interface MqttSubscriberSettings {
  url: string
  clientId: string
  username?: string
  password?: string
  keepaliveS: number
  sessionExpiryS: number
  reconnectMinMs: number
  reconnectMaxMs: number
  filters: readonly string[]
}

export interface MqttSubscriberOptions {
  settings: MqttSubscriberSettings
  parse: MessageParser
  journal: Journal
  log: Log
  clock: Clock
  /** Injected for tests; default mqtt.connect. */
  connect?: (url: string, options: IClientOptions) => MqttClient
  /** After each commit (wakes the pump). */
  onJournaled?: () => void
}

export interface MqttSubscriber extends Service {
  connected(): boolean
}

const QUARANTINE_LOG_EVERY_MS = 10_000

export function createMqttSubscriber(options: MqttSubscriberOptions): MqttSubscriber {
  const { settings, parse, journal, clock } = options
  const log = options.log.child({ stage: 'mqtt' })
  const connect = options.connect ?? mqtt.connect
  let client: MqttClient | undefined
  let stopped = false
  let isConnected = false
  let everConnected = false
  let lastError: string | undefined
  let reconnects = 0
  let blockedSince: number | undefined
  const abort = new AbortController()
  const quarantineLog = new Map<QuarantineReason, { at: number; suppressed: number }>()

  function logQuarantine(result: ParseResult, topic: string): void {
    if (result.ok) return
    const now = clock.now()
    const seen = quarantineLog.get(result.reason)
    if (seen && now - seen.at < QUARANTINE_LOG_EVERY_MS) {
      seen.suppressed++
      return
    }
    log.warn(
      { reason: result.reason, detail: result.detail, topic: topic.slice(0, 200), similarSinceLast: seen?.suppressed ?? 0 },
      'message quarantined',
    )
    quarantineLog.set(result.reason, { at: now, suppressed: 0 })
  }

  /** Commits, then acks. Never acks what is not committed; retries commit failures. */
  function commit(result: ParseResult, topic: string, ack: (code: number) => void, failures = 0): void {
    if (stopped) return
    let outcome
    try {
      outcome = journal.append(result)
    } catch (err) {
      const wait = backoffMs(failures, 100, 5000)
      log.error({ err: describeError(err), retryInMs: wait }, 'journal write failed; message not acked, retrying')
      clock.setTimeout(() => commit(result, topic, ack, failures + 1), wait)
      return
    }
    if (outcome === 'full') {
      if (blockedSince === undefined) {
        blockedSince = clock.now()
        log.warn({ pending: journal.ledger().pending }, 'journal full: holding acks, the broker keeps the messages')
      }
      void journal.waitForSpace(abort.signal).then(() => commit(result, topic, ack, failures))
      return
    }
    if (blockedSince !== undefined) {
      log.info({ blockedMs: clock.now() - blockedSince }, 'journal has space again: acking resumes')
      blockedSince = undefined
    }
    ack(0)
    logQuarantine(result, topic)
    options.onJournaled?.()
  }

  return {
    name: 'mqtt',

    async start() {
      const c = connect(settings.url, {
        protocolVersion: 5,
        clientId: settings.clientId,
        clean: false,
        properties: { sessionExpiryInterval: settings.sessionExpiryS },
        keepalive: settings.keepaliveS,
        reconnectPeriod: settings.reconnectMinMs,
        connectTimeout: 10_000,
        username: settings.username,
        password: settings.password,
        resubscribe: true,
        customHandleAcks: (topic, payload, _packet, callback) => {
          commit(parse(topic, payload, clock.now()), topic, (code) => callback(code))
        },
      })
      client = c
      c.on('message', (topic, payload, packet) => {
        // QoS1 messages were journaled before their PUBACK; QoS0 ones arrive only here.
        if (packet.qos === 0) commit(parse(topic, payload, clock.now()), topic, () => undefined)
      })
      c.on('connect', (connack) => {
        isConnected = true
        everConnected = true
        c.options.reconnectPeriod = settings.reconnectMinMs
        log.info({ url: settings.url, clientId: settings.clientId, sessionPresent: connack.sessionPresent }, 'connected to MQTT broker')
        if (!connack.sessionPresent) {
          c.subscribe(
            settings.filters.map((f) => f),
            { qos: 1 },
            (err, granted) => {
              if (err) {
                lastError = `subscribe failed: ${err.message}`
                log.error({ err: err.message }, 'subscribe failed')
                return
              }
              const refused = (granted ?? []).filter((g) => g.qos > 1)
              if (refused.length > 0) log.error({ filters: refused.map((g) => g.topic) }, 'broker refused subscriptions')
              else log.info({ filters: settings.filters }, 'subscribed (QoS1)')
            },
          )
        }
      })
      c.on('close', () => {
        if (stopped) return
        if (isConnected) log.warn({ url: settings.url }, 'MQTT connection closed; reconnecting')
        isConnected = false
        // mqtt.js reconnects after options.reconnectPeriod: grow it, capped.
        reconnects++
        c.options.reconnectPeriod = Math.min(settings.reconnectMaxMs, Math.max(settings.reconnectMinMs, (c.options.reconnectPeriod ?? settings.reconnectMinMs) * 2))
      })
      c.on('error', (err) => {
        lastError = err.message
        log.warn({ err: err.message, url: settings.url }, 'MQTT error')
      })

      // Wait for the first connection, but do not fail start: the broker may come later.
      await new Promise<void>((resolve) => {
        const timer = clock.setTimeout(() => {
          log.warn({ url: settings.url }, 'MQTT broker not reachable yet; retrying in the background')
          resolve()
        }, 10_000)
        c.once('connect', () => {
          clock.clearTimeout(timer)
          resolve()
        })
      })
    },

    async stop() {
      if (stopped) return
      stopped = true
      abort.abort()
      const c = client
      client = undefined
      // Force: unacked QoS1 messages stay with the broker and come back next session.
      if (c) await c.endAsync(true).catch(() => undefined)
      isConnected = false
    },

    connected: () => isConnected,

    health(): Health {
      if (stopped) return { ok: false, detail: 'stopped' }
      if (blockedSince !== undefined) return { ok: false, detail: `journal full for ${Math.round((clock.now() - blockedSince) / 1000)} s: acks held` }
      if (isConnected) return { ok: true, detail: `connected to ${settings.url}${reconnects > 0 ? ` (${reconnects} reconnects)` : ''}` }
      return { ok: false, detail: `${everConnected ? 'disconnected from' : 'not yet connected to'} ${settings.url}${lastError ? `: ${lastError}` : ''}` }
    },
  }
}
