// The plant as Eclipse Sparkplug B edge nodes (spec 3.0): one edge node per line, one device per
// machine, one metric per sensor. A node's NBIRTH, DBIRTHs, DDATA and DDEATHs carry its seq (0 at
// the NBIRTH, +1 each, 255 wraps to 0); a device's first sample after its node's birth goes out
// as its DBIRTH (names, aliases, types, values), later ones as one DDATA per tick by alias.
// Malformed payloads carry no seq (a host cannot read one), so they never open a seq gap.
// Pure: the publisher does the I/O and calls back on connects, NCMDs and the end.
import sparkplug from 'sparkplug-payload'
import type { MessageSource, OutMessage, SourceConnection, SparkplugSummary } from './message-source.js'
import type { Plant, SimMessage } from './plant.js'
import { SENSOR_SPECS, type SensorName } from './sensors.js'

type Codec = NonNullable<ReturnType<typeof sparkplug.get>>
type Payload = Parameters<Codec['encodePayload']>[0]
type Metric = NonNullable<Payload['metrics']>[number]

export const SPARKPLUG_NAMESPACE = 'spBv1.0'
export const REBIRTH_METRIC = 'Node Control/Rebirth'
export const BDSEQ_METRIC = 'bdSeq'

export interface SparkplugEdgeOptions {
  plant: Plant
  /** Sparkplug group id (no "/", "+" or "#"). */
  group: string
  /** Send no DDEATH and NDEATH at the end: the machines stay online for the host. */
  keepAliveAtEnd?: boolean
}

interface Device {
  id: string
  /** Alias of the device's first sensor; the others follow in plant order. */
  aliasBase: number
  /** Has had its DBIRTH since the node's latest NBIRTH. */
  born: boolean
}

interface EdgeNode {
  id: string
  devices: Map<string, Device>
  /** Birth/death sequence of the current MQTT connection (+1 per connection). */
  bdSeq: number
  /** The seq the node's next message carries. */
  seq: number
  /** Its NBIRTH for this bdSeq went out (so an NDEATH is owed at the end). */
  alive: boolean
}

/** Sparkplug metric type of each sensor: counters are integers, the rest are measurements. */
export function sparkplugType(sensor: SensorName): 'Int64' | 'Double' {
  return SENSOR_SPECS[sensor].type === 'counter' ? 'Int64' : 'Double'
}

export function sparkplugTopic(group: string, type: string, edge: string, device?: string): string {
  return `${SPARKPLUG_NAMESPACE}/${group}/${type}/${edge}${device === undefined ? '' : `/${device}`}`
}

export function createSparkplugEdge(options: SparkplugEdgeOptions): MessageSource {
  const { plant, group } = options
  const codec = sparkplug.get(SPARKPLUG_NAMESPACE)
  if (codec === null) throw new Error(`sparkplug-payload has no ${SPARKPLUG_NAMESPACE} codec`)
  const encode = (payload: Payload): Buffer => {
    const bytes = codec.encodePayload(payload)
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }
  const sensors = plant.sensors
  const types = sensors.map(sparkplugType)

  const nodes = new Map<string, EdgeNode>()
  for (const { line, machine } of plant.machines) {
    let node = nodes.get(line)
    if (node === undefined) {
      node = { id: line, devices: new Map(), bdSeq: 0, seq: 0, alive: false }
      nodes.set(line, node)
    }
    node.devices.set(machine, { id: machine, aliasBase: node.devices.size * sensors.length + 1, born: false })
  }
  const nodeOf = (id: string): EdgeNode => {
    const node = nodes.get(id)
    if (node === undefined) throw new Error(`unknown edge node "${id}"`)
    return node
  }

  const stats: SparkplugSummary = { group, edgeNodes: nodes.size, devices: plant.machines.length, nbirths: 0, dbirths: 0, ddeaths: 0, ndeaths: 0, rebirths: 0, reconnectBirths: 0 }
  /** Births owed now; they go ahead of the data and cost no samples. */
  let control: { msg: OutMessage; node: EdgeNode }[] = []
  /** Malformed messages of a batch already taken from the plant, sent after its DDATA. */
  const ready: OutMessage[] = []

  const nextSeq = (node: EdgeNode): number => {
    const seq = node.seq
    node.seq = (seq + 1) % 256
    return seq
  }

  const ndeathPayload = (node: EdgeNode, ts?: number): Buffer =>
    encode({ ...(ts === undefined ? {} : { timestamp: ts }), metrics: [{ name: BDSEQ_METRIC, type: 'Int64', value: node.bdSeq }] })
  const will = (node: EdgeNode): { topic: string; payload: Buffer } => ({ topic: sparkplugTopic(group, 'NDEATH', node.id), payload: ndeathPayload(node) })

  /** A fresh NBIRTH (seq 0, the connection's bdSeq) owed now; every device is reborn with its next sample. */
  const oweBirth = (node: EdgeNode): void => {
    control = control.filter((c) => c.node !== node) // a birth not yet sent is replaced, never sent twice
    node.seq = 0
    for (const d of node.devices.values()) d.born = false
    const ts = plant.eventTs()
    const payload = encode({
      timestamp: ts,
      seq: nextSeq(node),
      metrics: [
        { name: BDSEQ_METRIC, type: 'Int64', value: node.bdSeq, timestamp: ts },
        { name: REBIRTH_METRIC, type: 'Boolean', value: false, timestamp: ts },
      ],
    })
    control.push({ node, msg: { topic: sparkplugTopic(group, 'NBIRTH', node.id), payload, kind: 'control', ts, samples: 0, readings: 0, connection: node.id } })
  }

  const deviceMessage = (node: EdgeNode, device: Device, batch: readonly SimMessage[]): OutMessage => {
    const ts = (batch[0] as SimMessage).ts
    const values = new Map<SensorName, number>()
    for (const m of batch) if (m.reading !== undefined) values.set(m.sensor, m.reading.value)
    let metrics: Metric[]
    let type: 'DBIRTH' | 'DDATA'
    if (!device.born) {
      // Every metric with its name and alias; one without a sample this tick is null (no reading).
      type = 'DBIRTH'
      metrics = sensors.map((s, i) => ({ name: s, alias: device.aliasBase + i, type: types[i] as Metric['type'], value: values.get(s) ?? null, timestamp: ts }))
      device.born = true
      stats.dbirths++
    } else {
      type = 'DDATA'
      metrics = []
      sensors.forEach((s, i) => {
        const value = values.get(s)
        if (value !== undefined) metrics.push({ alias: device.aliasBase + i, type: types[i] as Metric['type'], value, timestamp: ts })
      })
    }
    const payload = encode({ timestamp: ts, seq: nextSeq(node), metrics })
    return {
      topic: sparkplugTopic(group, type, node.id, device.id),
      payload,
      kind: values.size > 0 ? 'reading' : 'control',
      ts,
      samples: values.size,
      readings: values.size,
      connection: node.id,
    }
  }

  return {
    format: 'sparkplug',
    connections: [...nodes.values()].map(
      (node): SourceConnection => ({ id: node.id, will: will(node), subscriptions: [sparkplugTopic(group, 'NCMD', node.id)] }),
    ),
    hasControl: () => control.length > 0,
    next(maxSamples) {
      const owed = control.shift()
      if (owed !== undefined) {
        owed.node.alive = true
        stats.nbirths++
        return owed.msg
      }
      const bad = ready.shift()
      if (bad !== undefined) return bad
      const batch = plant.nextBatch(maxSamples)
      const first = batch[0] as SimMessage
      const node = nodeOf(first.line)
      const device = node.devices.get(first.machine)
      if (device === undefined) throw new Error(`unknown device "${first.machine}" on edge node "${node.id}"`)
      let readings = 0
      for (const m of batch) {
        if (m.reading !== undefined) readings++
        else ready.push({ topic: sparkplugTopic(group, 'DDATA', node.id, device.id), payload: m.payload, kind: m.kind, ts: m.ts, samples: 1, readings: 0, connection: node.id })
      }
      // A device is born with its next sample, even one without a single good reading.
      if (readings > 0 || !device.born) return deviceMessage(node, device, batch)
      return ready.shift() as OutMessage // the batch was all malformed, so there is one
    },
    connected(id, reconnect) {
      if (reconnect) stats.reconnectBirths++
      oweBirth(nodeOf(id))
    },
    disconnected(id) {
      const node = nodeOf(id)
      // The broker sends (or sent) the will of the lost connection; the next one is a new session.
      node.bdSeq++
      node.alive = false
      return will(node)
    },
    receive(id, topic, payload) {
      const node = nodeOf(id)
      if (topic !== sparkplugTopic(group, 'NCMD', node.id)) return false
      let metrics: readonly Metric[]
      try {
        metrics = codec.decodePayload(payload).metrics ?? []
      } catch {
        return false // not a command we can read: a real edge node ignores it too
      }
      if (!metrics.some((m) => m.name === REBIRTH_METRIC && m.value === true)) return false
      stats.rebirths++
      oweBirth(node)
      return true
    },
    end() {
      control = []
      ready.length = 0
      if (options.keepAliveAtEnd) return []
      const ts = plant.eventTs()
      const out: OutMessage[] = []
      for (const node of nodes.values()) {
        if (!node.alive) continue
        for (const device of node.devices.values()) {
          if (!device.born) continue
          device.born = false
          stats.ddeaths++
          const payload = encode({ timestamp: ts, seq: nextSeq(node) })
          out.push({ topic: sparkplugTopic(group, 'DDEATH', node.id, device.id), payload, kind: 'control', ts, samples: 0, readings: 0, connection: node.id })
        }
        // A clean DISCONNECT suppresses the will, so the node's death is said explicitly.
        node.alive = false
        stats.ndeaths++
        out.push({ topic: sparkplugTopic(group, 'NDEATH', node.id), payload: ndeathPayload(node, ts), kind: 'control', ts, samples: 0, readings: 0, connection: node.id })
      }
      return out
    },
    sparkplug: () => ({ ...stats }),
  }
}
