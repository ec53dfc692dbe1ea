// kafka-central's secured listeners as scripts/services sets them up (docs/services.md), with
// kafkajs 2.2.4 and Debian's kcat (librdkafka): SASL_SSL with PLAIN, SCRAM-SHA-256 and
// SCRAM-SHA-512 and mTLS work with hostname verification on; a wrong password, an untrusted
// CA, a wrong hostname and a missing client certificate each fail fast with a clear error.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { Kafka, logLevel, type Admin, type KafkaConfig, type SASLOptions } from 'kafkajs'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { secureRandom, services } from '../helpers/env.js'
import { createTeardown } from '../helpers/teardown.js'
import { waitFor } from '../helpers/wait-for.js'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const run = promisify(execFile)
const tls = services.kafkaCentralTls
const saslBroker = services.kafkaCentralSaslSsl[0] ?? ''
const mtlsBroker = services.kafkaCentralMtls[0] ?? ''
/** A failing case must fail within this, not after kafkajs's retries. */
const FAST_FAILURE_MS = 5_000

let ca: Buffer
let password: string
let admin: Admin
const teardown = createTeardown()
afterEach(() => teardown.run())

beforeAll(async () => {
  ca = readFileSync(tls.caFile)
  password = readFileSync(tls.passwordFile, 'utf8').trim()
  // Topics are created and deleted over the plaintext listener, as admin.
  admin = new Kafka({ clientId: `test-admin-${secureRandom()}`, brokers: [...services.kafkaCentral], logLevel: logLevel.WARN }).admin()
  await admin.connect()
})
afterAll(() => admin?.disconnect())

async function createTopic(): Promise<string> {
  const topic = `test.central-security.${secureRandom()}`
  expect(await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })).toBe(true)
  teardown.add(`delete ${topic}`, () => admin.deleteTopics({ topics: [topic] }))
  return topic
}

function sasl(mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512', pw = password): SASLOptions {
  // kafkajs's SASLOptions is a union keyed on the mechanism literal.
  return { mechanism, username: tls.username, password: pw } as SASLOptions
}

function client(config: Omit<KafkaConfig, 'clientId'>): Kafka {
  return new Kafka({ clientId: `test-${secureRandom()}`, logLevel: logLevel.NOTHING, ...config })
}

async function produce(kafka: Kafka, topic: string, values: string[]): Promise<void> {
  const producer = kafka.producer()
  await producer.connect()
  teardown.add('producer disconnect', () => producer.disconnect())
  const sent = await producer.send({ topic, acks: -1, messages: values.map((value, i) => ({ key: `k${i}`, value })) })
  expect(sent.map((r) => r.errorCode)).toEqual([0])
}

async function consume(kafka: Kafka, topic: string, count: number): Promise<string[]> {
  // A short fetch wait keeps disconnect fast on an idle topic (default 5 s).
  const consumer = kafka.consumer({ groupId: `test-group-${secureRandom()}`, maxWaitTimeInMs: 250 })
  await consumer.connect()
  teardown.add('consumer disconnect', () => consumer.disconnect())
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const seen: string[] = []
  await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value?.toString() ?? '') })
  await waitFor(() => seen.length >= count, { what: `${count} messages on ${topic}` })
  return seen
}

async function highWatermark(topic: string): Promise<string | undefined> {
  return (await admin.fetchTopicOffsets(topic))[0]?.high
}

interface CaughtError {
  name: string
  message: string
  retriable: boolean
  /** The Node.js error code of a TLS failure (kafkajs's KafkaJSConnectionError keeps it). */
  causeCode: string | undefined
  elapsedMs: number
}

/** Connects an admin with retries off and returns how it failed (fails the test if it did not). */
async function connectionError(config: Omit<KafkaConfig, 'clientId'>): Promise<CaughtError> {
  const kafka = client({ connectionTimeout: 3000, authenticationTimeout: 3000, requestTimeout: 3000, retry: { retries: 0 }, ...config })
  const probe = kafka.admin()
  const started = Date.now()
  try {
    await probe.connect()
    await probe.listTopics()
  } catch (error) {
    const e = error as Error & { retriable?: boolean; cause?: Error & { code?: string } }
    return { name: e.name, message: e.message, retriable: e.retriable ?? true, causeCode: e.cause?.code, elapsedMs: Date.now() - started }
  } finally {
    await probe.disconnect().catch(() => {})
  }
  throw new Error(`connecting to ${String(config.brokers)} succeeded but should have failed`)
}

describe('kafka-central SASL_SSL listener (kafkajs)', () => {
  it.each(['plain', 'scram-sha-256', 'scram-sha-512'] as const)('produces and consumes with %s, CA trusted and hostname verified', async (mechanism) => {
    const topic = await createTopic()
    const kafka = client({ brokers: [saslBroker], ssl: { ca }, sasl: sasl(mechanism) })
    const values = [`${mechanism}-1`, `${mechanism}-2`, `${mechanism}-3`]
    await produce(kafka, topic, values)
    expect(await highWatermark(topic)).toBe('3')
    expect((await consume(kafka, topic, 3)).sort()).toEqual(values)
  })

  it.each([
    ['scram-sha-256', /^SASL SCRAM SHA256 authentication failed: .*invalid credentials with SASL mechanism SCRAM-SHA-256/],
    ['scram-sha-512', /^SASL SCRAM SHA512 authentication failed: .*invalid credentials with SASL mechanism SCRAM-SHA-512/],
    ['plain', /^SASL PLAIN authentication failed: Authentication failed: Invalid username or password/],
  ] as const)('rejects a wrong %s password with KafkaJSSASLAuthenticationError', async (mechanism, pattern) => {
    const error = await connectionError({ brokers: [saslBroker], ssl: { ca }, sasl: sasl(mechanism, `${password}-wrong`) })
    expect(error.name).toBe('KafkaJSSASLAuthenticationError')
    expect(error.message).toMatch(pattern)
    expect(error.retriable).toBe(false)
    expect(error.elapsedMs).toBeLessThan(FAST_FAILURE_MS)
  })

  it('rejects the broker certificate when the CA given did not sign it', async () => {
    const error = await connectionError({ brokers: [saslBroker], ssl: { ca: readFileSync(tls.untrustedCaFile) }, sasl: sasl('scram-sha-256') })
    // The broker sends its own certificate only, so Node says it cannot verify the first one.
    expect(error.message).toBe('Connection error: unable to verify the first certificate')
    expect(error.causeCode).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE')
    expect(error.elapsedMs).toBeLessThan(FAST_FAILURE_MS)
  })

  it('rejects the broker certificate for a host name it was not issued for', async () => {
    const error = await connectionError({
      brokers: [saslBroker],
      ssl: { ca, servername: 'not-the-broker.example' },
      sasl: sasl('scram-sha-256'),
    })
    expect(error.message).toMatch(/^Connection error: Hostname\/IP does not match certificate's altnames: Host: not-the-broker\.example\. is not in the cert's altnames: DNS:localhost, IP Address:127\.0\.0\.1$/)
    expect(error.causeCode).toBe('ERR_TLS_CERT_ALTNAME_INVALID')
    expect(error.elapsedMs).toBeLessThan(FAST_FAILURE_MS)
  })
})

describe('kafka-central mTLS listener (kafkajs)', () => {
  it('produces with the client certificate signed by the test CA', async () => {
    const topic = await createTopic()
    const kafka = client({ brokers: [mtlsBroker], ssl: { ca, cert: readFileSync(tls.clientCertFile), key: readFileSync(tls.clientKeyFile) } })
    await produce(kafka, topic, ['mtls-1', 'mtls-2'])
    expect(await highWatermark(topic)).toBe('2')
  })

  it('rejects a client without a certificate', async () => {
    const error = await connectionError({ brokers: [mtlsBroker], ssl: { ca } })
    expect(error.message).toMatch(/^Connection error: .*alert bad certificate/)
    expect(error.causeCode).toBe('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE')
    expect(error.elapsedMs).toBeLessThan(FAST_FAILURE_MS)
  })
})

describe('kafka-central with kcat (librdkafka)', () => {
  let librdkafka: [number, number, number]

  beforeAll(async () => {
    const { stdout } = await run('kcat', ['-V']).catch((error: Error) => {
      throw new Error(`kcat is needed for this test (apt-get install kcat): ${error.message}`)
    })
    const match = /librdkafka (\d+)\.(\d+)\.(\d+)/.exec(stdout)
    if (!match) throw new Error(`no librdkafka version in kcat -V: ${stdout}`)
    librdkafka = [Number(match[1]), Number(match[2]), Number(match[3])]
  })

  const kcat = (args: string[]) => run('kcat', ['-b', saslBroker, '-X', 'security.protocol=SASL_SSL', '-X', `ssl.ca.location=${tls.caFile}`, ...args], { timeout: 30_000 })
  const consumeArgs = (topic: string) => ['-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%k=%s\\n']

  async function producedTopic(): Promise<string> {
    const topic = await createTopic()
    await produce(client({ brokers: [saslBroker], ssl: { ca }, sasl: sasl('scram-sha-512') }), topic, ['one', 'two', 'three'])
    return topic
  }

  it('consumes over SASL_SSL with PLAIN what kafkajs produced with SCRAM-SHA-512', async () => {
    const topic = await producedTopic()
    const { stdout } = await kcat(['-X', 'sasl.mechanisms=PLAIN', '-X', `sasl.username=${tls.username}`, '-X', `sasl.password=${password}`, ...consumeArgs(topic)])
    expect(stdout.trim().split('\n')).toEqual(['k0=one', 'k1=two', 'k2=three'])
  })

  // librdkafka before 2.6.1 repeats the client nonce in its SCRAM client-final-message;
  // Kafka 4.x checks the nonce strictly (RFC 5802) and rejects it as invalid credentials
  // (confluentinc/librdkafka#4895, edenhill/kcat#462). Debian 12's kcat has librdkafka 2.0.2.
  // The same user and password work with kafkajs (above) and with PLAIN.
  it('consumes over SASL_SSL with SCRAM-SHA-512 when librdkafka >= 2.6.1, else fails with the known nonce bug', async () => {
    const topic = await producedTopic()
    const args = ['-X', 'sasl.mechanisms=SCRAM-SHA-512', '-X', `sasl.username=${tls.username}`, '-X', `sasl.password=${password}`]
    const [major, minor, patch] = librdkafka
    const fixed = major > 2 || (major === 2 && (minor > 6 || (minor === 6 && patch >= 1)))
    if (fixed) {
      const { stdout } = await kcat([...args, ...consumeArgs(topic)])
      expect(stdout.trim().split('\n')).toEqual(['k0=one', 'k1=two', 'k2=three'])
    } else {
      // A metadata request gives up after -m seconds; a consumer would retry forever.
      const failure = await kcat([...args, '-L', '-t', topic, '-m', '3']).then(
        () => null,
        (error: Error & { stderr?: string }) => error.stderr ?? error.message,
      )
      expect(failure).toMatch(/SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512/)
    }
  })

  it('consumes over the mTLS listener with the client certificate', async () => {
    const topic = await producedTopic()
    const { stdout } = await run(
      'kcat',
      ['-b', mtlsBroker, '-X', 'security.protocol=SSL', '-X', `ssl.ca.location=${tls.caFile}`, '-X', `ssl.certificate.location=${tls.clientCertFile}`, '-X', `ssl.key.location=${tls.clientKeyFile}`, ...consumeArgs(topic)],
      { timeout: 30_000 },
    )
    expect(stdout.trim().split('\n')).toEqual(['k0=one', 'k1=two', 'k2=three'])
  })
})
