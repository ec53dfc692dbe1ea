// What the page and the JSON API show, read from the state database (read-only, prepared
// statements). Freshness is judged against the site's newest reading, not the wall clock, so a
// replay or a simulated plant looks the same as live data; the wall clock only says whether
// the whole site has gone quiet.
import { computeShiftKpis, type KpiOptions } from '../shifts/kpis.js'
import type { ShiftCalendar, ShiftInstance } from '../shifts/shift-calendar.js'
import { createNarrativeStore } from '../store/narratives.js'
import type { StateDb } from '../store/state-db.js'
import type { Narrative } from '../narrate/types.js'
import type { IncidentsQuery } from './params.js'

export type MachineStatus = 'critical' | 'warning' | 'stale' | 'ok'

export interface Limits {
  low?: number
  high?: number
}

export interface ReadModelOptions {
  site: string
  clock: () => number
  /** A sensor (and a machine) is stale when its last reading is this much older than the site's newest, or the whole site's newest this much older than now. */
  staleAfterMs: number
  /** Minutes of minute means in each sparkline. */
  sparkMinutes: number
  /** For the current shift and shifts not closed yet. */
  calendar?: ShiftCalendar
  /** With the calendar: running KPIs of the current shift. */
  kpi?: KpiOptions
  /** Configured limits of a sensor, drawn on its chart. */
  limits?: (line: string, machine: string, sensor: string) => Limits | undefined
}

export interface AnomalyView {
  id: string
  key: string
  line: string
  machine: string
  sensor: string
  kind: string
  severity: string
  state: string
  startedAt: number
  endedAt: number | null
  observed: number
  expected: number | null
  detail: string
}

export interface SensorTile {
  key: string
  sensor: string
  unit: string | null
  value: number
  ts: number
  stale: boolean
  /** Minute means of the last `sparkMinutes` minutes up to the site's newest minute; null = no data. */
  spark: (number | null)[]
}

/** A machine's state from Sparkplug B births and deaths. */
export interface MachineStateView {
  state: 'online' | 'offline'
  /** Event time of the change into `state`. */
  since: number
  /** The Sparkplug message that made that change: NBIRTH, DBIRTH, NDEATH or DDEATH. */
  cause: string
}

export interface MachineTile {
  line: string
  machine: string
  status: MachineStatus
  stale: boolean
  /** Newest reading (for a machine known only from its state messages: when its state last changed). */
  lastTs: number
  /** null: no birth or death seen (not a Sparkplug machine). */
  state: MachineStateView | null
  openAnomalies: AnomalyView[]
  sensors: SensorTile[]
}

export interface NarrativeSummary {
  id: string
  kind: Narrative['kind']
  scope: string
  periodStart: number
  periodEnd: number
  headline: string
  createdAt: number
  revision: number
  generator: Narrative['generator']
  grounding: Narrative['grounding']
}

export interface ShiftSummary {
  id: string
  name: string
  date: string
  startTs: number
  endTs: number
  closed: boolean
  closedBy: string | null
  parts: number | null
  rejects: number | null
  rejectRatePct: number | null
  anomalies: number
  coveragePct: number | null
  narrative: { id: string; headline: string } | null
}

export interface Overview {
  site: string
  generatedAt: number
  /** Event time of the site's newest reading; null before any data. */
  newestTs: number | null
  /** Wall-clock age of the newest reading. */
  dataAgeMs: number | null
  /** The whole site has sent nothing for staleAfterMs (wall clock). */
  stale: boolean
  staleAfterMs: number
  counts: Record<MachineStatus, number> & { machines: number; openAnomalies: number; offline: number }
  lines: { line: string; status: MachineStatus; machines: MachineTile[] }[]
  /** The shift the newest reading falls in (needs the calendar), with running KPIs (needs kpi options). */
  currentShift: ShiftSummary | null
  lastClosedShift: ShiftSummary | null
  narratives: NarrativeSummary[]
}

export interface MachineKpiView {
  line: string
  machine: string
  parts: number | null
  rejects: number | null
  rejectRatePct: number | null
  coveragePct: number
  anomalies: number
  sensors: { key: string; sensor: string; unit: string | null; count: number; mean: number; min: number; max: number; std: number; coveragePct: number; delta: number | null }[]
}

export interface ShiftDetail {
  shift: ShiftSummary
  machines: MachineKpiView[]
  narrative: (Narrative & { revision: number }) | null
  anomalies: AnomalyView[]
}

export interface IncidentsResult {
  incidents: IncidentView[]
  next: number | null
  /** The machine's state when the query names one machine (line and machine); else null. */
  machineState: MachineStateView | null
}

export interface IncidentView extends AnomalyView {
  narrative: { id: string; headline: string; body: string; generator: Narrative['generator']; grounding: Narrative['grounding'] } | null
}

export interface SensorDetail {
  sensor: { key: string; line: string; machine: string; sensor: string; unit: string | null; lastTs: number; lastValue: number; readings: number }
  /** The sensor's machine's state (null: no birth or death seen). */
  machineState: MachineStateView | null
  from: number
  to: number
  stepMs: number
  shiftId: string | null
  points: { t: number; mean: number; min: number; max: number; count: number }[]
  limits: Limits | null
  anomalies: AnomalyView[]
  /** Recent shifts, to pick one. */
  shifts: { id: string; name: string; date: string }[]
}

export interface StoreStats {
  newestTs: number | null
  sensors: number
  openAnomalies: number
  shifts: number
  narratives: number
  outboxPending: number
  /** Readings per minute over the last five complete minutes of data. */
  readingsPerMin: number | null
}

export interface ReadModel {
  overview(): Overview
  shifts(query: { limit: number; before?: number | undefined }): { shifts: ShiftSummary[]; next: number | null }
  shift(date: string, name: string): ShiftDetail | undefined
  incidents(query: IncidentsQuery): IncidentsResult
  /** undefined: no such sensor; 'no-shift': the chosen shift is unknown. */
  sensor(line: string, machine: string, sensor: string, query: { hours: number; shift?: string | undefined }): SensorDetail | 'no-shift' | undefined
  narratives(query: { kind?: Narrative['kind'] | undefined; limit: number }): NarrativeSummary[]
  narrative(id: string): (Narrative & { revision: number }) | undefined
  stats(): StoreStats
}

interface AnomalyRow {
  id: string
  key: string
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
  detail: string
}

interface ShiftRow {
  id: string
  name: string
  date: string
  start_ts: number
  end_ts: number
  closed_by: string
  parts: number | null
  rejects: number | null
  anomalies: number | null
  coverage: number | null
}

const MINUTE = 60_000
/** How long after its end a shift that is not closed yet still has a page (the watermark or idle timeout closes it sooner). */
const UNCLOSED_GRACE_MS = 3_600_000
const ANOMALY_COLUMNS = 'id, key, line, machine, sensor, kind, severity, state, started_at, ended_at, observed, expected, detail'
const SEVERITY_RANK: Record<string, number> = { critical: 2, warning: 1 }
const STATUS_RANK: Record<MachineStatus, number> = { critical: 3, warning: 2, stale: 1, ok: 0 }

const toAnomaly = (r: AnomalyRow): AnomalyView => ({
  id: r.id,
  key: r.key,
  line: r.line,
  machine: r.machine,
  sensor: r.sensor,
  kind: r.kind,
  severity: r.severity,
  state: r.state,
  startedAt: r.started_at,
  endedAt: r.ended_at,
  observed: r.observed,
  expected: r.expected,
  detail: r.detail,
})

interface MachineStateRow {
  line: string
  machine: string
  state: 'online' | 'offline'
  since: number
  cause: string
}

const toMachineState = (r: MachineStateRow | undefined): MachineStateView | null => (r === undefined ? null : { state: r.state, since: r.since, cause: r.cause })

const summarize = (n: Narrative & { revision: number }): NarrativeSummary => ({
  id: n.id,
  kind: n.kind,
  scope: n.scope,
  periodStart: n.periodStart,
  periodEnd: n.periodEnd,
  headline: n.headline,
  createdAt: n.createdAt,
  revision: n.revision,
  generator: n.generator,
  grounding: n.grounding,
})

const rejectRate = (parts: number | null, rejects: number | null) =>
  parts !== null && rejects !== null && parts > 0 ? Math.round((rejects / parts) * 10_000) / 100 : null

export function createReadModel(db: StateDb, options: ReadModelOptions): ReadModel {
  const { site } = options
  const narratives = createNarrativeStore(db)
  const q = {
    newest: db.prepare('SELECT max(last_ts) AS newest FROM sensors WHERE site = ?'),
    sensors: db.prepare('SELECT key, line, machine, sensor, unit, last_ts, last_value FROM sensors WHERE site = ? ORDER BY line, machine, sensor'),
    sensor: db.prepare('SELECT key, line, machine, sensor, unit, last_ts, last_value, readings FROM sensors WHERE key = ?'),
    spark: db.prepare('SELECT key, minute, sum / count AS mean FROM buckets WHERE minute >= ? AND minute <= ?'),
    openAnomalies: db.prepare(`SELECT ${ANOMALY_COLUMNS} FROM anomalies WHERE state = 'open' AND site = ? ORDER BY started_at DESC`),
    shiftList: db.prepare(
      `SELECT s.id, s.name, s.date, s.start_ts, s.end_ts, s.closed_by, sum(k.parts) AS parts, sum(k.rejects) AS rejects,
              sum(k.anomalies) AS anomalies, avg(k.coverage_pct) AS coverage
         FROM shifts s LEFT JOIN shift_machine_kpis k ON k.shift_id = s.id
        WHERE s.start_ts < ? GROUP BY s.id ORDER BY s.start_ts DESC LIMIT ?`,
    ),
    shiftById: db.prepare(
      `SELECT s.id, s.name, s.date, s.start_ts, s.end_ts, s.closed_by, sum(k.parts) AS parts, sum(k.rejects) AS rejects,
              sum(k.anomalies) AS anomalies, avg(k.coverage_pct) AS coverage
         FROM shifts s LEFT JOIN shift_machine_kpis k ON k.shift_id = s.id
        WHERE s.id = ? GROUP BY s.id`,
    ),
    machineKpis: db.prepare(
      'SELECT line, machine, parts, rejects, reject_rate_pct, coverage_pct, anomalies FROM shift_machine_kpis WHERE shift_id = ? ORDER BY line, machine',
    ),
    sensorKpis: db.prepare(
      `SELECT k.key, k.line, k.machine, k.sensor, s.unit, k.count, k.mean, k.min, k.max, k.std, k.coverage_pct, k.delta
         FROM shift_kpis k LEFT JOIN sensors s ON s.key = k.key WHERE k.shift_id = ? ORDER BY k.line, k.machine, k.sensor`,
    ),
    anomaliesBetween: db.prepare(
      `SELECT ${ANOMALY_COLUMNS} FROM anomalies WHERE site = ? AND started_at < ? AND (ended_at IS NULL OR ended_at >= ?) ORDER BY started_at`,
    ),
    sensorAnomalies: db.prepare(`SELECT ${ANOMALY_COLUMNS} FROM anomalies WHERE key = ? AND started_at < ? AND (ended_at IS NULL OR ended_at >= ?) ORDER BY started_at`),
    narrativeHeadline: db.prepare('SELECT id, headline FROM narratives WHERE id = ?'),
    incidentNarrative: db.prepare(
      `SELECT id, headline, body, generator, grounding FROM narratives
        WHERE kind = 'incident' AND scope = ? AND period_start <= ? AND period_end >= ? AND site = ?
        ORDER BY period_start DESC LIMIT 1`,
    ),
    series: db.prepare(
      `SELECT (minute / @step) * @step AS t, sum(sum) / sum(count) AS mean, min(min) AS min, max(max) AS max, sum(count) AS count
         FROM buckets WHERE key = @key AND minute >= @from AND minute < @to GROUP BY minute / @step ORDER BY t`,
    ),
    machineStates: db.prepare('SELECT line, machine, state, since, cause FROM machine_states WHERE site = ? ORDER BY line, machine'),
    machineState: db.prepare('SELECT line, machine, state, since, cause FROM machine_states WHERE site = ? AND line = ? AND machine = ?'),
    recentShifts: db.prepare('SELECT id, name, date FROM shifts ORDER BY start_ts DESC LIMIT 12'),
    readingsBetween: db.prepare('SELECT sum(count) AS n FROM buckets WHERE minute >= ? AND minute < ?'),
    counts: db.prepare(
      `SELECT (SELECT count(*) FROM sensors WHERE site = @site) AS sensors,
              (SELECT count(*) FROM anomalies WHERE state = 'open' AND site = @site) AS openAnomalies,
              (SELECT count(*) FROM shifts) AS shifts,
              (SELECT count(*) FROM narratives) AS narratives,
              (SELECT count(*) FROM outbox) AS outboxPending`,
    ),
  }

  // One statement per combination of filters (at most 2^6), prepared on first use.
  const incidentQueries = new Map<string, ReturnType<StateDb['prepare']>>()

  const newestTs = (): number | null => (q.newest.get(site) as { newest: number | null }).newest

  const shiftSummary = (r: ShiftRow): ShiftSummary => {
    const n = q.narrativeHeadline.get(`shift/${r.id}`) as { id: string; headline: string } | undefined
    return {
      id: r.id,
      name: r.name,
      date: r.date,
      startTs: r.start_ts,
      endTs: r.end_ts,
      closed: true,
      closedBy: r.closed_by,
      parts: r.parts,
      rejects: r.rejects,
      rejectRatePct: rejectRate(r.parts, r.rejects),
      anomalies: r.anomalies ?? 0,
      coveragePct: r.coverage === null ? null : Math.round(r.coverage * 10) / 10,
      narrative: n ?? null,
    }
  }

  // Running KPIs scan the shift's buckets: computed at most once per (shift, newest minute).
  let running: { key: string; value: { summary: ShiftSummary; machines: MachineKpiView[] } } | undefined
  const openShift = (inst: ShiftInstance, newest: number): { summary: ShiftSummary; machines: MachineKpiView[] } => {
    const upTo = Math.min(inst.endTs, Math.floor(newest / MINUTE) * MINUTE + MINUTE)
    const key = `${inst.id}@${upTo}`
    if (running?.key === key) return running.value
    const base: ShiftSummary = {
      id: inst.id,
      name: inst.name,
      date: inst.date,
      startTs: inst.startTs,
      endTs: inst.endTs,
      closed: false,
      closedBy: null,
      parts: null,
      rejects: null,
      rejectRatePct: null,
      anomalies: 0,
      coveragePct: null,
      narrative: null,
    }
    if (options.kpi === undefined) return { summary: base, machines: [] }
    const kpis = computeShiftKpis(db, { ...inst, endTs: upTo }, options.kpi)
    const machines: MachineKpiView[] = kpis.machines
      .map((m) => ({
        ...m,
        sensors: kpis.sensors
          .filter((s) => s.line === m.line && s.machine === m.machine)
          .map((s) => ({ key: s.key, sensor: s.sensor, unit: s.unit, count: s.count, mean: s.mean, min: s.min, max: s.max, std: s.std, coveragePct: s.coveragePct, delta: s.delta })),
      }))
      .sort((a, b) => a.line.localeCompare(b.line) || a.machine.localeCompare(b.machine))
    const sum = (pick: (m: MachineKpiView) => number | null) => {
      const vs = machines.map(pick).filter((v): v is number => v !== null)
      return vs.length === 0 ? null : vs.reduce((a, b) => a + b, 0)
    }
    const parts = sum((m) => m.parts)
    const rejects = sum((m) => m.rejects)
    const coverage = machines.length === 0 ? null : Math.round((machines.reduce((a, m) => a + m.coveragePct, 0) / machines.length) * 10) / 10
    const value = {
      summary: { ...base, parts, rejects, rejectRatePct: rejectRate(parts, rejects), anomalies: sum((m) => m.anomalies) ?? 0, coveragePct: coverage },
      machines,
    }
    running = { key, value }
    return value
  }

  /** A shift not closed yet: the calendar's instance while it runs, or just ended and waiting for its close. */
  const unclosedShift = (id: string): { inst: ShiftInstance; newest: number } | undefined => {
    const inst = options.calendar?.byId(id)
    const newest = newestTs()
    if (inst === undefined || newest === null || inst.startTs > newest || inst.endTs + UNCLOSED_GRACE_MS < newest) return undefined
    return { inst, newest }
  }

  return {
    overview() {
      const now = options.clock()
      const newest = newestTs()
      // When the whole site has gone quiet (wall clock), every tile is stale, not only the banner:
      // freshness relative to the site's newest reading cannot see that.
      const siteQuiet = newest !== null && now - newest > options.staleAfterMs
      const staleAt = (ts: number) => siteQuiet || (newest !== null && newest - ts > options.staleAfterMs)
      const sensors = q.sensors.all(site) as { key: string; line: string; machine: string; sensor: string; unit: string | null; last_ts: number; last_value: number }[]
      const open = (q.openAnomalies.all(site) as AnomalyRow[]).map(toAnomaly)
      const spark = new Map<string, (number | null)[]>()
      const n = options.sparkMinutes
      if (newest !== null) {
        const lastMinute = Math.floor(newest / MINUTE) * MINUTE
        const firstMinute = lastMinute - (n - 1) * MINUTE
        for (const r of q.spark.iterate(firstMinute, lastMinute) as IterableIterator<{ key: string; minute: number; mean: number }>) {
          let series = spark.get(r.key)
          if (series === undefined) spark.set(r.key, (series = new Array<number | null>(n).fill(null)))
          series[(r.minute - firstMinute) / MINUTE] = Math.round(r.mean * 1000) / 1000
        }
      }
      const machines = new Map<string, MachineTile>()
      const states = new Map((q.machineStates.all(site) as MachineStateRow[]).map((r) => [`${r.line}\u0000${r.machine}`, r]))
      for (const s of sensors) {
        const mk = `${s.line}\u0000${s.machine}`
        let tile = machines.get(mk)
        if (tile === undefined) {
          tile = { line: s.line, machine: s.machine, status: 'ok', stale: false, lastTs: s.last_ts, state: toMachineState(states.get(mk)), openAnomalies: [], sensors: [] }
          machines.set(mk, tile)
        }
        tile.lastTs = Math.max(tile.lastTs, s.last_ts)
        tile.sensors.push({
          key: s.key,
          sensor: s.sensor,
          unit: s.unit,
          value: s.last_value,
          ts: s.last_ts,
          stale: staleAt(s.last_ts),
          spark: spark.get(s.key) ?? new Array<number | null>(n).fill(null),
        })
      }
      // A machine known only from its births and deaths (no reading yet) still gets a tile.
      for (const [mk, r] of states) {
        if (!machines.has(mk)) machines.set(mk, { line: r.line, machine: r.machine, status: 'ok', stale: false, lastTs: r.since, state: toMachineState(r), openAnomalies: [], sensors: [] })
      }
      for (const a of open) machines.get(`${a.line}\u0000${a.machine}`)?.openAnomalies.push(a)
      // In the sensors query's order (SQLite's binary collation), machines without sensors in their place.
      const binary = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
      const sorted = [...machines.values()].sort((a, b) => binary(a.line, b.line) || binary(a.machine, b.machine))
      const offline = sorted.filter((t) => t.state?.state === 'offline').length
      const counts = { machines: machines.size, ok: 0, warning: 0, critical: 0, stale: 0, openAnomalies: open.length, offline }
      const lines = new Map<string, { line: string; status: MachineStatus; machines: MachineTile[] }>()
      for (const tile of sorted) {
        tile.stale = staleAt(tile.lastTs)
        const worst = Math.max(0, ...tile.openAnomalies.map((a) => SEVERITY_RANK[a.severity] ?? 1))
        tile.status = worst >= 2 ? 'critical' : worst === 1 ? 'warning' : tile.stale ? 'stale' : 'ok'
        counts[tile.status]++
        let line = lines.get(tile.line)
        if (line === undefined) lines.set(tile.line, (line = { line: tile.line, status: 'ok', machines: [] }))
        line.machines.push(tile)
        if (STATUS_RANK[tile.status] > STATUS_RANK[line.status]) line.status = tile.status
      }
      const current = newest !== null && options.calendar ? options.calendar.instanceAt(newest) : undefined
      const lastRow = q.shiftList.get(Number.MAX_SAFE_INTEGER, 1) as ShiftRow | undefined
      const currentSummary =
        current === undefined || newest === null ? null : current.id === lastRow?.id ? shiftSummary(lastRow) : openShift(current, newest).summary
      return {
        site,
        generatedAt: now,
        newestTs: newest,
        dataAgeMs: newest === null ? null : Math.max(0, now - newest),
        stale: newest === null || siteQuiet,
        staleAfterMs: options.staleAfterMs,
        counts,
        lines: [...lines.values()],
        currentShift: currentSummary,
        lastClosedShift: lastRow === undefined ? null : shiftSummary(lastRow),
        narratives: narratives.list({ limit: 6 }).map(summarize),
      }
    },

    shifts({ limit, before }) {
      const rows = q.shiftList.all(before ?? Number.MAX_SAFE_INTEGER, limit) as ShiftRow[]
      const last = rows[rows.length - 1]
      return { shifts: rows.map(shiftSummary), next: rows.length === limit && last !== undefined ? last.start_ts : null }
    },

    shift(date, name) {
      const id = `${date}/${name}`
      const row = q.shiftById.get(id) as ShiftRow | undefined
      let summary: ShiftSummary
      let machines: MachineKpiView[]
      if (row !== undefined) {
        summary = shiftSummary(row)
        const sensorRows = q.sensorKpis.all(id) as {
          key: string
          line: string
          machine: string
          sensor: string
          unit: string | null
          count: number
          mean: number
          min: number
          max: number
          std: number
          coverage_pct: number
          delta: number | null
        }[]
        machines = (
          q.machineKpis.all(id) as {
            line: string
            machine: string
            parts: number | null
            rejects: number | null
            reject_rate_pct: number | null
            coverage_pct: number
            anomalies: number
          }[]
        ).map((m) => ({
          line: m.line,
          machine: m.machine,
          parts: m.parts,
          rejects: m.rejects,
          rejectRatePct: m.reject_rate_pct,
          coveragePct: m.coverage_pct,
          anomalies: m.anomalies,
          sensors: sensorRows
            .filter((s) => s.line === m.line && s.machine === m.machine)
            .map((s) => ({ key: s.key, sensor: s.sensor, unit: s.unit, count: s.count, mean: s.mean, min: s.min, max: s.max, std: s.std, coveragePct: s.coverage_pct, delta: s.delta })),
        }))
      } else {
        const open = unclosedShift(id)
        if (open === undefined) return undefined
        ;({ summary, machines } = openShift(open.inst, open.newest))
      }
      const anomalies = (q.anomaliesBetween.all(site, summary.endTs, summary.startTs) as AnomalyRow[]).map(toAnomaly)
      return { shift: summary, machines, narrative: narratives.get(`shift/${id}`) ?? null, anomalies }
    },

    incidents(query) {
      const where: string[] = ['site = @site']
      const params: Record<string, unknown> = { site, limit: query.limit }
      for (const field of ['line', 'machine', 'kind', 'severity', 'state'] as const) {
        const v = query[field]
        if (v !== undefined) {
          where.push(`${field} = @${field}`)
          params[field] = v
        }
      }
      if (query.before !== undefined) {
        where.push('started_at < @before')
        params.before = query.before
      }
      const sql = `SELECT ${ANOMALY_COLUMNS} FROM anomalies WHERE ${where.join(' AND ')} ORDER BY started_at DESC, id LIMIT @limit`
      let statement = incidentQueries.get(sql)
      if (statement === undefined) incidentQueries.set(sql, (statement = db.prepare(sql)))
      const rows = statement.all(params) as AnomalyRow[]
      const incidents = rows.map((r): IncidentView => {
        const n = q.incidentNarrative.get(`${r.line}/${r.machine}`, r.started_at, r.started_at, site) as
          | { id: string; headline: string; body: string; generator: string; grounding: string }
          | undefined
        return {
          ...toAnomaly(r),
          narrative:
            n === undefined
              ? null
              : { id: n.id, headline: n.headline, body: n.body, generator: JSON.parse(n.generator) as Narrative['generator'], grounding: JSON.parse(n.grounding) as Narrative['grounding'] },
        }
      })
      const last = rows[rows.length - 1]
      const one = query.line !== undefined && query.machine !== undefined ? (q.machineState.get(site, query.line, query.machine) as MachineStateRow | undefined) : undefined
      return { incidents, next: rows.length === query.limit && last !== undefined ? last.started_at : null, machineState: toMachineState(one) }
    },

    sensor(line, machine, sensor, query) {
      const row = q.sensor.get(`${site}/${line}/${machine}/${sensor}`) as
        | { key: string; line: string; machine: string; sensor: string; unit: string | null; last_ts: number; last_value: number; readings: number }
        | undefined
      if (row === undefined) return undefined
      let from: number
      let to: number
      let shiftId: string | null = null
      if (query.shift !== undefined) {
        const s = q.shiftById.get(query.shift) as ShiftRow | undefined
        const inst = s === undefined ? unclosedShift(query.shift)?.inst : { startTs: s.start_ts, endTs: s.end_ts }
        if (inst === undefined) return 'no-shift'
        from = inst.startTs
        to = inst.endTs
        shiftId = query.shift
      } else {
        const newest = newestTs() ?? row.last_ts
        to = Math.floor(newest / MINUTE) * MINUTE + MINUTE
        from = to - query.hours * 3_600_000
      }
      // At most ~1440 points: one per minute up to 24 h, wider buckets beyond.
      const stepMs = Math.max(1, Math.ceil((to - from) / MINUTE / 1440)) * MINUTE
      const points = (q.series.all({ key: row.key, from, to, step: stepMs }) as { t: number; mean: number; min: number; max: number; count: number }[]).map((p) => ({
        ...p,
        mean: Math.round(p.mean * 1000) / 1000,
      }))
      const limits = options.limits?.(row.line, row.machine, row.sensor)
      const hasLimits = limits !== undefined && (limits.low !== undefined || limits.high !== undefined)
      return {
        sensor: { key: row.key, line: row.line, machine: row.machine, sensor: row.sensor, unit: row.unit, lastTs: row.last_ts, lastValue: row.last_value, readings: row.readings },
        machineState: toMachineState(q.machineState.get(site, row.line, row.machine) as MachineStateRow | undefined),
        from,
        to,
        stepMs,
        shiftId,
        points,
        limits: hasLimits ? { ...(limits.low !== undefined ? { low: limits.low } : {}), ...(limits.high !== undefined ? { high: limits.high } : {}) } : null,
        anomalies: (q.sensorAnomalies.all(row.key, to, from) as AnomalyRow[]).map(toAnomaly),
        shifts: q.recentShifts.all() as { id: string; name: string; date: string }[],
      }
    },

    narratives: ({ kind, limit }) => narratives.list({ ...(kind ? { kind } : {}), limit }).map(summarize),
    narrative: (id) => narratives.get(id),

    stats() {
      const newest = newestTs()
      const c = q.counts.get({ site }) as Omit<StoreStats, 'newestTs' | 'readingsPerMin'>
      let readingsPerMin: number | null = null
      if (newest !== null) {
        const end = Math.floor(newest / MINUTE) * MINUTE
        const n = (q.readingsBetween.get(end - 5 * MINUTE, end) as { n: number | null }).n
        readingsPerMin = n === null ? 0 : Math.round(n / 5)
      }
      return { newestTs: newest, ...c, readingsPerMin }
    },
  }
}
