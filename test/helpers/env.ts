// Addresses of the real services that scripts/services starts, from the same env vars.
import { randomBytes } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

const port = (name: string, fallback: number): number => Number(process.env[name] ?? fallback)

export const services = {
  mqttUrl: `mqtt://127.0.0.1:${port('SHIFTSCRIBE_MQTT_PORT', 11883)}`,
  kafkaLocal: [`127.0.0.1:${port('SHIFTSCRIBE_KAFKA_LOCAL_PORT', 19092)}`],
  kafkaCentral: [`127.0.0.1:${port('SHIFTSCRIBE_KAFKA_CENTRAL_PORT', 29092)}`],
} as const

/** A unique suffix for topic names, client ids and group ids, so tests never collide. */
export function secureRandom(): string {
  return randomBytes(6).toString('hex')
}
