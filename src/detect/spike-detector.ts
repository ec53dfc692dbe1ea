// The per-sensor baseline (EWMA level + robust noise scale) and spike detection on it.
// A sample whose robust z-score exceeds `z` is suspect and is kept out of the baseline. An
// excursion that comes back within `maxSamples` samples is a spike (open and close are
// emitted together, when it comes back); one that stays is a level shift — a machine starting,
// stopping, a break — which restarts the baseline and is reported to the bank, so that the
// machine's drift detectors re-learn too. Step changes are normal in a plant; spikes come back.
import { emitClose, emitOpen, formatNumber, withUnit, type EventSink } from './anomaly-event.js'
import type { SpikeSettings } from './config.js'

/** Mean absolute deviation × this ≈ standard deviation for Gaussian noise. */
const MAD_TO_SIGMA = 1.2533
/** Weight of a sample in the noise scale once warmed up: slow, so that a calm minute does not make the next bump a spike. */
const SCALE_ALPHA = 0.02
/** During warm-up a residual counts at most this many current scales (one spike cannot inflate the scale). */
const WARMUP_CLIP = 5
/**
 * Changes of value the scale must have learned from before anything is judged: a quantized
 * signal (a stopped spindle reading 0, 0, 1, 0 rpm) changes rarely, and a scale from one
 * change would make the next ordinary one look like a spike.
 */
const MIN_SCALE_SAMPLES = 10

export interface BaselineState {
  /** Samples since the start or the last level shift. */
  n: number
  level: number
  /** EWMA of |sample − level| (mean absolute deviation). */
  scale: number
  /** Samples the scale has learned from since the restart (equal consecutive values teach nothing). */
  k: number
  prev: number
  /** Consecutive suspect samples (0: none). */
  cand: number
  candTs: number
  /** The most deviant suspect value. */
  candPeak: number
  candPeakZ: number
}

export function newBaseline(): BaselineState {
  return { n: 0, level: 0, scale: 0, k: 0, prev: 0, cand: 0, candTs: 0, candPeak: 0, candPeakZ: 0 }
}

/** Standard deviation of the noise around the baseline (0 while unknown). */
export function noiseSigma(b: BaselineState): number {
  return b.scale * MAD_TO_SIGMA
}

export const NORMAL = 0
export const SUSPECT = 1
export const SPIKE = 2
export const LEVEL_SHIFT = 3

/**
 * Feeds one in-order sample. Returns NORMAL, SUSPECT, SPIKE (an excursion just came back; the
 * events are emitted when enabled) or LEVEL_SHIFT (the baseline restarted at this sample; the
 * shift began at `b.candTs`, left in place for the caller).
 */
export function stepBaseline(b: BaselineState, sp: SpikeSettings, ts: number, x: number, sink: EventSink, spikesOn: boolean): number {
  if (b.n === 0) {
    restart(b, x)
    return NORMAL
  }
  const r = x - b.level
  const absR = Math.abs(r)
  if (!baselineWarm(b, sp)) {
    // Learning: everything goes into the baseline; the scale is a plain mean so far, with outliers clipped.
    b.n++
    b.level += sp.baselineAlpha * r
    if (x !== b.prev) {
      b.k++
      const clipped = b.scale > 0 && b.k > 5 ? Math.min(absR, WARMUP_CLIP * b.scale) : absR
      b.scale += (clipped - b.scale) / Math.min(b.k, sp.warmupSamples)
    }
    b.prev = x
    b.cand = 0
    return NORMAL
  }
  const sigma = b.scale * MAD_TO_SIGMA
  // Once an excursion is under way, only a clear return (under half the threshold) ends it: a
  // level shift just above the threshold, seen through noise, must not pass for a spike.
  const limit = b.cand > 0 ? (sp.z / 2) * sigma : sp.z * sigma
  if (absR > limit && absR > sp.minDeviation) {
    const z = absR / sigma
    if (b.cand === 0) {
      b.candTs = ts
      b.candPeakZ = 0
    }
    b.cand++
    if (z > b.candPeakZ) {
      b.candPeakZ = z
      b.candPeak = x
    }
    if (b.cand > sp.maxSamples) {
      restart(b, x)
      return LEVEL_SHIFT
    }
    b.prev = x
    return SUSPECT
  }
  let verdict = NORMAL
  if (b.cand > 0) {
    if (spikesOn) reportSpike(b, sp, ts, sink)
    b.cand = 0
    verdict = SPIKE
  }
  b.level += sp.baselineAlpha * r
  // Equal consecutive values carry no news about the noise (a quantized or stuck signal); they would only shrink the scale.
  if (x !== b.prev) b.scale += SCALE_ALPHA * (absR - b.scale)
  b.prev = x
  return verdict
}

/** Whether the baseline has learned enough to judge samples. */
export function baselineWarm(b: BaselineState, sp: SpikeSettings): boolean {
  return b.n >= sp.warmupSamples && b.k >= Math.min(MIN_SCALE_SAMPLES, sp.warmupSamples) && b.scale > 0
}

function restart(b: BaselineState, x: number): void {
  b.n = 1
  b.level = x
  b.scale = 0
  b.k = 0
  b.prev = x
  b.cand = 0
}

function reportSpike(b: BaselineState, sp: SpikeSettings, ts: number, sink: EventSink): void {
  const samples = b.cand
  const direction = b.candPeak >= b.level ? 'up' : 'down'
  const open = emitOpen(sink, {
    kind: 'spike',
    severity: sp.severity,
    startedAt: b.candTs,
    observed: b.candPeak,
    expected: b.level,
    detail: `${sink.who.sensor} spiked ${direction} to ${withUnit(b.candPeak, sink.unit)} (baseline ${withUnit(b.level, sink.unit)}, ${formatNumber(Math.round(b.candPeakZ))} σ).`,
  })
  emitClose(
    sink,
    open,
    ts,
    b.candPeak,
    b.level,
    `${sink.who.sensor} spiked ${direction} to ${withUnit(b.candPeak, sink.unit)} for ${samples} sample${samples === 1 ? '' : 's'} (baseline ${withUnit(b.level, sink.unit)}, ${formatNumber(Math.round(b.candPeakZ))} σ).`,
  )
}
