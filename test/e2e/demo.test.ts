// `npm run demo` headless and short: the services it finds running stay running, the page
// answers while it runs, a shift and an incident narrative are written by the time it exits
// by itself (--until narratives), and nothing it started is left behind.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { freePort, repoRoot, services } from '../helpers/env.js'
import { createTeardown } from '../helpers/teardown.js'
import { waitFor } from '../helpers/wait-for.js'

const SERVICE_NAMES = ['mosquitto', 'kafka-local', 'kafka-central'] as const
const servicesScript = join(repoRoot, 'scripts', 'services')
const running = (name: string) => spawnSync(servicesScript, ['status', name], { cwd: repoRoot, stdio: 'ignore' }).status === 0

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('npm run demo', () => {
  const teardown = createTeardown()
  afterEach(() => teardown.run())

  it('runs the plant at accelerated time until a shift and an incident narrative exist, serves the page, and stops what it started', async () => {
    const before = SERVICE_NAMES.filter(running)
    const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-demo-'))
    teardown.add('temp dir', () => rmSync(dir, { recursive: true, force: true }))
    const dataDir = join(dir, 'data')
    const port = await freePort()
    // The addresses the tests use (same env vars as scripts/services); nothing else from SHIFTSCRIBE_*.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SHIFTSCRIBE_') || /^SHIFTSCRIBE_(SERVICES_DIR|CACHE_DIR|.*_PORT)$/.test(k)))
    delete env['SHIFTSCRIBE_HTTP_PORT']
    const startedAt = Date.now()
    const child = spawn(
      'npm',
      ['run', '--silent', 'demo', '--', '--minutes', '2', '--until', 'narratives', '--timeout', '200', '--http-port', String(port), '--data-dir', dataDir, '--runs-dir', join(dir, 'runs'), '--llm-threads', '1', '--no-build'],
      {
        cwd: repoRoot,
        env: {
          ...env,
          CI: 'true',
          SHIFTSCRIBE_MQTT_URL: services.mqttUrl,
          SHIFTSCRIBE_KAFKA_LOCAL_BROKERS: services.kafkaLocal.join(','),
          SHIFTSCRIBE_KAFKA_CENTRAL_BROKERS: services.kafkaCentral.join(','),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)))
    let done = false
    void exited.then(() => (done = true))
    teardown.add('demo', async () => {
      if (!done) {
        child.kill('SIGTERM')
        await exited
      }
    })

    // While it runs: the printed URL serves the overview page.
    const url = `http://127.0.0.1:${port}/`
    await waitFor(() => done || out.includes(url), { timeoutMs: 90_000, what: 'the demo to print the page URL' })
    expect(out, out).toContain(url)
    expect(out).toMatch(/answers — API token for this run: [0-9a-f]{36}/)
    const page = await waitFor(
      async () => {
        try {
          const res = await fetch(url)
          return res.status === 200 ? { status: res.status, html: await res.text() } : undefined
        } catch {
          return undefined
        }
      },
      { timeoutMs: 30_000, intervalMs: 500, what: 'GET / to answer 200' },
    )
    expect(page.status).toBe(200)
    expect(page.html).toContain('demo-plant')

    const code = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running after 230 s'), 230_000))])
    expect(code, out).toBe(0)
    const wallS = (Date.now() - startedAt) / 1000

    // Status lines from the gateway's API: event time, rate, anomalies, narratives, central, journal.
    const statusLines = out.split('\n').filter((l) => /^\[\s*\d+:\d\d\] event /.test(l))
    expect(statusLines.length, out).toBeGreaterThanOrEqual(2)
    const moving = statusLines.filter((l) => /\(\w+, \d+ %\) · [\d,]+ readings\/s · anomalies \d+\+? \(\d+ open\) · narratives \d+ shift, \d+ incident.* · central [\d,]+ · journal pending [\d,]+$/.test(l))
    expect(moving.length, statusLines.join('\n')).toBeGreaterThanOrEqual(1)
    expect(out).toContain('demo: a shift and an incident narrative are written; the page answered 200')
    expect(out).toMatch(/stopped by\s+--until narratives/)
    expect(out).toMatch(/readings\s+[\d,]+ received, .* 0 pending \(ledger balanced\)/)

    // What the gateway wrote, in its state database.
    const db = new Database(join(dataDir, 'state.db'), { readonly: true })
    teardown.add('state db', () => db.close())
    const kinds = Object.fromEntries(
      (db.prepare('SELECT kind, count(*) AS n FROM narratives GROUP BY kind').all() as { kind: string; n: number }[]).map((r) => [r.kind, r.n]),
    )
    expect(kinds['shift'] ?? 0, JSON.stringify(kinds)).toBeGreaterThanOrEqual(1)
    expect(kinds['incident'] ?? 0, JSON.stringify(kinds)).toBeGreaterThanOrEqual(1)
    const shift = db.prepare("SELECT id, site, headline FROM narratives WHERE kind = 'shift' LIMIT 1").get() as { id: string; site: string; headline: string }
    expect(shift.id).toMatch(/^shift\/\d{4}-\d\d-\d\d\/(early|late|night)$/)
    expect(shift.site).toBe('demo-plant')
    expect(shift.headline.length).toBeGreaterThan(0)
    // A clean start: only this run's plant (2 lines × 5 machines × 7 sensors) is in the fresh state database.
    expect((db.prepare('SELECT count(*) AS n FROM sensors').get() as { n: number }).n).toBe(70)
    expect((db.prepare('SELECT count(*) AS n FROM anomalies').get() as { n: number }).n).toBeGreaterThanOrEqual(1)
    expect((db.prepare('SELECT count(*) AS n FROM shifts').get() as { n: number }).n).toBeGreaterThanOrEqual(1)

    // Nothing it started is left: the gateway and simulator processes are gone; services that ran before still run.
    const gatewayPid = Number(/gateway starting \(pid (\d+)\)/.exec(out)?.[1])
    const simulatorPid = Number(/simulator \(pid (\d+)\)/.exec(out)?.[1])
    expect(gatewayPid).toBeGreaterThan(0)
    expect(simulatorPid).toBeGreaterThan(0)
    expect(alive(gatewayPid)).toBe(false)
    expect(alive(simulatorPid)).toBe(false)
    expect(out).toMatch(/gateway\s+exit 0/)
    for (const name of before) expect(running(name), `${name} was running before the demo`).toBe(true)
    expect(out).toContain('none started by the demo')
    // Its run folder holds the derived config, the logs and the truth.
    const runs = readdirSync(join(dir, 'runs')).filter((n) => /^\d{8}-\d{6}-[0-9a-f]{4}$/.test(n))
    expect(runs).toHaveLength(1)
    expect(readdirSync(join(dir, 'runs', runs[0] as string)).sort()).toEqual(expect.arrayContaining(['gateway.log', 'gateway.yaml', 'simulator.log', 'truth.jsonl']))
    process.stderr.write(`[demo.test] demo exited 0 after ${wallS.toFixed(0)} s\n`)
  }, 300_000)
})
