// npm run bench:journal [-- --n 100000] [-- --json]
// The ingest hot path without the network: parse + validate, then journal appends with one
// transaction per message (what mqtt.js's one-packet-at-a-time acking would force) versus
// group commit (what the subscriber does), then the pump's read and delete.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createJournal } from '../src/ingest/journal.js'
import { createMessageParser } from '../src/ingest/parse-message.js'
import { createTopicMapper } from '../src/ingest/topic-map.js'
import { silentLogger } from '../src/log.js'

const { values: args } = parseArgs({ options: { n: { type: 'string', default: '100000' }, json: { type: 'boolean', default: false } } })
const n = Number(args.n)
const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-bench-journal-'))
const open = (name: string) => createJournal({ file: join(dir, name), synchronous: 'normal', maxBytes: 1 << 30, whenFull: 'block', log: silentLogger() })
const parse = createMessageParser({
  mapTopic: createTopicMapper([{ filter: 'f/+/+/+', pattern: 'f/{line}/{machine}/{sensor}', format: 'json' }], 'site'),
  maxPayloadBytes: 65536,
  maxReadings: 1000,
})
const payloads = Array.from({ length: n }, (_, i) => Buffer.from(JSON.stringify({ value: i / 10, ts: 1764140400000 + i, unit: '°C', quality: 'good' })))
const rate = (t0: number) => Math.round(n / ((performance.now() - t0) / 1000))

try {
  let t0 = performance.now()
  const results = payloads.map((p, i) => parse(`f/line${i % 3}/m${i % 8}/s${i % 7}`, p, Date.now()))
  const parse_per_s = rate(t0)

  const single = open('single.db')
  t0 = performance.now()
  for (const r of results) single.append([r])
  const append_1_per_txn_per_s = rate(t0)

  const grouped = open('grouped.db')
  t0 = performance.now()
  for (let i = 0; i < n; i += 1000) grouped.append(results.slice(i, i + 1000))
  const append_1000_per_txn_per_s = rate(t0)

  t0 = performance.now()
  let last = 0
  for (;;) {
    const batch = grouped.readBatch(last, 5000, 1 << 20)
    const end = batch[batch.length - 1]
    if (end === undefined) break
    grouped.markDelivered(last, end.id)
    last = end.id
  }
  const read_and_delete_per_s = rate(t0)
  single.close()
  grouped.close()

  const result = { n, parse_per_s, append_1_per_txn_per_s, append_1000_per_txn_per_s, read_and_delete_per_s }
  if (args.json) process.stdout.write(`${JSON.stringify(result)}\n`)
  else for (const [k, v] of Object.entries(result)) process.stdout.write(`${k.padEnd(26)} ${String(v).padStart(8)}\n`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
