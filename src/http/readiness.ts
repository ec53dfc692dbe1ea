// What /readyz decides, apart from where its inputs come from: MQTT connected, local Kafka
// actually reached (a pump with nothing to send has not shown that), and every store able to
// take a write transaction.
import { describeError } from '../errors.js'
import type { Health } from '../service.js'

export interface ReadyCheck {
  ok: boolean
  detail: string
}

export interface ReadyReport {
  ok: boolean
  checks: Record<string, ReadyCheck>
}

/** The ingest pump's view of local Kafka (its PumpStatus). */
export interface KafkaContact {
  /** Topics checked and a producer connected; false again after repeated send failures. */
  connected: boolean
  lastSuccessAt?: number
  lastError?: string
  failingSince?: number
}

/** The part of a better-sqlite3 connection the write probe needs. */
export interface WritableDb {
  exec(sql: string): unknown
  pragma(source: string, options: { simple: true }): unknown
}

export interface ReadinessDeps {
  /** The MQTT subscriber's health; undefined while it has not started (or ingest is off). */
  mqtt: () => Health | undefined
  /** The ingest pump's contact with local Kafka; undefined while it has not started. */
  kafka: () => KafkaContact | undefined
  /** Store name → its database, probed for a write lock and a (rolled back) write. */
  stores: Record<string, WritableDb>
  now: () => number
}

/**
 * Throws unless the database takes a write transaction and a write: BEGIN IMMEDIATE alone
 * succeeds on a read-only connection. Rewrites user_version with its own value and rolls back,
 * so nothing changes and no prepared statement is invalidated.
 */
export function probeWritable(db: WritableDb): void {
  db.exec('BEGIN IMMEDIATE')
  try {
    const v = Number(db.pragma('user_version', { simple: true }))
    db.pragma(`user_version = ${Number.isInteger(v) ? v : 0}`, { simple: true })
  } finally {
    db.exec('ROLLBACK')
  }
}

export function kafkaCheck(contact: KafkaContact | undefined, now: number): ReadyCheck {
  if (contact === undefined) return { ok: false, detail: 'not started' }
  if (contact.failingSince !== undefined) {
    return { ok: false, detail: `local Kafka unreachable for ${Math.round((now - contact.failingSince) / 1000)} s: ${contact.lastError ?? '?'}` }
  }
  // Before its first connection the pump reports healthy when its journal is empty; ready it is not.
  if (!contact.connected) return { ok: false, detail: 'not connected to local Kafka yet' }
  return {
    ok: true,
    detail: contact.lastSuccessAt === undefined ? 'connected (nothing sent yet)' : `connected; last batch acknowledged ${Math.round((now - contact.lastSuccessAt) / 1000)} s ago`,
  }
}

export function storesCheck(stores: Record<string, WritableDb>): ReadyCheck {
  const names = Object.keys(stores)
  const failed: string[] = []
  for (const name of names) {
    try {
      probeWritable(stores[name] as WritableDb)
    } catch (err) {
      failed.push(`${name} not writable: ${describeError(err)}`)
    }
  }
  if (failed.length > 0) return { ok: false, detail: failed.join('; ') }
  return { ok: true, detail: names.length === 0 ? 'no stores' : `${names.join(' and ')} writable` }
}

export function createReadiness(deps: ReadinessDeps): () => ReadyReport {
  return () => {
    const mqtt = deps.mqtt()
    const checks = {
      mqtt: { ok: mqtt?.ok ?? false, detail: mqtt?.detail ?? 'not started' },
      kafka: kafkaCheck(deps.kafka(), deps.now()),
      stores: storesCheck(deps.stores),
    }
    return { ok: Object.values(checks).every((c) => c.ok), checks }
  }
}
