// npm run bench:forward [-- --json] [-- --outage-s 20]
//
// The forwarder over SASL_SSL (SCRAM-SHA-512, TLS with the test CA) to the central test
// cluster, with the gateway's settings:
// - drain_10k_s: a backlog of 10,000 narrative-sized messages (about 1 KB) in a fresh local
//   topic, forwarded from a standing start until the last one is acknowledged; msgs_per_s
//   from that;
// - lag_recovery_s: messages keep arriving at 200/s while the central broker is stopped for
//   --outage-s seconds (scripts/services down/up kafka-central); from the moment it answers
//   again until the forwarder has caught up (lag 0, every message acknowledged).
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Kafka, logLevel, Partitioners } from 'kafkajs'
import { createKafkaBus } from '../src/bus/kafka-bus.js'
import type { Config } from '../src/config/load-config.js'
import { centralSecurity } from '../src/forward/central-client.js'
import { createForwarder, type Forwarder } from '../src/forward/forwarder.js'
import { silentLogger } from '../src/log.js'
import { systemClock } from '../src/util/clock.js'
import { repoRoot, secureRandom, services } from '../test/helpers/env.js'

const { values: args } = parseArgs({ options: { json: { type: 'boolean', default: false }, 'outage-s': { type: 'string', default: '20' }, n: { type: 'string', default: '10000' } } })
const N = Number(args.n)
const outageS = Number(args['outage-s'])
const say = (s: string) => process.stderr.write(`[bench:forward] ${s}\n`)
process.env['KAFKAJS_NO_PARTITIONER_WARNING'] = '1'
const tls = services.kafkaCentralTls
const central = {
  brokers: services.kafkaCentralSaslSsl,
  tls: { caFile: tls.caFile },
  sasl: { mechanism: 'scram-sha-512', username: tls.username, passwordFile: tls.passwordFile },
} as unknown as Config['kafka']['central']

const kafka = new Kafka({ clientId: 'bench-forward', brokers: [...services.kafkaLocal], logLevel: logLevel.NOTHING })

async function localTopic(): Promise<string> {
  const topic = `bench.${secureRandom()}.narratives`
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
  await admin.disconnect()
  return topic
}

const body = 'x'.repeat(900)
const message = (i: number) => ({ key: `plant1/line1/m${i % 10}`, value: JSON.stringify({ v: 1, id: `n${i}`, kind: 'incident', body }) })

function forwarder(source: string): Forwarder {
  const target = source.replace('narratives', 'summaries')
  return createForwarder({
    site: 'plant1',
    gatewayId: 'bench',
    local: createKafkaBus({ brokers: services.kafkaLocal, clientId: 'bench-forward-local', log: silentLogger() }),
    connectCentral: () => createKafkaBus({ brokers: central.brokers, clientId: 'bench-forward', log: silentLogger(), retries: 2, ...centralSecurity(central) }),
    centralTopics: [{ topic: target, partitions: 3, replicationFactor: 1 }],
    routes: [{ name: 'narratives', source: { topic: source, partitions: 1, replicationFactor: 1 }, target }],
    groupId: `bench-forward-${secureRandom()}`,
    // The gateway's defaults.
    settings: { batchMaxMessages: 500, maxBytesPerS: 0, retryMinMs: 500, retryMaxMs: 60_000 },
    log: silentLogger(),
    clock: systemClock,
  })
}

const forwardedOf = (f: Forwarder) => f.status().routes['narratives']?.forwarded ?? 0

async function until(cond: () => boolean, what: string, timeoutMs = 300_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !cond(); ) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function drain(): Promise<number> {
  const topic = await localTopic()
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  for (let i = 0; i < N; i += 1000) await producer.send({ topic, acks: -1, messages: Array.from({ length: Math.min(1000, N - i) }, (_, j) => message(i + j)) })
  await producer.disconnect()
  say(`backlog of ${N} messages in ${topic}; forwarding`)
  const f = forwarder(topic)
  const t0 = performance.now()
  await f.start()
  await until(() => forwardedOf(f) >= N, 'the drain')
  const seconds = (performance.now() - t0) / 1000
  await f.stop()
  return seconds
}

async function lagRecovery(): Promise<{ seconds: number; backlog: number }> {
  const topic = await localTopic()
  const f = forwarder(topic)
  await f.start()
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  let produced = 0
  let stop = false
  const feeding = (async () => {
    while (!stop) {
      await producer.send({ topic, acks: -1, messages: Array.from({ length: 20 }, (_, j) => message(produced + j)) })
      produced += 20
      await new Promise((r) => setTimeout(r, 100))
    }
  })()
  try {
    await until(() => forwardedOf(f) >= 200, 'the first messages')
    say(`stopping kafka-central for ${outageS} s while 200 messages/s keep arriving`)
    execFileSync(join(repoRoot, 'scripts', 'services'), ['down', 'kafka-central'], { stdio: 'pipe' })
    await new Promise((r) => setTimeout(r, outageS * 1000))
    execFileSync(join(repoRoot, 'scripts', 'services'), ['up', 'kafka-central'], { stdio: 'pipe' })
    const backAt = performance.now()
    const backlog = produced - forwardedOf(f)
    say(`kafka-central answers again; backlog ${backlog} messages`)
    await until(() => forwardedOf(f) >= produced && (f.status().routes['narratives']?.lag ?? 1) === 0, 'the forwarder to catch up')
    return { seconds: (performance.now() - backAt) / 1000, backlog }
  } finally {
    stop = true
    await feeding
    await producer.disconnect()
    await f.stop()
  }
}

async function main(): Promise<void> {
  const drainS = await drain()
  const recovery = await lagRecovery()
  const result = {
    drain_10k_s: Math.round(drainS * 100) / 100,
    msgs_per_s: Math.round(N / drainS),
    lag_recovery_s: Math.round(recovery.seconds * 100) / 100,
    outage_s: outageS,
    backlog_at_recovery: recovery.backlog,
    n: N,
  }
  if (args.json) process.stdout.write(`${JSON.stringify(result)}\n`)
  else
    process.stdout.write(
      [
        `drain_10k_s     ${result.drain_10k_s}  (${N} messages of ~1 KB over SASL_SSL/SCRAM-SHA-512, acks=all, commit after ack)`,
        `msgs_per_s      ${result.msgs_per_s}`,
        `lag_recovery_s  ${result.lag_recovery_s}  (after a ${outageS} s outage at 200 messages/s: ${recovery.backlog} messages behind when central came back)`,
        '',
      ].join('\n'),
    )
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`[bench:forward] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    try {
      execFileSync(join(repoRoot, 'scripts', 'services'), ['up', 'kafka-central'], { stdio: 'pipe' })
    } catch {
      // reported above
    }
    process.exit(1)
  },
)
