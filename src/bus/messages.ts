// The messages shiftscribe writes to its local Kafka topics, as zod schemas. `v` is the schema
// version: a field is only ever added within a version; anything else is a new version.
// docs/schemas/ (JSON Schema for central teams) is generated from these.
import { z } from 'zod'

export const SCHEMA_VERSION = 1

/** Why a message was quarantined instead of journaled as readings. */
export const QUARANTINE_REASONS = [
  'payload_too_large', // over mqtt.maxPayloadBytes
  'empty_payload', // zero bytes
  'invalid_utf8', // not valid UTF-8 text
  'not_json', // JSON subscription, payload does not parse
  'not_a_number', // number subscription, payload is not a decimal number
  'wrong_type', // JSON that parses but is not a reading (or a list of them), or a field of the wrong type
  'missing_value', // a reading object without `value` (or `v`)
  'non_finite_value', // value is NaN or ±Infinity (e.g. 1e999)
  'bad_timestamp', // ts is neither epoch milliseconds nor an ISO-8601 date-time with offset
  'timestamp_out_of_range', // ts before 2000-01-01 or more than a day in the future
  'too_many_readings', // a JSON array longer than the per-message limit
  'bad_topic_segment', // a mapped topic segment is not [A-Za-z0-9_.-]{1,64}
  'unmapped_topic', // the topic matches no configured pattern
  'bad_protobuf', // Sparkplug B topic, payload is not a valid Sparkplug B protobuf (or lacks a required field)
  'no_birth', // Sparkplug B data whose birth is unknown or stale (no birth yet, seq gap, unknown alias): a rebirth was requested
] as const
export type QuarantineReason = (typeof QUARANTINE_REASONS)[number]

const segment = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/)

/** factory.readings, key `site/line/machine/sensor`. Times are epoch milliseconds (UTC). */
export const readingMessageSchema = z.object({
  v: z.literal(SCHEMA_VERSION),
  site: segment,
  line: segment,
  machine: segment,
  sensor: segment,
  /** Event time: from the payload, else the receive time. */
  ts: z.number().int(),
  value: z.number(),
  unit: z.string().max(32).optional(),
  quality: z.string().max(32).optional(),
  /** Sparkplug B `is_historical`: a stored reading sent late by the edge node (not live). Absent = live. */
  historical: z.literal(true).optional(),
  receivedAt: z.number().int(),
  mqttTopic: z.string(),
})
export type ReadingMessage = z.infer<typeof readingMessageSchema>

/** factory.quarantine, key = the MQTT topic. */
export const quarantineMessageSchema = z.object({
  v: z.literal(SCHEMA_VERSION),
  reason: z.enum(QUARANTINE_REASONS),
  /** Human-readable detail, e.g. `readings[3].ts: 1999-12-31T23:00:00Z is before 2000`. */
  detail: z.string().max(500),
  mqttTopic: z.string(),
  /** The original payload bytes, base64; cut at `payloadBytesKept` bytes for oversize payloads. */
  payloadBase64: z.string(),
  payloadBytes: z.number().int().nonnegative(),
  payloadTruncated: z.boolean(),
  receivedAt: z.number().int(),
})
export type QuarantineMessage = z.infer<typeof quarantineMessageSchema>

/**
 * Also on factory.readings (key `site/line/machine`, header schema `shiftscribe.machine-state`):
 * a machine went offline or came back, from Sparkplug B births and deaths. Consumers of the
 * readings topic tell the two apart by `type` (a reading has none). It rides the readings
 * topic so the aggregator applies it in the same exactly-once transaction as the readings,
 * and a rebuild replays it.
 */
export const machineStateMessageSchema = z.object({
  v: z.literal(SCHEMA_VERSION),
  type: z.literal('machine_state'),
  site: segment,
  line: segment,
  machine: segment,
  state: z.enum(['online', 'offline']),
  /** Event time: the birth's timestamp; for NDEATH (an MQTT will, stamped at connect) the receive time. */
  ts: z.number().int(),
  /** The Sparkplug message that said so. */
  cause: z.enum(['NBIRTH', 'DBIRTH', 'NDEATH', 'DDEATH']),
  /** Sparkplug ids as they came (validated printable, ≤ 128 characters). */
  group: z.string().max(128),
  edgeNode: z.string().max(128),
  device: z.string().max(128).optional(),
  /** The birth/death sequence number that ties an NDEATH to its NBIRTH. */
  bdSeq: z.number().int().optional(),
  receivedAt: z.number().int(),
  mqttTopic: z.string(),
})
export type MachineStateMessage = z.infer<typeof machineStateMessageSchema>

export function machineKey(m: { site: string; line: string; machine: string }): string {
  return `${m.site}/${m.line}/${m.machine}`
}

export function readingKey(r: { site: string; line: string; machine: string; sensor: string }): string {
  return `${r.site}/${r.line}/${r.machine}/${r.sensor}`
}

const groundingSchema = z.object({
  ok: z.boolean(),
  numbersChecked: z.number().int().nonnegative(),
  unmatched: z.array(z.string()),
  unknownNames: z.array(z.string()),
})

const generatorSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('llm'),
    model: z.string(),
    mode: z.enum(['plan', 'free']),
    attempts: z.number().int().positive(),
    promptTokens: z.number().int().nonnegative(),
    outputTokens: z.number().int().nonnegative(),
    ms: z.number().nonnegative(),
  }),
  z.object({
    type: z.literal('template'),
    reason: z.enum(['llm_disabled', 'llm_unavailable', 'deadline', 'ungrounded', 'invalid_output', 'llm_error', 'superseded']),
    detail: z.string().max(500).optional(),
  }),
])

export const factSchema = z.object({
  id: z.string(),
  metric: z.string(),
  scope: z.string(),
  value: z.number(),
  unit: z.string(),
  window: z.object({ start: z.number().int(), end: z.number().int() }),
  display: z.string(),
  text: z.string(),
})

/** Bounds of a narrative's text (the grammar and the templates keep to them). */
export const NARRATIVE_LIMITS = { headline: 200, body: 2000, highlights: 5, highlight: 300 } as const

/**
 * factory.narratives, key `site/scope` (`scope` is `site` for shift and period summaries,
 * `line/machine` for incidents). The same `id` again is a regenerated narrative that replaces
 * the earlier one.
 */
export const narrativeMessageSchema = z.object({
  v: z.literal(SCHEMA_VERSION),
  id: z.string().min(1),
  kind: z.enum(['shift', 'incident', 'answer']),
  site: segment,
  scope: z.string().min(1),
  periodStart: z.number().int(),
  periodEnd: z.number().int(),
  headline: z.string().min(1).max(NARRATIVE_LIMITS.headline),
  body: z.string().min(1).max(NARRATIVE_LIMITS.body),
  highlights: z.array(z.string().min(1).max(NARRATIVE_LIMITS.highlight)).max(NARRATIVE_LIMITS.highlights),
  facts: z.array(factSchema),
  generator: generatorSchema,
  grounding: groundingSchema,
  createdAt: z.number().int(),
})
export type NarrativeMessage = z.infer<typeof narrativeMessageSchema>

/** Question ids and askers: what may go into a Kafka key and a log line. */
const questionId = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 _ . : -')
const asker = z.string().regex(/^[A-Za-z0-9_.@:-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 _ . @ : -')

/** factory.questions, key = question id: a question for the gateway's question agent. */
export const questionMessageSchema = z.object({
  v: z.literal(SCHEMA_VERSION),
  id: questionId,
  /** Free text, untrusted; at most 500 characters after cleaning (the gateway refuses longer). */
  question: z.string().min(1).max(4000),
  askedBy: asker.optional(),
  /** Where the answer should also go (`central`: forwarded to the central answers topic). */
  replyTo: asker.optional(),
  /** The plant asked (required on the central questions topic: a gateway answers only its own site). */
  site: segment.optional(),
})
export type QuestionMessage = z.infer<typeof questionMessageSchema>

/** factory.answers, key = question id: the answer, with the facts it used. */
export const answerMessageSchema = z.object({
  v: z.literal(SCHEMA_VERSION),
  id: z.string().min(1),
  questionId,
  /** The question as cleaned by the gateway (control characters removed). */
  question: z.string().max(4000),
  askedBy: asker,
  replyTo: asker.optional(),
  site: segment,
  scope: z.string().min(1),
  /** How the question was understood (null: it could not be resolved, and the answer says so). */
  understood: z
    .object({
      intent: z.string(),
      label: z.string(),
      start: z.number().int(),
      end: z.number().int(),
      notes: z.array(z.string()),
    })
    .nullable(),
  headline: z.string().min(1).max(NARRATIVE_LIMITS.headline),
  body: z.string().min(1).max(NARRATIVE_LIMITS.body),
  highlights: z.array(z.string().min(1).max(NARRATIVE_LIMITS.highlight)).max(NARRATIVE_LIMITS.highlights),
  facts: z.array(factSchema),
  generator: z.union([
    generatorSchema,
    z.object({ type: z.literal('template'), reason: z.literal('unresolved'), detail: z.string().max(500).optional() }),
  ]),
  grounding: groundingSchema,
  createdAt: z.number().int(),
})
export type AnswerMessage = z.infer<typeof answerMessageSchema>

/** factory.anomalies, key `site/line/machine/sensor`: one message when an anomaly opens, one when it closes (same `id`). */
export const anomalyMessageSchema = z.object({
  v: z.literal(SCHEMA_VERSION),
  id: z.string().min(1),
  state: z.enum(['open', 'closed']),
  /** `offline` (a Sparkplug B death: the whole machine, sensor `_status`) was added to v1 on 2026-11-26; kinds may be added, as fields are. */
  kind: z.enum(['limit_breach', 'spike', 'drift', 'flatline', 'dropout', 'reject_rate_jump', 'rate_of_change', 'offline']),
  severity: z.enum(['warning', 'critical']),
  key: z.string(),
  site: segment,
  line: segment,
  machine: segment,
  sensor: segment,
  /** Event time the anomaly started (epoch ms). */
  startedAt: z.number().int(),
  /** Event time it ended (only when closed). */
  endedAt: z.number().int().optional(),
  observed: z.number(),
  expected: z.number().nullable(),
  detail: z.string(),
})
export type AnomalyMessage = z.infer<typeof anomalyMessageSchema>

const sensorKpiSchema = z.object({
  key: z.string(),
  line: segment,
  machine: segment,
  sensor: segment,
  unit: z.string().nullable(),
  count: z.number().int().nonnegative(),
  mean: z.number(),
  min: z.number(),
  max: z.number(),
  std: z.number(),
  coveragePct: z.number(),
  delta: z.number().nullable(),
})

const machineKpiSchema = z.object({
  line: segment,
  machine: segment,
  parts: z.number().nullable(),
  rejects: z.number().nullable(),
  rejectRatePct: z.number().nullable(),
  coveragePct: z.number(),
  anomalies: z.number().int().nonnegative(),
})

/** factory.kpis, key `site`: a shift's KPIs when it closes. */
export const kpisMessageSchema = z.object({
  v: z.literal(SCHEMA_VERSION),
  site: segment,
  shift: z.object({ id: z.string(), name: z.string(), date: z.string(), start: z.number().int(), end: z.number().int() }),
  closedBy: z.enum(['watermark', 'idle']),
  machines: z.array(machineKpiSchema),
  sensors: z.array(sensorKpiSchema),
})
export type KpisMessage = z.infer<typeof kpisMessageSchema>

/**
 * What the forwarder writes to the central topics: the local message plus `dedupId`
 * (`site:topic:partition:offset` of the local message), the same across gateway restarts, so
 * central consumers can drop the duplicates an at-least-once uplink can cause.
 */
const withDedupId = <T extends z.ZodObject>(schema: T) =>
  schema.extend({ dedupId: z.string().min(1).describe('site:topic:partition:offset of the local message; the same id is the same message') })

export const centralNarrativeSchema = withDedupId(narrativeMessageSchema)
export const centralAnomalySchema = withDedupId(anomalyMessageSchema)
export const centralKpisSchema = withDedupId(kpisMessageSchema)
export const centralAnswerSchema = withDedupId(answerMessageSchema)

/** The JSON Schemas published for central teams (docs/schemas/), by file name. */
export const CENTRAL_SCHEMAS = {
  'narrative.v1.json': centralNarrativeSchema,
  'anomaly.v1.json': centralAnomalySchema,
  'kpis.v1.json': centralKpisSchema,
  'answer.v1.json': centralAnswerSchema,
} as const
