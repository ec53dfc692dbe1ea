// The gateway run as systemd runs it (see systemd/shiftscribe.service): the built CLI with
// NOTIFY_SOCKET, WATCHDOG_USEC, STATE_DIRECTORY and CREDENTIALS_DIRECTORY set, the config
// naming ${STATE_DIRECTORY} and ${CREDENTIALS_DIRECTORY}. It says READY=1 and pings the
// watchdog; `shiftscribe status` reads it; SIGTERM while the simulator publishes at
// ≥ 5,000 readings/s gives STOPPING=1 and exit 0 well within TimeoutStopSec; after a restart
// every reading is in Kafka and the ledger balances.
import { execFile } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { runSimulation } from '../../src/simulate/run-simulation.js'
import { freePort, repoRoot, secureRandom, services } from '../helpers/env.js'
import { gatewayFixture, startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { dedupeReadings, readTopic } from '../helpers/kafka-reader.js'
import { createTeardown } from '../helpers/teardown.js'
import { waitFor } from '../helpers/wait-for.js'

const execFileAsync = promisify(execFile)
const CLI = join(repoRoot, 'dist', 'cli', 'index.js')
/** systemd/shiftscribe.service: TimeoutStopSec. */
const TIMEOUT_STOP_MS = 90_000
const teardown = createTeardown()
afterEach(() => teardown.run())

/** A notify socket like systemd's: an AF_UNIX datagram socket that records what it gets. */
function notifySocket(path: string): { messages: string[]; close(): void } {
  const require = createRequire(import.meta.url)
  const dgram = require('unix-dgram') as { createSocket(type: 'unix_dgram', listener: (msg: Buffer) => void): { bind(path: string): void; close(): void } }
  const messages: string[] = []
  const socket = dgram.createSocket('unix_dgram', (msg) => messages.push(msg.toString()))
  socket.bind(path)
  return { messages, close: () => socket.close() }
}

describe('lifecycle under systemd conditions (real gateway process, mosquitto, Kafka, model)', () => {
  it('notifies READY/WATCHDOG/STOPPING, answers status, stops cleanly on SIGTERM at ≥ 5,000 readings/s and loses nothing', async () => {
    const port = await freePort()
    const fixture = gatewayFixture({
      top: { dataDir: '${STATE_DIRECTORY}' },
      aggregate: { enabled: true },
      llm: { enabled: true, threads: 1 },
      narrate: { enabled: true },
      http: { enabled: true, host: '127.0.0.1', port, tokenFile: '${CREDENTIALS_DIRECTORY}/http-token' },
    })
    const stateDir = join(fixture.dir, 'state')
    const credentials = join(fixture.dir, 'credentials')
    mkdirSync(stateDir)
    mkdirSync(credentials, { mode: 0o700 })
    writeFileSync(join(credentials, 'http-token'), `${secureRandom()}${secureRandom()}\n`, { mode: 0o600 })
    const notify = notifySocket(join(fixture.dir, 'notify.sock'))
    teardown.add('close notify socket', () => notify.close())
    const env = {
      NOTIFY_SOCKET: join(fixture.dir, 'notify.sock'),
      WATCHDOG_USEC: '2000000',
      STATE_DIRECTORY: stateDir,
      CREDENTIALS_DIRECTORY: credentials,
    }
    const gateways: GatewayProcess[] = []
    teardown.add('stop gateways', async () => {
      for (const g of gateways) if (g.child.exitCode === null && g.child.signalCode === null) await g.term()
    })
    const start = async () => {
      const g = await startGateway(fixture, env)
      gateways.push(g)
      return g
    }

    const gw = await start()
    await waitFor(() => notify.messages.find((m) => m.startsWith('READY=1')), { what: 'READY=1' })
    expect(notify.messages.find((m) => m.startsWith('READY=1'))).toContain(`MAINPID=${gw.child.pid}`)
    await waitFor(() => notify.messages.filter((m) => m === 'WATCHDOG=1').length >= 2, { timeoutMs: 10_000, what: 'two watchdog pings' })

    const status = await execFileAsync(process.execPath, [CLI, 'status', '--config', fixture.configFile], { env: { ...process.env, ...env } })
    expect(status.stdout).toMatch(/stages ok/)
    expect(status.stdout).toMatch(/mqtt\s+ok/)

    const count = 60_000
    const sim = runSimulation({
      url: services.mqttUrl,
      prefix: fixture.prefix,
      count,
      ratePerS: 6_000,
      seed: 8,
      startTs: Date.now() - 3600_000,
      anomalies: { mode: 'count', count: 6 },
      progressIntervalMs: 60_000,
    })
    teardown.add('simulation', async () => void (await sim.catch(() => undefined)))
    await new Promise((r) => setTimeout(r, 4_000))
    const stopAt = Date.now()
    gw.child.kill('SIGTERM')
    const code = await gw.exited
    const stopMs = Date.now() - stopAt
    console.log(`[lifecycle] SIGTERM under load: exit ${code} after ${stopMs} ms`)
    expect(code).toBe(0)
    expect(stopMs).toBeLessThan(TIMEOUT_STOP_MS)
    expect(notify.messages).toContain('STOPPING=1\nSTATUS=stopping (SIGTERM)')
    expect(gw.output()).toContain('"msg":"stopped"')
    expect(gw.output()).not.toContain('"level":"fatal"')

    // Restarted, as Restart= or an operator would: the broker kept what was not acked.
    await start()
    const done = await sim
    expect(done.published).toBe(count)
    expect(done.ratePerS).toBeGreaterThanOrEqual(5_000)
    const reader = await readTopic(fixture.topics.readings)
    teardown.add('close reader', () => reader.close())
    await reader.settle((m) => dedupeReadings(m).distinct.size >= done.good, { timeoutMs: 180_000, quietMs: 15_000 })
    const { distinct, duplicates } = dedupeReadings(reader.messages)
    console.log(`[lifecycle] ${distinct.size} distinct readings of ${done.good}, ${duplicates} duplicates`)
    expect(distinct.size).toBe(done.good)
    const ledger = async () =>
      JSON.parse((await execFileAsync(process.execPath, [CLI, 'ledger', '--config', fixture.configFile, '--json'], { env: { ...process.env, ...env } })).stdout) as {
        pending: number
        balanced: boolean
        received: number
      }
    await waitFor(async () => (await ledger()).pending === 0, { intervalMs: 500, what: 'journal drained' })
    expect(await ledger()).toMatchObject({ balanced: true, pending: 0 })
  })
})
