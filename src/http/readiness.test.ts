// /readyz's decisions: Kafka must have been reached (not merely "nothing to send"), and every
// store — the journal as well as the state database — must take a write.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createReadiness, kafkaCheck, probeWritable, storesCheck, type KafkaContact } from './readiness.js'

let dir: string
const open: Database.Database[] = []
const db = (name: string, options: Database.Options = {}) => {
  const d = new Database(join(dir, name), options)
  open.push(d)
  return d
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shiftscribe-ready-'))
})
afterAll(() => {
  for (const d of open) if (d.open) d.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('kafkaCheck', () => {
  const now = 100_000
  it('is not ready before the first connection, even with nothing to send', () => {
    expect(kafkaCheck({ connected: false }, now)).toEqual({ ok: false, detail: 'not connected to local Kafka yet' })
    expect(kafkaCheck(undefined, now)).toEqual({ ok: false, detail: 'not started' })
  })

  it('is ready once connected, saying when the last batch was acknowledged', () => {
    expect(kafkaCheck({ connected: true }, now)).toEqual({ ok: true, detail: 'connected (nothing sent yet)' })
    expect(kafkaCheck({ connected: true, lastSuccessAt: now - 4000 }, now)).toEqual({ ok: true, detail: 'connected; last batch acknowledged 4 s ago' })
  })

  it('is not ready while sends fail, even with the producer still connected', () => {
    const failing: KafkaContact = { connected: true, lastSuccessAt: now - 60_000, failingSince: now - 30_000, lastError: 'ECONNREFUSED 127.0.0.1:19092' }
    expect(kafkaCheck(failing, now)).toEqual({ ok: false, detail: 'local Kafka unreachable for 30 s: ECONNREFUSED 127.0.0.1:19092' })
  })
})

describe('storesCheck', () => {
  it('names every writable store', () => {
    const journal = db('journal.db')
    const state = db('state.db')
    expect(storesCheck({ journal, state })).toEqual({ ok: true, detail: 'journal and state writable' })
  })

  it('fails on a journal that only takes reads (BEGIN IMMEDIATE alone would pass) and leaves no transaction open', () => {
    const file = 'ro-journal.db'
    db(file).exec('CREATE TABLE journal (id INTEGER PRIMARY KEY)')
    const journal = db(file, { readonly: true })
    const state = db('state2.db')
    const r = storesCheck({ journal, state })
    expect(r.ok).toBe(false)
    expect(r.detail).toBe('journal not writable: attempt to write a readonly database')
    expect(journal.inTransaction).toBe(false)
  })

  it('fails on a journal another connection holds the write lock of, and on a closed one', () => {
    const holder = db('locked.db')
    const journal = db('locked.db')
    journal.pragma('busy_timeout = 0')
    holder.exec('BEGIN IMMEDIATE')
    try {
      expect(storesCheck({ journal }).detail).toBe('journal not writable: database is locked')
    } finally {
      holder.exec('ROLLBACK')
    }
    expect(storesCheck({ journal }).ok).toBe(true)
    journal.close()
    expect(storesCheck({ journal })).toEqual({ ok: false, detail: 'journal not writable: The database connection is not open' })
  })

  it('probeWritable changes nothing: user_version and rows stay, prepared statements keep working', () => {
    const d = db('probe.db')
    d.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1)')
    d.pragma('user_version = 7')
    const count = d.prepare('SELECT count(*) AS n FROM t')
    probeWritable(d)
    expect(d.pragma('user_version', { simple: true })).toBe(7)
    expect(count.get()).toEqual({ n: 1 })
    expect(d.inTransaction).toBe(false)
  })
})

describe('createReadiness', () => {
  it('is ready only when MQTT is connected, Kafka was reached and both stores are writable', () => {
    let contact: KafkaContact = { connected: false }
    let mqtt: { ok: boolean; detail: string } | undefined = { ok: true, detail: 'connected' }
    const ready = createReadiness({ mqtt: () => mqtt, kafka: () => contact, stores: { journal: db('j.db'), state: db('s.db') }, now: () => 0 })
    // The case the pump's health let through: never connected, empty journal.
    expect(ready()).toEqual({
      ok: false,
      checks: {
        mqtt: { ok: true, detail: 'connected' },
        kafka: { ok: false, detail: 'not connected to local Kafka yet' },
        stores: { ok: true, detail: 'journal and state writable' },
      },
    })
    contact = { connected: true }
    expect(ready().ok).toBe(true)
    mqtt = undefined
    expect(ready()).toMatchObject({ ok: false, checks: { mqtt: { ok: false, detail: 'not started' } } })
  })
})
