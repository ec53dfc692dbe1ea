// The demo's argument parsing: the payload format switch and its usage errors.
import { describe, expect, it } from 'vitest'
import { parseDemoArgs } from '../../scripts/demo.js'

describe('npm run demo -- --format', () => {
  it('defaults to json and accepts sparkplug', () => {
    expect(parseDemoArgs([], {})).toMatchObject({ format: 'json' })
    expect(parseDemoArgs(['--format', 'sparkplug'], {})).toMatchObject({ format: 'sparkplug' })
  })

  it('refuses another format with the flag named', () => {
    expect(() => parseDemoArgs(['--format', 'xml'], {})).toThrow('--format: "xml" is not "json" or "sparkplug"')
  })
})
