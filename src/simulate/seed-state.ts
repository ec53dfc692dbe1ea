// A state database filled from a seeded simulated plant, in-process (no MQTT, no Kafka): the
// readings go through the same state processor as in the gateway, so buckets, anomalies,
// closed shifts and KPIs are the real thing. For narrate tests, the narrate benchmark and demos.
import { createStateProcessor, type IncomingMessage } from '../aggregate/state-processor.js'
import { SCHEMA_VERSION } from '../bus/messages.js'
import { detectConfigSchema } from '../detect/config.js'
import { createDetectorBank } from '../detect/detector-bank.js'
import type { AnomalyEvent } from '../detect/types.js'
import { silentLogger } from '../log.js'
import type { ShiftKpis } from '../shifts/kpis.js'
import { createShiftCalendar, type ShiftCalendar } from '../shifts/shift-calendar.js'
import type { FactsOptions } from '../narrate/facts.js'
import { openStateDb, type StateDb } from '../store/state-db.js'
import { buildPlant, simulationOptionsSchema } from './run-simulation.js'

export const SEED_SHIFTS = [
  { name: 'early', start: '06:00', end: '14:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'] },
  { name: 'late', start: '14:00', end: '22:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'] },
  { name: 'night', start: '22:00', end: '06:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'] },
] as const

export interface SeedStateOptions {
  file: string
  site?: string
  seed?: number
  /** Event time of the first reading (default: Monday 2026-11-23 05:30 UTC). */
  startTs?: number
  hours?: number
  /** Seconds between two samples of one sensor. */
  sampleEveryS?: number
  lines?: number
  machines?: number
  anomaliesPerMachinePerShift?: number
  /** Keep the outbox events (anomalies, KPIs) the processor wrote; by default they are deleted. */
  keepOutbox?: boolean
}

export interface SeededState {
  db: StateDb
  calendar: ShiftCalendar
  anomalies: AnomalyEvent[]
  closedShifts: ShiftKpis[]
  readings: number
}

export function seedStateDb(options: SeedStateOptions): SeededState {
  const site = options.site ?? 'plant1'
  const startTs = options.startTs ?? Date.UTC(2026, 10, 23, 5, 30)
  const lines = options.lines ?? 2
  const machines = options.machines ?? 3
  const sampleEveryS = options.sampleEveryS ?? 10
  const sensorsPerTick = lines * machines * 7
  const plant = buildPlant(
    simulationOptionsSchema.parse({
      lines,
      machines,
      seed: options.seed ?? 7,
      ratePerS: sensorsPerTick / sampleEveryS,
      speed: 1,
      anomalies: { mode: 'rate', perMachinePerShift: options.anomaliesPerMachinePerShift ?? 4 },
    }),
    startTs,
  )
  const calendar = createShiftCalendar({ timeZone: 'UTC', shifts: SEED_SHIFTS.map((s) => ({ ...s, days: [...s.days] })) })
  const db = openStateDb(options.file)
  const processor = createStateProcessor({
    db,
    readingsTopic: 'seed.readings',
    publish: { anomalies: 'seed.anomalies', kpis: 'seed.kpis' },
    site,
    detectors: createDetectorBank(detectConfigSchema.parse({})),
    calendar,
    shifts: { allowedLatenessMs: 60_000, idleTimeoutMs: 900_000, counters: ['part_count', 'reject_count'], partsSensor: 'part_count', rejectsSensor: 'reject_count' },
    log: silentLogger(),
  })
  const endTs = startTs + (options.hours ?? 9) * 3_600_000
  const anomalies: AnomalyEvent[] = []
  const closedShifts: ShiftKpis[] = []
  let offset = 0
  let batch: IncomingMessage[] = []
  let readings = 0
  const flush = () => {
    const out = processor.applyBatch(0, batch, Date.now())
    anomalies.push(...out.anomalies)
    closedShifts.push(...out.closedShifts)
    batch = []
  }
  for (;;) {
    const m = plant.next()
    if (m.reading === undefined) continue
    const r = m.reading
    if (r.ts >= endTs) break
    const value = { v: SCHEMA_VERSION, site, line: r.line, machine: r.machine, sensor: r.sensor, ts: r.ts, value: r.value, unit: r.unit, receivedAt: r.ts, mqttTopic: m.topic }
    batch.push({ offset: String(offset++), value: Buffer.from(JSON.stringify(value)) })
    readings++
    if (batch.length === 5000) flush()
  }
  if (batch.length > 0) flush()
  // The outbox would go to Kafka in the gateway; here nobody publishes it.
  if (!options.keepOutbox) db.prepare('DELETE FROM outbox').run()
  return { db, calendar, anomalies, closedShifts, readings }
}

/** The narrate settings that go with a seeded state (the gateway's defaults, UTC, the simulator's counters). */
export function seedFactsOptions(seeded: Pick<SeededState, 'calendar'>, site = 'plant1'): FactsOptions {
  return {
    site,
    zone: seeded.calendar.zone,
    coalesceWindowMs: 600_000,
    incidentContextMs: 1_800_000,
    maxPromptFacts: 12,
    counters: ['part_count', 'reject_count'],
    partsSensor: 'part_count',
    rejectsSensor: 'reject_count',
  }
}
