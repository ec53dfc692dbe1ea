// Charts as server-made SVG: a sparkline, a band chart (minute mean with its min–max band,
// limits and anomaly markers), an anomaly timeline and a bar chart. Colors are presentation
// attributes (the CSP forbids inline styles); every label goes through the escaping template.
import { html, type SafeHtml } from './html.js'

export const COLORS = {
  line: '#1f4e99',
  band: '#9ec1f0',
  limit: '#b00020',
  warning: '#a14f00',
  critical: '#b00020',
  axis: '#555555',
  grid: '#dddddd',
  text: '#222222',
  bar: '#2b6cb0',
} as const

export const severityColor = (severity: string): string => (severity === 'critical' ? COLORS.critical : COLORS.warning)

/** A number as the page shows it: integers above 1000, 1–2 decimals in the middle, 3 significant digits below 1. */
export function formatNumber(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–'
  const a = Math.abs(v)
  if (a >= 1000) return String(Math.round(v))
  if (a >= 100) return String(Number(v.toFixed(1)))
  if (a >= 1) return String(Number(v.toFixed(2)))
  if (a === 0) return '0'
  return String(Number(v.toPrecision(3)))
}

const r1 = (x: number) => Math.round(x * 10) / 10

/** Up to about `count` round tick values covering [min, max]. */
export function niceTicks(min: number, max: number, count = 4): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return []
  if (max <= min) return [min]
  const span = max - min
  const mag = 10 ** Math.floor(Math.log10(span / Math.max(1, count)))
  // The finest round step that gives at most count + 1 ticks.
  const step = [1, 2, 2.5, 5, 10, 20].map((m) => m * mag).find((s) => span / s <= count + 1) ?? 20 * mag
  const out: number[] = []
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)))
  return out
}

const TIME_STEPS_MS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080].map((m) => m * 60_000)

/** Time ticks (epoch ms) at round steps, at most about `count` of them. */
export function timeTicks(from: number, to: number, count = 6): number[] {
  if (!(to > from)) return []
  const step = TIME_STEPS_MS.find((s) => (to - from) / s <= count) ?? (TIME_STEPS_MS[TIME_STEPS_MS.length - 1] as number)
  const out: number[] = []
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) out.push(t)
  return out
}

export interface SparklineOptions {
  /** What the line shows, for screen readers: `spindle_temp, last 30 minutes`. */
  label: string
  width?: number
  height?: number
}

/** A small line of values (null = no data, a gap). */
export function sparkline(values: readonly (number | null)[], options: SparklineOptions): SafeHtml {
  const width = options.width ?? 120
  const height = options.height ?? 28
  const pad = 2
  const known = values.filter((v): v is number => v !== null && Number.isFinite(v))
  if (known.length === 0) {
    return html`<svg class="spark" role="img" aria-label="${options.label}: no data" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}"><title>${options.label}: no data</title></svg>`
  }
  const lo = Math.min(...known)
  const hi = Math.max(...known)
  const x = (i: number) => r1(pad + (values.length <= 1 ? 0 : (i / (values.length - 1)) * (width - 2 * pad)))
  const y = (v: number) => r1(hi === lo ? height / 2 : height - pad - ((v - lo) / (hi - lo)) * (height - 2 * pad))
  let d = ''
  let pen = false
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) {
      pen = false
      return
    }
    d += `${pen ? 'L' : 'M'}${x(i)} ${y(v)}`
    pen = true
  })
  const last = known[known.length - 1] as number
  const lastIndex = values.lastIndexOf(last)
  const name = `${options.label}: ${formatNumber(lo)} to ${formatNumber(hi)}`
  // <title> as well as aria-label: a tooltip for the mouse, and the name where aria-label on SVG is not read.
  return html`<svg class="spark" role="img" aria-label="${name}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}"><title>${name}</title><path d="${d}" fill="none" stroke="${COLORS.line}" stroke-width="1.5" stroke-linejoin="round"/><circle cx="${x(lastIndex)}" cy="${y(last)}" r="2" fill="${COLORS.line}"/></svg>`
}

export interface BandPoint {
  /** Start of the bucket (epoch ms). */
  t: number
  mean: number
  min: number
  max: number
}

export interface ChartMarker {
  start: number
  /** Open when null or undefined: drawn to the right edge. */
  end?: number | null
  severity: string
  label: string
}

export interface BandChartOptions {
  title: string
  from: number
  to: number
  /** Bucket width; points further apart than twice this are a gap. */
  stepMs: number
  points: readonly BandPoint[]
  limits?: { low?: number | undefined; high?: number | undefined }
  markers?: readonly ChartMarker[]
  unit?: string | null
  formatTime: (ts: number) => string
  width?: number
  height?: number
}

/** Minute mean as a line over its min–max band, limits as dashed lines, anomalies as shaded spans. */
export function bandChart(o: BandChartOptions): SafeHtml {
  const width = o.width ?? 900
  const height = o.height ?? 300
  const m = { left: 56, right: 16, top: 14, bottom: 28 }
  const pw = width - m.left - m.right
  const ph = height - m.top - m.bottom
  const values = o.points.flatMap((p) => [p.min, p.max])
  for (const l of [o.limits?.low, o.limits?.high]) if (l !== undefined && Number.isFinite(l)) values.push(l)
  let lo = values.length > 0 ? Math.min(...values) : 0
  let hi = values.length > 0 ? Math.max(...values) : 1
  if (hi === lo) {
    const d = Math.abs(hi) * 0.05 || 1
    lo -= d
    hi += d
  }
  const padY = (hi - lo) * 0.05
  lo -= padY
  hi += padY
  const span = Math.max(1, o.to - o.from)
  const x = (t: number) => r1(m.left + ((Math.min(Math.max(t, o.from), o.to) - o.from) / span) * pw)
  const y = (v: number) => r1(m.top + ph - ((v - lo) / (hi - lo)) * ph)

  // Contiguous runs of points; a missing bucket or two is a gap in both line and band.
  const runs: BandPoint[][] = []
  let run: BandPoint[] = []
  for (const p of o.points) {
    const prev = run[run.length - 1]
    if (prev !== undefined && p.t - prev.t > 2 * o.stepMs) {
      runs.push(run)
      run = []
    }
    run.push(p)
  }
  if (run.length > 0) runs.push(run)
  const mid = (p: BandPoint) => p.t + o.stepMs / 2
  const bands = runs.map((r) => {
    const upper = r.map((p) => `${x(mid(p))},${y(p.max)}`)
    const lower = [...r].reverse().map((p) => `${x(mid(p))},${y(p.min)}`)
    return html`<polygon class="band" points="${[...upper, ...lower].join(' ')}" fill="${COLORS.band}" fill-opacity="0.55" stroke="none"/>`
  })
  const lines = runs.map((r) => html`<polyline class="mean" points="${r.map((p) => `${x(mid(p))},${y(p.mean)}`).join(' ')}" fill="none" stroke="${COLORS.line}" stroke-width="1.5" stroke-linejoin="round"/>`)

  const yTicks = niceTicks(lo, hi, 5).map(
    (v) =>
      html`<line x1="${m.left}" x2="${width - m.right}" y1="${y(v)}" y2="${y(v)}" stroke="${COLORS.grid}"/><text x="${m.left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="12" fill="${COLORS.text}">${formatNumber(v)}</text>`,
  )
  const xTicks = timeTicks(o.from, o.to, 7).map(
    (t) =>
      html`<line x1="${x(t)}" x2="${x(t)}" y1="${m.top + ph}" y2="${m.top + ph + 4}" stroke="${COLORS.axis}"/><text x="${x(t)}" y="${height - 8}" text-anchor="middle" font-size="12" fill="${COLORS.text}">${o.formatTime(t)}</text>`,
  )
  const limits = (['low', 'high'] as const).map((which) => {
    const v = o.limits?.[which]
    if (v === undefined || !Number.isFinite(v)) return ''
    return html`<g class="limit limit-${which}"><line x1="${m.left}" x2="${width - m.right}" y1="${y(v)}" y2="${y(v)}" stroke="${COLORS.limit}" stroke-width="1.5" stroke-dasharray="6 4"/><text x="${width - m.right - 4}" y="${y(v) - 4}" text-anchor="end" font-size="12" fill="${COLORS.limit}">${which} limit ${formatNumber(v)}</text></g>`
  })
  const markers = (o.markers ?? [])
    .filter((a) => a.start <= o.to && (a.end ?? o.to) >= o.from)
    .map((a) => {
      const x0 = x(a.start)
      const x1 = Math.max(x(a.end ?? o.to), x0 + 2)
      const color = severityColor(a.severity)
      return html`<g class="anomaly anomaly-${a.severity}"><title>${a.label}</title><rect x="${x0}" y="${m.top}" width="${r1(x1 - x0)}" height="${ph}" fill="${color}" fill-opacity="0.12"/><path d="M${x0 - 5} ${m.top} L${x0 + 5} ${m.top} L${x0} ${m.top + 8} Z" fill="${color}"/></g>`
    })
  const label = `${o.title}${o.unit ? ` (${o.unit})` : ''}: ${o.points.length === 0 ? 'no data' : `${formatNumber(Math.min(...o.points.map((p) => p.min)))} to ${formatNumber(Math.max(...o.points.map((p) => p.max)))}`}, ${o.markers?.length ?? 0} anomalies`
  const desc = `The line is the ${o.stepMs === 60_000 ? 'minute' : 'bucket'} mean, the shaded band the minimum and maximum${
    o.limits?.low !== undefined || o.limits?.high !== undefined ? '; dashed lines are the limits' : ''
  }${(o.markers?.length ?? 0) > 0 ? '; shaded spans with a triangle are anomalies' : ''}.`
  return html`<svg class="chart band-chart" role="img" aria-label="${label}" viewBox="0 0 ${width} ${height}" preserveAspectRatio="xMidYMid meet"><title>${label}</title><desc>${desc}</desc>${yTicks}${markers}${bands}${lines}${limits}<line x1="${m.left}" x2="${width - m.right}" y1="${m.top + ph}" y2="${m.top + ph}" stroke="${COLORS.axis}"/>${xTicks}${
    o.unit ? html`<text x="8" y="${m.top + 4}" font-size="12" fill="${COLORS.text}">${o.unit}</text>` : ''
  }</svg>`
}

export interface TimelineRow {
  label: string
  items: readonly ChartMarker[]
}

export interface TimelineOptions {
  title: string
  from: number
  to: number
  rows: readonly TimelineRow[]
  formatTime: (ts: number) => string
  width?: number
}

/** One row per machine across a period, anomalies as spans colored by severity. */
export function timelineChart(o: TimelineOptions): SafeHtml {
  const width = o.width ?? 900
  const rowH = 26
  const m = { left: 130, right: 16, top: 8, bottom: 28 }
  const height = m.top + m.bottom + Math.max(1, o.rows.length) * rowH
  const pw = width - m.left - m.right
  const span = Math.max(1, o.to - o.from)
  const x = (t: number) => r1(m.left + ((Math.min(Math.max(t, o.from), o.to) - o.from) / span) * pw)
  const rows = o.rows.map((row, i) => {
    const y0 = m.top + i * rowH
    const items = row.items
      .filter((a) => a.start <= o.to && (a.end ?? o.to) >= o.from)
      .map((a) => {
        const x0 = x(a.start)
        const w = Math.max(3, r1(x(a.end ?? o.to) - x0))
        return html`<rect class="anomaly anomaly-${a.severity}" x="${x0}" y="${y0 + 5}" width="${w}" height="${rowH - 10}" rx="2" fill="${severityColor(a.severity)}"><title>${a.label}</title></rect>`
      })
    return html`<g class="row"><rect x="${m.left}" y="${y0 + 3}" width="${pw}" height="${rowH - 6}" fill="#f1f3f5"/><text x="${m.left - 8}" y="${y0 + rowH / 2 + 4}" text-anchor="end" font-size="13" fill="${COLORS.text}">${row.label}</text>${items}</g>`
  })
  const axisY = m.top + Math.max(1, o.rows.length) * rowH
  const ticks = timeTicks(o.from, o.to, 8).map(
    (t) =>
      html`<line x1="${x(t)}" x2="${x(t)}" y1="${m.top}" y2="${axisY + 4}" stroke="${COLORS.grid}"/><text x="${x(t)}" y="${height - 8}" text-anchor="middle" font-size="12" fill="${COLORS.text}">${o.formatTime(t)}</text>`,
  )
  const count = o.rows.reduce((n, r) => n + r.items.length, 0)
  const desc = o.rows.length === 0 ? 'No machines.' : o.rows.map((r) => `${r.label}: ${r.items.length} anomalies`).join('; ')
  return html`<svg class="chart timeline-chart" role="img" aria-label="${o.title}: ${count} anomalies" viewBox="0 0 ${width} ${height}" preserveAspectRatio="xMidYMid meet"><title>${o.title}: ${count} anomalies</title><desc>${desc}</desc>${ticks}${rows}</svg>`
}

export interface Bar {
  label: string
  value: number | null
  /** Shown after the value, e.g. a reject rate. */
  note?: string
}

/** Horizontal bars, one per label. */
export function barChart(o: { title: string; bars: readonly Bar[]; unit?: string; width?: number }): SafeHtml {
  const width = o.width ?? 900
  const rowH = 26
  const m = { left: 130, right: 190, top: 6, bottom: 6 }
  const height = m.top + m.bottom + Math.max(1, o.bars.length) * rowH
  const max = Math.max(0, ...o.bars.map((b) => b.value ?? 0))
  const pw = width - m.left - m.right
  const valueText = (b: Bar) => `${formatNumber(b.value)}${o.unit ? ` ${o.unit}` : ''}${b.note ? ` · ${b.note}` : ''}`
  const rows = o.bars.map((b, i) => {
    const y0 = m.top + i * rowH
    const w = max > 0 && b.value !== null ? r1((Math.max(0, b.value) / max) * pw) : 0
    const text = valueText(b)
    return html`<g class="bar"><text x="${m.left - 8}" y="${y0 + rowH / 2 + 4}" text-anchor="end" font-size="13" fill="${COLORS.text}">${b.label}</text><rect x="${m.left}" y="${y0 + 4}" width="${w}" height="${rowH - 8}" fill="${COLORS.bar}"/><text x="${m.left + w + 6}" y="${y0 + rowH / 2 + 4}" font-size="13" fill="${COLORS.text}">${text}</text></g>`
  })
  // role="img" hides the bars' text from screen readers: the values are in the description.
  const desc = o.bars.length === 0 ? 'No bars.' : o.bars.map((b) => `${b.label}: ${valueText(b)}`).join('; ')
  return html`<svg class="chart bar-chart" role="img" aria-label="${o.title}" viewBox="0 0 ${width} ${height}" preserveAspectRatio="xMidYMid meet"><title>${o.title}</title><desc>${desc}</desc>${rows}</svg>`
}
