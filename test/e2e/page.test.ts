// The local page in a real browser (Debian's chromium driven by playwright-core; never a
// downloaded browser), against the built gateway fed by the simulator: tiles with live values
// that change within 5 s (SSE) and flash, a shift report with its narrative and an SVG chart, and
// line, machine and sensor names, narratives (shift and incident) and answers carrying HTML and
// script rendered as text on every page with no script run.
// Screenshots go to test-artifacts/.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterEach, describe, expect, it } from 'vitest'
import { runSimulation } from '../../src/simulate/run-simulation.js'
import { createNarrativeStore } from '../../src/store/narratives.js'
import { freePort, repoRoot, services } from '../helpers/env.js'
import { gatewayFixture, startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { createTeardown } from '../helpers/teardown.js'
import { waitFor } from '../helpers/wait-for.js'

const teardown = createTeardown()
afterEach(() => teardown.run())
const artifacts = join(repoRoot, 'test-artifacts')


const XSS_NAME = '<img src=x onerror=alert(1)>'
const XSS_TEXT = `"quoted" </script><script>alert(2)</script> <img src=x onerror=alert(3)>`
// A line, a machine and a sensor all hostile, on one sensor of their own.
const XSS_LINE = `'line' "<img src=x onerror=alert(4)>"`
const XSS_SENSOR = `"temp" </script><script>alert(5)</script>`

/** Fails the test if any script the page did not ship runs: a dialog, or a page error. */
function watchForScripts(page: Page): string[] {
  const ran: string[] = []
  page.on('dialog', (d) => {
    ran.push(`dialog: ${d.message()}`)
    void d.dismiss()
  })
  page.on('pageerror', (e) => ran.push(`pageerror: ${e.message}`))
  return ran
}

describe('the page in Chromium', () => {
  it('shows live tiles over SSE, a shift report with narrative and chart, and untrusted text as text', async () => {
    const port = await freePort()
    const fixture = gatewayFixture({
      aggregate: { enabled: true },
      kafkaLocal: { partitions: 1 },
      shifts: { allowedLatenessS: 60, idleTimeoutS: 3600 },
      http: { enabled: true, host: '127.0.0.1', port },
    })
    let gw: GatewayProcess | undefined
    teardown.add('stop gateway', async () => {
      if (gw && gw.child.exitCode === null && gw.child.signalCode === null) await gw.term()
    })
    gw = await startGateway(fixture)
    // Monday 13:50 at 60×: the early shift closes after about 11 s; readings keep coming for 40 s.
    const sim = runSimulation({
      url: services.mqttUrl,
      prefix: fixture.prefix,
      lines: 1,
      machines: 3,
      ratePerS: 500,
      count: 20_000,
      speed: 60,
      seed: 3,
      startTs: Date.UTC(2026, 10, 23, 13, 50),
      anomalies: { mode: 'count', count: 4 },
      progressIntervalMs: 60_000,
    })
    teardown.add('simulation', async () => void (await sim.catch(() => undefined)))
    const base = `http://127.0.0.1:${port}`
    const stateFile = join(fixture.dir, 'data', 'state.db')
    await waitFor(
      () => {
        const db = new Database(stateFile, { readonly: true, fileMustExist: true })
        try {
          return (db.prepare("SELECT count(*) AS n FROM narratives WHERE id = 'shift/2026-11-23/early'").get() as { n: number }).n > 0
        } finally {
          db.close()
        }
      },
      { timeoutMs: 90_000, intervalMs: 500, what: 'the early shift narrative' },
    )

    mkdirSync(artifacts, { recursive: true })
    const browser: Browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] })
    teardown.add('browser', () => browser.close())
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    const ran = watchForScripts(page)

    // Overview: tiles, and a live value that changes within 5 s while readings arrive.
    await page.goto(`${base}/`)
    await page.waitForSelector('article.tile')
    expect(await page.locator('article.tile').count()).toBe(3)
    const values = page.locator('[data-live-key]')
    expect(await values.count()).toBeGreaterThan(10)
    const before = await values.allTextContents()
    const t0 = Date.now()
    await expect.poll(async () => (await values.allTextContents()).some((v, i) => v !== before[i]), { timeout: 5_000, interval: 100 }).toBe(true)
    console.log(`[page] a live value changed ${Date.now() - t0} ms after the page loaded`)
    // The changed value is highlighted: the element carrying .flash is the one the stylesheet's rule matches.
    await expect.poll(() => page.locator('.readings .value.flash').count(), { timeout: 5_000, interval: 50 }).toBeGreaterThan(0)
    await page.screenshot({ path: join(artifacts, 'overview.png'), fullPage: true })

    // Shift report: the narrative and an SVG chart.
    await page.goto(`${base}/shifts/2026-11-23/early`)
    const headline = await new Promise<string>((resolve) => {
      const db = new Database(stateFile, { readonly: true })
      resolve((db.prepare("SELECT headline FROM narratives WHERE id = 'shift/2026-11-23/early'").get() as { headline: string }).headline)
      db.close()
    })
    await expect.poll(() => page.locator('body').innerText()).toContain(headline)
    expect(await page.locator('main svg').count()).toBeGreaterThan(0)
    await page.screenshot({ path: join(artifacts, 'shift-report.png'), fullPage: true })

    // Untrusted strings put straight into the store (ingest would reject them) render as text.
    await sim
    const db = new Database(stateFile)
    db.pragma('busy_timeout = 5000')
    const t = Date.UTC(2026, 10, 23, 13, 55)
    db.prepare("INSERT INTO sensors (key, site, line, machine, sensor, unit, first_ts, last_ts, last_value, readings) VALUES (?, ?, 'line1', ?, 'temp', '°C', ?, ?, 1, 1)").run(
      `${fixture.site}/line1/${XSS_NAME}/temp`,
      fixture.site,
      XSS_NAME,
      t,
      t,
    )
    db.prepare(
      "INSERT INTO anomalies (id, key, site, line, machine, sensor, kind, severity, state, started_at, ended_at, observed, expected, detail, clock) VALUES ('xss-1', ?, ?, 'line1', ?, 'temp', 'spike', 'critical', 'open', ?, NULL, 9, 1, ?, 'event')",
    ).run(`${fixture.site}/line1/${XSS_NAME}/temp`, fixture.site, XSS_NAME, t, XSS_TEXT)
    db.prepare(
      `UPDATE narratives SET headline = ?, body = ?, highlights = ? WHERE id = 'shift/2026-11-23/early'`,
    ).run(`Headline ${XSS_TEXT}`, `Body ${XSS_TEXT}`, JSON.stringify([`Highlight ${XSS_TEXT}`]))
    // The hostile line/machine/sensor: a reading, a few minute buckets for its chart, an open
    // anomaly and that anomaly's incident narrative, all hostile. After the simulated data, so the
    // incident narrative is the newest on the overview.
    const te = Date.UTC(2026, 10, 23, 15, 0)
    const evilKey = `${fixture.site}/${XSS_LINE}/${XSS_NAME}/${XSS_SENSOR}`
    db.prepare('INSERT INTO sensors (key, site, line, machine, sensor, unit, first_ts, last_ts, last_value, readings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 7, 5)').run(
      evilKey,
      fixture.site,
      XSS_LINE,
      XSS_NAME,
      XSS_SENSOR,
      XSS_TEXT,
      te - 240_000,
      te,
    )
    const bucket = db.prepare(
      'INSERT INTO buckets (key, minute, count, sum, sumsq, min, max, first_ts, first_value, last_ts, last_value) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)',
    )
    for (let i = 0; i < 5; i++) bucket.run(evilKey, te - i * 60_000, i, i * i, i, i, te - i * 60_000, i, te - i * 60_000, i)
    db.prepare(
      "INSERT INTO anomalies (id, key, site, line, machine, sensor, kind, severity, state, started_at, ended_at, observed, expected, detail, clock) VALUES ('xss-2', ?, ?, ?, ?, ?, 'spike', 'warning', 'open', ?, NULL, 9, 1, ?, 'event')",
    ).run(evilKey, fixture.site, XSS_LINE, XSS_NAME, XSS_SENSOR, te - 60_000, `Detail ${XSS_TEXT}`)
    createNarrativeStore(db).save({
      id: `incident/${XSS_LINE}/${XSS_NAME}/xss`,
      kind: 'incident',
      site: fixture.site,
      scope: `${XSS_LINE}/${XSS_NAME}`,
      periodStart: te - 120_000,
      periodEnd: te,
      headline: `Incident ${XSS_TEXT}`,
      body: `Incident body ${XSS_TEXT}`,
      highlights: [`Incident highlight ${XSS_TEXT}`],
      facts: [],
      generator: { type: 'llm', model: `model ${XSS_NAME}`, mode: 'plan', attempts: 1, promptTokens: 1, outputTokens: 1, ms: 1 },
      grounding: { ok: true, numbersChecked: 0, unmatched: [], unknownNames: [] },
      createdAt: te,
    })
    // A hostile answer for /answers (the agent reads them from this table).
    db.prepare('INSERT INTO answers (question_id, created_at, body) VALUES (?, ?, ?)').run(
      'xss-q',
      Date.now(),
      JSON.stringify({
        v: 1,
        id: 'answer-xss-q',
        questionId: 'xss-q',
        question: `Question ${XSS_TEXT}`,
        askedBy: XSS_NAME,
        site: fixture.site,
        scope: XSS_LINE,
        understood: null,
        headline: `Answer ${XSS_TEXT}`,
        body: `Answer body ${XSS_TEXT}`,
        highlights: [],
        facts: [{ id: 'f1', metric: 'x', scope: 'site', value: 1, unit: '', window: { start: te, end: te }, display: '1', text: `Fact ${XSS_TEXT}` }],
        generator: { type: 'template', reason: 'unresolved', detail: XSS_TEXT },
        grounding: { ok: true, numbersChecked: 0, unmatched: [], unknownNames: [] },
        createdAt: te,
      }),
    )
    db.close()
    const evilSensorPath = `/sensors/${[XSS_LINE, XSS_NAME, XSS_SENSOR].map(encodeURIComponent).join('/')}`
    const expected: Record<string, string[]> = {
      '/': [XSS_NAME, `Line ${XSS_LINE}`, XSS_SENSOR, `Incident ${XSS_TEXT}`],
      '/shifts': [],
      '/shifts/2026-11-23/early': [`Headline ${XSS_TEXT}`, `Body ${XSS_TEXT}`, `Highlight ${XSS_TEXT}`],
      '/incidents': [XSS_NAME, `${XSS_LINE}/${XSS_NAME}/${XSS_SENSOR}`, `Detail ${XSS_TEXT}`, `Incident ${XSS_TEXT}`, `Incident body ${XSS_TEXT}`, `model ${XSS_NAME}`],
      '/system': [],
      [evilSensorPath]: [`${XSS_LINE}/${XSS_NAME}/${XSS_SENSOR}`, `Detail ${XSS_TEXT}`],
      '/answers': [`Question ${XSS_TEXT}`, `Answer ${XSS_TEXT}`, `Answer body ${XSS_TEXT}`, `asked by ${XSS_NAME}`],
    }
    for (const [path, texts] of Object.entries(expected)) {
      const res = await page.goto(`${base}${path}`)
      expect(res?.status(), path).toBe(200)
      const text = await page.locator('body').innerText()
      for (const t of texts) expect(text, path).toContain(t)
      expect(await page.locator('img[src="x"]').count(), path).toBe(0)
      expect(await page.locator('script:not([src])').count(), path).toBe(0)
      expect(await page.locator('script').count(), path).toBe(1)
    }
    // The hostile sensor's own page, reached by its link on the overview: the heading and the chart's name are text.
    await page.goto(`${base}/`)
    await page.locator('.readings a', { hasText: XSS_SENSOR }).click()
    await page.waitForURL((u) => decodeURIComponent(u.pathname) === `/sensors/${XSS_LINE}/${XSS_NAME}/${XSS_SENSOR}`)
    expect(await page.locator('h1').innerText()).toBe(`${XSS_LINE}/${XSS_NAME}/${XSS_SENSOR}`)
    expect(await page.locator('svg.band-chart').getAttribute('aria-label')).toContain(`${XSS_LINE}/${XSS_NAME}/${XSS_SENSOR}`)
    await page.screenshot({ path: join(artifacts, 'sensor-escaped.png'), fullPage: true })
    await page.goto(`${base}/incidents`)
    await page.screenshot({ path: join(artifacts, 'incidents-escaped.png'), fullPage: true })
    expect(ran).toEqual([])
  }, 240_000)
})
