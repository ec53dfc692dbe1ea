/** The lifecycle every long-lived stage implements (see STYLE.md). */
export interface Health {
  ok: boolean
  detail: string
}

export interface Service {
  readonly name: string
  /** Connect/subscribe; throws when the stage cannot run. */
  start(): Promise<void>
  /** Idempotent: stop intake, drain in-flight work, close what it owns. */
  stop(): Promise<void>
  health(): Health
}
