// Bad input never crashes the gateway: a malformed-payload set covering every quarantine
// reason lands in the quarantine topic with the right reason and the original bytes, good
// readings keep flowing, and the ledger balances.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { quarantineMessageSchema, readingMessageSchema, type QuarantineReason } from '../../src/bus/messages.js'
import { repoRoot, secureRandom, services } from '../helpers/env.js'
import { gatewayFixture, startGateway, type GatewayFixture, type GatewayProcess } from '../helpers/gateway-process.js'
import { readTopic, type TopicReader } from '../helpers/kafka-reader.js'
import { waitFor } from '../helpers/wait-for.js'

let fixture: GatewayFixture
let gateway: GatewayProcess
let quarantine: TopicReader
let readings: TopicReader

beforeAll(async () => {
  fixture = gatewayFixture()
  gateway = await startGateway(fixture)
})

afterAll(async () => {
  await quarantine?.close()
  await readings?.close()
  if (gateway && gateway.child.exitCode === null) await gateway.term()
})

interface Case {
  name: string
  topic: string
  payload: Buffer
  reason: QuarantineReason
}

describe('gateway with malformed input', () => {
  it('quarantines each bad message with its reason and original bytes, keeps running, and balances the ledger', async () => {
    const p = fixture.prefix
    const t = (sensor = 'temp') => `${p}/line1/m1/${sensor}`
    const json = (v: unknown) => Buffer.from(JSON.stringify(v))
    const cases: Case[] = [
      { name: 'empty', topic: t(), payload: Buffer.alloc(0), reason: 'empty_payload' },
      { name: 'invalid utf-8', topic: t(), payload: Buffer.from([0x7b, 0xc3, 0x28, 0x7d]), reason: 'invalid_utf8' },
      { name: 'not json', topic: t(), payload: Buffer.from('{"value": 1,'), reason: 'not_json' },
      { name: 'string value', topic: t(), payload: json({ value: 'abc' }), reason: 'wrong_type' },
      { name: 'list of numbers', topic: t(), payload: json([1, 2, 3]), reason: 'wrong_type' },
      { name: 'deep nesting', topic: t(), payload: Buffer.from(`${'['.repeat(30000)}${']'.repeat(30000)}`), reason: 'wrong_type' },
      { name: 'missing value', topic: t(), payload: json({ ts: Date.now() }), reason: 'missing_value' },
      { name: 'huge number', topic: t(), payload: Buffer.from('{"value": 1e999}'), reason: 'non_finite_value' },
      { name: 'huge number in a list', topic: t(), payload: Buffer.from(`[{"value": 1}, {"value": -${'9'.repeat(400)}}]`), reason: 'non_finite_value' },
      { name: 'bad ts', topic: t(), payload: json({ value: 1, ts: 'yesterday' }), reason: 'bad_timestamp' },
      { name: 'ts 1990', topic: t(), payload: json({ value: 1, ts: Date.UTC(1990, 0, 1) }), reason: 'timestamp_out_of_range' },
      { name: 'ts 3 days ahead', topic: t(), payload: json({ value: 1, ts: Date.now() + 3 * 86400_000 }), reason: 'timestamp_out_of_range' },
      { name: '70 KB payload', topic: t(), payload: Buffer.alloc(70_000, 0x20), reason: 'payload_too_large' },
      { name: '1 MiB payload', topic: t(), payload: Buffer.alloc(1 << 20, 0x41), reason: 'payload_too_large' },
      { name: 'too many readings', topic: t(), payload: json(Array.from({ length: 1001 }, (_, i) => ({ value: i }))), reason: 'too_many_readings' },
      { name: 'emoji in topic', topic: t('temp☃'), payload: json({ value: 1 }), reason: 'bad_topic_segment' },
      // mosquitto itself disconnects a publisher whose topic has C0/C1 control characters
      // (malformed packet), so those never reach the gateway (unit tests cover them); these
      // format characters do reach it.
      { name: 'line separator in topic', topic: t('te\u2028mp'), payload: json({ value: 1 }), reason: 'bad_topic_segment' },
      { name: 'right-to-left override in topic', topic: `${p}/line1/\u202egnp.exe/temp`, payload: json({ value: 1 }), reason: 'bad_topic_segment' },
      { name: 'zero-width space in topic', topic: t('te\u200bmp'), payload: json({ value: 1 }), reason: 'bad_topic_segment' },
      { name: 'space in topic', topic: t('spindle temp'), payload: json({ value: 1 }), reason: 'bad_topic_segment' },
      { name: '65-character segment', topic: t('x'.repeat(65)), payload: json({ value: 1 }), reason: 'bad_topic_segment' },
      { name: 'not a number', topic: `${p}-num/line1/m1/temp`, payload: Buffer.from('12 kg'), reason: 'not_a_number' },
    ]
    const goodTs = Date.now()
    const pub = await mqtt.connectAsync(services.mqttUrl, { protocolVersion: 5, clientId: `pub-${secureRandom()}`, clean: true })
    for (const c of cases) await pub.publishAsync(c.topic, c.payload, { qos: 1 })
    // Good readings after the bad ones: the gateway is still ingesting.
    await pub.publishAsync(t('after'), json({ value: 42.5, ts: goodTs, unit: '°C' }), { qos: 1 })
    await pub.publishAsync(`${p}-num/line1/m1/after`, Buffer.from(' 17.25 '), { qos: 1 })
    await pub.endAsync()

    quarantine = await readTopic(fixture.topics.quarantine)
    readings = await readTopic(fixture.topics.readings)
    await quarantine.settle((m) => m.length >= cases.length)
    await readings.settle((m) => m.length >= 2)

    expect(gateway.child.exitCode).toBeNull()
    const got = quarantine.messages.map((m) => ({ key: m.key, headers: m.headers, value: quarantineMessageSchema.parse(JSON.parse(m.value)) }))
    expect(got).toHaveLength(cases.length)
    for (const c of cases) {
      const q = got.find((g) => g.value.mqttTopic === c.topic && g.value.payloadBytes === c.payload.length && g.value.reason === c.reason)
      expect(q, `${c.name} → ${c.reason}; got ${JSON.stringify(got.filter((g) => g.value.mqttTopic === c.topic).map((g) => [g.value.reason, g.value.detail]))}`).toBeDefined()
      if (!q) continue
      expect(q.key).toBe(c.topic)
      expect(q.headers).toMatchObject({ schema: 'shiftscribe.quarantine', 'schema-version': '1' })
      const kept = Buffer.from(q.value.payloadBase64, 'base64')
      if (c.payload.length <= 65536) {
        expect(q.value.payloadTruncated).toBe(false)
        expect(kept.equals(c.payload), c.name).toBe(true)
      } else {
        expect(q.value.payloadTruncated).toBe(true)
        expect(kept.equals(c.payload.subarray(0, 65536))).toBe(true)
      }
    }

    const good = readings.messages.map((m) => ({ key: m.key, value: readingMessageSchema.parse(JSON.parse(m.value)) }))
    expect(good.map((g) => [g.key, g.value.value]).sort()).toEqual([
      [`${fixture.site}/line1/m1/after`, 17.25],
      [`${fixture.site}/line1/m1/after`, 42.5],
    ])
    expect(good.find((g) => g.value.value === 42.5)?.value).toMatchObject({ ts: goodTs, unit: '°C', line: 'line1', machine: 'm1', sensor: 'after' })

    const readLedger = () => {
      const r = spawnSync(process.execPath, [join(repoRoot, 'dist', 'cli', 'index.js'), 'ledger', '--config', fixture.configFile, '--json'], { encoding: 'utf8' })
      expect(r.status, r.stderr).toBe(0)
      return JSON.parse(r.stdout) as { pending: number }
    }
    // The ack reaches the consumer and the gateway at about the same time.
    await waitFor(() => readLedger().pending === 0, { what: 'journal drained' })
    const l = readLedger() as { received: number; journaled: number; quarantined: number; delivered: number; pending: number; balanced: boolean; quarantinedByReason: Record<string, number> }
    expect(l).toMatchObject({ received: cases.length + 2, journaled: 2, quarantined: cases.length, delivered: cases.length + 2, pending: 0, balanced: true })
    const expectedByReason: Record<string, number> = {}
    for (const c of cases) expectedByReason[c.reason] = (expectedByReason[c.reason] ?? 0) + 1
    expect(Object.fromEntries(Object.entries(l.quarantinedByReason).filter(([, n]) => n > 0))).toEqual(expectedByReason)
  })
})
