// Addresses of the real services that scripts/services starts, from the same env vars.
import { randomBytes } from 'node:crypto'
import { createServer, type AddressInfo } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

const port = (name: string, fallback: number): number => Number(process.env[name] ?? fallback)

// scripts/services keeps kafka-central's test CA, certificates and password in <services dir>/tls.
const tlsDir = join(resolve(process.env['SHIFTSCRIBE_SERVICES_DIR'] ?? join(repoRoot, '.services')), 'tls')

export const services = {
  mqttUrl: `mqtt://127.0.0.1:${port('SHIFTSCRIBE_MQTT_PORT', 11883)}`,
  kafkaLocal: [`127.0.0.1:${port('SHIFTSCRIBE_KAFKA_LOCAL_PORT', 19092)}`],
  kafkaCentral: [`127.0.0.1:${port('SHIFTSCRIBE_KAFKA_CENTRAL_PORT', 29092)}`],
  /** kafka-central's SASL_SSL listener: PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512. */
  kafkaCentralSaslSsl: [`127.0.0.1:${port('SHIFTSCRIBE_KAFKA_CENTRAL_SASL_PORT', 29094)}`],
  /** kafka-central's SSL listener that requires a client certificate signed by the test CA. */
  kafkaCentralMtls: [`127.0.0.1:${port('SHIFTSCRIBE_KAFKA_CENTRAL_MTLS_PORT', 29095)}`],
  /** Files of kafka-central's test PKI and its one user (the same password for every mechanism). */
  kafkaCentralTls: {
    dir: tlsDir,
    caFile: join(tlsDir, 'ca.crt'),
    clientCertFile: join(tlsDir, 'client.crt'),
    clientKeyFile: join(tlsDir, 'client.key'),
    /** A CA that did not sign the broker's certificate. */
    untrustedCaFile: join(tlsDir, 'other-ca.crt'),
    username: 'gateway',
    passwordFile: join(tlsDir, 'central-gateway.password'),
  },
} as const

/** A unique suffix for topic names, client ids and group ids, so tests never collide. */
export function secureRandom(): string {
  return randomBytes(6).toString('hex')
}

/** A TCP port free on loopback right now (for a gateway's http.port in a test). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise((resolve) => server.close(resolve))
  return port
}
