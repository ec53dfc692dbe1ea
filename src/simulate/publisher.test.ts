import type { IClientOptions } from 'mqtt'
import sparkplug from 'sparkplug-payload'
import { describe, expect, it } from 'vitest'
import type { Clock } from '../util/clock.js'
import { BAD_KINDS } from './bad-payloads.js'
import { createPlant, type PlantOptions } from './plant.js'
import { publishSimulation, type PublishClient, type PublishProgress, type PublishSimulationOptions } from './publisher.js'
import { SENSOR_NAMES } from './sensors.js'
import type { AnomalyTruth } from './truth.js'

/** A clock whose time only moves when the test says so. */
function fakeClock(start = 1_000_000) {
  let now = start
  let seq = 0
  const timers = new Map<number, { at: number; fn: () => void }>()
  const clock: Clock = {
    now: () => now,
    setTimeout(fn, ms) {
      const id = ++seq
      timers.set(id, { at: now + Math.max(0, ms), fn })
      return id
    },
    clearTimeout(handle) {
      timers.delete(handle as number)
    },
  }
  /** Moves time forward, firing due timers in order (timers set while firing included). */
  const advance = (ms: number): void => {
    const end = now + ms
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined
      for (const entry of timers) if (entry[1].at <= end && (next === undefined || entry[1].at < next[1].at)) next = entry
      if (next === undefined) break
      timers.delete(next[0])
      now = Math.max(now, next[1].at)
      next[1].fn()
    }
    now = end
  }
  /** The event loop was blocked for `ms`: time jumps, then only the timers already due fire. */
  const stall = (ms: number): void => {
    now += ms
    const due = [...timers].filter(([, t]) => t.at <= now).sort((a, b) => a[1].at - b[1].at)
    for (const [id, t] of due) {
      timers.delete(id)
      t.fn()
    }
  }
  /** Advances in steps like a real event loop would. */
  const run = (ms: number, stepMs = 10): void => {
    for (let t = 0; t < ms; t += stepMs) advance(Math.min(stepMs, ms - t))
  }
  return { clock, advance, stall, run, pending: () => timers.size }
}

interface Sent {
  topic: string
  payload: Buffer
  cb: (err?: Error) => void
}

/** Stands in for mqtt.js: records publishes; the test decides when PUBACKs (or errors) come. */
function fakeClient() {
  const listeners = new Map<string, ((...args: unknown[]) => void)[]>()
  const unacked: Sent[] = []
  const all: Sent[] = []
  let endedWith: boolean | undefined
  const subscriptions: string[] = []
  const client: PublishClient & { connected: boolean } = {
    connected: true,
    publish(topic, payload, _opts, cb) {
      const s = { topic, payload, cb }
      unacked.push(s)
      all.push(s)
      return client
    },
    async subscribeAsync(topics) {
      subscriptions.push(...topics)
    },
    on(event: string, listener: (...args: never[]) => void) {
      listeners.set(event, [...(listeners.get(event) ?? []), listener as (...args: unknown[]) => void])
      return client
    },
    async endAsync(force?: boolean) {
      endedWith = force ?? false
    },
  }
  const emit = (event: string, ...args: unknown[]) => {
    for (const l of listeners.get(event) ?? []) l(...args)
  }
  return {
    client,
    all,
    subscriptions,
    unacked: () => unacked.length,
    ack(n = unacked.length) {
      for (const s of unacked.splice(0, n)) s.cb()
    },
    fail(n: number, err = new Error('Publish error: Not authorized')) {
      for (const s of unacked.splice(0, n)) s.cb(err)
    },
    emit,
    endedWith: () => endedWith,
  }
}

const plantOptions: PlantOptions = { seed: 1, startTs: Date.UTC(2025, 0, 6, 6), intervalMs: 1000, lines: 1, machinesPerLine: 2 }
const flush = () => new Promise<void>((r) => setImmediate(r))

async function start(extra: Partial<PublishSimulationOptions>, plant = createPlant(plantOptions)) {
  const fake = fakeClient()
  const time = fakeClock()
  const progress: PublishProgress[] = []
  const result = publishSimulation({
    plant,
    url: 'mqtt://fake',
    connect: async () => fake.client,
    clock: time.clock,
    ratePerS: 1000,
    onProgress: (p) => progress.push(p),
    ...extra,
  })
  await flush() // connect resolves
  return { fake, time, result, progress }
}

describe('publishSimulation: pacing', () => {
  it('sends at the target rate on the clock, not faster', async () => {
    const { fake, time, result } = await start({ ratePerS: 1000, window: 10_000, count: 5000 })
    time.run(1000)
    expect(fake.all.length).toBe(1000)
    fake.ack()
    time.run(500)
    expect(fake.all.length).toBe(1500)
    for (let i = 0; i < 400; i++) {
      time.run(10)
      fake.ack()
    }
    const summary = await result
    expect(summary).toMatchObject({ sent: 5000, published: 5000, stoppedBy: 'count', unacked: 0 })
    expect(summary.wallSeconds).toBeCloseTo(5, 1)
    expect(summary.ratePerS).toBeGreaterThan(990)
    expect(summary.ratePerS).toBeLessThan(1010)
  })

  it('does not burst after a stall: at most 100 ms worth of tokens are kept', async () => {
    const { fake, time } = await start({ ratePerS: 1000, window: 10_000 })
    time.run(100)
    expect(fake.all.length).toBe(100)
    time.stall(5000) // the event loop was blocked for 5 s
    expect(fake.all.length).toBe(200)
    time.run(1000)
    expect(fake.all.length).toBe(1200)
  })

  it('keeps at most `window` messages unacknowledged and refills as PUBACKs arrive', async () => {
    const { fake, time } = await start({ ratePerS: 100_000, window: 50 })
    time.run(100)
    expect(fake.all.length).toBe(50)
    fake.ack(20)
    time.run(10)
    expect(fake.all.length).toBe(70)
    expect(fake.unacked()).toBe(50)
  })

  it('pauses while the client is offline', async () => {
    const { fake, time } = await start({ ratePerS: 1000, window: 10_000 })
    time.run(100)
    fake.client.connected = false
    time.run(1000)
    expect(fake.all.length).toBe(100)
    fake.client.connected = true
    time.run(100)
    // the offline second is not paid back: at most 100 ms worth of burst on top of the rate
    expect(fake.all.length).toBeGreaterThanOrEqual(280)
    expect(fake.all.length).toBeLessThanOrEqual(300)
  })

  it('stops after durationS of wall time', async () => {
    const { fake, time, result } = await start({ ratePerS: 200, durationS: 2, window: 10_000 })
    time.run(2500)
    fake.ack()
    time.run(10)
    const summary = await result
    expect(summary.stoppedBy).toBe('duration')
    expect(summary.sent).toBeGreaterThanOrEqual(398)
    expect(summary.sent).toBeLessThanOrEqual(400)
    expect(summary.published).toBe(summary.sent)
  })
})

describe('publishSimulation: accounting', () => {
  it('counts a message as published only on its PUBACK, split into good and bad by kind', async () => {
    const plant = createPlant({ ...plantOptions, badRatio: 0.3 })
    const { fake, time, result } = await start({ ratePerS: 100_000, window: 500, count: 3000 }, plant)
    time.run(20)
    expect(fake.all.length).toBe(500)
    fake.ack(200)
    time.run(20)
    expect(fake.all.length).toBe(700)
    fake.ack(300) // the first 500 are acked
    time.run(20)
    expect(fake.all.length).toBe(1000)
    for (let i = 0; i < 10; i++) {
      time.run(20)
      fake.ack()
    }
    const summary = await result
    // Replay the same plant to know what each sent message was.
    const replay = createPlant({ ...plantOptions, badRatio: 0.3 })
    const expected = Array.from({ length: 3000 }, () => replay.next())
    expect(fake.all.map((s) => s.topic)).toEqual(expected.map((m) => m.topic))
    const expectedByKind = Object.fromEntries(BAD_KINDS.map((k) => [k, expected.filter((m) => m.kind === k).length]))
    expect(summary.published).toBe(3000)
    expect(summary.good).toBe(expected.filter((m) => m.kind === 'reading').length)
    expect(summary.good + summary.bad).toBe(3000)
    expect(summary.badByKind).toEqual(expectedByKind)
    expect(summary.bad).toBeGreaterThan(750)
    for (const kind of BAD_KINDS) expect(summary.badByKind[kind]).toBeGreaterThan(30)
  })

  it('counts each message once across a reconnect where mqtt.js resends and the broker re-acks', async () => {
    const { fake, time, result } = await start({ ratePerS: 100_000, window: 300, count: 1000 })
    expect(fake.all).toHaveLength(0)
    time.run(20)
    fake.ack(100)
    expect(fake.unacked()).toBe(200)
    // The broker drops the connection: 200 messages are without PUBACK.
    fake.client.connected = false
    fake.emit('offline')
    fake.emit('close')
    time.run(500)
    expect(fake.all.length).toBe(300) // paused while offline
    // mqtt.js reconnects and resends the 200 from its outgoing store; each gets one PUBACK…
    fake.client.connected = true
    fake.emit('connect')
    const resent = fake.all.slice(100, 300)
    fake.ack(200)
    // …and a confused broker acks some of them a second time: they must not count twice.
    for (const s of resent.slice(0, 50)) s.cb()
    for (let i = 0; i < 10; i++) {
      time.run(20)
      if (fake.all.length < 1000) fake.ack()
    }
    // All sent; the last batch waits for PUBACKs, and one of them never comes.
    const waiting = fake.unacked()
    expect(waiting).toBeGreaterThan(1)
    fake.ack(waiting - 1)
    time.run(31_000, 1000)
    const summary = await result
    expect(summary).toMatchObject({ sent: 1000, published: 999, good: 999, failed: 0, unacked: 1, reconnects: 1 })
  })

  it('counts broker rejections as failed, and reports what is still unacked after the drain timeout', async () => {
    const { fake, time, result } = await start({ ratePerS: 100_000, window: 1000, count: 100, drainTimeoutMs: 2000 })
    time.run(20)
    fake.ack(60)
    fake.fail(10)
    time.run(2500) // 30 never get a PUBACK
    const summary = await result
    expect(summary).toMatchObject({ sent: 100, published: 60, failed: 10, unacked: 30, stoppedBy: 'count' })
    expect(fake.endedWith()).toBe(true) // closes at once rather than wait for them
    fake.ack() // late PUBACKs after the summary do not change it
    expect(summary.published).toBe(60)
  })

  it('stops on the abort signal, drains the window, and ends the client gracefully', async () => {
    const controller = new AbortController()
    const { fake, time, result, progress } = await start({ ratePerS: 1000, window: 10_000, signal: controller.signal, progressIntervalMs: 1000 })
    time.run(1000)
    fake.ack()
    time.run(1000)
    fake.ack(500)
    controller.abort()
    time.run(10)
    expect(fake.all.length).toBe(2000)
    fake.ack()
    const summary = await result
    expect(summary).toMatchObject({ stoppedBy: 'signal', published: 2000, unacked: 0 })
    expect(fake.endedWith()).toBe(false)
    expect(time.pending()).toBe(0) // no timer left behind
    expect(progress.filter((p) => !p.final).map((p) => [p.published, p.ratePerS])).toEqual([
      [0, 0],
      [1000, 1000],
    ])
    expect(progress.at(-1)).toMatchObject({ final: true, published: 2000, inFlight: 0 })
  })

  it('hands each anomaly to onTruth as its start is reached, and reports the event-time span', async () => {
    const options: PlantOptions = { ...plantOptions, intervalMs: 10_000, anomalies: { mode: 'count', count: 6, spanMs: 3_600_000 } }
    const plant = createPlant(options)
    const truth: AnomalyTruth[] = []
    const { fake, time, result } = await start({ ratePerS: 100_000, window: 5000, count: 14 * 360, onTruth: (t) => truth.push(t) }, plant)
    for (let i = 0; i < 20; i++) {
      time.run(10)
      fake.ack()
    }
    const summary = await result
    expect(truth.length).toBe(summary.anomalies)
    expect(truth.length).toBeGreaterThanOrEqual(5)
    expect(summary.eventStartTs).toBe(plantOptions.startTs)
    const replay = createPlant(options)
    const lastTs = Array.from({ length: 14 * 360 }, () => replay.next().ts).at(-1)
    expect(summary.eventEndTs).toBe(lastTs)
    expect(lastTs).toBeGreaterThanOrEqual(plantOptions.startTs + 3_590_000)
    expect(summary.eventEnd).toBe(new Date(summary.eventEndTs).toISOString())
  })

  it('rejects a bad window or rate before connecting', async () => {
    const plant = createPlant(plantOptions)
    let connected = false
    const connect = async () => {
      connected = true
      return fakeClient().client
    }
    await expect(publishSimulation({ plant, url: 'x', connect, ratePerS: 0 })).rejects.toThrow(/ratePerS/)
    await expect(publishSimulation({ plant, url: 'x', connect, ratePerS: 10, window: 0 })).rejects.toThrow(/window/)
    expect(connected).toBe(false)
  })
})

const tahu = sparkplug.get('spBv1.0')!
/** Tahu gives 64-bit fields as Long. */
const num = (x: unknown): number => (typeof x === 'number' ? x : (x as { toNumber(): number }).toNumber())

/** One fake client per connect, with the options it was connected with. */
function fakeBroker() {
  const conns: { options: IClientOptions; fake: ReturnType<typeof fakeClient> }[] = []
  const connect = async (_url: string, options: IClientOptions) => {
    const fake = fakeClient()
    conns.push({ options, fake })
    return fake.client
  }
  const byClientId = (suffix: string) => {
    const c = conns.find((x) => x.options.clientId?.endsWith(suffix))
    if (c === undefined) throw new Error(`no connection ${suffix}`)
    return c
  }
  const ackAll = () => {
    for (const c of conns) c.fake.ack()
  }
  return { conns, connect, byClientId, ackAll }
}

async function startSparkplug(extra: Partial<PublishSimulationOptions>, plant = createPlant(plantOptions)) {
  const broker = fakeBroker()
  const time = fakeClock()
  const result = publishSimulation({
    plant,
    url: 'mqtt://fake',
    connect: broker.connect,
    mqttOptions: { clientId: 'sim' },
    sparkplug: { group: 'plant' },
    clock: time.clock,
    ratePerS: 1000,
    window: 10_000,
    ...extra,
  })
  await flush()
  await flush()
  return { broker, time, result }
}

function decoded(sent: { topic: string; payload: Buffer }) {
  const [, , type, edge, device] = sent.topic.split('/')
  const p = tahu.decodePayload(sent.payload)
  return { type, edge, device, seq: p.seq == null ? undefined : num(p.seq), metrics: p.metrics ?? [], topic: sent.topic }
}

describe('publishSimulation: Sparkplug B', () => {
  const twoLines: PlantOptions = { ...plantOptions, lines: 2 }

  it('connects once per line with its NDEATH as QoS1 will, subscribes to its NCMD, and sends births before data', async () => {
    const { broker, time, result } = await startSparkplug({ count: 700 }, createPlant(twoLines))
    expect(broker.conns.map((c) => c.options.clientId)).toEqual(['sim-line1', 'sim-line2'])
    for (const [i, c] of broker.conns.entries()) {
      expect(c.options).toMatchObject({ protocolVersion: 5, clean: true, will: { topic: `spBv1.0/plant/NDEATH/line${i + 1}`, qos: 1, retain: false } })
      const will = tahu.decodePayload(c.options.will!.payload as Buffer)
      expect(will.metrics?.map((m) => [m.name, num(m.value)])).toEqual([['bdSeq', 0]])
      expect(c.fake.subscriptions).toEqual([`spBv1.0/plant/NCMD/line${i + 1}`])
    }
    for (let i = 0; i < 100; i++) {
      time.run(10)
      broker.ackAll()
    }
    const summary = await result
    for (const [i, c] of broker.conns.entries()) {
      const msgs = c.fake.all.map(decoded)
      expect(msgs.every((m) => m.edge === `line${i + 1}`)).toBe(true)
      expect(msgs.slice(0, 3).map((m) => [m.type, m.device, m.seq])).toEqual([
        ['NBIRTH', undefined, 0],
        ['DBIRTH', 'm1', 1],
        ['DBIRTH', 'm2', 2],
      ])
      // Every DDATA alias was defined by its device's DBIRTH, with the same type.
      const defined = new Map<string, string>()
      for (const b of msgs.filter((m) => m.type === 'DBIRTH')) for (const m of b.metrics) defined.set(`${b.device}#${num(m.alias)}`, m.type)
      const data = msgs.filter((m) => m.type === 'DDATA')
      expect(data.length).toBeGreaterThan(30)
      for (const d of data) {
        for (const m of d.metrics) {
          expect(m.name).toBeUndefined()
          expect(defined.get(`${d.device}#${num(m.alias)}`)).toBe(m.type)
        }
      }
      // A clean end: a DDEATH per device, then the NDEATH with the NBIRTH's bdSeq.
      expect(msgs.slice(-3).map((m) => [m.type, m.device])).toEqual([
        ['DDEATH', 'm1'],
        ['DDEATH', 'm2'],
        ['NDEATH', undefined],
      ])
      expect(msgs.at(-1)?.metrics.map((m) => [m.name, num(m.value)])).toEqual([['bdSeq', 0]])
      expect(msgs.slice(0, -1).map((m) => m.seq)).toEqual(msgs.slice(0, -1).map((_, k) => k % 256))
    }
    // count is in samples, as in JSON: 700 samples make 100 DDATA/DBIRTH of 7.
    const all = broker.conns.flatMap((c) => c.fake.all.map(decoded))
    const values = all.filter((m) => m.type === 'DBIRTH' || m.type === 'DDATA').reduce((n, m) => n + m.metrics.filter((x) => x.value !== null).length, 0)
    expect(values).toBe(700)
    expect(summary).toMatchObject({
      format: 'sparkplug',
      stoppedBy: 'count',
      readings: 700,
      good: 700 / SENSOR_NAMES.length,
      control: 2 + 4 + 2, // NBIRTH, DDEATH, NDEATH
      bad: 0,
      badByKind: { bad_protobuf: 0 },
      published: 108,
      sent: 108,
      unacked: 0,
      sparkplug: { group: 'plant', edgeNodes: 2, devices: 4, nbirths: 2, dbirths: 4, ddeaths: 4, ndeaths: 2, rebirths: 0 },
    })
  })

  it('answers an NCMD Rebirth with NBIRTH and DBIRTHs, seq restarting at 0, and counts it', async () => {
    const { broker, time, result } = await startSparkplug({ count: 2100 }, createPlant(twoLines))
    time.run(500)
    broker.ackAll()
    const line1 = broker.byClientId('-line1').fake
    const before = line1.all.length
    const rebirth = Buffer.from(tahu.encodePayload({ timestamp: 1, metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] }))
    line1.emit('message', 'spBv1.0/plant/NCMD/line1', Buffer.from('not protobuf'))
    time.run(50)
    expect(line1.all.slice(before).map((m) => decoded(m).type)).not.toContain('NBIRTH')
    const asked = line1.all.length
    line1.emit('message', 'spBv1.0/plant/NCMD/line1', rebirth)
    for (let i = 0; i < 300; i++) {
      time.run(10)
      broker.ackAll()
    }
    const summary = await result
    const after = line1.all.slice(asked).map(decoded)
    expect(after.slice(0, 3).map((m) => [m.type, m.seq])).toEqual([
      ['NBIRTH', 0],
      ['DBIRTH', 1],
      ['DBIRTH', 2],
    ])
    expect(after[0]?.metrics.map((m) => [m.name, m.type, m.name === 'bdSeq' ? num(m.value) : m.value])).toEqual([
      ['bdSeq', 'Int64', 0],
      ['Node Control/Rebirth', 'Boolean', false],
    ])
    expect(after.slice(3, 6).map((m) => [m.type, m.seq])).toEqual([
      ['DDATA', 3],
      ['DDATA', 4],
      ['DDATA', 5],
    ])
    expect(summary.sparkplug).toMatchObject({ rebirths: 1, nbirths: 3, dbirths: 6 })
    expect(summary.readings).toBe(2100)
  })

  it('writes the same truth as JSON for the same seed and count, with bad_protobuf instead of the JSON kinds', async () => {
    const options: PlantOptions = { ...twoLines, intervalMs: 10_000, anomalies: { mode: 'count', count: 8, spanMs: 3_600_000 } }
    const run = async (format: 'json' | 'sparkplug') => {
      const truth: AnomalyTruth[] = []
      const plant = createPlant({ ...options, badRatio: 0.05, badKinds: format === 'json' ? BAD_KINDS : ['bad_protobuf'] })
      const onTruth = (t: AnomalyTruth) => truth.push(t)
      const s = format === 'json' ? await start({ ratePerS: 100_000, window: 60_000, count: 28 * 360, onTruth }, plant) : await startSparkplug({ ratePerS: 100_000, count: 28 * 360, onTruth }, plant)
      const clients = 'broker' in s ? s.broker.conns.map((c) => c.fake) : [s.fake]
      for (let i = 0; i < 20; i++) {
        s.time.run(10)
        for (const c of clients) c.ack()
      }
      return { summary: await s.result, truth }
    }
    const json = await run('json')
    const sp = await run('sparkplug')
    expect(json.truth.length).toBeGreaterThanOrEqual(6)
    expect(sp.truth).toEqual(json.truth)
    expect(sp.summary.anomalies).toBe(json.summary.anomalies)
    expect(sp.summary.eventEndTs).toBe(json.summary.eventEndTs)
    // Every sample went out as a reading or a malformed message in both formats.
    expect(sp.summary.readings + sp.summary.bad).toBe(28 * 360)
    expect(json.summary.readings + json.summary.bad).toBe(28 * 360)
    expect(sp.summary.bad).toBeGreaterThan(300)
    expect(sp.summary.badByKind).toEqual({ bad_protobuf: sp.summary.bad })
    expect(Object.keys(json.summary.badByKind).sort()).toEqual([...BAD_KINDS].sort())
    expect(json.summary).toMatchObject({ format: 'json', readings: json.summary.good, control: 0 })
    expect(json.summary.sparkplug).toBeUndefined()
  })

  it('leaves the machines online at the end with keepAliveAtEnd', async () => {
    const { broker, time, result } = await startSparkplug({ count: 70, sparkplug: { group: 'plant', keepAliveAtEnd: true } })
    time.run(100)
    broker.ackAll()
    const summary = await result
    const types = broker.conns[0]!.fake.all.map((m) => decoded(m).type)
    expect(types).not.toContain('DDEATH')
    expect(types).not.toContain('NDEATH')
    expect(summary.sparkplug).toMatchObject({ ddeaths: 0, ndeaths: 0 })
  })

  it('after a lost connection: the next CONNECT’s will carries bdSeq 1, and the NBIRTH after it too', async () => {
    const { broker, time, result } = await startSparkplug({ count: 1400 })
    time.run(300)
    broker.ackAll()
    const { fake, options } = broker.conns[0]!
    fake.client.connected = false
    fake.emit('offline')
    fake.emit('close')
    // mqtt.js reads options.will for every CONNECT, reconnects included.
    expect(tahu.decodePayload(options.will!.payload as Buffer).metrics?.map((m) => num(m.value))).toEqual([1])
    time.run(200)
    const paused = fake.all.length
    time.run(200)
    expect(fake.all.length).toBe(paused)
    fake.client.connected = true
    fake.emit('connect')
    const before = fake.all.length
    for (let i = 0; i < 300; i++) {
      time.run(10)
      broker.ackAll()
    }
    const summary = await result
    const after = fake.all.slice(before).map(decoded)
    expect(after.slice(0, 3).map((m) => [m.type, m.seq])).toEqual([
      ['NBIRTH', 0],
      ['DBIRTH', 1],
      ['DBIRTH', 2],
    ])
    expect(num(after[0]?.metrics[0]?.value)).toBe(1)
    expect(after.at(-1)).toMatchObject({ type: 'NDEATH' })
    expect(num(after.at(-1)?.metrics[0]?.value)).toBe(1)
    expect(summary).toMatchObject({ reconnects: 1, readings: 1400, sparkplug: { reconnectBirths: 1 } })
  })
})
