// Runs the built CLI (`node dist/cli/index.js start`) as a real process with a temp config:
// unique MQTT client id, unique Kafka topics, its own data dir.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { repoRoot, secureRandom, services } from './env.js'
import { waitFor } from './wait-for.js'

export interface GatewayFixture {
  id: string
  dir: string
  configFile: string
  topics: { readings: string; quarantine: string; anomalies: string; kpis: string; narratives: string; questions: string; answers: string }
  centralTopics: { summaries: string; anomalies: string; kpis: string; questions: string; answers: string }
  site: string
  prefix: string
}

/** Writes a config for one test; `overrides` are merged section by section (one level deep). */
export function gatewayFixture(overrides: Record<string, Record<string, unknown>> = {}): GatewayFixture {
  const id = secureRandom()
  const dir = mkdtempSync(join(tmpdir(), `shiftscribe-gw-${id}-`))
  const prefix = `factory-${id}`
  const topics = {
    readings: `test.${id}.readings`,
    quarantine: `test.${id}.quarantine`,
    anomalies: `test.${id}.anomalies`,
    kpis: `test.${id}.kpis`,
    narratives: `test.${id}.narratives`,
    questions: `test.${id}.questions`,
    answers: `test.${id}.answers`,
  }
  const centralTopics = {
    summaries: `central.${id}.summaries`,
    anomalies: `central.${id}.anomalies`,
    kpis: `central.${id}.kpis`,
    questions: `central.${id}.questions`,
    answers: `central.${id}.answers`,
  }
  const site = 'test-site'
  const config = {
    site,
    dataDir: join(dir, 'data'),
    log: { level: 'info' },
    mqtt: {
      url: services.mqttUrl,
      clientId: `gw-${id}`,
      reconnectMinMs: 200,
      reconnectMaxMs: 2000,
      subscriptions: [
        { filter: `${prefix}/+/+/+`, pattern: `${prefix}/{line}/{machine}/{sensor}`, format: 'json' },
        { filter: `${prefix}-num/+/+/+`, pattern: `${prefix}-num/{line}/{machine}/{sensor}`, format: 'number' },
      ],
      ...overrides.mqtt,
    },
    kafka: {
      local: { brokers: services.kafkaLocal, topics, partitions: 3, ...overrides.kafkaLocal },
      ...(overrides.kafkaCentral ? { central: { topics: centralTopics, ...overrides.kafkaCentral } } : {}),
    },
    ...(overrides.forward ? { forward: overrides.forward } : {}),
    pump: { retryMinMs: 200, retryMaxMs: 2000, ...overrides.pump },
    journal: { ...overrides.journal },
    aggregate: { enabled: false, ...overrides.aggregate },
    ...(overrides.shifts ? { shifts: overrides.shifts } : {}),
    ...(overrides.top ?? {}),
    llm: { enabled: false, ...overrides.llm },
    ...(overrides.narrate ? { narrate: overrides.narrate } : {}),
    http: { enabled: false, ...overrides.http },
  }
  const configFile = join(dir, 'gateway.yaml')
  writeFileSync(configFile, stringify(config))
  return { id, dir, configFile, topics, centralTopics, site, prefix }
}

export interface GatewayProcess {
  child: ChildProcess
  output: () => string
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>
  kill9(): Promise<void>
  term(): Promise<number | string>
}

const CLI = join(repoRoot, 'dist', 'cli', 'index.js')

export async function startGateway(fixture: GatewayFixture, env: NodeJS.ProcessEnv = {}): Promise<GatewayProcess> {
  const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SHIFTSCRIBE_')))
  const child = spawn(process.execPath, [CLI, 'start', '--config', fixture.configFile], {
    cwd: repoRoot,
    env: { ...cleanEnv, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)))
  let done = false
  void exited.then(() => (done = true))
  // Ready: subscribed (or resuming its session) and its topics created (the pump's producer is up).
  await waitFor(() => done || ((out.includes('"subscribed (QoS1)"') || out.includes('"sessionPresent":true')) && out.includes('Kafka producer ready')), {
    timeoutMs: 30_000,
    what: 'gateway to subscribe and create its topics',
  })
  if (done) throw new Error(`gateway exited during start:\n${out}`)
  return {
    child,
    output: () => out,
    exited,
    async kill9() {
      child.kill('SIGKILL')
      await exited
    },
    async term() {
      child.kill('SIGTERM')
      return exited
    },
  }
}
