// Request parameters, validated with zod: a bad one is a 400 whose message names the parameter
// and what it must be. HttpError carries the status; the app's error handler renders it.
import { z } from 'zod'

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly error: string,
    message: string,
  ) {
    super(message)
    this.name = 'HttpError'
  }
}

export const badRequest = (message: string) => new HttpError(400, 'bad_request', message)
export const notFound = (message: string) => new HttpError(404, 'not_found', message)

/** Parses `input` (a query or route params object) or throws a 400 naming each bad parameter. */
export function parseParams<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input ?? {})
  if (result.success) return result.data
  const record = (input ?? {}) as Record<string, unknown>
  const message = result.error.issues
    .map((issue) => {
      const name = issue.path.map(String).join('.') || 'query'
      const got = record[name]
      const shown = got === undefined ? '' : ` (got ${JSON.stringify(got).slice(0, 80)})`
      return `${name}: ${issue.message}${shown}`
    })
    .join('; ')
  throw badRequest(message)
}

const blankToUndefined = (v: unknown) => (v === '' ? undefined : v)

/** An optional whole number from a query string; blank means absent. */
export function intParam(min: number, max: number) {
  const message = `must be a whole number from ${min} to ${max}`
  return z.preprocess(
    (v) => (typeof v === 'string' && /^-?\d{1,16}$/.test(v) ? Number(v) : blankToUndefined(v)),
    z.number({ error: message }).int({ error: message }).min(min, { error: message }).max(max, { error: message }).optional(),
  )
}

/** An optional free-text filter (names come from the store and may hold any character); blank means absent. */
export function textParam(maxLength = 200) {
  return z.preprocess(blankToUndefined, z.string({ error: 'must be given once, as text' }).max(maxLength, { error: `must be at most ${maxLength} characters` }).optional())
}

/** An optional choice among `values`; blank means absent. */
export function enumParam<const T extends readonly [string, ...string[]]>(values: T) {
  return z.preprocess(blankToUndefined, z.enum(values, { error: `must be one of ${values.join(', ')}` }).optional())
}

export const DATE_RE = /^\d{4}-\d{2}-\d{2}$/
/** A shift id as in the shifts table: `YYYY-MM-DD/name`. */
export const SHIFT_ID_RE = /^\d{4}-\d{2}-\d{2}\/[^/]{1,64}$/

export const shiftsQuery = z.object({ limit: intParam(1, 200).default(20), before: intParam(0, Number.MAX_SAFE_INTEGER) })

export const incidentsQuery = z.object({
  line: textParam(),
  machine: textParam(),
  kind: textParam(64),
  severity: enumParam(['warning', 'critical'] as const),
  state: enumParam(['open', 'closed'] as const),
  limit: intParam(1, 500).default(50),
  before: intParam(0, Number.MAX_SAFE_INTEGER),
})
export type IncidentsQuery = z.output<typeof incidentsQuery>

export const sensorQuery = z.object({
  hours: intParam(1, 168).default(24),
  shift: z.preprocess(blankToUndefined, z.string().regex(SHIFT_ID_RE, { error: 'must be a shift id like 2026-11-23/early' }).optional()),
})

export const answersQuery = z.object({ limit: intParam(1, 200).default(20) })

export const narrativesQuery = z.object({ kind: enumParam(['shift', 'incident', 'answer'] as const), limit: intParam(1, 200).default(20) })

export const shiftParams = z.object({
  date: z.string().regex(DATE_RE, { error: 'must be a date like 2026-11-23' }),
  name: z.string().min(1).max(64, { error: 'must be at most 64 characters' }),
})

export const sensorParams = z.object({
  line: z.string().min(1).max(200),
  machine: z.string().min(1).max(200),
  sensor: z.string().min(1).max(200),
})
