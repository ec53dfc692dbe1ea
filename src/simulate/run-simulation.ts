// One call to run a simulation in-process: validate options (zod), build the plant, publish it
// to the broker, write the ground truth as anomalies start, and return the PUBACK-counted summary.
// The `shiftscribe simulate` command and the tests both go through here.
import { randomBytes } from 'node:crypto'
import { z } from 'zod'
import { segmentName, timeZone } from '../config/schema.js'
import { systemClock, type Clock } from '../util/clock.js'
import { ALL_BAD_KINDS, BAD_KINDS, SPARKPLUG_BAD_KINDS } from './bad-payloads.js'
import { PAYLOAD_FORMATS } from './message-source.js'
import { createPlant, type AnomalyPlan, type Plant } from './plant.js'
import { publishSimulation, type ConnectFn, type PublishProgress, type PublishSummary } from './publisher.js'
import { SENSOR_NAMES } from './sensors.js'
import { DEFAULT_BREAKS, DEFAULT_SHIFTS, parseHhMm } from './shift-pattern.js'
import { ANOMALY_KINDS, createTruthWriter, type AnomalyTruth, type TruthWriter } from './truth.js'

const segment = segmentName
const hhmm = z.string().refine((s) => /^([01]\d|2[0-3]):[0-5]\d$/.test(s), 'must be a local time like "06:00"')

export const simulationOptionsSchema = z
  .strictObject({
    url: z.string().min(1).default('mqtt://127.0.0.1:1883'),
    /** json: `{prefix}/{line}/{machine}/{sensor}` JSON readings; sparkplug: Sparkplug B, edge node = line, device = machine, metric = sensor. */
    format: z.enum(PAYLOAD_FORMATS).default('json'),
    /** Sparkplug group id. */
    sparkplugGroup: segment.default('plant'),
    /** Sparkplug: send no DDEATH/NDEATH at the end, so the machines stay online for the host. */
    sparkplugKeepAliveAtEnd: z.boolean().default(false),
    /** First topic level(s): topics are `{prefix}/{line}/{machine}/{sensor}`. */
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}(\/[A-Za-z0-9_.-]{1,64})*$/, 'must be topic levels of letters, digits, "_", "." or "-", e.g. "factory"')
      .default('factory'),
    /** Only written into the truth records. */
    site: segment.optional(),
    lines: z.number().int().min(1).max(1000).default(2),
    /** Machines per line. */
    machines: z.number().int().min(1).max(1000).default(5),
    sensors: z.array(z.enum(SENSOR_NAMES)).min(1).default([...SENSOR_NAMES]),
    seed: z.union([z.number(), z.string()]).default(1),
    /** Event time of the first sample; default: now, rounded down to the minute. */
    startTs: z.number().int().optional(),
    /** Event time runs this many times faster than wall time. */
    speed: z.number().positive().default(1),
    /** Target samples per wall second (JSON: messages). */
    ratePerS: z.number().positive().finite().default(100),
    durationS: z.number().positive().optional(),
    count: z.number().int().nonnegative().optional(),
    /** Most messages without PUBACK at any time. */
    window: z.number().int().min(1).max(65_000).default(1000),
    badRatio: z.number().min(0).max(1).default(0),
    /** Default: every kind of the format (JSON: BAD_KINDS; Sparkplug: bad_protobuf). */
    badKinds: z.array(z.enum(ALL_BAD_KINDS)).min(1).optional(),
    anomalies: z
      .discriminatedUnion('mode', [
        z.strictObject({ mode: z.literal('none') }),
        z.strictObject({ mode: z.literal('rate'), perMachinePerShift: z.number().min(0).max(100) }),
        z.strictObject({ mode: z.literal('count'), count: z.number().int().min(0).max(100_000) }),
      ])
      .default({ mode: 'rate', perMachinePerShift: 0.5 }),
    anomalyKinds: z.array(z.enum(ANOMALY_KINDS)).min(1).optional(),
    timeZone: timeZone.default('UTC'),
    shifts: z
      .array(z.strictObject({ name: segment, start: hhmm, end: hhmm }))
      .min(1)
      .default(() => DEFAULT_SHIFTS.map((s) => ({ ...s }))),
    breaks: z
      .array(z.strictObject({ afterMinutes: z.number().int().min(0), minutes: z.number().int().min(1) }))
      .default(() => DEFAULT_BREAKS.map((b) => ({ ...b }))),
    /** Produce on Saturdays and Sundays too. */
    weekends: z.boolean().default(false),
    /** JSONL ground truth, one line per anomaly as it starts. */
    truthFile: z.string().min(1).optional(),
    clientId: z.string().min(1).max(128).optional(),
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    progressIntervalMs: z.number().int().min(10).default(5000),
    drainTimeoutMs: z.number().int().min(0).default(30_000),
  })
  .superRefine((o, ctx) => {
    if (o.anomalies.mode === 'count' && o.anomalies.count > 0 && o.count === undefined && o.durationS === undefined) {
      ctx.addIssue({ code: 'custom', path: ['anomalies'], message: 'a fixed anomaly count needs count or durationS, to know the run length' })
    }
    const allowed: readonly string[] = o.format === 'json' ? BAD_KINDS : SPARKPLUG_BAD_KINDS
    for (const [i, k] of (o.badKinds ?? []).entries()) {
      if (!allowed.includes(k)) ctx.addIssue({ code: 'custom', path: ['badKinds', i], message: `"${k}" is not a kind of the ${o.format} format; choose from ${allowed.join(', ')}` })
    }
    const names = new Set<string>()
    for (const [i, s] of o.shifts.entries()) {
      if (parseHhMm(s.start) === parseHhMm(s.end) && o.shifts.length > 1) ctx.addIssue({ code: 'custom', path: ['shifts', i], message: 'a 24 h shift must be the only shift' })
      if (names.has(s.name)) ctx.addIssue({ code: 'custom', path: ['shifts', i, 'name'], message: `"${s.name}" used twice` })
      names.add(s.name)
    }
  })

export type SimulationInput = z.input<typeof simulationOptionsSchema>
export type SimulationOptions = z.output<typeof simulationOptionsSchema>

export interface SimulationDeps {
  connect?: ConnectFn
  clock?: Clock
  signal?: AbortSignal
  onProgress?: (progress: PublishProgress) => void
  onWarning?: (message: string) => void
  onTruth?: (truth: AnomalyTruth) => void
}

export interface SimulationResult extends PublishSummary {
  /** Sparkplug: each edge node's connection uses `<clientId>-<line>`. */
  clientId: string
  /** Event-time speed actually used (lower than asked when the sampling interval hit 1 ms). */
  speed: number
  sensorsPerTick: number
  /** The truth records of this run, in start order (also in truthFile when given). */
  truth: AnomalyTruth[]
}

/** Event time between two samples of one sensor: sensors × speed / rate seconds, at least 1 ms. */
export function samplingIntervalMs(sensorsPerTick: number, speed: number, ratePerS: number): number {
  return Math.max(1, (sensorsPerTick * speed * 1000) / ratePerS)
}

/** Builds the plant for parsed options (no I/O): what runSimulation publishes. */
export function buildPlant(options: SimulationOptions, startTs: number): Plant {
  const sensorsPerTick = options.lines * options.machines * options.sensors.length
  const intervalMs = samplingIntervalMs(sensorsPerTick, options.speed, options.ratePerS)
  let anomalies: AnomalyPlan
  if (options.anomalies.mode === 'count') {
    const spanMs =
      options.count !== undefined
        ? Math.ceil(options.count / sensorsPerTick) * intervalMs
        : (options.durationS ?? 0) * 1000 * ((intervalMs * options.ratePerS) / (sensorsPerTick * 1000))
    anomalies = { mode: 'count', count: options.anomalies.count, spanMs }
  } else {
    anomalies = options.anomalies
  }
  return createPlant({
    seed: options.seed,
    startTs,
    intervalMs,
    lines: options.lines,
    machinesPerLine: options.machines,
    sensors: options.sensors,
    prefix: options.prefix,
    ...(options.site === undefined ? {} : { site: options.site }),
    shiftPattern: { timeZone: options.timeZone, shifts: options.shifts, breaks: options.breaks, weekends: options.weekends },
    badRatio: options.badRatio,
    badKinds: options.badKinds ?? (options.format === 'json' ? BAD_KINDS : SPARKPLUG_BAD_KINDS),
    anomalies,
    ...(options.anomalyKinds === undefined ? {} : { anomalyKinds: options.anomalyKinds }),
  })
}

/** Runs a whole simulation against `url` and returns the summary plus the truth records. */
export async function runSimulation(input: SimulationInput, deps: SimulationDeps = {}): Promise<SimulationResult> {
  const options = simulationOptionsSchema.parse(input)
  const clock = deps.clock ?? systemClock
  const warn = deps.onWarning ?? (() => {})
  const startTs = options.startTs ?? Math.floor(clock.now() / 60_000) * 60_000
  const plant = buildPlant(options, startTs)
  const speed = (plant.intervalMs * options.ratePerS) / (plant.sensorsPerTick * 1000)
  if (speed < options.speed) {
    warn(`speed ${options.speed} needs samples closer than 1 ms apart at ${options.ratePerS}/s over ${plant.sensorsPerTick} sensors; running at speed ${round2(speed)}`)
  }
  if (options.durationS !== undefined) {
    const eventEnd = startTs + options.durationS * 1000 * speed
    const wallEnd = clock.now() + options.durationS * 1000
    if (eventEnd > wallEnd + 86_400_000) {
      warn('event time will run more than a day ahead of the wall clock: the gateway quarantines such readings as timestamp_out_of_range; pass a start in the past')
    }
  }
  const clientId = options.clientId ?? `shiftscribe-sim-${randomBytes(4).toString('hex')}`
  const truth: AnomalyTruth[] = []
  let writer: TruthWriter | undefined
  if (options.truthFile !== undefined) writer = createTruthWriter(options.truthFile)
  try {
    const summary = await publishSimulation({
      plant,
      url: options.url,
      ...(deps.connect === undefined ? {} : { connect: deps.connect }),
      mqttOptions: {
        clientId,
        ...(options.username === undefined ? {} : { username: options.username }),
        ...(options.password === undefined ? {} : { password: options.password }),
      },
      ...(options.format === 'sparkplug' ? { sparkplug: { group: options.sparkplugGroup, keepAliveAtEnd: options.sparkplugKeepAliveAtEnd } } : {}),
      ratePerS: options.ratePerS,
      ...(options.durationS === undefined ? {} : { durationS: options.durationS }),
      ...(options.count === undefined ? {} : { count: options.count }),
      window: options.window,
      clock,
      progressIntervalMs: options.progressIntervalMs,
      drainTimeoutMs: options.drainTimeoutMs,
      ...(deps.onProgress === undefined ? {} : { onProgress: deps.onProgress }),
      onWarning: warn,
      ...(deps.signal === undefined ? {} : { signal: deps.signal }),
      onTruth: (t) => {
        truth.push(t)
        writer?.write(t)
        deps.onTruth?.(t)
      },
    })
    return { ...summary, clientId, speed: round2(speed), sensorsPerTick: plant.sensorsPerTick, truth }
  } finally {
    writer?.close()
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100
}
