// sessions.js - the Sessions and replay pages on the replay API
// (docs/replay.md; fields beyond the documented ones are ignored, missing
// ones show as –): a search over records (session, model, decision,
// reason, since), one session's timeline turn by turn joined with its full
// records (policy reason, lock, switch economics, tokens, cost, latency),
// and one record in full (#/record?id=rr_...; bodies for admin only).
// Preact + htm components.
import { html, prender, useEffect, useState, api, link, setParams, errorMsg, fmtNum } from './lib.js';

const FILTERS = ['session_id', 'model', 'decision', 'reason', 'since'];

const sess = r => r.session || {};
const reasonOf = r => sess(r).reason || r.reason || '';
const lockOf = r => sess(r).hard_lock || r.hard_lock || '';
const sessionOf = r => sess(r).id || r.session_id || '';
const turnOf = r => sess(r).turn ?? r.turn ?? '';
const timeOf = r => (r.created_at || r.time || '').replace('T', ' ').replace(/\.\d+Z$/, 'Z');

function Table({ cols, rows, empty, cls, id }) {
  return html`<table class=${cls || 'grid'} id=${id}><thead><tr>${cols.map(c => html`<th>${c}</th>`)}</tr></thead>
    <tbody>${rows.length ? rows : html`<tr><td colspan=${cols.length} class="muted">${empty || 'none'}</td></tr>`}</tbody></table>`;
}

const Json = ({ v }) => html`<pre class="json">${JSON.stringify(v, null, 2)}</pre>`;
const Card = ({ label, value, note }) => html`<div class="card"><div class="label">${label}</div><div class="value">${value}</div>${note !== undefined ? html`<div class="muted">${note}</div>` : null}</div>`;
const Err = ({ e }) => (e ? html`<p class="error">${errorMsg(e)}</p>` : null);

function RecordRow({ r }) {
  const sid = sessionOf(r);
  const switched = sess(r).switched || r.switched;
  return html`<tr class=${switched ? 'switch' : ''}>
    <td>${timeOf(r)}</td><td>${sid ? html`<a href=${link('sessions', { session: sid })}>${sid}</a>` : '–'}</td>
    <td class="num">${turnOf(r)}</td><td>${r.decision || '–'}</td><td>${r.model || '–'}</td><td>${reasonOf(r) || '–'}</td>
    <td>${switched ? 'switch' : ''}</td><td><a href=${link('record', { id: r.id })}>${r.id}</a></td></tr>`;
}

// The search: filters (in the URL), the sessions of the found records and
// the records, 50 a page.
function Search({ p }) {
  const [q, setQ] = useState(Object.fromEntries(FILTERS.map(f => [f, p[f] || ''])));
  const [res, setRes] = useState({ records: [], cursor: '', done: false, err: null });
  async function load(cursor, prev) {
    const u = new URLSearchParams();
    for (const f of FILTERS) if (p[f]) u.set(f, p[f]);
    u.set('limit', '50');
    if (cursor) u.set('cursor', cursor);
    try {
      const r = await api('/v1/router_replay?' + u.toString());
      setRes({ records: [...prev, ...(r.records || [])], cursor: r.next_cursor || '', done: true, err: null });
    } catch (e) { setRes(o => Object.assign({}, o, { done: true, err: e })); }
  }
  useEffect(() => { load('', []); }, []);
  const submit = ev => {
    ev.preventDefault();
    const o = {};
    for (const f of FILTERS) o[f] = q[f].trim();
    location.hash = link('sessions', o);
  };
  const seen = new Map(); // session id -> {n, switches, last record}
  for (const r of res.records) {
    const sid = sessionOf(r);
    if (!sid) continue;
    const v = seen.get(sid) || { n: 0, switches: 0, last: r };
    v.n++;
    if (sess(r).switched || r.switched) v.switches++;
    if ((r.created_at_ms || 0) > (v.last.created_at_ms || 0)) v.last = r;
    seen.set(sid, v);
  }
  const list = [...seen.entries()].sort((a, b) => (b[1].last.created_at_ms || 0) - (a[1].last.created_at_ms || 0));
  return html`<h2>Sessions and replay</h2>
    <form class="toolbar" id="search" onSubmit=${submit}>
      ${FILTERS.map(f => html`<label>${f.replace('_id', '')} <input type="text" name=${f} value=${q[f]} placeholder=${f === 'since' ? 'e.g. 1h' : ''}
        onInput=${e => { const v = e.target.value; setQ(o => Object.assign({}, o, { [f]: v })); }} /></label>`)}
      <button type="submit">Search</button></form>
    <h3>sessions in these records</h3>
    <div id="sessions-found"><${Table} cols=${['session', 'records', 'switches', 'last model', 'last decision', 'last reason', 'last seen']} empty="no session in these records"
      rows=${list.map(([id, v]) => html`<tr><td><a href=${link('sessions', { session: id })}>${id}</a></td><td class="num">${v.n}</td><td class="num">${v.switches}</td>
        <td>${v.last.model || '–'}</td><td>${v.last.decision || '–'}</td><td>${reasonOf(v.last) || '–'}</td><td>${timeOf(v.last)}</td></tr>`)} /></div>
    <h3>records</h3>
    <p class="muted">${res.done ? `${res.records.length} records, newest first` : 'loading…'}</p>
    <${Err} e=${res.err} />
    <table class="grid" id="records"><thead><tr>${['time', 'session', 'turn', 'decision', 'model', 'reason', '', 'record'].map(c => html`<th>${c}</th>`)}</tr></thead>
      <tbody>${res.records.map(r => html`<${RecordRow} key=${r.id} r=${r} />`)}</tbody></table>
    <button id="more" hidden=${!res.cursor || !res.records.length} onClick=${() => load(res.cursor, res.records)}>more</button>`;
}

// One turn of the timeline: the timeline item's own fields when the replay
// API gives them (lock, previous_model, switch_terms, usage, cost), else
// the full record r.
function TurnRow({ t, r }) {
  const s = r.session || {};
  const terms = t.switch_terms || s;
  const chosen = (t.switch_terms && t.switch_terms.candidate) || (r.candidates || []).find(c => c.model === (t.model || r.model)) || null;
  const lockKind = t.lock !== undefined ? t.lock : s.hard_lock;
  const lock = lockKind && lockKind !== 'none' ? lockKind : '';
  const prev = t.previous_model !== undefined ? t.previous_model : s.previous_model;
  const u = t.usage || r.usage || {};
  const cost = t.cost || r.cost;
  return html`<tr class=${(t.switched ? 'switch' : '') + (lock ? ' lock' : '')} data-turn=${t.turn}>
    <td class="num">${t.turn}</td><td>${(t.time || '').replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</td>
    <td>${t.model || '–'}${t.switched && prev ? html`<span class="muted"> (from ${prev})</span>` : null}</td>
    <td>${t.decision || '–'}</td><td>${t.reason || '–'}</td><td>${lock || ''}</td>
    <td class="num">${chosen ? fmtNum(chosen.net_switch_advantage, 3) : '–'}</td>
    <td class="num">${chosen ? fmtNum(chosen.final, 3) : '–'}</td>
    <td class="num">${terms && terms.continuation_mass !== undefined ? `${fmtNum(terms.continuation_mass, 2)} / ${fmtNum(terms.cache_warmth, 2)}` : '–'}</td>
    <td class="num">${u.prompt !== undefined ? `${u.prompt}/${u.cached ?? 0}/${u.completion ?? 0}` : '–'}</td>
    <td class="num">${cost ? fmtNum(cost.actual, 6) : '–'}</td>
    <td class="num">${r.latency ? fmtNum(r.latency.total_ms, 1) + ' ms' : '–'}</td>
    <td>${t.replay_id ? html`<a href=${link('record', { id: t.replay_id })}>record</a>` : ''}</td></tr>`;
}

function Session({ id, tl, recs }) {
  const byId = {};
  for (const r of recs.records || []) byId[r.id] = r;
  const mem = tl.memory;
  return html`<p><a href=${link('sessions', {})}>← search</a></p>
    <h2>Session <code id="session-id">${tl.session_id || id}</code></h2>
    ${mem ? html`<div class="cards">
        <${Card} label="memory: model" value=${mem.last_model || '–'} note=${'decision ' + (mem.last_decision || '–')} />
        <${Card} label="turns / switches" value=${`${mem.turn_count} / ${mem.switch_count}`} note=${'lock ' + mem.lock} />
        <${Card} label="tokens (prompt / cached / completion)" value=${`${fmtNum(mem.prompt_tokens)} / ${fmtNum(mem.cached_tokens)} / ${fmtNum(mem.completion_tokens)}`} />
        <${Card} label="cost" value=${fmtNum(mem.cost, 6)} note=${'identity ' + mem.identity_source} /></div>`
      : html`<p class="muted">No session memory on this replica (expired, or held by another store).</p>`}
    <p class="muted">${tl.turns ?? (tl.timeline || []).length} turns${tl.truncated ? ' (only the newest shown)' : ''}; a highlighted row is a switch, a locked row held the model.</p>
    <div class="scroll"><${Table} cls="grid timeline" empty="no recorded turns"
      cols=${['turn', 'time', 'model', 'decision', 'policy reason', 'lock', 'net switch adv.', 'score', 'continuation / warmth', 'tokens in/cached/out', 'cost', 'latency', '']}
      rows=${(tl.timeline || []).map(t => html`<${TurnRow} t=${t} r=${byId[t.replay_id] || {}} />`)} /></div>`;
}

function Record({ r }) {
  const s = r.session || {};
  return html`<p><a href=${link('sessions', {})}>← search</a>${s.id ? html` · <a href=${link('sessions', { session: s.id })}>session timeline</a>` : null}</p>
    <h2>Record <code id="record-id">${r.id}</code></h2>
    <div class="cards">
      <${Card} label="decision → model" value=${`${r.decision || '–'} → ${r.model || '–'}`} note=${`${r.endpoint || ''} ${r.status || ''}`} />
      <${Card} label="policy" value=${s.reason || '–'} note=${`${s.switched ? 'switched from ' + (s.previous_model || '?') : 'no switch'}, lock ${s.hard_lock || '–'}`} />
      <${Card} label="latency" value=${r.latency ? `${fmtNum(r.latency.total_ms, 1)} ms` : '–'} note=${r.latency ? `routing ${r.latency.routing_us} µs, ttft ${fmtNum(r.latency.ttft_ms, 1)} ms` : ''} />
      <${Card} label="cost" value=${r.cost ? `${fmtNum(r.cost.actual, 6)} ${r.cost.currency || ''}` : '–'} note=${r.cost ? `baseline ${fmtNum(r.cost.baseline, 6)}` : ''} /></div>
    ${r.bodies ? null : html`<p class="muted">Bodies are shown only when router_replay captures them and to the admin role.</p>`}
    <${Json} v=${r} />`;
}

export async function render(main, ctx) {
  let vnode;
  if (ctx.page === 'record' && ctx.params.id) {
    vnode = html`<${Record} r=${await api('/v1/router_replay/' + encodeURIComponent(ctx.params.id))} />`;
  } else if (ctx.params.session) {
    const id = ctx.params.session;
    const [tl, recs] = await Promise.all([
      api('/v1/router_replay/sessions/' + encodeURIComponent(id)),
      api('/v1/router_replay?limit=1000&session_id=' + encodeURIComponent(id)).catch(() => ({ records: [] })),
    ]);
    vnode = html`<${Session} id=${id} tl=${tl} recs=${recs} />`;
  } else {
    setParams({});
    vnode = html`<${Search} p=${ctx.params} />`;
  }
  prender(vnode, main);
  return () => prender(null, main);
}
