import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { silentLogger } from '../log.js'
import { createJournal, readJournalLedger, type Journal, type LedgerCounts } from './journal.js'
import type { ParseResult } from './parse-message.js'

const require = createRequire(import.meta.url)
const dirs: string[] = []
const open: Journal[] = []
afterEach(() => {
  for (const j of open.splice(0)) j.close()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-journal-'))
  dirs.push(dir)
  return join(dir, 'journal.db')
}

function journal(file: string, over: Partial<Parameters<typeof createJournal>[0]> = {}): Journal {
  const j = createJournal({ file, synchronous: 'normal', maxBytes: 1 << 20, whenFull: 'block', log: silentLogger(), ...over })
  open.push(j)
  return j
}

const good = (n: number, value = 'x'.repeat(90)): ParseResult => ({
  ok: true,
  entries: Array.from({ length: n }, (_, i) => ({ kind: 'reading', key: Buffer.from(`s/l/m/k${i}`), value: Buffer.from(value), receivedAt: 1000 + i })),
})
const bad: ParseResult = {
  ok: false,
  reason: 'not_json',
  detail: 'x',
  entries: [{ kind: 'quarantine', key: Buffer.from('factory/a'), value: Buffer.from('{"v":1}'), receivedAt: 5 }],
}

function balanced(l: LedgerCounts): boolean {
  return l.received === l.journaled + l.quarantined && l.journaled + l.quarantined === l.delivered + l.pending + l.dropped
}

describe('journal', () => {
  it('appends, reads in order, delivers, and keeps the ledger balanced', () => {
    const j = journal(tempFile())
    expect(j.append([good(3)])).toBe('ok')
    expect(j.append([bad])).toBe('ok')
    expect(j.append([good(1)])).toBe('ok')
    const batch = j.readBatch(0, 10, 1 << 20)
    expect(batch.map((r) => r.kind)).toEqual(['reading', 'reading', 'reading', 'quarantine', 'reading'])
    expect(batch.map((r) => r.id)).toEqual([...batch.map((r) => r.id)].sort((a, b) => a - b))
    let l = j.ledger()
    expect(l).toMatchObject({ messages: 3, received: 5, journaled: 4, quarantined: 1, pending: 5, delivered: 0 })
    expect(l.quarantinedByReason.not_json).toBe(1)
    expect(balanced(l)).toBe(true)

    const third = batch[2]?.id ?? -1
    expect(j.markDelivered(0, third)).toBe(3)
    l = j.ledger()
    expect(l).toMatchObject({ delivered: 3, pending: 2 })
    expect(balanced(l)).toBe(true)
    expect(j.readBatch(third, 10, 1 << 20).map((r) => r.kind)).toEqual(['quarantine', 'reading'])
    expect(j.oldestPendingReceivedAt()).toBe(5)
  })

  it('bounds a batch by records and bytes, but always returns at least one', () => {
    const j = journal(tempFile())
    j.append([good(10)])
    expect(j.readBatch(0, 4, 1 << 20)).toHaveLength(4)
    const one = j.readBatch(0, 10, 1)
    expect(one).toHaveLength(1)
    const perRecord = one[0]?.bytes ?? 0
    expect(j.readBatch(0, 10, perRecord * 3)).toHaveLength(3)
  })

  it('survives a reopen: records, ledger and never-reused ids', () => {
    const file = tempFile()
    const a = journal(file)
    a.append([good(2)])
    a.append([bad])
    const ids = a.readBatch(0, 10, 1 << 20).map((r) => r.id)
    a.markDelivered(0, Math.max(...ids))
    a.close()
    const b = journal(file)
    expect(b.ledger()).toMatchObject({ received: 3, delivered: 3, pending: 0, pendingBytes: 0 })
    b.append([good(1)])
    const [next] = b.readBatch(0, 10, 1 << 20)
    expect(next?.id).toBeGreaterThan(Math.max(...ids))
    expect(readJournalLedger(file)).toMatchObject({ received: 4, pending: 1 })
  })

  it('when full with policy block: refuses, writes nothing, and wakes waiters once delivered', async () => {
    const j = journal(tempFile(), { maxBytes: 1024 * 1024 })
    const big = 'y'.repeat(100_000)
    let appended = 0
    while (j.append([good(1, big)]) === 'ok') appended++
    expect(appended).toBe(10)
    const before = j.ledger()
    expect(j.append([good(1, big)])).toBe('full')
    expect(j.ledger()).toEqual(before)
    let woke = false
    const waiting = j.waitForSpace().then(() => (woke = true))
    await Promise.resolve()
    expect(woke).toBe(false)
    const first = j.readBatch(0, 1, 1 << 30)[0]?.id ?? 0
    j.markDelivered(0, first)
    await waiting
    expect(woke).toBe(true)
    expect(j.append([good(1, big)])).toBe('ok')
  })

  it('when full with policy drop-oldest: drops the oldest unreserved records and counts them', () => {
    const j = journal(tempFile(), { maxBytes: 1024 * 1024, whenFull: 'drop-oldest' })
    const big = 'z'.repeat(100_000)
    for (let i = 0; i < 10; i++) expect(j.append([good(1, big)])).toBe('ok')
    const ids = j.readBatch(0, 100, 1 << 30).map((r) => r.id)
    j.reserve(ids[1] ?? 0) // the first two are in flight to Kafka
    expect(j.append([good(1, big)])).toBe('ok')
    const l = j.ledger()
    expect(l.dropped).toBe(1)
    expect(balanced(l)).toBe(true)
    const left = j.readBatch(0, 100, 1 << 30).map((r) => r.id)
    expect(left.slice(0, 2)).toEqual(ids.slice(0, 2))
    expect(left).not.toContain(ids[2])
  })
})

describe('journal group commit', () => {
  it('commits many messages in one transaction with exact ledger counts', () => {
    const j = journal(tempFile())
    expect(j.append([good(2), bad, good(3), bad])).toBe('ok')
    const l = j.ledger()
    expect(l).toMatchObject({ messages: 4, received: 7, journaled: 5, quarantined: 2, pending: 7 })
    expect(l.quarantinedByReason.not_json).toBe(2)
    expect(balanced(l)).toBe(true)
    expect(j.readBatch(0, 100, 1 << 20).map((r) => r.kind)).toEqual(['reading', 'reading', 'quarantine', 'reading', 'reading', 'reading', 'quarantine'])
  })
})

describe('readJournalLedger while the gateway writes', () => {
  it('always balances: the ledger row and the pending count come from one snapshot', async () => {
    const file = tempFile()
    journal(file).append([good(1)]) // creates the schema
    // A writer in another thread commits like the gateway does: journal rows and ledger in one transaction.
    const { Worker } = await import('node:worker_threads')
    const worker = new Worker(
      `const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))})
       const { workerData, parentPort } = require('node:worker_threads')
       const db = new Database(workerData.file)
       db.pragma('busy_timeout = 5000')
       const ins = db.prepare('INSERT INTO journal (kind, key, value, received_at, bytes) VALUES (0, ?, ?, 0, 10)')
       const led = db.prepare('UPDATE ledger SET messages = messages + 1, received = received + 50, journaled = journaled + 50, pending_bytes = pending_bytes + 500 WHERE id = 1')
       const tx = db.transaction(() => { for (let i = 0; i < 50; i++) ins.run(Buffer.from('k'), Buffer.from('v')); led.run() })
       const until = Date.now() + 1500
       while (Date.now() < until) tx()
       db.close()
       parentPort.postMessage('done')`,
      { eval: true, workerData: { file } },
    )
    const done = new Promise((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    let reads = 0
    let finished = false
    void done.then(() => (finished = true))
    while (!finished) {
      const l = readJournalLedger(file)
      expect(l.journaled + l.quarantined).toBe(l.delivered + l.pending + l.dropped)
      reads++
      await new Promise((r) => setImmediate(r))
    }
    await done
    expect(reads).toBeGreaterThan(10)
  })
})
