// The built CLI (dist/, as installed) run as a process: exit codes and output.
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '../helpers/env.js'

const bin = join(repoRoot, 'dist', 'cli', 'index.js')
// Without the SHIFTSCRIBE_* overrides of the environment the tests run in.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SHIFTSCRIBE_')))

function shiftscribe(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: repoRoot, encoding: 'utf8', env })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe('shiftscribe (built CLI)', () => {
  it('--help and version', () => {
    const help = shiftscribe('--help')
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('config check <file>')
    const version = shiftscribe('version')
    expect(version.code).toBe(0)
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }
    expect(version.stdout.split('\n')[0]).toBe(`shiftscribe ${pkg.version}`)
  })

  it('config check accepts the shipped example (exit 0, one line)', () => {
    const r = shiftscribe('config', 'check', 'config/gateway.example.yaml')
    expect(r.stderr).not.toContain('problem')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^ok: config\/gateway\.example\.yaml — site plant-a \(Europe\/Berlin\)/)
    expect(r.stdout).toContain('stages journal → pump → state → outbox → llm → narrate → aggregate → http → mqtt')
  })

  it('config check rejects a broken copy of the example with exit 2 and path-named errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-e2e-'))
    const file = join(dir, 'broken.yaml')
    copyFileSync(join(repoRoot, 'config', 'gateway.example.yaml'), file)
    const broken = readFileSync(file, 'utf8')
      .replace('url: mqtt://127.0.0.1:1883', 'url: 127.0.0.1:1883')
      .replace('pattern: factory/{line}/{machine}/{sensor}', 'pattern: factory/{line}/{line}/{sensor}')
      .replace('  threads: 2', '  threads: "2"')
      .replace('  keepaliveS: 30', '  keepalive: 30')
    writeFileSync(file, broken)
    const r = shiftscribe('config', 'check', file)
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    for (const path of ['mqtt.url', 'mqtt.keepalive', 'mqtt.subscriptions[0].pattern', 'llm.threads']) {
      expect(r.stderr).toContain(`  - ${path} (line `)
    }
    expect(r.stderr).toContain('did you mean "keepaliveS"?')
  })
})
