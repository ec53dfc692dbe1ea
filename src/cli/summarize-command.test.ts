import { describe, expect, it } from 'vitest'
import { parseSpan, summarizeCommand } from './summarize-command.js'

function io() {
  const out = { stdout: '', stderr: '' }
  return { out, io: { stdout: { write: (s: string) => (out.stdout += s) }, stderr: { write: (s: string) => (out.stderr += s) }, env: {}, cwd: '/' } }
}

describe('parseSpan', () => {
  it('reads hours, minutes and seconds as milliseconds', () => {
    expect(parseSpan('2h')).toBe(7_200_000)
    expect(parseSpan('90m')).toBe(5_400_000)
    expect(parseSpan('90min')).toBe(5_400_000)
    expect(parseSpan('45s')).toBe(45_000)
    expect(parseSpan('1.5h')).toBe(5_400_000)
    expect(parseSpan(' 2 h ')).toBe(7_200_000)
  })

  it('accepts up to 31 days and no more', () => {
    expect(parseSpan('744h')).toBe(31 * 86_400_000)
    expect(parseSpan('745h')).toBeUndefined()
  })

  it('refuses zero, negatives, days, bare numbers, unknown units and empty text', () => {
    for (const bad of ['0h', '0m', '-2h', '1d', '2', 'h', '2hours', '2H', '2h30m', '', '   '])
      expect(parseSpan(bad), JSON.stringify(bad)).toBeUndefined()
  })
})

describe('shiftscribe summarize --last', () => {
  it('exits 2 and names the accepted forms when the span is malformed, before reading the config', async () => {
    for (const bad of ['1d', '2x', '0h', '745h']) {
      const { out, io: cli } = io()
      expect(await summarizeCommand(['--config', '/no/such/gateway.yaml', '--last', bad], cli)).toBe(2)
      expect(out.stderr).toBe(`shiftscribe: summarize: --last "${bad}" is not a span like 2h, 90m or 45s of at most 31 days\n`)
      expect(out.stdout).toBe('')
    }
  })

  it('exits 2 with the usage when --last is combined with --shift/--date', async () => {
    const { out, io: cli } = io()
    expect(await summarizeCommand(['--config', '/no/such/gateway.yaml', '--last', '2h', '--shift', 'early', '--date', '2026-11-23'], cli)).toBe(2)
    expect(out.stderr).toContain('usage: shiftscribe summarize')
  })
})
