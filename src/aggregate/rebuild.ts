// Rebuild: replays factory.readings from the beginning into a fresh state database with the
// same processor the live aggregator uses (no outbox: a rebuild publishes nothing), up to
// given offsets. Verify: snapshots the live database, rebuilds up to the snapshot's offsets
// and compares the two, table by table.
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { KafkaBus } from '../bus/kafka-bus.js'
import type { DetectorBank } from '../detect/types.js'
import { GatewayError } from '../errors.js'
import type { Log } from '../log.js'
import type { KpiOptions } from '../shifts/kpis.js'
import type { ShiftCalendar } from '../shifts/shift-calendar.js'
import { openStateDb, readOffsets, type StateDb } from '../store/state-db.js'
import { createStateProcessor } from './state-processor.js'

export interface RebuildOptions {
  bus: KafkaBus
  topic: string
  site: string
  into: string
  makeDetectors: () => DetectorBank
  calendar: ShiftCalendar
  shifts: KpiOptions & { allowedLatenessMs: number; idleTimeoutMs: number }
  /** Stop at these next-offsets per partition; default: the topic's end offsets now. */
  until?: Map<number, number>
  log: Log
  onProgress?: (done: number, total: number) => void
  groupId?: string
  timeoutMs?: number
}

export interface RebuildResult {
  readings: number
  offsets: Map<number, number>
  seconds: number
  /** Partitions and whether Kafka still had their whole history (earliest offset 0). */
  partitions: number
  completeHistory: boolean
}

export async function rebuildState(options: RebuildOptions): Promise<RebuildResult> {
  if (existsSync(options.into)) throw new GatewayError('USAGE', `${options.into} exists; rebuild writes a fresh database (remove it or pick another path)`)
  const db = openStateDb(options.into)
  const started = performance.now()
  try {
    const processor = createStateProcessor({
      db,
      readingsTopic: options.topic,
      site: options.site,
      detectors: options.makeDetectors(),
      calendar: options.calendar,
      shifts: options.shifts,
      log: options.log,
    })
    const consumer = options.bus.createConsumer({
      groupId: options.groupId ?? `shiftscribe-rebuild-${randomBytes(4).toString('hex')}`,
      topic: options.topic,
      startOffset: () => undefined,
      maxWaitTimeMs: 100,
    })
    const marks = await consumer.watermarks()
    const until = options.until ?? new Map([...marks].map(([p, m]) => [p, m.high]))
    const total = [...until].reduce((sum, [p, end]) => sum + Math.max(0, end - (marks.get(p)?.low ?? 0)), 0)
    let done = 0
    let readings = 0
    const finished = (): boolean => [...until].every(([p, end]) => (processor.nextOffset(p) ?? marks.get(p)?.low ?? 0) >= end)

    if (!finished()) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new GatewayError('BUS_UNAVAILABLE', 'rebuild timed out waiting for Kafka')), options.timeoutMs ?? 30 * 60_000)
        consumer
          .run(async (batch) => {
            const end = until.get(batch.partition) ?? 0
            const wanted = batch.messages.filter((m) => Number(m.offset) < end)
            if (wanted.length > 0) {
              // Event time only: the wall clock plays no part in a rebuild.
              const outcome = processor.applyBatch(batch.partition, wanted, 0)
              readings += outcome.applied - outcome.machineStates
              done += outcome.applied + outcome.invalid
              options.onProgress?.(done, total)
            }
            if (finished()) {
              clearTimeout(timer)
              resolve()
            }
          })
          .catch((err: unknown) => {
            clearTimeout(timer)
            reject(err)
          })
      })
    }
    await consumer.stop()
    return {
      readings,
      offsets: processor.offsets(),
      seconds: (performance.now() - started) / 1000,
      partitions: marks.size,
      completeHistory: [...marks.values()].every((m) => m.low === 0),
    }
  } finally {
    db.close()
  }
}

export interface Difference {
  table: string
  key: string
  live: unknown
  rebuilt: unknown
}

interface Compared {
  table: string
  sql: string
  key: (row: Record<string, unknown>) => string
  /** Only comparable when the rebuild saw the same total order of readings (full history, one partition). */
  orderSensitive: boolean
}

/** What verify compares: everything decided by the data, nothing decided by the wall clock. */
const COMPARED: readonly Compared[] = [
  { table: 'offsets', sql: 'SELECT * FROM offsets ORDER BY topic, partition', key: (r) => `${String(r.topic)}[${String(r.partition)}]`, orderSensitive: false },
  {
    table: 'buckets',
    sql: 'SELECT * FROM buckets WHERE minute >= @fromMinute ORDER BY key, minute',
    key: (r) => `${String(r.key)}@${new Date(Number(r.minute)).toISOString()}`,
    orderSensitive: false,
  },
  { table: 'sensors', sql: 'SELECT * FROM sensors ORDER BY key', key: (r) => String(r.key), orderSensitive: true },
  // A machine's state messages share a key (one partition, in order), but its state may come from
  // a message Kafka's retention has removed since: compared only with the whole history.
  {
    table: 'machine_states',
    sql: 'SELECT * FROM machine_states ORDER BY site, line, machine',
    key: (r) => `${String(r.site)}/${String(r.line)}/${String(r.machine)}`,
    orderSensitive: true,
  },
  { table: 'anomalies', sql: "SELECT * FROM anomalies WHERE clock = 'event' ORDER BY id", key: (r) => String(r.id), orderSensitive: true },
  {
    table: 'shifts',
    sql: "SELECT id, name, date, start_ts, end_ts FROM shifts WHERE closed_by = 'watermark' ORDER BY id",
    key: (r) => String(r.id),
    orderSensitive: true,
  },
  {
    table: 'shift_kpis',
    sql: "SELECT k.* FROM shift_kpis k JOIN shifts s ON s.id = k.shift_id WHERE s.closed_by = 'watermark' ORDER BY k.shift_id, k.key",
    key: (r) => `${String(r.shift_id)} ${String(r.key)}`,
    orderSensitive: true,
  },
  {
    table: 'shift_machine_kpis',
    sql: "SELECT k.* FROM shift_machine_kpis k JOIN shifts s ON s.id = k.shift_id WHERE s.closed_by = 'watermark' ORDER BY k.shift_id, k.line, k.machine",
    key: (r) => `${String(r.shift_id)} ${String(r.line)}/${String(r.machine)}`,
    orderSensitive: true,
  },
]

export interface CompareOptions {
  /**
   * true when the rebuild replayed the whole history in the live order (one partition, nothing
   * removed by Kafka's retention): then anomalies, the registry and shift KPIs must match too.
   * Otherwise only the offsets and the buckets are compared.
   */
  full: boolean
  /** Buckets before this minute are not compared (pruned by the store's retention). */
  fromMinute: number
}

export interface Comparison {
  differences: Difference[]
  /** Rows compared per table (live side). */
  rows: Record<string, number>
  skipped: string[]
}

export function compareStates(live: StateDb, rebuilt: StateDb, options: CompareOptions): Comparison {
  const differences: Difference[] = []
  const rows: Record<string, number> = {}
  const skipped: string[] = []
  for (const c of COMPARED) {
    if (c.orderSensitive && !options.full) {
      skipped.push(c.table)
      continue
    }
    const params = c.sql.includes('@fromMinute') ? { fromMinute: options.fromMinute } : {}
    const a = new Map((live.prepare(c.sql).all(params) as Record<string, unknown>[]).map((r) => [c.key(r), r]))
    const b = new Map((rebuilt.prepare(c.sql).all(params) as Record<string, unknown>[]).map((r) => [c.key(r), r]))
    rows[c.table] = a.size
    for (const [key, row] of a) {
      const other = b.get(key)
      if (other === undefined || JSON.stringify(row) !== JSON.stringify(other)) differences.push({ table: c.table, key, live: row, rebuilt: other })
    }
    for (const [key, row] of b) if (!a.has(key)) differences.push({ table: c.table, key, live: undefined, rebuilt: row })
  }
  return { differences, rows, skipped }
}

/** A consistent copy of a live state database (SQLite online backup), in a temp dir. */
export async function snapshotState(file: string): Promise<{ file: string; cleanup: () => void }> {
  if (!existsSync(file)) throw new GatewayError('USAGE', `no state database at ${file} (has the gateway run with aggregation on?)`)
  const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-verify-'))
  const copy = join(dir, 'live.db')
  const db = openStateDb(file, { readonly: true })
  try {
    await db.backup(copy)
  } finally {
    db.close()
  }
  return { file: copy, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export function offsetsOf(file: string, topic: string): Map<number, number> {
  const db = openStateDb(file, { readonly: true })
  try {
    return readOffsets(db, topic)
  } finally {
    db.close()
  }
}
