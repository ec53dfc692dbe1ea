// Exactly-once effect into SQLite: the gateway is killed with SIGKILL five times at random
// moments while it consumes and readings keep arriving; afterwards the live state database
// equals a rebuild from the topic (`shiftscribe verify`), anomalies and shift KPIs included,
// and every reading in the topic is counted exactly once.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { Kafka, logLevel } from 'kafkajs'
import { afterEach, describe, expect, it } from 'vitest'
import { runSimulation } from '../../src/simulate/run-simulation.js'
import { repoRoot, services } from '../helpers/env.js'
import { gatewayFixture, startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { createTeardown } from '../helpers/teardown.js'
import { waitFor } from '../helpers/wait-for.js'

const teardown = createTeardown()
afterEach(() => teardown.run())
const cli = join(repoRoot, 'dist', 'cli', 'index.js')

describe('aggregate (real Kafka, SQLite)', () => {
  it('survives kill -9 five times during consumption: verify passes, every reading counted once', async () => {
    const fixture = gatewayFixture({
      aggregate: { enabled: true },
      kafkaLocal: { partitions: 1 },
      shifts: { allowedLatenessS: 60, idleTimeoutS: 3600 },
    })
    let gw: GatewayProcess | undefined
    teardown.add('stop gateway', async () => {
      if (gw && gw.child.exitCode === null && gw.child.signalCode === null) await gw.term()
    })
    gw = await startGateway(fixture)

    // Monday 13:40 UTC, an hour of event time per wall minute: the early shift (06–14) closes mid-run.
    const startTs = Date.UTC(2026, 10, 23, 13, 40)
    const running = runSimulation({
      url: services.mqttUrl,
      prefix: fixture.prefix,
      lines: 1,
      machines: 4,
      ratePerS: 2_500,
      count: 75_000,
      speed: 60,
      seed: 7,
      startTs,
      anomalies: { mode: 'count', count: 12 },
      progressIntervalMs: 60_000,
    })
    const t0 = Date.now()
    const moments: number[] = []
    for (let k = 0; k < 5; k++) {
      const at = k * 5_500 + 1_500 + Math.floor(Math.random() * 3_500)
      moments.push(at)
      await new Promise((r) => setTimeout(r, Math.max(0, t0 + at - Date.now())))
      await gw.kill9()
      gw = await startGateway(fixture)
    }
    console.log(`[aggregate kill -9] killed at ${moments.map((m) => `${m} ms`).join(', ')}`)
    const sim = await running
    expect(sim.published).toBe(75_000)

    // Wait until the aggregator has consumed the whole topic.
    const kafka = new Kafka({ clientId: 'test-offsets', brokers: [...services.kafkaLocal], logLevel: logLevel.NOTHING })
    const admin = kafka.admin()
    await admin.connect()
    teardown.add('admin', () => admin.disconnect())
    const stateFile = join(fixture.dir, 'data', 'state.db')
    const consumedAll = async () => {
      const ends = await admin.fetchTopicOffsets(fixture.topics.readings)
      const end = Number(ends[0]?.high ?? -1)
      const db = new Database(stateFile, { readonly: true })
      try {
        const next = (db.prepare('SELECT next_offset AS n FROM offsets').get() as { n: number } | undefined)?.n ?? 0
        const counted = (db.prepare('SELECT coalesce(sum(count), 0) AS n FROM buckets').get() as { n: number }).n
        return end >= sim.good && next === end ? { end, counted } : undefined
      } finally {
        db.close()
      }
    }
    const { end, counted } = await waitFor(consumedAll, { timeoutMs: 120_000, intervalMs: 500, what: 'the aggregator to consume the topic' })
    // Every message in the topic (duplicates from ingest included) counted exactly once.
    expect(counted).toBe(end)

    const verify = spawnSync(process.execPath, [cli, 'verify', '--config', fixture.configFile, '--json'], { encoding: 'utf8', timeout: 120_000 })
    expect(verify.status, `${verify.stdout}\n${verify.stderr}`).toBe(0)
    const report = JSON.parse(verify.stdout) as { equal: boolean; readings: number; compared: Record<string, number>; notCompared: string[] }
    expect(report.equal).toBe(true)
    expect(report.notCompared).toEqual([])
    expect(report.readings).toBe(end)
    expect(report.compared.buckets).toBeGreaterThan(100)
    expect(report.compared.anomalies).toBeGreaterThan(0)
    expect(report.compared.shifts).toBeGreaterThanOrEqual(1)
    console.log(`[aggregate kill -9] verify compared ${JSON.stringify(report.compared)}`)
  })
})
