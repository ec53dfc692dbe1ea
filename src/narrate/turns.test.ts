import { describe, expect, it } from 'vitest'
import { GatewayError } from '../errors.js'
import { createTurns } from './turns.js'

describe('turns at the model', () => {
  it('gives the next turn to an incident, then a question, then shifts in arrival order', async () => {
    const turns = createTurns()
    const order: string[] = []
    await turns.take('shift') // a shift job is running
    const waiters = [
      ['shift-a', 'shift'],
      ['question-a', 'question'],
      ['shift-b', 'shift'],
      ['incident-a', 'incident'],
      ['question-b', 'question'],
    ].map(([name, kind]) =>
      turns.take(kind as 'shift' | 'question' | 'incident').then(() => {
        order.push(name as string)
        turns.end()
      }),
    )
    expect(turns.waiting()).toBe(5)
    turns.end()
    await Promise.all(waiters)
    expect(order).toEqual(['incident-a', 'question-a', 'question-b', 'shift-a', 'shift-b'])
    await turns.idle()
    expect(turns.waiting()).toBe(0)
  })

  it('never interrupts the holder: a later incident waits for the running shift', async () => {
    const turns = createTurns()
    await turns.take('shift')
    let incidentRan = false
    const incident = turns.take('incident').then(() => (incidentRan = true))
    await Promise.resolve()
    expect(incidentRan).toBe(false)
    turns.end()
    await incident
    expect(incidentRan).toBe(true)
  })

  it('drops a waiter whose deadline passes, with LLM_TIMEOUT, and keeps the line moving', async () => {
    const turns = createTurns()
    await turns.take('shift')
    const controller = new AbortController()
    const late = turns.take('question', controller.signal)
    const next = turns.take('shift')
    controller.abort()
    await expect(late).rejects.toSatisfy((e: unknown) => e instanceof GatewayError && e.code === 'LLM_TIMEOUT')
    expect(turns.waiting()).toBe(1)
    turns.end()
    await next
    turns.end()
    await turns.idle()
  })

  it('rejects at once when the deadline has already passed', async () => {
    const turns = createTurns()
    await turns.take('shift')
    const controller = new AbortController()
    controller.abort()
    await expect(turns.take('incident', controller.signal)).rejects.toThrow(/deadline passed while waiting/)
    expect(turns.waiting()).toBe(0)
  })

  it('idle() waits for the holder and every waiter', async () => {
    const turns = createTurns()
    await turns.take('shift')
    const w = turns.take('question')
    let idle = false
    const done = turns.idle().then(() => (idle = true))
    turns.end() // the question's turn
    await w
    await Promise.resolve()
    expect(idle).toBe(false)
    turns.end()
    await done
    expect(idle).toBe(true)
  })
})
