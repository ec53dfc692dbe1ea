// Applies consumed readings to the state database with an exactly-once effect: a batch's
// bucket updates, registry, detector state, anomalies, closed shifts, outbox events AND the
// consumed offsets commit in one SQLite transaction. A message at an offset the store has
// already applied is skipped, so a redelivery (rebalance, crash, restart) never counts twice.
//
// Buckets are updated reading by reading in partition order (never pre-summed per batch), so
// floating-point sums come out bit-identical whatever the batch boundaries were, and a shift
// closes at the reading that moves the watermark past its end (not at a batch end): a rebuild
// from the topic gives the same buckets, anomalies and shift KPIs as the live database.
//
// The topic also carries machine_state messages (Sparkplug B births and deaths): they update
// machine_states and open or close `offline` anomalies (machine-states.ts) in the same
// transaction, and create no buckets or sensors.
import type { AnomalyEvent, DetectorBank, ReadingInput } from '../detect/types.js'
import type { Log } from '../log.js'
import { computeShiftKpis, type KpiOptions, type ShiftKpis } from '../shifts/kpis.js'
import type { ShiftCalendar, ShiftInstance } from '../shifts/shift-calendar.js'
import { createOutbox, type Outbox } from '../store/outbox.js'
import { getMeta, readOffsets, setMeta, type BucketRow as Bucket, type StateDb } from '../store/state-db.js'
import { createMachineStates, parseMachineState, type MachineStateChange } from './machine-states.js'

export interface StateProcessorOptions {
  db: StateDb
  readingsTopic: string
  /** Where events go (through the outbox); omit to write no events (rebuilds). */
  publish?: { anomalies: string; kpis: string }
  site: string
  detectors: DetectorBank
  calendar: ShiftCalendar
  shifts: KpiOptions & { allowedLatenessMs: number; idleTimeoutMs: number }
  log: Log
}

export interface IncomingMessage {
  offset: string
  value: Buffer | null
}

export interface BatchOutcome {
  applied: number
  /** Already applied before (redelivered). */
  skipped: number
  /** Not a valid reading or machine_state message (counted, offset still consumed). */
  invalid: number
  /** Of `applied`, how many were machine_state messages (the rest are readings). */
  machineStates: number
  anomalies: AnomalyEvent[]
  closedShifts: ShiftKpis[]
}

export interface StateProcessor {
  /** One transaction. If it throws, nothing was written; discard this processor (its detectors ran ahead) and make a new one. */
  applyBatch(partition: number, messages: readonly IncomingMessage[], wallNow: number): BatchOutcome
  /** Wall-clock work: dropouts while no data arrives, shifts closed by the idle timeout. */
  tick(wallNow: number): { anomalies: AnomalyEvent[]; closedShifts: ShiftKpis[] }
  /** The next offset to consume for a partition (undefined: from the beginning). */
  nextOffset(partition: number): number | undefined
  offsets(): Map<number, number>
  /** Max event time applied so far. */
  maxEventTs(): number | undefined
  readonly outbox: Outbox
}

interface SensorRow {
  key: string
  site: string
  line: string
  machine: string
  sensor: string
  unit: string | null
  first_ts: number
  last_ts: number
  last_value: number
  readings: number
}

interface ParsedReading extends ReadingInput {
  unit: string | null
}

const SEGMENT = /^[A-Za-z0-9_.-]{1,64}$/

type ParsedMessage = { type: 'reading'; reading: ParsedReading } | { type: 'machine_state'; change: MachineStateChange }

/** A message from factory.readings: a reading (no `type`) or a machine_state; undefined when invalid. */
function parseMessage(value: Buffer | null): ParsedMessage | undefined {
  if (value === null) return undefined
  let m: unknown
  try {
    m = JSON.parse(value.toString('utf8'))
  } catch {
    return undefined
  }
  // `null`, a number or an array is not a message (destructuring null would throw and wedge the batch).
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return undefined
  const record = m as Record<string, unknown>
  if (record.type === undefined) {
    const reading = parseReading(record)
    return reading === undefined ? undefined : { type: 'reading', reading }
  }
  if (record.type !== 'machine_state') return undefined
  const change = parseMachineState(record)
  return change === undefined ? undefined : { type: 'machine_state', change }
}

/** A reading message, checked field by field (cheaper than zod here). */
function parseReading(m: Record<string, unknown>): ParsedReading | undefined {
  const { site, line, machine, sensor, ts, unit } = m
  const v = m.value
  if (
    typeof site !== 'string' ||
    typeof line !== 'string' ||
    typeof machine !== 'string' ||
    typeof sensor !== 'string' ||
    typeof ts !== 'number' ||
    !Number.isFinite(ts) ||
    typeof v !== 'number' ||
    !Number.isFinite(v) ||
    !SEGMENT.test(site) ||
    !SEGMENT.test(line) ||
    !SEGMENT.test(machine) ||
    !SEGMENT.test(sensor)
  ) {
    return undefined
  }
  return { key: `${site}/${line}/${machine}/${sensor}`, site, line, machine, sensor, ts, value: v, unit: typeof unit === 'string' ? unit : null }
}

export function createStateProcessor(options: StateProcessorOptions): StateProcessor {
  const { db, detectors, calendar, shifts, readingsTopic } = options
  const log = options.log.child({ stage: 'aggregate' })
  const outbox = createOutbox(db)
  const machineStates = createMachineStates(db)

  const selectBucket = db.prepare('SELECT * FROM buckets WHERE key = ? AND minute = ?')
  const writeBucket = db.prepare(
    `INSERT OR REPLACE INTO buckets (key, minute, count, sum, sumsq, min, max, first_ts, first_value, last_ts, last_value)
     VALUES (@key, @minute, @count, @sum, @sumsq, @min, @max, @first_ts, @first_value, @last_ts, @last_value)`,
  )
  const selectSensor = db.prepare('SELECT * FROM sensors WHERE key = ?')
  const writeSensor = db.prepare(
    `INSERT OR REPLACE INTO sensors (key, site, line, machine, sensor, unit, first_ts, last_ts, last_value, readings)
     VALUES (@key, @site, @line, @machine, @sensor, @unit, @first_ts, @last_ts, @last_value, @readings)`,
  )
  const writeOffset = db.prepare(
    'INSERT INTO offsets (topic, partition, next_offset) VALUES (?, ?, ?) ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset',
  )
  const writeState = db.prepare('INSERT OR REPLACE INTO detector_state (key, state) VALUES (?, ?)')
  const openAnomaly = db.prepare(
    `INSERT OR REPLACE INTO anomalies (id, key, site, line, machine, sensor, kind, severity, state, started_at, ended_at, observed, expected, detail, clock, cause)
     VALUES (@id, @key, @site, @line, @machine, @sensor, @kind, @severity, 'open', @startedAt, NULL, @observed, @expected, @detail, @clock, @cause)`,
  )
  const closeAnomaly = db.prepare(
    `UPDATE anomalies SET state = 'closed', ended_at = @endedAt, observed = @observed, expected = @expected, detail = @detail WHERE id = @id`,
  )
  const shiftClosed = db.prepare('SELECT 1 FROM shifts WHERE id = ?')
  const writeShift = db.prepare('INSERT INTO shifts (id, name, date, start_ts, end_ts, closed_by, closed_at_event) VALUES (?, ?, ?, ?, ?, ?, ?)')
  const writeSensorKpi = db.prepare(
    `INSERT OR REPLACE INTO shift_kpis (shift_id, key, line, machine, sensor, count, mean, min, max, std, coverage_pct, delta)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
  const writeMachineKpi = db.prepare(
    `INSERT OR REPLACE INTO shift_machine_kpis (shift_id, line, machine, parts, rejects, reject_rate_pct, coverage_pct, anomalies)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  )

  detectors.restore(db.prepare('SELECT key, state FROM detector_state').all() as { key: string; state: string }[])
  const offsets = readOffsets(db, readingsTopic)
  let maxEventTs = numberMeta('max_event_ts')
  let shiftCursor = numberMeta('shift_cursor')
  let lastAppliedWall: number | undefined

  function numberMeta(name: string): number | undefined {
    const v = getMeta(db, name)
    return v === undefined ? undefined : Number(v)
  }

  function recordEvents(events: readonly AnomalyEvent[], wallNow: number): void {
    for (const e of events) {
      const row = { ...e, expected: e.expected, endedAt: e.endedAt ?? null, cause: e.cause ?? null }
      if (e.state === 'open') openAnomaly.run(row)
      else if (closeAnomaly.run(row).changes === 0) {
        openAnomaly.run(row)
        closeAnomaly.run(row)
      }
      if (options.publish) {
        // The published message has neither (factory.anomalies' schema); an offline anomaly's cause is in its detail.
        const { clock: _clock, cause: _cause, ...value } = e
        void _clock
        void _cause
        outbox.add(options.publish.anomalies, 'shiftscribe.anomaly', e.key, value, wallNow)
      }
    }
  }

  function closeShifts(horizon: number, closedBy: 'watermark' | 'idle', wallNow: number): ShiftKpis[] {
    if (shiftCursor === undefined) return []
    const closed: ShiftKpis[] = []
    let cursor = shiftCursor
    for (const inst of calendar.instancesBetween(shiftCursor, horizon)) {
      if (inst.endTs > horizon || shiftClosed.get(inst.id) !== undefined) continue
      closed.push(closeShift(inst, closedBy, wallNow))
      cursor = Math.max(cursor, inst.endTs)
    }
    if (cursor !== shiftCursor) {
      shiftCursor = cursor
      setMeta(db, 'shift_cursor', String(cursor))
    }
    return closed
  }

  function closeShift(inst: ShiftInstance, closedBy: 'watermark' | 'idle', wallNow: number): ShiftKpis {
    const kpis = computeShiftKpis(db, inst, shifts)
    writeShift.run(inst.id, inst.name, inst.date, inst.startTs, inst.endTs, closedBy, maxEventTs ?? inst.endTs)
    for (const s of kpis.sensors) {
      writeSensorKpi.run(inst.id, s.key, s.line, s.machine, s.sensor, s.count, s.mean, s.min, s.max, s.std, s.coveragePct, s.delta)
    }
    for (const m of kpis.machines) {
      writeMachineKpi.run(inst.id, m.line, m.machine, m.parts, m.rejects, m.rejectRatePct, m.coveragePct, m.anomalies)
    }
    if (options.publish) {
      outbox.add(
        options.publish.kpis,
        'shiftscribe.kpis',
        options.site,
        { site: options.site, shift: { id: inst.id, name: inst.name, date: inst.date, start: inst.startTs, end: inst.endTs }, closedBy, machines: kpis.machines, sensors: kpis.sensors },
        wallNow,
      )
    }
    log.info({ shift: inst.id, closedBy, sensors: kpis.sensors.length }, 'shift closed')
    return kpis
  }

  /** The end of the earliest shift not yet closed (from the cursor on), or undefined. */
  function nextShiftEnd(): number | undefined {
    if (shiftCursor === undefined) return undefined
    for (const inst of calendar.instancesBetween(shiftCursor, shiftCursor + 3 * 86_400_000)) {
      if (shiftClosed.get(inst.id) === undefined) return inst.endTs
    }
    return undefined
  }

  const applyTx = db.transaction((partition: number, messages: readonly IncomingMessage[], wallNow: number): BatchOutcome => {
    const next = offsets.get(partition)
    const buckets = new Map<string, Bucket>()
    const sensors = new Map<string, SensorRow>()
    const anomalies: AnomalyEvent[] = []
    const closedShifts: ShiftKpis[] = []
    let recorded = 0
    let applied = 0
    let machineCount = 0
    let skipped = 0
    let invalid = 0
    let lastOffset: number | undefined
    let closeAt = nextShiftEnd()

    const recordPending = () => {
      recordEvents(anomalies.slice(recorded), wallNow)
      recorded = anomalies.length
    }
    const flush = () => {
      for (const b of buckets.values()) writeBucket.run(b)
      for (const s of sensors.values()) writeSensor.run(s)
      recordPending()
    }

    for (const message of messages) {
      const offset = Number(message.offset)
      if (next !== undefined && offset < next) {
        skipped++
        continue
      }
      lastOffset = offset
      const parsed = parseMessage(message.value)
      if (parsed === undefined) {
        invalid++
        continue
      }
      applied++
      if (parsed.type === 'machine_state') {
        // Not event-time data for the watermark: a death's `ts` is the gateway's receive time
        // (another clock than the readings', and far from theirs in a replay or a backfill), and
        // a message that carries no readings says nothing about whether the readings up to that
        // time have arrived. Moving the watermark on it could close a shift early (for good) and
        // make every sensor look silent to the dropout detector; a plant that went quiet
        // altogether closes its shift by the idle timeout instead.
        machineCount++
        // The open offline anomaly is looked up in the table: events of this batch go there first.
        recordPending()
        for (const e of machineStates.apply(parsed.change, detectors)) anomalies.push(e)
        continue
      }
      const r = parsed.reading
      const minute = r.ts - (((r.ts % 60_000) + 60_000) % 60_000)
      const bk = `${r.key}\u0000${minute}`
      let b = buckets.get(bk)
      if (b === undefined) {
        b = (selectBucket.get(r.key, minute) as Bucket | undefined) ?? {
          key: r.key,
          minute,
          count: 0,
          sum: 0,
          sumsq: 0,
          min: r.value,
          max: r.value,
          first_ts: r.ts,
          first_value: r.value,
          last_ts: r.ts,
          last_value: r.value,
        }
        buckets.set(bk, b)
      }
      b.count++
      b.sum += r.value
      b.sumsq += r.value * r.value
      if (r.value < b.min) b.min = r.value
      if (r.value > b.max) b.max = r.value
      if (r.ts < b.first_ts) {
        b.first_ts = r.ts
        b.first_value = r.value
      }
      if (r.ts >= b.last_ts) {
        b.last_ts = r.ts
        b.last_value = r.value
      }

      let s = sensors.get(r.key)
      if (s === undefined) {
        s = (selectSensor.get(r.key) as SensorRow | undefined) ?? {
          key: r.key,
          site: r.site,
          line: r.line,
          machine: r.machine,
          sensor: r.sensor,
          unit: r.unit,
          first_ts: r.ts,
          last_ts: r.ts,
          last_value: r.value,
          readings: 0,
        }
        sensors.set(r.key, s)
      }
      s.readings++
      if (r.unit !== null) s.unit = r.unit
      if (r.ts < s.first_ts) s.first_ts = r.ts
      if (r.ts >= s.last_ts) {
        s.last_ts = r.ts
        s.last_value = r.value
      }

      for (const e of detectors.observe(r)) anomalies.push(e)

      if (shiftCursor === undefined) {
        // Shifts are closed from the first data on (that shift's coverage is partial).
        shiftCursor = r.ts
        setMeta(db, 'shift_cursor', String(shiftCursor))
        closeAt = nextShiftEnd()
      }
      if (maxEventTs === undefined || r.ts > maxEventTs) {
        maxEventTs = r.ts
        if (closeAt !== undefined && maxEventTs - shifts.allowedLatenessMs >= closeAt) {
          // Close at this reading: what the shift holds does not depend on batch boundaries.
          for (const e of detectors.tick(maxEventTs, wallNow)) anomalies.push(e)
          flush()
          closedShifts.push(...closeShifts(maxEventTs - shifts.allowedLatenessMs, 'watermark', wallNow))
          closeAt = nextShiftEnd()
        }
      }
    }

    if (lastOffset === undefined) return { applied, skipped, invalid, machineStates: machineCount, anomalies, closedShifts }
    if (applied > machineCount && maxEventTs !== undefined) {
      setMeta(db, 'max_event_ts', String(maxEventTs))
      // Event-time dropouts: decided by the watermark, so a replay decides the same.
      for (const e of detectors.tick(maxEventTs, wallNow)) anomalies.push(e)
    }
    flush()
    for (const { key, state } of detectors.takeDirtyState()) writeState.run(key, state)
    writeOffset.run(readingsTopic, partition, lastOffset + 1)
    return { applied, skipped, invalid, machineStates: machineCount, anomalies, closedShifts }
  })

  const tickTx = db.transaction((wallNow: number) => {
    const anomalies = maxEventTs === undefined ? [] : detectors.tick(maxEventTs, wallNow)
    recordEvents(anomalies, wallNow)
    for (const { key, state } of detectors.takeDirtyState()) writeState.run(key, state)
    let closedShifts: ShiftKpis[] = []
    const idleSince = lastAppliedWall
    if (maxEventTs !== undefined && idleSince !== undefined && wallNow - idleSince >= shifts.idleTimeoutMs) {
      // No data for a while: let event time run on with the wall clock.
      closedShifts = closeShifts(maxEventTs + (wallNow - idleSince) - shifts.allowedLatenessMs, 'idle', wallNow)
    }
    return { anomalies, closedShifts }
  })

  return {
    outbox,
    applyBatch(partition, messages, wallNow) {
      const outcome = applyTx(partition, messages, wallNow)
      const last = messages[messages.length - 1]
      if (last !== undefined && outcome.applied + outcome.invalid > 0) offsets.set(partition, Number(last.offset) + 1)
      // The idle timeout counts from the last reading: machine states do not move event time.
      if (outcome.applied > outcome.machineStates) lastAppliedWall = wallNow
      return outcome
    },
    tick(wallNow) {
      lastAppliedWall ??= wallNow
      return tickTx(wallNow)
    },
    nextOffset: (partition) => offsets.get(partition),
    offsets: () => new Map(offsets),
    maxEventTs: () => maxEventTs,
  }
}
