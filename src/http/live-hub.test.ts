import { describe, expect, it } from 'vitest'
import { createLiveHub, type LiveEvent } from './live-hub.js'
import { createFrameCache, formatSseComment, formatSseFrame } from './sse.js'

describe('live hub', () => {
  it('fans each event out to every subscriber until it unsubscribes', () => {
    const hub = createLiveHub()
    const a: LiveEvent[] = []
    const b: LiveEvent[] = []
    const offA = hub.subscribe((e) => void a.push(e))
    hub.subscribe((e) => void b.push(e))
    const first: LiveEvent = { type: 'readings', data: [{ key: 'p/l/m/s', value: 1, ts: 1, minute: 0 }] }
    hub.publish(first)
    offA()
    offA()
    hub.publish({ type: 'anomaly', data: { id: 'x' } })
    expect(a).toEqual([first])
    expect(b.map((e) => e.type)).toEqual(['readings', 'anomaly'])
    expect(hub.stats()).toEqual({ subscribers: 1, published: 2, delivered: 3, dropped: 0, failed: 0 })
  })

  it('counts a drop when a slow subscriber refuses an event, and keeps it subscribed', () => {
    const hub = createLiveHub()
    let room = 1
    const got: string[] = []
    hub.subscribe((e) => {
      if (room === 0) return false
      room--
      got.push(e.type)
      return true
    })
    hub.publish({ type: 'shift', data: 1 })
    hub.publish({ type: 'shift', data: 2 })
    hub.publish({ type: 'narrative', data: 3 })
    expect(got).toEqual(['shift'])
    expect(hub.stats()).toMatchObject({ subscribers: 1, delivered: 1, dropped: 2 })
  })

  it('is bounded: a subscriber past the cap is refused, and one that throws is removed without hurting the others', () => {
    const hub = createLiveHub({ maxSubscribers: 2 })
    const got: number[] = []
    hub.subscribe(() => {
      throw new Error('socket gone')
    })
    hub.subscribe((e) => void got.push(e.data as number))
    expect(hub.isFull()).toBe(true)
    expect(() => hub.subscribe(() => undefined)).toThrow(/2 clients already connected/)
    hub.publish({ type: 'readings', data: 7 })
    expect(got).toEqual([7])
    expect(hub.stats()).toMatchObject({ subscribers: 1, failed: 1 })
    expect(hub.isFull()).toBe(false)
  })
})

describe('SSE frames', () => {
  it('are an event line, data lines and a blank line', () => {
    expect(formatSseFrame('readings', [{ key: 'a', value: 1 }])).toBe('event: readings\ndata: [{"key":"a","value":1}]\n\n')
    expect(formatSseFrame('hello', { a: 1 }, 42)).toBe('id: 42\nevent: hello\ndata: {"a":1}\n\n')
  })

  it('split text with line breaks into several data lines, so a payload cannot start a new field or event', () => {
    expect(formatSseFrame('x\nevent: evil', 'a\nevent: evil\r\n\r\ndata: b')).toBe('event: xevent: evil\ndata: a\ndata: event: evil\ndata: \ndata: data: b\n\n')
  })

  it('comments start with a colon', () => {
    expect(formatSseComment('ping')).toBe(': ping\n\n')
    expect(formatSseComment('a\nb')).toBe(': a\n: b\n\n')
  })

  it('serializes an event once however many clients it goes to', () => {
    const frameOf = createFrameCache()
    const e: LiveEvent = { type: 'anomaly', data: { id: 'a1' } }
    const first = frameOf(e)
    ;(e.data as { id: string }).id = 'changed'
    expect(frameOf(e)).toBe(first)
    expect(first).toBe('event: anomaly\ndata: {"id":"a1"}\n\n')
  })
})
