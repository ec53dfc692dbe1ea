import { describe, expect, it } from 'vitest'
import { decodePayload, type DecodeResult } from './decode.js'

const NOW = Date.UTC(2026, 10, 26, 12, 0, 0)
const limits = { maxPayloadBytes: 65536, maxReadings: 1000, now: NOW }
const json = (s: string | Uint8Array, l = limits): DecodeResult => decodePayload(typeof s === 'string' ? Buffer.from(s) : s, 'json', l)
const reasonOf = (r: DecodeResult) => (r.ok ? 'ok' : r.reason)

describe('decodePayload (json)', () => {
  it('decodes a reading object with value, ts (epoch ms or ISO), unit and quality', () => {
    expect(json('{"value": 21.5, "ts": 1764158400000, "unit": "°C", "quality": "good"}')).toEqual({
      ok: true,
      readings: [{ value: 21.5, ts: 1764158400000, unit: '°C', quality: 'good' }],
    })
    expect(json('{"v": -3, "ts": "2026-11-26T11:00:00.250+01:00"}')).toEqual({ ok: true, readings: [{ value: -3, ts: Date.UTC(2026, 10, 26, 10, 0, 0, 250) }] })
    expect(json('{"value": 1, "quality": 192}')).toEqual({ ok: true, readings: [{ value: 1, quality: '192' }] })
    expect(json('7.25')).toEqual({ ok: true, readings: [{ value: 7.25 }] })
  })

  it('decodes a list of readings and keeps their order', () => {
    const r = json('[{"value":1,"ts":1764158400000},{"v":2,"ts":1764158401000}]')
    expect(r).toEqual({ ok: true, readings: [{ value: 1, ts: 1764158400000 }, { value: 2, ts: 1764158401000 }] })
  })

  it('quarantines with a specific reason', () => {
    const cases: [string | Uint8Array, string][] = [
      ['', 'empty_payload'],
      [Buffer.from([0xc3, 0x28]), 'invalid_utf8'],
      ['{"value": 1,', 'not_json'],
      ['"text"', 'wrong_type'],
      ['null', 'wrong_type'],
      ['[]', 'wrong_type'],
      ['[1, 2]', 'wrong_type'],
      ['{"value": "21.5"}', 'wrong_type'],
      ['{"value": {"a": 1}}', 'wrong_type'],
      ['{"value": true}', 'wrong_type'],
      ['{"ts": 1764158400000}', 'missing_value'],
      ['{"value": null}', 'wrong_type'],
      ['{"value": 1e999}', 'non_finite_value'],
      ['-1e400', 'non_finite_value'],
      ['{"value": 1, "ts": "yesterday"}', 'bad_timestamp'],
      ['{"value": 1, "ts": "2026-11-26T10:00:00"}', 'bad_timestamp'],
      ['{"value": 1, "ts": true}', 'bad_timestamp'],
      ['{"value": 1, "ts": 1e999}', 'bad_timestamp'],
      ['{"value": 1, "ts": 946684799999}', 'timestamp_out_of_range'],
      ['{"value": 1, "ts": 1700000000}', 'timestamp_out_of_range'],
      [`{"value": 1, "ts": ${NOW + 24 * 3600 * 1000 + 1}}`, 'timestamp_out_of_range'],
      ['{"value": 1, "ts": "2150-01-01T00:00:00Z"}', 'timestamp_out_of_range'],
      ['{"value": 1, "unit": "a\\u0000b"}', 'wrong_type'],
      [`{"value": 1, "unit": "${'x'.repeat(33)}"}`, 'wrong_type'],
      ['{"value": 1, "quality": 1.5}', 'wrong_type'],
      ['[{"value": 1}, {"value": "x"}]', 'wrong_type'],
    ]
    for (const [payload, reason] of cases) {
      expect(reasonOf(json(payload)), String(payload)).toBe(reason)
    }
  })

  it('names the failing element and field in the detail', () => {
    const r = json('[{"value": 1}, {"value": 2, "ts": "soon"}]')
    expect(r).toMatchObject({ ok: false, reason: 'bad_timestamp', detail: expect.stringContaining('[1].ts') })
  })

  it('enforces the size and list-length limits', () => {
    expect(reasonOf(json('1'.repeat(65537)))).toBe('payload_too_large')
    expect(reasonOf(json(`[${Array.from({ length: 1001 }, () => '{"value":1}').join(',')}]`))).toBe('too_many_readings')
    expect(reasonOf(json(`[${Array.from({ length: 1000 }, () => '{"value":1}').join(',')}]`))).toBe('ok')
  })

  it('survives deep nesting and huge documents without throwing', () => {
    expect(reasonOf(json('['.repeat(60000), { ...limits, maxPayloadBytes: 1 << 20 }))).toBe('not_json')
    expect(reasonOf(json(`${'['.repeat(5000)}1${']'.repeat(5000)}`, { ...limits, maxPayloadBytes: 1 << 20 }))).toBe('wrong_type')
    expect(reasonOf(json('9'.repeat(400)))).toBe('non_finite_value')
  })
})

describe('decodePayload (number)', () => {
  const num = (s: string) => decodePayload(Buffer.from(s), 'number', limits)
  it('accepts decimal numbers with surrounding white space', () => {
    expect(num(' 21.5\n')).toEqual({ ok: true, readings: [{ value: 21.5 }] })
    expect(num('-3e2')).toEqual({ ok: true, readings: [{ value: -300 }] })
  })
  it('rejects everything else', () => {
    expect(reasonOf(num('0x10'))).toBe('not_a_number')
    expect(reasonOf(num('NaN'))).toBe('not_a_number')
    expect(reasonOf(num('12 kg'))).toBe('not_a_number')
    expect(reasonOf(num('1e999'))).toBe('non_finite_value')
    expect(reasonOf(num(''))).toBe('empty_payload')
  })
})
