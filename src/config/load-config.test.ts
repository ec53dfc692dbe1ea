import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfigText, type ConfigIssue } from './load-config.js'

const MINIMAL = `
site: plant-a
mqtt:
  subscriptions:
    - filter: factory/+/+/+
      pattern: factory/{line}/{machine}/{sensor}
`

function issuesOf(text: string, env: NodeJS.ProcessEnv = {}): ConfigIssue[] {
  try {
    parseConfigText(text, 'test.yaml', { env })
  } catch (err) {
    if (err instanceof ConfigError) return err.issues
    throw err
  }
  throw new Error('expected the config to be rejected')
}

describe('loadConfig', () => {
  it('fills defaults and derives ids from the site', () => {
    const { config } = parseConfigText(MINIMAL, 'test.yaml', { env: {} })
    expect(config.gatewayId).toBe('shiftscribe-plant-a')
    expect(config.mqtt.clientId).toBe('shiftscribe-plant-a')
    expect(config.mqtt.subscriptions[0]?.format).toBe('json')
    expect(config.kafka.local.topics.readings).toBe('factory.readings')
    expect(config.kafka.central.enabled).toBe(false)
    expect(config.llm.threads).toBe(2)
    expect(config.timeZone).toBe('UTC')
  })

  it('returns a deep-frozen config', () => {
    const { config } = parseConfigText(MINIMAL, 'test.yaml', { env: {} })
    expect(Object.isFrozen(config)).toBe(true)
    expect(Object.isFrozen(config.mqtt.subscriptions[0])).toBe(true)
    expect(() => {
      ;(config.kafka.local.brokers as string[]).push('x:1')
    }).toThrow(TypeError)
  })

  it('rejects a bad URL with its path and line', () => {
    const issues = issuesOf(MINIMAL.replace('mqtt:\n', 'mqtt:\n  url: htp//broker\n'))
    expect(issues).toEqual([expect.objectContaining({ path: 'mqtt.url', line: 4, message: expect.stringContaining('mqtt://') })])
  })

  it('rejects a bad broker address', () => {
    const issues = issuesOf(`${MINIMAL}kafka:\n  local:\n    brokers: [localhost]\n`)
    expect(issues).toEqual([expect.objectContaining({ path: 'kafka.local.brokers[0]', message: expect.stringContaining('host:port') })])
  })

  it('names an unknown key and suggests the close one', () => {
    const issues = issuesOf(`${MINIMAL}llm:\n  thread: 2\n`)
    expect(issues).toEqual([expect.objectContaining({ path: 'llm.thread', line: 8, message: 'unknown key', hint: 'did you mean "threads"?' })])
  })

  it('lists the known keys when nothing is close', () => {
    const issues = issuesOf(`${MINIMAL}zzz: 1\n`)
    expect(issues[0]?.path).toBe('zzz')
    expect(issues[0]?.hint).toContain('site, gatewayId')
  })

  it('rejects a pattern segment used twice', () => {
    const issues = issuesOf(MINIMAL.replace('{line}/{machine}', '{line}/{line}'))
    expect(issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'mqtt.subscriptions[0].pattern: "{line}" used twice',
      'mqtt.subscriptions[0].pattern: must contain "{machine}"',
    ])
  })

  it('rejects patterns that do not line up with the filter', () => {
    expect(issuesOf(MINIMAL.replace('factory/{line}/{machine}/{sensor}', 'factory/{line}/{machine}')).map((i) => i.message)).toEqual([
      'has 3 segments but filter "factory/+/+/+" has 4',
    ])
    expect(issuesOf(MINIMAL.replace('factory/{line}/{machine}/{sensor}', 'plant/{line}/{machine}/{sensor}')).map((i) => i.message)).toEqual([
      'segment 1 "plant" differs from the filter\'s "factory"',
    ])
    expect(issuesOf(MINIMAL.replace('factory/+/+/+', 'factory/#')).map((i) => i.path)).toEqual(['mqtt.subscriptions[0].filter'])
    expect(issuesOf(MINIMAL.replace('{sensor}', '{probe}')).map((i) => i.message)).toEqual([
      'unknown placeholder "{probe}"; use {site}, {line}, {machine}, {sensor}',
      'must contain "{sensor}"',
    ])
  })

  it('rejects the same filter subscribed twice', () => {
    const text = `${MINIMAL}    - filter: factory/+/+/+\n      pattern: factory/{machine}/{line}/{sensor}\n`
    expect(issuesOf(text)).toEqual([expect.objectContaining({ path: 'mqtt.subscriptions[1].filter', message: expect.stringContaining('subscriptions[0]') })])
  })

  it('reports wrong types with hints, all at once, in file order', () => {
    const issues = issuesOf(`${MINIMAL}llm:\n  threads: "2"\n  gpu: "yes"\nhttp:\n  port: 70000\nkafka:\n  local:\n    brokers: 127.0.0.1:9092\n`)
    expect(issues.map((i) => [i.path, i.line, i.hint])).toEqual([
      ['llm.threads', 8, 'write the number without quotes'],
      ['llm.gpu', 9, 'write true or false without quotes'],
      ['http.port', 11, 'the largest allowed value is 65535'],
      ['kafka.local.brokers', 14, 'use a YAML list ("- item" lines or [a, b])'],
    ])
  })

  it('requires site and at least one subscription', () => {
    const issues = issuesOf('mqtt:\n  subscriptions: []\n')
    expect(issues.map((i) => i.path).sort()).toEqual(['mqtt.subscriptions', 'site'])
    expect(issues.find((i) => i.path === 'site')?.message).toBe('is required (expected string)')
  })

  it('rejects invalid time zones and site names', () => {
    const issues = issuesOf(MINIMAL.replace('site: plant-a', 'site: "plant a"\ntimeZone: Mars/Olympus'))
    expect(issues.map((i) => i.path)).toEqual(['site', 'timeZone'])
  })

  it('reports YAML syntax errors and duplicate keys with a line', () => {
    expect(issuesOf('site: a\nsite: b\n')).toEqual([expect.objectContaining({ path: '', line: 2, message: expect.stringContaining('unique') })])
    expect(issuesOf('site: [a\n')[0]?.message).toMatch(/^YAML: /)
    expect(issuesOf('- a\n- b\n')[0]?.message).toContain('mapping')
  })

  it('applies env overrides and validates them, naming the variable', () => {
    const { config, overrides } = parseConfigText(MINIMAL, 'test.yaml', {
      env: { SHIFTSCRIBE_MQTT_URL: 'mqtts://broker.plant:8883', SHIFTSCRIBE_KAFKA_LOCAL_BROKERS: 'k1:9092, k2:9092', SHIFTSCRIBE_HTTP_PORT: '9000' },
    })
    expect(config.mqtt.url).toBe('mqtts://broker.plant:8883')
    expect(config.kafka.local.brokers).toEqual(['k1:9092', 'k2:9092'])
    expect(config.http.port).toBe(9000)
    expect(overrides).toContain('mqtt.url ← SHIFTSCRIBE_MQTT_URL')

    const issues = issuesOf(MINIMAL, { SHIFTSCRIBE_MQTT_URL: 'nope', SHIFTSCRIBE_LLM_THREADS: 'many' })
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'mqtt.url', env: 'SHIFTSCRIBE_MQTT_URL' }),
        expect.objectContaining({ path: 'llm.threads', env: 'SHIFTSCRIBE_LLM_THREADS', message: 'expected a whole number, got "many"' }),
      ]),
    )
  })

  it('reads the password from passwordFile and warns about inline passwords', () => {
    const text = MINIMAL.replace('mqtt:\n', 'mqtt:\n  passwordFile: /run/creds/mqtt\n')
    const { config } = parseConfigText(text, 'test.yaml', { env: {}, readFile: () => 's3cret\n' })
    expect(config.mqtt.password).toBe('s3cret')
    const inline = parseConfigText(MINIMAL.replace('mqtt:\n', 'mqtt:\n  password: hunter2\n'), 'test.yaml', { env: {} })
    expect(inline.warnings.map((w) => w.path)).toEqual(['mqtt.password'])
    expect(issuesOf(MINIMAL.replace('mqtt:\n', 'mqtt:\n  password: a\n  passwordFile: /x\n')).map((i) => i.path)).toEqual(['mqtt.password'])
  })

  it('accepts the shipped example and demo configs', () => {
    for (const file of ['config/gateway.example.yaml', 'config/demo.yaml']) {
      const text = readFileSync(join(import.meta.dirname, '..', '..', file), 'utf8')
      const { config } = parseConfigText(text, file, { env: {} })
      expect(config.mqtt.subscriptions.length).toBeGreaterThan(0)
    }
  })

  it('takes the central SASL password from a file or the env var, and warns about retention, clear-text SASL and inline passwords', () => {
    const central = (sasl: string, extra = '') => `${MINIMAL}kafka:
  central:
    enabled: true
    brokers: [central:9094]
${extra}    sasl:
      mechanism: scram-sha-512
      username: gw
${sasl}
forward:
  localRetentionHours: 24
`
    const fromFile = parseConfigText(central('      passwordFile: /run/credentials/central', '    tls:\n      caFile: /etc/ca.pem\n'), 'test.yaml', { env: {}, fileExists: () => true })
    expect(fromFile.config.kafka.central.sasl?.passwordFile).toBe('/run/credentials/central')
    expect(fromFile.config.forward.groupId).toBe('shiftscribe-plant-a-forward')
    expect(fromFile.warnings.map((w) => w.path)).toEqual(['forward.localRetentionHours'])
    const fromEnv = parseConfigText(central('', '    tls: {}\n'), 'test.yaml', { env: { SHIFTSCRIBE_KAFKA_CENTRAL_SASL_PASSWORD: 's3cret' } })
    expect(fromEnv.config.kafka.central.sasl?.password).toBe('s3cret')
    const inline = parseConfigText(central('      password: s3cret'), 'test.yaml', { env: {} })
    expect(inline.warnings.map((w) => w.path)).toEqual(['forward.localRetentionHours', 'kafka.central.sasl.password', 'kafka.central.sasl'])
    expect(issuesOf(central('      password: a\n      passwordFile: /b')).map((i) => i.path)).toEqual(['kafka.central.sasl.password'])
    expect(issuesOf(central('      passwordFile: /b', '    tls:\n      certFile: /c.pem\n')).map((i) => i.path)).toEqual(['kafka.central.tls.certFile'])
  })
  it('expands ${CREDENTIALS_DIRECTORY} and the other systemd directories, and nothing else', () => {
    const text = `${MINIMAL}dataDir: \${STATE_DIRECTORY}\nhttp:\n  tokenFile: \${CREDENTIALS_DIRECTORY}/http-token\n`
    const { config } = parseConfigText(text, 'test.yaml', { env: { CREDENTIALS_DIRECTORY: '/run/credentials/shiftscribe.service/', STATE_DIRECTORY: '/var/lib/shiftscribe' } })
    expect(config.http.tokenFile).toBe('/run/credentials/shiftscribe.service/http-token')
    expect(config.journal.file).toBe('/var/lib/shiftscribe/journal.db')
    const unset = issuesOf(text, { STATE_DIRECTORY: '/s' })
    expect(unset).toEqual([expect.objectContaining({ path: 'http.tokenFile', line: 9, message: '${CREDENTIALS_DIRECTORY} is not set' })])
    expect(unset[0]?.hint).toContain('LoadCredential=')
    expect(issuesOf(`${MINIMAL}dataDir: \${HOME}/x\n`, { HOME: '/root' })[0]).toMatchObject({ path: 'dataDir', message: 'unknown variable ${HOME}' })
    // config check by hand, outside the unit: a warning, the value left as written.
    const checked = parseConfigText(text, 'test.yaml', { env: { STATE_DIRECTORY: '/s' }, unsetSystemdDirectories: 'warn' })
    expect(checked.config.http.tokenFile).toBe('${CREDENTIALS_DIRECTORY}/http-token')
    expect(checked.warnings.map((w) => w.path)).toContain('http.tokenFile')
  })

  it('switches stages off and warns about stages that cannot run', () => {
    const { config, warnings } = parseConfigText(`${MINIMAL}aggregate:\n  enabled: false\n`, 'test.yaml', { env: {} })
    expect(config.mqtt.enabled).toBe(true)
    expect(config.lifecycle.stopTimeoutS).toBe(60)
    expect(warnings.map((w) => w.message)).toEqual([
      'narrate is on but aggregate is off: it reads the state database, so it will not run',
      'http is on but aggregate is off: it reads the state database, so it will not run',
    ])
    const off = 'site: plant-a\nmqtt:\n  enabled: false\n  subscriptions: []\naggregate:\n  enabled: false\nnarrate:\n  enabled: false\nhttp:\n  enabled: false\n'
    const idle = parseConfigText(off, 'test.yaml', { env: {} })
    expect(idle.config.mqtt.enabled).toBe(false)
    expect(idle.warnings.map((w) => w.message)).toEqual(['every stage is off: the gateway would do nothing'])
  })
})
