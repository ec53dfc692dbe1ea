import { describe, expect, it } from 'vitest'
import { createTopicMapper } from './topic-map.js'

const map = createTopicMapper(
  [
    { filter: 'factory/+/+/+', pattern: 'factory/{line}/{machine}/{sensor}', format: 'json' },
    { filter: 'legacy/+/x/+/+/raw', pattern: 'legacy/{site}/x/{machine}/{sensor}/raw', format: 'number' },
    { filter: 'plc/+/+/+/+', pattern: 'plc/+/{line}/{machine}/{sensor}', format: 'json' },
  ],
  'plant-a',
)

describe('createTopicMapper', () => {
  it('maps named segments and takes the site from config', () => {
    expect(map('factory/line1/m3/spindle_temp')).toEqual({
      ok: true,
      format: 'json',
      id: { site: 'plant-a', line: 'line1', machine: 'm3', sensor: 'spindle_temp' },
    })
  })

  it('lets {site} in the pattern override the configured site, and "+" ignore a segment', () => {
    expect(map('legacy/plant-b/x/m1/temp/raw')).toMatchObject({ ok: true, format: 'number', id: { site: 'plant-b', machine: 'm1', sensor: 'temp' } })
    expect(map('plc/anything at all/l2/m9/p')).toMatchObject({ ok: true, id: { line: 'l2', machine: 'm9', sensor: 'p' } })
  })

  it('rejects mapped segments that are not [A-Za-z0-9_.-]{1,64}', () => {
    for (const bad of ['temp ☃', 'a\u0000b', 'ünit', 'x'.repeat(65), '', 'a\nb']) {
      expect(map(`factory/line1/m1/${bad}`), JSON.stringify(bad)).toMatchObject({ ok: false, reason: 'bad_topic_segment' })
    }
    const r = map('factory/line1/m1/temp\u0007')
    expect(r.ok === false && r.detail).toContain('\\u0007')
  })

  it('says unmapped_topic for topics no pattern covers', () => {
    expect(map('factory/line1/m1')).toMatchObject({ ok: false, reason: 'unmapped_topic' })
    expect(map('other/a/b/c')).toMatchObject({ ok: false, reason: 'unmapped_topic' })
  })
})
