// The process edge: load the config, build the gateway, run until SIGTERM/SIGINT, and turn
// the outcome into an exit code. A second signal forces the exit.
import { existsSync } from 'node:fs'
import { loadConfigFile } from './config/load-config.js'
import { describeError } from './errors.js'
import { createGateway } from './gateway.js'
import { createLogger, type Log } from './log.js'

export interface RunGatewayOptions {
  configFile: string
  env: NodeJS.ProcessEnv
  /** Resolves when the process should stop (signals); injected for tests. */
  onSignal?: (handler: (signal: string) => void) => void
}

export async function runGateway(options: RunGatewayOptions): Promise<number> {
  const { config, warnings } = loadConfigFile(options.configFile, { env: options.env, fileExists: existsSync })
  const log = createLogger({ level: config.log.level })
  for (const w of warnings) log.warn({ path: w.path, hint: w.hint }, w.message)
  const gateway = createGateway({ config, log })

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
      log.warn({ signal }, 'second signal: exiting now')
      process.exit(130)
    }
    resolveStop(signal)
  })
  installCrashHandlers(log)

  try {
    await gateway.start()
  } catch (err) {
    log.fatal({ err: describeError(err) }, 'gateway failed to start')
    await gateway.stop()
    return 1
  }
  const signal = await stopRequested
  log.info({ signal }, 'stopping')
  await gateway.stop()
  log.info('stopped')
  return 0
}

function installCrashHandlers(log: Log): void {
  const crash = (kind: string) => (err: unknown) => {
    log.fatal({ err: err instanceof Error ? (err.stack ?? err.message) : String(err) }, kind)
    // Nothing acked is lost: unacked messages stay with the broker, the journal is durable.
    process.exit(1)
  }
  process.on('uncaughtException', crash('uncaught exception'))
  process.on('unhandledRejection', crash('unhandled rejection'))
}
