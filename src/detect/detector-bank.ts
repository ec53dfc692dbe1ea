// The detector bank: every sensor's detectors, fed in consumption order. Its promise: the same
// readings and ticks give the same events with the same ids, and a bank restored from the state
// it handed out (takeDirtyState) continues exactly as the original would have — everything a
// decision in event time depends on lives in the serialized state; only the wall-clock
// dropout's "last seen" times do not (a restart gives every sensor a fresh wall-clock grace,
// so the gateway's own downtime never shows as sensor dropouts).
//
// Per sensor, in event-time order: late readings (not newer than the sensor's newest) are
// counted and skipped — the EWMAs and debounces need order, and waiting to re-sort would delay
// every alarm. Per machine: level shifts (for the drift detectors), the reject-rate detector and
// whether it is offline (Sparkplug B death): an offline machine's sensors open no new dropouts.
import { type EventSink, type SensorIdentity } from './anomaly-event.js'
import type { DetectConfig } from './config.js'
import { newDriftState, resetDrift, stepDrift, type DriftState } from './drift-detector.js'
import { dropoutOnReading, dropoutOnTick, dropoutOnWall, newDropoutState, type DropoutState } from './dropout-detector.js'
import { newFlatlineState, stepFlatline, type FlatlineState } from './flatline-detector.js'
import { newLimitState, stepLimit, type LimitState } from './limit-detector.js'
import { newRateState, stepRate, type RateState } from './rate-detector.js'
import { newRejectState, stepParts, stepRejects, type RejectState } from './reject-rate-detector.js'
import { createSettingsResolver, type SensorSettings } from './sensor-settings.js'
import { baselineWarm, LEVEL_SHIFT, newBaseline, noiseSigma, stepBaseline, SUSPECT, type BaselineState } from './spike-detector.js'
import type { AnomalyEvent, DetectorBank, MachineStateInput, ReadingInput } from './types.js'

/** Version of the serialized state; a row of another version is ignored (that sensor starts fresh). */
const STATE_VERSION = 1
/** Key of the bank-wide row (the watermark). Keys of real sensors have four segments, machines three. */
export const BANK_STATE_KEY = 'detect:bank'

export interface DetectorBankDeps {
  /** Told about state rows that could not be restored (the sensor then starts fresh). */
  onRestoreProblem?: (key: string, reason: string) => void
}

interface AnalogState {
  base: BaselineState
  limit: LimitState
  drift: DriftState
  /** Only once rate of change is configured for the sensor (keeps the state small). */
  rate: RateState | null
  flat: FlatlineState
}

interface SensorState {
  v: number
  unit: string
  /** Newest event time seen (-1: none yet). */
  lastTs: number
  /** Late readings skipped. */
  late: number
  drop: DropoutState
  analog: AnalogState | null
}

interface MachineState {
  v: number
  /** Operating-state changes seen (drift detectors compare it with the one they last reacted to), and when the last one began. */
  epoch: number
  changeTs: number
  /** Recent level shifts: sensor names and when each began. */
  shifts: { sensor: string; ts: number }[]
  reject: RejectState
  /** Offline since a Sparkplug death (absent in state written before machine states existed: online). */
  offline?: boolean
  /** Event time the machine last came back from offline; its sensors' silence counts from here at the earliest. */
  onlineSince?: number
}

interface SensorEntry {
  key: string
  sink: EventSink & { unit: string }
  settings: SensorSettings
  machine: MachineEntry
  state: SensorState
  /** Wall time new data was last seen (not persisted; -1: not yet since start). */
  wallSeen: number
  seenSinceTick: boolean
}

interface MachineEntry {
  key: string
  sink: EventSink
  settings: SensorSettings
  state: MachineState
}

const NO_EVENTS: AnomalyEvent[] = Object.freeze([]) as unknown as AnomalyEvent[]

export function createDetectorBank(config: DetectConfig, deps: DetectorBankDeps = {}): DetectorBank {
  const resolve = createSettingsResolver(config)
  const sensors = new Map<string, SensorEntry>()
  /** Sorted by key, so that tick() emits in the same order whatever order the sensors were first seen or restored in. */
  const sorted: SensorEntry[] = []
  const machines = new Map<string, MachineEntry>()
  const dirtySensors = new Set<SensorEntry>()
  const dirtyMachines = new Set<MachineEntry>()
  const openEvents = new Map<string, AnomalyEvent>()
  let watermark = -Infinity
  let bankDirty = false
  /** Where every detector's sink puts events during one call; emptied by collect(). */
  const out: AnomalyEvent[] = []

  function identity(key: string): SensorIdentity | undefined {
    const parts = key.split('/')
    if (parts.length !== 4) return undefined
    const [site, line, machine, sensor] = parts as [string, string, string, string]
    return { key, site, line, machine, sensor }
  }

  function machineEntry(site: string, line: string, machine: string): MachineEntry {
    const key = `${site}/${line}/${machine}`
    let m = machines.get(key)
    if (m === undefined) {
      const rejects = config.counters.rejects
      const settings = resolve(line, machine, rejects)
      m = {
        key,
        sink: { who: { key: `${key}/${rejects}`, site, line, machine, sensor: rejects }, unit: '', out },
        settings,
        state: { v: STATE_VERSION, epoch: 0, changeTs: 0, shifts: [], reject: newRejectState() },
      }
      machines.set(key, m)
    }
    return m
  }

  function sensorEntry(who: SensorIdentity, state: SensorState | undefined): SensorEntry {
    const settings = resolve(who.line, who.machine, who.sensor)
    const machine = machineEntry(who.site, who.line, who.machine)
    const s: SensorState = state ?? {
      v: STATE_VERSION,
      unit: '',
      lastTs: -1,
      late: 0,
      drop: newDropoutState(),
      analog:
        settings.counter === undefined
          ? { base: newBaseline(), limit: newLimitState(), drift: newDriftState(machine.state.epoch), rate: null, flat: newFlatlineState() }
          : null,
    }
    const entry: SensorEntry = {
      key: who.key,
      sink: { who, unit: settings.unit ?? s.unit, out },
      settings,
      machine,
      state: s,
      wallSeen: -1,
      seenSinceTick: false,
    }
    sensors.set(who.key, entry)
    let lo = 0
    let hi = sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((sorted[mid] as SensorEntry).key < who.key) lo = mid + 1
      else hi = mid
    }
    sorted.splice(lo, 0, entry)
    return entry
  }

  function collect(): AnomalyEvent[] {
    if (out.length === 0) return NO_EVENTS
    const events = out.splice(0)
    for (const e of events) {
      if (e.state === 'open') openEvents.set(e.id, e)
      else openEvents.delete(e.id)
    }
    return events
  }

  function observeAnalog(e: SensorEntry, a: AnalogState, ts: number, x: number): void {
    const st = e.settings
    const sink = e.sink
    const verdict = stepBaseline(a.base, st.spike, ts, x, sink, st.spike.enabled)
    stepLimit(a.limit, st.limits, ts, x, sink)
    if (a.rate !== null || st.rateOfChange.maxPerS !== undefined) {
      a.rate ??= newRateState()
      stepRate(a.rate, st.rateOfChange, ts, x, sink)
    }
    stepFlatline(a.flat, st.flatline, ts, x, sink)
    const m = e.machine
    if (verdict === LEVEL_SHIFT) {
      levelShifted(m, e.sink.who.sensor, a.base.candTs)
      resetDrift(a.drift, st.drift, ts, x, a.base.candTs, sink)
      a.drift.epoch = m.state.epoch
    } else if (verdict !== SUSPECT) {
      if (st.drift.followMachine && a.drift.epoch !== m.state.epoch) {
        resetDrift(a.drift, st.drift, ts, x, m.state.changeTs, sink)
        a.drift.epoch = m.state.epoch
      } else {
        stepDrift(a.drift, st.drift, ts, x, a.base.level, noiseSigma(a.base), baselineWarm(a.base, st.spike), sink)
      }
    }
  }

  /** Counts an operating-state change once `minSensors` distinct sensors shifted within `withinS`. */
  function levelShifted(m: MachineEntry, sensor: string, at: number): void {
    const st = m.state
    const windowMs = config.machineChange.withinS * 1000
    st.shifts = st.shifts.filter((x) => x.sensor !== sensor && x.ts >= at - windowMs)
    st.shifts.push({ sensor, ts: at })
    if (st.shifts.length >= config.machineChange.minSensors && st.changeTs < at - windowMs) {
      st.epoch++
      st.changeTs = Math.min(...st.shifts.map((x) => x.ts))
    }
    dirtyMachines.add(m)
  }

  function observeCounter(e: SensorEntry, ts: number, x: number): void {
    const m = e.machine
    if (e.settings.counter === 'parts') stepParts(m.state.reject, m.settings.rejectRate, ts, x, m.sink)
    else stepRejects(m.state.reject, m.settings.rejectRate, ts, x, m.sink)
    dirtyMachines.add(m)
  }

  function restoreRow(key: string, text: string): void {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      deps.onRestoreProblem?.(key, 'not JSON')
      return
    }
    if (typeof parsed !== 'object' || parsed === null || (parsed as { v?: unknown }).v !== STATE_VERSION) {
      deps.onRestoreProblem?.(key, `not a version ${STATE_VERSION} state`)
      return
    }
    if (key === BANK_STATE_KEY) {
      const w = (parsed as { watermark?: unknown }).watermark
      if (typeof w === 'number') watermark = Math.max(watermark, w)
      return
    }
    const parts = key.split('/')
    if (parts.length === 3) {
      const [site, line, machine] = parts as [string, string, string]
      const m = machineEntry(site, line, machine)
      m.state = parsed as MachineState
      return
    }
    const who = identity(key)
    if (who === undefined) {
      deps.onRestoreProblem?.(key, 'not a sensor or machine key')
      return
    }
    const state = parsed as SensorState
    const settings = resolve(who.line, who.machine, who.sensor)
    if ((settings.counter === undefined) !== (state.analog !== null)) {
      // The sensor changed between counter and analog in the config: its old state means nothing now.
      deps.onRestoreProblem?.(key, 'counter/analog role changed in the config')
      return
    }
    const existing = sensors.get(key)
    if (existing !== undefined) {
      existing.state = state
      existing.sink.unit = existing.settings.unit ?? state.unit
    } else {
      sensorEntry(who, state)
    }
  }

  /** Where a sensor's silence counts from for a new dropout: its last reading, or its machine's return if later; null while the machine is offline. */
  function quietFrom(e: SensorEntry): number | null {
    const m = e.machine.state
    if (m.offline === true) return null
    return m.onlineSince !== undefined && m.onlineSince > e.state.lastTs ? m.onlineSince : e.state.lastTs
  }

  function openOf(state: SensorState | MachineState): AnomalyEvent[] {
    const found: AnomalyEvent[] = []
    if ('reject' in state) {
      if (state.reject.open !== null) found.push(state.reject.open)
      return found
    }
    if (state.drop.open !== null) found.push(state.drop.open)
    if (state.drop.wallOpen !== null) found.push(state.drop.wallOpen)
    const a = state.analog
    if (a !== null) for (const o of [a.limit.open, a.drift.open, a.rate?.open ?? null, a.flat.open]) if (o !== null) found.push(o)
    return found
  }

  return {
    observe(r: ReadingInput): AnomalyEvent[] {
      let e = sensors.get(r.key)
      if (e === undefined) {
        const who = identity(r.key) ?? { key: r.key, site: r.site, line: r.line, machine: r.machine, sensor: r.sensor }
        e = sensorEntry(who, undefined)
      }
      if (r.ts > watermark) {
        watermark = r.ts
        bankDirty = true
      }
      if (!e.settings.enabled) return NO_EVENTS
      const s = e.state
      const ts = r.ts
      if (s.lastTs >= 0 && ts <= s.lastTs) {
        s.late++
        dirtySensors.add(e)
        return NO_EVENTS
      }
      if (typeof r.unit === 'string' && r.unit !== '' && r.unit !== s.unit) {
        s.unit = r.unit
        e.sink.unit = e.settings.unit ?? r.unit
      }
      if (s.lastTs >= 0) dropoutOnReading(s.drop, e.settings.dropout, s.lastTs, ts, watermark, e.sink, quietFrom(e))
      if (s.analog !== null) observeAnalog(e, s.analog, ts, r.value)
      else observeCounter(e, ts, r.value)
      s.lastTs = ts
      e.seenSinceTick = true
      dirtySensors.add(e)
      return collect()
    },

    tick(eventNow: number, wallNow: number): AnomalyEvent[] {
      if (eventNow > watermark) {
        watermark = eventNow
        bankDirty = true
      }
      for (const e of sorted) {
        const s = e.state
        if (!e.settings.enabled || s.lastTs < 0) continue
        const d = e.settings.dropout
        const before = out.length
        const from = quietFrom(e)
        dropoutOnTick(s.drop, d, s.lastTs, watermark, e.sink, from)
        if (e.seenSinceTick || e.wallSeen < 0 || from === null) {
          // An offline machine's wall-clock grace starts again when it comes back.
          e.wallSeen = wallNow
          e.seenSinceTick = false
        } else {
          dropoutOnWall(s.drop, d, s.lastTs, wallNow - e.wallSeen, e.sink)
        }
        if (out.length !== before) dirtySensors.add(e)
      }
      return collect()
    },

    machineState(change: MachineStateInput): AnomalyEvent[] {
      const m = machineEntry(change.site, change.line, change.machine)
      const st = m.state
      const offline = change.state === 'offline'
      if ((st.offline === true) === offline) return NO_EVENTS
      if (offline) {
        // Dropouts already due at this watermark open now, before the machine counts as offline:
        // whether a tick ran between the last reading and this message (batch boundaries) must
        // not decide whether they exist, so a rebuild finds the same ones.
        for (const e of sorted) {
          if (e.machine !== m || !e.settings.enabled || e.state.lastTs < 0) continue
          const before = out.length
          dropoutOnTick(e.state.drop, e.settings.dropout, e.state.lastTs, watermark, e.sink, quietFrom(e))
          if (out.length !== before) dirtySensors.add(e)
        }
        st.offline = true
      } else {
        st.offline = false
        st.onlineSince = change.ts
      }
      dirtyMachines.add(m)
      return collect()
    },

    takeDirtyState() {
      const rows: { key: string; state: string }[] = []
      if (bankDirty) {
        rows.push({ key: BANK_STATE_KEY, state: JSON.stringify({ v: STATE_VERSION, watermark }) })
        bankDirty = false
      }
      for (const m of dirtyMachines) rows.push({ key: m.key, state: JSON.stringify(m.state) })
      for (const e of dirtySensors) rows.push({ key: e.key, state: JSON.stringify(e.state) })
      dirtyMachines.clear()
      dirtySensors.clear()
      return rows
    },

    restore(rows) {
      for (const { key, state } of rows) restoreRow(key, state)
      openEvents.clear()
      for (const e of sensors.values()) for (const o of openOf(e.state)) openEvents.set(o.id, o)
      for (const m of machines.values()) for (const o of openOf(m.state)) openEvents.set(o.id, o)
    },

    open() {
      return [...openEvents.values()].sort((a, b) => a.startedAt - b.startedAt || (a.id < b.id ? -1 : 1))
    },
  }
}
