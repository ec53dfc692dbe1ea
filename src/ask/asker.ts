// The question agent: questions from the local `factory.questions` topic, the page and the
// CLI are validated, rate-limited per asker and queued (bounded); each is resolved to a
// scope, window and intent (resolve.ts), answered from facts computed by code (facts.ts),
// phrased by the same engine, grammar and grounding check as narratives with the template
// behind it, stored, and published to `factory.answers` (key = question id).
import { randomUUID } from 'node:crypto'
import { Counter, Gauge, type Registry } from 'prom-client'
import { answerMessageSchema, questionMessageSchema, SCHEMA_VERSION, type AnswerMessage, type QuestionMessage } from '../bus/messages.js'
import type { BusConsumer, ConsumedBatch } from '../bus/kafka-bus.js'
import { describeError, GatewayError } from '../errors.js'
import type { Log } from '../log.js'
import type { FactsOptions } from '../narrate/facts.js'
import type { Narrator } from '../narrate/narrator.js'
import type { Health, Service } from '../service.js'
import type { ShiftCalendar } from '../shifts/shift-calendar.js'
import { createOutbox } from '../store/outbox.js'
import type { StateDb } from '../store/state-db.js'
import type { Clock } from '../util/clock.js'
import { answerFacts, cannotTell } from './facts.js'
import { resolveQuestion, type RegistrySensor } from './resolve.js'

export interface AskSettings {
  /** Longest question, characters. */
  maxQuestionChars: number
  /** Questions waiting; beyond it a question is refused at once. */
  maxQueue: number
  /** Questions one asker may ask per minute. */
  perAskerPerMinute: number
  /** A question not answered by then (from its start) gets the template answer. */
  deadlineMs: number
}

export interface AskerOptions {
  db: StateDb
  narrator: Pick<Narrator, 'write'>
  facts: FactsOptions
  calendar: ShiftCalendar
  settings: AskSettings
  /** Where answers are published (through the outbox); omit to only store them. */
  publish?: { topic: string }
  /** The questions topic to consume, with its consumer (created by the gateway). */
  consumer?: BusConsumer
  log: Log
  clock: Clock
  registry?: Registry
  onOutbox?: () => void
  onAnswered?: (a: AnswerMessage) => void
}

export interface QuestionInput {
  question: string
  id?: string
  askedBy?: string
  replyTo?: string
}

export interface Asker extends Service {
  /** Answers one question (queued behind others); rejects with USAGE, RATE_LIMITED or QUEUE_FULL. */
  ask(input: QuestionInput): Promise<AnswerMessage>
  /** The stored answer to a question. */
  answer(questionId: string): AnswerMessage | undefined
  /** Newest first. */
  list(limit?: number): AnswerMessage[]
  status(): { queue: number; answered: number; refused: number; invalid: number }
}

const ASKER = /^[A-Za-z0-9_.@:-]{1,64}$/
const QUESTION_ID = /^[A-Za-z0-9_.:-]{1,64}$/

export function createAsker(options: AskerOptions): Asker {
  const { db, clock, settings } = options
  const log = options.log.child({ stage: 'ask' })
  const outbox = createOutbox(db)
  const registryQuery = db.prepare('SELECT line, machine, sensor, unit FROM sensors ORDER BY line, machine, sensor')
  const save = db.transaction((a: AnswerMessage) => {
    db.prepare('INSERT OR REPLACE INTO answers (question_id, created_at, body) VALUES (?, ?, ?)').run(a.questionId, a.createdAt, JSON.stringify(a))
    if (options.publish) outbox.add(options.publish.topic, 'shiftscribe.answer', a.questionId, a, a.createdAt)
  })
  const byId = db.prepare('SELECT body FROM answers WHERE question_id = ?')
  const newest = db.prepare('SELECT body FROM answers ORDER BY created_at DESC LIMIT ?')
  const counts = { answered: 0, refused: 0, invalid: 0 }
  const recent = new Map<string, number[]>()
  let chain: Promise<unknown> = Promise.resolve()
  let queued = 0
  let stopped = false
  let consuming: Promise<void> | undefined

  const metrics = options.registry
    ? {
        answers: new Counter({ name: 'shiftscribe_answers_total', help: 'Questions answered, by generator (llm, template:<reason>)', labelNames: ['generator'], registers: [options.registry] }),
        refused: new Counter({ name: 'shiftscribe_questions_refused_total', help: 'Questions refused (invalid, rate_limited, queue_full)', labelNames: ['why'], registers: [options.registry] }),
        queue: new Gauge({ name: 'shiftscribe_ask_queue_depth', help: 'Questions waiting for an answer', registers: [options.registry] }),
      }
    : undefined

  function refuse(why: 'invalid' | 'rate_limited' | 'queue_full', code: 'USAGE' | 'RATE_LIMITED' | 'QUEUE_FULL', message: string): never {
    if (why === 'invalid') counts.invalid++
    else counts.refused++
    metrics?.refused.inc({ why })
    throw new GatewayError(code, message)
  }

  /** Clean text: no control or format characters, whitespace collapsed. */
  function clean(text: string): string {
    return text
      .normalize('NFKC')
      .replace(/[\p{Cc}\p{Cf}\u2028\u2029]+/gu, ' ')
      .replace(/\s+/g, ' ')
      .trim()
  }

  function validate(input: QuestionInput): { id: string; question: string; askedBy: string; replyTo?: string } {
    if (typeof input.question !== 'string') refuse('invalid', 'USAGE', 'question must be a string')
    const question = clean(input.question)
    if (question === '') refuse('invalid', 'USAGE', 'the question is empty')
    if (question.length > settings.maxQuestionChars) refuse('invalid', 'USAGE', `the question is longer than ${settings.maxQuestionChars} characters`)
    const id = input.id ?? randomUUID()
    if (!QUESTION_ID.test(id)) refuse('invalid', 'USAGE', 'question id must be 1-64 of A-Z a-z 0-9 _ . : -')
    const askedBy = input.askedBy ?? 'anonymous'
    if (!ASKER.test(askedBy)) refuse('invalid', 'USAGE', 'askedBy must be 1-64 of A-Z a-z 0-9 _ . @ : -')
    if (input.replyTo !== undefined && !ASKER.test(input.replyTo)) refuse('invalid', 'USAGE', 'replyTo must be 1-64 of A-Z a-z 0-9 _ . @ : -')
    return { id, question, askedBy, ...(input.replyTo !== undefined ? { replyTo: input.replyTo } : {}) }
  }

  function rateLimit(askedBy: string): void {
    const now = clock.now()
    const times = (recent.get(askedBy) ?? []).filter((t) => now - t < 60_000)
    if (times.length >= settings.perAskerPerMinute) refuse('rate_limited', 'RATE_LIMITED', `more than ${settings.perAskerPerMinute} questions a minute from ${askedBy}; try again in a minute`)
    times.push(now)
    recent.set(askedBy, times)
    if (recent.size > 10_000) recent.delete(recent.keys().next().value as string)
  }

  async function answerNow(q: { id: string; question: string; askedBy: string; replyTo?: string }): Promise<AnswerMessage> {
    const now = clock.now()
    const sensors = registryQuery.all() as RegistrySensor[]
    const resolved = resolveQuestion(q.question, { sensors, calendar: options.calendar, now, maxLength: settings.maxQuestionChars })
    const base = { v: SCHEMA_VERSION as typeof SCHEMA_VERSION, id: `answer/${q.id}`, questionId: q.id, question: q.question, askedBy: q.askedBy, ...(q.replyTo !== undefined ? { replyTo: q.replyTo } : {}), site: options.facts.site }
    let message: AnswerMessage
    if (!resolved.ok) {
      const { template } = cannotTell(q.id, resolved, options.facts.site, now)
      message = {
        ...base,
        scope: 'site',
        understood: null,
        ...template,
        facts: [],
        generator: { type: 'template', reason: 'unresolved', detail: resolved.reason },
        grounding: { ok: true, numbersChecked: 0, unmatched: [], unknownNames: [] },
        createdAt: clock.now(),
      }
    } else {
      const { set, template } = answerFacts(db, q.id, resolved, options.facts)
      const n = await options.narrator.write(set, { save: false, template, deadlineMs: settings.deadlineMs, priority: 'question' })
      message = {
        ...base,
        scope: n.scope,
        understood: { intent: resolved.intent, label: resolved.window.label, start: resolved.window.start, end: resolved.window.end, notes: resolved.notes },
        headline: n.headline,
        body: n.body,
        highlights: n.highlights,
        facts: n.facts,
        generator: n.generator,
        grounding: n.grounding,
        createdAt: n.createdAt,
      }
    }
    const checked = answerMessageSchema.parse(message)
    save(checked)
    options.onOutbox?.()
    counts.answered++
    metrics?.answers.inc({ generator: checked.generator.type === 'llm' ? 'llm' : `template:${checked.generator.reason}` })
    log.info({ question: q.id, askedBy: q.askedBy, generator: checked.generator.type === 'llm' ? 'llm' : checked.generator.reason }, 'question answered')
    options.onAnswered?.(checked)
    return checked
  }

  function ask(input: QuestionInput): Promise<AnswerMessage> {
    if (stopped) return Promise.reject(new GatewayError('UNAVAILABLE', 'the question agent is stopping'))
    let q
    try {
      q = validate(input)
      if (queued >= settings.maxQueue) refuse('queue_full', 'QUEUE_FULL', `${queued} questions are waiting; try again later`)
      rateLimit(q.askedBy)
    } catch (err) {
      return Promise.reject(err)
    }
    const valid = q
    queued++
    metrics?.queue.set(queued)
    const run = chain.then(() => answerNow(valid))
    chain = run.catch(() => undefined)
    return run.finally(() => {
      queued--
      metrics?.queue.set(queued)
    })
  }

  async function onBatch(batch: ConsumedBatch): Promise<void> {
    let last: number | undefined
    for (const m of batch.messages) {
      if (stopped) break
      let parsed: QuestionMessage | undefined
      try {
        parsed = questionMessageSchema.parse(JSON.parse(m.value?.toString('utf8') ?? ''))
      } catch (err) {
        counts.invalid++
        metrics?.refused.inc({ why: 'invalid' })
        log.warn({ partition: batch.partition, offset: m.offset, err: describeError(err).slice(0, 300) }, 'invalid question message skipped')
      }
      if (parsed !== undefined) {
        try {
          // A redelivered question (a crash before the commit) is answered once.
          if (byId.get(parsed.id) === undefined) {
            await ask({ id: parsed.id, question: parsed.question, ...(parsed.askedBy !== undefined ? { askedBy: parsed.askedBy } : {}), ...(parsed.replyTo !== undefined ? { replyTo: parsed.replyTo } : {}) })
          }
        } catch (err) {
          log.warn({ question: parsed.id, err: describeError(err) }, 'question not answered')
        }
      }
      last = Number(m.offset)
    }
    if (last !== undefined) await options.consumer?.commit([{ partition: batch.partition, offset: last + 1 }])
  }

  return {
    name: 'ask',
    async start() {
      stopped = false
      const consumer = options.consumer
      if (consumer !== undefined) {
        consuming = consumer.run(onBatch).catch((err: unknown) => log.error({ err: describeError(err) }, 'question consumer stopped'))
      }
    },
    async stop() {
      if (stopped) return
      stopped = true
      await options.consumer?.stop()
      await consuming
      await chain
    },
    health(): Health {
      return { ok: !stopped, detail: `${counts.answered} answered, ${queued} waiting, ${counts.refused} refused, ${counts.invalid} invalid` }
    },
    ask,
    answer(questionId) {
      const r = byId.get(questionId) as { body: string } | undefined
      return r === undefined ? undefined : (JSON.parse(r.body) as AnswerMessage)
    },
    list(limit = 20) {
      return (newest.all(limit) as { body: string }[]).map((r) => JSON.parse(r.body) as AnswerMessage)
    },
    status() {
      return { queue: queued, ...counts }
    },
  }
}
