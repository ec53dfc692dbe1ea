import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { renderCentralSchemas } from './json-schemas.js'

const docs = join(import.meta.dirname, '..', '..', 'docs', 'schemas')

describe('docs/schemas', () => {
  it('are the JSON Schemas rendered from the zod schemas (run `npm run schemas` after changing a message)', () => {
    for (const [file, text] of renderCentralSchemas()) {
      let committed = ''
      try {
        committed = readFileSync(join(docs, file), 'utf8')
      } catch {
        // missing: reported by the comparison below
      }
      expect(committed, `docs/schemas/${file} is stale or missing: run npm run schemas`).toBe(text)
    }
  })
})
