// The JSON Schemas central teams read, rendered from the zod schemas (one source of truth).
import { z } from 'zod'
import { CENTRAL_SCHEMAS } from './messages.js'

const TITLES: Record<keyof typeof CENTRAL_SCHEMAS, string> = {
  'narrative.v1.json': 'shiftscribe narrative (plant.summaries), schema version 1',
  'anomaly.v1.json': 'shiftscribe anomaly event (plant.anomalies), schema version 1',
  'kpis.v1.json': 'shiftscribe shift KPIs (plant.kpis), schema version 1',
  'answer.v1.json': 'shiftscribe answer to a central question (plant.answers), schema version 1',
}

/** File name → pretty-printed JSON Schema (draft 2020-12). */
export function renderCentralSchemas(): [string, string][] {
  return (Object.keys(CENTRAL_SCHEMAS) as (keyof typeof CENTRAL_SCHEMAS)[]).map((file) => {
    const schema = z.toJSONSchema(CENTRAL_SCHEMAS[file], { target: 'draft-2020-12', io: 'output' })
    return [file, `${JSON.stringify({ ...schema, $id: `https://shiftscribe.example/schemas/${file}`, title: TITLES[file] }, null, 2)}\n`]
  })
}
