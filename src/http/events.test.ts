// /events over a real socket (app.inject cannot stream): headers, the first frame, a published
// event, the heartbeat, the cap on clients, clean-up when a client leaves and when the app closes.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { Registry } from 'prom-client'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { silentLogger } from '../log.js'
import { openStateDb, type StateDb } from '../store/state-db.js'
import { CONTENT_SECURITY_POLICY, createHttpApp, PERMISSIONS_POLICY } from './app.js'
import { createLiveHub, type LiveHub, type LiveReading } from './live-hub.js'

let dir: string
let db: StateDb
let hub: LiveHub
let app: FastifyInstance | undefined
let base: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shiftscribe-events-'))
  db = openStateDb(join(dir, 'state.db'))
})

afterEach(async () => {
  await app?.close()
  app = undefined
})

afterAll(() => {
  db.close()
  rmSync(dir, { recursive: true, force: true })
})

async function start(maxSubscribers = 10): Promise<void> {
  hub = createLiveHub({ maxSubscribers })
  app = await createHttpApp({
    db,
    site: 'plant1',
    timeZone: 'UTC',
    registry: new Registry(),
    health: () => ({}),
    ready: async () => ({ ok: true, checks: {} }),
    live: hub,
    log: silentLogger(),
    heartbeatMs: 50,
  })
  base = await app.listen({ port: 0, host: '127.0.0.1' })
}

async function waitFor(check: () => boolean, { timeoutMs, what }: { timeoutMs: number; what: string }): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Reads the stream until `text` has arrived; returns everything read so far. */
async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, seen: { text: string }, text: string): Promise<string> {
  const decoder = new TextDecoder()
  const deadline = Date.now() + 5000
  while (!seen.text.includes(text)) {
    if (Date.now() > deadline) throw new Error(`no "${text}" in ${JSON.stringify(seen.text)}`)
    const { value, done } = await reader.read()
    if (done) throw new Error(`stream ended before "${text}": ${JSON.stringify(seen.text)}`)
    seen.text += decoder.decode(value, { stream: true })
  }
  return seen.text
}

describe('/events', () => {
  it('streams text/event-stream with the security headers: hello first, then published events and heartbeats', async () => {
    await start()
    const abort = new AbortController()
    const res = await fetch(`${base}/events`, { signal: abort.signal })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY)
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('permissions-policy')).toBe(PERMISSIONS_POLICY)
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    const seen = { text: '' }
    const first = await readUntil(reader, seen, '\n\n')
    expect(first.startsWith('retry: 5000\n\n')).toBe(true)
    await readUntil(reader, seen, '"site":"plant1"')
    expect(seen.text).toMatch(/^retry: 5000\n\nevent: hello\ndata: \{"site":"plant1","at":\d+\}\n\n/)

    await waitFor(() => hub.stats().subscribers === 1, { timeoutMs: 2000, what: 'the subscription' })
    const reading: LiveReading = { key: 'plant1/line1/m1/power', value: 16.53, ts: 1_795_444_190_000, minute: 1_795_444_140_000 }
    hub.publish({ type: 'readings', data: [reading] })
    await readUntil(reader, seen, `event: readings\ndata: ${JSON.stringify([reading])}\n\n`)
    await readUntil(reader, seen, ': ping\n\n')

    await reader.cancel()
    abort.abort()
    await waitFor(() => hub.stats().subscribers === 0, { timeoutMs: 2000, what: 'the unsubscribe after the client left' })
    expect(hub.stats()).toMatchObject({ published: 1, delivered: 1, dropped: 0 })
  })

  it('refuses clients past the cap with a 503', async () => {
    await start(1)
    const abort = new AbortController()
    const first = await fetch(`${base}/events`, { signal: abort.signal })
    expect(first.status).toBe(200)
    await waitFor(() => hub.stats().subscribers === 1, { timeoutMs: 2000, what: 'the first client' })
    const second = await fetch(`${base}/events`)
    expect(second.status).toBe(503)
    expect(await second.json()).toEqual({ error: 'unavailable', message: 'too many live clients; try again later' })
    abort.abort()
  })

  it('ends open streams when the app closes, so close() does not wait for clients', async () => {
    await start()
    const res = await fetch(`${base}/events`)
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    await readUntil(reader, { text: '' }, 'event: hello')
    const closing = Date.now()
    await app?.close()
    app = undefined
    expect(Date.now() - closing).toBeLessThan(2000)
    for (;;) {
      const { done } = await reader.read()
      if (done) break
    }
    expect(hub.stats().subscribers).toBe(0)
  })
})
