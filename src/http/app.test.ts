// Every page and API endpoint through app.inject against a real state database from the seeded
// simulated plant, plus hostile names and narrative text put straight into the tables.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { Counter, Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LedgerCounts } from '../ingest/journal.js'
import { silentLogger } from '../log.js'
import type { Narrative } from '../narrate/types.js'
import { seedStateDb, type SeededState } from '../simulate/seed-state.js'
import { createNarrativeStore } from '../store/narratives.js'
import { CONTENT_SECURITY_POLICY, createHttpApp, type HttpAppDeps } from './app.js'
import { createLiveHub } from './live-hub.js'
import { APP_JS_VERSION } from './static.js'

const IMG = '<img src=x onerror=alert(1)>'
const SCRIPT = '<script>alert(1)</script>'
const EVIL_SENSOR = `"quotes"</script>${SCRIPT}`
const TOKEN = 'correct-horse-battery-staple'
const KPI = { counters: ['part_count', 'reject_count'], partsSensor: 'part_count', rejectsSensor: 'reject_count' }

let dir: string
let seeded: SeededState
let app: FastifyInstance
let registry: Registry
let newest: number
let ready = true
const regenerated: string[] = []
const ledger: LedgerCounts = {
  messages: 10,
  received: 12,
  journaled: 11,
  quarantined: 1,
  quarantinedByReason: {} as LedgerCounts['quarantinedByReason'],
  delivered: 9,
  dropped: 0,
  pending: 3,
  pendingBytes: 300,
}

const narrative = (over: Partial<Narrative> & Pick<Narrative, 'id' | 'kind' | 'scope' | 'periodStart' | 'periodEnd'>): Narrative => ({
  site: 'plant1',
  headline: 'A quiet shift',
  body: 'Nothing happened.',
  highlights: [],
  facts: [],
  generator: { type: 'template', reason: 'llm_disabled' },
  grounding: { ok: true, numbersChecked: 0, unmatched: [], unknownNames: [] },
  createdAt: 1,
  ...over,
})

function baseDeps(over: Partial<HttpAppDeps> = {}): HttpAppDeps {
  return {
    db: seeded.db,
    site: 'plant1',
    timeZone: 'UTC',
    registry,
    health: () => ({ journal: { ok: true, detail: 'data/journal.db' }, narrator: { ok: false, detail: `model failed: ${SCRIPT}` } }),
    ready: async () => ({ ok: ready, checks: { mqtt: { ok: ready, detail: ready ? 'connected' : 'broker unreachable' } } }),
    live: createLiveHub(),
    log: silentLogger(),
    clock: () => newest + 30_000,
    ledger: () => ledger,
    files: { state: join(dir, 'state.db') },
    calendar: seeded.calendar,
    kpi: KPI,
    limits: (_line, _machine, sensor) => (sensor === 'spindle_temp' ? { high: 80 } : undefined),
    token: TOKEN,
    regenerate: async (id) => {
      regenerated.push(id)
      return { id }
    },
    ...over,
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shiftscribe-http-'))
  seeded = seedStateDb({ file: join(dir, 'state.db'), hours: 9 })
  const db = seeded.db
  newest = (db.prepare('SELECT max(last_ts) AS t FROM sensors').get() as { t: number }).t
  const newestMinute = Math.floor(newest / 60_000) * 60_000

  // Hostile names, straight into the tables (ingest would reject them).
  const key = `plant1/line1/${IMG}/${EVIL_SENSOR}`
  db.prepare('INSERT INTO sensors (key, site, line, machine, sensor, unit, first_ts, last_ts, last_value, readings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
    key,
    'plant1',
    'line1',
    IMG,
    EVIL_SENSOR,
    `<b>${SCRIPT}</b>`,
    newest - 3_600_000,
    newest,
    42,
    10,
  )
  const bucket = db.prepare(
    'INSERT INTO buckets (key, minute, count, sum, sumsq, min, max, first_ts, first_value, last_ts, last_value) VALUES (?, ?, 2, ?, ?, ?, ?, ?, ?, ?, ?)',
  )
  for (let i = 0; i < 10; i++) {
    const minute = newestMinute - i * 60_000
    bucket.run(key, minute, 80 + i * 2, (40 + i) ** 2 * 2, 39 + i, 41 + i, minute, 39 + i, minute + 1000, 41 + i)
  }
  const anomaly = db.prepare(
    `INSERT INTO anomalies (id, key, site, line, machine, sensor, kind, severity, state, started_at, ended_at, observed, expected, detail, clock)
     VALUES (?, ?, 'plant1', ?, ?, ?, ?, ?, ?, ?, ?, 1, 0, ?, 'event')`,
  )
  anomaly.run('evil-1', key, 'line1', IMG, EVIL_SENSOR, IMG, 'critical', 'open', newest - 300_000, null, `detail ${SCRIPT} "quotes" </script>`)
  anomaly.run('open-warning', 'plant1/line1/m2/pressure', 'line1', 'm2', 'pressure', 'spike', 'warning', 'open', newest - 120_000, null, 'pressure spike')
  // A machine whose data stopped ten minutes before the rest.
  db.prepare('INSERT INTO sensors (key, site, line, machine, sensor, unit, first_ts, last_ts, last_value, readings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
    'plant1/line2/m9/temp',
    'plant1',
    'line2',
    'm9',
    'temp',
    '°C',
    newest - 3_600_000,
    newest - 600_000,
    20,
    5,
  )

  const store = createNarrativeStore(db)
  const early = seeded.calendar.byId('2026-11-23/early')
  if (early === undefined) throw new Error('no early shift')
  store.save(
    narrative({
      id: 'shift/2026-11-23/early',
      kind: 'shift',
      scope: 'site',
      periodStart: early.startTs,
      periodEnd: early.endTs,
      headline: `${SCRIPT} "quotes" </script> early shift`,
      body: `</script>${IMG} body 'single' & more`,
      highlights: [`highlight ${SCRIPT}`],
      generator: { type: 'template', reason: 'ungrounded', detail: `unmatched ${SCRIPT}` },
      grounding: { ok: false, numbersChecked: 7, unmatched: [`99 ${IMG}`], unknownNames: [] },
      createdAt: early.endTs + 60_000,
    }),
  )
  store.save(
    narrative({
      id: 'incident/line1/evil',
      kind: 'incident',
      scope: `line1/${IMG}`,
      periodStart: newest - 400_000,
      periodEnd: newest,
      headline: `Incident ${SCRIPT}`,
      body: `body ${IMG}`,
      generator: { type: 'llm', model: `model ${IMG}`, mode: 'plan', attempts: 1, promptTokens: 100, outputTokens: 50, ms: 1200 },
    }),
  )
  const first = db.prepare("SELECT id, line, machine, started_at, ended_at FROM anomalies WHERE state = 'closed' ORDER BY started_at LIMIT 1").get() as {
    id: string
    line: string
    machine: string
    started_at: number
    ended_at: number
  }
  store.save(
    narrative({
      id: 'incident/first',
      kind: 'incident',
      scope: `${first.line}/${first.machine}`,
      periodStart: first.started_at,
      periodEnd: first.ended_at + 60_000,
      headline: 'The first incident',
      generator: { type: 'llm', model: 'SmolLM2', mode: 'plan', attempts: 1, promptTokens: 100, outputTokens: 50, ms: 1200 },
      grounding: { ok: true, numbersChecked: 4, unmatched: [], unknownNames: [] },
    }),
  )

  registry = new Registry()
  new Counter({ name: 'shiftscribe_ingest_received_total', help: 'A ledger counter the test registers', registers: [registry] }).inc(12)
  app = await createHttpApp(baseDeps())
})

afterAll(async () => {
  await app?.close()
  seeded?.db.close()
  rmSync(dir, { recursive: true, force: true })
})

const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers })
const json = async (url: string) => {
  const r = await get(url)
  expect(r.statusCode, r.body).toBe(200)
  expect(r.headers['content-type']).toMatch(/^application\/json/)
  return r.json()
}
const page = async (url: string) => {
  const r = await get(url)
  expect(r.statusCode, r.body.slice(0, 300)).toBe(200)
  expect(r.headers['content-type']).toBe('text/html; charset=utf-8')
  return r.body
}
const expectSecurityHeaders = (headers: Record<string, unknown>) => {
  expect(headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY)
  expect(headers['x-content-type-options']).toBe('nosniff')
  expect(headers['referrer-policy']).toBe('no-referrer')
  expect(headers['x-frame-options']).toBe('DENY')
}
const expectNoStack = (body: string) => {
  expect(body).not.toMatch(/\n\s+at /)
  expect(body).not.toContain('node_modules')
  expect(body).not.toContain('.ts:')
}

describe('JSON API', () => {
  it('/api/overview: lines → machine tiles with status, freshness, latest values and 30-minute sparklines', async () => {
    const o = await json('/api/overview')
    const machines = o.lines.flatMap((l: { machines: unknown[] }) => l.machines) as {
      line: string
      machine: string
      status: string
      stale: boolean
      sensors: { key: string; value: number; spark: (number | null)[] }[]
    }[]
    const expected = seeded.db.prepare("SELECT count(DISTINCT line || '/' || machine) AS n FROM sensors").get() as { n: number }
    expect(machines).toHaveLength(expected.n)
    expect(o.counts.machines).toBe(expected.n)
    const tile = (line: string, machine: string) => machines.find((m) => m.line === line && m.machine === machine)
    expect(tile('line1', IMG)?.status).toBe('critical')
    expect(tile('line1', 'm2')?.status).toBe('warning')
    expect(tile('line2', 'm9')).toMatchObject({ status: 'stale', stale: true })
    expect(tile('line1', 'm1')?.status).toBe('ok')
    expect(o.lines.find((l: { line: string }) => l.line === 'line1').status).toBe('critical')
    const power = tile('line1', 'm1')?.sensors.find((s) => s.key === 'plant1/line1/m1/power')
    const stored = seeded.db.prepare("SELECT last_value FROM sensors WHERE key = 'plant1/line1/m1/power'").get() as { last_value: number }
    expect(power?.value).toBe(stored.last_value)
    expect(power?.spark).toHaveLength(30)
    const lastBucket = seeded.db.prepare("SELECT sum / count AS mean FROM buckets WHERE key = 'plant1/line1/m1/power' ORDER BY minute DESC LIMIT 1").get() as { mean: number }
    expect(power?.spark[29]).toBeCloseTo(lastBucket.mean, 3)
    expect(o.counts).toMatchObject({ critical: 1, warning: 1, stale: 1, openAnomalies: 2 })
    expect(o.newestTs).toBe(newest)
    expect(o.stale).toBe(false)
    // The seeded data ends in the late shift: it runs, with KPIs so far.
    expect(o.currentShift).toMatchObject({ id: '2026-11-23/late', closed: false })
    expect(o.currentShift.parts).toBeGreaterThan(0)
    expect(o.lastClosedShift).toMatchObject({ id: '2026-11-23/early', closed: true, narrative: { id: 'shift/2026-11-23/early' } })
    expect(o.narratives.map((n: { id: string }) => n.id)).toContain('shift/2026-11-23/early')
  })

  it('/api/overview says the site is stale when nothing arrived for a while (wall clock)', async () => {
    const late = await createHttpApp(baseDeps({ clock: () => newest + 3_600_000, registry: new Registry() }))
    try {
      const o = (await late.inject({ url: '/api/overview' })).json()
      expect(o.stale).toBe(true)
      expect(o.dataAgeMs).toBe(3_600_000)
      expect((await late.inject({ url: '/' })).body).toContain('No new readings for 60 min')
    } finally {
      await late.close()
    }
  })

  it('/api/shifts lists closed shifts with totals and pages with before=', async () => {
    const all = await json('/api/shifts')
    expect(all.shifts.map((s: { id: string }) => s.id)).toEqual(['2026-11-23/early'])
    const totals = seeded.db.prepare("SELECT sum(parts) AS parts, sum(rejects) AS rejects FROM shift_machine_kpis WHERE shift_id = '2026-11-23/early'").get() as {
      parts: number
      rejects: number
    }
    expect(all.shifts[0]).toMatchObject({ parts: totals.parts, rejects: totals.rejects, narrative: { id: 'shift/2026-11-23/early' } })
    expect(all.next).toBeNull()
    const one = await json('/api/shifts?limit=1')
    expect(one.next).toBe(all.shifts[0].startTs)
    expect((await json(`/api/shifts?limit=1&before=${one.next}`)).shifts).toEqual([])
  })

  it('/api/shifts/:date/:name: KPIs per machine and sensor, the narrative and the anomalies within it', async () => {
    const d = await json('/api/shifts/2026-11-23/early')
    expect(d.shift).toMatchObject({ id: '2026-11-23/early', closed: true, closedBy: 'watermark' })
    expect(d.machines).toHaveLength(6)
    expect(d.machines[0].sensors).toHaveLength(7)
    expect(d.machines[0].sensors.find((s: { sensor: string }) => s.sensor === 'spindle_temp').unit).toBe('°C')
    expect(d.narrative.id).toBe('shift/2026-11-23/early')
    const inShift = seeded.db
      .prepare("SELECT count(*) AS n FROM anomalies WHERE started_at < ? AND (ended_at IS NULL OR ended_at >= ?) AND site = 'plant1'")
      .get(d.shift.endTs, d.shift.startTs) as { n: number }
    expect(d.anomalies).toHaveLength(inShift.n)
    expect(inShift.n).toBeGreaterThan(0)
  })

  it('/api/shifts/:date/:name of the running shift comes from the calendar, not closed', async () => {
    const d = await json('/api/shifts/2026-11-23/late')
    expect(d.shift).toMatchObject({ closed: false, closedBy: null })
    expect(d.machines.length).toBeGreaterThan(0)
    expect(d.narrative).toBeNull()
  })

  it('/api/incidents filters by line, machine, kind, severity and state, pages, and attaches the incident narrative', async () => {
    const all = await json('/api/incidents?limit=500')
    const total = seeded.db.prepare("SELECT count(*) AS n FROM anomalies WHERE site = 'plant1'").get() as { n: number }
    expect(all.incidents).toHaveLength(total.n)
    expect((await json('/api/incidents?severity=critical')).incidents.every((a: { severity: string }) => a.severity === 'critical')).toBe(true)
    expect((await json('/api/incidents?state=open')).incidents.map((a: { id: string }) => a.id).sort()).toEqual(['evil-1', 'open-warning'])
    const m1 = await json('/api/incidents?line=line1&machine=m1&limit=500')
    expect(m1.incidents.length).toBeGreaterThan(0)
    expect(m1.incidents.every((a: { line: string; machine: string }) => a.line === 'line1' && a.machine === 'm1')).toBe(true)
    expect((await json('/api/incidents?kind=dropout')).incidents.every((a: { kind: string }) => a.kind === 'dropout')).toBe(true)
    const first = all.incidents[all.incidents.length - 1]
    expect(first.narrative).toMatchObject({ id: 'incident/first', headline: 'The first incident' })
    expect(all.incidents.find((a: { id: string }) => a.id === 'evil-1').narrative.id).toBe('incident/line1/evil')
    const two = await json('/api/incidents?limit=2')
    expect(two.incidents).toHaveLength(2)
    const next = await json(`/api/incidents?limit=2&before=${two.next}`)
    expect(next.incidents[0].startedAt).toBeLessThan(two.next)
    // Blank filters (an empty GET form) mean "any".
    expect((await json('/api/incidents?line=&machine=&kind=&severity=&state=&limit=500')).incidents).toHaveLength(total.n)
  })

  it('/api/sensors/:line/:machine/:sensor: minute mean, min and max, limits and anomalies in range', async () => {
    const d = await json('/api/sensors/line1/m1/spindle_temp')
    expect(d.stepMs).toBe(60_000)
    expect(d.to - d.from).toBe(24 * 3_600_000)
    const buckets = seeded.db.prepare("SELECT count(*) AS n FROM buckets WHERE key = 'plant1/line1/m1/spindle_temp' AND minute >= ? AND minute < ?").get(d.from, d.to) as { n: number }
    expect(d.points).toHaveLength(buckets.n)
    for (const p of d.points) {
      expect(p.min).toBeLessThanOrEqual(p.mean)
      expect(p.mean).toBeLessThanOrEqual(p.max)
    }
    expect(d.limits).toEqual({ high: 80 })
    const week = await json('/api/sensors/line1/m1/spindle_temp?hours=168')
    expect(week.stepMs).toBe(7 * 60_000)
    const shift = await json('/api/sensors/line1/m3/pressure?shift=2026-11-23/early')
    expect(shift.shiftId).toBe('2026-11-23/early')
    expect(shift.to - shift.from).toBe(8 * 3_600_000)
    expect(shift.anomalies.every((a: { key: string }) => a.key === 'plant1/line1/m3/pressure')).toBe(true)
    expect((await json('/api/sensors/line1/m1/power')).limits).toBeNull()
  })

  it('/api/narratives lists and gets narratives by id', async () => {
    const shifts = await json('/api/narratives?kind=shift')
    expect(shifts.narratives.map((n: { id: string }) => n.id)).toEqual(['shift/2026-11-23/early'])
    expect((await json('/api/narratives/shift/2026-11-23/early')).revision).toBe(1)
  })

  it('/system shows the ingest rate from the ledger between two looks', async () => {
    let now = Date.UTC(2026, 10, 23, 12, 0)
    let received = 1000
    const rateApp = await createHttpApp(baseDeps({ clock: () => now, registry: new Registry(), ledger: () => ({ ...ledger, received }) }))
    try {
      expect((await rateApp.inject({ url: '/system' })).body).toContain('measuring (reload)')
      now += 2000
      received += 100
      expect((await rateApp.inject({ url: '/system' })).body).toContain('50 readings/s')
      expect((await rateApp.inject({ url: '/api/system' })).json()).toMatchObject({ ingestPerS: 50 })
    } finally {
      await rateApp.close()
    }
  })

  it('/api/system: stage health, ledger, store stats, disk use and metrics', async () => {
    const s = await json('/api/system')
    expect(s.health.narrator.ok).toBe(false)
    expect(s.ledger.received).toBe(12)
    expect(s.files[0].name).toBe('state')
    expect(s.files[0].bytes).toBeGreaterThan(100_000)
    expect(s.store.sensors).toBe((seeded.db.prepare("SELECT count(*) AS n FROM sensors WHERE site = 'plant1'").get() as { n: number }).n)
    expect(s.store.readingsPerMin).toBeGreaterThan(0)
    expect(s.metrics.map((m: { name: string }) => m.name)).toContain('shiftscribe_http_sse_clients')
  })
})

describe('operations endpoints', () => {
  it('/healthz is 200 while the process runs', async () => {
    expect((await json('/healthz')).ok).toBe(true)
  })

  it('/readyz is 200 or 503 with the checks', async () => {
    ready = true
    expect((await get('/readyz')).statusCode).toBe(200)
    ready = false
    const r = await get('/readyz')
    expect(r.statusCode).toBe(503)
    expect(r.json()).toEqual({ ok: false, checks: { mqtt: { ok: false, detail: 'broker unreachable' } } })
    ready = true
    const broken = await createHttpApp(
      baseDeps({
        registry: new Registry(),
        ready: async () => {
          throw new Error('store not writable')
        },
      }),
    )
    const b = await broken.inject({ url: '/readyz' })
    expect(b.statusCode).toBe(503)
    expect(b.json().checks.ready.detail).toBe('store not writable')
    await broken.close()
  })

  it('/metrics is Prometheus text with the registry counters', async () => {
    const r = await get('/metrics')
    expect(r.statusCode).toBe(200)
    expect(r.headers['content-type']).toBe(registry.contentType)
    const lines = r.body.split('\n').filter((l) => l !== '')
    for (const line of lines) {
      if (line.startsWith('#')) expect(line).toMatch(/^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$/)
      else expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.e+-]+$/)
    }
    expect(lines).toContain('# TYPE shiftscribe_ingest_received_total counter')
    expect(lines).toContain('shiftscribe_ingest_received_total 12')
    expect(lines).toContain('# TYPE shiftscribe_http_sse_dropped_total counter')
    expect(lines).toContain('shiftscribe_http_sse_clients 0')
  })
})

describe('pages', () => {
  it('/ shows a tile per machine with its status, live values and sparklines, the current shift and narratives', async () => {
    const body = await page('/')
    const machines = (seeded.db.prepare("SELECT count(DISTINCT line || '/' || machine) AS n FROM sensors").get() as { n: number }).n
    expect(body.match(/<article class="tile"/g)).toHaveLength(machines)
    expect(body).toContain('data-tile="line1/m1" data-status="ok"')
    expect(body).toContain('data-tile="line1/m2" data-status="warning"')
    expect(body).toContain('data-live-key="plant1/line1/m1/power"')
    expect(body.match(/<svg class="spark"/g)?.length).toBeGreaterThanOrEqual(42)
    expect(body).toContain('Current shift: <a href="/shifts/2026-11-23/late">Late 2026-11-23</a>')
    expect(body).toContain('data-live="overview"')
    expect(body).toMatch(/<html lang="en">/)
    expect(body).toContain('<main id="main">')
    expect(body).toContain(`<script src="/static/app.js?v=${APP_JS_VERSION}" defer></script>`)
  })

  it('/shifts and /shifts/:date/:name show the report: narrative with badges, charts, KPI tables, anomalies', async () => {
    expect(await page('/shifts')).toContain('<a href="/shifts/2026-11-23/early">Early 2026-11-23</a>')
    const body = await page('/shifts/2026-11-23/early')
    expect(body).toContain('<h1>Early shift 2026-11-23</h1>')
    expect(body).toContain('Template · ungrounded')
    expect(body).toContain('Not grounded · 1 unmatched of 7')
    expect(body).toContain('<svg class="chart bar-chart"')
    expect(body).toContain('<svg class="chart timeline-chart"')
    expect(body.match(/<h3>line\d\/m\d<\/h3>/g)).toHaveLength(6)
    expect(body).toContain('href="/sensors/line1/m1/spindle_temp?shift=2026-11-23%2Fearly"')
    expect(await page('/shifts/2026-11-23/late')).toContain('No narrative for this shift yet.')
  })

  it('/incidents shows the feed with the incident narrative and a GET filter form', async () => {
    const body = await page('/incidents?severity=warning&state=closed')
    expect(body).toContain('<form class="filters" method="get" action="/incidents"')
    expect(body).toContain('<option value="warning" selected>')
    expect(body).not.toContain('<span class="badge critical">')
    const all = await page('/incidents?limit=500')
    expect(all).toContain('The first incident')
    expect(all).toContain('LLM · SmolLM2')
  })

  it('/sensors/:line/:machine/:sensor draws the band chart with limits and anomalies', async () => {
    const body = await page('/sensors/line1/m1/spindle_temp')
    expect(body).toContain('<svg class="chart band-chart"')
    expect(body).toContain('class="limit limit-high"')
    expect(body).toContain('<polygon class="band"')
    const withAnomaly = await page('/sensors/line1/m3/pressure?shift=2026-11-23/early')
    expect(withAnomaly).toContain('<g class="anomaly anomaly-warning">')
    expect(withAnomaly).toContain('<option value="2026-11-23/early" selected>')
  })

  it('/system shows stages, ledger, disk use and metrics', async () => {
    const body = await page('/system')
    expect(body).toContain('<td>journal</td>')
    expect(body).toContain('<dt>Balanced</dt><dd>yes</dd>')
    expect(body).toContain('<td title="A ledger counter the test registers">shiftscribe_ingest_received_total</td><td></td><td class="num">12</td>')
    expect(body).toMatch(/<td class="num">[\d.]+ (KiB|MiB)<\/td>/)
  })

  it('serves the script and stylesheet as files, cacheable by version', async () => {
    const js = await get(`/static/app.js?v=${APP_JS_VERSION}`)
    expect(js.statusCode).toBe(200)
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8')
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable')
    expect(js.body).toContain("new EventSource('/events')")
    expect(js.body).not.toMatch(/innerHTML|eval\(/)
    expect((await get('/static/app.js')).headers['cache-control']).toBe('no-cache')
    const css = await get('/static/app.css')
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8')
  })
})

describe('errors', () => {
  it('unknown routes, shifts, sensors and narratives are 404 with { error, message } (HTML for pages)', async () => {
    for (const url of ['/api/nope', '/api/shifts/2026-11-20/early', '/api/shifts/2026-11-23/brunch', '/api/sensors/line1/m1/nope', '/api/narratives/shift/1999-01-01/x', '/api/sensors/line1/m1/power?shift=2026-11-20/early']) {
      const r = await get(url)
      expect(r.statusCode, url).toBe(404)
      expect(r.headers['content-type']).toMatch(/^application\/json/)
      const body = r.json()
      expect(Object.keys(body).sort()).toEqual(['error', 'message'])
      expect(body.error).toBe('not_found')
      expectNoStack(r.body)
    }
    expect((await get('/api/sensors/line1/m1/nope')).json().message).toBe('no sensor line1/m1/nope')
    for (const url of ['/nope', '/sensors/line1/m1/nope', '/shifts/2026-11-20/early']) {
      const r = await get(url)
      expect(r.statusCode, url).toBe(404)
      expect(r.headers['content-type']).toBe('text/html; charset=utf-8')
      expect(r.body).toContain('<h1>Not found</h1>')
    }
  })

  it('bad query and path parameters are 400 with a message naming the parameter, never a stack', async () => {
    const cases: [string, string][] = [
      ['/api/shifts?limit=abc', 'limit: must be a whole number from 1 to 200 (got "abc")'],
      ['/api/shifts?limit=0', 'limit: must be a whole number from 1 to 200 (got "0")'],
      ['/api/shifts?before=-5', 'before: must be a whole number from 0 to 9007199254740991 (got "-5")'],
      ['/api/incidents?severity=fatal', 'severity: must be one of warning, critical (got "fatal")'],
      ['/api/incidents?state=maybe&limit=9999', 'state: must be one of open, closed (got "maybe"); limit: must be a whole number from 1 to 500 (got "9999")'],
      ['/api/incidents?line=a&line=b', 'line: must be given once, as text (got ["a","b"])'],
      ['/api/sensors/line1/m1/power?hours=1.5', 'hours: must be a whole number from 1 to 168 (got "1.5")'],
      ['/api/sensors/line1/m1/power?shift=yesterday', 'shift: must be a shift id like 2026-11-23/early (got "yesterday")'],
      ['/api/shifts/23-11-2026/early', 'date: must be a date like 2026-11-23 (got "23-11-2026")'],
      ['/api/narratives?kind=poem', 'kind: must be one of shift, incident, answer (got "poem")'],
    ]
    for (const [url, message] of cases) {
      const r = await get(url)
      expect(r.statusCode, url).toBe(400)
      expect(r.json(), url).toEqual({ error: 'bad_request', message })
      expectNoStack(r.body)
    }
    const html = await get('/incidents?limit=abc')
    expect(html.statusCode).toBe(400)
    expect(html.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(html.body).toContain('limit: must be a whole number from 1 to 500 (got &quot;abc&quot;)')
  })

  it('other methods are refused and a body over the limit is 413', async () => {
    const post = await app.inject({ method: 'POST', url: '/api/overview', payload: {} })
    expect(post.statusCode).toBe(404)
    expect(post.json().error).toBe('not_found')
    expect((await app.inject({ method: 'DELETE', url: '/api/narratives/shift/2026-11-23/early' })).statusCode).toBe(404)
    expect((await app.inject({ method: 'HEAD', url: '/events' })).statusCode).toBe(404)
    expect((await app.inject({ method: 'HEAD', url: '/api/overview' })).statusCode).toBe(200)
    const big = await app.inject({
      method: 'POST',
      url: '/api/narratives/shift/2026-11-23/early/regenerate',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ pad: 'x'.repeat(20_000) }),
    })
    expect(big.statusCode).toBe(413)
    expect(big.json().error).toBe('payload_too_large')
  })

  it('a failing store is a 500 with a plain message', async () => {
    const closed = seedStateDbLess()
    const broken = await createHttpApp(baseDeps({ db: closed.db, registry: new Registry() }))
    closed.db.close()
    const r = await broken.inject({ url: '/api/overview' })
    expect(r.statusCode).toBe(500)
    expect(r.json()).toEqual({ error: 'internal', message: 'internal error; the gateway log has the details' })
    expectNoStack(r.body)
    await broken.close()
  })
})

/** An empty state database (migrations only). */
function seedStateDbLess() {
  return seedStateDb({ file: join(dir, `empty-${Math.random().toString(36).slice(2)}.db`), hours: 0 })
}

describe('security', () => {
  it('every response carries the CSP and the usual headers; API responses are not cached', async () => {
    for (const url of ['/', '/shifts', '/incidents', '/system', '/sensors/line1/m1/power', '/api/overview', '/api/nope', '/nope', '/api/shifts?limit=x', '/static/app.js', '/metrics', '/healthz']) {
      const r = await get(url)
      expectSecurityHeaders(r.headers)
    }
    expect((await get('/api/overview')).headers['cache-control']).toBe('no-store')
    expect((await get('/')).headers['cache-control']).toBe('no-store')
  })

  it('pages have no inline script, style or event-handler attribute', async () => {
    for (const url of ['/', '/shifts/2026-11-23/early', '/incidents', '/sensors/line1/m1/spindle_temp', '/system']) {
      const body = await page(url)
      expect(body.match(/<script/g), url).toHaveLength(1)
      expect(body, url).not.toMatch(/<script>|<style/i)
      const attributes = [...body.matchAll(/<[a-z][a-z0-9-]*((?:\s+[^\s=>/]+(?:="[^"]*")?)*)\s*\/?>/gi)].flatMap((tag) =>
        [...(tag[1] ?? '').matchAll(/\s+([^\s=>/]+)(?:="[^"]*")?/g)].map((a) => (a[1] as string).toLowerCase()),
      )
      expect(attributes.length, url).toBeGreaterThan(40)
      expect(attributes.filter((a) => a === 'style' || a.startsWith('on')), url).toEqual([])
    }
  })

  it('regenerating a narrative needs the bearer token', async () => {
    const url = '/api/narratives/shift/2026-11-23/early/regenerate'
    const none = await app.inject({ method: 'POST', url })
    expect(none.statusCode).toBe(401)
    expect(none.headers['www-authenticate']).toBe('Bearer')
    expect(none.json().error).toBe('unauthorized')
    for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, `Basic ${TOKEN}`, TOKEN, 'Bearer ']) {
      expect((await app.inject({ method: 'POST', url, headers: { authorization } })).statusCode, authorization).toBe(401)
    }
    expect(regenerated).toEqual([])
    const ok = await app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${TOKEN}` } })
    expect(ok.statusCode).toBe(200)
    expect(ok.json()).toEqual({ id: 'shift/2026-11-23/early' })
    expect(regenerated).toEqual(['shift/2026-11-23/early'])
    expect((await app.inject({ method: 'POST', url: '/api/narratives/shift/1999-01-01/x/regenerate', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode).toBe(404)
    expect((await app.inject({ method: 'POST', url: '/api/narratives/shift/2026-11-23/early', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode).toBe(404)
    expect((await app.inject({ method: 'GET', url })).statusCode).toBe(404)
  })

  it('without a regenerate function or a token, regenerating is not enabled (404)', async () => {
    for (const over of [{ regenerate: undefined }, { token: undefined }]) {
      const other = await createHttpApp(baseDeps({ ...over, registry: new Registry() }))
      const r = await other.inject({ method: 'POST', url: '/api/narratives/shift/2026-11-23/early/regenerate', headers: { authorization: `Bearer ${TOKEN}` } })
      expect(r.statusCode).toBe(404)
      expect(r.json().message).toBe('regenerating narratives is not enabled on this gateway')
      await other.close()
    }
  })
})

describe('escaping', () => {
  const evilSensorPath = `/sensors/line1/${encodeURIComponent(IMG)}/${encodeURIComponent(EVIL_SENSOR)}`
  const pages = [
    '/',
    '/shifts',
    '/shifts/2026-11-23/early',
    '/incidents?limit=500',
    `/incidents?machine=${encodeURIComponent(IMG)}&kind=${encodeURIComponent(SCRIPT)}`,
    evilSensorPath,
    `${evilSensorPath}?hours=4`,
    '/system',
  ]

  it.each(pages)('%s renders hostile names and narrative text as text', async (url) => {
    const body = await page(url)
    expect(body).not.toContain('<script>alert')
    expect(body).not.toContain('<img src=x')
    expect(body).not.toContain('"quotes"')
    expect(body).not.toContain("'single'")
    expect(body.match(/<script/g)).toHaveLength(1)
    expect(body.match(/<\/script>/g)).toHaveLength(1)
    // …and the text is there, escaped.
    expect(body).toMatch(/&lt;script&gt;alert\(1\)&lt;\/script&gt;|&lt;img src=x onerror=alert\(1\)&gt;/)
  })

  it('the evil machine and sensor are on the page, escaped, with working links', async () => {
    const body = await page('/')
    expect(body).toContain('data-tile="line1/&lt;img src=x onerror=alert(1)&gt;" data-status="critical"')
    expect(body).toContain(`href="${evilSensorPath}"`)
    expect(body).toContain('&quot;quotes&quot;&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;')
    const sensor = await page(evilSensorPath)
    expect(sensor).toContain('<h1>line1/&lt;img src=x onerror=alert(1)&gt;/&quot;quotes&quot;&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;</h1>')
    const shift = await page('/shifts/2026-11-23/early')
    expect(shift).toContain('&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; body &#39;single&#39; &amp; more')
    const incidents = await page('/incidents?state=open')
    expect(incidents).toContain('Incident &lt;script&gt;alert(1)&lt;/script&gt;')
    expect(incidents).toContain('LLM · model &lt;img src=x onerror=alert(1)&gt;')
  })

  it('error pages escape what the request echoes', async () => {
    const r = await get(`/incidents?limit=${encodeURIComponent(SCRIPT)}`)
    expect(r.statusCode).toBe(400)
    expect(r.body).not.toContain('<script>alert')
    expect(r.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    const nf = await get(`/${encodeURIComponent(SCRIPT)}`)
    expect(nf.statusCode).toBe(404)
    expect(nf.body).not.toContain('<script>alert')
  })

  it('the JSON API returns hostile strings as JSON strings, served as JSON with nosniff', async () => {
    const r = await get('/api/incidents?state=open')
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(r.headers['x-content-type-options']).toBe('nosniff')
    expect(r.json().incidents.find((a: { id: string }) => a.id === 'evil-1').machine).toBe(IMG)
  })
})
