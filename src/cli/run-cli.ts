import { parseArgs } from 'node:util'
import { isGatewayError, describeError } from '../errors.js'
// Commands are imported when they run: `ledger` or `status` should not pay for loading
// the gateway, the model runtime and the web app (a CLI start took ~0.8 s that way).

export interface CliIo {
  stdout: { write(s: string): unknown }
  stderr: { write(s: string): unknown }
  env: NodeJS.ProcessEnv
  cwd: string
}

export const USAGE = `shiftscribe — factory edge gateway: MQTT → Kafka → SQLite → local-LLM shift summaries → central Kafka

Usage:
  shiftscribe <command> [options]

Commands:
  start --config <file>           run the gateway (until SIGTERM/SIGINT)
  simulate [options]              publish a simulated plant over MQTT (--help for options)
  status (--config <file> | --url <u>) [--json]
                                  ask the running gateway: each stage's health, ledger, lags
  ask --config <file> "<question>"  ask the running gateway a question about the plant (answered from the data)
  ledger --config <file> [--json] print the loss ledger from the journal (works while running)
  rebuild --config <file> --into <db>   replay factory.readings into a fresh state database
  verify --config <file> [--keep]  compare the live state database with a rebuild (exit 1 if they differ)
  summarize --config <file> (--shift <name> --date <d> | --last 2h) [--json] [--template-only] [--dry-run]
                                  write a narrative now: facts → model → grounding check → template fallback
  config check <file> [--print]   validate a config file; --print shows the effective config (secrets redacted)
  version                         print shiftscribe's version and the versions of its key parts
  help                            show this help

Options:
  -h, --help                      show this help

Exit codes: 0 ok, 1 failure, 2 usage or configuration error.
Environment overrides (addresses and secrets): see README.md, "Configuration".
`

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    io.stdout.write(USAGE)
    return command === undefined ? 2 : 0
  }
  try {
    switch (command) {
      case 'version':
      case '--version':
      case '-v':
        io.stdout.write((await import('./version.js')).versionReport())
        return 0
      case 'start': {
        const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' } } })
        if (values.config === undefined) return usageError(io, 'start: --config <file> is required')
        return (await import('../main.js')).runGateway({ configFile: values.config, env: io.env })
      }
      case 'ask':
        return (await import('./ask-command.js')).askCommand(rest, io)
      case 'status':
        return (await import('./status-command.js')).statusCommand(rest, io)
      case 'ledger':
        return (await import('./ledger-command.js')).ledgerCommand(rest, io)
      case 'simulate':
        return (await import('./simulate-command.js')).simulateCommand(rest, io)
      case 'rebuild':
        return (await import('./state-commands.js')).rebuildCommand(rest, io)
      case 'verify':
        return (await import('./state-commands.js')).verifyCommand(rest, io)
      case 'summarize':
        return (await import('./summarize-command.js')).summarizeCommand(rest, io)
      case 'config': {
        const [sub, ...args] = rest
        if (sub !== 'check') return usageError(io, sub === undefined ? 'config: missing subcommand (try "config check <file>")' : `config: unknown subcommand "${sub}"`)
        const { values, positionals } = parseArgs({
          args,
          allowPositionals: true,
          options: { print: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
        })
        if (values.help) {
          io.stdout.write('Usage: shiftscribe config check <file> [--print]\n')
          return 0
        }
        const file = positionals[0]
        if (file === undefined || positionals.length > 1) return usageError(io, 'config check: expects exactly one file, e.g. "shiftscribe config check /etc/shiftscribe/gateway.yaml"')
        return (await import('./config-check.js')).configCheck(file, { print: values.print ?? false }, io)
      }
      default:
        return usageError(io, `unknown command "${command}"`)
    }
  } catch (err) {
    if (isGatewayError(err, 'USAGE') || (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))) {
      return usageError(io, describeError(err))
    }
    throw err
  }
}

function usageError(io: CliIo, message: string): number {
  io.stderr.write(`shiftscribe: ${message}\nRun "shiftscribe --help" for usage.\n`)
  return 2
}
