import { describe, expect, it } from 'vitest'
import { anomalyId, formatDuration, formatNumber, formatTime } from './anomaly-event.js'

describe('anomalyId', () => {
  it('is a pure function of key, kind, start and clock (pinned: a change would break rebuild equality with stored anomalies)', () => {
    const id = anomalyId('site/line1/m1/spindle_temp', 'spike', 1736157600000, 'event')
    expect(id).toBe(anomalyId('site/line1/m1/spindle_temp', 'spike', 1736157600000, 'event'))
    expect(id).toMatch(/^[0-9a-f]{24}$/)
    // sha256 of "key\0kind\0startedAt\0clock", first 24 hex digits (checked with Python's hashlib).
    expect(id).toBe('4adb90dc7c74459796d802c1')
  })

  it('differs when any part differs', () => {
    const base = anomalyId('s/l/m/x', 'dropout', 1000, 'event')
    expect(new Set([base, anomalyId('s/l/m/y', 'dropout', 1000, 'event'), anomalyId('s/l/m/x', 'spike', 1000, 'event'), anomalyId('s/l/m/x', 'dropout', 1001, 'event'), anomalyId('s/l/m/x', 'dropout', 1000, 'wall')]).size).toBe(5)
  })
})

describe('formatting', () => {
  it('writes about four significant digits without trailing zeros', () => {
    expect(formatNumber(93.1234)).toBe('93.12')
    expect(formatNumber(90)).toBe('90')
    expect(formatNumber(12345.6)).toBe('12346')
    expect(formatNumber(123.45)).toBe('123.5')
    expect(formatNumber(0.5)).toBe('0.5')
    expect(formatNumber(0.01234)).toBe('0.012')
    expect(formatNumber(0.000123)).toBe('0.00012')
    expect(formatNumber(-2.5)).toBe('-2.5')
    expect(formatNumber(1.005)).toBe('1')
  })

  it('writes durations in s, min or h', () => {
    expect(formatDuration(45_000)).toBe('45 s')
    expect(formatDuration(750_000)).toBe('12.5 min')
    expect(formatDuration(3 * 3_600_000 + 720_000)).toBe('3.2 h')
  })

  it('writes times as ISO without milliseconds when there are none', () => {
    expect(formatTime(Date.UTC(2025, 0, 6, 10, 2, 3))).toBe('2025-01-06T10:02:03Z')
    expect(formatTime(Date.UTC(2025, 0, 6, 10, 2, 3, 500))).toBe('2025-01-06T10:02:03.500Z')
  })
})
