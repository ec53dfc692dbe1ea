// npm run bench:narrate [-- --json] [-- --threads 2] [-- --modes plan,free] [-- --n 20] [-- --ask-rounds 4]
//
// The narrate pipeline on seeded facts: 20 shift narratives (real closed shifts; 2-hour period
// summaries only top up an --n above 21) and 20 incident
// narratives, written exactly as the gateway writes them (facts → template → model → grounding
// → one retry → template), in each mode; and the same model's raw speed through node-llama-cpp
// alone (the same facts on a fresh sequence, no grammar, no chat template), measured right
// after each job of the first mode so that both see the same load.
// Then, on the same engine and narrator in the mode `auto` picks, the question agent: a fixed list of
// questions (every intent, one that cannot be answered) asked --ask-rounds times on the same seeded
// plant at Tuesday 07:00 (after a night shift, inside an early shift), each timed from ask() to
// its answer. Latency and the model's share count answers from data; "cannot tell" answers
// (unresolved questions, no model involved) are counted apart.
// The JSON's top level is the mode `auto` picks for the model; `modes` has every mode measured.
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { getLlama, LlamaCompletion, LlamaLogLevel } from 'node-llama-cpp'
import { createAsker } from '../src/ask/asker.js'
import type { AnswerMessage } from '../src/bus/messages.js'
import { silentLogger } from '../src/log.js'
import { createLlmEngine, type LlmEngine, type LlmResult } from '../src/narrate/engine.js'
import { incidentFacts, recentFacts, shiftFacts, type FactsOptions } from '../src/narrate/facts.js'
import { createNarrator } from '../src/narrate/narrator.js'
import { renderTemplate } from '../src/narrate/template.js'
import type { FactSet, Narrative } from '../src/narrate/types.js'
import type { ShiftCalendar } from '../src/shifts/shift-calendar.js'
import { seedFactsOptions, seedStateDb } from '../src/simulate/seed-state.js'
import type { StateDb } from '../src/store/state-db.js'
import { systemClock, type Clock } from '../src/util/clock.js'

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    threads: { type: 'string', default: '2' },
    modes: { type: 'string', default: 'plan,free' },
    n: { type: 'string', default: '20' },
    'ask-rounds': { type: 'string', default: '4' },
    model: { type: 'string', default: 'models/SmolLM2-135M-Instruct.Q4_1.gguf' },
    verbose: { type: 'boolean', default: false },
  },
})
// Capped at the core count as the engine caps it, so the raw meter runs with the same threads.
const threads = Math.max(1, Math.min(Number(args.threads), availableParallelism()))
if (!Number.isInteger(Number(args.threads)) || Number(args.threads) < 1) throw new Error(`--threads must be a whole number ≥ 1, not ${args.threads}`)
const N = Number(args.n)
const modes = args.modes.split(',').map((m) => m.trim()) as ('plan' | 'free')[]
const askRounds = Number(args['ask-rounds'])
if (!Number.isInteger(askRounds) || askRounds < 1) throw new Error(`--ask-rounds must be a whole number ≥ 1, not ${args['ask-rounds']}`)
const say = (s: string) => process.stderr.write(`[bench:narrate] ${s}\n`)

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? 0
}
const r1 = (x: number) => Math.round(x * 10) / 10
const r3 = (x: number) => Math.round(x * 1000) / 1000
/** The narrator's deadline, and the question agent's (the gateway gives both the same budget). */
const DEADLINE_MS = 30_000

/** One question per intent (two for max and mean), over lines, machines, sensors and windows, and one the data cannot answer. */
const QUESTIONS = [
  'What was the highest spindle temperature on line 2 machine 3 in the last night shift?',
  'Which machine had the most anomalies today?',
  'How many parts did line 1 make this shift?',
  'average vibration of line1/m2 in the last 2 hours',
  'lowest pressure on line 2 yesterday',
  'What is the reject rate on line 2 this shift?',
  'How many rejects did line1 m1 have in the last night shift?',
  'How many anomalies were there on line 1 in the last 8 hours?',
  'Which machine made the most parts yesterday?',
  'Summarize line 2 machine 1 for the last night shift',
  'What was the maximum spindle speed on line 1 machine 3 in the last hour?',
  'average spindle temperature on line 2 today',
  'How hot is the welding robot on line 7?',
] as const
/** "Now" for the questions: Tuesday 07:00 UTC of the seeded week (the night shift is over, the early shift an hour old). */
const ASK_NOW = Date.UTC(2026, 10, 24, 7)

function factSets(dir: string): { sets: FactSet[]; db: StateDb; options: FactsOptions; calendar: ShiftCalendar } {
  // Monday 05:30 to Wednesday 07:30: also the night shift and the early shift the questions ask about.
  say('seeding a state database from the simulated plant (2 days, 2 lines × 3 machines)')
  const seeded = seedStateDb({ file: join(dir, 'state.db'), hours: 50, sampleEveryS: 20, anomaliesPerMachinePerShift: 3 })
  const options: FactsOptions = seedFactsOptions(seeded)
  // Real shifts for the shift narratives: a second plant run (Monday 16th 05:30 to Wednesday
  // 25th 07:30: seven working days, 21 closed shifts; the calendar has no weekend shifts), same
  // seed and sampling.
  say('seeding a second state database over seven working days, for 21 closed shifts')
  const week = seedStateDb({ file: join(dir, 'week.db'), startTs: Date.UTC(2026, 10, 16, 5, 30), hours: 9 * 24 + 2, sampleEveryS: 20, anomaliesPerMachinePerShift: 3 })
  const weekOptions = seedFactsOptions(week)
  const shifts: FactSet[] = []
  for (const { id } of week.db.prepare('SELECT id FROM shifts ORDER BY start_ts').all() as { id: string }[]) {
    const set = shiftFacts(week.db, id, weekOptions)
    if (set) shifts.push(set)
  }
  const realShifts = shifts.length
  // Only for --n above that: top up with 2-hour period summaries (the `summarize --last 2h` kind).
  const first = Date.UTC(2026, 10, 23, 8, 0)
  for (let h = 0; shifts.length < N; h += 2) shifts.push(recentFacts(seeded.db, first + h * 3_600_000, first + (h + 2) * 3_600_000, options))
  const incidents = new Map<string, FactSet>()
  for (const { id } of seeded.db.prepare('SELECT id FROM anomalies ORDER BY started_at').all() as { id: string }[]) {
    const set = incidentFacts(seeded.db, id, options)
    if (set && !incidents.has(set.id)) incidents.set(set.id, set)
    if (incidents.size >= N) break
  }
  if (incidents.size < N) throw new Error(`only ${incidents.size} distinct incidents in the seeded run`)
  say(`${seeded.readings + week.readings} readings, ${Math.min(realShifts, N)} shift and ${Math.max(0, N - realShifts)} period fact sets, ${incidents.size} incident fact sets`)
  return { sets: [...shifts.slice(0, N), ...incidents.values()], db: seeded.db, options, calendar: seeded.calendar }
}

interface ModeResult {
  model: string
  mode: string
  p50_ms: number
  p95_ms: number
  prompt_tps: number
  gen_tps: number
  grounded_ratio: number
  fallback_ratio: number
  llm_share: number
  template_reasons: Record<string, number>
  narratives: number
}

interface AskResult {
  ask_p50_ms: number
  ask_p95_ms: number
  /** Of the answers from data (not "cannot tell"), the share the model wrote, percent. */
  ask_by_model_pct: number
  /** Of all answers, the share whose grounding check passed, percent (must be 100). */
  ask_grounded_pct: number
  ask_answers: number
  ask_cannot_tell: number
  ask_template_reasons: Record<string, number>
  ask_mode: string
}

interface Plant {
  db: StateDb
  facts: FactsOptions
  calendar: ShiftCalendar
}

async function runMode(mode: 'plan' | 'free', sets: FactSet[], plant: Plant, raw?: RawMeter, ask?: { rounds: number }): Promise<{ result: ModeResult; ask?: AskResult }> {
  const { db, facts } = plant
  const base = createLlmEngine({ enabled: true, modelPath: args.model, threads, gpu: false, contextSize: 4096, mode, maxTokens: 400, log: silentLogger() })
  const calls: LlmResult[] = []
  // Records every model call the narrator makes (retries included).
  const engine: LlmEngine = {
    ...base,
    name: base.name,
    async generate(set, opts) {
      const r = await base.generate(set, opts)
      calls.push(r)
      return r
    },
  }
  await base.start()
  await base.whenLoaded()
  const info = base.info()
  if (info.state !== 'ready') throw new Error(`model not ready: ${info.reason ?? info.state}`)
  const narrator = createNarrator({
    db,
    engine,
    facts,
    settings: { deadlineMs: DEADLINE_MS, maxQueue: 64, catchUpHours: 0 },
    log: silentLogger(),
    clock: systemClock,
  })
  const times: number[] = []
  const out: Narrative[] = []
  for (const [i, set] of sets.entries()) {
    const t0 = performance.now()
    const n = await narrator.write(set, { save: false })
    times.push(performance.now() - t0)
    out.push(n)
    await raw?.measure(set)
    if (args.verbose) say(`${mode} ${n.id}: ${n.generator.type === 'llm' ? 'llm' : `template ${n.generator.reason}: ${n.generator.detail ?? ''}`}\n    ${n.headline}\n    ${n.body}`)
    if ((i + 1) % 10 === 0) say(`${mode}: ${i + 1}/${sets.length} narratives`)
  }
  const promptTokens = calls.reduce((a, c) => a + c.promptTokens, 0)
  const promptMs = calls.reduce((a, c) => a + c.promptMs, 0)
  const outTokens = calls.reduce((a, c) => a + c.outputTokens, 0)
  const genMs = calls.reduce((a, c) => a + (c.ms - c.promptMs), 0)
  const templates = out.filter((n) => n.generator.type === 'template')
  const reasons: Record<string, number> = {}
  for (const n of templates) if (n.generator.type === 'template') reasons[n.generator.reason] = (reasons[n.generator.reason] ?? 0) + 1
  // Published = grounded model text or a template; a model text is only ever kept when grounded.
  const publishable = out.filter((n) => n.generator.type === 'template' || n.grounding.ok).length
  const result: ModeResult = {
    model: info.model ?? args.model,
    mode,
    p50_ms: Math.round(pct(times, 50)),
    p95_ms: Math.round(pct(times, 95)),
    prompt_tps: r1((promptTokens / promptMs) * 1000),
    gen_tps: r1((outTokens / genMs) * 1000),
    grounded_ratio: r3(publishable / out.length),
    fallback_ratio: r3(templates.length / out.length),
    llm_share: r3(1 - templates.length / out.length),
    template_reasons: reasons,
    narratives: out.length,
  }
  try {
    return { result, ...(ask !== undefined ? { ask: await runAsks(mode, narrator, plant, ask.rounds) } : {}) }
  } finally {
    await base.stop()
  }
}

/** The question agent over the bench's narrator (so the same engine), each ask() timed to its answer. */
async function runAsks(mode: string, narrator: ReturnType<typeof createNarrator>, plant: Plant, rounds: number): Promise<AskResult> {
  const started = performance.now()
  // Tuesday 07:00 advancing with the wall clock, so that windows like "the last hour" move as in the gateway.
  const clock: Clock = { ...systemClock, now: () => ASK_NOW + Math.round(performance.now() - started) }
  const asker = createAsker({
    db: plant.db,
    narrator,
    facts: plant.facts,
    calendar: plant.calendar,
    settings: { maxQuestionChars: 500, maxQueue: 64, perAskerPerMinute: 10_000, deadlineMs: DEADLINE_MS },
    log: silentLogger(),
    clock,
  })
  await asker.start()
  say(`ask: ${rounds} round(s) of ${QUESTIONS.length} questions in ${mode} mode`)
  const fromData: { ms: number; answer: AnswerMessage }[] = []
  const all: AnswerMessage[] = []
  try {
    for (let round = 0; round < rounds; round++) {
      for (const question of QUESTIONS) {
        const t0 = performance.now()
        const answer = await asker.ask({ question, askedBy: 'bench' })
        const ms = performance.now() - t0
        all.push(answer)
        // "Cannot tell": the question did not resolve, so no facts and no model.
        if (answer.understood !== null) fromData.push({ ms, answer })
        if (args.verbose) {
          const g = answer.generator
          say(`ask ${Math.round(ms)} ms ${g.type === 'llm' ? 'llm' : `template ${g.reason}${g.detail ? `: ${g.detail}` : ''}`}${answer.grounding.ok ? '' : ' UNGROUNDED'}: ${question}\n    ${answer.headline}\n    ${answer.body}`)
        }
      }
      say(`ask: ${round + 1}/${rounds} rounds`)
    }
  } finally {
    await asker.stop()
  }
  const reasons: Record<string, number> = {}
  for (const { answer } of fromData) if (answer.generator.type === 'template') reasons[answer.generator.reason] = (reasons[answer.generator.reason] ?? 0) + 1
  const times = fromData.map((a) => a.ms)
  const byModel = fromData.filter((a) => a.answer.generator.type === 'llm').length
  const grounded = all.filter((a) => a.grounding.ok).length
  if (grounded < all.length) say(`ask: ${all.length - grounded} of ${all.length} answers NOT grounded`)
  return {
    ask_p50_ms: Math.round(pct(times, 50)),
    ask_p95_ms: Math.round(pct(times, 95)),
    ask_by_model_pct: fromData.length === 0 ? 0 : r1((byModel / fromData.length) * 100),
    ask_grounded_pct: all.length === 0 ? 0 : r1((grounded / all.length) * 100),
    ask_answers: fromData.length,
    ask_cannot_tell: all.length - fromData.length,
    ask_template_reasons: reasons,
    ask_mode: mode,
  }
}

/**
 * The model alone: the same facts text the pipeline evaluates for a job, on a fresh sequence
 * (nothing reused), evaluated without a chat template or grammar, then plain generation.
 * Measured right after each pipeline job of the first mode, so both see the same machine load.
 */
const PREFIX_TOKENS = 750

interface RawMeter {
  measure(set: FactSet): Promise<void>
  result(): { raw_prompt_tps: number; raw_gen_tps: number }
  close(): Promise<void>
}

async function rawMeter(): Promise<RawMeter> {
  const llama = await getLlama({ gpu: false, build: 'never', maxThreads: threads, logLevel: LlamaLogLevel.error })
  const model = await llama.loadModel({ modelPath: args.model })
  const context = await model.createContext({ contextSize: 4096, threads })
  let promptTokens = 0
  let promptMs = 0
  let genTokens = 0
  let genMs = 0
  const filler = model.tokenize('The plant report lists machines, sensors and their readings. '.repeat(200)).slice(0, PREFIX_TOKENS)
  return {
    async measure(set) {
      const byId = new Map(set.facts.map((f) => [f.id, f]))
      const lines = set.promptFactIds.map((id) => `- ${id}: ${byId.get(id)?.text ?? ''}`).join('\n')
      const text = `${set.title}.\nFacts (id: fact):\n${lines}\n\nPlan the summary.`
      const sequence = context.getSequence()
      const completion = new LlamaCompletion({ contextSequence: sequence })
      // The pipeline evaluates a job's facts after its cached prefix (system prompt and two
      // worked examples, about PREFIX_TOKENS): attention costs more deeper in the context, so
      // the raw run evaluates the same text at the same depth, after an untimed filler.
      await sequence.evaluateWithoutGeneratingNewTokens(filler)
      const tokens = model.tokenize(text)
      const t0 = performance.now()
      await sequence.evaluateWithoutGeneratingNewTokens(tokens)
      promptMs += performance.now() - t0
      promptTokens += tokens.length
      const outBefore = sequence.tokenMeter.usedOutputTokens
      let first = 0
      await completion.generateCompletion([...filler, ...tokens], {
        maxTokens: 64,
        temperature: 0,
        seed: 1,
        onToken: () => {
          if (first === 0) first = performance.now()
        },
      })
      const end = performance.now()
      // From the first generated token on: generation only.
      genTokens += Math.max(0, sequence.tokenMeter.usedOutputTokens - outBefore - 1)
      genMs += end - (first || end)
      completion.dispose()
      sequence.dispose()
    },
    result: () => ({ raw_prompt_tps: r1((promptTokens / promptMs) * 1000), raw_gen_tps: r1((genTokens / genMs) * 1000) }),
    async close() {
      await context.dispose()
      await model.dispose()
      await llama.dispose()
    },
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-bench-narrate-'))
  try {
    const { sets, db, options, calendar } = factSets(dir)
    // Templates: computed first for every narrative; the slowest of all sets (after a warm-up round).
    let templateMax = 0
    for (let k = 0; k < 5; k++) {
      for (const set of sets) {
        const t0 = performance.now()
        renderTemplate(set)
        if (k > 0) templateMax = Math.max(templateMax, performance.now() - t0)
      }
    }
    const results: ModeResult[] = []
    // The questions go to the engine in the mode `auto` picks (see below), after its narratives.
    const askMode = modes.includes('plan') ? 'plan' : modes[0]
    let ask: AskResult | undefined
    const raw = await rawMeter()
    for (const [i, mode] of modes.entries()) {
      say(`${mode} mode: ${sets.length} narratives with ${threads} thread(s)${i === 0 ? ', each followed by the raw model on the same facts' : ''}`)
      const run = await runMode(mode, sets, { db, facts: options, calendar }, i === 0 ? raw : undefined, mode === askMode ? { rounds: askRounds } : undefined)
      results.push(run.result)
      ask ??= run.ask
    }
    const rawSpeed = raw.result()
    await raw.close()
    db.close()
    // The mode `auto` would pick: plan below 1B parameters (this bench's default model is 135M).
    const autoMode = results.find((r) => r.mode === 'plan') ?? results[0]
    if (autoMode === undefined || ask === undefined) throw new Error('no mode measured')
    const { mode: _m, template_reasons: _t, narratives: _n, ...top } = autoMode
    void _m
    void _t
    void _n
    const result = { ...top, ...rawSpeed, template_ms: r3(templateMax), ...ask, mode: autoMode.mode, threads, modes: Object.fromEntries(results.map((r) => [r.mode, r])) }
    if (args.json) process.stdout.write(`${JSON.stringify(result)}\n`)
    else {
      const lines = [
        `model ${result.model}, ${threads} thread(s), ${sets.length} narratives per mode (${N} shift/period + ${N} incident)`,
        '',
        '| mode | p50 ms | p95 ms | prompt tok/s | gen tok/s | grounded or template | template (fallback) | LLM share | template reasons |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
        ...results.map((r) => `| ${r.mode} | ${r.p50_ms} | ${r.p95_ms} | ${r.prompt_tps} | ${r.gen_tps} | ${r.grounded_ratio} | ${r.fallback_ratio} | ${r.llm_share} | ${JSON.stringify(r.template_reasons)} |`),
        '',
        `raw node-llama-cpp: prompt ${rawSpeed.raw_prompt_tps} tok/s, generation ${rawSpeed.raw_gen_tps} tok/s`,
        `pipeline / raw (${autoMode.mode}): prompt ${r3(autoMode.prompt_tps / rawSpeed.raw_prompt_tps)}×, generation ${r3(autoMode.gen_tps / rawSpeed.raw_gen_tps)}×`,
        `template: slowest ${r3(templateMax)} ms (target ≤ 5 ms)`,
        '',
        `questions (${ask.ask_mode} mode, ${askRounds} round(s) × ${QUESTIONS.length} questions, deadline ${DEADLINE_MS} ms):`,
        '',
        '| answers from data | ask p50 ms | ask p95 ms | by the model % | grounded % | cannot tell | template reasons |',
        '| --- | --- | --- | --- | --- | --- | --- |',
        `| ${ask.ask_answers} | ${ask.ask_p50_ms} | ${ask.ask_p95_ms} | ${ask.ask_by_model_pct} | ${ask.ask_grounded_pct} | ${ask.ask_cannot_tell} | ${JSON.stringify(ask.ask_template_reasons)} |`,
        '',
      ]
      process.stdout.write(lines.join('\n'))
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`[bench:narrate] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(1)
  },
)
