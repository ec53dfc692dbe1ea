import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { silentLogger } from '../log.js'
import { createNotifier, notifySocketPath, watchdogInterval, type DatagramSocket } from './notify.js'

function fakeSocket(fail?: Error) {
  const sent: { text: string; path: string }[] = []
  let closed = false
  const socket: DatagramSocket = {
    send(buf, offset, length, path, cb) {
      sent.push({ text: buf.subarray(offset, offset + length).toString(), path })
      cb?.(fail)
    },
    on: () => socket,
    close: () => void (closed = true),
  }
  return { socket, sent, closed: () => closed }
}

describe('systemd notify', () => {
  it('does nothing outside systemd (no NOTIFY_SOCKET)', () => {
    let created = 0
    const n = createNotifier({ env: {}, log: silentLogger(), createSocket: () => (created++, fakeSocket().socket) })
    n.ready()
    n.watchdog()
    n.stopping()
    expect(n.enabled).toBe(false)
    expect(created).toBe(0)
  })

  it('sends READY=1 with MAINPID, WATCHDOG=1, STATUS= on one line and STOPPING=1 to the socket', () => {
    const f = fakeSocket()
    const n = createNotifier({ env: { NOTIFY_SOCKET: '/run/systemd/notify' }, log: silentLogger(), pid: 4242, createSocket: () => f.socket })
    n.ready('running: mqtt,\npump')
    n.watchdog()
    n.status('journal\r\nfull')
    n.stopping()
    n.close()
    expect(f.sent.map((s) => s.text)).toEqual(['READY=1\nMAINPID=4242\nSTATUS=running: mqtt, pump', 'WATCHDOG=1', 'STATUS=journal full', 'STOPPING=1'])
    expect(f.sent.every((s) => s.path === '/run/systemd/notify')).toBe(true)
    expect(f.closed()).toBe(true)
  })

  it('maps an abstract socket name (@…) to the kernel form', () => {
    expect(notifySocketPath('@/org/freedesktop/systemd1/notify')).toBe('\0/org/freedesktop/systemd1/notify')
    expect(notifySocketPath('/run/systemd/notify')).toBe('/run/systemd/notify')
  })

  it('reads the watchdog interval from WATCHDOG_USEC, only for this pid', () => {
    expect(watchdogInterval({ WATCHDOG_USEC: '30000000' }, 7)).toBe(30_000)
    expect(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 7)).toBe(30_000)
    expect(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '8' }, 7)).toBeUndefined()
    expect(watchdogInterval({ WATCHDOG_USEC: 'x' }, 7)).toBeUndefined()
    expect(watchdogInterval({}, 7)).toBeUndefined()
  })

  it('warns once when the socket cannot be reached, and keeps going', () => {
    const warnings: string[] = []
    const log = pino({ level: 'warn' }, { write: (s: string) => void warnings.push((JSON.parse(s) as { msg: string }).msg) })
    const f = fakeSocket(new Error('ECONNREFUSED'))
    const n = createNotifier({ env: { NOTIFY_SOCKET: '/nowhere' }, log, createSocket: () => f.socket })
    n.ready()
    n.watchdog()
    n.watchdog()
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain('cannot notify systemd')
  })

  it('really sends a datagram over AF_UNIX with unix-dgram', async () => {
    const { createRequire } = await import('node:module')
    const require = createRequire(import.meta.url)
    const dgram = require('unix-dgram') as {
      createSocket(type: 'unix_dgram', listener: (msg: Buffer) => void): { bind(path: string): void; close(): void }
    }
    const name = `\0shiftscribe-notify-test-${process.pid}`
    const got: string[] = []
    const server = dgram.createSocket('unix_dgram', (msg) => got.push(msg.toString()))
    server.bind(name)
    const n = createNotifier({ env: { NOTIFY_SOCKET: `@${name.slice(1)}` }, log: silentLogger(), pid: 1 })
    n.ready()
    n.stopping()
    for (let i = 0; i < 100 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 10))
    n.close()
    server.close()
    expect(got).toEqual(['READY=1\nMAINPID=1', 'STOPPING=1'])
  })
})
