// The sensors every simulated machine carries: unit, rounding, and the plausible hard limit
// that a `limit_breach` anomaly crosses (normal operation stays well below it).

export const SENSOR_NAMES = ['spindle_temp', 'vibration_rms', 'spindle_speed', 'pressure', 'power', 'part_count', 'reject_count'] as const
export type SensorName = (typeof SENSOR_NAMES)[number]

export interface SensorSpec {
  readonly name: SensorName
  readonly unit: string
  /** Counters only go up (while producing); analog values are noisy measurements. */
  readonly type: 'analog' | 'counter'
  /** Decimal places in the payload. */
  readonly decimals: number
  /** A value above this is physically implausible or dangerous (analog sensors only). */
  readonly hardLimit?: number
  /** How far a `spike` throws a sample off (added, sign chosen per spike for symmetric sensors). */
  readonly spikeMagnitude?: number
  /** Range of the total offset a `drift` ramps to (sign included). */
  readonly driftDelta?: readonly [number, number]
}

export const SENSOR_SPECS: Readonly<Record<SensorName, SensorSpec>> = {
  spindle_temp: { name: 'spindle_temp', unit: '°C', type: 'analog', decimals: 2, hardLimit: 90, spikeMagnitude: 25, driftDelta: [6, 14] },
  vibration_rms: { name: 'vibration_rms', unit: 'mm/s', type: 'analog', decimals: 3, hardLimit: 11.2, spikeMagnitude: 8, driftDelta: [1.5, 3.5] },
  spindle_speed: { name: 'spindle_speed', unit: 'rpm', type: 'analog', decimals: 0, hardLimit: 12000, spikeMagnitude: 3000, driftDelta: [-1200, -600] },
  pressure: { name: 'pressure', unit: 'bar', type: 'analog', decimals: 3, hardLimit: 10, spikeMagnitude: 3, driftDelta: [-1.6, -0.8] },
  power: { name: 'power', unit: 'kW', type: 'analog', decimals: 2, hardLimit: 25, spikeMagnitude: 15, driftDelta: [2, 5] },
  part_count: { name: 'part_count', unit: 'parts', type: 'counter', decimals: 0 },
  reject_count: { name: 'reject_count', unit: 'parts', type: 'counter', decimals: 0 },
}

export function isSensorName(name: string): name is SensorName {
  return (SENSOR_NAMES as readonly string[]).includes(name)
}
