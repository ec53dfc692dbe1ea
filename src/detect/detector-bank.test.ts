import { describe, expect, it } from 'vitest'
import { createRng } from '../simulate/rng.js'
import { createPlant } from '../simulate/plant.js'
import { anomalyId } from './anomaly-event.js'
import { detectConfigSchema, type DetectConfigInput } from './config.js'
import { BANK_STATE_KEY, createDetectorBank } from './detector-bank.js'
import type { AnomalyEvent, DetectorBank, MachineStateInput, ReadingInput } from './types.js'

// Unit tests of the detector bank, through its public contract, on data of the tests' own making
// and on the simulator's plant (pure and seeded; no I/O). The long runs get a generous timeout:
// a 2-core box shared with other work can be slow.
const T0 = Date.UTC(2025, 0, 6, 8, 0, 0) // a Monday
const SITE = 'p'
const MIN = 60_000

function bankOf(config: DetectConfigInput = {}): DetectorBank {
  return createDetectorBank(detectConfigSchema.parse(config))
}

function reading(path: string, ts: number, value: number, unit?: string): ReadingInput {
  const [line, machine, sensor] = path.split('/') as [string, string, string]
  return { key: `${SITE}/${path}`, site: SITE, line, machine, sensor, ts, value, ...(unit === undefined ? {} : { unit }) }
}

function series(path: string, from: number, stepMs: number, values: readonly number[]): ReadingInput[] {
  return values.map((v, i) => reading(path, from + i * stepMs, v))
}

/** Feeds readings; ticks with (watermark, watermark) every `tickEvery` readings (0: never). Each event gets the index of the reading that caused it. */
function run(bank: DetectorBank, readings: readonly ReadingInput[], tickEvery = 0): (AnomalyEvent & { at: number })[] {
  const out: (AnomalyEvent & { at: number })[] = []
  let watermark = -Infinity
  readings.forEach((r, i) => {
    watermark = Math.max(watermark, r.ts)
    for (const e of bank.observe(r)) out.push({ ...e, at: i })
    if (tickEvery > 0 && (i + 1) % tickEvery === 0) for (const e of bank.tick(watermark, watermark)) out.push({ ...e, at: i })
  })
  return out
}

function gaussian(seed: string, n: number, mean: number, sd: number, decimals = 2): number[] {
  const rng = createRng(seed)
  const f = 10 ** decimals
  return Array.from({ length: n }, () => Math.round(rng.normal(mean, sd) * f) / f)
}

function kinds(events: readonly AnomalyEvent[]): string[] {
  return events.map((e) => `${e.state} ${e.kind} ${e.sensor}`)
}

/** Interleaves several series by event time (stable: equal times keep the argument order). */
function interleave(...streams: ReadingInput[][]): ReadingInput[] {
  return streams
    .flat()
    .map((r, i) => ({ r, i }))
    .sort((a, b) => a.r.ts - b.r.ts || a.i - b.i)
    .map((x) => x.r)
}

interface Phase {
  minutes: number
  producing: boolean
}

/**
 * A machine of our own (not the simulator's): spindle speed, power, vibration, temperature,
 * pressure and the two counters, sampled together, with Gaussian noise and first-order
 * transitions between producing and idle, rejects at `rejectPct`.
 */
function machine(line: string, name: string, from: number, intervalMs: number, phases: readonly Phase[], seed: string, rejectPct = 1.5): ReadingInput[] {
  const rng = createRng(seed)
  const out: ReadingInput[] = []
  let speed = 0
  let temp = 22
  let pressure = 5.6
  let parts = 1000
  let rejects = 15
  let cycle = 0
  let ts = from
  const a = (tauS: number) => Math.exp(-intervalMs / 1000 / tauS)
  for (const p of phases) {
    const end = ts + p.minutes * MIN
    for (; ts < end; ts += intervalMs) {
      const target = p.producing ? 7500 : 0
      speed = target + (speed - target) * a(5)
      temp = (p.producing ? 62 : 22) + (temp - (p.producing ? 62 : 22)) * (p.producing ? a(720) : a(1500))
      pressure = (p.producing ? 6 : 5.65) + (pressure - (p.producing ? 6 : 5.65)) * a(30)
      if (p.producing) {
        cycle += intervalMs
        if (cycle >= 30_000) {
          cycle -= 30_000
          parts++
          if (rng.next() < rejectPct / 100) rejects++
        }
      }
      const load = speed / 7500
      const at = (s: string, v: number, d: number) => out.push(reading(`${line}/${name}/${s}`, ts, Math.round(v * 10 ** d) / 10 ** d))
      at('spindle_speed', Math.max(0, speed + rng.normal(0, 0.6 + 0.002 * speed)), 0)
      at('power', 1.5 + 12 * load + rng.normal(0, 0.08 + 0.15 * load), 2)
      at('vibration_rms', 0.2 + 2.5 * load * load + rng.normal(0, 0.04 + 0.04 * load), 3)
      at('spindle_temp', temp + rng.normal(0, 0.25), 2)
      at('pressure', pressure + rng.normal(0, 0.025), 3)
      at('part_count', parts, 0)
      at('reject_count', rejects, 0)
    }
  }
  return out
}

describe('limit_breach', () => {
  const config: DetectConfigInput = {
    rules: [
      {
        match: '*/*/temp',
        unit: '°C',
        limits: { high: 90, low: 10, hysteresis: 2, openAfter: { samples: 3 }, closeAfter: { samples: 2 } },
        spike: { enabled: false },
        flatline: { enabled: false },
      },
    ],
  }
  const step = 1000

  it('opens at the third sample above the limit (starting at the first) and closes once inside by the hysteresis for two samples', () => {
    const values = [...Array(20).fill(60), 91, 92, 95, 93, 89, 91, 87.5, 87, 60, 60]
    const events = run(bankOf(config), series('l1/m1/temp', T0, step, values)).filter((e) => e.kind === 'limit_breach')
    expect(kinds(events)).toEqual(['open limit_breach temp', 'closed limit_breach temp'])
    const [open, closed] = events as [AnomalyEvent & { at: number }, AnomalyEvent & { at: number }]
    expect(open.at).toBe(22)
    expect(open.startedAt).toBe(T0 + 20 * step)
    expect(open).toMatchObject({ observed: 95, expected: 90, severity: 'critical', clock: 'event', detail: 'temp 95 °C above the high limit 90 °C.' })
    // 89 is inside the limit but not by the hysteresis; 91 breaks the calm run; 87.5 starts the one that closes.
    expect(closed.at).toBe(27)
    expect(closed.endedAt).toBe(T0 + 26 * step)
    expect(closed.id).toBe(open.id)
    expect(closed).toMatchObject({ observed: 95, expected: 90 })
    expect(closed.detail).toBe('temp was above the high limit 90 °C for 6 s, peak 95 °C.')
  })

  it('ignores an excursion shorter than the open debounce', () => {
    const values = [...Array(20).fill(60), 91, 99, 60, 60, 60]
    expect(run(bankOf(config), series('l1/m1/temp', T0, step, values)).filter((e) => e.kind === 'limit_breach')).toEqual([])
  })

  it('watches the low limit too', () => {
    const values = [...Array(20).fill(20), 9, 8, 3, 4, 20, 20, 20]
    const events = run(bankOf(config), series('l1/m1/temp', T0, step, values)).filter((e) => e.kind === 'limit_breach')
    expect(kinds(events)).toEqual(['open limit_breach temp', 'closed limit_breach temp'])
    expect(events[0]).toMatchObject({ startedAt: T0 + 20 * step, observed: 3, expected: 10 })
    expect(events[1]).toMatchObject({ endedAt: T0 + 24 * step, observed: 3 })
  })

  it('needs the open debounce in seconds as well as in samples', () => {
    const slow: DetectConfigInput = { rules: [{ match: '*/*/temp', limits: { high: 90, openAfter: { samples: 2, seconds: 10 } }, spike: { enabled: false }, flatline: { enabled: false } }] }
    const values = [...Array(20).fill(60), ...Array(20).fill(95)]
    const events = run(bankOf(slow), series('l1/m1/temp', T0, step, values)).filter((e) => e.kind === 'limit_breach')
    expect(events.map((e) => e.at)).toEqual([30])
  })
})

describe('spike', () => {
  const step = 1000
  const config: DetectConfigInput = { defaults: { flatline: { enabled: false } } }

  it('opens and closes a two-sample spike in a noisy signal when it comes back, with the peak and the baseline', () => {
    const values = gaussian('spike', 300, 50, 0.5)
    values[150] = (values[150] as number) + 10
    values[151] = (values[151] as number) + 12
    const events = run(bankOf(config), series('l1/m1/x', T0, step, values))
    expect(kinds(events)).toEqual(['open spike x', 'closed spike x'])
    const [open, closed] = events as [AnomalyEvent & { at: number }, AnomalyEvent & { at: number }]
    expect(open.at).toBe(152)
    expect(open.startedAt).toBe(T0 + 150 * step)
    expect(closed.endedAt).toBe(T0 + 152 * step)
    expect(open.observed).toBe(values[151])
    expect(open.expected).toBeGreaterThan(49.5)
    expect(open.expected).toBeLessThan(50.5)
    expect(open.detail).toMatch(/^x spiked up to 6\d\.\d+ \(baseline (49|50)\.\d+, \d+ σ\)\.$/)
    expect(closed.id).toBe(open.id)
  })

  it('takes a lasting step as a new level, not a spike', () => {
    const values = [...gaussian('a', 200, 50, 0.5), ...gaussian('b', 200, 80, 0.5)]
    expect(run(bankOf(config), series('l1/m1/x', T0, step, values))).toEqual([])
  })

  it('takes a step just above the threshold, seen through noise, as a new level too', () => {
    // 8.5 σ down: some samples of the new level fall under z and must not end the excursion.
    const values = [...gaussian('a', 300, 50, 0.5), ...gaussian('b', 300, 45.75, 0.5)]
    expect(run(bankOf(config), series('l1/m1/x', T0, step, values))).toEqual([])
  })

  it('does not judge during the warm-up', () => {
    const values = gaussian('w', 100, 50, 0.5)
    values[5] = 70
    expect(run(bankOf(config), series('l1/m1/x', T0, step, values))).toEqual([])
  })
})

describe('drift', () => {
  const step = 2000
  const n = (minutes: number) => (minutes * MIN) / step

  it('opens on a slow ramp from a steady state, from about where it began, and closes when it snaps back', () => {
    const base = gaussian('d', n(120), 60, 0.25)
    const rampStart = n(60)
    const rampLen = n(20)
    const values = base.map((v, i) => (i >= rampStart && i < rampStart + rampLen ? v + (8 * (i - rampStart + 1)) / rampLen : v))
    const events = run(bankOf(), series('l1/m1/spindle_temp', T0, step, values))
    expect(kinds(events)).toEqual(['open drift spindle_temp', 'closed drift spindle_temp'])
    const [open, closed] = events as [AnomalyEvent & { at: number }, AnomalyEvent & { at: number }]
    expect(open.at).toBeGreaterThan(rampStart)
    expect(open.at).toBeLessThan(rampStart + rampLen)
    expect(open.startedAt).toBeGreaterThanOrEqual(T0 + (rampStart - n(3)) * step)
    expect(open.startedAt).toBeLessThanOrEqual(T0 + (rampStart + n(8)) * step)
    expect(open.expected).toBeCloseTo(60, 0)
    expect(open.observed).toBeGreaterThan(61)
    expect(closed.endedAt).toBe(T0 + (rampStart + rampLen) * step)
    expect(closed.observed).toBeGreaterThan(66)
    expect(closed.detail).toMatch(/^spindle_temp drifted up to 6\d\.\d+ from a baseline of (59|60)\.\d+ over \d+(\.\d)? min, then ended when the operating state changed\.$/)
  })

  it('does not take noise around a constant for a drift, however long', () => {
    expect(run(bankOf(), series('l1/m1/x', T0, step, gaussian('c', n(24 * 60), 100, 1)))).toEqual([])
  })
})

describe('flatline', () => {
  const step = 2000

  it('opens after afterS of identical values, from the first of them, and closes at the first change', () => {
    const values = gaussian('f', 400, 50, 0.5)
    const stuck = values[100] as number
    for (let i = 100; i < 250; i++) values[i] = stuck
    const events = run(bankOf(), series('l1/m1/x', T0, step, values))
    expect(kinds(events)).toEqual(['open flatline x', 'closed flatline x'])
    expect(events[0]).toMatchObject({ at: 190, startedAt: T0 + 100 * step, observed: stuck, expected: null })
    expect(events[1]).toMatchObject({ at: 250, endedAt: T0 + 250 * step, observed: stuck })
    expect(events[1]?.detail).toBe(`x was stuck at ${stuck} for 5 min (150 samples).`)
  })

  it('counts variation within the tolerance as none', () => {
    const values = Array.from({ length: 200 }, (_, i) => (i < 50 ? 50 + (i % 7) : i % 2 === 0 ? 50 : 50.02))
    const cfg: DetectConfigInput = { rules: [{ match: '*/*/x', flatline: { tolerance: 0.05 } }] }
    expect(kinds(run(bankOf(cfg), series('l1/m1/x', T0, step, values)))).toEqual(['open flatline x'])
    expect(run(bankOf(), series('l1/m1/x', T0, step, values))).toEqual([])
  })

  it('leaves a stopped spindle reading 0 alone (ignoreValues)', () => {
    const values = [...gaussian('s', 100, 7500, 15, 0), ...Array(600).fill(0)]
    expect(run(bankOf(), series('l1/m1/x', T0, step, values)).filter((e) => e.kind === 'flatline')).toEqual([])
  })
})

describe('dropout', () => {
  const step = 2000
  // Sensor a misses readings 50..199 (last at 98 s, back at 400 s); sensor b keeps going.
  const a = series('l1/m1/a', T0, step, gaussian('a', 300, 10, 0.1)).filter((_, k) => k < 50 || k >= 200)
  const b = series('l1/m1/b', T0, step, gaussian('b', 300, 20, 0.1))
  const stream = interleave(a, b)
  const quiet: DetectConfigInput = { defaults: { flatline: { enabled: false } } }

  it('opens in event time once the watermark is 60 s past the last reading, and closes when data is back', () => {
    const events = run(bankOf(quiet), stream, 1)
    expect(kinds(events)).toEqual(['open dropout a', 'closed dropout a'])
    const [open, closed] = events as [AnomalyEvent & { at: number }, AnomalyEvent & { at: number }]
    // Watermark 160 s (b's reading 80) is the first more than 60 s past a's last reading at 98 s.
    expect(stream[open.at]?.ts).toBe(T0 + 80 * step)
    expect(open).toMatchObject({ startedAt: T0 + 50 * step, observed: 60, expected: 2, clock: 'event' })
    expect(open.detail).toBe('No data from a since 2025-01-06T08:01:38Z, silent over 60 s; normally every 2 s.')
    expect(closed).toMatchObject({ endedAt: T0 + 200 * step, observed: 302, expected: 2, clock: 'event' })
    expect(closed.detail).toBe('No data from a for 5 min, from 2025-01-06T08:01:38Z to 2025-01-06T08:06:40Z (normally every 2 s).')
  })

  it('finds the same dropout, with the same open event, when no tick came while it lasted', () => {
    const ticked = run(bankOf(quiet), stream, 1)
    const unticked = run(bankOf(quiet), stream, 0)
    expect(kinds(unticked)).toEqual(['open dropout a', 'closed dropout a'])
    expect(unticked.map(({ at: _at, ...e }) => e)).toEqual(ticked.map(({ at: _at, ...e }) => e))
  })

  it('remembers the watermark across a restore', () => {
    // b runs to 100 s; a (last at 0 s) comes back at 50 s: 100 s of silence by the watermark.
    const before = [reading('l1/m1/a', T0 - 2000, 1), reading('l1/m1/a', T0, 1), ...series('l1/m1/b', T0, step, gaussian('b', 51, 20, 0.1))]
    const after = [reading('l1/m1/a', T0 + 50_000, 1)]
    const whole = bankOf(quiet)
    const expected = [...run(whole, before), ...run(whole, after)]
    expect(kinds(expected)).toEqual(['open dropout a', 'closed dropout a'])
    const first = bankOf(quiet)
    run(first, before)
    const second = bankOf(quiet)
    second.restore(first.takeDirtyState())
    expect([...run(first, []), ...run(second, after)]).toEqual(expected)
  })

  it('scales the threshold with a slow sensor: ten of its intervals', () => {
    const slow = series('l1/m1/s', T0, 30_000, gaussian('s', 40, 5, 0.1)).filter((_, k) => k < 20 || k >= 29)
    const fast = series('l1/m1/f', T0, 2000, gaussian('f', 600, 5, 0.1))
    const events = run(bankOf(quiet), interleave(slow, fast), 1).filter((e) => e.sensor === 's')
    // A 300 s gap is not over 10 × 30 s (in event time or by the wall clock), so no dropout; 390 s is.
    expect(events).toEqual([])
    const longer = series('l1/m1/s', T0, 30_000, gaussian('s', 40, 5, 0.1)).filter((_, k) => k < 20 || k >= 32)
    expect(kinds(run(bankOf(quiet), interleave(longer, fast), 1).filter((e) => e.sensor === 's'))).toEqual(['open dropout s', 'closed dropout s'])
  })

  it('opens by the wall clock when nothing arrives at all, and not in a rebuild (wall clock 0)', () => {
    const both = interleave(series('l1/m1/a', T0, step, gaussian('a', 100, 10, 0.1)), series('l1/m1/b', T0, step, gaussian('b', 100, 20, 0.1)))
    const later = interleave(series('l1/m1/a', T0 + 100 * step, step, gaussian('a2', 10, 10, 0.1)), series('l1/m1/b', T0 + 100 * step, step, gaussian('b2', 10, 20, 0.1)))
    const live = (wall: (t: number) => number) => {
      const bank = bankOf(quiet)
      const events: AnomalyEvent[] = []
      for (const r of both) events.push(...bank.observe(r))
      const watermark = T0 + 99 * step
      const wall0 = 1_900_000_000_000
      // The gateway's feed stalls: the watermark stands still while the wall clock runs on.
      for (let t = 0; t <= 400; t += 10) events.push(...bank.tick(watermark, wall(wall0 + t * 1000)))
      for (const r of later) events.push(...bank.observe(r))
      return events
    }
    const events = live((t) => t)
    expect(kinds(events)).toEqual(['open dropout a', 'open dropout b', 'closed dropout a', 'closed dropout b'])
    expect(events.every((e) => e.clock === 'wall')).toBe(true)
    expect(events[0]).toMatchObject({ startedAt: T0 + 100 * step, observed: 180 })
    expect(events[0]?.id).not.toBe(anomalyId(`${SITE}/l1/m1/a`, 'dropout', T0 + 100 * step, 'event'))
    expect(events[2]).toMatchObject({ endedAt: T0 + 100 * step, clock: 'wall' })
    expect(live(() => 0)).toEqual([])
  })
})

describe('dropout while the machine is offline', () => {
  const step = 2000
  const quiet: DetectConfigInput = { defaults: { flatline: { enabled: false } } }
  const state = (st: 'online' | 'offline', ts: number): MachineStateInput => ({ site: SITE, line: 'l1', machine: 'm1', state: st, ts })
  type Step = ReadingInput | MachineStateInput
  // m1's sensors a and b report up to 98 s; m1 dies at 100 s and is back at 400 s; a reports again
  // from 402 s, b never does. m2's c keeps the watermark moving to 800 s.
  const c = series('l1/m2/c', T0, step, gaussian('c', 400, 20, 0.1))
  const a = series('l1/m1/a', T0, step, gaussian('a', 400, 10, 0.1)).filter((_, k) => k < 50 || k > 200)
  const b = series('l1/m1/b', T0, step, gaussian('b', 50, 30, 0.1))
  const readings = interleave(a, b, c)
  /** The readings with the death after the reading at `deathAfterS` and the birth at 400 s (after the readings at 400 s). */
  const withStates = (deathAfterS = 100): Step[] => {
    const out: Step[] = []
    let died = false
    let born = false
    for (const r of readings) {
      if (!died && r.ts > T0 + deathAfterS * 1000) {
        out.push(state('offline', T0 + 100_000))
        died = true
      }
      if (!born && r.ts > T0 + 400_000) {
        out.push(state('online', T0 + 400_000))
        born = true
      }
      out.push(r)
    }
    return out
  }
  const drive = (bank: DetectorBank, steps: readonly Step[], tickEvery: number): AnomalyEvent[] => {
    const out: AnomalyEvent[] = []
    let watermark = -Infinity
    steps.forEach((x, i) => {
      if ('value' in x) {
        watermark = Math.max(watermark, x.ts)
        out.push(...bank.observe(x))
      } else out.push(...bank.machineState(x))
      if (tickEvery > 0 && (i + 1) % tickEvery === 0) out.push(...bank.tick(watermark, watermark))
    })
    out.push(...bank.tick(watermark, watermark))
    return out
  }

  it('opens no dropouts for a dead machine, and counts the silence from its return', () => {
    // Without the machine states, both of m1's sensors drop out.
    expect(kinds(drive(bankOf(quiet), readings, 1))).toEqual(['open dropout a', 'open dropout b', 'closed dropout a'])
    const events = drive(bankOf(quiet), withStates(), 1)
    // a came back with its machine; b did not, and drops out 60 s after the machine's return.
    expect(kinds(events)).toEqual(['open dropout b'])
    expect(events[0]).toMatchObject({ startedAt: T0 + 100_000, clock: 'event', id: anomalyId(`${SITE}/l1/m1/b`, 'dropout', T0 + 100_000, 'event') })
  })

  it('finds the same dropouts whatever the tick spacing, also when the death came after a dropout was due', () => {
    for (const deathAfterS of [100, 250]) {
      const ticked = drive(bankOf(quiet), withStates(deathAfterS), 1)
      expect(drive(bankOf(quiet), withStates(deathAfterS), 0)).toEqual(ticked)
      expect(drive(bankOf(quiet), withStates(deathAfterS), 37)).toEqual(ticked)
    }
    // A death known only at 250 s: a and b were silent past 60 s by then, so their dropouts stand.
    expect(kinds(drive(bankOf(quiet), withStates(250), 0))).toEqual(['open dropout a', 'open dropout b', 'closed dropout a'])
  })

  it('keeps the machine offline across a restore', () => {
    const steps = withStates()
    const cut = steps.findIndex((x) => !('value' in x)) + 20
    const first = bankOf(quiet)
    drive(first, steps.slice(0, cut), 1)
    const second = bankOf(quiet)
    second.restore(first.takeDirtyState())
    expect(kinds(drive(second, steps.slice(cut), 1))).toEqual(['open dropout b'])
  })

  it('ignores a repeated state', () => {
    const bank = bankOf(quiet)
    expect(bank.machineState(state('online', T0))).toEqual([])
    bank.observe(reading('l1/m1/a', T0, 1))
    expect(bank.machineState(state('offline', T0 + 1000))).toEqual([])
    expect(bank.takeDirtyState().map((r) => r.key)).toContain(`${SITE}/l1/m1`)
    expect(bank.machineState(state('offline', T0 + 2000))).toEqual([])
    expect(bank.takeDirtyState()).toEqual([])
  })
})

describe('reject_rate_jump', { timeout: 60_000 }, () => {
  const step = 2000

  it('stays quiet for days at the normal rate, opens on a jump to 25 % and closes after it', () => {
    const normal = machine('l1', 'm1', T0, step, [{ minutes: 3 * 24 * 60, producing: true }], 'r1', 1.5)
    const jumpFrom = T0 + 3 * 24 * 60 * MIN
    const jump = machine('l1', 'm1', jumpFrom, step, [{ minutes: 40, producing: true }], 'r2', 25)
    const after = machine('l1', 'm1', jumpFrom + 40 * MIN, step, [{ minutes: 180, producing: true }], 'r3', 1.5)
    // The three pieces are separate machines; continue the counters across them.
    const counters = (rs: ReadingInput[], dp: number, dr: number) =>
      rs.filter((r) => r.sensor === 'part_count' || r.sensor === 'reject_count').map((r) => ({ ...r, value: r.value + (r.sensor === 'part_count' ? dp : dr) }))
    const n1 = counters(normal, 0, 0)
    const last = (rs: ReadingInput[], s: string) => (rs.filter((r) => r.sensor === s).at(-1) as ReadingInput).value
    const n2 = counters(jump, last(n1, 'part_count') - 1000, last(n1, 'reject_count') - 15)
    const n3 = counters(after, last(n2, 'part_count') - 1000, last(n2, 'reject_count') - 15)
    const stream = [...n1, ...n2, ...n3]
    const events = run(bankOf(), stream, 500)
    expect(kinds(events)).toEqual(['open reject_rate_jump reject_count', 'closed reject_rate_jump reject_count'])
    const [open, closed] = events as [AnomalyEvent & { at: number }, AnomalyEvent & { at: number }]
    expect(open.key).toBe(`${SITE}/l1/m1/reject_count`)
    expect(open.startedAt).toBeGreaterThanOrEqual(jumpFrom)
    expect(stream[open.at]?.ts).toBeLessThan(jumpFrom + 40 * MIN)
    expect(open.observed).toBeGreaterThan(10)
    expect(open.expected).toBeGreaterThan(0.8)
    expect(open.expected).toBeLessThan(2.5)
    expect(open.detail).toMatch(/^m1 reject rate \d+(\.\d+)? % \(\d+ of \d+ parts\), normally \d(\.\d+)? %\.$/)
    expect(closed.endedAt).toBeGreaterThan(jumpFrom + 20 * MIN)
    expect(closed.endedAt).toBeLessThan(jumpFrom + 100 * MIN)
  })

  it('resynchronizes on a counter reset without counting it', () => {
    const rs = [
      ...series('l1/m1/part_count', T0, 30_000, [100, 101, 102, 103]),
      ...series('l1/m1/reject_count', T0 + 1, 30_000, [5, 5, 5, 5]),
      ...series('l1/m1/part_count', T0 + 120_000, 30_000, [0, 1, 2, 3]),
      ...series('l1/m1/reject_count', T0 + 120_001, 30_000, [0, 0, 0, 0]),
    ].sort((a, b) => a.ts - b.ts)
    const bank = bankOf()
    expect(run(bank, rs)).toEqual([])
    const state = JSON.parse(bank.takeDirtyState().find((r) => r.key === `${SITE}/l1/m1`)?.state ?? '{}') as { reject: { parts: number; baseParts: number } }
    expect(state.reject.parts).toBe(3)
    expect(state.reject.baseParts).toBeCloseTo(6, 1)
  })
})

describe('rate_of_change', () => {
  const step = 1000
  const values = [...Array(30).fill(10), ...Array.from({ length: 20 }, (_, i) => 10 + 5 * (i + 1)), ...Array(40).fill(110)]
  const noOthers = { spike: { enabled: false }, flatline: { enabled: false }, drift: { enabled: false } }

  it('is off until maxPerS is set', () => {
    expect(run(bankOf({ rules: [{ match: '*/*/x', ...noOthers }] }), series('l1/m1/x', T0, step, values))).toEqual([])
  })

  it('opens when the smoothed rate stays above maxPerS and closes when it is back under', () => {
    const events = run(bankOf({ rules: [{ match: '*/*/x', unit: 'bar', rateOfChange: { maxPerS: 2, smoothS: 0 }, ...noOthers }] }), series('l1/m1/x', T0, step, values))
    expect(kinds(events)).toEqual(['open rate_of_change x', 'closed rate_of_change x'])
    expect(events[0]).toMatchObject({ at: 32, startedAt: T0 + 30 * step, observed: 5, expected: 2 })
    expect(events[0]?.detail).toBe('x changing at 5 bar/s, faster than 2 bar/s.')
    expect(events[1]).toMatchObject({ endedAt: T0 + 50 * step })
  })
})

describe('normal operation raises nothing', { timeout: 60_000 }, () => {
  it('a clean noisy signal on five sensors over two days', () => {
    const step = 2000
    const count = (2 * 24 * 60 * MIN) / step
    const stream = interleave(
      ...[
        ['temp', 60, 0.25],
        ['speed', 7500, 15],
        ['pressure', 6, 0.025],
        ['power', 13, 0.23],
        ['vib', 2.6, 0.08],
      ].map(([s, mean, sd]) => series(`l1/m1/${String(s)}`, T0, step, gaussian(String(s), count, mean as number, sd as number, 3))),
    )
    expect(run(bankOf(), stream, 1000)).toEqual([])
  })

  it('a machine that starts, stops for breaks and goes idle (step changes in speed, power, vibration, temperature)', () => {
    const phases: Phase[] = [
      { minutes: 60, producing: false },
      { minutes: 240, producing: true },
      { minutes: 30, producing: false },
      { minutes: 210, producing: true },
      { minutes: 10, producing: false },
      { minutes: 120, producing: true },
      { minutes: 600, producing: false },
      { minutes: 240, producing: true },
    ]
    // Two machines, the second 7 min behind; cut where the first one's data ends (or that would be a dropout).
    const end = T0 + phases.reduce((sum, p) => sum + p.minutes, 0) * MIN
    const stream = interleave(machine('l1', 'm1', T0, 2000, phases, 'm1'), machine('l1', 'm2', T0 + 7 * MIN, 2000, phases, 'm2')).filter((r) => r.ts < end)
    expect(stream.length).toBeGreaterThan(300_000)
    expect(run(bankOf(), stream, 500)).toEqual([])
  })

  it("the simulator's plant without anomalies, Friday to Monday noon (shifts, breaks, a weekend off)", () => {
    const plant = createPlant({ seed: 5, startTs: Date.UTC(2025, 0, 10), intervalMs: 5000, lines: 1, machinesPerLine: 2 })
    const end = Date.UTC(2025, 0, 13, 12)
    const stream: ReadingInput[] = []
    for (let m = plant.next(); m.ts < end; m = plant.next()) {
      const r = m.reading
      if (r !== undefined) stream.push({ ...reading(`${r.line}/${r.machine}/${r.sensor}`, r.ts, r.value), unit: r.unit })
    }
    expect(run(bankOf(), stream, 200)).toEqual([])
  })
})

/** One day of the simulator's plant with many anomalies: the stream for the state and order tests. */
function plantStream(seed: number, days = 1): ReadingInput[] {
  const plant = createPlant({ seed, startTs: T0 - 8 * 60 * MIN, intervalMs: 2000, lines: 1, machinesPerLine: 2, anomalies: { mode: 'rate', perMachinePerShift: 6 } })
  const end = T0 - 8 * 60 * MIN + days * 24 * 60 * MIN
  const out: ReadingInput[] = []
  for (let m = plant.next(); m.ts < end; m = plant.next()) {
    const r = m.reading
    if (r !== undefined) out.push({ ...reading(`${r.line}/${r.machine}/${r.sensor}`, r.ts, r.value), unit: r.unit })
  }
  return out
}

const limits: DetectConfigInput = {
  rules: [
    { match: '*/*/spindle_temp', limits: { high: 90 } },
    { match: '*/*/vibration_rms', limits: { high: 11.2 } },
    { match: '*/*/spindle_speed', limits: { high: 12000 } },
    { match: '*/*/pressure', limits: { high: 10 } },
    { match: '*/*/power', limits: { high: 25 } },
  ],
}

describe('determinism, order and state', { timeout: 60_000 }, () => {
  const stream = plantStream(11)

  it('the stream used here has anomalies of every kind', () => {
    const events = run(bankOf(limits), stream, 100)
    expect(new Set(events.map((e) => e.kind))).toEqual(new Set(['spike', 'drift', 'flatline', 'dropout', 'limit_breach', 'reject_rate_jump']))
  })

  it('gives the same events with the same ids for the same input, ids derived from key, kind and start', () => {
    const a = run(bankOf(limits), stream, 100)
    const b = run(bankOf(limits), stream, 100)
    expect(a.length).toBeGreaterThan(20)
    expect(b).toEqual(a)
    for (const e of a) expect(e.id).toBe(anomalyId(e.key, e.kind, e.startedAt, e.clock))
  })

  it('ends with the same anomalies whatever the tick spacing (a rebuild batches differently)', () => {
    const final = (events: readonly AnomalyEvent[]) => {
      const byId = new Map<string, AnomalyEvent>()
      for (const { at: _at, ...e } of events as (AnomalyEvent & { at: number })[]) byId.set(e.id, e.state === 'closed' ? e : (byId.get(e.id) ?? e))
      return [...byId.values()].sort((x, y) => (x.id < y.id ? -1 : 1))
    }
    const often = run(bankOf(limits), stream, 7)
    const rarely = run(bankOf(limits), stream, 20_000)
    const bank = bankOf(limits)
    const never = run(bank, stream, 0)
    never.push(...bank.tick(stream.at(-1)?.ts ?? 0, 0).map((e) => ({ ...e, at: stream.length })))
    expect(final(rarely)).toEqual(final(often))
    expect(final(never)).toEqual(final(often))
  })

  it('skips late readings (and counts them) without changing any event', () => {
    const rng = createRng('late')
    const perturbed: ReadingInput[] = []
    const seen: ReadingInput[] = []
    let inserted = 0
    for (const r of stream) {
      perturbed.push(r)
      seen.push(r)
      if (seen.length > 100 && rng.chance(0.01)) {
        // An old reading of some sensor arrives again, late, with another value.
        const old = seen[seen.length - 1 - rng.int(20, 100)] as ReadingInput
        perturbed.push({ ...old, value: old.value * 3 + 100 })
        inserted++
      }
    }
    expect(inserted).toBeGreaterThan(1000)
    const bank = bankOf(limits)
    const events = run(bank, perturbed, 100)
    const plain = run(bankOf(limits), stream, 100)
    const strip = (es: (AnomalyEvent & { at: number })[]) => es.map(({ at: _at, ...e }) => e)
    expect(strip(events)).toEqual(strip(plain))
    const late = bank
      .takeDirtyState()
      .filter((r) => r.key.split('/').length === 4)
      .reduce((sum, r) => sum + (JSON.parse(r.state) as { late: number }).late, 0)
    expect(late).toBe(inserted)
  })

  it('continues exactly as an uninterrupted bank after serialize → JSON → restore at random points', () => {
    const tickEvery = 100
    const uninterrupted = run(bankOf(limits), stream, tickEvery)
    const rng = createRng('split')
    for (let trial = 0; trial < 3; trial++) {
      const split = rng.int(1000, stream.length - 1000)
      // The store: the latest row per key, written at every "batch" (tick) like the aggregator does.
      const store = new Map<string, string>()
      const first = bankOf(limits)
      const events: AnomalyEvent[] = []
      let watermark = -Infinity
      const feed = (bank: DetectorBank, i: number) => {
        const r = stream[i] as ReadingInput
        watermark = Math.max(watermark, r.ts)
        events.push(...bank.observe(r))
        if ((i + 1) % tickEvery === 0) {
          events.push(...bank.tick(watermark, watermark))
          for (const row of bank.takeDirtyState()) store.set(row.key, row.state)
        }
      }
      for (let i = 0; i < split; i++) feed(first, i)
      for (const row of first.takeDirtyState()) store.set(row.key, row.state)
      const rows = JSON.parse(JSON.stringify([...store].map(([key, state]) => ({ key, state })))) as { key: string; state: string }[]
      expect(rows.some((r) => r.key === BANK_STATE_KEY)).toBe(true)
      const second = bankOf(limits)
      second.restore(rows)
      expect(second.open()).toEqual(first.open())
      for (let i = split; i < stream.length; i++) feed(second, i)
      expect(events).toEqual(uninterrupted.map(({ at: _at, ...e }) => e))
    }
  })

  it('keeps open() in step with the events', () => {
    const bank = bankOf(limits)
    const open = new Map<string, AnomalyEvent>()
    let watermark = -Infinity
    stream.forEach((r, i) => {
      watermark = Math.max(watermark, r.ts)
      const events = [...bank.observe(r), ...(i % 100 === 99 ? bank.tick(watermark, watermark) : [])]
      for (const e of events) {
        if (e.state === 'open') open.set(e.id, e)
        else open.delete(e.id)
      }
      if (i % 5000 === 0) expect(bank.open().map((e) => e.id).sort()).toEqual([...open.keys()].sort())
    })
  })

  it('ignores restored rows it cannot read, and says which', () => {
    const problems: string[] = []
    const bank = createDetectorBank(detectConfigSchema.parse({}), { onRestoreProblem: (key, reason) => problems.push(`${key}: ${reason}`) })
    bank.restore([
      { key: 'p/l1/m1/x', state: 'not json' },
      { key: 'p/l1/m1/y', state: '{"v":99}' },
      { key: 'nonsense', state: '{"v":1}' },
    ])
    expect(problems).toEqual(['p/l1/m1/x: not JSON', 'p/l1/m1/y: not a version 1 state', 'nonsense: not a sensor or machine key'])
    expect(bank.open()).toEqual([])
    expect(run(bank, series('l1/m1/x', T0, 1000, gaussian('x', 100, 5, 0.1)))).toEqual([])
  })
})
