// config.js - the Config page: the running config and an editor validated
// as you type through the real loader (POST /config/validate, operator),
// its diagnostics at file:line:col with the line marked, a line diff
// against the running config, Apply through the atomic reload path
// (POST /api/v1/config/apply, operator), the audit of applies, and the
// running routing decompiled to the DSL (GET /api/v1/config/dsl). The editor
// is CodeMirror 6 (YAML mode) with the diagnostics as lint markers. The text
// starts as the config file's source for an admin (GET /api/v1/config/source)
// and as the redacted running config in JSON (which is YAML) for others.
// A preact + htm component; CodeMirror is mounted from a layout effect.
import { html, prender, useLayoutEffect, useRef, useState, api, errorMsg, setParams, fmtTime } from './lib.js';
import { EditorState } from '@codemirror/state';
import { EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection } from '@codemirror/view';
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { syntaxHighlighting, defaultHighlightStyle } from '@codemirror/language';
import { linter, lintGutter, lintKeymap } from '@codemirror/lint';
import { yaml } from '@codemirror/lang-yaml';

// Line diff (longest common subsequence; fine for config-sized texts).
export function lineDiff(a, b) {
  const A = a.split('\n'), B = b.split('\n');
  const n = A.length, m = B.length;
  if (n * m > 4e6) return [{ op: '!', text: 'too large to diff' }];
  const L = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--)
    L[i][j] = A[i] === B[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (A[i] === B[j]) { out.push({ op: ' ', text: A[i] }); i++; j++; }
    else if (L[i + 1][j] >= L[i][j + 1]) out.push({ op: '-', text: A[i++] });
    else out.push({ op: '+', text: B[j++] });
  }
  while (i < n) out.push({ op: '-', text: A[i++] });
  while (j < m) out.push({ op: '+', text: B[j++] });
  return out;
}

// "request:12:5: message" -> {line: 12, col: 5, message}
export function parseDiag(s) {
  const m = /^[^:]*:(\d+):(\d+):\s*(.*)$/.exec(s);
  return m ? { line: +m[1], col: +m[2], message: m[3], text: s } : { line: 0, col: 0, message: s, text: s };
}

// A validator diagnostic as a CodeMirror lint diagnostic: from its
// line:col to the end of that line (clamped to the text).
function toLint(doc, d, severity) {
  const ln = Math.min(Math.max(d.line, 1), doc.lines);
  const line = doc.line(ln);
  const from = Math.min(line.from + Math.max(d.col - 1, 0), line.to);
  return { from, to: Math.max(line.to, from), severity, message: d.text };
}

const Diag = ({ d, cls }) => html`<div class=${'diag ' + cls} data-line=${d.line}>${d.text}</div>`;

function Audit({ a }) {
  if (!a) return null;
  if (a.error) return html`<p class="error">${a.error}</p>`;
  const rows = a.entries || [];
  return html`<table class="grid"><thead><tr>${['time', 'by', 'role', 'result', 'generation', 'bytes'].map(c => html`<th>${c}</th>`)}</tr></thead><tbody>
    ${rows.length ? rows.map(e => html`<tr><td>${fmtTime(e.at_ms)}</td><td>${e.by}</td><td>${e.role}</td>
      <td class=${e.result === 'applied' ? 'ok' : e.result === 'unchanged' ? '' : 'bad'}>${e.result}</td><td class="num">${e.generation}</td><td class="num">${e.bytes}</td></tr>`)
      : html`<tr><td colspan="6" class="muted">no apply since the router started</td></tr>`}</tbody></table>`;
}

function Config({ conf, initial, source, canEdit }) {
  const host = useRef(null);
  const view = useRef(null);
  const [running, setRunning] = useState(initial);
  const [text, setText] = useState(initial);
  const [v, setV] = useState({ state: canEdit ? 'validated as you type' : 'read-only: validating edits needs the operator role', cls: 'muted', valid: false, errs: [], warns: [], error: null });
  const [applied, setApplied] = useState(null); // {busy} | {result} | {error}
  const [audit, setAudit] = useState(null);
  const [dsl, setDsl] = useState('loading…');

  const loadAudit = () => api('/api/v1/config/audit').then(setAudit, e => setAudit({ error: errorMsg(e) }));

  // a layout effect: the editor exists as soon as its host does
  useLayoutEffect(() => {
    let alive = true;
    // The lint source: the text through the router's loader
    // (POST /config/validate); CodeMirror runs it 300 ms after the last
    // edit, drops a stale answer, and shows the result as underlines,
    // gutter markers and tooltips; the list below repeats them as
    // file:line:col.
    async function validate(ed) {
      const doc = ed.state.doc;
      setV(o => Object.assign({}, o, { state: 'validating…', cls: 'muted' }));
      let res;
      try {
        res = await api('/config/validate', { body: doc.toString(), contentType: 'application/yaml' });
      } catch (e) {
        if (alive) setV(o => Object.assign({}, o, { state: '', error: errorMsg(e) }));
        return [];
      }
      if (!alive || ed.state.doc !== doc) return [];
      const errs = (res.errors || []).map(parseDiag), warns = (res.warnings || []).map(parseDiag);
      setV({ state: res.valid ? 'valid' : `${errs.length} error(s)`, cls: res.valid ? 'ok' : 'bad', valid: res.valid, errs, warns, error: null });
      return [...errs.map(e => toLint(doc, e, 'error')), ...warns.map(w => toLint(doc, w, 'warning'))];
    }
    const extensions = [
      lineNumbers(), highlightActiveLineGutter(), history(), drawSelection(), highlightActiveLine(),
      yaml(), syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
      keymap.of([...defaultKeymap, ...historyKeymap, ...lintKeymap]),
      EditorView.updateListener.of(u => {
        if (!u.docChanged) return;
        setText(u.state.doc.toString());
        setV(o => Object.assign({}, o, { valid: false }));
        setParams({ edited: '1' });
      }),
      EditorView.theme({
        '&': { height: '60vh', fontSize: '13px', backgroundColor: '#fff' },
        '.cm-scroller': { fontFamily: 'ui-monospace, monospace' },
        '.cm-gutters': { backgroundColor: '#f1f3f6', color: '#6b7380' },
      }),
    ];
    if (canEdit) extensions.push(linter(validate, { delay: 300 }), lintGutter());
    else extensions.push(EditorState.readOnly.of(true), EditorView.editable.of(false));
    // In a shadow root: there CodeMirror's styles go to a constructed style
    // sheet, which the page's strict CSP (no inline style) allows.
    const el = host.current;
    const shadow = el.shadowRoot || el.attachShadow({ mode: 'open' });
    view.current = new EditorView({ root: shadow, parent: shadow, state: EditorState.create({ doc: initial, extensions }) });
    // the text, for scripts (tests/browser): the host reads like a textarea
    Object.defineProperty(el, 'value', { configurable: true, get: () => view.current.state.doc.toString() });
    loadAudit();
    api('/api/v1/config/dsl', { text: true }).then(t => { if (alive) setDsl(t); }, e => { if (alive) setDsl(e.message); });
    return () => { alive = false; view.current.destroy(); };
  }, []);

  async function doApply() {
    const body = view.current.state.doc.toString();
    setApplied({ busy: true });
    try {
      const r = await api('/api/v1/config/apply', { body, contentType: 'application/yaml' });
      setRunning(body);
      setApplied({ result: r });
    } catch (e) { setApplied({ error: errorMsg(e) }); }
    loadAudit();
  }

  const diff = lineDiff(running, text).filter(x => x.op !== ' ');
  const canApply = canEdit && v.valid && text !== running && !(applied && applied.busy);
  return html`<div class="toolbar"><h2>Config</h2><span class="muted">running generation ${conf.generation}, editing ${source}</span>
      <span id="cfg-state" class=${v.cls}>${v.state}</span>
      ${canEdit ? html`<button id="cfg-apply" disabled=${!canApply} onClick=${doApply}>Apply</button>` : null}</div>
    <div id="cfg-apply-result">${!applied ? null : applied.busy ? html`<p class="muted">applying…</p>` : applied.error ? html`<p class="error">${applied.error}</p>`
      : html`<p class="ok" id="cfg-applied">${applied.result.result}: generation ${applied.result.generation}. <a href="#/topology">see the topology</a></p>`}</div>
    <div class="editor" id="cfg-editor" ref=${host}></div>
    <div id="cfg-diags">${v.error ? html`<p class="error">${v.error}</p>` : null}${v.errs.map(d => html`<${Diag} d=${d} cls="error" />`)}${v.warns.map(d => html`<${Diag} d=${d} cls="warning" />`)}</div>
    <h3>diff against the running config</h3>
    <pre class="diff" id="cfg-diff">${diff.length ? diff.map(x => html`<span class=${x.op === '+' ? 'add' : 'del'}>${x.op + ' ' + x.text + '\n'}</span>`) : 'no change from the running config'}</pre>
    <p class="muted">Apply writes the text over the config file and reloads it atomically (the same path as a file change or SIGHUP); a config the reload rejects leaves the file and the running config as they were.</p>
    <h3>applied from here</h3><div id="cfg-audit"><${Audit} a=${audit} /></div>
    <h3>the running routing as DSL</h3><pre class="json" id="cfg-dsl">${dsl}</pre>`;
}

export async function render(main, ctx) {
  const conf = await api('/config');
  let initial = JSON.stringify(conf.config, null, 2);
  let source = 'the running config (JSON, secrets redacted)';
  if (ctx.can('admin')) {
    try { initial = await api('/api/v1/config/source', { text: true }); source = 'the config file'; } catch (_) { /* no file watch */ }
  }
  prender(html`<${Config} conf=${conf} initial=${initial} source=${source} canEdit=${ctx.can('operator')} />`, main);
  return () => prender(null, main);
}
