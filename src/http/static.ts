// The page's stylesheet and script, served from /static/ (the build compiles only .ts, so they
// live here as text). Versioned by content hash so browsers may cache them for good.
import { createHash } from 'node:crypto'

export const APP_CSS = `
:root { --fg: #1a1a1a; --muted: #4a4a4a; --bg: #ffffff; --panel: #f6f7f9; --border: #c8ccd2; --link: #0b4fa3;
  --ok: #1b6e35; --ok-bg: #e7f4eb; --warning: #8a4300; --warning-bg: #fff1dc; --critical: #a1001c; --critical-bg: #fde7ea;
  --stale: #4a4a4a; --stale-bg: #e9ecef; }
* { box-sizing: border-box; }
html { font-size: 17px; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: var(--fg); background: var(--bg); line-height: 1.45; }
a { color: var(--link); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, summary:focus-visible { outline: 3px solid #f5a300; outline-offset: 2px; }
.skip { position: absolute; left: -9999px; top: 0; }
.skip:focus { left: 8px; top: 8px; background: #fff; padding: 6px 10px; z-index: 10; }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 20px; padding: 10px 16px; background: #14213d; color: #fff; }
header.top a { color: #fff; text-decoration: none; padding: 6px 4px; }
header.top a[aria-current="page"] { border-bottom: 3px solid #f5a300; }
header.top .brand { font-weight: 700; font-size: 1.1rem; margin-right: 12px; }
header.top nav ul { display: flex; flex-wrap: wrap; gap: 4px 16px; list-style: none; margin: 0; padding: 0; }
header.top .live { margin-left: auto; font-size: 0.9rem; }
main { padding: 12px 16px 40px; max-width: 1400px; margin: 0 auto; }
h1 { font-size: 1.5rem; margin: 8px 0 12px; }
h2 { font-size: 1.2rem; margin: 22px 0 8px; }
h3 { font-size: 1.05rem; margin: 0 0 6px; }
.muted { color: var(--muted); }
.banner { padding: 10px 14px; border-radius: 6px; margin: 8px 0; border: 2px solid var(--border); background: var(--panel); }
.banner.stale { border-color: var(--stale); background: var(--stale-bg); }
.line { margin-bottom: 18px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 12px; }
.tile { border: 2px solid var(--border); border-left-width: 10px; border-radius: 8px; padding: 10px 12px; background: var(--panel); }
.tile[data-status="ok"] { border-color: var(--ok); background: var(--ok-bg); }
.tile[data-status="warning"] { border-color: var(--warning); background: var(--warning-bg); }
.tile[data-status="critical"] { border-color: var(--critical); background: var(--critical-bg); }
.tile[data-status="stale"] { border-color: var(--stale); background: var(--stale-bg); }
.tile header { display: flex; justify-content: space-between; align-items: baseline; gap: 8px; }
.status { font-weight: 700; text-transform: uppercase; font-size: 0.8rem; letter-spacing: 0.04em; }
.tile[data-status="ok"] .status { color: var(--ok); }
.tile[data-status="warning"] .status { color: var(--warning); }
.tile[data-status="critical"] .status { color: var(--critical); }
.tile[data-status="stale"] .status { color: var(--stale); }
.readings { list-style: none; margin: 6px 0 0; padding: 0; }
.readings li { display: grid; grid-template-columns: 1fr auto 124px; align-items: center; gap: 6px; padding: 2px 0; }
.readings .value { font-variant-numeric: tabular-nums; font-weight: 600; text-align: right; }
.readings .value.flash { background: #fff59d; }
.tile .alerts { margin: 6px 0 0; padding-left: 18px; font-size: 0.9rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 12px; }
.card { border: 1px solid var(--border); border-radius: 8px; padding: 10px 12px; background: var(--panel); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 0.8rem; font-weight: 600; border: 1px solid currentColor; margin-right: 4px; }
.badge.llm { color: #1f4e99; }
.badge.template { color: #5b3a00; }
.badge.grounded { color: var(--ok); }
.badge.ungrounded { color: var(--critical); }
.badge.critical { color: var(--critical); }
.badge.warning { color: var(--warning); }
.badge.open { color: var(--critical); }
.badge.closed { color: var(--muted); }
.badge.offline { color: var(--critical); background: var(--critical-bg); margin-left: 6px; }
.narrative .body { white-space: pre-line; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 14px; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--border); vertical-align: top; }
th { background: var(--panel); }
td.num, th.num { text-align: right; }
.table-wrap { overflow-x: auto; }
.chart { width: 100%; height: auto; max-width: 1000px; display: block; background: #fff; border: 1px solid var(--border); border-radius: 6px; }
form.filters { display: flex; flex-wrap: wrap; gap: 10px 16px; align-items: flex-end; padding: 10px; background: var(--panel); border-radius: 8px; }
form.filters label { display: flex; flex-direction: column; font-size: 0.9rem; gap: 2px; }
form.filters input, form.filters select, form.filters button { font-size: 1rem; padding: 6px 8px; min-height: 40px; }
.pager { margin: 10px 0; }
form.ask { display: flex; flex-wrap: wrap; gap: 10px 16px; align-items: flex-end; padding: 10px; background: var(--panel); border-radius: 8px; }
form.ask .field { display: flex; flex-direction: column; gap: 2px; font-size: 0.9rem; }
form.ask .field.question { flex: 1 1 320px; }
form.ask input, form.ask button { font-size: 1rem; padding: 8px 10px; min-height: 44px; }
form.ask button { min-width: 96px; font-weight: 600; }
form.ask button:disabled { opacity: 0.6; }
.ask-status { min-height: 1.45em; margin: 6px 0; }
.ask-status.error { color: var(--critical); font-weight: 600; }
dd .error { color: var(--critical); font-weight: 600; }
ol.answers { list-style: none; margin: 0; padding: 0; display: grid; gap: 12px; }
.answer .question { font-weight: 600; margin: 0 0 6px; }
.answer .body { white-space: pre-line; }
.answer details { margin-top: 6px; }
.answer summary { cursor: pointer; min-height: 32px; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; }
dl.kv dt { font-weight: 600; }
dl.kv dd { margin: 0; }
@media (max-width: 700px) { html { font-size: 16px; } .readings li { grid-template-columns: 1fr auto; } .readings svg { display: none; } }
@media (prefers-reduced-motion: no-preference) { .readings .value { transition: background-color 0.6s; } }
`

export const APP_JS = `'use strict';
// The ask form: POST /api/ask with the bearer token from the form (kept in sessionStorage for
// the tab), then the answer goes into the page through textContent only, never as markup.
(function () {
  var form = document.querySelector('form[data-ask]');
  if (!form || typeof fetch === 'undefined') return;
  var KEY = 'shiftscribe.token';
  var question = form.querySelector('input[name="question"]');
  var token = form.querySelector('input[name="token"]');
  var button = form.querySelector('button[type="submit"]');
  var status = document.querySelector('[data-ask-status]');
  var list = document.querySelector('[data-answers]');
  var result = document.querySelector('[data-ask-result]');
  if (!question || !token || !button || !status) return;
  function remember(v) { try { if (v) sessionStorage.setItem(KEY, v); else sessionStorage.removeItem(KEY); } catch (e) {} }
  try { token.value = sessionStorage.getItem(KEY) || ''; } catch (e) {}
  function tell(text, isError) { status.textContent = text; status.classList.toggle('error', !!isError); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function secs(ms) { var s = ms / 1000; return s < 120 ? Math.round(s * 10) / 10 + ' s' : Math.round(s / 6) / 10 + ' min'; }
  function card(a, tag) {
    var c = el(tag, 'card answer');
    var q = el('p', 'question');
    q.appendChild(el('span', 'muted', 'Question: '));
    q.appendChild(document.createTextNode(String(a.question)));
    c.appendChild(q);
    c.appendChild(el('h3', '', a.headline));
    var g = a.generator || {}, gr = a.grounding || {}, u = a.understood;
    var meta = ['just now', 'asked by ' + a.askedBy, a.scope, u ? 'understood as: ' + String(u.intent).replace(/_/g, ' ') + ', ' + u.label : 'not understood'];
    if (g.type === 'llm') meta.push('answered in ' + secs(g.ms));
    c.appendChild(el('p', 'muted', meta.join(' \u00b7 ')));
    var badges = el('p');
    if (g.type === 'llm') badges.appendChild(el('span', 'badge llm', 'LLM \u00b7 ' + g.model));
    else badges.appendChild(el('span', 'badge template', 'Template \u00b7 ' + String(g.reason).replace(/_/g, ' ')));
    var unmatched = (gr.unmatched || []).length + (gr.unknownNames || []).length;
    badges.appendChild(gr.ok ? el('span', 'badge grounded', 'Grounded \u00b7 ' + gr.numbersChecked + ' numbers checked')
      : el('span', 'badge ungrounded', 'Not grounded \u00b7 ' + unmatched + ' unmatched of ' + gr.numbersChecked));
    c.appendChild(badges);
    c.appendChild(el('div', 'body', a.body));
    if (Array.isArray(a.highlights) && a.highlights.length > 0) {
      var hl = el('ul', 'highlights');
      a.highlights.forEach(function (h) { hl.appendChild(el('li', '', h)); });
      c.appendChild(hl);
    }
    if (Array.isArray(a.facts) && a.facts.length > 0) {
      var d = el('details'), fl = el('ul', 'facts');
      d.appendChild(el('summary', '', 'Facts used (' + a.facts.length + ')'));
      a.facts.forEach(function (f) { fl.appendChild(el('li', '', f && f.text)); });
      d.appendChild(fl);
      c.appendChild(d);
    }
    return c;
  }
  function show(a) {
    if (list) {
      var empty = document.querySelector('[data-answers-empty]');
      if (empty && empty.parentNode) empty.parentNode.removeChild(empty);
      list.insertBefore(card(a, 'li'), list.firstChild);
    } else if (result) {
      while (result.firstChild) result.removeChild(result.firstChild);
      result.appendChild(card(a, 'article'));
    }
  }
  var busy = false;
  button.disabled = false;
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (busy) return;
    var q = question.value.trim(), t = token.value.trim();
    if (!q) { tell('Type a question first.', true); question.focus(); return; }
    if (!t) { tell('The API token is needed to ask.', true); token.focus(); return; }
    remember(t);
    busy = true;
    button.disabled = true;
    form.setAttribute('aria-busy', 'true');
    tell('Asking\u2026 (the local model can take up to a minute)', false);
    fetch('/api/ask', { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + t }, body: JSON.stringify({ question: q }) })
      .then(function (r) {
        return r.json().catch(function () { return null; }).then(function (data) { return { status: r.status, ok: r.ok, data: data }; });
      })
      .then(function (res) {
        var data = res.data;
        if (res.ok && data && typeof data.headline === 'string') {
          show(data);
          question.value = '';
          tell('Answered: ' + data.headline, false);
          return;
        }
        var message = data && typeof data.message === 'string' ? data.message : 'the gateway answered ' + res.status;
        if (res.status === 401) {
          message = 'wrong or missing token';
          remember('');
          token.focus();
          token.select();
        }
        tell('Not answered: ' + message, true);
      })
      .catch(function () { tell('Not answered: the gateway could not be reached.', true); })
      .then(function () {
        busy = false;
        button.disabled = false;
        form.removeAttribute('aria-busy');
      });
  });
})();
// Live values on the overview.
(function () {
  var body = document.body;
  var liveText = document.getElementById('live-status');
  function say(text) { if (liveText) liveText.textContent = text; }
  if (!body || body.getAttribute('data-live') !== 'overview' || typeof EventSource === 'undefined') return;
  function fmt(v) {
    if (typeof v !== 'number' || !isFinite(v)) return '\\u2013';
    var a = Math.abs(v);
    if (a >= 1000) return String(Math.round(v));
    if (a >= 100) return String(Number(v.toFixed(1)));
    if (a >= 1) return String(Number(v.toFixed(2)));
    if (a === 0) return '0';
    return String(Number(v.toPrecision(3)));
  }
  var STATUS_CHECK_MS = 15000;
  var byKey = new Map();
  document.querySelectorAll('[data-live-key]').forEach(function (el) {
    var k = el.getAttribute('data-live-key');
    if (!byKey.has(k)) byKey.set(k, []);
    byKey.get(k).push(el);
  });
  var refreshTimer = null;
  function refreshStatuses() {
    refreshTimer = null;
    fetch('/api/overview', { headers: { accept: 'application/json' } }).then(function (r) { return r.ok ? r.json() : null; }).then(function (o) {
      if (!o || !Array.isArray(o.lines)) return;
      if (o.stale && typeof o.dataAgeMs === 'number') say('No new readings for ' + Math.round(o.dataAgeMs / 60000) + ' min');
      var reload = false;
      o.lines.forEach(function (line) {
        (line.machines || []).forEach(function (m) {
          var tile = document.querySelector('[data-tile="' + CSS.escape(m.line + '/' + m.machine) + '"]');
          if (!tile) return;
          tile.setAttribute('data-status', m.status);
          var s = tile.querySelector('.status');
          if (s) s.textContent = m.status;
          // A machine went offline or came back: the badge (local time) is rendered by the server.
          if (!!(m.state && m.state.state === 'offline') !== tile.hasAttribute('data-offline')) reload = true;
        });
      });
      if (reload) location.reload();
    }).catch(function () {});
  }
  function scheduleRefresh() { if (refreshTimer === null) refreshTimer = setTimeout(refreshStatuses, 1000); }
  var es = new EventSource('/events');
  es.addEventListener('open', function () { say('Live'); });
  es.addEventListener('error', function () { say('Reconnecting\\u2026'); });
  es.addEventListener('readings', function (e) {
    var items;
    try { items = JSON.parse(e.data); } catch (err) { return; }
    if (!Array.isArray(items)) return;
    items.forEach(function (r) {
      if (!r || typeof r.key !== 'string' || typeof r.value !== 'number') return;
      (byKey.get(r.key) || []).forEach(function (el) {
        el.textContent = fmt(r.value);
        el.setAttribute('data-ts', String(r.ts));
        // The stylesheet highlights the value box (number and unit), not the inner number.
        var box = (el.closest && el.closest('.value')) || el;
        box.classList.add('flash');
        setTimeout(function () { box.classList.remove('flash'); }, 700);
      });
    });
    say('Live \\u00b7 updated ' + new Date().toLocaleTimeString());
  });
  ['anomaly', 'shift', 'narrative'].forEach(function (t) { es.addEventListener(t, scheduleRefresh); });
  // Freshness changes with no event at all when the site stops sending: look again on a timer
  // so the tiles go stale (the server judges freshness against its clock).
  setInterval(scheduleRefresh, STATUS_CHECK_MS);
})();
`

const version = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12)

export const APP_CSS_VERSION = version(APP_CSS)
export const APP_JS_VERSION = version(APP_JS)
