// Template narratives: plain, deterministic English from the same facts the model gets. Always
// computed first (well under 5 ms), so that a narrative exists when the model is absent, late
// or ungrounded. Every number in a template is a fact's `display`.
import { NARRATIVE_LIMITS } from '../bus/messages.js'
import type { Fact, FactSet, NarrativeText } from './types.js'

const sentence = (s: string): string => {
  const t = s.trim().replace(/[\s.;,:]+$/, '')
  return t === '' ? '' : `${t.charAt(0).toUpperCase()}${t.slice(1)}.`
}

const cut = (s: string, max: number): string => (s.length <= max ? s : `${s.slice(0, max - 1).replace(/\s+\S*$/, '')}…`)

/** Keeps a narrative text within the published bounds (a long fact list must not break the schema). */
export function boundText(t: NarrativeText): NarrativeText {
  return {
    headline: cut(t.headline, NARRATIVE_LIMITS.headline),
    body: cut(t.body, NARRATIVE_LIMITS.body),
    highlights: t.highlights.slice(0, NARRATIVE_LIMITS.highlights).map((h) => cut(h, NARRATIVE_LIMITS.highlight)),
  }
}

export function renderTemplate(set: FactSet): NarrativeText {
  return boundText(set.kind === 'incident' ? incidentTemplate(set) : periodTemplate(set))
}

function lookup(set: FactSet): (id: string) => Fact | undefined {
  const byId = new Map(set.facts.map((f) => [f.id, f]))
  return (id) => byId.get(id)
}

function anomalyFacts(set: FactSet): Fact[] {
  return set.facts.filter((f) => /^anomaly_\d+$/.test(f.id))
}

function periodTemplate(set: FactSet): NarrativeText {
  const get = lookup(set)
  const parts = get('parts_total')
  const rejects = get('rejects_total')
  const rate = get('reject_rate_total')
  const total = get('anomalies_total')
  const critical = get('anomalies_critical')
  const from = get('period.start')
  const to = get('period.end')
  const anomalies = anomalyFacts(set)

  const headlineBits: string[] = []
  if (parts) headlineBits.push(parts.display)
  if (rate) headlineBits.push(`reject rate ${rate.display}`)
  if (total) headlineBits.push(total.value === 0 ? 'no anomalies' : `${total.display} ${total.value === 1 ? 'anomaly' : 'anomalies'}`)
  const headline = headlineBits.length > 0 ? `${set.title}: ${headlineBits.join(', ')}` : set.title

  const body: string[] = []
  const span = from && to ? `From ${from.display} to ${to.display}` : 'In this period'
  if (parts && rejects) {
    body.push(sentence(`${span} the site made ${parts.display} and had ${rejects.display}${rate ? ` (reject rate ${rate.display})` : ''}`))
  } else {
    body.push(sentence(`${span} no part counters reported`))
  }
  const rates = set.facts.filter((f) => f.id.startsWith('reject_rate.'))
  const worst = [...rates].sort((a, b) => b.value - a.value)[0]
  if (worst && rates.length > 1) body.push(sentence(`The highest reject rate was on ${worst.scope}, ${worst.display}`))
  if (total && total.value > 0) {
    body.push(sentence(`There ${total.value === 1 ? 'was' : 'were'} ${total.display} ${total.value === 1 ? 'anomaly' : 'anomalies'}${critical ? `, ${critical.display} critical` : ''}`))
    const top = anomalies[0]
    if (top) body.push(sentence(`The most important: ${top.text}`))
  } else if (total) body.push('No anomalies were detected.')
  const coverages = set.facts.filter((f) => f.id.startsWith('coverage.'))
  const lowest = [...coverages].sort((a, b) => a.value - b.value)[0]
  const mean = get('coverage_mean')
  if (lowest && lowest.value < 95) body.push(sentence(`Data coverage was lowest on ${lowest.scope}, ${lowest.display}`))
  else if (mean) body.push(sentence(`Mean data coverage was ${mean.display}`))

  const highlights = anomalies.map((a) => sentence(a.text))
  if (worst && rates.length > 1) highlights.push(sentence(worst.text))
  if (lowest && lowest.value < 95) highlights.push(sentence(lowest.text))
  if (highlights.length === 0 && parts) highlights.push(sentence(parts.text))
  return { headline, body: body.join(' '), highlights: highlights.slice(0, 3) }
}

function incidentTemplate(set: FactSet): NarrativeText {
  const get = lookup(set)
  const anomalies = anomalyFacts(set)
  const total = get('anomalies_total')
  const top = anomalies[0]
  const headline = top ? `${set.title}: ${top.text.split(',')[0] ?? ''}` : set.title
  const body: string[] = []
  if (total && total.value > 1) body.push(sentence(`${total.text} within the incident`))
  for (const a of anomalies) body.push(sentence(a.text))
  for (const f of set.facts.filter((f) => f.id.startsWith('change.'))) body.push(sentence(f.text))
  const context = set.facts.filter((f) => f.id.startsWith('before.')).slice(0, 3)
  if (context.length > 0) body.push(sentence(`Before the incident: ${context.map((f) => f.text.replace(/ in the .* before$/, '')).join('; ')}`))
  // A machine that went offline: its sensors' last values (`last.<sensor>` is about `line/machine/sensor`).
  const last = set.facts.filter((f) => f.id.startsWith('last.')).slice(0, 4)
  if (last.length > 0) body.push(sentence(`Last readings before it went offline: ${last.map((f) => `${f.scope.split('/')[2] ?? ''} ${f.display}`).join('; ')}`))
  return { headline, body: body.join(' ') || sentence(set.title), highlights: anomalies.slice(0, 3).map((a) => sentence(a.text)) }
}

/** A plan the model made: fact ids with digit-free phrases. */
export interface Plan {
  headline: { fact: string; phrase: string }
  points: { fact: string; phrase: string }[]
}

// Words a phrase may use besides those of its own fact: neutral ones that claim nothing about
// direction, cause or other equipment.
const NEUTRAL_WORDS = new Set(
  (
    'the a an and or of in on at to for by with from during this that these those its it there was were is are be been has had have ' +
    'shift shifts report summary total overall site plant machine machines line lines sensor sensors data value values rate rates ' +
    'made make parts part production produced output rejected reject rejects quality scrap anomaly anomalies incident incidents alarm ' +
    'alarms event events number count time period mean average peak level reading readings coverage main key important most notable ' +
    'note issue issues problem problems detected recorded seen observed reported occurred happened compared today overview status'
  ).split(' '),
)

const words = (s: string): string[] =>
  s
    .toLowerCase()
    .split(/[^a-z]+/)
    .filter((w) => w.length > 0)
    .map((w) => (w.length > 3 && w.endsWith('s') ? w.slice(0, -1) : w))

/**
 * A model phrase is kept only if every word in it is a word of its fact's text or a neutral
 * word: a small model otherwise copies "oil pressure dropped" from its example onto a reject
 * rate. The fact's own text follows anyway, so dropping a phrase loses no information.
 */
export function phraseFits(phrase: string, fact: Fact): boolean {
  const own = new Set(words(fact.text))
  const neutral = new Set([...NEUTRAL_WORDS].flatMap(words))
  return words(phrase).every((w) => own.has(w) || neutral.has(w))
}

/** Renders a plan: each phrase followed by its fact's text, so every number comes from a fact. */
export function renderPlan(plan: Plan, set: FactSet): NarrativeText {
  const get = lookup(set)
  const line = (p: { fact: string; phrase: string }, short = false): string => {
    const fact = get(p.fact)
    // A headline keeps the first clause of a long fact ("spike on L1/m3 spindle_temp (critical) from 14:05").
    const text = fact ? (short ? (fact.text.split(', ')[0] ?? fact.text) : fact.text) : ''
    const trimmed = p.phrase.trim().replace(/[\s.;,:]+$/, '')
    const phrase = fact && phraseFits(trimmed, fact) ? trimmed : ''
    const capital = (s: string) => `${s.charAt(0).toUpperCase()}${s.slice(1)}`
    return phrase === '' ? capital(text) : `${capital(phrase)} (${text})`
  }
  const seen = new Set<string>()
  const picks = plan.points.filter((p) => !seen.has(p.fact) && seen.add(p.fact))
  // The most important anomaly is always reported, whatever the model picked.
  const top = set.topAnomalyFactId
  if (top !== undefined && !seen.has(top) && plan.headline.fact !== top) picks.push({ fact: top, phrase: '' })
  // An answer leads with its main fact, whatever the model picked for the headline.
  const primary = set.primaryFactId
  let headline = plan.headline
  if (primary !== undefined && headline.fact !== primary) {
    const own = picks.findIndex((p) => p.fact === primary)
    const phrase = own >= 0 ? (picks.splice(own, 1)[0]?.phrase ?? '') : ''
    if (!picks.some((p) => p.fact === headline.fact)) picks.unshift(headline)
    headline = { fact: primary, phrase }
  }
  const points = picks.map((p) => line(p))
  return boundText({ headline: `${set.title}: ${line(headline, true)}`, body: points.map((p) => `${p}.`).join(' '), highlights: points.slice(0, 3) })
}
