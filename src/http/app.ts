// The local page and JSON API for plant managers, built apart from `listen` so tests drive it
// with `app.inject`. Everything is read-only GET except regenerating a narrative, which needs
// the bearer token. Every response carries the CSP and the usual security headers; errors are
// `{ error, message }` (or an HTML page for page routes), never a stack trace.
import { createHash, timingSafeEqual } from 'node:crypto'
import { statSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { Counter, Gauge, type Registry } from 'prom-client'
import { describeError, isGatewayError } from '../errors.js'
import type { LedgerCounts } from '../ingest/journal.js'
import type { Log } from '../log.js'
import type { Health } from '../service.js'
import type { KpiOptions } from '../shifts/kpis.js'
import type { ShiftCalendar } from '../shifts/shift-calendar.js'
import type { StateDb } from '../store/state-db.js'
import type { LiveHub } from './live-hub.js'
import { answersQuery, HttpError, incidentsQuery, narrativesQuery, notFound, parseParams, sensorParams, sensorQuery, shiftParams, shiftsQuery } from './params.js'
import { createReadModel, type Limits } from './read-model.js'
import type { AnswerMessage } from '../bus/messages.js'
import { NO_PIPELINE, type PipelineStatus } from './pipeline.js'
import type { ReadyReport } from './readiness.js'
import { createFrameCache, formatSseComment, formatSseFrame } from './sse.js'
import { APP_CSS, APP_CSS_VERSION, APP_JS, APP_JS_VERSION } from './static.js'
import { answersPage, createFormats, errorPage, incidentsPage, overviewPage, sensorPage, shiftPage, shiftsPage, systemPage, type SystemView } from './views.js'

export type { ReadyReport } from './readiness.js'

export interface HttpAppDeps {
  /** The state database; only read here. */
  db: StateDb
  site: string
  /** The plant's IANA time zone: times on the page are local. */
  timeZone: string
  /** Served on /metrics (the ledger metrics included); the app adds its SSE metrics to it. */
  registry: Registry
  /** Each stage's health, for /api/system and the system page. */
  health: () => Record<string, Health>
  /** For /readyz: MQTT connected, local Kafka reached, stores writable (see readiness.ts). */
  ready: () => Promise<ReadyReport> | ReadyReport
  live: LiveHub
  log: Log
  /** Bearer token for state-changing requests; without it they are disabled (404). */
  token?: string
  /** Regenerates a narrative by id; without it the endpoint is disabled (404). */
  regenerate?: (narrativeId: string) => Promise<{ id: string }>
  /** The question agent: POST /api/ask (token) and GET /api/answers; without it they are 404. */
  ask?: {
    ask(input: { question: string; askedBy?: string }): Promise<AnswerMessage>
    answer(questionId: string): AnswerMessage | undefined
    list(limit?: number): AnswerMessage[]
  }
  clock?: () => number
  /** Consumer lag, the model and its queue, forwarding: explicit fields of /api/system (null parts when a stage is off). */
  pipeline?: () => PipelineStatus
  /** The journal's loss ledger, for the system page. */
  ledger?: () => LedgerCounts
  /** Store name → database file, for disk use (the file plus its -wal and -shm). */
  files?: Record<string, string>
  /** The shift calendar: the current (running) shift on the overview and shift pages. */
  calendar?: ShiftCalendar
  /** With the calendar: the running KPIs of the current shift. */
  kpi?: KpiOptions
  /** Configured limits of a sensor, drawn on its chart. */
  limits?: (line: string, machine: string, sensor: string) => Limits | undefined
  /** A sensor or machine is stale when its last reading is this much older than the site's newest, or the site's newest this much older than now (default 5 min). */
  staleAfterMs?: number
  /** SSE heartbeat comment interval (default 15 s). */
  heartbeatMs?: number
  /** Events are dropped for an SSE client with more than this many bytes not yet sent (default 256 KiB). */
  maxSseBufferBytes?: number
  /** Largest request body (default 16 KiB). */
  bodyLimitBytes?: number
}

export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

export const PERMISSIONS_POLICY = 'accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()'

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-resource-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  // The page uses none of these; a tablet's browser then never asks for them on its behalf.
  'permissions-policy': PERMISSIONS_POLICY,
}

const JSON_PATHS = /^\/(api|static)(\/|$)|^\/(healthz|readyz|metrics|events)$/
const ERROR_NAMES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
  503: 'unavailable',
}

const pathOfUrl = (url: string) => {
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

export async function createHttpApp(deps: HttpAppDeps): Promise<FastifyInstance> {
  const clock = deps.clock ?? Date.now
  const heartbeatMs = deps.heartbeatMs ?? 15_000
  const maxSseBufferBytes = deps.maxSseBufferBytes ?? 256 * 1024
  const formats = createFormats(deps.timeZone)
  const model = createReadModel(deps.db, {
    site: deps.site,
    clock,
    staleAfterMs: deps.staleAfterMs ?? 5 * 60_000,
    sparkMinutes: 30,
    ...(deps.calendar ? { calendar: deps.calendar } : {}),
    ...(deps.kpi ? { kpi: deps.kpi } : {}),
    ...(deps.limits ? { limits: deps.limits } : {}),
  })
  const expectedToken = deps.token ? createHash('sha256').update(deps.token).digest() : undefined
  // The page can only ask when POST /api/ask is on: the agent and a token.
  const canAsk = deps.ask !== undefined && expectedToken !== undefined
  const streams = new Set<() => void>()
  const frameOf = createFrameCache()
  registerLiveMetrics(deps.registry, deps.live)

  const app = Fastify({
    loggerInstance: deps.log,
    bodyLimit: deps.bodyLimitBytes ?? 16 * 1024,
    // Per-request lines would flood journald on a dashboard that polls; errors are logged where handled.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // On stop, drop every connection (pages are read-only): a browser's spare preconnected socket
    // or a half-closed SSE client would otherwise hold up close() until its keep-alive expires.
    forceCloseConnections: true,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
  }) as unknown as FastifyInstance

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.headers(SECURITY_HEADERS)
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
    return payload
  })

  const sendError = (req: FastifyRequest, reply: FastifyReply, status: number, error: string, message: string) => {
    reply.code(status)
    if (status === 401) reply.header('www-authenticate', 'Bearer')
    if (JSON_PATHS.test(pathOfUrl(req.url))) return reply.type('application/json; charset=utf-8').send({ error, message })
    return reply.type('text/html; charset=utf-8').send(errorPage(deps.site, status, error, message))
  }

  app.setErrorHandler((err: unknown, req, reply) => {
    if (err instanceof HttpError) return sendError(req, reply, err.statusCode, err.error, err.message)
    const status = (err as { statusCode?: unknown }).statusCode
    if (typeof status === 'number' && status >= 400 && status < 500) return sendError(req, reply, status, ERROR_NAMES[status] ?? 'bad_request', describeError(err))
    req.log.error({ url: pathOfUrl(req.url), err: describeError(err) }, 'http request failed')
    return sendError(req, reply, 500, 'internal', 'internal error; the gateway log has the details')
  })
  app.setNotFoundHandler((req, reply) => sendError(req, reply, 404, 'not_found', `no page or endpoint ${req.method} ${pathOfUrl(req.url).slice(0, 200)}`))

  const html = (reply: FastifyReply, page: string) => reply.type('text/html; charset=utf-8').send(page)

  // Static assets: immutable when asked for by their content version.
  const asset = (body: string, type: string, version: string) => (req: FastifyRequest, reply: FastifyReply) => {
    const v = (req.query as Record<string, unknown>).v
    reply.header('cache-control', v === version ? 'public, max-age=31536000, immutable' : 'no-cache')
    return reply.type(type).send(body)
  }
  app.get('/static/app.js', asset(APP_JS, 'text/javascript; charset=utf-8', APP_JS_VERSION))
  app.get('/static/app.css', asset(APP_CSS, 'text/css; charset=utf-8', APP_CSS_VERSION))

  // Operations.
  app.get('/healthz', async () => ({ ok: true }))
  app.get('/readyz', async (req, reply) => {
    let report: ReadyReport
    try {
      report = await deps.ready()
    } catch (err) {
      report = { ok: false, checks: { ready: { ok: false, detail: describeError(err) } } }
    }
    return reply.code(report.ok ? 200 : 503).send(report)
  })
  app.get('/metrics', async (_req, reply) => reply.type(deps.registry.contentType).send(await deps.registry.metrics()))

  // Live updates (Server-Sent Events).
  app.get('/events', { exposeHeadRoute: false }, (req, reply) => {
    if (deps.live.isFull()) throw new HttpError(503, 'unavailable', 'too many live clients; try again later')
    const res = reply.raw
    reply.hijack()
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    })
    res.write('retry: 5000\n\n' + formatSseFrame('hello', { site: deps.site, at: clock() }))
    const unsubscribe = deps.live.subscribe((event) => {
      if (res.writableLength > maxSseBufferBytes) return false
      res.write(frameOf(event))
      return true
    })
    const heartbeat = setInterval(() => {
      if (res.writableLength <= maxSseBufferBytes) res.write(formatSseComment('ping'))
    }, heartbeatMs)
    heartbeat.unref()
    const end = () => {
      clearInterval(heartbeat)
      unsubscribe()
      streams.delete(end)
      if (!res.writableEnded) res.end()
    }
    streams.add(end)
    req.raw.on('close', end)
    res.on('close', end)
    res.on('error', end)
  })
  // Open streams never finish on their own: end them so close() does not wait for clients.
  app.addHook('preClose', async () => {
    for (const end of [...streams]) end()
  })

  // The ingest rate from the ledger's received count between two looks (at least 1 s apart).
  let ingestSample: { at: number; received: number } | undefined
  let ingestPerS: number | null = null
  const ingestRate = (ledger: LedgerCounts | null): number | null => {
    if (ledger === null) return null
    const at = clock()
    if (ingestSample === undefined) ingestSample = { at, received: ledger.received }
    else if (at - ingestSample.at >= 1000) {
      ingestPerS = Math.round(((ledger.received - ingestSample.received) / (at - ingestSample.at)) * 10_000) / 10
      ingestSample = { at, received: ledger.received }
    }
    return ingestPerS
  }
  const systemView = async (): Promise<SystemView> => {
    const metrics = (await deps.registry.getMetricsAsJSON())
      .filter((m) => m.name.startsWith('shiftscribe_') && !m.name.startsWith('shiftscribe_process_'))
      .map((m) => ({
        name: m.name,
        help: m.help,
        type: String(m.type),
        values: m.values
          .filter((v) => !('metricName' in v) || !String(v.metricName).endsWith('_bucket'))
          .map((v) => ({ labels: { ...v.labels } as Record<string, string | number>, value: v.value })),
      }))
    return {
      site: deps.site,
      generatedAt: clock(),
      health: deps.health(),
      store: model.stats(),
      ledger: deps.ledger?.() ?? null,
      ingestPerS: ingestRate(deps.ledger?.() ?? null),
      files: Object.entries(deps.files ?? {}).map(([name, path]) => ({ name, path, bytes: fileBytes(path) })),
      live: deps.live.stats(),
      ...(deps.pipeline?.() ?? NO_PIPELINE),
      metrics,
    }
  }

  const shiftDetail = (params: unknown) => {
    const p = parseParams(shiftParams, params)
    const d = model.shift(p.date, p.name)
    if (d === undefined) throw notFound(`no shift ${p.date}/${p.name}`)
    return d
  }
  const sensorDetail = (params: unknown, query: unknown) => {
    const p = parseParams(sensorParams, params)
    const q = parseParams(sensorQuery, query)
    const d = model.sensor(p.line, p.machine, p.sensor, q)
    if (d === undefined) throw notFound(`no sensor ${p.line}/${p.machine}/${p.sensor}`)
    if (d === 'no-shift') throw notFound(`no shift ${q.shift ?? ''}`)
    return { detail: d, hours: q.hours }
  }

  // JSON API, mirroring the pages.
  // The overview is the page every tablet polls: rendered once per version of the data it
  // shows (newest reading, sensors, anomalies, machine states, narratives, shifts, and a 5 s wall-clock step for
  // freshness), kept as text and gzip, so 50 dashboards cost one render, not fifty.
  const overviewVersion = deps.db.prepare(
    `SELECT (SELECT max(last_ts) FROM sensors) || ':' || (SELECT count(*) FROM sensors) || ':' || (SELECT coalesce(max(rowid), 0) FROM anomalies) || ':' ||
            (SELECT count(*) FROM anomalies WHERE state = 'open') || ':' || (SELECT coalesce(max(created_at), 0) FROM narratives) || ':' ||
            (SELECT count(*) FROM narratives) || ':' || (SELECT count(*) FROM shifts) || ':' ||
            (SELECT count(*) || '-' || coalesce(sum(since), 0) || '-' || coalesce(sum(state = 'offline'), 0) FROM machine_states) AS v`,
  )
  type Rendered = { text: string; gz: Buffer }
  let cached: { version: string; page?: Rendered; json?: Rendered } | undefined
  const clockNow = deps.clock ?? Date.now
  const rendered = (kind: 'page' | 'json'): Rendered => {
    const version = `${(overviewVersion.get() as { v: string | null }).v ?? ''}:${Math.floor(clockNow() / 5000)}`
    if (cached?.version !== version) cached = { version }
    let r = cached[kind]
    if (r === undefined) {
      const text = kind === 'page' ? overviewPage(model.overview(), formats, { ask: canAsk }) : JSON.stringify(model.overview())
      r = { text, gz: gzipSync(text, { level: 6 }) }
      cached[kind] = r
    }
    return r
  }
  const sendRendered = (req: FastifyRequest, reply: FastifyReply, r: Rendered, type: string) => {
    reply.type(type).header('vary', 'accept-encoding')
    if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) return reply.header('content-encoding', 'gzip').send(r.gz)
    return reply.send(r.text)
  }
  app.get('/api/overview', async (req, reply) => sendRendered(req, reply, rendered('json'), 'application/json; charset=utf-8'))
  app.get('/api/shifts', async (req) => model.shifts(parseParams(shiftsQuery, req.query)))
  app.get('/api/shifts/:date/:name', async (req) => shiftDetail(req.params))
  app.get('/api/incidents', async (req) => model.incidents(parseParams(incidentsQuery, req.query)))
  app.get('/api/sensors/:line/:machine/:sensor', async (req) => sensorDetail(req.params, req.query).detail)
  app.get('/api/narratives', async (req) => ({ narratives: model.narratives(parseParams(narrativesQuery, req.query)) }))
  app.get('/api/narratives/*', async (req) => {
    const id = (req.params as Record<string, string>)['*'] ?? ''
    const n = model.narrative(id)
    if (n === undefined) throw notFound(`no narrative ${id.slice(0, 200)}`)
    return n
  })
  app.get('/api/system', async () => systemView())

  // Questions: POST /api/ask {"question": "…", "askedBy"?: "…"} with the bearer token answers
  // it (waiting for the model, at most the ask deadline); answers are read without a token.
  app.post('/api/ask', async (req) => {
    const { ask } = deps
    if (ask === undefined || expectedToken === undefined) throw notFound('questions are not enabled on this gateway (needs ask.enabled, narrate and an http token)')
    if (!authorized(req.headers.authorization, expectedToken)) throw new HttpError(401, 'unauthorized', 'a valid "Authorization: Bearer <token>" header is required')
    const body = req.body as { question?: unknown; askedBy?: unknown } | undefined
    if (typeof body?.question !== 'string') throw new HttpError(400, 'bad_request', 'body must be JSON {"question": "…"}')
    if (body.askedBy !== undefined && typeof body.askedBy !== 'string') throw new HttpError(400, 'bad_request', 'askedBy must be a string')
    try {
      return await ask.ask({ question: body.question, askedBy: body.askedBy ?? 'page' })
    } catch (err) {
      if (isGatewayError(err, 'USAGE')) throw new HttpError(400, 'bad_request', err.message)
      if (isGatewayError(err, 'RATE_LIMITED') || isGatewayError(err, 'QUEUE_FULL')) throw new HttpError(429, 'too_many_requests', err.message)
      if (isGatewayError(err, 'UNAVAILABLE')) throw new HttpError(503, 'unavailable', err.message)
      throw err
    }
  })
  app.get('/api/answers', async (req) => {
    if (deps.ask === undefined) throw notFound('questions are not enabled on this gateway')
    const { limit } = parseParams(answersQuery, req.query)
    return { answers: deps.ask.list(limit) }
  })
  app.get('/api/answers/:id', async (req) => {
    if (deps.ask === undefined) throw notFound('questions are not enabled on this gateway')
    const id = (req.params as { id: string }).id
    const a = deps.ask.answer(id)
    if (a === undefined) throw notFound(`no answer to question ${id.slice(0, 64)}`)
    return a
  })

  // The one state change: POST /api/narratives/<id>/regenerate with the bearer token.
  app.post('/api/narratives/*', async (req) => {
    const rest = (req.params as Record<string, string>)['*'] ?? ''
    if (!rest.endsWith('/regenerate')) throw notFound(`no endpoint POST ${pathOfUrl(req.url).slice(0, 200)}`)
    const { regenerate } = deps
    if (regenerate === undefined || expectedToken === undefined) throw notFound('regenerating narratives is not enabled on this gateway')
    if (!authorized(req.headers.authorization, expectedToken)) throw new HttpError(401, 'unauthorized', 'a valid "Authorization: Bearer <token>" header is required')
    const id = rest.slice(0, -'/regenerate'.length)
    if (model.narrative(id) === undefined) throw notFound(`no narrative ${id.slice(0, 200)}`)
    const result = await regenerate(id)
    req.log.info({ narrative: id }, 'narrative regeneration requested')
    return { id: result.id }
  })

  // Pages.
  app.get('/', async (req, reply) => sendRendered(req, reply, rendered('page'), 'text/html; charset=utf-8'))
  app.get('/shifts', async (req, reply) => {
    const q = parseParams(shiftsQuery, req.query)
    return html(reply, shiftsPage(deps.site, model.shifts(q), q.limit, formats))
  })
  app.get('/shifts/:date/:name', async (req, reply) => html(reply, shiftPage(deps.site, shiftDetail(req.params), formats)))
  app.get('/incidents', async (req, reply) => {
    const q = parseParams(incidentsQuery, req.query)
    return html(reply, incidentsPage(deps.site, model.incidents(q), q, formats))
  })
  app.get('/sensors/:line/:machine/:sensor', async (req, reply) => {
    const { detail, hours } = sensorDetail(req.params, req.query)
    return html(reply, sensorPage(deps.site, detail, hours, formats))
  })
  app.get('/system', async (_req, reply) => html(reply, systemPage(await systemView(), formats)))
  // Always a page (the nav links to it): without the agent it says questions are not enabled.
  app.get('/answers', async (_req, reply) => html(reply, answersPage(deps.site, deps.ask ? deps.ask.list(50) : null, canAsk, formats)))

  await app.ready()
  return app
}

/** Constant-time comparison of the bearer token (both sides hashed to the same length first). */
export function authorized(header: string | undefined, expectedDigest: Buffer): boolean {
  if (header === undefined) return false
  const m = /^Bearer +(\S+) *$/i.exec(header)
  if (m === null) return false
  return timingSafeEqual(createHash('sha256').update(m[1] as string).digest(), expectedDigest)
}

function fileBytes(path: string): number {
  let total = 0
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      total += statSync(f).size
    } catch {
      // A missing -wal or -shm is normal.
    }
  }
  return total
}

/** SSE clients and drops on /metrics; read from the hub at scrape time. Registered once per registry. */
function registerLiveMetrics(registry: Registry, live: LiveHub): void {
  if (registry.getSingleMetric('shiftscribe_http_sse_clients') !== undefined) return
  new Gauge({
    name: 'shiftscribe_http_sse_clients',
    help: 'Connected live-update (SSE) clients',
    registers: [registry],
    collect() {
      this.set(live.stats().subscribers)
    },
  })
  new Counter({
    name: 'shiftscribe_http_sse_dropped_total',
    help: 'Live events dropped for clients that could not keep up',
    registers: [registry],
    collect() {
      this.reset()
      this.inc(live.stats().dropped)
    },
  })
}
