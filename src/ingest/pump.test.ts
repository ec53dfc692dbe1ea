import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { BusProducer, KafkaBus, TopicBatch } from '../bus/kafka-bus.js'
import { GatewayError } from '../errors.js'
import { silentLogger } from '../log.js'
import { systemClock } from '../util/clock.js'
import { createJournal, journalRoute, type Journal } from './journal.js'
import { createPump, type PumpSettings } from './pump.js'

const settings: PumpSettings = { batchMaxMessages: 3, batchMaxBytes: 1 << 20, lingerMs: 0, compression: 'none', retryMinMs: 10, retryMaxMs: 40, drainTimeoutMs: 2000 }
const dirs: string[] = []
const journals: Journal[] = []
afterEach(() => {
  for (const j of journals.splice(0)) j.close()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function newJournal(): Journal {
  const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-pump-'))
  dirs.push(dir)
  const j = createJournal({ file: join(dir, 'j.db'), synchronous: 'normal', maxBytes: 1 << 24, whenFull: 'block', log: silentLogger() })
  journals.push(j)
  return j
}

/** A fake bus whose sends fail while `down` is true. */
function fakeBus() {
  const sent: TopicBatch[][] = []
  const state = { down: false, sendAttempts: 0, producers: 0, ensureCalls: 0 }
  const bus: KafkaBus = {
    brokers: ['fake:9092'],
    async ensureTopics(specs) {
      state.ensureCalls++
      if (state.down) throw new GatewayError('BUS_UNAVAILABLE', 'down', { retriable: true })
      return { created: specs.map((s) => s.topic), existing: [] }
    },
    createConsumer() {
      throw new Error('not used by the pump')
    },
    async createProducer(): Promise<BusProducer> {
      if (state.down) throw new GatewayError('BUS_UNAVAILABLE', 'down', { retriable: true })
      state.producers++
      return {
        async send(batches) {
          state.sendAttempts++
          if (state.down) throw new GatewayError('BUS_UNAVAILABLE', 'connection refused', { retriable: true })
          // As text, to compare easily.
          sent.push(batches.map((b) => ({ topic: b.topic, messages: b.messages.map((m) => ({
                key: m.key.toString(),
                value: m.value.toString(),
                headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, v.toString()])),
              })),
            })),
          )
        },
        async disconnect() {},
      }
    },
  }
  return { bus, sent, state }
}

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 5))
  }
}

function appendReadings(j: Journal, n: number, offset = 0): void {
  for (let i = 0; i < n; i++) {
    j.append([{ ok: true, entries: [{ kind: 'reading', key: Buffer.from(`s/l/m/k${(offset + i) % 2}`), value: Buffer.from(`{"i":${offset + i}}`), receivedAt: offset + i }] }])
  }
}

describe('pump', () => {
  it('sends journaled records in order, split by topic, with headers, and deletes them after the ack', async () => {
    const j = newJournal()
    const { bus, sent } = fakeBus()
    appendReadings(j, 4)
    j.append([{ ok: false, reason: 'not_json', detail: 'd', entries: [{ kind: 'quarantine', key: Buffer.from('bad/topic'), value: Buffer.from('{"q":1}'), receivedAt: 9 }] }])
    const pump = createPump({ bus, name: 'pump', source: j, route: journalRoute({ readings: 'r', quarantine: 'q' }), topics: [], settings, log: silentLogger(), clock: systemClock })
    await pump.start()
    await until(() => j.ledger().pending === 0)
    await pump.stop()
    const readings = sent.flatMap((b) => b.find((t) => t.topic === 'r')?.messages ?? [])
    const quarantine = sent.flatMap((b) => b.find((t) => t.topic === 'q')?.messages ?? [])
    expect(readings.map((m) => m.value)).toEqual(['{"i":0}', '{"i":1}', '{"i":2}', '{"i":3}'])
    expect(quarantine).toEqual([{ key: 'bad/topic', value: '{"q":1}', headers: expect.objectContaining({ schema: 'shiftscribe.quarantine', 'schema-version': '1' }) }])
    expect(readings[0]?.headers).toMatchObject({ schema: 'shiftscribe.reading', 'content-type': 'application/json' })
    expect(sent.every((b) => b.reduce((n, t) => n + t.messages.length, 0) <= 3)).toBe(true)
    expect(j.ledger()).toMatchObject({ delivered: 5, pending: 0 })
  })

  it('keeps records while Kafka is down, backs off, and delivers each exactly once when it is back', async () => {
    const j = newJournal()
    const { bus, sent, state } = fakeBus()
    state.down = true
    const pump = createPump({ bus, name: 'pump', source: j, route: journalRoute({ readings: 'r', quarantine: 'q' }), topics: [], settings, log: silentLogger(), clock: systemClock })
    await pump.start()
    appendReadings(j, 7)
    pump.notify()
    await until(() => state.ensureCalls >= 3)
    expect(j.ledger().pending).toBe(7)
    expect(pump.health().ok).toBe(false)
    expect(pump.health().detail).toContain('Kafka unavailable')
    state.down = false
    await until(() => j.ledger().pending === 0)
    appendReadings(j, 2, 7)
    pump.notify()
    await until(() => j.ledger().pending === 0)
    await pump.stop()
    const values = sent.flatMap((b) => b.flatMap((t) => t.messages.map((m) => m.value)))
    expect(values).toEqual(Array.from({ length: 9 }, (_, i) => `{"i":${i}}`))
    expect(pump.status().failingSince).toBeUndefined()
  })

  it('retries the same batch after a failed send (no loss, no reordering)', async () => {
    const j = newJournal()
    const { bus, sent, state } = fakeBus()
    const pump = createPump({ bus, name: 'pump', source: j, route: journalRoute({ readings: 'r', quarantine: 'q' }), topics: [], settings, log: silentLogger(), clock: systemClock })
    await pump.start()
    appendReadings(j, 3)
    pump.notify()
    await until(() => j.ledger().pending === 0)
    state.down = true
    appendReadings(j, 3, 3)
    pump.notify()
    await until(() => state.sendAttempts >= 3)
    expect(j.ledger().pending).toBe(3)
    state.down = false
    await until(() => j.ledger().pending === 0)
    await pump.stop()
    expect(sent.flatMap((b) => b.flatMap((t) => t.messages.map((m) => m.value)))).toEqual(Array.from({ length: 6 }, (_, i) => `{"i":${i}}`))
  })

  it('drains what is journaled on stop, within the drain timeout', async () => {
    const j = newJournal()
    const { bus } = fakeBus()
    const pump = createPump({ bus, name: 'pump', source: j, route: journalRoute({ readings: 'r', quarantine: 'q' }), topics: [], settings: { ...settings, lingerMs: 50 }, log: silentLogger(), clock: systemClock })
    await pump.start()
    appendReadings(j, 10)
    await pump.stop()
    expect(j.ledger().pending).toBe(0)
  })

  it('gives up draining at the deadline when Kafka is down, leaving records journaled', async () => {
    const j = newJournal()
    const { bus, state } = fakeBus()
    state.down = true
    const pump = createPump({ bus, name: 'pump', source: j, route: journalRoute({ readings: 'r', quarantine: 'q' }), topics: [], settings: { ...settings, drainTimeoutMs: 200 }, log: silentLogger(), clock: systemClock })
    await pump.start()
    appendReadings(j, 5)
    const t0 = Date.now()
    await pump.stop()
    expect(Date.now() - t0).toBeLessThan(2000)
    expect(j.ledger().pending).toBe(5)
  })
})
