// sessions.js - the Sessions and replay pages on the replay API
// (docs/replay.md; fields beyond the documented ones are ignored, missing
// ones show as –): a search over records (session, model, decision,
// reason, since), one session's timeline turn by turn joined with its full
// records (policy reason, lock, switch economics, tokens, cost, latency),
// and one record in full (#/record?id=rr_...; bodies for admin only).
import { el, api, link, setParams, errorBox, table, fmtNum, pre } from './lib.js';

const FILTERS = ['session_id', 'model', 'decision', 'reason', 'since'];

const sess = r => r.session || {};
const reasonOf = r => sess(r).reason || r.reason || '';
const lockOf = r => sess(r).hard_lock || r.hard_lock || '';
const sessionOf = r => sess(r).id || r.session_id || '';
const turnOf = r => sess(r).turn ?? r.turn ?? '';
const timeOf = r => (r.created_at || r.time || '').replace('T', ' ').replace(/\.\d+Z$/, 'Z');

function recordRow(r) {
  const sid = sessionOf(r);
  const switched = sess(r).switched || r.switched;
  return el('tr', { class: switched ? 'switch' : '' },
    el('td', {}, timeOf(r)),
    el('td', {}, sid ? el('a', { href: link('sessions', { session: sid }) }, sid) : '–'),
    el('td', { class: 'num' }, turnOf(r)),
    el('td', {}, r.decision || '–'), el('td', {}, r.model || '–'), el('td', {}, reasonOf(r) || '–'),
    el('td', {}, switched ? 'switch' : ''),
    el('td', {}, el('a', { href: link('record', { id: r.id }) }, r.id)));
}

async function searchPage(main, ctx) {
  const p = ctx.params;
  const inputs = {};
  const form = el('form', { class: 'toolbar', id: 'search', onsubmit: ev => {
    ev.preventDefault();
    const q = {};
    for (const f of FILTERS) q[f] = inputs[f].value.trim();
    location.hash = link('sessions', q);
  } }, FILTERS.map(f => {
    inputs[f] = el('input', { type: 'text', name: f, value: p[f] || '', placeholder: f === 'since' ? 'e.g. 1h' : '' });
    return el('label', {}, f.replace('_id', '') + ' ', inputs[f]);
  }), el('button', { type: 'submit' }, 'Search'));
  const rows = el('tbody', {});
  const more = el('button', { id: 'more', hidden: true }, 'more');
  const tbl = el('table', { class: 'grid', id: 'records' },
    el('thead', {}, el('tr', {}, ['time', 'session', 'turn', 'decision', 'model', 'reason', '', 'record'].map(c => el('th', {}, c)))), rows);
  const status = el('p', { class: 'muted' });
  const sessBox = el('div', { id: 'sessions-found' });
  main.append(el('h2', {}, 'Sessions and replay'), form, el('h3', {}, 'sessions in these records'), sessBox,
    el('h3', {}, 'records'), status, tbl, more);
  let cursor = '';
  const seen = new Map(); // session id -> {turns, switches, last record}
  function drawSessions() {
    const list = [...seen.entries()].sort((a, b) => (b[1].last.created_at_ms || 0) - (a[1].last.created_at_ms || 0));
    sessBox.replaceChildren(table(['session', 'records', 'switches', 'last model', 'last decision', 'last reason', 'last seen'],
      list.map(([id, v]) => el('tr', {}, el('td', {}, el('a', { href: link('sessions', { session: id }) }, id)), el('td', { class: 'num' }, v.n),
        el('td', { class: 'num' }, v.switches), el('td', {}, v.last.model || '–'), el('td', {}, v.last.decision || '–'),
        el('td', {}, reasonOf(v.last) || '–'), el('td', {}, timeOf(v.last)))), { empty: 'no session in these records' }));
  }
  async function load() {
    const q = new URLSearchParams();
    for (const f of FILTERS) if (p[f]) q.set(f, p[f]);
    q.set('limit', '50');
    if (cursor) q.set('cursor', cursor);
    const res = await api('/v1/router_replay?' + q.toString());
    for (const r of res.records || []) {
      rows.append(recordRow(r));
      const sid = sessionOf(r);
      if (!sid) continue;
      const v = seen.get(sid) || { n: 0, switches: 0, last: r };
      v.n++;
      if (sess(r).switched || r.switched) v.switches++;
      if ((r.created_at_ms || 0) > (v.last.created_at_ms || 0)) v.last = r;
      seen.set(sid, v);
    }
    drawSessions();
    cursor = res.next_cursor || '';
    more.hidden = !cursor || !(res.records || []).length;
    status.textContent = `${rows.children.length} records, newest first`;
  }
  more.addEventListener('click', () => load().catch(e => main.append(errorBox(e))));
  await load();
}

async function sessionPage(main, ctx) {
  const id = ctx.params.session;
  const [tl, recs] = await Promise.all([
    api('/v1/router_replay/sessions/' + encodeURIComponent(id)),
    api('/v1/router_replay?limit=1000&session_id=' + encodeURIComponent(id)).catch(() => ({ records: [] })),
  ]);
  const byId = {};
  for (const r of recs.records || []) byId[r.id] = r;
  const mem = tl.memory;
  main.append(el('p', {}, el('a', { href: link('sessions', {}) }, '← search')),
    el('h2', {}, 'Session ', el('code', { id: 'session-id' }, tl.session_id || id)),
    mem ? el('div', { class: 'cards' },
      el('div', { class: 'card' }, el('div', { class: 'label' }, 'memory: model'), el('div', { class: 'value' }, mem.last_model || '–'), el('div', { class: 'muted' }, 'decision ' + (mem.last_decision || '–'))),
      el('div', { class: 'card' }, el('div', { class: 'label' }, 'turns / switches'), el('div', { class: 'value' }, `${mem.turn_count} / ${mem.switch_count}`), el('div', { class: 'muted' }, 'lock ' + mem.lock)),
      el('div', { class: 'card' }, el('div', { class: 'label' }, 'tokens (prompt / cached / completion)'), el('div', { class: 'value' }, `${fmtNum(mem.prompt_tokens)} / ${fmtNum(mem.cached_tokens)} / ${fmtNum(mem.completion_tokens)}`)),
      el('div', { class: 'card' }, el('div', { class: 'label' }, 'cost'), el('div', { class: 'value' }, fmtNum(mem.cost, 6)), el('div', { class: 'muted' }, 'identity ' + mem.identity_source)))
      : el('p', { class: 'muted' }, 'No session memory on this replica (expired, or held by another store).'),
    el('p', { class: 'muted' }, `${tl.turns ?? (tl.timeline || []).length} turns${tl.truncated ? ' (only the newest shown)' : ''}; a highlighted row is a switch, a locked row held the model.`));
  // Per turn: the timeline item's own fields when the replay API gives them
  // (lock, previous_model, switch_terms, usage, cost), else the full record.
  const rows = (tl.timeline || []).map(t => {
    const r = byId[t.replay_id] || {};
    const s = r.session || {};
    const terms = t.switch_terms || s;
    const chosen = (t.switch_terms && t.switch_terms.candidate) || (r.candidates || []).find(c => c.model === (t.model || r.model)) || null;
    const lockKind = t.lock !== undefined ? t.lock : s.hard_lock;
    const lock = lockKind && lockKind !== 'none' ? lockKind : '';
    const prev = t.previous_model !== undefined ? t.previous_model : s.previous_model;
    const u = t.usage || r.usage || {};
    const cost = t.cost || r.cost;
    return el('tr', { class: (t.switched ? 'switch' : '') + (lock ? ' lock' : ''), 'data-turn': t.turn },
      el('td', { class: 'num' }, t.turn), el('td', {}, (t.time || '').replace('T', ' ').replace(/\.\d+Z$/, 'Z')),
      el('td', {}, t.model || '–', t.switched && prev ? el('span', { class: 'muted' }, ` (from ${prev})`) : null),
      el('td', {}, t.decision || '–'), el('td', {}, t.reason || '–'), el('td', {}, lock || ''),
      el('td', { class: 'num' }, chosen ? fmtNum(chosen.net_switch_advantage, 3) : '–'),
      el('td', { class: 'num' }, chosen ? fmtNum(chosen.final, 3) : '–'),
      el('td', { class: 'num' }, terms && terms.continuation_mass !== undefined ? `${fmtNum(terms.continuation_mass, 2)} / ${fmtNum(terms.cache_warmth, 2)}` : '–'),
      el('td', { class: 'num' }, u.prompt !== undefined ? `${u.prompt}/${u.cached ?? 0}/${u.completion ?? 0}` : '–'),
      el('td', { class: 'num' }, cost ? fmtNum(cost.actual, 6) : '–'),
      el('td', { class: 'num' }, r.latency ? fmtNum(r.latency.total_ms, 1) + ' ms' : '–'),
      el('td', {}, t.replay_id ? el('a', { href: link('record', { id: t.replay_id }) }, 'record') : ''));
  });
  main.append(el('div', { class: 'scroll' }, table(['turn', 'time', 'model', 'decision', 'policy reason', 'lock', 'net switch adv.', 'score', 'continuation / warmth', 'tokens in/cached/out', 'cost', 'latency', ''], rows, { class: 'grid timeline', empty: 'no recorded turns' })));
}

async function recordPage(main, ctx) {
  const r = await api('/v1/router_replay/' + encodeURIComponent(ctx.params.id));
  const s = r.session || {};
  main.append(el('p', {}, el('a', { href: link('sessions', {}) }, '← search'), s.id ? [' · ', el('a', { href: link('sessions', { session: s.id }) }, 'session timeline')] : null),
    el('h2', {}, 'Record ', el('code', { id: 'record-id' }, r.id)),
    el('div', { class: 'cards' },
      el('div', { class: 'card' }, el('div', { class: 'label' }, 'decision → model'), el('div', { class: 'value' }, `${r.decision || '–'} → ${r.model || '–'}`), el('div', { class: 'muted' }, `${r.endpoint || ''} ${r.status || ''}`)),
      el('div', { class: 'card' }, el('div', { class: 'label' }, 'policy'), el('div', { class: 'value' }, s.reason || '–'), el('div', { class: 'muted' }, `${s.switched ? 'switched from ' + (s.previous_model || '?') : 'no switch'}, lock ${s.hard_lock || '–'}`)),
      el('div', { class: 'card' }, el('div', { class: 'label' }, 'latency'), el('div', { class: 'value' }, r.latency ? `${fmtNum(r.latency.total_ms, 1)} ms` : '–'), el('div', { class: 'muted' }, r.latency ? `routing ${r.latency.routing_us} µs, ttft ${fmtNum(r.latency.ttft_ms, 1)} ms` : '')),
      el('div', { class: 'card' }, el('div', { class: 'label' }, 'cost'), el('div', { class: 'value' }, r.cost ? `${fmtNum(r.cost.actual, 6)} ${r.cost.currency || ''}` : '–'), el('div', { class: 'muted' }, r.cost ? `baseline ${fmtNum(r.cost.baseline, 6)}` : ''))),
    r.bodies ? null : el('p', { class: 'muted' }, 'Bodies are shown only when router_replay captures them and to the admin role.'),
    pre(r));
}

export async function render(main, ctx) {
  if (ctx.page === 'record' && ctx.params.id) return recordPage(main, ctx);
  if (ctx.params.session) return sessionPage(main, ctx);
  setParams({});
  return searchPage(main, ctx);
}
