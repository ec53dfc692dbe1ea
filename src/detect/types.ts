// The contract between the aggregator (which feeds readings in Kafka order and persists state
// in the same SQLite transaction as the consumed offsets) and the detectors.

// `rate_of_change` was added after the first six (appended, so existing indices keep their
// meaning); it has no counterpart in the simulator's ground truth and is off by default.
// `offline` (appended last) is not detected from readings: a Sparkplug B NDEATH/DDEATH opens it and
// the next birth closes it (a machine_state message on the readings topic, see bus/messages.ts).
export const ANOMALY_KINDS = ['limit_breach', 'spike', 'drift', 'flatline', 'dropout', 'reject_rate_jump', 'rate_of_change', 'offline'] as const
export type AnomalyKind = (typeof ANOMALY_KINDS)[number]

/** The sensor name of machine-level anomalies (`offline`): key `site/line/machine/_status`. It has no readings and no buckets. */
export const STATUS_SENSOR = '_status'

/** The Sparkplug B messages that say a machine went offline. */
export type OfflineCause = 'NDEATH' | 'DDEATH'

export type Severity = 'warning' | 'critical'

export interface ReadingInput {
  /** `site/line/machine/sensor` (the Kafka key). */
  key: string
  site: string
  line: string
  machine: string
  sensor: string
  /** Event time, epoch ms. */
  ts: number
  value: number
  /** Unit from the payload when it had one; only used to word `detail`. */
  unit?: string | null
}

/** One open or close event; the open and the close of an anomaly share `id`. */
export interface AnomalyEvent {
  /** Deterministic: the same input sequence gives the same ids (replays, rebuilds). */
  id: string
  state: 'open' | 'closed'
  kind: AnomalyKind
  severity: Severity
  key: string
  site: string
  line: string
  machine: string
  sensor: string
  /** Event time the anomaly started (the first offending sample). */
  startedAt: number
  /** Event time it ended (only on close). */
  endedAt?: number
  /** What was seen (e.g. the peak value, the stuck value, the reject rate). */
  observed: number
  /** What was expected (limit, baseline mean, normal reject rate); null when not meaningful. */
  expected: number | null
  /** One readable sentence with the numbers, e.g. "spindle_temp 93.1 °C above the limit 90". */
  detail: string
  /** 'event' when decided from event time alone (reproducible by a replay); 'wall' when the wall clock decided (dropout while no data arrives). */
  clock: 'event' | 'wall'
  /** `offline` only: the Sparkplug death that caused it (kept in the state database for the narratives; not published). */
  cause?: OfflineCause
}

/** A machine went offline or came back (a Sparkplug B death or birth), as the state processor applied it. */
export interface MachineStateInput {
  site: string
  line: string
  machine: string
  state: 'online' | 'offline'
  /** Event time of the change. */
  ts: number
}

export interface DetectorBank {
  /** Feeds one reading, in consumption order; returns the events it caused. */
  observe(reading: ReadingInput): AnomalyEvent[]
  /**
   * Advances time without a reading: `eventNow` is the event-time watermark (max event time
   * seen), `wallNow` the wall clock. Dropout needs this. Returns the events it caused.
   */
  tick(eventNow: number, wallNow: number): AnomalyEvent[]
  /** Serialized state of the sensors changed since the last call (persisted with the offsets). */
  takeDirtyState(): { key: string; state: string }[]
  /**
   * A machine changed state (called only on a change, in consumption order). While a machine is
   * offline its sensors open no new dropouts — a dead machine is one offline anomaly, not one
   * dropout per sensor; after it comes back their silence counts from its return. Returns the
   * events it caused (dropouts already due when the machine went offline).
   */
  machineState(change: MachineStateInput): AnomalyEvent[]
  /** Restores state persisted earlier (before the first observe). */
  restore(rows: readonly { key: string; state: string }[]): void
  /** Currently open anomalies (for the page and for health). */
  open(): AnomalyEvent[]
}
