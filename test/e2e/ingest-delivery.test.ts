// Nothing lost between MQTT and the local Kafka: 100,000 simulator readings all arrive with
// the right keys and schema; kill -9 of the gateway while the simulator publishes at
// ≥ 5,000/s loses nothing; a 30 s local Kafka outage loses nothing and the journal drains.
// Duplicates are allowed (at-least-once) and reported.
import { execFile, spawnSync } from 'node:child_process'
import { promisify } from 'node:util'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { readingMessageSchema } from '../../src/bus/messages.js'
import { runSimulation, type SimulationResult } from '../../src/simulate/run-simulation.js'
import { repoRoot, services } from '../helpers/env.js'
import { gatewayFixture, startGateway, type GatewayFixture, type GatewayProcess } from '../helpers/gateway-process.js'
import { dedupeReadings, readTopic, type TopicReader } from '../helpers/kafka-reader.js'
import { createTeardown } from '../helpers/teardown.js'
import { waitFor } from '../helpers/wait-for.js'

const execFileAsync = promisify(execFile)
const teardown = createTeardown()
afterEach(() => teardown.run())

async function gateway(fixture: GatewayFixture): Promise<GatewayProcess> {
  const gw = await startGateway(fixture)
  teardown.add('stop gateway', async () => {
    if (gw.child.exitCode === null && gw.child.signalCode === null) await gw.term()
  })
  return gw
}

async function reader(topic: string): Promise<TopicReader> {
  const r = await readTopic(topic)
  teardown.add(`close reader ${topic}`, () => r.close())
  return r
}

function simulate(fixture: GatewayFixture, count: number, ratePerS: number, seed: number): Promise<SimulationResult> {
  return runSimulation({
    url: services.mqttUrl,
    prefix: fixture.prefix,
    count,
    ratePerS,
    seed,
    // Event time in the recent past: never "more than a day in the future" for the gateway.
    startTs: Date.now() - 3600_000,
    anomalies: { mode: 'none' },
    progressIntervalMs: 60_000,
  })
}

/**
 * The ledger, read by the CLI in a child process. Asynchronously: the simulator runs in this
 * process, and a blocking spawn would stall its publishing.
 */
async function ledger(fixture: GatewayFixture) {
  const r = await execFileAsync(process.execPath, [join(repoRoot, 'dist', 'cli', 'index.js'), 'ledger', '--config', fixture.configFile, '--json'], { encoding: 'utf8' })
  return JSON.parse(r.stdout) as { received: number; journaled: number; quarantined: number; delivered: number; pending: number; dropped: number; balanced: boolean }
}
const poll = { intervalMs: 500 }

/** Waits until every published reading is in the topic; returns distinct and duplicate counts. */
async function expectAllReadings(r: TopicReader, expected: number, fixture: GatewayFixture) {
  await r.settle((m) => m.length >= expected && dedupeReadings(m).distinct.size >= expected, { timeoutMs: 180_000, quietMs: 15_000 })
  const { distinct, duplicates } = dedupeReadings(r.messages)
  console.log(`[${expect.getState().currentTestName}] ${r.messages.length} messages, ${distinct.size} distinct readings, ${duplicates} duplicates`)
  expect(distinct.size).toBe(expected)
  for (const m of distinct.values()) {
    const v = readingMessageSchema.parse(JSON.parse(m.value))
    expect(m.key).toBe(`${fixture.site}/${v.line}/${v.machine}/${v.sensor}`)
  }
  return { distinct: distinct.size, duplicates }
}

describe('ingest delivery (real mosquitto and Kafka)', () => {
  it('delivers 100,000 QoS1 simulator readings to factory.readings, each with its key, schema and headers', async () => {
    const fixture = gatewayFixture()
    await gateway(fixture)
    const sim = await simulate(fixture, 100_000, 20_000, 1)
    expect(sim.published).toBe(100_000)
    expect(sim.good).toBe(100_000)
    const r = await reader(fixture.topics.readings)
    await expectAllReadings(r, sim.good, fixture)
    const first = r.messages[0]
    expect(first?.headers).toMatchObject({ schema: 'shiftscribe.reading', 'schema-version': '1', 'content-type': 'application/json' })
    await waitFor(async () => (await ledger(fixture)).pending === 0, { ...poll, what: 'journal drained' })
    expect(await ledger(fixture)).toMatchObject({ received: 100_000, delivered: 100_000, balanced: true })
  })

  it('loses nothing when the gateway is killed with SIGKILL three times while the simulator publishes at ≥ 5,000/s', async () => {
    const fixture = gatewayFixture()
    let gw = await gateway(fixture)
    const count = 90_000
    const rate = 6_000
    const running = simulate(fixture, count, rate, 2)
    const moments: number[] = []
    const t0 = Date.now()
    for (let k = 0; k < 3; k++) {
      // A random moment within each third of the run (~15 s), logged for reproduction.
      const at = k * 4500 + 1000 + Math.floor(Math.random() * 3000)
      moments.push(at)
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, t0 + at - Date.now())))
      await gw.kill9()
      gw = await gateway(fixture)
    }
    console.log(`[kill -9] killed at ${moments.map((m) => `${m} ms`).join(', ')} after the simulator started`)
    const sim = await running
    expect(sim.published).toBe(count)
    expect(sim.ratePerS).toBeGreaterThanOrEqual(5_000)
    const r = await reader(fixture.topics.readings)
    await expectAllReadings(r, sim.good, fixture)
    await waitFor(async () => (await ledger(fixture)).pending === 0, { ...poll, what: 'journal drained' })
    expect((await ledger(fixture)).balanced).toBe(true)
  })

  it('loses nothing while the local Kafka is down for 30 s, and drains the journal after', async () => {
    const fixture = gatewayFixture()
    const gw = await gateway(fixture)
    const services = join(repoRoot, 'scripts', 'services')
    const running = simulate(fixture, 80_000, 2_000, 3)
    await new Promise((resolve) => setTimeout(resolve, 5_000))
    expect(spawnSync(services, ['down', 'kafka-local'], { stdio: 'inherit' }).status).toBe(0)
    teardown.add('kafka-local back up', () => spawnSync(services, ['up', 'kafka-local'], { stdio: 'inherit' }))
    const stoppedAt = Date.now()
    await waitFor(async () => (await ledger(fixture)).pending > 10_000, { ...poll, timeoutMs: 30_000, what: 'the journal to buffer' })
    const buffered = (await ledger(fixture)).pending
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, stoppedAt + 30_000 - Date.now())))
    expect(gw.child.exitCode).toBeNull()
    expect(gw.output()).toContain('Kafka unavailable')
    expect(spawnSync(services, ['up', 'kafka-local'], { stdio: 'inherit' }).status).toBe(0)
    const sim = await running
    expect(sim.published).toBe(80_000)
    await waitFor(async () => (await ledger(fixture)).pending === 0, { ...poll, timeoutMs: 120_000, what: 'journal drained after the outage' })
    console.log(`[kafka outage] ${buffered} readings buffered in the journal during the outage`)
    const r = await reader(fixture.topics.readings)
    await expectAllReadings(r, sim.good, fixture)
    expect(await ledger(fixture)).toMatchObject({ received: 80_000, delivered: 80_000, dropped: 0, balanced: true })
    expect(gw.output()).toContain('Kafka sends succeed again')
  })
})
