// overview.js - the Overview page: traffic, latency, errors and the session
// policy's outcomes over time, read from /metrics every few seconds (rates
// are differences between two reads, kept in this tab for the chosen
// window) after the router's own last hour (GET /api/v1/history, one
// sample every 10 s), plus /api/v1/status (generation, reloads, store and
// replay health), /backends, and the newest replay records for the top
// decisions. A preact component; the charts are uPlot (lib.js Chart).
import { html, prender, useEffect, useState, api, parseProm, sumBy, buckets, quantile, diffBuckets, fmtNum, fmtMs, setParams, errorMsg } from './lib.js';
import { Chart } from './chart.js';

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

// Per-second rate of f(snapshot) at each point after the first (null when
// two samples share a time), aligned with pts.slice(1).
function rate(pts, f) {
  const out = [];
  for (let i = 1; i < pts.length; i++) {
    const dt = (pts[i].t - pts[i - 1].t) / 1000;
    out.push(dt > 0 ? Math.max(0, (f(pts[i].s) - f(pts[i - 1].s)) / dt) : null);
  }
  return out;
}

function keysOf(pts, field) {
  const k = new Set();
  for (const p of pts) for (const n of Object.keys(p.s[field])) k.add(n);
  return [...k].sort();
}

const Card = ({ label, value, cls }) => html`<div class=${'card ' + (cls || '')}><div class="label">${label}</div><div class="value">${value}</div></div>`;

function Table({ cols, rows, empty }) {
  return html`<table class="grid"><thead><tr>${cols.map(c => html`<th>${c}</th>`)}</tr></thead>
    <tbody>${rows.length ? rows : html`<tr><td colspan=${cols.length} class="muted">${empty || 'none'}</td></tr>`}</tbody></table>`;
}

function backendState(b) {
  const bad = b.up === false || b.ejected || b.health_check_failing;
  const state = b.ejected ? `ejected (${Math.round((b.ejected_for_ms || 0) / 1000)}s)` : b.health_check_failing ? 'health check failing' : b.up === false ? 'down' : 'up';
  return { bad, text: state + (b.consecutive_failures ? `, ${b.consecutive_failures} failures` : '') };
}

// The page body: cards, charts and tables of the samples in the window.
function Body({ win, status, backends, recent, err }) {
  const w = WINDOWS[win] || WINDOWS['5m'];
  const pts = history.filter(p => p.t >= Date.now() - w);
  const last = history[history.length - 1];
  if (!last) return html`<div id="overview">${err ? html`<p class="error">${errorMsg(err)}</p>` : null}<p class="muted">reading metrics…</p></div>`;
  const s = last.s;
  const first = pts[0] || last;
  const winDur = diffBuckets(s.duration, pts.length > 1 ? first.s.duration : {});
  const winCount = Math.max(...Object.values(winDur), 0);
  const lat = winCount > 0 ? winDur : s.duration;
  const st = status || {};
  const rp = st.replay || {};
  const ss = st.session_store || {};
  const xs = pts.slice(1).map(p => p.t);
  const reasons = keysOf(pts, 'reasons');
  const models = Object.entries(s.upstreamByModel).sort((a, b) => b[1] - a[1]);
  const decisions = {};
  for (const r of (recent && recent.records) || []) if (r.decision) decisions[r.decision] = (decisions[r.decision] || 0) + 1;
  const nrec = ((recent && recent.records) || []).length;
  return html`<div id="overview">
    ${err ? html`<p class="error">${errorMsg(err)}</p>` : null}
    <div class="cards">
      <${Card} label="requests" value=${fmtNum(s.requests)} cls="requests" />
      <${Card} label="errors" value=${fmtNum(s.errors) + (s.requests ? ` (${(100 * s.errors / s.requests).toFixed(1)}%)` : '')} cls=${s.errors ? 'warn' : ''} />
      <${Card} label="latency p50 / p95 / p99" value=${[0.5, 0.95, 0.99].map(q => fmtMs(quantile(lat, q))).join(' / ')} />
      <${Card} label="switches" value=${fmtNum(s.switches)} />
      <${Card} label="config generation" value=${String(st.generation ?? '–')} cls="generation" />
      <${Card} label="reloads" value=${st.reloads ? `${st.reloads.applied} applied, ${st.reloads.rejected} rejected` : 'no file watch'} />
      <${Card} label="session store" value=${ss.shared ? (ss.degraded ? 'degraded' : 'redis ok') + (ss.writeback_pending ? `, ${ss.writeback_pending} pending` : '') : 'in process'} cls=${ss.degraded ? 'bad' : ''} />
      <${Card} label="replay" value=${rp.enabled ? `${rp.written} written, queue ${rp.queue_depth}, ${rp.dropped} dropped` : 'disabled'} cls=${rp.dropped || rp.errors ? 'warn' : ''} />
    </div>
    <div class="charts">
      <${Chart} id="rate" title="requests / s" xs=${xs} series=${[
        { name: 'requests', values: rate(pts, x => x.requests) },
        { name: 'errors', values: rate(pts, x => x.errors) }]} />
      <${Chart} id="latency" title="request latency (window of each sample)" fmt=${fmtMs} xs=${xs} series=${[0.5, 0.95, 0.99].map(q => ({
        name: 'p' + Math.round(q * 100),
        values: pts.slice(1).map((p, i) => quantile(diffBuckets(p.s.duration, pts[i].s.duration), q)),
      }))} />
      <${Chart} id="reasons" title="session outcomes / s by reason" xs=${xs} series=${reasons.map(r => ({ name: r, values: rate(pts, x => x.reasons[r] || 0) }))} />
      <${Chart} id="locks" title="switches, locks, resets / s" xs=${xs} series=${[
        { name: 'switches', values: rate(pts, x => x.switches) },
        ...keysOf(pts, 'locks').map(k => ({ name: 'lock ' + k, values: rate(pts, x => x.locks[k] || 0) })),
        ...keysOf(pts, 'resets').map(k => ({ name: 'reset ' + k, values: rate(pts, x => x.resets[k] || 0) }))]} />
    </div>
    <div class="tables">
      <div><h3>top models (upstream calls)</h3><${Table} cols=${['model', 'calls', 'tokens', 'cost', 'in flight']} empty="no upstream calls yet"
        rows=${models.map(([m, n]) => html`<tr><td>${m}</td><td class="num">${fmtNum(n)}</td><td class="num">${fmtNum(s.tokensByModel[m] || 0)}</td>
          <td class="num">${fmtNum(s.costByModel[m] || 0, 4)}</td><td class="num">${fmtNum(s.inflight[m] || 0)}</td></tr>`)} /></div>
      <div><h3>top decisions (last ${nrec} replay records)</h3><${Table} cols=${['decision', 'turns']} empty=${rp.enabled ? 'no records yet' : 'replay is disabled'}
        rows=${Object.entries(decisions).sort((a, b) => b[1] - a[1]).map(([d, n]) => html`<tr><td><a href=${'#/sessions?decision=' + encodeURIComponent(d)}>${d}</a></td><td class="num">${n}</td></tr>`)} /></div>
      <div><h3>session outcomes (since start)</h3><${Table} cols=${['reason', 'count']}
        rows=${Object.entries(s.reasons).sort((a, b) => b[1] - a[1]).map(([r, n]) => html`<tr><td><a href=${'#/sessions?reason=' + encodeURIComponent(r)}>${r}</a></td><td class="num">${fmtNum(n)}</td></tr>`)} /></div>
      <div><h3>backends</h3><${Table} cols=${['backend', 'model', 'state', 'in flight']}
        rows=${backends.map(b => { const x = backendState(b); return html`<tr><td>${b.backend || ''}</td><td>${b.model || ''}</td><td class=${x.bad ? 'bad' : 'ok'}>${x.text}</td><td class="num">${fmtNum(b.inflight || 0)}</td></tr>`; })} /></div>
    </div>
  </div>`;
}

// The page: the window picker and the body, polled every `every` seconds.
function Overview({ params }) {
  const [win, setWin] = useState(WINDOWS[params.window] ? params.window : '5m');
  const every = Math.max(1, Number(params.every) || 3);
  const [st, setSt] = useState({ status: null, backends: [], recent: null, err: null, n: 0 });
  useEffect(() => {
    let live = true, timer = null, n = 0;
    // One read: /metrics, status and backends at once; then, every fifth
    // read and when replay is on, the newest replay records (the top
    // decisions): awaited on the first read (the page opens complete),
    // later ones do not hold up the rest.
    async function read() {
      const [text, status, be] = await Promise.all([api('/metrics', { text: true }), api('/api/v1/status'), api('/backends')]);
      const next = { status, backends: be.backends || [], err: null };
      if (n++ % 5 === 0 && status.replay && status.replay.enabled) {
        const rec = api('/v1/router_replay?limit=200').catch(() => null);
        if (n === 1) next.recent = await rec;
        else rec.then(r => { if (live && r) setSt(prev => Object.assign({}, prev, { recent: r })); });
      }
      return { t: Date.now(), s: snapshot(parseProm(text)), next };
    }
    // A read answered after the page was left (or re-opened with another
    // `every`) is dropped: the live effect's reads are the newest points.
    function show(r) {
      if (!live) return;
      history.push({ t: r.t, s: r.s });
      while (history.length > 1 && history[0].t < Date.now() - WINDOWS['1h']) history.shift();
      if (live) setSt(prev => Object.assign({}, prev, r.next, { n: prev.n + 1 }));
    }
    const fail = e => { if (live) setSt(prev => Object.assign({}, prev, { err: e, n: prev.n + 1 })); };
    async function poll() { try { show(await read()); } catch (e) { fail(e); } }
    (async () => {
      // the router's last hour and the first read together
      const past = history.length ? null : api('/api/v1/history').catch(() => null);
      const first = read();
      const h = await past;
      // the router's samples go before the oldest point this tab has, in
      // time order (another visit's reads may have landed meanwhile)
      if (live) {
        const oldest = history.length ? history[0].t : Infinity;
        const older = ((h && h.samples) || []).map(fromServer).filter(p => p.t < oldest).sort((a, b) => a.t - b.t);
        history.unshift(...older);
      }
      try { show(await first); } catch (e) { fail(e); }
      if (live) timer = setInterval(poll, every * 1000);
    })();
    return () => { live = false; clearInterval(timer); };
  }, [every]);
  const pick = ev => { setParams({ window: ev.target.value }); setWin(ev.target.value); };
  return html`<div class="toolbar"><h2>Overview</h2><label>window <select id="window" value=${win} onChange=${pick}>
      ${Object.keys(WINDOWS).map(w => html`<option value=${w}>${w}</option>`)}</select></label>
    <span class="muted"> sampled every ${every}s while this page is open</span></div>
    <${Body} win=${win} status=${st.status} backends=${st.backends || []} recent=${st.recent} err=${st.err} />`;
}

export async function render(main, ctx) {
  prender(html`<${Overview} params=${ctx.params} />`, main);
  return () => prender(null, main);
}
