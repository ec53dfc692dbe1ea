// The journal: a durable local SQLite (WAL) store between MQTT and Kafka. A message is
// PUBACKed only after append() has committed it, so a kill -9 loses nothing; the pump deletes
// rows only after Kafka has acked them. The ledger counters live in the same transactions,
// so they balance exactly, across restarts too.
import { mkdirSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { QUARANTINE_REASONS, type QuarantineReason } from '../bus/messages.js'
import { GatewayError } from '../errors.js'
import type { Log } from '../log.js'
import type { EntryKind, ParseResult } from './parse-message.js'
import { schemaHeaders, type Route } from './pump.js'

export interface JournalOptions {
  file: string
  synchronous: 'normal' | 'full'
  maxBytes: number
  whenFull: 'block' | 'drop-oldest'
  log: Log
}

export interface JournalRecord {
  id: number
  kind: EntryKind
  key: Buffer
  value: Buffer
  receivedAt: number
  bytes: number
}

/**
 * Counts in records: a message with N good readings is N records, a quarantined message is 1.
 * received = journaled + quarantined; journaled + quarantined = delivered + pending + dropped.
 */
export interface LedgerCounts {
  /** MQTT messages committed (each redelivery counts again). */
  messages: number
  received: number
  journaled: number
  quarantined: number
  quarantinedByReason: Record<QuarantineReason, number>
  delivered: number
  dropped: number
  pending: number
  pendingBytes: number
}

export type AppendOutcome = 'ok' | 'full'

export interface Journal {
  /** Commits the entries of these messages (and the ledger) in one transaction; 'full' = nothing written. */
  append(results: readonly ParseResult[]): AppendOutcome
  /** Pending records after `afterId`, oldest first, bounded by count and bytes (at least one). */
  readBatch(afterId: number, maxRecords: number, maxBytes: number): JournalRecord[]
  /** After the Kafka ack: deletes the records with afterId < id <= upToId; returns how many. */
  markDelivered(afterId: number, upToId: number): number
  /** Records with id <= upTo are in flight to Kafka: drop-oldest never drops them. */
  reserve(upTo: number): void
  ledger(): LedgerCounts
  /** Records not yet delivered. */
  pending(): number
  oldestPendingReceivedAt(): number | undefined
  /** Size on disk of the database and its WAL. */
  fileBytes(): number
  /** After a 'full' append: waits until the refused entries would fit (the pump frees space), or `signal` aborts. */
  waitForSpace(signal?: AbortSignal): Promise<void>
  /** The journal's SQLite database, for state that must be durable before a PUBACK too (Sparkplug births). */
  database(): Database.Database
  close(): void
}

const KIND_CODE: Record<EntryKind, number> = { reading: 0, quarantine: 1, state: 2 }
const CODE_KIND: EntryKind[] = ['reading', 'quarantine', 'state']

export function createJournal(options: JournalOptions): Journal {
  const { file, log } = options
  let db: Database.Database
  try {
    mkdirSync(dirname(file), { recursive: true })
    db = new Database(file)
    db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`)
    db.pragma('busy_timeout = 5000')
    migrate(db)
  } catch (err) {
    throw new GatewayError('STORE_FAILED', `journal ${file}: cannot open (${err instanceof Error ? err.message : String(err)})`, { cause: err })
  }

  const insert = db.prepare('INSERT INTO journal (kind, key, value, received_at, bytes) VALUES (?, ?, ?, ?, ?)')
  const bumpLedger = db.prepare(
    'UPDATE ledger SET messages = messages + 1, received = received + ?, journaled = journaled + ?, quarantined = quarantined + ?, pending_bytes = pending_bytes + ? WHERE id = 1',
  )
  const bumpReason = db.prepare('INSERT INTO quarantine_reasons (reason, count) VALUES (?, 1) ON CONFLICT (reason) DO UPDATE SET count = count + 1')
  const selectBatch = db.prepare('SELECT id, kind, key, value, received_at AS receivedAt, bytes FROM journal WHERE id > ? ORDER BY id LIMIT ?')
  const deleteRange = db.prepare('DELETE FROM journal WHERE id > ? AND id <= ? RETURNING bytes')
  const markLedger = db.prepare('UPDATE ledger SET delivered = delivered + ?, pending_bytes = pending_bytes - ? WHERE id = 1')
  const selectOldest = db.prepare('SELECT received_at AS receivedAt FROM journal ORDER BY id LIMIT 1')
  const selectDroppable = db.prepare('SELECT id, bytes FROM journal WHERE id > ? ORDER BY id LIMIT 1000')
  const deleteUpTo = db.prepare('DELETE FROM journal WHERE id > ? AND id <= ?')
  const dropLedger = db.prepare('UPDATE ledger SET dropped = dropped + ?, pending_bytes = pending_bytes - ? WHERE id = 1')

  const counts = loadCounts(db)
  let reservedUpTo = 0
  /** Bytes of the last refused append: what a waiter needs to fit. */
  let refusedBytes = 0
  const spaceWaiters = new Set<() => void>()
  const fits = (bytes: number) => counts.pending === 0 || counts.pendingBytes + bytes <= options.maxBytes

  const appendTx = db.transaction((results: readonly ParseResult[], bytes: number[][]) => {
    results.forEach((result, r) => {
      const b = bytes[r] ?? []
      result.entries.forEach((e, i) => insert.run(KIND_CODE[e.kind], e.key, e.value, e.receivedAt, b[i] ?? 0))
      const n = result.entries.length
      const total = b.reduce((a, x) => a + x, 0)
      if (result.ok) bumpLedger.run(n, n, 0, total)
      else {
        bumpLedger.run(1, 0, 1, total)
        bumpReason.run(result.reason)
      }
    })
  })

  const dropTx = db.transaction((needBytes: number) => {
    let freed = 0
    let dropped = 0
    while (freed < needBytes) {
      const rows = selectDroppable.all(reservedUpTo) as { id: number; bytes: number }[]
      if (rows.length === 0) break
      let last = reservedUpTo
      for (const row of rows) {
        freed += row.bytes
        dropped++
        last = row.id
        if (freed >= needBytes) break
      }
      deleteUpTo.run(reservedUpTo, last)
    }
    if (dropped > 0) dropLedger.run(dropped, freed)
    return { dropped, freed }
  })

  function notifySpace(): void {
    if (fits(refusedBytes)) {
      for (const wake of spaceWaiters) wake()
      spaceWaiters.clear()
    }
  }

  return {
    append(results) {
      if (results.length === 0) return 'ok'
      const bytes = results.map((r) => r.entries.map((e) => e.key.length + e.value.length))
      const incoming = bytes.reduce((a, b) => a + b.reduce((x, y) => x + y, 0), 0)
      if (!fits(incoming)) {
        refusedBytes = incoming
        if (options.whenFull === 'block') return 'full'
        const need = counts.pendingBytes + incoming - options.maxBytes
        const { dropped, freed } = dropTx(need)
        if (dropped > 0) {
          counts.dropped += dropped
          counts.pending -= dropped
          counts.pendingBytes -= freed
          log.warn({ dropped, freedBytes: freed, maxBytes: options.maxBytes }, 'journal full: dropped the oldest undelivered records')
        }
        if (freed < need) return 'full'
      }
      appendTx(results, bytes)
      counts.pendingBytes += incoming
      for (const result of results) {
        const n = result.entries.length
        counts.messages++
        counts.pending += n
        if (result.ok) {
          counts.received += n
          counts.journaled += n
        } else {
          counts.received += 1
          counts.quarantined += 1
          counts.quarantinedByReason[result.reason]++
        }
      }
      return 'ok'
    },

    readBatch(afterId, maxRecords, maxBytes) {
      const out: JournalRecord[] = []
      let bytes = 0
      for (const row of selectBatch.iterate(afterId, maxRecords) as IterableIterator<{
        id: number
        kind: number
        key: Buffer
        value: Buffer
        receivedAt: number
        bytes: number
      }>) {
        if (out.length > 0 && bytes + row.bytes > maxBytes) break
        bytes += row.bytes
        out.push({ id: row.id, kind: CODE_KIND[row.kind] ?? 'reading', key: row.key, value: row.value, receivedAt: row.receivedAt, bytes: row.bytes })
      }
      return out
    },

    markDelivered(afterId, upToId) {
      const freed = db.transaction(() => {
        const rows = deleteRange.all(afterId, upToId) as { bytes: number }[]
        const b = rows.reduce((a, r) => a + r.bytes, 0)
        markLedger.run(rows.length, b)
        return { n: rows.length, b }
      })()
      counts.delivered += freed.n
      counts.pending -= freed.n
      counts.pendingBytes -= freed.b
      notifySpace()
      return freed.n
    },

    reserve(upTo) {
      reservedUpTo = Math.max(reservedUpTo, upTo)
    },

    ledger() {
      return { ...counts, quarantinedByReason: { ...counts.quarantinedByReason } }
    },

    pending: () => counts.pending,

    oldestPendingReceivedAt() {
      const row = selectOldest.get() as { receivedAt: number } | undefined
      return row?.receivedAt
    },

    fileBytes() {
      let total = 0
      for (const f of [file, `${file}-wal`]) {
        try {
          total += statSync(f).size
        } catch {
          // no WAL right after a checkpoint
        }
      }
      return total
    },

    waitForSpace(signal) {
      if (fits(refusedBytes) || signal?.aborted) return Promise.resolve()
      return new Promise((resolve) => {
        const wake = () => {
          signal?.removeEventListener('abort', wake)
          spaceWaiters.delete(wake)
          resolve()
        }
        spaceWaiters.add(wake)
        signal?.addEventListener('abort', wake, { once: true })
      })
    },

    database: () => db,

    close() {
      for (const wake of spaceWaiters) wake()
      if (db.open) db.close()
    },
  }
}

function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number
  if (version >= 1) return
  db.exec(`
    CREATE TABLE journal (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      kind INTEGER NOT NULL,
      key BLOB NOT NULL,
      value BLOB NOT NULL,
      received_at INTEGER NOT NULL,
      bytes INTEGER NOT NULL
    );
    CREATE TABLE ledger (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      messages INTEGER NOT NULL DEFAULT 0,
      received INTEGER NOT NULL DEFAULT 0,
      journaled INTEGER NOT NULL DEFAULT 0,
      quarantined INTEGER NOT NULL DEFAULT 0,
      delivered INTEGER NOT NULL DEFAULT 0,
      dropped INTEGER NOT NULL DEFAULT 0,
      pending_bytes INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO ledger (id) VALUES (1);
    CREATE TABLE quarantine_reasons (reason TEXT PRIMARY KEY, count INTEGER NOT NULL);
    PRAGMA user_version = 1;
  `)
}

function loadCounts(db: Database.Database): LedgerCounts {
  const row = db.prepare('SELECT * FROM ledger WHERE id = 1').get() as {
    messages: number
    received: number
    journaled: number
    quarantined: number
    delivered: number
    dropped: number
    pending_bytes: number
  }
  const byReason = Object.fromEntries(QUARANTINE_REASONS.map((r) => [r, 0])) as Record<QuarantineReason, number>
  for (const r of db.prepare('SELECT reason, count FROM quarantine_reasons').all() as { reason: QuarantineReason; count: number }[]) {
    byReason[r.reason] = r.count
  }
  const pending = (db.prepare('SELECT count(*) AS n FROM journal').get() as { n: number }).n
  return {
    messages: row.messages,
    received: row.received,
    journaled: row.journaled,
    quarantined: row.quarantined,
    quarantinedByReason: byReason,
    delivered: row.delivered,
    dropped: row.dropped,
    pending,
    pendingBytes: row.pending_bytes,
  }
}

/** Reads the ledger of a journal file without opening it for writing (CLI, tests). */
export function readJournalLedger(file: string): LedgerCounts {
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    // One read transaction: the ledger row and the pending count from the same snapshot, even
    // while the gateway commits (separate statements could straddle a commit and not balance).
    return db.transaction(() => loadCounts(db))()
  } finally {
    db.close()
  }
}

/** Where the pump sends journal records: readings and quarantine records to their topics. */
export function journalRoute(topics: { readings: string; quarantine: string }): (record: JournalRecord) => Route {
  const reading: Route = { topic: topics.readings, headers: schemaHeaders('shiftscribe.reading') }
  const state: Route = { topic: topics.readings, headers: schemaHeaders('shiftscribe.machine-state') }
  const quarantine: Route = { topic: topics.quarantine, headers: schemaHeaders('shiftscribe.quarantine') }
  return (record) => (record.kind === 'reading' ? reading : record.kind === 'state' ? state : quarantine)
}
