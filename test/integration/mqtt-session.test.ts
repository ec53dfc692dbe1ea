// A resumed persistent session follows the config: filters added since the last start are
// subscribed, removed ones unsubscribed (real mosquitto, real journal). Without this, turning
// on Sparkplug B (or adding a subscription) on a box would do nothing until the broker's
// session expired.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { afterAll, describe, expect, it } from 'vitest'
import { createJournal, type Journal } from '../../src/ingest/journal.js'
import { createMqttSubscriber, type MqttSubscriber } from '../../src/ingest/mqtt-subscriber.js'
import { createMessageParser } from '../../src/ingest/parse-message.js'
import { createSubscriptionStore } from '../../src/ingest/session-store.js'
import { createTopicMapper } from '../../src/ingest/topic-map.js'
import { silentLogger } from '../../src/log.js'
import { systemClock } from '../../src/util/clock.js'
import { secureRandom, services } from '../helpers/env.js'
import { waitFor } from '../helpers/wait-for.js'

const dir = mkdtempSync(join(tmpdir(), 'shiftscribe-session-'))
const id = secureRandom()
const clientId = `session-${id}`
let journal: Journal | undefined
afterAll(async () => {
  journal?.close()
  // Drop the broker's session for this client id.
  const c = await mqtt.connectAsync(services.mqttUrl, { protocolVersion: 5, clientId, clean: true, properties: { sessionExpiryInterval: 0 } })
  await c.endAsync()
  rmSync(dir, { recursive: true, force: true })
})

function subscriber(prefixes: string[]): MqttSubscriber {
  const subs = prefixes.map((p) => ({ filter: `${p}/+/+/+`, pattern: `${p}/{line}/{machine}/{sensor}`, format: 'json' as const }))
  return createMqttSubscriber({
    settings: { url: services.mqttUrl, clientId, keepaliveS: 30, sessionExpiryS: 600, reconnectMinMs: 200, reconnectMaxMs: 1000, filters: subs.map((s) => s.filter) },
    parse: createMessageParser({ mapTopic: createTopicMapper(subs, 'site'), maxPayloadBytes: 65536, maxReadings: 10 }),
    journal: journal!,
    subscriptions: createSubscriptionStore(journal!.database(), clientId),
    log: silentLogger(),
    clock: systemClock,
  })
}

describe('a resumed MQTT session follows the configured filters', () => {
  it('subscribes filters added since the last start and unsubscribes removed ones', async () => {
    journal = createJournal({ file: join(dir, 'journal.db'), synchronous: 'normal', maxBytes: 1 << 20, whenFull: 'block', log: silentLogger() })
    const a = `a-${id}`
    const b = `b-${id}`
    const first = subscriber([a])
    await first.start()
    // Recorded once the broker granted the subscriptions.
    await waitFor(() => createSubscriptionStore(journal!.database(), clientId).get() !== undefined, { what: 'first subscriptions recorded' })
    await first.stop()

    // Restart with the config changed: a removed, b added. The broker still has the session (with a).
    const second = subscriber([b])
    await second.start()
    await waitFor(() => second.connected(), { what: 'connected' })
    const pub = await mqtt.connectAsync(services.mqttUrl, { protocolVersion: 5, clientId: `pub-${id}`, clean: true })
    // Give the SUBSCRIBE/UNSUBSCRIBE a moment to reach the broker before publishing.
    await new Promise((r) => setTimeout(r, 300))
    await pub.publishAsync(`${a}/l1/m1/s1`, JSON.stringify({ value: 1 }), { qos: 1 })
    await pub.publishAsync(`${b}/l1/m1/s1`, JSON.stringify({ value: 2 }), { qos: 1 })
    await pub.endAsync()
    await waitFor(() => journal!.ledger().received >= 1, { what: 'a reading journaled', timeoutMs: 10_000 })
    await new Promise((r) => setTimeout(r, 500))
    await second.stop()
    const records = journal.readBatch(0, 10, 1 << 20).map((r) => JSON.parse(r.value.toString()) as { mqttTopic: string; value: number })
    expect(records.map((r) => [r.mqttTopic, r.value])).toEqual([[`${b}/l1/m1/s1`, 2]])
    expect(createSubscriptionStore(journal.database(), clientId).get()).toEqual([`${b}/+/+/+`])
  })
})
