// topology.js - the Topology page: the running config (GET /config) as a
// graph in five columns laid out by dagre, signals -> decisions (priority / tier) ->
// selection -> models -> backends; a click shows a node's config, and a
// prompt typed in the box goes through POST /api/v1/eval (operator) to
// highlight the path it takes. State in the URL: node, prompt. Preact + htm.
import { html, prender, useEffect, useMemo, useState, api, setParams, errorMsg } from './lib.js';
import { Graph, layout } from '@dagrejs/dagre';

const COLS = ['signals', 'decisions', 'selection', 'models', 'backends'];

// The routing documents of the config: routing (the recipe "default") and
// each recipes[].routing.
function routings(cfg) {
  const out = [{ r: (cfg && cfg.routing) || {}, recipe: null }];
  for (const rc of (cfg && cfg.recipes) || []) if (rc && rc.routing) out.push({ r: rc.routing, recipe: rc.name });
  return out;
}

// Every decision of the config, with the recipe it belongs to.
export function decisionsOf(cfg) {
  const out = [];
  for (const { r, recipe } of routings(cfg)) for (const d of r.decisions || []) out.push({ d, recipe });
  return out;
}

// The type:name leaves of a rules tree.
function leaves(rules, acc = []) {
  if (!rules || typeof rules !== 'object') return acc;
  if (Array.isArray(rules)) { rules.forEach(x => leaves(x, acc)); return acc; }
  if (rules.type && rules.name) acc.push(`${rules.type}:${rules.name}`);
  for (const k of ['conditions', 'rules', 'children']) if (rules[k]) leaves(rules[k], acc);
  return acc;
}

export function buildGraph(cfg) {
  const nodes = new Map(), edges = [];
  const add = (id, col, label, sub, detail) => {
    if (!nodes.has(id)) nodes.set(id, { id, col, label, sub, detail });
    return nodes.get(id);
  };
  const signalCfg = {};
  for (const { r } of routings(cfg)) {
    for (const [fam, list] of Object.entries(r.signals || {})) {
      const type = fam.endsWith('s') ? fam.slice(0, -1) : fam;
      for (const s of Array.isArray(list) ? list : []) if (s && s.name) signalCfg[`${type}:${s.name}`] = s;
    }
  }
  const models = {};
  for (const m of ((cfg && cfg.providers) || {}).models || []) models[m.name] = m;
  for (const { d, recipe } of decisionsOf(cfg)) {
    const sub = [d.tier !== undefined ? 'tier ' + d.tier : null, d.priority !== undefined ? 'priority ' + d.priority : null, recipe ? 'recipe ' + recipe : null].filter(Boolean).join(', ');
    add('decision:' + d.name, 1, d.name, sub, d);
    for (const leaf of leaves(d.rules)) {
      add('signal:' + leaf, 0, leaf, null, signalCfg[leaf] || { rule: leaf });
      edges.push(['signal:' + leaf, 'decision:' + d.name]);
    }
    const alg = (d.algorithm && d.algorithm.type) || 'static';
    add('selection:' + d.name, 2, alg, 'for ' + d.name, d.algorithm || { type: 'static' });
    edges.push(['decision:' + d.name, 'selection:' + d.name]);
    for (const ref of d.modelRefs || []) {
      add('model:' + ref.model, 3, ref.model, null, models[ref.model] || ref);
      edges.push(['selection:' + d.name, 'model:' + ref.model]);
    }
  }
  for (const key of Object.keys(signalCfg)) add('signal:' + key, 0, key, 'unused', signalCfg[key]);
  for (const m of Object.values(models)) {
    add('model:' + m.name, 3, m.name, null, m);
    for (const b of m.backend_refs || []) {
      const bn = b.name || b.endpoint || b.base_url || '?';
      add('backend:' + m.name + '/' + bn, 4, bn, b.endpoint || b.base_url || '', b);
      edges.push(['model:' + m.name, 'backend:' + m.name + '/' + bn]);
    }
  }
  return { nodes: [...nodes.values()], edges };
}

// The node ids an eval result lights up.
export function hotPath(cfg, ev) {
  const hot = new Set();
  for (const s of ev.signals || []) if (s.matched) hot.add(`signal:${s.family}:${s.name}`);
  const dn = ev.decision && ev.decision.name;
  if (dn) { hot.add('decision:' + dn); hot.add('selection:' + dn); }
  if (ev.model) {
    hot.add('model:' + ev.model);
    for (const m of ((cfg.providers || {}).models || [])) if (m.name === ev.model)
      for (const b of m.backend_refs || []) hot.add('backend:' + m.name + '/' + (b.name || b.endpoint || b.base_url || '?'));
  }
  return hot;
}

// Lay the graph out with dagre (left to right, one rank per column): a
// node past the first column with no edge into it (a decision without
// signals, an unused model) hangs from a hidden spine of one point per
// column, so it stays in its column; dagre orders each column to cut
// crossings and places the nodes.
export function layoutGraph(g) {
  const nodeW = 168, nodeH = 30;
  const d = new Graph();
  d.setGraph({ rankdir: 'LR', nodesep: 10, ranksep: 40, marginx: 10, marginy: 28 });
  d.setDefaultEdgeLabel(() => ({}));
  for (const n of g.nodes) d.setNode(n.id, { width: nodeW, height: nodeH });
  const into = new Set(g.edges.map(e => e[1]));
  const spine = i => {
    const id = '\u0000spine' + i;
    if (!d.hasNode(id)) {
      d.setNode(id, { width: 1, height: 1 });
      if (i > 0) d.setEdge(spine(i - 1), id);
    }
    return id;
  };
  for (const n of g.nodes) if (n.col > 0 && !into.has(n.id)) d.setEdge(spine(n.col - 1), n.id);
  for (const [a, b] of g.edges) if (d.hasNode(a) && d.hasNode(b)) d.setEdge(a, b);
  layout(d);
  const pos = {};
  for (const n of g.nodes) { const p = d.node(n.id); pos[n.id] = { x: p.x - nodeW / 2, y: p.y - nodeH / 2 }; }
  const edges = g.edges.filter(([a, b]) => pos[a] && pos[b]).map(([a, b]) => ({ a, b }));
  const colX = COLS.map((_, i) => {
    const xs = g.nodes.filter(n => n.col === i).map(n => pos[n.id].x);
    return xs.length ? Math.min(...xs) : null;
  });
  const W = Math.max(10, ...Object.values(pos).map(p => p.x + nodeW)) + 10;
  const H = Math.max(40, ...Object.values(pos).map(p => p.y + nodeH)) + 10;
  return { pos, edges, colX, W, H, nodeW, nodeH };
}

// The graph as SVG; a click on a node picks it.
function GraphSvg({ g, L, hot, selected, onPick }) {
  const { pos, nodeW, nodeH } = L;
  const edges = L.edges.map(e => {
    const p = pos[e.a], q = pos[e.b];
    // from the right side of a to the left side of b (the next column)
    const x1 = p.x + nodeW, y1 = p.y + nodeH / 2, x2 = q.x, y2 = q.y + nodeH / 2, mx = (x1 + x2) / 2;
    const d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
    return html`<path d=${d} class=${'edge' + (hot.has(e.a) && hot.has(e.b) ? ' hot' : '')} />`;
  });
  const cut = (t, n) => (t.length > n ? t.slice(0, n - 1) + '…' : t);
  return html`<svg viewBox=${`0 0 ${L.W} ${L.H}`} class="topology" id="graph" width=${L.W} height=${L.H}>
    ${COLS.map((c, i) => (L.colX[i] !== null ? html`<text x=${L.colX[i]} y="16" class="colhead">${c}</text>` : null))}
    ${edges}
    ${g.nodes.map(n => html`<g class=${'node col' + n.col + (hot.has(n.id) ? ' hot' : '') + (selected === n.id ? ' selected' : '')} data-id=${n.id}
        transform=${`translate(${pos[n.id].x},${pos[n.id].y})`} onClick=${() => onPick(n.id)}>
      <rect width=${nodeW} height=${nodeH} rx="5" />
      <text x="8" y=${n.sub ? 13 : 19} class="label">${cut(n.label, 26)}</text>
      ${n.sub ? html`<text x="8" y="25" class="sub">${cut(n.sub, 30)}</text>` : null}
      <title>${n.id}</title></g>`)}
  </svg>`;
}

function Topology({ conf, params, canEval }) {
  const cfg = conf.config || {};
  const g = useMemo(() => buildGraph(cfg), [conf]);
  const lay = useMemo(() => layoutGraph(g), [g]);
  const [selected, setSelected] = useState(params.node || '');
  const [prompt, setPrompt] = useState(params.prompt || '');
  const [res, setRes] = useState(null); // {ev, hot, text} | {error}
  async function evaluate(ev) {
    if (ev) ev.preventDefault();
    const text = prompt.trim();
    setParams({ prompt: text });
    if (!text) { setRes(null); return; }
    try {
      const r = await api('/api/v1/eval', { body: { request: { model: 'auto', messages: [{ role: 'user', content: text }] } } });
      setRes({ ev: r, hot: hotPath(cfg, r), text });
    } catch (e) { setRes({ error: errorMsg(e) }); }
  }
  useEffect(() => { if (prompt && canEval) evaluate(); }, []);
  const pick = id => { setSelected(id); setParams({ node: id }); };
  const n = g.nodes.find(x => x.id === selected);
  const r = res && res.ev;
  const matched = r ? (r.signals || []).filter(s => s.matched).map(s => `${s.family}:${s.name}`) : [];
  return html`<div class="toolbar"><h2>Topology</h2><span class="muted">config generation ${conf.generation}: ${g.nodes.length} nodes</span></div>
    <form class="toolbar" onSubmit=${evaluate}>
      <input type="text" id="topo-prompt" value=${prompt} placeholder="type a prompt to see its path" disabled=${!canEval} onInput=${e => setPrompt(e.target.value)} />
      <button type="submit" disabled=${!canEval}>Show path</button>
      ${canEval ? null : html`<span class="muted">evaluating a prompt needs the operator role</span>`}</form>
    <div id="path-result">${res && res.error ? html`<p class="error">${res.error}</p>` : r ? html`<p class="path">signals <b>${matched.join(', ') || 'none'}</b> → decision <b id="path-decision">${(r.decision && r.decision.name) || 'none'}</b> → ${(r.selection && r.selection.used) || r.algorithm || ''} → model <b id="path-model">${r.model || 'none'}</b> <a href=${'#/playground?prompt=' + encodeURIComponent(res.text)}>open in playground</a></p>` : null}</div>
    <div class="split"><div class="graphbox"><${GraphSvg} g=${g} L=${lay} hot=${(res && res.hot) || EMPTY} selected=${selected} onPick=${pick} /></div>
      <div class="panel details" id="details">${n ? html`<div><h3>${n.id}</h3>${n.sub ? html`<p class="muted">${n.sub}</p>` : null}<pre class="json">${JSON.stringify(n.detail, null, 2)}</pre></div>` : html`<p class="muted">Click a node for its config.</p>`}</div></div>`;
}

const EMPTY = new Set();

export async function render(main, ctx) {
  const conf = await api('/config');
  prender(html`<${Topology} conf=${conf} params=${ctx.params} canEval=${ctx.can('operator')} />`, main);
  return () => prender(null, main);
}
