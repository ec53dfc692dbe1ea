// Without a model the gateway still runs: llm.modelPath names a missing file, the gateway starts,
// /healthz and /readyz answer 200, /api/system says `llm: unavailable`, and narratives (the
// gateway's own shift narrative and `shiftscribe summarize --last 2h`) are published from the
// template.
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { narrativeMessageSchema, type NarrativeMessage } from '../../src/bus/messages.js'
import type { Narrative } from '../../src/narrate/types.js'
import { runSimulation } from '../../src/simulate/run-simulation.js'
import { freePort, repoRoot, secureRandom, services } from '../helpers/env.js'
import { gatewayFixture, startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { readTopic } from '../helpers/kafka-reader.js'
import { createTeardown } from '../helpers/teardown.js'

const teardown = createTeardown()
afterEach(() => teardown.run())
const cli = join(repoRoot, 'dist', 'cli', 'index.js')

describe('narrate without a model file (real Kafka, built CLI)', () => {
  it('starts healthy with llm unavailable and publishes template narratives, from a shift close and from summarize --last 2h', async () => {
    const httpPort = await freePort()
    const modelPath = join(tmpdir(), `shiftscribe-no-such-model-${secureRandom()}.gguf`)
    const fixture = gatewayFixture({
      aggregate: { enabled: true },
      kafkaLocal: { partitions: 1 },
      shifts: { allowedLatenessS: 60, idleTimeoutS: 3600 },
      llm: { enabled: true, modelPath, threads: 1 },
      http: { enabled: true, host: '127.0.0.1', port: httpPort },
    })
    let gw: GatewayProcess | undefined
    teardown.add('stop gateway', async () => {
      if (gw && gw.child.exitCode === null && gw.child.signalCode === null) await gw.term()
    })
    gw = await startGateway(fixture)
    const base = `http://127.0.0.1:${httpPort}`

    const healthz = await fetch(`${base}/healthz`)
    expect(healthz.status).toBe(200)
    expect(await healthz.json()).toEqual({ ok: true })
    const ready = await fetch(`${base}/readyz`)
    expect(ready.status, await ready.clone().text()).toBe(200)
    const system = (await (await fetch(`${base}/api/system`)).json()) as {
      health: Record<string, { ok: boolean; detail: string }>
      llm: { state: string; model: string | null; reason: string | null }
    }
    expect(system.llm).toEqual({ state: 'unavailable', model: null, reason: expect.stringContaining(`model file ${modelPath} not found`) })
    expect(system.health['llm']).toEqual({ ok: true, detail: expect.stringMatching(/^llm: unavailable \(.+\); narratives from the template$/) })
    expect(gw.output()).toContain('LLM unavailable; every narrative will come from the template')

    // Monday 13:57 UTC at 60× for about 8 s: the early shift (06–14) closes about 4 s in.
    const sim = await runSimulation({
      url: services.mqttUrl,
      prefix: fixture.prefix,
      lines: 1,
      machines: 2,
      ratePerS: 500,
      count: 4_000,
      speed: 60,
      seed: 7,
      startTs: Date.UTC(2026, 10, 23, 13, 57),
      anomalies: { mode: 'none' },
      progressIntervalMs: 60_000,
    })
    expect(sim.published).toBe(4_000)

    const reader = await readTopic(fixture.topics.narratives)
    teardown.add('reader', () => reader.close())
    const parsed = () => reader.messages.map((m) => ({ key: m.key, n: narrativeMessageSchema.parse(JSON.parse(m.value)) as NarrativeMessage }))
    await reader.settle((ms) => ms.some((m) => m.value.includes('"id":"shift/2026-11-23/early"')), { timeoutMs: 20_000, quietMs: 20_000 })
    const shift = parsed().find((m) => m.n.id === 'shift/2026-11-23/early')
    expect(shift, gw.output().slice(-3000)).toBeDefined()
    expect(shift?.key).toBe(`${fixture.site}/site`)
    expect(shift?.n.generator).toMatchObject({ type: 'template', reason: 'llm_unavailable' })
    expect(shift?.n.facts.length).toBeGreaterThan(0)

    // On demand, without --template-only: the model is missing, so summarize writes the template too.
    const run = spawnSync(process.execPath, [cli, 'summarize', '--config', fixture.configFile, '--last', '2h', '--json'], { encoding: 'utf8', timeout: 30_000 })
    expect(run.status, run.stderr).toBe(0)
    expect(run.stderr).toContain('the model is unavailable')
    const period = JSON.parse(run.stdout) as Narrative
    expect(period.id).toMatch(/^period\/\d+-\d+$/)
    expect(period.kind).toBe('shift')
    expect(period.periodEnd - period.periodStart).toBe(2 * 3_600_000)
    // The span ends at the newest reading: 14:05 (8 min of event time from 13:57), give or take a sample.
    expect(Math.abs(period.periodEnd - Date.UTC(2026, 10, 23, 14, 5))).toBeLessThan(60_000)
    expect(period.headline).toContain('Last 2 h')
    expect(period.generator).toMatchObject({ type: 'template', reason: 'llm_unavailable' })
    expect(period.facts.length).toBeGreaterThan(0)

    // The running gateway publishes what summarize stored.
    await reader.settle((ms) => ms.some((m) => m.value.includes(`"id":"${period.id}"`)), { timeoutMs: 15_000, quietMs: 15_000 })
    const published = parsed().find((m) => m.n.id === period.id)
    expect(published?.n).toMatchObject({ kind: 'shift', headline: period.headline, generator: { type: 'template', reason: 'llm_unavailable' } })

    expect(await gw.term()).toBe(0)
  }, 60_000)
})
