// The systemd side of an install: both units pass `systemd-analyze verify` (a misspelt
// directive or a missing program does not), the gateway's sandbox scores ≤ 2.0 on
// `systemd-analyze security`, install.sh puts everything in place below a temp root and
// changes nothing when run again, the mosquitto drop-in really raises the queue limit, and
// uninstall.sh removes the install but keeps config and data unless --purge.
// systemd need not be running: verify and security work on files (--root, --offline).
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { appendFileSync, chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import mqtt from 'mqtt'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { freePort, repoRoot } from '../helpers/env.js'
import { createTeardown } from '../helpers/teardown.js'
import { waitFor } from '../helpers/wait-for.js'

const UNITS_DIR = join(repoRoot, 'systemd')
const INSTALL = join(UNITS_DIR, 'install.sh')
const UNINSTALL = join(UNITS_DIR, 'uninstall.sh')

interface RunResult {
  status: number | null
  stdout: string
  stderr: string
}

function run(cmd: string, args: string[], options: { cwd?: string } = {}): RunResult {
  const result = spawnSync(cmd, args, { cwd: options.cwd ?? repoRoot, encoding: 'utf8', env: { ...process.env, DESTDIR: '' } })
  if (result.error) throw result.error
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

function exposure(unitFile: string): number {
  const { status, stdout, stderr } = run('systemd-analyze', ['security', '--offline=true', '--no-pager', unitFile])
  const match = /Overall exposure level for \S+: (\d+(?:\.\d+)?) /.exec(stdout)
  if (match?.[1] === undefined) throw new Error(`no exposure level in systemd-analyze output (exit ${String(status)}):\n${stdout}\n${stderr}`)
  return Number(match[1])
}

/** Every path below dir with type, mode, size, mtime and (files) sha256: equal means untouched. */
function snapshot(dir: string): string[] {
  const lines: string[] = []
  const walk = (path: string): void => {
    const st = lstatSync(path)
    const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'
    const hash = kind === 'f' ? createHash('sha256').update(readFileSync(path)).digest('hex') : ''
    lines.push(`${relative(dir, path) || '.'} ${kind} ${(st.mode & 0o7777).toString(8)} ${st.size} ${st.mtimeMs} ${hash}`)
    if (kind === 'd') for (const name of readdirSync(path).sort()) walk(join(path, name))
  }
  walk(dir)
  return lines
}

function mode(path: string): string {
  return (statSync(path).mode & 0o777).toString(8)
}

describe('unit files', () => {
  it('shiftscribe.service passes systemd-analyze verify with no output at all', () => {
    // ExecStart is /usr/bin/node, which exists here, so the file verifies in place. (The Kafka
    // unit's helper only exists once installed: it is verified below the install root.)
    const result = run('systemd-analyze', ['verify', join(UNITS_DIR, 'shiftscribe.service')])
    expect(result.stderr).toBe('')
    expect(result.stdout).toBe('')
    expect(result.status).toBe(0)
  })

  it('the gateway scores ≤ 2.0 and Kafka ≤ 2.0 on systemd-analyze security; an unsandboxed unit does not', () => {
    const gateway = exposure(join(UNITS_DIR, 'shiftscribe.service'))
    const kafka = exposure(join(UNITS_DIR, 'shiftscribe-kafka.service'))
    process.stderr.write(`[systemd] overall exposure: shiftscribe.service ${gateway}, shiftscribe-kafka.service ${kafka}\n`)
    expect(gateway).toBeLessThanOrEqual(2.0)
    expect(kafka).toBeLessThanOrEqual(2.0)

    // The parser reads a real score: the same ExecStart without the sandbox is exposed.
    const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-unit-'))
    try {
      const bare = join(dir, 'bare.service')
      writeFileSync(bare, '[Service]\nType=notify\nExecStart=/usr/bin/node /opt/shiftscribe/dist/cli/index.js start\n')
      expect(exposure(bare)).toBeGreaterThan(5)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('keeps what node and the JVM need: no MemoryDenyWriteExecute, the notify socket reachable', () => {
    for (const name of ['shiftscribe.service', 'shiftscribe-kafka.service']) {
      const text = readFileSync(join(UNITS_DIR, name), 'utf8')
      // V8's and the JVM's JIT compilers need writable+executable memory.
      expect(text).not.toMatch(/^MemoryDenyWriteExecute=(yes|true|1)/m)
      expect(text).toMatch(/^RestrictAddressFamilies=.*\bAF_UNIX\b/m)
    }
    const gateway = readFileSync(join(UNITS_DIR, 'shiftscribe.service'), 'utf8')
    expect(gateway).toMatch(/^Type=notify$/m)
    expect(gateway).toMatch(/^NotifyAccess=main$/m)
    expect(gateway).toMatch(/^WatchdogSec=30s$/m)
    // The gateway's own stop deadline (lifecycle.stopTimeoutS, 60 s) must end before SIGKILL.
    expect(gateway).toMatch(/^TimeoutStopSec=90s$/m)
    // Exit 2 is a configuration error: restarting would only loop.
    expect(gateway).toMatch(/^RestartPreventExitStatus=2$/m)
  })
})

describe('install.sh and uninstall.sh below a temp root', () => {
  let root = ''
  let firstRun: RunResult = { status: null, stdout: '', stderr: '' }
  const teardown = createTeardown()
  afterEach(() => teardown.run())

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'shiftscribe-root-'))
    // What the target box has before the install: Debian's mosquitto (its conf.d), systemd's
    // own units (verify --root resolves sysinit.target & co. there), and node and java at the
    // paths the units run (wrappers around this machine's).
    mkdirSync(join(root, 'etc/mosquitto/conf.d'), { recursive: true })
    mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true })
    cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true })
    mkdirSync(join(root, 'usr/bin'), { recursive: true })
    for (const tool of ['node', 'java']) {
      writeFileSync(join(root, 'usr/bin', tool), `#!/bin/sh\nexec /usr/bin/${tool} "$@"\n`)
      chmodSync(join(root, 'usr/bin', tool), 0o755)
    }
    // dist/ is built by the test command before vitest runs; --no-build never runs npm.
    firstRun = run(INSTALL, ['--root', root, '--no-build'])
  })

  afterAll(() => {
    if (root !== '') rmSync(root, { recursive: true, force: true })
  })

  it('installs the app, the units, the config, a generated token and the mosquitto drop-in', () => {
    expect(firstRun.stderr).not.toMatch(/error/i)
    expect(firstRun.status).toBe(0)
    const opt = join(root, 'opt/shiftscribe')
    expect(readFileSync(join(opt, 'dist/cli/index.js'), 'utf8')).toBe(readFileSync(join(repoRoot, 'dist/cli/index.js'), 'utf8'))
    // Production dependencies only, with the native addons.
    expect(existsSync(join(opt, 'node_modules/better-sqlite3/package.json'))).toBe(true)
    expect(existsSync(join(opt, 'node_modules/node-llama-cpp/package.json'))).toBe(true)
    expect(existsSync(join(opt, 'node_modules/vitest'))).toBe(false)
    expect(existsSync(join(opt, 'node_modules/typescript'))).toBe(false)
    expect(readdirSync(join(opt, 'models')).filter((f) => f.endsWith('.gguf')).sort()).toEqual(
      readdirSync(join(repoRoot, 'models')).filter((f) => f.endsWith('.gguf')).sort(),
    )
    expect(readdirSync(join(opt, 'kafka/libs')).some((f) => /^kafka_2\.13-[\d.]+\.jar$/.test(f))).toBe(true)
    expect(mode(join(opt, 'kafka/bin/kafka-helper'))).toBe('755')

    for (const unit of ['shiftscribe.service', 'shiftscribe-kafka.service']) {
      expect(readFileSync(join(root, 'etc/systemd/system', unit), 'utf8')).toBe(readFileSync(join(UNITS_DIR, unit), 'utf8'))
    }
    const config = readFileSync(join(root, 'etc/shiftscribe/gateway.yaml'), 'utf8')
    expect(config).toMatch(/^dataDir: \/var\/lib\/shiftscribe$/m)
    expect(config).toMatch(/^ {2}tokenFile: \/run\/credentials\/shiftscribe\.service\/http-token$/m)
    // install.sh checked the installed config with the installed code.
    expect(firstRun.stdout).toContain(`ok: ${join(root, 'etc/shiftscribe/gateway.yaml')}`)
    expect(readFileSync(join(root, 'etc/shiftscribe/kafka/server.properties'), 'utf8')).toMatch(/^log\.dirs=\/var\/lib\/shiftscribe-kafka\/data$/m)

    const credentials = join(root, 'etc/shiftscribe/credentials')
    expect(mode(credentials)).toBe('700')
    expect(mode(join(credentials, 'http-token'))).toBe('600')
    expect(readFileSync(join(credentials, 'http-token'), 'utf8')).toMatch(/^[0-9a-f]{48}\n$/)
    expect(readFileSync(join(root, 'etc/mosquitto/conf.d/shiftscribe.conf'), 'utf8')).toBe(
      readFileSync(join(UNITS_DIR, 'mosquitto/shiftscribe.conf'), 'utf8'),
    )
    // Below --root it never calls systemctl; it says what the target should run.
    expect(firstRun.stdout).toContain('would run: systemctl enable --now shiftscribe-kafka.service shiftscribe.service')
  })

  it('both installed units pass systemd-analyze verify --root; misspelt directives and a missing program do not', () => {
    const clean = run('systemd-analyze', ['verify', `--root=${root}`, 'shiftscribe.service', 'shiftscribe-kafka.service'])
    expect(clean.stderr).toBe('')
    expect(clean.stdout).toBe('')
    expect(clean.status).toBe(0)

    const unitDir = join(root, 'etc/systemd/system')
    const gateway = readFileSync(join(unitDir, 'shiftscribe.service'), 'utf8')
    const kafka = readFileSync(join(unitDir, 'shiftscribe-kafka.service'), 'utf8')
    writeFileSync(join(unitDir, 'broken-gateway.service'), gateway.replace(/^ProtectSystem=strict$/m, 'ProtectSytem=strict').replace(/^Restart=on-failure$/m, 'Restart=on-failur'))
    writeFileSync(join(unitDir, 'broken-kafka.service'), kafka.replace(/^ExecStartPre=\/opt\/shiftscribe\/kafka\/bin\/kafka-helper /m, 'ExecStartPre=/opt/shiftscribe/kafka/bin/kafka-helpr '))
    teardown.add('remove broken units', () => {
      rmSync(join(unitDir, 'broken-gateway.service'))
      rmSync(join(unitDir, 'broken-kafka.service'))
    })
    const broken = run('systemd-analyze', ['verify', `--root=${root}`, 'broken-gateway.service', 'broken-kafka.service'])
    expect(broken.stderr).toContain("Unknown key 'ProtectSytem' in section [Service]")
    expect(broken.stderr).toContain('Failed to parse service restart specifier, ignoring: on-failur')
    expect(broken.stderr).toContain('Command /opt/shiftscribe/kafka/bin/kafka-helpr is not executable')
  })

  it('a second run changes nothing, and keeps an edited config', () => {
    const config = join(root, 'etc/shiftscribe/gateway.yaml')
    appendFileSync(config, '# edited by the plant\n')
    const before = snapshot(root)
    const again = run(INSTALL, ['--root', root, '--no-build'])
    expect(again.status).toBe(0)
    expect(snapshot(root)).toEqual(before)
    const itemLines = again.stdout.split('\n').filter((l) => /^(unchanged|kept|installed|updated|created) /.test(l))
    expect(itemLines.filter((l) => !/^(unchanged|kept) /.test(l))).toEqual([])
    expect(itemLines).toContain('kept       /etc/shiftscribe/gateway.yaml (exists; never overwritten)')
    expect(itemLines).toContain('unchanged  /opt/shiftscribe/node_modules/')
    expect(itemLines.length).toBeGreaterThanOrEqual(15)
    expect(readFileSync(config, 'utf8')).toMatch(/# edited by the plant\n$/)
  })

  it("the mosquitto drop-in loads into Debian's mosquitto and queues more than the default 1,000 messages", async () => {
    // Debian's main file, pointed at a temp dir, including the installed drop-in with its
    // listener moved to a free port.
    const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-mosquitto-'))
    teardown.add('rm mosquitto dir', () => rmSync(dir, { recursive: true, force: true }))
    const port = await freePort()
    mkdirSync(join(dir, 'conf.d'))
    const dropIn = readFileSync(join(root, 'etc/mosquitto/conf.d/shiftscribe.conf'), 'utf8')
    expect(dropIn).toMatch(/^listener 1883 127\.0\.0\.1$/m)
    writeFileSync(join(dir, 'conf.d/shiftscribe.conf'), dropIn.replace(/^listener 1883 127\.0\.0\.1$/m, `listener ${port} 127.0.0.1`))
    const user = process.getuid?.() === 0 ? 'root' : (process.env['USER'] ?? 'root')
    writeFileSync(
      join(dir, 'mosquitto.conf'),
      `pid_file ${dir}/mosquitto.pid\npersistence true\npersistence_location ${dir}/\nlog_dest stderr\nuser ${user}\ninclude_dir ${dir}/conf.d\n`,
    )
    const broker = spawn('/usr/sbin/mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] })
    let log = ''
    broker.stdout.on('data', (b: Buffer) => (log += b.toString()))
    broker.stderr.on('data', (b: Buffer) => (log += b.toString()))
    // It saves its database on the way out: wait for that before the dir is removed.
    teardown.add('stop mosquitto', async () => {
      if (broker.exitCode !== null || broker.signalCode !== null) return
      const exited = new Promise((resolve) => broker.once('exit', resolve))
      broker.kill('SIGTERM')
      await exited
    })
    await waitFor(() => log.includes('running') || broker.exitCode !== null, { what: 'mosquitto to start' })
    expect(broker.exitCode, log).toBeNull()

    const url = `mqtt://127.0.0.1:${port}`
    const options = { protocolVersion: 5 as const, reconnectPeriod: 0, properties: { sessionExpiryInterval: 300 } }
    const first = await mqtt.connectAsync(url, { ...options, clientId: 'gateway', clean: false })
    await first.subscribeAsync('factory/#', { qos: 1 })
    await first.endAsync()
    const pub = await mqtt.connectAsync(url, { ...options, clientId: 'sensor', clean: true })
    teardown.add('end publisher', () => pub.endAsync(true))
    const total = 3000
    await Promise.all(Array.from({ length: total }, (_, i) => pub.publishAsync(`factory/l1/m1/s${i % 5}`, String(i), { qos: 1 })))

    const seen = new Set<number>()
    const again = mqtt.connect(url, { ...options, clientId: 'gateway', clean: false })
    teardown.add('end subscriber', () => again.endAsync(true))
    again.on('message', (_topic, payload) => seen.add(Number(payload.toString())))
    // Done when all arrived or nothing new came for 3 s (the default limit drops the rest
    // silently, so waiting longer would only turn a clear count into a timeout).
    let lastSize = -1
    let lastChange = Date.now()
    await waitFor(
      () => {
        if (seen.size !== lastSize) [lastSize, lastChange] = [seen.size, Date.now()]
        return seen.size >= total || Date.now() - lastChange > 3000
      },
      { what: 'the queued messages after the reconnect', timeoutMs: 60_000 },
    )
    expect(seen.size).toBe(total)
  })

  it('uninstall.sh removes the install, keeps config and data; --purge removes those too', () => {
    // What the services would have written (DynamicUser keeps it below /var/lib/private).
    for (const name of ['shiftscribe', 'shiftscribe-kafka']) {
      mkdirSync(join(root, 'var/lib/private', name), { recursive: true })
      writeFileSync(join(root, 'var/lib/private', name, 'data'), 'state\n')
    }
    const removed = run(UNINSTALL, ['--root', root])
    expect(removed.status).toBe(0)
    expect(existsSync(join(root, 'opt/shiftscribe'))).toBe(false)
    expect(existsSync(join(root, 'etc/systemd/system/shiftscribe.service'))).toBe(false)
    expect(existsSync(join(root, 'etc/systemd/system/shiftscribe-kafka.service'))).toBe(false)
    expect(existsSync(join(root, 'etc/mosquitto/conf.d/shiftscribe.conf'))).toBe(false)
    expect(readFileSync(join(root, 'etc/shiftscribe/gateway.yaml'), 'utf8')).toMatch(/# edited by the plant\n$/)
    expect(existsSync(join(root, 'etc/shiftscribe/credentials/http-token'))).toBe(true)
    expect(readFileSync(join(root, 'var/lib/private/shiftscribe/data'), 'utf8')).toBe('state\n')
    expect(removed.stdout).toContain('would run: systemctl disable --now shiftscribe.service shiftscribe-kafka.service')

    const twice = run(UNINSTALL, ['--root', root])
    expect(twice.status).toBe(0)
    expect(twice.stdout).toContain('absent     /opt/shiftscribe')

    const purged = run(UNINSTALL, ['--root', root, '--purge'])
    expect(purged.status).toBe(0)
    expect(existsSync(join(root, 'etc/shiftscribe'))).toBe(false)
    expect(existsSync(join(root, 'var/lib/private/shiftscribe'))).toBe(false)
    expect(existsSync(join(root, 'var/lib/private/shiftscribe-kafka'))).toBe(false)
    // Debian's own files are not the install's.
    expect(existsSync(join(root, 'etc/mosquitto/conf.d'))).toBe(true)
  })
})
