// The simulated plant: a pure, seeded model that yields MQTT messages in event-time order
// (readings, malformed messages, gaps) and the ground truth of the anomalies it injects.
// No I/O, no wall clock: the same options give the same messages, byte for byte.
import { BAD_KINDS, createBadPayload, type BadKind } from './bad-payloads.js'
import { createRng, type Rng, type Seed } from './rng.js'
import { SENSOR_NAMES, SENSOR_SPECS, type SensorName, type SensorSpec } from './sensors.js'
import { createShiftPattern, DEFAULT_BREAKS, DEFAULT_SHIFTS, type ShiftInstance, type ShiftPatternOptions } from './shift-pattern.js'
import { ANOMALY_KINDS, type AnomalyKind, type AnomalyTruth } from './truth.js'

export type AnomalyPlan =
  | { mode: 'none' }
  /** Poisson-distributed anomalies per machine per producing shift, placed inside production time. */
  | { mode: 'rate'; perMachinePerShift: number }
  /** Exactly `count` anomalies (if they fit), spread evenly over the first `spanMs` of event time. */
  | { mode: 'count'; count: number; spanMs: number }

export interface PlantOptions {
  seed: Seed
  /** Event time of the first sample (epoch ms). */
  startTs: number
  /** Event time between two samples of one sensor (>= 1 ms; all sensors sample together). */
  intervalMs: number
  lines: number
  machinesPerLine: number
  sensors?: readonly SensorName[]
  /** First topic segment; default "factory". */
  prefix?: string
  /** Only copied into truth records. */
  site?: string
  shiftPattern?: Partial<ShiftPatternOptions>
  /** Fraction of messages that are malformed instead of a reading (0..1). */
  badRatio?: number
  badKinds?: readonly BadKind[]
  anomalies?: AnomalyPlan
  anomalyKinds?: readonly AnomalyKind[]
}

export interface SimReading {
  line: string
  machine: string
  sensor: SensorName
  ts: number
  value: number
  unit: string
}

export interface SimMessage {
  topic: string
  payload: Buffer
  kind: 'reading' | BadKind
  /** Event time of the sample this message stands for. */
  ts: number
  /** The sample this message stands for (also for a malformed one). */
  line: string
  machine: string
  sensor: SensorName
  reading?: SimReading
}

export interface Plant {
  readonly startTs: number
  readonly intervalMs: number
  /** Messages per tick when nothing is dropped out: lines × machines × sensors. */
  readonly sensorsPerTick: number
  /** Every reading topic the plant publishes on. */
  readonly topics: readonly string[]
  /** The sensors of every machine, in the order each tick yields them. */
  readonly sensors: readonly SensorName[]
  /** Every machine, line by line, in the order each tick yields them. */
  readonly machines: readonly { line: string; machine: string }[]
  /** The next message; the plant never runs out. */
  next(): SimMessage
  /**
   * The rest of one machine's sample at one tick (what `next` would yield until the machine or
   * tick changes), at most `max` messages (>= 1); never empty. Mixes freely with `next`.
   */
  nextBatch(max?: number): SimMessage[]
  /** Anomalies that started since the last call, in start order. */
  takeTruth(): readonly AnomalyTruth[]
  /** Event time of the tick the last message came from. */
  eventTs(): number
  [Symbol.iterator](): Iterator<SimMessage>
}

/** Which sensors each anomaly kind can hit. */
export const ANOMALY_SENSORS: Readonly<Record<AnomalyKind, readonly SensorName[]>> = {
  spike: ['spindle_temp', 'vibration_rms', 'spindle_speed', 'pressure', 'power'],
  drift: ['spindle_temp', 'vibration_rms', 'spindle_speed', 'pressure', 'power'],
  flatline: ['spindle_temp', 'vibration_rms', 'spindle_speed', 'pressure', 'power'],
  limit_breach: ['spindle_temp', 'vibration_rms', 'spindle_speed', 'pressure', 'power'],
  dropout: SENSOR_NAMES,
  reject_rate_jump: ['reject_count'],
}

/** Event-time length of each kind, minutes (spikes are counted in samples instead). */
const DURATION_MIN: Readonly<Record<Exclude<AnomalyKind, 'spike'>, readonly [number, number]>> = {
  drift: [10, 40],
  flatline: [5, 20],
  dropout: [3, 15],
  limit_breach: [2, 10],
  reject_rate_jump: [10, 30],
}
const SPIKE_SAMPLES: readonly [number, number] = [1, 3]
/** How far above the hard limit a breach peaks, per sensor. */
const BREACH_EXCESS: Readonly<Partial<Record<SensorName, readonly [number, number]>>> = {
  spindle_temp: [3, 10],
  vibration_rms: [1, 4],
  spindle_speed: [600, 1500],
  pressure: [0.8, 2],
  power: [3, 8],
}

interface MachineProfile {
  ambientC: number
  opTempC: number
  opSpeedRpm: number
  idleVib: number
  opVib: number
  opPressureBar: number
  idlePowerKw: number
  opPowerKw: number
  cycleMs: number
  rejectRatio: number
}

interface Scheduled {
  kind: AnomalyKind
  machine: number
  sensor: number // index into the plant's sensor list
  startTick: number
  endTick: number
  params: Record<string, number | string>
  frozen?: number
}

interface Machine {
  line: string
  name: string
  profile: MachineProfile
  tempC: number
  speedRpm: number
  pressureBar: number
  parts: number
  rejects: number
  cyclePhase: number
  topics: string[]
  /** Active anomaly per sensor index. */
  active: (Scheduled | undefined)[]
  /** Scheduled (start, end) ticks per sensor index, to keep anomalies on one key apart. */
  taken: [number, number][][]
}

const NO_TRUTH: readonly AnomalyTruth[] = Object.freeze([])
const TEMP_WARM_TAU_MS = 12 * 60_000
const TEMP_COOL_TAU_MS = 25 * 60_000
const SPEED_TAU_MS = 5_000
const PRESSURE_TAU_MS = 30_000

export function createPlant(options: PlantOptions): Plant {
  const sensors: readonly SensorName[] = options.sensors ?? SENSOR_NAMES
  const specs: SensorSpec[] = sensors.map((s) => SENSOR_SPECS[s])
  const prefix = options.prefix ?? 'factory'
  const badRatio = options.badRatio ?? 0
  const badKinds = options.badKinds ?? BAD_KINDS
  const plan: AnomalyPlan = options.anomalies ?? { mode: 'none' }
  const intervalMs = options.intervalMs
  const startTs = options.startTs
  validate(options, sensors, badRatio, badKinds)

  const pattern = createShiftPattern({
    timeZone: options.shiftPattern?.timeZone ?? 'UTC',
    shifts: options.shiftPattern?.shifts ?? DEFAULT_SHIFTS,
    breaks: options.shiftPattern?.breaks ?? DEFAULT_BREAKS,
    weekends: options.shiftPattern?.weekends ?? false,
  })

  // Independent streams: changing the bad ratio or the anomaly plan never changes the noise.
  const root = createRng(options.seed)
  const profileRng = root.fork('profile')
  const noiseRng = root.fork('noise')
  const processRng = root.fork('process')
  const badRng = root.fork('bad')
  const anomalyRng = root.fork('anomaly')
  const anomalyNoiseRng = root.fork('anomaly-noise')

  const machines: Machine[] = []
  for (let l = 1; l <= options.lines; l++) {
    for (let m = 1; m <= options.machinesPerLine; m++) {
      const line = `line${l}`
      const name = `m${m}`
      const profile = drawProfile(profileRng)
      const parts = profileRng.int(10_000, 900_000)
      machines.push({
        line,
        name,
        profile,
        tempC: profile.ambientC,
        speedRpm: 0,
        pressureBar: profile.opPressureBar - 0.35,
        parts,
        rejects: Math.round(parts * profile.rejectRatio),
        cyclePhase: profileRng.next(),
        topics: sensors.map((s) => `${prefix}/${line}/${name}/${s}`),
        active: sensors.map(() => undefined),
        taken: sensors.map(() => []),
      })
    }
  }

  const rejectIndex = sensors.indexOf('reject_count')
  const kinds = (options.anomalyKinds ?? ANOMALY_KINDS).filter((k) => ANOMALY_SENSORS[k].some((s) => sensors.includes(s)))
  const tickTs = (k: number): number => startTs + Math.round(k * intervalMs)
  const tickAtOrAfter = (ts: number): number => {
    let k = Math.max(0, Math.ceil((ts - startTs) / intervalMs))
    while (k > 0 && tickTs(k - 1) >= ts) k--
    while (tickTs(k) < ts) k++
    return k
  }
  const alpha = (tauMs: number): number => Math.exp(-intervalMs / tauMs)
  const aWarm = alpha(TEMP_WARM_TAU_MS)
  const aCool = alpha(TEMP_COOL_TAU_MS)
  const aSpeed = alpha(SPEED_TAU_MS)
  const aPressure = alpha(PRESSURE_TAU_MS)

  const pending: Scheduled[] = [] // sorted by startTick
  const truthQueue: AnomalyTruth[] = []
  let scheduledUntilTs = -Infinity
  let tick = -1
  let queue: SimMessage[] = []
  let qi = 0
  /** End index in `queue` of each machine's messages of the current tick. */
  let groupEnds: number[] = []
  let gi = 0

  const insertPending = (a: Scheduled): void => {
    let i = pending.length
    while (i > 0 && (pending[i - 1] as Scheduled).startTick > a.startTick) i--
    pending.splice(i, 0, a)
  }

  const durationTicks = (kind: AnomalyKind): number => {
    if (kind === 'spike') return anomalyRng.int(SPIKE_SAMPLES[0], SPIKE_SAMPLES[1])
    const [lo, hi] = DURATION_MIN[kind]
    return Math.max(2, Math.round((anomalyRng.range(lo, hi) * 60_000) / intervalMs))
  }

  const sensorFor = (kind: AnomalyKind): number | undefined => {
    const candidates = ANOMALY_SENSORS[kind].filter((s) => sensors.includes(s))
    if (candidates.length === 0) return undefined
    return sensors.indexOf(anomalyRng.pick(candidates))
  }

  const isFree = (m: Machine, sensor: number, start: number, end: number): boolean =>
    (m.taken[sensor] ?? []).every(([s, e]) => end + 2 <= s || start >= e + 2)

  const place = (machine: number, kind: AnomalyKind, sensor: number, startTick: number, endTick: number): void => {
    const m = machines[machine] as Machine
    m.taken[sensor]?.push([startTick, endTick])
    insertPending({ kind, machine, sensor, startTick, endTick, params: drawParams(kind, sensors[sensor] as SensorName, endTick - startTick, m.profile) })
  }

  const drawParams = (kind: AnomalyKind, sensor: SensorName, ticks: number, profile: MachineProfile): Record<string, number | string> => {
    const spec = SENSOR_SPECS[sensor]
    const minutes = round((ticks * intervalMs) / 60_000, 2)
    switch (kind) {
      case 'spike': {
        const sign = sensor === 'pressure' && anomalyRng.chance(0.5) ? -1 : 1
        return { samples: ticks, offset: round(sign * (spec.spikeMagnitude ?? 0) * anomalyRng.range(0.8, 1.3), spec.decimals) }
      }
      case 'drift': {
        const [lo, hi] = spec.driftDelta ?? [0, 0]
        return { delta: round(anomalyRng.range(lo, hi), spec.decimals + 1), minutes }
      }
      case 'flatline':
        return { minutes }
      case 'dropout':
        return { minutes }
      case 'limit_breach': {
        const [lo, hi] = BREACH_EXCESS[sensor] ?? [1, 2]
        const limit = spec.hardLimit ?? 0
        return { limit, peak: round(limit + anomalyRng.range(lo, hi), spec.decimals), minutes }
      }
      case 'reject_rate_jump':
        return { rejectRatio: round(anomalyRng.range(0.12, 0.2), 3), baselineRatio: round(profile.rejectRatio, 4), minutes }
    }
  }

  /** Rate plan: draw this shift's anomalies for every machine, inside its production time. */
  const scheduleShift = (inst: ShiftInstance, fromTick: number): void => {
    if (plan.mode !== 'rate' || !inst.workday || kinds.length === 0) return
    const fromTs = tickTs(fromTick)
    const producing = producingSegments(inst)
    const segments = producing.map(([s, e]) => [Math.max(fromTick, tickAtOrAfter(s)), tickAtOrAfter(e)] as const)
    // A run that starts mid-shift gets the share of anomalies for the production time left.
    const fullMs = producing.reduce((sum, [s, e]) => sum + (e - s), 0)
    const leftMs = producing.reduce((sum, [s, e]) => sum + Math.max(0, e - Math.max(s, fromTs)), 0)
    const share = fullMs === 0 ? 0 : leftMs / fullMs
    machines.forEach((m, mi) => {
      const n = anomalyRng.poisson(plan.perMachinePerShift * share)
      for (let i = 0; i < n; i++) {
        const kind = anomalyRng.pick(kinds)
        const sensor = sensorFor(kind)
        if (sensor === undefined) continue
        const ticks = durationTicks(kind)
        for (let attempt = 0; attempt < 5; attempt++) {
          const start = pickStart(segments, ticks, anomalyRng)
          if (start === undefined) break
          if (isFree(m, sensor, start, start + ticks)) {
            place(mi, kind, sensor, start, start + ticks)
            break
          }
        }
      }
    })
  }

  /** Count plan: `count` anomalies, one per equal slot of the span, kinds taken in turn. */
  const scheduleCount = (count: number, spanMs: number): void => {
    if (kinds.length === 0 || count <= 0) return
    const spanTicks = Math.max(1, Math.floor(spanMs / intervalMs))
    const order = shuffle(kinds, anomalyRng)
    for (let i = 0; i < count; i++) {
      const slotStart = Math.floor((i * spanTicks) / count)
      const slotEnd = Math.floor(((i + 1) * spanTicks) / count)
      const slotLen = slotEnd - slotStart
      if (slotLen < 2) continue
      let kind = order[i % order.length] as AnomalyKind
      const machine = anomalyRng.int(0, machines.length - 1)
      const want = durationTicks(kind)
      const ticks = kind === 'spike' ? Math.min(want, slotLen - 1) : Math.max(2, Math.min(want, Math.floor(slotLen * 0.6)))
      if (ticks < 1 || ticks >= slotLen) continue
      // Prefer a window where the machine produces, so every kind shows in the data.
      let start = slotStart + anomalyRng.int(0, slotLen - ticks - 1)
      for (let attempt = 0; attempt < 10 && !producingThroughout(start, start + ticks); attempt++) {
        start = slotStart + anomalyRng.int(0, slotLen - ticks - 1)
      }
      if (kind === 'reject_rate_jump' && !producingThroughout(start, start + ticks)) {
        const others = kinds.filter((k) => k !== 'reject_rate_jump')
        if (others.length === 0) continue
        kind = anomalyRng.pick(others)
      }
      const sensor = sensorFor(kind)
      if (sensor === undefined) continue
      if (isFree(machines[machine] as Machine, sensor, start, start + ticks)) place(machine, kind, sensor, start, start + ticks)
    }
  }

  const producingThroughout = (fromTick: number, toTick: number): boolean => {
    const step = Math.max(1, Math.floor((toTick - fromTick) / 200))
    for (let k = fromTick; k < toTick; k += step) if (!pattern.producingAt(tickTs(k))) return false
    return pattern.producingAt(tickTs(toTick - 1))
  }

  const producingSegments = (inst: ShiftInstance): [number, number][] => {
    const breaks = [...inst.breaks].filter((b) => b.endTs > b.startTs).sort((a, b) => a.startTs - b.startTs)
    const out: [number, number][] = []
    let from = inst.startTs
    for (const b of breaks) {
      if (b.startTs > from) out.push([from, b.startTs])
      from = Math.max(from, b.endTs)
    }
    if (inst.endTs > from) out.push([from, inst.endTs])
    return out
  }

  if (plan.mode === 'count') scheduleCount(plan.count, plan.spanMs)

  const activate = (a: Scheduled, ts: number): void => {
    const m = machines[a.machine] as Machine
    m.active[a.sensor] = a
    const sensor = sensors[a.sensor] as SensorName
    const endTs = tickTs(a.endTick)
    truthQueue.push({
      kind: a.kind,
      ...(options.site === undefined ? {} : { site: options.site }),
      line: m.line,
      machine: m.name,
      sensor,
      key: `${m.line}/${m.name}/${sensor}`,
      startTs: ts,
      endTs,
      start: new Date(ts).toISOString(),
      end: new Date(endTs).toISOString(),
      params: a.params,
    })
  }

  const buildTick = (): void => {
    tick++
    const ts = tickTs(tick)
    if (plan.mode === 'rate' && ts >= scheduledUntilTs) {
      const inst = pattern.instanceAt(ts)
      if (inst !== undefined) {
        scheduleShift(inst, tick)
        scheduledUntilTs = inst.endTs
      } else {
        scheduledUntilTs = pattern.nextStartAfter(ts)
      }
    }
    for (const m of machines) {
      for (let s = 0; s < m.active.length; s++) {
        const a = m.active[s]
        if (a !== undefined && a.endTick <= tick) m.active[s] = undefined
      }
    }
    while (pending.length > 0 && (pending[0] as Scheduled).startTick <= tick) {
      const a = pending.shift() as Scheduled
      if (a.startTick === tick) activate(a, ts)
      // An anomaly whose start already passed (scheduled late) is dropped, never half-applied.
    }

    const producing = pattern.producingAt(ts)
    const out: SimMessage[] = []
    const ends: number[] = []
    for (const m of machines) {
      step(m, producing)
      for (let s = 0; s < specs.length; s++) {
        const spec = specs[s] as SensorSpec
        const a = m.active[s]
        let value = sample(m, spec.name)
        if (a !== undefined) value = applyAnomaly(a, value, tick)
        value = round(value, spec.decimals)
        if (a !== undefined && a.kind === 'flatline') {
          if (a.frozen === undefined) {
            a.frozen = value
            a.params.value = value
          }
          value = a.frozen
        }
        const isBad = badRng.next() < badRatio
        if (a !== undefined && a.kind === 'dropout') continue
        const topic = m.topics[s] as string
        if (isBad) {
          const kind = badRng.pick(badKinds)
          const bad = createBadPayload(kind, { prefix, line: m.line, machine: m.name, sensor: spec.name, ts, value, unit: spec.unit }, badRng)
          out.push({ topic: bad.topic, payload: bad.payload, kind, ts, line: m.line, machine: m.name, sensor: spec.name })
        } else {
          out.push({
            topic,
            payload: Buffer.from(`{"value":${value},"ts":${ts},"unit":"${spec.unit}","quality":"good"}`, 'utf8'),
            kind: 'reading',
            ts,
            line: m.line,
            machine: m.name,
            sensor: spec.name,
            reading: { line: m.line, machine: m.name, sensor: spec.name, ts, value, unit: spec.unit },
          })
        }
      }
      ends.push(out.length)
    }
    queue = out
    qi = 0
    groupEnds = ends
    gi = 0
  }

  /** Advance one machine's physical state by one interval. */
  const step = (m: Machine, producing: boolean): void => {
    const p = m.profile
    const speedTarget = producing ? p.opSpeedRpm : 0
    m.speedRpm = speedTarget + (m.speedRpm - speedTarget) * aSpeed
    const tempTarget = producing ? p.opTempC : p.ambientC
    m.tempC = tempTarget + (m.tempC - tempTarget) * (producing ? aWarm : aCool)
    const pressureTarget = producing ? p.opPressureBar : p.opPressureBar - 0.35
    m.pressureBar = pressureTarget + (m.pressureBar - pressureTarget) * aPressure
    if (producing) {
      const boost = rejectIndex < 0 ? undefined : m.active[rejectIndex]
      const rejectRatio = boost?.kind === 'reject_rate_jump' ? Number(boost.params.rejectRatio) : p.rejectRatio
      m.cyclePhase += intervalMs / p.cycleMs
      while (m.cyclePhase >= 1) {
        m.cyclePhase -= 1
        m.parts++
        if (processRng.next() < rejectRatio) m.rejects++
      }
    }
  }

  /** The measured value before anomalies: physics plus Gaussian noise. */
  const sample = (m: Machine, sensor: SensorName): number => {
    const p = m.profile
    const load = m.speedRpm / p.opSpeedRpm
    switch (sensor) {
      case 'spindle_temp':
        return m.tempC + noiseRng.normal(0, 0.25)
      case 'vibration_rms':
        return Math.max(0.01, p.idleVib + p.opVib * load * load + noiseRng.normal(0, 0.04 + 0.04 * load))
      case 'spindle_speed':
        return Math.max(0, m.speedRpm + noiseRng.normal(0, 0.6 + 0.002 * m.speedRpm))
      case 'pressure':
        return m.pressureBar + noiseRng.normal(0, 0.025)
      case 'power':
        return Math.max(0, p.idlePowerKw + p.opPowerKw * load + noiseRng.normal(0, 0.08 + 0.15 * load))
      case 'part_count':
        return m.parts
      case 'reject_count':
        return m.rejects
    }
  }

  const applyAnomaly = (a: Scheduled, value: number, k: number): number => {
    const n = a.endTick - a.startTick
    const frac = (k - a.startTick + 1) / n
    switch (a.kind) {
      case 'spike':
        return Math.max(0, value + Number(a.params.offset))
      case 'drift':
        return value + Number(a.params.delta) * frac
      case 'limit_breach': {
        const limit = Number(a.params.limit)
        const excess = Number(a.params.peak) - limit
        // Rises to the peak and back, always above the limit (at least 30 % of the excess).
        const shape = 0.3 + 0.7 * Math.sin(Math.PI * ((k - a.startTick + 0.5) / n))
        return limit + excess * shape + Math.abs(anomalyNoiseRng.normal(0, excess * 0.05))
      }
      case 'flatline':
      case 'dropout':
      case 'reject_rate_jump':
        return value
    }
  }

  const next = (): SimMessage => {
    while (qi >= queue.length) buildTick()
    return queue[qi++] as SimMessage
  }

  const nextBatch = (max = Infinity): SimMessage[] => {
    if (!(max >= 1)) throw new RangeError(`nextBatch: max must be >= 1 (got ${max})`)
    while (qi >= queue.length) buildTick()
    while ((groupEnds[gi] as number) <= qi) gi++
    const end = Math.min(groupEnds[gi] as number, qi + Math.floor(max))
    const out = queue.slice(qi, end)
    qi = end
    return out
  }

  return {
    startTs,
    intervalMs,
    sensorsPerTick: machines.length * sensors.length,
    topics: machines.flatMap((m) => m.topics),
    sensors,
    machines: machines.map((m) => ({ line: m.line, machine: m.name })),
    next,
    nextBatch,
    takeTruth() {
      return truthQueue.length === 0 ? NO_TRUTH : truthQueue.splice(0)
    },
    eventTs: () => tickTs(Math.max(0, tick)),
    *[Symbol.iterator]() {
      for (;;) yield next()
    },
  }
}

function drawProfile(rng: Rng): MachineProfile {
  return {
    ambientC: rng.range(20, 24),
    opTempC: rng.range(55, 68),
    opSpeedRpm: Math.round(rng.range(6000, 9000) / 100) * 100,
    idleVib: rng.range(0.1, 0.25),
    opVib: rng.range(1.8, 3.2),
    opPressureBar: rng.range(5.6, 6.4),
    idlePowerKw: rng.range(1.2, 2),
    opPowerKw: rng.range(9, 16),
    cycleMs: rng.range(25, 70) * 1000,
    rejectRatio: rng.range(0.01, 0.02),
  }
}

/** A uniformly random start so that [start, start + ticks) fits in one segment. */
function pickStart(segments: readonly (readonly [number, number])[], ticks: number, rng: Rng): number | undefined {
  const room = segments.map(([s, e]) => Math.max(0, e - s - ticks + 1))
  const total = room.reduce((a, b) => a + b, 0)
  if (total === 0) return undefined
  let r = rng.int(0, total - 1)
  for (let i = 0; i < segments.length; i++) {
    const n = room[i] as number
    if (r < n) return (segments[i] as readonly [number, number])[0] + r
    r -= n
  }
  return undefined
}

function shuffle<T>(items: readonly T[], rng: Rng): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i)
    const t = out[i] as T
    out[i] = out[j] as T
    out[j] = t
  }
  return out
}

function round(value: number, decimals: number): number {
  const f = 10 ** decimals
  return Math.round(value * f) / f + 0 // + 0 turns -0 into 0
}

function validate(options: PlantOptions, sensors: readonly SensorName[], badRatio: number, badKinds: readonly BadKind[]): void {
  const problems: string[] = []
  if (!Number.isInteger(options.lines) || options.lines < 1) problems.push(`lines must be a positive integer (got ${options.lines})`)
  if (!Number.isInteger(options.machinesPerLine) || options.machinesPerLine < 1) problems.push(`machinesPerLine must be a positive integer (got ${options.machinesPerLine})`)
  if (!(options.intervalMs >= 1) || !Number.isFinite(options.intervalMs)) problems.push(`intervalMs must be >= 1 (got ${options.intervalMs}), or (topic, ts) would repeat`)
  if (!Number.isInteger(options.startTs)) problems.push(`startTs must be integer epoch ms (got ${options.startTs})`)
  if (sensors.length === 0 || new Set(sensors).size !== sensors.length) problems.push('sensors must be a non-empty list without repeats')
  if (!(badRatio >= 0 && badRatio <= 1)) problems.push(`badRatio must be within 0..1 (got ${badRatio})`)
  if (badRatio > 0 && badKinds.length === 0) problems.push('badKinds must not be empty when badRatio > 0')
  if (problems.length > 0) throw new RangeError(`createPlant: ${problems.join('; ')}`)
}
