// The outbox: events the state processor decides on (anomaly open/close, shift KPIs) are
// written in the same transaction as the state that caused them, then relayed to Kafka by a
// pump. So an event is never lost and never published for state that was rolled back.
import { SCHEMA_VERSION } from '../bus/messages.js'
import type { StateDb } from './state-db.js'

export interface OutboxRecord {
  id: number
  topic: string
  schema: string
  key: Buffer
  value: Buffer
  bytes: number
}

export interface Outbox {
  /** Adds an event; call inside the caller's transaction. */
  add(topic: string, schema: string, key: string, value: object, createdAt: number): void
  readBatch(afterId: number, maxRecords: number, maxBytes: number): OutboxRecord[]
  markDelivered(afterId: number, upToId: number): number
  reserve(upTo: number): void
  pending(): number
}

export function createOutbox(db: StateDb): Outbox {
  const insert = db.prepare('INSERT INTO outbox (topic, schema, key, value, created_at, bytes) VALUES (?, ?, ?, ?, ?, ?)')
  const select = db.prepare('SELECT id, topic, schema, key, value, bytes FROM outbox WHERE id > ? ORDER BY id LIMIT ?')
  const remove = db.prepare('DELETE FROM outbox WHERE id > ? AND id <= ?')
  const count = db.prepare('SELECT count(*) AS n FROM outbox')
  return {
    add(topic, schema, key, value, createdAt) {
      const k = Buffer.from(key)
      const v = Buffer.from(JSON.stringify({ v: SCHEMA_VERSION, ...value }))
      insert.run(topic, schema, k, v, createdAt, k.length + v.length)
    },
    readBatch(afterId, maxRecords, maxBytes) {
      const out: OutboxRecord[] = []
      let bytes = 0
      for (const row of select.iterate(afterId, maxRecords) as IterableIterator<OutboxRecord>) {
        if (out.length > 0 && bytes + row.bytes > maxBytes) break
        bytes += row.bytes
        out.push(row)
      }
      return out
    },
    markDelivered(afterId, upToId) {
      return remove.run(afterId, upToId).changes
    },
    reserve() {
      // Nothing is ever dropped from the outbox.
    },
    pending() {
      return (count.get() as { n: number }).n
    },
  }
}
