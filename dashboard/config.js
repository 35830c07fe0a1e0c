// config.js - the Config page: the running config and an editor validated
// as you type through the real loader (POST /config/validate, operator),
// its diagnostics at file:line:col with the line marked, a line diff
// against the running config, Apply through the atomic reload path
// (POST /api/v1/config/apply, operator), the audit of applies, and the
// running routing decompiled to the DSL (GET /api/v1/config/dsl). The text
// starts as the config file's source for an admin (GET /api/v1/config/source)
// and as the redacted running config in JSON (which is YAML) for others.
import { el, api, errorBox, setParams, fmtTime, table } from './lib.js';

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

export async function render(main, ctx) {
  const conf = await api('/config');
  let running = JSON.stringify(conf.config, null, 2);
  let source = 'the running config (JSON, secrets redacted)';
  if (ctx.can('admin')) {
    try { running = await api('/api/v1/config/source', { text: true }); source = 'the config file'; } catch (_) { /* no file watch */ }
  }
  const canEdit = ctx.can('operator');
  const editor = el('textarea', { id: 'cfg-editor', spellcheck: 'false', wrap: 'off', rows: 30, readonly: !canEdit });
  editor.value = running;
  const gutter = el('pre', { class: 'gutter', id: 'cfg-gutter' });
  const diags = el('div', { id: 'cfg-diags' });
  const diffBox = el('pre', { class: 'diff', id: 'cfg-diff' });
  const state = el('span', { id: 'cfg-state', class: 'muted' }, canEdit ? 'validated as you type' : 'read-only: validating edits needs the operator role');
  let timer = null, seq = 0, bad = new Set(), valid = false;
  const apply = el('button', { id: 'cfg-apply', disabled: true, onclick: () => doApply() }, 'Apply');
  const applyResult = el('div', { id: 'cfg-apply-result' });
  const audit = el('div', { id: 'cfg-audit' });
  const dslBox = el('pre', { class: 'json', id: 'cfg-dsl' }, 'loading…');

  function canApply() { apply.disabled = !(canEdit && valid && editor.value !== running); }

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
    try {
      const r = await api('/api/v1/config/apply', { body: editor.value, contentType: 'application/yaml' });
      running = editor.value;
      applyResult.replaceChildren(el('p', { class: 'ok', id: 'cfg-applied' }, `${r.result}: generation ${r.generation}. `, el('a', { href: '#/topology' }, 'see the topology')));
    } catch (e) {
      applyResult.replaceChildren(errorBox(e));
    }
    drawDiff(); canApply(); loadAudit();
  }

  function drawGutter() {
    const n = editor.value.split('\n').length;
    const lines = [];
    for (let i = 1; i <= n; i++) lines.push(el('span', { class: bad.has(i) ? 'bad' : '' }, String(i) + '\n'));
    gutter.replaceChildren(...lines);
    gutter.scrollTop = editor.scrollTop;
  }

  function drawDiff() {
    const d = lineDiff(running, editor.value).filter(x => x.op !== ' ');
    diffBox.replaceChildren(...(d.length ? d.map(x => el('span', { class: x.op === '+' ? 'add' : 'del' }, x.op + ' ' + x.text + '\n')) : ['no change from the running config']));
  }

  async function validate() {
    const my = ++seq;
    state.textContent = 'validating…';
    try {
      const v = await api('/config/validate', { body: editor.value, contentType: 'application/yaml' });
      if (my !== seq) return;
      const errs = (v.errors || []).map(parseDiag), warns = (v.warnings || []).map(parseDiag);
      bad = new Set(errs.map(e => e.line));
      state.textContent = v.valid ? 'valid' : `${errs.length} error(s)`;
      state.className = v.valid ? 'ok' : 'bad';
      valid = v.valid; canApply();
      diags.replaceChildren(...errs.map(e => el('div', { class: 'diag error', 'data-line': e.line }, e.text)),
        ...warns.map(w => el('div', { class: 'diag warning', 'data-line': w.line }, w.text)));
    } catch (e) { if (my === seq) { state.textContent = ''; diags.replaceChildren(errorBox(e)); } }
    drawGutter();
  }

  editor.addEventListener('input', () => {
    valid = false; canApply();
    drawGutter(); drawDiff();
    setParams({ edited: '1' });
    if (!canEdit) return;
    clearTimeout(timer);
    timer = setTimeout(validate, 300);
  });
  editor.addEventListener('scroll', () => { gutter.scrollTop = editor.scrollTop; });
  main.append(el('div', { class: 'toolbar' }, el('h2', {}, 'Config'), el('span', { class: 'muted' }, `running generation ${conf.generation}, editing ${source}`), state, canEdit ? apply : null),
    applyResult, el('div', { class: 'editor' }, gutter, editor), diags,
    el('h3', {}, 'diff against the running config'), diffBox,
    el('p', { class: 'muted' }, 'Apply writes the text over the config file and reloads it atomically (the same path as a file change or SIGHUP); a config the reload rejects leaves the file and the running config as they were.'),
    el('h3', {}, 'applied from here'), audit,
    el('h3', {}, 'the running routing as DSL'), dslBox);
  drawGutter(); drawDiff(); loadAudit();
  if (canEdit) validate(); // the running text's own diagnostics (warnings)
  api('/api/v1/config/dsl', { text: true }).then(t => dslBox.replaceChildren(t), e => dslBox.replaceChildren(e.message));
  return () => clearTimeout(timer);
}
