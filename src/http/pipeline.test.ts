import { describe, expect, it } from 'vitest'
import { NO_PIPELINE, pipelineStatus } from './pipeline.js'

describe('pipelineStatus', () => {
  it('is all null when no stage runs', () => {
    expect(pipelineStatus({})).toEqual(NO_PIPELINE)
  })

  it('maps each stage status to explicit fields: consumer lag, model state, queue and running job, forwarder lag by source and its error', () => {
    const s = pipelineStatus({
      aggregate: { status: () => ({ lag: 1234, lastBatchAt: 50, applied: 9 }) },
      llm: { info: () => ({ state: 'unavailable', reason: 'model file missing', modelPath: '/m.gguf' }) },
      narrate: { status: () => ({ queue: { depth: 3, enqueued: 7 }, running: 'shift:2026-11-23/early', lastError: 'LLM_TIMEOUT' }) },
      forward: { status: () => ({ routes: { narratives: { lag: 2 }, anomalies: { lag: 5 } }, failingSince: 40, lastError: 'SASL authentication failed', lastErrorAt: 45 }) },
    })
    expect(s).toEqual({
      aggregate: { consumerLag: 1234, lastBatchAt: 50, lastError: null },
      llm: { state: 'unavailable', model: null, reason: 'model file missing' },
      narrate: { queueDepth: 3, running: 'shift:2026-11-23/early', lastNarrativeAt: null, lastError: 'LLM_TIMEOUT' },
      forward: { lag: 7, lagBySource: { narratives: 2, anomalies: 5 }, lastSuccessAt: null, failingSince: 40, lastError: 'SASL authentication failed', lastErrorAt: 45 },
    })
  })
})
