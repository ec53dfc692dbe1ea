// The gateway as a Sparkplug B host application. It turns NBIRTH/DBIRTH/NDATA/DDATA/NDEATH/
// DDEATH messages into journal entries (readings, machine_state events, quarantine records)
// and keeps what a host must know between messages:
// - each edge node's and device's birth certificate (metric name, alias, datatype → sensor),
//   persisted (store.ts) so data queued while the gateway was away still decodes;
// - each edge node's `seq` (0–255, in memory, re-learned on every MQTT connection because the
//   broker redelivers unacked messages then): a gap, data before a birth, or an unknown alias
//   means the host's picture may be wrong, so the data is quarantined (`no_birth`, bytes kept)
//   and a rebirth is requested (NCMD `Node Control/Rebirth`), rate-limited per edge node;
// - `bdSeq`, which ties an NDEATH (the edge node's MQTT will) to the NBIRTH of the same
//   session: a death from an older session is ignored (counted).
// Parsing never throws: what cannot be handled is quarantined with its reason.
import { createRequire } from 'node:module'
import { SEGMENT_RE, type SparkplugConfig } from '../../config/schema.js'
import { SCHEMA_VERSION, machineKey, type MachineStateMessage, type QuarantineReason } from '../../bus/messages.js'
import { describeError } from '../../errors.js'
import type { Log } from '../../log.js'
import type { Clock } from '../../util/clock.js'
import type { DeepReadonly } from '../../util/deep-freeze.js'
import { MAX_FUTURE_MS, MIN_TS } from '../decode.js'
import { quarantine, readingEntry, type JournalEntry, type ParseResult } from '../parse-message.js'
import type { SensorId } from '../topic-map.js'
import {
  DATATYPE,
  datatypeName,
  decodeSparkplug,
  integerProperty,
  isNumericType,
  metricAlias,
  metricDatatype,
  metricName,
  metricTimestamp,
  metricValue,
  stringProperty,
  type RawMetric,
  type SparkplugPayload,
} from './codec.js'
import { nodeKey, type DeviceRecord, type MetricDef, type NodeRecord, type SparkplugStore } from './store.js'

const require = createRequire(import.meta.url)
const tahu = (require('sparkplug-payload') as { get(ns: string): { encodePayload(p: unknown): Uint8Array } | null }).get('spBv1.0')

export const NAMESPACE = 'spBv1.0'
const DATA_TYPES = ['NBIRTH', 'NDEATH', 'NDATA', 'DBIRTH', 'DDEATH', 'DDATA'] as const
type DataType = (typeof DATA_TYPES)[number]
const DEVICE_TYPES: readonly string[] = ['DBIRTH', 'DDEATH', 'DDATA']
/** Sparkplug ids as they may appear in a topic: printable, no wildcards, at most 128 characters. */
const ID_RE = /^[^+#/\u0000-\u001f\u007f-\u009f\u2028\u2029]{1,128}$/
const UNIT_RE = /^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]{1,32}$/

export type IgnoredWhy = 'not_sensor' | 'string' | 'unsupported_type' | 'null' | 'missing_value' | 'non_finite' | 'unmappable'

export interface SparkplugStats {
  messages: Record<DataType, number>
  /** Readings made from metrics (births included). */
  readings: number
  /** Metrics that gave no reading, by why. */
  ignoredMetrics: Record<IgnoredWhy, number>
  /** STATE, NCMD, DCMD messages seen (not data). */
  ignoredMessages: number
  /** Messages quarantined as no_birth. */
  noBirth: number
  seqGaps: number
  rebirthRequests: number
  /** NDEATHs whose bdSeq is not the current birth's (from an older session), and deaths of unknown nodes/devices. */
  staleDeaths: number
  /** Times the host saw itself marked offline while connected (a late will, another client) and re-published online. */
  stateReasserted: number
  nodes: { online: number; offline: number }
  devices: { online: number; offline: number }
}

export type Publish = (topic: string, payload: Buffer, options: { qos: 0 | 1; retain: boolean }) => void

export interface SparkplugHostOptions {
  config: DeepReadonly<SparkplugConfig>
  hostId: string
  site: string
  store: SparkplugStore
  maxPayloadBytes: number
  log: Log
  clock: Clock
}

export interface SparkplugHost {
  /** Is this topic in the Sparkplug namespace (so this host parses it)? */
  owns(topic: string): boolean
  parse(topic: string, payload: Uint8Array, receivedAt: number): ParseResult
  /** The subscriptions for the configured groups. */
  readonly filters: readonly string[]
  readonly stateTopic: string
  /** The MQTT will for the next connection: STATE offline, stamped with that connection's timestamp. */
  nextWill(): { topic: string; payload: Buffer; qos: 1; retain: true }
  /** After a connection is up and subscribed: re-learn seq, publish STATE online. */
  connected(publish: Publish): void
  disconnected(): void
  /** The STATE offline message to publish before a clean disconnect (a will is not sent then). */
  offlineState(): { topic: string; payload: Buffer }
  stats(): SparkplugStats
}

interface ParsedTopic {
  group: string
  type: string
  edge: string
  device?: string
}

export function createSparkplugHost(options: SparkplugHostOptions): SparkplugHost {
  const { config, site, store, clock } = options
  const log = options.log.child({ stage: 'sparkplug' })
  const nodes = store.load()
  const seqs = new Map<string, number>()
  const lastRebirthAt = new Map<string, number>()
  const stateTopic = `${NAMESPACE}/STATE/${options.hostId}`
  let stateTs = clock.now()
  let publish: Publish | undefined
  const skip = config.skipMetrics
  const metricNames = new Map(Object.entries(config.metricNames))
  const stats = {
    messages: Object.fromEntries(DATA_TYPES.map((t) => [t, 0])) as Record<DataType, number>,
    readings: 0,
    ignoredMetrics: { not_sensor: 0, string: 0, unsupported_type: 0, null: 0, missing_value: 0, non_finite: 0, unmappable: 0 } as Record<IgnoredWhy, number>,
    ignoredMessages: 0,
    noBirth: 0,
    seqGaps: 0,
    rebirthRequests: 0,
    staleDeaths: 0,
    stateReasserted: 0,
  }
  const warned = new Set<string>()

  const filters = [
    // Its own STATE (Sparkplug 3.0): to put "online" back when a late will or another client overwrites it.
    ...(config.publishState ? [stateTopic] : []),
    ...config.groups.flatMap((g) => [
    `${NAMESPACE}/${g}/NBIRTH/+`,
    `${NAMESPACE}/${g}/NDEATH/+`,
    `${NAMESPACE}/${g}/NDATA/+`,
    `${NAMESPACE}/${g}/DBIRTH/+/+`,
    `${NAMESPACE}/${g}/DDEATH/+/+`,
    `${NAMESPACE}/${g}/DDATA/+/+`,
    ]),
  ]

  function warnOnce(key: string, fields: Record<string, unknown>, message: string): void {
    if (warned.size > 1000 || warned.has(key)) return
    warned.add(key)
    log.warn(fields, message)
  }

  function parseTopic(topic: string): { ok: true; t: ParsedTopic } | { ok: false; reason: QuarantineReason; detail: string } {
    const parts = topic.split('/')
    const [, group, type, edge, device] = parts
    if (parts[0] !== NAMESPACE || group === undefined || type === undefined) return { ok: false, reason: 'unmapped_topic', detail: 'not a Sparkplug B topic' }
    if (group === 'STATE' || type === 'NCMD' || type === 'DCMD' || type === 'STATE') return { ok: true, t: { group, type, edge: edge ?? '' } }
    if (!(DATA_TYPES as readonly string[]).includes(type)) return { ok: false, reason: 'unmapped_topic', detail: `unknown Sparkplug message type ${JSON.stringify(type.slice(0, 20))}` }
    const want = DEVICE_TYPES.includes(type) ? 5 : 4
    if (parts.length !== want) return { ok: false, reason: 'unmapped_topic', detail: `a ${type} topic has ${want} levels, this one ${parts.length}` }
    for (const [what, id] of [['group', group], ['edge node', edge], ['device', device]] as const) {
      if (id !== undefined && !ID_RE.test(id)) return { ok: false, reason: 'bad_topic_segment', detail: `${what} id is not 1–128 printable characters` }
    }
    return { ok: true, t: { group, type, edge: edge ?? '', ...(device === undefined ? {} : { device }) } }
  }

  /** A name from a template: each id is made segment-safe ("/" → ".", other characters → "_"). */
  function render(template: string, vars: Record<string, string | undefined>): string | undefined {
    const out = template.replace(/\{(\w+)\}/g, (_, k: string) => segmentSafe(vars[k] ?? ''))
    return SEGMENT_RE.test(out) ? out : undefined
  }

  function ids(t: ParsedTopic): { line: string; machine: string } | undefined {
    const vars = { group: t.group, edge: t.edge, device: t.device }
    const line = render(config.map.line, vars)
    const machine = t.device === undefined ? render(config.map.nodeMachine, vars) : render(config.map.machine, vars)
    return line === undefined || machine === undefined ? undefined : { line, machine }
  }

  function isSkipped(name: string): boolean {
    return skip.some((s) => (s.endsWith('/') ? name.startsWith(s) : name === s))
  }

  /** Metric definitions from a birth certificate, or why the birth is unusable. */
  function define(metrics: readonly RawMetric[], t: ParsedTopic): { ok: true; defs: MetricDef[] } | { ok: false; detail: string } {
    const defs: MetricDef[] = []
    const aliases = new Set<number>()
    const sensors = new Set<string>()
    for (let i = 0; i < metrics.length; i++) {
      const m = metrics[i] as RawMetric
      const name = metricName(m)
      const datatype = metricDatatype(m)
      if (name === undefined) return { ok: false, detail: `${t.type} metric ${i} has no name` }
      if (datatype === undefined) return { ok: false, detail: `${t.type} metric ${JSON.stringify(name.slice(0, 60))} has no datatype` }
      const alias = metricAlias(m)
      if (alias !== undefined) {
        if (aliases.has(alias)) return { ok: false, detail: `${t.type} uses alias ${alias} twice` }
        aliases.add(alias)
      }
      let sensor: string | null = null
      if (!isSkipped(name) && isNumericType(datatype)) {
        sensor = metricNames.get(name) ?? render(config.map.sensor, { group: t.group, edge: t.edge, device: t.device, metric: name }) ?? null
        if (sensor === null) {
          stats.ignoredMetrics.unmappable++
          warnOnce(`unmappable:${name}`, { metric: name.slice(0, 100), edgeNode: t.edge }, 'Sparkplug metric name does not map to a sensor name (1–64 of A-Z a-z 0-9 _ . -); its data is ignored — name it in mqtt.sparkplug.metricNames')
        } else if (sensors.has(sensor)) {
          warnOnce(`dup:${t.edge}/${t.device ?? ''}/${sensor}`, { metric: name.slice(0, 100), sensor }, 'two Sparkplug metrics map to one sensor name; the second is ignored — name one in mqtt.sparkplug.metricNames')
          stats.ignoredMetrics.unmappable++
          sensor = null
        } else sensors.add(sensor)
      }
      const unit = stringProperty(m, 'engUnit') ?? stringProperty(m, 'engUnits')
      defs.push({ name, ...(alias === undefined ? {} : { alias }), datatype, sensor, ...(unit !== undefined && UNIT_RE.test(unit) ? { unit } : {}) })
    }
    return { ok: true, defs }
  }

  type Built = { ok: true; entries: JournalEntry[] } | { ok: false; reason: QuarantineReason; detail: string }

  /** Readings from metrics: by alias (or name) through `defs`; an unknown one is `no_birth`. */
  function readings(payload: SparkplugPayload, defs: readonly MetricDef[], at: { line: string; machine: string }, topic: string, receivedAt: number): Built {
    const { byAlias, byName } = lookupOf(defs)
    const entries: JournalEntry[] = []
    const ignored: IgnoredWhy[] = []
    for (const m of payload.metrics) {
      const alias = metricAlias(m)
      const name = metricName(m)
      const def = alias !== undefined ? byAlias.get(alias) : name !== undefined ? byName.get(name) : undefined
      if (def === undefined) {
        return { ok: false, reason: 'no_birth', detail: alias !== undefined ? `unknown alias ${alias}` : name !== undefined ? `metric ${JSON.stringify(name.slice(0, 60))} is not in the birth certificate` : 'a metric has neither name nor alias' }
      }
      if (def.sensor === null) {
        ignored.push(def.datatype === DATATYPE.String || def.datatype === DATATYPE.Text || def.datatype === DATATYPE.UUID ? 'string' : isNumericType(def.datatype) ? 'not_sensor' : 'unsupported_type')
        continue
      }
      const v = metricValue(m, def.datatype)
      if (!v.ok) {
        ignored.push(v.why === 'string' ? 'string' : v.why)
        continue
      }
      const ts = metricTimestamp(m) ?? payload.timestamp ?? receivedAt
      if (ts < MIN_TS || ts > receivedAt + MAX_FUTURE_MS) {
        return { ok: false, reason: 'timestamp_out_of_range', detail: `metric ${JSON.stringify(def.name.slice(0, 60))}: timestamp ${ts} is ${ts < MIN_TS ? 'before 2000-01-01' : 'more than a day in the future'}` }
      }
      const quality = integerProperty(m, 'Quality')
      const id: SensorId = { site, line: at.line, machine: at.machine, sensor: def.sensor }
      entries.push(
        readingEntry(
          id,
          { value: v.value, ts, ...(def.unit === undefined ? {} : { unit: def.unit }), ...(quality === undefined ? {} : { quality: String(quality) }), ...(m.isHistorical === true ? { historical: true } : {}) },
          receivedAt,
          topic,
        ),
      )
    }
    for (const why of ignored) stats.ignoredMetrics[why]++
    stats.readings += entries.length
    return { ok: true, entries }
  }

  function stateEntry(t: ParsedTopic, at: { line: string; machine: string }, state: 'online' | 'offline', cause: DataType, ts: number, receivedAt: number, topic: string, bdSeq?: number): JournalEntry {
    const message: MachineStateMessage = {
      v: SCHEMA_VERSION,
      type: 'machine_state',
      site,
      line: at.line,
      machine: at.machine,
      state,
      ts,
      cause: cause as MachineStateMessage['cause'],
      group: t.group,
      edgeNode: t.edge,
      ...(t.device === undefined ? {} : { device: t.device }),
      ...(bdSeq === undefined ? {} : { bdSeq }),
      receivedAt,
      mqttTopic: topic,
    }
    return { kind: 'state', key: Buffer.from(machineKey(message)), value: Buffer.from(JSON.stringify(message)), receivedAt }
  }

  function requestRebirth(t: ParsedTopic, why: string): string {
    const key = nodeKey(t.group, t.edge)
    const now = clock.now()
    const last = lastRebirthAt.get(key)
    if (last !== undefined && now - last < config.rebirthMinIntervalS * 1000) return `rebirth requested ${Math.round((now - last) / 100) / 10} s ago`
    if (publish === undefined || tahu === null) return 'rebirth not requested: not connected'
    const payload = tahu.encodePayload({ timestamp: now, metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] })
    publish(`${NAMESPACE}/${t.group}/NCMD/${t.edge}`, Buffer.from(payload), { qos: 0, retain: false })
    lastRebirthAt.set(key, now)
    stats.rebirthRequests++
    log.info({ group: t.group, edgeNode: t.edge, why }, 'requested a rebirth (NCMD Node Control/Rebirth)')
    return 'rebirth requested'
  }

  /**
   * Quarantines data the host cannot map safely and asks the edge node for a rebirth. `hold`
   * marks what must wait for a birth: the edge node (seq gap, node metrics unknown) or one
   * device (its birth unknown or stale); the other devices of the node go on.
   */
  function noBirth(t: ParsedTopic, hold: { node: NodeRecord } | { device: DeviceRecord; node: NodeRecord } | undefined, detail: string, topic: string, payload: Uint8Array, receivedAt: number): ParseResult {
    stats.noBirth++
    if (hold !== undefined && 'device' in hold) {
      if (!hold.device.stale) {
        hold.device.stale = true
        store.saveDevice(nodeKey(t.group, t.edge), hold.device)
      }
    } else if (hold !== undefined && !hold.node.awaitingRebirth) {
      hold.node.awaitingRebirth = true
      store.saveNode(hold.node)
    }
    const asked = requestRebirth(t, detail)
    return quarantine(topic, payload, receivedAt, 'no_birth', `${t.type} from ${t.edge}${t.device === undefined ? '' : `/${t.device}`}: ${detail}; ${asked}`, options.maxPayloadBytes)
  }

  /** Checks the edge node's seq; returns the problem, if any. The new value is kept either way. */
  function seqProblem(t: ParsedTopic, seq: number): string | undefined {
    const key = nodeKey(t.group, t.edge)
    const last = seqs.get(key)
    seqs.set(key, seq)
    if (last === undefined || seq === (last + 1) % 256) return undefined
    stats.seqGaps++
    return `seq ${seq} after ${last} (expected ${(last + 1) % 256})`
  }

  function bdSeqOf(payload: SparkplugPayload): number | undefined {
    const m = payload.metrics.find((x) => metricName(x) === 'bdSeq')
    if (m === undefined) return undefined
    const v = metricValue(m, metricDatatype(m) ?? DATATYPE.UInt64)
    return v.ok ? v.value : undefined
  }

  function handle(t: ParsedTopic, type: DataType, payload: SparkplugPayload, topic: string, bytes: Uint8Array, receivedAt: number): ParseResult {
    const q = (reason: QuarantineReason, detail: string) => quarantine(topic, bytes, receivedAt, reason, `${type}: ${detail}`, options.maxPayloadBytes)
    const key = nodeKey(t.group, t.edge)
    const node = nodes.get(key)
    const at = ids(t)
    if (at === undefined) return q('bad_topic_segment', `the ids do not map to line/machine names with mqtt.sparkplug.map (${config.map.line}, ${t.device === undefined ? config.map.nodeMachine : config.map.machine})`)
    const seq = payload.seq
    if (type !== 'NDEATH' && (seq === undefined || !Number.isInteger(seq) || seq < 0 || seq > 255)) return q('bad_protobuf', `seq is ${seq === undefined ? 'missing' : seq}, must be 0–255`)

    switch (type) {
      case 'NBIRTH': {
        const defined = define(payload.metrics, t)
        if (!defined.ok) return q('bad_protobuf', defined.detail)
        const built = readings(payload, defined.defs, at, topic, receivedAt)
        if (!built.ok) return q(built.reason, built.detail)
        const bdSeq = bdSeqOf(payload)
        const born: NodeRecord = node ?? { group: t.group, edge: t.edge, online: true, awaitingRebirth: false, metrics: [], devices: new Map() }
        born.online = true
        born.awaitingRebirth = false
        born.metrics = defined.defs
        born.bornAt = payload.timestamp ?? receivedAt
        if (bdSeq === undefined) delete born.bdSeq
        else born.bdSeq = bdSeq
        nodes.set(key, born)
        store.saveNode(born)
        // A new NBIRTH means every device must be born again before its data is trusted.
        for (const d of born.devices.values()) {
          if (!d.stale) {
            d.stale = true
            store.saveDevice(key, d)
          }
        }
        seqs.set(key, seq as number)
        const entries = built.entries
        // Never earlier than the offline state it ends: an edge clock behind the gateway's would otherwise leave it offline.
        if (hasSensors(born.metrics)) entries.push(stateEntry(t, at, 'online', 'NBIRTH', Math.max(tsOf(payload, receivedAt), born.offlineAt ?? 0), receivedAt, topic, bdSeq))
        return { ok: true, entries }
      }
      case 'NDATA': {
        if (node === undefined || !node.online || node.awaitingRebirth) return noBirth(t, node && { node }, node === undefined ? 'no NBIRTH seen' : node.online ? 'waiting for the requested NBIRTH' : 'edge node is dead (NDEATH) and not born again', topic, bytes, receivedAt)
        const gap = seqProblem(t, seq as number)
        if (gap !== undefined) return noBirth(t, { node }, gap, topic, bytes, receivedAt)
        const built = readings(payload, node.metrics, at, topic, receivedAt)
        if (!built.ok) return built.reason === 'no_birth' ? noBirth(t, { node }, built.detail, topic, bytes, receivedAt) : q(built.reason, built.detail)
        return { ok: true, entries: built.entries }
      }
      case 'DBIRTH':
      case 'DDATA': {
        if (node === undefined || !node.online || node.awaitingRebirth) return noBirth(t, node && { node }, node === undefined ? 'no NBIRTH seen' : node.online ? 'waiting for the requested NBIRTH' : 'edge node is dead (NDEATH) and not born again', topic, bytes, receivedAt)
        const gap = seqProblem(t, seq as number)
        if (gap !== undefined) return noBirth(t, { node }, gap, topic, bytes, receivedAt)
        const deviceId = t.device as string
        if (type === 'DBIRTH') {
          const defined = define(payload.metrics, t)
          if (!defined.ok) return q('bad_protobuf', defined.detail)
          const built = readings(payload, defined.defs, at, topic, receivedAt)
          if (!built.ok) return q(built.reason, built.detail)
          const offlineAt = node.devices.get(deviceId)?.offlineAt
          const device: DeviceRecord = { device: deviceId, online: true, stale: false, metrics: defined.defs, bornAt: payload.timestamp ?? receivedAt, ...(offlineAt === undefined ? {} : { offlineAt }) }
          node.devices.set(deviceId, device)
          store.saveDevice(key, device)
          const entries = built.entries
          if (hasSensors(device.metrics)) entries.push(stateEntry(t, at, 'online', 'DBIRTH', Math.max(tsOf(payload, receivedAt), offlineAt ?? 0), receivedAt, topic))
          return { ok: true, entries }
        }
        const device = node.devices.get(deviceId)
        if (device === undefined || !device.online || device.stale) {
          return noBirth(t, device && { device, node }, device === undefined ? 'no DBIRTH seen' : device.stale ? 'no DBIRTH since the last NBIRTH' : 'device is dead (DDEATH) and not born again', topic, bytes, receivedAt)
        }
        const built = readings(payload, device.metrics, at, topic, receivedAt)
        if (!built.ok) return built.reason === 'no_birth' ? noBirth(t, { device, node }, built.detail, topic, bytes, receivedAt) : q(built.reason, built.detail)
        return { ok: true, entries: built.entries }
      }
      case 'DDEATH': {
        const device = node?.devices.get(t.device as string)
        if (node === undefined || device === undefined) {
          stats.staleDeaths++
          return { ok: true, entries: [] }
        }
        // A death is applied even when the seq shows a gap: it can only mark the device offline.
        const gap = seqProblem(t, seq as number)
        if (gap !== undefined && !node.awaitingRebirth) {
          node.awaitingRebirth = true
          store.saveNode(node)
          requestRebirth(t, gap)
        }
        if (!device.online) return { ok: true, entries: [] }
        device.online = false
        device.offlineAt = tsOf(payload, receivedAt)
        store.saveDevice(key, device)
        return { ok: true, entries: hasSensors(device.metrics) ? [stateEntry(t, at, 'offline', 'DDEATH', device.offlineAt, receivedAt, topic)] : [] }
      }
      case 'NDEATH': {
        const bdSeq = bdSeqOf(payload)
        if (node === undefined || (node.bdSeq !== undefined && bdSeq !== undefined && bdSeq !== node.bdSeq)) {
          stats.staleDeaths++
          log.info({ group: t.group, edgeNode: t.edge, bdSeq, current: node?.bdSeq }, 'ignored an NDEATH from an earlier session (bdSeq differs) or of an unknown edge node')
          return { ok: true, entries: [] }
        }
        seqs.delete(key)
        if (!node.online) return { ok: true, entries: [] }
        node.online = false
        node.offlineAt = receivedAt
        store.saveNode(node)
        // An NDEATH is the will registered at connect: its timestamp is stale, so the receive time is the event time.
        const entries: JournalEntry[] = []
        if (hasSensors(node.metrics)) entries.push(stateEntry(t, at, 'offline', 'NDEATH', receivedAt, receivedAt, topic, bdSeq))
        for (const d of node.devices.values()) {
          if (!d.online) continue
          d.online = false
          d.offlineAt = receivedAt
          store.saveDevice(key, d)
          const dt = { ...t, device: d.device }
          const dat = ids(dt)
          if (dat !== undefined && hasSensors(d.metrics)) entries.push(stateEntry(dt, dat, 'offline', 'NDEATH', receivedAt, receivedAt, topic, bdSeq))
        }
        return { ok: true, entries }
      }
    }
  }

  return {
    owns: (topic) => topic === NAMESPACE || topic.startsWith(`${NAMESPACE}/`),
    filters,
    stateTopic,

    parse(topic, bytes, receivedAt) {
      if (topic === stateTopic) {
        stats.ignoredMessages++
        if (config.publishState && publish !== undefined && isOfflineState(bytes)) {
          stats.stateReasserted++
          // A late will of an earlier connection, our own farewell from the last stop, or another client.
          log.info({ topic: stateTopic }, 'STATE offline seen for this host while connected; publishing online again')
          publish(stateTopic, statePayload(true, stateTs), { qos: 1, retain: true })
        }
        return { ok: true, entries: [] }
      }
      const parsed = parseTopic(topic)
      if (!parsed.ok) return quarantine(topic, bytes, receivedAt, parsed.reason, parsed.detail, options.maxPayloadBytes)
      const t = parsed.t
      if (!(DATA_TYPES as readonly string[]).includes(t.type)) {
        stats.ignoredMessages++
        return { ok: true, entries: [] }
      }
      const type = t.type as DataType
      stats.messages[type]++
      if (bytes.length > options.maxPayloadBytes) return quarantine(topic, bytes, receivedAt, 'payload_too_large', `${bytes.length} bytes, limit ${options.maxPayloadBytes}`, options.maxPayloadBytes)
      if (bytes.length === 0) return quarantine(topic, bytes, receivedAt, 'empty_payload', 'zero bytes', options.maxPayloadBytes)
      const decoded = decodeSparkplug(bytes)
      if (!decoded.ok) return quarantine(topic, bytes, receivedAt, 'bad_protobuf', decoded.detail, options.maxPayloadBytes)
      try {
        return handle(t, type, decoded.payload, topic, bytes, receivedAt)
      } catch (err) {
        // A bug here must not stop ingest: keep the message, with what went wrong.
        warnOnce(`crash:${describeError(err)}`, { err: describeError(err), topic: topic.slice(0, 200) }, 'Sparkplug message could not be processed; quarantined')
        return quarantine(topic, bytes, receivedAt, 'bad_protobuf', `could not be processed: ${describeError(err)}`, options.maxPayloadBytes)
      }
    },

    nextWill() {
      stateTs = clock.now()
      return { topic: stateTopic, payload: statePayload(false, stateTs), qos: 1, retain: true }
    },

    connected(p) {
      publish = p
      // The broker redelivers unacked messages on a new connection: seq is re-learned.
      seqs.clear()
      if (config.publishState) p(stateTopic, statePayload(true, stateTs), { qos: 1, retain: true })
    },

    disconnected() {
      publish = undefined
    },

    offlineState: () => ({ topic: stateTopic, payload: statePayload(false, stateTs) }),

    stats() {
      let nodesOnline = 0
      let devicesOnline = 0
      let devicesTotal = 0
      for (const n of nodes.values()) {
        if (n.online) nodesOnline++
        for (const d of n.devices.values()) {
          devicesTotal++
          if (d.online && n.online) devicesOnline++
        }
      }
      return {
        ...stats,
        messages: { ...stats.messages },
        ignoredMetrics: { ...stats.ignoredMetrics },
        nodes: { online: nodesOnline, offline: nodes.size - nodesOnline },
        devices: { online: devicesOnline, offline: devicesTotal - devicesOnline },
      }
    },
  }
}

/** Alias and name lookups of a birth's metrics, built once per birth (not per data message). */
const lookups = new WeakMap<readonly MetricDef[], { byAlias: Map<number, MetricDef>; byName: Map<string, MetricDef> }>()
function lookupOf(defs: readonly MetricDef[]): { byAlias: Map<number, MetricDef>; byName: Map<string, MetricDef> } {
  let l = lookups.get(defs)
  if (l === undefined) {
    l = { byAlias: new Map(), byName: new Map() }
    for (const d of defs) {
      if (d.alias !== undefined) l.byAlias.set(d.alias, d)
      l.byName.set(d.name, d)
    }
    lookups.set(defs, l)
  }
  return l
}

function hasSensors(defs: readonly MetricDef[]): boolean {
  return defs.some((d) => d.sensor !== null)
}

function tsOf(payload: SparkplugPayload, receivedAt: number): number {
  const ts = payload.timestamp
  return ts !== undefined && ts >= MIN_TS && ts <= receivedAt + MAX_FUTURE_MS ? ts : receivedAt
}

function isOfflineState(bytes: Uint8Array): boolean {
  try {
    const v = JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown
    return typeof v === 'object' && v !== null && (v as { online?: unknown }).online === false
  } catch {
    return false
  }
}

/** Sparkplug 3.0 host STATE payload. */
function statePayload(online: boolean, timestamp: number): Buffer {
  return Buffer.from(JSON.stringify({ online, timestamp }))
}

/** An id as a name segment: "/" → ".", runs of other characters → "_" (dropped at the ends). */
export function segmentSafe(id: string): string {
  return id
    .replace(/\//g, '.')
    .replace(/^[^A-Za-z0-9_.-]+|[^A-Za-z0-9_.-]+$/g, '')
    .replace(/[^A-Za-z0-9_.-]+/g, '_')
}
