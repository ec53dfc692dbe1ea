// The narrator's decisions with a fake engine: retry, fallback reasons, the bounded queue under an
// anomaly storm, idempotent regeneration. (The real model is in test/integration/narrate.test.ts.)
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { narrativeMessageSchema } from '../bus/messages.js'
import { GatewayError } from '../errors.js'
import { silentLogger } from '../log.js'
import { seedFactsOptions, seedStateDb, type SeededState } from '../simulate/seed-state.js'
import { createNarrativeStore } from '../store/narratives.js'
import { systemClock } from '../util/clock.js'
import type { LlmEngine, LlmInfo, LlmResult } from './engine.js'
import { shiftFacts, type FactsOptions } from './facts.js'
import { createNarrator } from './narrator.js'
import type { FactSet, NarrativeText } from './types.js'

let dir: string
let seeded: SeededState
let facts: FactsOptions

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shiftscribe-narrator-'))
  seeded = seedStateDb({ file: join(dir, 'state.db'), hours: 9 })
  facts = seedFactsOptions(seeded)
})

afterAll(() => {
  seeded?.db.close()
  rmSync(dir, { recursive: true, force: true })
})

/** A fake engine answering from a script: a text, an error, or a delay honouring the abort signal. */
function fakeEngine(script: ((set: FactSet, attempt: number) => NarrativeText | Error)[], options: { state?: LlmInfo['state']; delayMs?: number } = {}): LlmEngine & { calls: number; priorities: (string | undefined)[] } {
  const info: LlmInfo = { state: options.state ?? 'ready', modelPath: 'fake.gguf', model: 'fake', mode: 'free', threads: 1 }
  const engine = {
    calls: 0,
    priorities: [] as (string | undefined)[],
    name: 'llm',
    start: async () => undefined,
    stop: async () => undefined,
    health: () => ({ ok: true, detail: `llm: ${info.state}` }),
    info: () => info,
    whenLoaded: async () => undefined,
    async generate(set: FactSet, opts: { signal?: AbortSignal; attempt: number; priority?: string }): Promise<LlmResult> {
      engine.priorities.push(opts.priority)
      const step = script[Math.min(engine.calls, script.length - 1)]
      engine.calls++
      if (options.delayMs) {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, options.delayMs)
          opts.signal?.addEventListener('abort', () => {
            clearTimeout(t)
            reject(new GatewayError('LLM_TIMEOUT', 'aborted'))
          })
        })
      }
      const out = step ? step(set, opts.attempt) : new Error('no script')
      if (out instanceof Error) throw out
      return { text: out, mode: 'free', promptTokens: 100, outputTokens: 50, promptMs: 10, ms: 20, raw: JSON.stringify(out) }
    },
  }
  return engine
}

const shiftSet = () => shiftFacts(seeded.db, '2026-11-23/early', facts) as FactSet
const fact = (set: FactSet, id: string) => set.facts.find((f) => f.id === id)
/** A grounded text: only fact displays, and it names the top anomaly's sensor. */
const goodText = (set: FactSet): NarrativeText => {
  const top = fact(set, set.topAnomalyFactId ?? '')
  return { headline: `${set.title}: ${fact(set, 'parts_total')?.display}`, body: `The shift made ${fact(set, 'parts_total')?.display}. ${top?.text}.`, highlights: [`Reject rate ${fact(set, 'reject_rate_total')?.display}`] }
}
const inventedText = (set: FactSet): NarrativeText => ({ headline: set.title, body: `The shift made 4711 parts on press_99. ${fact(set, set.topAnomalyFactId ?? '')?.text}.`, highlights: ['Great shift'] })

function narrator(engine: LlmEngine, settings: Partial<{ deadlineMs: number; maxQueue: number }> = {}) {
  return createNarrator({
    db: seeded.db,
    engine,
    facts,
    settings: { deadlineMs: settings.deadlineMs ?? 5000, maxQueue: settings.maxQueue ?? 16, catchUpHours: 0 },
    publish: { topic: 'test.narratives' },
    log: silentLogger(),
    clock: systemClock,
  })
}

describe('narrator', () => {
  it('keeps a grounded model text and publishes it through the outbox with a valid schema', async () => {
    const engine = fakeEngine([goodText])
    const n = await narrator(engine).write(shiftSet())
    expect(n.generator).toMatchObject({ type: 'llm', model: 'fake', attempts: 1 })
    // A write without a priority waits for the model like a shift job, the lowest.
    expect(engine.priorities).toEqual(['shift'])
    expect(n.grounding.ok).toBe(true)
    expect(n.grounding.numbersChecked).toBeGreaterThan(0)
    const row = seeded.db.prepare("SELECT key, value FROM outbox WHERE topic = 'test.narratives' ORDER BY id DESC LIMIT 1").get() as { key: Buffer; value: Buffer }
    expect(row.key.toString()).toBe('plant1/site')
    const msg = narrativeMessageSchema.parse(JSON.parse(row.value.toString()))
    expect(msg).toMatchObject({ v: 1, id: 'shift/2026-11-23/early', kind: 'shift', scope: 'site', headline: n.headline })
  })

  it('retries once after an ungrounded text and keeps the grounded second one', async () => {
    const engine = fakeEngine([inventedText, goodText])
    const n = await narrator(engine).write(shiftSet())
    expect(engine.calls).toBe(2)
    expect(n.generator).toMatchObject({ type: 'llm', attempts: 2 })
  })

  it('falls back to the template when both tries are ungrounded, and records what did not match', async () => {
    const engine = fakeEngine([inventedText])
    const set = shiftSet()
    const n = await narrator(engine).write(set)
    expect(engine.calls).toBe(2)
    expect(n.generator).toMatchObject({ type: 'template', reason: 'ungrounded' })
    expect(n.generator.type === 'template' && n.generator.detail).toMatch(/4711.*press_99|press_99.*4711/s)
    expect(n.body).not.toContain('4711')
    expect(n.grounding.ok).toBe(true)
  })

  it('rejects a grounded text that leaves out the top anomaly', async () => {
    const engine = fakeEngine([(set) => ({ headline: set.title, body: `The shift made ${fact(set, 'parts_total')?.display}.`, highlights: ['Parts'] })])
    const n = await narrator(engine).write(shiftSet())
    expect(n.generator).toMatchObject({ type: 'template', reason: 'ungrounded', detail: 'does not mention the top anomaly' })
  })

  it('uses the template for invalid output twice, an engine error, an unavailable model and a passed deadline', async () => {
    const invalid = await narrator(fakeEngine([() => new GatewayError('LLM_INVALID_OUTPUT', 'not JSON')])).write(shiftSet())
    expect(invalid.generator).toMatchObject({ type: 'template', reason: 'invalid_output' })
    const broken = await narrator(fakeEngine([() => new Error('GGML_ASSERT failed')])).write(shiftSet())
    expect(broken.generator).toMatchObject({ type: 'template', reason: 'llm_error' })
    const unavailable = await narrator(fakeEngine([goodText], { state: 'unavailable' })).write(shiftSet())
    expect(unavailable.generator).toMatchObject({ type: 'template', reason: 'llm_unavailable' })
    const t0 = Date.now()
    const late = await narrator(fakeEngine([goodText], { delayMs: 10_000 }), { deadlineMs: 50 }).write(shiftSet())
    expect(late.generator).toMatchObject({ type: 'template', reason: 'deadline' })
    expect(Date.now() - t0).toBeLessThan(2000)
  })

  it('replaces a regenerated narrative by id and bumps its revision', async () => {
    const store = createNarrativeStore(seeded.db)
    const before = store.get('shift/2026-11-23/early')?.revision ?? 0
    await narrator(fakeEngine([goodText])).write(shiftSet())
    const after = store.get('shift/2026-11-23/early')
    expect(after?.revision).toBe(before + 1)
    expect((seeded.db.prepare("SELECT count(*) AS n FROM narratives WHERE id = 'shift/2026-11-23/early'").get() as { n: number }).n).toBe(1)
  })

  it('regenerates a stored narrative from fresh facts by id, and knows no unknown id', async () => {
    const n = narrator(fakeEngine([goodText]))
    await n.write(shiftSet())
    const store = createNarrativeStore(seeded.db)
    const before = store.get('shift/2026-11-23/early')?.revision ?? 0
    const again = await n.regenerate('shift/2026-11-23/early')
    expect(again?.id).toBe('shift/2026-11-23/early')
    expect(store.get('shift/2026-11-23/early')?.revision).toBe(before + 1)
    expect(await n.regenerate('shift/2099-01-01/early')).toBeUndefined()
  })

  it('survives an anomaly storm: 1,000 anomalies in a minute give a bounded queue and narratives for the newest incidents', async () => {
    // 1,000 anomalies on 100 machines within one minute of event time, all in the state database.
    const base = Date.UTC(2026, 10, 23, 12, 0)
    const insert = seeded.db.prepare(
      `INSERT INTO anomalies (id, key, site, line, machine, sensor, kind, severity, state, started_at, ended_at, observed, expected, detail, clock)
       VALUES (?, ?, 'plant1', 'storm', ?, 'temp', 'spike', 'warning', 'open', ?, NULL, 99, 50, 'storm', 'event')`,
    )
    const events: { id: string; state: 'open'; line: string; machine: string; startedAt: number }[] = []
    seeded.db.transaction(() => {
      for (let i = 0; i < 1000; i++) {
        const machine = `s${i % 100}`
        const id = `storm-${i}`
        insert.run(id, `plant1/storm/${machine}/temp`, machine, base + i * 60)
        events.push({ id, state: 'open', line: 'storm', machine, startedAt: base + i * 60 })
      }
    })()
    const engine = fakeEngine([(set) => ({ headline: set.title, body: `${fact(set, 'anomaly_1')?.text}.`, highlights: ['temp'] })], { delayMs: 5 })
    const n = narrator(engine, { maxQueue: 8 })
    await n.start()
    let maxDepth = 0
    for (let i = 0; i < events.length; i += 50) {
      n.notify({ anomalies: events.slice(i, i + 50), closedShifts: [] })
      maxDepth = Math.max(maxDepth, n.status().queue.depth)
    }
    await n.idle()
    await n.stop()
    const s = n.status()
    expect(maxDepth).toBeLessThanOrEqual(8)
    expect(s.queue.enqueued).toBe(1000)
    expect(s.queue.superseded + s.queue.evicted).toBeGreaterThan(900)
    // One incident per machine (all its anomalies are one burst), each written once at least.
    const incidents = seeded.db.prepare("SELECT id, generator FROM narratives WHERE scope LIKE 'storm/%'").all() as { id: string; generator: string }[]
    expect(incidents.length).toBe(100)
    // The machines whose anomalies came last were narrated by the model.
    const last = seeded.db.prepare("SELECT generator FROM narratives WHERE scope = 'storm/s99'").get() as { generator: string }
    expect(JSON.parse(last.generator)).toMatchObject({ type: 'llm' })
    expect(engine.calls).toBeLessThan(200)
    // Incident jobs wait for the model as incidents: ahead of questions and shifts.
    expect(new Set(engine.priorities)).toEqual(new Set(['incident']))
  })
})
