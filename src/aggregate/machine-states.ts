// Machine state from Sparkplug B births and deaths (machine_state messages on factory.readings).
// Applied inside the state processor's transaction, so the machine_states table and the
// `offline` anomalies commit with the consumed offsets and a rebuild replays them exactly.
// Promises: a message older than the newest one applied for its machine changes nothing (out of
// order delivery cannot flip a machine back); a machine has at most one open `offline` anomaly,
// found in the anomalies table (not in memory), so it survives restarts and failed batches.
import { emitClose, emitOpen, formatDuration, type EventSink } from '../detect/anomaly-event.js'
import { STATUS_SENSOR, type AnomalyEvent, type DetectorBank, type OfflineCause } from '../detect/types.js'
import type { MachineStateRow, StateDb } from '../store/state-db.js'

export interface MachineStateChange {
  site: string
  line: string
  machine: string
  state: 'online' | 'offline'
  ts: number
  cause: 'NBIRTH' | 'DBIRTH' | OfflineCause
  edgeNode: string
  device?: string
  bdSeq?: number
}

const SEGMENT = /^[A-Za-z0-9_.-]{1,64}$/
/** Sparkplug ids are printable text of at most 128 characters (the contract in bus/messages.ts). */
const PRINTABLE = /^[^\p{Cc}]{0,128}$/u
const CAUSES: Readonly<Record<string, 'online' | 'offline'>> = { NBIRTH: 'online', DBIRTH: 'online', NDEATH: 'offline', DDEATH: 'offline' }

/**
 * A machine_state message (already JSON-parsed, `type` = 'machine_state'), checked field by field
 * like readings are; undefined when anything is off, including a state that contradicts the cause.
 */
export function parseMachineState(m: Record<string, unknown>): MachineStateChange | undefined {
  const { site, line, machine, state, ts, cause, edgeNode, device, bdSeq } = m
  if (
    typeof site !== 'string' ||
    typeof line !== 'string' ||
    typeof machine !== 'string' ||
    !SEGMENT.test(site) ||
    !SEGMENT.test(line) ||
    !SEGMENT.test(machine) ||
    (state !== 'online' && state !== 'offline') ||
    typeof ts !== 'number' ||
    !Number.isSafeInteger(ts) ||
    typeof cause !== 'string' ||
    CAUSES[cause] !== state ||
    typeof edgeNode !== 'string' ||
    !PRINTABLE.test(edgeNode) ||
    (device !== undefined && (typeof device !== 'string' || !PRINTABLE.test(device))) ||
    (bdSeq !== undefined && (typeof bdSeq !== 'number' || !Number.isSafeInteger(bdSeq)))
  ) {
    return undefined
  }
  return {
    site,
    line,
    machine,
    state,
    ts,
    cause: cause as MachineStateChange['cause'],
    edgeNode,
    ...(device !== undefined ? { device } : {}),
    ...(bdSeq !== undefined ? { bdSeq } : {}),
  }
}

/** "line1/m3 offline: edge node E1 sent NDEATH (bdSeq 4)." */
export function offlineDetail(c: MachineStateChange): string {
  const who =
    c.cause === 'NDEATH'
      ? `edge node ${c.edgeNode} sent NDEATH${c.bdSeq !== undefined ? ` (bdSeq ${c.bdSeq})` : ''}`
      : c.device !== undefined
        ? `device ${c.device} of edge node ${c.edgeNode} sent ${c.cause}`
        : `a device of edge node ${c.edgeNode} sent ${c.cause}`
  return `${c.line}/${c.machine} offline: ${who}.`
}

interface AnomalyRow {
  id: string
  key: string
  site: string
  line: string
  machine: string
  sensor: string
  severity: 'warning' | 'critical'
  started_at: number
  observed: number
  expected: number | null
  detail: string
  clock: 'event' | 'wall'
  cause: OfflineCause | null
}

export interface MachineStates {
  /** Applies one change; returns the anomaly events it caused (offline open or close, and the detectors' dropouts), not yet recorded. */
  apply(change: MachineStateChange, detectors: DetectorBank): AnomalyEvent[]
}

export function createMachineStates(db: StateDb): MachineStates {
  const select = db.prepare('SELECT * FROM machine_states WHERE site = ? AND line = ? AND machine = ?')
  const upsert = db.prepare(
    `INSERT INTO machine_states (site, line, machine, state, since, cause, updated_at_event) VALUES (@site, @line, @machine, @state, @since, @cause, @updated_at_event)
     ON CONFLICT (site, line, machine) DO UPDATE SET state = excluded.state, since = excluded.since, cause = excluded.cause, updated_at_event = excluded.updated_at_event`,
  )
  const openOffline = db.prepare(
    `SELECT id, key, site, line, machine, sensor, severity, started_at, observed, expected, detail, clock, cause FROM anomalies
      WHERE key = ? AND kind = 'offline' AND state = 'open' ORDER BY started_at DESC LIMIT 1`,
  )

  return {
    apply(c, detectors) {
      const row = select.get(c.site, c.line, c.machine) as MachineStateRow | undefined
      if (row !== undefined && c.ts < row.updated_at_event) return []
      const changed = row === undefined || row.state !== c.state
      const next: MachineStateRow = {
        site: c.site,
        line: c.line,
        machine: c.machine,
        state: c.state,
        since: changed ? c.ts : row.since,
        cause: changed ? c.cause : row.cause,
        updated_at_event: c.ts,
      }
      upsert.run(next)

      const out: AnomalyEvent[] = changed ? [...detectors.machineState({ site: c.site, line: c.line, machine: c.machine, state: c.state, ts: c.ts })] : []
      const key = `${c.site}/${c.line}/${c.machine}/${STATUS_SENSOR}`
      const sink: EventSink = { who: { key, site: c.site, line: c.line, machine: c.machine, sensor: STATUS_SENSOR }, unit: '', out }
      const open = openOffline.get(key) as AnomalyRow | undefined
      if (c.state === 'offline' && open === undefined) {
        emitOpen(sink, {
          kind: 'offline',
          severity: 'critical',
          startedAt: next.since,
          observed: 0,
          expected: 1,
          detail: offlineDetail(c),
          ...(c.cause === 'NDEATH' || c.cause === 'DDEATH' ? { cause: c.cause } : {}),
        })
      } else if (c.state === 'online' && open !== undefined) {
        const event: AnomalyEvent = {
          id: open.id,
          state: 'open',
          kind: 'offline',
          severity: open.severity,
          key: open.key,
          site: open.site,
          line: open.line,
          machine: open.machine,
          sensor: open.sensor,
          startedAt: open.started_at,
          observed: open.observed,
          expected: open.expected,
          detail: open.detail,
          clock: open.clock,
          ...(open.cause !== null ? { cause: open.cause } : {}),
        }
        emitClose(sink, event, c.ts, open.observed, open.expected, `${c.line}/${c.machine} back online (${c.cause}) after ${formatDuration(c.ts - open.started_at)}.`)
      }
      return out
    },
  }
}

