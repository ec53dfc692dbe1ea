// Sparkplug B payloads: decoded with the protobuf code that Eclipse Tahu's `sparkplug-payload`
// package ships (its generated `Payload` message), not with a codec of our own. Tahu's own
// decodePayload() is not used for data: it needs each metric's datatype, and Sparkplug 3.0 data
// messages usually leave the datatype out (it is in the birth), so values are read here from the
// raw fields with the datatype the birth gave.
import { createRequire } from 'node:module'
import Long from 'long'

const require = createRequire(import.meta.url)

/** The raw protobuf metric, as protobufjs decodes it (only set fields are own properties). */
export interface RawMetric {
  name?: string
  alias?: number | Long
  timestamp?: number | Long
  datatype?: number
  isHistorical?: boolean
  isTransient?: boolean
  isNull?: boolean
  properties?: { keys?: string[]; values?: RawPropertyValue[] }
  intValue?: number
  longValue?: number | Long
  floatValue?: number
  doubleValue?: number
  booleanValue?: boolean
  stringValue?: string
  bytesValue?: Uint8Array
  datasetValue?: unknown
  templateValue?: unknown
  extensionValue?: unknown
}

interface RawPropertyValue {
  type?: number
  isNull?: boolean
  intValue?: number
  longValue?: number | Long
  floatValue?: number
  doubleValue?: number
  booleanValue?: boolean
  stringValue?: string
}

interface RawPayload {
  timestamp?: number | Long
  metrics?: RawMetric[]
  seq?: number | Long
  uuid?: string
  body?: Uint8Array
}

interface PayloadCodec {
  decode(bytes: Uint8Array): RawPayload
}

const proto = require('sparkplug-payload/lib/sparkplugPayloadProto.js') as { org: { eclipse: { tahu: { protobuf: { Payload: PayloadCodec } } } } }
const Payload = proto.org.eclipse.tahu.protobuf.Payload

/** Sparkplug B datatypes (the spec's DataType enum). */
export const DATATYPE = {
  Int8: 1,
  Int16: 2,
  Int32: 3,
  Int64: 4,
  UInt8: 5,
  UInt16: 6,
  UInt32: 7,
  UInt64: 8,
  Float: 9,
  Double: 10,
  Boolean: 11,
  String: 12,
  DateTime: 13,
  Text: 14,
  UUID: 15,
  DataSet: 16,
  Bytes: 17,
  File: 18,
  Template: 19,
  PropertySet: 20,
  PropertySetList: 21,
} as const

const TYPE_NAME = new Map<number, string>(Object.entries(DATATYPE).map(([k, v]) => [v, k]))

export function datatypeName(datatype: number | undefined): string {
  return datatype === undefined ? 'no datatype' : (TYPE_NAME.get(datatype) ?? `unknown datatype ${datatype}`)
}

/** Datatypes that become readings (booleans as 0/1). Strings, dates and structures are ignored (counted). */
export function isNumericType(datatype: number): boolean {
  return (datatype >= 1 && datatype <= 11) || false
}

export interface SparkplugPayload {
  timestamp?: number
  seq?: number
  metrics: RawMetric[]
}

export type DecodedPayload = { ok: true; payload: SparkplugPayload } | { ok: false; detail: string }

const has = (o: object, k: string) => Object.hasOwn(o, k)

export function toNumber(v: number | Long | undefined, signed = false): number | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v === 'number') return v
  if (Long.isLong(v)) return (signed ? v.toSigned() : v).toNumber()
  return Number(v)
}

/** Decodes the protobuf envelope; a payload that is not Sparkplug B protobuf gives a reason. */
export function decodeSparkplug(bytes: Uint8Array): DecodedPayload {
  let raw: RawPayload
  try {
    raw = Payload.decode(bytes)
  } catch (err) {
    return { ok: false, detail: `not a Sparkplug B protobuf payload: ${err instanceof Error ? err.message.slice(0, 200) : 'does not decode'}` }
  }
  const payload: SparkplugPayload = { metrics: has(raw, 'metrics') ? (raw.metrics ?? []) : [] }
  if (has(raw, 'timestamp')) payload.timestamp = toNumber(raw.timestamp)
  if (has(raw, 'seq')) payload.seq = toNumber(raw.seq)
  return { ok: true, payload }
}

export type MetricValue = { ok: true; value: number } | { ok: false; why: 'null' | 'unsupported_type' | 'string' | 'missing_value' | 'non_finite' }

/** The metric's value as a number, read from the field the datatype uses. */
export function metricValue(m: RawMetric, datatype: number): MetricValue {
  if (m.isNull === true) return { ok: false, why: 'null' }
  if (datatype === DATATYPE.String || datatype === DATATYPE.Text || datatype === DATATYPE.UUID) return { ok: false, why: 'string' }
  if (!isNumericType(datatype)) return { ok: false, why: 'unsupported_type' }
  let value: number | undefined
  switch (datatype) {
    case DATATYPE.Int8:
    case DATATYPE.Int16:
    case DATATYPE.Int32:
      // Two's complement in the uint32 field.
      if (has(m, 'intValue')) value = new Int32Array([m.intValue ?? 0])[0]
      else if (has(m, 'longValue')) value = toNumber(m.longValue, true)
      break
    case DATATYPE.UInt8:
    case DATATYPE.UInt16:
    case DATATYPE.UInt32:
      // Tahu's JavaScript library writes UInt32 to long_value; the spec to int_value: read either.
      if (has(m, 'intValue')) value = (m.intValue ?? 0) >>> 0
      else if (has(m, 'longValue')) value = toNumber(m.longValue)
      break
    case DATATYPE.Int64:
      if (has(m, 'longValue')) value = toNumber(m.longValue, true)
      break
    case DATATYPE.UInt64:
      if (has(m, 'longValue')) value = toNumber(m.longValue)
      break
    case DATATYPE.Float:
      if (has(m, 'floatValue')) value = m.floatValue
      break
    case DATATYPE.Double:
      if (has(m, 'doubleValue')) value = m.doubleValue
      break
    case DATATYPE.Boolean:
      if (has(m, 'booleanValue')) value = m.booleanValue ? 1 : 0
      break
  }
  if (value === undefined) return { ok: false, why: 'missing_value' }
  if (!Number.isFinite(value)) return { ok: false, why: 'non_finite' }
  return { ok: true, value }
}

/** A string property of a metric (e.g. `engUnit`), by case-insensitive key. */
export function stringProperty(m: RawMetric, key: string): string | undefined {
  const props = m.properties
  if (!props?.keys || !props.values) return undefined
  const i = props.keys.findIndex((k) => k.toLowerCase() === key.toLowerCase())
  const v = i < 0 ? undefined : props.values[i]
  return v && has(v, 'stringValue') ? v.stringValue : undefined
}

/** An integer property of a metric (e.g. `Quality`), by case-insensitive key. */
export function integerProperty(m: RawMetric, key: string): number | undefined {
  const props = m.properties
  if (!props?.keys || !props.values) return undefined
  const i = props.keys.findIndex((k) => k.toLowerCase() === key.toLowerCase())
  const v = i < 0 ? undefined : props.values[i]
  if (!v) return undefined
  if (has(v, 'intValue')) return v.intValue
  if (has(v, 'longValue')) return toNumber(v.longValue)
  return undefined
}

export function metricAlias(m: RawMetric): number | undefined {
  return has(m, 'alias') ? toNumber(m.alias) : undefined
}

export function metricTimestamp(m: RawMetric): number | undefined {
  return has(m, 'timestamp') ? toNumber(m.timestamp) : undefined
}

export function metricName(m: RawMetric): string | undefined {
  return has(m, 'name') && typeof m.name === 'string' && m.name !== '' ? m.name : undefined
}

export function metricDatatype(m: RawMetric): number | undefined {
  return has(m, 'datatype') ? m.datatype : undefined
}
