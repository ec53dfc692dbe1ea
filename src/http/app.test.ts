// Every page and API endpoint through app.inject against a real state database from the seeded
// simulated plant, plus hostile names and narrative text put straight into the tables.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runInNewContext } from 'node:vm'
import Database from 'better-sqlite3'
import type { FastifyInstance } from 'fastify'
import { Counter, Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AnswerMessage } from '../bus/messages.js'
import { GatewayError } from '../errors.js'
import type { LedgerCounts } from '../ingest/journal.js'
import { silentLogger } from '../log.js'
import type { Narrative } from '../narrate/types.js'
import { seedStateDb, type SeededState } from '../simulate/seed-state.js'
import { createStateProcessor, type IncomingMessage, type StateProcessor } from '../aggregate/state-processor.js'
import { createDetectorBank } from '../detect/detector-bank.js'
import { detectConfigSchema } from '../detect/config.js'
import { createShiftCalendar } from '../shifts/shift-calendar.js'
import { createNarrativeStore } from '../store/narratives.js'
import { openStateDb, type StateDb } from '../store/state-db.js'
import { CONTENT_SECURITY_POLICY, createHttpApp, PERMISSIONS_POLICY, type HttpAppDeps } from './app.js'
import { createLiveHub } from './live-hub.js'
import type { PipelineStatus } from './pipeline.js'
import { createReadiness, type KafkaContact } from './readiness.js'
import { APP_JS, APP_JS_VERSION } from './static.js'

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
  expect(headers['permissions-policy']).toBe(PERMISSIONS_POLICY)
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

  it('/api/overview says the site and every tile are stale when nothing arrived for a while (wall clock)', async () => {
    const late = await createHttpApp(baseDeps({ clock: () => newest + 3_600_000, registry: new Registry() }))
    try {
      const o = (await late.inject({ url: '/api/overview' })).json()
      expect(o.stale).toBe(true)
      expect(o.dataAgeMs).toBe(3_600_000)
      // Every tile goes stale too, not only the banner (an open anomaly still ranks above stale).
      const tiles = o.lines.flatMap((l: { machines: { machine: string; status: string; stale: boolean; sensors: { stale: boolean }[] }[] }) => l.machines)
      expect(tiles.every((t: { stale: boolean; sensors: { stale: boolean }[] }) => t.stale && t.sensors.every((s) => s.stale))).toBe(true)
      expect(tiles.find((t: { machine: string }) => t.machine === 'm1').status).toBe('stale')
      expect(tiles.find((t: { machine: string }) => t.machine === 'm2').status).toBe('warning')
      expect(o.counts.ok).toBe(0)
      const body = (await late.inject({ url: '/' })).body
      expect(body).toContain('No new readings for 60 min')
      expect(body).toContain('data-tile="line1/m1" data-status="stale"')
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

  it('/api/system and /system: consumer lag, LLM state, narrate queue and running job, forwarder lag and last error as fields', async () => {
    // Without the stages the fields are there and null; every older field stays.
    const plain = await json('/api/system')
    expect(plain).toMatchObject({ aggregate: null, llm: null, narrate: null, forward: null })
    expect(Object.keys(plain)).toEqual(expect.arrayContaining(['site', 'generatedAt', 'health', 'store', 'ledger', 'ingestPerS', 'files', 'live', 'metrics']))
    expect(await page('/system')).not.toContain('id="pipeline-h"')

    const now = newest + 30_000
    const pipeline: PipelineStatus = {
      aggregate: { consumerLag: 1234, lastBatchAt: now - 5000, lastError: null },
      llm: { state: 'unavailable', model: null, reason: `model file missing ${IMG}` },
      narrate: { queueDepth: 3, running: `incident:line1/${IMG}`, lastNarrativeAt: null, lastError: 'LLM_TIMEOUT after 30 s' },
      forward: { lag: 7, lagBySource: { narratives: 2, anomalies: 5 }, lastSuccessAt: now - 120_000, failingSince: now - 60_000, lastError: `SASL authentication failed ${SCRIPT}`, lastErrorAt: now - 1000 },
    }
    const withStages = await createHttpApp(baseDeps({ registry: new Registry(), pipeline: () => pipeline }))
    try {
      const s = (await withStages.inject({ url: '/api/system' })).json()
      expect(s).toMatchObject(pipeline)
      expect(s.ledger.received).toBe(12)
      const body = (await withStages.inject({ url: '/system' })).body
      expect(body).toContain('<h2 id="pipeline-h">Pipeline</h2>')
      expect(body).toContain('<dt>Kafka consumer lag (aggregator)</dt><dd data-field="aggregate-lag">1234 messages · last batch ')
      expect(body).toContain('<dd data-field="llm-state"><span class="badge ungrounded">unavailable</span> · model file missing &lt;img src=x onerror=alert(1)&gt;</dd>')
      expect(body).toContain('<dd data-field="narrate-queue">3 waiting · writing <code>incident:line1/&lt;img src=x onerror=alert(1)&gt;</code> · last narrative never · last error: <span class="error">LLM_TIMEOUT after 30 s</span></dd>')
      expect(body).toContain('<dd data-field="forward-lag">7 messages (narratives 2, anomalies 5) · last ack ')
      expect(body).toContain('<dd data-field="forward-error"><span class="error">SASL authentication failed &lt;script&gt;alert(1)&lt;/script&gt;</span> · failing for ')
      expect(body).not.toContain('<img src=x')
      expect(body).not.toContain('<script>alert')

      pipeline.forward = { lag: 0, lagBySource: {}, lastSuccessAt: now, failingSince: null, lastError: null, lastErrorAt: null }
      pipeline.narrate = { queueDepth: 0, running: null, lastNarrativeAt: now - 1000, lastError: null }
      const ok = (await withStages.inject({ url: '/system' })).body
      expect(ok).toContain('<dd data-field="forward-error">none (forwarding works)</dd>')
      expect(ok).toContain('<dd data-field="narrate-queue">0 waiting · idle · last narrative ')
      // After an outage the last error stays on the page, with when it happened.
      pipeline.forward = { lag: 0, lagBySource: {}, lastSuccessAt: now, failingSince: null, lastError: 'central cluster unreachable', lastErrorAt: now - 120_000 }
      const recovered = (await withStages.inject({ url: '/system' })).body
      expect(recovered).toMatch(/<dd data-field="forward-error"><span class="error">central cluster unreachable<\/span> · [^<]+, forwarding works again<\/dd>/)
    } finally {
      await withStages.close()
    }
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

  it('/readyz is 503 while Kafka was never reached (empty journal) and while the journal takes no writes', async () => {
    let contact: KafkaContact = { connected: false }
    const journalFile = join(dir, 'readyz-journal.db')
    new Database(journalFile).close()
    let journal = new Database(journalFile, { readonly: true })
    const r = await createHttpApp(
      baseDeps({
        registry: new Registry(),
        ready: () => createReadiness({ mqtt: () => ({ ok: true, detail: 'connected' }), kafka: () => contact, stores: { journal, state: seeded.db }, now: () => 0 })(),
      }),
    )
    try {
      const never = await r.inject({ url: '/readyz' })
      expect(never.statusCode).toBe(503)
      expect(never.json().checks).toEqual({
        mqtt: { ok: true, detail: 'connected' },
        kafka: { ok: false, detail: 'not connected to local Kafka yet' },
        stores: { ok: false, detail: 'journal not writable: attempt to write a readonly database' },
      })
      contact = { connected: true }
      journal.close()
      journal = new Database(journalFile)
      const ok = await r.inject({ url: '/readyz' })
      expect(ok.statusCode).toBe(200)
      expect(ok.json()).toMatchObject({ ok: true, checks: { kafka: { ok: true }, stores: { ok: true, detail: 'journal and state writable' } } })
    } finally {
      journal.close()
      await r.close()
    }
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

  it('every page starts with a skip link to <main id="main">, and every chart and sparkline has an accessible name', async () => {
    const urls = ['/', '/shifts', '/shifts/2026-11-23/early', '/incidents', '/sensors/line1/m1/spindle_temp', '/system', '/answers', '/nope']
    let charts = 0
    for (const url of urls) {
      const r = await get(url)
      const body = r.body
      // The first thing in <body>, so the first Tab reaches it; its target exists once.
      expect(body, url).toMatch(/<body[^>]*><a class="skip" href="#main">Skip to content<\/a>/)
      expect(body.match(/<main id="main">/g), url).toHaveLength(1)
      for (const svg of body.matchAll(/<svg ([^>]*)>(<title>([^<]*)<\/title>)?/g)) {
        const [tag, attributes, , title] = svg
        expect(attributes, `${url}: ${tag}`).toContain('role="img"')
        const label = /aria-label="([^"]*)"/.exec(attributes ?? '')?.[1]
        expect(label?.trim().length ?? 0, `${url}: ${tag}`).toBeGreaterThan(3)
        expect(title?.trim().length ?? 0, `${url}: ${tag} has no <title> first`).toBeGreaterThan(3)
        charts++
      }
    }
    expect(charts).toBeGreaterThan(45)
    const shift = await page('/shifts/2026-11-23/early')
    expect(shift).toMatch(/<svg class="chart bar-chart"[^>]*><title>Parts per machine, early shift 2026-11-23<\/title><desc>line1\/m1: \d+ parts/)
    expect(shift).toMatch(/<svg class="chart timeline-chart"[^>]*><title>[^<]+: \d+ anomalies<\/title><desc>line1\/m1: \d+ anomalies; /)
    expect(await page('/sensors/line1/m1/spindle_temp')).toContain('<desc>The line is the minute mean, the shaded band the minimum and maximum; dashed lines are the limits')
    // The skip link shows when focused (it is off-screen otherwise).
    expect((await get('/static/app.css')).body).toContain('.skip:focus { left: 8px;')
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

  it('the sensor and shift pages answer bad parameters with an HTML 400 naming the parameter, never a stack', async () => {
    const cases: [string, string][] = [
      ['/sensors/line1/m1/power?hours=abc', 'hours: must be a whole number from 1 to 168 (got &quot;abc&quot;)'],
      ['/sensors/line1/m1/power?hours=0', 'hours: must be a whole number from 1 to 168 (got &quot;0&quot;)'],
      ['/sensors/line1/m1/power?shift=yesterday', 'shift: must be a shift id like 2026-11-23/early (got &quot;yesterday&quot;)'],
      ['/shifts/23-11-2026/early', 'date: must be a date like 2026-11-23 (got &quot;23-11-2026&quot;)'],
      [`/shifts/2026-11-23/${'x'.repeat(65)}`, 'name: must be at most 64 characters'],
      ['/shifts?limit=abc', 'limit: must be a whole number from 1 to 200 (got &quot;abc&quot;)'],
    ]
    for (const [url, message] of cases) {
      const r = await get(url)
      expect(r.statusCode, url).toBe(400)
      expect(r.headers['content-type'], url).toBe('text/html; charset=utf-8')
      expectSecurityHeaders(r.headers)
      expect(r.body, url).toContain('<h1>Bad request</h1>')
      expect(r.body, url).toContain(`<p>${message}`)
      expect(r.body, url).toContain('<p class="muted">400 bad_request</p>')
      expectNoStack(r.body)
    }
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

  it('the Permissions-Policy turns off the sensors, camera, microphone, location, payment and USB', () => {
    for (const feature of ['accelerometer', 'camera', 'geolocation', 'gyroscope', 'magnetometer', 'microphone', 'payment', 'usb']) expect(PERMISSIONS_POLICY).toContain(`${feature}=()`)
    expect(PERMISSIONS_POLICY.split(', ').every((d) => /^[a-z-]+=\(\)$/.test(d))).toBe(true)
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

describe('questions: the ask page, the ask form and the script', () => {
  const HOSTILE_QUESTION = `${IMG} </script> what?`
  const answer = (over: Partial<AnswerMessage> = {}): AnswerMessage => ({
    v: 1,
    id: 'answer-q-2',
    questionId: 'q-2',
    question: 'What was the reject rate in the early shift?',
    askedBy: 'page',
    site: 'plant1',
    scope: 'site',
    understood: { intent: 'reject_rate', label: 'the early shift of 2026-11-23', start: 1, end: 2, notes: [] },
    headline: 'Reject rate 2.1 % in the early shift',
    body: 'The early shift rejected 21 of 1000 parts.',
    highlights: ['line1/m3 had the most rejects'],
    facts: [
      { id: 'f1', metric: 'reject_rate', scope: 'site', value: 2.1, unit: '%', window: { start: 1, end: 2 }, display: '2.1 %', text: 'reject rate 2.1 %' },
      { id: 'f2', metric: 'parts', scope: 'site', value: 1000, unit: 'parts', window: { start: 1, end: 2 }, display: '1000', text: 'parts 1000' },
    ],
    generator: { type: 'llm', model: 'SmolLM2', mode: 'plan', attempts: 1, promptTokens: 100, outputTokens: 40, ms: 1200 },
    grounding: { ok: true, numbersChecked: 3, unmatched: [], unknownNames: [] },
    createdAt: Date.UTC(2026, 10, 23, 14, 5),
    ...over,
  })
  const hostile = answer({
    id: 'answer-q-3',
    questionId: 'q-3',
    question: HOSTILE_QUESTION,
    understood: null,
    headline: `Cannot tell ${SCRIPT}`,
    body: `body ${IMG}`,
    highlights: [],
    facts: [{ id: 'f9', metric: 'x', scope: 'site', value: 1, unit: '', window: { start: 1, end: 2 }, display: '1', text: `fact ${SCRIPT}` }],
    generator: { type: 'template', reason: 'unresolved', detail: `no sensor ${IMG}` },
    grounding: { ok: false, numbersChecked: 2, unmatched: ['7'], unknownNames: [] },
  })

  let askApp: FastifyInstance
  const listLimits: (number | undefined)[] = []
  const asked: { question: string; askedBy?: string }[] = []
  let askError: Error | undefined
  const fakeAsk: NonNullable<HttpAppDeps['ask']> = {
    ask: async (input) => {
      asked.push(input)
      if (askError) throw askError
      return answer({ question: input.question })
    },
    answer: (id) => [hostile, answer()].find((a) => a.questionId === id),
    list: (limit) => {
      listLimits.push(limit)
      return [hostile, answer()].slice(0, limit)
    },
  }

  beforeAll(async () => {
    askApp = await createHttpApp(baseDeps({ ask: fakeAsk, registry: new Registry() }))
  })
  afterAll(async () => {
    await askApp?.close()
  })

  const askPage = async (a: FastifyInstance, url: string) => {
    const r = await a.inject({ url })
    expect(r.statusCode, r.body.slice(0, 300)).toBe(200)
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8')
    expectSecurityHeaders(r.headers)
    return r.body
  }
  const attributesOf = (body: string) =>
    [...body.matchAll(/<[a-z][a-z0-9-]*((?:\s+[^\s=>/]+(?:="[^"]*")?)*)\s*\/?>/gi)].flatMap((tag) =>
      [...(tag[1] ?? '').matchAll(/\s+([^\s=>/]+)(?:="[^"]*")?/g)].map((a) => (a[1] as string).toLowerCase()),
    )

  it('/answers lists the newest 50 answers: question as text, headline, body, understood, badges and the facts used', async () => {
    const body = await askPage(askApp, '/answers')
    expect(listLimits.at(-1)).toBe(50)
    expect(body).toContain('<li><a href="/answers" aria-current="page">Ask</a></li>')
    expect(body.match(/<li class="card answer"/g)).toHaveLength(2)
    // The hostile one, first (newest), every string escaped as text.
    expect(body).toContain('<p class="question"><span class="muted">Question: </span>&lt;img src=x onerror=alert(1)&gt; &lt;/script&gt; what?</p>')
    expect(body).toContain('<h3>Cannot tell &lt;script&gt;alert(1)&lt;/script&gt;</h3>')
    expect(body).toContain('<div class="body">body &lt;img src=x onerror=alert(1)&gt;</div>')
    expect(body).toContain('<li>fact &lt;script&gt;alert(1)&lt;/script&gt;</li>')
    expect(body).toContain('title="no sensor &lt;img src=x onerror=alert(1)&gt;">Template · unresolved</span>')
    expect(body).toContain('Not grounded · 1 unmatched of 2')
    expect(body).toContain('· asked by page · site · not understood</p>')
    expect(body).not.toContain('<img src=x')
    expect(body).not.toContain('<script>alert')
    expect(body.match(/<script/g)).toHaveLength(1)
    expect(body.match(/<\/script>/g)).toHaveLength(1)
    expect(attributesOf(body).filter((a) => a === 'style' || a.startsWith('on'))).toEqual([])
    // The ordinary one.
    expect(body).toContain('2026-11-23 14:05 · asked by page · site · understood as: reject rate, the early shift of 2026-11-23 · answered in 1.2 s</p>')
    expect(body).toContain('LLM · SmolLM2</span><span class="badge grounded">Grounded · 3 numbers checked</span>')
    expect(body).toContain('<details><summary>Facts used (2)</summary><ul class="facts"><li>reject rate 2.1 %</li><li>parts 1000</li></ul></details>')
    expect(body).toContain('<ul class="highlights"><li>line1/m3 had the most rejects</li></ul>')
    expect(body.indexOf('Cannot tell')).toBeLessThan(body.indexOf('Reject rate 2.1 %'))
    expect(body).toContain('<ol class="answers" data-answers')
    expect(body).not.toContain('data-answers-empty')
  })

  it('/answers and / carry the ask form: labelled inputs, maxlength 500, a token field, a noscript note, the button off until the script runs', async () => {
    for (const url of ['/answers', '/']) {
      const body = await askPage(askApp, url)
      expect(body, url).toContain('<form class="ask')
      expect(body, url).toContain('method="post" action="/api/ask"')
      expect(body, url).toContain('<label for="ask-question">Your question</label><input id="ask-question" name="question" type="text" maxlength="500" required')
      expect(body, url).toContain('<label for="ask-token">API token</label><input id="ask-token" name="token" type="password" required autocomplete="off"')
      expect(body, url).toContain('<button type="submit" disabled>Ask</button>')
      expect(body, url).toMatch(/<noscript><p class="banner">Asking needs JavaScript/)
      expect(body, url).toContain('<p class="ask-status" role="status" aria-live="polite" data-ask-status></p>')
      expect(body.match(/<form class="ask/g), url).toHaveLength(1)
    }
    const overview = await askPage(askApp, '/')
    expect(overview).toContain('<form class="ask compact"')
    expect(overview).toContain('<div class="ask-result" data-ask-result></div><p><a href="/answers">All answers</a></p>')
    expect(overview.match(/<script/g)).toHaveLength(1)
    expect(attributesOf(overview).filter((a) => a === 'style' || a.startsWith('on'))).toEqual([])
  })

  it('without the agent /answers is 200 with "not enabled" and no form, and the overview has no form; without a token the answers show but no form', async () => {
    const body = await askPage(app, '/answers')
    expect(body).toContain('Questions are not enabled on this gateway')
    expect(body).not.toContain('<form')
    expect(body).not.toContain('data-answers')
    expect(await askPage(app, '/')).not.toContain('data-ask')

    const noToken = await createHttpApp(baseDeps({ ask: fakeAsk, token: undefined, registry: new Registry() }))
    try {
      const list = await askPage(noToken, '/answers')
      expect(list).toContain('Asking from this page needs an HTTP token')
      expect(list).not.toContain('<form')
      expect(list.match(/<li class="card answer"/g)).toHaveLength(2)
      expect(await askPage(noToken, '/')).not.toContain('data-ask')
    } finally {
      await noToken.close()
    }

    const none = await createHttpApp(baseDeps({ ask: { ...fakeAsk, list: () => [] }, registry: new Registry() }))
    try {
      expect(await askPage(none, '/answers')).toContain('<p data-answers-empty>No questions asked yet.</p><ol class="answers" data-answers aria-label="Answers, newest first"></ol>')
    } finally {
      await none.close()
    }
  })

  it('POST /api/ask answers what the script expects: 401 without the token, 400 without a question, 429 with the limit message, 200 with the answer', async () => {
    const post = (payload: unknown, authorization?: string) =>
      askApp.inject({ method: 'POST', url: '/api/ask', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, payload: JSON.stringify(payload) })
    const before = asked.length
    const none = await post({ question: 'hi' })
    expect(none.statusCode).toBe(401)
    expect(none.json()).toEqual({ error: 'unauthorized', message: 'a valid "Authorization: Bearer <token>" header is required' })
    expect((await post({ question: 'hi' }, 'Bearer wrong')).statusCode).toBe(401)
    expect(asked.length).toBe(before)
    const bad = await post({ q: 'hi' }, `Bearer ${TOKEN}`)
    expect(bad.statusCode).toBe(400)
    expect(bad.json().message).toBe('body must be JSON {"question": "…"}')
    askError = new GatewayError('RATE_LIMITED', 'at most 6 questions a minute from page; try again in 20 s')
    try {
      const limited = await post({ question: 'hi' }, `Bearer ${TOKEN}`)
      expect(limited.statusCode).toBe(429)
      expect(limited.json()).toEqual({ error: 'too_many_requests', message: 'at most 6 questions a minute from page; try again in 20 s' })
    } finally {
      askError = undefined
    }
    const ok = await post({ question: HOSTILE_QUESTION }, `Bearer ${TOKEN}`)
    expect(ok.statusCode).toBe(200)
    expect(ok.json()).toMatchObject({ question: HOSTILE_QUESTION, headline: 'Reject rate 2.1 % in the early shift' })
    expect(asked.at(-1)).toEqual({ question: HOSTILE_QUESTION, askedBy: 'page' })
    expect((await askApp.inject({ url: '/api/answers' })).json().answers.map((a: AnswerMessage) => a.questionId)).toEqual(['q-3', 'q-2'])
  })

  it('/api/answers?limit= outside 1–200 or not a number is a 400 naming limit; an unknown question id is a 404; both JSON, no stack', async () => {
    const cases: [string, string][] = [
      ['/api/answers?limit=bad', 'limit: must be a whole number from 1 to 200 (got "bad")'],
      ['/api/answers?limit=0', 'limit: must be a whole number from 1 to 200 (got "0")'],
      ['/api/answers?limit=201', 'limit: must be a whole number from 1 to 200 (got "201")'],
      ['/api/answers?limit=2.5', 'limit: must be a whole number from 1 to 200 (got "2.5")'],
    ]
    const before = listLimits.length
    for (const [url, message] of cases) {
      const r = await askApp.inject({ url })
      expect(r.statusCode, url).toBe(400)
      expect(r.headers['content-type']).toBe('application/json; charset=utf-8')
      expect(r.json(), url).toEqual({ error: 'bad_request', message })
      expectNoStack(r.body)
    }
    expect(listLimits.length).toBe(before)
    expect((await askApp.inject({ url: '/api/answers?limit=1' })).json().answers.map((a: AnswerMessage) => a.questionId)).toEqual(['q-3'])
    expect(listLimits.at(-1)).toBe(1)
    expect((await askApp.inject({ url: '/api/answers?limit=' })).statusCode).toBe(200)
    expect(listLimits.at(-1)).toBe(20)

    const unknown = await askApp.inject({ url: `/api/answers/no-such-question-${encodeURIComponent(SCRIPT)}` })
    expect(unknown.statusCode).toBe(404)
    expect(unknown.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(unknown.json()).toEqual({ error: 'not_found', message: `no answer to question no-such-question-${SCRIPT}` })
    expectNoStack(unknown.body)
    expect((await askApp.inject({ url: '/api/answers/q-2' })).json().questionId).toBe('q-2')
    // Without the agent both are 404.
    expect((await app.inject({ url: '/api/answers' })).json()).toEqual({ error: 'not_found', message: 'questions are not enabled on this gateway' })
    expect((await app.inject({ url: '/api/answers/q-2' })).statusCode).toBe(404)
  })

  it('app.js never writes markup: no innerHTML or the like, no cookie, no localStorage', () => {
    expect(APP_JS).not.toMatch(/\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|createContextualFragment|DOMParser|eval\(|new Function/)
    expect(APP_JS).not.toMatch(/document\.cookie|localStorage/)
    expect(APP_JS).toContain("fetch('/api/ask'")
    expect(APP_JS).toContain('sessionStorage')
  })

  /** Just enough DOM to run app.js's ask part in a VM: records any markup write and cookie use. */
  function fakeDom(variant: 'page' | 'compact', stored: Record<string, string>) {
    const markupWrites: string[] = []
    class El {
      children: El[] = []
      parentNode: El | null = null
      className = ''
      value = ''
      disabled = false
      focused = false
      private text = ''
      readonly attrs = new Map<string, string>()
      readonly listeners = new Map<string, (ev: unknown) => void>()
      constructor(readonly tagName: string) {}
      get textContent(): string {
        return this.text + this.children.map((c) => c.textContent).join('')
      }
      set textContent(v: string) {
        this.children = []
        this.text = v
      }
      set innerHTML(v: string) {
        markupWrites.push(v)
      }
      get firstChild(): El | null {
        return this.children[0] ?? null
      }
      get classList() {
        const set = () => new Set(this.className.split(' ').filter(Boolean))
        return {
          contains: (c: string) => set().has(c),
          toggle: (c: string, on: boolean) => {
            const s = set()
            if (on) s.add(c)
            else s.delete(c)
            this.className = [...s].join(' ')
          },
        }
      }
      appendChild(c: El) {
        return this.insertBefore(c, null)
      }
      insertBefore(c: El, ref: El | null) {
        c.parentNode = this
        const i = ref === null ? -1 : this.children.indexOf(ref)
        if (i === -1) this.children.push(c)
        else this.children.splice(i, 0, c)
        return c
      }
      removeChild(c: El) {
        this.children = this.children.filter((x) => x !== c)
        c.parentNode = null
        return c
      }
      setAttribute(k: string, v: string) {
        this.attrs.set(k, v)
      }
      getAttribute(k: string) {
        return this.attrs.get(k) ?? null
      }
      removeAttribute(k: string) {
        this.attrs.delete(k)
      }
      addEventListener(type: string, fn: (ev: unknown) => void) {
        this.listeners.set(type, fn)
      }
      focus() {
        this.focused = true
      }
      select() {}
      querySelector(sel: string): El | null {
        return formParts[sel] ?? null
      }
    }
    const form = new El('form')
    const question = new El('input')
    const token = new El('input')
    const button = new El('button')
    button.disabled = true
    const formParts: Record<string, El> = { 'input[name="question"]': question, 'input[name="token"]': token, 'button[type="submit"]': button }
    const status = new El('p')
    const main = new El('main')
    const list = new El('ol')
    const empty = new El('p')
    const result = new El('div')
    main.appendChild(empty)
    const page: Record<string, El> = { 'form[data-ask]': form, '[data-ask-status]': status }
    if (variant === 'page') Object.assign(page, { '[data-answers]': list, '[data-answers-empty]': empty })
    else page['[data-ask-result]'] = result
    const calls: { url: string; init: { method: string; headers: Record<string, string>; body: string } }[] = []
    let respond: (r: { status: number; body: unknown }) => void = () => {}
    const document = {
      body: new El('body'),
      get cookie(): string {
        throw new Error('app.js read document.cookie')
      },
      set cookie(_v: string) {
        throw new Error('app.js wrote document.cookie')
      },
      querySelector: (sel: string) => page[sel] ?? null,
      getElementById: () => null,
      createElement: (tag: string) => new El(tag),
      createTextNode: (text: string) => {
        const t = new El('#text')
        t.textContent = text
        return t
      },
    }
    const sessionStorage = {
      getItem: (k: string) => stored[k] ?? null,
      setItem: (k: string, v: string) => {
        stored[k] = v
      },
      removeItem: (k: string) => {
        delete stored[k]
      },
    }
    const fetch = (url: string, init: (typeof calls)[number]['init']) => {
      calls.push({ url, init })
      return new Promise((resolve) => {
        respond = (r) => resolve({ status: r.status, ok: r.status >= 200 && r.status < 300, json: async () => r.body })
      })
    }
    runInNewContext(APP_JS, { document, sessionStorage, fetch, JSON, setTimeout })
    const settle = async () => {
      for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r))
    }
    const submit = () => form.listeners.get('submit')?.({ preventDefault: () => {} })
    return {
      question,
      token,
      button,
      status,
      list,
      empty,
      result,
      calls,
      markupWrites,
      submit,
      settle,
      createElement: document.createElement,
      respond: (r: { status: number; body: unknown }) => respond(r),
    }
  }

  it('the script asks with the bearer header, says it is asking, and prepends the answer as text on /answers', async () => {
    const stored: Record<string, string> = { 'shiftscribe.token': 'saved-token' }
    const d = fakeDom('page', stored)
    expect(d.token.value).toBe('saved-token')
    expect(d.button.disabled).toBe(false)
    d.list.appendChild(d.createElement('li'))
    d.question.value = ` ${HOSTILE_QUESTION} `
    d.token.value = 'typed-token'
    d.submit()
    expect(d.calls).toHaveLength(1)
    expect(d.calls[0]?.url).toBe('/api/ask')
    expect(d.calls[0]?.init).toEqual({
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer typed-token' },
      body: JSON.stringify({ question: HOSTILE_QUESTION }),
    })
    expect(stored['shiftscribe.token']).toBe('typed-token')
    expect(d.button.disabled).toBe(true)
    expect(d.status.textContent).toBe('Asking… (the local model can take up to a minute)')
    d.submit()
    expect(d.calls).toHaveLength(1)

    d.respond({ status: 200, body: hostile })
    await d.settle()
    expect(d.button.disabled).toBe(false)
    expect(d.status.textContent).toBe(`Answered: Cannot tell ${SCRIPT}`)
    expect(d.status.className).not.toContain('error')
    expect(d.question.value).toBe('')
    expect(d.list.children).toHaveLength(2)
    const card = d.list.children[0]
    expect(card?.tagName).toBe('li')
    expect(card?.className).toBe('card answer')
    const text = card?.textContent ?? ''
    expect(text).toContain(`Question: ${HOSTILE_QUESTION}`)
    expect(text).toContain(`Cannot tell ${SCRIPT}`)
    expect(text).toContain('not understood')
    expect(text).toContain('Template · unresolved')
    expect(text).toContain('Not grounded · 1 unmatched of 2')
    expect(text).toContain(`Facts used (1)fact ${SCRIPT}`)
    expect(d.empty.parentNode).toBeNull()
    expect(d.markupWrites).toEqual([])
  })

  it('the script shows the error: 401 as "wrong or missing token" (and forgets it), 429 and 400 with their message; the overview shows the answer below the form', async () => {
    const stored: Record<string, string> = {}
    const d = fakeDom('compact', stored)
    d.question.value = 'how many parts today?'
    d.token.value = 'bad'
    d.submit()
    d.respond({ status: 401, body: { error: 'unauthorized', message: 'a valid "Authorization: Bearer <token>" header is required' } })
    await d.settle()
    expect(d.status.textContent).toBe('Not answered: wrong or missing token')
    expect(d.status.className).toContain('error')
    expect(stored).toEqual({})
    expect(d.token.focused).toBe(true)
    expect(d.button.disabled).toBe(false)
    expect(d.question.value).toBe('how many parts today?')

    for (const [status, message] of [
      [429, 'at most 6 questions a minute from page; try again in 20 s'],
      [400, 'question: at most 500 characters'],
    ] as const) {
      d.token.value = TOKEN
      d.submit()
      d.respond({ status, body: { error: 'x', message } })
      await d.settle()
      expect(d.status.textContent).toBe(`Not answered: ${message}`)
    }
    d.submit()
    d.respond({ status: 200, body: answer() })
    await d.settle()
    expect(d.result.children).toHaveLength(1)
    expect(d.result.children[0]?.tagName).toBe('article')
    expect(d.result.textContent).toContain('understood as: reject rate, the early shift of 2026-11-23 · answered in 1.2 s')
    expect(d.result.textContent).toContain('LLM · SmolLM2Grounded · 3 numbers checked')
    expect(d.status.className).not.toContain('error')
    expect(d.markupWrites).toEqual([])
  })
})

describe('machine state (Sparkplug B births and deaths)', () => {
  // A plant on Berlin time: l1/m3 dies at 10:42 local (NDEATH), l1/m1 runs on, l2/m9 (never sent
  // a reading) dies by DDEATH; plus a hostile row straight into the table.
  const NINE = Date.UTC(2026, 10, 23, 8, 0, 0) // 09:00 in Berlin
  const DIED = NINE + 102 * 60_000
  let db: StateDb
  let p: StateProcessor
  let stateApp: FastifyInstance
  let offset = 0
  const state = (line: string, machine: string, ts: number, cause: string, extra: object = {}): IncomingMessage => ({
    offset: String(offset++),
    value: Buffer.from(
      JSON.stringify({ v: 1, type: 'machine_state', site: 'plant1', line, machine, state: cause.endsWith('DEATH') ? 'offline' : 'online', ts, cause, group: 'G', edgeNode: 'E1', ...extra, receivedAt: ts, mqttTopic: 'x' }),
    ),
  })
  const reading = (machine: string, ts: number): IncomingMessage => ({
    offset: String(offset++),
    value: Buffer.from(JSON.stringify({ v: 1, site: 'plant1', line: 'l1', machine, sensor: 'temp', ts, value: 60 + (ts % 7), unit: '°C', receivedAt: ts, mqttTopic: 'x' })),
  })
  const sget = (url: string) => stateApp.inject({ method: 'GET', url })

  beforeAll(async () => {
    db = openStateDb(join(dir, 'machine-state.db'))
    const calendar = createShiftCalendar({ timeZone: 'Europe/Berlin', shifts: [{ name: 'early', start: '06:00', end: '14:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'] }] })
    p = createStateProcessor({
      db,
      readingsTopic: 'readings',
      site: 'plant1',
      detectors: createDetectorBank(detectConfigSchema.parse({})),
      calendar,
      shifts: { allowedLatenessMs: 60_000, idleTimeoutMs: 600_000, ...KPI },
      log: silentLogger(),
    })
    const msgs: IncomingMessage[] = [state('l1', 'm1', NINE - 60_000, 'NBIRTH', { bdSeq: 1 })]
    for (let ts = NINE; ts <= DIED + 20 * 60_000; ts += 10_000) {
      if (ts < DIED) msgs.push(reading('m3', ts))
      if (ts === DIED + 20_000) msgs.push(state('l1', 'm3', DIED, 'NDEATH', { bdSeq: 4 }), state('l2', 'm9', DIED, 'DDEATH', { device: 'm9' }))
      msgs.push(reading('m1', ts))
    }
    p.applyBatch(0, msgs, 0)
    db.prepare('INSERT INTO machine_states (site, line, machine, state, since, cause, updated_at_event) VALUES (?, ?, ?, ?, ?, ?, ?)').run('plant1', 'l1', IMG, 'offline', DIED, SCRIPT, DIED)
    stateApp = await createHttpApp({ ...baseDeps(), db, timeZone: 'Europe/Berlin', calendar, files: {}, clock: () => DIED + 20 * 60_000 })
  })

  afterAll(async () => {
    await stateApp?.close()
    db?.close()
  })

  it('shows an "offline since HH:MM" badge (local time) on the machine\'s tile, escaped, and the offline anomaly without its _status sensor', async () => {
    const r = await sget('/')
    expect(r.statusCode).toBe(200)
    const body = r.body
    const tile = (name: string) => body.slice(body.indexOf(`data-tile="${name}"`), body.indexOf('</article>', body.indexOf(`data-tile="${name}"`)))
    expect(tile('l1/m3')).toContain(
      '<span class="badge offline" title="Offline since 2026-11-23 10:42: its edge node stopped (Sparkplug NDEATH)">offline since 10:42</span>',
    )
    expect(tile('l1/m3')).toContain('data-offline')
    expect(tile('l1/m3')).toContain('machine offline since 10:42</li>')
    expect(tile('l1/m1')).not.toContain('offline')
    // A machine that never sent a reading still has a tile, with its badge.
    expect(tile('l2/m9')).toContain('offline since 10:42</span>')
    expect(body).not.toContain('_status')
    // Escaped: the hostile machine name and cause render as text.
    expect(body).toContain('title="Offline since 2026-11-23 10:42: &lt;script&gt;alert(1)&lt;/script&gt;"')
    expect(body).toContain('&lt;img src=x onerror=alert(1)&gt;')
    expect(body).not.toContain(SCRIPT)
    expect(body).not.toContain(IMG)
  })

  it('gives each machine its state in /api/overview', async () => {
    const o = (await sget('/api/overview')).json()
    const machines = (o.lines as { machines: { line: string; machine: string; state: unknown; status: string }[] }[]).flatMap((l) => l.machines)
    const byName = new Map(machines.map((m) => [`${m.line}/${m.machine}`, m]))
    expect(byName.get('l1/m3')).toMatchObject({ status: 'critical', state: { state: 'offline', since: DIED, cause: 'NDEATH' } })
    expect(byName.get('l1/m1')).toMatchObject({ state: { state: 'online', since: NINE - 60_000, cause: 'NBIRTH' } })
    expect(byName.get('l2/m9')).toMatchObject({ status: 'critical', state: { state: 'offline', since: DIED, cause: 'DDEATH' } })
    expect(o.counts).toMatchObject({ offline: 3, machines: 4 })
  })

  it('shows the badge on the machine\'s incidents page and its sensor pages, and the state in their JSON', async () => {
    const incidents = await sget('/incidents?line=l1&machine=m3')
    expect(incidents.body).toContain('<h1>Incidents on l1/m3<span class="badge offline"')
    expect(incidents.body).toContain('Machine offline on <a href="/incidents?line=l1&amp;machine=m3">l1/m3</a>')
    expect(incidents.body).toContain('l1/m3 offline: edge node E1 sent NDEATH (bdSeq 4).')
    expect(incidents.body).not.toContain('/sensors/l1/m3/_status')
    const api = (await sget('/api/incidents?line=l1&machine=m3')).json()
    expect(api.machineState).toEqual({ state: 'offline', since: DIED, cause: 'NDEATH' })
    expect(api.incidents.map((a: { kind: string; sensor: string }) => `${a.kind} ${a.sensor}`)).toContain('offline _status')
    expect((await sget('/api/incidents')).json().machineState).toBeNull()
    const sensor = await sget('/sensors/l1/m3/temp')
    expect(sensor.body).toContain('<h1>l1/m3/temp<span class="badge offline"')
    expect((await sget('/api/sensors/l1/m3/temp')).json().machineState).toEqual({ state: 'offline', since: DIED, cause: 'NDEATH' })
    expect((await sget('/sensors/l1/m1/temp')).body).not.toContain('badge offline')
  })

  it('drops the badge when the machine is back (the cached overview follows the state)', async () => {
    expect((await sget('/')).body).toContain('data-tile="l1/m3" data-status="critical" data-offline')
    p.applyBatch(0, [state('l1', 'm3', DIED + 15 * 60_000, 'NBIRTH', { bdSeq: 5 })], 0)
    const body = (await sget('/')).body
    const tile = body.slice(body.indexOf('data-tile="l1/m3"'), body.indexOf('</article>', body.indexOf('data-tile="l1/m3"')))
    expect(tile).not.toContain('offline')
    expect((await sget('/api/overview')).json().counts.offline).toBe(2)
  })
})
