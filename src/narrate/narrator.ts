// The narrator: turns shift closes and anomaly opens into narratives. For each job it computes
// the facts, renders the template first, then lets the model try (one retry) within the job's
// deadline; a model text is kept only when grounding.ts finds every number in the facts. So a
// narrative is always published, and only a grounded or a template one.
import { Counter, Gauge, type Registry } from 'prom-client'
import { describeError, GatewayError } from '../errors.js'
import type { Log } from '../log.js'
import type { Health, Service } from '../service.js'
import type { ShiftKpis } from '../shifts/kpis.js'
import { createNarrativeStore, type NarrativeStore } from '../store/narratives.js'
import type { StateDb } from '../store/state-db.js'
import type { Clock } from '../util/clock.js'
import type { LlmEngine } from './engine.js'
import { incidentFacts, recentFacts, shiftFacts, type FactsOptions } from './facts.js'
import { checkGrounding } from './grounding.js'
import { createNarrateQueue, type Job, type JobKind } from './queue.js'
import { renderTemplate } from './template.js'
import type { FactSet, Generator, GroundingReport, Narrative, NarrativeText, TemplateReason } from './types.js'

export interface NarratorSettings {
  deadlineMs: number
  maxQueue: number
  catchUpHours: number
}

export interface NarratorOptions {
  db: StateDb
  engine: LlmEngine
  facts: FactsOptions
  settings: NarratorSettings
  /** Where narratives are published (through the outbox); omit to only store them. */
  publish?: { topic: string }
  log: Log
  clock: Clock
  registry?: Registry
  /** Called after a narrative was queued in the outbox (wakes the outbox pump). */
  onOutbox?: () => void
  /** Called after each stored narrative (the page's live updates). */
  onWritten?: (n: Narrative) => void
}

/** What the aggregator reports after each batch or tick. */
export interface AppliedEvents {
  anomalies: readonly { id: string; state: 'open' | 'closed'; line: string; machine: string; startedAt: number }[]
  closedShifts: readonly Pick<ShiftKpis, 'shift'>[]
}

export interface NarratorStatus {
  queue: { depth: number; enqueued: number; superseded: number; evicted: number }
  written: { llm: number; template: number }
  templateReasons: Partial<Record<TemplateReason, number>>
  running?: string
  lastNarrativeAt?: number
  lastError?: string
}

export interface WriteOptions {
  /** Overrides the configured deadline (ms from the start of the job). */
  deadlineMs?: number
  /** false: the template only. */
  llm?: boolean
  /** Store and publish (default true). */
  save?: boolean
  /** The deterministic text behind the model (default: the shift or incident template of the set). */
  template?: NarrativeText
  /** Its place in the line for the model (default shift, the lowest): incident > question > shift. */
  priority?: JobKind
}

export interface Narrator extends Service {
  /** Hands the aggregator's events to the narrator (never blocks, never throws). */
  notify(events: AppliedEvents): void
  /** Writes one narrative now (outside the queue): the CLI, the benchmark, tests. */
  write(set: FactSet, options?: WriteOptions): Promise<Narrative>
  status(): NarratorStatus
  /** Resolves when the queue is empty and no job runs (tests, graceful stop). */
  idle(): Promise<void>
  /** Writes a stored narrative again from fresh facts (same id); undefined when the id is unknown. */
  regenerate(id: string): Promise<Narrative | undefined>
}

const textOf = (t: NarrativeText): string => [t.headline, t.body, ...t.highlights].join('\n')

export function createNarrator(options: NarratorOptions): Narrator {
  const { db, engine, clock } = options
  const log = options.log.child({ stage: 'narrate' })
  const store: NarrativeStore = createNarrativeStore(db)
  const queue = createNarrateQueue(options.settings.maxQueue)
  const status: NarratorStatus = { queue: queue.stats(), written: { llm: 0, template: 0 }, templateReasons: {} }
  const knownNamesQuery = db.prepare('SELECT DISTINCT line, machine, sensor FROM sensors')
  const anomalyStart = db.prepare('SELECT started_at AS startedAt FROM anomalies WHERE id = ?')
  let stopped = true
  let wake: (() => void) | undefined
  let worker: Promise<void> | undefined
  let idleWaiters: (() => void)[] = []

  const metrics = options.registry
    ? {
        written: new Counter({ name: 'shiftscribe_narratives_total', help: 'Narratives written, by kind and generator (llm or template:<reason>)', labelNames: ['kind', 'generator'], registers: [options.registry] }),
        depth: new Gauge({ name: 'shiftscribe_narrate_queue_depth', help: 'Narrative jobs waiting', registers: [options.registry] }),
        pushedOut: new Counter({ name: 'shiftscribe_narrate_jobs_pushed_out_total', help: 'Jobs replaced by a newer incident on the same machine, or evicted from a full queue', labelNames: ['why'], registers: [options.registry] }),
      }
    : undefined

  function knownNames(): string[] {
    const names = new Set<string>()
    for (const r of knownNamesQuery.iterate() as IterableIterator<{ line: string; machine: string; sensor: string }>) {
      names.add(r.line)
      names.add(r.machine)
      names.add(r.sensor)
    }
    return [...names]
  }

  function record(n: Narrative, save: boolean): Narrative {
    if (n.generator.type === 'llm') status.written.llm++
    else {
      status.written.template++
      status.templateReasons[n.generator.reason] = (status.templateReasons[n.generator.reason] ?? 0) + 1
    }
    metrics?.written.inc({ kind: n.kind, generator: n.generator.type === 'llm' ? 'llm' : `template:${n.generator.reason}` })
    status.lastNarrativeAt = clock.now()
    if (save) {
      store.save(n, options.publish)
      if (options.publish) options.onOutbox?.()
      options.onWritten?.(n)
    }
    return n
  }

  function narrative(set: FactSet, text: NarrativeText, generator: Generator, grounding: GroundingReport): Narrative {
    return {
      id: set.id,
      kind: set.kind,
      site: set.site,
      scope: set.scope,
      periodStart: set.periodStart,
      periodEnd: set.periodEnd,
      ...text,
      facts: set.facts,
      generator,
      grounding,
      createdAt: clock.now(),
    }
  }

  /** The top anomaly must be reported: a text that does not name its sensor is not good enough. */
  function missesTopAnomaly(set: FactSet, text: NarrativeText): boolean {
    const primary = set.facts.find((f) => f.id === set.primaryFactId)
    if (primary !== undefined) {
      // The value, and for a machine or sensor the machine it is about ("line1/m3 had the most").
      const about = primary.scope.includes('/') ? primary.scope.split('/').slice(0, 2).join('/').toLowerCase() : undefined
      const all = textOf(text)
      if (!all.includes(primary.display) || (about !== undefined && !all.toLowerCase().includes(about))) return true
    }
    const top = set.facts.find((f) => f.id === set.topAnomalyFactId)
    if (top === undefined) return false
    // Its sensor, or for a machine-level anomaly (offline) its machine.
    const [, machine, sensor] = top.scope.split('/')
    const name = sensor ?? machine
    return name !== undefined && !textOf(text).toLowerCase().includes(name.toLowerCase())
  }

  async function write(set: FactSet, opts: WriteOptions = {}): Promise<Narrative> {
    const save = opts.save ?? true
    const names = knownNames()
    const template = opts.template ?? renderTemplate(set)
    const templateGrounding = checkGrounding(textOf(template), set, { knownNames: names })
    if (!templateGrounding.ok) log.warn({ id: set.id, unmatched: templateGrounding.unmatched, unknownNames: templateGrounding.unknownNames }, 'template narrative failed its own grounding check (a bug); publishing it anyway')
    const fallback = (reason: TemplateReason, detail?: string) =>
      record(narrative(set, template, { type: 'template', reason, ...(detail !== undefined ? { detail: detail.slice(0, 500) } : {}) }, templateGrounding), save)

    if (opts.llm === false) return fallback('llm_disabled')
    if (engine.info().state === 'loading') await engine.whenLoaded()
    const info = engine.info()
    if (info.state === 'disabled') return fallback('llm_disabled')
    if (info.state !== 'ready') return fallback('llm_unavailable', info.reason)

    const controller = new AbortController()
    const deadlineMs = opts.deadlineMs ?? options.settings.deadlineMs
    const timer = clock.setTimeout(() => controller.abort(), deadlineMs)
    const started = clock.now()
    let reason: TemplateReason = 'llm_error'
    let detail: string | undefined
    let promptTokens = 0
    let outputTokens = 0
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          const res = await engine.generate(set, { signal: controller.signal, attempt, priority: opts.priority ?? 'shift' })
          promptTokens += res.promptTokens
          outputTokens += res.outputTokens
          const grounding = checkGrounding(textOf(res.text), set, { knownNames: names })
          if (grounding.ok && !missesTopAnomaly(set, res.text)) {
            const generator: Generator = { type: 'llm', model: info.model ?? 'unknown', mode: res.mode, attempts: attempt + 1, promptTokens, outputTokens, ms: Math.round(clock.now() - started) }
            return record(narrative(set, res.text, generator, grounding), save)
          }
          reason = 'ungrounded'
          detail = grounding.ok ? (set.primaryFactId !== undefined ? 'does not state the answer' : 'does not mention the top anomaly') : [...grounding.unmatched, ...grounding.unknownNames.map((n) => `unknown name ${n}`)].join('; ')
          log.info({ id: set.id, attempt, detail }, 'model text not grounded')
        } catch (err) {
          if (err instanceof GatewayError && err.code === 'LLM_TIMEOUT') {
            reason = 'deadline'
            detail = `not done within ${deadlineMs} ms`
            break
          }
          if (err instanceof GatewayError && err.code === 'LLM_INVALID_OUTPUT') {
            reason = 'invalid_output'
            detail = err.message
            continue
          }
          reason = 'llm_error'
          detail = describeError(err)
          status.lastError = detail
          log.warn({ id: set.id, err: detail }, 'LLM failed')
          break
        }
      }
    } finally {
      clock.clearTimeout(timer)
    }
    return fallback(reason, detail)
  }

  function templateFor(job: Job, reason: TemplateReason, detail: string): void {
    try {
      const set = factsFor(job)
      if (set === undefined) return
      const names = knownNames()
      const text = renderTemplate(set)
      record(narrative(set, text, { type: 'template', reason, detail }, checkGrounding(textOf(text), set, { knownNames: names })), true)
    } catch (err) {
      log.error({ job: job.key, err: describeError(err) }, 'cannot write a template narrative')
    }
  }

  function factsFor(job: Job): FactSet | undefined {
    return job.kind === 'shift' ? shiftFacts(db, job.ref, options.facts) : job.kind === 'incident' ? incidentFacts(db, job.ref, options.facts) : undefined
  }

  function sameIncident(a: Job, b: Job): boolean {
    const sa = anomalyStart.get(a.ref) as { startedAt: number } | undefined
    const sb = anomalyStart.get(b.ref) as { startedAt: number } | undefined
    return sa !== undefined && sb !== undefined && Math.abs(sa.startedAt - sb.startedAt) <= options.facts.coalesceWindowMs
  }

  function enqueue(job: Job): void {
    const { replaced, evicted } = queue.push(job)
    if (replaced) {
      metrics?.pushedOut.inc({ why: 'replaced' })
      // A newer anomaly in the same burst regenerates the same incident; another burst gets its template now.
      if (replaced.kind === 'incident' && !sameIncident(replaced, job)) templateFor(replaced, 'superseded', 'a newer incident on the same machine took its place in the queue')
    }
    if (evicted) {
      metrics?.pushedOut.inc({ why: 'evicted' })
      templateFor(evicted, 'superseded', 'the narrate queue was full')
    }
    metrics?.depth.set(queue.size())
    wake?.()
  }

  async function loop(): Promise<void> {
    while (!stopped) {
      const job = queue.take()
      metrics?.depth.set(queue.size())
      if (job === undefined) {
        for (const w of idleWaiters.splice(0)) w()
        await new Promise<void>((resolve) => (wake = resolve))
        wake = undefined
        continue
      }
      status.running = job.key
      try {
        const set = factsFor(job)
        if (set === undefined) log.warn({ job: job.key, ref: job.ref }, 'nothing to narrate: the shift or anomaly is not in the state database')
        else {
          const n = await write(set, { priority: job.kind })
          log.info({ id: n.id, generator: n.generator.type === 'llm' ? `llm ${n.generator.ms} ms` : `template (${n.generator.reason})` }, 'narrative written')
        }
      } catch (err) {
        status.lastError = describeError(err)
        log.error({ job: job.key, err: status.lastError }, 'narrative job failed')
      } finally {
        status.running = undefined
      }
    }
    for (const w of idleWaiters.splice(0)) w()
  }

  /** Narratives still missing from the last catchUpHours (e.g. the gateway was down at a shift close). */
  function catchUp(): void {
    const horizonMs = options.settings.catchUpHours * 3_600_000
    if (horizonMs <= 0) return
    const eventNow = (db.prepare('SELECT max(last_ts) AS t FROM sensors').get() as { t: number | null }).t ?? clock.now()
    const since = eventNow - horizonMs
    const shifts = db.prepare('SELECT id FROM shifts WHERE end_ts >= ? ORDER BY end_ts').all(since) as { id: string }[]
    for (const s of shifts) if (!store.has(`shift/${s.id}`)) enqueue({ kind: 'shift', key: `shift:${s.id}`, ref: s.id, enqueuedAt: clock.now() })
    const newest = db
      .prepare(
        `SELECT a.id, a.line, a.machine, a.started_at AS startedAt FROM anomalies a
          WHERE a.started_at >= ? AND a.started_at = (SELECT max(b.started_at) FROM anomalies b WHERE b.line = a.line AND b.machine = a.machine)
          ORDER BY a.started_at`,
      )
      .all(since) as { id: string; line: string; machine: string; startedAt: number }[]
    const covered = db.prepare("SELECT 1 FROM narratives WHERE kind = 'incident' AND scope = ? AND period_start <= ? AND period_end >= ?")
    for (const a of newest) {
      if (covered.get(`${a.line}/${a.machine}`, a.startedAt, a.startedAt) === undefined) {
        enqueue({ kind: 'incident', key: `incident:${a.line}/${a.machine}`, ref: a.id, enqueuedAt: clock.now() })
      }
    }
    if (queue.size() > 0) log.info({ jobs: queue.size() }, 'writing narratives missed while the gateway was down')
  }

  return {
    name: 'narrate',
    async start() {
      stopped = false
      catchUp()
      worker = loop()
    },
    async stop() {
      if (stopped) return
      stopped = true
      wake?.()
      // The running job ends at the latest at its deadline.
      await worker
      worker = undefined
    },
    health(): Health {
      const llm = engine.health().detail
      return { ok: !stopped, detail: `${llm}; queue ${queue.size()}; written ${status.written.llm} by the model, ${status.written.template} by the template` }
    },
    notify(events) {
      if (stopped) return
      try {
        for (const s of events.closedShifts) enqueue({ kind: 'shift', key: `shift:${s.shift.id}`, ref: s.shift.id, enqueuedAt: clock.now() })
        for (const a of events.anomalies) {
          if (a.state === 'open') enqueue({ kind: 'incident', key: `incident:${a.line}/${a.machine}`, ref: a.id, enqueuedAt: clock.now() })
        }
      } catch (err) {
        log.error({ err: describeError(err) }, 'cannot queue narrative jobs')
      }
    },
    write,
    async regenerate(id) {
      const stored = store.get(id)
      if (stored === undefined) return undefined
      let set: FactSet | undefined
      if (id.startsWith('shift/')) set = shiftFacts(db, id.slice('shift/'.length), options.facts)
      else if (id.startsWith('period/')) set = recentFacts(db, stored.periodStart, stored.periodEnd, options.facts)
      else if (stored.kind === 'incident') {
        const [line, machine] = stored.scope.split('/')
        const first = db
          .prepare('SELECT id FROM anomalies WHERE line = ? AND machine = ? AND started_at >= ? AND started_at <= ? ORDER BY started_at, id LIMIT 1')
          .get(line, machine, stored.periodStart, stored.periodEnd) as { id: string } | undefined
        if (first) set = incidentFacts(db, first.id, options.facts)
      }
      return set === undefined ? undefined : write(set)
    },
    status: () => ({ ...status, queue: queue.stats() }),
    idle() {
      if (queue.size() === 0 && status.running === undefined) return Promise.resolve()
      return new Promise((resolve) => idleWaiters.push(resolve))
    },
  }
}
