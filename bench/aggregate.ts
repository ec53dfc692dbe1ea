// npm run bench:aggregate [-- --json] [-- --n 300000]
//
// Consumption from the local Kafka into SQLite with the exactly-once commits (buckets,
// registry, detector state, anomalies and offsets in one transaction per batch) and the
// detectors on: readings per second. And the detectors alone, in-process, over the same
// readings: µs per reading. The readings are the simulator's plant, written to a fresh
// one-partition topic exactly as the gateway writes them.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { CompressionTypes, Kafka, logLevel, Partitioners } from 'kafkajs'
import { createStateProcessor } from '../src/aggregate/state-processor.js'
import { createKafkaBus } from '../src/bus/kafka-bus.js'
import { SCHEMA_VERSION, type ReadingMessage } from '../src/bus/messages.js'
import { detectConfigSchema } from '../src/detect/config.js'
import { createDetectorBank } from '../src/detect/detector-bank.js'
import type { ReadingInput } from '../src/detect/types.js'
import { silentLogger } from '../src/log.js'
import { createShiftCalendar } from '../src/shifts/shift-calendar.js'
import { buildPlant, simulationOptionsSchema } from '../src/simulate/run-simulation.js'
import { openStateDb } from '../src/store/state-db.js'

const { values: args } = parseArgs({ options: { json: { type: 'boolean', default: false }, n: { type: 'string', default: '300000' } } })
const N = Number(args.n)
const brokers = [`127.0.0.1:${process.env.SHIFTSCRIBE_KAFKA_LOCAL_PORT ?? 19092}`]
const say = (s: string) => process.stderr.write(`[bench:aggregate] ${s}\n`)
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

function plantReadings(n: number): ReadingMessage[] {
  const startTs = Date.UTC(2026, 10, 23, 13, 30) // a Monday: the early shift closes during the run
  const plant = buildPlant(
    simulationOptionsSchema.parse({ lines: 2, machines: 5, seed: 11, ratePerS: 70, speed: 1, anomalies: { mode: 'rate', perMachinePerShift: 6 } }),
    startTs,
  )
  const out: ReadingMessage[] = []
  while (out.length < n) {
    const m = plant.next()
    if (m.reading === undefined) continue
    const r = m.reading
    out.push({ v: SCHEMA_VERSION, site: 'bench', line: r.line, machine: r.machine, sensor: r.sensor, ts: r.ts, value: r.value, unit: r.unit, receivedAt: r.ts, mqttTopic: m.topic })
  }
  return out
}

async function main(): Promise<void> {
  const run = Math.random().toString(16).slice(2, 10)
  const topic = `bench.${run}.aggregate`
  const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-bench-aggregate-'))
  const kafka = new Kafka({ clientId: 'bench-aggregate', brokers, logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  try {
    say(`generating ${N} plant readings`)
    const readings = plantReadings(N)
    const detectConfig = detectConfigSchema.parse({})

    say('detectors alone')
    const inputs: ReadingInput[] = readings.map((r) => ({ key: `${r.site}/${r.line}/${r.machine}/${r.sensor}`, site: r.site, line: r.line, machine: r.machine, sensor: r.sensor, ts: r.ts, value: r.value }))
    const bank = createDetectorBank(detectConfig)
    let t0 = performance.now()
    let events = 0
    for (const r of inputs) events += bank.observe(r).length
    const detectUs = ((performance.now() - t0) * 1000) / N

    say(`producing ${N} readings to ${topic}`)
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    for (let i = 0; i < N; i += 5000) {
      await producer.send({
        topic,
        acks: -1,
        compression: CompressionTypes.GZIP,
        messages: readings.slice(i, i + 5000).map((r) => ({ key: `${r.site}/${r.line}/${r.machine}/${r.sensor}`, value: JSON.stringify(r) })),
      })
    }
    await producer.disconnect()

    say('consuming into SQLite (exactly-once commits, detectors on)')
    const db = openStateDb(join(dir, 'state.db'))
    const processor = createStateProcessor({
      db,
      readingsTopic: topic,
      publish: { anomalies: 'bench.anomalies', kpis: 'bench.kpis' },
      site: 'bench',
      detectors: createDetectorBank(detectConfig),
      calendar: createShiftCalendar({
        timeZone: 'UTC',
        shifts: [
          { name: 'early', start: '06:00', end: '14:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'] },
          { name: 'late', start: '14:00', end: '22:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'] },
          { name: 'night', start: '22:00', end: '06:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'] },
        ],
      }),
      shifts: { allowedLatenessMs: 120_000, idleTimeoutMs: 900_000, counters: ['part_count', 'reject_count'], partsSensor: 'part_count', rejectsSensor: 'reject_count' },
      log: silentLogger(),
    })
    const bus = createKafkaBus({ brokers, clientId: 'bench-aggregate', log: silentLogger() })
    const consumer = bus.createConsumer({ groupId: `bench-aggregate-${run}`, topic, startOffset: (p) => processor.nextOffset(p), maxWaitTimeMs: 100, maxBytes: 1024 * 1024 })
    let first = 0
    let batches = 0
    let anomalies = 0
    let shifts = 0
    await new Promise<void>((resolve, reject) => {
      consumer
        .run(async (batch) => {
          if (first === 0) first = performance.now()
          const out = processor.applyBatch(batch.partition, batch.messages, Date.now())
          batches++
          anomalies += out.anomalies.length
          shifts += out.closedShifts.length
          if ((processor.nextOffset(0) ?? 0) >= N) resolve()
        })
        .catch(reject)
    })
    const seconds = (performance.now() - first) / 1000
    await consumer.stop()
    const counted = (db.prepare('SELECT sum(count) AS n FROM buckets').get() as { n: number }).n
    db.close()
    if (counted !== N) throw new Error(`counted ${counted} readings, expected ${N}`)

    const result = {
      readings_per_s: Math.round(N / seconds),
      detect_us_per_reading: Number(detectUs.toFixed(2)),
      n: N,
      batches,
      anomaly_events: anomalies,
      detector_events_alone: events,
      shifts_closed: shifts,
    }
    if (args.json) process.stdout.write(`${JSON.stringify(result)}\n`)
    else {
      process.stdout.write(
        [
          `readings_per_s         ${String(result.readings_per_s).padStart(8)}  Kafka → SQLite, exactly-once commits, detectors on (target ≥ 100,000)`,
          `detect_us_per_reading  ${String(result.detect_us_per_reading).padStart(8)}  detectors alone, in-process`,
          `batches ${batches}, anomaly events ${anomalies}, shifts closed ${shifts}, readings ${N}`,
          '',
        ].join('\n'),
      )
    }
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined)
    await admin.disconnect()
    rmSync(dir, { recursive: true, force: true })
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`[bench:aggregate] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(1)
  },
)
