import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { statusCommand, statusUrl } from './status-command.js'

function io() {
  const out = { stdout: '', stderr: '' }
  return { out, io: { stdout: { write: (s: string) => (out.stdout += s) }, stderr: { write: (s: string) => (out.stderr += s) }, env: {}, cwd: '/' } }
}

const view = (mqttOk: boolean) => ({
  site: 'plant-a',
  generatedAt: 0,
  health: { journal: { ok: true, detail: '/var/lib/shiftscribe/journal.db' }, pump: { ok: true, detail: 'sending' }, mqtt: { ok: mqttOk, detail: mqttOk ? 'connected' : 'broker unreachable' } },
  ledger: { received: 1200, journaled: 1190, quarantined: 10, delivered: 1100, pending: 90, dropped: 0 },
  ingestPerS: 41.5,
  metrics: [
    { name: 'shiftscribe_aggregate_lag_messages', values: [{ labels: {}, value: 12 }] },
    { name: 'shiftscribe_forward_lag_messages', values: [{ labels: { source: 'narratives' }, value: 2 }, { labels: { source: 'kpis' }, value: 3 }] },
  ],
})

function fakeFetch(body: unknown, seen: string[] = []): typeof fetch {
  return (async (url: string) => {
    seen.push(url)
    return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } })
  }) as unknown as typeof fetch
}

describe('shiftscribe status', () => {
  it('prints stages, ledger and lags, exit 0 when every stage is ok', async () => {
    const { out, io: cli } = io()
    const seen: string[] = []
    expect(await statusCommand(['--url', 'http://10.0.0.5:8080/'], cli, fakeFetch(view(true), seen))).toBe(0)
    expect(seen).toEqual(['http://10.0.0.5:8080/api/system'])
    expect(out.stdout).toContain('shiftscribe plant-a at http://10.0.0.5:8080: all 3 stages ok')
    expect(out.stdout).toMatch(/mqtt\s+ok\s+connected/)
    expect(out.stdout).toContain('received 1,200  journaled 1,190  quarantined 10  delivered 1,100  pending 90  dropped 0')
    expect(out.stdout).toContain('ingest 41.5/s')
    expect(out.stdout).toContain('aggregate lag 12 messages')
    expect(out.stdout).toContain('forward lag 5 messages')
  })

  it('exit 1 and NOT OK when a stage is not ok; --json passes the view through', async () => {
    const { out, io: cli } = io()
    expect(await statusCommand(['--url', 'http://h:1', '--json'], cli, fakeFetch(view(false)))).toBe(1)
    expect(JSON.parse(out.stdout)).toMatchObject({ site: 'plant-a', health: { mqtt: { ok: false } } })
    const text = io()
    expect(await statusCommand(['--url', 'http://h:1'], text.io, fakeFetch(view(false)))).toBe(1)
    expect(text.out.stdout).toContain('1 of 3 stages NOT ok')
  })

  it('says clearly when the gateway does not answer', async () => {
    const { out, io: cli } = io()
    const refused = (async () => {
      throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:9') })
    }) as unknown as typeof fetch
    expect(await statusCommand(['--url', 'http://127.0.0.1:9'], cli, refused)).toBe(1)
    expect(out.stderr).toContain('no answer from http://127.0.0.1:9/api/system (connect ECONNREFUSED 127.0.0.1:9); is the gateway running?')
  })

  it('finds the page server from the config (wildcard bind → loopback), and needs --config or --url', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-status-'))
    const file = join(dir, 'g.yaml')
    writeFileSync(file, "site: a\nmqtt:\n  subscriptions:\n    - { filter: 'f/+/+/+', pattern: 'f/{line}/{machine}/{sensor}' }\nhttp:\n  host: 0.0.0.0\n  port: 8099\n")
    const seen: string[] = []
    expect(await statusCommand(['--config', file], io().io, fakeFetch(view(true), seen))).toBe(0)
    expect(seen).toEqual(['http://127.0.0.1:8099/api/system'])
    const none = io()
    expect(await statusCommand([], none.io, fakeFetch(view(true)))).toBe(2)
    expect(none.out.stderr).toContain('--config <file> or --url is required')
    expect(statusUrl('::', 80)).toBe('http://[::1]:80')
    expect(statusUrl('fe80::1', 80)).toBe('http://[fe80::1]:80')
  })
})
