// Server-rendered pages. Every value from the store goes through `html`, which escapes it;
// there is no inline script or style (the CSP forbids both): live data reaches the script
// through data- attributes and /events.
import type { AnswerMessage } from '../bus/messages.js'
import { formatDuration } from '../detect/anomaly-event.js'
import { STATUS_SENSOR } from '../detect/types.js'
import type { LedgerCounts } from '../ingest/journal.js'
import { kindWords } from '../narrate/facts.js'
import type { Narrative } from '../narrate/types.js'
import type { Health } from '../service.js'
import { createZone } from '../shifts/zone.js'
import { html, pathOf, type SafeHtml } from './html.js'
import type { LiveHubStats } from './live-hub.js'
import type { IncidentsQuery } from './params.js'
import type { PipelineStatus } from './pipeline.js'
import type {
  AnomalyView,
  IncidentsResult,
  MachineStateView,
  MachineTile,
  NarrativeSummary,
  Overview,
  SensorDetail,
  ShiftDetail,
  ShiftSummary,
  StoreStats,
} from './read-model.js'
import { APP_CSS_VERSION, APP_JS_VERSION } from './static.js'
import { bandChart, barChart, formatNumber, sparkline, timelineChart } from './svg.js'

export interface Formats {
  /** Local `HH:MM` in the plant's time zone. */
  time(ts: number): string
  /** Local `YYYY-MM-DD HH:MM`. */
  dateTime(ts: number): string
  duration(ms: number): string
}

export function createFormats(timeZone: string): Formats {
  const zone = createZone(timeZone)
  const iso = (ts: number) => new Date(ts + zone.offsetAt(ts)).toISOString()
  return {
    time: (ts) => iso(ts).slice(11, 16),
    dateTime: (ts) => {
      const s = iso(ts)
      return `${s.slice(0, 10)} ${s.slice(11, 16)}`
    },
    duration: (ms) => formatDuration(Math.max(0, ms)),
  }
}

export interface SystemView extends PipelineStatus {
  site: string
  generatedAt: number
  health: Record<string, Health>
  store: StoreStats
  ledger: LedgerCounts | null
  /** Records received per second since the previous look at the system page (null on the first). */
  ingestPerS: number | null
  files: { name: string; path: string; bytes: number }[]
  live: LiveHubStats
  metrics: { name: string; help: string; type: string; values: { labels: Record<string, string | number>; value: number }[] }[]
}

type Page = 'overview' | 'shifts' | 'incidents' | 'answers' | 'system' | 'sensor'

const NAV: { page: Page; href: string; label: string }[] = [
  { page: 'overview', href: '/', label: 'Overview' },
  { page: 'shifts', href: '/shifts', label: 'Shifts' },
  { page: 'incidents', href: '/incidents', label: 'Incidents' },
  // Always listed (the views hold no config); /answers says when questions are not enabled.
  { page: 'answers', href: '/answers', label: 'Ask' },
  { page: 'system', href: '/system', label: 'System' },
]

export function layout(o: { title: string; site: string; page: Page | 'error'; body: SafeHtml; live?: boolean }): string {
  return (
    '<!doctype html>\n' +
    html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${o.title} · ${o.site} · shiftscribe</title><link rel="stylesheet" href="/static/app.css?v=${APP_CSS_VERSION}"><script src="/static/app.js?v=${APP_JS_VERSION}" defer></script></head><body${
      o.live ? html` data-live="overview"` : ''
    }><a class="skip" href="#main">Skip to content</a><header class="top"><span class="brand">shiftscribe · ${o.site}</span><nav aria-label="Main"><ul>${NAV.map(
      (n) => html`<li><a href="${n.href}"${n.page === o.page ? html` aria-current="page"` : ''}>${n.label}</a></li>`,
    )}</ul></nav><span class="live" id="live-status" role="status" aria-live="polite">${o.live ? 'Connecting…' : ''}</span></header><main id="main">${o.body}</main></body></html>`
      .value
  )
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1)
const unitText = (unit: string | null) => (unit ? ` ${unit}` : '')
const sensorHref = (a: { line: string; machine: string; sensor: string }) => pathOf('sensors', a.line, a.machine, a.sensor)
const shiftHref = (s: { date: string; name: string }) => pathOf('shifts', s.date, s.name)
const incidentsHref = (filters: Record<string, string>) => `/incidents?${new URLSearchParams(filters).toString()}`

/** What an anomaly is about, and where that is shown: a sensor's page, or for a machine-level one (offline) the machine's incidents. */
function anomalySubject(a: { line: string; machine: string; sensor: string }): { text: string; href: string } {
  return a.sensor === STATUS_SENSOR
    ? { text: `${a.line}/${a.machine}`, href: incidentsHref({ line: a.line, machine: a.machine }) }
    : { text: `${a.line}/${a.machine}/${a.sensor}`, href: sensorHref(a) }
}

const CAUSE_TITLES: Record<string, string> = {
  NDEATH: 'its edge node stopped (Sparkplug NDEATH)',
  DDEATH: 'the device stopped (Sparkplug DDEATH)',
}

/** "offline since 10:42" (local time) for a machine a Sparkplug death took offline; nothing otherwise. */
function offlineBadge(state: MachineStateView | null, f: Formats): SafeHtml | '' {
  if (state === null || state.state !== 'offline') return ''
  const why = CAUSE_TITLES[state.cause] ?? state.cause
  return html`<span class="badge offline" title="${`Offline since ${f.dateTime(state.since)}: ${why}`}">offline since ${f.time(state.since)}</span>`
}

function generatorBadge(g: Narrative['generator'] | AnswerMessage['generator']): SafeHtml {
  if (g.type === 'llm') {
    return html`<span class="badge llm" title="${`${g.mode} mode, ${g.attempts} attempt(s), ${g.outputTokens} tokens, ${formatDuration(g.ms)}`}">LLM · ${g.model}</span>`
  }
  return html`<span class="badge template" title="${g.detail ?? ''}">Template · ${g.reason.replace(/_/g, ' ')}</span>`
}

function groundingBadge(gr: Narrative['grounding']): SafeHtml {
  return gr.ok
    ? html`<span class="badge grounded">Grounded · ${gr.numbersChecked} numbers checked</span>`
    : html`<span class="badge ungrounded">Not grounded · ${gr.unmatched.length + gr.unknownNames.length} unmatched of ${gr.numbersChecked}</span>`
}

const narrativeHref = (n: { kind: string; scope: string; id: string }) => {
  if (n.kind === 'shift') {
    const m = /^shift\/(\d{4}-\d{2}-\d{2})\/(.+)$/.exec(n.id)
    if (m) return shiftHref({ date: m[1] as string, name: m[2] as string })
  }
  if (n.kind === 'incident') {
    const [line, machine] = n.scope.split('/')
    if (line && machine) return incidentsHref({ line, machine })
  }
  return undefined
}

function narrativeCard(n: NarrativeSummary, f: Formats): SafeHtml {
  const href = narrativeHref(n)
  return html`<article class="card narrative"><h3>${href ? html`<a href="${href}">${n.headline}</a>` : n.headline}</h3><p class="muted">${capitalize(n.kind)} · ${n.scope} · ${f.dateTime(
    n.periodStart,
  )}–${f.time(n.periodEnd)}</p><p>${generatorBadge(n.generator)}${groundingBadge(n.grounding)}</p></article>`
}

function narrativeBlock(n: Narrative & { revision?: number }, f: Formats): SafeHtml {
  const gr = n.grounding
  return html`<article class="narrative card" aria-labelledby="narrative-h"><h2 id="narrative-h">${n.headline}</h2><p>${generatorBadge(n.generator)}${groundingBadge(gr)}<span class="muted">written ${f.dateTime(
    n.createdAt,
  )}${n.revision && n.revision > 1 ? `, revision ${n.revision}` : ''}</span></p>${
    n.generator.type === 'template' && n.generator.detail ? html`<p class="muted">Why the template: ${n.generator.detail}</p>` : ''
  }<div class="body">${n.body}</div>${n.highlights.length > 0 ? html`<ul class="highlights">${n.highlights.map((h) => html`<li>${h}</li>`)}</ul>` : ''}${
    !gr.ok && gr.unmatched.length + gr.unknownNames.length > 0
      ? html`<details><summary>Unmatched by the facts</summary><ul>${[...gr.unmatched, ...gr.unknownNames].map((u) => html`<li>${u}</li>`)}</ul></details>`
      : ''
  }</article>`
}

// The ask form cannot work without the script: POST /api/ask needs the bearer header, which a
// plain form cannot send. So the button starts disabled (no implicit submission either) and
// app.js enables it; the token lives in sessionStorage only, never in a cookie or the URL.
function askForm(variant: 'page' | 'compact'): SafeHtml {
  return html`<form class="ask${variant === 'compact' ? ' compact' : ''}" method="post" action="/api/ask" data-ask="${variant}" aria-label="Ask a question"><div class="field question"><label for="ask-question">Your question</label><input id="ask-question" name="question" type="text" maxlength="500" required autocomplete="off" placeholder="e.g. Which machine had the most anomalies today?"></div><div class="field"><label for="ask-token">API token</label><input id="ask-token" name="token" type="password" required autocomplete="off" spellcheck="false"></div><button type="submit" disabled>Ask</button></form><noscript><p class="banner">Asking needs JavaScript: the question goes to the gateway with the API token in a request header, which a plain form cannot send. The answers are readable without it.</p></noscript><p class="ask-status" role="status" aria-live="polite" data-ask-status></p>`
}

const intentWords = (intent: string) => intent.replace(/_/g, ' ')

/** "understood as: max, the last hour" or "not understood" (the answer then says why). */
function understoodText(u: AnswerMessage['understood']): string {
  return u === null ? 'not understood' : `understood as: ${intentWords(u.intent)}, ${u.label}`
}

function answerCard(a: AnswerMessage, f: Formats): SafeHtml {
  const g = a.generator
  return html`<li class="card answer" data-question-id="${a.questionId}"><p class="question"><span class="muted">Question: </span>${a.question}</p><h3>${a.headline}</h3><p class="muted">${f.dateTime(
    a.createdAt,
  )} · asked by ${a.askedBy} · ${a.scope} · ${understoodText(a.understood)}${g.type === 'llm' ? ` · answered in ${formatDuration(g.ms)}` : ''}</p><p>${generatorBadge(g)}${groundingBadge(
    a.grounding,
  )}</p><div class="body">${a.body}</div>${a.highlights.length > 0 ? html`<ul class="highlights">${a.highlights.map((h) => html`<li>${h}</li>`)}</ul>` : ''}${
    a.facts.length > 0 ? html`<details><summary>Facts used (${a.facts.length})</summary><ul class="facts">${a.facts.map((x) => html`<li>${x.text}</li>`)}</ul></details>` : ''
  }</li>`
}

function machineTile(t: MachineTile, index: number, f: Formats): SafeHtml {
  const id = `m-${index}`
  return html`<article class="tile" data-tile="${`${t.line}/${t.machine}`}" data-status="${t.status}"${t.state?.state === 'offline' ? html` data-offline` : ''} aria-labelledby="${id}"><header><h3 id="${id}"><a href="${incidentsHref({
    line: t.line,
    machine: t.machine,
  })}">${t.machine}</a></h3>${offlineBadge(t.state, f)}<span class="status">${t.status}</span></header>${t.stale ? html`<p class="muted">No data since ${f.time(t.lastTs)}</p>` : ''}<ul class="readings">${t.sensors.map(
    (s) =>
      html`<li${s.stale ? html` class="stale"` : ''}><a href="${sensorHref({ line: t.line, machine: t.machine, sensor: s.sensor })}">${s.sensor}</a><span class="value"><span data-live-key="${s.key}">${formatNumber(
        s.value,
      )}</span>${unitText(s.unit)}</span>${sparkline(s.spark, { label: `${s.sensor}, last ${s.spark.length} minutes` })}</li>`,
  )}</ul>${
    t.openAnomalies.length > 0
      ? html`<ul class="alerts">${t.openAnomalies.map(
          (a) =>
            html`<li><span class="badge ${a.severity === 'critical' ? 'critical' : 'warning'}">${a.severity}</span>${kindWords(a.kind)}${a.sensor === STATUS_SENSOR ? '' : ` on ${a.sensor}`} since ${f.time(a.startedAt)}</li>`,
        )}</ul>`
      : ''
  }</article>`
}

function shiftFacts(s: ShiftSummary, f: Formats): SafeHtml {
  return html`<dl class="kv"><dt>Period</dt><dd>${f.dateTime(s.startTs)}–${f.time(s.endTs)}</dd><dt>Status</dt><dd>${s.closed ? `closed (${s.closedBy ?? ''})` : 'running'}</dd><dt>Parts</dt><dd>${formatNumber(
    s.parts,
  )}</dd><dt>Rejects</dt><dd>${formatNumber(s.rejects)}${s.rejectRatePct !== null ? ` (${formatNumber(s.rejectRatePct)} %)` : ''}</dd><dt>Anomalies</dt><dd>${s.anomalies}</dd><dt>Data coverage</dt><dd>${
    s.coveragePct === null ? '–' : `${formatNumber(s.coveragePct)} %`
  }</dd></dl>`
}

export function overviewPage(o: Overview, f: Formats, opts: { ask?: boolean } = {}): string {
  let tileIndex = 0
  const shift = o.currentShift ?? o.lastClosedShift
  const body = html`<h1>Plant overview</h1>${
    o.newestTs === null
      ? html`<p class="banner stale">No readings have arrived yet.</p>`
      : o.stale
        ? html`<p class="banner stale">No new readings for ${f.duration(o.dataAgeMs ?? 0)} (newest at ${f.dateTime(o.newestTs)}).</p>`
        : ''
  }<p>${o.counts.machines} machines: ${o.counts.ok} ok, ${o.counts.warning} warning, ${o.counts.critical} critical, ${o.counts.stale} without fresh data · ${o.counts.openAnomalies} open anomalies${
    o.newestTs !== null ? html` · data up to ${f.dateTime(o.newestTs)}` : ''
  }</p>${
    shift
      ? html`<section aria-labelledby="shift-h" class="card"><h2 id="shift-h">${o.currentShift ? 'Current shift' : 'Last shift'}: <a href="${shiftHref(shift)}">${capitalize(shift.name)} ${shift.date}</a></h2>${shiftFacts(
          shift,
          f,
        )}</section>`
      : ''
  }${o.lines.map(
    (line, i) =>
      html`<section class="line" aria-labelledby="line-${i}"><h2 id="line-${i}">Line ${line.line}</h2><div class="tiles">${line.machines.map((t) => machineTile(t, tileIndex++, f))}</div></section>`,
  )}${o.lines.length === 0 ? html`<p>No sensors yet.</p>` : ''}<section aria-labelledby="narratives-h"><h2 id="narratives-h">Newest narratives</h2>${
    o.narratives.length === 0 ? html`<p>None yet.</p>` : html`<div class="cards">${o.narratives.map((n) => narrativeCard(n, f))}</div>`
  }</section>${
    opts.ask
      ? html`<section aria-labelledby="ask-h" class="ask-box"><h2 id="ask-h">Ask a question</h2>${askForm('compact')}<div class="ask-result" data-ask-result></div><p><a href="/answers">All answers</a></p></section>`
      : ''
  }`
  return layout({ title: 'Overview', site: o.site, page: 'overview', body, live: true })
}

export function shiftsPage(site: string, list: { shifts: ShiftSummary[]; next: number | null }, limit: number, f: Formats): string {
  const body = html`<h1>Shift reports</h1>${
    list.shifts.length === 0
      ? html`<p>No closed shifts yet.</p>`
      : html`<div class="table-wrap"><table><caption class="muted">Newest first</caption><thead><tr><th scope="col">Shift</th><th scope="col">Period</th><th scope="col" class="num">Parts</th><th scope="col" class="num">Rejects</th><th scope="col" class="num">Reject rate</th><th scope="col" class="num">Anomalies</th><th scope="col">Narrative</th></tr></thead><tbody>${list.shifts.map(
          (s) =>
            html`<tr><td><a href="${shiftHref(s)}">${capitalize(s.name)} ${s.date}</a></td><td>${f.dateTime(s.startTs)}–${f.time(s.endTs)}</td><td class="num">${formatNumber(s.parts)}</td><td class="num">${formatNumber(
              s.rejects,
            )}</td><td class="num">${s.rejectRatePct === null ? '–' : `${formatNumber(s.rejectRatePct)} %`}</td><td class="num">${s.anomalies}</td><td>${s.narrative ? s.narrative.headline : html`<span class="muted">none yet</span>`}</td></tr>`,
        )}</tbody></table></div>`
  }${list.next !== null ? html`<p class="pager"><a href="${`/shifts?limit=${limit}&before=${list.next}`}">Older shifts</a></p>` : ''}`
  return layout({ title: 'Shifts', site, page: 'shifts', body })
}

function anomalyTable(anomalies: readonly AnomalyView[], f: Formats, caption: string): SafeHtml {
  if (anomalies.length === 0) return html`<p>No anomalies.</p>`
  return html`<div class="table-wrap"><table><caption class="muted">${caption}</caption><thead><tr><th scope="col">Start</th><th scope="col">Duration</th><th scope="col">Severity</th><th scope="col">Kind</th><th scope="col">Sensor</th><th scope="col">Detail</th></tr></thead><tbody>${anomalies.map(
    (a) =>
      html`<tr><td>${f.dateTime(a.startedAt)}</td><td>${a.endedAt === null ? html`<span class="badge open">open</span>` : f.duration(a.endedAt - a.startedAt)}</td><td><span class="badge ${
        a.severity === 'critical' ? 'critical' : 'warning'
      }">${a.severity}</span></td><td>${kindWords(a.kind)}</td><td><a href="${anomalySubject(a).href}">${anomalySubject(a).text}</a></td><td>${a.detail}</td></tr>`,
  )}</tbody></table></div>`
}

const anomalyLabel = (a: AnomalyView, f: Formats) => `${a.severity} ${kindWords(a.kind)} on ${anomalySubject(a).text} from ${f.time(a.startedAt)}: ${a.detail}`

export function shiftPage(site: string, d: ShiftDetail, f: Formats): string {
  const s = d.shift
  const machines = d.machines
  const rows = machines.map((m) => ({ label: `${m.line}/${m.machine}`, items: d.anomalies.filter((a) => a.line === m.line && a.machine === m.machine) }))
  for (const a of d.anomalies) {
    if (!rows.some((r) => r.label === `${a.line}/${a.machine}`)) rows.push({ label: `${a.line}/${a.machine}`, items: d.anomalies.filter((b) => b.line === a.line && b.machine === a.machine) })
  }
  const body = html`<h1>${capitalize(s.name)} shift ${s.date}</h1>${shiftFacts(s, f)}${
    d.narrative ? narrativeBlock(d.narrative, f) : html`<p class="banner">No narrative for this shift yet.</p>`
  }<section aria-labelledby="parts-h"><h2 id="parts-h">Parts per machine</h2>${barChart({
    title: `Parts per machine, ${s.name} shift ${s.date}`,
    bars: machines.map((m) => ({ label: `${m.line}/${m.machine}`, value: m.parts, note: m.rejectRatePct === null ? '' : `${formatNumber(m.rejectRatePct)} % rejects` })),
    unit: 'parts',
  })}</section><section aria-labelledby="timeline-h"><h2 id="timeline-h">Anomalies over the shift</h2>${timelineChart({
    title: `Anomalies per machine, ${f.time(s.startTs)}–${f.time(s.endTs)}`,
    from: s.startTs,
    to: s.endTs,
    rows: rows.map((r) => ({ label: r.label, items: r.items.map((a) => ({ start: a.startedAt, end: a.endedAt, severity: a.severity, label: anomalyLabel(a, f) })) })),
    formatTime: f.time,
  })}</section><section aria-labelledby="kpi-h"><h2 id="kpi-h">KPIs per machine</h2>${machines.map(
    (m) =>
      html`<h3>${m.line}/${m.machine}</h3><p>${formatNumber(m.parts)} parts, ${formatNumber(m.rejects)} rejects${m.rejectRatePct === null ? '' : ` (${formatNumber(m.rejectRatePct)} %)`}, coverage ${formatNumber(
        m.coveragePct,
      )} %, ${m.anomalies} anomalies</p><div class="table-wrap"><table><thead><tr><th scope="col">Sensor</th><th scope="col" class="num">Mean</th><th scope="col" class="num">Min</th><th scope="col" class="num">Max</th><th scope="col" class="num">Std</th><th scope="col" class="num">Coverage</th><th scope="col" class="num">Counter rise</th></tr></thead><tbody>${m.sensors.map(
        (k) =>
          html`<tr><td><a href="${`${sensorHref({ line: m.line, machine: m.machine, sensor: k.sensor })}?shift=${encodeURIComponent(s.id)}`}">${k.sensor}</a>${unitText(k.unit)}</td><td class="num">${formatNumber(
            k.mean,
          )}</td><td class="num">${formatNumber(k.min)}</td><td class="num">${formatNumber(k.max)}</td><td class="num">${formatNumber(k.std)}</td><td class="num">${formatNumber(k.coveragePct)} %</td><td class="num">${
            k.delta === null ? '–' : formatNumber(k.delta)
          }</td></tr>`,
      )}</tbody></table></div>`,
  )}</section><section aria-labelledby="anomalies-h"><h2 id="anomalies-h">Anomalies within the shift</h2>${anomalyTable(d.anomalies, f, `${d.anomalies.length} anomalies`)}</section>`
  return layout({ title: `${capitalize(s.name)} shift ${s.date}`, site, page: 'shifts', body })
}

export function incidentsPage(site: string, result: IncidentsResult, query: IncidentsQuery, f: Formats): string {
  const text = (name: 'line' | 'machine' | 'kind', label: string) => html`<label>${label}<input name="${name}" value="${query[name] ?? ''}" size="12"></label>`
  const select = (name: 'severity' | 'state', label: string, options: string[]) =>
    html`<label>${label}<select name="${name}"><option value="">any</option>${options.map((o) => html`<option value="${o}"${query[name] === o ? html` selected` : ''}>${o}</option>`)}</select></label>`
  const filters: Record<string, string> = {}
  for (const k of ['line', 'machine', 'kind', 'severity', 'state'] as const) {
    const v = query[k]
    if (v !== undefined) filters[k] = v
  }
  const machine = query.line !== undefined && query.machine !== undefined ? `${query.line}/${query.machine}` : undefined
  const body = html`<h1>Incidents${machine === undefined ? '' : html` on ${machine}`}${offlineBadge(result.machineState, f)}</h1><form class="filters" method="get" action="/incidents" role="search" aria-label="Filter incidents">${text('line', 'Line')}${text('machine', 'Machine')}${text(
    'kind',
    'Kind',
  )}${select('severity', 'Severity', ['warning', 'critical'])}${select('state', 'State', ['open', 'closed'])}<label>Show<input name="limit" type="number" min="1" max="500" value="${query.limit}"></label><button type="submit">Filter</button></form>${
    result.incidents.length === 0
      ? html`<p>No anomalies match.</p>`
      : html`<ol class="cards" aria-label="Anomalies, newest first">${result.incidents.map(
          (a) =>
            html`<li class="card"><h2><span class="badge ${a.severity === 'critical' ? 'critical' : 'warning'}">${a.severity}</span><span class="badge ${a.state === 'open' ? 'open' : 'closed'}">${a.state}</span>${capitalize(
              kindWords(a.kind),
            )} on <a href="${anomalySubject(a).href}">${anomalySubject(a).text}</a></h2><p class="muted">${f.dateTime(a.startedAt)}${
              a.endedAt === null ? ' – now' : ` – ${f.time(a.endedAt)} (${f.duration(a.endedAt - a.startedAt)})`
            }</p><p>${a.detail}</p>${
              a.narrative
                ? html`<div class="narrative"><h3>${a.narrative.headline}</h3><p>${generatorBadge(a.narrative.generator)}${groundingBadge(a.narrative.grounding)}</p><div class="body">${a.narrative.body}</div></div>`
                : ''
            }</li>`,
        )}</ol>`
  }${result.next !== null ? html`<p class="pager"><a href="${incidentsHref({ ...filters, limit: String(query.limit), before: String(result.next) })}">Older</a></p>` : ''}`
  return layout({ title: 'Incidents', site, page: 'incidents', body })
}

/**
 * The question page. `answers` is null when questions are not enabled on this gateway;
 * `canAsk` is false when they are but the page cannot ask (no HTTP token configured).
 */
export function answersPage(site: string, answers: readonly AnswerMessage[] | null, canAsk: boolean, f: Formats): string {
  const body =
    answers === null
      ? html`<h1>Questions and answers</h1><p class="banner">Questions are not enabled on this gateway (they need ask.enabled, narrate and an HTTP token in the configuration).</p>`
      : html`<h1>Questions and answers</h1><section aria-labelledby="ask-h"><h2 id="ask-h">Ask a question</h2>${
          canAsk
            ? askForm('page')
            : html`<p class="banner">Asking from this page needs an HTTP token (http.token or SHIFTSCRIBE_HTTP_TOKEN); answers to questions asked over Kafka or the CLI are listed below.</p>`
        }</section><section aria-labelledby="answers-h"><h2 id="answers-h">Newest answers</h2>${
          answers.length === 0 ? html`<p data-answers-empty>No questions asked yet.</p>` : ''
        }<ol class="answers" data-answers aria-label="Answers, newest first">${answers.map((a) => answerCard(a, f))}</ol></section>`
  return layout({ title: 'Ask', site, page: 'answers', body })
}

const HOURS = [1, 4, 8, 24, 72, 168]

export function sensorPage(site: string, d: SensorDetail, hours: number, f: Formats): string {
  const s = d.sensor
  const title = `${s.line}/${s.machine}/${s.sensor}`
  const body = html`<h1>${title}${offlineBadge(d.machineState, f)}</h1><dl class="kv"><dt>Latest</dt><dd>${formatNumber(s.lastValue)}${unitText(s.unit)} at ${f.dateTime(s.lastTs)}</dd><dt>Readings</dt><dd>${s.readings}</dd>${
    d.limits ? html`<dt>Limits</dt><dd>${d.limits.low !== undefined ? `low ${formatNumber(d.limits.low)}` : ''} ${d.limits.high !== undefined ? `high ${formatNumber(d.limits.high)}` : ''}</dd>` : ''
  }</dl><form class="filters" method="get" action="${sensorHref(s)}" aria-label="Chart period"><label>Last<select name="hours">${HOURS.map(
    (h) => html`<option value="${h}"${d.shiftId === null && h === hours ? html` selected` : ''}>${h} h</option>`,
  )}</select></label><label>or shift<select name="shift"><option value="">–</option>${d.shifts.map(
    (sh) => html`<option value="${sh.id}"${sh.id === d.shiftId ? html` selected` : ''}>${sh.date} ${sh.name}</option>`,
  )}</select></label><button type="submit">Show</button></form><h2>${d.shiftId ? `Shift ${d.shiftId}` : `Last ${hours} h`}: ${f.dateTime(d.from)}–${f.dateTime(d.to)}</h2>${bandChart({
    title: `${title}, ${d.stepMs === 60_000 ? 'minute' : `${d.stepMs / 60_000}-minute`} mean with min–max band`,
    from: d.from,
    to: d.to,
    stepMs: d.stepMs,
    points: d.points,
    ...(d.limits ? { limits: d.limits } : {}),
    markers: d.anomalies.map((a) => ({ start: a.startedAt, end: a.endedAt, severity: a.severity, label: anomalyLabel(a, f) })),
    unit: s.unit,
    formatTime: d.to - d.from > 36 * 3_600_000 ? f.dateTime : f.time,
  })}<p class="muted">${d.points.length} points of ${d.stepMs / 60_000} min; the line is the mean, the band the minimum and maximum.</p><h2>Anomalies in this period</h2>${anomalyTable(
    d.anomalies,
    f,
    `${d.anomalies.length} anomalies on ${title}`,
  )}`
  return layout({ title, site, page: 'sensor', body })
}

export function systemPage(v: SystemView, f: Formats): string {
  const l = v.ledger
  const body = html`<h1>System</h1><section aria-labelledby="stages-h"><h2 id="stages-h">Stages</h2><div class="table-wrap"><table><thead><tr><th scope="col">Stage</th><th scope="col">State</th><th scope="col">Detail</th></tr></thead><tbody>${Object.entries(
    v.health,
  ).map(
    ([name, h]) => html`<tr><td>${name}</td><td><span class="badge ${h.ok ? 'grounded' : 'ungrounded'}">${h.ok ? 'ok' : 'not ok'}</span></td><td>${h.detail}</td></tr>`,
  )}</tbody></table></div></section>${pipelineSection(v, f)}<section aria-labelledby="store-h"><h2 id="store-h">State store</h2><dl class="kv"><dt>Newest reading</dt><dd>${
    v.store.newestTs === null ? '–' : f.dateTime(v.store.newestTs)
  }</dd><dt>Readings per minute</dt><dd>${formatNumber(v.store.readingsPerMin)}</dd><dt>Sensors</dt><dd>${v.store.sensors}</dd><dt>Open anomalies</dt><dd>${v.store.openAnomalies}</dd><dt>Closed shifts</dt><dd>${
    v.store.shifts
  }</dd><dt>Narratives</dt><dd>${v.store.narratives}</dd><dt>Outbox pending</dt><dd>${v.store.outboxPending}</dd></dl></section>${
    l
      ? html`<section aria-labelledby="ledger-h"><h2 id="ledger-h">Loss ledger</h2><dl class="kv"><dt>Ingest rate</dt><dd>${v.ingestPerS === null ? 'measuring (reload)' : `${formatNumber(v.ingestPerS)} readings/s`}</dd><dt>Received</dt><dd>${l.received}</dd><dt>Journaled</dt><dd>${l.journaled}</dd><dt>Quarantined</dt><dd>${l.quarantined}</dd><dt>Delivered to Kafka</dt><dd>${l.delivered}</dd><dt>Pending in journal</dt><dd>${l.pending}</dd><dt>Dropped</dt><dd>${l.dropped}</dd><dt>Balanced</dt><dd>${
          l.received === l.journaled + l.quarantined && l.journaled + l.quarantined === l.delivered + l.pending + l.dropped ? 'yes' : 'NO'
        }</dd></dl></section>`
      : ''
  }${
    v.files.length > 0
      ? html`<section aria-labelledby="disk-h"><h2 id="disk-h">Disk use</h2><div class="table-wrap"><table><thead><tr><th scope="col">Store</th><th scope="col">File</th><th scope="col" class="num">Size</th></tr></thead><tbody>${v.files.map(
          (x) => html`<tr><td>${x.name}</td><td>${x.path}</td><td class="num">${formatBytes(x.bytes)}</td></tr>`,
        )}</tbody></table></div></section>`
      : ''
  }<section aria-labelledby="live-h"><h2 id="live-h">Live updates</h2><p>${v.live.subscribers} clients, ${v.live.published} events published, ${v.live.dropped} dropped for slow clients.</p></section><section aria-labelledby="metrics-h"><h2 id="metrics-h">Metrics</h2>${
    v.metrics.length === 0
      ? html`<p>None.</p>`
      : html`<div class="table-wrap"><table><thead><tr><th scope="col">Metric</th><th scope="col">Labels</th><th scope="col" class="num">Value</th></tr></thead><tbody>${v.metrics.flatMap((m) =>
          m.values.map(
            (x) =>
              html`<tr><td title="${m.help}">${m.name}</td><td>${Object.entries(x.labels)
                .map(([k, val]) => `${k}=${val}`)
                .join(', ')}</td><td class="num">${formatNumber(x.value)}</td></tr>`,
          ),
        )}</tbody></table></div>`
  }</section>`
  return layout({ title: 'System', site: v.site, page: 'system', body })
}

const ago = (ts: number | null, now: number, f: Formats) => (ts === null ? 'never' : `${f.dateTime(ts)} (${f.duration(now - ts)} ago)`)

/** Consumer lag, the model and its queue, and forwarding: the numbers an operator asks for first. */
function pipelineSection(v: SystemView, f: Formats): SafeHtml | '' {
  const { aggregate: a, llm, narrate: n, forward: fw } = v
  if (a === null && llm === null && n === null && fw === null) return ''
  return html`<section aria-labelledby="pipeline-h"><h2 id="pipeline-h">Pipeline</h2><dl class="kv">${
    a
      ? html`<dt>Kafka consumer lag (aggregator)</dt><dd data-field="aggregate-lag">${a.consumerLag} messages · last batch ${ago(a.lastBatchAt, v.generatedAt, f)}${
          a.lastError ? html` · <span class="error">${a.lastError}</span>` : ''
        }</dd>`
      : ''
  }${
    llm
      ? html`<dt>LLM</dt><dd data-field="llm-state"><span class="badge ${llm.state === 'ready' ? 'grounded' : llm.state === 'unavailable' ? 'ungrounded' : 'template'}">${llm.state}</span>${llm.model ? ` ${llm.model}` : ''}${
          llm.reason ? ` · ${llm.reason}` : ''
        }</dd>`
      : ''
  }${
    n
      ? html`<dt>Narrate queue</dt><dd data-field="narrate-queue">${n.queueDepth} waiting · ${n.running === null ? 'idle' : html`writing <code>${n.running}</code>`} · last narrative ${ago(
          n.lastNarrativeAt,
          v.generatedAt,
          f,
        )}${n.lastError ? html` · last error: <span class="error">${n.lastError}</span>` : ''}</dd>`
      : ''
  }${
    fw
      ? html`<dt>Forwarder lag</dt><dd data-field="forward-lag">${fw.lag} messages${
          Object.keys(fw.lagBySource).length > 0 ? ` (${Object.entries(fw.lagBySource).map(([k, x]) => `${k} ${x}`).join(', ')})` : ''
        } · last ack ${ago(fw.lastSuccessAt, v.generatedAt, f)}</dd><dt>Forwarder last error</dt><dd data-field="forward-error">${
          fw.lastError === null
            ? 'none (forwarding works)'
            : html`<span class="error">${fw.lastError}</span>${
                fw.failingSince !== null ? ` · failing for ${f.duration(v.generatedAt - fw.failingSince)}` : ` · ${ago(fw.lastErrorAt, v.generatedAt, f)}, forwarding works again`
              }`
        }</dd>`
      : ''
  }</dl></section>`
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let i = -1
  do {
    v /= 1024
    i++
  } while (v >= 1024 && i < units.length - 1)
  return `${formatNumber(v)} ${units[i]}`
}

export function errorPage(site: string, status: number, error: string, message: string): string {
  const title = status === 404 ? 'Not found' : status === 400 ? 'Bad request' : 'Error'
  return layout({ title, site, page: 'error', body: html`<h1>${title}</h1><p>${message}</p><p class="muted">${status} ${error}</p><p><a href="/">Back to the overview</a></p>` })
}
