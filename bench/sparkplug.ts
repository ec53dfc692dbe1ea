// npm run bench:sparkplug [-- --json] [-- --n 20000]
//
// The CPU cost of turning messages into journal entries, in one run on the same box:
//   sparkplug  the Sparkplug host parsing DDATA of 7 aliased metrics (Tahu-encoded), through
//              the birth kept in SQLite (births parsed first, as the gateway would)
//   json       the JSON parser on the same 7 readings as 7 MQTT messages
// Prints readings per second for each and their ratio. No broker or Kafka: this is the
// parse stage alone (the journal commit and the network are the same for both formats).
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import Database from 'better-sqlite3'
import { configSchema } from '../src/config/schema.js'
import { createSparkplugHost } from '../src/ingest/sparkplug/host.js'
import { createSparkplugStore } from '../src/ingest/sparkplug/store.js'
import { createMessageParser } from '../src/ingest/parse-message.js'
import { createTopicMapper } from '../src/ingest/topic-map.js'
import { silentLogger } from '../src/log.js'
import { systemClock } from '../src/util/clock.js'

const { values: args } = parseArgs({ options: { json: { type: 'boolean', default: false }, n: { type: 'string', default: '20000' } } })
const N = Number(args.n)
const require = createRequire(import.meta.url)
const tahu = (require('sparkplug-payload') as { get(ns: string): { encodePayload(p: unknown): Uint8Array } }).get('spBv1.0')
const SENSORS = ['spindle_temp', 'vibration_rms', 'spindle_speed', 'pressure', 'power', 'part_count', 'reject_count']
const say = (s: string) => process.stderr.write(`[bench:sparkplug] ${s}\n`)

const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-bench-sparkplug-'))
const db = new Database(join(dir, 'journal.db'))
db.pragma('journal_mode = WAL')
const config = configSchema.parse({ site: 'bench', mqtt: { sparkplug: { enabled: true } } })
const host = createSparkplugHost({ config: config.mqtt.sparkplug, hostId: 'bench', site: 'bench', store: createSparkplugStore(db), maxPayloadBytes: 65536, log: silentLogger(), clock: systemClock })
host.connected(() => undefined)

const t0 = Date.now() - 3_600_000
const type = (s: string) => (s.endsWith('_count') ? 'Int64' : 'Double')
const value = (i: number, k: number) => (SENSORS[k]!.endsWith('_count') ? i : Math.round(Math.sin(i / 50 + k) * 1000) / 10 + 60)
host.parse('spBv1.0/plant/NBIRTH/line1', tahu.encodePayload({ timestamp: t0, seq: 0, metrics: [{ name: 'bdSeq', type: 'Int64', value: 0 }] }), Date.now())
host.parse(
  'spBv1.0/plant/DBIRTH/line1/m1',
  tahu.encodePayload({ timestamp: t0, seq: 1, metrics: SENSORS.map((s, k) => ({ name: s, alias: k + 1, type: type(s), value: value(0, k) })) }),
  Date.now(),
)
say(`encoding ${N} DDATA payloads (7 metrics each) and ${N * 7} JSON payloads`)
const sp = Array.from({ length: N }, (_, i) =>
  tahu.encodePayload({ timestamp: t0 + i * 1000, seq: (i + 2) % 256, metrics: SENSORS.map((s, k) => ({ alias: k + 1, type: type(s), value: value(i, k) })) }),
)
const js = Array.from({ length: N }, (_, i) => SENSORS.map((_s, k) => Buffer.from(JSON.stringify({ value: value(i, k), ts: t0 + i * 1000 }))))
const parseJson = createMessageParser({
  mapTopic: createTopicMapper([{ filter: 'factory/+/+/+', pattern: 'factory/{line}/{machine}/{sensor}', format: 'json' }], 'bench'),
  maxPayloadBytes: 65536,
  maxReadings: 1000,
})

function timeSparkplug(): number {
  let readings = 0
  const start = performance.now()
  for (const p of sp) readings += host.parse('spBv1.0/plant/DDATA/line1/m1', p, Date.now()).entries.length
  const s = (performance.now() - start) / 1000
  if (readings !== N * 7) throw new Error(`sparkplug gave ${readings} readings, expected ${N * 7}`)
  return readings / s
}
function timeJson(): number {
  let readings = 0
  const start = performance.now()
  for (const msgs of js) msgs.forEach((p, k) => (readings += parseJson(`factory/line1/m1/${SENSORS[k]}`, p, Date.now()).entries.length))
  const s = (performance.now() - start) / 1000
  if (readings !== N * 7) throw new Error(`json gave ${readings} readings, expected ${N * 7}`)
  return readings / s
}

// Warm up once, then the best of three of each, interleaved (the box is shared and noisy).
host.disconnected()
host.connected(() => undefined)
timeSparkplug()
timeJson()
const results = { sparkplug: 0, json: 0 }
for (let round = 0; round < 3; round++) {
  host.disconnected()
  host.connected(() => undefined) // seq is re-learned per connection: each round starts fresh
  results.sparkplug = Math.max(results.sparkplug, timeSparkplug())
  results.json = Math.max(results.json, timeJson())
}
const out = {
  n_messages: N,
  metrics_per_message: SENSORS.length,
  sparkplug_readings_per_s: Math.round(results.sparkplug),
  json_readings_per_s: Math.round(results.json),
  sparkplug_us_per_message: Math.round((1e6 / results.sparkplug) * SENSORS.length * 10) / 10,
  ratio_sparkplug_to_json: Math.round((results.sparkplug / results.json) * 100) / 100,
}
db.close()
rmSync(dir, { recursive: true, force: true })
if (args.json) process.stdout.write(`${JSON.stringify(out)}\n`)
else {
  say(`Sparkplug DDATA (7 aliased metrics): ${out.sparkplug_readings_per_s.toLocaleString('en')} readings/s (${out.sparkplug_us_per_message} µs per message)`)
  say(`JSON (one reading per message):      ${out.json_readings_per_s.toLocaleString('en')} readings/s`)
  say(`ratio Sparkplug / JSON: ${out.ratio_sparkplug_to_json}`)
}
