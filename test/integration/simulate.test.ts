// The simulator against the real mosquitto: a plain QoS1 subscriber receives exactly what the
// simulator's summary says was PUBACKed, split into good readings and bad payloads by kind,
// also when the broker drops the simulator's connection mid-run.
import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { BAD_KINDS, type BadKind } from '../../src/simulate/bad-payloads.js'
import { runSimulation } from '../../src/simulate/run-simulation.js'
import { secureRandom, services } from '../helpers/env.js'
import { createTeardown } from '../helpers/teardown.js'
import { waitFor } from '../helpers/wait-for.js'

const teardown = createTeardown()
afterEach(() => teardown.run())

const SEGMENT = /^[A-Za-z0-9_.-]{1,64}$/
const START = Date.UTC(2025, 0, 6, 6, 0)

interface Received {
  topic: string
  payload: Buffer
}

async function subscribe(filter: string): Promise<{ client: MqttClient; received: Received[] }> {
  const clientId = `sim-sub-${secureRandom()}`
  const client = await mqtt.connectAsync(services.mqttUrl, { protocolVersion: 5, clientId, clean: true, reconnectPeriod: 0 })
  teardown.add(`end ${clientId}`, () => client.endAsync(true))
  const received: Received[] = []
  client.on('message', (topic, payload) => received.push({ topic, payload }))
  const granted = await client.subscribeAsync(filter, { qos: 1 })
  expect(granted[0]?.qos).toBe(1)
  return { client, received }
}

/** What the gateway should make of a message, decided independently of the simulator's code. */
function classify({ topic, payload }: Received): 'reading' | BadKind {
  if (payload.length > 65_536) return 'payload_too_large'
  if (payload.length === 0) return 'empty_payload'
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(payload)
  } catch {
    return 'invalid_utf8'
  }
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return 'not_json'
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'wrong_type'
  const o = v as Record<string, unknown>
  if (!('value' in o)) return 'missing_value'
  if (typeof o.value !== 'number') return 'wrong_type'
  if (!Number.isFinite(o.value)) return 'non_finite_value'
  if (typeof o.ts !== 'number' || !Number.isInteger(o.ts)) return 'bad_timestamp'
  if (o.ts < Date.UTC(2000, 0, 1) || o.ts > Date.UTC(2100, 0, 1)) return 'timestamp_out_of_range'
  if (!topic.split('/').every((s) => SEGMENT.test(s))) return 'bad_topic_segment'
  return 'reading'
}

/** Waits until `expected` arrived and then a little longer, so extra copies would show up. */
async function settle(received: Received[], expected: number): Promise<void> {
  await waitFor(() => received.length >= expected, { timeoutMs: 60_000, what: `${expected} messages (have ${received.length})` })
  await new Promise((r) => setTimeout(r, 500))
}

describe('simulator → mosquitto (QoS1)', () => {
  it('delivers exactly the PUBACKed count, with the good/bad split by kind the summary reports', async () => {
    const prefix = `factory-${secureRandom()}`
    const sub = await subscribe(`${prefix}/#`)
    const summary = await runSimulation({
      url: services.mqttUrl,
      prefix,
      count: 20_000,
      ratePerS: 10_000,
      speed: 60,
      startTs: START,
      badRatio: 0.05,
      anomalies: { mode: 'count', count: 6 },
      seed: 'integration',
    })
    expect(summary).toMatchObject({ published: 20_000, sent: 20_000, failed: 0, unacked: 0, stoppedBy: 'count' })
    expect(summary.ratePerS).toBeGreaterThan(5000)
    await settle(sub.received, summary.published)
    expect(sub.received).toHaveLength(summary.published)

    const byKind = Object.fromEntries(BAD_KINDS.map((k) => [k, 0])) as Record<BadKind, number>
    let good = 0
    const readingKeys = new Set<string>()
    for (const m of sub.received) {
      const kind = classify(m)
      if (kind === 'reading') {
        good++
        readingKeys.add(`${m.topic}@${(JSON.parse(m.payload.toString()) as { ts: number }).ts}`)
      } else {
        byKind[kind]++
      }
    }
    expect(good).toBe(summary.good)
    expect(byKind).toEqual(summary.badByKind)
    expect(summary.bad).toBeGreaterThan(700) // ≈ 5 % of 20,000
    for (const kind of BAD_KINDS) expect(summary.badByKind[kind]).toBeGreaterThan(20)
    expect(readingKeys.size).toBe(good) // (topic, ts) is unique
    expect(summary.truth.length).toBe(summary.anomalies)
    expect(summary.anomalies).toBeGreaterThanOrEqual(5)
  })

  it('counts every message once when the broker drops the simulator mid-run and mqtt.js resends', async () => {
    const prefix = `factory-${secureRandom()}`
    const sub = await subscribe(`${prefix}/#`)
    const clientId = `sim-${secureRandom()}`
    const warnings: string[] = []
    const run = runSimulation(
      { url: services.mqttUrl, prefix, clientId, count: 20_000, ratePerS: 5000, startTs: START, anomalies: { mode: 'none' }, window: 1000 },
      { onWarning: (w) => warnings.push(w) },
    )
    // A second connection with the same client id makes mosquitto disconnect the simulator.
    await waitFor(() => sub.received.length > 3000, { what: 'the run to get going' })
    const usurper = await mqtt.connectAsync(services.mqttUrl, { protocolVersion: 5, clientId, clean: true, reconnectPeriod: 0 })
    await usurper.endAsync()
    const summary = await run
    expect(summary).toMatchObject({ published: 20_000, good: 20_000, failed: 0, unacked: 0 })
    expect(summary.reconnects).toBeGreaterThanOrEqual(1)
    expect(warnings.some((w) => w.includes('reconnected'))).toBe(true)
    await settle(sub.received, summary.published)
    // Resent messages may arrive twice (QoS1 is at-least-once); by (topic, ts) each arrived.
    const unique = new Set(sub.received.map((m) => `${m.topic}@${(JSON.parse(m.payload.toString()) as { ts: number }).ts}`))
    expect(unique.size).toBe(20_000)
    expect(sub.received.length).toBeGreaterThanOrEqual(20_000)
  })
})
