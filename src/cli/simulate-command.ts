// `shiftscribe simulate`: publish a simulated plant over MQTT QoS1 with a ground-truth file.
// Exit 0 when every message sent was PUBACKed (also after Ctrl-C/SIGTERM), 1 when some were
// not or the broker cannot be reached, 2 for usage errors.
import { parseArgs } from 'node:util'
import { describeError } from '../errors.js'
import { ALL_BAD_KINDS, BAD_KINDS, SPARKPLUG_BAD_KINDS, type BadKind } from '../simulate/bad-payloads.js'
import { PAYLOAD_FORMATS, type PayloadFormat } from '../simulate/message-source.js'
import type { ConnectFn, PublishProgress } from '../simulate/publisher.js'
import { runSimulation, simulationOptionsSchema, type SimulationInput, type SimulationResult } from '../simulate/run-simulation.js'
import { isSensorName, SENSOR_NAMES, type SensorName } from '../simulate/sensors.js'
import { ANOMALY_KINDS, type AnomalyKind } from '../simulate/truth.js'

export interface SimulateIo {
  stdout: { write(s: string): unknown }
  stderr: { write(s: string): unknown }
  env: NodeJS.ProcessEnv
  cwd: string
  /** Ends the run like Ctrl-C; when absent, SIGINT and SIGTERM do. */
  signal?: AbortSignal
  /** For tests: an MQTT client factory instead of mqtt.connectAsync. */
  connect?: ConnectFn
}

export const SIMULATE_USAGE = `Usage: shiftscribe simulate [options]

Publishes a simulated plant (lines × machines × sensors) over MQTT 5 at QoS1 to
{prefix}/{line}/{machine}/{sensor}, with shifts, noise, injected anomalies (ground truth
in --truth) and optionally malformed messages. Ends after --count or --duration, or on
Ctrl-C/SIGTERM; prints a PUBACK-counted summary.

Connection:
  --url <url>              broker (default mqtt://127.0.0.1:1883)
  --client-id <id>         default shiftscribe-sim-<random> (sparkplug: <id>-<line> per line)
  --username <name>        --password <pw> (or env SHIFTSCRIBE_SIMULATE_PASSWORD)
  --window <n>             most messages without PUBACK (default 1000)
Format:
  --format json|sparkplug  json (default), or Sparkplug B: edge node = line, device =
                           machine, metric = sensor; NBIRTH/DBIRTH then DDATA by alias,
                           one connection per line with its NDEATH as will, answers NCMD
                           Node Control/Rebirth; same values and truth as json
  --sparkplug-group <id>   Sparkplug group id (default plant)
  --sparkplug-keep-alive-at-end
                           no DDEATH/NDEATH at the end: machines stay online
Plant:
  --prefix <levels>        first topic level(s) (default factory)
  --site <name>            written into the truth records
  --lines <n>              lines line1..lineN (default 2)
  --machines <n>           machines m1..mK per line (default 5)
  --sensors <list>         subset of ${SENSOR_NAMES.join(',')}
  --seed <n|text>          same seed + options = same messages and truth (default 1)
Time:
  --start <ISO>            event time of the first sample (default: now, to the minute)
  --speed <x>              event time runs x times faster than wall time (default 1)
  --rate <n>               samples per wall second (default 100; json: messages)
  --duration <s>           stop after s wall seconds
  --count <n>              stop after n samples (json: messages)
  --tz <zone>              time zone of the shifts (default UTC)
  --shifts <list>          e.g. early=06:00-14:00,late=14:00-22:00,night=22:00-06:00 (default)
  --breaks <list>          AFTER+LEN minutes into each shift, e.g. 240+30 (default), or none
  --weekends               also produce on Saturday and Sunday (default: weekends off)
Anomalies and bad input:
  --anomalies <spec>       0.5 or 0.5/shift: mean per machine per shift (default 0.5);
                           12/run: exactly 12 over the run (needs --count or --duration)
  --no-anomalies           inject none
  --anomaly-kinds <list>   subset of ${ANOMALY_KINDS.join(',')}
  --truth <file>           ground truth JSONL, one line per anomaly as it starts
  --bad-ratio <r>          fraction 0..1 of samples sent malformed (default 0)
  --bad-kinds <list>       subset of ${BAD_KINDS.join(',')}
                           (sparkplug: ${SPARKPLUG_BAD_KINDS.join(',')}, undecodable bytes on DDATA)
Output:
  --json                   summary as one JSON line on stdout
  --progress <s>           seconds between progress lines on stderr (default 5)
  -h, --help               show this help

Sampling interval per sensor (event time) = sensors × speed / rate seconds.
`

const FLAGS: Record<string, string> = {
  url: '--url',
  format: '--format',
  sparkplugGroup: '--sparkplug-group',
  sparkplugKeepAliveAtEnd: '--sparkplug-keep-alive-at-end',
  prefix: '--prefix',
  site: '--site',
  lines: '--lines',
  machines: '--machines',
  sensors: '--sensors',
  seed: '--seed',
  startTs: '--start',
  speed: '--speed',
  ratePerS: '--rate',
  durationS: '--duration',
  count: '--count',
  window: '--window',
  badRatio: '--bad-ratio',
  badKinds: '--bad-kinds',
  anomalies: '--anomalies',
  anomalyKinds: '--anomaly-kinds',
  timeZone: '--tz',
  shifts: '--shifts',
  breaks: '--breaks',
  weekends: '--weekends',
  truthFile: '--truth',
  clientId: '--client-id',
  username: '--username',
  password: '--password',
  progressIntervalMs: '--progress',
}

class UsageError extends Error {}

export async function simulateCommand(args: string[], io: SimulateIo): Promise<number> {
  let input: SimulationInput
  let json: boolean
  try {
    const parsed = parseCliOptions(args, io)
    if (parsed === 'help') {
      io.stdout.write(SIMULATE_USAGE)
      return 0
    }
    ;({ input, json } = parsed)
    const check = simulationOptionsSchema.safeParse(input)
    if (!check.success) {
      const issue = check.error.issues[0]
      const [field, ...rest] = issue?.path ?? []
      const flag = FLAGS[String(field)] ?? String(field)
      throw new UsageError(`${flag}${rest.length > 0 ? `[${rest.join('.')}]` : ''}: ${issue?.message ?? 'invalid'}`)
    }
  } catch (err) {
    if (err instanceof UsageError || (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))) {
      io.stderr.write(`shiftscribe simulate: ${err.message}\nRun "shiftscribe simulate --help" for the options.\n`)
      return 2
    }
    throw err
  }

  const controller = new AbortController()
  const onSignal = () => {
    io.stderr.write('simulate: stopping (waiting for outstanding PUBACKs)…\n')
    controller.abort()
  }
  let signal = io.signal
  if (signal === undefined) {
    signal = controller.signal
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
  }
  const cpuBefore = process.cpuUsage()
  let result: SimulationResult
  try {
    result = await runSimulation(input, {
      ...(io.connect === undefined ? {} : { connect: io.connect }),
      signal,
      onProgress: (p) => io.stderr.write(progressLine(p)),
      onWarning: (message) => io.stderr.write(`simulate: ${message}\n`),
    })
  } catch (err) {
    io.stderr.write(`shiftscribe simulate: ${describeError(err)}\n`)
    return 1
  } finally {
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
  }
  const cpu = process.cpuUsage(cpuBefore)
  const cpuSeconds = (cpu.user + cpu.system) / 1e6
  const { truth, ...summary } = result
  const report = {
    ...summary,
    cpuSeconds: Math.round(cpuSeconds * 100) / 100,
    cpuPercent: summary.wallSeconds > 0 ? Math.round((cpuSeconds / summary.wallSeconds) * 100) : 0,
    truthFile: input.truthFile ?? null,
  }
  if (json) {
    io.stdout.write(`${JSON.stringify(report)}\n`)
  } else {
    io.stdout.write(humanSummary(report, truth.length))
  }
  return result.failed === 0 && result.unacked === 0 ? 0 : 1
}

function parseCliOptions(args: string[], io: SimulateIo): 'help' | { input: SimulationInput; json: boolean } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      url: { type: 'string' },
      format: { type: 'string' },
      'sparkplug-group': { type: 'string' },
      'sparkplug-keep-alive-at-end': { type: 'boolean' },
      'client-id': { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      window: { type: 'string' },
      prefix: { type: 'string' },
      site: { type: 'string' },
      lines: { type: 'string' },
      machines: { type: 'string' },
      sensors: { type: 'string' },
      seed: { type: 'string' },
      start: { type: 'string' },
      speed: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      count: { type: 'string' },
      tz: { type: 'string' },
      shifts: { type: 'string' },
      breaks: { type: 'string' },
      weekends: { type: 'boolean' },
      anomalies: { type: 'string' },
      'no-anomalies': { type: 'boolean' },
      'anomaly-kinds': { type: 'string' },
      truth: { type: 'string' },
      'bad-ratio': { type: 'string' },
      'bad-kinds': { type: 'string' },
      json: { type: 'boolean' },
      progress: { type: 'string' },
    },
  })
  if (values.help) return 'help'
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`)
  if (values['no-anomalies'] && values.anomalies !== undefined) throw new UsageError('--anomalies and --no-anomalies exclude each other')

  const input: SimulationInput = {}
  const num = (flag: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined
    const n = Number(text)
    if (text.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${flag}: "${text}" is not a number`)
    return n
  }
  const set = <K extends keyof SimulationInput>(key: K, value: SimulationInput[K] | undefined): void => {
    if (value !== undefined) input[key] = value
  }
  set('url', values.url)
  if (values.format !== undefined) {
    if (!(PAYLOAD_FORMATS as readonly string[]).includes(values.format)) throw new UsageError(`--format: unknown "${values.format}"; choose from ${PAYLOAD_FORMATS.join(', ')}`)
    set('format', values.format as PayloadFormat)
  }
  set('sparkplugGroup', values['sparkplug-group'])
  set('sparkplugKeepAliveAtEnd', values['sparkplug-keep-alive-at-end'])
  set('clientId', values['client-id'])
  set('username', values.username)
  set('password', values.password ?? io.env.SHIFTSCRIBE_SIMULATE_PASSWORD)
  set('window', num('--window', values.window))
  set('prefix', values.prefix)
  set('site', values.site)
  set('lines', num('--lines', values.lines))
  set('machines', num('--machines', values.machines))
  set('sensors', list(values.sensors, '--sensors', SENSOR_NAMES, isSensorName) as SensorName[] | undefined)
  if (values.seed !== undefined) set('seed', /^-?\d+$/.test(values.seed) ? Number(values.seed) : values.seed)
  if (values.start !== undefined) {
    const ts = Date.parse(values.start)
    if (Number.isNaN(ts)) throw new UsageError(`--start: "${values.start}" is not an ISO date-time, e.g. 2025-01-06T05:00:00Z`)
    set('startTs', ts)
  }
  set('speed', num('--speed', values.speed))
  set('ratePerS', num('--rate', values.rate))
  set('durationS', num('--duration', values.duration))
  set('count', num('--count', values.count))
  set('timeZone', values.tz)
  if (values.shifts !== undefined) set('shifts', parseShifts(values.shifts))
  if (values.breaks !== undefined) set('breaks', parseBreaks(values.breaks))
  set('weekends', values.weekends)
  if (values['no-anomalies']) set('anomalies', { mode: 'none' })
  if (values.anomalies !== undefined) set('anomalies', parseAnomalies(values.anomalies))
  set('anomalyKinds', list(values['anomaly-kinds'], '--anomaly-kinds', ANOMALY_KINDS, (s): s is AnomalyKind => (ANOMALY_KINDS as readonly string[]).includes(s)))
  set('truthFile', values.truth)
  set('badRatio', num('--bad-ratio', values['bad-ratio']))
  set('badKinds', list(values['bad-kinds'], '--bad-kinds', ALL_BAD_KINDS, (s): s is BadKind => (ALL_BAD_KINDS as readonly string[]).includes(s)))
  const progressS = num('--progress', values.progress)
  if (progressS !== undefined) set('progressIntervalMs', Math.round(progressS * 1000))
  return { input, json: values.json ?? false }
}

function list<T extends string>(text: string | undefined, flag: string, all: readonly T[], is: (s: string) => s is T): T[] | undefined {
  if (text === undefined) return undefined
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const item of items) if (!is(item)) throw new UsageError(`${flag}: unknown "${item}"; choose from ${all.join(', ')}`)
  if (items.length === 0) throw new UsageError(`${flag}: needs at least one of ${all.join(', ')}`)
  return items as T[]
}

function parseShifts(text: string): { name: string; start: string; end: string }[] {
  return text.split(',').map((part, i) => {
    const m = /^(?:([A-Za-z0-9_.-]+)=)?(\d\d:\d\d)-(\d\d:\d\d)$/.exec(part.trim())
    if (!m) throw new UsageError(`--shifts: "${part}" is not like "early=06:00-14:00" or "06:00-14:00"`)
    return { name: m[1] ?? `shift${i + 1}`, start: m[2] as string, end: m[3] as string }
  })
}

function parseBreaks(text: string): { afterMinutes: number; minutes: number }[] {
  if (text.trim() === 'none') return []
  return text.split(',').map((part) => {
    const m = /^(\d+)\+(\d+)$/.exec(part.trim())
    if (!m) throw new UsageError(`--breaks: "${part}" is not like "240+30" (minutes after the shift start + minutes long)`)
    return { afterMinutes: Number(m[1]), minutes: Number(m[2]) }
  })
}

function parseAnomalies(text: string): SimulationInput['anomalies'] {
  const m = /^(\d+(?:\.\d+)?)(?:\/(shift|run))?$/.exec(text.trim())
  if (!m) throw new UsageError(`--anomalies: "${text}" is not like "0.5" (per machine per shift) or "12/run"`)
  const n = Number(m[1])
  if (m[2] === 'run') {
    if (!Number.isInteger(n)) throw new UsageError(`--anomalies: "${text}": a count per run must be a whole number`)
    return { mode: 'count', count: n }
  }
  return { mode: 'rate', perMachinePerShift: n }
}

function progressLine(p: PublishProgress): string {
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
  const readings = p.readings === p.published ? '' : ` readings ${fmt(p.readings)}`
  return `simulate: ${p.final ? 'done' : 'published'} ${fmt(p.published)} (${fmt(p.ratePerS)}/s)${readings} in flight ${fmt(p.inFlight)} bad ${fmt(p.bad)}${p.failed > 0 ? ` failed ${fmt(p.failed)}` : ''} event ${new Date(p.eventTs).toISOString()}\n`
}

function humanSummary(r: Omit<SimulationResult, 'truth'> & { cpuSeconds: number; cpuPercent: number; truthFile: string | null }, anomalies: number): string {
  const rows: [string, string][] = [
    ['published (PUBACKed)', String(r.published)],
    ...(r.sparkplug === undefined
      ? [['  good readings', String(r.good)] as [string, string]]
      : ([
          ['  with readings', `${r.good} (DBIRTH, DDATA)`],
          ['  births/deaths', `${r.control} (NBIRTH, DDEATH, NDEATH)`],
        ] as [string, string][])),
    ['  bad payloads', String(r.bad)],
    ...Object.entries(r.badByKind)
      .filter(([, n]) => n > 0)
      .map(([k, n]): [string, string] => [`    ${k}`, String(n)]),
    ...(r.sparkplug === undefined
      ? []
      : ([
          ['readings', `${r.readings} (metric values, births included)`],
          [
            'sparkplug',
            `group ${r.sparkplug.group}, ${r.sparkplug.edgeNodes} edge nodes, ${r.sparkplug.devices} devices; births ${r.sparkplug.nbirths} N / ${r.sparkplug.dbirths} D, deaths ${r.sparkplug.ndeaths} N / ${r.sparkplug.ddeaths} D, rebirths answered ${r.sparkplug.rebirths}`,
          ],
        ] as [string, string][])),
    ['failed / unacked', `${r.failed} / ${r.unacked}`],
    ['anomalies injected', `${anomalies}${r.truthFile === null ? '' : ` (truth: ${r.truthFile})`}`],
    ['wall time', `${r.wallSeconds.toFixed(1)} s, ${r.ratePerS}/s, CPU ${r.cpuPercent} %`],
    ['event time', `${r.eventStart} → ${r.eventEnd} (speed ${r.speed}, every ${r.intervalMs.toFixed(1)} ms per sensor)`],
    ['stopped by', r.stoppedBy],
    ['reconnects', String(r.reconnects)],
  ]
  const width = Math.max(...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}\n`).join('')
}
