// Rate of change: |Δvalue/Δt| (per second, smoothed with time constant `smoothS`) above
// `maxPerS` for the open debounce. Off until `maxPerS` is set for a sensor: what rate is normal
// depends on the process, there is no unit-free default.
import { emitClose, emitOpen, withUnit, type EventSink } from './anomaly-event.js'
import type { RateSettings } from './config.js'
import { debounce, newDebounce, type DebounceState } from './debounce.js'
import type { AnomalyEvent } from './types.js'

export interface RateState {
  started: boolean
  lastTs: number
  last: number
  /** Smoothed rate, value units per second. */
  rate: number
  on: DebounceState
  off: DebounceState
  firstTs: number
  peak: number
  open: AnomalyEvent | null
}

export function newRateState(): RateState {
  return { started: false, lastTs: 0, last: 0, rate: 0, on: newDebounce(), off: newDebounce(), firstTs: 0, peak: 0, open: null }
}

export function stepRate(s: RateState, r: RateSettings, ts: number, x: number, sink: EventSink): void {
  if (!s.started) {
    s.started = true
    s.lastTs = ts
    s.last = x
    return
  }
  const dt = ts - s.lastTs
  if (dt <= 0) return
  const raw = ((x - s.last) / dt) * 1000
  s.rate = r.smoothS === 0 ? raw : s.rate + (1 - Math.exp(-dt / (r.smoothS * 1000))) * (raw - s.rate)
  s.lastTs = ts
  s.last = x
  const max = r.maxPerS
  const unitPerS = sink.unit === '' ? '/s' : `${sink.unit}/s`
  if (s.open !== null) {
    if (Math.abs(s.rate) > Math.abs(s.peak)) s.peak = s.rate
    if (max === undefined || !r.enabled || debounce(s.off, Math.abs(s.rate) <= max, ts, r.closeAfter)) {
      const open = s.open
      const endedAt = max === undefined || !r.enabled ? ts : s.off.since
      emitClose(sink, open, endedAt, s.peak, max ?? null, `${sink.who.sensor} changed at up to ${withUnit(s.peak, unitPerS)}, faster than ${withUnit(max ?? 0, unitPerS)}.`)
      s.open = null
    }
    return
  }
  if (max === undefined || !r.enabled) return
  const over = Math.abs(s.rate) > max
  if (over && s.on.n === 0) {
    s.firstTs = ts
    s.peak = s.rate
  } else if (over && Math.abs(s.rate) > Math.abs(s.peak)) {
    s.peak = s.rate
  }
  if (debounce(s.on, over, ts, r.openAfter)) {
    s.off.n = 0
    s.open = emitOpen(sink, {
      kind: 'rate_of_change',
      severity: r.severity,
      startedAt: s.firstTs,
      observed: s.peak,
      expected: max,
      detail: `${sink.who.sensor} changing at ${withUnit(s.peak, unitPerS)}, faster than ${withUnit(max, unitPerS)}.`,
    })
  }
}
