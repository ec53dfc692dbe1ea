import { describe, expect, it } from 'vitest'
import { detectConfigSchema } from './config.js'
import { createSettingsResolver } from './sensor-settings.js'

describe('detectConfigSchema', () => {
  it('gives every detector its defaults from an empty object (and from undefined)', () => {
    const c = detectConfigSchema.parse({})
    expect(c).toEqual(detectConfigSchema.parse(undefined))
    expect(c.enabled).toBe(true)
    expect(c.counters).toEqual({ parts: 'part_count', rejects: 'reject_count' })
    expect(c.machineChange).toEqual({ minSensors: 2, withinS: 60 })
    expect(c.defaults.limits).toEqual({ enabled: true, hysteresis: 0, openAfter: { samples: 4, seconds: 10 }, closeAfter: { samples: 3, seconds: 0 }, severity: 'critical' })
    expect(c.defaults.limits.high).toBeUndefined()
    expect(c.defaults.spike.z).toBe(8)
    expect(c.defaults.drift.slowTauS).toBe(1800)
    expect(c.defaults.flatline).toMatchObject({ afterS: 180, tolerance: 0, ignoreValues: [0] })
    expect(c.defaults.dropout).toMatchObject({ afterS: 60, intervals: 10, wallAfterS: 180 })
    expect(c.defaults.rateOfChange.maxPerS).toBeUndefined()
    expect(c.defaults.rejectRate).toMatchObject({ jumpPct: 10, threshold: 6.5, severity: 'critical' })
    expect(c.rules).toEqual([])
  })

  it('names the path of a bad value, an unknown key and a bad pattern', () => {
    const r = detectConfigSchema.safeParse({
      defaults: { spike: { z: -1, zz: 2 } },
      rules: [{ match: 'line1/*', limits: { high: 1, low: 2 } }],
    })
    expect(r.success).toBe(false)
    const issues = r.error?.issues.map((i) => `${i.path.join('.')}: ${i.code}`) ?? []
    expect(issues).toContain('defaults.spike.z: too_small')
    expect(issues).toContain('defaults.spike: unrecognized_keys')
    expect(issues).toContain('rules.0.match: custom')
    expect(issues).toContain('rules.0.limits.low: custom')
  })

  it('rejects a fast drift time constant that is not below the slow one, also across a rule and the defaults', () => {
    const r = detectConfigSchema.safeParse({ defaults: { drift: { slowTauS: 600 } }, rules: [{ match: '*/*/x', drift: { fastTauS: 900 } }] })
    expect(r.success).toBe(false)
    expect(r.error?.issues.map((i) => i.path.join('.'))).toEqual(['rules.0.drift.fastTauS'])
  })

  it('rejects equal counter names', () => {
    expect(detectConfigSchema.safeParse({ counters: { parts: 'n', rejects: 'n' } }).success).toBe(false)
  })
})

describe('sensor settings', () => {
  const config = detectConfigSchema.parse({
    counters: { parts: 'good_parts', rejects: 'scrap' },
    rules: [
      { match: 'line1/m1/temp', enabled: false },
      { match: 'line1/*/temp', unit: '°C', limits: { high: 90 }, drift: { z: 5 } },
      { match: '*/*/temp', limits: { high: 80, low: 5 } },
    ],
  })
  const resolve = createSettingsResolver(config)

  it('takes the first matching rule and overrides only the fields it names', () => {
    const s = resolve('line1', 'm2', 'temp')
    expect(s.enabled).toBe(true)
    expect(s.unit).toBe('°C')
    expect(s.limits.high).toBe(90)
    // The later rule's low limit does not leak in: first match wins as a whole.
    expect(s.limits.low).toBeUndefined()
    expect(s.limits.openAfter).toEqual(config.defaults.limits.openAfter)
    expect(s.drift.z).toBe(5)
    expect(s.drift.slowTauS).toBe(config.defaults.drift.slowTauS)
  })

  it('matches * per segment and falls back to the defaults', () => {
    expect(resolve('line2', 'm7', 'temp').limits).toMatchObject({ high: 80, low: 5 })
    expect(resolve('line2', 'm7', 'pressure').limits.high).toBeUndefined()
    expect(resolve('line1', 'm1', 'temp').enabled).toBe(false)
  })

  it('marks the configured counter sensors', () => {
    expect(resolve('line1', 'm1', 'good_parts').counter).toBe('parts')
    expect(resolve('line1', 'm1', 'scrap').counter).toBe('rejects')
    expect(resolve('line1', 'm1', 'part_count').counter).toBeUndefined()
  })

  it('switches everything off when the bank is disabled', () => {
    const off = createSettingsResolver(detectConfigSchema.parse({ enabled: false }))
    expect(off('a', 'b', 'c').enabled).toBe(false)
  })
})
