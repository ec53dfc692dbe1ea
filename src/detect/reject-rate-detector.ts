// Reject-rate jump on a machine, from its parts and rejects counters: a Bernoulli CUSUM of the
// log-likelihood ratio "rate p1" vs "the machine's own rate p0" over the parts as they are
// counted. It opens at `threshold` nats (starting where the evidence last rose from zero, i.e.
// at the first reject of the burst) and closes once a reverse CUSUM has gathered
// `closeThreshold` nats for the normal rate. p0 is learned per machine with exponential
// forgetting (frozen while a jump is open); p1 = max(jumpPct, 3 × p0).
// Counters may reset (value drops): the detector resynchronizes without counting.
import { emitClose, emitOpen, formatDuration, formatNumber, type EventSink } from './anomaly-event.js'
import type { RejectRateSettings } from './config.js'
import type { AnomalyEvent } from './types.js'

/** Parts the prior baseline rate counts as, until the machine's own rate is learned. */
const PRIOR_PARTS = 100

export interface RejectState {
  hasParts: boolean
  parts: number
  hasRejects: boolean
  rejects: number
  /** Exponentially forgotten totals for the baseline rate. */
  baseParts: number
  baseRejects: number
  /** Detection CUSUM (nats), the event time its current run began, and that run's counts. */
  s: number
  runTs: number
  runParts: number
  runRejects: number
  /** Recovery CUSUM while open, and when it last rose from zero. */
  c: number
  cTs: number
  openParts: number
  openRejects: number
  /** Baseline rate frozen at the open. */
  p0: number
  open: AnomalyEvent | null
}

export function newRejectState(): RejectState {
  return {
    hasParts: false,
    parts: 0,
    hasRejects: false,
    rejects: 0,
    baseParts: 0,
    baseRejects: 0,
    s: 0,
    runTs: 0,
    runParts: 0,
    runRejects: 0,
    c: 0,
    cTs: 0,
    openParts: 0,
    openRejects: 0,
    p0: 0,
    open: null,
  }
}

function baselineRate(s: RejectState, rr: RejectRateSettings): number {
  const p = (s.baseRejects + (rr.baselinePct / 100) * PRIOR_PARTS) / (s.baseParts + PRIOR_PARTS)
  return Math.min(0.5, Math.max(rr.minBaselinePct / 100, p))
}

function llr(p0: number, rr: RejectRateSettings): { good: number; reject: number } {
  const p1 = Math.min(0.95, Math.max(rr.jumpPct / 100, 3 * p0))
  return { good: Math.log((1 - p1) / (1 - p0)), reject: Math.log(p1 / p0) }
}

export function stepParts(s: RejectState, rr: RejectRateSettings, ts: number, value: number, sink: EventSink): void {
  if (!s.hasParts || value < s.parts) {
    s.hasParts = true
    s.parts = value
    return
  }
  const n = value - s.parts
  s.parts = value
  if (n === 0) return
  const p0 = s.open !== null ? s.p0 : baselineRate(s, rr)
  const { good } = llr(p0, rr)
  if (s.open === null) {
    const keep = Math.pow(1 - 1 / rr.baselineParts, n)
    s.baseParts = s.baseParts * keep + n
    s.baseRejects *= keep
  }
  if (s.s > 0) {
    s.runParts += n
    s.s = Math.max(0, s.s + n * good)
  }
  if (s.open !== null) {
    s.openParts += n
    if (s.c === 0) s.cTs = ts
    s.c -= n * good
    if (rr.enabled && s.c >= rr.closeThreshold) close(s, sink)
    else if (!rr.enabled) close(s, sink)
  }
}

export function stepRejects(s: RejectState, rr: RejectRateSettings, ts: number, value: number, sink: EventSink): void {
  if (!s.hasRejects || value < s.rejects) {
    s.hasRejects = true
    s.rejects = value
    return
  }
  const r = value - s.rejects
  s.rejects = value
  if (r === 0) return
  const p0 = s.open !== null ? s.p0 : baselineRate(s, rr)
  const { good, reject } = llr(p0, rr)
  if (s.open === null) s.baseRejects += r
  if (s.open !== null) {
    // Each reject turns one part counted as good into a reject.
    s.openRejects += r
    s.c = Math.max(0, s.c - r * (reject - good))
    return
  }
  if (s.s === 0) {
    s.runTs = ts
    s.runParts = 0
    s.runRejects = 0
  }
  s.runRejects += r
  s.s += r * (reject - good)
  if (rr.enabled && s.s >= rr.threshold) {
    s.p0 = p0
    s.openParts = Math.max(s.runParts, s.runRejects)
    s.openRejects = s.runRejects
    s.c = 0
    s.cTs = ts
    const ratePct = (100 * s.openRejects) / s.openParts
    s.open = emitOpen(sink, {
      kind: 'reject_rate_jump',
      severity: rr.severity,
      startedAt: s.runTs,
      observed: round2(ratePct),
      expected: round2(100 * p0),
      detail: `${sink.who.machine} reject rate ${formatNumber(ratePct)} % (${s.openRejects} of ${s.openParts} parts), normally ${formatNumber(100 * p0)} %.`,
    })
  }
}

function close(s: RejectState, sink: EventSink): void {
  const open = s.open as AnomalyEvent
  const endedAt = Math.max(s.cTs, open.startedAt)
  const parts = Math.max(s.openParts, s.openRejects, 1)
  const ratePct = (100 * s.openRejects) / parts
  emitClose(
    sink,
    open,
    endedAt,
    round2(ratePct),
    round2(100 * s.p0),
    `${sink.who.machine} reject rate was ${formatNumber(ratePct)} % (${s.openRejects} of ${parts} parts) for ${formatDuration(endedAt - open.startedAt)}, normally ${formatNumber(100 * s.p0)} %.`,
  )
  s.open = null
  s.s = 0
  s.c = 0
}

function round2(x: number): number {
  return Math.round(x * 100) / 100
}
