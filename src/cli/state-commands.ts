// `shiftscribe rebuild` and `shiftscribe verify`: recompute the state database from the local
// Kafka topic, and prove the live one equals that recomputation.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { compareStates, offsetsOf, rebuildState, snapshotState } from '../aggregate/rebuild.js'
import { createKafkaBus } from '../bus/kafka-bus.js'
import { ConfigError, loadConfigFile, type Config } from '../config/load-config.js'
import { describeError, isGatewayError } from '../errors.js'
import { stateProcessing } from '../gateway.js'
import { createLogger } from '../log.js'
import { getMeta, openStateDb } from '../store/state-db.js'
import type { CliIo } from './run-cli.js'

function load(file: string | undefined, io: CliIo): Config | number {
  if (file === undefined) {
    io.stderr.write('shiftscribe: --config <file> is required\n')
    return 2
  }
  try {
    return loadConfigFile(file, { env: io.env }).config
  } catch (err) {
    io.stderr.write(`${err instanceof ConfigError ? err.message : describeError(err)}\n`)
    return 2
  }
}

function progress(io: CliIo, label: string) {
  let last = 0
  return (done: number, total: number) => {
    const now = Date.now()
    if (now - last < 2000 && done < total) return
    last = now
    io.stderr.write(`${label}: ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} messages (${total === 0 ? 100 : Math.floor((done / total) * 100)} %)\n`)
  }
}

async function rebuildInto(config: Config, into: string, until: Map<number, number> | undefined, io: CliIo, label: string) {
  const log = createLogger({ level: 'warn', stderr: true })
  const processing = stateProcessing(config)
  return rebuildState({
    bus: createKafkaBus({ brokers: config.kafka.local.brokers, clientId: `${config.kafka.local.clientId}-rebuild`, log }),
    topic: config.kafka.local.topics.readings,
    site: config.site,
    into,
    makeDetectors: processing.makeDetectors,
    calendar: processing.calendar,
    shifts: processing.shifts,
    until,
    log,
    onProgress: progress(io, label),
  })
}

/** `shiftscribe rebuild --config <file> --into <file>`: replay factory.readings into a fresh database. */
export async function rebuildCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, into: { type: 'string' } } })
  const config = load(values.config, io)
  if (typeof config === 'number') return config
  if (values.into === undefined) {
    io.stderr.write('shiftscribe: rebuild: --into <file> is required (a new database file)\n')
    return 2
  }
  try {
    const r = await rebuildInto(config, values.into, undefined, io, 'rebuild')
    io.stdout.write(`rebuilt ${values.into}: ${r.readings} readings from ${r.partitions} partition(s) in ${r.seconds.toFixed(1)} s\n`)
    return 0
  } catch (err) {
    io.stderr.write(`shiftscribe: rebuild failed: ${describeError(err)}\n`)
    return isGatewayError(err, 'USAGE') ? 2 : 1
  }
}

/** `shiftscribe verify --config <file>`: the live state equals a rebuild up to the same offsets. */
export async function verifyCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, keep: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } } })
  const config = load(values.config, io)
  if (typeof config === 'number') return config
  if (!existsSync(config.store.file)) {
    io.stderr.write(`shiftscribe: verify: no state database at ${config.store.file}\n`)
    return 1
  }
  const snapshot = await snapshotState(config.store.file)
  try {
    const until = offsetsOf(snapshot.file, config.kafka.local.topics.readings)
    const rebuiltFile = join(snapshot.file, '..', 'rebuilt.db')
    const r = await rebuildInto(config, rebuiltFile, until, io, 'verify: rebuilding')
    const live = openStateDb(snapshot.file, { readonly: true })
    const rebuilt = openStateDb(rebuiltFile, { readonly: true })
    try {
      const maxEvent = Number(getMeta(live, 'max_event_ts') ?? 0)
      const full = r.partitions === 1 && r.completeHistory
      let fromMinute = maxEvent - config.store.retentionDays * 86_400_000
      if (!r.completeHistory) {
        // Kafka's retention removed the oldest readings: compare from the first full minute the rebuild has.
        const first = (rebuilt.prepare('SELECT max(first_ts) AS t FROM sensors').get() as { t: number | null }).t ?? 0
        fromMinute = Math.max(fromMinute, first - (first % 60_000) + 60_000)
      }
      const result = compareStates(live, rebuilt, { full, fromMinute })
      const summary = {
        equal: result.differences.length === 0,
        readings: r.readings,
        compared: result.rows,
        notCompared: result.skipped,
        differences: result.differences.length,
        ...(values.keep ? { rebuilt: rebuiltFile, live: snapshot.file } : {}),
      }
      if (values.json) io.stdout.write(`${JSON.stringify({ ...summary, first: result.differences.slice(0, 10) })}\n`)
      else {
        io.stdout.write(
          `${summary.equal ? 'verify: OK' : 'verify: DIFFERENT'} — live state vs a rebuild of ${r.readings} readings up to the same offsets\n` +
            `compared: ${Object.entries(result.rows).map(([t, n]) => `${t} ${n}`).join(', ')}\n` +
            (result.skipped.length > 0 ? `not compared (${r.partitions} partitions or history removed by Kafka retention): ${result.skipped.join(', ')}\n` : '') +
            result.differences
              .slice(0, 10)
              .map((d) => `  ${d.table} ${d.key}\n    live:    ${JSON.stringify(d.live)}\n    rebuilt: ${JSON.stringify(d.rebuilt)}\n`)
              .join('') +
            (result.differences.length > 10 ? `  … ${result.differences.length - 10} more\n` : '') +
            (values.keep ? `kept: ${snapshot.file} (live snapshot), ${rebuiltFile} (rebuild)\n` : ''),
        )
      }
      return summary.equal ? 0 : 1
    } finally {
      live.close()
      rebuilt.close()
    }
  } finally {
    if (!values.keep) snapshot.cleanup()
  }
}
