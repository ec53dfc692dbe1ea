// node-llama-cpp 3.21.1 loads the fetched GGUF on the CPU (threads set explicitly) and answers
// under a JSON-schema grammar with output that parses with zod. The engine logs the GGUF
// metadata before loading and never asks for more threads than the box has cores.
import { readFileSync, statSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { getLlama, LlamaChatSession, LlamaLogLevel, readGgufFileInfo, type Llama, type LlamaModel } from 'node-llama-cpp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { z } from 'zod'
import { createLlmEngine } from '../../src/narrate/engine.js'
import { repoRoot } from '../helpers/env.js'

const manifest = JSON.parse(readFileSync(join(repoRoot, 'models', 'models.json'), 'utf8')) as {
  default: string
  models: { name: string; file: string }[]
}
const modelFile = join(repoRoot, 'models', manifest.models.find((m) => m.name === manifest.default)?.file ?? 'missing.gguf')

// One thread: this test runs beside other work on a 2-core box.
const THREADS = 1

const summarySchema = z.object({
  headline: z.string().min(1).max(90),
  body: z.string().min(1).max(300),
  highlights: z.array(z.string().min(1).max(90)).min(1).max(3),
})

const jsonSchema = {
  type: 'object',
  properties: {
    headline: { type: 'string', maxLength: 90 },
    body: { type: 'string', maxLength: 300 },
    highlights: { type: 'array', items: { type: 'string', maxLength: 90 }, minItems: 1, maxItems: 3 },
  },
  required: ['headline', 'body', 'highlights'],
} as const

let llama: Llama
let model: LlamaModel

beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: 'never', maxThreads: THREADS, logLevel: LlamaLogLevel.error })
  model = await llama.loadModel({ modelPath: modelFile })
})

afterAll(async () => {
  await model?.dispose()
  await llama?.dispose()
})

describe('node-llama-cpp with the fetched GGUF', () => {
  it('reads the GGUF metadata: an instruct model with a chat template', async () => {
    const info = await readGgufFileInfo(modelFile)
    expect(info.metadata.general.architecture).toBe('llama')
    expect(typeof info.metadata.tokenizer.chat_template).toBe('string')
    expect(model.size).toBeGreaterThan(50_000_000)
  })

  it('runs on the CPU with the thread count it was given', () => {
    expect(llama.gpu).toBe(false)
    expect(llama.maxThreads).toBe(THREADS)
  })

  it('returns a JSON-schema-constrained summary that parses with zod', async () => {
    const context = await model.createContext({ contextSize: 1024, threads: THREADS })
    try {
      const grammar = await llama.createGrammarForJsonSchema(jsonSchema)
      const facts = [
        'Shift: early shift, line 1, 06:00–14:00.',
        'Parts made: 1302. Rejects: 19. Reject rate: 1.5 %.',
        'Mean spindle temperature on machine 3: 61.2 °C.',
      ].join('\n')
      let parsed: z.infer<typeof summarySchema> | undefined
      const failures: string[] = []
      // Validate and retry: a cut-off at maxTokens gives invalid JSON.
      for (let attempt = 0; attempt < 3 && parsed === undefined; attempt++) {
        const session = new LlamaChatSession({
          contextSequence: context.getSequence(),
          systemPrompt: 'You write short factual shift summaries for plant managers as JSON. Use only the given facts.',
        })
        const text = await session.prompt(`Facts:\n${facts}\n\nWrite the summary.`, {
          grammar,
          maxTokens: 400,
          temperature: attempt === 0 ? 0 : 0.4,
          seed: 42 + attempt,
        })
        session.dispose({ disposeSequence: true })
        try {
          parsed = summarySchema.parse(JSON.parse(text))
        } catch (err) {
          failures.push(`${String(err)}: ${text.slice(0, 200)}`)
        }
      }
      expect(failures.length, failures.join('\n')).toBeLessThan(3)
      expect(parsed?.headline.trim()).not.toBe('')
      expect(parsed?.highlights.length).toBeGreaterThanOrEqual(1)
    } finally {
      await context.dispose()
    }
  })
})

describe('the narrate engine with the fetched GGUF', () => {
  it('caps llm.threads at the core count with a warning, and logs the GGUF metadata before loading', async () => {
    const lines: Record<string, unknown>[] = []
    const log = pino({ level: 'debug', base: undefined }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) })
    const cores = availableParallelism()
    expect(cores).toBeLessThan(64)
    const engine = createLlmEngine({ enabled: true, modelPath: modelFile, threads: 64, gpu: false, contextSize: 1024, mode: 'auto', maxTokens: 200, log })
    try {
      // Known before loading: the count it will use, not the one configured.
      expect(engine.info().threads).toBe(cores)
      await engine.start()
      await engine.whenLoaded()
      expect(engine.info()).toMatchObject({ state: 'ready', threads: cores })
      expect(engine.health()).toEqual({ ok: true, detail: expect.stringMatching(new RegExp(`^llm: ready \\(.+, plan mode, ${cores} threads\\)$`)) })

      const warning = lines.filter((l) => l['msg'] === 'llm.threads is above the core count; using the core count')
      expect(warning).toEqual([expect.objectContaining({ level: 40, stage: 'llm', configured: 64, cores, using: cores })])

      const gguf = await readGgufFileInfo(modelFile)
      const loading = lines.filter((l) => l['msg'] === 'loading LLM')
      expect(loading).toEqual([
        expect.objectContaining({
          level: 30,
          stage: 'llm',
          model: gguf.metadata.general.name,
          sizeMiB: Math.round((statSync(modelFile).size / 1048576) * 10) / 10,
          parameters: '135M',
          chatTemplate: true,
          mode: 'plan',
          threads: cores,
        }),
      ])
      // The metadata is logged before the model is loaded, and "LLM ready" follows it.
      const order = lines.map((l) => l['msg'])
      expect(order.indexOf('loading LLM')).toBeLessThan(order.indexOf('LLM ready'))
    } finally {
      await engine.stop()
    }
  })
})
