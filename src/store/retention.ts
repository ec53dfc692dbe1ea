// Retention: minute buckets and closed anomalies older than N days are deleted in small
// steps (a few thousand rows per transaction), so pruning never blocks the aggregator for
// long and the database stays bounded.
import type { StateDb } from './state-db.js'

export interface RetentionResult {
  buckets: number
  anomalies: number
}

export function createRetention(db: StateDb, options: { retentionDays: number; stepRows?: number }) {
  const step = options.stepRows ?? 5000
  const pruneBuckets = db.prepare('DELETE FROM buckets WHERE (key, minute) IN (SELECT key, minute FROM buckets WHERE minute < ? LIMIT ?)')
  const pruneAnomalies = db.prepare("DELETE FROM anomalies WHERE id IN (SELECT id FROM anomalies WHERE state = 'closed' AND ended_at < ? LIMIT ?)")
  return {
    /** Deletes at most one step of each kind older than `now` − retention (event time); call again while it returns rows. */
    pruneStep(now: number): RetentionResult {
      const cutoff = now - options.retentionDays * 86_400_000
      return db.transaction(() => ({
        buckets: pruneBuckets.run(cutoff, step).changes,
        anomalies: pruneAnomalies.run(cutoff, step).changes,
      }))()
    },
    cutoff: (now: number) => now - options.retentionDays * 86_400_000,
  }
}
