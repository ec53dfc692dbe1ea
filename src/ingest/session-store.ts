// Which filters the broker's persistent session holds for this client id, kept in the journal
// database. A reconnect that finds its session (CONNACK sessionPresent) then subscribes only
// to filters added to the config since, and unsubscribes the ones removed, so a config change
// (e.g. turning on Sparkplug B) takes effect at the next start, not when the session expires.
import type Database from 'better-sqlite3'

export interface SubscriptionStore {
  /** The filters last subscribed under this client id; undefined when never recorded. */
  get(): string[] | undefined
  set(filters: readonly string[]): void
}

export function createSubscriptionStore(db: Database.Database, clientId: string): SubscriptionStore {
  db.exec('CREATE TABLE IF NOT EXISTS mqtt_session (client_id TEXT PRIMARY KEY, filters TEXT NOT NULL)')
  const select = db.prepare('SELECT filters FROM mqtt_session WHERE client_id = ?')
  const upsert = db.prepare('INSERT INTO mqtt_session (client_id, filters) VALUES (?, ?) ON CONFLICT (client_id) DO UPDATE SET filters = excluded.filters')
  return {
    get() {
      const row = select.get(clientId) as { filters: string } | undefined
      if (row === undefined) return undefined
      const parsed = JSON.parse(row.filters) as unknown
      return Array.isArray(parsed) && parsed.every((f) => typeof f === 'string') ? parsed : undefined
    },
    set(filters) {
      upsert.run(clientId, JSON.stringify([...filters]))
    },
  }
}
