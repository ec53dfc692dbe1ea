// One MQTT message → journal entries: its readings, or one quarantine record with the reason
// and the original bytes. Kafka keys and values are encoded here, once, so the pump only
// moves bytes.
import { SCHEMA_VERSION, readingKey, type QuarantineMessage, type QuarantineReason, type ReadingMessage } from '../bus/messages.js'
import { decodePayload, type DecodedReading } from './decode.js'
import type { SensorId, TopicMapper } from './topic-map.js'

/** `state`: a machine_state message (Sparkplug birth/death); it goes to the readings topic. */
export type EntryKind = 'reading' | 'quarantine' | 'state'

export interface JournalEntry {
  kind: EntryKind
  /** The Kafka message key, UTF-8. */
  key: Buffer
  /** The Kafka message value, JSON as UTF-8. */
  value: Buffer
  receivedAt: number
}

export type ParseResult =
  | { ok: true; entries: JournalEntry[] }
  | { ok: false; entries: [JournalEntry]; reason: QuarantineReason; detail: string }

export interface MessageParserOptions {
  mapTopic: TopicMapper
  maxPayloadBytes: number
  maxReadings: number
}

export type MessageParser = (topic: string, payload: Uint8Array, receivedAt: number) => ParseResult

export function createMessageParser(options: MessageParserOptions): MessageParser {
  const { mapTopic, maxPayloadBytes, maxReadings } = options
  return (topic, payload, receivedAt) => {
    const match = mapTopic(topic)
    if (!match.ok) return quarantine(topic, payload, receivedAt, match.reason, match.detail, maxPayloadBytes)
    const decoded = decodePayload(payload, match.format, { maxPayloadBytes, maxReadings, now: receivedAt })
    if (!decoded.ok) return quarantine(topic, payload, receivedAt, decoded.reason, decoded.detail, maxPayloadBytes)
    const { id } = match
    const key = Buffer.from(readingKey(id))
    return { ok: true, entries: decoded.readings.map((r) => readingEntry(id, r, receivedAt, topic, key)) }
  }
}

/** The journal entry of one reading (factory.readings, key `site/line/machine/sensor`). */
export function readingEntry(
  id: SensorId,
  r: DecodedReading & { historical?: boolean },
  receivedAt: number,
  topic: string,
  key: Buffer = Buffer.from(readingKey(id)),
): JournalEntry {
  const message: ReadingMessage = {
    v: SCHEMA_VERSION,
    site: id.site,
    line: id.line,
    machine: id.machine,
    sensor: id.sensor,
    ts: r.ts ?? receivedAt,
    value: r.value,
    unit: r.unit,
    quality: r.quality,
    ...(r.historical === true ? { historical: true as const } : {}),
    receivedAt,
    mqttTopic: topic,
  }
  return { kind: 'reading', key, value: Buffer.from(JSON.stringify(message)), receivedAt }
}

/** One message kept whole in factory.quarantine with the reason. */
export function quarantine(
  topic: string,
  payload: Uint8Array,
  receivedAt: number,
  reason: QuarantineReason,
  detail: string,
  keepBytes: number,
): ParseResult {
  const truncated = payload.length > keepBytes
  const kept = truncated ? payload.subarray(0, keepBytes) : payload
  const message: QuarantineMessage = {
    v: SCHEMA_VERSION,
    reason,
    detail: detail.slice(0, 500),
    mqttTopic: topic,
    payloadBase64: Buffer.from(kept.buffer, kept.byteOffset, kept.byteLength).toString('base64'),
    payloadBytes: payload.length,
    payloadTruncated: truncated,
    receivedAt,
  }
  return { ok: false, reason, detail, entries: [{ kind: 'quarantine', key: Buffer.from(topic), value: Buffer.from(JSON.stringify(message)), receivedAt }] }
}
