// `shiftscribe ask "<question>"`: asks the running gateway's question agent (POST /api/ask
// with the http token from the config) and prints the answer, how the question was
// understood and the facts behind it.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { AnswerMessage } from '../bus/messages.js'
import { ConfigError, loadConfigFile } from '../config/load-config.js'
import type { CliIo } from './run-cli.js'
import { statusUrl } from './status-command.js'

export const ASK_USAGE = `Usage: shiftscribe ask --config <file> [--url <http://host:port>] [--as <asker>] [--json] "<question>"
Asks the running gateway. The answer comes from the state database (facts computed by code),
phrased by the local model and checked number by number, or written by the template.
Exit 0 answered, 1 refused or no answer, 2 usage.
`

export function formatAnswer(a: AnswerMessage, zoneLabel = ''): string {
  const lines = [a.headline, '', a.body]
  if (a.highlights.length > 0) lines.push('', ...a.highlights.map((h) => `  • ${h}`))
  lines.push('')
  if (a.understood !== null) lines.push(`understood: ${a.understood.intent}, ${a.understood.label}${zoneLabel}${a.understood.notes.length > 0 ? ` (not understood: ${a.understood.notes.join(', ')})` : ''}`)
  lines.push(
    a.generator.type === 'llm'
      ? `written by ${a.generator.model} (${a.generator.mode}, ${Math.round(a.generator.ms)} ms), ${a.grounding.numbersChecked} numbers checked against ${a.facts.length} facts`
      : `written by the template (${a.generator.reason}${a.generator.detail ? `: ${a.generator.detail}` : ''})`,
  )
  return `${lines.join('\n')}\n`
}

export async function askCommand(args: string[], io: CliIo, fetchImpl: typeof fetch = fetch): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      url: { type: 'string' },
      as: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    io.stdout.write(ASK_USAGE)
    return 0
  }
  const question = positionals.join(' ').trim()
  if (question === '' || values.config === undefined) {
    io.stderr.write(`shiftscribe: ask: ${question === '' ? 'a question is required' : '--config <file> is required (for the http token)'}\n${ASK_USAGE}`)
    return 2
  }
  let base: string
  let token: string | undefined
  let timeoutMs: number
  try {
    const { config } = loadConfigFile(values.config, { env: io.env, unsetSystemdDirectories: 'warn' })
    base = (values.url ?? statusUrl(config.http.host, config.http.port)).replace(/\/+$/, '')
    token = config.http.tokenFile !== undefined ? readFileSync(config.http.tokenFile, 'utf8').trim() : config.http.token
    timeoutMs = config.ask.deadlineMs + 30_000
  } catch (err) {
    io.stderr.write(`${err instanceof ConfigError ? err.message : `shiftscribe: ask: ${err instanceof Error ? err.message : String(err)}`}\n`)
    return 2
  }
  if (token === undefined) {
    io.stderr.write('shiftscribe: ask: the config has no http.token or http.tokenFile; questions need the token\n')
    return 2
  }
  let res: Response
  try {
    res = await fetchImpl(`${base}/api/ask`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ question, ...(values.as !== undefined ? { askedBy: values.as } : { askedBy: 'cli' }) }),
      signal: AbortSignal.timeout(timeoutMs),
    })
  } catch (err) {
    const why = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err)
    io.stderr.write(`shiftscribe: ask: no answer from ${base}/api/ask (${why}); is the gateway running?\n`)
    return 1
  }
  const body = (await res.json().catch(() => ({}))) as AnswerMessage & { error?: string; message?: string }
  if (!res.ok) {
    io.stderr.write(`shiftscribe: ask: ${res.status} ${body.error ?? ''}: ${body.message ?? ''}\n`)
    return res.status === 400 ? 2 : 1
  }
  io.stdout.write(values.json ? `${JSON.stringify(body)}\n` : formatAnswer(body))
  return 0
}
