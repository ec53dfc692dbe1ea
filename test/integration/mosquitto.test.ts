// mosquitto as the scripts start it: MQTT 5, QoS1 both ways, and a persistent session that
// keeps far more than mosquitto's default 1000 queued messages for an offline subscriber.
import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { secureRandom, services } from '../helpers/env.js'
import { createTeardown } from '../helpers/teardown.js'
import { waitFor } from '../helpers/wait-for.js'

const teardown = createTeardown()
afterEach(() => teardown.run())

async function connect(clientId: string, clean: boolean): Promise<MqttClient> {
  const client = await mqtt.connectAsync(services.mqttUrl, {
    protocolVersion: 5,
    clientId,
    clean,
    properties: { sessionExpiryInterval: clean ? 0 : 300 },
    reconnectPeriod: 0,
  })
  teardown.add(`end ${clientId}`, () => client.endAsync(true))
  return client
}

describe('mosquitto (MQTT 5, QoS1)', () => {
  it('delivers QoS1 messages in order with their payloads', async () => {
    const topic = `test/${secureRandom()}/line1/m1/temp`
    const sub = await connect(`sub-${secureRandom()}`, true)
    const received: { payload: string; qos: number }[] = []
    sub.on('message', (_t, payload, packet) => received.push({ payload: payload.toString(), qos: packet.qos }))
    const granted = await sub.subscribeAsync(topic, { qos: 1 })
    expect(granted[0]?.qos).toBe(1)

    const pub = await connect(`pub-${secureRandom()}`, true)
    for (let i = 0; i < 200; i++) {
      // publishAsync resolves when the broker's PUBACK arrives.
      await pub.publishAsync(topic, JSON.stringify({ value: i }), { qos: 1 })
    }
    await waitFor(() => received.length >= 200, { what: '200 messages' })
    expect(received.map((r) => JSON.parse(r.payload).value)).toEqual(Array.from({ length: 200 }, (_, i) => i))
    expect(received.every((r) => r.qos === 1)).toBe(true)
  })

  it('keeps 3,000 QoS1 messages for an offline persistent session and delivers them all on reconnect', async () => {
    const topic = `test/${secureRandom()}/+/+/+`
    const clientId = `gateway-${secureRandom()}`
    const first = await connect(clientId, false)
    await first.subscribeAsync(topic, { qos: 1 })
    await first.endAsync()

    const pub = await connect(`pub-${secureRandom()}`, true)
    const total = 3000
    await Promise.all(
      Array.from({ length: total }, (_, i) => pub.publishAsync(topic.replace('+/+/+', `l1/m${i % 7}/s${i % 5}`), String(i), { qos: 1 })),
    )

    const seen = new Set<number>()
    // Listen before connecting: queued messages arrive right after CONNACK.
    const again = mqtt.connect(services.mqttUrl, {
      protocolVersion: 5,
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: 300 },
      reconnectPeriod: 0,
    })
    teardown.add('end again', () => again.endAsync(true))
    again.on('message', (_t, payload) => seen.add(Number(payload.toString())))
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      again.once('connect', resolve)
      again.once('error', reject)
    })
    expect(connack.sessionPresent).toBe(true)
    // Wait until all arrived or nothing new came for 3 s (mosquitto's default
    // max_queued_messages of 1000 would silently drop the rest).
    let lastSize = -1
    let lastChange = Date.now()
    await waitFor(
      () => {
        if (seen.size !== lastSize) {
          lastSize = seen.size
          lastChange = Date.now()
        }
        return seen.size >= total || Date.now() - lastChange > 3000
      },
      { timeoutMs: 60_000, what: `${total} queued messages` },
    )
    expect(seen.size).toBe(total)
    expect(Math.min(...seen)).toBe(0)
    expect(Math.max(...seen)).toBe(total - 1)
  })
})
