import { describe, expect, it } from 'vitest'
import { backoffMs } from './clock.js'

describe('backoffMs', () => {
  it('doubles from the minimum, stays within [c/2, c], and is capped', () => {
    const at = (attempt: number, r: number) => backoffMs(attempt, 500, 30_000, () => r)
    expect([at(0, 0), at(0, 1)]).toEqual([250, 500])
    expect([at(3, 0), at(3, 1)]).toEqual([2_000, 4_000])
    // From attempt 6 (500 · 64 = 32 s) on, the cap holds, also for very large attempts.
    expect([at(6, 0), at(6, 1), at(1_000, 1)]).toEqual([15_000, 30_000, 30_000])
    for (let i = 0; i < 200; i++) {
      const w = backoffMs(i % 12, 500, 30_000)
      const c = Math.min(30_000, 500 * 2 ** (i % 12))
      expect(w).toBeGreaterThanOrEqual(c / 2)
      expect(w).toBeLessThanOrEqual(c)
    }
  })
})
