// Structured JSON logs (pino) to stdout; journald keeps them on a box. Fields first, then a
// short message: log.warn({ topic, reason }, 'reading quarantined').
import { pino, type Logger, type LoggerOptions } from 'pino'

export type Log = Logger

export function createLogger(options: { level: string; name?: string; stderr?: boolean }): Log {
  const settings: LoggerOptions = {
    name: options.name ?? 'shiftscribe',
    level: options.level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    redact: { paths: ['password', '*.password', 'sasl.password'], censor: '(redacted)' },
  }
  // CLI commands keep stdout for their own output.
  return options.stderr ? pino(settings, pino.destination(2)) : pino(settings)
}

/** A logger that writes nothing, for tests. */
export function silentLogger(): Log {
  return pino({ level: 'silent' })
}
