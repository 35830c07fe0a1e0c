// overview.js - the Overview page: traffic, latency, errors and the session
// policy's outcomes over time, read from /metrics every few seconds (rates
// are differences between two reads, kept in this tab for the chosen
// window) after the router's own last hour (GET /api/v1/history, one
// sample every 10 s), plus /api/v1/status (generation, reloads, store and
// replay health), /backends, and the newest replay records for the top
// decisions.
import { el, api, parseProm, sumBy, buckets, quantile, diffBuckets, lineChart, table, card, fmtNum, fmtMs, setParams, errorBox } from './lib.js';

const WINDOWS = { '1m': 60e3, '5m': 300e3, '15m': 900e3, '1h': 3600e3 };
const history = []; // [{t, samples}] kept across visits of the page in this tab

function snapshot(samples) {
  return {
    requests: sumBy(samples, 'tether_requests_total')[''] || 0,
    byEndpoint: sumBy(samples, 'tether_requests_total', 'endpoint'),
    errors: sumBy(samples, 'tether_request_errors_total')[''] || 0,
    errorsByCode: sumBy(samples, 'tether_request_errors_total', 'code'),
    reasons: sumBy(samples, 'tether_session_decisions_total', 'reason'),
    locks: sumBy(samples, 'tether_session_locks_total', 'kind'),
    resets: sumBy(samples, 'tether_session_resets_total', 'kind'),
    switches: sumBy(samples, 'tether_session_switches_total')[''] || 0,
    duration: buckets(samples, 'tether_request_duration_seconds'),
    upstreamByModel: sumBy(samples, 'tether_upstream_requests_total', 'model'),
    tokensByModel: sumBy(samples, 'tether_tokens_total', 'model'),
    costByModel: sumBy(samples, 'tether_cost_total', 'model'),
    inflight: sumBy(samples, 'tether_inflight_requests', 'model'),
  };
}

// A server sample {t, v: {"requests": n, "reason:R": n, "le:B": n, ...}}
// as a snapshot (only the fields the charts read).
function fromServer(smp) {
  const s = { requests: 0, errors: 0, switches: 0, reasons: {}, locks: {}, resets: {}, duration: {},
    byEndpoint: {}, errorsByCode: {}, upstreamByModel: {}, tokensByModel: {}, costByModel: {}, inflight: {} };
  for (const [k, v] of Object.entries(smp.v || {})) {
    const i = k.indexOf(':');
    const fam = i < 0 ? k : k.slice(0, i), name = i < 0 ? '' : k.slice(i + 1);
    if (fam === 'requests' || fam === 'errors' || fam === 'switches') s[fam] = v;
    else if (fam === 'reason') s.reasons[name] = v;
    else if (fam === 'lock') s.locks[name] = v;
    else if (fam === 'reset') s.resets[name] = v;
    else if (fam === 'le') s.duration[name === '+Inf' ? Infinity : parseFloat(name)] = v;
  }
  return { t: smp.t, s };
}

// Per-second rate series of f(snapshot) over the window.
function rate(pts, f) {
  const out = [];
  for (let i = 1; i < pts.length; i++) {
    const dt = (pts[i].t - pts[i - 1].t) / 1000;
    if (dt <= 0) continue;
    out.push([pts[i].t, Math.max(0, (f(pts[i].s) - f(pts[i - 1].s)) / dt)]);
  }
  return out;
}

function keysOf(pts, field) {
  const k = new Set();
  for (const p of pts) for (const n of Object.keys(p.s[field])) k.add(n);
  return [...k].sort();
}

export async function render(main, ctx) {
  const win = WINDOWS[ctx.params.window] ? ctx.params.window : '5m';
  const every = Math.max(1, Number(ctx.params.every) || 3);
  const picker = el('select', { id: 'window', onchange: () => { setParams({ window: picker.value }); draw(); } },
    Object.keys(WINDOWS).map(w => el('option', { value: w, selected: w === win }, w)));
  const body = el('div', { id: 'overview' });
  main.append(el('div', { class: 'toolbar' }, el('h2', {}, 'Overview'), el('label', {}, 'window ', picker),
    el('span', { class: 'muted' }, ` sampled every ${every}s while this page is open`)), body);
  let status = null, backends = [], recent = null, err = null;

  async function poll() {
    try {
      const [text, st, be] = await Promise.all([
        api('/metrics', { text: true }), api('/api/v1/status'), api('/backends')]);
      history.push({ t: Date.now(), s: snapshot(parseProm(text)) });
      while (history.length > 1 && history[0].t < Date.now() - WINDOWS['1h']) history.shift();
      status = st; backends = be.backends || []; err = null;
      if (status.replay && status.replay.enabled && (!recent || history.length % 5 === 1)) {
        recent = await api('/v1/router_replay?limit=200').catch(() => null);
      }
    } catch (e) { err = e; }
    draw();
  }

  function draw() {
    const w = WINDOWS[picker.value] || WINDOWS['5m'];
    const pts = history.filter(p => p.t >= Date.now() - w);
    const last = history[history.length - 1];
    const kids = [];
    if (err) kids.push(errorBox(err));
    if (!last) { body.replaceChildren(...kids, el('p', { class: 'muted' }, 'reading metrics…')); return; }
    const s = last.s;
    const first = pts[0] || last;
    const winDur = diffBuckets(s.duration, pts.length > 1 ? first.s.duration : {});
    const winCount = Math.max(...Object.values(winDur), 0);
    const lat = winCount > 0 ? winDur : s.duration;
    const st = status || {};
    const rp = st.replay || {};
    const ss = st.session_store || {};
    kids.push(el('div', { class: 'cards' },
      card('requests', fmtNum(s.requests), 'requests'),
      card('errors', fmtNum(s.errors) + (s.requests ? ` (${(100 * s.errors / s.requests).toFixed(1)}%)` : ''), s.errors ? 'warn' : ''),
      card('latency p50 / p95 / p99', [0.5, 0.95, 0.99].map(q => fmtMs(quantile(lat, q))).join(' / ')),
      card('switches', fmtNum(s.switches)),
      card('config generation', String(st.generation ?? '–'), 'generation'),
      card('reloads', st.reloads ? `${st.reloads.applied} applied, ${st.reloads.rejected} rejected` : 'no file watch'),
      card('session store', ss.shared ? (ss.degraded ? 'degraded' : 'redis ok') + (ss.writeback_pending ? `, ${ss.writeback_pending} pending` : '') : 'in process', ss.degraded ? 'bad' : ''),
      card('replay', rp.enabled ? `${rp.written} written, queue ${rp.queue_depth}, ${rp.dropped} dropped` : 'disabled', rp.dropped || rp.errors ? 'warn' : '')));
    const reasons = keysOf(pts, 'reasons');
    kids.push(el('div', { class: 'charts' },
      lineChart('requests / s', [
        { name: 'requests', points: rate(pts, x => x.requests) },
        { name: 'errors', points: rate(pts, x => x.errors) }], { id: 'rate' }),
      lineChart('request latency (window of each sample)', [0.5, 0.95, 0.99].map(q => ({
        name: 'p' + Math.round(q * 100),
        points: pts.slice(1).map((p, i) => [p.t, quantile(diffBuckets(p.s.duration, pts[i].s.duration), q)]),
      })), { fmt: fmtMs, id: 'latency' }),
      lineChart('session outcomes / s by reason', reasons.map(r => ({ name: r, points: rate(pts, x => x.reasons[r] || 0) })), { id: 'reasons' }),
      lineChart('switches, locks, resets / s', [
        { name: 'switches', points: rate(pts, x => x.switches) },
        ...keysOf(pts, 'locks').map(k => ({ name: 'lock ' + k, points: rate(pts, x => x.locks[k] || 0) })),
        ...keysOf(pts, 'resets').map(k => ({ name: 'reset ' + k, points: rate(pts, x => x.resets[k] || 0) }))], { id: 'locks' })));
    // tables
    const models = Object.entries(s.upstreamByModel).sort((a, b) => b[1] - a[1]);
    const decisions = {};
    for (const r of (recent && recent.records) || []) if (r.decision) decisions[r.decision] = (decisions[r.decision] || 0) + 1;
    kids.push(el('div', { class: 'tables' },
      el('div', {}, el('h3', {}, 'top models (upstream calls)'), table(['model', 'calls', 'tokens', 'cost', 'in flight'],
        models.map(([m, n]) => el('tr', {}, el('td', {}, m), el('td', { class: 'num' }, fmtNum(n)), el('td', { class: 'num' }, fmtNum(s.tokensByModel[m] || 0)),
          el('td', { class: 'num' }, fmtNum(s.costByModel[m] || 0, 4)), el('td', { class: 'num' }, fmtNum(s.inflight[m] || 0)))), { empty: 'no upstream calls yet' })),
      el('div', {}, el('h3', {}, `top decisions (last ${((recent && recent.records) || []).length} replay records)`), table(['decision', 'turns'],
        Object.entries(decisions).sort((a, b) => b[1] - a[1]).map(([d, n]) =>
          el('tr', {}, el('td', {}, el('a', { href: `#/sessions?decision=${encodeURIComponent(d)}` }, d)), el('td', { class: 'num' }, n))),
        { empty: rp.enabled ? 'no records yet' : 'replay is disabled' })),
      el('div', {}, el('h3', {}, 'session outcomes (since start)'), table(['reason', 'count'],
        Object.entries(s.reasons).sort((a, b) => b[1] - a[1]).map(([r, n]) =>
          el('tr', {}, el('td', {}, el('a', { href: `#/sessions?reason=${encodeURIComponent(r)}` }, r)), el('td', { class: 'num' }, fmtNum(n)))))),
      el('div', {}, el('h3', {}, 'backends'), table(['backend', 'model', 'state', 'in flight'],
        backends.map(b => {
          const bad = b.up === false || b.ejected || b.health_check_failing;
          const state = b.ejected ? `ejected (${Math.round((b.ejected_for_ms || 0) / 1000)}s)` : b.health_check_failing ? 'health check failing' : b.up === false ? 'down' : 'up';
          return el('tr', {}, el('td', {}, b.backend || ''), el('td', {}, b.model || ''),
            el('td', { class: bad ? 'bad' : 'ok' }, state + (b.consecutive_failures ? `, ${b.consecutive_failures} failures` : '')), el('td', { class: 'num' }, fmtNum(b.inflight || 0)));
        })))));
    body.replaceChildren(...kids);
  }

  if (!history.length) {
    try {
      const h = await api('/api/v1/history');
      for (const smp of h.samples || []) history.push(fromServer(smp));
    } catch (_) { /* an older router: the tab's own reads only */ }
  }
  await poll();
  const timer = setInterval(poll, every * 1000);
  return () => clearInterval(timer);
}
