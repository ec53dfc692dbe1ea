import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runCli } from './run-cli.js'

function fakeIo(env: NodeJS.ProcessEnv = {}) {
  const out: string[] = []
  const err: string[] = []
  return {
    io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env, cwd: process.cwd() },
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  }
}

function configFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-cli-'))
  const file = join(dir, 'gateway.yaml')
  writeFileSync(file, text)
  return file
}

const VALID = `site: plant-a
mqtt:
  password: hunter2
  subscriptions:
    - filter: f/+/+/+
      pattern: f/{line}/{machine}/{sensor}
`

describe('shiftscribe CLI', () => {
  it('prints help with exit 0, and usage with exit 2 when no command is given', async () => {
    const a = fakeIo()
    expect(await runCli(['--help'], a.io)).toBe(0)
    expect(a.stdout()).toContain('config check <file>')
    const b = fakeIo()
    expect(await runCli([], b.io)).toBe(2)
  })

  it('rejects unknown commands with exit 2', async () => {
    const a = fakeIo()
    expect(await runCli(['frobnicate'], a.io)).toBe(2)
    expect(a.stderr()).toContain('unknown command "frobnicate"')
    const b = fakeIo()
    expect(await runCli(['config', 'check'], b.io)).toBe(2)
    expect(b.stderr()).toContain('exactly one file')
    const c = fakeIo()
    expect(await runCli(['config', 'check', 'x.yaml', '--bogus'], c.io)).toBe(2)
  })

  it('prints the version of shiftscribe and its pinned parts', async () => {
    const a = fakeIo()
    expect(await runCli(['version'], a.io)).toBe(0)
    expect(a.stdout()).toMatch(/^shiftscribe \d+\.\d+\.\d+\n/)
    expect(a.stdout()).toContain('kafkajs 2.2.4')
    expect(a.stdout()).toContain('node-llama-cpp 3.21.1')
  })

  it('config check: exit 0 and a one-line summary for a valid file', async () => {
    const a = fakeIo()
    expect(await runCli(['config', 'check', configFile(VALID)], a.io)).toBe(0)
    expect(a.stdout()).toMatch(/^ok: .*site plant-a \(UTC\), mqtt mqtt:\/\/127\.0\.0\.1:1883 \(1 subscription\)/)
    expect(a.stdout().split('\n').filter(Boolean)).toHaveLength(1)
  })

  it('config check: exit 2 with every problem and its path', async () => {
    const a = fakeIo()
    const file = configFile(VALID.replace('site: plant-a', 'site: "a b"').replace('{machine}', '{line}'))
    expect(await runCli(['config', 'check', file], a.io)).toBe(2)
    expect(a.stderr()).toContain('3 problems')
    expect(a.stderr()).toContain('site (line 1):')
    expect(a.stderr()).toContain('mqtt.subscriptions[0].pattern (line 6): "{line}" used twice')
  })

  it('config check: exit 2 for a missing file', async () => {
    const a = fakeIo()
    expect(await runCli(['config', 'check', '/nonexistent/gateway.yaml'], a.io)).toBe(2)
    expect(a.stderr()).toContain('no such file')
  })

  it('config check --print never shows secrets, from the file or the environment', async () => {
    const a = fakeIo({ SHIFTSCRIBE_MQTT_PASSWORD: 'env-secret-42' })
    expect(await runCli(['config', 'check', '--print', configFile(VALID)], a.io)).toBe(0)
    const everything = a.stdout() + a.stderr()
    expect(everything).toContain('password: (redacted)')
    expect(everything).not.toContain('hunter2')
    expect(everything).not.toContain('env-secret-42')
  })

  it('config check --print never shows the central SASL password, from the file or the environment', async () => {
    const central = `${VALID}kafka:
  central:
    enabled: true
    brokers: [central:9093]
    sasl:
      mechanism: scram-sha-512
      username: plant-a-edge
      password: file-central-secret
`
    for (const env of [{}, { SHIFTSCRIBE_KAFKA_CENTRAL_SASL_PASSWORD: 'env-central-secret-7' }]) {
      const a = fakeIo(env)
      expect(await runCli(['config', 'check', '--print', configFile(central)], a.io)).toBe(0)
      const everything = a.stdout() + a.stderr()
      expect(everything).toContain('username: plant-a-edge')
      expect(everything).not.toContain('file-central-secret')
      expect(everything).not.toContain('env-central-secret-7')
    }
  })
})
