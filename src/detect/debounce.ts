// Debounce: a condition counts only after it has held for N consecutive samples AND T seconds
// of event time. The state is two plain numbers so that it serializes with the detector's.
import type { Debounce } from './config.js'

export interface DebounceState {
  /** Consecutive samples the condition has held (0: not holding). */
  n: number
  /** Event time of the first of them. */
  since: number
}

export function newDebounce(): DebounceState {
  return { n: 0, since: 0 }
}

/** Feeds one sample; true once the condition has held long enough (and on every later sample while it holds). */
export function debounce(state: DebounceState, holds: boolean, ts: number, d: Debounce): boolean {
  if (!holds) {
    state.n = 0
    return false
  }
  if (state.n === 0) state.since = ts
  state.n++
  return state.n >= d.samples && ts - state.since >= d.seconds * 1000
}
