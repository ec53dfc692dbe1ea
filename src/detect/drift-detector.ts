// Drift: a slow departure from the baseline, seen as a fast EWMA pulling away from a slow one.
// Step changes are normal in a plant (a machine starts, stops, takes a break), so after a level
// shift on this sensor or (with `followMachine`) on any sensor of the same machine the detector
//   1. holds for `settleS`: both averages follow the spike baseline's level, so a fast
//      transient leaves no lag behind;
//   2. settles: waits until the trend, projected over the slow time constant, stays under half
//      the threshold for `armAfterS` (a machine still warming up is not steady);
//   3. is armed: a departure of the fast average from the slow one beyond the threshold for
//      the open debounce is a drift, starting where the departure was last small.
// While settling, a drift can still be seen against the steady levels the sensor showed before
// (`rememberLevels`): a warm-up that runs past every level the sensor has ever settled at, by
// more than the threshold, is no warm-up. The event closes when the fast average is back near
// the reference, or when the operating state changes again.
import { emitClose, emitOpen, formatDuration, formatTime, withUnit, type EventSink } from './anomaly-event.js'
import type { DriftSettings } from './config.js'
import { debounce, newDebounce, type DebounceState } from './debounce.js'
import type { AnomalyEvent } from './types.js'

const HOLD = 0
const SETTLE = 1
const ARMED = 2
/** The trend estimate needs this many fast time constants of data before it says "steady". */
const TREND_MATURITY = 2
/** A level counts as steady, to be remembered, once the detector was armed on it this long. */
const REMEMBER_AFTER_MS = 10 * 60_000

export interface DriftState {
  started: boolean
  /** HOLD, SETTLE or ARMED. */
  phase: number
  /** End of the hold after the last reset; start of the current phase. */
  holdUntil: number
  phaseTs: number
  fast: number
  slow: number
  /** EWMA of the fast average's slope, per ms. */
  trend: number
  lastTs: number
  /** The fast average when settling began, and when it was last on the near side of the remembered levels. */
  settleFrom: number
  crossTs: number
  steady: DebounceState
  on: DebounceState
  off: DebounceState
  /** Last time the departure was under half the threshold, and the slow average then: a drift's start and reference. */
  quietTs: number
  quietSlow: number
  ref: number
  peak: number
  /** Steady levels the sensor was armed at before (most recent last). */
  levels: number[]
  /** The machine's level-shift count this detector last reacted to. */
  epoch: number
  open: AnomalyEvent | null
}

export function newDriftState(epoch: number): DriftState {
  return {
    started: false,
    phase: HOLD,
    holdUntil: 0,
    phaseTs: 0,
    fast: 0,
    slow: 0,
    trend: 0,
    lastTs: 0,
    settleFrom: 0,
    crossTs: 0,
    steady: newDebounce(),
    on: newDebounce(),
    off: newDebounce(),
    quietTs: 0,
    quietSlow: 0,
    ref: 0,
    peak: 0,
    levels: [],
    epoch,
    open: null,
  }
}

/** The baseline changed under the detector (level shift here or on the machine): close what is open, remember the steady level, hold. */
export function resetDrift(s: DriftState, d: DriftSettings, ts: number, x: number, changeTs: number, sink: EventSink): void {
  if (s.open !== null) closeDrift(s, Math.max(changeTs, s.open.startedAt), 'when the operating state changed', sink)
  else if (s.phase === ARMED && ts - s.phaseTs >= REMEMBER_AFTER_MS) remember(s, d, s.slow)
  s.started = true
  s.phase = HOLD
  s.holdUntil = ts + d.settleS * 1000
  s.phaseTs = ts
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
    if (ts >= s.holdUntil && warm) startSettling(s, ts)
    return
  }
  const fastTauMs = d.fastTauS * 1000
  const slowTauMs = d.slowTauS * 1000
  const af = 1 - Math.exp(-dt / fastTauMs)
  const prevFast = s.fast
  s.fast += af * (x - s.fast)
  s.trend += af * ((s.fast - prevFast) / dt - s.trend)

  if (s.open !== null) {
    const thr = threshold(d, sigma, s.ref)
    const dev = s.fast - s.ref
    const peakDev = s.peak - s.ref
    if (Math.sign(dev) === Math.sign(peakDev) && Math.abs(dev) > Math.abs(peakDev)) s.peak = s.fast
    const back = Math.sign(dev) !== Math.sign(peakDev) || Math.abs(dev) < thr / 2
    if (debounce(s.off, back, ts, d.closeAfter)) {
      closeDrift(s, s.off.since, 'back to its baseline', sink)
      startSettling(s, ts)
    }
    return
  }

  if (s.phase === SETTLE) {
    // The slow average follows the fast one: a warm-up's lag must not count as departure later.
    s.slow = s.fast
    const thr = threshold(d, sigma, s.slow)
    const mature = ts - s.phaseTs >= TREND_MATURITY * fastTauMs
    const steady = thr > 0 && mature && Math.abs(s.trend) * slowTauMs < thr / 2 && !approaching(s, thr)
    if (debounce(s.steady, steady, ts, { samples: 1, seconds: d.armAfterS })) {
      s.phase = ARMED
      s.phaseTs = ts
      s.quietTs = ts
      s.quietSlow = s.slow
      s.on.n = 0
      return
    }
    if (s.levels.length > 0 && thr > 0) beyondLevels(s, d, ts, thr, sink)
    return
  }

  s.slow += (1 - Math.exp(-dt / slowTauMs)) * (x - s.slow)
  const thr = threshold(d, sigma, s.slow)
  const dep = s.fast - s.slow
  if (Math.abs(dep) < thr / 2) {
    s.quietTs = ts
    s.quietSlow = s.slow
  }
  if (!d.enabled) return
  if (debounce(s.on, Math.abs(dep) >= thr, ts, d.openAfter)) openDrift(s, d, s.quietSlow, s.quietTs, sink)
}

function threshold(d: DriftSettings, sigma: number, around: number): number {
  return Math.max(d.z * sigma, (d.minChangePct / 100) * Math.abs(around), d.minChange)
}

/**
 * Still on the way to a steady level seen before (a machine warming back up to its operating
 * temperature): the trend estimate may look flat by chance in the tail, and arming there would
 * take the rest of the approach for a drift. On the way = moved from where settling began
 * towards a remembered level, not yet within half the threshold of it (nor of a nearer one).
 */
function approaching(s: DriftState, thr: number): boolean {
  const moved = s.fast - s.settleFrom
  if (Math.abs(moved) < thr / 2) return false
  const dir = Math.sign(moved)
  let ahead = false
  for (const l of s.levels) {
    if ((l - s.settleFrom) * dir <= 0) continue
    if ((l - s.fast) * dir < thr / 2) return false
    ahead = true
  }
  return ahead
}

function startSettling(s: DriftState, ts: number): void {
  s.phase = SETTLE
  s.phaseTs = ts
  s.slow = s.fast
  s.trend = 0
  s.settleFrom = s.fast
  s.crossTs = ts
  s.steady.n = 0
  s.on.n = 0
}

/** While settling: past every remembered steady level by more than the threshold, having come from their other side, still moving on. */
function beyondLevels(s: DriftState, d: DriftSettings, ts: number, thr: number, sink: EventSink): void {
  let hi = -Infinity
  let lo = Infinity
  for (const l of s.levels) {
    if (l > hi) hi = l
    if (l < lo) lo = l
  }
  const up = s.settleFrom < hi - thr && s.trend > 0
  const down = s.settleFrom > lo + thr && s.trend < 0
  if ((up && s.fast <= hi) || (down && s.fast >= lo) || (!up && !down)) s.crossTs = ts
  const past = (up && s.fast > hi + thr) || (down && s.fast < lo - thr)
  if (!d.enabled) return
  if (debounce(s.on, past, ts, d.openAfter)) {
    s.phase = ARMED
    s.phaseTs = ts
    openDrift(s, d, up ? hi : lo, s.crossTs, sink)
  }
}

function openDrift(s: DriftState, d: DriftSettings, ref: number, startedAt: number, sink: EventSink): void {
  s.ref = ref
  s.peak = s.fast
  s.off.n = 0
  const dir = s.fast > ref ? 'up' : 'down'
  s.open = emitOpen(sink, {
    kind: 'drift',
    severity: d.severity,
    startedAt,
    observed: s.fast,
    expected: ref,
    detail: `${sink.who.sensor} drifting ${dir}: ${withUnit(s.fast, sink.unit)} against a baseline of ${withUnit(ref, sink.unit)} since ${formatTime(startedAt)}.`,
  })
}

/** Keeps the steady levels apart by the threshold; the newest replaces the oldest beyond `rememberLevels`. */
function remember(s: DriftState, d: DriftSettings, level: number): void {
  if (d.rememberLevels === 0) return
  const thr = threshold(d, 0, level)
  const near = s.levels.findIndex((l) => Math.abs(l - level) <= thr)
  if (near >= 0) s.levels.splice(near, 1)
  s.levels.push(level)
  while (s.levels.length > d.rememberLevels) s.levels.shift()
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
