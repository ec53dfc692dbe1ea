// `npm run demo`: the whole gateway in one command. Brings the local services up (stopping on
// exit only those it started), fetches the model and builds when needed, starts the gateway
// on config/demo.yaml (logs to a file) and the simulator at accelerated event time (three
// shifts in --minutes of wall time, with injected anomalies), prints the page URL and a status
// line every few seconds from the gateway's own API, and stops everything in reverse on
// Ctrl-C/SIGTERM (a second Ctrl-C kills at once) with a closing summary.
//
// Every run starts clean, without deleting anything another run or test might use:
// - a fresh data directory per run (journal and state database: buckets, anomalies,
//   narratives, and the aggregator's offsets, which live in the state database);
// - run-unique names wherever state outlives the process: local topics
//   `demo.<run>.readings|quarantine|anomalies|kpis|narratives|questions|answers`, central topics
//   `demo.<run>.summaries|anomalies|kpis|questions|answers`, the gateway id (hence the MQTT client id and the
//   aggregate/forward consumer groups) `shiftscribe-demo-<run>`, and the MQTT topic prefix
//   `factory/<run>` (a fresh persistent session that only sees this run's simulator);
// - the per-run config is derived from config/demo.yaml into .services/demo/<run>/gateway.yaml
//   (with the gateway and simulator logs and the anomaly truth beside it). The two newest
//   earlier runs are kept for a look; older run folders are deleted. Their Kafka topics stay
//   until the brokers' retention (7 days or 1 GiB per partition) empties them.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml'
import { loadConfigFile, type Config } from '../src/config/load-config.js'
import { describeError } from '../src/errors.js'
import type { Overview } from '../src/http/read-model.js'
import type { SystemView } from '../src/http/views.js'
import { createShiftCalendar, type ShiftCalendar } from '../src/shifts/shift-calendar.js'

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..')
const SERVICES_SCRIPT = join(REPO, 'scripts', 'services')
const CLI = join(REPO, 'dist', 'cli', 'index.js')
const DEMO_CONFIG = join(REPO, 'config', 'demo.yaml')
const SERVICE_NAMES = ['mosquitto', 'kafka-local', 'kafka-central'] as const
const DAY_MS = 86_400_000
/** Earlier run folders kept besides the new one. */
const KEEP_RUNS = 2
/** A repeated signal this soon after the first is the same Ctrl-C (npm and tsx relay it too). */
const SIGNAL_DEBOUNCE_MS = 1000

export const DEMO_USAGE = `Usage: npm run demo -- [options]

Runs the whole gateway against the local services with a simulated plant at accelerated
event time: three shifts (a day) in --minutes of wall time, with injected anomalies, the
local model writing shift and incident narratives, forwarding to the central Kafka. Prints
the page URL and a status line every few seconds; Ctrl-C stops everything it started.

Options:
  --minutes <n>         wall minutes for the day of three shifts (default 10)
  --rate <n>            simulator messages per second (default 1500)
  --anomalies <n>       anomalies injected over the day (default 12)
  --seed <n|text>       simulator seed (default 1)
  --format <f>          json (default) or sparkplug: the plant as Sparkplug B edge nodes, the
                        gateway as their host application (docs/sparkplug.md)
  --start <ISO>         event time of the first reading (default: the latest shift start at
                        least 10 min ago, so event time never runs a day ahead of the clock)
  --http-port <n>       page port (default: SHIFTSCRIBE_HTTP_PORT, else config/demo.yaml: 8080)
  --llm-threads <n>     inference threads (default: SHIFTSCRIBE_LLM_THREADS, else the config's)
  --data-dir <dir>      journal and state database (default .services/demo/<run>/data);
                        must be empty or missing
  --runs-dir <dir>      where run folders go (default .services/demo; the two newest
                        earlier runs there are kept, older ones deleted)
  --until <what>        exit by itself: "narratives" = once a shift and an incident narrative
                        are written and the page answers; "end" = once the simulated day is
                        done and fully processed (narratives written, forwarded)
  --timeout <s>         with --until: give up after s seconds (exit 1; default 900)
  --status-every <s>    seconds between status lines (default 5)
  --no-services         do not start or stop the local services (they must be reachable)
  --no-build            do not build dist/ even when it is older than src/
  -h, --help            show this help

Files: .services/demo/<run>/{gateway.yaml,gateway.log,simulator.log,truth.jsonl,data/};
.services/demo/latest points at the newest run. More in docs/demo.md.
Exit codes: 0 stopped by Ctrl-C/SIGTERM or --until reached, 1 failure or --timeout, 2 usage.
`

interface DemoOptions {
  minutes: number
  rate: number
  anomalies: number
  seed: string
  format: 'json' | 'sparkplug'
  startTs: number | undefined
  httpPort: number | undefined
  llmThreads: number | undefined
  dataDir: string | undefined
  runsDir: string | undefined
  until: 'narratives' | 'end' | undefined
  timeoutS: number
  statusEveryS: number
  services: boolean
  build: boolean
}

class UsageError extends Error {}

export function parseDemoArgs(args: string[], env: NodeJS.ProcessEnv): DemoOptions | 'help' {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      minutes: { type: 'string' },
      rate: { type: 'string' },
      anomalies: { type: 'string' },
      seed: { type: 'string' },
      format: { type: 'string' },
      start: { type: 'string' },
      'http-port': { type: 'string' },
      'llm-threads': { type: 'string' },
      'data-dir': { type: 'string' },
      'runs-dir': { type: 'string' },
      until: { type: 'string' },
      timeout: { type: 'string' },
      'status-every': { type: 'string' },
      'no-services': { type: 'boolean' },
      'no-build': { type: 'boolean' },
    },
  })
  if (values.help) return 'help'
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`)
  const num = (flag: string, text: string | undefined, min: number, max: number, int = false): number | undefined => {
    if (text === undefined || text === '') return undefined
    const n = Number(text)
    if (!Number.isFinite(n) || n < min || n > max || (int && !Number.isInteger(n))) {
      throw new UsageError(`${flag}: "${text}" must be ${int ? 'a whole number' : 'a number'} from ${min} to ${max}`)
    }
    return n
  }
  let startTs: number | undefined
  if (values.start !== undefined) {
    startTs = Date.parse(values.start)
    if (Number.isNaN(startTs)) throw new UsageError(`--start: "${values.start}" is not an ISO date-time, e.g. 2026-01-05T06:00:00+01:00`)
  }
  const until = values.until
  if (until !== undefined && until !== 'narratives' && until !== 'end') throw new UsageError(`--until: "${until}" is not "narratives" or "end"`)
  if (values.timeout !== undefined && until === undefined) throw new UsageError('--timeout needs --until')
  const format = values.format ?? 'json'
  if (format !== 'json' && format !== 'sparkplug') throw new UsageError(`--format: "${format}" is not "json" or "sparkplug"`)
  return {
    minutes: num('--minutes', values.minutes, 0.5, 1440) ?? 10,
    rate: num('--rate', values.rate, 10, 100_000) ?? 1500,
    anomalies: num('--anomalies', values.anomalies, 0, 1000, true) ?? 12,
    seed: values.seed ?? '1',
    format,
    startTs,
    httpPort: num('--http-port', values['http-port'], 1, 65535, true) ?? num('SHIFTSCRIBE_HTTP_PORT', env['SHIFTSCRIBE_HTTP_PORT'], 1, 65535, true),
    llmThreads: num('--llm-threads', values['llm-threads'], 1, 256, true) ?? num('SHIFTSCRIBE_LLM_THREADS', env['SHIFTSCRIBE_LLM_THREADS'], 1, 256, true),
    dataDir: values['data-dir'] === undefined ? undefined : resolve(values['data-dir']),
    runsDir: values['runs-dir'] === undefined ? undefined : resolve(values['runs-dir']),
    until,
    timeoutS: num('--timeout', values.timeout, 1, 86_400) ?? 900,
    statusEveryS: num('--status-every', values['status-every'], 1, 3600) ?? 5,
    services: !(values['no-services'] ?? false),
    build: !(values['no-build'] ?? false),
  }
}

// ---------------------------------------------------------------- small helpers

const say = (line: string): void => void process.stdout.write(`${line}\n`)
const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US')
const plural = (n: number, one: string, many: string): string => `${fmtInt(n)} ${n === 1 ? one : many}`
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function fmtElapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const ss = String(s % 60).padStart(2, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`
}

function runId(now: Date): string {
  const p = (n: number) => String(n).padStart(2, '0')
  return `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}-${randomBytes(2).toString('hex')}`
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal)
  } catch {
    // already gone
  }
}

/** The process's command line, or undefined when it is gone (Linux /proc). */
function cmdline(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '')
  } catch {
    return undefined
  }
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

/**
 * Runs a command and captures its output. Never spawnSync here: tsx relays a signal to this
 * process and SIGKILLs it when it does not acknowledge within 30 ms, which a blocked event loop cannot.
 */
function capture(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    execFile(cmd, args, { cwd: REPO, env: options.env ?? process.env, timeout: options.timeoutMs ?? 0, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1
      resolvePromise({ status: code, stdout, stderr })
    })
  })
}

/** Runs a setup command to completion, passing its output through (prefixed); resolves with the exit code and output. */
function runStep(cmd: string, args: string[], prefix: string, track: (c: ChildProcess | undefined) => void): Promise<{ code: number; output: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] })
    track(child)
    let output = ''
    const relay = (d: Buffer) => {
      const text = d.toString()
      output += text
      for (const line of text.split('\n')) if (line.trim() !== '') say(`${prefix}${line.replace(/\r/g, '')}`)
    }
    child.stdout?.on('data', relay)
    child.stderr?.on('data', relay)
    child.on('error', (err) => {
      output += String(err)
      say(`${prefix}${describeError(err)}`)
    })
    child.on('close', (code, signal) => {
      track(undefined)
      resolvePromise({ code: code ?? (signal ? 128 : 1), output })
    })
  })
}

function newestMtime(dir: string, accept: (name: string) => boolean): number {
  let newest = 0
  const walk = (d: string) => {
    let entries
    try {
      entries = readdirSync(d, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (accept(e.name)) newest = Math.max(newest, statSync(p).mtimeMs)
    }
  }
  walk(dir)
  return newest
}

/** dist/ is stale when a source file or a tsconfig changed after the newest file tsc wrote. */
export function distState(repo: string): 'missing' | 'stale' | 'fresh' {
  if (!existsSync(join(repo, 'dist', 'cli', 'index.js'))) return 'missing'
  const built = newestMtime(join(repo, 'dist'), (n) => n.endsWith('.js'))
  const sources = Math.max(
    newestMtime(join(repo, 'src'), (n) => n.endsWith('.ts') && !n.endsWith('.test.ts')),
    ...['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'].map((f) => (existsSync(join(repo, f)) ? statSync(join(repo, f)).mtimeMs : 0)),
  )
  return sources > built ? 'stale' : 'fresh'
}

function portFree(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolvePromise) => {
    const server = createServer()
    server.once('error', (err: NodeJS.ErrnoException) => resolvePromise(err))
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolvePromise(undefined)))
  })
}

/**
 * The event time the day starts at: the latest shift start at least `marginMs` before now, so
 * `start + day + tail` stays under the gateway's "no more than a day ahead" limit for the whole
 * run, and the day holds whole shifts. Without any shift in the last week: the start of this minute minus a day.
 */
export function dayStart(calendar: ShiftCalendar, nowTs: number, marginMs: number): number {
  const before = nowTs - marginMs
  const starts = calendar
    .instancesBetween(before - 7 * DAY_MS, before)
    .map((s) => s.startTs)
    .filter((t) => t <= before)
  const latest = starts.length === 0 ? undefined : Math.max(...starts)
  return latest ?? Math.floor(before / 60_000) * 60_000 - DAY_MS
}

interface Metric {
  name: string
  values: { labels: Record<string, string | number>; value: number }[]
}

function metricSum(metrics: readonly Metric[], name: string, labels: Record<string, string> = {}): number {
  const m = metrics.find((x) => x.name === name)
  if (m === undefined) return 0
  return m.values.filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)).reduce((a, v) => a + v.value, 0)
}

function metricByLabel(metrics: readonly Metric[], name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const v of metrics.find((x) => x.name === name)?.values ?? []) {
    const key = String(v.labels[label] ?? '')
    out[key] = (out[key] ?? 0) + v.value
  }
  return out
}

interface Snapshot {
  at: number
  system: SystemView
  anomalies: number
  anomaliesCapped: boolean
  narratives: { shift: number; incident: number; llm: number; template: number }
  forwarded: Record<string, number>
  forwardLag: number
  queueDepth: number
  aggregateLag: number
}

async function getJson<T>(url: string, timeoutMs = 4000): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`)
  return (await res.json()) as T
}

async function takeSnapshot(base: string): Promise<Snapshot> {
  const [system, incidents] = await Promise.all([
    getJson<SystemView>(`${base}/api/system`),
    getJson<{ incidents: unknown[]; next: number | null }>(`${base}/api/incidents?limit=500`),
  ])
  const m = system.metrics
  const byGenerator = metricByLabel(m, 'shiftscribe_narratives_total', 'generator')
  return {
    at: Date.now(),
    system,
    anomalies: incidents.incidents.length,
    anomaliesCapped: incidents.next !== null,
    narratives: {
      shift: metricSum(m, 'shiftscribe_narratives_total', { kind: 'shift' }),
      incident: metricSum(m, 'shiftscribe_narratives_total', { kind: 'incident' }),
      llm: byGenerator['llm'] ?? 0,
      template: Object.entries(byGenerator)
        .filter(([g]) => g.startsWith('template'))
        .reduce((a, [, n]) => a + n, 0),
    },
    forwarded: metricByLabel(m, 'shiftscribe_forward_messages_total', 'source'),
    forwardLag: metricSum(m, 'shiftscribe_forward_lag_messages'),
    queueDepth: metricSum(m, 'shiftscribe_narrate_queue_depth'),
    aggregateLag: metricSum(m, 'shiftscribe_aggregate_lag_messages'),
  }
}

// ---------------------------------------------------------------- the run

interface RunPids {
  runner: number
  gateway?: number
  simulator?: number
  configFile: string
  prefix: string
}

const RUN_DIR_RE = /^\d{8}-\d{6}-[0-9a-f]{4}$/

/** Stops what a demo killed without its cleanup left running, and deletes old run folders. */
async function tidyEarlierRuns(demoDir: string): Promise<void> {
  let runs: string[]
  try {
    runs = readdirSync(demoDir).filter((n) => RUN_DIR_RE.test(n)).sort()
  } catch {
    return
  }
  const busy = new Set<string>()
  for (const run of runs) {
    let pids: RunPids
    try {
      pids = JSON.parse(readFileSync(join(demoDir, run, 'pids.json'), 'utf8')) as RunPids
    } catch {
      continue
    }
    if (alive(pids.runner) && (cmdline(pids.runner) ?? []).some((a) => a.includes('demo'))) {
      busy.add(run)
      continue
    }
    // Only a process whose command line names that run's config or topic prefix is one of its own.
    const leftovers = [
      { what: 'gateway', pid: pids.gateway, mark: pids.configFile },
      { what: 'simulator', pid: pids.simulator, mark: pids.prefix },
    ].filter((p) => p.pid !== undefined && (cmdline(p.pid) ?? []).includes(p.mark))
    for (const p of leftovers) {
      say(`demo: stopping the ${p.what} (pid ${p.pid}) that an earlier demo run (${run}) left behind`)
      signalPid(p.pid as number, 'SIGTERM')
    }
    for (const p of leftovers) {
      const deadline = Date.now() + 30_000
      while (alive(p.pid) && Date.now() < deadline) await sleep(200)
      if (alive(p.pid)) signalPid(p.pid as number, 'SIGKILL')
    }
  }
  const old = runs.filter((r) => !busy.has(r)).slice(0, -KEEP_RUNS || undefined)
  for (const run of old) rmSync(join(demoDir, run), { recursive: true, force: true })
}

/** Stops a child: `signal`, then SIGKILL after `graceMs`. Resolves with its exit code or signal. */
async function stopChild(child: ChildProcess, exited: Promise<number | string>, signal: NodeJS.Signals, graceMs: number): Promise<number | string> {
  if (child.exitCode !== null || child.signalCode !== null) return exited
  child.kill(signal)
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  const result = await exited
  clearTimeout(timer)
  return result
}

function exitPromise(child: ChildProcess): Promise<number | string> {
  return new Promise((resolvePromise) => {
    if (child.exitCode !== null || child.signalCode !== null) resolvePromise(child.exitCode ?? child.signalCode ?? -1)
    else child.once('exit', (code, signal) => resolvePromise(code ?? signal ?? -1))
  })
}

export async function runDemo(options: DemoOptions): Promise<number> {
  const t0 = Date.now()
  const servicesDir = resolve(process.env['SHIFTSCRIBE_SERVICES_DIR'] ?? join(REPO, '.services'))
  const demoDir = options.runsDir ?? join(servicesDir, 'demo')
  const id = runId(new Date(t0))
  const runDir = join(demoDir, id)
  const rel = (p: string) => {
    const r = relative(process.cwd(), p)
    return r.startsWith('..') || isAbsolute(r) ? p : r
  }

  // State for shutdown: what this run started, newest last.
  let stopReason: string | undefined
  let signalledAt = 0
  let wake: () => void = () => undefined
  let setupChild: ChildProcess | undefined
  const startedServices: string[] = []
  let gateway: { child: ChildProcess; exited: Promise<number | string> } | undefined
  let simulator: { child: ChildProcess; exited: Promise<number | string>; stdout: () => string } | undefined
  let last: Snapshot | undefined
  let pageStatus: number | undefined
  let exitCode = 0
  let simDone: number | string | undefined

  const requestStop = (reason: string) => {
    if (stopReason === undefined) stopReason = reason
    wake()
  }
  const onSignal = (signal: NodeJS.Signals) => {
    const now = Date.now()
    if (stopReason === undefined || signalledAt === 0) {
      signalledAt = now
      say(`\ndemo: ${signal}: stopping (the simulator, then the gateway, then the services it started); Ctrl-C again to kill at once`)
      setupChild?.kill('SIGTERM')
      requestStop(signal)
      return
    }
    if (now - signalledAt < SIGNAL_DEBOUNCE_MS) return
    say(`demo: second ${signal}: killing at once`)
    for (const c of [simulator?.child, gateway?.child, setupChild]) if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
    if (startedServices.length > 0) say(`demo: left running: ${startedServices.join(', ')} (stop them with: scripts/services down ${startedServices.join(' ')})`)
    process.exit(130)
  }
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal)
  // A closed terminal (SIGHUP) must not crash the orderly stop on a failed write.
  process.stdout.on('error', () => undefined)
  // If this process dies of a bug, it must not leave the detached children running.
  process.on('exit', () => {
    for (const c of [simulator?.child, gateway?.child]) if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  })
  const stopped = () => stopReason !== undefined

  const stopServices = async (): Promise<string[]> => {
    if (startedServices.length === 0) return []
    const names = [...startedServices]
    say(`demo: stopping ${names.join(', ')} (started by the demo)`)
    const r = await capture(SERVICES_SCRIPT, ['down', ...names])
    if (r.status !== 0) say(`demo: scripts/services down failed (${r.status}): ${r.stderr.trim()}`)
    else startedServices.length = 0
    return names
  }
  const fail = async (message: string): Promise<number> => {
    say(`demo: ${message}`)
    await stopServices()
    return 1
  }

  mkdirSync(demoDir, { recursive: true })
  await tidyEarlierRuns(demoDir)
  mkdirSync(runDir, { recursive: true })
  try {
    unlinkSync(join(demoDir, 'latest'))
  } catch {
    // none yet
  }
  try {
    symlinkSync(id, join(demoDir, 'latest'))
  } catch {
    // best effort: a convenience link
  }
  const prefix = `factory/${id}`
  const configFile = join(runDir, 'gateway.yaml')
  const pids: RunPids = { runner: process.pid, configFile, prefix }
  const savePids = () => writeFileSync(join(runDir, 'pids.json'), `${JSON.stringify(pids)}\n`)
  savePids()
  say(`demo: run ${id} (files in ${rel(runDir)})`)

  // 1. The per-run config, derived from config/demo.yaml.
  const raw = parseYaml(readFileSync(DEMO_CONFIG, 'utf8')) as Record<string, unknown>
  const section = (key: string): Record<string, unknown> => {
    const v = raw[key]
    if (typeof v === 'object' && v !== null) return v as Record<string, unknown>
    const fresh: Record<string, unknown> = {}
    raw[key] = fresh
    return fresh
  }
  const dataDir = options.dataDir ?? join(runDir, 'data')
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    return fail(`--data-dir ${dataDir} is not empty (an earlier run's databases would mix into this one); pick an empty or new directory`)
  }
  raw['gatewayId'] = `shiftscribe-demo-${id}`
  raw['dataDir'] = dataDir
  const mqtt = section('mqtt')
  // Sparkplug: this run's own group, so earlier runs' edge nodes never mix in.
  const sparkplugGroup = `demo-${id}`
  if (options.format === 'sparkplug') {
    mqtt['subscriptions'] = []
    mqtt['sparkplug'] = { enabled: true, groups: [sparkplugGroup] }
  } else mqtt['subscriptions'] = [{ filter: `${prefix}/+/+/+`, pattern: `${prefix}/{line}/{machine}/{sensor}` }]
  // The session only matters while this run lives; do not leave week-long sessions behind in mosquitto.
  mqtt['sessionExpiryS'] = 3600
  const kafka = section('kafka')
  const local = (kafka['local'] ??= {}) as Record<string, unknown>
  local['topics'] = Object.fromEntries(['readings', 'quarantine', 'anomalies', 'kpis', 'narratives', 'questions', 'answers'].map((t) => [t, `demo.${id}.${t}`]))
  const central = (kafka['central'] ??= {}) as Record<string, unknown>
  central['topics'] = Object.fromEntries(['summaries', 'anomalies', 'kpis', 'questions', 'answers'].map((t) => [t, `demo.${id}.${t}`]))
  const http = section('http')
  http['enabled'] = true
  // A token for this run (unless one is configured), so the ask box and regenerate work in the demo.
  if (http['token'] === undefined && http['tokenFile'] === undefined && !process.env['SHIFTSCRIBE_HTTP_TOKEN']) http['token'] = randomBytes(18).toString('hex')
  if (options.httpPort !== undefined) http['port'] = options.httpPort
  if (options.llmThreads !== undefined) section('llm')['threads'] = options.llmThreads
  writeFileSync(configFile, `# Derived by scripts/demo.ts from config/demo.yaml for run ${id}.\n${stringifyYaml(raw)}`)
  // The demo decides these (from its options, which read the same variables); the rest of the overrides apply.
  const childEnv: NodeJS.ProcessEnv = { ...process.env }
  for (const k of ['SHIFTSCRIBE_DATA_DIR', 'SHIFTSCRIBE_HTTP_PORT', 'SHIFTSCRIBE_LLM_THREADS']) delete childEnv[k]
  let config: Config
  try {
    config = loadConfigFile(configFile, { env: childEnv, fileExists: existsSync }).config
  } catch (err) {
    return fail(`config/demo.yaml does not make a valid gateway config:\n${describeError(err)}`)
  }
  // Checked before any service starts: failing then costs nothing.
  const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${config.http.port}`
  const portError = await portFree(config.http.host, config.http.port)
  if (portError !== undefined) {
    const hint =
      portError.code === 'EADDRINUSE'
        ? `something else listens there (see: ss -ltnp 'sport = :${config.http.port}'); pass --http-port <n> or stop it`
        : describeError(portError)
    return fail(`the page's port ${config.http.host}:${config.http.port} is not free: ${hint}`)
  }

  // 2. Services: those not answering now are the ones this run starts (and later stops).
  if (options.services) {
    const answering = await Promise.all(SERVICE_NAMES.map(async (name) => (await capture(SERVICES_SCRIPT, ['status', name])).status === 0))
    const down = SERVICE_NAMES.filter((_, i) => !answering[i])
    if (down.length === 0) say('demo: services already running: mosquitto, kafka-local, kafka-central')
    else {
      say(`demo: starting ${down.join(', ')} (scripts/services up)`)
      // Counted as ours before `up` returns, so a Ctrl-C meanwhile still stops them.
      startedServices.push(...down)
      const r = await runStep(SERVICES_SCRIPT, ['up', ...down], '  services: ', (c) => (setupChild = c))
      // Someone else's start that `up` only waited for is not ours to stop.
      const notOurs = new Set([...r.output.matchAll(/^(mosquitto|kafka-local|kafka-central) already (?:running|started)/gm)].map((m) => m[1]))
      for (const name of notOurs) startedServices.splice(startedServices.indexOf(name as string), 1)
      if (stopped()) return finishEarly()
      if (r.code !== 0) return fail('the services did not come up (see above; docs/demo.md, "Troubleshooting")')
    }
  }

  // 3. The model, 4. the build.
  const modelPath = resolve(REPO, config.llm.modelPath)
  if (config.llm.enabled && !existsSync(modelPath)) {
    say(`demo: ${rel(modelPath)} is missing: fetching it (scripts/fetch-model)`)
    const r = await runStep(join(REPO, 'scripts', 'fetch-model'), [], '  fetch-model: ', (c) => (setupChild = c))
    if (stopped()) return finishEarly()
    if (r.code !== 0 || !existsSync(modelPath)) return fail(`could not fetch the model (exit ${r.code}); see above`)
  }
  const dist = distState(REPO)
  if (dist !== 'fresh' && options.build) {
    say(`demo: dist/ is ${dist}: building (tsc -p tsconfig.build.json)`)
    const r = await runStep(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO, 'tsconfig.build.json')], '  tsc: ', (c) => (setupChild = c))
    if (stopped()) return finishEarly()
    if (r.code !== 0) return fail('the build failed (see above)')
  } else if (dist === 'missing') {
    return fail('dist/ is missing and --no-build was given; run "npm run build"')
  } else if (dist === 'stale') {
    say('demo: dist/ is older than src/ (--no-build: running it anyway)')
  }

  // 5. The gateway, in its own process group (a terminal Ctrl-C reaches only the demo, which stops it in order).
  const gatewayLog = join(runDir, 'gateway.log')
  const gatewayFd = openSync(gatewayLog, 'a')
  const gwChild = spawn(process.execPath, [CLI, 'start', '--config', configFile], { cwd: REPO, env: childEnv, detached: true, stdio: ['ignore', gatewayFd, gatewayFd] })
  closeSync(gatewayFd)
  gateway = { child: gwChild, exited: exitPromise(gwChild) }
  pids.gateway = gwChild.pid
  savePids()
  say(`demo: gateway starting (pid ${gwChild.pid}); log: ${rel(gatewayLog)}`)
  const gatewayGone = () => gwChild.exitCode !== null || gwChild.signalCode !== null
  const readyBy = Date.now() + 180_000
  let ready = false
  while (!ready && !stopped() && !gatewayGone() && Date.now() < readyBy) {
    try {
      ready = (await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2000) })).status === 200
    } catch {
      // not listening yet
    }
    if (!ready) await sleep(250)
  }
  if (!ready && !stopped()) {
    const why = gatewayGone() ? `exited (${await gateway.exited})` : 'did not become ready in 180 s'
    say(`demo: the gateway ${why}; the end of ${rel(gatewayLog)}:\n${tail(gatewayLog, 30)}`)
    if (!gatewayGone()) await stopChild(gwChild, gateway.exited, 'SIGTERM', 30_000)
    return fail('could not start the gateway (docs/demo.md, "Troubleshooting")')
  }

  // 6. The simulator: the day of shifts, at `speed`, covering whole shifts plus the lateness
  // that closes the last one. Paced by count, not by duration: a slow box takes longer, the day stays whole.
  const calendar = createShiftCalendar({ timeZone: config.timeZone, shifts: config.shifts.definitions })
  const tailMs = config.shifts.allowedLatenessS * 1000 + 60_000
  const startTs = options.startTs ?? dayStart(calendar, Date.now(), 10 * 60_000)
  const spanMs = DAY_MS + tailMs
  const wallMs = options.minutes * 60_000
  const speed = spanMs / wallMs
  const sensorsPerTick = 2 * 5 * 7
  const intervalMs = Math.max(1, (sensorsPerTick * speed * 1000) / options.rate)
  const count = Math.ceil(spanMs / intervalMs) * sensorsPerTick
  const endTs = startTs + spanMs
  const weekends = config.shifts.definitions.some((d) => d.days.includes('sat') || d.days.includes('sun'))
  const simArgs = [
    CLI,
    'simulate',
    '--url', config.mqtt.url,
    '--prefix', prefix,
    '--site', config.site,
    '--lines', '2',
    '--machines', '5',
    '--seed', options.seed,
    '--start', new Date(startTs).toISOString(),
    '--speed', String(Math.round(speed * 1000) / 1000),
    '--rate', String(options.rate),
    '--count', String(count),
    '--tz', config.timeZone,
    '--shifts', config.shifts.definitions.map((d) => `${d.name}=${d.start}-${d.end}`).join(','),
    ...(weekends ? ['--weekends'] : []),
    ...(options.anomalies > 0 ? ['--anomalies', `${options.anomalies}/run`] : ['--no-anomalies']),
    '--truth', join(runDir, 'truth.jsonl'),
    ...(options.format === 'sparkplug' ? ['--format', 'sparkplug', '--sparkplug-group', sparkplugGroup] : []),
    '--json',
  ]
  if (config.mqtt.username !== undefined) simArgs.push('--username', config.mqtt.username)
  const simEnv = { ...childEnv, ...(config.mqtt.password !== undefined ? { SHIFTSCRIBE_SIMULATE_PASSWORD: config.mqtt.password } : {}) }
  const simLog = join(runDir, 'simulator.log')
  const local2 = new Intl.DateTimeFormat('en-GB', { timeZone: config.timeZone, weekday: 'short', day: '2-digit', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
  const eventText = (ts: number) => local2.format(ts).replace(',', '')
  if (stopped()) return shutdown()
  {
    const simFd = openSync(simLog, 'a')
    const simChild = spawn(process.execPath, simArgs, { cwd: REPO, env: simEnv, detached: true, stdio: ['ignore', 'pipe', simFd] })
    closeSync(simFd)
    let simOut = ''
    simChild.stdout?.on('data', (d: Buffer) => (simOut += d.toString()))
    simulator = { child: simChild, exited: exitPromise(simChild), stdout: () => simOut }
    pids.simulator = simChild.pid
    savePids()
    say(`demo: simulator (pid ${simChild.pid}): ${eventText(startTs)} → ${eventText(endTs)} ${config.timeZone}, ${fmtInt(count)} readings at ${fmtInt(options.rate)}/s, speed ${Math.round(speed)}×, ${plural(options.anomalies, 'anomaly', 'anomalies')}; log: ${rel(simLog)}`)
  }

  say('')
  say(`  page:    ${base}/          (shifts ${base}/shifts · incidents ${base}/incidents · system ${base}/system)`)
  say(`  API:     ${base}/api/overview · ${base}/api/system · ${base}/metrics`)
  say(
    config.http.token !== undefined && http['token'] === config.http.token
      ? `  ask:     ${base}/answers — API token for this run: ${config.http.token}`
      : config.http.token !== undefined || config.http.tokenFile !== undefined
        ? '  token:   set (asking and regenerating need it; pages and GET /api/* are open)'
        : '  token:   none; asking and regenerating are off (set SHIFTSCRIBE_HTTP_TOKEN to turn them on)',
  )
  say(`           or: node dist/cli/index.js ask --config ${rel(configFile)} "Which machine had the most anomalies today?"`)
  say(`  central: topics demo.${id}.{summaries,anomalies,kpis,questions,answers} on ${config.kafka.central.brokers.join(',')}`)
  say(`  stop:    Ctrl-C${options.until ? ` (or it exits by itself: --until ${options.until}, --timeout ${options.timeoutS} s)` : ''}`)
  say('')

  // 7. Status lines until Ctrl-C, --until, --timeout or a dead gateway.
  let settled = 0
  const deadline = options.until ? t0 + options.timeoutS * 1000 : Number.POSITIVE_INFINITY
  const statusLine = (s: Snapshot): string => {
    const newest = s.system.store.newestTs
    const pct = newest === null ? 0 : Math.min(100, Math.max(0, ((newest - startTs) / spanMs) * 100))
    const shift = newest === null ? undefined : calendar.instanceAt(newest)?.name
    const event = newest === null ? 'event –' : `event ${eventText(newest)} (${shift ? `${shift}, ` : ''}${Math.floor(pct)} %)`
    const rate = s.system.ingestPerS === null ? '–' : fmtInt(s.system.ingestPerS)
    const open = s.system.store.openAnomalies
    const forwarded = Object.values(s.forwarded).reduce((a, n) => a + n, 0)
    const queue = s.queueDepth > 0 ? ` (queue ${s.queueDepth})` : ''
    return `[${fmtElapsed(s.at - t0).padStart(5)}] ${event} · ${rate} readings/s · anomalies ${s.anomalies}${s.anomaliesCapped ? '+' : ''} (${open} open) · narratives ${s.narratives.shift} shift, ${s.narratives.incident} incident${queue} · central ${fmtInt(forwarded)} · journal pending ${fmtInt(s.system.ledger?.pending ?? 0)}`
  }
  while (!stopped()) {
    if (gatewayGone()) {
      say(`demo: the gateway exited by itself (${await gateway.exited}); the end of ${rel(gatewayLog)}:\n${tail(gatewayLog, 30)}`)
      exitCode = 1
      requestStop('gateway exited')
      break
    }
    if (simulator && simDone === undefined && (simulator.child.exitCode !== null || simulator.child.signalCode !== null)) {
      simDone = await simulator.exited
      if (simDone === 0) say(`demo: the simulated day is published; the gateway keeps working through it and serving the page${options.until ? '' : ' (Ctrl-C to stop)'}`)
      else say(`demo: the simulator exited with ${simDone}; the end of ${rel(simLog)}:\n${tail(simLog, 15)}`)
    }
    try {
      const s = await takeSnapshot(base)
      last = s
      say(statusLine(s))
      if (options.until === 'narratives' && s.narratives.shift >= 1 && s.narratives.incident >= 1) {
        pageStatus = (await fetch(`${base}/`, { signal: AbortSignal.timeout(5000) })).status
        say(`demo: a shift and an incident narrative are written; the page answered ${pageStatus}`)
        if (pageStatus === 200) requestStop('--until narratives')
      }
      if (options.until === 'end' && simDone !== undefined) {
        const idle = (s.system.ledger?.pending ?? 0) === 0 && s.aggregateLag === 0 && s.queueDepth === 0 && s.forwardLag === 0 && s.system.store.outboxPending === 0
        settled = idle ? settled + 1 : 0
        // Twice in a row: the last shift's narrative may still be on its way through the outbox.
        if (settled >= 2) {
          pageStatus = (await fetch(`${base}/`, { signal: AbortSignal.timeout(5000) })).status
          requestStop('--until end')
        }
      }
    } catch (err) {
      say(`[${fmtElapsed(Date.now() - t0).padStart(5)}] (no status: ${describeError(err)})`)
    }
    if (stopped()) break
    if (Date.now() >= deadline) {
      say(`demo: --timeout ${options.timeoutS} s reached before --until ${options.until}`)
      exitCode = 1
      requestStop('--timeout')
      break
    }
    await new Promise<void>((r) => {
      const timer = setTimeout(r, Math.min(options.statusEveryS * 1000, Math.max(0, deadline - Date.now())))
      wake = () => {
        clearTimeout(timer)
        r()
      }
    })
  }

  // 8. Stop in reverse: simulator (it waits for its outstanding PUBACKs), gateway, services.
  return shutdown()

  async function shutdown(): Promise<number> {
    const reason = stopReason ?? 'done'
    let simResult: number | string | undefined = simDone
    if (simulator && simResult === undefined) {
      say('demo: stopping the simulator')
      simResult = await stopChild(simulator.child, simulator.exited, 'SIGINT', 40_000)
    }
    let final = last
    if (gateway && !gatewayGone()) {
      try {
        final = await takeSnapshot(base)
      } catch {
        // keep the last one
      }
      say('demo: stopping the gateway (SIGTERM; it drains the journal and finishes the narrative in hand)')
    }
    const gatewayExit = gateway ? await stopChild(gateway.child, gateway.exited, 'SIGTERM', 90_000) : undefined
    if (gatewayExit !== undefined && gatewayExit !== 0 && exitCode === 0 && reason !== 'gateway exited') {
      say(`demo: the gateway exited with ${gatewayExit}; the end of ${rel(gatewayLog)}:\n${tail(gatewayLog, 20)}`)
      exitCode = 1
    }
    // The ledger as the gateway left it (the journal file; the API's last look was before the drain).
    let ledger: { received: number; journaled: number; quarantined: number; delivered: number; pending: number; balanced: boolean } | undefined
    if (gateway) {
      const r = await capture(process.execPath, [CLI, 'ledger', '--config', configFile, '--json'], { env: childEnv, timeoutMs: 30_000 })
      try {
        ledger = JSON.parse(r.stdout) as typeof ledger
      } catch {
        // no journal (the gateway never started)
      }
    }
    const stoppedServices = await stopServices()
    printSummary(reason, final, ledger, simResult, gatewayExit, stoppedServices)
    return exitCode
  }

  function printSummary(
    reason: string,
    s: Snapshot | undefined,
    ledger: { received: number; journaled: number; quarantined: number; delivered: number; pending: number; balanced: boolean } | undefined,
    simResult: number | string | undefined, gatewayExit: number | string | undefined, stoppedServices: string[]): void {
    let sim: { published?: number; anomalies?: number; ratePerS?: number; wallSeconds?: number; eventEnd?: string } = {}
    try {
      const lastLine = (simulator?.stdout() ?? '').trim().split('\n').at(-1) ?? ''
      if (lastLine.startsWith('{')) sim = JSON.parse(lastLine) as typeof sim
    } catch {
      // no summary (killed)
    }
    const rows: [string, string][] = []
    rows.push(['stopped by', `${reason} after ${fmtElapsed(Date.now() - t0)}`])
    if (s !== undefined) {
      const newest = s.system.store.newestTs
      rows.push(['event time', `${eventText(startTs)} → ${newest === null ? '–' : eventText(newest)} ${config.timeZone} (${newest === null ? 0 : Math.round(((newest - startTs) / 3_600_000) * 10) / 10} h)`])
    }
    if (ledger !== undefined) {
      rows.push([
        'readings',
        `${fmtInt(ledger.received)} received, ${fmtInt(ledger.journaled)} journaled, ${fmtInt(ledger.quarantined)} quarantined, ${fmtInt(ledger.delivered)} in local Kafka, ${fmtInt(ledger.pending)} pending (ledger ${ledger.balanced ? 'balanced' : 'NOT balanced'})`,
      ])
    }
    if (sim.published !== undefined) {
      rows.push(['simulator', `${fmtInt(sim.published)} published (${fmtInt(sim.ratePerS ?? 0)}/s over ${Math.round(sim.wallSeconds ?? 0)} s), ${plural(sim.anomalies ?? 0, 'anomaly', 'anomalies')} injected (${rel(join(runDir, 'truth.jsonl'))})`])
    } else if (simResult !== undefined) {
      rows.push(['simulator', `exit ${simResult}`])
    }
    if (s !== undefined) {
      rows.push(['anomalies', `${s.anomalies}${s.anomaliesCapped ? '+' : ''} detected (${s.system.store.openAnomalies} open)`])
      rows.push(['narratives', `${s.narratives.shift} shift, ${s.narratives.incident} incident (${s.narratives.llm} by the model, ${s.narratives.template} from the template)`])
      const f = s.forwarded
      const total = Object.values(f).reduce((a, n) => a + n, 0)
      rows.push(['central', `${fmtInt(total)} forwarded (${Object.entries(f).map(([k, n]) => `${k} ${fmtInt(n)}`).join(', ') || 'none'}) to demo.${id}.*`])
    }
    if (pageStatus !== undefined) rows.push(['page', `GET / answered ${pageStatus}`])
    rows.push(['gateway', `${gatewayExit === undefined ? 'not started' : `exit ${gatewayExit}`}; log ${rel(gatewayLog)}`])
    rows.push(['state', `${rel(dataDir)}; to browse it again: node dist/cli/index.js start --config ${rel(configFile)}`])
    if (options.services) {
      const left = SERVICE_NAMES.filter((n) => !stoppedServices.includes(n))
      rows.push(['services', `${stoppedServices.length > 0 ? `stopped ${stoppedServices.join(', ')}` : 'none started by the demo'}${left.length > 0 ? `; left running: ${left.join(', ')}` : ''}`])
    }
    const width = Math.max(...rows.map(([k]) => k.length))
    say('')
    say('demo summary')
    for (const [k, v] of rows) say(`  ${k.padEnd(width)}  ${v}`)
  }

  async function finishEarly(): Promise<number> {
    const names = await stopServices()
    say(`demo: stopped during setup (${stopReason ?? 'signal'})${names.length > 0 ? `; stopped ${names.join(', ')}` : ''}`)
    return 0
  }
}

async function main(): Promise<number> {
  let options: DemoOptions | 'help'
  try {
    options = parseDemoArgs(process.argv.slice(2), process.env)
  } catch (err) {
    if (err instanceof UsageError || (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`demo: ${err.message}\nRun "npm run demo -- --help" for the options.\n`)
      return 2
    }
    throw err
  }
  if (options === 'help') {
    process.stdout.write(DEMO_USAGE)
    return 0
  }
  return runDemo(options)
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`demo: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
      process.exit(1)
    },
  )
}
