// The gateway's configuration, as one zod schema. Every object is strict so a typo is an
// error with a path, not a silently ignored key. Defaults live here and nowhere else.
import { z } from 'zod'
import { detectConfigSchema } from '../detect/config.js'
import { WEEKDAYS } from '../shifts/shift-calendar.js'

/** Names that end up in Kafka keys, topics and the page: site, line, machine, sensor. */
export const SEGMENT_RE = /^[A-Za-z0-9_.-]{1,64}$/
const KAFKA_TOPIC_RE = /^[A-Za-z0-9._-]{1,249}$/
const PLACEHOLDER_RE = /^\{([A-Za-z]+)\}$/
export const PATTERN_FIELDS = ['site', 'line', 'machine', 'sensor'] as const
const REQUIRED_PATTERN_FIELDS = ['line', 'machine', 'sensor'] as const

export const segmentName = z
  .string()
  .regex(SEGMENT_RE, 'must be 1–64 characters of letters, digits, "_", "." or "-"')

const port = z.number().int().min(1).max(65535)

const brokerAddress = z.string().refine(
  (s) => {
    const m = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})$/.exec(s)
    return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 65535
  },
  { message: 'must be "host:port", e.g. "127.0.0.1:9092"' },
)

const kafkaTopic = z
  .string()
  .regex(KAFKA_TOPIC_RE, 'must be 1–249 characters of letters, digits, ".", "_" or "-"')

const mqttUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s)
      return ['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(u.protocol) && u.hostname !== ''
    } catch {
      return false
    }
  },
  { message: 'must be a URL like "mqtt://127.0.0.1:1883" (schemes: mqtt, mqtts, ws, wss)' },
)

export const timeZone = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz })
      return true
    } catch {
      return false
    }
  },
  { message: 'must be an IANA time zone such as "Europe/Berlin" or "UTC"' },
)

export const subscriptionSchema = z
  .strictObject({
    /** MQTT topic filter; `+` wildcards are mapped by `pattern`. */
    filter: z.string().min(1),
    /** Same segments as `filter`, with `{line}`, `{machine}`, `{sensor}` (and optionally `{site}`) where the filter has `+`. */
    pattern: z.string().min(1),
    /** How payloads on this filter are decoded. */
    format: z.enum(['json', 'number']).default('json'),
  })
  .superRefine((sub, ctx) => checkPattern(sub.filter, sub.pattern, ctx))

function checkPattern(filter: string, pattern: string, ctx: z.RefinementCtx): void {
  const filterSegments = filter.split('/')
  const patternSegments = pattern.split('/')
  if (filterSegments.includes('#')) {
    ctx.addIssue({
      code: 'custom',
      path: ['filter'],
      message: '"#" cannot be mapped to named segments; use one "+" per segment',
    })
    return
  }
  if (filterSegments.length !== patternSegments.length) {
    ctx.addIssue({
      code: 'custom',
      path: ['pattern'],
      message: `has ${patternSegments.length} segments but filter "${filter}" has ${filterSegments.length}`,
    })
    return
  }
  const seen = new Set<string>()
  patternSegments.forEach((seg, i) => {
    const filterSeg = filterSegments[i] ?? ''
    const placeholder = PLACEHOLDER_RE.exec(seg)
    if (placeholder) {
      const name = placeholder[1] ?? ''
      if (!(PATTERN_FIELDS as readonly string[]).includes(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['pattern'],
          message: `unknown placeholder "{${name}}"; use ${PATTERN_FIELDS.map((f) => `{${f}}`).join(', ')}`,
        })
      } else if (seen.has(name)) {
        ctx.addIssue({ code: 'custom', path: ['pattern'], message: `"{${name}}" used twice` })
      }
      seen.add(name)
      if (filterSeg !== '+') {
        ctx.addIssue({
          code: 'custom',
          path: ['pattern'],
          message: `segment ${i + 1} "{${name}}" must sit where the filter has "+", but the filter has "${filterSeg}"`,
        })
      }
    } else if (seg.includes('{') || seg.includes('}')) {
      ctx.addIssue({ code: 'custom', path: ['pattern'], message: `segment ${i + 1} "${seg}" is not a placeholder like "{sensor}"` })
    } else if (seg === '+') {
      if (filterSeg !== '+') {
        ctx.addIssue({ code: 'custom', path: ['pattern'], message: `segment ${i + 1} is "+" but the filter has "${filterSeg}"` })
      }
    } else if (seg !== filterSeg) {
      ctx.addIssue({
        code: 'custom',
        path: ['pattern'],
        message: `segment ${i + 1} "${seg}" differs from the filter's "${filterSeg}"`,
      })
    }
  })
  for (const field of REQUIRED_PATTERN_FIELDS) {
    if (!seen.has(field)) {
      ctx.addIssue({ code: 'custom', path: ['pattern'], message: `must contain "{${field}}"` })
    }
  }
}

const SPARKPLUG_ID_RE = /^[^+#/\u0000-\u001f\u007f-\u009f]{1,128}$/
const SPARKPLUG_TEMPLATE_RE = /^(?:[A-Za-z0-9_.-]|\{(?:group|edge|device|metric)\})+$/

/** A name template over the Sparkplug ids: `{group}`, `{edge}`, `{device}`, `{metric}` and literal [A-Za-z0-9_.-]. */
const sparkplugTemplate = (allowed: readonly string[]) =>
  z
    .string()
    .regex(SPARKPLUG_TEMPLATE_RE, 'must be letters, digits, "_", ".", "-" and {group} {edge} {device} {metric}')
    .refine((t) => [...t.matchAll(/\{(\w+)\}/g)].every((m) => allowed.includes(m[1] ?? '')), {
      message: `may only use ${allowed.map((a) => `{${a}}`).join(' ')} here`,
    })

export const sparkplugSchema = z
  .strictObject({
    /** Ingest Eclipse Sparkplug B (protobuf, `spBv1.0/…` topics) as a host application. */
    enabled: z.boolean().default(false),
    /** The host application id: the gateway publishes its retained state on `spBv1.0/STATE/<hostId>`. Default: shiftscribe-<site>. */
    hostId: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1–64 characters of letters, digits, "_", "." or "-"').optional(),
    /** Sparkplug group ids to subscribe to; "+" means every group. */
    groups: z
      .array(z.string().refine((g) => g === '+' || SPARKPLUG_ID_RE.test(g), 'must be a Sparkplug group id (no "/", "+", "#" or control characters), or "+"'))
      .min(1)
      .default(['+']),
    /** How Sparkplug ids become line/machine/sensor names (any other character becomes "_", "/" becomes "."). */
    map: z
      .strictObject({
        /** Line of every metric. */
        line: sparkplugTemplate(['group', 'edge']).default('{edge}'),
        /** Machine of a device's metrics. */
        machine: sparkplugTemplate(['group', 'edge', 'device']).default('{device}'),
        /** Machine of an edge node's own metrics (NBIRTH/NDATA). */
        nodeMachine: sparkplugTemplate(['group', 'edge']).default('{edge}'),
        /** Sensor of a metric. */
        sensor: sparkplugTemplate(['group', 'edge', 'device', 'metric']).default('{metric}'),
      })
      .prefault({}),
    /** Exact Sparkplug metric name → sensor name, ahead of map.sensor (e.g. "Motor/Temp (C)": motor_temp). */
    metricNames: z.record(z.string().min(1).max(256), segmentName).default({}),
    /** Metrics that are not sensor data: a name equal to one of these, or starting with one that ends in "/". */
    skipMetrics: z.array(z.string().min(1).max(256)).default(['bdSeq', 'Node Control/', 'Device Control/']),
    /** Least time between two rebirth requests (NCMD Node Control/Rebirth) to one edge node. */
    rebirthMinIntervalS: z.number().min(0.1).max(3600).default(10),
    /** Publish the host application's retained STATE (Sparkplug 3.0), with the offline one as MQTT will. */
    publishState: z.boolean().default(true),
  })
  .prefault({})

const mqttSchema = z
  .strictObject({
    /** The ingest stage (MQTT → journal). Off: a box that only aggregates, narrates or forwards what is already in its local Kafka. */
    enabled: z.boolean().default(true),
    url: mqttUrl.default('mqtt://127.0.0.1:1883'),
    /** Stable client id: the broker keeps the persistent session (and queued QoS1 messages) under it. Default: shiftscribe-<site>. */
    clientId: z.string().min(1).max(128).optional(),
    username: z.string().min(1).optional(),
    /** Prefer `passwordFile` or the SHIFTSCRIBE_MQTT_PASSWORD env var over a password in this file. */
    password: z.string().min(1).optional(),
    passwordFile: z.string().min(1).optional(),
    keepaliveS: z.number().int().min(5).max(3600).default(30),
    /** How long the broker keeps the session (and queues QoS1 messages) while the gateway is away. */
    sessionExpiryS: z.number().int().min(0).max(4294967295).default(7 * 24 * 3600),
    reconnectMinMs: z.number().int().min(100).default(1000),
    reconnectMaxMs: z.number().int().min(100).default(30000),
    /** Payloads larger than this are quarantined. */
    maxPayloadBytes: z.number().int().min(16).max(268435455).default(65536),
    /** A JSON array payload with more readings than this is quarantined. */
    maxReadingsPerMessage: z.number().int().min(1).max(100000).default(1000),
    subscriptions: z.array(subscriptionSchema).default([]),
    /** Eclipse Sparkplug B ingest (docs/sparkplug.md). */
    sparkplug: sparkplugSchema,
  })
  .superRefine((m, ctx) => {
    if (m.enabled && m.subscriptions.length === 0 && !m.sparkplug.enabled) {
      ctx.addIssue({ code: 'custom', path: ['subscriptions'], message: 'needs at least one subscription, or sparkplug.enabled (or mqtt.enabled: false)' })
    }
    m.subscriptions.forEach((s, i) => {
      if (m.sparkplug.enabled && ['spBv1.0', '#'].includes(s.filter.split('/')[0] ?? '')) {
        ctx.addIssue({ code: 'custom', path: ['subscriptions', i, 'filter'], message: `"${s.filter}" overlaps the Sparkplug namespace spBv1.0/…; Sparkplug topics are subscribed by mqtt.sparkplug` })
      }
    })
    if (m.sparkplug.groups.includes('+') && m.sparkplug.groups.length > 1) {
      ctx.addIssue({ code: 'custom', path: ['sparkplug', 'groups'], message: '"+" already means every group; list group ids or "+" alone' })
    }
    if (m.password !== undefined && m.passwordFile !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['password'], message: 'set either password or passwordFile, not both' })
    }
    if (m.reconnectMinMs > m.reconnectMaxMs) {
      ctx.addIssue({ code: 'custom', path: ['reconnectMinMs'], message: `must not exceed reconnectMaxMs (${m.reconnectMaxMs})` })
    }
    const filters = new Map<string, number>()
    m.subscriptions.forEach((s, i) => {
      const first = filters.get(s.filter)
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['subscriptions', i, 'filter'],
          message: `"${s.filter}" is already subscribed by subscriptions[${first}]`,
        })
      } else {
        filters.set(s.filter, i)
      }
    })
  })

const localTopicsSchema = z
  .strictObject({
    readings: kafkaTopic.default('factory.readings'),
    quarantine: kafkaTopic.default('factory.quarantine'),
    anomalies: kafkaTopic.default('factory.anomalies'),
    kpis: kafkaTopic.default('factory.kpis'),
    narratives: kafkaTopic.default('factory.narratives'),
    questions: kafkaTopic.default('factory.questions'),
    answers: kafkaTopic.default('factory.answers'),
  })
  .prefault({})

const centralTopicsSchema = z
  .strictObject({
    summaries: kafkaTopic.default('plant.summaries'),
    anomalies: kafkaTopic.default('plant.anomalies'),
    kpis: kafkaTopic.default('plant.kpis'),
    /** Questions from central teams to any plant (a question names its `site`). */
    questions: kafkaTopic.default('plant.questions'),
    /** Answers to the questions that came from the central cluster. */
    answers: kafkaTopic.default('plant.answers'),
  })
  .prefault({})

const kafkaLocalSchema = z
  .strictObject({
    brokers: z.array(brokerAddress).min(1).default(['127.0.0.1:9092']),
    clientId: z.string().min(1).optional(),
    topics: localTopicsSchema,
    /**
     * Partitions for topics the gateway creates. One keeps a total order, so a rebuild replays
     * exactly what the live aggregator saw (verify then also compares anomalies and shift KPIs);
     * more only add parallelism that one gateway process does not use. Keys (one per sensor)
     * keep per-sensor order with any count.
     */
    partitions: z.number().int().min(1).max(1000).default(1),
    replicationFactor: z.number().int().min(1).max(7).default(1),
  })
  .prefault({})

const centralTlsSchema = z.strictObject({
  /** PEM CA bundle that signed the brokers' certificates; without it, the system's CAs. */
  caFile: z.string().min(1).optional(),
  /** PEM client certificate and key for mutual TLS (both or neither). */
  certFile: z.string().min(1).optional(),
  keyFile: z.string().min(1).optional(),
  /** The name the brokers' certificates must carry, when it differs from the broker address. Hostname verification is always on. */
  servername: z.string().min(1).optional(),
})

const centralSaslSchema = z
  .strictObject({
    mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
    username: z.string().min(1),
    /** Prefer `passwordFile` (systemd credentials) or SHIFTSCRIBE_KAFKA_CENTRAL_SASL_PASSWORD. */
    password: z.string().min(1).optional(),
    /** Read again at every connection attempt, so a fixed secret applies without a restart. */
    passwordFile: z.string().min(1).optional(),
  })
  .superRefine((s, ctx) => {
    if ((s.password === undefined) === (s.passwordFile === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['password'], message: 'set exactly one of password or passwordFile' })
    }
  })

const kafkaCentralSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    brokers: z.array(brokerAddress).min(1).default(['127.0.0.1:9092']),
    clientId: z.string().min(1).optional(),
    topics: centralTopicsSchema,
    /** Create the central topics when they are missing (needs the right to); off when the central team creates them. */
    createTopics: z.boolean().default(true),
    /** For topics the gateway creates there; a production cluster wants replicationFactor 3. */
    partitions: z.number().int().min(1).max(1000).default(3),
    replicationFactor: z.number().int().min(1).max(7).default(1),
    /** TLS to the central cluster (on whenever this section is present). */
    tls: centralTlsSchema.optional(),
    /** SASL authentication (over TLS when `tls` is set). */
    sasl: centralSaslSchema.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.tls && (c.tls.certFile === undefined) !== (c.tls.keyFile === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['tls', 'certFile'], message: 'set both certFile and keyFile for mutual TLS, or neither' })
    }
  })
  .prefault({})

const forwardSchema = z
  .strictObject({
    /** Which local topics go to the central cluster (kafka.central.enabled turns forwarding on). */
    sources: z
      .strictObject({
        narratives: z.boolean().default(true),
        anomalies: z.boolean().default(true),
        kpis: z.boolean().default(true),
        /** Answers to questions that came from the central cluster (replyTo "central"). */
        answers: z.boolean().default(true),
      })
      .prefault({}),
    /** Mirror the central questions topic down to factory.questions (only questions for this site), so central teams can ask this plant. */
    questions: z.boolean().default(true),
    /** The forwarder's consumer group on the local Kafka: its committed offsets are the bookmark. Default: <gatewayId>-forward. */
    groupId: z.string().min(1).optional(),
    /** Messages per central request at most. */
    batchMaxMessages: z.number().int().min(1).max(10_000).default(500),
    /** Upload cap in bytes per second (0: none), for thin uplinks. */
    maxBytesPerS: z.number().int().min(0).default(0),
    retryMinMs: z.number().int().min(50).default(500),
    retryMaxMs: z.number().int().min(100).default(60_000),
    /** The longest uplink outage to ride out: the local topics keep at least this much (retention). */
    maxOutageHours: z.number().min(1).max(24 * 365).default(72),
    /** Retention the gateway sets on the topics it forwards when it creates them (the offline buffer). */
    localRetentionHours: z.number().min(1).max(24 * 3650).default(168),
  })
  .superRefine((f, ctx) => {
    if (f.retryMinMs > f.retryMaxMs) ctx.addIssue({ code: 'custom', path: ['retryMinMs'], message: `must not exceed retryMaxMs (${f.retryMaxMs})` })
  })
  .prefault({})

const journalSchema = z
  .strictObject({
    /** The journal's SQLite file. Default: <dataDir>/journal.db. */
    file: z.string().min(1).optional(),
    /** normal: a commit survives a crash of the process (kill -9); full: also a power loss (slower). */
    synchronous: z.enum(['normal', 'full']).default('normal'),
    /** Upper bound of undelivered journal content (keys + values), bytes. */
    maxBytes: z
      .number()
      .int()
      .min(1024 * 1024)
      .default(512 * 1024 * 1024),
    /** When full: block = stop acking so the broker keeps the messages; drop-oldest = drop undelivered rows, counted. */
    whenFull: z.enum(['block', 'drop-oldest']).default('block'),
  })
  .prefault({})

const pumpSchema = z
  .strictObject({
    /** Most records per Kafka send. */
    batchMaxMessages: z.number().int().min(1).max(100000).default(5000),
    /** Most bytes (keys + values, before compression) per Kafka send. */
    batchMaxBytes: z
      .number()
      .int()
      .min(1024)
      .default(1024 * 1024),
    /** How long the pump waits for more records before sending a small batch. */
    lingerMs: z.number().int().min(0).max(10000).default(5),
    compression: z.enum(['gzip', 'none']).default('gzip'),
    /** Backoff while Kafka is unreachable: starts at retryMinMs, doubles up to retryMaxMs (with jitter). */
    retryMinMs: z.number().int().min(10).default(200),
    retryMaxMs: z.number().int().min(10).default(30000),
    /** On stop, how long the pump keeps sending what is journaled before it gives up (the rest stays in the journal). */
    drainTimeoutMs: z.number().int().min(0).default(10000),
  })
  .superRefine((p, ctx) => {
    if (p.retryMinMs > p.retryMaxMs) {
      ctx.addIssue({ code: 'custom', path: ['retryMinMs'], message: `must not exceed retryMaxMs (${p.retryMaxMs})` })
    }
  })
  .prefault({})

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a local time like "06:00"')
const WORKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri'] as const

const shiftDefinitionSchema = z.strictObject({
  name: segmentName,
  /** Local start, "HH:MM". */
  start: hhmm,
  /** Local end, "HH:MM"; at or before start = the next day. */
  end: hhmm,
  /** Weekdays the shift starts on. */
  days: z.array(z.enum(WEEKDAYS)).min(1).default([...WORKDAYS]),
})

const shiftsSchema = z
  .strictObject({
    definitions: z
      .array(shiftDefinitionSchema)
      .min(1)
      .default(() => [
        { name: 'early', start: '06:00', end: '14:00', days: [...WORKDAYS] },
        { name: 'late', start: '14:00', end: '22:00', days: [...WORKDAYS] },
        { name: 'night', start: '22:00', end: '06:00', days: [...WORKDAYS] },
      ]),
    /** A shift closes when the event-time watermark (max event time − this) passes its end. */
    allowedLatenessS: z.number().int().min(0).max(86400).default(120),
    /** …or when no data came for this long (wall clock) after its end. */
    idleTimeoutS: z.number().int().min(1).max(86400).default(900),
  })
  .superRefine((s, ctx) => {
    const seen = new Set<string>()
    s.definitions.forEach((d, i) => {
      if (seen.has(d.name)) ctx.addIssue({ code: 'custom', path: ['definitions', i, 'name'], message: `shift name "${d.name}" used twice` })
      seen.add(d.name)
    })
  })
  .prefault({})

const storeSchema = z
  .strictObject({
    /** The state database. Default: <dataDir>/state.db. */
    file: z.string().min(1).optional(),
    synchronous: z.enum(['normal', 'full']).default('normal'),
    /** Minute buckets and closed anomalies older than this are pruned. */
    retentionDays: z.number().int().min(1).max(3650).default(30),
  })
  .prefault({})

const aggregateSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** Kafka consumer group (only for lag monitoring: positions live in the state database). Default: <gatewayId>-aggregate. */
    groupId: z.string().min(1).optional(),
  })
  .prefault({})

const llmSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** A GGUF instruct model file. Relative paths resolve against the working directory (systemd: /opt/shiftscribe). */
    modelPath: z.string().min(1).default('models/SmolLM2-135M-Instruct.Q4_1.gguf'),
    /** CPU threads for inference. Never more than the box's cores; 2 suits a 2-core edge box. */
    threads: z.number().int().min(1).max(256).default(2),
    gpu: z.boolean().default(false),
    contextSize: z.number().int().min(256).max(131072).default(2048),
  })
  .prefault({})

const askSchema = z
  .strictObject({
    /** The question agent (needs `aggregate` and `narrate`): factory.questions, POST /api/ask, `shiftscribe ask`. */
    enabled: z.boolean().default(true),
    /** Longest question, characters. */
    maxQuestionChars: z.number().int().min(20).max(4000).default(500),
    /** Questions waiting; beyond it a question is refused at once. */
    maxQueue: z.number().int().min(1).max(1000).default(16),
    /** Questions one asker may ask per minute. */
    perAskerPerMinute: z.number().int().min(1).max(600).default(10),
    /** A question not answered by then gets the template answer. */
    deadlineMs: z.number().int().min(100).max(600000).default(30000),
  })
  .prefault({})

const narrateSchema = z
  .strictObject({
    /** Shift summaries and incident narratives (needs `aggregate`). Off: no narratives at all. */
    enabled: z.boolean().default(true),
    /**
     * How the model writes: `plan` — it picks fact ids and writes digit-free phrases, the code
     * inserts the numbers (right by construction; for ~100M–300M models); `free` — it writes the
     * text and every number is checked (for 1–4B models); `auto` — `plan` below 1B parameters.
     */
    mode: z.enum(['auto', 'plan', 'free']).default('auto'),
    /** A narrative job that has not finished by then gets the template narrative. */
    deadlineMs: z.number().int().min(1).max(600_000).default(30_000),
    /** Most model tokens one answer may take. */
    maxTokens: z.number().int().min(32).max(4096).default(400),
    /** Pending jobs at most; beyond it the oldest shift jobs (then incidents) get the template at once. */
    maxQueue: z.number().int().min(1).max(10_000).default(64),
    /** Anomalies on one machine that start within this many seconds of each other are one incident. */
    coalesceWindowS: z.number().int().min(0).max(86_400).default(600),
    /** Minutes of sensor history before an incident that its facts compare against. */
    incidentContextMin: z.number().int().min(1).max(1440).default(30),
    /** Facts given to the model (all facts are kept on the narrative and used by grounding). */
    maxPromptFacts: z.number().int().min(1).max(40).default(12),
    /** At start, write the narratives still missing for shifts closed and incidents opened in this many hours. */
    catchUpHours: z.number().min(0).max(168).default(24),
  })
  .prefault({})

const httpSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(8080),
    /** Bearer token for the few requests that change state (regenerate a narrative); without one they are off. Prefer tokenFile or SHIFTSCRIBE_HTTP_TOKEN. */
    token: z.string().min(16).optional(),
    tokenFile: z.string().min(1).optional(),
  })
  .superRefine((h, ctx) => {
    if (h.token !== undefined && h.tokenFile !== undefined) ctx.addIssue({ code: 'custom', path: ['token'], message: 'set either token or tokenFile, not both' })
  })
  .prefault({})

const lifecycleSchema = z
  .strictObject({
    /**
     * On SIGTERM/SIGINT the stages stop in reverse order, each within its own bound (pump
     * drain, LLM job deadline); if all of that takes longer than this, the process exits 1
     * anyway (the journal is durable, so nothing is lost). Keep it below systemd's TimeoutStopSec.
     */
    stopTimeoutS: z.number().int().min(1).max(3600).default(60),
    /** The systemd watchdog (WatchdogSec=) is pinged only while the event loop's delay stays below this. */
    watchdogMaxEventLoopDelayMs: z.number().int().min(100).max(600000).default(10000),
  })
  .prefault({})

const logSchema = z
  .strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  })
  .prefault({})

export const configSchema = z.strictObject({
  /** This plant; first part of every Kafka key and narrative scope. */
  site: segmentName,
  /** This box; in forwarded headers. Default: shiftscribe-<site>. */
  gatewayId: segmentName.optional(),
  /** Where the journal and state databases live (systemd: /var/lib/shiftscribe). Relative paths resolve against the working directory. */
  dataDir: z.string().min(1).default('data'),
  /** The plant's IANA time zone: shifts and reports follow it, DST included. */
  timeZone: timeZone.default('UTC'),
  log: logSchema,
  lifecycle: lifecycleSchema,
  mqtt: mqttSchema,
  journal: journalSchema,
  pump: pumpSchema,
  store: storeSchema,
  aggregate: aggregateSchema,
  shifts: shiftsSchema,
  /** Anomaly detectors; `detect.counters` also names the counters the shift KPIs use. */
  detect: detectConfigSchema,
  kafka: z
    .strictObject({
      local: kafkaLocalSchema,
      central: kafkaCentralSchema,
    })
    .prefault({}),
  forward: forwardSchema,
  narrate: narrateSchema,
  ask: askSchema,
  llm: llmSchema,
  http: httpSchema,
})

export type ConfigInput = z.input<typeof configSchema>
export type ParsedConfig = z.output<typeof configSchema>
export type SubscriptionConfig = z.output<typeof subscriptionSchema>
export type SparkplugConfig = z.output<typeof sparkplugSchema>
