// The vocabulary of the narrate stage: facts (computed by code from SQLite), the fact sets a
// narrative is written from, and the narrative itself. The model never computes a number; every
// number a reader sees is a fact's `display` (or is checked against a fact by grounding.ts).

/** What a fact measures; grounding uses it to catch "the right number on the wrong metric". */
export const FACT_METRICS = [
  'parts', // parts made (counter delta)
  'rejects', // rejected parts (counter delta)
  'reject_rate', // rejects / parts, in %
  'coverage', // minutes with data, in %
  'anomalies', // how many anomalies
  'duration', // how long something lasted
  'mean',
  'min',
  'max',
  'std',
  'observed', // the value an anomaly saw (peak, stuck value, rate)
  'expected', // what was expected (limit, baseline)
  'start', // when something started (a time of day)
  'end', // when something ended (a time of day)
  'date', // a calendar date
  'last', // the latest value of a sensor
] as const
export type FactMetric = (typeof FACT_METRICS)[number]

export interface Fact {
  /** Unique within its fact set and stable between runs, e.g. `parts_total`, `reject_rate.L1.press_03`, `anomaly_1`. */
  id: string
  metric: FactMetric
  /** What it is about: `site`, a line `L1`, a machine `L1/press_03` or a sensor `L1/press_03/spindle_temp`. */
  scope: string
  /**
   * The value. Times and dates are epoch ms; durations are in `unit`. Rounded to what `display`
   * shows, so that the text and the value agree.
   */
  value: number
  /** `%`, `min`, `s`, `h`, a sensor unit (`°C`, `bar`, `mm/s`), `parts`, `` for a bare count, `time` or `date`. */
  unit: string
  /** The event-time window the fact describes (epoch ms). */
  window: { start: number; end: number }
  /** The value as every text shows it: `1302 parts`, `1.5 %`, `61.2 °C`, `14:05`, `2026-11-26`, `12.5 min`. */
  display: string
  /** One self-contained phrase with the value, for prompts and templates: `L1/press_03 reject rate 4.2 %`. */
  text: string
}

export type NarrativeKind = 'shift' | 'incident' | 'answer'

/** Everything one narrative is written from; built by facts.ts, deterministic for the same database. */
export interface FactSet {
  kind: NarrativeKind
  /** The narrative id: the same period gives the same id, so regenerating replaces it. */
  id: string
  site: string
  /** `site` for a shift narrative, `line/machine` for an incident. */
  scope: string
  periodStart: number
  periodEnd: number
  /** A plain title with no invented content: `Early shift 2026-11-26`, `Incident on L1/press_03`. */
  title: string
  /** Every fact, most important first. */
  facts: Fact[]
  /** The facts the model sees (a prefix-ordered subset that fits the prompt), by id. */
  promptFactIds: string[]
  /** Line, machine and sensor names (and `line/machine` scopes) that the facts are about. */
  names: string[]
  /** The fact id of the most important anomaly, when there is one. */
  topAnomalyFactId?: string
  /** An answer's main fact: a text that does not state its value does not answer the question. */
  primaryFactId?: string
}

/** The text of a narrative. */
export interface NarrativeText {
  headline: string
  body: string
  highlights: string[]
}

export interface GroundingReport {
  /** Every number (and time, date, duration, percentage) found in the text matched a fact, and no unknown name appeared. */
  ok: boolean
  numbersChecked: number
  /** The numbers (with their context) that matched no fact, or matched a fact of another metric. */
  unmatched: string[]
  /** Names mentioned that are not among the fact set's names. */
  unknownNames: string[]
}

export type Generator =
  | { type: 'llm'; model: string; mode: 'plan' | 'free'; attempts: number; promptTokens: number; outputTokens: number; ms: number }
  | { type: 'template'; reason: TemplateReason; detail?: string }

export type TemplateReason = 'llm_disabled' | 'llm_unavailable' | 'deadline' | 'ungrounded' | 'invalid_output' | 'llm_error' | 'superseded'

/** One narrative as stored in SQLite and produced to factory.narratives. */
export interface Narrative extends NarrativeText {
  id: string
  kind: NarrativeKind
  site: string
  scope: string
  periodStart: number
  periodEnd: number
  facts: Fact[]
  generator: Generator
  grounding: GroundingReport
  createdAt: number
}
