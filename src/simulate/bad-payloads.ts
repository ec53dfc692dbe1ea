// Malformed messages, one generator per quarantine reason the gateway must give them.
// Each kind has a few variants so a consumer is not tuned to one byte pattern.
import sparkplug from 'sparkplug-payload'
import type { QuarantineReason } from '../bus/messages.js'
import type { Rng } from './rng.js'

/** The kinds of a JSON run (the default set). */
export const BAD_KINDS = [
  'not_json',
  'wrong_type',
  'missing_value',
  'non_finite_value',
  'bad_timestamp',
  'timestamp_out_of_range',
  'empty_payload',
  'invalid_utf8',
  'payload_too_large',
  'bad_topic_segment',
] as const satisfies readonly QuarantineReason[]
/** The kinds of a Sparkplug B run: bytes on a DDATA topic that do not decode. */
export const SPARKPLUG_BAD_KINDS = ['bad_protobuf'] as const satisfies readonly QuarantineReason[]
export const ALL_BAD_KINDS = [...BAD_KINDS, ...SPARKPLUG_BAD_KINDS] as const
export type BadKind = (typeof ALL_BAD_KINDS)[number]

/** What the bad message stands in for: the reading it replaces. */
export interface BadPayloadContext {
  prefix: string
  line: string
  machine: string
  sensor: string
  ts: number
  value: number
  unit: string
}

export interface BadMessage {
  topic: string
  payload: Buffer
}

/** Size of a `payload_too_large` message: above the gateway's default 64 KiB limit. */
export const TOO_LARGE_BYTES = 70_000
const YEAR_MS = 365 * 86_400_000
const tahu = sparkplug.get('spBv1.0')
const PAST_BASE = Date.UTC(1990, 0, 1)
const FUTURE_BASE = Date.UTC(2150, 0, 1)

export function createBadPayload(kind: BadKind, ctx: BadPayloadContext, rng: Rng): BadMessage {
  const topic = `${ctx.prefix}/${ctx.line}/${ctx.machine}/${ctx.sensor}`
  const { ts, value, unit } = ctx
  const json = (text: string): BadMessage => ({ topic, payload: Buffer.from(text, 'utf8') })
  switch (kind) {
    case 'not_json':
      return json(
        rng.pick([
          `{"value": ${value},`,
          `{value: ${value}, ts: ${ts}}`,
          `value=${value};ts=${ts}`,
          `{"value":${value},"ts":${ts},"unit":"${unit}"`,
        ]),
      )
    case 'wrong_type':
      return json(rng.pick([`{"value":"abc","ts":${ts}}`, '[1,2]', '"text"']))
    case 'missing_value':
      return json(`{"ts":${ts},"unit":"${unit}","quality":"good"}`)
    case 'non_finite_value':
      return json(`{"value":${rng.pick(['1e999', '-1e999'])},"ts":${ts},"unit":"${unit}"}`)
    case 'bad_timestamp':
      return json(`{"value":${value},"ts":"${rng.pick(['yesterday', 'tomorrow at noon', '31/02/2024 25:61'])}","unit":"${unit}"}`)
    case 'timestamp_out_of_range': {
      // Far outside any wall clock the gateway may have: 1990, or the year 2150.
      const wrongTs = (rng.chance(0.5) ? PAST_BASE : FUTURE_BASE) + (((ts % YEAR_MS) + YEAR_MS) % YEAR_MS)
      return json(`{"value":${value},"ts":${wrongTs},"unit":"${unit}","quality":"good"}`)
    }
    case 'empty_payload':
      return { topic, payload: Buffer.alloc(0) }
    case 'invalid_utf8': {
      const variant = rng.int(0, 2)
      const bytes =
        variant === 0
          ? Buffer.concat([Buffer.from(`{"value":${value},"ts":${ts},"unit":"`), Buffer.from([0xc3, 0x28]), Buffer.from('"}')])
          : variant === 1
            ? Buffer.from([0xc3, 0x28, 0xa0, 0xa1])
            : Buffer.from([0xff, 0xfe, 0xfd, 0x7b, 0x7d])
      return { topic, payload: bytes }
    }
    case 'payload_too_large': {
      // A well-formed reading padded past the limit, so only its size is wrong.
      const head = `{"value":${value},"ts":${ts},"unit":"${unit}","quality":"good","pad":"`
      const headBytes = Buffer.byteLength(head)
      const payload = Buffer.alloc(TOO_LARGE_BYTES, 0x78) // 'x'
      payload.write(head, 0, 'utf8')
      payload.write('"}', TOO_LARGE_BYTES - 2, 'latin1')
      if (headBytes >= TOO_LARGE_BYTES - 2) throw new Error('unreachable: head longer than the padded payload')
      return { topic, payload }
    }
    case 'bad_topic_segment': {
      // A valid reading on a topic one of whose mapped segments is not [A-Za-z0-9_.-]{1,64}.
      // No control characters: mosquitto rejects those in topic names and drops the connection.
      const variant = rng.int(0, 3)
      const badTopic =
        variant === 0
          ? `${ctx.prefix}/${ctx.line}/${ctx.machine}/${ctx.sensor} ☃`
          : variant === 1
            ? `${ctx.prefix}/${ctx.line}/${ctx.machine}🔥/${ctx.sensor}`
            : variant === 2
              ? `${ctx.prefix}/${ctx.line}/${ctx.machine}/${ctx.sensor}_${'x'.repeat(64)}`
              : `${ctx.prefix}/${ctx.line}/${ctx.machine} 2/${ctx.sensor}`
      return { topic: badTopic, payload: Buffer.from(`{"value":${value},"ts":${ts},"unit":"${unit}","quality":"good"}`, 'utf8') }
    }
    case 'bad_protobuf':
      // The topic is the JSON one like for every kind; the Sparkplug edge moves it to the machine's DDATA topic.
      return { topic, payload: badProtobuf(ctx, rng) }
  }
}

/**
 * Bytes that Tahu's decoder rejects (never empty, that is `empty_payload`): a real DDATA payload
 * cut inside a field, one with a field of an invalid wire type appended, or random bytes that
 * start with one. A cut can land on a field boundary and still decode, so each cut is checked.
 */
function badProtobuf(ctx: BadPayloadContext, rng: Rng): Buffer {
  // Wire types 6 and 7 do not exist; fields 1-5 are Payload's own, whose wire type protobufjs trusts.
  const invalidTag = (): number => (rng.int(6, 15) << 3) | rng.pick([6, 7])
  const real = (): Buffer => {
    if (tahu === null) throw new Error('unreachable: sparkplug-payload has no spBv1.0 codec')
    const metric = { alias: rng.int(1, 64), type: 'Double' as const, value: ctx.value, timestamp: ctx.ts }
    return Buffer.from(tahu.encodePayload({ timestamp: ctx.ts, seq: rng.int(0, 255), metrics: [metric] }))
  }
  const variant = rng.int(0, 2)
  if (variant === 0) {
    const whole = real()
    for (let attempt = 0; attempt < 8; attempt++) {
      const cut = whole.subarray(0, rng.int(1, whole.length - 1))
      if (!decodes(cut)) return Buffer.from(cut)
    }
  }
  if (variant === 1) return Buffer.concat([real(), Buffer.from([invalidTag(), rng.int(0, 255), rng.int(0, 255)])])
  const bytes = Buffer.alloc(rng.int(4, 48))
  for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(0, 255)
  bytes[0] = invalidTag()
  return bytes
}

function decodes(bytes: Buffer): boolean {
  try {
    tahu?.decodePayload(bytes)
    return true
  } catch {
    return false
  }
}
