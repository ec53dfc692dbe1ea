// Publishes a plant's messages over MQTT 5 at QoS1, paced by a token bucket (in plant samples)
// and bounded by a window of unacknowledged messages. A message counts as published only when
// its PUBACK arrives, and exactly once, even when mqtt.js resends it after a reconnect.
// JSON: one connection. Sparkplug B: one connection per edge node (line), so each has its own
// NDEATH will; the run pauses while any of them is down.
import mqtt, { type IClientOptions } from 'mqtt'
import { systemClock, type Clock } from '../util/clock.js'
import { BAD_KINDS, SPARKPLUG_BAD_KINDS, type BadKind } from './bad-payloads.js'
import { createJsonSource, type MessageSource, type OutMessage, type PayloadFormat, type SparkplugSummary } from './message-source.js'
import type { Plant } from './plant.js'
import { createSparkplugEdge } from './sparkplug-edge.js'
import type { AnomalyTruth } from './truth.js'

/** The part of mqtt.js's MqttClient the publisher uses; unit tests pass a fake. */
export interface PublishClient {
  readonly connected: boolean
  publish(topic: string, payload: Buffer, opts: { qos: 1 }, callback: (err?: Error) => void): unknown
  on(event: 'connect' | 'reconnect' | 'offline' | 'close', listener: () => void): unknown
  on(event: 'error', listener: (err: Error) => void): unknown
  on(event: 'message', listener: (topic: string, payload: Buffer) => void): unknown
  /** Needed only where the run subscribes (Sparkplug NCMD). */
  subscribeAsync?(topics: string[], opts: { qos: 1 }): Promise<unknown>
  endAsync(force?: boolean): Promise<void>
}

export type ConnectFn = (url: string, options: IClientOptions) => Promise<PublishClient>

export interface PublishProgress {
  /** PUBACKed so far. */
  published: number
  /** Sensor values in the PUBACKed messages. */
  readings: number
  sent: number
  inFlight: number
  bad: number
  failed: number
  /** PUBACKs per second since the previous report. */
  ratePerS: number
  elapsedS: number
  eventTs: number
  final: boolean
}

export type StopReason = 'count' | 'duration' | 'signal'

export interface PublishSummary {
  format: PayloadFormat
  /** MQTT messages the broker PUBACKed (success reason codes), each counted once: good + bad + control. */
  published: number
  /** PUBACKed messages with readings (JSON: one each; Sparkplug: DBIRTH and DDATA). */
  good: number
  /**
   * Sensor values in the PUBACKed messages: what the gateway turns into readings. JSON: = good.
   * Sparkplug: the metric values of DBIRTHs and DDATA (never bdSeq or Node Control).
   */
  readings: number
  /** PUBACKed messages without readings: Sparkplug NBIRTH, DDEATH, NDEATH (0 for JSON). */
  control: number
  /** PUBACKed malformed messages, also split by kind in badByKind. */
  bad: number
  /** One key per kind the format can send (JSON: BAD_KINDS; Sparkplug: SPARKPLUG_BAD_KINDS). */
  badByKind: Partial<Record<BadKind, number>>
  /** Handed to the client (published + failed + unacked). */
  sent: number
  /** Rejected by the broker (PUBACK reason code >= 0x80) or failed by the client. */
  failed: number
  /** Still without PUBACK when the drain timeout ran out. */
  unacked: number
  /** Anomalies whose start was reached (the truth records handed to onTruth). */
  anomalies: number
  reconnects: number
  stoppedBy: StopReason
  wallSeconds: number
  /** published / wallSeconds */
  ratePerS: number
  eventStartTs: number
  /** Event time of the latest PUBACKed message. */
  eventEndTs: number
  eventStart: string
  eventEnd: string
  intervalMs: number
  /** Sparkplug runs only. */
  sparkplug?: SparkplugSummary
}

export interface PublishSimulationOptions {
  plant: Plant
  url: string
  connect?: ConnectFn
  /**
   * Extra client options (clientId, username, password, …); protocol 5 and clean: true are fixed.
   * Sparkplug: each edge node's connection gets the client id plus `-<edge node>`.
   */
  mqttOptions?: IClientOptions
  /** Publish the plant as Sparkplug B edge nodes instead of JSON. */
  sparkplug?: { group: string; keepAliveAtEnd?: boolean }
  /**
   * Target plant samples per second (wall clock); Infinity publishes as fast as the window
   * allows. JSON: one message per sample; Sparkplug: a DDATA holds a machine's samples of a tick.
   */
  ratePerS: number
  /** Stop after this many wall seconds. */
  durationS?: number
  /** Stop after this many plant samples were sent (JSON: messages). */
  count?: number
  /** Most messages without PUBACK at any time. Default 1000. */
  window?: number
  clock?: Clock
  /** Pacing tick. Default 10 ms. */
  tickMs?: number
  /** How often onProgress fires (and once at the end). Default 5000 ms. */
  progressIntervalMs?: number
  onProgress?: (progress: PublishProgress) => void
  /** Called once per anomaly as its start is reached in event time. */
  onTruth?: (truth: AnomalyTruth) => void
  /** Connection events worth telling an operator about (offline, reconnect, errors). */
  onWarning?: (message: string) => void
  signal?: AbortSignal
  /** How long to wait for outstanding PUBACKs after the stop. Default 30 s. */
  drainTimeoutMs?: number
}

const PUBLISH_OPTS = Object.freeze({ qos: 1 } as const)

interface Connection {
  id: string
  client: PublishClient
  /** Up and past mqtt.js's resend of its store (false from 'offline'/'close' until 'connect'). */
  ready: boolean
  /** Replaces the payload of the will the next CONNECT carries. */
  setWill?: (payload: Buffer) => void
}

export async function publishSimulation(options: PublishSimulationOptions): Promise<PublishSummary> {
  const { plant, ratePerS } = options
  const connect: ConnectFn = options.connect ?? mqtt.connectAsync
  const clock = options.clock ?? systemClock
  const window = options.window ?? 1000
  const tickMs = options.tickMs ?? 10
  const progressIntervalMs = options.progressIntervalMs ?? 5000
  const drainTimeoutMs = options.drainTimeoutMs ?? 30_000
  const count = options.count ?? Infinity
  const warn = options.onWarning ?? (() => {})
  if (!(ratePerS > 0)) throw new RangeError(`ratePerS must be > 0 (got ${ratePerS})`)
  if (!Number.isInteger(window) || window < 1 || window > 65_000) throw new RangeError(`window must be an integer within 1..65000 (got ${window})`)
  if (options.count !== undefined && !(Number.isInteger(options.count) && options.count >= 0)) throw new RangeError(`count must be a non-negative integer (got ${options.count})`)
  if (options.durationS !== undefined && !(options.durationS > 0)) throw new RangeError(`durationS must be > 0 (got ${options.durationS})`)

  const source: MessageSource =
    options.sparkplug === undefined
      ? createJsonSource(plant)
      : createSparkplugEdge({ plant, group: options.sparkplug.group, keepAliveAtEnd: options.sparkplug.keepAliveAtEnd ?? false })
  const conns = await connectAll(source, options, connect)
  const byId = new Map(conns.map((c) => [c.id, c]))
  const clientFor = (id: string): PublishClient => {
    const conn = byId.get(id)
    if (conn === undefined) throw new Error(`unreachable: no connection "${id}"`)
    return conn.client
  }

  const badByKind: Partial<Record<BadKind, number>> = Object.fromEntries((source.format === 'json' ? BAD_KINDS : SPARKPLUG_BAD_KINDS).map((k) => [k, 0]))
  let sent = 0
  let samples = 0
  let good = 0
  let bad = 0
  let control = 0
  let readings = 0
  let failed = 0
  let anomalies = 0
  let reconnects = 0
  let eventEndTs = plant.startTs
  let finished = false
  const inFlight = (): number => sent - good - bad - control - failed

  const t0 = clock.now()
  const deadline = options.durationS === undefined ? Infinity : t0 + options.durationS * 1000
  // Token bucket: refills at ratePerS, holds at most 100 ms worth (so a stall is not followed by a burst).
  // A Sparkplug DDATA spends one token per sample and may overdraw the bucket: the mean rate holds.
  const capacity = Number.isFinite(ratePerS) ? Math.max(1, ratePerS * 0.1) : Infinity
  let tokens = 0
  let lastRefill = t0
  let stopReason: StopReason | undefined
  let tickTimer: unknown
  let progressTimer: unknown
  let kickPending = false
  let windowBlocked = false
  let lastProgress = { at: t0, published: 0 }

  const progress = (final: boolean): void => {
    if (options.onProgress === undefined) return
    const now = clock.now()
    const published = good + bad + control
    const dt = (now - lastProgress.at) / 1000
    options.onProgress({
      published,
      readings,
      sent,
      inFlight: inFlight(),
      bad,
      failed,
      ratePerS: final ? published / Math.max(1e-9, (now - t0) / 1000) : dt > 0 ? (published - lastProgress.published) / dt : 0,
      elapsedS: (now - t0) / 1000,
      eventTs: eventEndTs,
      final,
    })
    lastProgress = { at: now, published }
  }

  return new Promise<PublishSummary>((resolve, reject) => {
    let drainTimer: unknown
    const onAbort = () => stop('signal')

    const finish = (): void => {
      if (finished) return
      finished = true
      if (drainTimer !== undefined) clock.clearTimeout(drainTimer)
      options.signal?.removeEventListener('abort', onAbort)
      const end = clock.now()
      const unacked = inFlight()
      const wallSeconds = (end - t0) / 1000
      progress(true)
      const published = good + bad + control
      const sparkplug = source.sparkplug()
      const summary: PublishSummary = {
        format: source.format,
        published,
        good,
        readings,
        control,
        bad,
        badByKind: { ...badByKind },
        sent,
        failed,
        unacked,
        anomalies,
        reconnects,
        stoppedBy: stopReason ?? 'signal',
        wallSeconds,
        ratePerS: wallSeconds > 0 ? Math.round((published / wallSeconds) * 10) / 10 : 0,
        eventStartTs: plant.startTs,
        eventEndTs,
        eventStart: new Date(plant.startTs).toISOString(),
        eventEnd: new Date(eventEndTs).toISOString(),
        intervalMs: plant.intervalMs,
        ...(sparkplug === undefined ? {} : { sparkplug }),
      }
      // With messages still unacked, end at once instead of letting mqtt.js wait for them.
      Promise.all(conns.map((c) => c.client.endAsync(unacked > 0 || !c.client.connected))).then(
        () => resolve(summary),
        (err: unknown) => reject(err instanceof Error ? err : new Error(String(err))),
      )
    }

    const send = (msg: OutMessage): void => {
      sent++
      clientFor(msg.connection).publish(msg.topic, msg.payload, PUBLISH_OPTS, acked(msg))
    }

    const stop = (reason: StopReason): void => {
      if (stopReason !== undefined) return
      stopReason = reason
      if (tickTimer !== undefined) clock.clearTimeout(tickTimer)
      if (progressTimer !== undefined) clock.clearTimeout(progressTimer)
      // Sparkplug deaths: published after all data on their connection, so they arrive last.
      for (const msg of source.end()) send(msg)
      if (inFlight() <= 0) return finish()
      drainTimer = clock.setTimeout(finish, drainTimeoutMs)
    }

    const kick = (): void => {
      if (kickPending || stopReason !== undefined) return
      kickPending = true
      clock.setTimeout(() => {
        kickPending = false
        pump()
      }, 0)
    }

    const acked = (msg: OutMessage): ((err?: Error) => void) => {
      let settled = false
      return (err) => {
        // mqtt.js calls back once per PUBACK; the guard makes a stray second call harmless.
        if (settled || finished) return
        settled = true
        if (err) {
          failed++
        } else {
          if (msg.kind === 'reading') good++
          else if (msg.kind === 'control') control++
          else {
            bad++
            badByKind[msg.kind] = (badByKind[msg.kind] ?? 0) + 1
          }
          readings += msg.readings
          if (msg.ts > eventEndTs) eventEndTs = msg.ts
        }
        if (stopReason !== undefined) {
          if (inFlight() <= 0) finish()
        } else if (windowBlocked) {
          kick()
        }
      }
    }

    const pump = (): void => {
      if (stopReason !== undefined) return
      const now = clock.now()
      if (now >= deadline) return stop('duration')
      tokens = Number.isFinite(ratePerS) ? Math.min(capacity, tokens + ((now - lastRefill) * ratePerS) / 1000) : Infinity
      lastRefill = now
      windowBlocked = false
      if (!conns.every((c) => c.ready && c.client.connected)) return
      for (;;) {
        if (inFlight() >= window) {
          windowBlocked = true
          break
        }
        // Owed births go ahead of the pacing: they carry no samples.
        if (!source.hasControl() && (tokens < 1 || samples >= count)) break
        const msg = source.next(Math.max(1, count - samples))
        for (const t of plant.takeTruth()) {
          anomalies++
          options.onTruth?.(t)
        }
        samples += msg.samples
        tokens -= msg.samples
        send(msg)
      }
      if (samples >= count) stop('count')
    }

    for (const conn of conns) {
      // connectAsync resolved on the first CONNACK: every later 'connect' is a reconnect.
      conn.client.on('connect', () => {
        conn.ready = true
        reconnects++
        warn(`reconnected to the broker${conn.id === '' ? '' : ` (edge node ${conn.id})`}; mqtt.js resends the unacknowledged messages`)
        if (stopReason === undefined) source.connected(conn.id, true)
      })
      conn.client.on('offline', () => {
        conn.ready = false
        warn('broker connection lost; publishing paused')
      })
      conn.client.on('close', () => {
        conn.ready = false
        const will = source.disconnected(conn.id)
        if (will !== undefined) conn.setWill?.(will.payload)
      })
      conn.client.on('error', (err) => warn(`mqtt: ${err.message}`))
      conn.client.on('message', (topic, payload) => {
        if (source.receive(conn.id, topic, payload)) kick()
      })
    }

    const loop = (): void => {
      pump()
      if (stopReason === undefined) tickTimer = clock.setTimeout(loop, tickMs)
    }
    const report = (): void => {
      progress(false)
      if (stopReason === undefined) progressTimer = clock.setTimeout(report, progressIntervalMs)
    }

    if (options.signal?.aborted) return stop('signal')
    options.signal?.addEventListener('abort', onAbort, { once: true })
    for (const conn of conns) source.connected(conn.id, false)
    progressTimer = clock.setTimeout(report, progressIntervalMs)
    loop()
  })
}

/** Connects (and subscribes) every connection the source needs, or none: on a failure the others are closed. */
async function connectAll(
  source: MessageSource,
  options: PublishSimulationOptions,
  connect: ConnectFn,
): Promise<Connection[]> {
  const baseId = options.mqttOptions?.clientId
  const attempts = await Promise.allSettled(
    source.connections.map(async (c) => {
      // mqtt.js sends options.will with every CONNECT, reconnects included, so the will object
      // is kept and its payload replaced when the next connection is a new Sparkplug session.
      const will = c.will === undefined ? undefined : { topic: c.will.topic, payload: c.will.payload, qos: 1 as const, retain: false }
      const client = await connect(options.url, {
        reconnectPeriod: 1000,
        connectTimeout: 10_000,
        ...options.mqttOptions,
        ...(baseId === undefined || c.id === '' ? {} : { clientId: `${baseId}-${c.id}` }),
        ...(will === undefined ? {} : { will }),
        protocolVersion: 5,
        clean: true,
      })
      try {
        if (c.subscriptions.length > 0) {
          if (client.subscribeAsync === undefined) throw new Error('the MQTT client cannot subscribe')
          await client.subscribeAsync([...c.subscriptions], { qos: 1 })
        }
      } catch (err) {
        await client.endAsync(true).catch(() => {})
        throw err
      }
      const conn: Connection = { id: c.id, client, ready: true }
      if (will !== undefined) conn.setWill = (payload) => void (will.payload = payload)
      return conn
    }),
  )
  const failure = attempts.find((a) => a.status === 'rejected')
  if (failure !== undefined) {
    await Promise.all(attempts.map((a) => (a.status === 'fulfilled' ? a.value.client.endAsync(true).catch(() => {}) : undefined)))
    throw failure.reason
  }
  return attempts.map((a) => (a as PromiseFulfilledResult<Connection>).value)
}
