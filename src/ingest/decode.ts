// Decodes an MQTT payload into readings, or says precisely why it cannot (the quarantine
// reason). Pure: no I/O, the current time comes in as an argument.
import type { QuarantineReason } from '../bus/messages.js'

export type PayloadFormat = 'json' | 'number'

export interface DecodedReading {
  value: number
  /** Event time, epoch ms, when the payload carried one. */
  ts?: number
  unit?: string
  quality?: string
}

export type DecodeResult = { ok: true; readings: DecodedReading[] } | { ok: false; reason: QuarantineReason; detail: string }

export interface DecodeLimits {
  maxPayloadBytes: number
  maxReadings: number
  /** Wall-clock time of receipt, epoch ms: timestamps more than a day ahead are rejected. */
  now: number
}

export const MIN_TS = Date.UTC(2000, 0, 1)
export const MAX_FUTURE_MS = 24 * 3600 * 1000
const MAX_TEXT = 32
const NUMBER_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/
// Control characters (C0, DEL, C1) and line/paragraph separators.
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

const fail = (reason: QuarantineReason, detail: string): DecodeResult => ({ ok: false, reason, detail })

export function decodePayload(payload: Uint8Array, format: PayloadFormat, limits: DecodeLimits): DecodeResult {
  if (payload.length > limits.maxPayloadBytes) {
    return fail('payload_too_large', `${payload.length} bytes, limit ${limits.maxPayloadBytes}`)
  }
  if (payload.length === 0) return fail('empty_payload', 'zero bytes')
  let text: string
  try {
    text = utf8.decode(payload)
  } catch {
    return fail('invalid_utf8', 'payload is not valid UTF-8')
  }
  return format === 'number' ? decodeNumber(text) : decodeJson(text, limits)
}

function decodeNumber(text: string): DecodeResult {
  const trimmed = text.trim()
  if (!NUMBER_RE.test(trimmed)) return fail('not_a_number', `expected a decimal number, got ${preview(trimmed)}`)
  const value = Number(trimmed)
  if (!Number.isFinite(value)) return fail('non_finite_value', `${preview(trimmed)} is not a finite number`)
  return { ok: true, readings: [{ value }] }
}

function decodeJson(text: string, limits: DecodeLimits): DecodeResult {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    return fail('not_json', err instanceof Error ? err.message.slice(0, 200) : 'does not parse')
  }
  if (typeof doc === 'number') {
    if (!Number.isFinite(doc)) return fail('non_finite_value', 'value is not a finite number')
    return { ok: true, readings: [{ value: doc }] }
  }
  if (Array.isArray(doc)) {
    if (doc.length === 0) return fail('wrong_type', 'an empty list holds no readings')
    if (doc.length > limits.maxReadings) return fail('too_many_readings', `${doc.length} readings, limit ${limits.maxReadings}`)
    const readings: DecodedReading[] = []
    for (let i = 0; i < doc.length; i++) {
      const r = decodeReadingObject(doc[i], `[${i}]`, limits)
      if (!r.ok) return r
      readings.push(r.reading)
    }
    return { ok: true, readings }
  }
  const r = decodeReadingObject(doc, '', limits)
  return r.ok ? { ok: true, readings: [r.reading] } : r
}

type ObjectResult = { ok: true; reading: DecodedReading } | { ok: false; reason: QuarantineReason; detail: string }

function decodeReadingObject(doc: unknown, at: string, limits: DecodeLimits): ObjectResult {
  const where = (field: string) => (at === '' ? field : `${at}.${field}`)
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    return { ok: false, reason: 'wrong_type', detail: `${at === '' ? 'payload' : at}: expected a reading object like {"value": 1.5}, got ${typeName(doc)}` }
  }
  const obj = doc as Record<string, unknown>
  const hasValue = Object.hasOwn(obj, 'value')
  const raw = hasValue ? obj.value : obj.v
  if (raw === undefined || (!hasValue && !Object.hasOwn(obj, 'v'))) {
    return { ok: false, reason: 'missing_value', detail: `${where('value')}: missing (use "value" or "v")` }
  }
  if (typeof raw !== 'number') {
    return { ok: false, reason: 'wrong_type', detail: `${where(hasValue ? 'value' : 'v')}: expected a number, got ${typeName(raw)}` }
  }
  if (!Number.isFinite(raw)) return { ok: false, reason: 'non_finite_value', detail: `${where('value')}: not a finite number` }
  const reading: DecodedReading = { value: raw }

  const ts = obj.ts
  if (ts !== undefined && ts !== null) {
    let ms: number
    if (typeof ts === 'number') {
      if (!Number.isFinite(ts)) return { ok: false, reason: 'bad_timestamp', detail: `${where('ts')}: not a finite number` }
      ms = Math.round(ts)
    } else if (typeof ts === 'string') {
      ms = ISO_RE.test(ts) ? Date.parse(ts) : Number.NaN
      if (Number.isNaN(ms)) {
        return { ok: false, reason: 'bad_timestamp', detail: `${where('ts')}: ${preview(ts)} is not epoch milliseconds or ISO-8601 with a zone` }
      }
    } else {
      return { ok: false, reason: 'bad_timestamp', detail: `${where('ts')}: expected epoch milliseconds or an ISO-8601 string, got ${typeName(ts)}` }
    }
    if (ms < MIN_TS) return { ok: false, reason: 'timestamp_out_of_range', detail: `${where('ts')}: ${isoOrNumber(ms)} is before 2000-01-01` }
    if (ms > limits.now + MAX_FUTURE_MS) {
      return { ok: false, reason: 'timestamp_out_of_range', detail: `${where('ts')}: ${isoOrNumber(ms)} is more than a day in the future` }
    }
    reading.ts = ms
  }

  const unit = text(obj.unit)
  if (unit === false) return { ok: false, reason: 'wrong_type', detail: `${where('unit')}: expected a short text (≤ ${MAX_TEXT} printable characters)` }
  if (unit !== undefined) reading.unit = unit
  const quality = typeof obj.quality === 'number' && Number.isInteger(obj.quality) ? String(obj.quality) : text(obj.quality)
  if (quality === false) return { ok: false, reason: 'wrong_type', detail: `${where('quality')}: expected a short text or an integer code` }
  if (quality !== undefined) reading.quality = quality
  return { ok: true, reading }
}

/** undefined when absent, false when present but not acceptable text. */
function text(value: unknown): string | undefined | false {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string' || value.length > MAX_TEXT || CONTROL_RE.test(value)) return false
  return value
}

function typeName(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'string') return `the string ${preview(value)}`
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`
}

function preview(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s)
}

function isoOrNumber(ms: number): string {
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString()
}
