// `shiftscribe simulate` end to end in-process, with a fake MQTT client (no broker).
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { simulateCommand, type SimulateIo } from './simulate-command.js'
import type { PublishClient } from '../simulate/publisher.js'
import { parseTruthLines } from '../simulate/truth.js'

/** A client whose broker PUBACKs every message on the next turn of the event loop (or fails it). */
function fakeConnect(options: { fail?: boolean; refuse?: boolean } = {}) {
  const topics: string[] = []
  const subscriptions: string[] = []
  const connect = async (): Promise<PublishClient> => {
    if (options.refuse) throw new Error('connect ECONNREFUSED 127.0.0.1:1')
    return {
      connected: true,
      publish(topic, _payload, _opts, cb) {
        topics.push(topic)
        setImmediate(() => (options.fail ? cb(new Error('Publish error: Not authorized')) : cb()))
        return undefined
      },
      on() {
        return undefined
      },
      async subscribeAsync(filters) {
        subscriptions.push(...filters)
      },
      async endAsync() {},
    }
  }
  return { connect, topics, subscriptions }
}

function io(extra: Partial<SimulateIo> = {}) {
  const out: string[] = []
  const err: string[] = []
  return {
    io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env: {}, cwd: process.cwd(), ...extra },
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  }
}

const START = ['--start', '2025-01-06T06:00:00Z']

describe('shiftscribe simulate', () => {
  it('prints its options with --help', async () => {
    const t = io()
    expect(await simulateCommand(['--help'], t.io)).toBe(0)
    for (const flag of ['--url', '--rate', '--speed', '--count', '--duration', '--bad-ratio', '--anomalies', '--no-anomalies', '--truth', '--window', '--seed', '--tz', '--weekends', '--json', '--format json|sparkplug', '--sparkplug-group', '--sparkplug-keep-alive-at-end']) {
      expect(t.stdout()).toContain(flag)
    }
  })

  it.each([
    [['--rate', 'fast'], '--rate: "fast" is not a number'],
    [['--bad-ratio', '2'], '--bad-ratio: '],
    [['--frobnicate'], "Unknown option '--frobnicate'"],
    [['--sensors', 'spindle_temp,humidity'], '--sensors: unknown "humidity"'],
    [['--start', 'last tuesday'], '--start: "last tuesday" is not an ISO date-time'],
    [['--anomalies', '3/run'], '--anomalies: a fixed anomaly count needs'],
    [['--anomalies', '2', '--no-anomalies'], 'exclude each other'],
    [['--shifts', '6-14'], '--shifts: "6-14" is not like'],
    [['--tz', 'Mars/Olympus'], '--tz: must be an IANA time zone'],
    [['--lines', '0'], '--lines: '],
    [['extra'], 'unexpected argument "extra"'],
    [['--format', 'xml'], '--format: unknown "xml"; choose from json, sparkplug'],
    [['--format', 'sparkplug', '--bad-kinds', 'not_json'], '--bad-kinds[0]: "not_json" is not a kind of the sparkplug format; choose from bad_protobuf'],
    [['--bad-kinds', 'bad_protobuf'], '--bad-kinds[0]: "bad_protobuf" is not a kind of the json format'],
    [['--format', 'sparkplug', '--sparkplug-group', 'a/b'], '--sparkplug-group: must be'],
  ])('rejects %j with exit 2 and names the option', async (args, message) => {
    const t = io()
    expect(await simulateCommand(args, t.io)).toBe(2)
    expect(t.stderr()).toContain(message)
    expect(t.stderr()).toContain('shiftscribe simulate --help')
  })

  it('publishes --count messages, prints a JSON summary and writes the truth file', async () => {
    const fake = fakeConnect()
    const truthFile = join(mkdtempSync(join(tmpdir(), 'shiftscribe-sim-')), 'truth.jsonl')
    const t = io({ connect: fake.connect })
    const args = ['--count', '3000', '--rate', '100000', '--speed', '2000', '--bad-ratio', '0.1', '--anomalies', '6/run', '--truth', truthFile, '--json', '--prefix', 'plant-x', ...START]
    expect(await simulateCommand(args, t.io)).toBe(0)
    const summary = JSON.parse(t.stdout()) as Record<string, unknown> & { badByKind: Record<string, number> }
    expect(summary).toMatchObject({ published: 3000, sent: 3000, failed: 0, unacked: 0, stoppedBy: 'count', eventStart: '2025-01-06T06:00:00.000Z', truthFile })
    expect((summary.good as number) + (summary.bad as number)).toBe(3000)
    expect(summary.bad).toBeGreaterThan(200)
    expect(Object.values(summary.badByKind).reduce((a, b) => a + b, 0)).toBe(summary.bad)
    expect(fake.topics).toHaveLength(3000)
    expect(fake.topics.every((topic) => topic.startsWith('plant-x/line'))).toBe(true)
    const truth = parseTruthLines(readFileSync(truthFile, 'utf8'))
    expect(truth).toHaveLength(summary.anomalies as number)
    expect(truth.length).toBeGreaterThanOrEqual(5)
    for (const r of truth) expect(r.startTs).toBeLessThanOrEqual(Date.parse(summary.eventEnd as string))
    expect(t.stderr()).toMatch(/simulate: done 3,000 /)
  })

  it('prints a human summary without --json, and the same run twice gives the same truth', async () => {
    const runOnce = async () => {
      const truthFile = join(mkdtempSync(join(tmpdir(), 'shiftscribe-sim-')), 'truth.jsonl')
      const t = io({ connect: fakeConnect().connect })
      expect(await simulateCommand(['--count', '2000', '--rate', '100000', '--speed', '3000', '--anomalies', '4/run', '--truth', truthFile, '--seed', 'demo', ...START], t.io)).toBe(0)
      return { stdout: t.stdout(), truth: readFileSync(truthFile, 'utf8') }
    }
    const a = await runOnce()
    const b = await runOnce()
    expect(a.stdout).toMatch(/published \(PUBACKed\)\s+2000\n/)
    expect(a.stdout).toMatch(/stopped by\s+count/)
    expect(a.truth.split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(3)
    expect(b.truth).toBe(a.truth)
  })

  it('ends cleanly with exit 0 when signalled', async () => {
    const controller = new AbortController()
    const t = io({ connect: fakeConnect().connect, signal: controller.signal })
    setTimeout(() => controller.abort(), 300)
    expect(await simulateCommand(['--rate', '2000', '--json', '--no-anomalies', ...START], t.io)).toBe(0)
    const summary = JSON.parse(t.stdout()) as { stoppedBy: string; published: number; unacked: number }
    expect(summary.stoppedBy).toBe('signal')
    expect(summary.published).toBeGreaterThan(200)
    expect(summary.unacked).toBe(0)
  })

  it('exits 1 when the broker cannot be reached or rejects messages', async () => {
    const refused = io({ connect: fakeConnect({ refuse: true }).connect })
    expect(await simulateCommand(['--count', '10', ...START], refused.io)).toBe(1)
    expect(refused.stderr()).toContain('ECONNREFUSED')
    const rejected = io({ connect: fakeConnect({ fail: true }).connect })
    expect(await simulateCommand(['--count', '10', '--rate', '1000', '--json', ...START], rejected.io)).toBe(1)
    expect(JSON.parse(rejected.stdout())).toMatchObject({ published: 0, failed: 10 })
  })

  it('--format sparkplug: births, data and deaths per line, readings in the summary, the same truth as JSON', async () => {
    const runOnce = async (format: 'json' | 'sparkplug') => {
      const fake = fakeConnect()
      const truthFile = join(mkdtempSync(join(tmpdir(), 'shiftscribe-sim-')), 'truth.jsonl')
      const t = io({ connect: fake.connect })
      const args = ['--format', format, '--sparkplug-group', 'line-a', '--count', '2800', '--rate', '100000', '--speed', '3000', '--anomalies', '4/run', '--bad-ratio', '0.05', '--truth', truthFile, '--json', '--seed', 'sp', ...START]
      expect(await simulateCommand(args, t.io)).toBe(0)
      return { fake, summary: JSON.parse(t.stdout()) as Record<string, unknown>, truth: readFileSync(truthFile, 'utf8'), stderr: t.stderr() }
    }
    const json = await runOnce('json')
    const sp = await runOnce('sparkplug')
    expect(sp.truth).toBe(json.truth)
    expect(sp.truth.split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(3)
    const bad = sp.summary.bad as number
    expect(bad).toBeGreaterThan(50)
    expect(sp.summary).toMatchObject({ format: 'sparkplug', readings: 2800 - bad, badByKind: { bad_protobuf: bad }, failed: 0, unacked: 0, stoppedBy: 'count' })
    expect(sp.summary.sparkplug).toMatchObject({ group: 'line-a', edgeNodes: 2, devices: 10, nbirths: 2, dbirths: 10, ddeaths: 10, ndeaths: 2, rebirths: 0 })
    expect(sp.summary.published).toBe((sp.summary.good as number) + bad + (sp.summary.control as number))
    expect(sp.fake.subscriptions.sort()).toEqual(['spBv1.0/line-a/NCMD/line1', 'spBv1.0/line-a/NCMD/line2'])
    expect(sp.fake.topics.every((topic) => topic.startsWith('spBv1.0/line-a/'))).toBe(true)
    expect(sp.fake.topics.slice(0, 2).sort()).toEqual(['spBv1.0/line-a/NBIRTH/line1', 'spBv1.0/line-a/NBIRTH/line2'])
    const deaths = [...Array<string>(5).fill('DDEATH'), 'NDEATH']
    expect(sp.fake.topics.slice(-12).map((topic) => topic.split('/')[2])).toEqual([...deaths, ...deaths])
    expect(sp.stderr).toMatch(/readings [\d,]+ in flight/)
    expect(json.summary).toMatchObject({ format: 'json', readings: json.summary.good, control: 0 })
  })

  it('--sparkplug-keep-alive-at-end sends no deaths, and the human summary tells births and readings', async () => {
    const fake = fakeConnect()
    const t = io({ connect: fake.connect })
    expect(await simulateCommand(['--format', 'sparkplug', '--sparkplug-keep-alive-at-end', '--count', '700', '--rate', '100000', '--no-anomalies', ...START], t.io)).toBe(0)
    expect(fake.topics.some((topic) => /DEATH/.test(topic))).toBe(false)
    expect(t.stdout()).toMatch(/readings\s+700 \(metric values, births included\)\n/)
    expect(t.stdout()).toMatch(/sparkplug\s+group plant, 2 edge nodes, 10 devices; births 2 N \/ 10 D, deaths 0 N \/ 0 D, rebirths answered 0\n/)
  })
})
