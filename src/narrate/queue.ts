// The narrate queue: bounded, by priority (incident > question > shift), first in first out
// within a priority. A job with the key of a pending job replaces it (the newest incident per
// machine wins); when full, the oldest job of the lowest priority is evicted. Both are counted
// and handed back, so the caller can still give them a template narrative.

export type JobKind = 'incident' | 'question' | 'shift'

export const PRIORITY: Record<JobKind, number> = { incident: 0, question: 1, shift: 2 }

export interface Job {
  kind: JobKind
  /** Jobs with the same key replace each other: `incident:L1/press_03`, `shift:2026-11-26/early`. */
  key: string
  /** The anomaly id (incident), the shift id (shift), or the question id. */
  ref: string
  enqueuedAt: number
}

export interface QueueStats {
  depth: number
  enqueued: number
  superseded: number
  evicted: number
}

export interface NarrateQueue {
  /** Adds a job; returns the jobs it pushed out (replaced or evicted), possibly including itself when full of higher-priority work. */
  push(job: Job): { replaced?: Job; evicted?: Job }
  /** The next job, or undefined when empty. */
  take(): Job | undefined
  size(): number
  stats(): QueueStats
}

export function createNarrateQueue(maxSize: number): NarrateQueue {
  // Few jobs (tens): arrays keep this simple and fast enough.
  const lanes: Job[][] = [[], [], []]
  const stats = { enqueued: 0, superseded: 0, evicted: 0 }
  const size = () => lanes.reduce((n, l) => n + l.length, 0)

  return {
    push(job) {
      stats.enqueued++
      const out: { replaced?: Job; evicted?: Job } = {}
      for (const lane of lanes) {
        const i = lane.findIndex((j) => j.key === job.key)
        if (i >= 0) {
          out.replaced = lane[i]
          lane.splice(i, 1)
          stats.superseded++
          break
        }
      }
      const lane = lanes[PRIORITY[job.kind]] as Job[]
      if (size() >= maxSize) {
        // Evict the oldest job of the lowest non-empty priority, unless the new job is lower still.
        const lowest = [...lanes.keys()].reverse().find((p) => (lanes[p] as Job[]).length > 0) ?? 0
        stats.evicted++
        if (lowest < PRIORITY[job.kind]) {
          out.evicted = job
          return out
        }
        out.evicted = (lanes[lowest] as Job[]).shift()
      }
      lane.push(job)
      return out
    },
    take() {
      for (const lane of lanes) if (lane.length > 0) return lane.shift()
      return undefined
    },
    size,
    stats: () => ({ depth: size(), ...stats }),
  }
}
