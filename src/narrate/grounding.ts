// Grounding: every number, percentage, duration, time and date in a narrative equals a fact within the
// rounding the text shows (on the metric and scope the text ties it to), and every name it mentions is in the facts.
import type { Fact, FactMetric, FactSet, GroundingReport } from './types.js'

export interface GroundingOptions {
  /** Every line/machine/sensor name the plant has (the sensor registry); a mention of one not in the fact set is an unknown name. */
  knownNames?: readonly string[]
}

/**
 * `bare` is a number with no unit, `unit` one with a sensor unit (`°C`, `bar`, …); times and dates are
 * matched by their display only.
 */
export type QuantityKind = 'bare' | 'percent' | 'duration' | 'unit' | 'time' | 'date'

export interface Quantity {
  kind: QuantityKind
  /** The number as written (number words in digits); NaN for times and dates. */
  value: number
  /** Decimals written: the text claims `value` to ±0.5·10^-decimals of its unit. */
  decimals: number
  /** The canonical unit: `%`, `s`/`min`/`h`, a sensor unit such as `°C`; `` when bare; `time` or `date`. */
  unit: string
  /** How messages show it: `1,302`, `1.5 %`, `12.5 min`, `14:05`, `2026-11-26`. */
  shown: string
  start: number
  end: number
}

type Token =
  | { t: 'word'; lower: string; start: number; end: number; metrics?: readonly FactMetric[] | undefined }
  | { t: 'name'; text: string; known: boolean; start: number; end: number }
  | { t: 'qty'; q: Quantity; start: number; end: number }
  | { t: 'stop'; colon: boolean; start: number; end: number }

interface Vocabulary {
  /** Lower-cased names the facts are about: set.names, fact scopes, and every contiguous `/`-sub-path of them. */
  accepted: Set<string>
  /** The direct parents a part has in the accepted paths (`press_05` → `l2`), to catch `L1/press_05`. */
  parents: Map<string, Set<string>>
  /** Every accepted or registry name as one longest-first alternation; null when there are none. */
  nameRe: RegExp | null
  unitRe: RegExp
  unitCanon: ReadonlyMap<string, string>
}

const DURATION_S: Readonly<Record<string, number>> = { ms: 0.001, s: 1, min: 60, h: 3600 }

// Text spelling → canonical unit. Word spellings also match capitalised and upper case; symbols match as written
// (so `A` is amperes but the article `a` is not).
const UNIT_ALIASES: ReadonlyArray<readonly [string, string]> = [
  ['%', '%'],
  ['percent', '%'],
  ['per cent', '%'],
  ['pct', '%'],
  ['ms', 'ms'],
  ['s', 's'],
  ['sec', 's'],
  ['secs', 's'],
  ['second', 's'],
  ['seconds', 's'],
  ['min', 'min'],
  ['mins', 'min'],
  ['minute', 'min'],
  ['minutes', 'min'],
  ['h', 'h'],
  ['hr', 'h'],
  ['hrs', 'h'],
  ['hour', 'h'],
  ['hours', 'h'],
  ['°C', '°C'],
  ['° C', '°C'],
  ['ºC', '°C'],
  ['℃', '°C'],
  ['°', '°C'],
  ['degC', '°C'],
  ['deg C', '°C'],
  ['degrees C', '°C'],
  ['degrees Celsius', '°C'],
  ['degree Celsius', '°C'],
  ['degrees', '°C'],
  ['°F', '°F'],
  ['degrees F', '°F'],
  ['degrees Fahrenheit', '°F'],
  ['bar', 'bar'],
  ['mbar', 'mbar'],
  ['kPa', 'kPa'],
  ['MPa', 'MPa'],
  ['psi', 'psi'],
  ['mm/s', 'mm/s'],
  ['m/s', 'm/s'],
  ['kW', 'kW'],
  ['kWh', 'kWh'],
  ['W', 'W'],
  ['A', 'A'],
  ['mA', 'mA'],
  ['V', 'V'],
  ['rpm', 'rpm'],
  ['Hz', 'Hz'],
  ['kHz', 'kHz'],
  ['kg', 'kg'],
  ['l/min', 'l/min'],
  ['L/min', 'l/min'],
  ['Nm', 'Nm'],
  ['mm', 'mm'],
  ['µm', 'µm'],
]
const WORD_UNITS = new Set('percent|per cent|pct|sec|secs|second|seconds|min|mins|minute|minutes|hr|hrs|hour|hours|degrees|rpm'.split('|'))

const UNIT_CANON: ReadonlyMap<string, string> = new Map(
  UNIT_ALIASES.flatMap(([spelling, canon]) => {
    const word = WORD_UNITS.has(spelling) || spelling.startsWith('degree')
    const variants = word ? [spelling, (spelling[0] ?? '').toUpperCase() + spelling.slice(1), spelling.toUpperCase()] : [spelling]
    return variants.map((v) => [v, canon] as const)
  }),
)
const UNIT_RE = unitPattern([...UNIT_CANON.keys()])

/** Count nouns are metric keywords, not units: `19 parts` is a bare 19 tied to the parts metric. */
const COUNT_UNITS = new Set(['', 'time', 'date', 'parts', 'part', 'pcs', 'count'])

const SMALL: Readonly<Record<string, number>> = {
  zero: 0,
  one: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
  eleven: 11,
  twelve: 12,
  thirteen: 13,
  fourteen: 14,
  fifteen: 15,
  sixteen: 16,
  seventeen: 17,
  eighteen: 18,
  nineteen: 19,
}
const TENS: Readonly<Record<string, number>> = { twenty: 20, thirty: 30, forty: 40, fifty: 50, sixty: 60, seventy: 70, eighty: 80, ninety: 90 }
const SCALE_WORDS = new Set(['hundred', 'thousand', 'dozen'])

const PARTS: readonly FactMetric[] = ['parts']
const REJECTS: readonly FactMetric[] = ['rejects']
const ANOMALIES: readonly FactMetric[] = ['anomalies']
const HIGH: readonly FactMetric[] = ['max', 'observed']
const LOW: readonly FactMetric[] = ['min', 'observed']
const EXPECTED: readonly FactMetric[] = ['expected']

/** A word next to a number says which metric the number is; `rate` after a reject word is handled as a pair. */
const KEYWORDS: Readonly<Record<string, readonly FactMetric[]>> = {
  part: PARTS,
  parts: PARTS,
  piece: PARTS,
  pieces: PARTS,
  unit: PARTS,
  units: PARTS,
  made: PARTS,
  produced: PARTS,
  output: PARTS,
  reject: REJECTS,
  rejects: REJECTS,
  rejected: REJECTS,
  rejection: REJECTS,
  rejections: REJECTS,
  scrap: REJECTS,
  scrapped: REJECTS,
  defect: REJECTS,
  defects: REJECTS,
  defective: REJECTS,
  coverage: ['coverage'],
  anomaly: ANOMALIES,
  anomalies: ANOMALIES,
  alarm: ANOMALIES,
  alarms: ANOMALIES,
  alert: ANOMALIES,
  alerts: ANOMALIES,
  incident: ANOMALIES,
  incidents: ANOMALIES,
  event: ANOMALIES,
  events: ANOMALIES,
  mean: ['mean'],
  average: ['mean'],
  averaged: ['mean'],
  avg: ['mean'],
  max: HIGH,
  maximum: HIGH,
  peak: HIGH,
  peaked: HIGH,
  highest: HIGH,
  min: LOW,
  minimum: LOW,
  lowest: LOW,
  std: ['std'],
  stdev: ['std'],
  deviation: ['std'],
  limit: EXPECTED,
  threshold: EXPECTED,
  expected: EXPECTED,
  baseline: EXPECTED,
  setpoint: EXPECTED,
  target: EXPECTED,
  latest: ['last'],
  currently: ['last'],
  lasted: ['duration'],
  lasting: ['duration'],
  duration: ['duration'],
}
const RATE_PREFIXES = new Set(['reject', 'rejects', 'rejection', 'scrap', 'defect'])
const PERCENT_METRICS = new Set<FactMetric>(['reject_rate', 'coverage', 'mean', 'min', 'max', 'std', 'observed', 'expected', 'last'])
const SENSOR_METRICS = new Set<FactMetric>(['mean', 'min', 'max', 'std', 'observed', 'expected', 'last'])

/** Skipped without counting toward a window's word limit. */
const STOPWORDS = new Set(
  (
    'a an the of was were is are be been being had has have in on at by to from for during this that these those its their which there it than ' +
    'total overall about approximately around only just some all'
  ).split(' '),
)
/** End a window: what follows a conjunction is another claim (`1302 parts and 19 …`). */
const CONJUNCTIONS = new Set('and or but while whereas with plus then although though versus vs against compared'.split(' '))
/** End the window after a number: the noun a number counts comes before any preposition (`93.1 °C above the limit`). */
const PREPOSITIONS = new Set('above below over under than from to at on in by during for after before since until within across per'.split(' '))
const STOP_CHARS = new Set(['.', ';', '!', '?', ',', '(', ')', '[', ']', '{', '}', '—', '–', '"', '“', '”', '\n', ':'])

const WORD_RE = /[\p{L}_][\p{L}\p{N}_]*(?:[-/][\p{L}\p{N}_]+)*/uy
const LETTERS_RE = /\p{L}+(?:-\p{L}+)*(?![\p{N}_/])/uy
const BLANKS_RE = /[ \t\u00a0\u202f]+/y
const DATE_RE = /(\d{4}-\d{2}-\d{2})(?![\p{N}]|-\d)/uy
const TIME_RE = /(\d{1,2}):(\d{2})(?::(\d{2}))?(?![\p{N}]|[:.]\d)/uy
const NUMBER_RE = /([-−+]?)(\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.(\d+))?(?!\.?\d)/uy
const SUFFIX_RE = /[\p{L}\p{N}_]+/uy
const LIST_MARKER_RE = /\d{1,2}[.)][ \t]/y
const WORD_CHAR = /[\p{L}\p{N}_]/u
const WORD_END = /[\p{L}\p{N}_][/-]?$/u
const IDENT_CHAR = /[\p{N}_]/u

/**
 * Checks a narrative against its facts. Rules for the ambiguous cases:
 * - a number written with d decimals matches a fact when |x − v| ≤ 0.5·10^−d (the text may round the fact,
 *   never change it); `1300` for 1302 is a different number, `about` or not;
 * - `%` matches only `%` facts, durations convert between ms/s/min/h (precision judged in the text's unit),
 *   a sensor unit matches facts of that unit, a bare number any numeric fact (but `0.015` is not `1.5 %`);
 * - a metric keyword after the number (up to 3 words, before any preposition) or else before it (up to 4 words,
 *   same clause) must agree with the matching fact's metric (`19 parts made` when 19 is rejects fails); the
 *   nearest keyword wins except that `parts … rejected` means rejects; durations carry no keyword check;
 * - a lone `one` is checked only before a unit or a metric keyword (`one anomaly`, not `one of the presses`);
 *   number words from two up are always checked; `24h`/`12min` are quantities, `3rd`/`3D` are not;
 * - names (set.names or parts of them) before the number in its clause must be in the matching fact's scope
 *   (`press_05 reject rate 4.2 %` when 4.2 % is press_03's fails); a `site` fact fits a line name but not a
 *   machine or sensor name (one that has a parent in the fact set's paths).
 */
export function checkGrounding(text: string, set: Pick<FactSet, 'facts' | 'names'>, options: GroundingOptions = {}): GroundingReport {
  const vocab = buildVocabulary(set, options.knownNames ?? [])
  const unknown = new Map<string, string>()
  const tokens = tokenize(text, vocab, unknown)
  const facts = set.facts.filter((f) => f.unit === 'time' || f.unit === 'date' || Number.isFinite(f.value)).map((f) => ({ f, unit: canonicalUnit(f.unit, vocab) }))
  const times = new Set(set.facts.filter((f) => f.unit === 'time').map((f) => stampOf(f.display, 'time')))
  const dates = new Set(set.facts.filter((f) => f.unit === 'date').map((f) => stampOf(f.display, 'date')))
  const unmatched: string[] = []
  let numbersChecked = 0
  tokens.forEach((tok, k) => {
    if (tok.t !== 'qty') return
    numbersChecked++
    const q = tok.q
    const after = walk(tokens, k, 1)
    const before = walk(tokens, k, -1)
    const chosen = pickMetrics(after.hits, q.kind) ?? pickMetrics(before.hits, q.kind)
    const why = explain(q, facts, times, dates, chosen?.metrics, before.hints, vocab.parents)
    if (why === null) return
    const fromAfter = chosen !== undefined && after.hits.some((h) => h.tok === chosen.tok)
    const scoped = why.endsWith('(wrong scope)') ? before.hintsFrom : q.start
    const from = Math.min(q.start, scoped, before.near[0]?.start ?? q.start, chosen && !fromAfter ? chosen.tok.start : q.start)
    const to = Math.max(q.end, (after.near[1] ?? after.near[0])?.end ?? q.end, chosen && fromAfter ? chosen.tok.end : q.end)
    unmatched.push(`"${text.slice(from, to).replace(/\s+/g, ' ').trim()}": ${why}`)
  })
  const unknownNames = [...unknown.values()]
  return { ok: unmatched.length === 0 && unknownNames.length === 0, numbersChecked, unmatched, unknownNames }
}

/** The quantities grounding checks in `text`, in order; digits inside `names` and identifiers are not quantities. */
export function extractQuantities(text: string, names: readonly string[] = []): Quantity[] {
  const tokens = tokenize(text, buildVocabulary({ facts: [], names: [...names] }, []), new Map())
  return tokens.flatMap((t) => (t.t === 'qty' ? [t.q] : []))
}

function explain(
  q: Quantity,
  facts: ReadonlyArray<{ f: Fact; unit: string }>,
  times: ReadonlySet<string>,
  dates: ReadonlySet<string>,
  metrics: readonly FactMetric[] | undefined,
  hints: readonly string[],
  parents: ReadonlyMap<string, unknown>,
): string | null {
  if (q.kind === 'time') return times.has(q.shown) ? null : `no fact has ${q.shown}`
  if (q.kind === 'date') return dates.has(q.shown) ? null : `no fact has ${q.shown}`
  const byValue = facts.filter((x) => valueMatches(q, x.f, x.unit)).map((x) => x.f)
  if (byValue.length === 0) return `no fact has ${q.shown}`
  const byMetric = metrics === undefined ? byValue : byValue.filter((f) => metrics.includes(f.metric))
  if (byMetric.length === 0) return `${q.shown} is ${unique(byValue.map((f) => f.metric)).join(' or ')}, not ${metrics?.join(' or ')} (wrong metric)`
  // A one-line plant's summary says `L1 made 1302 parts` of a site total; a machine or sensor name may not claim it.
  const fits = (f: Fact): boolean => (f.scope === 'site' ? hints.every((h) => !parents.has(lastPart(h))) : hints.every((h) => scopeHas(f.scope, h)))
  const byScope = byMetric.filter(fits)
  if (byScope.length === 0) return `${q.shown} is ${unique(byMetric.map((f) => f.scope)).join(' or ')}, not ${hints.join(' ')} (wrong scope)`
  return null
}

function valueMatches(q: Quantity, f: Fact, factUnit: string): boolean {
  if (f.unit === 'time' || f.unit === 'date') return false
  let v = f.value
  if (q.kind === 'percent' && factUnit !== '%') return false
  if (q.kind === 'unit' && factUnit !== q.unit) return false
  if (q.kind === 'duration') {
    const from = DURATION_S[factUnit]
    const to = DURATION_S[q.unit]
    if (from === undefined || to === undefined) return false
    v = (v * from) / to
  }
  return Math.abs(q.value - v) <= 0.5 * 10 ** -q.decimals + 1e-9 * Math.max(1, Math.abs(v))
}

function lastPart(name: string): string {
  return name.toLowerCase().split('/').pop() ?? ''
}

/** `L1/press_03/spindle_temp` has `L1`, `press_03`, `L1/press_03`, `press_03/spindle_temp`. */
function scopeHas(scope: string, name: string): boolean {
  const s = `/${scope.toLowerCase()}/`
  return s.includes(`/${name.toLowerCase()}/`)
}

interface Hit {
  metrics: readonly FactMetric[]
  tok: Token
}

interface Window {
  hits: Hit[]
  /** Known names passed on the way (before the number only), and where the farthest one starts. */
  hints: string[]
  hintsFrom: number
  /** Non-stop tokens passed, nearest first. */
  near: Token[]
}

/**
 * The words next to token k, up to 3 content words after it (dir 1) or 4 before it (dir -1), ending at a clause
 * mark, another quantity or a conjunction; a colon ends only the window after (`parts made: 1302`).
 */
function walk(tokens: readonly Token[], k: number, dir: 1 | -1): Window {
  const w: Window = { hits: [], hints: [], hintsFrom: Infinity, near: [] }
  const limit = dir === 1 ? 3 : 4
  let content = 0
  for (let j = k + dir; j >= 0 && j < tokens.length; j += dir) {
    const tok = tokens[j] as Token
    if (tok.t === 'stop') {
      if (tok.colon && dir === -1) continue
      break
    }
    if (tok.t === 'qty') break
    if (tok.t === 'word' && (CONJUNCTIONS.has(tok.lower) || (dir === 1 && PREPOSITIONS.has(tok.lower)))) break
    w.near.push(tok)
    if (tok.t === 'name') {
      if (dir === -1 && tok.known) {
        w.hints.push(tok.text)
        w.hintsFrom = tok.start
      }
      continue
    }
    if (tok.metrics) w.hits.push({ metrics: tok.metrics, tok })
    if (STOPWORDS.has(tok.lower)) continue
    if (++content >= limit) break
  }
  return w
}

/** The nearest keyword that applies to this kind of quantity; `parts … rejected` in one window means rejects. */
function pickMetrics(hits: readonly Hit[], kind: QuantityKind): Hit | undefined {
  const usable = hits.map((h) => ({ metrics: applicable(h.metrics, kind), tok: h.tok })).filter((h) => h.metrics.length > 0)
  const first = usable[0]
  if (first?.metrics.includes('parts')) return usable.find((h) => h.metrics.includes('rejects')) ?? first
  return first
}

/** Count nouns type bare counts only; the unit of a percentage or a sensor value already says what it is. */
function applicable(metrics: readonly FactMetric[], kind: QuantityKind): readonly FactMetric[] {
  switch (kind) {
    case 'bare':
      return metrics
    case 'percent':
      return unique(metrics.map((m) => (m === 'rejects' ? 'reject_rate' : m)).filter((m) => PERCENT_METRICS.has(m)))
    case 'unit':
      return metrics.filter((m) => SENSOR_METRICS.has(m))
    default:
      return []
  }
}

function buildVocabulary(set: Pick<FactSet, 'facts' | 'names'>, knownNames: readonly string[]): Vocabulary {
  const accepted = new Set<string>()
  const parents = new Map<string, Set<string>>()
  const addPath = (name: string): void => {
    const parts = name
      .toLowerCase()
      .split('/')
      .map((p) => p.trim())
      .filter((p) => p.length > 0 && p !== 'site')
    for (let a = 0; a < parts.length; a++) {
      for (let b = a + 1; b <= parts.length; b++) accepted.add(parts.slice(a, b).join('/'))
      if (a > 0) {
        const part = parts[a] as string
        const seen = parents.get(part) ?? new Set<string>()
        seen.add(parts[a - 1] as string)
        parents.set(part, seen)
      }
    }
  }
  for (const n of set.names) addPath(n)
  for (const f of set.facts) addPath(f.scope)
  // Only names with a letter are masked: a machine called `3` must not hide every 3 in the text.
  const maskable = unique([...accepted, ...knownNames.map((n) => n.trim().toLowerCase())]).filter((n) => /\p{L}/u.test(n))
  maskable.sort((a, b) => b.length - a.length)
  const nameRe = maskable.length === 0 ? null : new RegExp(`(?:${maskable.map(escapeRe).join('|')})(?![\\p{L}\\p{N}_]|[/-][\\p{L}\\p{N}_])`, 'giu')

  const extra = unique(set.facts.map((f) => f.unit.trim()).filter((u) => !COUNT_UNITS.has(u.toLowerCase()) && !UNIT_CANON.has(u)))
  if (extra.length === 0) return { accepted, parents, nameRe, unitRe: UNIT_RE, unitCanon: UNIT_CANON }
  const unitCanon = new Map([...UNIT_CANON, ...extra.map((u) => [u, u] as const)])
  return { accepted, parents, nameRe, unitRe: unitPattern([...unitCanon.keys()]), unitCanon }
}

function unitPattern(spellings: readonly string[]): RegExp {
  const alternatives = [...spellings].sort((a, b) => b.length - a.length).map(escapeRe)
  return new RegExp(`(?:[ \\t\\u00a0\\u202f]*|-)(${alternatives.join('|')})(?![\\p{L}\\p{N}_])`, 'uy')
}

function canonicalUnit(unit: string, vocab: Vocabulary): string {
  const u = unit.trim()
  return vocab.unitCanon.get(u) ?? vocab.unitCanon.get(u.toLowerCase()) ?? u
}

function tokenize(text: string, vocab: Vocabulary, unknown: Map<string, string>): Token[] {
  const names = new Map<number, { end: number; text: string }>()
  const nameRe = vocab.nameRe
  if (nameRe) {
    // The left boundary is checked here: as a lookbehind it would run at every position of the text.
    nameRe.lastIndex = 0
    for (let m = nameRe.exec(text); m !== null; m = nameRe.exec(text)) {
      if (WORD_END.test(text.slice(Math.max(0, m.index - 2), m.index))) nameRe.lastIndex = m.index + 1
      else names.set(m.index, { end: m.index + m[0].length, text: m[0] })
    }
  }
  const report = (name: string): void => {
    if (!unknown.has(name.toLowerCase())) unknown.set(name.toLowerCase(), name)
  }
  const tokens: Token[] = []
  const n = text.length
  let i = 0
  while (i < n) {
    const c = text[i] as string
    const name = names.get(i)
    if (name) {
      const known = vocab.accepted.has(name.text.toLowerCase())
      if (!known) report(name.text)
      tokens.push({ t: 'name', text: name.text, known, start: i, end: name.end })
      i = name.end
      continue
    }
    if (isDigit(c) || ((c === '-' || c === '−' || c === '+') && isDigit(text[i + 1]) && !WORD_CHAR.test(text[i - 1] ?? ' '))) {
      i = readNumeric(text, i, vocab, tokens)
      continue
    }
    WORD_RE.lastIndex = i
    const word = WORD_RE.exec(text)
    if (word) {
      i = readWord(text, i, word[0], vocab, tokens, report)
      continue
    }
    if (STOP_CHARS.has(c) || (c === '-' && !WORD_CHAR.test(text[i + 1] ?? ' '))) tokens.push({ t: 'stop', colon: c === ':', start: i, end: i + 1 })
    i++
  }
  for (let k = 0; k < tokens.length; k++) {
    const tok = tokens[k] as Token
    if (tok.t !== 'word') continue
    const prev = tokens[k - 1]
    if (tok.lower === 'rate' && prev?.t === 'word' && RATE_PREFIXES.has(prev.lower)) {
      prev.metrics = undefined
      tok.metrics = ['reject_rate']
      tok.start = prev.start
    } else {
      tok.metrics = KEYWORDS[tok.lower]
    }
  }
  return tokens
}

/** Dates, times and numbers with their unit; digits glued to letters are a quantity only with a unit (`24h`, `12min`). */
function readNumeric(text: string, i: number, vocab: Vocabulary, tokens: Token[]): number {
  const push = (q: Quantity): number => {
    tokens.push({ t: 'qty', q, start: q.start, end: q.end })
    return q.end
  }
  DATE_RE.lastIndex = i
  const date = DATE_RE.exec(text)
  if (date?.[1]) {
    const end = i + date[0].length
    push({ kind: 'date', value: NaN, decimals: 0, unit: 'date', shown: date[1], start: i, end })
    return text[end] === 'T' && isDigit(text[end + 1]) ? end + 1 : end
  }
  TIME_RE.lastIndex = i
  const time = TIME_RE.exec(text)
  if (time) return push({ kind: 'time', value: NaN, decimals: 0, unit: 'time', shown: normalizeTime(time[1], time[2], time[3]), start: i, end: i + time[0].length })
  NUMBER_RE.lastIndex = i
  const num = NUMBER_RE.exec(text)
  if (!num) return i + 1
  const end = i + num[0].length
  // The `2` of `v1.2` and list markers (`1. ` at the start of a line) are not claims.
  if (text[i - 1] === '.' && WORD_CHAR.test(text[i - 2] ?? ' ')) return end
  if (atLineStart(text, i)) {
    LIST_MARKER_RE.lastIndex = i
    if (LIST_MARKER_RE.test(text)) return end
  }
  const digits = (num[2] ?? '').replace(/,/g, '')
  const fraction = num[3] ?? ''
  const sign = num[1] === '-' || num[1] === '−' ? -1 : 1
  const written = `${sign < 0 ? '-' : ''}${num[2] ?? ''}${fraction ? `.${fraction}` : ''}`
  const value = sign * Number(`${digits}.${fraction || '0'}`)
  const unit = readUnit(text, end, vocab)
  if (unit) return push(quantity(value, fraction.length, written, unit.canon, i, unit.end))
  if (WORD_CHAR.test(text[end] ?? ' ')) {
    // Glued to letters without a unit: an ordinal (`3rd`) or an identifier (`3D`) is skipped; `3x` is a bare 3.
    SUFFIX_RE.lastIndex = end
    const suffix = SUFFIX_RE.exec(text)?.[0] ?? ''
    if (suffix !== 'x') return end + suffix.length
    return push(quantity(value, fraction.length, written, '', i, end + 1))
  }
  return push(quantity(value, fraction.length, written, '', i, end))
}

function readWord(text: string, i: number, word: string, vocab: Vocabulary, tokens: Token[], report: (name: string) => void): number {
  const end = i + word.length
  const parts = word.split('/')
  if (!parts.some((p) => IDENT_CHAR.test(p))) {
    const phrase = parts.length === 1 ? readNumberWords(text, i, word.toLowerCase(), vocab) : null
    if (phrase) {
      tokens.push({ t: 'qty', q: phrase, start: i, end: phrase.end })
      return phrase.end
    }
    let at = i
    for (const p of parts) {
      tokens.push({ t: 'word', lower: p.toLowerCase(), start: at, end: at + p.length })
      at += p.length + 1
    }
    return end
  }
  const lower = word.toLowerCase()
  let known = vocab.accepted.has(lower)
  if (!known) {
    const strangers = parts.filter((p) => IDENT_CHAR.test(p) && !vocab.accepted.has(p.toLowerCase()))
    for (const s of strangers) report(s)
    // Every part is known but the path is not: a machine under a line it is not on (`L1/press_05`).
    const misplaced = parts.some((p, k) => {
      const seen = vocab.parents.get(p.toLowerCase())
      return k > 0 && seen !== undefined && !seen.has((parts[k - 1] as string).toLowerCase())
    })
    if (strangers.length === 0 && misplaced) report(word)
    known = strangers.length === 0 && !misplaced
  }
  tokens.push({ t: 'name', text: word, known, start: i, end })
  return end
}

/**
 * `nineteen`, `twenty-one`, `one hundred and five`, `a dozen`, followed by an optional unit. A lone `one` is a
 * pronoun (`one of the presses`, `one press`) unless a unit or a metric keyword follows (`one anomaly`); `a`/`an`
 * count only before hundred/thousand/dozen (`an hour` is not a claim). Ordinals (`first`, `second`) are words.
 */
function readNumberWords(text: string, i: number, first: string, vocab: Vocabulary): Quantity | null {
  const head = first.split('-')[0] ?? ''
  if (!(head in SMALL || head in TENS || head === 'a' || head === 'an')) return null
  const words: Array<{ w: string; end: number }> = []
  let p = i
  for (let k = 0; k < 10; k++) {
    LETTERS_RE.lastIndex = p
    const m = LETTERS_RE.exec(text)
    if (!m) break
    const parts = m[0].toLowerCase().split('-')
    if (!parts.every((w) => w in SMALL || w in TENS || SCALE_WORDS.has(w) || w === 'and' || w === 'a' || w === 'an')) break
    p = m.index + m[0].length
    for (const w of parts) words.push({ w, end: p })
    BLANKS_RE.lastIndex = p
    const blanks = BLANKS_RE.exec(text)
    if (!blanks) break
    p += blanks[0].length
  }
  let total = 0
  let cur = 0
  let last: 'start' | 'a' | 'unit' | 'teen' | 'ten' | 'hundred' | 'thousand' | 'done' = 'start'
  let used = 0
  for (let k = 0; k < words.length && last !== 'done'; k++) {
    const w = (words[k] as { w: string }).w
    const next = words[k + 1]?.w ?? ''
    if (w === 'and') {
      if ((last === 'hundred' || last === 'thousand') && (next in SMALL || next in TENS)) continue
      break
    }
    if (w === 'a' || w === 'an') {
      if (last !== 'start' || !SCALE_WORDS.has(next)) break
      cur = 1
      last = 'a'
      continue
    }
    const small = SMALL[w]
    const ten = TENS[w]
    const afterScale = last === 'start' || last === 'hundred' || last === 'thousand'
    if (small === 0) {
      if (last !== 'start') break
      last = 'done'
    } else if (small !== undefined && small < 10 && (afterScale || last === 'ten')) {
      cur += small
      last = 'unit'
    } else if ((small !== undefined && small >= 10 && afterScale) || (ten !== undefined && afterScale)) {
      cur += small ?? ten ?? 0
      last = small !== undefined ? 'teen' : 'ten'
    } else if (w === 'hundred' && (last === 'a' || last === 'unit' || last === 'teen')) {
      cur *= 100
      last = 'hundred'
    } else if (w === 'thousand' && last !== 'start' && last !== 'thousand') {
      total += cur * 1000
      cur = 0
      last = 'thousand'
    } else if (w === 'dozen' && (last === 'a' || last === 'unit')) {
      cur *= 12
      last = 'done'
    } else {
      break
    }
    used = k + 1
  }
  const lastWord = words[used - 1]
  if (!lastWord) return null
  const value = total + cur
  const unit = readUnit(text, lastWord.end, vocab)
  if (used === 1 && lastWord.w === 'one' && !unit) {
    BLANKS_RE.lastIndex = lastWord.end
    const blanks = BLANKS_RE.exec(text)
    LETTERS_RE.lastIndex = lastWord.end + (blanks?.[0].length ?? 0)
    const next = LETTERS_RE.exec(text)?.[0].toLowerCase() ?? ''
    if (KEYWORDS[next] === undefined) return null
  }
  return quantity(value, 0, String(value), unit?.canon ?? '', i, unit?.end ?? lastWord.end)
}

function readUnit(text: string, at: number, vocab: Vocabulary): { canon: string; end: number } | null {
  vocab.unitRe.lastIndex = at
  const m = vocab.unitRe.exec(text)
  const spelling = m?.[1]
  if (!m || spelling === undefined) return null
  return { canon: vocab.unitCanon.get(spelling) ?? spelling, end: at + m[0].length }
}

function quantity(value: number, decimals: number, written: string, unit: string, start: number, end: number): Quantity {
  const kind: QuantityKind = unit === '' ? 'bare' : unit === '%' ? 'percent' : DURATION_S[unit] !== undefined ? 'duration' : 'unit'
  return { kind, value, decimals, unit, shown: unit === '' ? written : `${written} ${unit}`, start, end }
}

/** `9:05` and `09:05:00` are `09:05`; seconds stay only when they are not zero. */
function normalizeTime(h: string | undefined, m: string | undefined, s: string | undefined): string {
  return `${(h ?? '').padStart(2, '0')}:${m ?? ''}${s && s !== '00' ? `:${s}` : ''}`
}

function stampOf(display: string, kind: 'time' | 'date'): string {
  if (kind === 'date') return /\d{4}-\d{2}-\d{2}/.exec(display)?.[0] ?? display
  const m = /(\d{1,2}):(\d{2})(?::(\d{2}))?/.exec(display)
  return m ? normalizeTime(m[1], m[2], m[3]) : display
}

function atLineStart(text: string, i: number): boolean {
  let j = i - 1
  while (j >= 0 && (text[j] === ' ' || text[j] === '\t')) j--
  return j < 0 || text[j] === '\n'
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9'
}

function escapeRe(s: string): string {
  // No `\-`: a unicode-mode pattern rejects it outside a class.
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}

function unique<T>(xs: readonly T[]): T[] {
  return [...new Set(xs)]
}
