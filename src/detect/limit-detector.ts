// Static limits: a value above `high` (below `low`) for the open debounce opens a breach that
// starts at the first offending sample; it closes once values are back inside the limit by
// `hysteresis` for the close debounce, ending at the first sample of that calm run.
import { emitClose, emitOpen, formatDuration, withUnit, type EventSink } from './anomaly-event.js'
import type { LimitSettings } from './config.js'
import { debounce, newDebounce, type DebounceState } from './debounce.js'
import type { AnomalyEvent } from './types.js'

export interface LimitState {
  /** 1: above high, -1: below low, 0: inside (for the pending or open breach). */
  side: number
  on: DebounceState
  off: DebounceState
  /** First offending sample of the pending breach. */
  firstTs: number
  /** Most extreme value of the pending or open breach. */
  peak: number
  open: AnomalyEvent | null
}

export function newLimitState(): LimitState {
  return { side: 0, on: newDebounce(), off: newDebounce(), firstTs: 0, peak: 0, open: null }
}

export function stepLimit(s: LimitState, l: LimitSettings, ts: number, x: number, sink: EventSink): void {
  if (s.open !== null) {
    const limit = s.side > 0 ? l.high : l.low
    if (limit === undefined || !l.enabled) {
      // The limit was removed from the config since the breach opened: nothing to hold it against.
      closeBreach(s, ts, limit ?? s.open.expected ?? s.peak, sink)
      return
    }
    if (s.side > 0 ? x > s.peak : x < s.peak) s.peak = x
    const inside = s.side > 0 ? x <= limit - l.hysteresis : x >= limit + l.hysteresis
    if (debounce(s.off, inside, ts, l.closeAfter)) closeBreach(s, s.off.since, limit, sink)
    return
  }
  if (!l.enabled) return
  const side = l.high !== undefined && x > l.high ? 1 : l.low !== undefined && x < l.low ? -1 : 0
  if (side !== s.side) s.on.n = 0
  s.side = side
  if (side === 0) return
  if (s.on.n === 0) {
    s.firstTs = ts
    s.peak = x
  } else if (side > 0 ? x > s.peak : x < s.peak) {
    s.peak = x
  }
  if (debounce(s.on, true, ts, l.openAfter)) {
    const limit = (side > 0 ? l.high : l.low) as number
    s.off.n = 0
    s.open = emitOpen(sink, {
      kind: 'limit_breach',
      severity: l.severity,
      startedAt: s.firstTs,
      observed: s.peak,
      expected: limit,
      detail: `${sink.who.sensor} ${withUnit(s.peak, sink.unit)} ${side > 0 ? 'above the high' : 'below the low'} limit ${withUnit(limit, sink.unit)}.`,
    })
  }
}

function closeBreach(s: LimitState, endedAt: number, limit: number, sink: EventSink): void {
  const open = s.open as AnomalyEvent
  const where = s.side > 0 ? 'above the high' : 'below the low'
  const extreme = s.side > 0 ? 'peak' : 'lowest'
  emitClose(
    sink,
    open,
    endedAt,
    s.peak,
    limit,
    `${sink.who.sensor} was ${where} limit ${withUnit(limit, sink.unit)} for ${formatDuration(endedAt - open.startedAt)}, ${extreme} ${withUnit(s.peak, sink.unit)}.`,
  )
  s.open = null
  s.side = 0
  s.on.n = 0
  s.off.n = 0
}
