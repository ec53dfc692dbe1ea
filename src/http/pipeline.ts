// The system page's explicit pipeline fields, mapped from each stage's own status() (their
// health lines carry the same numbers only as text). Structural types: http imports no stage.
/** The pipeline's own numbers for the system page; each part is null when its stage is off. */
export interface PipelineStatus {
  /** The aggregator's Kafka consumer on the readings topic. */
  aggregate: {
    /** Messages on the readings topic not yet applied to the state database, as of the last batch. */
    consumerLag: number
    lastBatchAt: number | null
    lastError: string | null
  } | null
  /** The local model: disabled, loading, ready or unavailable (narratives then come from the template). */
  llm: { state: string; model: string | null; reason: string | null } | null
  /** The narrator's job queue. */
  narrate: {
    queueDepth: number
    /** The job being written, e.g. `shift:2026-11-23/early`; null when idle. */
    running: string | null
    lastNarrativeAt: number | null
    lastError: string | null
  } | null
  /** Forwarding to the central cluster. */
  forward: {
    /** Local messages not yet acknowledged by the central cluster, all sources. */
    lag: number
    lagBySource: Record<string, number>
    lastSuccessAt: number | null
    /** Set while the central cluster is unreachable. */
    failingSince: number | null
    /** The newest failure, kept after recovery (failingSince says whether it still fails); null if none since start. */
    lastError: string | null
    lastErrorAt: number | null
  } | null
}

export const NO_PIPELINE: PipelineStatus = { aggregate: null, llm: null, narrate: null, forward: null }

/** What is read from each running stage; a stage that is off is undefined. */
export interface PipelineSources {
  aggregate?: { status(): { lag: number; lastBatchAt?: number; lastError?: string } } | undefined
  llm?: { info(): { state: string; model?: string; reason?: string } } | undefined
  narrate?: { status(): { queue: { depth: number }; running?: string; lastNarrativeAt?: number; lastError?: string } } | undefined
  forward?: { status(): { routes: Record<string, { lag: number }>; lastSuccessAt?: number; failingSince?: number; lastError?: string; lastErrorAt?: number } } | undefined
}

export function pipelineStatus(sources: PipelineSources): PipelineStatus {
  const a = sources.aggregate?.status()
  const info = sources.llm?.info()
  const n = sources.narrate?.status()
  const fw = sources.forward?.status()
  const lagBySource = fw ? Object.fromEntries(Object.entries(fw.routes).map(([name, r]) => [name, r.lag])) : {}
  return {
    aggregate: a ? { consumerLag: a.lag, lastBatchAt: a.lastBatchAt ?? null, lastError: a.lastError ?? null } : null,
    llm: info ? { state: info.state, model: info.model ?? null, reason: info.reason ?? null } : null,
    narrate: n ? { queueDepth: n.queue.depth, running: n.running ?? null, lastNarrativeAt: n.lastNarrativeAt ?? null, lastError: n.lastError ?? null } : null,
    forward: fw
      ? {
          lag: Object.values(lagBySource).reduce((x, y) => x + y, 0),
          lagBySource,
          lastSuccessAt: fw.lastSuccessAt ?? null,
          failingSince: fw.failingSince ?? null,
          lastError: fw.lastError ?? null,
          lastErrorAt: fw.lastErrorAt ?? null,
        }
      : null,
  }
}
