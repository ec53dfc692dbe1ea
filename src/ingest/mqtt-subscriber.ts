// MQTT 5 subscriber with a persistent session. A QoS1 message's PUBACK goes out only after
// the message is committed to the journal: what is not durable is never acked, so the broker
// redelivers it after a crash.
//
// Group commit: mqtt.js handles one packet at a time and sends the PUBACK as soon as the
// handler returns, which would force one SQLite transaction per message (~30 µs each here).
// So the PUBACKs are held back (by wrapping mqtt.js's packet sender) while the messages of a
// burst are staged, then one transaction commits them all and the held PUBACKs go out, in
// order. A held PUBACK from a connection that has since closed is dropped (the broker
// redelivers). When a group is full, or the journal is full (policy "block"), mqtt.js is not
// told to go on, so it takes no more packets and the broker keeps them. Without the sender to
// wrap (another mqtt.js), it falls back to committing each message before its ack.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { QuarantineReason } from '../bus/messages.js'
import { describeError } from '../errors.js'
import type { Log } from '../log.js'
import type { Health, Service } from '../service.js'
import { backoffMs, type Clock } from '../util/clock.js'
import type { Journal } from './journal.js'
import type { MessageParser, ParseResult } from './parse-message.js'
import type { SubscriptionStore } from './session-store.js'

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
  /** A protocol on top of the session (the Sparkplug B host): extra subscriptions, a will, hooks. */
  session?: SessionHooks
  /** Remembers the session's filters, so a resumed session gets the config's added and removed ones. */
  subscriptions?: SubscriptionStore
}

export type PublishFn = (topic: string, payload: Buffer, options: { qos: 0 | 1; retain: boolean }) => void

export interface SessionHooks {
  filters: readonly string[]
  /** The will for the next connection (asked before each connect). */
  nextWill?: () => { topic: string; payload: Buffer; qos: 1; retain: boolean }
  /** After a connection is up and its subscriptions are in place. */
  connected?: (publish: PublishFn) => void
  disconnected?: () => void
  /** Published (QoS1) before a clean disconnect, when a will would not be sent. */
  farewell?: () => { topic: string; payload: Buffer; retain: boolean }
}

export interface MqttSubscriber extends Service {
  connected(): boolean
}

const QUARANTINE_LOG_EVERY_MS = 10_000

interface Staged {
  result: ParseResult
  topic: string
}

interface Packet {
  cmd: string
}
type SendPacket = (packet: Packet, cb?: (err?: Error) => void, ...rest: unknown[]) => void

/** Most messages per group commit; mqtt.js is paused while a group this large waits. */
export const MAX_GROUP = 1000

export function createMqttSubscriber(options: MqttSubscriberOptions): MqttSubscriber {
  const { settings, parse, journal, clock } = options
  const log = options.log.child({ stage: 'mqtt' })
  const connect = options.connect ?? mqtt.connect
  const session = options.session
  const filters = [...settings.filters, ...(session?.filters ?? [])]
  let client: MqttClient | undefined
  let stopped = false
  let isConnected = false
  let everConnected = false
  let lastError: string | undefined
  let reconnects = 0
  let blockedSince: number | undefined
  const abort = new AbortController()
  const quarantineLog = new Map<QuarantineReason, { at: number; suppressed: number }>()

  // Group commit state.
  let grouping = false
  let sendNow: ((packet: Packet) => void) | undefined
  let staged: Staged[] = []
  let held: { packet: Packet; generation: number }[] = []
  let paused: (() => void)[] = []
  let generation = 0
  let flushScheduled = false
  let commitFailures = 0

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

  /** Commits what is staged; then sends the held PUBACKs and lets mqtt.js go on. */
  function flush(): void {
    flushScheduled = false
    if (staged.length === 0) return
    let outcome
    try {
      outcome = journal.append(staged.map((s) => s.result))
    } catch (err) {
      const wait = backoffMs(commitFailures++, 100, 5000)
      log.error({ err: describeError(err), messages: staged.length, retryInMs: wait }, 'journal write failed; messages not acked, retrying')
      flushScheduled = true
      clock.setTimeout(flush, wait)
      return
    }
    commitFailures = 0
    if (outcome === 'full') {
      if (blockedSince === undefined) {
        blockedSince = clock.now()
        log.warn({ pending: journal.ledger().pending }, 'journal full: holding acks, the broker keeps the messages')
      }
      flushScheduled = true
      void journal.waitForSpace(abort.signal).then(() => (stopped ? undefined : flush()))
      return
    }
    if (blockedSince !== undefined) {
      log.info({ blockedMs: clock.now() - blockedSince }, 'journal has space again: acking resumes')
      blockedSince = undefined
    }
    const committed = staged
    staged = []
    const acks = held
    held = []
    const c = client
    if (c && sendNow && isConnected) {
      const stream = (c as unknown as { stream?: { cork?: () => void; uncork?: () => void } }).stream
      stream?.cork?.()
      for (const a of acks) if (a.generation === generation) sendNow(a.packet)
      stream?.uncork?.()
    }
    const resume = paused
    paused = []
    for (const go of resume) go()
    for (const s of committed) logQuarantine(s.result, s.topic)
    options.onJournaled?.()
  }

  function stage(result: ParseResult, topic: string): void {
    staged.push({ result, topic })
    if (!flushScheduled) {
      flushScheduled = true
      // After the packets already parsed from the socket have been handled.
      setImmediate(flush)
    }
  }

  /** Holds PUBACKs until the commit of their group; pauses mqtt.js when the group is full. */
  function holdPubacks(c: MqttClient): boolean {
    const target = c as unknown as { _sendPacket?: SendPacket }
    const original = target._sendPacket
    if (typeof original !== 'function') return false
    sendNow = (packet) => original.call(c, packet, () => undefined)
    target._sendPacket = function (this: unknown, packet, cb, ...rest) {
      if (packet.cmd !== 'puback' || stopped) return original.call(this, packet, cb, ...rest)
      held.push({ packet, generation })
      const next = () => cb?.()
      if (staged.length >= MAX_GROUP || blockedSince !== undefined) paused.push(next)
      else next()
    }
    return true
  }

  /** Fallback without group commit: commit each message, then ack it. */
  function commitOne(result: ParseResult, topic: string, ack: (code: number) => void, failures = 0): void {
    if (stopped) return
    let outcome
    try {
      outcome = journal.append([result])
    } catch (err) {
      const wait = backoffMs(failures, 100, 5000)
      log.error({ err: describeError(err), retryInMs: wait }, 'journal write failed; message not acked, retrying')
      clock.setTimeout(() => commitOne(result, topic, ack, failures + 1), wait)
      return
    }
    if (outcome === 'full') {
      blockedSince ??= clock.now()
      void journal.waitForSpace(abort.signal).then(() => commitOne(result, topic, ack, failures))
      return
    }
    blockedSince = undefined
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
        ...(session?.nextWill ? { will: session.nextWill() } : {}),
        customHandleAcks: (topic, payload, _packet, callback) => {
          if (stopped) return // never acked: the broker keeps it for the next session
          const result = parse(topic, payload, clock.now())
          if (grouping) {
            stage(result, topic)
            callback(0) // the PUBACK it triggers is held until the group commits
          } else {
            commitOne(result, topic, (code) => callback(code))
          }
        },
      })
      client = c
      grouping = holdPubacks(c)
      if (!grouping) log.warn('mqtt.js packet sender not found: committing each message before its ack (slower)')
      c.on('message', (topic, payload, packet) => {
        // QoS1 messages were staged in customHandleAcks; QoS0 ones arrive only here.
        if (packet.qos !== 0 || stopped) return
        const result = parse(topic, payload, clock.now())
        if (grouping) stage(result, topic)
        else commitOne(result, topic, () => undefined)
      })
      const publish: PublishFn = (topic, payload, opts) => {
        c.publish(topic, payload, { qos: opts.qos, retain: opts.retain }, (err) => {
          if (err) log.warn({ err: err.message, topic: topic.slice(0, 200) }, 'publish failed')
        })
      }
      c.on('connect', (connack) => {
        isConnected = true
        everConnected = true
        c.options.reconnectPeriod = settings.reconnectMinMs
        log.info({ url: settings.url, clientId: settings.clientId, sessionPresent: connack.sessionPresent }, 'connected to MQTT broker')
        // A resumed session keeps its subscriptions: change only what the config changed since.
        const held = connack.sessionPresent ? options.subscriptions?.get() : undefined
        const resumed = connack.sessionPresent && (held !== undefined || options.subscriptions === undefined)
        const removed = resumed && held !== undefined ? held.filter((f) => !filters.includes(f)) : []
        const added = !resumed ? filters : held === undefined ? [] : filters.filter((f) => !held.includes(f))
        if (removed.length > 0) {
          c.unsubscribe(removed, (err) => {
            if (err) log.warn({ err: err.message, filters: removed }, 'unsubscribe failed')
            else log.info({ filters: removed }, 'unsubscribed filters no longer in the config')
          })
        }
        if (added.length === 0) {
          if (removed.length > 0) options.subscriptions?.set(filters)
          session?.connected?.(publish)
          return
        }
        c.subscribe(
          added,
          { qos: 1 },
          (err, granted) => {
            if (err) {
              lastError = `subscribe failed: ${err.message}`
              log.error({ err: err.message }, 'subscribe failed')
              return
            }
            const refused = (granted ?? []).filter((g) => g.qos > 1)
            if (refused.length > 0) log.error({ filters: refused.map((g) => g.topic) }, 'broker refused subscriptions')
            else {
              options.subscriptions?.set(filters)
              log.info({ filters: added, ...(resumed ? { resumedSession: true } : {}) }, 'subscribed (QoS1)')
            }
            // After the subscriptions (Sparkplug: STATE online only once the host can hear births).
            if (isConnected) session?.connected?.(publish)
          },
        )
      })
      c.on('close', () => {
        // PUBACKs held for this connection must not go out on the next one: its packet ids
        // mean other messages there. The broker redelivers these (duplicates, not loss).
        generation++
        held = []
        const resume = paused
        paused = []
        for (const go of resume) go()
        session?.disconnected?.()
        // The next connection gets its own will (Sparkplug: a fresh STATE timestamp).
        if (session?.nextWill) c.options.will = session.nextWill()
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
      // Commit and ack what is staged, so the next session does not get it again.
      if (blockedSince === undefined && staged.length > 0) flush()
      stopped = true
      abort.abort()
      const c = client
      client = undefined
      const bye = session?.farewell?.()
      if (c && bye && isConnected) {
        // A clean disconnect sends no will: say it ourselves, briefly.
        await Promise.race([
          new Promise<void>((resolve) => c.publish(bye.topic, bye.payload, { qos: 1, retain: bye.retain }, () => resolve())),
          new Promise<void>((resolve) => setTimeout(resolve, 2000).unref()),
        ])
      }
      // Unacked QoS1 messages stay with the broker and come back next session.
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
