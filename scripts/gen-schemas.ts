// npm run schemas: writes the JSON Schemas of the central topics (docs/schemas/) from the zod
// schemas in src/bus/messages.ts. `npm test` fails when the committed files are stale.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { renderCentralSchemas } from '../src/bus/json-schemas.js'

const dir = join(import.meta.dirname, '..', 'docs', 'schemas')
mkdirSync(dir, { recursive: true })
for (const [file, text] of renderCentralSchemas()) {
  writeFileSync(join(dir, file), text)
  process.stdout.write(`wrote docs/schemas/${file}\n`)
}
