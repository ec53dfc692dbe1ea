// `shiftscribe summarize`: a narrative on demand, for a shift or the last hours, written the way
// the gateway writes them (facts → model → grounding check → template fallback), stored in the
// state database and queued for factory.narratives (the running gateway publishes it).
import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { ConfigError, loadConfigFile, type Config } from '../config/load-config.js'
import { describeError } from '../errors.js'
import { narrateSetup, stateProcessing } from '../gateway.js'
import { createLogger } from '../log.js'
import { createLlmEngine } from '../narrate/engine.js'
import { periodFacts, recentFacts, shiftFacts } from '../narrate/facts.js'
import { createNarrator } from '../narrate/narrator.js'
import type { FactSet, Narrative } from '../narrate/types.js'
import { computeShiftKpis } from '../shifts/kpis.js'
import { openStateDb, type StateDb } from '../store/state-db.js'
import { systemClock } from '../util/clock.js'
import type { CliIo } from './run-cli.js'

const USAGE = `usage: shiftscribe summarize --config <file> (--shift <name> --date <YYYY-MM-DD> | --last <2h|90m>)
                            [--template-only] [--dry-run] [--deadline-ms <n>] [--json]
  --shift, --date    a shift of the calendar (closed: its stored KPIs; running: KPIs so far)
  --last             the last hours or minutes up to the newest reading
  --template-only    do not load the model
  --dry-run          print the narrative, do not store or publish it
`

/** "2h" → 7,200,000; "90m" (or "90min") → 5,400,000; "45s" → 45,000; undefined when malformed, zero or over 31 days. */
export function parseSpan(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(h|m|min|s)$/.exec(text.trim())
  if (!m) return undefined
  const n = Number(m[1])
  const ms = m[2] === 'h' ? n * 3_600_000 : m[2] === 's' ? n * 1000 : n * 60_000
  return ms > 0 && ms <= 31 * 86_400_000 ? ms : undefined
}

function factsForShift(db: StateDb, config: Config, name: string, date: string, setup: ReturnType<typeof narrateSetup>): FactSet | string {
  const id = `${date}/${name}`
  const closed = shiftFacts(db, id, setup.facts)
  if (closed !== undefined) return closed
  const calendar = stateProcessing(config).calendar
  const inst = calendar.byId(id)
  if (inst === undefined) {
    const names = config.shifts.definitions.map((d) => d.name).join(', ')
    return `no shift "${name}" on ${date} in the calendar (shifts: ${names}; dates like 2026-11-26)`
  }
  const kpis = computeShiftKpis(db, inst, setup.facts)
  const title = `${inst.name.charAt(0).toUpperCase()}${inst.name.slice(1)} shift ${inst.date} (so far)`
  return periodFacts(db, { kind: 'shift', id: `shift/${id}`, title, start: inst.startTs, end: inst.endTs, date: inst.date, machines: kpis.machines, sensors: kpis.sensors }, setup.facts)
}

function print(n: Narrative, io: CliIo): void {
  const g = n.generator
  io.stdout.write(`${n.headline}\n\n${n.body}\n\n${n.highlights.map((h) => `  • ${h}`).join('\n')}\n\n`)
  io.stdout.write(
    `id ${n.id} · ${g.type === 'llm' ? `written by ${g.model} (${g.mode} mode, ${g.attempts} attempt(s), ${g.ms} ms)` : `template (${g.reason}${g.detail ? `: ${g.detail}` : ''})`} · ` +
      `grounding: ${n.grounding.numbersChecked} numbers checked, ${n.grounding.unmatched.length + n.grounding.unknownNames.length} unmatched · ${n.facts.length} facts\n`,
  )
}

export async function summarizeCommand(args: string[], io: CliIo): Promise<number> {
  let values
  try {
    values = parseArgs({
      args,
      options: {
        config: { type: 'string', short: 'c' },
        shift: { type: 'string' },
        date: { type: 'string' },
        last: { type: 'string' },
        'template-only': { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        'deadline-ms': { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    }).values
  } catch (err) {
    io.stderr.write(`shiftscribe: summarize: ${describeError(err)}\n${USAGE}`)
    return 2
  }
  const byShift = values.shift !== undefined || values.date !== undefined
  if (values.config === undefined || byShift === (values.last !== undefined) || (byShift && (values.shift === undefined || values.date === undefined))) {
    io.stderr.write(USAGE)
    return 2
  }
  const span = values.last === undefined ? undefined : parseSpan(values.last)
  if (values.last !== undefined && span === undefined) {
    io.stderr.write(`shiftscribe: summarize: --last "${values.last}" is not a span like 2h, 90m or 45s of at most 31 days\n`)
    return 2
  }
  const deadlineMs = values['deadline-ms'] === undefined ? undefined : Number(values['deadline-ms'])
  if (deadlineMs !== undefined && !(Number.isInteger(deadlineMs) && deadlineMs > 0)) {
    io.stderr.write('shiftscribe: summarize: --deadline-ms must be a positive integer\n')
    return 2
  }
  let config: Config
  try {
    config = loadConfigFile(values.config, { env: io.env }).config
  } catch (err) {
    io.stderr.write(`${err instanceof ConfigError ? err.message : describeError(err)}\n`)
    return 2
  }
  if (!existsSync(config.store.file)) {
    io.stderr.write(`shiftscribe: summarize: no state database at ${config.store.file} (has the gateway run with aggregate.enabled?)\n`)
    return 1
  }
  const log = createLogger({ level: 'warn', stderr: true })
  const db = openStateDb(config.store.file, { synchronous: config.store.synchronous })
  const setup = narrateSetup(config, log)
  const engine = createLlmEngine({ ...setup.engine, enabled: setup.engine.enabled && !values['template-only'] })
  try {
    let set: FactSet | string
    if (span !== undefined) {
      const newest = (db.prepare('SELECT max(last_ts) AS t FROM sensors').get() as { t: number | null }).t
      if (newest === null) {
        io.stderr.write('shiftscribe: summarize: the state database has no readings yet\n')
        return 1
      }
      set = recentFacts(db, newest - span, newest, setup.facts)
    } else set = factsForShift(db, config, values.shift as string, values.date as string, setup)
    if (typeof set === 'string') {
      io.stderr.write(`shiftscribe: summarize: ${set}\n`)
      return 2
    }
    if (engine.info().state !== 'disabled') io.stderr.write(`loading the model ${config.llm.modelPath} …\n`)
    await engine.start()
    await engine.whenLoaded()
    const info = engine.info()
    if (info.state === 'unavailable') io.stderr.write(`the model is unavailable (${info.reason ?? '?'}); writing the template narrative\n`)
    else if (info.state === 'ready') io.stderr.write(`writing with ${info.model ?? '?'} (${info.mode} mode) …\n`)
    const narrator = createNarrator({
      db,
      engine,
      facts: setup.facts,
      settings: config.narrate,
      ...(values['dry-run'] ? {} : { publish: { topic: config.kafka.local.topics.narratives } }),
      log,
      clock: systemClock,
    })
    const n = await narrator.write(set, { save: !values['dry-run'], ...(deadlineMs !== undefined ? { deadlineMs } : {}) })
    if (values.json) io.stdout.write(`${JSON.stringify(n, null, 2)}\n`)
    else print(n, io)
    if (!values['dry-run']) io.stderr.write(`stored as ${n.id}; queued for ${config.kafka.local.topics.narratives} (the running gateway publishes it)\n`)
    return 0
  } catch (err) {
    io.stderr.write(`shiftscribe: summarize failed: ${describeError(err)}\n`)
    return 1
  } finally {
    await engine.stop().catch(() => undefined)
    db.close()
  }
}
