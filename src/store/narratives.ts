// Narratives in the state database: one row per id (a regenerated period replaces its row and
// bumps `revision`), written in the same transaction as the outbox record that publishes it.
import type { Narrative } from '../narrate/types.js'
import { createOutbox } from './outbox.js'
import type { StateDb } from './state-db.js'

export interface NarrativeStore {
  /** Stores the narrative (replacing one with the same id) and, with a topic, queues it for factory.narratives. Returns the revision. */
  save(narrative: Narrative, publish?: { topic: string }): number
  get(id: string): (Narrative & { revision: number }) | undefined
  /** The newest first. */
  list(options?: { kind?: Narrative['kind']; limit?: number }): (Narrative & { revision: number })[]
  has(id: string): boolean
}

interface Row {
  id: string
  kind: Narrative['kind']
  site: string
  scope: string
  period_start: number
  period_end: number
  headline: string
  body: string
  highlights: string
  facts: string
  generator: string
  grounding: string
  created_at: number
  revision: number
}

const fromRow = (r: Row): Narrative & { revision: number } => ({
  id: r.id,
  kind: r.kind,
  site: r.site,
  scope: r.scope,
  periodStart: r.period_start,
  periodEnd: r.period_end,
  headline: r.headline,
  body: r.body,
  highlights: JSON.parse(r.highlights) as string[],
  facts: JSON.parse(r.facts) as Narrative['facts'],
  generator: JSON.parse(r.generator) as Narrative['generator'],
  grounding: JSON.parse(r.grounding) as Narrative['grounding'],
  createdAt: r.created_at,
  revision: r.revision,
})

export function createNarrativeStore(db: StateDb): NarrativeStore {
  const outbox = createOutbox(db)
  const upsert = db.prepare(
    `INSERT INTO narratives (id, kind, site, scope, period_start, period_end, headline, body, highlights, facts, generator, grounding, created_at, revision)
     VALUES (@id, @kind, @site, @scope, @periodStart, @periodEnd, @headline, @body, @highlights, @facts, @generator, @grounding, @createdAt, 1)
     ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, site = excluded.site, scope = excluded.scope, period_start = excluded.period_start,
       period_end = excluded.period_end, headline = excluded.headline, body = excluded.body, highlights = excluded.highlights, facts = excluded.facts,
       generator = excluded.generator, grounding = excluded.grounding, created_at = excluded.created_at, revision = narratives.revision + 1
     RETURNING revision`,
  )
  const byId = db.prepare('SELECT * FROM narratives WHERE id = ?')
  const exists = db.prepare('SELECT 1 FROM narratives WHERE id = ?')
  const save = db.transaction((n: Narrative, publish?: { topic: string }): number => {
    const { revision } = upsert.get({
      ...n,
      highlights: JSON.stringify(n.highlights),
      facts: JSON.stringify(n.facts),
      generator: JSON.stringify(n.generator),
      grounding: JSON.stringify(n.grounding),
    }) as { revision: number }
    if (publish) outbox.add(publish.topic, 'shiftscribe.narrative', `${n.site}/${n.scope}`, n, n.createdAt)
    return revision
  })
  return {
    save: (n, publish) => save(n, publish),
    get: (id) => {
      const r = byId.get(id) as Row | undefined
      return r === undefined ? undefined : fromRow(r)
    },
    list: (options = {}) =>
      (
        db
          .prepare(`SELECT * FROM narratives ${options.kind ? 'WHERE kind = ?' : ''} ORDER BY period_start DESC, id LIMIT ?`)
          .all(...(options.kind ? [options.kind] : []), options.limit ?? 50) as Row[]
      ).map(fromRow),
    has: (id) => exists.get(id) !== undefined,
  }
}
