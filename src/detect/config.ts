// The detectors' configuration (mounted at config key `detect`): defaults for every sensor,
// then rules matched on `line/machine/sensor` (`*` per segment, first match wins) that
// override single fields of single detectors. Defaults are tuned on the simulator's plant
// (docs/detectors.md has the measured precision/recall); limits have no default value.
import { z } from 'zod'

const SEGMENT_OR_STAR = /^(\*|[A-Za-z0-9_.-]{1,64})$/

const severity = z.enum(['warning', 'critical'])

const debounceSchema = z.strictObject({
  /** Consecutive samples the condition must hold. */
  samples: z.number().int().min(1).max(100_000).default(1),
  /** Event time the condition must hold, seconds (both `samples` and `seconds` must be met). */
  seconds: z.number().min(0).max(86_400).default(0),
})
export type Debounce = z.output<typeof debounceSchema>

/**
 * One detector's fields, written once: `full` applies the defaults (for `defaults.*`),
 * `partial` has none (for rules, so that a rule overrides only what it names).
 */
function section<Shape extends z.ZodRawShape>(shape: Shape, defaults: { [K in keyof Shape]?: z.output<Shape[K]> }) {
  const withDefaults: Record<string, z.ZodType> = {}
  for (const [name, field] of Object.entries(shape)) {
    const value = (defaults as Record<string, unknown>)[name]
    withDefaults[name] = value === undefined ? (field as z.ZodType) : (field as z.ZodType).default(value as never)
  }
  type Out = { [K in keyof Shape]: z.output<Shape[K]> }
  type In = { [K in keyof Shape]?: z.input<Shape[K]> }
  return {
    full: z.strictObject(withDefaults).prefault({}) as unknown as z.ZodPrefault<z.ZodType<Out, In>>,
    partial: z.strictObject(shape).partial() as unknown as z.ZodType<Partial<Out>, In>,
  }
}

const limits = section(
  {
    enabled: z.boolean(),
    /** Above this is a breach. No default: set it per sensor. */
    high: z.number().optional(),
    /** Below this is a breach. No default: set it per sensor. */
    low: z.number().optional(),
    /** A breach closes only once the value is this far back inside the limit (same unit as the value). */
    hysteresis: z.number().min(0),
    openAfter: debounceSchema,
    closeAfter: debounceSchema,
    severity,
  },
  { enabled: true, hysteresis: 0, openAfter: { samples: 4, seconds: 10 }, closeAfter: { samples: 3, seconds: 0 }, severity: 'critical' },
)

const spike = section(
  {
    enabled: z.boolean(),
    /** Robust z-score (deviation from the EWMA baseline / robust noise scale) that makes a sample suspect. */
    z: z.number().positive(),
    /** A suspect excursion that returns within this many samples is a spike; a longer one is a level shift (rebaselined, no event). */
    maxSamples: z.number().int().min(1).max(100),
    /** Samples after the start or a level shift before spikes are judged (the baseline and noise scale learn meanwhile). */
    warmupSamples: z.number().int().min(2).max(100_000),
    /** A deviation smaller than this (value units) is never a spike, whatever its z-score. */
    minDeviation: z.number().min(0),
    /** Weight of each new sample in the baseline (EWMA, 0..1). */
    baselineAlpha: z.number().gt(0).max(1),
    severity,
  },
  { enabled: true, z: 8, maxSamples: 3, warmupSamples: 30, minDeviation: 0, baselineAlpha: 0.3, severity: 'warning' },
)

const drift = section(
  {
    enabled: z.boolean(),
    /** Time constant of the fast EWMA, seconds. */
    fastTauS: z.number().positive(),
    /** Time constant of the slow EWMA (the baseline the fast one departs from), seconds. */
    slowTauS: z.number().positive(),
    /** Departure (fast − slow) that counts, in noise standard deviations of the raw signal ... */
    z: z.number().positive(),
    /** ... and at least this percentage of the baseline's magnitude ... */
    minChangePct: z.number().min(0),
    /** ... and at least this much (value units). The largest of the three applies. */
    minChange: z.number().min(0),
    /** After a level shift (here or on the machine) the baseline is taken up again only this much later, seconds: transients pass first. */
    settleS: z.number().min(0),
    /** Then the signal must be steady (trend × slowTauS under half the threshold) this long before drift is judged, seconds. */
    armAfterS: z.number().min(0),
    /** Steady levels remembered per sensor; while settling, running past all of them by the threshold is a drift (0: off). */
    rememberLevels: z.number().int().min(0).max(16),
    /** Re-learn the baseline when the machine changes operating state (see `machineChange`). */
    followMachine: z.boolean(),
    openAfter: debounceSchema,
    closeAfter: debounceSchema,
    severity,
  },
  {
    enabled: true,
    fastTauS: 120,
    slowTauS: 1800,
    z: 3,
    minChangePct: 2,
    minChange: 0,
    settleS: 120,
    armAfterS: 120,
    rememberLevels: 3,
    followMachine: true,
    openAfter: { samples: 1, seconds: 60 },
    closeAfter: { samples: 1, seconds: 30 },
    severity: 'warning',
  },
)

const rateOfChange = section(
  {
    enabled: z.boolean(),
    /** Largest normal |change| per second (value units / s). No default: off until set. */
    maxPerS: z.number().positive().optional(),
    /** Time constant that smooths the per-sample rate, seconds (0: raw sample-to-sample rate). */
    smoothS: z.number().min(0),
    openAfter: debounceSchema,
    closeAfter: debounceSchema,
    severity,
  },
  { enabled: true, smoothS: 10, openAfter: { samples: 3, seconds: 0 }, closeAfter: { samples: 3, seconds: 0 }, severity: 'warning' },
)

const flatline = section(
  {
    enabled: z.boolean(),
    /** No variation beyond `tolerance` for this long opens a flatline, seconds. */
    afterS: z.number().positive(),
    /** Largest max − min that still counts as "no variation" (value units). */
    tolerance: z.number().min(0),
    /** And at least this many samples, so that a slow sensor is not flat after three readings. */
    minSamples: z.number().int().min(2),
    /** Values a sensor legitimately sits at (a stopped spindle reads 0 rpm): a run of only these is never a flatline. */
    ignoreValues: z.array(z.number()),
    severity,
  },
  { enabled: true, afterS: 180, tolerance: 0, minSamples: 10, ignoreValues: [0], severity: 'warning' },
)

const dropout = section(
  {
    enabled: z.boolean(),
    /** No data in event time (the watermark ran this far past the sensor's last reading) opens a dropout, seconds ... */
    afterS: z.number().positive(),
    /** ... or this many of the sensor's usual sampling intervals, whichever is longer. */
    intervals: z.number().min(1),
    /** No data by the wall clock for this long (or `intervals` usual intervals, if longer) opens a wall-clock dropout: the watermark cannot move when nothing arrives at all, seconds. */
    wallAfterS: z.number().positive(),
    severity,
  },
  { enabled: true, afterS: 60, intervals: 10, wallAfterS: 180, severity: 'warning' },
)

const rejectRate = section(
  {
    enabled: z.boolean(),
    /** The reject rate the detector is tuned to catch quickly, percent (at least 3 × the machine's own baseline is used). */
    jumpPct: z.number().gt(0).lt(100),
    /** Evidence (CUSUM of the log-likelihood ratio, nats) that opens a reject-rate jump. */
    threshold: z.number().positive(),
    /** Evidence for the normal rate (nats) that closes it again. */
    closeThreshold: z.number().positive(),
    /** Prior reject rate until the machine's own is learned, percent. */
    baselinePct: z.number().gt(0).lt(100),
    /** How many recent parts the learned baseline rate remembers (exponential forgetting). */
    baselineParts: z.number().int().min(10),
    /** Floor of the learned baseline rate, percent (one reject on a near-perfect machine is no jump). */
    minBaselinePct: z.number().gt(0).lt(100),
    severity,
  },
  { enabled: true, jumpPct: 10, threshold: 6.5, closeThreshold: 3, baselinePct: 2, baselineParts: 1000, minBaselinePct: 0.5, severity: 'critical' },
)

const SECTIONS = { limits, spike, drift, rateOfChange, flatline, dropout, rejectRate } as const
export const DETECTOR_SECTIONS = Object.keys(SECTIONS) as (keyof typeof SECTIONS)[]

const matchPattern = z.string().refine((s) => {
  const parts = s.split('/')
  return parts.length === 3 && parts.every((p) => SEGMENT_OR_STAR.test(p))
}, 'must be "line/machine/sensor", each segment a name or "*", e.g. "line1/*/spindle_temp"')

const ruleSchema = z
  .strictObject({
    /** `line/machine/sensor`, `*` matches any one segment. */
    match: matchPattern,
    /** false: no detection at all on matching sensors. */
    enabled: z.boolean().optional(),
    /** Unit used in the event text when the readings carry none. */
    unit: z.string().min(1).max(32).optional(),
    limits: limits.partial.optional(),
    spike: spike.partial.optional(),
    drift: drift.partial.optional(),
    rateOfChange: rateOfChange.partial.optional(),
    flatline: flatline.partial.optional(),
    dropout: dropout.partial.optional(),
    rejectRate: rejectRate.partial.optional(),
  })
  .superRefine((rule, ctx) => checkLimits(rule.limits, ctx, ['limits']))

const defaultsSchema = z
  .strictObject({
    limits: limits.full,
    spike: spike.full,
    drift: drift.full,
    rateOfChange: rateOfChange.full,
    flatline: flatline.full,
    dropout: dropout.full,
    rejectRate: rejectRate.full,
  })
  .superRefine((d, ctx) => {
    checkLimits(d.limits, ctx, ['limits'])
    if (d.drift.fastTauS >= d.drift.slowTauS) ctx.addIssue({ code: 'custom', path: ['drift', 'fastTauS'], message: `must be below slowTauS (${d.drift.slowTauS})` })
  })
  .prefault({})

export const detectConfigSchema = z
  .strictObject({
    /** false: the bank sees readings but never reports anything. */
    enabled: z.boolean().default(true),
    /** Sensor names of each machine's counters: no analog detectors run on them; the reject-rate detector reads them. */
    counters: z
      .strictObject({
        parts: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default('part_count'),
        rejects: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default('reject_count'),
      })
      .prefault({}),
    /**
     * A machine changes operating state (start, stop, break) when this many of its sensors shift
     * level within `withinS` of each other; the drift detectors that follow the machine then
     * re-learn. One sensor shifting alone is that sensor's business (a breach, a repair).
     */
    machineChange: z
      .strictObject({
        minSensors: z.number().int().min(1).max(100).default(2),
        withinS: z.number().positive().max(3600).default(60),
      })
      .prefault({}),
    defaults: defaultsSchema,
    /** First match wins; a rule overrides only the fields it names (a debounce object as a whole). */
    rules: z.array(ruleSchema).default([]),
  })
  .superRefine((c, ctx) => {
    if (c.counters.parts === c.counters.rejects) ctx.addIssue({ code: 'custom', path: ['counters', 'rejects'], message: `must differ from counters.parts ("${c.counters.parts}")` })
    c.rules.forEach((rule, i) => {
      if (rule.drift?.fastTauS !== undefined || rule.drift?.slowTauS !== undefined) {
        const fast = rule.drift.fastTauS ?? c.defaults.drift.fastTauS
        const slow = rule.drift.slowTauS ?? c.defaults.drift.slowTauS
        if (fast >= slow) ctx.addIssue({ code: 'custom', path: ['rules', i, 'drift', 'fastTauS'], message: `must be below slowTauS (${slow})` })
      }
    })
  })
  .prefault({})

export type DetectConfig = z.output<typeof detectConfigSchema>
export type DetectConfigInput = z.input<typeof detectConfigSchema>
export type DetectRule = z.output<typeof ruleSchema>
export type LimitSettings = z.output<typeof limits.full>
export type SpikeSettings = z.output<typeof spike.full>
export type DriftSettings = z.output<typeof drift.full>
export type RateSettings = z.output<typeof rateOfChange.full>
export type FlatlineSettings = z.output<typeof flatline.full>
export type DropoutSettings = z.output<typeof dropout.full>
export type RejectRateSettings = z.output<typeof rejectRate.full>

function checkLimits(l: { high?: number | undefined; low?: number | undefined } | undefined, ctx: z.RefinementCtx, path: (string | number)[]): void {
  if (l?.high !== undefined && l.low !== undefined && l.low >= l.high) {
    ctx.addIssue({ code: 'custom', path: [...path, 'low'], message: `must be below high (${l.high})` })
  }
}
