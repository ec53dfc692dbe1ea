// Environment variables that override config values: addresses (differ per box) and
// secrets (never written into the YAML). The values are validated like the file's.

export type EnvParse = { ok: true; value: unknown } | { ok: false; message: string }

export interface EnvOverride {
  env: string
  path: readonly string[]
  description: string
  secret?: boolean
  parse: (raw: string) => EnvParse
}

const asString = (raw: string): EnvParse => ({ ok: true, value: raw })
const asList = (raw: string): EnvParse => ({
  ok: true,
  value: raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== ''),
})
const asInt = (raw: string): EnvParse =>
  /^\d+$/.test(raw.trim()) ? { ok: true, value: Number(raw.trim()) } : { ok: false, message: `expected a whole number, got ${JSON.stringify(raw)}` }

export const ENV_OVERRIDES: readonly EnvOverride[] = [
  { env: 'SHIFTSCRIBE_DATA_DIR', path: ['dataDir'], description: 'where the journal and state databases live', parse: asString },
  { env: 'SHIFTSCRIBE_LOG_LEVEL', path: ['log', 'level'], description: 'log level', parse: asString },
  { env: 'SHIFTSCRIBE_MQTT_URL', path: ['mqtt', 'url'], description: 'MQTT broker URL', parse: asString },
  { env: 'SHIFTSCRIBE_MQTT_USERNAME', path: ['mqtt', 'username'], description: 'MQTT user name', parse: asString },
  { env: 'SHIFTSCRIBE_MQTT_PASSWORD', path: ['mqtt', 'password'], description: 'MQTT password', secret: true, parse: asString },
  { env: 'SHIFTSCRIBE_KAFKA_LOCAL_BROKERS', path: ['kafka', 'local', 'brokers'], description: 'local Kafka brokers, comma-separated host:port', parse: asList },
  { env: 'SHIFTSCRIBE_KAFKA_CENTRAL_BROKERS', path: ['kafka', 'central', 'brokers'], description: 'central Kafka brokers, comma-separated host:port', parse: asList },
  { env: 'SHIFTSCRIBE_KAFKA_CENTRAL_SASL_PASSWORD', path: ['kafka', 'central', 'sasl', 'password'], description: 'central Kafka SASL password', secret: true, parse: asString },
  { env: 'SHIFTSCRIBE_LLM_MODEL_PATH', path: ['llm', 'modelPath'], description: 'GGUF model file', parse: asString },
  { env: 'SHIFTSCRIBE_LLM_THREADS', path: ['llm', 'threads'], description: 'inference threads', parse: asInt },
  { env: 'SHIFTSCRIBE_HTTP_HOST', path: ['http', 'host'], description: 'web page bind address', parse: asString },
  { env: 'SHIFTSCRIBE_HTTP_PORT', path: ['http', 'port'], description: 'web page port', parse: asInt },
  { env: 'SHIFTSCRIBE_HTTP_TOKEN', path: ['http', 'token'], description: 'bearer token for state-changing requests', secret: true, parse: asString },
]

/** Config paths whose values must never be printed. */
export const SECRET_PATHS: readonly string[] = ['mqtt.password', 'kafka.central.sasl.password', 'http.token']
