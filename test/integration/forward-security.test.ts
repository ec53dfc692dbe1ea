// The forwarder against the real central broker's TLS and SASL listeners: a wrong password, an
// untrusted CA and a wrong host name each give a clear error in the stage's health while it
// keeps running; fixing the password file or the CA file lets it forward without a restart;
// mutual TLS with a client certificate works.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKafkaBus } from '../../src/bus/kafka-bus.js'
import type { Config } from '../../src/config/load-config.js'
import { centralSecurity } from '../../src/forward/central-client.js'
import { createForwarder, type Forwarder } from '../../src/forward/forwarder.js'
import { silentLogger } from '../../src/log.js'
import { systemClock } from '../../src/util/clock.js'
import { secureRandom, services } from '../helpers/env.js'
import { waitFor } from '../helpers/wait-for.js'

const tls = services.kafkaCentralTls
let dir: string
const running: Forwarder[] = []

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shiftscribe-forward-security-'))
})

afterAll(async () => {
  for (const f of running) await f.stop()
  rmSync(dir, { recursive: true, force: true })
})

/** A local topic with three messages, and a forwarder of it to a fresh central topic. */
async function setup(central: Config['kafka']['central']): Promise<{ forwarder: Forwarder; target: string }> {
  const id = secureRandom()
  const source = `fwdsec.${id}.narratives`
  const target = `fwdsec.${id}.summaries`
  const kafka = new Kafka({ clientId: 'fwdsec', brokers: [...services.kafkaLocal], logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: source, numPartitions: 1 }], waitForLeaders: true })
  await admin.disconnect()
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic: source, messages: [0, 1, 2].map((i) => ({ key: 'plant1/site', value: JSON.stringify({ v: 1, id: `n${i}` }) })) })
  await producer.disconnect()
  const forwarder = createForwarder({
    site: 'plant1',
    gatewayId: 'gw',
    local: createKafkaBus({ brokers: services.kafkaLocal, clientId: 'fwdsec-local', log: silentLogger() }),
    connectCentral: () => createKafkaBus({ brokers: central.brokers, clientId: 'fwdsec', log: silentLogger(), retries: 0, connectionTimeoutMs: 3000, ...centralSecurity(central) }),
    centralTopics: [{ topic: target, partitions: 1, replicationFactor: 1 }],
    routes: [{ name: 'narratives', source: { topic: source, partitions: 1, replicationFactor: 1 }, target }],
    groupId: `fwdsec-${id}`,
    settings: { batchMaxMessages: 100, maxBytesPerS: 0, retryMinMs: 100, retryMaxMs: 500 },
    log: silentLogger(),
    clock: systemClock,
  })
  running.push(forwarder)
  await forwarder.start()
  return { forwarder, target }
}

const central = (over: Partial<Config['kafka']['central']>): Config['kafka']['central'] =>
  ({
    enabled: true,
    brokers: services.kafkaCentralSaslSsl,
    clientId: 'fwdsec',
    topics: { summaries: 'x', anomalies: 'y', kpis: 'z' },
    createTopics: true,
    partitions: 1,
    replicationFactor: 1,
    ...over,
  }) as Config['kafka']['central']

const forwarded = (f: Forwarder) => f.status().routes['narratives']?.forwarded ?? 0
const failingWith = async (f: Forwarder, pattern: RegExp) => {
  await waitFor(() => !f.health().ok && pattern.test(f.health().detail), { timeoutMs: 30_000, intervalMs: 100, what: `health to say ${pattern}` })
  expect(forwarded(f)).toBe(0)
}

describe('forwarder security (real central broker)', () => {
  it('reports a wrong SCRAM password clearly and forwards once the password file is fixed, without a restart', async () => {
    const passwordFile = join(dir, 'wrong.password')
    writeFileSync(passwordFile, 'not-the-password')
    const { forwarder } = await setup(central({ tls: { caFile: tls.caFile }, sasl: { mechanism: 'scram-sha-256', username: tls.username, passwordFile } }))
    await failingWith(forwarder, /rejected the SASL credentials/)
    copyFileSync(tls.passwordFile, passwordFile)
    await waitFor(() => forwarded(forwarder) === 3, { timeoutMs: 30_000, intervalMs: 100, what: 'forwarding after the fix' })
    expect(forwarder.health().ok).toBe(true)
  })

  it('reports a CA that did not sign the broker certificate, and forwards once the CA file is fixed', async () => {
    const caFile = join(dir, 'ca.pem')
    copyFileSync(tls.untrustedCaFile, caFile)
    const { forwarder } = await setup(central({ tls: { caFile }, sasl: { mechanism: 'plain', username: tls.username, passwordFile: tls.passwordFile } }))
    await failingWith(forwarder, /not signed by a trusted CA.*caFile/)
    copyFileSync(tls.caFile, caFile)
    await waitFor(() => forwarded(forwarder) === 3, { timeoutMs: 30_000, intervalMs: 100, what: 'forwarding after the fix' })
  })

  it('reports a broker certificate that does not carry the expected host name', async () => {
    const { forwarder } = await setup(central({ tls: { caFile: tls.caFile, servername: 'not-the-broker.example' }, sasl: { mechanism: 'scram-sha-512', username: tls.username, passwordFile: tls.passwordFile } }))
    await failingWith(forwarder, /does not carry the name/)
  })

  it('forwards over mutual TLS with a client certificate', async () => {
    const { forwarder } = await setup(central({ brokers: services.kafkaCentralMtls, tls: { caFile: tls.caFile, certFile: tls.clientCertFile, keyFile: tls.clientKeyFile } }))
    await waitFor(() => forwarded(forwarder) === 3, { timeoutMs: 30_000, intervalMs: 100, what: 'forwarding over mTLS' })
  })
})
