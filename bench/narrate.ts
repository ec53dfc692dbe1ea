// npm run bench:narrate [-- --json] [-- --threads 2] [-- --modes plan,free] [-- --n 20]
//
// The narrate pipeline on seeded facts: 20 shift (and period) narratives and 20 incident
// narratives, written exactly as the gateway writes them (facts → template → model → grounding
// → one retry → template), in each mode; and the same model's raw speed through node-llama-cpp
// alone (the same facts on a fresh sequence, no grammar, no chat template), measured right
// after each job of the first mode so that both see the same load.
// The JSON's top level is the mode `auto` picks for the model; `modes` has every mode measured.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { getLlama, LlamaCompletion, LlamaLogLevel } from 'node-llama-cpp'
import { silentLogger } from '../src/log.js'
import { createLlmEngine, type LlmEngine, type LlmResult } from '../src/narrate/engine.js'
import { incidentFacts, recentFacts, shiftFacts, type FactsOptions } from '../src/narrate/facts.js'
import { createNarrator } from '../src/narrate/narrator.js'
import { renderTemplate } from '../src/narrate/template.js'
import type { FactSet, Narrative } from '../src/narrate/types.js'
import { seedFactsOptions, seedStateDb } from '../src/simulate/seed-state.js'
import type { StateDb } from '../src/store/state-db.js'
import { systemClock } from '../src/util/clock.js'

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    threads: { type: 'string', default: '2' },
    modes: { type: 'string', default: 'plan,free' },
    n: { type: 'string', default: '20' },
    model: { type: 'string', default: 'models/SmolLM2-135M-Instruct.Q4_1.gguf' },
    verbose: { type: 'boolean', default: false },
  },
})
const threads = Number(args.threads)
const N = Number(args.n)
const modes = args.modes.split(',').map((m) => m.trim()) as ('plan' | 'free')[]
const say = (s: string) => process.stderr.write(`[bench:narrate] ${s}\n`)

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? 0
}
const r1 = (x: number) => Math.round(x * 10) / 10
const r3 = (x: number) => Math.round(x * 1000) / 1000

function factSets(dir: string): { sets: FactSet[]; db: StateDb; options: FactsOptions } {
  say('seeding a state database from the simulated plant (2 days, 2 lines × 3 machines)')
  const seeded = seedStateDb({ file: join(dir, 'state.db'), hours: 50, sampleEveryS: 20, anomaliesPerMachinePerShift: 3 })
  const options: FactsOptions = seedFactsOptions(seeded)
  const shifts: FactSet[] = []
  for (const { id } of seeded.db.prepare('SELECT id FROM shifts ORDER BY start_ts').all() as { id: string }[]) {
    const set = shiftFacts(seeded.db, id, options)
    if (set) shifts.push(set)
  }
  // Top up with 2-hour period summaries (the `summarize --last 2h` kind) at different hours.
  const first = Date.UTC(2026, 10, 23, 8, 0)
  for (let h = 0; shifts.length < N; h += 2) shifts.push(recentFacts(seeded.db, first + h * 3_600_000, first + (h + 2) * 3_600_000, options))
  const incidents = new Map<string, FactSet>()
  for (const { id } of seeded.db.prepare('SELECT id FROM anomalies ORDER BY started_at').all() as { id: string }[]) {
    const set = incidentFacts(seeded.db, id, options)
    if (set && !incidents.has(set.id)) incidents.set(set.id, set)
    if (incidents.size >= N) break
  }
  if (incidents.size < N) throw new Error(`only ${incidents.size} distinct incidents in the seeded run`)
  say(`${seeded.readings} readings, ${shifts.length} shift/period fact sets, ${incidents.size} incident fact sets`)
  return { sets: [...shifts.slice(0, N), ...incidents.values()], db: seeded.db, options }
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

async function runMode(mode: 'plan' | 'free', sets: FactSet[], db: StateDb, facts: FactsOptions, raw?: RawMeter): Promise<ModeResult> {
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
    settings: { deadlineMs: 30_000, maxQueue: 64, catchUpHours: 0 },
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
  await base.stop()
  const promptTokens = calls.reduce((a, c) => a + c.promptTokens, 0)
  const promptMs = calls.reduce((a, c) => a + c.promptMs, 0)
  const outTokens = calls.reduce((a, c) => a + c.outputTokens, 0)
  const genMs = calls.reduce((a, c) => a + (c.ms - c.promptMs), 0)
  const templates = out.filter((n) => n.generator.type === 'template')
  const reasons: Record<string, number> = {}
  for (const n of templates) if (n.generator.type === 'template') reasons[n.generator.reason] = (reasons[n.generator.reason] ?? 0) + 1
  // Published = grounded model text or a template; a model text is only ever kept when grounded.
  const publishable = out.filter((n) => n.generator.type === 'template' || n.grounding.ok).length
  return {
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
    const { sets, db, options } = factSets(dir)
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
    const raw = await rawMeter()
    for (const [i, mode] of modes.entries()) {
      say(`${mode} mode: ${sets.length} narratives with ${threads} thread(s)${i === 0 ? ', each followed by the raw model on the same facts' : ''}`)
      results.push(await runMode(mode, sets, db, options, i === 0 ? raw : undefined))
    }
    const rawSpeed = raw.result()
    await raw.close()
    db.close()
    // The mode `auto` would pick: plan below 1B parameters (this bench's default model is 135M).
    const autoMode = results.find((r) => r.mode === 'plan') ?? results[0]
    if (autoMode === undefined) throw new Error('no mode measured')
    const { mode: _m, template_reasons: _t, narratives: _n, ...top } = autoMode
    void _m
    void _t
    void _n
    const result = { ...top, ...rawSpeed, template_ms: r3(templateMax), mode: autoMode.mode, threads, modes: Object.fromEntries(results.map((r) => [r.mode, r])) }
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
