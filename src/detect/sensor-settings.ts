// Which settings apply to a sensor: the defaults, overridden field by field by the first rule
// whose `line/machine/sensor` pattern matches. Resolved once per sensor and cached by the bank.
import type {
  DetectConfig,
  DetectRule,
  DriftSettings,
  DropoutSettings,
  FlatlineSettings,
  LimitSettings,
  RateSettings,
  RejectRateSettings,
  SpikeSettings,
} from './config.js'

export interface SensorSettings {
  /** false when a rule switched detection off for this sensor (or the bank is off). */
  enabled: boolean
  /** Unit from the rule, used when readings carry none. */
  unit: string | undefined
  /** Counter sensors get dropout and the reject-rate detector only. */
  counter: 'parts' | 'rejects' | undefined
  limits: LimitSettings
  spike: SpikeSettings
  drift: DriftSettings
  rateOfChange: RateSettings
  flatline: FlatlineSettings
  dropout: DropoutSettings
  rejectRate: RejectRateSettings
}

export type SettingsResolver = (line: string, machine: string, sensor: string) => SensorSettings

export function createSettingsResolver(config: DetectConfig): SettingsResolver {
  const rules = config.rules.map((rule) => ({ rule, parts: rule.match.split('/') }))
  return (line, machine, sensor) => {
    const segments = [line, machine, sensor]
    const hit = rules.find(({ parts }) => parts.every((p, i) => p === '*' || p === segments[i]))
    return merge(config, hit?.rule, sensor)
  }
}

function merge(config: DetectConfig, rule: DetectRule | undefined, sensor: string): SensorSettings {
  const d = config.defaults
  const counter = sensor === config.counters.parts ? 'parts' : sensor === config.counters.rejects ? 'rejects' : undefined
  return {
    enabled: config.enabled && rule?.enabled !== false,
    unit: rule?.unit,
    counter,
    limits: over(d.limits, rule?.limits),
    spike: over(d.spike, rule?.spike),
    drift: over(d.drift, rule?.drift),
    rateOfChange: over(d.rateOfChange, rule?.rateOfChange),
    flatline: over(d.flatline, rule?.flatline),
    dropout: over(d.dropout, rule?.dropout),
    rejectRate: over(d.rejectRate, rule?.rejectRate),
  }
}

function over<T extends object>(base: T, patch: Partial<T> | undefined): T {
  if (patch === undefined) return base
  const out = { ...base }
  for (const [k, v] of Object.entries(patch)) if (v !== undefined) (out as Record<string, unknown>)[k] = v
  return out
}
