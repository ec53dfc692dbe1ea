// Shift KPIs from the minute buckets: per sensor (mean, min, max, std, count, coverage, counter
// delta) and per machine (parts, rejects, reject rate, coverage, anomalies). Deterministic:
// the same buckets give the same numbers.
import type { BucketRow as StoredBucket, StateDb } from '../store/state-db.js'
import type { ShiftInstance } from './shift-calendar.js'

export interface SensorKpi {
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
  /** Minutes of the shift with at least one reading, in %. */
  coveragePct: number
  /** For counters: how much the counter rose during the shift (resets handled). */
  delta: number | null
}

export interface MachineKpi {
  line: string
  machine: string
  parts: number | null
  rejects: number | null
  /** rejects / parts × 100; null without parts. */
  rejectRatePct: number | null
  coveragePct: number
  anomalies: number
}

export interface ShiftKpis {
  shift: ShiftInstance
  sensors: SensorKpi[]
  machines: MachineKpi[]
}

export interface KpiOptions {
  /** Sensor names that are counters (rising totals), e.g. part_count, reject_count. */
  counters: readonly string[]
  partsSensor: string
  rejectsSensor: string
}

interface BucketRow extends Pick<StoredBucket, 'key' | 'minute' | 'count' | 'sum' | 'sumsq' | 'min' | 'max' | 'first_value' | 'last_value'> {
  line: string
  machine: string
  sensor: string
  unit: string | null
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits

export function computeShiftKpis(db: StateDb, shift: ShiftInstance, options: KpiOptions): ShiftKpis {
  const rows = db
    .prepare(
      `SELECT b.key, b.minute, b.count, b.sum, b.sumsq, b.min, b.max, b.first_value, b.last_value,
              s.line, s.machine, s.sensor, s.unit
         FROM buckets b JOIN sensors s ON s.key = b.key
        WHERE b.minute >= ? AND b.minute < ?
        ORDER BY b.key, b.minute`,
    )
    .all(shift.startTs, shift.endTs) as BucketRow[]
  const minutes = Math.max(1, Math.round((shift.endTs - shift.startTs) / 60_000))
  const counters = new Set(options.counters)

  const sensors: SensorKpi[] = []
  const machineMinutes = new Map<string, Set<number>>()
  for (let i = 0; i < rows.length; ) {
    const first = rows[i] as BucketRow
    let count = 0
    let sum = 0
    let sumsq = 0
    let min = Infinity
    let max = -Infinity
    let delta = 0
    let prevLast: number | undefined
    let buckets = 0
    const mk = `${first.line}/${first.machine}`
    const seen = machineMinutes.get(mk) ?? new Set<number>()
    machineMinutes.set(mk, seen)
    for (; i < rows.length && (rows[i] as BucketRow).key === first.key; i++) {
      const b = rows[i] as BucketRow
      count += b.count
      sum += b.sum
      sumsq += b.sumsq
      min = Math.min(min, b.min)
      max = Math.max(max, b.max)
      buckets++
      seen.add(b.minute)
      // Counter: rises within each minute and between minutes; a drop is a reset to 0.
      delta += Math.max(0, b.last_value - b.first_value)
      if (prevLast !== undefined) delta += b.first_value >= prevLast ? b.first_value - prevLast : b.first_value
      prevLast = b.last_value
    }
    const mean = sum / count
    sensors.push({
      key: first.key,
      line: first.line,
      machine: first.machine,
      sensor: first.sensor,
      unit: first.unit,
      count,
      mean,
      min,
      max,
      std: Math.sqrt(Math.max(0, sumsq / count - mean * mean)),
      coveragePct: round((buckets / minutes) * 100, 1),
      delta: counters.has(first.sensor) ? delta : null,
    })
  }

  const anomalyCount = db.prepare('SELECT count(*) AS n FROM anomalies WHERE line = ? AND machine = ? AND started_at >= ? AND started_at < ?')
  const machines: MachineKpi[] = [...machineMinutes.entries()].map(([mk, seen]) => {
    const [line = '', machine = ''] = mk.split('/')
    const of = (sensor: string) => sensors.find((s) => s.line === line && s.machine === machine && s.sensor === sensor)?.delta ?? null
    const parts = of(options.partsSensor)
    const rejects = of(options.rejectsSensor)
    return {
      line,
      machine,
      parts,
      rejects,
      rejectRatePct: parts !== null && rejects !== null && parts > 0 ? round((rejects / parts) * 100, 2) : null,
      coveragePct: round((seen.size / minutes) * 100, 1),
      anomalies: (anomalyCount.get(line, machine, shift.startTs, shift.endTs) as { n: number }).n,
    }
  })
  return { shift, sensors, machines }
}
