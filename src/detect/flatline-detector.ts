// Flatline: a run of samples whose max − min stays within `tolerance` for `afterS` and at least
// `minSamples` samples (a stuck sensor or a frozen gateway value). It starts at the run's first
// sample and ends at the first sample that breaks the run. Runs made only of `ignoreValues`
// (a stopped spindle reading 0) are normal.
import { emitClose, emitOpen, formatDuration, withUnit, type EventSink } from './anomaly-event.js'
import type { FlatlineSettings } from './config.js'
import type { AnomalyEvent } from './types.js'

export interface FlatlineState {
  n: number
  startTs: number
  min: number
  max: number
  open: AnomalyEvent | null
}

export function newFlatlineState(): FlatlineState {
  return { n: 0, startTs: 0, min: 0, max: 0, open: null }
}

export function stepFlatline(s: FlatlineState, f: FlatlineSettings, ts: number, x: number, sink: EventSink): void {
  const lo = x < s.min ? x : s.min
  const hi = x > s.max ? x : s.max
  if (s.n > 0 && hi - lo <= f.tolerance) {
    s.n++
    s.min = lo
    s.max = hi
  } else {
    if (s.open !== null) {
      const open = s.open
      emitClose(sink, open, ts, open.observed, null, `${sink.who.sensor} was stuck at ${withUnit(open.observed, sink.unit)} for ${formatDuration(ts - open.startedAt)} (${s.n} samples).`)
      s.open = null
    }
    s.n = 1
    s.startTs = ts
    s.min = x
    s.max = x
    return
  }
  if (s.open !== null || !f.enabled) return
  if (s.n >= f.minSamples && ts - s.startTs >= f.afterS * 1000 && !f.ignoreValues.some((v) => s.min >= v - f.tolerance && s.max <= v + f.tolerance)) {
    const stuck = s.min === s.max ? s.min : (s.min + s.max) / 2
    s.open = emitOpen(sink, {
      kind: 'flatline',
      severity: f.severity,
      startedAt: s.startTs,
      observed: stuck,
      expected: null,
      detail: `${sink.who.sensor} has not changed${f.tolerance > 0 ? ` by more than ${withUnit(f.tolerance, sink.unit)}` : ''} for ${formatDuration(ts - s.startTs)}, stuck at ${withUnit(stuck, sink.unit)}.`,
    })
  }
}
