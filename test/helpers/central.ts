// Helpers for the forwarder's tests: the central cluster's settings for a gateway config,
// stopping and starting kafka-central, reading with kcat, and checking what arrived.
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { repoRoot, services } from './env.js'
import type { ReadMessage } from './kafka-reader.js'

const tls = services.kafkaCentralTls

/** kafka.central for a gateway config: SASL_SSL with SCRAM-SHA-512, the password from a file. */
export function centralConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    enabled: true,
    brokers: services.kafkaCentralSaslSsl,
    tls: { caFile: tls.caFile },
    sasl: { mechanism: 'scram-sha-512', username: tls.username, passwordFile: tls.passwordFile },
    ...overrides,
  }
}

export function centralService(action: 'up' | 'down'): void {
  execFileSync(join(repoRoot, 'scripts', 'services'), [action, 'kafka-central'], { stdio: 'pipe', timeout: 120_000 })
}

/** Reads a whole central topic with Debian's kcat (librdkafka) over SASL_SSL (PLAIN: Debian's librdkafka 2.0.2 cannot do SCRAM with Kafka 4). */
export function kcatRead(topic: string): string[] {
  const password = readFileSync(tls.passwordFile, 'utf8').trim()
  const r = spawnSync(
    'kcat',
    [
      '-b',
      services.kafkaCentralSaslSsl[0] as string,
      '-X',
      'security.protocol=SASL_SSL',
      '-X',
      'sasl.mechanisms=PLAIN',
      '-X',
      `sasl.username=${tls.username}`,
      '-X',
      `sasl.password=${password}`,
      '-X',
      `ssl.ca.location=${tls.caFile}`,
      '-C',
      '-t',
      topic,
      '-o',
      'beginning',
      '-e',
      '-q',
      '-f',
      '%s\\n',
    ],
    { encoding: 'utf8', timeout: 60_000 },
  )
  if (r.status !== 0) throw new Error(`kcat failed (${r.status}): ${r.stderr}`)
  return r.stdout.split('\n').filter((l) => l.trim() !== '')
}

/** Validates JSON texts against a published schema in docs/schemas; returns the errors. */
export function schemaErrors(file: string, values: readonly string[]): string[] {
  const ajv = new Ajv2020({ allErrors: true, strict: false })
  const validate = ajv.compile(JSON.parse(readFileSync(join(repoRoot, 'docs', 'schemas', file), 'utf8')) as object)
  const errors: string[] = []
  for (const v of values) if (!validate(JSON.parse(v))) errors.push(`${ajv.errorsText(validate.errors)}: ${v.slice(0, 200)}`)
  return errors
}

export interface Delivery {
  /** Local messages whose dedupId never reached the central topic. */
  missing: string[]
  /** Central messages beyond the first with the same dedupId. */
  duplicates: number
  /** Keys whose first-seen central messages are not in local offset order. */
  outOfOrderKeys: string[]
}

/** Compares a local topic with its central copy by dedupId, and checks the per-key order (one central partition holds a key). */
export function compareDelivery(site: string, localTopic: string, local: readonly ReadMessage[], central: readonly ReadMessage[]): Delivery {
  const seen = new Set<string>()
  let duplicates = 0
  const lastByKey = new Map<string, number>()
  const outOfOrder = new Set<string>()
  for (const m of central) {
    const id = (JSON.parse(m.value) as { dedupId: string }).dedupId
    if (seen.has(id)) {
      duplicates++
      continue
    }
    seen.add(id)
    const offset = Number(id.split(':').at(-1))
    const prev = lastByKey.get(m.key)
    if (prev !== undefined && offset <= prev) outOfOrder.add(m.key)
    lastByKey.set(m.key, offset)
  }
  const missing = local.map((m) => `${site}:${localTopic}:${m.partition}:${m.offset}`).filter((id) => !seen.has(id))
  return { missing, duplicates, outOfOrderKeys: [...outOfOrder] }
}
