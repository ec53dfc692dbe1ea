// `shiftscribe status`: asks the running gateway (its /api/system) how it is doing — each
// stage's health, the loss ledger, ingest rate and the lags — and prints it for a person
// (or as JSON). Exit 0 when every stage is ok, 1 when one is not or the gateway does not
// answer, 2 for usage errors.
import { parseArgs } from 'node:util'
import { ConfigError, loadConfigFile } from '../config/load-config.js'
import type { CliIo } from './run-cli.js'

interface SystemView {
  site: string
  generatedAt: number
  health: Record<string, { ok: boolean; detail: string }>
  ledger: { received: number; journaled: number; quarantined: number; delivered: number; pending: number; dropped: number } | null
  ingestPerS: number | null
  metrics: { name: string; values: { labels: Record<string, string | number>; value: number }[] }[]
}

export const STATUS_USAGE = `Usage: shiftscribe status (--config <file> | --url <http://host:port>) [--json] [--timeout-ms <n>]
Asks the running gateway's page server (GET /api/system) for each stage's health, the loss
ledger, ingest rate and lags. Exit 0 all stages ok, 1 a stage is not ok or no answer, 2 usage.
`

/** The page server's base URL from the config: a wildcard bind address is asked on loopback. */
export function statusUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host
  return `http://${h}:${port}`
}

function metric(view: SystemView, name: string, labels: Record<string, string> = {}): number | undefined {
  const m = view.metrics.find((x) => x.name === name)
  const values = m?.values.filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) ?? []
  if (values.length === 0) return undefined
  return values.reduce((sum, v) => sum + v.value, 0)
}

const fmt = (n: number | undefined | null, unit = ''): string => (n === undefined || n === null ? '–' : `${Math.round(n).toLocaleString('en-US')}${unit}`)

export function formatStatus(view: SystemView, url: string): string {
  const stages = Object.entries(view.health)
  const width = Math.max(...stages.map(([n]) => n.length), 5)
  const bad = stages.filter(([, h]) => !h.ok).length
  const l = view.ledger
  const lines = [
    `shiftscribe ${view.site} at ${url}: ${bad === 0 ? `all ${stages.length} stages ok` : `${bad} of ${stages.length} stages NOT ok`}`,
    '',
    'stages',
    ...stages.map(([name, h]) => `  ${name.padEnd(width)}  ${h.ok ? 'ok ' : 'NOT OK'}  ${h.detail}`),
    '',
    'ledger (since the journal was created)',
    l === null
      ? '  –'
      : `  received ${fmt(l.received)}  journaled ${fmt(l.journaled)}  quarantined ${fmt(l.quarantined)}  delivered ${fmt(l.delivered)}  pending ${fmt(l.pending)}  dropped ${fmt(l.dropped)}`,
    '',
    'flow',
    `  ingest ${view.ingestPerS === null ? '–' : `${view.ingestPerS.toFixed(1)}/s`}`,
    `  aggregate lag ${fmt(metric(view, 'shiftscribe_aggregate_lag_messages'), ' messages')}`,
    `  narrate queue ${fmt(metric(view, 'shiftscribe_narrate_queue_depth'))}, written ${fmt(metric(view, 'shiftscribe_narratives_total'))}`,
    `  forward lag ${fmt(metric(view, 'shiftscribe_forward_lag_messages'), ' messages')}, forwarded ${fmt(metric(view, 'shiftscribe_forward_messages_total'))}, errors ${fmt(metric(view, 'shiftscribe_forward_errors_total'))}`,
  ]
  return `${lines.join('\n')}\n`
}

export async function statusCommand(args: string[], io: CliIo, fetchImpl: typeof fetch = fetch): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      url: { type: 'string' },
      json: { type: 'boolean', default: false },
      'timeout-ms': { type: 'string', default: '5000' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    io.stdout.write(STATUS_USAGE)
    return 0
  }
  const timeoutMs = Number(values['timeout-ms'])
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
    io.stderr.write(`shiftscribe: status: --timeout-ms must be a positive integer\n${STATUS_USAGE}`)
    return 2
  }
  let base: string
  if (values.url !== undefined) {
    base = values.url.replace(/\/+$/, '')
  } else if (values.config !== undefined) {
    try {
      const { config } = loadConfigFile(values.config, { env: io.env, unsetSystemdDirectories: 'warn' })
      if (!config.http.enabled) {
        io.stderr.write(`shiftscribe: status: http.enabled is false in ${values.config}: the gateway serves no status (see its logs: journalctl -u shiftscribe)\n`)
        return 1
      }
      base = statusUrl(config.http.host, config.http.port)
    } catch (err) {
      io.stderr.write(`${err instanceof ConfigError ? err.message : String(err)}\n`)
      return 2
    }
  } else {
    io.stderr.write(`shiftscribe: status: --config <file> or --url is required\n${STATUS_USAGE}`)
    return 2
  }
  let view: SystemView
  try {
    const res = await fetchImpl(`${base}/api/system`, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } })
    if (!res.ok) throw new Error(`HTTP ${res.status}`)
    view = (await res.json()) as SystemView
  } catch (err) {
    const why = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err)
    io.stderr.write(`shiftscribe: status: no answer from ${base}/api/system (${why}); is the gateway running? (systemctl status shiftscribe)\n`)
    return 1
  }
  io.stdout.write(values.json ? `${JSON.stringify(view)}\n` : formatStatus(view, base))
  return Object.values(view.health).every((h) => h.ok) ? 0 : 1
}
