// What the publisher sends, whatever the payload format: the plant's JSON messages as they are,
// or the Sparkplug B edge nodes built on the same plant (sparkplug-edge.ts). Both measure pace
// and length in plant samples, so one seed, rate and count give the same event time either way.
import type { BadKind } from './bad-payloads.js'
import type { Plant } from './plant.js'

export const PAYLOAD_FORMATS = ['json', 'sparkplug'] as const
export type PayloadFormat = (typeof PAYLOAD_FORMATS)[number]

/** One MQTT message, with what it carries. */
export interface OutMessage {
  topic: string
  payload: Buffer
  /** 'reading': carries sensor values; 'control': a Sparkplug birth or death without any; else a malformed message of that kind. */
  kind: 'reading' | 'control' | BadKind
  /** Event time of the samples in it (of the run's present for a control message). */
  ts: number
  /** Plant samples it stands for (readings and malformed ones): the unit of `ratePerS` and `count`. */
  samples: number
  /** Sensor values in it: what the gateway turns into readings (a Sparkplug birth's values included). */
  readings: number
  /** The connection that publishes it (a `SourceConnection.id`). */
  connection: string
}

export interface SourceConnection {
  /** '' for the one JSON connection; the edge node id in Sparkplug mode (it suffixes the client id). */
  readonly id: string
  /** The connection's MQTT will (QoS1, not retained), if it has one. */
  readonly will?: { topic: string; payload: Buffer }
  /** Topics to subscribe to at QoS1 (Sparkplug NCMD). */
  readonly subscriptions: readonly string[]
}

/** Sparkplug counts for the summary: messages handed to the client. */
export interface SparkplugSummary {
  group: string
  edgeNodes: number
  devices: number
  nbirths: number
  dbirths: number
  ddeaths: number
  ndeaths: number
  /** NCMD `Node Control/Rebirth` requests answered with a new NBIRTH and DBIRTHs. */
  rebirths: number
  /** NBIRTHs sent because a connection came back (each with the next bdSeq). */
  reconnectBirths: number
}

export interface MessageSource {
  readonly format: PayloadFormat
  readonly connections: readonly SourceConnection[]
  /** A message is owed now that costs no samples (a birth): it goes ahead of the pacing. */
  hasControl(): boolean
  /** The next message: an owed control message first, else one of at most `maxSamples` (>= 1) samples. */
  next(maxSamples: number): OutMessage
  /** The connection is up and subscribed (`reconnect`: not for the first time). */
  connected(id: string, reconnect: boolean): void
  /** The connection is gone; returns the will the next connect must carry, when it has one. */
  disconnected(id: string): SourceConnection['will']
  /** A message arrived on a subscription; true when it owes messages now. */
  receive(id: string, topic: string, payload: Buffer): boolean
  /** What to send at a clean end, after everything else (Sparkplug deaths). */
  end(): OutMessage[]
  sparkplug(): SparkplugSummary | undefined
}

/** The plant's messages as they are: one MQTT message per sample, one connection, no will. */
export function createJsonSource(plant: Plant): MessageSource {
  return {
    format: 'json',
    connections: [{ id: '', subscriptions: [] }],
    hasControl: () => false,
    next() {
      const m = plant.next()
      return { topic: m.topic, payload: m.payload, kind: m.kind, ts: m.ts, samples: 1, readings: m.kind === 'reading' ? 1 : 0, connection: '' }
    },
    connected() {},
    disconnected: () => undefined,
    receive: () => false,
    end: () => [],
    sparkplug: () => undefined,
  }
}
