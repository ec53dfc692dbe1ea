// Brings up the real services (mosquitto, local and central Kafka) for integration tests
// when they are not already running, makes sure the model is fetched, and afterwards stops
// only the services it started.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { repoRoot } from './helpers/env.js'

const SERVICES = ['mosquitto', 'kafka-local', 'kafka-central'] as const
const servicesScript = join(repoRoot, 'scripts', 'services')

function run(cmd: string, args: string[]): void {
  const result = spawnSync(cmd, args, { stdio: 'inherit', cwd: repoRoot })
  if (result.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${String(result.status ?? result.signal)}`)
  }
}

export default function setup(): () => void {
  const started = SERVICES.filter((name) => spawnSync(servicesScript, ['status', name], { stdio: 'ignore', cwd: repoRoot }).status !== 0)
  if (started.length > 0) {
    process.stderr.write(`[global-setup] starting ${started.join(', ')} for the integration tests\n`)
    run(servicesScript, ['up', ...started])
  }
  run(join(repoRoot, 'scripts', 'fetch-model'), [])
  return () => {
    if (started.length > 0) {
      process.stderr.write(`[global-setup] stopping ${started.join(', ')} (started by the tests)\n`)
      run(servicesScript, ['down', ...started])
    }
  }
}
