// Publishes a plant's messages over MQTT 5 at QoS1, paced by a token bucket and bounded by a
// window of unacknowledged messages. A message counts as published only when its PUBACK
// arrives, and exactly once, even when mqtt.js resends it after a reconnect.
import mqtt, { type IClientOptions } from 'mqtt'
import { systemClock, type Clock } from '../util/clock.js'
import { BAD_KINDS, type BadKind } from './bad-payloads.js'
import type { Plant, SimMessage } from './plant.js'
import type { AnomalyTruth } from './truth.js'

/** The part of mqtt.js's MqttClient the publisher uses; unit tests pass a fake. */
export interface PublishClient {
  readonly connected: boolean
  publish(topic: string, payload: Buffer, opts: { qos: 1 }, callback: (err?: Error) => void): unknown
  on(event: 'connect' | 'reconnect' | 'offline' | 'close', listener: () => void): unknown
  on(event: 'error', listener: (err: Error) => void): unknown
  endAsync(force?: boolean): Promise<void>
}

export type ConnectFn = (url: string, options: IClientOptions) => Promise<PublishClient>

export interface PublishProgress {
  /** PUBACKed so far. */
  published: number
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
  /** Messages the broker PUBACKed (success reason codes), each counted once. */
  published: number
  /** PUBACKed readings. */
  good: number
  /** PUBACKed malformed messages, also split by kind in badByKind. */
  bad: number
  badByKind: Record<BadKind, number>
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
}

export interface PublishSimulationOptions {
  plant: Plant
  url: string
  connect?: ConnectFn
  /** Extra client options (clientId, username, password, …); protocol 5 and clean: true are fixed. */
  mqttOptions?: IClientOptions
  /** Target messages per second (wall clock); Infinity publishes as fast as the window allows. */
  ratePerS: number
  /** Stop after this many wall seconds. */
  durationS?: number
  /** Stop after this many messages were sent. */
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

  const client = await connect(options.url, {
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    ...options.mqttOptions,
    protocolVersion: 5,
    clean: true,
  })

  // connectAsync resolved on the first CONNACK: every later 'connect' is a reconnect.
  let reconnects = 0
  client.on('connect', () => {
    reconnects++
    warn('reconnected to the broker; mqtt.js resends the unacknowledged messages')
  })
  client.on('offline', () => warn('broker connection lost; publishing paused'))
  client.on('error', (err) => warn(`mqtt: ${err.message}`))

  const badByKind = Object.fromEntries(BAD_KINDS.map((k) => [k, 0])) as Record<BadKind, number>
  let sent = 0
  let good = 0
  let bad = 0
  let failed = 0
  let anomalies = 0
  let eventEndTs = plant.startTs
  let finished = false
  const inFlight = (): number => sent - good - bad - failed

  const t0 = clock.now()
  const deadline = options.durationS === undefined ? Infinity : t0 + options.durationS * 1000
  // Token bucket: refills at ratePerS, holds at most 100 ms worth (so a stall is not followed by a burst).
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
    const published = good + bad
    const dt = (now - lastProgress.at) / 1000
    options.onProgress({
      published,
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
      const summary: PublishSummary = {
        published: good + bad,
        good,
        bad,
        badByKind: { ...badByKind },
        sent,
        failed,
        unacked,
        anomalies,
        reconnects,
        stoppedBy: stopReason ?? 'signal',
        wallSeconds,
        ratePerS: wallSeconds > 0 ? Math.round(((good + bad) / wallSeconds) * 10) / 10 : 0,
        eventStartTs: plant.startTs,
        eventEndTs,
        eventStart: new Date(plant.startTs).toISOString(),
        eventEnd: new Date(eventEndTs).toISOString(),
        intervalMs: plant.intervalMs,
      }
      // With messages still unacked, end at once instead of letting mqtt.js wait for them.
      client.endAsync(unacked > 0 || !client.connected).then(
        () => resolve(summary),
        (err: unknown) => reject(err instanceof Error ? err : new Error(String(err))),
      )
    }

    const stop = (reason: StopReason): void => {
      if (stopReason !== undefined) return
      stopReason = reason
      if (tickTimer !== undefined) clock.clearTimeout(tickTimer)
      if (progressTimer !== undefined) clock.clearTimeout(progressTimer)
      if (inFlight() <= 0) return finish()
      drainTimer = clock.setTimeout(finish, drainTimeoutMs)
    }

    const acked = (msg: SimMessage): ((err?: Error) => void) => {
      let settled = false
      return (err) => {
        // mqtt.js calls back once per PUBACK; the guard makes a stray second call harmless.
        if (settled || finished) return
        settled = true
        if (err) {
          failed++
        } else if (msg.kind === 'reading') {
          good++
        } else {
          bad++
          badByKind[msg.kind]++
        }
        if (!err && msg.ts > eventEndTs) eventEndTs = msg.ts
        if (stopReason !== undefined) {
          if (inFlight() <= 0) finish()
        } else if (windowBlocked && !kickPending) {
          kickPending = true
          clock.setTimeout(() => {
            kickPending = false
            pump()
          }, 0)
        }
      }
    }

    const pump = (): void => {
      if (stopReason !== undefined) return
      const now = clock.now()
      if (now >= deadline) return stop('duration')
      tokens = Number.isFinite(ratePerS) ? Math.min(capacity, tokens + ((now - lastRefill) * ratePerS) / 1000) : Infinity
      lastRefill = now
      if (!client.connected) return
      const byWindow = window - inFlight()
      const budget = Math.min(Math.floor(tokens), byWindow, count - sent)
      windowBlocked = byWindow <= Math.min(Math.floor(tokens), count - sent)
      for (let i = 0; i < budget; i++) {
        const msg = plant.next()
        for (const t of plant.takeTruth()) {
          anomalies++
          options.onTruth?.(t)
        }
        sent++
        client.publish(msg.topic, msg.payload, PUBLISH_OPTS, acked(msg))
      }
      tokens -= Math.max(0, budget)
      if (sent >= count) stop('count')
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
    progressTimer = clock.setTimeout(report, progressIntervalMs)
    loop()
  })
}
