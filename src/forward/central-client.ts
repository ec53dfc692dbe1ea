// The central cluster's connection settings, built fresh for every connection attempt: TLS
// files and the SASL password file are read again, so a fixed secret applies without a restart.
import { readFileSync } from 'node:fs'
import type { KafkaBusOptions } from '../bus/kafka-bus.js'
import type { Config } from '../config/load-config.js'
import { GatewayError } from '../errors.js'

type Central = Config['kafka']['central']

function read(path: string, what: string, readFile: (p: string) => Buffer): Buffer {
  try {
    return readFile(path)
  } catch (err) {
    throw new GatewayError('CONFIG_INVALID', `cannot read ${what} "${path}": ${(err as Error).message}`, { retriable: true, cause: err })
  }
}

export function centralSecurity(central: Central, readFile: (p: string) => Buffer = readFileSync): Pick<KafkaBusOptions, 'ssl' | 'sasl'> {
  const out: Pick<KafkaBusOptions, 'ssl' | 'sasl'> = {}
  const tls = central.tls
  if (tls) {
    out.ssl = {
      // Hostname verification is Node's default and never turned off.
      rejectUnauthorized: true,
      ...(tls.caFile ? { ca: [read(tls.caFile, 'kafka.central.tls.caFile', readFile)] } : {}),
      ...(tls.certFile && tls.keyFile ? { cert: read(tls.certFile, 'kafka.central.tls.certFile', readFile), key: read(tls.keyFile, 'kafka.central.tls.keyFile', readFile) } : {}),
      ...(tls.servername ? { servername: tls.servername } : {}),
    }
  }
  const sasl = central.sasl
  if (sasl) {
    const password = sasl.passwordFile !== undefined ? read(sasl.passwordFile, 'kafka.central.sasl.passwordFile', readFile).toString('utf8').replace(/\r?\n$/, '') : (sasl.password ?? '')
    out.sasl = { mechanism: sasl.mechanism, username: sasl.username, password }
  }
  return out
}
