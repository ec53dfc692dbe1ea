// Dropout: no data from a sensor. In event time, the watermark (newest event time seen on any
// sensor) ran more than the threshold past the sensor's last reading; decided both on tick()
// and when the sensor's next reading arrives (then open and close come together), so whether a
// dropout exists does not depend on where ticks fall: a rebuild with other batch boundaries
// finds the same ones, with the same text. In wall time, no new reading reached the bank for
// `wallAfterS` (the watermark cannot move when nothing arrives at all); such events carry
// clock 'wall' and are not reproduced by a replay.
import { emitClose, emitOpen, formatDuration, formatNumber, formatTime, type EventSink } from './anomaly-event.js'
import type { DropoutSettings } from './config.js'
import type { AnomalyEvent } from './types.js'

/** Weight of a new gap in the sensor's usual sampling interval. */
const INTERVAL_ALPHA = 0.1

export interface DropoutState {
  /** Usual gap between readings, ms (0: not known yet). */
  intervalMs: number
  open: AnomalyEvent | null
  wallOpen: AnomalyEvent | null
}

export function newDropoutState(): DropoutState {
  return { intervalMs: 0, open: null, wallOpen: null }
}

export function dropoutThresholdMs(s: DropoutState, d: DropoutSettings): number {
  return Math.max(d.afterS * 1000, d.intervals * s.intervalMs)
}

/**
 * An in-order reading at `ts` after one at `lastTs`; `watermark` already includes `ts`.
 * `quietFrom`: where the silence counts from for a new dropout (the machine's return from offline
 * when later than `lastTs`); null while the machine is offline (no new dropout). The texts still
 * name `lastTs`, the last reading.
 */
export function dropoutOnReading(
  s: DropoutState,
  d: DropoutSettings,
  lastTs: number,
  ts: number,
  watermark: number,
  sink: EventSink,
  quietFrom: number | null = lastTs,
): void {
  const thr = dropoutThresholdMs(s, d)
  if (s.open === null && d.enabled && quietFrom !== null && watermark - quietFrom > thr) openDropout(s, d, lastTs, thr, sink)
  if (s.open !== null) {
    emitClose(sink, s.open, ts, round1((ts - lastTs) / 1000), s.open.expected, closeText(s.open, lastTs, ts, sink))
    s.open = null
  }
  if (s.wallOpen !== null) {
    emitClose(sink, s.wallOpen, ts, round1((ts - lastTs) / 1000), s.wallOpen.expected, closeText(s.wallOpen, lastTs, ts, sink))
    s.wallOpen = null
  }
  const gap = ts - lastTs
  if (gap <= thr) s.intervalMs = s.intervalMs === 0 ? gap : s.intervalMs + INTERVAL_ALPHA * (gap - s.intervalMs)
}

/** `quietFrom` as for dropoutOnReading. */
export function dropoutOnTick(s: DropoutState, d: DropoutSettings, lastTs: number, watermark: number, sink: EventSink, quietFrom: number | null = lastTs): void {
  if (s.open !== null || !d.enabled || quietFrom === null) return
  const thr = dropoutThresholdMs(s, d)
  if (watermark - quietFrom > thr) openDropout(s, d, lastTs, thr, sink)
}

/** `silentMs`: wall time since new data from this sensor last reached the bank. */
export function dropoutOnWall(s: DropoutState, d: DropoutSettings, lastTs: number, silentMs: number, sink: EventSink): void {
  const thr = Math.max(d.wallAfterS * 1000, d.intervals * s.intervalMs)
  if (s.open !== null || s.wallOpen !== null || !d.enabled || silentMs <= thr) return
  s.wallOpen = emitOpen(sink, {
    kind: 'dropout',
    severity: d.severity,
    startedAt: firstMissing(s, lastTs),
    observed: round1(thr / 1000),
    expected: s.intervalMs === 0 ? null : round1(s.intervalMs / 1000),
    detail: `No data from ${sink.who.sensor} has reached the gateway for over ${formatDuration(thr)} (last reading ${formatTime(lastTs)}).`,
    clock: 'wall',
  })
}

function openDropout(s: DropoutState, d: DropoutSettings, lastTs: number, thr: number, sink: EventSink): void {
  s.open = emitOpen(sink, {
    kind: 'dropout',
    severity: d.severity,
    startedAt: firstMissing(s, lastTs),
    // The silence known for certain when it was declared: the threshold (what the watermark showed beyond depends on batching).
    observed: round1(thr / 1000),
    expected: s.intervalMs === 0 ? null : round1(s.intervalMs / 1000),
    detail: `No data from ${sink.who.sensor} since ${formatTime(lastTs)}, silent over ${formatDuration(thr)}${usually(s)}.`,
  })
}

function closeText(open: AnomalyEvent, lastTs: number, ts: number, sink: EventSink): string {
  const normally = open.expected === null ? '' : ` (normally every ${formatNumber(open.expected)} s)`
  return `No data from ${sink.who.sensor} for ${formatDuration(ts - lastTs)}, from ${formatTime(lastTs)} to ${formatTime(ts)}${normally}.`
}

function usually(s: DropoutState): string {
  return s.intervalMs === 0 ? '' : `; normally every ${formatNumber(round1(s.intervalMs / 1000))} s`
}

function firstMissing(s: DropoutState, lastTs: number): number {
  return lastTs + Math.round(s.intervalMs)
}

function round1(x: number): number {
  return Math.round(x * 10) / 10
}
