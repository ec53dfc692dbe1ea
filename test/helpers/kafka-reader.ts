// Reads a whole topic from the beginning (no consumer group) and keeps what it saw.
import { Kafka, logLevel } from 'kafkajs'
import { secureRandom, services } from './env.js'
import { waitFor } from './wait-for.js'

export interface ReadMessage {
  key: string
  value: string
  headers: Record<string, string>
  partition: number
  offset: string
}

export interface TopicReader {
  messages: ReadMessage[]
  /** Waits until `predicate(messages)` holds, or until no new message came for `quietMs`. */
  settle(predicate: (m: ReadMessage[]) => boolean, options?: { timeoutMs?: number; quietMs?: number }): Promise<void>
  close(): Promise<void>
}

export async function readTopic(topic: string, brokers: readonly string[] = services.kafkaLocal): Promise<TopicReader> {
  const kafka = new Kafka({ clientId: `reader-${secureRandom()}`, brokers: [...brokers], logLevel: logLevel.NOTHING })
  const consumer = kafka.consumer({ groupId: `reader-${secureRandom()}`, maxWaitTimeInMs: 200, maxBytes: 50 * 1024 * 1024 })
  await consumer.connect()
  // The gateway creates its topics at start; give a just-started one a moment.
  const admin = kafka.admin()
  await admin.connect()
  await waitFor(async () => (await admin.listTopics()).includes(topic), { timeoutMs: 30_000, intervalMs: 200, what: `topic ${topic} to exist` })
  await admin.disconnect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const messages: ReadMessage[] = []
  let lastAt = Date.now()
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        messages.push({
          key: m.key?.toString() ?? '',
          value: m.value?.toString() ?? '',
          headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)])),
          partition: batch.partition,
          offset: m.offset,
        })
      }
      lastAt = Date.now()
    },
  })
  return {
    messages,
    async settle(predicate, { timeoutMs = 120_000, quietMs = 5_000 } = {}) {
      await waitFor(() => predicate(messages) || Date.now() - lastAt > quietMs, { timeoutMs, intervalMs: 100, what: `messages on ${topic}` })
    },
    async close() {
      await consumer.disconnect()
    },
  }
}

/** Distinct readings by key + ts, and how many duplicates there were. */
export function dedupeReadings(messages: ReadMessage[]): { distinct: Map<string, ReadMessage>; duplicates: number } {
  const distinct = new Map<string, ReadMessage>()
  let duplicates = 0
  for (const m of messages) {
    const ts = (JSON.parse(m.value) as { ts: number }).ts
    const id = `${m.key}@${ts}`
    if (distinct.has(id)) duplicates++
    else distinct.set(id, m)
  }
  return { distinct, duplicates }
}
