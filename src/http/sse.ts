// Server-Sent Events framing (text/event-stream). One frame per event; data that contains
// newlines becomes several `data:` lines, as the spec requires, so no payload can inject a field.
import type { LiveEvent } from './live-hub.js'

const LINE_BREAK = /\r\n|\r|\n/

/** `event: <type>\ndata: <json>\n\n`, with an optional `id:`. */
export function formatSseFrame(event: string, data: unknown, id?: string | number): string {
  const name = event.replace(/[\r\n]/g, '')
  const text = typeof data === 'string' ? data : JSON.stringify(data ?? null)
  let out = id === undefined ? '' : `id: ${String(id).replace(/[\r\n]/g, '')}\n`
  out += `event: ${name}\n`
  for (const line of text.split(LINE_BREAK)) out += `data: ${line}\n`
  return out + '\n'
}

/** A comment line, which clients ignore: keeps proxies and idle timeouts from closing the stream. */
export function formatSseComment(text: string): string {
  return text
    .split(LINE_BREAK)
    .map((l) => `: ${l}\n`)
    .join('')
    .concat('\n')
}

/** Serializes each live event once, however many clients it goes to. */
export function createFrameCache(): (event: LiveEvent) => string {
  const frames = new WeakMap<LiveEvent, string>()
  return (event) => {
    let frame = frames.get(event)
    if (frame === undefined) frames.set(event, (frame = formatSseFrame(event.type, event.data)))
    return frame
  }
}
