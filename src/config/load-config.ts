// Reads a YAML config, applies env overrides, validates it with the zod schema and returns a
// deep-frozen Config. Every problem comes back at once, each with its path, line and a hint.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { LineCounter, parseDocument, isNode } from 'yaml'
import type { z } from 'zod'
import { GatewayError } from '../errors.js'
import { deepFreeze, type DeepReadonly } from '../util/deep-freeze.js'
import { configSchema, type ParsedConfig } from './schema.js'
import { ENV_OVERRIDES, type EnvOverride } from './env-overrides.js'

export interface ConfigIssue {
  /** Dotted path such as `mqtt.subscriptions[0].pattern`; empty for the whole file. */
  path: string
  message: string
  hint?: string
  /** 1-based line in the YAML file, when the value is there. */
  line?: number
  /** Set when the value came from an environment variable. */
  env?: string
}

export type Config = DeepReadonly<
  ParsedConfig & {
    gatewayId: string
    mqtt: ParsedConfig['mqtt'] & { clientId: string }
    journal: ParsedConfig['journal'] & { file: string }
    store: ParsedConfig['store'] & { file: string }
    aggregate: ParsedConfig['aggregate'] & { groupId: string }
    forward: ParsedConfig['forward'] & { groupId: string }
    kafka: {
      local: ParsedConfig['kafka']['local'] & { clientId: string }
      central: ParsedConfig['kafka']['central'] & { clientId: string }
    }
  }
>

export interface LoadedConfig {
  config: Config
  /** Things that are allowed but probably not intended (a missing model file, …). */
  warnings: ConfigIssue[]
  /** Paths whose values came from env vars, e.g. `mqtt.url ← SHIFTSCRIBE_MQTT_URL`. */
  overrides: string[]
}

export class ConfigError extends GatewayError {
  readonly issues: ConfigIssue[]
  readonly file: string

  constructor(file: string, issues: ConfigIssue[]) {
    super('CONFIG_INVALID', `${file}: ${issues.length} problem${issues.length === 1 ? '' : 's'}\n${issues.map(formatIssue).join('\n')}`)
    this.issues = issues
    this.file = file
  }
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv
  readFile?: (path: string) => string
  fileExists?: (path: string) => boolean
  /**
   * `${CREDENTIALS_DIRECTORY}` & co. that the environment does not set: an error (default,
   * the gateway needs the paths) or a warning with the value left as written (`config check`
   * run by hand outside the unit).
   */
  unsetSystemdDirectories?: 'error' | 'warn'
}

export function formatIssue(issue: ConfigIssue): string {
  const where = [issue.line !== undefined ? `line ${issue.line}` : undefined, issue.env !== undefined ? `from ${issue.env}` : undefined]
    .filter(Boolean)
    .join(', ')
  const head = `${issue.path === '' ? '(file)' : issue.path}${where ? ` (${where})` : ''}: ${issue.message}`
  return issue.hint ? `  - ${head}\n      hint: ${issue.hint}` : `  - ${head}`
}

export function loadConfigFile(file: string, options: LoadConfigOptions = {}): LoadedConfig {
  const readFile = options.readFile ?? ((p: string) => readFileSync(p, 'utf8'))
  let text: string
  try {
    text = readFile(file)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new GatewayError(
      'CONFIG_NOT_FOUND',
      code === 'ENOENT' ? `${file}: no such file (start from config/gateway.example.yaml)` : `${file}: cannot read (${code ?? String(err)})`,
      { cause: err },
    )
  }
  return parseConfigText(text, file, options)
}

export function parseConfigText(text: string, file: string, options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({
        path: '',
        line: lineCounter.linePos(e.pos[0]).line,
        message: `YAML: ${e.message.split('\n')[0] ?? e.message}`,
        hint: e.code === 'DUPLICATE_KEY' ? 'each key may appear once per mapping' : 'check indentation and quoting near this line',
      })),
    )
  }
  const raw: unknown = doc.toJS() ?? {}
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(file, [{ path: '', message: 'must be a YAML mapping (key: value pairs)', hint: 'see config/gateway.example.yaml' }])
  }

  const envByPath = new Map<string, EnvOverride>()
  const issues: ConfigIssue[] = []
  const directoryWarnings: ConfigIssue[] = []
  expandSystemdDirectories(raw as Record<string, unknown>, [], env, (path, message, hint, unset) =>
    (unset && options.unsetSystemdDirectories === 'warn' ? directoryWarnings : issues).push({ path: path.join('.'), line: lineOf(doc, lineCounter, path), message, hint }),
  )
  for (const override of ENV_OVERRIDES) {
    const value = env[override.env]
    if (value === undefined || value === '') continue
    const parsed = override.parse(value)
    if (!parsed.ok) {
      issues.push({ path: override.path.join('.'), env: override.env, message: parsed.message })
      continue
    }
    setIn(raw as Record<string, unknown>, override.path, parsed.value)
    envByPath.set(pathToString(override.path), override)
  }

  const result = configSchema.safeParse(raw)
  if (!result.success) {
    issues.push(...result.error.issues.flatMap((issue) => toConfigIssues(issue, doc, lineCounter, envByPath)))
  }
  if (issues.length > 0 || !result.success) throw new ConfigError(file, issues.sort(byLine))

  const parsed = result.data
  const secretIssues: ConfigIssue[] = []
  let password = parsed.mqtt.password
  if (parsed.mqtt.passwordFile !== undefined && !parsed.mqtt.passwordFile.includes('${')) {
    try {
      password = (options.readFile ?? ((p: string) => readFileSync(p, 'utf8')))(parsed.mqtt.passwordFile).replace(/\r?\n$/, '')
    } catch (err) {
      secretIssues.push({
        path: 'mqtt.passwordFile',
        line: lineOf(doc, lineCounter, ['mqtt', 'passwordFile']),
        message: `cannot read "${parsed.mqtt.passwordFile}" (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        hint: 'the file must be readable by the service user (systemd: LoadCredential=)',
      })
    }
  }
  if (secretIssues.length > 0) throw new ConfigError(file, secretIssues)

  const gatewayId = parsed.gatewayId ?? `shiftscribe-${parsed.site}`
  const config = deepFreeze({
    ...parsed,
    gatewayId,
    mqtt: { ...parsed.mqtt, password, clientId: parsed.mqtt.clientId ?? gatewayId },
    journal: { ...parsed.journal, file: parsed.journal.file ?? join(parsed.dataDir, 'journal.db') },
    store: { ...parsed.store, file: parsed.store.file ?? join(parsed.dataDir, 'state.db') },
    aggregate: { ...parsed.aggregate, groupId: parsed.aggregate.groupId ?? `${gatewayId}-aggregate` },
    forward: { ...parsed.forward, groupId: parsed.forward.groupId ?? `${gatewayId}-forward` },
    kafka: {
      local: { ...parsed.kafka.local, clientId: parsed.kafka.local.clientId ?? gatewayId },
      central: { ...parsed.kafka.central, clientId: parsed.kafka.central.clientId ?? gatewayId },
    },
  })

  const warnings: ConfigIssue[] = [...directoryWarnings]
  const fileExists = options.fileExists
  if (config.llm.enabled && fileExists && !fileExists(config.llm.modelPath)) {
    warnings.push({
      path: 'llm.modelPath',
      line: lineOf(doc, lineCounter, ['llm', 'modelPath']),
      message: `model file "${config.llm.modelPath}" not found: narratives will use templates only`,
      hint: 'run scripts/fetch-model, or copy a GGUF instruct model there',
    })
  }
  if (config.mqtt.password !== undefined && config.mqtt.passwordFile === undefined && !envByPath.has('mqtt.password')) {
    warnings.push({
      path: 'mqtt.password',
      line: lineOf(doc, lineCounter, ['mqtt', 'password']),
      message: 'a password is written in the config file',
      hint: 'use mqtt.passwordFile or the SHIFTSCRIBE_MQTT_PASSWORD env var instead',
    })
  }
  if (config.kafka.central.enabled && config.forward.localRetentionHours < config.forward.maxOutageHours) {
    warnings.push({
      path: 'forward.localRetentionHours',
      line: lineOf(doc, lineCounter, ['forward', 'localRetentionHours']),
      message: `the local topics keep ${config.forward.localRetentionHours} h, shorter than forward.maxOutageHours (${config.forward.maxOutageHours} h): a longer uplink outage loses messages`,
      hint: 'raise localRetentionHours (and check the local Kafka has the disk for it) or lower maxOutageHours',
    })
  }
  for (const [stage, path] of [
    ['narrate', ['narrate', 'enabled']],
    ['http', ['http', 'enabled']],
  ] as const) {
    if (config[stage].enabled && !config.aggregate.enabled) {
      warnings.push({
        path: path.join('.'),
        line: lineOf(doc, lineCounter, [...path]),
        message: `${stage} is on but aggregate is off: it reads the state database, so it will not run`,
        hint: `set aggregate.enabled: true, or ${stage}.enabled: false`,
      })
    }
  }
  if (!config.mqtt.enabled && !config.aggregate.enabled && !config.kafka.central.enabled) {
    warnings.push({ path: 'mqtt.enabled', line: lineOf(doc, lineCounter, ['mqtt', 'enabled']), message: 'every stage is off: the gateway would do nothing', hint: 'turn on at least mqtt, aggregate or kafka.central' })
  }
  const sasl = config.kafka.central.enabled ? config.kafka.central.sasl : undefined
  if (sasl?.passwordFile !== undefined && fileExists && !fileExists(sasl.passwordFile)) {
    warnings.push({
      path: 'kafka.central.sasl.passwordFile',
      line: lineOf(doc, lineCounter, ['kafka', 'central', 'sasl', 'passwordFile']),
      message: `"${sasl.passwordFile}" not found: the forwarder cannot authenticate until it exists`,
      hint: 'with systemd: LoadCredential= and passwordFile: ${CREDENTIALS_DIRECTORY}/…',
    })
  }
  if (sasl?.password !== undefined && !envByPath.has('kafka.central.sasl.password')) {
    warnings.push({
      path: 'kafka.central.sasl.password',
      line: lineOf(doc, lineCounter, ['kafka', 'central', 'sasl', 'password']),
      message: 'a password is written in the config file',
      hint: 'use kafka.central.sasl.passwordFile or the SHIFTSCRIBE_KAFKA_CENTRAL_SASL_PASSWORD env var instead',
    })
  }
  if (sasl !== undefined && config.kafka.central.tls === undefined) {
    warnings.push({
      path: 'kafka.central.sasl',
      line: lineOf(doc, lineCounter, ['kafka', 'central', 'sasl']),
      message: 'SASL without TLS sends the credentials (PLAIN) or the session in clear text',
      hint: 'add kafka.central.tls (caFile of the brokers\' CA)',
    })
  }
  return {
    config,
    warnings,
    overrides: [...envByPath.entries()].map(([path, o]) => `${path} ← ${o.env}`),
  }
}

function toConfigIssues(
  issue: z.core.$ZodIssue,
  doc: ReturnType<typeof parseDocument>,
  lineCounter: LineCounter,
  envByPath: Map<string, EnvOverride>,
): ConfigIssue[] {
  const base = issue.path.filter((p): p is string | number => typeof p !== 'symbol')
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const path = [...base, key]
      const known = knownKeysAt(base)
      const guess = closest(key, known)
      return {
        path: pathToString(path),
        line: lineOf(doc, lineCounter, path),
        message: 'unknown key',
        hint: guess ? `did you mean "${guess}"?` : known.length > 0 ? `known keys here: ${known.join(', ')}` : 'remove it',
      }
    })
  }
  const pathString = pathToString(base)
  const fromEnv = envByPath.get(pathString)
  const value = getIn(doc.toJS(), base)
  const out: ConfigIssue = {
    path: pathString,
    line: fromEnv ? undefined : lineOf(doc, lineCounter, base),
    message: messageFor(issue, value),
  }
  if (fromEnv) out.env = fromEnv.env
  const hint = hintFor(issue, value)
  if (hint) out.hint = hint
  return [out]
}

function messageFor(issue: z.core.$ZodIssue, value: unknown): string {
  if (issue.code === 'invalid_type') {
    if (value === undefined) return `is required (expected ${issue.expected})`
    return `expected ${issue.expected}, got ${describeValue(value)}`
  }
  if (issue.code === 'invalid_value') {
    return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue(value)}`
  }
  return issue.message
}

function hintFor(issue: z.core.$ZodIssue, value: unknown): string | undefined {
  if (issue.code === 'invalid_type') {
    if (value === undefined) return 'add this key (see config/gateway.example.yaml)'
    if (issue.expected === 'number' && typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) {
      return 'write the number without quotes'
    }
    if (issue.expected === 'boolean' && typeof value === 'string') return 'write true or false without quotes'
    if (issue.expected === 'array') return 'use a YAML list ("- item" lines or [a, b])'
  }
  if (issue.code === 'too_small' && issue.origin === 'number') return `the smallest allowed value is ${String(issue.minimum)}`
  if (issue.code === 'too_big' && issue.origin === 'number') return `the largest allowed value is ${String(issue.maximum)}`
  return undefined
}

function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`
  return `${typeof value} ${String(value)}`
}

/** Keys the schema accepts at a path (for "did you mean …"). */
function knownKeysAt(path: (string | number)[]): string[] {
  let schema: unknown = configSchema
  for (const seg of path) {
    schema = unwrap(schema)
    const def = (schema as { def?: { type?: string; shape?: Record<string, unknown>; element?: unknown } }).def
    if (typeof seg === 'number' && def?.type === 'array') schema = def.element
    else if (typeof seg === 'string' && def?.shape) schema = def.shape[seg]
    else return []
  }
  const def = (unwrap(schema) as { def?: { shape?: Record<string, unknown> } }).def
  return def?.shape ? Object.keys(def.shape) : []
}

function unwrap(schema: unknown): unknown {
  let s = schema as { def?: { type?: string; innerType?: unknown; in?: unknown } } | undefined
  for (let i = 0; i < 10 && s?.def; i++) {
    const t = s.def.type
    if ((t === 'default' || t === 'prefault' || t === 'optional' || t === 'nullable') && s.def.innerType) s = s.def.innerType as typeof s
    else if (t === 'pipe' && s.def.in) s = s.def.in as typeof s
    else break
  }
  return s
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const c of candidates) {
    const d = levenshtein(word.toLowerCase(), c.toLowerCase())
    if (d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] ?? 0
      row[j] = Math.min((row[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = tmp
    }
  }
  return row[b.length] ?? 0
}

function byLine(a: ConfigIssue, b: ConfigIssue): number {
  return (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER)
}

export function pathToString(path: readonly (string | number)[]): string {
  return path.reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc === '' ? seg : `${acc}.${seg}`), '')
}

function lineOf(doc: ReturnType<typeof parseDocument>, lineCounter: LineCounter, path: (string | number)[]): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true)
    if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line
    // A missing key: point at its parent mapping.
  }
  return undefined
}

function getIn(obj: unknown, path: (string | number)[]): unknown {
  let cur = obj
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string | number, unknown>)[seg]
  }
  return cur
}

function setIn(obj: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let cur = obj
  path.slice(0, -1).forEach((seg) => {
    const next = cur[seg]
    if (next === null || typeof next !== 'object' || Array.isArray(next)) cur[seg] = {}
    cur = cur[seg] as Record<string, unknown>
  })
  const last = path[path.length - 1]
  if (last !== undefined) cur[last] = value
}

/** The directories systemd passes to a unit; `${NAME}` in any config string expands to them. */
export const SYSTEMD_DIRECTORIES = ['CREDENTIALS_DIRECTORY', 'STATE_DIRECTORY', 'CONFIGURATION_DIRECTORY'] as const
const DIRECTORY_REF = /\$\{([A-Z_]+)\}/g

/**
 * Expands `${CREDENTIALS_DIRECTORY}`, `${STATE_DIRECTORY}` and `${CONFIGURATION_DIRECTORY}` in
 * string values, so one config works under systemd (`tokenFile: ${CREDENTIALS_DIRECTORY}/http-token`).
 * Nothing else is expanded: other `${…}` are reported, not silently kept.
 */
function expandSystemdDirectories(
  node: Record<string, unknown> | unknown[],
  path: (string | number)[],
  env: NodeJS.ProcessEnv,
  report: (path: (string | number)[], message: string, hint: string, unset: boolean) => void,
): void {
  const entries: [string | number, unknown][] = Array.isArray(node) ? node.map((v, i) => [i, v]) : Object.entries(node)
  for (const [key, value] of entries) {
    const here = [...path, key]
    if (typeof value === 'string' && value.includes('${')) {
      const expanded = value.replace(DIRECTORY_REF, (whole, name: string) => {
        if (!(SYSTEMD_DIRECTORIES as readonly string[]).includes(name)) {
          report(here, `unknown variable ${whole}`, `only ${SYSTEMD_DIRECTORIES.map((d) => '${' + d + '}').join(', ')} are expanded`, false)
          return whole
        }
        const dir = env[name]
        if (dir === undefined || dir === '') {
          report(here, `${whole} is not set`, name === 'CREDENTIALS_DIRECTORY' ? 'systemd sets it when the unit has LoadCredential=; outside systemd, write the path' : 'systemd sets it for the unit; outside systemd, write the path', true)
          return whole
        }
        return dir.replace(/\/+$/, '')
      })
      if (Array.isArray(node)) node[key as number] = expanded
      else node[key as string] = expanded
    } else if (typeof value === 'object' && value !== null) {
      expandSystemdDirectories(value as Record<string, unknown>, here, env, report)
    }
  }
}
