// npm run bench:ingest [-- --json] [-- --n 100000] [-- --rate 10000 --seconds 20]
//
// In one run, on the same local services (scripts/services up):
//   ceiling_rps  mosquitto → mqtt.js QoS1 receive rate with an immediate ack
//   gateway_rps  shiftscribe end to end: QoS1 publish → in Kafka (acks=all), journal in between
//   naive_rps    a naive bridge that awaits producer.send per message before acking
// Each drains the same kind of preloaded queue: N readings are published to the broker while
// the consumer's persistent session is offline, then the consumer connects and the drain is
// timed. Then, with the gateway running live, readings are published at a fixed rate and the
// publish → Kafka latency is taken from the broker's LogAppendTime (p50, p99), with the
// gateway's RSS.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Kafka, logLevel, Partitioners } from 'kafkajs'
import mqtt from 'mqtt'
import { stringify } from 'yaml'
import { readJournalLedger } from '../src/ingest/journal.js'

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    n: { type: 'string', default: '100000' },
    'naive-n': { type: 'string', default: '3000' },
    rate: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '20' },
  },
})
const N = Number(args.n)
const NAIVE_N = Number(args['naive-n'])
const RATE = Number(args.rate)
const SECONDS = Number(args.seconds)

const repoRoot = join(import.meta.dirname, '..')
const mqttUrl = `mqtt://127.0.0.1:${process.env.SHIFTSCRIBE_MQTT_PORT ?? 11883}`
const brokers = [`127.0.0.1:${process.env.SHIFTSCRIBE_KAFKA_LOCAL_PORT ?? 19092}`]
const run = Math.random().toString(16).slice(2, 10)
const say = (s: string) => process.stderr.write(`[bench:ingest] ${s}\n`)
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

function payload(i: number, ts: number): Buffer {
  return Buffer.from(JSON.stringify({ value: Math.round(Math.sin(i / 50) * 1000) / 10 + 60, ts, unit: '°C', quality: 'good' }))
}
const topicFor = (prefix: string, i: number) => `${prefix}/line${i % 3}/m${i % 8}/s${i % 7}`

/** Makes the broker keep a persistent session for clientId, subscribed to prefix/#. */
async function createSession(clientId: string, prefix: string): Promise<void> {
  const c = await mqtt.connectAsync(mqttUrl, { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 3600 } })
  await c.subscribeAsync(`${prefix}/+/+/+`, { qos: 1 })
  await c.endAsync()
}

/** Publishes n readings with QoS1 as fast as the broker acks them (bounded window). */
async function preload(prefix: string, n: number): Promise<number> {
  const c = await mqtt.connectAsync(mqttUrl, { protocolVersion: 5, clientId: `bench-pub-${run}-${prefix}`, clean: true })
  const t0 = performance.now()
  let sent = 0
  let acked = 0
  await new Promise<void>((resolve, reject) => {
    const more = () => {
      while (sent < n && sent - acked < 1000) {
        const i = sent++
        c.publish(topicFor(prefix, i), payload(i, 1764140400000 + i), { qos: 1 }, (err) => {
          if (err) return reject(err)
          if (++acked === n) resolve()
          else more()
        })
      }
    }
    more()
  })
  await c.endAsync()
  return n / ((performance.now() - t0) / 1000)
}

async function measureCeiling(): Promise<{ rps: number; cpu: CpuSplit }> {
  const prefix = `bench-${run}-ceiling`
  const clientId = `bench-ceiling-${run}`
  await createSession(clientId, prefix)
  await preload(prefix, N)
  let count = 0
  let t0 = 0
  const before = cpuSnapshot(process.pid)
  const done = new Promise<number>((resolve) => {
    const c = mqtt.connect(mqttUrl, {
      protocolVersion: 5,
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: 0 },
      customHandleAcks: (_t, _p, _packet, cb) => {
        if (count === 0) t0 = performance.now()
        cb(0)
        if (++count === N) {
          const rps = N / ((performance.now() - t0) / 1000)
          void c.endAsync().then(() => resolve(rps))
        }
      },
    })
  })
  const rps = await done
  return { rps, cpu: cpuPerReading(before, cpuSnapshot(process.pid), N) }
}

async function measureNaive(): Promise<number> {
  const prefix = `bench-${run}-naive`
  const clientId = `bench-naive-${run}`
  const topic = `bench.${run}.naive`
  const kafka = new Kafka({ clientId: 'bench-naive', brokers, logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true })
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  await createSession(clientId, prefix)
  await preload(prefix, NAIVE_N)
  let count = 0
  let t0 = 0
  const rps = await new Promise<number>((resolve) => {
    const c = mqtt.connect(mqttUrl, {
      protocolVersion: 5,
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: 0 },
      customHandleAcks: (t, p, _packet, cb) => {
        if (count === 0) t0 = performance.now()
        void producer.send({ topic, acks: -1, messages: [{ key: t, value: p }] }).then(() => {
          cb(0)
          if (++count === NAIVE_N) {
            const r = NAIVE_N / ((performance.now() - t0) / 1000)
            void c.endAsync().then(() => resolve(r))
          }
        })
      },
    })
  })
  await producer.disconnect()
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined)
  await admin.disconnect()
  return rps
}

interface GatewayRun {
  child: ChildProcess
  out: () => string
  exited: Promise<unknown>
}

function writeGatewayConfig(dir: string, prefix: string, clientId: string, topics: { readings: string; quarantine: string }): string {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'gateway.yaml')
  writeFileSync(
    file,
    stringify({
      site: 'bench',
      dataDir: join(dir, 'data'),
      log: { level: 'warn' },
      mqtt: { url: mqttUrl, clientId, subscriptions: [{ filter: `${prefix}/+/+/+`, pattern: `${prefix}/{line}/{machine}/{sensor}` }] },
      kafka: { local: { brokers, topics, partitions: 3 } },
      llm: { enabled: false },
      http: { enabled: false },
    }),
  )
  return file
}

function startGateway(configFile: string): GatewayRun {
  const child = spawn(process.execPath, [join(repoRoot, 'dist', 'cli', 'index.js'), 'start', '--config', configFile], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SHIFTSCRIBE_LOG_LEVEL: 'info' },
  })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise((resolve) => child.on('exit', resolve))
  return { child, out: () => out, exited }
}

async function until(cond: () => boolean, timeoutMs: number, what: string, pollMs = 20): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, pollMs))
  }
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return 0
  }
}

function servicePid(name: string): number | undefined {
  try {
    const dir = process.env.SHIFTSCRIBE_SERVICES_DIR ?? join(repoRoot, '.services')
    return Number(readFileSync(join(dir, name, `${name}.pid`), 'utf8').trim())
  } catch {
    return undefined
  }
}

interface CpuSplit {
  consumer: number
  mosquitto: number
  kafka: number
}

function cpuSnapshot(consumerPid: number | undefined): CpuSplit {
  return { consumer: cpuSeconds(consumerPid), mosquitto: cpuSeconds(servicePid('mosquitto')), kafka: cpuSeconds(servicePid('kafka-local')) }
}

/** CPU microseconds per reading, per process, between two snapshots. */
function cpuPerReading(a: CpuSplit, b: CpuSplit, n: number): CpuSplit {
  const us = (x: number, y: number) => Math.round(((y - x) * 1e6) / n)
  return { consumer: us(a.consumer, b.consumer), mosquitto: us(a.mosquitto, b.mosquitto), kafka: us(a.kafka, b.kafka) }
}

function rssMb(pid: number | undefined): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0)
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 }
}

async function measureGateway(dir: string): Promise<{ rps: number; rss: number; cpu: CpuSplit }> {
  const prefix = `bench-${run}-gw`
  const clientId = `bench-gw-${run}`
  const topics = { readings: `bench.${run}.readings`, quarantine: `bench.${run}.quarantine` }
  const configFile = writeGatewayConfig(join(dir, 'drain'), prefix, clientId, topics)
  const journal = join(dir, 'drain', 'data', 'journal.db')
  // First start: creates the topics and the persistent session, then stops.
  let gw = startGateway(configFile)
  await until(() => gw.out().includes('subscribed (QoS1)'), 30_000, 'gateway to subscribe')
  gw.child.kill('SIGTERM')
  await gw.exited
  await preload(prefix, N)
  gw = startGateway(configFile)
  await until(() => gw.out().includes('connected to MQTT broker'), 30_000, 'gateway to connect', 2)
  const t0 = performance.now()
  const before = cpuSnapshot(gw.child.pid)
  await until(() => readJournalLedger(journal).delivered >= N, 300_000, `${N} readings in Kafka`, 25)
  const rps = N / ((performance.now() - t0) / 1000)
  const cpu = cpuPerReading(before, cpuSnapshot(gw.child.pid), N)
  const { peak } = rssMb(gw.child.pid)
  gw.child.kill('SIGTERM')
  await gw.exited
  return { rps, rss: peak, cpu }
}

async function measureLatency(dir: string): Promise<{ p50: number; p99: number; max: number; achievedRate: number; rss: number; count: number }> {
  const prefix = `bench-${run}-lat`
  const clientId = `bench-lat-${run}`
  const topics = { readings: `bench.${run}.lat.readings`, quarantine: `bench.${run}.lat.quarantine` }
  const kafka = new Kafka({ clientId: 'bench-lat', brokers, logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  // The broker stamps each record when it appends it: publish → Kafka, on one clock.
  await admin.createTopics({
    waitForLeaders: true,
    topics: [topics.readings, topics.quarantine].map((topic) => ({ topic, numPartitions: 3, configEntries: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }] })),
  })
  const configFile = writeGatewayConfig(join(dir, 'latency'), prefix, clientId, topics)
  const gw = startGateway(configFile)
  await until(() => gw.out().includes('subscribed (QoS1)') && gw.out().includes('Kafka producer ready'), 30_000, 'gateway to be ready')

  const latencies: number[] = []
  const perSecond: number[][] = []
  const t0wall = Date.now()
  const consumer = kafka.consumer({ groupId: `bench-lat-${run}`, maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topics.readings], fromBeginning: true })
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        const sentAt = (JSON.parse(m.value?.toString() ?? '{}') as { ts: number }).ts
        latencies.push(Number(m.timestamp) - sentAt)
        if (process.env.BENCH_DEBUG) {
          const sec = Math.floor((sentAt - t0wall) / 1000)
          const w = (perSecond[sec] ??= [])
          w.push(Number(m.timestamp) - sentAt)
        }
      }
    },
  })

  const total = RATE * SECONDS
  const pub = await mqtt.connectAsync(mqttUrl, { protocolVersion: 5, clientId: `bench-latpub-${run}`, clean: true })
  let sent = 0
  let rss = 0
  const t0 = performance.now()
  const tickMs = 10
  let ticks = 0
  await new Promise<void>((resolve) => {
    const tick = () => {
      ticks++
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * RATE))
      while (sent < due) {
        const i = sent++
        pub.publish(topicFor(prefix, i), payload(i, Date.now()), { qos: 1 })
      }
      if (ticks % 100 === 0) rss = Math.max(rss, rssMb(gw.child.pid).rss)
      if (sent >= total) resolve()
      else setTimeout(tick, tickMs)
    }
    tick()
  })
  const achievedRate = total / ((performance.now() - t0) / 1000)
  await until(() => latencies.length >= total, 120_000, `${total} latency samples`, 50)
  rss = Math.max(rss, rssMb(gw.child.pid).rss)
  await pub.endAsync()
  await consumer.disconnect()
  gw.child.kill('SIGTERM')
  await gw.exited
  await admin.deleteTopics({ topics: [topics.readings, topics.quarantine] }).catch(() => undefined)
  await admin.disconnect()
  if (process.env.BENCH_DEBUG) {
    perSecond.forEach((w, i) => {
      w.sort((a, b) => a - b)
      say(`second ${i}: n=${w.length} p50=${w[Math.floor(w.length / 2)]} p99=${w[Math.floor(w.length * 0.99)]} max=${w[w.length - 1]}`)
    })
  }
  latencies.sort((a, b) => a - b)
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? Number.NaN
  return { p50: q(0.5), p99: q(0.99), max: latencies[latencies.length - 1] ?? Number.NaN, achievedRate, rss, count: latencies.length }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-bench-'))
  try {
    say(`ceiling: draining ${N} preloaded QoS1 readings with an immediate ack`)
    const { rps: ceiling, cpu: ceilingCpu } = await measureCeiling()
    say(`gateway: draining ${N} preloaded QoS1 readings into Kafka`)
    const gateway = await measureGateway(dir)
    say(`naive: draining ${NAIVE_N} preloaded readings, one awaited producer.send per message`)
    const naive = await measureNaive()
    // Let the broker finish deleting the naive run's topic before timing latencies.
    await new Promise((r) => setTimeout(r, 3000))
    say(`latency: ${RATE}/s for ${SECONDS} s through the running gateway`)
    const latency = await measureLatency(dir)

    const result = {
      ceiling_rps: Math.round(ceiling),
      gateway_rps: Math.round(gateway.rps),
      naive_rps: Math.round(naive),
      gateway_vs_ceiling: Number((gateway.rps / ceiling).toFixed(2)),
      gateway_vs_naive: Number((gateway.rps / naive).toFixed(1)),
      latency_rate_rps: Math.round(latency.achievedRate),
      p50_ms: latency.p50,
      p99_ms: latency.p99,
      max_ms: latency.max,
      rss_mb: Math.round(Math.max(latency.rss, gateway.rss)),
      // CPU µs per reading while draining: the box has 2 cores, so these bound the rates.
      cpu_us_per_reading: {
        ceiling: { subscriber: ceilingCpu.consumer, mosquitto: ceilingCpu.mosquitto },
        gateway: { gateway: gateway.cpu.consumer, mosquitto: gateway.cpu.mosquitto, kafka: gateway.cpu.kafka },
      },
      n: N,
      naive_n: NAIVE_N,
      targets: {
        gateway_ge_0_7_ceiling: gateway.rps >= 0.7 * ceiling,
        gateway_ge_5_naive: gateway.rps >= 5 * naive,
        p99_le_250ms: latency.p99 <= 250,
      },
    }
    if (args.json) {
      process.stdout.write(`${JSON.stringify(result)}\n`)
    } else {
      const rows: [string, string, string][] = [
        ['ceiling_rps', String(result.ceiling_rps), 'mosquitto → mqtt.js QoS1, immediate ack'],
        ['gateway_rps', String(result.gateway_rps), `${result.gateway_vs_ceiling} × ceiling (target ≥ 0.7) ${result.targets.gateway_ge_0_7_ceiling ? 'ok' : 'MISSED'}`],
        ['naive_rps', String(result.naive_rps), `gateway is ${result.gateway_vs_naive} × naive (target ≥ 5) ${result.targets.gateway_ge_5_naive ? 'ok' : 'MISSED'}`],
        ['p50_ms', String(result.p50_ms), `publish → Kafka at ${result.latency_rate_rps}/s`],
        ['p99_ms', String(result.p99_ms), `target ≤ 250 ${result.targets.p99_le_250ms ? 'ok' : 'MISSED'}`],
        ['rss_mb', String(result.rss_mb), 'gateway process, peak'],
        ['cpu µs/rdg', `${gateway.cpu.consumer}`, `gateway (+ mosquitto ${gateway.cpu.mosquitto}, kafka ${gateway.cpu.kafka}); ceiling subscriber ${ceilingCpu.consumer} (+ mosquitto ${ceilingCpu.mosquitto})`],
      ]
      const w = Math.max(...rows.map((r) => r[1].length))
      process.stdout.write(`${rows.map(([k, v, note]) => `${k.padEnd(12)} ${v.padStart(w)}  ${note}`).join('\n')}\n`)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`[bench:ingest] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(1)
  },
)
