// Facts for narratives, computed by code from the state database: every mean, delta, percentage,
// ranking and duration a narrative may state. Deterministic: the same database gives the same
// fact set (ids, values, order), so a regenerated narrative replaces the old one by id.
import { createHash } from 'node:crypto'
import { formatDuration, formatNumber } from '../detect/anomaly-event.js'
import { computeShiftKpis, type KpiOptions, type MachineKpi, type SensorKpi } from '../shifts/kpis.js'
import type { ShiftInstance } from '../shifts/shift-calendar.js'
import type { Zone } from '../shifts/zone.js'
import type { StateDb } from '../store/state-db.js'
import type { Fact, FactMetric, FactSet } from './types.js'

export interface FactsOptions extends KpiOptions {
  site: string
  zone: Zone
  /** Anomalies on one machine that start within this much of each other are one incident. */
  coalesceWindowMs: number
  /** How far before an incident the sensor context (minute buckets) reaches. */
  incidentContextMs: number
  /** At most this many facts go into a prompt (all of them are kept on the narrative). */
  maxPromptFacts: number
}

interface AnomalyRow {
  id: string
  line: string
  machine: string
  sensor: string
  kind: string
  severity: string
  state: string
  started_at: number
  ended_at: number | null
  observed: number
  expected: number | null
  unit: string | null
  /** `offline` only: NDEATH or DDEATH. */
  cause: string | null
}

const KIND_WORDS: Record<string, string> = {
  limit_breach: 'limit breach',
  spike: 'spike',
  drift: 'drift',
  flatline: 'flatline',
  dropout: 'data dropout',
  reject_rate_jump: 'reject-rate jump',
  rate_of_change: 'fast change',
  offline: 'machine offline',
}

/** What a Sparkplug death says happened (the cause column is NDEATH or DDEATH; never free text, so it may reach a prompt). */
const CAUSE_WORDS: Record<string, string> = {
  NDEATH: 'edge node stopped: NDEATH',
  DDEATH: 'device stopped: DDEATH',
}

export const kindWords = (kind: string): string => KIND_WORDS[kind] ?? kind.replace(/_/g, ' ')

/**
 * A unit from a payload is free text, which must never reach a prompt: only short unit-like
 * strings pass (`°C`, `bar`, `mm/s`, `kW`, `m³/h`, `%`); anything else (spaces, digits,
 * sentences) is dropped and the value shown without a unit.
 */
export function safeUnit(unit: string | null | undefined): string {
  return unit !== null && unit !== undefined && /^[\p{L}°%µ/·.^²³-]{1,12}$/u.test(unit) ? unit : ''
}

/** A value as texts show it (about four significant digits) and the value that display means. */
function shown(x: number, unit: string): { value: number; display: string } {
  const text = formatNumber(x)
  return { value: Number(text), display: unit === '' ? text : `${text} ${unit}` }
}

function pct(x: number): { value: number; display: string } {
  const v = Math.round(x * 10) / 10
  return { value: v, display: `${formatNumber(v)} %` }
}

function duration(ms: number): { value: number; unit: string; display: string } {
  const display = formatDuration(ms)
  const [n = '0', unit = 's'] = display.split(' ')
  return { value: Number(n), unit, display }
}

/** Builds facts with unique ids and the names they are about. */
class FactList {
  readonly facts: Fact[] = []
  readonly names = new Set<string>()
  private readonly ids = new Set<string>()

  add(f: Omit<Fact, 'text'> & { text: string }): Fact {
    if (this.ids.has(f.id)) throw new Error(`fact id ${f.id} used twice`)
    this.ids.add(f.id)
    this.facts.push(f)
    return f
  }

  name(...parts: string[]): void {
    for (const p of parts) this.names.add(p)
    if (parts.length >= 2) this.names.add(parts.slice(0, 2).join('/'))
  }
}

/** Local wall time "HH:MM" of `ts` in the site's zone, as every fact shows times. */
export function hhmm(zone: Zone, ts: number): string {
  const local = new Date(ts + zone.offsetAt(ts))
  return local.toISOString().slice(11, 16)
}

function timeFact(list: FactList, zone: Zone, id: string, metric: FactMetric, scope: string, ts: number, label: string): Fact {
  const display = hhmm(zone, ts)
  return list.add({ id, metric, scope, value: ts, unit: 'time', window: { start: ts, end: ts }, display, text: `${label} ${display}` })
}

function anomalyUnit(a: AnomalyRow): string {
  if (a.kind === 'dropout') return 's'
  if (a.kind === 'reject_rate_jump') return '%'
  const unit = safeUnit(a.unit)
  if (a.kind === 'rate_of_change') return unit ? `${unit}/s` : '/s'
  return unit
}

/** Adds an anomaly's facts (`<id>`, `.start`, `.duration`, `.expected`) and returns the main one. */
function anomalyFacts(list: FactList, zone: Zone, id: string, a: AnomalyRow, windowEnd: number): Fact {
  if (a.kind === 'offline') return offlineFacts(list, zone, id, a, windowEnd)
  const scope = `${a.line}/${a.machine}/${a.sensor}`
  list.name(a.line, a.machine, a.sensor)
  const unit = anomalyUnit(a)
  const start = timeFact(list, zone, `${id}.start`, 'start', scope, a.started_at, 'from')
  const window = { start: a.started_at, end: a.ended_at ?? windowEnd }
  const parts = [`${kindWords(a.kind)} on ${a.line}/${a.machine} ${a.sensor} (${a.severity}) ${start.text}`]
  if (a.ended_at !== null) {
    const d = duration(a.ended_at - a.started_at)
    const f = list.add({ id: `${id}.duration`, metric: 'duration', scope, value: d.value, unit: d.unit, window, display: d.display, text: `lasted ${d.display}` })
    parts.push(`for ${f.display}`)
  } else parts.push('still open')
  const obs = shown(a.observed, unit)
  const observedLabel =
    a.kind === 'dropout' ? 'silent for over' : a.kind === 'flatline' ? 'stuck at' : a.kind === 'reject_rate_jump' ? 'reject rate' : a.kind === 'drift' ? 'now at' : 'peak'
  parts.push(`${observedLabel} ${obs.display}`)
  if (a.expected !== null) {
    const exp = shown(a.expected, unit)
    const label = a.kind === 'limit_breach' ? 'limit' : a.kind === 'dropout' ? 'usual interval' : 'normally'
    list.add({ id: `${id}.expected`, metric: a.kind === 'reject_rate_jump' ? 'reject_rate' : a.kind === 'dropout' ? 'duration' : 'expected', scope, value: exp.value, unit, window, display: exp.display, text: `${label} ${exp.display}` })
    parts.push(`${label} ${exp.display}`)
  }
  const metric: FactMetric = a.kind === 'reject_rate_jump' ? 'reject_rate' : a.kind === 'dropout' ? 'duration' : 'observed'
  return list.add({ id, metric, scope, value: obs.value, unit, window, display: obs.display, text: parts.join(', ') })
}

/**
 * A machine that went offline: about the machine (its `_status` sensor has no readings, and the
 * values it was given, 0 and 1, mean nothing to a reader). The main fact is the time it went
 * offline: "machine L1/m3 went offline at 10:42 (edge node stopped: NDEATH), still offline".
 */
function offlineFacts(list: FactList, zone: Zone, id: string, a: AnomalyRow, windowEnd: number): Fact {
  const scope = `${a.line}/${a.machine}`
  list.name(a.line, a.machine)
  const start = timeFact(list, zone, `${id}.start`, 'start', scope, a.started_at, 'went offline at')
  const window = { start: a.started_at, end: a.ended_at ?? windowEnd }
  const cause = a.cause === null ? undefined : CAUSE_WORDS[a.cause]
  const parts = [`machine ${scope} went offline at ${start.display}${cause === undefined ? '' : ` (${cause})`}`]
  if (a.ended_at !== null) {
    const d = duration(a.ended_at - a.started_at)
    list.add({ id: `${id}.duration`, metric: 'duration', scope, value: d.value, unit: d.unit, window, display: d.display, text: `offline for ${d.display}` })
    parts.push(`back online after ${d.display}`)
  } else parts.push('still offline')
  return list.add({ id, metric: 'start', scope, value: a.started_at, unit: 'time', window, display: start.display, text: parts.join(', ') })
}

const SEVERITY_ORDER = "CASE a.severity WHEN 'critical' THEN 0 ELSE 1 END"

function anomaliesBetween(db: StateDb, from: number, to: number, where = '', ...params: unknown[]): AnomalyRow[] {
  return db
    .prepare(
      `SELECT a.id, a.line, a.machine, a.sensor, a.kind, a.severity, a.state, a.started_at, a.ended_at, a.observed, a.expected, s.unit, a.cause
         FROM anomalies a LEFT JOIN sensors s ON s.key = a.key
        WHERE a.started_at >= ? AND a.started_at < ? ${where}
        ORDER BY ${SEVERITY_ORDER}, coalesce(a.ended_at, ?) - a.started_at DESC, a.started_at, a.id`,
    )
    .all(from, to, ...params, to) as AnomalyRow[]
}

export interface PeriodInput {
  kind: 'shift'
  id: string
  title: string
  start: number
  end: number
  /** The shift's local date, when the period is a shift. */
  date?: string
  machines: readonly MachineKpi[]
  sensors: readonly SensorKpi[]
}

/** Facts for a period (a closed shift, or `--last 2h`) from its KPIs and anomalies. */
export function periodFacts(db: StateDb, input: PeriodInput, options: FactsOptions): FactSet {
  const { zone } = options
  const list = new FactList()
  const window = { start: input.start, end: input.end }
  const prompt: string[] = []
  if (input.date !== undefined) {
    const day = Date.parse(`${input.date}T00:00:00Z`)
    list.add({ id: 'date', metric: 'date', scope: 'site', value: day, unit: 'date', window, display: input.date, text: `date ${input.date}` })
  }
  timeFact(list, zone, 'period.start', 'start', 'site', input.start, 'from')
  timeFact(list, zone, 'period.end', 'end', 'site', input.end, 'to')
  const length = duration(input.end - input.start)
  list.add({ id: 'period.length', metric: 'duration', scope: 'site', value: length.value, unit: length.unit, window, display: length.display, text: `${length.display} long` })

  const withParts = input.machines.filter((m) => m.parts !== null)
  const sum = (xs: readonly (number | null)[]) => xs.reduce<number>((a, b) => a + (b ?? 0), 0)
  if (withParts.length > 0) {
    const parts = sum(withParts.map((m) => m.parts))
    const rejects = sum(withParts.map((m) => m.rejects))
    list.add({ id: 'parts_total', metric: 'parts', scope: 'site', value: parts, unit: 'parts', window, display: `${parts} parts`, text: `${parts} parts made` })
    list.add({ id: 'rejects_total', metric: 'rejects', scope: 'site', value: rejects, unit: 'parts', window, display: `${rejects} rejects`, text: `${rejects} parts rejected` })
    prompt.push('parts_total', 'rejects_total')
    if (parts > 0) {
      const r = pct((rejects / parts) * 100)
      list.add({ id: 'reject_rate_total', metric: 'reject_rate', scope: 'site', value: r.value, unit: '%', window, display: r.display, text: `reject rate ${r.display}` })
      prompt.push('reject_rate_total')
    }
  }
  const anomalies = anomaliesBetween(db, input.start, input.end)
  const critical = anomalies.filter((a) => a.severity === 'critical').length
  list.add({
    id: 'anomalies_total',
    metric: 'anomalies',
    scope: 'site',
    value: anomalies.length,
    unit: '',
    window,
    display: String(anomalies.length),
    text: `${anomalies.length} ${anomalies.length === 1 ? 'anomaly' : 'anomalies'}`,
  })
  prompt.push('anomalies_total')
  if (critical > 0) {
    list.add({ id: 'anomalies_critical', metric: 'anomalies', scope: 'site', value: critical, unit: '', window, display: String(critical), text: `${critical} critical` })
  }
  let topAnomalyFactId: string | undefined
  anomalies.slice(0, 3).forEach((a, i) => {
    const f = anomalyFacts(list, zone, `anomaly_${i + 1}`, a, input.end)
    topAnomalyFactId ??= f.id
    prompt.push(f.id)
  })

  // Machines: the highest reject rate and the lowest coverage are the rankings worth a sentence.
  const byRate = withParts.filter((m) => m.rejectRatePct !== null).sort((a, b) => (b.rejectRatePct ?? 0) - (a.rejectRatePct ?? 0) || a.line.localeCompare(b.line) || a.machine.localeCompare(b.machine))
  for (const m of [...input.machines].sort((a, b) => a.line.localeCompare(b.line) || a.machine.localeCompare(b.machine))) {
    const scope = `${m.line}/${m.machine}`
    list.name(m.line, m.machine)
    if (m.parts !== null) list.add({ id: `parts.${scope}`, metric: 'parts', scope, value: m.parts, unit: 'parts', window, display: `${m.parts} parts`, text: `${scope} made ${m.parts} parts` })
    if (m.rejects !== null) list.add({ id: `rejects.${scope}`, metric: 'rejects', scope, value: m.rejects, unit: 'parts', window, display: `${m.rejects} rejects`, text: `${scope} rejected ${m.rejects} parts` })
    if (m.rejectRatePct !== null) {
      const r = pct(m.rejectRatePct)
      list.add({ id: `reject_rate.${scope}`, metric: 'reject_rate', scope, value: r.value, unit: '%', window, display: r.display, text: `${scope} reject rate ${r.display}` })
    }
    const c = pct(m.coveragePct)
    list.add({ id: `coverage.${scope}`, metric: 'coverage', scope, value: c.value, unit: '%', window, display: c.display, text: `${scope} data coverage ${c.display}` })
    if (m.anomalies > 0) {
      list.add({ id: `anomalies.${scope}`, metric: 'anomalies', scope, value: m.anomalies, unit: '', window, display: String(m.anomalies), text: `${m.anomalies} ${m.anomalies === 1 ? 'anomaly' : 'anomalies'} on ${scope}` })
    }
  }
  const worst = byRate[0]
  if (worst !== undefined && byRate.length > 1) prompt.push(`reject_rate.${worst.line}/${worst.machine}`)
  if (input.machines.length > 0) {
    const coverage = pct(input.machines.reduce((a, m) => a + m.coveragePct, 0) / input.machines.length)
    list.add({ id: 'coverage_mean', metric: 'coverage', scope: 'site', value: coverage.value, unit: '%', window, display: coverage.display, text: `mean data coverage ${coverage.display}` })
    const lowest = [...input.machines].sort((a, b) => a.coveragePct - b.coveragePct || a.line.localeCompare(b.line) || a.machine.localeCompare(b.machine))[0]
    if (lowest !== undefined && lowest.coveragePct < 95) prompt.push(`coverage.${lowest.line}/${lowest.machine}`)
    else prompt.push('coverage_mean')
  }
  // The sensors of the top anomalies: their mean and range over the period.
  const anomalySensors = new Set(anomalies.slice(0, 3).map((a) => `${a.line}/${a.machine}/${a.sensor}`))
  for (const s of input.sensors) {
    const scope = `${s.line}/${s.machine}/${s.sensor}`
    if (!anomalySensors.has(scope) || options.counters.includes(s.sensor)) continue
    const unit = safeUnit(s.unit)
    for (const [metric, x] of [['mean', s.mean], ['min', s.min], ['max', s.max]] as const) {
      const v = shown(x, unit)
      list.add({ id: `${metric}.${scope}`, metric, scope, value: v.value, unit, window, display: v.display, text: `${scope} ${metric} ${v.display}` })
    }
  }

  return {
    kind: 'shift',
    id: input.id,
    site: options.site,
    scope: 'site',
    periodStart: input.start,
    periodEnd: input.end,
    title: input.title,
    facts: list.facts,
    promptFactIds: prompt.slice(0, options.maxPromptFacts),
    names: [...list.names].sort(),
    ...(topAnomalyFactId !== undefined ? { topAnomalyFactId } : {}),
  }
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1)

/** Facts for a shift closed by the state processor, from its stored KPIs. Undefined when the shift is not closed. */
export function shiftFacts(db: StateDb, shiftId: string, options: FactsOptions): FactSet | undefined {
  const shift = db.prepare('SELECT id, name, date, start_ts AS startTs, end_ts AS endTs FROM shifts WHERE id = ?').get(shiftId) as ShiftInstance | undefined
  if (shift === undefined) return undefined
  const machines = (
    db
      .prepare('SELECT line, machine, parts, rejects, reject_rate_pct AS rejectRatePct, coverage_pct AS coveragePct, anomalies FROM shift_machine_kpis WHERE shift_id = ? ORDER BY line, machine')
      .all(shiftId) as MachineKpi[]
  )
  const sensors = db
    .prepare(
      `SELECT k.key, k.line, k.machine, k.sensor, s.unit, k.count, k.mean, k.min, k.max, k.std, k.coverage_pct AS coveragePct, k.delta
         FROM shift_kpis k LEFT JOIN sensors s ON s.key = k.key WHERE k.shift_id = ? ORDER BY k.key`,
    )
    .all(shiftId) as SensorKpi[]
  return periodFacts(db, { kind: 'shift', id: `shift/${shift.id}`, title: `${capitalize(shift.name)} shift ${shift.date}`, start: shift.startTs, end: shift.endTs, date: shift.date, machines, sensors }, options)
}

/** Facts for an arbitrary period (`summarize --last 2h`), with KPIs computed now from the buckets. */
export function recentFacts(db: StateDb, start: number, end: number, options: FactsOptions): FactSet {
  const kpis = computeShiftKpis(db, { id: 'period', name: 'period', date: '', startTs: start, endTs: end }, options)
  const { zone } = options
  const hours = formatNumber(Math.round((end - start) / 360_000) / 10)
  return periodFacts(
    db,
    { kind: 'shift', id: `period/${start}-${end}`, title: `Last ${hours} h to ${hhmm(zone, end)}`, start, end, machines: kpis.machines, sensors: kpis.sensors },
    options,
  )
}

/** The anomaly burst an anomaly belongs to: anomalies on its machine chained by starts within the coalesce window. */
function incidentBurst(db: StateDb, anomalyId: string, windowMs: number): { anchor: AnomalyRow; burst: AnomalyRow[] } | undefined {
  const anchor = db
    .prepare('SELECT a.*, s.unit FROM anomalies a LEFT JOIN sensors s ON s.key = a.key WHERE a.id = ?')
    .get(anomalyId) as AnomalyRow | undefined
  if (anchor === undefined) return undefined
  const around = db
    .prepare(
      `SELECT a.id, a.line, a.machine, a.sensor, a.kind, a.severity, a.state, a.started_at, a.ended_at, a.observed, a.expected, s.unit, a.cause
         FROM anomalies a LEFT JOIN sensors s ON s.key = a.key
        WHERE a.line = ? AND a.machine = ? AND a.started_at >= ? AND a.started_at <= ?
        ORDER BY a.started_at, a.id`,
    )
    .all(anchor.line, anchor.machine, anchor.started_at - 24 * 3_600_000, anchor.started_at + 24 * 3_600_000) as AnomalyRow[]
  // Walk outwards from the anchor while consecutive starts are within the window.
  const i = around.findIndex((a) => a.id === anchor.id)
  let lo = i
  let hi = i
  while (lo > 0 && (around[lo] as AnomalyRow).started_at - (around[lo - 1] as AnomalyRow).started_at <= windowMs) lo--
  while (hi < around.length - 1 && (around[hi + 1] as AnomalyRow).started_at - (around[hi] as AnomalyRow).started_at <= windowMs) hi++
  return { anchor, burst: around.slice(lo, hi + 1) }
}

/** The narrative id of the incident an anomaly belongs to (its burst's first anomaly). */
export function incidentId(line: string, machine: string, firstAnomalyId: string): string {
  return `incident/${line}/${machine}/${createHash('sha256').update(firstAnomalyId).digest('hex').slice(0, 12)}`
}

interface BucketStats {
  sensor: string
  unit: string | null
  count: number
  sum: number
  min: number
  max: number
  last_value: number
}

/** Facts for the incident around an anomaly: the burst's anomalies, the sensor's context before it and its siblings. */
export function incidentFacts(db: StateDb, anomalyId: string, options: FactsOptions): FactSet | undefined {
  const found = incidentBurst(db, anomalyId, options.coalesceWindowMs)
  if (found === undefined) return undefined
  const { burst } = found
  const { zone } = options
  const first = burst[0] as AnomalyRow
  const lastStart = Math.max(...burst.map((a) => a.started_at))
  const end = Math.max(lastStart, ...burst.map((a) => a.ended_at ?? a.started_at)) + 60_000
  const start = first.started_at
  const scope = `${first.line}/${first.machine}`
  const window = { start, end }
  const list = new FactList()
  list.name(first.line, first.machine)
  const prompt: string[] = []
  timeFact(list, zone, 'incident.start', 'start', scope, start, 'from')
  list.add({ id: 'anomalies_total', metric: 'anomalies', scope, value: burst.length, unit: '', window, display: String(burst.length), text: `${burst.length} ${burst.length === 1 ? 'anomaly' : 'anomalies'} on ${scope}` })
  // Most important first: critical, then long, then early.
  const ranked = [...burst].sort(
    (a, b) =>
      (a.severity === 'critical' ? 0 : 1) - (b.severity === 'critical' ? 0 : 1) ||
      (b.ended_at ?? end) - b.started_at - ((a.ended_at ?? end) - a.started_at) ||
      a.started_at - b.started_at ||
      a.id.localeCompare(b.id),
  )
  let topAnomalyFactId: string | undefined
  ranked.slice(0, 4).forEach((a, i) => {
    const f = anomalyFacts(list, zone, `anomaly_${i + 1}`, a, end)
    topAnomalyFactId ??= f.id
    prompt.push(f.id)
  })
  prompt.push('anomalies_total')

  // A machine that went offline: its sensors' last values before it did (the context below
  // would have nothing during the incident, since a dead machine sends nothing).
  const offline = burst.find((a) => a.kind === 'offline')
  if (offline !== undefined) {
    for (const f of lastValueFacts(db, list, scope, offline.started_at, options)) prompt.push(f.id)
    if (burst.every((a) => a.kind === 'offline')) return incidentSet(first, scope, start, end, list, prompt, options, topAnomalyFactId)
  }

  // Context from the minute buckets: each sensor of the machine before the incident vs during it.
  const statsBetween = db.prepare(
    `SELECT s.sensor, s.unit, sum(b.count) AS count, sum(b.sum) AS sum, min(b.min) AS min, max(b.max) AS max,
            (SELECT b2.last_value FROM buckets b2 WHERE b2.key = s.key AND b2.minute >= ? AND b2.minute < ? ORDER BY b2.minute DESC LIMIT 1) AS last_value
       FROM sensors s JOIN buckets b ON b.key = s.key
      WHERE s.line = ? AND s.machine = ? AND b.minute >= ? AND b.minute < ?
      GROUP BY s.key ORDER BY s.sensor`,
  )
  const before = new Map(
    (statsBetween.all(start - options.incidentContextMs, start, first.line, first.machine, start - options.incidentContextMs, start) as BucketStats[]).map((r) => [r.sensor, r]),
  )
  const from = Math.floor(start / 60_000) * 60_000
  const during = statsBetween.all(from, end, first.line, first.machine, from, end) as BucketStats[]
  const anomalous = new Set(burst.map((a) => a.sensor))
  // Counters (part and reject totals) have no meaningful mean or range.
  const counters = new Set(options.counters)
  const contextMin = formatNumber(Math.round(options.incidentContextMs / 60_000))
  const siblings = during.filter((r) => !anomalous.has(r.sensor) && !options.counters.includes(r.sensor)).slice(0, 6)
  for (const r of [...during.filter((r) => anomalous.has(r.sensor)), ...siblings]) {
    if (counters.has(r.sensor)) continue
    const sScope = `${scope}/${r.sensor}`
    const unit = safeUnit(r.unit)
    list.name(first.line, first.machine, r.sensor)
    const mean = shown(r.sum / r.count, unit)
    list.add({ id: `mean.${r.sensor}`, metric: 'mean', scope: sScope, value: mean.value, unit, window, display: mean.display, text: `${r.sensor} mean ${mean.display} during the incident` })
    const max = shown(r.max, unit)
    list.add({ id: `max.${r.sensor}`, metric: 'max', scope: sScope, value: max.value, unit, window, display: max.display, text: `${r.sensor} max ${max.display}` })
    const min = shown(r.min, unit)
    list.add({ id: `min.${r.sensor}`, metric: 'min', scope: sScope, value: min.value, unit, window, display: min.display, text: `${r.sensor} min ${min.display}` })
    const b = before.get(r.sensor)
    if (b !== undefined && b.count > 0) {
      const bm = shown(b.sum / b.count, unit)
      const bWindow = { start: start - options.incidentContextMs, end: start }
      list.add({ id: `before.${r.sensor}`, metric: 'mean', scope: sScope, value: bm.value, unit, window: bWindow, display: bm.display, text: `${r.sensor} mean ${bm.display} in the ${contextMin} min before` })
      // How far the sensor went from its level before, for anomalies about its values (not dropouts or flatlines).
      const valueAnomaly = burst.find((a) => a.sensor === r.sensor && ['spike', 'drift', 'limit_breach', 'rate_of_change'].includes(a.kind))
      if (valueAnomaly !== undefined && bm.value !== 0) {
        const beforeMean = b.sum / b.count
        const low = valueAnomaly.observed < beforeMean
        const raw = (((low ? r.min : r.max) - beforeMean) / Math.abs(beforeMean)) * 100
        const change = pct(Math.abs(raw))
        list.add({
          id: `change.${r.sensor}`,
          metric: low ? 'min' : 'max',
          scope: sScope,
          value: change.value,
          unit: '%',
          window,
          display: change.display,
          text: `${r.sensor} ${low ? 'lowest' : 'peak'} ${change.display} ${raw >= 0 ? 'above' : 'below'} its mean before`,
        })
        prompt.push(`change.${r.sensor}`)
      }
    }
  }

  return incidentSet(first, scope, start, end, list, prompt, options, topAnomalyFactId)
}

function incidentSet(
  first: AnomalyRow,
  scope: string,
  start: number,
  end: number,
  list: FactList,
  prompt: readonly string[],
  options: FactsOptions,
  topAnomalyFactId: string | undefined,
): FactSet {
  return {
    kind: 'incident',
    id: incidentId(first.line, first.machine, first.id),
    site: options.site,
    scope,
    periodStart: start,
    periodEnd: end,
    title: `Incident on ${scope} from ${hhmm(options.zone, start)}`,
    facts: list.facts,
    promptFactIds: prompt.slice(0, options.maxPromptFacts),
    names: [...list.names].sort(),
    ...(topAnomalyFactId !== undefined ? { topAnomalyFactId } : {}),
  }
}

/**
 * `last.<sensor>`: the last value of each sensor of a machine (`line/machine` scope) at or before
 * `at`, within the incident context window; counters (running totals) left out, at most six.
 */
function lastValueFacts(db: StateDb, list: FactList, scope: string, at: number, options: FactsOptions): Fact[] {
  const [line = '', machine = ''] = scope.split('/')
  const sensors = db.prepare('SELECT key, sensor, unit FROM sensors WHERE line = ? AND machine = ? ORDER BY sensor').all(line, machine) as { key: string; sensor: string; unit: string | null }[]
  const last = db.prepare('SELECT last_ts, last_value FROM buckets WHERE key = ? AND minute >= ? AND minute <= ? AND last_ts <= ? ORDER BY minute DESC LIMIT 1')
  const facts: Fact[] = []
  for (const s of sensors) {
    if (facts.length >= 6) break
    if (options.counters.includes(s.sensor)) continue
    const row = last.get(s.key, at - options.incidentContextMs, at, at) as { last_ts: number; last_value: number } | undefined
    if (row === undefined) continue
    const unit = safeUnit(s.unit)
    const v = shown(row.last_value, unit)
    list.name(line, machine, s.sensor)
    facts.push(
      list.add({
        id: `last.${s.sensor}`,
        metric: 'last',
        scope: `${scope}/${s.sensor}`,
        value: v.value,
        unit,
        window: { start: row.last_ts, end: row.last_ts },
        display: v.display,
        text: `${s.sensor} last read ${v.display}`,
      }),
    )
  }
  return facts
}
