import sparkplug from 'sparkplug-payload'
import { describe, expect, it } from 'vitest'
import { QUARANTINE_REASONS } from '../bus/messages.js'
import { ALL_BAD_KINDS, BAD_KINDS, createBadPayload, SPARKPLUG_BAD_KINDS, type BadKind } from './bad-payloads.js'
import { createRng } from './rng.js'

const SEGMENT = /^[A-Za-z0-9_.-]{1,64}$/
const ctx = { prefix: 'factory', line: 'line1', machine: 'm1', sensor: 'spindle_temp', ts: Date.UTC(2025, 0, 6, 8), value: 61.25, unit: '°C' }
const text = (b: Buffer) => new TextDecoder('utf-8', { fatal: true }).decode(b)
const parse = (b: Buffer): unknown => JSON.parse(text(b))
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

/** Every variant of a kind, by drawing it many times. */
function variants(kind: BadKind) {
  const rng = createRng(`variants-${kind}`)
  return Array.from({ length: 60 }, () => createBadPayload(kind, ctx, rng))
}

describe('createBadPayload', () => {
  it('names every kind after a quarantine reason of the gateway', () => {
    for (const kind of ALL_BAD_KINDS) expect(QUARANTINE_REASONS).toContain(kind)
    expect(new Set(BAD_KINDS).size).toBe(10)
    expect(SPARKPLUG_BAD_KINDS).toEqual(['bad_protobuf'])
    expect(new Set(ALL_BAD_KINDS).size).toBe(11)
  })

  it('keeps the topic for all kinds but bad_topic_segment', () => {
    for (const kind of ALL_BAD_KINDS.filter((k) => k !== 'bad_topic_segment')) {
      for (const m of variants(kind)) expect(m.topic).toBe('factory/line1/m1/spindle_temp')
    }
  })

  it('not_json: valid UTF-8 that does not parse', () => {
    const seen = new Set<string>()
    for (const m of variants('not_json')) {
      expect(m.payload.length).toBeGreaterThan(0)
      expect(() => parse(m.payload)).toThrow(SyntaxError)
      seen.add(m.payload.toString())
    }
    expect(seen.size).toBeGreaterThan(1)
  })

  it('wrong_type: JSON that is not a reading, or a value that is not a number', () => {
    for (const m of variants('wrong_type')) {
      const v = parse(m.payload)
      expect(isObject(v) && typeof v.value === 'number').toBe(false)
      if (isObject(v)) expect(typeof v.value).toBe('string')
    }
  })

  it('missing_value: a reading object without value', () => {
    for (const m of variants('missing_value')) {
      const v = parse(m.payload)
      expect(isObject(v) && !('value' in v) && v.ts === ctx.ts).toBe(true)
    }
  })

  it('non_finite_value: value parses to ±Infinity', () => {
    for (const m of variants('non_finite_value')) {
      const v = parse(m.payload) as { value: number }
      expect(Number.isFinite(v.value)).toBe(false)
      expect(Number.isNaN(v.value)).toBe(false)
    }
  })

  it('bad_timestamp: ts is text that is no date', () => {
    for (const m of variants('bad_timestamp')) {
      const v = parse(m.payload) as { value: number; ts: unknown }
      expect(v.value).toBe(ctx.value)
      expect(typeof v.ts).toBe('string')
      expect(Number.isNaN(Date.parse(v.ts as string))).toBe(true)
    }
  })

  it('timestamp_out_of_range: integer ts before 2000 or after 2100, both seen', () => {
    const sides = new Set<string>()
    for (const m of variants('timestamp_out_of_range')) {
      const v = parse(m.payload) as { ts: number }
      expect(Number.isInteger(v.ts)).toBe(true)
      const year = new Date(v.ts).getUTCFullYear()
      expect(year < 2000 || year > 2100).toBe(true)
      sides.add(year < 2000 ? 'past' : 'future')
    }
    expect([...sides].sort()).toEqual(['future', 'past'])
  })

  it('empty_payload: zero bytes', () => {
    for (const m of variants('empty_payload')) expect(m.payload.length).toBe(0)
  })

  it('invalid_utf8: bytes that a strict UTF-8 decoder rejects', () => {
    for (const m of variants('invalid_utf8')) {
      expect(m.payload.length).toBeGreaterThan(0)
      expect(() => text(m.payload)).toThrow(TypeError)
    }
  })

  it('payload_too_large: 70,000 bytes of an otherwise valid reading', () => {
    for (const m of variants('payload_too_large')) {
      expect(m.payload.length).toBe(70_000)
      expect(m.payload.length).toBeGreaterThan(64 * 1024)
      expect(parse(m.payload)).toMatchObject({ value: ctx.value, ts: ctx.ts, unit: '°C', quality: 'good' })
    }
  })

  it('bad_topic_segment: a valid reading on a 4-level topic with one segment outside [A-Za-z0-9_.-]{1,64}, no control characters', () => {
    const topics = new Set<string>()
    for (const m of variants('bad_topic_segment')) {
      const levels = m.topic.split('/')
      expect(levels).toHaveLength(4)
      expect(levels[0]).toBe('factory')
      expect(levels.slice(1).filter((s) => !SEGMENT.test(s))).toHaveLength(1)
      expect(/[\u0000-\u001f\u007f-\u009f+#]/.test(m.topic)).toBe(false)
      expect(parse(m.payload)).toMatchObject({ value: ctx.value, ts: ctx.ts })
      topics.add(m.topic)
    }
    expect(topics.size).toBe(4)
  })

  it('bad_protobuf: bytes Tahu cannot decode, never empty, in several shapes', () => {
    const tahu = sparkplug.get('spBv1.0')!
    const shapes = new Set<string>()
    const origins = new Set<string>()
    for (const m of variants('bad_protobuf')) {
      expect(m.payload.length).toBeGreaterThan(0)
      expect(m.payload.length).toBeLessThan(1024)
      expect(() => tahu.decodePayload(m.payload)).toThrow()
      shapes.add(m.payload.toString('hex'))
      origins.add(m.payload[0] === 0x08 ? 'from a real payload' : 'random') // 0x08: Payload.timestamp's tag
    }
    expect(shapes.size).toBeGreaterThan(20)
    expect(origins.size).toBe(2)
  })
})
