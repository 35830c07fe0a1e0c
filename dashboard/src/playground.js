// playground.js - the Playground page: a prompt or a full chat request
// (or a Messages / Responses body, turned into the chat IR the router routes
// on) through POST /api/v1/eval (operator; no upstream call, no session write),
// optionally starting from a session state, and what the router would do:
// matched signals with confidences, the decision trace, the selection's
// scores, the session policy's candidate terms and verdict, and the request
// as the decision's plugins would send it upstream. State in the
// URL: prompt or request, the session fields, headers.
import { el, api, setParams, errorBox, table, fmtNum, pre } from './lib.js';

const SESSION_FIELDS = [['model', 'current model'], ['decision', 'last decision'], ['turns', 'turns so far'], ['idle_seconds', 'idle seconds'], ['switches', 'switches so far']];
const TERMS = ['base', 'quality_gap', 'downgrade_credit', 'handoff_penalty', 'prefix_benefit', 'prefix_penalty', 'history_penalty', 'switch_margin', 'stay_bias', 'tool_loop_term', 'checkout_multiplier', 'final', 'net_switch_advantage'];

function traceNode(n) {
  if (!n) return null;
  const label = n.kind === 'leaf' ? n.signal + (n.label ? ` (${n.label})` : '') : n.kind;
  const state = n.error ? 'error: ' + n.error : n.skipped ? 'skipped' : n.matched ? 'matched' : 'no match';
  return el('li', { class: n.matched ? 'yes' : 'no' }, el('span', {}, label), ' ', el('span', { class: 'muted' }, `${state}, confidence ${fmtNum(n.confidence)}`),
    n.children && n.children.length ? el('ul', {}, n.children.map(traceNode)) : null);
}

export function renderEval(ev) {
  const out = [];
  const d = ev.decision || {};
  out.push(el('div', { class: 'cards' },
    el('div', { class: 'card' }, el('div', { class: 'label' }, 'decision'), el('div', { class: 'value', id: 'pg-decision' }, d.name || 'none'),
      el('div', { class: 'muted' }, `${d.outcome || ''} ${d.strategy ? 'by ' + d.strategy : ''}, confidence ${fmtNum(d.confidence)}`)),
    el('div', { class: 'card' }, el('div', { class: 'label' }, 'model'), el('div', { class: 'value', id: 'pg-model' }, ev.model || 'none'),
      el('div', { class: 'muted' }, `${ev.algorithm || ''}${ev.passthrough ? ' (passthrough)' : ''}`)),
    el('div', { class: 'card' }, el('div', { class: 'label' }, 'session verdict'), el('div', { class: 'value', id: 'pg-reason' }, (ev.session && ev.session.reason) || '–'),
      el('div', { class: 'muted' }, ev.session ? `${ev.session.switched ? 'switched' : 'stayed'}, lock ${ev.session.hard_lock}` : '')),
    el('div', { class: 'card' }, el('div', { class: 'label' }, 'status'), el('div', { class: 'value' }, ev.status || ''),
      el('div', { class: 'muted' }, `routing ${ev.routing_us ?? '–'} µs`))));
  out.push(el('h3', {}, 'signals'), table(['signal', 'matched', 'confidence', 'value', 'µs'],
    (ev.signals || []).map(s => el('tr', { class: s.matched ? 'yes' : '' }, el('td', {}, `${s.family}:${s.name}`), el('td', {}, s.matched ? 'yes' : 'no'),
      el('td', { class: 'num' }, fmtNum(s.score, 3)), el('td', { class: 'num' }, fmtNum(s.value, 3)), el('td', { class: 'num' }, s.latency_us ?? ''))), { empty: 'no signal evaluated' }));
  const tr = ev.trace || {};
  out.push(el('h3', {}, 'decision trace'), el('p', { class: 'muted' }, `ranking: ${(tr.ranking || []).join(' > ') || '–'}`),
    el('ul', { class: 'trace', id: 'pg-trace' }, (tr.trace || []).map(t => el('li', { class: t.matched ? 'yes' : 'no' },
      el('b', {}, t.name), ' ', el('span', { class: 'muted' }, `${t.matched ? 'matched' : 'no match'}, confidence ${fmtNum(t.confidence)}${t.catch_all ? ', catch-all' : ''}`),
      t.root ? el('ul', {}, traceNode(t.root)) : null))));
  const sel = ev.selection || {};
  out.push(el('h3', {}, `selection: ${sel.used || sel.algorithm || '–'}`), table(['model', 'score'],
    Object.entries(sel.scores || {}).sort((a, b) => b[1] - a[1]).map(([m, v]) => el('tr', { class: m === sel.best ? 'yes' : '' }, el('td', {}, m), el('td', { class: 'num' }, fmtNum(v, 4))))));
  const s = ev.session;
  if (s) {
    out.push(el('h3', {}, 'session policy'), el('p', {}, `identity ${s.identity_source} (${s.identity_confidence}), turn ${s.turn}, previous model ${s.previous_model || '–'}, `,
      `idle ${s.idle_for_s < 0 ? '–' : fmtNum(s.idle_for_s) + ' s'}, continuation mass ${fmtNum(s.continuation_mass, 3)}, cache warmth ${fmtNum(s.cache_warmth, 3)}`,
      s.idle_reset ? ', idle reset' : '', s.drift_reset ? ', drift reset' : '', s.current_not_in_candidates ? ', current model not among the candidates' : ''));
    out.push(el('div', { class: 'scroll' }, table(['model', 'admissible', 'available', ...TERMS], (s.candidates || []).map(c =>
      el('tr', { class: c.model === ev.model ? 'yes' : '' }, el('td', {}, c.model), el('td', {}, c.admissible ? 'yes' : 'no'), el('td', {}, c.available ? 'yes' : 'no'),
        TERMS.map(t => el('td', { class: 'num' }, fmtNum(c[t], 3))))), { class: 'grid terms', empty: 'no candidates' })));
  }
  const rw = ev.rewritten;
  if (rw) {
    out.push(el('h3', {}, 'rewritten request'), el('p', { class: 'muted', id: 'pg-applied' },
      `to ${rw.upstream_model}; plugins that changed it: ${(rw.applied || []).join(', ') || 'none'}`,
      (rw.warnings || []).length ? `; warnings: ${rw.warnings.join('; ')}` : ''));
    if (rw.ends_here) {
      out.push(el('p', {}, `The request ends in the router (status ${rw.status}${rw.fast_response ? ', fast_response' : ''}):`), pre(rw.reply));
    } else {
      out.push(el('pre', { class: 'json', id: 'pg-rewritten' }, JSON.stringify(rw.body, null, 2)));
      const ops = [...(rw.upstream_headers || []).map(h => ['upstream', h]), ...(rw.response_headers || []).map(h => ['response', h])];
      if (ops.length) out.push(table(['headers', 'op', 'name', 'value'], ops.map(([w, h]) => el('tr', {}, el('td', {}, w), el('td', {}, h.op), el('td', {}, h.name), el('td', {}, h.value ?? '')))));
    }
  }
  out.push(el('details', {}, el('summary', {}, 'full eval JSON'), pre(ev)));
  return out;
}

export async function render(main, ctx) {
  const p = ctx.params;
  const endpoint = p.request ? (p.endpoint || 'chat') : 'prompt';
  const mode = el('select', { id: 'pg-mode' }, [['prompt', 'prompt'], ['chat', 'chat completions JSON'], ['messages', 'Anthropic Messages JSON'], ['responses', 'Responses JSON']]
    .map(([v, label]) => el('option', { value: v, selected: v === endpoint }, label)));
  const input = el('textarea', { id: 'pg-input', rows: 6, placeholder: 'a user message, or a request body (chat completions, Messages or Responses)' });
  input.value = p.request || p.prompt || '';
  const headers = el('input', { id: 'pg-headers', type: 'text', placeholder: '{"x-session-id": "abc"}', value: p.headers || '' });
  const sess = {};
  const sessBox = el('fieldset', { class: 'session' }, el('legend', {}, 'session state (optional)'), SESSION_FIELDS.map(([k, label]) => {
    sess[k] = el('input', { type: k === 'model' || k === 'decision' ? 'text' : 'number', name: k, value: p['s_' + k] || '', step: 'any' });
    return el('label', {}, label, ' ', sess[k]);
  }));
  const out = el('div', { id: 'pg-result' });
  const run = el('button', { type: 'submit', id: 'pg-run', disabled: !ctx.can('operator') }, 'Evaluate');

  async function submit() {
    const text = input.value;
    let request;
    const isJson = mode.value !== 'prompt';
    const state = { prompt: isJson ? '' : text, request: isJson ? text : '', endpoint: isJson && mode.value !== 'chat' ? mode.value : '', headers: headers.value };
    for (const k of Object.keys(sess)) state['s_' + k] = sess[k].value;
    setParams(state, false);
    try {
      request = isJson ? JSON.parse(text) : { model: 'auto', messages: [{ role: 'user', content: text }] };
    } catch (e) { out.replaceChildren(el('p', { class: 'error' }, 'The request is not valid JSON: ' + e.message)); return; }
    const body = { request };
    if (isJson && mode.value !== 'chat') body.endpoint = mode.value;
    if (headers.value.trim()) {
      try { body.headers = JSON.parse(headers.value); } catch (e) { out.replaceChildren(el('p', { class: 'error' }, 'Headers are not a JSON object: ' + e.message)); return; }
    }
    const session = {};
    for (const [k] of SESSION_FIELDS) {
      const v = sess[k].value.trim();
      if (v !== '') session[k] = k === 'model' || k === 'decision' ? v : Number(v);
    }
    if (Object.keys(session).length) body.session = session;
    out.replaceChildren(el('p', { class: 'muted' }, 'evaluating…'));
    try { out.replaceChildren(...renderEval(await api('/api/v1/eval', { body }))); } catch (e) { out.replaceChildren(errorBox(e)); }
  }

  main.append(el('h2', {}, 'Playground'),
    el('form', { class: 'panel', onsubmit: ev => { ev.preventDefault(); submit(); } },
      el('div', { class: 'toolbar' }, el('label', {}, 'send ', mode), run,
        ctx.can('operator') ? el('span', { class: 'muted' }, 'nothing is sent upstream and no session memory is written') : el('span', { class: 'muted' }, 'evaluating needs the operator role')),
      input, el('label', {}, 'headers ', headers), sessBox),
    out);
  if (input.value && ctx.can('operator')) await submit();
}
