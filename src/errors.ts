// One error type for the whole gateway. A stage decides "retry" or "quarantine/give up"
// from `retriable`, and operators grep logs by `code`.

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_NOT_FOUND'
  | 'USAGE'
  | 'BUS_UNAVAILABLE'
  | 'MQTT_UNAVAILABLE'
  | 'STORE_FAILED'
  | 'LLM_UNAVAILABLE'
  | 'LLM_TIMEOUT'
  | 'LLM_INVALID_OUTPUT'
  | 'RATE_LIMITED'
  | 'QUEUE_FULL'
  | 'UNAVAILABLE'
  | 'INTERNAL'

export interface GatewayErrorOptions {
  retriable?: boolean
  cause?: unknown
}

export class GatewayError extends Error {
  readonly code: ErrorCode
  readonly retriable: boolean

  constructor(code: ErrorCode, message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'GatewayError'
    this.code = code
    this.retriable = options.retriable ?? false
  }
}

export function isGatewayError(err: unknown, code?: ErrorCode): err is GatewayError {
  return err instanceof GatewayError && (code === undefined || err.code === code)
}

/** A message for a human, whatever was thrown. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}
