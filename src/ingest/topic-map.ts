// Maps an MQTT topic to site/line/machine/sensor using the configured subscriptions. Topic
// segments are untrusted: a mapped segment that is not [A-Za-z0-9_.-]{1,64} is rejected.
import { SEGMENT_RE, type SubscriptionConfig } from '../config/schema.js'
import type { DeepReadonly } from '../util/deep-freeze.js'

export interface SensorId {
  site: string
  line: string
  machine: string
  sensor: string
}

export type TopicMatch =
  | { ok: true; id: SensorId; format: SubscriptionConfig['format'] }
  | { ok: false; reason: 'unmapped_topic' | 'bad_topic_segment'; detail: string }

type Field = keyof SensorId

interface CompiledSubscription {
  filter: string[]
  /** For each segment: the field it fills, or null (a literal, or an ignored "+"). */
  fields: (Field | null)[]
  format: SubscriptionConfig['format']
}

export type TopicMapper = (topic: string) => TopicMatch

export function createTopicMapper(subscriptions: DeepReadonly<SubscriptionConfig[]>, site: string): TopicMapper {
  const compiled: CompiledSubscription[] = subscriptions.map((s) => ({
    filter: s.filter.split('/'),
    fields: s.pattern.split('/').map((seg) => {
      const m = /^\{(site|line|machine|sensor)\}$/.exec(seg)
      return m ? (m[1] as Field) : null
    }),
    format: s.format,
  }))

  return (topic) => {
    const segments = topic.split('/')
    for (const sub of compiled) {
      if (!matchesFilter(sub.filter, segments)) continue
      const id: SensorId = { site, line: '', machine: '', sensor: '' }
      for (let i = 0; i < segments.length; i++) {
        const field = sub.fields[i]
        if (field === null || field === undefined) continue
        const value = segments[i] ?? ''
        if (!SEGMENT_RE.test(value)) {
          return { ok: false, reason: 'bad_topic_segment', detail: `${field} segment ${describeSegment(value)} is not 1–64 of [A-Za-z0-9_.-]` }
        }
        id[field] = value
      }
      return { ok: true, id, format: sub.format }
    }
    return { ok: false, reason: 'unmapped_topic', detail: 'the topic matches no configured subscription pattern' }
  }
}

function matchesFilter(filter: string[], segments: string[]): boolean {
  if (filter.length !== segments.length) return false
  for (let i = 0; i < filter.length; i++) {
    const f = filter[i]
    if (f !== '+' && f !== segments[i]) return false
  }
  return true
}

/** A short, printable rendering of an untrusted segment for a log/quarantine detail. */
function describeSegment(value: string): string {
  const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value
  return JSON.stringify(shown).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
