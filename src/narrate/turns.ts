// Turns at the one model sequence: one holder at a time, the waiting ones by priority
// (incident > question > shift), first come first served within a priority. The narrator's own
// queue orders its jobs the same way; this also orders them against questions, which the asker
// writes directly.
import { GatewayError } from '../errors.js'
import { type JobKind, PRIORITY } from './queue.js'

/** One holder at a time; waiters get their turn by priority, then in arrival order. */
export function createTurns(): {
  /** Resolves when it is this caller's turn; rejects with LLM_TIMEOUT when the signal aborts first. */
  take(priority: JobKind, signal?: AbortSignal): Promise<void>
  end(): void
  waiting(): number
  /** Resolves when nobody holds or waits. */
  idle(): Promise<void>
} {
  type Waiter = { rank: number; go: () => void }
  const waiting: Waiter[] = []
  let busy = false
  let idleWaiters: (() => void)[] = []
  return {
    take(priority, signal) {
      if (!busy) {
        busy = true
        return Promise.resolve()
      }
      return new Promise<void>((resolve, reject) => {
        const w: Waiter = {
          rank: PRIORITY[priority],
          go: () => {
            signal?.removeEventListener('abort', onAbort)
            resolve()
          },
        }
        const onAbort = () => {
          const i = waiting.indexOf(w)
          if (i >= 0) waiting.splice(i, 1)
          reject(new GatewayError('LLM_TIMEOUT', 'deadline passed while waiting for the model'))
        }
        if (signal?.aborted) return onAbort()
        signal?.addEventListener('abort', onAbort, { once: true })
        // Insert after every waiter of the same or a higher priority.
        let i = waiting.length
        while (i > 0 && (waiting[i - 1] as Waiter).rank > w.rank) i--
        waiting.splice(i, 0, w)
      })
    },
    end() {
      const next = waiting.shift()
      if (next !== undefined) return next.go()
      busy = false
      for (const w of idleWaiters.splice(0)) w()
    },
    waiting: () => waiting.length,
    idle() {
      return busy ? new Promise<void>((resolve) => idleWaiters.push(resolve)) : Promise.resolve()
    },
  }
}
