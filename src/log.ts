// Structured JSON logs (pino) to stdout; journald keeps them on a box. Fields first, then a
// short message: log.warn({ topic, reason }, 'reading quarantined').
import { pino, type Logger } from 'pino'

export type Log = Logger

export function createLogger(options: { level: string; name?: string }): Log {
  return pino({
    name: options.name ?? 'shiftscribe',
    level: options.level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: ['password', '*.password', 'sasl.password'], censor: '(redacted)' },
  })
}

/** A logger that writes nothing, for tests. */
export function silentLogger(): Log {
  return pino({ level: 'silent' })
}
