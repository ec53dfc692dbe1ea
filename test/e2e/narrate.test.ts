// Narratives end to end: the gateway (ingest, aggregate, narrate with the real GGUF on one
// thread) fed by the simulator over MQTT. A shift closes and anomalies open; every narrative on
// factory.narratives validates against the schema, is grounded or a template, and the shift
// narrative reports the shift's top anomaly. `shiftscribe summarize` then regenerates the same
// shift by id, writes the last 2 h, and writes the shift with the model.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { escapeHtml } from '../../src/http/html.js'
import { narrativeMessageSchema, type NarrativeMessage } from '../../src/bus/messages.js'
import { runSimulation } from '../../src/simulate/run-simulation.js'
import { freePort, repoRoot, services } from '../helpers/env.js'
import { gatewayFixture, startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { readTopic } from '../helpers/kafka-reader.js'
import { createTeardown } from '../helpers/teardown.js'



const teardown = createTeardown()
afterEach(() => teardown.run())
const cli = join(repoRoot, 'dist', 'cli', 'index.js')

describe('narrate (real model, real Kafka)', () => {
  it('publishes grounded shift and incident narratives to factory.narratives, and summarize regenerates by id', async () => {
    const httpPort = await freePort()
    const fixture = gatewayFixture({
      aggregate: { enabled: true },
      kafkaLocal: { partitions: 1 },
      shifts: { allowedLatenessS: 60, idleTimeoutS: 3600 },
      llm: { enabled: true, threads: 1 },
      narrate: { deadlineMs: 60_000 },
      http: { enabled: true, host: '127.0.0.1', port: httpPort },
    })
    let gw: GatewayProcess | undefined
    teardown.add('stop gateway', async () => {
      if (gw && gw.child.exitCode === null && gw.child.signalCode === null) await gw.term()
    })
    gw = await startGateway(fixture)

    // Monday 13:45 UTC at 60× speed for about 27 s: the early shift (06–14) closes about 16 s in.
    const sim = await runSimulation({
      url: services.mqttUrl,
      prefix: fixture.prefix,
      lines: 1,
      machines: 3,
      ratePerS: 1_500,
      count: 40_000,
      speed: 60,
      seed: 5,
      startTs: Date.UTC(2026, 10, 23, 13, 45),
      anomalies: { mode: 'count', count: 6 },
      progressIntervalMs: 60_000,
    })
    expect(sim.published).toBe(40_000)
    const t0 = Date.now()

    const reader = await readTopic(fixture.topics.narratives)
    teardown.add('reader', () => reader.close())
    const parsed = () => reader.messages.map((m) => ({ key: m.key, headers: m.headers, n: narrativeMessageSchema.parse(JSON.parse(m.value)) as NarrativeMessage }))
    await reader.settle((ms) => ms.some((m) => m.value.includes('"kind":"shift"')) && ms.some((m) => m.value.includes('"kind":"incident"')), { timeoutMs: 240_000, quietMs: 60_000 })
    const all = parsed()
    console.log(`[narrate e2e] first shift and incident narratives ${((Date.now() - t0) / 1000).toFixed(1)} s after the simulation ended`)
    const shift = all.find((m) => m.n.kind === "shift")
    if (process.env.NARRATE_E2E_LOG) (await import("node:fs")).writeFileSync(process.env.NARRATE_E2E_LOG, gw.output())
    expect(shift, gw.output().slice(-3000)).toBeDefined()
    if (shift === undefined) return
    expect(shift.key).toBe(`${fixture.site}/site`)
    expect(shift.headers['schema']).toBe('shiftscribe.narrative')
    expect(shift.n.id).toBe('shift/2026-11-23/early')
    for (const { n } of all) {
      // Only grounded model texts or templates are published.
      if (n.generator.type === 'llm') expect(n.grounding).toMatchObject({ ok: true, unmatched: [], unknownNames: [] })
      expect(n.facts.length).toBeGreaterThan(0)
    }
    const top = shift.n.facts.find((f) => f.id === 'anomaly_1')
    if (top !== undefined) expect([shift.n.headline, shift.n.body, ...shift.n.highlights].join('\n')).toContain(top.scope.split('/')[2])
    const incidents = all.filter((m) => m.n.kind === 'incident')
    expect(incidents.length).toBeGreaterThan(0)
    for (const m of incidents) expect(m.key).toBe(`${fixture.site}/${m.n.scope}`)
    const byModel = all.filter((m) => m.n.generator.type === 'llm').length
    console.log(`[narrate e2e] ${all.length} narratives, ${byModel} by the model; shift: ${shift.n.generator.type} — ${shift.n.headline}`)
    expect(gw.output()).toContain('LLM ready')

    // The gateway serves what it wrote: the shift page shows the narrative (escaped) and an SVG chart; /metrics and /readyz answer.
    const base = `http://127.0.0.1:${httpPort}`
    const page = await (await fetch(`${base}/shifts/2026-11-23/early`)).text()
    expect(page).toContain(escapeHtml(shift.n.headline))
    expect(page).toContain('<svg')
    const metrics = await (await fetch(`${base}/metrics`)).text()
    expect(metrics).toMatch(/shiftscribe_narratives_total\{[^}]*kind="shift"/)
    expect(metrics).toContain('shiftscribe_ingest_received_total')
    expect(metrics).toMatch(/^shiftscribe_aggregate_lag_messages \d+/m)
    const ready = await fetch(`${base}/readyz`)
    expect(ready.status, await ready.clone().text()).toBe(200)
    expect((await fetch(`${base}/healthz`)).status).toBe(200)

    // On demand: the same shift again (template only, to keep the test quick) replaces it by id.
    const run = spawnSync(process.execPath, [cli, 'summarize', '--config', fixture.configFile, '--shift', 'early', '--date', '2026-11-23', '--template-only', '--json'], { encoding: 'utf8', timeout: 60_000 })
    expect(run.status, run.stderr).toBe(0)
    const again = JSON.parse(run.stdout) as NarrativeMessage
    expect(again.id).toBe('shift/2026-11-23/early')
    expect(again.generator).toMatchObject({ type: 'template', reason: 'llm_disabled' })
    await reader.settle((ms) => ms.filter((m) => m.value.includes('"id":"shift/2026-11-23/early"')).length >= 2, { timeoutMs: 30_000, quietMs: 30_000 })
    expect(parsed().filter((m) => m.n.id === 'shift/2026-11-23/early').length).toBeGreaterThanOrEqual(2)

    // On demand for a span: the last 2 h up to the newest reading (14:11:40, the end of the run)
    // cover the whole run, so at least the early shift's parts.
    const last = spawnSync(process.execPath, [cli, 'summarize', '--config', fixture.configFile, '--last', '2h', '--template-only', '--json'], { encoding: 'utf8', timeout: 60_000 })
    expect(last.status, last.stderr).toBe(0)
    const period = JSON.parse(last.stdout) as NarrativeMessage
    expect(period.id).toBe(`period/${period.periodStart}-${period.periodEnd}`)
    expect(period.kind).toBe('shift')
    expect(period.periodEnd - period.periodStart).toBe(2 * 3_600_000)
    expect(Math.abs(period.periodEnd - Date.UTC(2026, 10, 23, 14, 11, 40))).toBeLessThan(60_000)
    expect(period.headline).toContain('Last 2 h')
    expect(period.generator).toMatchObject({ type: 'template', reason: 'llm_disabled' })
    const partsOf = (n: NarrativeMessage) => n.facts.find((f) => f.id === 'parts_total')?.value
    expect(partsOf(period)).toBeGreaterThanOrEqual(partsOf(again) ?? Infinity)
    await reader.settle((ms) => ms.some((m) => m.value.includes(`"id":"${period.id}"`)), { timeoutMs: 30_000, quietMs: 30_000 })
    expect(parsed().find((m) => m.n.id === period.id)?.key).toBe(`${fixture.site}/site`)

    // The same shift with the model (one thread, as configured), not stored: a grounded plan.
    const t1 = Date.now()
    const withModel = spawnSync(process.execPath, [cli, 'summarize', '--config', fixture.configFile, '--shift', 'early', '--date', '2026-11-23', '--dry-run', '--json'], { encoding: 'utf8', timeout: 30_000 })
    console.log(`[narrate e2e] summarize with the model: ${((Date.now() - t1) / 1000).toFixed(1)} s`)
    expect(withModel.status, withModel.stderr).toBe(0)
    expect(withModel.stderr).toMatch(/writing with .+ \(plan mode\)/)
    const written = JSON.parse(withModel.stdout) as NarrativeMessage
    expect(written.id).toBe('shift/2026-11-23/early')
    expect(written.generator).toMatchObject({ type: 'llm', mode: 'plan' })
    expect(written.grounding).toMatchObject({ ok: true, unmatched: [], unknownNames: [] })
    expect(written.facts).toEqual(again.facts)
  }, 400_000)
})
