// The process lifecycle with a fake gateway and fake signals: readiness after start,
// STOPPING on the first signal, a forced exit on the second, one log line per crash, the
// stop deadline, the watchdog withheld while unhealthy, config errors as exit 2.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import type { Gateway } from './gateway.js'
import type { Notifier } from './lifecycle/notify.js'
import type { Log } from './log.js'
import { EXIT, runGateway } from './main.js'
import type { Health } from './service.js'

function configFile(extra = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-main-'))
  const file = join(dir, 'gateway.yaml')
  writeFileSync(
    file,
    `site: t\ndataDir: ${join(dir, 'data')}\nmqtt:\n  subscriptions:\n    - { filter: 'f/+/+/+', pattern: 'f/{line}/{machine}/{sensor}' }\n${extra}`,
  )
  return file
}

function recordingLog(): { log: Log; lines: { level: string; msg: string }[] } {
  const lines: { level: string; msg: string }[] = []
  const log = pino(
    { level: 'debug', formatters: { level: (label) => ({ level: label }) } },
    { write: (s: string) => void lines.push(JSON.parse(s) as { level: string; msg: string }) },
  )
  return { log, lines }
}

function recordingNotifier(watchdogMs?: number): Notifier & { sent: string[] } {
  const sent: string[] = []
  return {
    sent,
    enabled: true,
    watchdogMs,
    ready: (s) => void sent.push(`READY ${s ?? ''}`.trim()),
    watchdog: () => void sent.push('WATCHDOG'),
    stopping: () => void sent.push('STOPPING'),
    status: (s) => void sent.push(`STATUS ${s}`),
    close: () => void sent.push('CLOSE'),
  }
}

function fakeGateway(opts: { stopMs?: number; startError?: Error } = {}) {
  const calls: string[] = []
  const health: Record<string, Health> = { journal: { ok: true, detail: 'j' }, state: { ok: true, detail: 's' }, mqtt: { ok: true, detail: 'm' } }
  const gateway: Gateway = {
    registry: undefined as never,
    journal: () => undefined,
    async start() {
      calls.push('start')
      if (opts.startError) throw opts.startError
    },
    async stop() {
      calls.push('stop')
      await new Promise((r) => setTimeout(r, opts.stopMs ?? 0))
      calls.push('stopped')
    },
    health: () => health,
  }
  return { gateway, calls, health }
}

function harness(opts: { config?: string; watchdogMs?: number; stopMs?: number; startError?: Error } = {}) {
  const { log, lines } = recordingLog()
  const notifier = recordingNotifier(opts.watchdogMs)
  const gw = fakeGateway(opts)
  const exits: number[] = []
  let signal: (s: string) => void = () => undefined
  let crash: (kind: string, err: unknown) => void = () => undefined
  const run = runGateway({
    configFile: configFile(opts.config),
    env: {},
    log,
    notifier,
    createGateway: () => gw.gateway,
    onSignal: (h) => (signal = h),
    onCrash: (h) => (crash = h),
    exit: (code) => void exits.push(code),
  })
  const until = async (pred: () => boolean) => {
    for (let i = 0; i < 400 && !pred(); i++) await new Promise((r) => setTimeout(r, 5))
    expect(pred()).toBe(true)
  }
  return { run, lines, notifier, gw, exits, signal: (s: string) => signal(s), crash: (k: string, e: unknown) => crash(k, e), until }
}

describe('runGateway lifecycle', () => {
  it('says READY after every stage started, STOPPING on SIGTERM, stops the gateway and returns 0', async () => {
    const h = harness()
    await h.until(() => h.notifier.sent.some((s) => s.startsWith('READY')))
    expect(h.gw.calls).toEqual(['start'])
    expect(h.notifier.sent.find((s) => s.startsWith('READY'))).toBe('READY running: journal, state, mqtt')
    h.signal('SIGTERM')
    expect(await h.run).toBe(EXIT.ok)
    expect(h.gw.calls).toEqual(['start', 'stop', 'stopped'])
    expect(h.notifier.sent.indexOf('STOPPING')).toBeLessThan(h.notifier.sent.indexOf('CLOSE'))
    expect(h.exits).toEqual([])
    expect(h.lines.map((l) => l.msg)).toContain('stopped')
  })

  it('exits at once (130) on a second signal during the stop', async () => {
    const h = harness({ stopMs: 300 })
    await h.until(() => h.gw.calls.includes('start') && h.notifier.sent.some((s) => s.startsWith('READY')))
    h.signal('SIGTERM')
    await h.until(() => h.gw.calls.includes('stop'))
    h.signal('SIGINT')
    expect(h.exits).toEqual([EXIT.forced])
    expect(h.lines.some((l) => l.level === 'warn' && l.msg.startsWith('second signal'))).toBe(true)
    await h.run
  })

  it('logs a crash once and exits 1 once, however many errors follow', async () => {
    const h = harness()
    await h.until(() => h.notifier.sent.some((s) => s.startsWith('READY')))
    h.crash('uncaught exception', new Error('boom'))
    h.crash('unhandled rejection', new Error('boom again'))
    expect(h.exits).toEqual([EXIT.failure])
    const fatal = h.lines.filter((l) => l.level === 'fatal')
    expect(fatal).toHaveLength(1)
    expect(fatal[0]?.msg).toContain('uncaught exception')
    h.signal('SIGTERM')
    await h.run
  })

  it('returns 1 when a stage fails to start, after stopping what started', async () => {
    const h = harness({ startError: new Error('no broker') })
    expect(await h.run).toBe(EXIT.failure)
    expect(h.gw.calls).toEqual(['start', 'stop', 'stopped'])
    expect(h.notifier.sent.some((s) => s.startsWith('READY'))).toBe(false)
    expect(h.lines.some((l) => l.level === 'fatal' && l.msg === 'gateway failed to start')).toBe(true)
  })

  it('exits 1 when the stop passes lifecycle.stopTimeoutS', async () => {
    const h = harness({ config: 'lifecycle:\n  stopTimeoutS: 1\n', stopMs: 1500 })
    await h.until(() => h.notifier.sent.some((s) => s.startsWith('READY')))
    h.signal('SIGTERM')
    await h.until(() => h.exits.length > 0)
    expect(h.exits).toEqual([EXIT.failure])
    expect(h.lines.some((l) => l.level === 'error' && l.msg.startsWith('stop passed lifecycle.stopTimeoutS'))).toBe(true)
    await h.run
  })

  it('pings the watchdog while healthy, withholds it while the state database is not, and resumes', async () => {
    const h = harness({ watchdogMs: 40 })
    await h.until(() => h.notifier.sent.filter((s) => s === 'WATCHDOG').length >= 3)
    h.gw.health['state'] = { ok: false, detail: 'closed' }
    // A tick may be in flight; then no more pings.
    await new Promise((r) => setTimeout(r, 40))
    const before = h.notifier.sent.filter((s) => s === 'WATCHDOG').length
    await new Promise((r) => setTimeout(r, 150))
    expect(h.notifier.sent.filter((s) => s === 'WATCHDOG').length).toBe(before)
    expect(h.lines.filter((l) => l.msg.startsWith('unhealthy: not pinging'))).toHaveLength(1)
    h.gw.health['state'] = { ok: true, detail: 's' }
    await h.until(() => h.notifier.sent.filter((s) => s === 'WATCHDOG').length > before)
    expect(h.lines.some((l) => l.msg.startsWith('healthy again'))).toBe(true)
    h.signal('SIGTERM')
    await h.run
  })

  it('keeps pinging the watchdog through a broker outage (a restart would not fix it)', async () => {
    const h = harness({ watchdogMs: 40 })
    h.gw.health['mqtt'] = { ok: false, detail: 'broker unreachable' }
    await h.until(() => h.notifier.sent.filter((s) => s === 'WATCHDOG').length >= 3)
    h.signal('SIGTERM')
    await h.run
  })

  it('returns 2 with the problems on stderr for a broken config, starting nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-main-'))
    const file = join(dir, 'bad.yaml')
    writeFileSync(file, 'site: t\nmqtt: {}\nbogus: 1\n')
    let err = ''
    let created = false
    const code = await runGateway({
      configFile: file,
      env: {},
      stderr: { write: (s: string) => (err += s) },
      createGateway: () => ((created = true), fakeGateway().gateway),
      onSignal: () => undefined,
      onCrash: () => undefined,
      exit: () => undefined,
    })
    expect(code).toBe(EXIT.config)
    expect(created).toBe(false)
    expect(err).toContain('bogus')
  })
})
