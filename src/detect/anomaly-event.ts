// Building anomaly events: deterministic ids (a replay or a rebuild gives the same id) and the
// numbers in `detail`, formatted the same way everywhere so that the text is reproducible too.
import { createHash } from 'node:crypto'
import type { AnomalyEvent, AnomalyKind, OfflineCause, Severity } from './types.js'

export interface SensorIdentity {
  key: string
  site: string
  line: string
  machine: string
  sensor: string
}

/** Where a detector puts the events it causes, and how the sensor's values are worded. */
export interface EventSink {
  readonly who: SensorIdentity
  /** "" when unknown. */
  readonly unit: string
  readonly out: AnomalyEvent[]
}

/** Same key, kind, start and clock → same id. The clock is part of it so that a wall-clock dropout never takes an event-time dropout's id. */
export function anomalyId(key: string, kind: AnomalyKind, startedAt: number, clock: 'event' | 'wall'): string {
  return createHash('sha256').update(`${key}\u0000${kind}\u0000${startedAt}\u0000${clock}`).digest('hex').slice(0, 24)
}

export interface OpenFields {
  kind: AnomalyKind
  severity: Severity
  startedAt: number
  observed: number
  expected: number | null
  detail: string
  clock?: 'event' | 'wall'
  /** `offline` only: the Sparkplug death that caused it. */
  cause?: OfflineCause
}

/** Emits an open event and returns it (the detector keeps it in its state until the close). */
export function emitOpen(sink: EventSink, f: OpenFields): AnomalyEvent {
  const clock = f.clock ?? 'event'
  const w = sink.who
  const event: AnomalyEvent = {
    id: anomalyId(w.key, f.kind, f.startedAt, clock),
    state: 'open',
    kind: f.kind,
    severity: f.severity,
    key: w.key,
    site: w.site,
    line: w.line,
    machine: w.machine,
    sensor: w.sensor,
    startedAt: f.startedAt,
    observed: f.observed,
    expected: f.expected,
    detail: f.detail,
    clock,
    ...(f.cause !== undefined ? { cause: f.cause } : {}),
  }
  // The caller gets a copy: the detector keeps the original in its serialized state.
  sink.out.push({ ...event })
  return event
}

export function emitClose(sink: EventSink, open: AnomalyEvent, endedAt: number, observed: number, expected: number | null, detail: string): void {
  sink.out.push({ ...open, state: 'closed', endedAt, observed, expected, detail })
}

/** A number for a sentence: about four significant digits, no trailing zeros. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x)
  if (Number.isInteger(x)) return String(x)
  const a = Math.abs(x)
  const text = a >= 1000 ? x.toFixed(0) : a >= 100 ? x.toFixed(1) : a >= 1 ? x.toFixed(2) : a >= 0.01 ? x.toFixed(3) : x.toPrecision(2)
  return text.includes('.') && !text.includes('e') ? text.replace(/\.?0+$/, '') : text
}

export function withUnit(x: number, unit: string): string {
  return unit === '' ? formatNumber(x) : `${formatNumber(x)} ${unit}`
}

/** "45 s", "12.5 min", "3.2 h". */
export function formatDuration(ms: number): string {
  const s = ms / 1000
  if (s < 120) return `${formatNumber(Math.round(s * 10) / 10)} s`
  if (s < 7200) return `${formatNumber(Math.round(s / 6) / 10)} min`
  return `${formatNumber(Math.round(s / 360) / 10)} h`
}

export function formatTime(ts: number): string {
  return new Date(ts).toISOString().replace('.000Z', 'Z')
}
