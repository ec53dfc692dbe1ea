import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { ConfigError, loadConfigFile } from '../config/load-config.js'
import { readJournalLedger } from '../ingest/journal.js'
import type { CliIo } from './run-cli.js'

/** `shiftscribe ledger --config <file>`: the journal's ledger and whether it balances. */
export async function ledgerCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, json: { type: 'boolean', default: false } } })
  if (values.config === undefined) {
    io.stderr.write('shiftscribe: ledger: --config <file> is required\n')
    return 2
  }
  let file: string
  try {
    file = loadConfigFile(values.config, { env: io.env }).config.journal.file
  } catch (err) {
    io.stderr.write(`${err instanceof ConfigError ? err.message : String(err)}\n`)
    return 2
  }
  if (!existsSync(file)) {
    io.stderr.write(`shiftscribe: ledger: no journal at ${file} yet (the gateway creates it on start)\n`)
    return 1
  }
  const l = readJournalLedger(file)
  const balanced = l.received === l.journaled + l.quarantined && l.journaled + l.quarantined === l.delivered + l.pending + l.dropped
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ file, ...l, balanced })}\n`)
  } else {
    const reasons = Object.entries(l.quarantinedByReason)
      .filter(([, n]) => n > 0)
      .map(([r, n]) => `${r} ${n}`)
      .join(', ')
    io.stdout.write(
      [
        `journal      ${file}`,
        `messages     ${l.messages}`,
        `received     ${l.received}  = journaled ${l.journaled} + quarantined ${l.quarantined}`,
        `quarantined  ${reasons || 'none'}`,
        `delivered    ${l.delivered}`,
        `pending      ${l.pending} (${l.pendingBytes} bytes)`,
        `dropped      ${l.dropped}`,
        `balanced     ${balanced ? 'yes' : 'NO'}`,
        '',
      ].join('\n'),
    )
  }
  return balanced ? 0 : 1
}
