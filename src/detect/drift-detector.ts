// Drift: a slow departure from the baseline, seen as a fast EWMA pulling away from a slow one.
// Judged only while the signal is steady: after a start, a level shift on this sensor or (with
// `followMachine`) on any sensor of the same machine, the detector first holds for `settleS`
// (both averages follow the spike baseline's level, so a fast transient leaves no lag behind),
// then re-learns and arms once the departure has stayed under half the threshold, and the
// trend projected over the slow time constant under the threshold, for `armAfterS`. So a machine warming up after a break
// is not a drift, while a linear creep from a steady state is. The event starts where the
// departure was last small.
import { emitClose, emitOpen, formatDuration, formatTime, withUnit, type EventSink } from './anomaly-event.js'
import type { DriftSettings } from './config.js'
import { debounce, newDebounce, type DebounceState } from './debounce.js'
import type { AnomalyEvent } from './types.js'

/** Hold (follow the baseline), settle (learn, wait for steadiness), armed (judge). */
const HOLD = 0
const SETTLE = 1
const ARMED = 2

export interface DriftState {
  started: boolean
  phase: number
  /** End of the hold after the last reset. */
  holdUntil: number
  fast: number
  slow: number
  /** EWMA of the fast average's slope, per ms. */
  trend: number
  lastTs: number
  steady: DebounceState
  on: DebounceState
  off: DebounceState
  /** Last time the departure was under half the threshold, and the slow average then: the drift's start and reference. */
  quietTs: number
  quietSlow: number
  ref: number
  peak: number
  /** The machine's level-shift count this detector last reacted to. */
  epoch: number
  open: AnomalyEvent | null
}

export function newDriftState(epoch: number): DriftState {
  return {
    started: false,
    phase: HOLD,
    holdUntil: 0,
    fast: 0,
    slow: 0,
    trend: 0,
    lastTs: 0,
    steady: newDebounce(),
    on: newDebounce(),
    off: newDebounce(),
    quietTs: 0,
    quietSlow: 0,
    ref: 0,
    peak: 0,
    epoch,
    open: null,
  }
}

/** The baseline changed under the detector (level shift here or on the machine): close what is open, hold, re-learn. */
export function resetDrift(s: DriftState, d: DriftSettings, ts: number, x: number, changeTs: number, sink: EventSink): void {
  if (s.open !== null) closeDrift(s, Math.max(changeTs, s.open.startedAt), 'when the operating state changed', sink)
  s.started = true
  s.phase = HOLD
  s.holdUntil = ts + d.settleS * 1000
  s.fast = x
  s.slow = x
  s.trend = 0
  s.lastTs = ts
  s.steady.n = 0
  s.on.n = 0
  s.off.n = 0
}

/**
 * Feeds one in-order, non-suspect sample. `level` and `sigma` are the spike baseline's level and
 * noise (sigma 0 while unknown); `warm` whether that baseline has finished its warm-up.
 */
export function stepDrift(s: DriftState, d: DriftSettings, ts: number, x: number, level: number, sigma: number, warm: boolean, sink: EventSink): void {
  if (!s.started) {
    resetDrift(s, d, ts, x, ts, sink)
    return
  }
  const dt = ts - s.lastTs
  if (dt <= 0) return
  s.lastTs = ts
  if (s.phase === HOLD) {
    s.fast = level
    s.slow = level
    s.trend = 0
    if (ts >= s.holdUntil && warm) {
      s.phase = SETTLE
      s.steady.n = 0
    }
    return
  }
  const fastTauMs = d.fastTauS * 1000
  const slowTauMs = d.slowTauS * 1000
  const af = 1 - Math.exp(-dt / fastTauMs)
  const prevFast = s.fast
  s.fast += af * (x - s.fast)
  s.trend += af * ((s.fast - prevFast) / dt - s.trend)
  const thr = Math.max(d.z * sigma, (d.minChangePct / 100) * Math.abs(s.slow), d.minChange)

  if (s.open !== null) {
    s.slow += (1 - Math.exp(-dt / slowTauMs)) * (x - s.slow)
    const dev = s.fast - s.ref
    const peakDev = s.peak - s.ref
    if (Math.sign(dev) === Math.sign(peakDev) && Math.abs(dev) > Math.abs(peakDev)) s.peak = s.fast
    const back = Math.sign(dev) !== Math.sign(peakDev) || Math.abs(dev) < thr / 2
    if (debounce(s.off, back, ts, d.closeAfter)) {
      closeDrift(s, s.off.since, 'back to its baseline', sink)
      s.phase = SETTLE
      s.slow = s.fast
      s.trend = 0
      s.steady.n = 0
    }
    return
  }

  if (s.phase === SETTLE) {
    // Settling: both averages run, but nothing is judged until the departure has stayed small
    // AND the trend projected over the slow time constant has too, for armAfterS. The second
    // catches a warm-up whose departure is still building; the first a noisy trend estimate.
    s.slow += (1 - Math.exp(-dt / slowTauMs)) * (x - s.slow)
    const steady = thr > 0 && Math.abs(s.fast - s.slow) < thr / 2 && Math.abs(s.trend) * slowTauMs < thr
    if (debounce(s.steady, steady, ts, { samples: 1, seconds: d.armAfterS })) {
      s.phase = ARMED
      s.quietTs = ts
      s.quietSlow = s.slow
      s.on.n = 0
    }
    return
  }

  s.slow += (1 - Math.exp(-dt / slowTauMs)) * (x - s.slow)
  const dep = s.fast - s.slow
  if (Math.abs(dep) < thr / 2) {
    s.quietTs = ts
    s.quietSlow = s.slow
  }
  if (!d.enabled) return
  if (debounce(s.on, Math.abs(dep) >= thr, ts, d.openAfter)) {
    s.ref = s.quietSlow
    s.peak = s.fast
    s.off.n = 0
    const dir = s.fast > s.ref ? 'up' : 'down'
    s.open = emitOpen(sink, {
      kind: 'drift',
      severity: d.severity,
      startedAt: s.quietTs,
      observed: s.fast,
      expected: s.ref,
      detail: `${sink.who.sensor} drifting ${dir}: ${withUnit(s.fast, sink.unit)} against a baseline of ${withUnit(s.ref, sink.unit)} since ${formatTime(s.quietTs)}.`,
    })
  }
}

function closeDrift(s: DriftState, endedAt: number, why: string, sink: EventSink): void {
  const open = s.open as AnomalyEvent
  const dir = s.peak > s.ref ? 'up' : 'down'
  emitClose(
    sink,
    open,
    endedAt,
    s.peak,
    s.ref,
    `${sink.who.sensor} drifted ${dir} to ${withUnit(s.peak, sink.unit)} from a baseline of ${withUnit(s.ref, sink.unit)} over ${formatDuration(endedAt - open.startedAt)}, then ended ${why}.`,
  )
  s.open = null
}
