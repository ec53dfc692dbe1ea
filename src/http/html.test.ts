import { describe, expect, it } from 'vitest'
import { escapeHtml, html, pathOf, raw } from './html.js'

describe('html', () => {
  it('escapes the five characters that matter in text and quoted attributes', () => {
    expect(escapeHtml(`<img src=x onerror=alert(1)> & "q" 'a'`)).toBe('&lt;img src=x onerror=alert(1)&gt; &amp; &quot;q&quot; &#39;a&#39;')
  })

  it('escapes every interpolated value, inserts SafeHtml and arrays, and skips null, undefined and false', () => {
    const evil = '</script><script>alert(1)</script>'
    const out = html`<p title="${evil}">${evil}${raw('<b>ok</b>')}${[html`<i>${'<x>'}</i>`, '<y>']}${null}${undefined}${false}${0}</p>`.value
    expect(out).toBe('<p title="&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;">&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;<b>ok</b><i>&lt;x&gt;</i>&lt;y&gt;0</p>')
  })

  it('builds paths with each segment URL-encoded', () => {
    expect(pathOf('sensors', 'L 1', 'a/b', '<img>')).toBe('/sensors/L%201/a%2Fb/%3Cimg%3E')
  })
})
