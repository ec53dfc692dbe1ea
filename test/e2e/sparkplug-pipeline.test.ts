// The whole pipeline on Sparkplug B: the simulator publishes the seeded plant as Sparkplug
// edge nodes (`--format sparkplug`: one MQTT connection per line, NBIRTH/DBIRTH with aliases,
// alias-only DDATA, malformed protobuf now and then, DDEATH/NDEATH at the end) and the built
// gateway (Sparkplug host + aggregate + narrate with the real GGUF + http) turns it into the
// same things as JSON data: every reading in Kafka and in the minute buckets, a closed shift
// with its narrative, incident narratives, machines offline after their deaths, the page.
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { narrativeMessageSchema, quarantineMessageSchema, readingMessageSchema } from '../../src/bus/messages.js'
import { escapeHtml } from '../../src/http/html.js'
import { runSimulation } from '../../src/simulate/run-simulation.js'
import { freePort, secureRandom, services } from '../helpers/env.js'
import { gatewayFixture, startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { dedupeReadings, readTopic } from '../helpers/kafka-reader.js'
import { createTeardown } from '../helpers/teardown.js'
import { waitFor } from '../helpers/wait-for.js'

const teardown = createTeardown()
afterEach(() => teardown.run())

describe('the pipeline on Sparkplug B data', () => {
  it('aggregates, narrates and shows Sparkplug data like JSON data, and deaths put machines offline', async () => {
    const httpPort = await freePort()
    const group = `plant-${secureRandom()}`
    const fixture = gatewayFixture({
      mqtt: { subscriptions: [], sparkplug: { enabled: true, groups: [group] } },
      aggregate: { enabled: true },
      kafkaLocal: { partitions: 1 },
      shifts: { allowedLatenessS: 60, idleTimeoutS: 3600 },
      llm: { enabled: true, threads: 1 },
      narrate: { deadlineMs: 60_000 },
      http: { enabled: true, host: '127.0.0.1', port: httpPort },
      top: { gatewayId: `gw-${secureRandom()}` },
    })
    let gw: GatewayProcess | undefined
    teardown.add('stop gateway', async () => {
      if (gw && gw.child.exitCode === null && gw.child.signalCode === null) await gw.term()
    })
    gw = await startGateway(fixture)

    // Monday 13:45 UTC at 60×: the early shift (06–14) closes about 15 s in. 1 % malformed protobuf.
    const sim = await runSimulation({
      url: services.mqttUrl,
      format: 'sparkplug',
      sparkplugGroup: group,
      lines: 1,
      machines: 3,
      ratePerS: 1_500,
      count: 30_000,
      speed: 60,
      seed: 11,
      startTs: Date.UTC(2026, 10, 23, 13, 45),
      anomalies: { mode: 'count', count: 4 },
      badRatio: 0.01,
      progressIntervalMs: 60_000,
    })
    expect(sim.failed).toBe(0)
    expect(sim.sparkplug).toMatchObject({ edgeNodes: 1, devices: 3, ndeaths: 1, ddeaths: 3, rebirths: 0 })
    const bad = sim.badByKind.bad_protobuf ?? 0
    expect(bad).toBeGreaterThan(0)

    // Every reading the simulator published is in factory.readings, named as JSON data would be.
    const readings = await readTopic(fixture.topics.readings)
    teardown.add('readings reader', () => readings.close())
    const onlyReadings = () => readings.messages.filter((m) => m.headers['schema'] === 'shiftscribe.reading')
    await readings.settle(() => dedupeReadings(onlyReadings()).distinct.size >= sim.readings, { timeoutMs: 120_000 })
    const { distinct } = dedupeReadings(onlyReadings())
    expect(distinct.size).toBe(sim.readings)
    const sample = readingMessageSchema.parse(JSON.parse(onlyReadings()[0]!.value))
    expect(sample).toMatchObject({ site: fixture.site, line: 'line1' })
    expect(new Set(onlyReadings().map((m) => m.key.split('/')[2]))).toEqual(new Set(['m1', 'm2', 'm3']))

    // The malformed payloads are in quarantine (bad_protobuf); nothing was held for want of a birth.
    const quarantine = await readTopic(fixture.topics.quarantine)
    teardown.add('quarantine reader', () => quarantine.close())
    await quarantine.settle((m) => m.length >= bad, { timeoutMs: 60_000 })
    const reasons = quarantine.messages.map((m) => quarantineMessageSchema.parse(JSON.parse(m.value)).reason)
    expect(reasons.filter((r) => r === 'bad_protobuf')).toHaveLength(bad)
    expect(reasons.filter((r) => r === 'no_birth')).toHaveLength(0)

    // The minute buckets hold every reading once; the deaths at the end put the machines offline.
    const stateFile = join(fixture.dir, 'data', 'state.db')
    const count = () => {
      const db = new Database(stateFile, { readonly: true, fileMustExist: true })
      try {
        const buckets = (db.prepare('SELECT COALESCE(SUM(count), 0) AS n FROM buckets').get() as { n: number }).n
        const offline = db.prepare("SELECT line, machine FROM machine_states WHERE state = 'offline' ORDER BY machine").all() as { line: string; machine: string }[]
        const anomalies = db.prepare("SELECT machine, state FROM anomalies WHERE kind = 'offline' ORDER BY machine").all() as { machine: string; state: string }[]
        return { buckets, offline, anomalies }
      } finally {
        db.close()
      }
    }
    await waitFor(() => count().buckets >= sim.readings && count().offline.length === 3, { timeoutMs: 120_000, what: 'buckets and machine states' })
    expect(count()).toEqual({
      buckets: sim.readings,
      offline: ['m1', 'm2', 'm3'].map((machine) => ({ line: 'line1', machine })),
      anomalies: ['m1', 'm2', 'm3'].map((machine) => ({ machine, state: 'open' })),
    })

    // Narratives: the early shift and incidents, grounded or template, from Sparkplug data.
    const narratives = await readTopic(fixture.topics.narratives)
    teardown.add('narratives reader', () => narratives.close())
    await narratives.settle((ms) => ms.some((m) => m.value.includes('"kind":"shift"')) && ms.some((m) => m.value.includes('"kind":"incident"')), { timeoutMs: 240_000, quietMs: 60_000 })
    const all = narratives.messages.map((m) => narrativeMessageSchema.parse(JSON.parse(m.value)))
    const shift = all.find((n) => n.kind === 'shift')
    expect(shift?.id, gw.output().slice(-3000)).toBe('shift/2026-11-23/early')
    for (const n of all) if (n.generator.type === 'llm') expect(n.grounding).toMatchObject({ ok: true, unmatched: [], unknownNames: [] })
    expect(all.filter((n) => n.kind === 'incident').length).toBeGreaterThan(0)

    // The page: the shift narrative, and the machines shown offline.
    const base = `http://127.0.0.1:${httpPort}`
    const shiftPage = await (await fetch(`${base}/shifts/2026-11-23/early`)).text()
    expect(shiftPage).toContain(escapeHtml(shift!.headline))
    const overview = await (await fetch(`${base}/`)).text()
    for (const m of ['m1', 'm2', 'm3']) expect(overview).toContain(m)
    expect(overview).toMatch(/offline since/i)
    const metrics = await (await fetch(`${base}/metrics`)).text()
    expect(metrics).toMatch(/^shiftscribe_sparkplug_messages_total\{type="DDATA"\} [1-9]/m)
    expect(metrics).toMatch(/^shiftscribe_sparkplug_rebirth_requests_total 0$/m)
    expect(gw.child.exitCode).toBeNull()
  }, 480_000)
})
