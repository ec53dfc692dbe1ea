import { existsSync } from 'node:fs'
import { stringify } from 'yaml'
import { GatewayError } from '../errors.js'
import { ConfigError, formatIssue, loadConfigFile, type Config } from '../config/load-config.js'
import { SECRET_PATHS } from '../config/env-overrides.js'
import type { CliIo } from './run-cli.js'

/** `shiftscribe config check <file>`: exit 0 with a one-line summary, or 2 with every problem. */
export function configCheck(file: string, options: { print: boolean }, io: CliIo): number {
  try {
    const { config, warnings, overrides } = loadConfigFile(file, { env: io.env, fileExists: existsSync, unsetSystemdDirectories: 'warn' })
    for (const w of warnings) io.stderr.write(`warning:${formatIssue(w).slice(3)}\n`)
    if (overrides.length > 0) io.stderr.write(`env overrides: ${overrides.join(', ')}\n`)
    if (options.print) io.stdout.write(stringify(redact(config)))
    io.stdout.write(`ok: ${file} — ${summarize(config)}\n`)
    return 0
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`${err.message}\n`)
      return 2
    }
    if (err instanceof GatewayError && err.code === 'CONFIG_NOT_FOUND') {
      io.stderr.write(`${err.message}\n`)
      return 2
    }
    throw err
  }
}

/** The stages this config runs, in start order (see README "Stages"). */
export function enabledStages(config: Config): string[] {
  const aggregate = config.aggregate.enabled
  return [
    'journal',
    'pump',
    ...(aggregate ? ['state', 'outbox'] : []),
    ...(aggregate && config.narrate.enabled ? ['llm', 'narrate'] : []),
    ...(aggregate ? ['aggregate'] : []),
    ...(config.kafka.central.enabled ? ['forward'] : []),
    ...(aggregate && config.http.enabled ? ['http'] : []),
    ...(config.mqtt.enabled ? ['mqtt'] : []),
  ]
}

export function summarize(config: Config): string {
  const subs = config.mqtt.subscriptions.length
  return [
    `site ${config.site} (${config.timeZone})`,
    `mqtt ${config.mqtt.enabled ? `${config.mqtt.url} (${subs} subscription${subs === 1 ? '' : 's'}${config.mqtt.sparkplug.enabled ? `, Sparkplug B host ${config.mqtt.sparkplug.hostId ?? config.gatewayId} for group${config.mqtt.sparkplug.groups.length === 1 ? '' : 's'} ${config.mqtt.sparkplug.groups.join(', ')}` : ''})` : 'off'}`,
    `local kafka ${config.kafka.local.brokers.join(',')}`,
    `central kafka ${config.kafka.central.enabled ? config.kafka.central.brokers.join(',') : 'off'}`,
    `llm ${config.llm.enabled ? `${config.llm.modelPath} (${config.llm.threads} thread${config.llm.threads === 1 ? '' : 's'})` : 'off'}`,
    `http ${config.http.enabled ? `${config.http.host}:${config.http.port}` : 'off'}`,
    `stages ${enabledStages(config).join(' → ')}`,
  ].join(', ')
}

function redact(config: Config): unknown {
  const copy = structuredClone(config) as Record<string, unknown>
  for (const path of SECRET_PATHS) {
    const segs = path.split('.')
    let cur: Record<string, unknown> | undefined = copy
    for (const seg of segs.slice(0, -1)) cur = cur?.[seg] as Record<string, unknown> | undefined
    const last = segs[segs.length - 1]
    if (cur && last !== undefined && cur[last] !== undefined) cur[last] = '(redacted)'
  }
  return copy
}
