// better-sqlite3 on a real file in WAL mode: readers are not blocked by an open write
// transaction, and committed data survives closing and reopening.
import { mkdtempSync, existsSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { createTeardown } from '../helpers/teardown.js'

const teardown = createTeardown()
afterEach(() => teardown.run())

describe('better-sqlite3 (WAL, temp file)', () => {
  it('runs in WAL mode, lets readers read during a write transaction, and persists commits', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-sqlite-'))
    teardown.add('rm dir', () => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'state.db')

    const writer = new Database(file)
    teardown.add('close writer', () => writer.open && writer.close())
    expect(writer.pragma('journal_mode = WAL', { simple: true })).toBe('wal')
    writer.pragma('synchronous = NORMAL')
    writer.exec('CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor TEXT NOT NULL, value REAL NOT NULL)')
    const insert = writer.prepare('INSERT INTO readings (sensor, value) VALUES (?, ?)')
    writer.transaction(() => {
      for (let i = 0; i < 1000; i++) insert.run(`s${i % 10}`, i / 10)
    })()
    expect(existsSync(`${file}-wal`)).toBe(true)

    const reader = new Database(file, { readonly: true })
    teardown.add('close reader', () => reader.open && reader.close())
    writer.exec('BEGIN IMMEDIATE')
    insert.run('s-uncommitted', 1)
    // A WAL reader sees the last commit while the writer holds its transaction open.
    expect(reader.prepare('SELECT count(*) AS n FROM readings').get()).toEqual({ n: 1000 })
    writer.exec('COMMIT')
    expect(reader.prepare('SELECT count(*) AS n FROM readings').get()).toEqual({ n: 1001 })
    reader.close()
    writer.close()

    const again = new Database(file)
    teardown.add('close again', () => again.open && again.close())
    expect(again.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(again.prepare('SELECT count(*) AS n, round(sum(value), 1) AS total FROM readings').get()).toEqual({ n: 1001, total: 49951 })
  })
})
