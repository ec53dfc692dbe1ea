import { describe, expect, it } from 'vitest'
import { BAD_KINDS } from './bad-payloads.js'
import { createPlant, type PlantOptions, type SimMessage } from './plant.js'
import { SENSOR_NAMES, SENSOR_SPECS } from './sensors.js'
import { ANOMALY_KINDS, anomalyTruthSchema, type AnomalyTruth } from './truth.js'

const MONDAY_6 = Date.UTC(2025, 0, 6, 6, 0) // 2025-01-06 is a Monday
const SEGMENT = /^[A-Za-z0-9_.-]{1,64}$/
const HOUR = 3_600_000
const INTERVAL = 10_000

const base: PlantOptions = { seed: 1, startTs: MONDAY_6, intervalMs: 500, lines: 2, machinesPerLine: 3 }

function take(options: PlantOptions, n: number): SimMessage[] {
  const plant = createPlant(options)
  return Array.from({ length: n }, () => plant.next())
}

/** Runs a plant until event time reaches endTs; returns messages and truth, checking truth appears as its start is reached. */
function runUntil(options: PlantOptions, endTs: number): { messages: SimMessage[]; truth: AnomalyTruth[] } {
  const plant = createPlant(options)
  const messages: SimMessage[] = []
  const truth: AnomalyTruth[] = []
  for (;;) {
    const m = plant.next()
    if (m.ts >= endTs) break
    messages.push(m)
    for (const t of plant.takeTruth()) {
      expect(t.startTs).toBe(m.ts) // handed out with the first message of its start tick
      truth.push(t)
    }
  }
  return { messages, truth }
}

const value = (m: SimMessage): number => (JSON.parse(m.payload.toString('utf8')) as { value: number }).value

describe('createPlant: determinism', () => {
  it('gives byte-identical messages for the same seed and options, different ones for another seed', () => {
    const opts: PlantOptions = { ...base, badRatio: 0.05, anomalies: { mode: 'rate', perMachinePerShift: 2 } }
    const a = take(opts, 10_000)
    const b = take(opts, 10_000)
    expect(b.map((m) => m.topic)).toEqual(a.map((m) => m.topic))
    expect(b.map((m) => m.kind)).toEqual(a.map((m) => m.kind))
    expect(b.every((m, i) => m.payload.equals((a[i] as SimMessage).payload))).toBe(true)
    const c = take({ ...opts, seed: 2 }, 10_000)
    const samePayloads = c.filter((m, i) => m.payload.equals((a[i] as SimMessage).payload)).length
    expect(samePayloads).toBeLessThan(5000) // counters and idle zeros may coincide, noisy values do not
  })

  it('gives the same truth for the same seed', () => {
    const opts: PlantOptions = { ...base, intervalMs: 30_000, anomalies: { mode: 'rate', perMachinePerShift: 2 } }
    const a = runUntil(opts, MONDAY_6 + 24 * HOUR).truth
    const b = runUntil(opts, MONDAY_6 + 24 * HOUR).truth
    expect(a.length).toBeGreaterThan(10)
    expect(b).toEqual(a)
    expect(runUntil({ ...opts, seed: 9 }, MONDAY_6 + 24 * HOUR).truth).not.toEqual(a)
  })

  it('nextBatch yields what next would, one machine and tick at a time, at most max messages', () => {
    const opts: PlantOptions = { ...base, intervalMs: 60_000, badRatio: 0.1, anomalies: { mode: 'rate', perMachinePerShift: 6 } }
    const flat = take(opts, 20_100)
    const key = (m: SimMessage | undefined) => (m === undefined ? '' : `${m.line}/${m.machine}@${m.ts}`)
    const plant = createPlant(opts)
    const batched: SimMessage[] = []
    for (let i = 0; batched.length < 20_000; i++) {
      const max = i % 5 === 0 ? 3 : Infinity
      const batch = plant.nextBatch(max)
      expect(batch.length).toBeGreaterThan(0)
      expect(batch.length).toBeLessThanOrEqual(max)
      expect(new Set(batch.map(key)).size).toBe(1)
      batched.push(...batch)
      // Uncut, a batch is the rest of its machine's tick: the next message is another machine's or tick's.
      if (max === Infinity) expect(key(flat[batched.length])).not.toBe(key(batch[0]))
    }
    expect(batched.slice(0, 20_000).map((m) => [m.topic, m.ts, m.kind])).toEqual(flat.slice(0, 20_000).map((m) => [m.topic, m.ts, m.kind]))
    expect(plant.machines).toHaveLength(6)
    expect(plant.sensors).toEqual(SENSOR_NAMES)
  })
})

describe('createPlant: readings', () => {
  const messages = take({ ...base, badRatio: 0.1 }, 50_000)
  const readings = messages.filter((m) => m.kind === 'reading')

  it('publishes valid JSON readings with a finite value, an integer ts and the sensor unit on well-formed topics', () => {
    expect(readings.length).toBeGreaterThan(40_000)
    const wrong: unknown[] = []
    for (const m of readings) {
      const p = JSON.parse(m.payload.toString('utf8')) as Record<string, unknown>
      const r = m.reading
      const ok =
        r !== undefined &&
        Object.keys(p).join() === 'value,ts,unit,quality' &&
        Number.isFinite(p.value) &&
        Number.isInteger(p.ts) &&
        p.value === r.value &&
        p.ts === r.ts &&
        p.ts === m.ts &&
        p.unit === SENSOR_SPECS[r.sensor].unit &&
        p.quality === 'good' &&
        m.topic === `factory/${r.line}/${r.machine}/${r.sensor}` &&
        m.topic.split('/').every((seg) => SEGMENT.test(seg))
      if (!ok) wrong.push({ topic: m.topic, payload: m.payload.toString(), reading: r })
    }
    expect(wrong.slice(0, 3)).toEqual([])
    expect(new Set(readings.map((m) => m.reading?.sensor))).toEqual(new Set(SENSOR_NAMES))
    expect(new Set(readings.map((m) => `${m.reading?.line}/${m.reading?.machine}`)).size).toBe(6)
  })

  it('never repeats a (topic, ts) pair and keeps event-time order', () => {
    const keys = new Set(messages.map((m) => `${m.topic}@${m.ts}`))
    expect(keys.size).toBe(messages.length)
    expect(messages.findIndex((m, i) => i > 0 && m.ts < (messages[i - 1] as SimMessage).ts)).toBe(-1)
    // all sensors advance together: one sample per sensor per interval
    const perTs = new Map<number, number>()
    for (const m of messages) perTs.set(m.ts, (perTs.get(m.ts) ?? 0) + 1)
    expect([...perTs.values()].slice(0, -1).every((n) => n === 42)).toBe(true)
    expect([...perTs.keys()][1]).toBe(MONDAY_6 + 500)
  })

  it('replaces about bad-ratio of the messages by malformed ones of every kind', () => {
    const bad = messages.filter((m) => m.kind !== 'reading')
    expect(bad.length / messages.length).toBeGreaterThan(0.09)
    expect(bad.length / messages.length).toBeLessThan(0.11)
    const byKind = new Map<string, number>()
    for (const m of bad) byKind.set(m.kind, (byKind.get(m.kind) ?? 0) + 1)
    expect([...byKind.keys()].sort()).toEqual([...BAD_KINDS].sort())
    for (const n of byKind.values()) expect(n).toBeGreaterThan(bad.length / 10 / 2)
    expect(bad.every((m) => m.reading === undefined)).toBe(true)
  })

  it('limits malformed messages to the chosen kinds and publishes none at ratio 0', () => {
    const only = take({ ...base, badRatio: 0.5, badKinds: ['empty_payload'] }, 2000).filter((m) => m.kind !== 'reading')
    expect(only.length).toBeGreaterThan(800)
    expect(only.every((m) => m.kind === 'empty_payload' && m.payload.length === 0)).toBe(true)
    expect(take(base, 5000).every((m) => m.kind === 'reading')).toBe(true)
  })

  it('keeps the readings independent of the bad ratio: same values where both publish a reading', () => {
    const clean = take(base, 20_000)
    const dirty = take({ ...base, badRatio: 0.3 }, 20_000)
    let compared = 0
    let differing = 0
    dirty.forEach((m, i) => {
      if (m.kind !== 'reading') return
      if (!m.payload.equals((clean[i] as SimMessage).payload)) differing++
      compared++
    })
    expect(differing).toBe(0)
    expect(compared).toBeGreaterThan(12_000)
  })
})

describe('createPlant: shifts and physics', () => {
  // Two shifts (06–14, 14–22) with a 30 min break 4 h in, weekends off, one week at 1 sample/min.
  const opts: PlantOptions = {
    seed: 4,
    startTs: Date.UTC(2025, 0, 5, 0, 0), // Sunday 00:00
    intervalMs: 60_000,
    lines: 1,
    machinesPerLine: 2,
    shiftPattern: {
      timeZone: 'UTC',
      shifts: [
        { name: 'early', start: '06:00', end: '14:00' },
        { name: 'late', start: '14:00', end: '22:00' },
      ],
      breaks: [{ afterMinutes: 240, minutes: 30 }],
      weekends: false,
    },
  }
  const { messages } = runUntil(opts, Date.UTC(2025, 0, 12, 0, 0))
  const expectedProducing = (ts: number): boolean => {
    const d = new Date(ts)
    const minute = d.getUTCHours() * 60 + d.getUTCMinutes()
    const weekday = d.getUTCDay() !== 0 && d.getUTCDay() !== 6
    const inBreak = (minute >= 600 && minute < 630) || (minute >= 1080 && minute < 1110)
    return weekday && minute >= 360 && minute < 1320 && !inBreak
  }
  const series = (sensor: string, machine = 'm1') => messages.filter((m) => m.reading?.sensor === sensor && m.reading.machine === machine).map((m) => ({ ts: m.ts, value: value(m) }))

  it('counts parts only while producing, and steadily while it does', () => {
    for (const machine of ['m1', 'm2']) {
      const parts = series('part_count', machine)
      let producedInShift = 0
      let productiveMinutes = 0
      for (let i = 1; i < parts.length; i++) {
        const prev = parts[i - 1] as { ts: number; value: number }
        const cur = parts[i] as { ts: number; value: number }
        expect(cur.value).toBeGreaterThanOrEqual(prev.value) // monotonic
        if (cur.value > prev.value) expect(expectedProducing(cur.ts)).toBe(true)
        if (expectedProducing(cur.ts)) {
          productiveMinutes++
          producedInShift += cur.value - prev.value
        }
      }
      expect(productiveMinutes).toBe(5 * (16 * 60 - 60)) // 5 weekdays × (16 h − 2 breaks)
      // cycle times are 25–70 s: between 0.85 and 2.4 parts per productive minute
      expect(producedInShift / productiveMinutes).toBeGreaterThan(0.8)
      expect(producedInShift / productiveMinutes).toBeLessThan(2.5)
      const rejects = series('reject_count', machine)
      for (let i = 1; i < rejects.length; i++) expect((rejects[i] as { value: number }).value).toBeGreaterThanOrEqual((rejects[i - 1] as { value: number }).value)
      const rejected = (rejects.at(-1)?.value ?? 0) - (rejects[0]?.value ?? 0)
      const made = (parts.at(-1)?.value ?? 0) - (parts[0]?.value ?? 0)
      expect(rejected / made).toBeGreaterThan(0.005)
      expect(rejected / made).toBeLessThan(0.03)
    }
  })

  it('spins, draws power and warms up while producing; stops and cools to ambient otherwise', () => {
    const at = (sensor: string, iso: string) => series(sensor).find((p) => p.ts === Date.parse(iso))?.value
    // Monday mid-shift vs Sunday noon (idle for a day)
    expect(at('spindle_speed', '2025-01-06T12:00:00Z')).toBeGreaterThan(5500)
    expect(at('spindle_speed', '2025-01-05T12:00:00Z')).toBeLessThan(5)
    expect(at('spindle_speed', '2025-01-06T10:15:00Z')).toBeLessThan(5) // break
    expect(at('power', '2025-01-06T12:00:00Z')).toBeGreaterThan(8)
    expect(at('power', '2025-01-05T12:00:00Z')).toBeLessThan(3)
    expect(at('spindle_temp', '2025-01-06T13:00:00Z')).toBeGreaterThan(50)
    expect(at('spindle_temp', '2025-01-05T12:00:00Z')).toBeLessThan(26)
    expect(at('vibration_rms', '2025-01-06T12:00:00Z')).toBeGreaterThan(1.5)
    expect(at('vibration_rms', '2025-01-05T12:00:00Z')).toBeLessThan(0.5)
    // warming is gradual: 5 minutes into the shift the spindle is still well below its operating point
    expect((at('spindle_temp', '2025-01-06T06:05:00Z') ?? 0) + 10).toBeLessThan(at('spindle_temp', '2025-01-06T13:00:00Z') ?? 0)
  })

  it('gives machines slightly different operating points', () => {
    const mean = (xs: { value: number }[]) => xs.reduce((a, b) => a + b.value, 0) / xs.length
    const inShift = (machine: string) => series('spindle_speed', machine).filter((p) => expectedProducing(p.ts) && expectedProducing(p.ts - 60_000))
    expect(Math.abs(mean(inShift('m1')) - mean(inShift('m2')))).toBeGreaterThan(50)
  })
})

describe('createPlant: anomalies and ground truth', () => {
  const opts: PlantOptions = {
    seed: 3,
    startTs: MONDAY_6,
    intervalMs: INTERVAL,
    lines: 1,
    machinesPerLine: 2,
    site: 'plant-a',
    shiftPattern: { weekends: true },
    anomalies: { mode: 'rate', perMachinePerShift: 4 },
  }
  const endTs = MONDAY_6 + 48 * HOUR
  const run = runUntil(opts, endTs)
  const baseline = runUntil({ ...opts, anomalies: { mode: 'none' } }, endTs)
  const baseValue = new Map(baseline.messages.map((m) => [`${m.topic}@${m.ts}`, value(m)]))
  const byTopic = new Map<string, SimMessage[]>()
  for (const m of run.messages) {
    const list = byTopic.get(m.topic)
    if (list === undefined) byTopic.set(m.topic, [m])
    else list.push(m)
  }
  const inWindow = (t: AnomalyTruth, m: SimMessage) => m.topic === `factory/${t.key}` && m.ts >= t.startTs && m.ts < t.endTs
  const windowOf = (t: AnomalyTruth) => (byTopic.get(`factory/${t.key}`) ?? []).filter((m) => inWindow(t, m))
  const truthByTopic = new Map<string, AnomalyTruth[]>()
  for (const t of run.truth) truthByTopic.set(`factory/${t.key}`, [...(truthByTopic.get(`factory/${t.key}`) ?? []), t])
  const ofKind = (kind: string) => run.truth.filter((t) => t.kind === kind && t.endTs <= endTs)

  it('injects every kind, with well-formed truth records inside production time', () => {
    expect(new Set(run.truth.map((t) => t.kind))).toEqual(new Set(ANOMALY_KINDS))
    expect(run.truth.length).toBeGreaterThan(30) // ≈ 2 machines × 6 shifts × 4
    for (const t of run.truth) {
      expect(anomalyTruthSchema.parse(t)).toEqual(t)
      expect(t.startTs).toBeLessThan(t.endTs)
      expect(t.key).toBe(`${t.line}/${t.machine}/${t.sensor}`)
      expect(t.site).toBe('plant-a')
      expect(t.start).toBe(new Date(t.startTs).toISOString())
      expect(t.end).toBe(new Date(t.endTs).toISOString())
      const minute = new Date(t.startTs).getUTCHours() * 60 + new Date(t.startTs).getUTCMinutes()
      expect([600, 601, 602].some((b) => minute >= b && minute < 630) || (minute >= 1080 && minute < 1110) || (minute >= 120 && minute < 150)).toBe(false) // not in a break
    }
    // no two anomalies overlap on one key
    const byKey = new Map<string, AnomalyTruth[]>()
    for (const t of run.truth) byKey.set(t.key, [...(byKey.get(t.key) ?? []), t])
    for (const list of byKey.values()) {
      list.sort((a, b) => a.startTs - b.startTs)
      for (let i = 1; i < list.length; i++) expect((list[i] as AnomalyTruth).startTs).toBeGreaterThanOrEqual((list[i - 1] as AnomalyTruth).endTs)
    }
  })

  it('leaves every sample outside the truth windows as it would be without anomalies', () => {
    let compared = 0
    const differing: string[] = []
    for (const m of run.messages) {
      if (m.reading?.sensor === 'reject_count') continue // cumulative: checked by its increments below
      if ((truthByTopic.get(m.topic) ?? []).some((t) => inWindow(t, m))) continue
      if (value(m) !== baseValue.get(`${m.topic}@${m.ts}`)) differing.push(`${m.topic}@${m.ts}`)
      compared++
    }
    expect(differing.slice(0, 5)).toEqual([])
    expect(compared).toBeGreaterThan(190_000)
  })

  it('spike: exactly `samples` samples thrown off by `offset`', () => {
    expect(ofKind('spike').length).toBeGreaterThan(0)
    for (const t of ofKind('spike')) {
      const w = windowOf(t)
      expect(w).toHaveLength(Number(t.params.samples))
      for (const m of w) {
        const diff = value(m) - (baseValue.get(`${m.topic}@${m.ts}`) ?? NaN)
        expect(Math.abs(diff - Number(t.params.offset))).toBeLessThan(0.01 + Math.abs(Number(t.params.offset)) * 0.001)
        expect(Math.abs(diff)).toBeGreaterThan(2.4) // ≥ 10 σ for every sensor
      }
    }
  })

  it('drift: the offset from normal ramps steadily to `delta`', () => {
    expect(ofKind('drift').length).toBeGreaterThan(0)
    for (const t of ofKind('drift')) {
      const diffs = windowOf(t).map((m) => value(m) - (baseValue.get(`${m.topic}@${m.ts}`) ?? NaN))
      const delta = Number(t.params.delta)
      expect(diffs.length).toBeGreaterThanOrEqual(60) // ≥ 10 min at 10 s
      expect(Math.abs((diffs.at(-1) ?? 0) - delta)).toBeLessThan(Math.abs(delta) * 0.02 + 0.01)
      expect(Math.abs(diffs[0] ?? 0)).toBeLessThan(Math.abs(delta) * 0.05)
      const backwards = diffs.filter((d, i) => i > 0 && Math.sign(delta) * (d - (diffs[i - 1] as number)) < -0.01 - Math.abs(delta) * 0.001)
      expect(backwards).toEqual([])
    }
  })

  it('flatline: one constant value, recorded in params, for the whole window', () => {
    expect(ofKind('flatline').length).toBeGreaterThan(0)
    for (const t of ofKind('flatline')) {
      const values = windowOf(t).map(value)
      expect(values.length).toBeGreaterThanOrEqual(30) // ≥ 5 min at 10 s
      expect(new Set(values)).toEqual(new Set([t.params.value]))
    }
  })

  it('dropout: no message for the sensor in the window, while it publishes right before and after', () => {
    expect(ofKind('dropout').length).toBeGreaterThan(0)
    for (const t of ofKind('dropout')) {
      expect(windowOf(t)).toHaveLength(0)
      expect(baseline.messages.filter((m) => inWindow(t, m)).length).toBe((t.endTs - t.startTs) / INTERVAL)
      const published = byTopic.get(`factory/${t.key}`) ?? []
      expect(published.some((m) => m.ts === t.startTs - INTERVAL)).toBe(true)
      expect(published.some((m) => m.ts === t.endTs)).toBe(true)
    }
  })

  it('limit_breach: every sample above the hard limit, none above it otherwise', () => {
    expect(ofKind('limit_breach').length).toBeGreaterThan(0)
    for (const t of ofKind('limit_breach')) {
      const limit = Number(t.params.limit)
      expect(limit).toBe(SENSOR_SPECS[t.sensor as keyof typeof SENSOR_SPECS].hardLimit)
      const values = windowOf(t).map(value)
      expect(values.length).toBeGreaterThanOrEqual(12) // ≥ 2 min at 10 s
      expect(values.filter((v) => !(v > limit))).toEqual([])
    }
    const aboveWithout = baseline.messages.filter((m) => {
      const limit = m.reading === undefined ? undefined : SENSOR_SPECS[m.reading.sensor].hardLimit
      return limit !== undefined && value(m) >= limit
    })
    expect(aboveWithout).toHaveLength(0)
  })

  it('reject_rate_jump: rejects climb at about `rejectRatio` of the parts in the window', () => {
    const jumps = ofKind('reject_rate_jump')
    expect(jumps.length).toBeGreaterThan(0)
    let parts = 0
    let rejects = 0
    for (const t of jumps) {
      const at = (sensor: string, ts: number) => byTopic.get(`factory/${t.line}/${t.machine}/${sensor}`)?.find((m) => m.ts === ts)
      const r0 = at('reject_count', t.startTs - INTERVAL)
      const r1 = at('reject_count', t.endTs - INTERVAL)
      const p0 = at('part_count', t.startTs - INTERVAL)
      const p1 = at('part_count', t.endTs - INTERVAL)
      if (!r0 || !r1 || !p0 || !p1) continue
      rejects += value(r1) - value(r0)
      parts += value(p1) - value(p0)
      expect(Number(t.params.rejectRatio)).toBeGreaterThanOrEqual(0.12)
    }
    expect(parts).toBeGreaterThan(50)
    expect(rejects / parts).toBeGreaterThan(0.08) // normal is 1–2 %
  })

  it('count plan: exactly the asked number, spread over the span, every kind taken in turn', () => {
    const spanMs = 8 * HOUR
    const counted = runUntil({ ...opts, anomalies: { mode: 'count', count: 12, spanMs }, seed: 5 }, MONDAY_6 + spanMs)
    expect(counted.truth).toHaveLength(12)
    expect(new Set(counted.truth.map((t) => t.kind)).size).toBeGreaterThanOrEqual(5)
    counted.truth.forEach((t, i) => {
      expect(t.startTs).toBeGreaterThanOrEqual(MONDAY_6 + (i * spanMs) / 12)
      expect(t.endTs).toBeLessThanOrEqual(MONDAY_6 + ((i + 1) * spanMs) / 12)
    })
  })

  it('rate plan: a run that starts mid-shift gets only the share for the production time left', () => {
    const dense: PlantOptions = { ...opts, intervalMs: 1000, anomalies: { mode: 'rate', perMachinePerShift: 30 } }
    // 30 of the early shift's 450 production minutes are left at 13:30: ≈ 2 × 30 × 30/450 = 4 anomalies, not 60.
    const lateStart = runUntil({ ...dense, startTs: MONDAY_6 + 7.5 * HOUR }, MONDAY_6 + 8 * HOUR).truth
    expect(lateStart.length).toBeLessThan(12)
    const fullShift = runUntil(dense, MONDAY_6 + 8 * HOUR).truth
    expect(fullShift.length).toBeGreaterThan(35) // some of the 60 drawn do not fit without overlapping
  })

  it('restricts anomalies to the chosen kinds and sensors, and injects none when told', () => {
    const only = runUntil({ ...opts, anomalyKinds: ['flatline'], sensors: ['pressure', 'part_count'] }, MONDAY_6 + 24 * HOUR).truth
    expect(only.length).toBeGreaterThan(3)
    expect(only.every((t) => t.kind === 'flatline' && t.sensor === 'pressure')).toBe(true)
    expect(runUntil({ ...opts, anomalies: { mode: 'none' } }, MONDAY_6 + 24 * HOUR).truth).toHaveLength(0)
  })
})

describe('createPlant: options', () => {
  it('rejects options that would break the wire contract', () => {
    expect(() => createPlant({ ...base, intervalMs: 0.5 })).toThrow(/intervalMs/)
    expect(() => createPlant({ ...base, badRatio: 1.5 })).toThrow(/badRatio/)
    expect(() => createPlant({ ...base, lines: 0 })).toThrow(/lines/)
    expect(() => createPlant({ ...base, sensors: [] })).toThrow(/sensors/)
  })

  it('uses the prefix and lists every reading topic', () => {
    const plant = createPlant({ ...base, prefix: 'plant/a', sensors: ['power'] })
    expect(plant.topics).toEqual(['line1', 'line2'].flatMap((l) => ['m1', 'm2', 'm3'].map((m) => `plant/a/${l}/${m}/power`)))
    expect(plant.next().topic).toBe('plant/a/line1/m1/power')
    expect(plant.sensorsPerTick).toBe(6)
  })
})
