// The question agent end to end: the gateway (ingest, aggregate, narrate with the real GGUF on
// one thread, ask) fed by the simulator. A question produced on the local questions topic is
// answered on the answers topic (key = question id, schema-valid, grounded, the number equal to
// what the state database gives); POST /api/ask needs the token; `shiftscribe ask` prints the
// answer.
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import Database from 'better-sqlite3'
import { Kafka, logLevel } from 'kafkajs'
import { afterEach, describe, expect, it } from 'vitest'
import { answerMessageSchema, type AnswerMessage } from '../../src/bus/messages.js'
import { formatNumber } from '../../src/detect/anomaly-event.js'
import { checkGrounding } from '../../src/narrate/grounding.js'
import type { Fact } from '../../src/narrate/types.js'
import { computeShiftKpis } from '../../src/shifts/kpis.js'
import { runSimulation } from '../../src/simulate/run-simulation.js'
import { freePort, repoRoot, secureRandom, services } from '../helpers/env.js'
import { gatewayFixture, startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { readTopic } from '../helpers/kafka-reader.js'
import { createTeardown } from '../helpers/teardown.js'
import { waitFor } from '../helpers/wait-for.js'

const execFileAsync = promisify(execFile)
const teardown = createTeardown()
afterEach(() => teardown.run())
const cli = join(repoRoot, 'dist', 'cli', 'index.js')

describe('ask (real model, real Kafka)', () => {
  it('answers a question from factory.questions on factory.answers, over the API with the token, and from the CLI', async () => {
    const port = await freePort()
    const token = `${secureRandom()}${secureRandom()}`
    const fixture = gatewayFixture({
      aggregate: { enabled: true },
      kafkaLocal: { partitions: 1 },
      llm: { enabled: true, threads: 1 },
      narrate: { deadlineMs: 60_000 },
      ask: { deadlineMs: 60_000 },
      top: { timeZone: 'UTC' },
      http: { enabled: true, host: '127.0.0.1', port, token },
      kafkaCentral: { enabled: true, brokers: services.kafkaCentral },
      forward: { sources: { narratives: false, anomalies: false, kpis: false, answers: true } },
    })
    let gw: GatewayProcess | undefined
    teardown.add('stop gateway', async () => {
      if (gw && gw.child.exitCode === null && gw.child.signalCode === null) await gw.term()
    })
    gw = await startGateway(fixture)
    const sim = await runSimulation({
      url: services.mqttUrl,
      prefix: fixture.prefix,
      lines: 1,
      machines: 3,
      ratePerS: 2_000,
      count: 20_000,
      speed: 60,
      seed: 11,
      startTs: Date.now() - 3_600_000,
      anomalies: { mode: 'count', count: 3 },
      progressIntervalMs: 60_000,
    })
    expect(sim.published).toBe(20_000)
    const base = `http://127.0.0.1:${port}`
    // Everything applied: the newest reading of the run is in the state database.
    // Everything applied: the journal drained and the aggregator caught up, twice in a row.
    let settled = 0
    await waitFor(
      async () => {
        const v = (await (await fetch(`${base}/api/system`)).json()) as {
          ledger: { pending: number } | null
          store: { newestTs: number | null }
          metrics: { name: string; values: { value: number }[] }[]
        }
        const lag = v.metrics.find((m) => m.name === 'shiftscribe_aggregate_lag_messages')?.values[0]?.value
        settled = v.store.newestTs !== null && lag === 0 && v.ledger?.pending === 0 ? settled + 1 : 0
        return settled >= 3
      },
      { timeoutMs: 90_000, intervalMs: 1000, what: 'every reading applied to the state database' },
    )

    // Over Kafka.
    const kafka = new Kafka({ clientId: `ask-test-${secureRandom()}`, brokers: [...services.kafkaLocal], logLevel: logLevel.NOTHING })
    const producer = kafka.producer()
    await producer.connect()
    teardown.add('producer', () => producer.disconnect())
    const questionId = `q-${secureRandom()}`
    await producer.send({
      topic: fixture.topics.questions,
      messages: [{ key: questionId, value: JSON.stringify({ v: 1, id: questionId, question: 'How many parts did line 1 make in the last 2 hours?', askedBy: 'central-team' }) }],
    })
    await producer.send({ topic: fixture.topics.questions, messages: [{ key: 'bad', value: 'not json at all' }] })
    const answers = await readTopic(fixture.topics.answers)
    teardown.add('close reader', () => answers.close())
    await answers.settle((m) => m.some((x) => x.key === questionId), { timeoutMs: 120_000, quietMs: 120_000 })
    const message = answers.messages.find((x) => x.key === questionId)
    const a = answerMessageSchema.parse(JSON.parse(message?.value ?? '{}')) as AnswerMessage
    expect(message?.headers).toMatchObject({ schema: 'shiftscribe.answer', 'schema-version': '1' })
    expect(a).toMatchObject({ questionId, askedBy: 'central-team', understood: { intent: 'parts' } })
    const names = a.facts.map((f) => f.scope.split('/')).flat()
    expect(checkGrounding([a.headline, a.body, ...a.highlights].join('\n'), { facts: a.facts as Fact[], names }, { knownNames: names }).ok).toBe(true)
    // The number: what the state database gives for the window the gateway understood.
    const db = new Database(join(fixture.dir, 'data', 'state.db'), { readonly: true })
    teardown.add('close db', () => void db.close())
    const understood = a.understood
    if (understood === null) throw new Error('not understood')
    const kpis = computeShiftKpis(db as never, { id: 'x', name: 'x', date: 'x', startTs: understood.start, endTs: understood.end }, { counters: ['part_count', 'reject_count'], partsSensor: 'part_count', rejectsSensor: 'reject_count' })
    const parts = kpis.machines.filter((m) => m.line === 'line1').reduce((s, m) => s + (m.parts ?? 0), 0)
    const primary = a.facts.find((f) => f.id === 'parts.line1')
    expect(primary?.value).toBe(Number(formatNumber(parts)))
    console.log(`[ask e2e] ${a.generator.type === 'llm' ? `model, ${Math.round(a.generator.ms)} ms` : `template (${a.generator.reason})`}: ${a.headline}`)

    // Over the API: the token is required.
    const none = await fetch(`${base}/api/ask`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ question: 'parts today?' }) })
    expect(none.status).toBe(401)
    const api = await fetch(`${base}/api/ask`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ question: 'Which machine had the most anomalies today?' }),
    })
    expect(api.status).toBe(200)
    expect(((await api.json()) as AnswerMessage).understood?.intent).toBe('most_anomalies')
    const listed = (await (await fetch(`${base}/api/answers`)).json()) as { answers: AnswerMessage[] }
    expect(listed.answers.map((x) => x.questionId)).toContain(questionId)

    // From the CLI.
    const out = await execFileAsync(process.execPath, [cli, 'ask', '--config', fixture.configFile, 'What was the highest spindle temperature on line 1 machine 2 in the last hour?'], { timeout: 120_000 })
    expect(out.stdout).toMatch(/spindle_temp/)
    expect(out.stdout).toMatch(/understood: max/)

    // Through the central cluster: a question for this site comes back answered on the central
    // answers topic; one for another plant is not answered here; local questions stay local.
    const central = new Kafka({ clientId: `ask-central-${secureRandom()}`, brokers: [...services.kafkaCentral], logLevel: logLevel.NOTHING })
    const hq = central.producer()
    await hq.connect()
    teardown.add('central producer', () => hq.disconnect())
    const ours = `hq-${secureRandom()}`
    const theirs = `hq-${secureRandom()}`
    await waitFor(async () => {
      const admin = central.admin()
      await admin.connect()
      try {
        return (await admin.listTopics()).includes(fixture.centralTopics.questions)
      } finally {
        await admin.disconnect()
      }
    }, { timeoutMs: 60_000, intervalMs: 500, what: 'the central questions topic' })
    await hq.send({
      topic: fixture.centralTopics.questions,
      messages: [
        { key: theirs, value: JSON.stringify({ v: 1, id: theirs, site: 'another-plant', question: 'How many parts today?', askedBy: 'hq' }) },
        { key: ours, value: JSON.stringify({ v: 1, id: ours, site: fixture.site, question: 'Which machine had the most anomalies today?', askedBy: 'hq' }) },
      ],
    })
    const up = await readTopic(fixture.centralTopics.answers, services.kafkaCentral)
    teardown.add('close central reader', () => up.close())
    await up.settle((m) => m.some((x) => x.key === ours), { timeoutMs: 120_000, quietMs: 120_000 })
    const back = JSON.parse(up.messages.find((x) => x.key === ours)?.value ?? '{}') as AnswerMessage & { dedupId?: string }
    expect(back).toMatchObject({ questionId: ours, replyTo: 'central', askedBy: 'hq', understood: { intent: 'most_anomalies' } })
    expect(back.dedupId).toMatch(new RegExp(`^${fixture.site}:`))
    expect(up.messages.map((x) => x.key)).not.toContain(theirs)
    expect(up.messages.map((x) => x.key)).not.toContain(questionId)
  }, 360_000)
})
