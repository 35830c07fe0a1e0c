// config.js - the Config page: the running config and an editor validated
// as you type through the real loader (POST /config/validate, operator),
// its diagnostics at file:line:col with the line marked, a line diff
// against the running config, Apply through the atomic reload path
// (POST /api/v1/config/apply, operator), the audit of applies, and the
// running routing decompiled to the DSL (GET /api/v1/config/dsl). The editor
// is CodeMirror 6 (YAML mode) with the diagnostics as lint markers. The text
// starts as the config file's source for an admin (GET /api/v1/config/source)
// and as the redacted running config in JSON (which is YAML) for others.
import { el, api, errorBox, setParams, fmtTime, table } from './lib.js';
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

export async function render(main, ctx) {
  const conf = await api('/config');
  let running = JSON.stringify(conf.config, null, 2);
  let source = 'the running config (JSON, secrets redacted)';
  if (ctx.can('admin')) {
    try { running = await api('/api/v1/config/source', { text: true }); source = 'the config file'; } catch (_) { /* no file watch */ }
  }
  const canEdit = ctx.can('operator');
  const host = el('div', { class: 'editor', id: 'cfg-editor' });
  const diags = el('div', { id: 'cfg-diags' });
  const diffBox = el('pre', { class: 'diff', id: 'cfg-diff' });
  const state = el('span', { id: 'cfg-state', class: 'muted' }, canEdit ? 'validated as you type' : 'read-only: validating edits needs the operator role');
  let valid = false, alive = true;
  const apply = el('button', { id: 'cfg-apply', disabled: true, onclick: () => doApply() }, 'Apply');
  const applyResult = el('div', { id: 'cfg-apply-result' });
  const audit = el('div', { id: 'cfg-audit' });
  const dslBox = el('pre', { class: 'json', id: 'cfg-dsl' }, 'loading…');
  let view = null;
  const text = () => view.state.doc.toString();

  function canApply() { apply.disabled = !(canEdit && valid && text() !== running); }

  async function loadAudit() {
    try {
      const a = await api('/api/v1/config/audit');
      audit.replaceChildren(table(['time', 'by', 'role', 'result', 'generation', 'bytes'], (a.entries || []).map(e =>
        el('tr', {}, el('td', {}, fmtTime(e.at_ms)), el('td', {}, e.by), el('td', {}, e.role), el('td', { class: e.result === 'applied' ? 'ok' : e.result === 'unchanged' ? '' : 'bad' }, e.result),
          el('td', { class: 'num' }, e.generation), el('td', { class: 'num' }, e.bytes))), { empty: 'no apply since the router started' }));
    } catch (e) { audit.replaceChildren(errorBox(e)); }
  }

  async function doApply() {
    apply.disabled = true;
    applyResult.replaceChildren(el('p', { class: 'muted' }, 'applying…'));
    const body = text();
    try {
      const r = await api('/api/v1/config/apply', { body, contentType: 'application/yaml' });
      running = body;
      applyResult.replaceChildren(el('p', { class: 'ok', id: 'cfg-applied' }, `${r.result}: generation ${r.generation}. `, el('a', { href: '#/topology' }, 'see the topology')));
    } catch (e) {
      applyResult.replaceChildren(errorBox(e));
    }
    drawDiff(); canApply(); loadAudit();
  }

  function drawDiff() {
    const d = lineDiff(running, text()).filter(x => x.op !== ' ');
    diffBox.replaceChildren(...(d.length ? d.map(x => el('span', { class: x.op === '+' ? 'add' : 'del' }, x.op + ' ' + x.text + '\n')) : ['no change from the running config']));
  }

  // The lint source: the text through the router's loader
  // (POST /config/validate); CodeMirror runs it 300 ms after the last
  // edit, drops a stale answer, and shows the result as underlines, gutter
  // markers and tooltips; the list below repeats them as file:line:col.
  async function validate(v) {
    const doc = v.state.doc;
    state.textContent = 'validating…';
    state.className = 'muted';
    let res;
    try {
      res = await api('/config/validate', { body: doc.toString(), contentType: 'application/yaml' });
    } catch (e) {
      if (alive) { state.textContent = ''; diags.replaceChildren(errorBox(e)); }
      return [];
    }
    if (!alive || v.state.doc !== doc) return [];
    const errs = (res.errors || []).map(parseDiag), warns = (res.warnings || []).map(parseDiag);
    state.textContent = res.valid ? 'valid' : `${errs.length} error(s)`;
    state.className = res.valid ? 'ok' : 'bad';
    valid = res.valid; canApply();
    diags.replaceChildren(...errs.map(e => el('div', { class: 'diag error', 'data-line': e.line }, e.text)),
      ...warns.map(w => el('div', { class: 'diag warning', 'data-line': w.line }, w.text)));
    return [...errs.map(e => toLint(doc, e, 'error')), ...warns.map(w => toLint(doc, w, 'warning'))];
  }

  const extensions = [
    lineNumbers(), highlightActiveLineGutter(), history(), drawSelection(), highlightActiveLine(),
    yaml(), syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
    keymap.of([...defaultKeymap, ...historyKeymap, ...lintKeymap]),
    EditorView.updateListener.of(u => {
      if (!u.docChanged) return;
      valid = false; canApply(); drawDiff();
      setParams({ edited: '1' });
    }),
  ];
  if (canEdit) extensions.push(linter(validate, { delay: 300 }), lintGutter());
  else extensions.push(EditorState.readOnly.of(true), EditorView.editable.of(false));
  // In a shadow root: there CodeMirror's styles go to a constructed style
  // sheet, which the page's strict CSP (no inline style) allows.
  const shadow = host.attachShadow({ mode: 'open' });
  extensions.push(EditorView.theme({
    '&': { height: '60vh', fontSize: '13px', backgroundColor: '#fff' },
    '.cm-scroller': { fontFamily: 'ui-monospace, monospace' },
    '.cm-gutters': { backgroundColor: '#f1f3f6', color: '#6b7380' },
  }));
  view = new EditorView({ root: shadow, parent: shadow, state: EditorState.create({ doc: running, extensions }) });
  // the text, for scripts (tests/browser): the host reads like a textarea
  Object.defineProperty(host, 'value', { get: text });

  main.append(el('div', { class: 'toolbar' }, el('h2', {}, 'Config'), el('span', { class: 'muted' }, `running generation ${conf.generation}, editing ${source}`), state, canEdit ? apply : null),
    applyResult, host, diags,
    el('h3', {}, 'diff against the running config'), diffBox,
    el('p', { class: 'muted' }, 'Apply writes the text over the config file and reloads it atomically (the same path as a file change or SIGHUP); a config the reload rejects leaves the file and the running config as they were.'),
    el('h3', {}, 'applied from here'), audit,
    el('h3', {}, 'the running routing as DSL'), dslBox);
  drawDiff(); loadAudit();
  api('/api/v1/config/dsl', { text: true }).then(t => dslBox.replaceChildren(t), e => dslBox.replaceChildren(e.message));
  return () => { alive = false; view.destroy(); };
}
