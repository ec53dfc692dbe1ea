// systemd's notify protocol (sd_notify(3)): with `Type=notify` the service tells systemd
// READY=1 when it serves, WATCHDOG=1 while it is alive, STOPPING=1 when it stops, and a
// one-line STATUS=. Messages are datagrams to the AF_UNIX socket in $NOTIFY_SOCKET, sent
// from the main process itself (NotifyAccess=main). Node has no AF_UNIX datagram sockets,
// so the small native `unix-dgram` addon sends them. Outside systemd (no NOTIFY_SOCKET)
// every call is a no-op.
import { createRequire } from 'node:module'
import type { Log } from '../log.js'

export interface Notifier {
  /** True when $NOTIFY_SOCKET is set (we run under systemd with Type=notify). */
  readonly enabled: boolean
  /** The watchdog interval systemd expects pings within (WatchdogSec=), or undefined. */
  readonly watchdogMs: number | undefined
  ready(status?: string): void
  watchdog(): void
  stopping(status?: string): void
  status(text: string): void
  close(): void
}

/** What the notifier needs from unix-dgram; tests inject a fake. */
export interface DatagramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, callback?: (err?: Error) => void): void
  on(event: 'error', listener: (err: Error) => void): unknown
  close(): void
}

export interface NotifierOptions {
  env: NodeJS.ProcessEnv
  log: Log
  pid?: number
  createSocket?: () => DatagramSocket
}

/** The socket path as the kernel wants it: a leading '@' is Linux's abstract namespace. */
export function notifySocketPath(value: string): string {
  return value.startsWith('@') ? `\0${value.slice(1)}` : value
}

/** sd_watchdog_enabled(3): WATCHDOG_USEC, and WATCHDOG_PID when set must be this process. */
export function watchdogInterval(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = Number(env['WATCHDOG_USEC'])
  if (!Number.isFinite(usec) || usec <= 0) return undefined
  const forPid = env['WATCHDOG_PID']
  if (forPid !== undefined && forPid !== '' && Number(forPid) !== pid) return undefined
  return Math.max(1, Math.floor(usec / 1000))
}

function loadUnixDgram(): () => DatagramSocket {
  const require = createRequire(import.meta.url)
  const mod = require('unix-dgram') as { createSocket(type: 'unix_dgram'): DatagramSocket }
  return () => mod.createSocket('unix_dgram')
}

/** One line, no newlines: STATUS= is shown by `systemctl status`. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 200)
}

export function createNotifier(options: NotifierOptions): Notifier {
  const { env } = options
  const log = options.log.child({ stage: 'systemd' })
  const pid = options.pid ?? process.pid
  const raw = env['NOTIFY_SOCKET']
  const watchdogMs = watchdogInterval(env, pid)
  if (raw === undefined || raw === '') {
    return { enabled: false, watchdogMs: undefined, ready() {}, watchdog() {}, stopping() {}, status() {}, close() {} }
  }
  const path = notifySocketPath(raw)
  let socket: DatagramSocket | undefined
  let failedOnce = false
  try {
    socket = (options.createSocket ?? loadUnixDgram())()
    socket.on('error', (err) => warnOnce(err))
  } catch (err) {
    warnOnce(err)
  }

  function warnOnce(err: unknown): void {
    if (failedOnce) return
    failedOnce = true
    log.warn(
      { err: err instanceof Error ? err.message : String(err), socket: raw },
      'cannot notify systemd (readiness/watchdog); with Type=notify systemd will time the start out',
    )
  }

  function send(message: string): void {
    if (socket === undefined) return
    const buf = Buffer.from(message)
    try {
      socket.send(buf, 0, buf.length, path, (err) => {
        if (err) warnOnce(err)
      })
    } catch (err) {
      warnOnce(err)
    }
  }

  return {
    enabled: true,
    watchdogMs,
    ready(status) {
      send(status === undefined ? `READY=1\nMAINPID=${pid}` : `READY=1\nMAINPID=${pid}\nSTATUS=${oneLine(status)}`)
      log.info({ watchdogMs }, 'told systemd: ready')
    },
    watchdog() {
      send('WATCHDOG=1')
    },
    stopping(status) {
      send(status === undefined ? 'STOPPING=1' : `STOPPING=1\nSTATUS=${oneLine(status)}`)
    },
    status(text) {
      send(`STATUS=${oneLine(text)}`)
    },
    close() {
      try {
        socket?.close()
      } catch {
        // already closed
      }
      socket = undefined
    },
  }
}
