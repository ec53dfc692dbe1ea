import { describe, expect, it } from 'vitest'
import { bandChart, barChart, formatNumber, niceTicks, sparkline, timelineChart, timeTicks } from './svg.js'

const EVIL = '<img src=x onerror=alert(1)>"</script>'
const hhmm = (ts: number) => new Date(ts).toISOString().slice(11, 16)
const T0 = Date.UTC(2026, 10, 23, 6, 0)
const MIN = 60_000

/** The `d` path data of every <path>, and every number attribute, parsed. */
const pathCommands = (svg: string) => [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1] as string)

describe('numbers and ticks', () => {
  it('formats values the way the page and its script show them', () => {
    expect([formatNumber(173623.4), formatNumber(123.456), formatNumber(5.848), formatNumber(0.01234), formatNumber(0), formatNumber(null), formatNumber(Number.NaN)]).toEqual([
      '173623',
      '123.5',
      '5.85',
      '0.0123',
      '0',
      '–',
      '–',
    ])
  })

  it('puts round ticks inside the range', () => {
    expect(niceTicks(0, 100, 4)).toEqual([0, 20, 40, 60, 80, 100])
    expect(niceTicks(-3, 12, 4)).toEqual([0, 5, 10])
    expect(niceTicks(5.41, 5.92, 5)).toEqual([5.5, 5.6, 5.7, 5.8, 5.9])
    expect(niceTicks(3, 3)).toEqual([3])
    expect(timeTicks(T0, T0 + 8 * 3_600_000, 6)).toEqual([0, 2, 4, 6, 8].map((h) => T0 + h * 3_600_000))
    expect(timeTicks(T0 + 90_000, T0 + 30 * MIN, 6)).toEqual([5, 10, 15, 20, 25, 30].map((m) => T0 + m * MIN))
  })
})

describe('sparkline', () => {
  it('draws the values scaled into the box, with a gap where a minute has no data', () => {
    const svg = sparkline([1, 2, null, 4, 3], { label: 'temp', width: 100, height: 20 }).value
    const [d] = pathCommands(svg)
    // Two runs: a move and a line, then a new move after the gap.
    expect(d).toBe('M2 18L26 12.7M74 2L98 7.3')
    expect(svg).toContain('aria-label="temp: 1 to 4"')
    expect(svg).toContain('<circle cx="98" cy="7.3"')
  })

  it('draws a flat series across the middle and says when there is no data', () => {
    expect(pathCommands(sparkline([5, 5, 5], { label: 'x', width: 100, height: 20 }).value)).toEqual(['M2 10L50 10L98 10'])
    const empty = sparkline([null, null], { label: 'x' }).value
    expect(empty).toContain('aria-label="x: no data"')
    expect(empty).not.toContain('<path')
  })

  it('is named for screen readers by aria-label and a <title>, with or without data', () => {
    expect(sparkline([1, 4], { label: 'temp, last 2 minutes' }).value).toMatch(/^<svg class="spark" role="img" aria-label="temp, last 2 minutes: 1 to 4" [^>]*><title>temp, last 2 minutes: 1 to 4<\/title><path/)
    expect(sparkline([null], { label: 'temp' }).value).toContain('aria-label="temp: no data" viewBox="0 0 120 28" width="120" height="28"><title>temp: no data</title></svg>')
  })

  it('escapes its label', () => {
    const svg = sparkline([1, 2], { label: EVIL }).value
    expect(svg).not.toContain('<img')
    expect(svg).toContain('&lt;img src=x onerror=alert(1)&gt;&quot;&lt;/script&gt;')
  })
})

describe('band chart', () => {
  const points = [0, 1, 2, 5, 6].map((m) => ({ t: T0 + m * MIN, mean: 10 + m, min: 9 + m, max: 11 + m }))

  it('draws a band and a mean line per contiguous run of buckets, limits and anomaly spans', () => {
    const svg = bandChart({
      title: 'spindle_temp',
      from: T0,
      to: T0 + 10 * MIN,
      stepMs: MIN,
      points,
      limits: { high: 20, low: 5 },
      markers: [
        { start: T0 + 2 * MIN, end: T0 + 3 * MIN, severity: 'critical', label: 'limit breach' },
        { start: T0 + 8 * MIN, end: null, severity: 'warning', label: 'still open' },
        { start: T0 - 60 * MIN, end: T0 - 30 * MIN, severity: 'warning', label: 'before the window' },
      ],
      unit: '°C',
      formatTime: hhmm,
      width: 600,
      height: 200,
    }).value
    // The gap between minute 2 and minute 5 splits the series in two.
    expect(svg.match(/<polygon class="band"/g)).toHaveLength(2)
    expect(svg.match(/<polyline class="mean"/g)).toHaveLength(2)
    expect(svg).toContain('class="limit limit-high"')
    expect(svg).toContain('high limit 20')
    expect(svg).toContain('low limit 5')
    expect(svg.match(/<g class="anomaly /g)).toHaveLength(2)
    expect(svg).toContain('class="anomaly anomaly-critical"')
    expect(svg).toContain('<title>still open</title>')
    expect(svg).not.toContain('before the window')
    expect(svg).toContain('>06:00<')
    expect(svg).toContain('aria-label="spindle_temp (°C): 9 to 17, 3 anomalies"')
  })

  it('places the mean on the right pixel: the axis spans the data and the limits', () => {
    const svg = bandChart({ title: 't', from: T0, to: T0 + 2 * MIN, stepMs: MIN, points: points.slice(0, 2), formatTime: hhmm, width: 200, height: 128 }).value
    // Plot: x 56..184 over 2 min, y 100..14 over 9..12 padded by 5 % (8.85..12.15): 10 → 70, 11 → 44.
    const line = /<polyline class="mean" points="([^"]*)"/.exec(svg)?.[1]
    expect(line).toBe('88,70 152,44')
  })

  it('handles an empty series and escapes title, unit and marker labels', () => {
    const svg = bandChart({ title: EVIL, from: T0, to: T0 + MIN, stepMs: MIN, points: [], markers: [{ start: T0, severity: 'critical', label: EVIL }], unit: EVIL, formatTime: hhmm }).value
    expect(svg).toContain('no data')
    expect(svg).not.toContain('<img')
    expect(svg).not.toContain('"</script>')
    expect(svg.split('&lt;img src=x onerror=alert(1)&gt;').length - 1).toBeGreaterThanOrEqual(4)
  })
})

describe('timeline and bars', () => {
  it('draws one row per machine with its anomalies, clipped to the period', () => {
    const svg = timelineChart({
      title: 'Anomalies',
      from: T0,
      to: T0 + 8 * 3_600_000,
      rows: [
        { label: 'L1/m1', items: [{ start: T0 + 3_600_000, end: T0 + 2 * 3_600_000, severity: 'critical', label: 'a' }] },
        { label: EVIL, items: [{ start: T0 + 7 * 3_600_000, end: null, severity: 'warning', label: EVIL }] },
      ],
      formatTime: hhmm,
    }).value
    expect(svg.match(/<g class="row">/g)).toHaveLength(2)
    expect(svg).toContain('aria-label="Anomalies: 2 anomalies"')
    expect(svg).not.toContain('<img')
    // The open one runs to the right edge (x = 130 + 7/8 of 754, width the last eighth).
    expect(svg).toMatch(/class="anomaly anomaly-warning" x="789.8" y="[\d.]+" width="94.2"/)
  })

  it('scales bars to the largest value and escapes labels', () => {
    const svg = barChart({ title: 'Parts', bars: [{ label: 'a', value: 100 }, { label: EVIL, value: 50, note: '2 %' }, { label: 'none', value: null }], unit: 'parts', width: 420 }).value
    const widths = [...svg.matchAll(/<rect x="130" y="[\d.]+" width="([\d.]+)"/g)].map((m) => Number(m[1]))
    expect(widths).toEqual([100, 50, 0])
    expect(svg).toContain('50 parts · 2 %')
    expect(svg).not.toContain('<img')
  })

  it('describe their content in <desc>, escaped: bar values, anomalies per row, what the band chart draws', () => {
    const bars = barChart({ title: 'Parts', bars: [{ label: 'a', value: 100 }, { label: EVIL, value: 50, note: '2 %' }], unit: 'parts' }).value
    expect(bars).toContain('<title>Parts</title><desc>a: 100 parts; &lt;img src=x onerror=alert(1)&gt;&quot;&lt;/script&gt;: 50 parts · 2 %</desc>')
    const timeline = timelineChart({ title: 'Anomalies', from: T0, to: T0 + MIN, rows: [{ label: 'L1/m1', items: [{ start: T0, severity: 'warning', label: 'x' }] }, { label: 'L1/m2', items: [] }], formatTime: hhmm }).value
    expect(timeline).toContain('<title>Anomalies: 1 anomalies</title><desc>L1/m1: 1 anomalies; L1/m2: 0 anomalies</desc>')
    const plain = bandChart({ title: 't', from: T0, to: T0 + MIN, stepMs: MIN, points: [], formatTime: hhmm }).value
    expect(plain).toContain('<desc>The line is the minute mean, the shaded band the minimum and maximum.</desc>')
    const marked = bandChart({ title: 't', from: T0, to: T0 + MIN, stepMs: 7 * MIN, points: [], limits: { high: 3 }, markers: [{ start: T0, severity: 'warning', label: 'x' }], formatTime: hhmm }).value
    expect(marked).toContain('<desc>The line is the bucket mean, the shaded band the minimum and maximum; dashed lines are the limits; shaded spans with a triangle are anomalies.</desc>')
  })
})
