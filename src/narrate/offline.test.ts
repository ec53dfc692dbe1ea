// Narratives of a machine that went offline (a Sparkplug B death): the state database is built
// by the real state processor from readings and machine_state messages, in a plant on Berlin
// time, and the incident and period facts, the template and the narrator are checked on it.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createStateProcessor, type IncomingMessage } from '../aggregate/state-processor.js'
import { anomalyId } from '../detect/anomaly-event.js'
import { detectConfigSchema } from '../detect/config.js'
import { createDetectorBank } from '../detect/detector-bank.js'
import { silentLogger } from '../log.js'
import { createShiftCalendar } from '../shifts/shift-calendar.js'
import { openStateDb, type StateDb } from '../store/state-db.js'
import { systemClock } from '../util/clock.js'
import type { LlmEngine, LlmInfo } from './engine.js'
import { incidentFacts, recentFacts, type FactsOptions } from './facts.js'
import { checkGrounding } from './grounding.js'
import { createNarrator } from './narrator.js'
import { renderTemplate } from './template.js'
import type { FactSet, NarrativeText } from './types.js'

const dirs: string[] = []
const dbs: StateDb[] = []
afterEach(() => {
  for (const db of dbs.splice(0)) db.close()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const calendar = createShiftCalendar({ timeZone: 'Europe/Berlin', shifts: [{ name: 'early', start: '06:00', end: '14:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'] }] })
const options: FactsOptions = {
  site: 'plant1',
  zone: calendar.zone,
  coalesceWindowMs: 600_000,
  incidentContextMs: 1_800_000,
  maxPromptFacts: 12,
  counters: ['part_count', 'reject_count'],
  partsSensor: 'part_count',
  rejectsSensor: 'reject_count',
}
const MIN = 60_000
/** 09:00 in Berlin (UTC+1 in November), a Monday. */
const NINE = Date.UTC(2026, 10, 23, 8, 0, 0)
const DIED = NINE + 102 * MIN // 10:42 local
const BACK = DIED + 12.5 * MIN

const text = (t: NarrativeText) => [t.headline, t.body, ...t.highlights].join('\n')
const fact = (set: FactSet, id: string) => set.facts.find((f) => f.id === id)
const knownNames = (db: StateDb) => (db.prepare('SELECT DISTINCT line, machine, sensor FROM sensors').all() as Record<string, string>[]).flatMap((r) => Object.values(r))

/** l1/m3 (temp, pressure, part counter) reports every 10 s from 09:00 until it dies at 10:42; l1/m1 runs on to 11:30. */
function plant(opts: { birth?: boolean; deviceDeathOf?: string } = {}): StateDb {
  const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-offline-'))
  dirs.push(dir)
  const db = openStateDb(join(dir, 'state.db'))
  dbs.push(db)
  const p = createStateProcessor({
    db,
    readingsTopic: 'readings',
    site: 'plant1',
    detectors: createDetectorBank(detectConfigSchema.parse({})),
    calendar,
    shifts: { allowedLatenessMs: MIN, idleTimeoutMs: 600_000, counters: options.counters, partsSensor: 'part_count', rejectsSensor: 'reject_count' },
    log: silentLogger(),
  })
  const msgs: IncomingMessage[] = []
  const push = (value: object) => msgs.push({ offset: String(msgs.length), value: Buffer.from(JSON.stringify(value)) })
  const reading = (machine: string, sensor: string, ts: number, value: number, unit?: string) =>
    push({ v: 1, site: 'plant1', line: 'l1', machine, sensor, ts, value, ...(unit ? { unit } : {}), receivedAt: ts, mqttTopic: 'x' })
  const state = (line: string, machine: string, ts: number, cause: string, extra: object = {}) =>
    push({ v: 1, type: 'machine_state', site: 'plant1', line, machine, state: cause.endsWith('DEATH') ? 'offline' : 'online', ts, cause, group: 'G', edgeNode: 'E1', ...extra, receivedAt: ts, mqttTopic: 'x' })
  for (let ts = NINE; ts <= NINE + 150 * MIN; ts += 10_000) {
    const i = (ts - NINE) / 10_000
    if (ts < DIED || (opts.birth === true && ts > BACK)) {
      reading('m3', 'temp', ts, 61 + (i % 3) / 10, '°C')
      reading('m3', 'pressure', ts, 4.25 + (i % 2) / 100, 'bar')
      reading('m3', 'part_count', ts, 1000 + i)
    }
    if (ts === DIED + 20_000) state('l1', 'm3', DIED, 'NDEATH', { bdSeq: 4 })
    if (opts.birth === true && ts === BACK) state('l1', 'm3', BACK, 'NBIRTH', { bdSeq: 5 })
    if (opts.deviceDeathOf !== undefined && ts === DIED) state('l2', opts.deviceDeathOf, DIED, 'DDEATH', { device: opts.deviceDeathOf })
    reading('m1', 'temp', ts, 50 + (i % 7) / 10, '°C')
  }
  p.applyBatch(0, msgs, 0)
  return db
}

const offlineId = (line: string, machine: string) => anomalyId(`plant1/${line}/${machine}/_status`, 'offline', DIED, 'event')

describe('an offline incident', () => {
  it('says the machine went offline, when and why, with its sensors\' last values, and its template is grounded', () => {
    const db = plant()
    expect(db.prepare("SELECT id, state FROM anomalies WHERE kind = 'offline'").all()).toEqual([{ id: offlineId('l1', 'm3'), state: 'open' }])
    // The dead machine's sensors opened no dropouts: one incident, not one per sensor.
    expect(db.prepare("SELECT count(*) AS n FROM anomalies WHERE kind = 'dropout'").get()).toEqual({ n: 0 })
    const set = incidentFacts(db, offlineId('l1', 'm3'), options) as FactSet
    expect(set).toMatchObject({ kind: 'incident', scope: 'l1/m3', title: 'Incident on l1/m3 from 10:42', topAnomalyFactId: 'anomaly_1' })
    expect(fact(set, 'anomaly_1')).toMatchObject({ metric: 'start', scope: 'l1/m3', unit: 'time', value: DIED, display: '10:42', text: 'machine l1/m3 went offline at 10:42 (edge node stopped: NDEATH), still offline' })
    // The last values before it went offline, counters left out; nothing about the _status sensor.
    expect(fact(set, 'last.temp')).toMatchObject({ metric: 'last', scope: 'l1/m3/temp', value: 61.2, display: '61.2 °C' })
    expect(fact(set, 'last.pressure')).toMatchObject({ value: 4.26, display: '4.26 bar' })
    expect(fact(set, 'last.part_count')).toBeUndefined()
    expect(set.facts.filter((f) => f.scope.includes('_status') || f.text.includes('_status'))).toEqual([])
    for (const id of set.promptFactIds) expect(fact(set, id)).toBeDefined()

    const t = renderTemplate(set)
    expect(t.headline).toBe('Incident on l1/m3 from 10:42: machine l1/m3 went offline at 10:42 (edge node stopped: NDEATH)')
    expect(t.body).toBe('Machine l1/m3 went offline at 10:42 (edge node stopped: NDEATH), still offline. Last readings before it went offline: pressure 4.26 bar; temp 61.2 °C.')
    const g = checkGrounding(text(t), set, { knownNames: knownNames(db) })
    expect(g).toMatchObject({ ok: true, unmatched: [], unknownNames: [] })
    expect(g.numbersChecked).toBeGreaterThanOrEqual(4)
  })

  it('says how long it lasted once the machine is back, still grounded', () => {
    const db = plant({ birth: true })
    const set = incidentFacts(db, offlineId('l1', 'm3'), options) as FactSet
    expect(fact(set, 'anomaly_1')?.text).toBe('machine l1/m3 went offline at 10:42 (edge node stopped: NDEATH), back online after 12.5 min')
    expect(fact(set, 'anomaly_1.duration')).toMatchObject({ metric: 'duration', value: 12.5, unit: 'min' })
    const t = renderTemplate(set)
    expect(t.body).toContain('back online after 12.5 min')
    expect(checkGrounding(text(t), set, { knownNames: knownNames(db) })).toMatchObject({ ok: true, unmatched: [], unknownNames: [] })
  })

  it('works for a machine with no readings at all, and in a period narrative', () => {
    const db = plant({ deviceDeathOf: 'm9' })
    const set = incidentFacts(db, offlineId('l2', 'm9'), options) as FactSet
    expect(fact(set, 'anomaly_1')?.text).toBe('machine l2/m9 went offline at 10:42 (device stopped: DDEATH), still offline')
    expect(set.facts.some((f) => f.id.startsWith('last.'))).toBe(false)
    const t = renderTemplate(set)
    expect(checkGrounding(text(t), set, { knownNames: knownNames(db) })).toMatchObject({ ok: true, unknownNames: [] })

    const period = recentFacts(db, NINE, NINE + 150 * MIN, options)
    expect(fact(period, 'anomalies_total')?.value).toBe(2)
    const pt = renderTemplate(period)
    expect(pt.body).toContain('machine l')
    expect(pt.body).not.toContain('_status')
    expect(checkGrounding(text(pt), period, { knownNames: knownNames(db) })).toMatchObject({ ok: true, unmatched: [], unknownNames: [] })
  })

  it('is written by the narrator; a model text must name the machine', async () => {
    const db = plant()
    const set = incidentFacts(db, offlineId('l1', 'm3'), options) as FactSet
    const info: LlmInfo = { state: 'ready', modelPath: 'fake.gguf', model: 'fake', mode: 'free', threads: 1 }
    const answers: NarrativeText[] = [
      // Grounded, but it does not say which machine.
      { headline: 'A machine stopped', body: `Last readings: temp ${fact(set, 'last.temp')?.display}.`, highlights: [] },
      { headline: `${set.title}: l1/m3 went offline`, body: `${fact(set, 'anomaly_1')?.text}.`, highlights: [] },
    ]
    let calls = 0
    const engine: LlmEngine = {
      name: 'llm',
      start: async () => undefined,
      stop: async () => undefined,
      health: () => ({ ok: true, detail: 'llm: ready' }),
      info: () => info,
      whenLoaded: async () => undefined,
      generate: async () => {
        const out = answers[Math.min(calls++, answers.length - 1)] as NarrativeText
        return { text: out, mode: 'free', promptTokens: 1, outputTokens: 1, promptMs: 1, ms: 1, raw: '' }
      },
    }
    const narrator = createNarrator({ db, engine, facts: options, settings: { deadlineMs: 5000, maxQueue: 4, catchUpHours: 0 }, log: silentLogger(), clock: systemClock })
    const byModel = await narrator.write(set)
    expect(calls).toBe(2)
    expect(byModel).toMatchObject({ kind: 'incident', scope: 'l1/m3', generator: { type: 'llm', attempts: 2 }, grounding: { ok: true } })
    const byTemplate = await narrator.write(set, { llm: false })
    expect(byTemplate).toMatchObject({ generator: { type: 'template', reason: 'llm_disabled' }, grounding: { ok: true } })
    expect(byTemplate.headline).toContain('went offline at 10:42')
  })
})
