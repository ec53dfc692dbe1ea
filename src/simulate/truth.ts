// The ground truth of a simulation: one JSON line per injected anomaly, written when the
// anomaly starts (in event time) with a synchronous write, so a killed run leaves a valid file.
// Affected samples are those with startTs <= ts < endTs on the record's key.
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs'
import { z } from 'zod'

export const ANOMALY_KINDS = ['spike', 'drift', 'flatline', 'dropout', 'limit_breach', 'reject_rate_jump'] as const
export type AnomalyKind = (typeof ANOMALY_KINDS)[number]

export const anomalyTruthSchema = z.object({
  kind: z.enum(ANOMALY_KINDS),
  site: z.string().optional(),
  line: z.string(),
  machine: z.string(),
  sensor: z.string(),
  /** `line/machine/sensor` */
  key: z.string(),
  /** Event time (epoch ms) of the first affected sample. */
  startTs: z.number().int(),
  /** Event time (epoch ms) of the first sample no longer affected; planned, so it may lie after the run's end. */
  endTs: z.number().int(),
  start: z.string(),
  end: z.string(),
  params: z.record(z.string(), z.union([z.number(), z.string()])),
})
export type AnomalyTruth = z.infer<typeof anomalyTruthSchema>

/** Parses a truth file (JSONL); names the line of the first bad record. */
export function readTruthFile(path: string): AnomalyTruth[] {
  return parseTruthLines(readFileSync(path, 'utf8'))
}

export function parseTruthLines(text: string): AnomalyTruth[] {
  const out: AnomalyTruth[] = []
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return
    const parsed = anomalyTruthSchema.safeParse(JSON.parse(line))
    if (!parsed.success) throw new Error(`truth line ${i + 1}: ${parsed.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`)
    out.push(parsed.data)
  })
  return out
}

export interface TruthWriter {
  write(record: AnomalyTruth): void
  close(): void
}

/** Truncates `path` and appends one line per record with a synchronous write. */
export function createTruthWriter(path: string): TruthWriter {
  const fd = openSync(path, 'w')
  let open = true
  return {
    write(record) {
      if (!open) throw new Error(`truth file ${path} is closed`)
      writeSync(fd, `${JSON.stringify(record)}\n`)
    },
    close() {
      if (!open) return
      open = false
      closeSync(fd)
    },
  }
}
