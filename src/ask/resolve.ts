// Resolves a plant manager's free-text question to an intent, a scope (lines, machines and sensors
// from the registry) and a time window in the site's zone. Pure and total: any input gives a result
// (never an exception), and a result holds only registry names, calendar shift names, fixed words
// and numbers computed here. The question is untrusted and is never copied into a result except as
// at most 40 sanitized characters in an Unresolved message and short sanitized notes.
import { safeUnit } from '../narrate/facts.js'
import type { ShiftCalendar, ShiftInstance } from '../shifts/shift-calendar.js'
import { dayIndexToDate, type Zone } from '../shifts/zone.js'

export interface RegistrySensor {
  line: string
  machine: string
  sensor: string
  unit: string | null
}

export interface ResolveContext {
  /** Every sensor the state database knows (the `sensors` table). */
  sensors: readonly RegistrySensor[]
  /** `calendar.zone` is the site's zone. */
  calendar: ShiftCalendar
  /** Epoch ms (injected clock). */
  now: number
  /** Default 500 characters; a longer question is unresolved (`too_long`). */
  maxLength?: number
}

export type Intent = 'max' | 'min' | 'mean' | 'parts' | 'rejects' | 'reject_rate' | 'anomalies' | 'most_anomalies' | 'most_parts' | 'summary'

export interface TimeWindow {
  start: number
  end: number
  /** Human label, e.g. "the night shift of 2026-11-23", "the last hour", "today (2026-11-26)". */
  label: string
  shiftId?: string
}

export interface Resolved {
  ok: true
  intent: Intent
  window: TimeWindow
  /** Scope: what the question names, most specific first; all empty = the whole site. */
  lines: string[]
  machines: { line: string; machine: string }[]
  sensors: RegistrySensor[]
  /** Words that looked like a scope or time but did not resolve; registry-safe ASCII, bounded. */
  notes: string[]
}

export interface Unresolved {
  ok: false
  reason: 'empty' | 'too_long' | 'unknown_scope' | 'future' | 'no_data_scope'
  /** A plain English sentence built by code (echoes at most 40 sanitized characters of the question). */
  message: string
  /** What the gateway knows about, for the "cannot tell" answer (at most 20 of each). */
  known: { lines: string[]; machines: string[]; sensors: string[] }
}

const DAY_MS = 86_400_000
const HOUR_MS = 3_600_000
const MINUTE_MS = 60_000
const NOW_WINDOW_MS = 5 * MINUTE_MS
const MAX_WINDOW_DAYS = 400
const SHIFT_LOOKBACK_MS = 14 * DAY_MS
/** "the last N shifts" looks back at most this many (the look-back holds 14 days of shifts). */
const MAX_LAST_SHIFTS = 21
const DEFAULT_MAX_LENGTH = 500
const MAX_NOTES = 8
const MAX_NOTE_CHARS = 40
const MAX_ECHO_CHARS = 40
const MAX_KNOWN = 20
const REGISTRY_NAME = /^[A-Za-z0-9_.-]{1,64}$/

// ---------------------------------------------------------------------------------------------
// Vocabulary. Every lookup by a question word goes through a Map or Set (never a plain object),
// so words like "__proto__" or "constructor" are just words.

const NUMBER_WORDS: ReadonlyMap<string, number> = new Map<string, number>([
  ...['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen', 'twenty'].map((w, i) => [w, i] as const),
  ['thirty', 30], ['forty', 40], ['fifty', 50], ['sixty', 60], ['ninety', 90],
])
const NUM = `\\d{1,6}|${[...NUMBER_WORDS.keys()].join('|')}`

const MONTHS = new Map<string, number>([
  ['jan', 1], ['january', 1], ['feb', 2], ['february', 2], ['mar', 3], ['march', 3], ['apr', 4], ['april', 4], ['may', 5],
  ['jun', 6], ['june', 6], ['jul', 7], ['july', 7], ['aug', 8], ['august', 8], ['sep', 9], ['sept', 9], ['september', 9],
  ['oct', 10], ['october', 10], ['nov', 11], ['november', 11], ['dec', 12], ['december', 12],
])
const MONTH = [...MONTHS.keys()].join('|')
const WEEKDAYS = new Map<string, number>([['sunday', 0], ['monday', 1], ['tuesday', 2], ['wednesday', 3], ['thursday', 4], ['friday', 5], ['saturday', 6]])
const WEEKDAY = [...WEEKDAYS.keys()].join('|')

/** A shift spoken of by another name, when the calendar has the target and not the alias. */
const SHIFT_ALIASES: readonly (readonly [string, string])[] = [
  ['morning', 'early'], ['afternoon', 'late'], ['evening', 'late'], ['swing', 'late'], ['graveyard', 'night'], ['overnight', 'night'],
]
const SHIFT_ORDINALS = [['first', '1st'], ['second', '2nd'], ['third', '3rd'], ['fourth', '4th']] as const
/** Words before "shift" that do not name a shift ("which shift", "the whole shift"). */
const SHIFT_FILLERS = new Set(['a', 'an', 'the', 'this', 'that', 'each', 'every', 'per', 'which', 'what', 'whole', 'entire', 'same', 'my', 'our', 'your', 'their', 'its', 'one', 'any', 'full', 'last', 'previous', 'next', 'current', 'of', 'in', 'on', 'during', 'for', 'by', 'and', 'or', 's'])

const PARTS_WORDS = 'parts part pieces piece'
const REJECTS_WORDS = 'rejects reject rejected rejections scrap scrapped defects defective'
/** Question words that mean a sensor name token (or a whole sensor name). */
const SYNONYMS: ReadonlyMap<string, readonly string[]> = new Map(
  (
    [
      ['temperature temperatures temp temps hot hotter hottest warm warmer warmest cold colder coldest cool cooler coolest heat', ['temp', 'temperature']],
      ['speed speeds rpm revolutions rotation fastest slowest', ['speed', 'rpm']],
      ['vibration vibrations vibrating vib vibe shaking', ['vibration', 'vib']],
      ['pressure pressures', ['pressure']],
      ['power kw kilowatt kilowatts consumption', ['power', 'kw']],
      ['energy', ['energy', 'power']],
      [PARTS_WORDS, ['part', 'parts', 'part_count']],
      [REJECTS_WORDS, ['reject', 'rejects', 'scrap', 'reject_count']],
    ] as const
  ).flatMap(([words, targets]) => words.split(' ').map((w) => [w, targets] as const)),
)
/** The words that name a counter: "average parts" is a parts question, not an aggregate of part_count. */
const COUNT_WORDS = new Set(`${PARTS_WORDS} ${REJECTS_WORDS}`.split(' '))

/** Measurement words: when none of the registry's sensors matches one, the user hears about it. */
const MEASURE_WORDS = new Set(
  'temperature temperatures temp humidity flow torque current voltage amps amperage level speed rpm vibration pressure power energy noise weight force oee uptime downtime availability efficiency moisture viscosity thickness'.split(' '),
)

/** Nouns for kinds of machine: named but absent from the registry means an unknown machine. */
const MACHINE_KINDS = new Set(
  'robot robots welder welders welding press presses lathe lathes mill mills milling oven ovens furnace furnaces conveyor conveyors cnc pump pumps compressor compressors drill drills drilling grinder grinders grinding extruder extruders molder molders moulder moulders boiler boilers chiller chillers kiln kilns crane cranes packer packers palletizer palletizers palletiser palletisers printer printers saw saws cutter cutters laser lasers mixer mixers reactor reactors dryer dryers washer washers'.split(' '),
)

/** Never matched against sensor names, never spelling-corrected. */
const STOP = new Set(
  (
    'a an the of on in at to for from by with and or but not no nor is are was were be been being am do does did done have has had having how what whats which who whom whose when where why that this these those it its there their they them we our us my me i you your he she his her any all each every per much many most more less least than then so far up down out off over under about above below into onto make makes made get got give gave tell told show shows please can could would should will shall may might must yes ok okay hi hello hey during since until till between after before line lines machine machines sensor sensors site plant factory value values reading readings data shift shifts happen happened happening going go went right light lower higher later tower powder party three there these eight sight tight fight night like just also only ever very well'
  ).split(' '),
)

/** Time words that did not take part in a recognised phrase are reported as not understood. */
const TIME_NOTE_WORDS = new Set('ago tonight weekend month months year years hour hours minute minutes week weeks morning evening afternoon recently lately earlier shifts'.split(' '))

/** Words the resolver knows as they are: a typo rule must not turn one into another ("lowest" is not "slowest"). */
const VOCABULARY = new Set([
  ...'highest lowest maximum minimum average typical typically largest biggest smallest hottest coldest warmest coolest fastest slowest anomaly anomalies alarms alerts incidents problems issues faults errors produced production output throughput yesterday today tomorrow between since until before after minutes hours'.split(' '),
  ...STOP,
  ...MEASURE_WORDS,
  ...MACHINE_KINDS,
  ...TIME_NOTE_WORDS,
])

const ANOMALY = `anomal[^ ]*|alarms?|alerts?|incidents?|problems?|issues?|faults?|errors?|warnings?|events?|breaches|breakdowns?|failures?|stoppages?`
const INTENT_PATTERNS = {
  mostAnomalies: `(?:most|highest number of|largest number of|greatest number of|biggest number of)(?: [^ ]+){0,3} (?:${ANOMALY})|most (?:anomalous|problematic)`,
  mostParts: `(?:most|highest number of|largest number of|greatest number of)(?: [^ ]+){0,3} (?:parts?|pieces|units|output|production)|(?:produced?|made|make|built|manufactured) the most|most productive|highest (?:output|production|throughput)`,
  rejectRate: `(?:reject|rejects|rejection|rejected|scrap|defect|failure|nok|ng) (?:rate|ratio|percentage|percent|share|quota)|(?:rate|ratio|percentage|share) of (?:reject|scrap|defect)[^ ]*|yield`,
  rejects: `reject[^ ]*|scrap[^ ]*|defect[^ ]*|bad parts?|nok parts?`,
  parts: `how many (?:[^ ]+ ){0,3}(?:parts?|pieces|units|items)|(?:parts?|pieces|units|items) (?:made|produced|built|manufactured|completed|finished)|(?:number|count|total) of (?:parts?|pieces)|parts? count|parts|pieces|produced?|production|(?<!power |energy )output|throughput|manufactured|how many did|how much did (?:[^ ]+ ){0,3}(?:make|produce|build)`,
  anomalies: ANOMALY,
  max: `highest|max|maximum|peak|hottest|warmest|fastest|biggest|largest`,
  min: `lowest|min|minimum|coldest|coolest|slowest|smallest`,
  mean: `average|avg|mean|typical|typically`,
} as const

// ---------------------------------------------------------------------------------------------

export function resolveQuestion(question: string, ctx: ResolveContext): Resolved | Unresolved {
  let registry: Registry
  try {
    registry = buildRegistry(ctx?.sensors)
  } catch {
    registry = buildRegistry([])
  }
  try {
    return resolve(question, ctx, registry)
  } catch {
    // Only a broken context (a calendar that throws, a clock that is not a number) gets here.
    return unresolved('unknown_scope', 'I could not understand the question. Ask about a line, a machine or a sensor, and a time.', registry)
  }
}

function resolve(question: unknown, ctx: ResolveContext, registry: Registry): Resolved | Unresolved {
  const maxLength =
    typeof ctx.maxLength === 'number' && Number.isFinite(ctx.maxLength) && ctx.maxLength >= 1 ? Math.floor(ctx.maxLength) : DEFAULT_MAX_LENGTH
  const raw = typeof question === 'string' ? question : ''
  if (raw.length > maxLength) return tooLong(raw.length, maxLength, registry)
  const text = normalise(raw)
  // NFKC can expand a character into many; the limit holds for what is parsed too.
  if (text.length > maxLength) return tooLong(text.length, maxLength, registry)
  const words = tokenize(text)
  if (!words.list.some((w) => /[\p{L}\p{N}]/u.test(w))) {
    return unresolved('empty', 'The question is empty. Ask about a line, a machine or a sensor, and a time such as "the last shift" or "today".', registry)
  }
  if (registry.entries.length === 0) {
    return unresolved('no_data_scope', 'The gateway does not know any sensors yet, so there is nothing to answer from.', registry)
  }
  if (typeof ctx.now !== 'number' || !Number.isFinite(ctx.now)) throw new RangeError('now is not a time')

  const notes = createNotes()
  const time = resolveTime(words, ctx.calendar, ctx.now, notes)
  const scope = resolveScope(words, registry, notes)
  if (scope.unknown.length > 0) {
    const echo = sanitizeEcho(scope.unknown.join(', '))
    const preferred = scope.lines.length > 0 ? scope.lines : undefined
    return unresolved('unknown_scope', `I do not know ${echo}. Ask about one of the lines, machines or sensors this gateway knows.`, registry, preferred)
  }
  if ('future' in time) {
    return unresolved('future', `That time (${sanitizeEcho(time.future)}) is in the future; I can only tell what has already happened.`, registry)
  }
  const sensors = resolveSensors(words, registry, scope, notes)
  if (sensors.outOfScope.length > 0) {
    const where = [...scope.machines.map((m) => `${m.line}/${m.machine}`), ...(scope.machines.length === 0 ? scope.lines : [])]
    const whereText = listText(where, 3)
    const what = listText(sensors.outOfScope, 3)
    return unresolved('no_data_scope', `There is no ${what} sensor on ${whereText}.`, registry, scope.lines)
  }
  const intent = resolveIntent(words, sensors, notes)
  return {
    ok: true,
    intent,
    window: time.window,
    lines: scope.lines,
    machines: scope.machines,
    sensors: sensors.entries,
    notes: notes.list,
  }
}

// ---------------------------------------------------------------------------------------------
// Text

/** NFKC, no control or format characters, lower case, single spaces. */
function normalise(text: string): string {
  return text
    .replace(/[\p{Cf}\p{Cs}\p{Co}]/gu, '')
    .normalize('NFKC')
    .replace(/[\p{Cc}\p{Cf}\p{Cs}\p{Co}]/gu, ' ')
    .toLowerCase()
    .replace(/\s+/gu, ' ')
    .trim()
}

/** The question's words; `used` marks those a time or scope phrase took, `timeUsed` those a time phrase took. */
interface Words {
  list: string[]
  text: string
  starts: number[]
  used: boolean[]
  timeUsed: boolean[]
}

function tokenize(text: string): Words {
  const list: string[] = []
  for (const m of text.matchAll(/[\p{L}\p{N}_.\-/:]+/gu)) {
    const w = m[0].replace(/^[.\-/:]+|[.\-/:]+$/g, '')
    if (w !== '') list.push(w)
  }
  const starts: number[] = []
  let at = 0
  for (const w of list) {
    starts.push(at)
    at += w.length + 1
  }
  return { list, text: list.join(' '), starts, used: list.map(() => false), timeUsed: list.map(() => false) }
}

/** Whole-word phrase: matches start and end at word boundaries of `Words.text`. */
const phrase = (src: string, flags = 'g') => new RegExp(`(?<![^ ])(?:${src})(?![^ ])`, flags)

function tokenSpan(words: Words, m: RegExpExecArray): number[] {
  const from = m.index
  const to = m.index + m[0].length
  const out: number[] = []
  words.starts.forEach((s, i) => {
    if (s >= from && s < to) out.push(i)
  })
  return out
}

/** The first match over words no phrase has taken yet that `accept` agrees to; marks its words taken. */
function take(words: Words, src: string, accept: (m: RegExpExecArray) => boolean = () => true, time = true): RegExpExecArray | undefined {
  const re = phrase(src)
  for (let m = re.exec(words.text); m !== null; m = re.exec(words.text)) {
    const span = tokenSpan(words, m)
    if (span.length > 0 && span.every((i) => !words.used[i]) && accept(m)) {
      for (const i of span) {
        words.used[i] = true
        if (time) words.timeUsed[i] = true
      }
      return m
    }
    re.lastIndex = m.index + 1
  }
  return undefined
}

function parseNumber(word: string | undefined): number | undefined {
  if (word === undefined) return undefined
  if (/^\d{1,6}$/.test(word)) return Number(word)
  return NUMBER_WORDS.get(word)
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')
const pad2 = (n: number) => String(n).padStart(2, '0')
const clockText = (minute: number) => `${pad2(Math.floor(minute / 60))}:${pad2(minute % 60)}`

interface Notes {
  readonly list: string[]
  add(text: string): void
}

function createNotes(): Notes {
  const list: string[] = []
  return {
    list,
    add(text) {
      const s = text
        .toLowerCase()
        .replace(/[^a-z0-9 _.:/()-]/g, '')
        .replace(/ +/g, ' ')
        .trim()
        .slice(0, MAX_NOTE_CHARS)
        .trim()
      if (s !== '' && !list.includes(s) && list.length < MAX_NOTES) list.push(s)
    },
  }
}

function sanitizeEcho(text: string): string {
  const s = text
    .replace(/[^A-Za-z0-9 _.:/,-]/g, '')
    .replace(/ +/g, ' ')
    .trim()
  return s.length > MAX_ECHO_CHARS ? `${s.slice(0, MAX_ECHO_CHARS - 3).trim()}...` : s
}

function listText(items: readonly string[], max: number): string {
  const shown = items.slice(0, max)
  const more = items.length - shown.length
  const head = shown.length <= 1 ? (shown[0] ?? '') : `${shown.slice(0, -1).join(', ')} or ${shown[shown.length - 1] ?? ''}`
  return more > 0 ? `${head} (and ${more} more)` : head
}

// ---------------------------------------------------------------------------------------------
// Registry

interface MachineRef {
  line: string
  machine: string
}

interface Registry {
  entries: RegistrySensor[]
  lines: string[]
  lineByLower: Map<string, string[]>
  /** Line → its machines, registry order. */
  machinesOf: Map<string, string[]>
  /** Lower-case machine name → every line/machine with it. */
  machineByLower: Map<string, MachineRef[]>
  /** Lower-case sensor name → the registry's spelling. */
  sensorNames: Map<string, string>
  /** Every token of every sensor name. */
  sensorTokens: Set<string>
}

/** Names the state database could not hold are skipped: they can be neither matched nor echoed. */
function buildRegistry(sensors: unknown): Registry {
  const entries: RegistrySensor[] = []
  const seen = new Set<string>()
  const lines: string[] = []
  const lineByLower = new Map<string, string[]>()
  const machinesOf = new Map<string, string[]>()
  const machineByLower = new Map<string, MachineRef[]>()
  const sensorNames = new Map<string, string>()
  const sensorTokens = new Set<string>()
  const list: readonly unknown[] = Array.isArray(sensors) ? sensors : []
  for (const s of list) {
    if (typeof s !== 'object' || s === null) continue
    const { line, machine, sensor, unit } = s as Record<string, unknown>
    if (typeof line !== 'string' || typeof machine !== 'string' || typeof sensor !== 'string') continue
    if (!REGISTRY_NAME.test(line) || !REGISTRY_NAME.test(machine) || !REGISTRY_NAME.test(sensor)) continue
    const key = `${line}\u0000${machine}\u0000${sensor}`
    if (seen.has(key)) continue
    seen.add(key)
    entries.push({ line, machine, sensor, unit: typeof unit === 'string' && safeUnit(unit) !== '' ? unit : null })
    if (!machinesOf.has(line)) {
      lines.push(line)
      machinesOf.set(line, [])
      const ll = line.toLowerCase()
      lineByLower.set(ll, [...(lineByLower.get(ll) ?? []), line])
    }
    const ms = machinesOf.get(line) ?? []
    if (!ms.includes(machine)) {
      ms.push(machine)
      const ml = machine.toLowerCase()
      machineByLower.set(ml, [...(machineByLower.get(ml) ?? []), { line, machine }])
    }
    const sl = sensor.toLowerCase()
    if (!sensorNames.has(sl)) {
      sensorNames.set(sl, sensor)
      for (const t of nameTokens(sl)) sensorTokens.add(t)
    }
  }
  return { entries, lines, lineByLower, machinesOf, machineByLower, sensorNames, sensorTokens }
}

const nameTokens = (lowerName: string) => lowerName.split(/[_.-]+/).filter((t) => t !== '')
/** "press_03" → press, 03; "robot1" → robot, 1. */
const nameParts = (lowerName: string) => lowerName.split(/[_.-]+|(?<=\D)(?=\d)|(?<=\d)(?=\D)/).filter((t) => t !== '')

function unresolved(reason: Unresolved['reason'], message: string, registry: Registry, preferLines?: readonly string[]): Unresolved {
  const machines: string[] = []
  const order = [...(preferLines ?? []), ...registry.lines.filter((l) => !(preferLines ?? []).includes(l))]
  for (const line of order) {
    for (const m of registry.machinesOf.get(line) ?? []) if (machines.length < MAX_KNOWN) machines.push(`${line}/${m}`)
  }
  return {
    ok: false,
    reason,
    message,
    known: { lines: registry.lines.slice(0, MAX_KNOWN), machines, sensors: [...registry.sensorNames.values()].slice(0, MAX_KNOWN) },
  }
}

function tooLong(length: number, max: number, registry: Registry): Unresolved {
  return unresolved('too_long', `The question is too long (${length} characters; at most ${max}). Please ask a shorter question.`, registry)
}

// ---------------------------------------------------------------------------------------------
// Time

type TimeOutcome = { window: TimeWindow } | { future: string }

interface ShiftNames {
  /** Normalised word (name, alias or ordinal) → the calendar's name. */
  byWord: Map<string, string>
  /** Regex alternation of those words (never matches when there are none). */
  pattern: string
}

function shiftNames(cal: ShiftCalendar, now: number): ShiftNames {
  const instances = cal.instancesBetween(now - 8 * DAY_MS, now + 8 * DAY_MS)
  const byWord = new Map<string, string>()
  for (const i of instances) {
    const word = normalise(i.name)
    if (/^[\p{L}\p{N}_-]{1,32}$/u.test(word) && !byWord.has(word)) byWord.set(word, i.name)
  }
  const names = new Map(byWord)
  for (const [alias, target] of SHIFT_ALIASES) {
    const name = names.get(target)
    if (name !== undefined && !byWord.has(alias)) byWord.set(alias, name)
  }
  // "first/second/third shift": the shifts of the busiest day, by start time.
  const byDate = new Map<string, ShiftInstance[]>()
  for (const i of instances) byDate.set(i.date, [...(byDate.get(i.date) ?? []), i])
  let day: ShiftInstance[] = []
  for (const list of byDate.values()) if (list.length > day.length) day = list
  day.forEach((inst, k) => {
    for (const ord of SHIFT_ORDINALS[k] ?? []) if (!byWord.has(ord)) byWord.set(ord, inst.name)
  })
  const alternatives = [...byWord.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp)
  return { byWord, pattern: alternatives.length > 0 ? alternatives.join('|') : '(?!)' }
}

interface Clock {
  minute: number
  /** Written as a time (a colon, am/pm, h, uhr, noon…), not a bare number. */
  marked: boolean
  meridiem?: 'am' | 'pm'
  /** A bare hour 1..12 that an am/pm on the other end of a range may qualify. */
  bareHour?: number
}

const CLOCK = `\\d{1,2}(?::\\d{2})?(?: ?(?:am|pm|a\\.m|p\\.m|h|uhr|o clock))?|noon|midday|midnight|now`

function parseClock(text: string | undefined): Clock | 'now' | undefined {
  if (text === undefined) return undefined
  if (text === 'now') return 'now'
  if (text === 'noon' || text === 'midday') return { minute: 720, marked: true }
  if (text === 'midnight') return { minute: 0, marked: true }
  const m = /^(\d{1,2})(?::(\d{2}))?(?: ?(am|pm|a\.m|p\.m|h|uhr|o clock))?$/.exec(text)
  if (!m) return undefined
  const hour = Number(m[1])
  const minute = m[2] === undefined ? 0 : Number(m[2])
  const suffix = m[3]
  if (minute > 59) return undefined
  if (suffix === 'am' || suffix === 'a.m' || suffix === 'pm' || suffix === 'p.m') {
    if (hour < 1 || hour > 12) return undefined
    const meridiem = suffix.startsWith('p') ? 'pm' : 'am'
    return { minute: ((hour % 12) + (meridiem === 'pm' ? 12 : 0)) * 60 + minute, marked: true, meridiem }
  }
  if (hour > 24 || (hour === 24 && minute > 0)) return undefined
  const marked = m[2] !== undefined || suffix !== undefined
  return { minute: hour * 60 + minute, marked, ...(marked || hour > 12 ? {} : { bareHour: hour }) }
}

/** "between 2 and 4 pm": a bare hour takes the other end's am/pm when that keeps the order. */
function qualify(bare: Clock, other: Clock, bareFirst: boolean): Clock {
  if (bare.bareHour === undefined || other.meridiem === undefined) return bare
  const minute = ((bare.bareHour % 12) + (other.meridiem === 'pm' ? 12 : 0)) * 60
  const ordered = bareFirst ? minute < other.minute : minute > other.minute
  return ordered ? { minute, marked: true, meridiem: other.meridiem } : bare
}

function dayOf(year: number, month: number, day: number): number | undefined {
  if (year < 1970 || year > 9999 || month < 1 || month > 12 || day < 1 || day > 31) return undefined
  const ms = Date.UTC(year, month - 1, day)
  const d = new Date(ms)
  if (d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) return undefined
  return Math.floor(ms / DAY_MS)
}

const weekdayOf = (dayIndex: number) => (((dayIndex + 4) % 7) + 7) % 7

interface Anchor {
  day: number
  label: string
  since: boolean
}

function resolveTime(words: Words, cal: ShiftCalendar, now: number, notes: Notes): TimeOutcome {
  const zone: Zone = cal.zone
  const today = zone.localDayIndex(now)
  const dayStart = (d: number) => zone.localToUtc(d, 0)
  const names = shiftNames(cal, now)
  const N = names.pattern
  const UNITS = 'minutes?|mins?|hours?|hrs?|h|days?|d|weeks?|wks?'
  const future: string[] = []

  const windowOf = (start: number, end: number, label: string, shiftId?: string): TimeOutcome =>
    start > now
      ? { future: label }
      : { window: { start, end: Math.max(start, Math.min(end, now)), label, ...(shiftId === undefined ? {} : { shiftId }) } }
  const shiftWindow = (i: ShiftInstance): TimeOutcome =>
    windowOf(i.startTs, i.endTs, `the ${i.name} shift of ${i.date}${i.endTs > now && i.startTs <= now ? ' (so far)' : ''}`, i.id)
  /** Instances that started by now, oldest first. */
  const started = () => cal.instancesBetween(now - SHIFT_LOOKBACK_MS, now + 1).filter((i) => i.startTs <= now)
  const latestEnded = (name?: string): ShiftInstance | undefined =>
    started()
      .filter((i) => i.endTs <= now && (name === undefined || i.name === name))
      .at(-1)

  // Future first: a question about what has not happened yet gets no window at all.
  const futureMatch =
    take(words, 'tomorrow(?: s)?|tomorrows|tmrw') ??
    take(words, `next (?:(?:${NUM}) ?)?(?:(?:${N}) )?(?:shifts?|hours?|hrs?|h|minutes?|mins?|days?|weeks?|months?|years?)`) ??
    take(words, `(?:in|within) the next (?:(?:${NUM}) ?)?(?:${UNITS}|months?|years?)|in (?:${NUM}) ?(?:${UNITS}|months?|years?)|later (?:today|this shift|this week)`)
  if (futureMatch) future.push(futureMatch[0])

  // A shift by its id: "2026-11-23/night".
  let shift: TimeOutcome | undefined
  const idMatch = take(words, `(\\d{4}-\\d{2}-\\d{2})/(${N})`, (m) => cal.byId(`${m[1] ?? ''}/${names.byWord.get(m[2] ?? '') ?? ''}`) !== undefined)
  if (idMatch) {
    const inst = cal.byId(`${idMatch[1] ?? ''}/${names.byWord.get(idMatch[2] ?? '') ?? ''}`)
    if (inst) shift = shiftWindow(inst)
  }

  // The day the question is about.
  let anchor: Anchor | undefined
  const setAnchor = (m: RegExpExecArray | undefined, day: number | undefined, label: (date: string) => string) => {
    if (!m || anchor) return
    if (day === undefined) {
      notes.add(m[0])
      return
    }
    const first = tokenSpan(words, m)[0] ?? 0
    const before = words.list[first - 1]
    const since = (before === 'since' || before === 'from') && !words.used[first - 1]
    if (since) words.used[first - 1] = words.timeUsed[first - 1] = true
    anchor = { day, label: label(dayIndexToDate(day)), since }
  }
  const currentYear = Number(dayIndexToDate(today).slice(0, 4))
  const iso = take(words, '(\\d{4})[-/](\\d{1,2})[-/](\\d{1,2})')
  setAnchor(iso, iso ? dayOf(Number(iso[1]), Number(iso[2]), Number(iso[3])) : undefined, (d) => d)
  const dotted = take(words, '(\\d{1,2})\\.(\\d{1,2})\\.(\\d{4})')
  setAnchor(dotted, dotted ? dayOf(Number(dotted[3]), Number(dotted[2]), Number(dotted[1])) : undefined, (d) => d)
  // "2 may" without a year or "of" is too often "line 2 may …".
  const dayMonth = take(words, `(\\d{1,2})(?:st|nd|rd|th)?( of)? (${MONTH})(?: (\\d{4}))?`, (m) => m[3] !== 'may' || m[2] !== undefined || m[4] !== undefined)
  setAnchor(dayMonth, dayMonth ? dayOf(Number(dayMonth[4] ?? currentYear), MONTHS.get(dayMonth[3] ?? '') ?? 0, Number(dayMonth[1])) : undefined, (d) => d)
  const monthDay = take(words, `(${MONTH}) (\\d{1,2})(?:st|nd|rd|th)?(?: (\\d{4}))?`)
  setAnchor(monthDay, monthDay ? dayOf(Number(monthDay[3] ?? currentYear), MONTHS.get(monthDay[1] ?? '') ?? 0, Number(monthDay[2])) : undefined, (d) => d)
  setAnchor(take(words, '(?:the )?day before yesterday'), today - 2, (d) => `the day before yesterday (${d})`)
  setAnchor(take(words, 'yesterday(?: s)?|yesterdays'), today - 1, (d) => `yesterday (${d})`)
  setAnchor(take(words, 'today(?: s)?|todays'), today, (d) => `today (${d})`)
  const weekday = take(words, `(last |previous )?(${WEEKDAY})(?: s)?`)
  if (weekday) {
    const target = WEEKDAYS.get(weekday[2] ?? '') ?? 0
    let back = (weekdayOf(today) - target + 7) % 7
    if (weekday[1] !== undefined && back === 0) back = 7
    setAnchor(weekday, today - back, (d) => `${weekday[2] ?? ''} (${d})`)
  }
  if (anchor && anchor.day > today) future.push(dayIndexToDate(anchor.day))

  // Shifts by name and position.
  const shiftOf = (name: string, day: number): ShiftInstance | undefined => cal.byId(`${dayIndexToDate(day)}/${name}`)
  const lastNamed = take(words, `(?:the )?(?:last|previous|prev|preceding|prior|latest|most recent|past) (${N})(?: shift)?`)
  if (lastNamed && !shift) {
    const name = names.byWord.get(lastNamed[1] ?? '') ?? ''
    const inst = latestEnded(name)
    if (inst) shift = shiftWindow(inst)
    else notes.add(`no ended ${name} shift`)
  }
  const lastShift = take(words, '(?:the )?(?:last|previous|prev|preceding|prior|latest|most recent) shift')
  if (lastShift && !shift) {
    const current = cal.instanceAt(now)
    const inst = current ? started().filter((i) => i.startTs < current.startTs).at(-1) : latestEnded()
    if (inst) shift = shiftWindow(inst)
    else notes.add('no previous shift')
  }
  const lastShifts = take(words, `(?:the )?(?:last|previous|past|preceding|prior) (${NUM}) shifts`, (m) => (parseNumber(m[1]) ?? 0) > 0)
  if (lastShifts && !shift) {
    const wanted = parseNumber(lastShifts[1]) ?? 1
    const n = Math.min(wanted, MAX_LAST_SHIFTS)
    if (n < wanted) notes.add(`at most ${MAX_LAST_SHIFTS} shifts`)
    const ended = started().filter((i) => i.endTs <= now)
    const picked = ended.slice(-n)
    const firstShift = picked[0]
    const lastOne = picked.at(-1)
    if (firstShift && lastOne) {
      const label = picked.length === 1 ? `the ${lastOne.name} shift of ${lastOne.date}` : `the last ${picked.length} shifts (${firstShift.id} to ${lastOne.id})`
      shift = windowOf(firstShift.startTs, Math.max(...picked.map((i) => i.endTs)), label, picked.length === 1 ? lastOne.id : undefined)
    } else notes.add('no ended shift')
  }
  const thisShift = take(words, `(?:the )?(?:this|current|present|ongoing|running)(?: (${N}))? shift`)
  if (thisShift && !shift) {
    const name = thisShift[1] === undefined ? undefined : names.byWord.get(thisShift[1])
    const current = cal.instanceAt(now)
    if (current && (name === undefined || current.name === name)) shift = shiftWindow(current)
    else {
      const inst = (name === undefined ? undefined : shiftOf(name, today)) ?? latestEnded(name)
      if (inst) shift = shiftWindow(inst)
      else notes.add('no current shift')
    }
  }
  const named = take(words, `(?:the )?(${N}) shift`)
  if (named && !shift) {
    const name = names.byWord.get(named[1] ?? '') ?? ''
    const current = cal.instanceAt(now)
    if (anchor) {
      const inst = shiftOf(name, anchor.day)
      if (inst) shift = shiftWindow(inst)
      else notes.add(`no ${name} shift on ${dayIndexToDate(anchor.day)}`)
    } else if (current && current.name === name) shift = shiftWindow(current)
    else {
      const inst = latestEnded(name)
      if (inst) shift = shiftWindow(inst)
      else notes.add(`no ended ${name} shift`)
    }
  }
  // "day shift" on a calendar without one: not understood, and not a sensor word either.
  const unknownShift = (m: RegExpExecArray) => !SHIFT_FILLERS.has(m[1] ?? '')
  for (let m = take(words, '([a-z]{2,20}) shift', unknownShift); m; m = take(words, '([a-z]{2,20}) shift', unknownShift)) notes.add(m[0])

  // Clock times on the anchor day (today by default).
  let range: TimeOutcome | undefined
  const day = anchor?.day ?? today
  const explicitDay = anchor !== undefined
  const between = take(words, `(?:between|from) (${CLOCK}) (?:and|to|till|until|-) (${CLOCK})|(?:(?:between|from) )?(\\d{1,2}:\\d{2})-(\\d{1,2}:\\d{2})`, (m) => {
    const a = parseClock(m[1] ?? m[3])
    const b = parseClock(m[2] ?? m[4])
    return a !== undefined && a !== 'now' && b !== undefined && (a.marked || (b !== 'now' && b.marked)) && a.minute < 1440
  })
  if (between) {
    let a = parseClock(between[1] ?? between[3]) as Clock
    let b = parseClock(between[2] ?? between[4]) as Clock | 'now'
    if (b !== 'now') {
      a = qualify(a, b, true)
      b = qualify(b, a, false)
    }
    const start = zone.localToUtc(day, a.minute)
    if (b === 'now') range = windowOf(start, now, `since ${clockText(a.minute)} on ${dayIndexToDate(day)}`)
    else {
      const end = zone.localToUtc(b.minute <= a.minute ? day + 1 : day, b.minute)
      range = windowOf(start, end, `${clockText(a.minute)} to ${clockText(b.minute)} on ${dayIndexToDate(day)}`)
    }
  }
  const since = take(words, `(?:since|after|from) (${CLOCK})`, (m) => {
    const c = parseClock(m[1])
    return c !== undefined && c !== 'now' && c.marked && c.minute < 1440
  })
  if (since && !range) {
    const c = parseClock(since[1]) as Clock
    let d = day
    // "since 14:00" asked at 10:00 means yesterday's 14:00.
    if (!explicitDay && zone.localToUtc(d, c.minute) > now) d -= 1
    range = windowOf(zone.localToUtc(d, c.minute), now, `since ${clockText(c.minute)} on ${dayIndexToDate(d)}`)
  }
  const until = take(words, `(?:until|till|before|up to) (${CLOCK})`, (m) => {
    const c = parseClock(m[1])
    return c !== undefined && c !== 'now' && c.marked
  })
  if (until && !range) {
    const c = parseClock(until[1]) as Clock
    const minute = c.minute === 0 ? 1440 : c.minute
    range = windowOf(dayStart(day), zone.localToUtc(day, minute), `${dayIndexToDate(day)} until ${clockText(minute)}`)
  }

  // Durations back from now.
  let duration: TimeOutcome | undefined
  const half = take(words, '(?:the )?(?:last|past|previous|preceding|recent|prior) half (?:an )?hour')
  if (half) duration = windowOf(now - 30 * MINUTE_MS, now, 'the last 30 minutes')
  const last = take(words, `(?:the )?(?:last|past|previous|preceding|recent|prior|trailing) (?:(${NUM}) ?)?(${UNITS})`, (m) => parseNumber(m[1] ?? '1') !== 0)
  if (last && !duration) {
    const n = parseNumber(last[1] ?? '1') ?? 1
    const unitText = last[2] ?? 'h'
    const [unit, unitMs]: [string, number] = unitText.startsWith('m')
      ? ['minute', MINUTE_MS]
      : unitText.startsWith('h')
        ? ['hour', HOUR_MS]
        : unitText.startsWith('d')
          ? ['day', DAY_MS]
          : ['week', 7 * DAY_MS]
    let span = n * unitMs
    let label = n === 1 ? `the last ${unit}` : `the last ${n} ${unit}s`
    if (span > MAX_WINDOW_DAYS * DAY_MS) {
      span = MAX_WINDOW_DAYS * DAY_MS
      label = `the last ${MAX_WINDOW_DAYS} days`
      notes.add(`at most ${MAX_WINDOW_DAYS} days`)
    }
    duration = windowOf(now - span, now, label)
  }
  const nowMatch = take(words, 'right now|just now|now|currently|at the moment|at present|at this moment|as of now')
  if (nowMatch && !duration) duration = windowOf(now - NOW_WINDOW_MS, now, 'right now (the last 5 minutes)')

  // Parts of today, this week, this month.
  let period: TimeOutcome | undefined
  const partOfDay = take(words, 'this (morning|afternoon|evening)')
  if (partOfDay) {
    const [from, to] = partOfDay[1] === 'morning' ? [0, 720] : partOfDay[1] === 'afternoon' ? [720, 1080] : [1080, 1440]
    period = windowOf(zone.localToUtc(today, from), zone.localToUtc(today, to), `this ${partOfDay[1] ?? ''} (${dayIndexToDate(today)})`)
  }
  const thisWeek = take(words, '(?:this|the current) week')
  if (thisWeek && !period) {
    const monday = today - ((weekdayOf(today) + 6) % 7)
    period = windowOf(dayStart(monday), now, `this week (since ${dayIndexToDate(monday)})`)
  }
  const thisMonth = take(words, '(?:this|the current) month')
  if (thisMonth && !period) {
    const first = dayOf(currentYear, Number(dayIndexToDate(today).slice(5, 7)), 1) ?? today
    period = windowOf(dayStart(first), now, `this month (since ${dayIndexToDate(first)})`)
  }

  // Whatever looked like a time and took part in no phrase.
  words.list.forEach((w, i) => {
    if (words.used[i]) return
    const timeLike =
      /^\d{1,2}:\d{2}(?::\d{2})?$|^\d{1,2}(?:am|pm)$|^\d{4}-\d{1,2}-\d{1,2}$|^\d{1,2}\.\d{1,2}\.\d{2,4}$|^\d{1,2}\/\d{1,2}\/\d{2,4}$/.test(w) ||
      TIME_NOTE_WORDS.has(w)
    if (timeLike) {
      notes.add(w)
      words.used[i] = words.timeUsed[i] = true
    }
  })

  const chosen = future.length > 0 ? { future: future[0] ?? 'later' } : (range ?? shift ?? duration ?? period)
  if (chosen) return chosen
  if (anchor) {
    if (anchor.since) return windowOf(dayStart(anchor.day), now, `since ${dayIndexToDate(anchor.day)}`)
    return windowOf(dayStart(anchor.day), dayStart(anchor.day + 1), anchor.label)
  }
  const current = cal.instanceAt(now)
  if (current) return shiftWindow(current)
  return windowOf(dayStart(today), now, `today (${dayIndexToDate(today)})`)
}

// ---------------------------------------------------------------------------------------------
// Scope: lines and machines

interface Scope {
  /** Named lines, registry order. */
  lines: string[]
  /** Named machines, registry order. */
  machines: MachineRef[]
  /** Lines or machines the question names that the registry does not have, as short texts. */
  unknown: string[]
  /** Sensors named by a full path (`line1/m2/spindle_temp`). */
  pathSensors: RegistrySensor[]
  /** Sensor names from a path that the named machine does not carry. */
  missingPathSensors: string[]
}

type PendingMachine =
  | { kind: 'name'; name: string }
  | { kind: 'number'; n: number }
  | { kind: 'kind'; words: string[]; n?: number }
  | { kind: 'refs'; refs: MachineRef[] }

const LINE_WORDS = new Set(['line', 'lines', 'ln'])
const MACHINE_WORDS = new Set(['machine', 'machines', 'mach', 'mc', 'm'])
const NUMBER_FILLERS = new Set(['no', 'nr', 'number', 'num'])
const LINE_FORM = /^(?:line|ln)[-_.]?(\d{1,6})$|^l(\d{1,6})$/
const MACHINE_FORM = /^(?:machine|mach|mc|m)[-_.]?(\d{1,6})$/

function numberIn(name: string, form: RegExp): number | undefined {
  const m = form.exec(name.toLowerCase())
  return m ? Number(m[1] ?? m[2]) : undefined
}

const trailingNumber = (name: string): number | undefined => {
  const m = /(\d{1,6})$/.exec(name)
  return m ? Number(m[1]) : undefined
}

function linesByNumber(registry: Registry, n: number): string[] {
  const exact = registry.lines.filter((l) => numberIn(l, /^(?:line|ln|l)?[-_.]?0*(\d{1,6})$/) === n)
  return exact.length > 0 ? exact : registry.lines.filter((l) => trailingNumber(l) === n)
}

function machinesByNumber(registry: Registry, lines: readonly string[], n: number): MachineRef[] {
  const on = (test: (m: string) => boolean) => lines.flatMap((line) => (registry.machinesOf.get(line) ?? []).filter(test).map((machine) => ({ line, machine })))
  const exact = on((m) => numberIn(m, /^(?:machine|mach|mc|m)?[-_.]?0*(\d{1,6})$/) === n)
  return exact.length > 0 ? exact : on((m) => trailingNumber(m) === n)
}

/** "presses" → press, "robots" → robot, "press" stays. */
const singular = (w: string) =>
  /(?:ss|sh|ch|x)es$/.test(w) ? w.slice(0, -2) : w.endsWith('s') && !w.endsWith('ss') && w.length > 3 ? w.slice(0, -1) : w

function resolveScope(words: Words, registry: Registry, notes: Notes): Scope {
  const { list, used } = words
  const lines = new Set<string>()
  const pending: PendingMachine[] = []
  const unknown: string[] = []
  const pathSensors: RegistrySensor[] = []
  const missingPathSensors: string[] = []
  const free = (i: number) => i < list.length && !used[i]
  const isLineName = (w: string) => registry.lineByLower.has(w) || LINE_FORM.test(w)
  const isMachineName = (w: string) => registry.machineByLower.has(w) || MACHINE_FORM.test(w)

  /** Numbers after a keyword: "line 2", "lines 1 and 2", "machine no 3". Returns them and the next index. */
  const numbersAfter = (i: number): [number[], number] => {
    let j = i + 1
    if (free(j) && NUMBER_FILLERS.has(list[j] ?? '') && parseNumber(list[j + 1]) !== undefined) j++
    const nums: number[] = []
    while (free(j)) {
      const n = parseNumber(list[j])
      if (n === undefined) break
      nums.push(n)
      j++
      const joiner = list[j]
      if (free(j) && (joiner === 'and' || joiner === 'or' || joiner === '&') && free(j + 1) && parseNumber(list[j + 1]) !== undefined) j++
      else break
    }
    return [nums, j]
  }
  const mark = (from: number, to: number) => {
    for (let k = from; k < to; k++) used[k] = true
  }

  for (let i = 0; i < list.length; i++) {
    if (used[i]) continue
    const w = list[i] ?? ''

    if (w.includes('/')) {
      const parts = w.split('/').filter((p) => p !== '')
      if (parts.length < 2 || parts.length > 3) continue
      const [p0 = '', p1 = '', p2] = parts
      const lineForm = numberIn(p0, LINE_FORM)
      const pathLines = registry.lineByLower.get(p0) ?? (lineForm === undefined ? undefined : linesByNumber(registry, lineForm))
      if (pathLines && pathLines.length > 0) {
        used[i] = true
        for (const l of pathLines) lines.add(l)
        const lower = p1.toLowerCase()
        const byName = pathLines.flatMap((line) => (registry.machinesOf.get(line) ?? []).filter((m) => m.toLowerCase() === lower).map((machine) => ({ line, machine })))
        const n = numberIn(p1, MACHINE_FORM) ?? parseNumber(p1)
        const refs = byName.length > 0 ? byName : n === undefined ? [] : machinesByNumber(registry, pathLines, n)
        if (refs.length === 0) {
          unknown.push(`${p0}/${p1}`)
          continue
        }
        pending.push({ kind: 'refs', refs })
        if (p2 !== undefined) {
          const found = registry.entries.filter((e) => refs.some((r) => r.line === e.line && r.machine === e.machine) && e.sensor.toLowerCase() === p2)
          if (found.length > 0) pathSensors.push(...found)
          else if (registry.sensorNames.has(p2)) missingPathSensors.push(registry.sensorNames.get(p2) ?? p2)
          else notes.add(p2)
        }
      } else if (lineForm !== undefined) {
        used[i] = true
        unknown.push(`line ${p0}`)
      } else if (registry.machineByLower.has(p0) && parts.length === 2) {
        used[i] = true
        pending.push({ kind: 'name', name: p0 })
        const found = registry.entries.filter((e) => e.machine.toLowerCase() === p0 && e.sensor.toLowerCase() === p1)
        if (found.length > 0) pathSensors.push(...found)
        else notes.add(p1)
      }
      continue
    }

    const exactLines = registry.lineByLower.get(w)
    if (exactLines) {
      for (const l of exactLines) lines.add(l)
      used[i] = true
      continue
    }
    if (LINE_WORDS.has(w)) {
      const [nums, next] = numbersAfter(i)
      if (nums.length > 0) {
        mark(i, next)
        for (const n of nums) {
          const found = linesByNumber(registry, n)
          if (found.length > 0) for (const l of found) lines.add(l)
          else unknown.push(`line ${n}`)
        }
      } else if (free(i + 1) && /\d/.test(list[i + 1] ?? '') && !isLineName(list[i + 1] ?? '') && !isMachineName(list[i + 1] ?? '')) {
        mark(i, i + 2)
        unknown.push(`line ${list[i + 1] ?? ''}`)
      }
      continue
    }
    const lineForm = numberIn(w, LINE_FORM)
    if (lineForm !== undefined) {
      used[i] = true
      const found = linesByNumber(registry, lineForm)
      if (found.length > 0) for (const l of found) lines.add(l)
      else unknown.push(`line ${lineForm}`)
      continue
    }

    if (registry.machineByLower.has(w)) {
      used[i] = true
      pending.push({ kind: 'name', name: w })
      continue
    }
    if (MACHINE_WORDS.has(w)) {
      const [nums, next] = numbersAfter(i)
      if (nums.length > 0) {
        mark(i, next)
        for (const n of nums) pending.push({ kind: 'number', n })
      } else if (free(i + 1) && /\d/.test(list[i + 1] ?? '') && !isMachineName(list[i + 1] ?? '') && !isLineName(list[i + 1] ?? '')) {
        mark(i, i + 2)
        unknown.push(`machine ${list[i + 1] ?? ''}`)
      }
      continue
    }
    const machineForm = numberIn(w, MACHINE_FORM)
    if (machineForm !== undefined) {
      used[i] = true
      pending.push({ kind: 'number', n: machineForm })
      continue
    }

    // "the welding robot", "press 3": kinds of machine, unless the registry uses the word for a sensor.
    const isKind = (x: string | undefined) => x !== undefined && MACHINE_KINDS.has(x) && !registry.sensorTokens.has(x) && !registry.sensorTokens.has(singular(x))
    if (isKind(w)) {
      const kindWords: string[] = []
      let j = i
      for (; free(j) && isKind(list[j]); j++) kindWords.push(singular(list[j] ?? ''))
      const n = free(j) ? parseNumber(list[j]) : undefined
      if (n !== undefined) j++
      mark(i, j)
      // The kind may name a line ("the welding line" with a line "welding").
      const kindLines = registry.lines.filter((l) => kindWords.every((k) => nameParts(l.toLowerCase()).includes(k)))
      if (kindLines.length > 0 && n === undefined) for (const l of kindLines) lines.add(l)
      else pending.push({ kind: 'kind', words: kindWords, ...(n === undefined ? {} : { n }) })
      i = j - 1
    }
  }

  const scopeLines = lines.size > 0 ? registry.lines.filter((l) => lines.has(l)) : registry.lines
  const onLines = lines.size > 0 ? ` on ${listText(scopeLines, 2)}` : ''
  const machineKeys = new Set<string>()
  for (const p of pending) {
    let refs: MachineRef[]
    let text: string
    if (p.kind === 'refs') {
      refs = p.refs
      text = ''
    } else if (p.kind === 'name') {
      refs = scopeLines.flatMap((line) => (registry.machinesOf.get(line) ?? []).filter((m) => m.toLowerCase() === p.name).map((machine) => ({ line, machine })))
      text = `machine ${p.name}`
    } else if (p.kind === 'number') {
      refs = machinesByNumber(registry, scopeLines, p.n)
      text = `machine ${p.n}`
    } else {
      // Every kind word must be in the name: "welding robot" is not some other robot.
      const matches = (m: string) => p.words.every((k) => nameParts(m.toLowerCase()).includes(k)) && (p.n === undefined || trailingNumber(m) === p.n)
      refs = scopeLines.flatMap((line) => (registry.machinesOf.get(line) ?? []).filter(matches).map((machine) => ({ line, machine })))
      text = `${p.words.join(' ')}${p.n === undefined ? '' : ` ${p.n}`}`
    }
    if (refs.length === 0) unknown.push(`${text}${onLines}`)
    for (const r of refs) machineKeys.add(`${r.line}/${r.machine}`)
  }
  const machines: MachineRef[] = []
  for (const line of registry.lines) {
    for (const machine of registry.machinesOf.get(line) ?? []) if (machineKeys.has(`${line}/${machine}`)) machines.push({ line, machine })
  }
  return { lines: registry.lines.filter((l) => lines.has(l)), machines, unknown, pathSensors, missingPathSensors }
}

// ---------------------------------------------------------------------------------------------
// Sensors

interface SensorResult {
  entries: RegistrySensor[]
  /** Sensor names the question names that exist on the site but not in the named scope. */
  outOfScope: string[]
  /** Some selected sensor was named by a word other than a parts/rejects word. */
  namedBeyondCounts: boolean
}

/** Damerau-Levenshtein (optimal string alignment) distance, exact up to `max`. */
function osaDistance(a: string, b: string, max = 1): number {
  if (Math.abs(a.length - b.length) > max) return max + 1
  let prev2: number[] = []
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    let rowMin = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, (prev2[j - 2] ?? 0) + 1)
      cur.push(v)
      rowMin = Math.min(rowMin, v)
    }
    if (rowMin > max) return max + 1
    prev2 = prev
    prev = cur
  }
  return prev[b.length] ?? max + 1
}

function createMatcher() {
  const synonymCache = new Map<string, readonly string[] | undefined>()
  const synonymsOf = (w: string): readonly string[] | undefined => {
    if (synonymCache.has(w)) return synonymCache.get(w)
    let found = SYNONYMS.get(w)
    if (found === undefined && w.length >= 5 && !VOCABULARY.has(w)) {
      const close = [...SYNONYMS.keys()].filter((k) => k.length >= 5 && osaDistance(w, k) <= 1)
      const targets = new Set(close.map((k) => SYNONYMS.get(k)))
      if (targets.size === 1) found = [...targets][0]
    }
    synonymCache.set(w, found)
    return found
  }
  /** 2: the word means the token; 1: by prefix or a typo; 0: no. */
  const tokenMatch = (w: string, t: string): 0 | 1 | 2 => {
    if (w === t) return 2
    if (synonymsOf(w)?.includes(t)) return 2
    if (/^\d+$/.test(w) || /^\d+$/.test(t)) return 0
    if (t.length >= 3 && w.startsWith(t) && t.length * 2 >= w.length) return 1
    if (w.length >= 3 && t.startsWith(w)) return 1
    if (w.length >= 5 && t.length >= 4 && !VOCABULARY.has(w) && !SYNONYMS.has(w) && osaDistance(w, t) <= 1) return 1
    return 0
  }
  return { synonymsOf, tokenMatch }
}

/**
 * Sensor names the words name: a name given in full; a name all of whose tokens the words match
 * ("spindle temperature"); a name that is the only one a word matches ("vibration" → vibration_rms);
 * failing those, every name a word means outright ("spindle" → spindle_temp and spindle_speed).
 */
function selectSensorNames(questionWords: readonly string[], fullTokens: ReadonlySet<string>, lowerNames: readonly string[], matcher: ReturnType<typeof createMatcher>): Set<string> {
  const selected = new Set<string>()
  const hits = new Map<string, Set<string>>()
  const strong = new Set<string>()
  for (const name of lowerNames) {
    if (fullTokens.has(name) || questionWords.some((w) => matcher.synonymsOf(w)?.includes(name))) selected.add(name)
    const tokens = nameTokens(name)
    let all = tokens.length > 0
    for (const t of tokens) {
      let matched = false
      for (const w of questionWords) {
        const s = matcher.tokenMatch(w, t)
        if (s === 0) continue
        matched = true
        hits.set(w, (hits.get(w) ?? new Set()).add(name))
        if (s === 2) strong.add(name)
      }
      if (!matched) all = false
    }
    if (all) selected.add(name)
  }
  for (const names of hits.values()) if (names.size === 1) for (const n of names) selected.add(n)
  if (selected.size === 0) for (const n of strong) selected.add(n)
  return selected
}

function resolveSensors(words: Words, registry: Registry, scope: Scope, notes: Notes): SensorResult {
  const fullTokens = new Set<string>()
  const questionWords: string[] = []
  words.list.forEach((w, i) => {
    if (words.used[i] || w.length > 64) return
    fullTokens.add(w)
    for (const part of w.split(/[_.\-/:]+/)) if (part !== '' && !STOP.has(part) && !questionWords.includes(part)) questionWords.push(part)
  })
  const inScope = (e: RegistrySensor) =>
    scope.machines.length > 0
      ? scope.machines.some((m) => m.line === e.line && m.machine === e.machine)
      : scope.lines.length > 0
        ? scope.lines.includes(e.line)
        : true
  const candidates = registry.entries.filter(inScope)
  const lowerNamesOf = (entries: readonly RegistrySensor[]) => [...new Set(entries.map((e) => e.sensor.toLowerCase()))]
  const matcher = createMatcher()
  const names = lowerNamesOf(candidates)
  const selected = selectSensorNames(questionWords, fullTokens, names, matcher)
  const beyondCounts = selectSensorNames(
    questionWords.filter((w) => !COUNT_WORDS.has(w)),
    fullTokens,
    names,
    matcher,
  )
  const pathKeys = new Set(scope.pathSensors.map((e) => `${e.line}/${e.machine}/${e.sensor}`))
  const entries = candidates.filter((e) => selected.has(e.sensor.toLowerCase()) || pathKeys.has(`${e.line}/${e.machine}/${e.sensor}`))

  let outOfScope: string[] = [...scope.missingPathSensors]
  const narrowed = scope.machines.length > 0 || scope.lines.length > 0
  if (entries.length === 0 && narrowed && outOfScope.length === 0) {
    const elsewhere = selectSensorNames(questionWords, fullTokens, lowerNamesOf(registry.entries), matcher)
    outOfScope = [...elsewhere].map((n) => registry.sensorNames.get(n) ?? n)
  }
  // Measurement words that no sensor in scope answers to.
  for (const w of questionWords) {
    if (MEASURE_WORDS.has(w) && !names.some((n) => nameTokens(n).some((t) => matcher.tokenMatch(w, t) > 0))) notes.add(w)
  }
  return {
    entries,
    outOfScope,
    namedBeyondCounts: beyondCounts.size > 0 || scope.pathSensors.length > 0,
  }
}

// ---------------------------------------------------------------------------------------------
// Intent

function resolveIntent(words: Words, sensors: SensorResult, notes: Notes): Intent {
  const text = words.list.filter((_, i) => !words.timeUsed[i]).join(' ')
  const has = (src: string) => phrase(src, '').test(text)
  const aggregates: [Intent, string][] = [
    ['max', INTENT_PATTERNS.max],
    ['min', INTENT_PATTERNS.min],
    ['mean', INTENT_PATTERNS.mean],
  ]
  // The aggregate named first in the question ("highest and lowest" → max).
  let aggregate: { intent: Intent; word: string; at: number } | undefined
  for (const [intent, src] of aggregates) {
    const m = phrase(src, '').exec(text)
    if (m && (aggregate === undefined || m.index < aggregate.at)) aggregate = { intent, word: m[0], at: m.index }
  }
  if (has(INTENT_PATTERNS.mostAnomalies)) return 'most_anomalies'
  if (has(INTENT_PATTERNS.mostParts)) return 'most_parts'
  if (has(INTENT_PATTERNS.rejectRate)) return 'reject_rate'
  if (aggregate && sensors.entries.length > 0 && sensors.namedBeyondCounts) return aggregate.intent
  if (has(INTENT_PATTERNS.rejects)) return 'rejects'
  if (has(INTENT_PATTERNS.parts)) return 'parts'
  if (aggregate && sensors.entries.length > 0) return aggregate.intent
  if (has(INTENT_PATTERNS.anomalies)) return 'anomalies'
  if (aggregate) notes.add(`${aggregate.word} (no sensor named)`)
  return 'summary'
}
