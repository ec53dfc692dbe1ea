// npm run bench:http [-- --json] [-- --duration 15] [-- --connections 50] [-- --days 30] [-- --fresh]
//
// The local page and JSON API under load over a month of data: 30 days of minute buckets for
// 300 sensors (3 lines × 10 machines × 10 sensors, ≈13 M rows) in a state database made with
// the real schema, plus the sensor registry, a few hundred anomalies (some open), every shift
// closed with its KPIs, and shift and incident narratives. The rows are synthetic (plausible
// levels, noise, production and breaks, rising part/reject counters), inserted directly: the
// simulator would take hours for a month. The file is cached under .cache/bench-http/, keyed by
// its parameters, so a rerun starts at once (--fresh makes it again).
//
// The real app (createHttpApp) serves it from a child process, as in the gateway, so the load
// generator (autocannon, 50 connections, no think time) does not share its event loop. Runs:
// the overview page `/` (overview_p95_ms, rps), then a mix of API endpoints (api_p95_ms):
// /api/overview, /api/shifts, /api/incidents?limit=50 and /api/sensors/<random>?hours=24.
// p95s are exact, from every request's latency (autocannon's summary has no p95). Also shown:
// the first (cold) overview, which computes the running shift's KPIs, and the overview's
// latency with a single connection, i.e. its service time. Last, `/` again while a writer in the
// server process changes the data every 500 ms as the aggregator does (overview_live_p95_ms):
// each change is a new data version, so the render cache misses once per change.
import { fork, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Registry } from 'prom-client'
import { anomalyId } from '../src/detect/anomaly-event.js'
import type { AnomalyKind, Severity } from '../src/detect/types.js'
import { createHttpApp } from '../src/http/app.js'
import { createLiveHub } from '../src/http/live-hub.js'
import { silentLogger } from '../src/log.js'
import { incidentId } from '../src/narrate/facts.js'
import type { Fact, Narrative } from '../src/narrate/types.js'
import { createShiftCalendar, WEEKDAYS, type ShiftCalendar, type ShiftInstance } from '../src/shifts/shift-calendar.js'
import { createRng } from '../src/simulate/rng.js'
import { SEED_SHIFTS, seedFactsOptions } from '../src/simulate/seed-state.js'
import { isSensorName, SENSOR_SPECS } from '../src/simulate/sensors.js'
import { createNarrativeStore } from '../src/store/narratives.js'
import { openStateDb, type StateDb } from '../src/store/state-db.js'

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    duration: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    days: { type: 'string', default: '30' },
    fresh: { type: 'boolean', default: false },
    // Internal: the server process (forked by the benchmark itself).
    serve: { type: 'string' },
  },
})
const say = (s: string) => process.stderr.write(`[bench:http] ${s}\n`)

const SITE = 'plant1'
const LINES = 3
const MACHINES = 10
const SEED = 7
/** Bump when the generated data changes: the cache key includes it. */
const GEN_VERSION = 3
const MINUTE = 60_000
const DAY_MINUTES = 1440
/** The newest minute of data: a Wednesday 10:17 UTC, inside the early shift (so there is a running shift). */
const END_MINUTE = Date.UTC(2026, 11, 9, 10, 17)
/** Readings per sensor per minute (one every 10 s, as the seeded simulator). */
const PER_MINUTE = 6
const TARGET_OVERVIEW_P95_MS = 50

interface SensorModel {
  name: string
  unit: string
  counter?: boolean
  idle?: readonly [number, number]
  op?: readonly [number, number]
  /** Standard deviation within a minute while producing (a tenth of it when idle). */
  noise?: number
  /** Minutes to approach a new level. */
  tauMin?: number
}

// The simulator's seven sensors and three more named like them: 10 per machine.
const SENSORS: readonly SensorModel[] = [
  { name: 'spindle_temp', unit: '°C', idle: [22, 26], op: [52, 68], noise: 0.4, tauMin: 12 },
  { name: 'vibration_rms', unit: 'mm/s', idle: [0.2, 0.5], op: [2, 4.5], noise: 0.25, tauMin: 0.5 },
  { name: 'spindle_speed', unit: 'rpm', idle: [0, 0], op: [6000, 9000], noise: 40, tauMin: 0.5 },
  { name: 'pressure', unit: 'bar', idle: [5.6, 6.2], op: [6.2, 7.4], noise: 0.05, tauMin: 0.5 },
  { name: 'power', unit: 'kW', idle: [1.5, 3], op: [8, 15], noise: 0.6, tauMin: 0.5 },
  { name: 'part_count', unit: 'parts', counter: true },
  { name: 'reject_count', unit: 'parts', counter: true },
  { name: 'coolant_temp', unit: '°C', idle: [18, 21], op: [22, 27], noise: 0.2, tauMin: 20 },
  { name: 'motor_current', unit: 'A', idle: [1, 3], op: [18, 36], noise: 0.8, tauMin: 0.5 },
  { name: 'air_flow', unit: 'l/min', idle: [40, 80], op: [280, 460], noise: 6, tauMin: 0.5 },
]
const PARTS = SENSORS.findIndex((s) => s.name === 'part_count')
const REJECTS = SENSORS.findIndex((s) => s.name === 'reject_count')
const EXTRA_LIMITS: Record<string, number> = { coolant_temp: 35, motor_current: 45, air_flow: 600 }

interface SensorId {
  key: string
  line: string
  machine: string
  sensor: string
  unit: string
  model: SensorModel
  /** Index of its machine. */
  m: number
}

const sensorIds: SensorId[] = []
for (let l = 1; l <= LINES; l++) {
  for (let m = 1; m <= MACHINES; m++) {
    for (const model of SENSORS) {
      const line = `line${l}`
      const machine = `m${m}`
      sensorIds.push({ key: `${SITE}/${line}/${machine}/${model.name}`, line, machine, sensor: model.name, unit: model.unit, model, m: (l - 1) * MACHINES + (m - 1) })
    }
  }
}
const N_SENSORS = sensorIds.length
const N_MACHINES = LINES * MACHINES

/** The seeded shift times (early/late/night), every day of the week: the plant runs 24/7, three shifts a day. */
const benchCalendar = (): ShiftCalendar => createShiftCalendar({ timeZone: 'UTC', shifts: SEED_SHIFTS.map((s) => ({ ...s, days: [...WEEKDAYS] })) })

const highLimit = (sensor: string): number | undefined => (isSensorName(sensor) ? SENSOR_SPECS[sensor].hardLimit : EXTRA_LIMITS[sensor])

// ---------------------------------------------------------------------------------------------
// The state database.

interface AnomalyPlan {
  id: string
  s: number
  kind: AnomalyKind
  severity: Severity
  startedAt: number
  endedAt: number | null
  observed: number
  expected: number | null
  detail: string
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits

function planAnomalies(days: number, startMinute: number, opLevel: Float64Array): AnomalyPlan[] {
  const rng = createRng(`${SEED}/anomalies`)
  const out: AnomalyPlan[] = []
  const span = days * DAY_MINUTES * MINUTE
  const end = END_MINUTE + MINUTE
  const make = (startedAt: number, open: boolean, forcedKind?: AnomalyKind): void => {
    const s = forcedKind === 'reject_rate_jump' ? rng.int(0, N_MACHINES - 1) * SENSORS.length + REJECTS : rng.int(0, N_SENSORS - 1)
    const id = sensorIds[s] as SensorId
    const analog = id.model.counter !== true
    const kind: AnomalyKind = forcedKind ?? (analog ? rng.pick(['spike', 'spike', 'drift', 'flatline', 'limit_breach', 'dropout'] as const) : id.sensor === 'reject_count' ? 'reject_rate_jump' : 'dropout')
    const minutes = kind === 'spike' ? rng.int(1, 3) : kind === 'drift' ? rng.int(30, 180) : rng.int(4, 45)
    const endedAt = open ? null : Math.min(end - MINUTE, startedAt + minutes * MINUTE + rng.int(0, 59) * 1000)
    const level = opLevel[s] as number
    const limit = highLimit(id.sensor) ?? level * 1.5
    const u = id.unit
    let observed: number
    let expected: number | null
    let detail: string
    let severity: Severity = 'warning'
    switch (kind) {
      case 'limit_breach':
        observed = round(limit * rng.range(1.01, 1.08), 2)
        expected = limit
        detail = `${id.sensor} ${observed} ${u} above the limit ${limit}`
        severity = 'critical'
        break
      case 'spike':
        observed = round(level * rng.range(1.3, 1.6), 2)
        expected = round(level, 2)
        detail = `${id.sensor} spiked to ${observed} ${u} (mean ${expected} ${u})`
        severity = rng.chance(0.3) ? 'critical' : 'warning'
        break
      case 'drift':
        observed = round(level * rng.range(1.1, 1.25), 2)
        expected = round(level, 2)
        detail = `${id.sensor} drifted from ${expected} ${u} to ${observed} ${u}`
        break
      case 'flatline':
        observed = round(level, 2)
        expected = null
        detail = `${id.sensor} stuck at ${observed} ${u} for ${minutes} min`
        break
      case 'reject_rate_jump':
        observed = round(rng.range(12, 20), 1)
        expected = round(rng.range(0.5, 3), 1)
        detail = `reject rate ${observed} % (normally ${expected} %)`
        severity = 'critical'
        break
      default:
        observed = minutes
        expected = null
        detail = `no readings from ${id.sensor} for ${minutes} min`
    }
    out.push({ id: anomalyId(id.key, kind, startedAt, 'event'), s, kind, severity, startedAt, endedAt, observed, expected, detail })
  }
  // About ten a day over the month, closed unless they started in the last two hours.
  const n = days * 10
  for (let i = 0; i < n; i++) {
    const startedAt = END_MINUTE - rng.int(0, span / 1000 - 120) * 1000
    make(startedAt, END_MINUTE - startedAt < 2 * 3_600_000 && rng.chance(0.6))
  }
  // And some open now: a few from this shift, a drift since yesterday, a reject-rate jump, a limit breach.
  for (let i = 0; i < 5; i++) make(END_MINUTE - rng.int(5 * 60, 4 * 3600) * 1000, true)
  make(END_MINUTE - 26 * 3_600_000, true, 'drift')
  make(END_MINUTE - 3 * 3_600_000, true, 'reject_rate_jump')
  make(END_MINUTE - 40 * 60_000, true, 'limit_breach')
  return out.filter((a) => a.startedAt >= startMinute).sort((a, b) => a.startedAt - b.startedAt)
}

interface ShiftAcc {
  inst: ShiftInstance
  count: Float64Array
  sum: Float64Array
  sumsq: Float64Array
  min: Float64Array
  max: Float64Array
  buckets: Float64Array
  first: Float64Array
  last: Float64Array
}

const newShiftAcc = (inst: ShiftInstance): ShiftAcc => ({
  inst,
  count: new Float64Array(N_SENSORS),
  sum: new Float64Array(N_SENSORS),
  sumsq: new Float64Array(N_SENSORS),
  min: new Float64Array(N_SENSORS).fill(Infinity),
  max: new Float64Array(N_SENSORS).fill(-Infinity),
  buckets: new Float64Array(N_SENSORS),
  first: new Float64Array(N_SENSORS).fill(NaN),
  last: new Float64Array(N_SENSORS),
})

interface ClosedShift {
  inst: ShiftInstance
  parts: number
  rejects: number
  anomalies: number
  coverage: number
  worst: { scope: string; rate: number }[]
}

function fact(id: string, metric: Fact['metric'], scope: string, value: number, unit: string, display: string, text: string, window: { start: number; end: number }): Fact {
  return { id, metric, scope, value, unit, window, display, text }
}

const TEMPLATE_GENERATOR: Narrative['generator'] = { type: 'template', reason: 'llm_disabled' }
const grounded = (facts: readonly Fact[]): Narrative['grounding'] => ({ ok: true, numbersChecked: facts.length, unmatched: [], unknownNames: [] })
const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1)
const hhmm = (ts: number) => new Date(ts).toISOString().slice(11, 16)

function shiftNarrative(c: ClosedShift): Narrative {
  const w = { start: c.inst.startTs, end: c.inst.endTs }
  const rate = c.parts > 0 ? round((c.rejects / c.parts) * 100, 1) : 0
  const facts = [
    fact('parts_total', 'parts', 'site', c.parts, 'parts', `${c.parts} parts`, `${c.parts} parts made`, w),
    fact('rejects_total', 'rejects', 'site', c.rejects, 'parts', `${c.rejects} rejects`, `${c.rejects} parts rejected`, w),
    fact('reject_rate_total', 'reject_rate', 'site', rate, '%', `${rate} %`, `reject rate ${rate} %`, w),
    fact('anomalies_total', 'anomalies', 'site', c.anomalies, '', String(c.anomalies), `${c.anomalies} anomalies`, w),
    fact('coverage_mean', 'coverage', 'site', c.coverage, '%', `${c.coverage} %`, `mean data coverage ${c.coverage} %`, w),
    ...c.worst.map((m) => fact(`reject_rate.${m.scope}`, 'reject_rate', m.scope, m.rate, '%', `${m.rate} %`, `${m.scope} reject rate ${m.rate} %`, w)),
  ]
  return {
    id: `shift/${c.inst.id}`,
    kind: 'shift',
    site: SITE,
    scope: 'site',
    periodStart: c.inst.startTs,
    periodEnd: c.inst.endTs,
    headline: `${capitalize(c.inst.name)} shift ${c.inst.date}: ${c.parts} parts, reject rate ${rate} %`,
    body: `The ${c.inst.name} shift made ${c.parts} parts and rejected ${c.rejects} (reject rate ${rate} %). There were ${c.anomalies} anomalies; mean data coverage was ${c.coverage} %.`,
    highlights: c.worst.map((m) => `${m.scope} reject rate ${m.rate} %`),
    facts,
    generator: TEMPLATE_GENERATOR,
    grounding: grounded(facts),
    createdAt: c.inst.endTs + 95_000,
  }
}

function incidentNarrative(a: AnomalyPlan): Narrative {
  const id = sensorIds[a.s] as SensorId
  const scope = `${id.line}/${id.machine}`
  const end = a.endedAt ?? a.startedAt + 10 * MINUTE
  const w = { start: a.startedAt, end }
  const facts = [
    fact('anomaly_1.start', 'start', `${scope}/${id.sensor}`, a.startedAt, 'time', hhmm(a.startedAt), `started at ${hhmm(a.startedAt)}`, w),
    fact('anomaly_1.observed', 'observed', `${scope}/${id.sensor}`, a.observed, id.unit, `${a.observed} ${id.unit}`, `${id.sensor} ${a.observed} ${id.unit}`, w),
  ]
  return {
    id: incidentId(id.line, id.machine, a.id),
    kind: 'incident',
    site: SITE,
    scope,
    periodStart: a.startedAt,
    periodEnd: end,
    headline: `Incident on ${scope} from ${hhmm(a.startedAt)}`,
    body: `${a.detail}. It started at ${hhmm(a.startedAt)}${a.endedAt === null ? ' and is still open' : ''}.`,
    highlights: [a.detail],
    facts,
    generator: TEMPLATE_GENERATOR,
    grounding: grounded(facts),
    createdAt: end + 60_000,
  }
}

/** Fills `file` (which must not exist) with `days` of data up to END_MINUTE. */
function generate(file: string, days: number): void {
  const t0 = performance.now()
  const db = openStateDb(file)
  // Only while filling a throw-away file (renamed into the cache when complete): no fsync and
  // no rollback journal. The finished file is switched back to WAL, as the gateway opens it.
  db.pragma('journal_mode = OFF')
  db.pragma('synchronous = OFF')
  db.pragma('cache_size = -262144')

  const rng = createRng(SEED)
  const startMinute = END_MINUTE - (days * DAY_MINUTES - 1) * MINUTE
  const calendar = benchCalendar()

  // Per machine: cycle time, reject ratio, counters; per sensor: idle/producing levels, noise, phase.
  const cycleS = Float64Array.from({ length: N_MACHINES }, () => rng.range(20, 45))
  const rejectRatio = Float64Array.from({ length: N_MACHINES }, () => rng.range(0.005, 0.03))
  const partCarry = new Float64Array(N_MACHINES)
  /** Parts made by each machine in the current minute (its reject counter draws from them). */
  const made = new Float64Array(N_MACHINES)
  const idleLevel = new Float64Array(N_SENSORS)
  const opLevel = new Float64Array(N_SENSORS)
  const noise = new Float64Array(N_SENSORS)
  const alpha = new Float64Array(N_SENSORS)
  const level = new Float64Array(N_SENSORS)
  const phaseMs = new Float64Array(N_SENSORS)
  const counter = new Float64Array(N_SENSORS)
  const lastTs = new Float64Array(N_SENSORS)
  const lastValue = new Float64Array(N_SENSORS)
  sensorIds.forEach((id, s) => {
    const m = id.model
    phaseMs[s] = rng.int(0, 9_999)
    if (m.counter) {
      counter[s] = s % SENSORS.length === PARTS ? rng.int(10_000, 900_000) : 0
      return
    }
    const [il, ih] = m.idle ?? [0, 0]
    const [ol, oh] = m.op ?? [0, 0]
    idleLevel[s] = rng.range(il, ih)
    opLevel[s] = rng.range(ol, oh)
    noise[s] = m.noise ?? 0
    alpha[s] = 1 - Math.exp(-1 / (m.tauMin ?? 1))
    level[s] = idleLevel[s] as number
  })
  sensorIds.forEach((id, s) => {
    if (s % SENSORS.length === REJECTS) counter[s] = Math.round((counter[s - (REJECTS - PARTS)] as number) * (rejectRatio[id.m] as number))
  })

  const anomalies = planAnomalies(days, startMinute, opLevel)
  // A spike or limit breach shows as the max of its first minute.
  const peaks = new Map<number, number>()
  for (const a of anomalies) {
    if (a.kind === 'spike' || a.kind === 'limit_breach') peaks.set(Math.floor((a.startedAt - startMinute) / MINUTE) * N_SENSORS + a.s, a.observed)
  }

  // Per machine and day: maybe one unplanned stop of 20–90 minutes.
  const downtime: [number, number][] = []
  for (let d = 0; d < days + 1; d++) for (let m = 0; m < N_MACHINES; m++) downtime.push(rng.chance(0.35) ? [rng.int(0, DAY_MINUTES - 1), rng.int(20, 90)] : [-1, 0])

  const insert = db.prepare(
    `INSERT INTO buckets (key, minute, count, sum, sumsq, min, max, first_ts, first_value, last_ts, last_value)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
  const writeShift = db.prepare('INSERT INTO shifts (id, name, date, start_ts, end_ts, closed_by, closed_at_event) VALUES (?, ?, ?, ?, ?, ?, ?)')
  const writeSensorKpi = db.prepare(
    `INSERT INTO shift_kpis (shift_id, key, line, machine, sensor, count, mean, min, max, std, coverage_pct, delta)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
  const writeMachineKpi = db.prepare(
    `INSERT INTO shift_machine_kpis (shift_id, line, machine, parts, rejects, reject_rate_pct, coverage_pct, anomalies)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  )

  const instances = calendar.instancesBetween(startMinute, END_MINUTE + MINUTE)
  let si = 0
  let acc: ShiftAcc | undefined
  const closed: ClosedShift[] = []
  const closeShift = (a: ShiftAcc): void => {
    const { inst } = a
    const minutes = Math.max(1, Math.round((inst.endTs - inst.startTs) / MINUTE))
    writeShift.run(inst.id, inst.name, inst.date, inst.startTs, inst.endTs, 'watermark', inst.endTs + 61_000)
    for (let s = 0; s < N_SENSORS; s++) {
      const n = a.count[s] as number
      if (n === 0) continue
      const id = sensorIds[s] as SensorId
      const mean = (a.sum[s] as number) / n
      const delta = id.model.counter ? (a.last[s] as number) - (a.first[s] as number) : null
      const std = Math.sqrt(Math.max(0, (a.sumsq[s] as number) / n - mean * mean))
      writeSensorKpi.run(inst.id, id.key, id.line, id.machine, id.sensor, n, mean, a.min[s], a.max[s], std, round(((a.buckets[s] as number) / minutes) * 100, 1), delta)
    }
    let parts = 0
    let rejects = 0
    let anomalyCount = 0
    let coverage = 0
    const rates: { scope: string; rate: number }[] = []
    for (let m = 0; m < N_MACHINES; m++) {
      const base = m * SENSORS.length
      const id = sensorIds[base] as SensorId
      const p = (a.last[base + PARTS] as number) - (a.first[base + PARTS] as number)
      const r = (a.last[base + REJECTS] as number) - (a.first[base + REJECTS] as number)
      const n = anomalies.filter((x) => Math.floor(x.s / SENSORS.length) === m && x.startedAt >= inst.startTs && x.startedAt < inst.endTs).length
      const cov = round(((a.buckets[base] as number) / minutes) * 100, 1)
      const rate = p > 0 ? round((r / p) * 100, 2) : null
      writeMachineKpi.run(inst.id, id.line, id.machine, p, r, rate, cov, n)
      parts += p
      rejects += r
      anomalyCount += n
      coverage += cov
      if (rate !== null) rates.push({ scope: `${id.line}/${id.machine}`, rate })
    }
    rates.sort((x, y) => y.rate - x.rate)
    closed.push({ inst, parts, rejects, anomalies: anomalyCount, coverage: round(coverage / N_MACHINES, 1), worst: rates.slice(0, 3) })
  }

  let rows = 0
  const fillDay = db.transaction((day: number) => {
    const dayStart = startMinute + day * DAY_MINUTES * MINUTE
    for (let i = 0; i < DAY_MINUTES; i++) {
      const minute = dayStart + i * MINUTE
      const mi = day * DAY_MINUTES + i
      // The shift this minute is in; the shifts that ended before it are closed.
      while (si < instances.length && (instances[si] as ShiftInstance).endTs <= minute) {
        if (acc !== undefined && acc.inst === instances[si]) closeShift(acc)
        acc = undefined
        si++
      }
      const inst = instances[si]
      if (inst !== undefined && inst.startTs <= minute && acc?.inst !== inst) acc = newShiftAcc(inst)
      const inShift = acc !== undefined
      // A 30-minute break four hours into each shift.
      const sinceStart = acc !== undefined ? (minute - acc.inst.startTs) / MINUTE : -1
      const onBreak = sinceStart >= 240 && sinceStart < 270
      const minuteOfDay = Math.floor((minute % 86_400_000) / MINUTE)
      const dayIndex = Math.floor(minute / 86_400_000) - Math.floor(startMinute / 86_400_000)
      const ambient = 1.5 * Math.sin(((minuteOfDay - 540) / DAY_MINUTES) * 2 * Math.PI)
      for (let s = 0; s < N_SENSORS; s++) {
        const id = sensorIds[s] as SensorId
        const m = id.m
        const [downAt, downFor] = downtime[dayIndex * N_MACHINES + m] as [number, number]
        const producing = inShift && !onBreak && !(minuteOfDay >= downAt && minuteOfDay < downAt + downFor)
        const firstTs = minute + (phaseMs[s] as number)
        const endTs = firstTs + (PER_MINUTE - 1) * 10_000
        let sum: number
        let sumsq: number
        let min: number
        let max: number
        let first: number
        let last: number
        const sensorIndex = s % SENSORS.length
        if (sensorIndex === PARTS || sensorIndex === REJECTS) {
          first = counter[s] as number
          let inc = 0
          if (sensorIndex === PARTS) {
            if (producing) {
              partCarry[m] = (partCarry[m] as number) + 60 / (cycleS[m] as number)
              inc = Math.floor(partCarry[m] as number)
              partCarry[m] = (partCarry[m] as number) - inc
            }
            made[m] = inc
          } else {
            for (let k = 0; k < (made[m] as number); k++) if (rng.next() < (rejectRatio[m] as number)) inc++
          }
          last = first + inc
          counter[s] = last
          min = first
          max = last
          const mid = (first + last) / 2
          sum = PER_MINUTE * mid
          sumsq = PER_MINUTE * mid * mid
        } else {
          const target = (producing ? (opLevel[s] as number) : (idleLevel[s] as number)) + (id.unit === '°C' ? ambient : 0)
          level[s] = (level[s] as number) + ((target - (level[s] as number)) * (alpha[s] as number))
          const sd = (noise[s] as number) * (producing ? 1 : 0.1)
          const mean = Math.max(0, (level[s] as number) + rng.normal(0, sd * 0.4))
          // Readings carry three decimals at most, as the simulator's payloads.
          min = round(Math.max(0, mean - sd * (1 + rng.next())), 3)
          max = round(mean + sd * (1 + rng.next()), 3)
          const peak = peaks.get(mi * N_SENSORS + s)
          if (peak !== undefined) max = Math.max(max, peak)
          first = round(Math.min(max, Math.max(min, mean + sd * rng.normal())), 3)
          last = round(Math.min(max, Math.max(min, mean + sd * rng.normal())), 3)
          sum = PER_MINUTE * mean
          sumsq = PER_MINUTE * (mean * mean + sd * sd)
        }
        insert.run(id.key, minute, PER_MINUTE, sum, sumsq, min, max, firstTs, first, endTs, last)
        lastTs[s] = endTs
        lastValue[s] = last
        if (acc !== undefined) {
          acc.count[s] = (acc.count[s] as number) + PER_MINUTE
          acc.sum[s] = (acc.sum[s] as number) + sum
          acc.sumsq[s] = (acc.sumsq[s] as number) + sumsq
          acc.min[s] = Math.min(acc.min[s] as number, min)
          acc.max[s] = Math.max(acc.max[s] as number, max)
          acc.buckets[s] = (acc.buckets[s] as number) + 1
          if (Number.isNaN(acc.first[s])) acc.first[s] = first
          acc.last[s] = last
        }
      }
      rows += N_SENSORS
    }
  })
  for (let day = 0; day < days; day++) {
    fillDay(day)
    const s = (performance.now() - t0) / 1000
    if ((day + 1) % 3 === 0 || day === days - 1) say(`day ${day + 1}/${days}: ${rows.toLocaleString('en')} bucket rows, ${s.toFixed(0)} s (${Math.round(rows / s).toLocaleString('en')} rows/s)`)
  }

  db.transaction(() => {
    const writeSensor = db.prepare(
      `INSERT INTO sensors (key, site, line, machine, sensor, unit, first_ts, last_ts, last_value, readings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    sensorIds.forEach((id, s) => writeSensor.run(id.key, SITE, id.line, id.machine, id.sensor, id.unit, startMinute + (phaseMs[s] as number), lastTs[s], lastValue[s], days * DAY_MINUTES * PER_MINUTE))
    const writeAnomaly = db.prepare(
      `INSERT INTO anomalies (id, key, site, line, machine, sensor, kind, severity, state, started_at, ended_at, observed, expected, detail, clock)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'event')`,
    )
    for (const a of anomalies) {
      const id = sensorIds[a.s] as SensorId
      writeAnomaly.run(a.id, id.key, SITE, id.line, id.machine, id.sensor, a.kind, a.severity, a.endedAt === null ? 'open' : 'closed', a.startedAt, a.endedAt, a.observed, a.expected, a.detail)
    }
    const narratives = createNarrativeStore(db)
    for (const c of closed) narratives.save(shiftNarrative(c))
    // An incident narrative for every critical anomaly and one in four of the others.
    const nrng = createRng(`${SEED}/narratives`)
    for (const a of anomalies) if (a.severity === 'critical' || nrng.chance(0.25)) narratives.save(incidentNarrative(a))
    const setMeta = db.prepare('INSERT INTO meta (name, value) VALUES (?, ?)')
    setMeta.run('max_event_ts', String(Math.max(...lastTs)))
    setMeta.run('shift_cursor', String(closed.at(-1)?.inst.endTs ?? startMinute))
  })()
  db.pragma('journal_mode = WAL')
  db.close()
  say(`${closed.length} closed shifts, ${anomalies.length} anomalies (${anomalies.filter((a) => a.endedAt === null).length} open)`)
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The cached state database for these parameters, generated when missing. */
function stateDb(days: number, fresh: boolean): { file: string; generatedS: number | null } {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '.cache', 'bench-http')
  const name = `state-v${GEN_VERSION}-${SITE}-${LINES}x${MACHINES}x${SENSORS.length}-${days}d-end${END_MINUTE}-seed${SEED}.db`
  const file = join(dir, name)
  if (fresh) for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true })
  // Files left by an interrupted fill (their process is gone) or made by an older generator are
  // ~2 GB each: remove them.
  for (const f of existsSync(dir) ? readdirSync(dir) : []) {
    const partial = /\.partial-(\d+)(-wal|-shm)?$/.exec(f)
    const version = /^state-v(\d+)-/.exec(f)
    if ((partial !== null && !alive(Number(partial[1]))) || (version !== null && Number(version[1]) !== GEN_VERSION)) rmSync(join(dir, f), { force: true })
  }
  if (existsSync(file)) {
    say(`using the cached state database ${file}`)
    return { file, generatedS: null }
  }
  mkdirSync(dir, { recursive: true })
  const partial = `${file}.partial-${process.pid}`
  say(`generating ${days} days × ${DAY_MINUTES} minutes × ${N_SENSORS} sensors = ${(days * DAY_MINUTES * N_SENSORS).toLocaleString('en')} minute buckets into ${partial}`)
  const t0 = performance.now()
  try {
    generate(partial, days)
  } catch (err) {
    for (const f of [partial, `${partial}-wal`, `${partial}-shm`]) rmSync(f, { force: true })
    throw err
  }
  renameSync(partial, file)
  const generatedS = (performance.now() - t0) / 1000
  say(`generated in ${generatedS.toFixed(0)} s`)
  return { file, generatedS }
}

// ---------------------------------------------------------------------------------------------
// The server (child process).

async function serve(file: string): Promise<void> {
  const db: StateDb = openStateDb(file)
  const newest = (db.prepare('SELECT max(last_ts) AS newest FROM sensors WHERE site = ?').get(SITE) as { newest: number }).newest
  // The wall clock runs on from just after the newest reading, so the data looks live (not stale).
  const offset = newest + 20_000 - Date.now()
  const calendar = benchCalendar()
  const app = await createHttpApp({
    db,
    site: SITE,
    timeZone: 'UTC',
    registry: new Registry(),
    health: () => ({ bench: { ok: true, detail: 'benchmark' } }),
    ready: async () => ({ ok: true, checks: {} }),
    live: createLiveHub(),
    log: silentLogger(),
    clock: () => Date.now() + offset,
    files: { state: file },
    calendar,
    kpi: seedFactsOptions({ calendar }, SITE),
    limits: (_line, _machine, sensor) => {
      const high = highLimit(sensor)
      return high === undefined ? undefined : { high }
    },
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  let elu = performance.eventLoopUtilization()
  const writer = liveWriter(db, () => Date.now() + offset)
  process.on('message', (m: unknown) => {
    if (m === 'elu-start') elu = performance.eventLoopUtilization()
    else if (m === 'elu') process.send?.({ elu: performance.eventLoopUtilization(elu).utilization, rssBytes: process.memoryUsage().rss })
    else if (m === 'writer-start') writer.start()
    else if (m === 'writer-stop') process.send?.({ writes: writer.stop() })
  })
  process.once('disconnect', () => {
    void app.close().finally(() => {
      db.close()
      process.exit(0)
    })
  })
  process.send?.({ port: (app.server.address() as AddressInfo).port })
}

/**
 * What the aggregator does to the state database while the page is read: every
 * LIVE_WRITE_EVERY_MS one committed transaction that moves every sensor's newest reading and
 * its newest minute bucket on. Each write is a new data version, so the overview's render
 * cache misses after it. stop() puts the rows back as they were, so the cached file is
 * unchanged for the next run.
 */
const LIVE_WRITE_EVERY_MS = 500
function liveWriter(db: StateDb, now: () => number): { start(): void; stop(): number } {
  type SensorRow = { key: string; last_ts: number; last_value: number; readings: number }
  type BucketRow = { key: string; minute: number; count: number; sum: number; sumsq: number; min: number; max: number; last_ts: number; last_value: number }
  let timer: NodeJS.Timeout | undefined
  let writes = 0
  let saved: { sensors: SensorRow[]; buckets: BucketRow[] } | undefined
  const sensorsNow = db.prepare('SELECT key, last_ts, last_value, readings FROM sensors')
  const newestBucket = db.prepare('SELECT key, minute, count, sum, sumsq, min, max, last_ts, last_value FROM buckets WHERE key = ? ORDER BY minute DESC LIMIT 1')
  const setSensor = db.prepare('UPDATE sensors SET last_ts = ?, last_value = ?, readings = ? WHERE key = ?')
  const setBucket = db.prepare('UPDATE buckets SET count = ?, sum = ?, sumsq = ?, min = ?, max = ?, last_ts = ?, last_value = ? WHERE key = ? AND minute = ?')
  const write = db.transaction((ts: number) => {
    for (const [i, s] of (saved as { sensors: SensorRow[] }).sensors.entries()) {
      const b = (saved as { buckets: BucketRow[] }).buckets[i] as BucketRow
      const v = s.last_value * (1 + 0.001 * Math.sin(ts / 1000 + i))
      setSensor.run(ts, v, s.readings + writes + 1, s.key)
      setBucket.run(b.count + writes + 1, b.sum + v * (writes + 1), b.sumsq + v * v * (writes + 1), Math.min(b.min, v), Math.max(b.max, v), ts, v, b.key, b.minute)
    }
  })
  const restore = db.transaction(() => {
    for (const s of saved?.sensors ?? []) setSensor.run(s.last_ts, s.last_value, s.readings, s.key)
    for (const b of saved?.buckets ?? []) setBucket.run(b.count, b.sum, b.sumsq, b.min, b.max, b.last_ts, b.last_value, b.key, b.minute)
  })
  return {
    start() {
      const sensors = sensorsNow.all() as SensorRow[]
      saved = { sensors, buckets: sensors.map((s) => newestBucket.get(s.key) as BucketRow) }
      writes = 0
      timer = setInterval(() => {
        write(now())
        writes++
      }, LIVE_WRITE_EVERY_MS)
    },
    stop() {
      clearInterval(timer)
      restore()
      return writes
    },
  }
}

interface Server {
  url: string
  child: ChildProcess
  stats(): Promise<{ elu: number; rssBytes: number }>
  resetStats(): void
  /** Starts the live writer (liveWriter); the returned function stops it and says how many writes it made. */
  startWriter(): () => Promise<number>
  stop(): Promise<void>
}

async function startServer(file: string): Promise<Server> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', file], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const port = await new Promise<number>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`the server process exited (code ${code}) before listening`))
    child.once('exit', onExit)
    child.once('message', (m: unknown) => {
      child.off('exit', onExit)
      resolve((m as { port: number }).port)
    })
  })
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    stats: () => new Promise((resolve) => {
      child.once('message', (m: unknown) => resolve(m as { elu: number; rssBytes: number }))
      child.send('elu')
    }),
    resetStats: () => void child.send('elu-start'),
    startWriter: () => {
      child.send('writer-start')
      return () =>
        new Promise((resolve) => {
          child.once('message', (m: unknown) => resolve((m as { writes: number }).writes))
          child.send('writer-stop')
        })
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || !child.connected) return resolve()
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
        child.once('exit', () => {
          clearTimeout(timer)
          resolve()
        })
        child.disconnect()
      }),
  }
}

// ---------------------------------------------------------------------------------------------
// Load (autocannon).

interface AutocannonRequest {
  method?: string
  path: string
  setupRequest?: (req: { path: string }, context: unknown) => { path: string }
}

interface AutocannonResult {
  duration: number
  errors: number
  timeouts: number
  non2xx: number
  statusCodeStats: Record<string, { count: number }>
  requests: { average: number; total: number }
  throughput: { average: number }
}

interface AutocannonInstance {
  on(event: 'response', fn: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void): void
  on(event: 'done', fn: (result: AutocannonResult) => void): void
  on(event: 'error', fn: (err: Error) => void): void
}

type Autocannon = (opts: {
  url: string
  connections: number
  duration: number
  pipelining?: number
  headers?: Record<string, string>
  requests?: AutocannonRequest[]
  timeout?: number
}) => AutocannonInstance

interface LoadResult {
  requests: number
  durationS: number
  rps: number
  bytesPerS: number
  errors: number
  timeouts: number
  non2xx: number
  statusCodes: Record<string, number>
  latencies: Float64Array
  /** Latencies by request template (the path before the query, or the template's label). */
  byPath: Map<string, number[]>
}

async function loadAutocannon(): Promise<Autocannon> {
  const name = 'autocannon' // not a literal import: autocannon ships no types
  try {
    const mod = (await import(name)) as { default: Autocannon }
    return mod.default
  } catch (err) {
    throw new Error(`autocannon is not installed (npm install): ${err instanceof Error ? err.message : String(err)}`)
  }
}

function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i] as number
}

const ms = (x: number) => Math.round(x * 10) / 10

async function load(autocannon: Autocannon, url: string, connections: number, durationS: number, requests: AutocannonRequest[]): Promise<LoadResult> {
  const latencies: number[] = []
  const byPath = new Map<string, number[]>()
  const result = await new Promise<AutocannonResult>((resolve, reject) => {
    // As a browser asks (the app sends plain responses today; a compressed one would count as sent).
    const headers = { 'accept-encoding': 'gzip, deflate, br' }
    const instance = autocannon({ url, connections, duration: durationS, pipelining: 1, timeout: 30, headers, requests })
    instance.on('response', (client, _status, _bytes, responseTime) => {
      latencies.push(responseTime)
      // The template this response answers: the client has not moved on to its next request yet.
      const path = (client as { requestIterator?: { currentRequest?: { path?: string } } }).requestIterator?.currentRequest?.path ?? 'all'
      let list = byPath.get(path)
      if (list === undefined) byPath.set(path, (list = []))
      list.push(responseTime)
    })
    instance.on('done', resolve)
    instance.on('error', reject)
  })
  const sorted = Float64Array.from(latencies).sort()
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, v]) => [code, v.count]))
  return {
    requests: sorted.length,
    durationS: result.duration,
    rps: Math.round(sorted.length / result.duration),
    bytesPerS: result.throughput.average,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statusCodes,
    latencies: sorted,
    byPath,
  }
}

// ---------------------------------------------------------------------------------------------

async function check(url: string, path: string, expect: (body: string) => boolean): Promise<{ ms: number; bytes: number }> {
  const t0 = performance.now()
  const res = await fetch(`${url}${path}`)
  const body = await res.text()
  const took = performance.now() - t0
  if (res.status !== 200 || !expect(body)) throw new Error(`GET ${path}: ${res.status} ${body.slice(0, 200)}`)
  return { ms: took, bytes: Buffer.byteLength(body) }
}

async function main(): Promise<void> {
  const days = Number(args.days)
  const durationS = Number(args.duration)
  const warmupS = Number(args.warmup)
  const connections = Number(args.connections)
  for (const [name, v] of [['days', days], ['duration', durationS], ['warmup', warmupS], ['connections', connections]] as const) {
    if (!Number.isInteger(v) || v < (name === 'warmup' ? 0 : 1)) throw new Error(`--${name} must be a whole number (got ${String(args[name])})`)
  }
  const autocannon = await loadAutocannon()
  const { file, generatedS } = stateDb(days, args.fresh)
  const dbBytes = statSync(file).size
  const rowsDb = openStateDb(file, { readonly: true })
  const rows = (rowsDb.prepare('SELECT count(*) AS n FROM buckets').get() as { n: number }).n
  const counts = rowsDb
    .prepare(
      `SELECT (SELECT count(*) FROM sensors) AS sensors, (SELECT count(*) FROM shifts) AS shifts, (SELECT count(*) FROM anomalies) AS anomalies,
              (SELECT count(*) FROM anomalies WHERE state = 'open') AS open, (SELECT count(*) FROM narratives) AS narratives`,
    )
    .get() as { sensors: number; shifts: number; anomalies: number; open: number; narratives: number }
  rowsDb.close()
  say(`${rows.toLocaleString('en')} bucket rows, ${(dbBytes / 2 ** 20).toFixed(0)} MiB; ${counts.sensors} sensors, ${counts.shifts} shifts, ${counts.anomalies} anomalies (${counts.open} open), ${counts.narratives} narratives`)

  say('starting the app')
  const server = await startServer(file)
  try {
    const { url } = server
    // The first overview computes the running shift's KPIs (cached until the newest minute moves).
    const cold = await check(url, '/', (b) => b.includes('Plant overview'))
    const sensorPath = () => {
      const id = sensorIds[Math.floor(Math.random() * N_SENSORS)] as SensorId
      return `/api/sensors/${id.line}/${id.machine}/${id.sensor}?hours=24`
    }
    const apiChecks = await Promise.all([
      check(url, '/api/overview', (b) => (JSON.parse(b) as { lines: unknown[] }).lines.length === LINES),
      check(url, '/api/shifts', (b) => (JSON.parse(b) as { shifts: unknown[] }).shifts.length > 0),
      check(url, '/api/incidents?limit=50', (b) => (JSON.parse(b) as { incidents: unknown[] }).incidents.length === Math.min(50, counts.anomalies)),
      check(url, sensorPath(), (b) => (JSON.parse(b) as { points: unknown[] }).points.length === DAY_MINUTES),
    ])
    say(`cold overview ${ms(cold.ms)} ms (${(cold.bytes / 1024).toFixed(0)} KiB); API responses ${apiChecks.map((c) => `${(c.bytes / 1024).toFixed(0)} KiB`).join(', ')}`)

    const page: AutocannonRequest[] = [{ path: '/' }]
    const api: AutocannonRequest[] = [
      { path: '/api/overview' },
      { path: '/api/shifts' },
      { path: '/api/incidents?limit=50' },
      { path: '/api/sensors', setupRequest: (req) => ({ ...req, path: sensorPath() }) },
    ]

    if (warmupS > 0) {
      say(`warm-up: ${warmupS} s of / and ${warmupS} s of the API mix`)
      await load(autocannon, url, connections, warmupS, page)
      await load(autocannon, url, connections, warmupS, api)
    }
    say('service times: / and the API mix with 1 connection, 3 s each')
    const single = await load(autocannon, url, 1, 3, page)
    const apiSingle = await load(autocannon, url, 1, 3, api)

    say(`/ with ${connections} connections, ${durationS} s`)
    server.resetStats()
    const pageRun = await load(autocannon, url, connections, durationS, page)
    const pageServer = await server.stats()

    say(`API mix with ${connections} connections, ${durationS} s`)
    server.resetStats()
    const apiRun = await load(autocannon, url, connections, durationS, api)
    const apiServer = await server.stats()

    say(`/ with ${connections} connections, ${durationS} s, while the data changes every ${LIVE_WRITE_EVERY_MS} ms (300 sensors' newest reading and bucket, committed)`)
    server.resetStats()
    const stopWriter = server.startWriter()
    const liveRun = await load(autocannon, url, connections, durationS, page)
    const liveWrites = await stopWriter()
    const liveServer = await server.stats()

    const failures = [pageRun, apiRun, single, apiSingle, liveRun].reduce((n, r) => n + r.errors + r.non2xx, 0)
    const result = {
      overview_p95_ms: ms(percentile(pageRun.latencies, 95)),
      api_p95_ms: ms(percentile(apiRun.latencies, 95)),
      rps: pageRun.rps,
      overview_live_p95_ms: ms(percentile(liveRun.latencies, 95)),
      overview_live_rps: liveRun.rps,
      live_writes: liveWrites,
      overview_p50_ms: ms(percentile(pageRun.latencies, 50)),
      overview_p99_ms: ms(percentile(pageRun.latencies, 99)),
      api_p50_ms: ms(percentile(apiRun.latencies, 50)),
      api_rps: apiRun.rps,
      overview_single_p50_ms: ms(percentile(single.latencies, 50)),
      overview_cold_ms: ms(cold.ms),
      api: Object.fromEntries(
        [...apiRun.byPath].map(([path, list]) => {
          const sorted = Float64Array.from(list).sort()
          const alone = Float64Array.from(apiSingle.byPath.get(path) ?? []).sort()
          return [path, { n: sorted.length, p50_ms: ms(percentile(sorted, 50)), p95_ms: ms(percentile(sorted, 95)), single_p50_ms: ms(percentile(alone, 50)) }]
        }),
      ),
      errors: pageRun.errors + apiRun.errors + liveRun.errors,
      timeouts: pageRun.timeouts + apiRun.timeouts + liveRun.timeouts,
      non2xx: pageRun.non2xx + apiRun.non2xx + liveRun.non2xx,
      server_elu: { page: round(pageServer.elu, 2), api: round(apiServer.elu, 2), live: round(liveServer.elu, 2) },
      connections,
      duration_s: durationS,
      rows,
      db_bytes: dbBytes,
      generated_s: generatedS === null ? null : Math.round(generatedS),
    }
    if (args.json) process.stdout.write(`${JSON.stringify(result)}\n`)
    else {
      const pad = (v: number | string) => String(v).padStart(8)
      const lines = [
        `overview_p95_ms  ${pad(result.overview_p95_ms)}  GET /, ${connections} connections (target ≤ ${TARGET_OVERVIEW_P95_MS}: ${result.overview_p95_ms <= TARGET_OVERVIEW_P95_MS ? 'met' : 'NOT met'})`,
        `api_p95_ms       ${pad(result.api_p95_ms)}  API mix, ${connections} connections`,
        `rps              ${pad(result.rps)}  GET / requests per second`,
        '',
        `GET /       p50 ${ms(percentile(pageRun.latencies, 50))} ms, p95 ${result.overview_p95_ms} ms, p99 ${result.overview_p99_ms} ms, ${pageRun.requests} requests in ${pageRun.durationS} s, ${(pageRun.bytesPerS / 2 ** 20).toFixed(1)} MiB/s, server event loop ${Math.round(pageServer.elu * 100)} % busy`,
        `GET / alone p50 ${result.overview_single_p50_ms} ms (1 connection: the service time); first (cold) ${result.overview_cold_ms} ms`,
        `GET / live  p50 ${ms(percentile(liveRun.latencies, 50))} ms, p95 ${result.overview_live_p95_ms} ms, ${liveRun.requests} requests (${liveRun.rps}/s) during ${liveWrites} data changes, server event loop ${Math.round(liveServer.elu * 100)} % busy`,
        `API mix     p50 ${result.api_p50_ms} ms, p95 ${result.api_p95_ms} ms, ${apiRun.requests} requests in ${apiRun.durationS} s (${apiRun.rps}/s), server event loop ${Math.round(apiServer.elu * 100)} % busy`,
        ...Object.entries(result.api).map(([path, v]) => `  ${path.padEnd(24)} p50 ${pad(v.p50_ms)} ms  p95 ${pad(v.p95_ms)} ms  (${v.n});  alone p50 ${pad(v.single_p50_ms)} ms`),
        `errors ${result.errors}, timeouts ${result.timeouts}, non-2xx ${result.non2xx}; status codes / ${JSON.stringify(pageRun.statusCodes)}, API ${JSON.stringify(apiRun.statusCodes)}`,
        `${rows.toLocaleString('en')} bucket rows, ${(dbBytes / 2 ** 20).toFixed(0)} MiB${generatedS === null ? ' (cached)' : `, generated in ${generatedS.toFixed(0)} s`}`,
        '',
      ]
      process.stdout.write(lines.join('\n'))
    }
    if (failures > 0) throw new Error(`${failures} requests failed (errors or non-2xx): see the status codes above`)
  } finally {
    await server.stop()
  }
}

if (args.serve !== undefined) {
  serve(args.serve).catch((err: unknown) => {
    process.stderr.write(`[bench:http] server failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(1)
  })
} else {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`[bench:http] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
      process.exit(1)
    },
  )
}
