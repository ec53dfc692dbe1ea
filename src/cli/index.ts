#!/usr/bin/env node
// `shiftscribe <command>`: the command-line edge. Parses arguments, runs one command and
// turns its outcome into an exit code (0 ok, 1 failure, 2 usage or config error).
import { runCli } from './run-cli.js'

runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() }).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`shiftscribe: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exitCode = 1
  },
)
