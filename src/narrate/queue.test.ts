import { describe, expect, it } from 'vitest'
import { createNarrateQueue, type Job, type JobKind } from './queue.js'

let t = 0
const job = (kind: JobKind, key: string, ref = key): Job => ({ kind, key, ref, enqueuedAt: t++ })

describe('narrate queue', () => {
  it('hands out incidents before questions before shifts, first in first out within each', () => {
    const q = createNarrateQueue(10)
    q.push(job('shift', 's1'))
    q.push(job('incident', 'i1'))
    q.push(job('question', 'q1'))
    q.push(job('incident', 'i2'))
    q.push(job('shift', 's2'))
    expect([q.take(), q.take(), q.take(), q.take(), q.take(), q.take()].map((j) => j?.key)).toEqual(['i1', 'i2', 'q1', 's1', 's2', undefined])
  })

  it('replaces a pending job with the same key by the newer one (the newest incident per machine wins)', () => {
    const q = createNarrateQueue(10)
    q.push(job('incident', 'incident:L1/m1', 'a1'))
    q.push(job('incident', 'incident:L1/m2', 'b1'))
    const out = q.push(job('incident', 'incident:L1/m1', 'a2'))
    expect(out.replaced?.ref).toBe('a1')
    expect(q.size()).toBe(2)
    expect([q.take()?.ref, q.take()?.ref]).toEqual(['b1', 'a2'])
    expect(q.stats()).toMatchObject({ enqueued: 3, superseded: 1, evicted: 0 })
  })

  it('when full, evicts the oldest job of the lowest priority, or refuses a job lower than everything queued', () => {
    const q = createNarrateQueue(2)
    q.push(job('shift', 's1'))
    q.push(job('incident', 'i1'))
    expect(q.push(job('incident', 'i2')).evicted?.key).toBe('s1')
    expect(q.push(job('shift', 's2')).evicted?.key).toBe('s2')
    expect(q.size()).toBe(2)
    expect(q.stats()).toMatchObject({ evicted: 2, depth: 2 })
    expect([q.take()?.key, q.take()?.key]).toEqual(['i1', 'i2'])
  })

  it('stays bounded under a storm of 1,000 incidents on 300 machines', () => {
    const q = createNarrateQueue(64)
    let pushedOut = 0
    for (let i = 0; i < 1000; i++) {
      const out = q.push(job('incident', `incident:L1/m${i % 300}`, `a${i}`))
      if (out.replaced) pushedOut++
      if (out.evicted) pushedOut++
    }
    expect(q.size()).toBe(64)
    expect(pushedOut).toBe(1000 - 64)
    // The newest incidents are the ones kept.
    const kept: string[] = []
    for (let j = q.take(); j !== undefined; j = q.take()) kept.push(j.ref)
    expect(kept).toEqual(Array.from({ length: 64 }, (_, i) => `a${936 + i}`))
  })
})
