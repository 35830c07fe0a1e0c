// playground.js - the Playground page: a prompt or a full chat request
// (or a Messages / Responses body, turned into the chat IR the router routes
// on) through POST /api/v1/eval (operator; no upstream call, no session write),
// optionally starting from a session state, and what the router would do:
// matched signals with confidences, the decision trace, the selection's
// scores, the session policy's candidate terms and verdict, and the request
// as the decision's plugins would send it upstream. State in the
// URL: prompt or request, the session fields, headers. Preact + htm.
import { html, prender, useEffect, useState, api, setParams, errorMsg, fmtNum } from './lib.js';

const SESSION_FIELDS = [['model', 'current model'], ['decision', 'last decision'], ['turns', 'turns so far'], ['idle_seconds', 'idle seconds'], ['switches', 'switches so far']];
const TERMS = ['base', 'quality_gap', 'downgrade_credit', 'handoff_penalty', 'prefix_benefit', 'prefix_penalty', 'history_penalty', 'switch_margin', 'stay_bias', 'tool_loop_term', 'checkout_multiplier', 'final', 'net_switch_advantage'];

const Num = ({ v, d }) => html`<td class="num">${fmtNum(v, d)}</td>`;

function Table({ cols, rows, empty, cls }) {
  return html`<table class=${cls || 'grid'}><thead><tr>${cols.map(c => html`<th>${c}</th>`)}</tr></thead>
    <tbody>${rows.length ? rows : html`<tr><td colspan=${cols.length} class="muted">${empty || 'none'}</td></tr>`}</tbody></table>`;
}

const Json = ({ v, id }) => html`<pre class="json" id=${id}>${typeof v === 'string' ? v : JSON.stringify(v, null, 2)}</pre>`;

function TraceNode({ n }) {
  if (!n) return null;
  const label = n.kind === 'leaf' ? n.signal + (n.label ? ` (${n.label})` : '') : n.kind;
  const state = n.error ? 'error: ' + n.error : n.skipped ? 'skipped' : n.matched ? 'matched' : 'no match';
  return html`<li class=${n.matched ? 'yes' : 'no'}><span>${label}</span> <span class="muted">${state}, confidence ${fmtNum(n.confidence)}</span>
    ${n.children && n.children.length ? html`<ul>${n.children.map(c => html`<${TraceNode} n=${c} />`)}</ul>` : null}</li>`;
}

const Card = ({ label, id, value, note }) => html`<div class="card"><div class="label">${label}</div><div class="value" id=${id}>${value}</div><div class="muted">${note}</div></div>`;

// What the router would do with the request: one eval result.
export function EvalResult({ ev }) {
  const d = ev.decision || {};
  const tr = ev.trace || {};
  const sel = ev.selection || {};
  const s = ev.session;
  const rw = ev.rewritten;
  const ops = rw ? [...(rw.upstream_headers || []).map(h => ['upstream', h]), ...(rw.response_headers || []).map(h => ['response', h])] : [];
  return html`
    <div class="cards">
      <${Card} label="decision" id="pg-decision" value=${d.name || 'none'} note=${`${d.outcome || ''} ${d.strategy ? 'by ' + d.strategy : ''}, confidence ${fmtNum(d.confidence)}`} />
      <${Card} label="model" id="pg-model" value=${ev.model || 'none'} note=${`${ev.algorithm || ''}${ev.passthrough ? ' (passthrough)' : ''}`} />
      <${Card} label="session verdict" id="pg-reason" value=${(s && s.reason) || '–'} note=${s ? `${s.switched ? 'switched' : 'stayed'}, lock ${s.hard_lock}` : ''} />
      <${Card} label="status" value=${ev.status || ''} note=${`routing ${ev.routing_us ?? '–'} µs`} />
    </div>
    <h3>signals</h3>
    <${Table} cols=${['signal', 'matched', 'confidence', 'value', 'µs']} empty="no signal evaluated" rows=${(ev.signals || []).map(x => html`
      <tr class=${x.matched ? 'yes' : ''}><td>${x.family}:${x.name}</td><td>${x.matched ? 'yes' : 'no'}</td><${Num} v=${x.score} d=${3} /><${Num} v=${x.value} d=${3} /><td class="num">${x.latency_us ?? ''}</td></tr>`)} />
    <h3>decision trace</h3>
    <p class="muted">ranking: ${(tr.ranking || []).join(' > ') || '–'}</p>
    <ul class="trace" id="pg-trace">${(tr.trace || []).map(t => html`<li class=${t.matched ? 'yes' : 'no'}><b>${t.name}</b> <span class="muted">${t.matched ? 'matched' : 'no match'}, confidence ${fmtNum(t.confidence)}${t.catch_all ? ', catch-all' : ''}</span>
      ${t.root ? html`<ul><${TraceNode} n=${t.root} /></ul>` : null}</li>`)}</ul>
    <h3>selection: ${sel.used || sel.algorithm || '–'}</h3>
    <${Table} cols=${['model', 'score']} rows=${Object.entries(sel.scores || {}).sort((a, b) => b[1] - a[1]).map(([m, v]) => html`<tr class=${m === sel.best ? 'yes' : ''}><td>${m}</td><${Num} v=${v} d=${4} /></tr>`)} />
    ${s ? html`<h3>session policy</h3>
      <p>identity ${s.identity_source} (${s.identity_confidence}), turn ${s.turn}, previous model ${s.previous_model || '–'}, idle ${s.idle_for_s < 0 ? '–' : fmtNum(s.idle_for_s) + ' s'}, continuation mass ${fmtNum(s.continuation_mass, 3)}, cache warmth ${fmtNum(s.cache_warmth, 3)}${s.idle_reset ? ', idle reset' : ''}${s.drift_reset ? ', drift reset' : ''}${s.current_not_in_candidates ? ', current model not among the candidates' : ''}</p>
      <div class="scroll"><${Table} cls="grid terms" cols=${['model', 'admissible', 'available', ...TERMS]} empty="no candidates" rows=${(s.candidates || []).map(c => html`
        <tr class=${c.model === ev.model ? 'yes' : ''}><td>${c.model}</td><td>${c.admissible ? 'yes' : 'no'}</td><td>${c.available ? 'yes' : 'no'}</td>${TERMS.map(t => html`<${Num} v=${c[t]} d=${3} />`)}</tr>`)} /></div>` : null}
    ${rw ? html`<h3>rewritten request</h3>
      <p class="muted" id="pg-applied">to ${rw.upstream_model}; plugins that changed it: ${(rw.applied || []).join(', ') || 'none'}${(rw.warnings || []).length ? `; warnings: ${rw.warnings.join('; ')}` : ''}</p>
      ${rw.ends_here ? html`<p>The request ends in the router (status ${rw.status}${rw.fast_response ? ', fast_response' : ''}):</p><${Json} v=${rw.reply} />`
        : html`<${Json} id="pg-rewritten" v=${rw.body} />
          ${ops.length ? html`<${Table} cols=${['headers', 'op', 'name', 'value']} rows=${ops.map(([w, h]) => html`<tr><td>${w}</td><td>${h.op}</td><td>${h.name}</td><td>${h.value ?? ''}</td></tr>`)} />` : null}`}` : null}
    <details><summary>full eval JSON</summary><${Json} v=${ev} /></details>`;
}

// The page: the form (its state in the URL) and the result.
function Playground({ params: p, canEval }) {
  const [mode, setMode] = useState(p.request ? (p.endpoint || 'chat') : 'prompt');
  const [text, setText] = useState(p.request || p.prompt || '');
  const [headers, setHeaders] = useState(p.headers || '');
  const [sess, setSess] = useState(Object.fromEntries(SESSION_FIELDS.map(([k]) => [k, p['s_' + k] || ''])));
  const [res, setRes] = useState(null); // {ev} | {error} | {busy}

  async function submit(ev) {
    if (ev) ev.preventDefault();
    const isJson = mode !== 'prompt';
    const state = { prompt: isJson ? '' : text, request: isJson ? text : '', endpoint: isJson && mode !== 'chat' ? mode : '', headers };
    for (const [k] of SESSION_FIELDS) state['s_' + k] = sess[k];
    setParams(state, false);
    let request;
    try {
      request = isJson ? JSON.parse(text) : { model: 'auto', messages: [{ role: 'user', content: text }] };
    } catch (e) { setRes({ error: 'The request is not valid JSON: ' + e.message }); return; }
    const body = { request };
    if (isJson && mode !== 'chat') body.endpoint = mode;
    if (headers.trim()) {
      try { body.headers = JSON.parse(headers); } catch (e) { setRes({ error: 'Headers are not a JSON object: ' + e.message }); return; }
    }
    const session = {};
    for (const [k] of SESSION_FIELDS) {
      const v = String(sess[k]).trim();
      if (v !== '') session[k] = k === 'model' || k === 'decision' ? v : Number(v);
    }
    if (Object.keys(session).length) body.session = session;
    setRes({ busy: true });
    try { setRes({ ev: await api('/api/v1/eval', { body }) }); } catch (e) { setRes({ error: errorMsg(e) }); }
  }
  useEffect(() => { if (text && canEval) submit(); }, []);

  return html`<h2>Playground</h2>
    <form class="panel" onSubmit=${submit}>
      <div class="toolbar"><label>send <select id="pg-mode" value=${mode} onChange=${e => setMode(e.target.value)}>
          ${MODES.map(([v, label]) => html`<option value=${v}>${label}</option>`)}</select></label>
        <button type="submit" id="pg-run" disabled=${!canEval}>Evaluate</button>
        <span class="muted">${canEval ? 'nothing is sent upstream and no session memory is written' : 'evaluating needs the operator role'}</span></div>
      <textarea id="pg-input" rows="6" placeholder="a user message, or a request body (chat completions, Messages or Responses)" value=${text} onInput=${e => setText(e.target.value)}></textarea>
      <label>headers <input id="pg-headers" type="text" placeholder='{"x-session-id": "abc"}' value=${headers} onInput=${e => setHeaders(e.target.value)} /></label>
      <fieldset class="session"><legend>session state (optional)</legend>
        ${SESSION_FIELDS.map(([k, label]) => html`<label>${label} <input type=${k === 'model' || k === 'decision' ? 'text' : 'number'} name=${k} step="any" value=${sess[k]}
          onInput=${e => { const v = e.target.value; setSess(o => Object.assign({}, o, { [k]: v })); }} /></label>`)}
      </fieldset>
    </form>
    <div id="pg-result">${!res ? null : res.busy ? html`<p class="muted">evaluating…</p>` : res.error ? html`<p class="error">${res.error}</p>` : html`<${EvalResult} ev=${res.ev} />`}</div>`;
}

const MODES = [['prompt', 'prompt'], ['chat', 'chat completions JSON'], ['messages', 'Anthropic Messages JSON'], ['responses', 'Responses JSON']];

export async function render(main, ctx) {
  prender(html`<${Playground} params=${ctx.params} canEval=${ctx.can('operator')} />`, main);
  return () => prender(null, main);
}
