import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)

/** Reads node_modules/<pkg>/package.json directly: some packages do not export it. */
function versionOf(pkg: string): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const file = join(dir, 'node_modules', pkg, 'package.json')
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
    if (dirname(dir) === dir) return 'not installed'
  }
}

export function packageVersion(): string {
  // Two levels up from both src/cli and dist/cli.
  return (require('../../package.json') as { version: string }).version
}

export function versionReport(): string {
  const parts = ['mqtt', 'kafkajs', 'better-sqlite3', 'node-llama-cpp', 'fastify', 'zod']
  return [
    `shiftscribe ${packageVersion()}`,
    `node ${process.versions.node}`,
    ...parts.map((p) => `${p} ${versionOf(p)}`),
    '',
  ].join('\n')
}
