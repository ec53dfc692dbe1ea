// The overview's live script, run in a VM against just enough DOM: a reading flashes the element
// the stylesheet highlights, and a timer re-checks freshness when no event comes at all.
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { APP_CSS, APP_JS } from './static.js'

class El {
  className = ''
  textContent = ''
  parent: El | null = null
  readonly attrs = new Map<string, string>()
  readonly children: Record<string, El> = {}
  constructor(className = '') {
    this.className = className
  }
  get classList() {
    const set = () => new Set(this.className.split(' ').filter(Boolean))
    return {
      contains: (c: string) => set().has(c),
      add: (c: string) => {
        this.className = [...set().add(c)].join(' ')
      },
      remove: (c: string) => {
        const s = set()
        s.delete(c)
        this.className = [...s].join(' ')
      },
    }
  }
  getAttribute(k: string) {
    return this.attrs.get(k) ?? null
  }
  setAttribute(k: string, v: string) {
    this.attrs.set(k, v)
  }
  hasAttribute(k: string) {
    return this.attrs.has(k)
  }
  querySelector(sel: string): El | null {
    return this.children[sel] ?? null
  }
  closest(sel: string): El | null {
    const cls = sel.replace(/^\./, '')
    for (let e: El | null = this; e !== null; e = e.parent) if (e.classList.contains(cls)) return e
    return null
  }
}

function overviewDom() {
  const body = new El()
  body.setAttribute('data-live', 'overview')
  const liveStatus = new El()
  // <article class="tile" data-tile="line1/m1" data-status="ok"> … <span class="value"><span data-live-key>…</span> °C</span>
  const tile = new El('tile')
  tile.setAttribute('data-tile', 'line1/m1')
  tile.setAttribute('data-status', 'ok')
  const status = new El('status')
  status.textContent = 'ok'
  tile.children['.status'] = status
  const readings = new El('readings')
  readings.parent = tile
  const value = new El('value')
  value.parent = readings
  const number = new El()
  number.parent = value
  number.setAttribute('data-live-key', 'plant1/line1/m1/temp')
  number.textContent = '20'

  const listeners = new Map<string, (e: { data: string }) => void>()
  class EventSource {
    constructor(readonly url: string) {}
    addEventListener(type: string, fn: (e: { data: string }) => void) {
      listeners.set(type, fn)
    }
  }
  const timeouts: { fn: () => void; ms: number }[] = []
  const intervals: { fn: () => void; ms: number }[] = []
  const fetched: string[] = []
  let overview: unknown = null
  const document = {
    body,
    getElementById: (id: string) => (id === 'live-status' ? liveStatus : null),
    querySelector: (sel: string) => (sel === '[data-tile="line1/m1"]' ? tile : null),
    querySelectorAll: (sel: string) => (sel === '[data-live-key]' ? [number] : []),
  }
  const fetch = async (url: string) => {
    fetched.push(url)
    return { ok: true, json: async () => overview }
  }
  runInNewContext(APP_JS, {
    document,
    EventSource,
    fetch,
    Map,
    JSON,
    CSS: { escape: (s: string) => s },
    location: { reload: () => undefined },
    setTimeout: (fn: () => void, ms: number) => timeouts.push({ fn, ms }),
    setInterval: (fn: () => void, ms: number) => intervals.push({ fn, ms }),
  })
  return {
    tile,
    status,
    value,
    number,
    liveStatus,
    listeners,
    timeouts,
    intervals,
    fetched,
    setOverview: (o: unknown) => {
      overview = o
    },
  }
}

const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r))
}

describe('the overview script', () => {
  it('flashes the value box the stylesheet highlights (.readings .value.flash), then clears it', () => {
    const dom = overviewDom()
    dom.listeners.get('readings')?.({ data: JSON.stringify([{ key: 'plant1/line1/m1/temp', value: 21.456, ts: 5 }]) })
    expect(dom.number.textContent).toBe('21.46')
    expect(dom.value.className).toBe('value flash')
    // The element carrying .flash is a .value inside .readings: the rule's selector matches it.
    expect(APP_CSS).toMatch(/\.readings \.value\.flash \{ background: #[0-9a-f]{6}; \}/)
    expect(dom.value.closest('.readings')).not.toBeNull()
    expect(dom.number.className).toBe('')
    const clear = dom.timeouts.find((t) => t.ms === 700)
    clear?.fn()
    expect(dom.value.className).toBe('value')
  })

  it('looks at /api/overview every 15 s with no event at all, so tiles go stale when the whole site stops sending', async () => {
    const dom = overviewDom()
    expect(dom.intervals.map((i) => i.ms)).toEqual([15_000])
    dom.setOverview({ stale: true, dataAgeMs: 10 * 60_000, lines: [{ line: 'line1', machines: [{ line: 'line1', machine: 'm1', status: 'stale', state: null }] }] })
    dom.intervals[0]?.fn()
    const refresh = dom.timeouts.find((t) => t.ms === 1000)
    expect(refresh).toBeDefined()
    refresh?.fn()
    await settle()
    expect(dom.fetched).toEqual(['/api/overview'])
    expect(dom.tile.getAttribute('data-status')).toBe('stale')
    expect(dom.status.textContent).toBe('stale')
    expect(dom.liveStatus.textContent).toBe('No new readings for 10 min')
  })
})
