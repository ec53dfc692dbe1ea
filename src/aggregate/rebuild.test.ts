// compareStates (what `shiftscribe verify` reports) on two state databases the processor built
// from the same messages in different batches: a live one and a "rebuild".
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { detectConfigSchema } from '../detect/config.js'
import { createDetectorBank } from '../detect/detector-bank.js'
import { silentLogger } from '../log.js'
import { createShiftCalendar } from '../shifts/shift-calendar.js'
import { openStateDb, type StateDb } from '../store/state-db.js'
import { compareStates } from './rebuild.js'
import { createStateProcessor, type IncomingMessage } from './state-processor.js'

const dirs: string[] = []
const dbs: StateDb[] = []
afterEach(() => {
  for (const db of dbs.splice(0)) db.close()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const T0 = Date.UTC(2026, 10, 23, 6, 0, 0)
const MIN = 60_000

function build(messages: readonly IncomingMessage[], batch: number): StateDb {
  const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-rebuild-'))
  dirs.push(dir)
  const db = openStateDb(join(dir, 'state.db'))
  dbs.push(db)
  const p = createStateProcessor({
    db,
    readingsTopic: 'readings',
    site: 's',
    detectors: createDetectorBank(detectConfigSchema.parse({})),
    calendar: createShiftCalendar({ timeZone: 'UTC', shifts: [{ name: 'early', start: '06:00', end: '14:00', days: ['mon'] }] }),
    shifts: { allowedLatenessMs: MIN, idleTimeoutMs: 600_000, counters: [], partsSensor: 'part_count', rejectsSensor: 'reject_count' },
    log: silentLogger(),
  })
  for (let i = 0; i < messages.length; i += batch) p.applyBatch(0, messages.slice(i, i + batch), 0)
  return db
}

function messages(): IncomingMessage[] {
  const out: IncomingMessage[] = []
  const push = (value: object) => out.push({ offset: String(out.length), value: Buffer.from(JSON.stringify(value)) })
  const state = (machine: string, ts: number, cause: string) =>
    push({ v: 1, type: 'machine_state', site: 's', line: 'l1', machine, state: cause.endsWith('DEATH') ? 'offline' : 'online', ts, cause, group: 'G', edgeNode: 'E1', receivedAt: ts, mqttTopic: 'x' })
  for (let i = 0; i < 600; i++) {
    const ts = T0 + i * 10_000
    if (i === 100) state('m1', ts, 'NDEATH')
    if (i === 300) state('m1', ts, 'NBIRTH')
    if (i === 400) state('m2', ts, 'DDEATH')
    for (const machine of ['m1', 'm2', 'm3']) {
      const down = (machine === 'm1' && i >= 100 && i < 300) || (machine === 'm2' && i >= 400)
      if (!down) push({ v: 1, site: 's', line: 'l1', machine, sensor: 'temp', ts, value: 50 + Math.sin(i / 9), receivedAt: ts, mqttTopic: 'x' })
    }
  }
  return out
}

describe('compareStates', () => {
  it('finds a rebuild with other batch boundaries equal, machine states and offline anomalies included', () => {
    const msgs = messages()
    const live = build(msgs, 13)
    const rebuilt = build(msgs, 1000)
    const result = compareStates(live, rebuilt, { full: true, fromMinute: 0 })
    expect(result.differences).toEqual([])
    expect(result.rows.machine_states).toBe(2)
    expect(live.prepare("SELECT machine, state FROM anomalies WHERE kind = 'offline' ORDER BY machine").all()).toEqual([
      { machine: 'm1', state: 'closed' },
      { machine: 'm2', state: 'open' },
    ])
  })

  it('reports a machine state that differs, and skips the table without the whole history', () => {
    const msgs = messages()
    const live = build(msgs, 50)
    const rebuilt = build(msgs.slice(0, -1), 50)
    live.prepare("UPDATE machine_states SET state = 'offline' WHERE machine = 'm1'").run()
    const result = compareStates(live, rebuilt, { full: true, fromMinute: 0 })
    expect(result.differences.filter((d) => d.table === 'machine_states')).toEqual([
      expect.objectContaining({ key: 's/l1/m1', live: expect.objectContaining({ state: 'offline' }), rebuilt: expect.objectContaining({ state: 'online' }) }),
    ])
    expect(compareStates(live, rebuilt, { full: false, fromMinute: 0 }).skipped).toContain('machine_states')
  })
})
