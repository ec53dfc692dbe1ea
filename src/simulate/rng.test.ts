import { describe, expect, it } from 'vitest'
import { createRng } from './rng.js'

const draw = (seed: number | string, n: number) => {
  const rng = createRng(seed)
  return Array.from({ length: n }, () => rng.next())
}

describe('createRng', () => {
  it('repeats its sequence for a seed and differs between seeds', () => {
    expect(draw(42, 1000)).toEqual(draw(42, 1000))
    expect(draw('42', 5)).toEqual(draw(42, 5)) // a seed is its text
    const a = draw(1, 1000)
    const b = draw(2, 1000)
    expect(a.filter((x, i) => x === b[i]).length).toBe(0)
    expect(a.every((x) => x >= 0 && x < 1)).toBe(true)
  })

  it('forks streams that do not depend on draws from the parent', () => {
    const r1 = createRng(7)
    const r2 = createRng(7)
    for (let i = 0; i < 100; i++) r2.next()
    const f1 = r1.fork('noise')
    const f2 = r2.fork('noise')
    expect(Array.from({ length: 50 }, () => f1.next())).toEqual(Array.from({ length: 50 }, () => f2.next()))
    expect(createRng(7).fork('a').next()).not.toBe(createRng(7).fork('b').next())
  })

  it('draws integers within both inclusive bounds and hits each of them', () => {
    const rng = createRng(3)
    const seen = new Map<number, number>()
    for (let i = 0; i < 6000; i++) {
      const v = rng.int(-2, 3)
      seen.set(v, (seen.get(v) ?? 0) + 1)
    }
    expect([...seen.keys()].sort((x, y) => x - y)).toEqual([-2, -1, 0, 1, 2, 3])
    for (const n of seen.values()) expect(n).toBeGreaterThan(850) // 1000 expected each
    expect(() => rng.int(3, 2)).toThrow(RangeError)
  })

  it('draws normals with the asked mean and standard deviation', () => {
    const rng = createRng(11)
    const xs = Array.from({ length: 20_000 }, () => rng.normal(10, 2))
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length)
    expect(mean).toBeCloseTo(10, 1)
    expect(sd).toBeGreaterThan(1.95)
    expect(sd).toBeLessThan(2.05)
    const beyond3Sd = xs.filter((x) => Math.abs(x - 10) > 6).length // 0.27 % of 20,000: 54
    expect(beyond3Sd).toBeGreaterThan(30)
    expect(beyond3Sd).toBeLessThan(80)
  })

  it('draws Poisson counts with the asked mean, and picks every item', () => {
    const rng = createRng(5)
    const ks = Array.from({ length: 10_000 }, () => rng.poisson(0.5))
    expect(ks.reduce((a, b) => a + b, 0) / ks.length).toBeCloseTo(0.5, 1)
    expect(ks.filter((k) => k === 0).length / ks.length).toBeCloseTo(Math.exp(-0.5), 1)
    const picked = new Set(Array.from({ length: 200 }, () => rng.pick(['a', 'b', 'c'] as const)))
    expect([...picked].sort()).toEqual(['a', 'b', 'c'])
    expect(() => rng.pick([])).toThrow(RangeError)
  })
})
