// The process edge: load the config, build the gateway, run until SIGTERM/SIGINT, and turn
// the outcome into an exit code. Under systemd (Type=notify) it reports READY=1 once every
// stage has started, pings the watchdog while the process is healthy, and says STOPPING=1
// when a stop begins.
//
// Exit codes: 0 stopped cleanly; 1 failed to start, crashed, or the stop passed its
// deadline; 2 configuration error (the unit does not restart on it); 130 second signal.
import { existsSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { ConfigError, loadConfigFile, type Config } from './config/load-config.js'
import { describeError } from './errors.js'
import { createGateway, type Gateway, type GatewayDeps } from './gateway.js'
import { createNotifier, type Notifier } from './lifecycle/notify.js'
import { createLogger, type Log } from './log.js'

export const EXIT = { ok: 0, failure: 1, config: 2, forced: 130 } as const

export interface RunGatewayOptions {
  configFile: string
  env: NodeJS.ProcessEnv
  /** Registers the stop handler for SIGTERM/SIGINT; injected by tests. */
  onSignal?: (handler: (signal: string) => void) => void
  /** Registers the crash handler for uncaught errors; injected by tests. */
  onCrash?: (handler: (kind: string, err: unknown) => void) => void
  /** Ends the process now (second signal, crash, stop deadline); injected by tests. */
  exit?: (code: number) => void
  stderr?: { write(s: string): unknown }
  log?: Log
  notifier?: Notifier
  createGateway?: (deps: GatewayDeps) => Gateway
}

export async function runGateway(options: RunGatewayOptions): Promise<number> {
  const exit = options.exit ?? ((code: number) => process.exit(code))
  let config: Config
  let warnings
  try {
    ;({ config, warnings } = loadConfigFile(options.configFile, { env: options.env, fileExists: existsSync }))
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    ;(options.stderr ?? process.stderr).write(`${err.message}\n`)
    return EXIT.config
  }
  const log = options.log ?? createLogger({ level: config.log.level })
  for (const w of warnings) log.warn({ path: w.path, hint: w.hint }, w.message)
  const notifier = options.notifier ?? createNotifier({ env: options.env, log })
  const gateway = (options.createGateway ?? createGateway)({ config, log })

  // Signals: the first stops gracefully, a second one exits at once.
  let signals = 0
  let resolveStop: (signal: string) => void = () => undefined
  const stopRequested = new Promise<string>((resolve) => (resolveStop = resolve))
  const onSignal =
    options.onSignal ??
    ((handler) => {
      process.on('SIGTERM', () => handler('SIGTERM'))
      process.on('SIGINT', () => handler('SIGINT'))
    })
  onSignal((signal) => {
    signals++
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting now, without finishing the stop (the journal is durable; unacked messages stay with the broker)')
      exit(EXIT.forced)
      return
    }
    resolveStop(signal)
  })

  // A crash is logged once and ends the process non-zero; systemd restarts it. Nothing acked
  // is lost: the journal is committed before each PUBACK, and the rest stays with the broker.
  let crashed = false
  const onCrash =
    options.onCrash ??
    ((handler) => {
      process.on('uncaughtException', (err) => handler('uncaught exception', err))
      process.on('unhandledRejection', (err) => handler('unhandled rejection', err))
    })
  onCrash((kind, err) => {
    if (crashed) return
    crashed = true
    log.fatal({ err: err instanceof Error ? (err.stack ?? err.message) : String(err) }, `${kind}: exiting (systemd restarts the gateway; nothing acked is lost)`)
    notifier.status(`crashed: ${kind}`)
    exit(EXIT.failure)
  })

  notifier.status('starting')
  try {
    await gateway.start()
  } catch (err) {
    log.fatal({ err: describeError(err) }, 'gateway failed to start')
    notifier.status(`failed to start: ${describeError(err)}`)
    await gateway.stop()
    notifier.close()
    return EXIT.failure
  }
  const stages = Object.keys(gateway.health())
  notifier.ready(`running: ${stages.join(', ')}`)
  const watchdog = startWatchdog({ config, gateway, notifier, log })

  const signal = await stopRequested
  watchdog.stop()
  const stopStarted = Date.now()
  notifier.stopping(`stopping (${signal})`)
  log.info({ signal, deadlineS: config.lifecycle.stopTimeoutS }, 'stopping: intake first, then the journal drains, the LLM job ends, stores close')
  const deadline = setTimeout(() => {
    log.error(
      { deadlineS: config.lifecycle.stopTimeoutS, stillRunning: Object.keys(gateway.health()) },
      'stop passed lifecycle.stopTimeoutS: exiting now (the journal is durable; what was not drained is sent after the restart)',
    )
    exit(EXIT.failure)
  }, config.lifecycle.stopTimeoutS * 1000)
  await gateway.stop()
  clearTimeout(deadline)
  log.info({ signal, stopMs: Date.now() - stopStarted }, 'stopped')
  notifier.close()
  // Whatever still holds the event loop (a library's timer) must not keep a stopped
  // gateway alive past systemd's TimeoutStopSec.
  setTimeout(() => {
    log.warn('handles still open 3 s after the stop; exiting anyway')
    exit(EXIT.ok)
  }, 3000).unref()
  return EXIT.ok
}

/**
 * Pings systemd's watchdog every WatchdogSec/2 while the process is healthy: the event loop
 * answers (its longest delay since the last ping is below lifecycle.watchdogMaxEventLoopDelayMs)
 * and the journal and state database are open. Outages of the broker or Kafka do not stop the
 * pings: a restart would not fix them, and the journal rides them out. A hung event loop or a
 * closed store does, and systemd then restarts the gateway.
 */
export function startWatchdog(deps: { config: Config; gateway: Gateway; notifier: Notifier; log: Log }): { stop(): void } {
  const { config, gateway, notifier, log } = deps
  const intervalMs = notifier.watchdogMs
  const statusTimer = notifier.enabled ? setInterval(() => notifier.status(statusLine(gateway)), 15_000) : undefined
  statusTimer?.unref()
  if (intervalMs === undefined) return { stop: () => statusTimer && clearInterval(statusTimer) }
  const delay = monitorEventLoopDelay({ resolution: 20 })
  delay.enable()
  let withheld: string | undefined
  const tick = () => {
    const maxMs = delay.max / 1e6
    delay.reset()
    const health = gateway.health()
    const problem =
      maxMs > config.lifecycle.watchdogMaxEventLoopDelayMs
        ? `event loop blocked for ${Math.round(maxMs)} ms`
        : (['journal', 'state'] as const).filter((s) => health[s] !== undefined && !health[s].ok).map((s) => `${s}: ${health[s]?.detail ?? ''}`)[0]
    if (problem === undefined) {
      if (withheld !== undefined) log.info({ was: withheld }, 'healthy again: watchdog pings resume')
      withheld = undefined
      notifier.watchdog()
    } else if (withheld === undefined) {
      withheld = problem
      log.error({ problem }, 'unhealthy: not pinging the systemd watchdog (systemd restarts the gateway if this lasts WatchdogSec)')
    }
  }
  tick()
  const timer = setInterval(tick, Math.max(50, Math.floor(intervalMs / 2)))
  return {
    stop() {
      clearInterval(timer)
      if (statusTimer) clearInterval(statusTimer)
      delay.disable()
    },
  }
}

/** One line for `systemctl status`: stages that are not ok, or all ok. */
export function statusLine(gateway: Gateway): string {
  const health = gateway.health()
  const bad = Object.entries(health).filter(([, h]) => !h.ok)
  if (bad.length === 0) return `running: ${Object.keys(health).length} stages ok`
  return `degraded: ${bad.map(([name, h]) => `${name} (${h.detail})`).join('; ')}`
}
