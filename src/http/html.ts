// HTML built with a tagged template that escapes every interpolated value unless it is
// already SafeHtml, so an untrusted name or narrative text can only ever render as text.

/** Markup that is already escaped (or built by `html`). */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Escapes text for element content and for quoted attribute values alike. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c)
}

/** Trusted markup, as is: only for strings this module family builds itself. */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup)
}

function render(value: unknown): string {
  if (value === undefined || value === null || value === false) return ''
  if (value instanceof SafeHtml) return value.value
  if (Array.isArray(value)) return value.map(render).join('')
  return escapeHtml(String(value))
}

/** `html\`<p>${name}</p>\``: values are escaped, SafeHtml and arrays of it are inserted, null/undefined/false render nothing. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? ''
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '')
  return new SafeHtml(out)
}

/** A path from segments, each URL-encoded: `/sensors/L1/m%201/temp`. */
export function pathOf(...segments: string[]): string {
  return '/' + segments.map((s) => encodeURIComponent(s)).join('/')
}
