// Live updates for the page: the gateway publishes, each SSE client subscribes. Fan-out is
// bounded (a cap on subscribers) and never waits on a client: a subscriber that cannot take an
// event right now (its socket buffer is full) returns false and the event is dropped for it,
// counted; a subscriber that throws is removed.

export type LiveEventType = 'readings' | 'anomaly' | 'narrative' | 'shift' | 'answer'

export interface LiveEvent {
  type: LiveEventType
  data: unknown
}

/** One changed sensor in a `readings` event: its latest value and the minute it fell in. */
export interface LiveReading {
  /** `site/line/machine/sensor`, as in the sensors table. */
  key: string
  value: number
  /** Event time of the value (epoch ms). */
  ts: number
  /** Start of its minute bucket (epoch ms). */
  minute: number
}

/** Returns false when the event had to be dropped for this subscriber. */
export type LiveSubscriber = (event: LiveEvent) => boolean | void

export interface LiveHubStats {
  subscribers: number
  published: number
  delivered: number
  dropped: number
  /** Subscribers removed because they threw. */
  failed: number
}

export interface LiveHub {
  publish(event: LiveEvent): void
  /** Returns the unsubscribe function (idempotent). Throws a RangeError when `isFull()`. */
  subscribe(fn: LiveSubscriber): () => void
  isFull(): boolean
  stats(): LiveHubStats
}

export interface LiveHubOptions {
  /** Most concurrent subscribers (SSE clients). */
  maxSubscribers?: number
}

export function createLiveHub(options: LiveHubOptions = {}): LiveHub {
  const maxSubscribers = options.maxSubscribers ?? 100
  const subscribers = new Set<LiveSubscriber>()
  const counts = { published: 0, delivered: 0, dropped: 0, failed: 0 }
  return {
    publish(event) {
      counts.published++
      for (const fn of [...subscribers]) {
        let accepted: boolean | void
        try {
          accepted = fn(event)
        } catch {
          subscribers.delete(fn)
          counts.failed++
          continue
        }
        if (accepted === false) counts.dropped++
        else counts.delivered++
      }
    },
    subscribe(fn) {
      if (subscribers.size >= maxSubscribers) throw new RangeError(`live updates: ${maxSubscribers} clients already connected`)
      // Wrapped: the same function subscribed twice is two entries, each unsubscribe removes its own.
      const entry: LiveSubscriber = (e) => fn(e)
      subscribers.add(entry)
      return () => void subscribers.delete(entry)
    },
    isFull: () => subscribers.size >= maxSubscribers,
    stats: () => ({ subscribers: subscribers.size, ...counts }),
  }
}
