// topology.js - the Topology page: the running config (GET /config) as a
// graph in five columns, signals -> decisions (priority / tier) ->
// selection -> models -> backends; a click shows a node's config, and a
// prompt typed in the box goes through POST /api/v1/eval (operator) to
// highlight the path it takes. State in the URL: node, prompt.
import { el, api, setParams, errorBox, pre } from './lib.js';

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

function drawGraph(g, hot, selected, onPick) {
  const colW = 200, rowH = 40, nodeW = 168, nodeH = 30, top = 30;
  const cols = COLS.map((_, i) => g.nodes.filter(n => n.col === i));
  // Order each column by the mean row of its parents (fewer crossings);
  // nodes without a parent keep their config order after the others.
  const rowOf = {};
  cols[0].forEach((n, j) => { rowOf[n.id] = j; });
  for (let i = 1; i < cols.length; i++) {
    const key = n => {
      const ps = g.edges.filter(e => e[1] === n.id && rowOf[e[0]] !== undefined).map(e => rowOf[e[0]]);
      return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : Infinity;
    };
    const keyed = cols[i].map((n, j) => ({ n, k: key(n), j }));
    keyed.sort((a, b) => (a.k - b.k) || (a.j - b.j));
    cols[i] = keyed.map(x => x.n);
    cols[i].forEach((n, j) => { rowOf[n.id] = j; });
  }
  const rows = Math.max(1, ...cols.map(c => c.length));
  const W = colW * COLS.length, H = top + rows * rowH + 10;
  const pos = {};
  cols.forEach((c, i) => {
    const off = ((rows - c.length) * rowH) / 2;
    c.forEach((n, j) => { pos[n.id] = { x: 10 + i * colW, y: top + off + j * rowH }; });
  });
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, class: 'topology', id: 'graph', width: W, height: H });
  COLS.forEach((c, i) => svg.append(el('text', { x: 10 + i * colW, y: 16, class: 'colhead' }, c)));
  for (const [a, b] of g.edges) {
    const p = pos[a], q = pos[b];
    if (!p || !q) continue;
    const x1 = p.x + nodeW, y1 = p.y + nodeH / 2, x2 = q.x, y2 = q.y + nodeH / 2, mx = (x1 + x2) / 2;
    const isHot = hot.has(a) && hot.has(b);
    svg.append(el('path', { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, class: 'edge' + (isHot ? ' hot' : '') }));
  }
  for (const n of g.nodes) {
    const p = pos[n.id];
    const cls = 'node col' + n.col + (hot.has(n.id) ? ' hot' : '') + (selected === n.id ? ' selected' : '');
    const gr = el('g', { class: cls, 'data-id': n.id, transform: `translate(${p.x},${p.y})`, onclick: () => onPick(n.id) },
      el('rect', { width: nodeW, height: nodeH, rx: 5 }),
      el('text', { x: 8, y: n.sub ? 13 : 19, class: 'label' }, n.label.length > 26 ? n.label.slice(0, 25) + '…' : n.label),
      n.sub ? el('text', { x: 8, y: 25, class: 'sub' }, n.sub.length > 30 ? n.sub.slice(0, 29) + '…' : n.sub) : null,
      el('title', {}, n.id));
    svg.append(gr);
  }
  return svg;
}

export async function render(main, ctx) {
  const conf = await api('/config');
  const cfg = conf.config || {};
  const g = buildGraph(cfg);
  let selected = ctx.params.node || '';
  let hot = new Set();
  let evResult = null;
  const graphBox = el('div', { class: 'graphbox' });
  const details = el('div', { class: 'panel details', id: 'details' });
  const result = el('div', { id: 'path-result' });
  const prompt = el('input', { type: 'text', id: 'topo-prompt', value: ctx.params.prompt || '', placeholder: 'type a prompt to see its path', disabled: !ctx.can('operator') });
  const go = el('button', { type: 'submit', disabled: !ctx.can('operator') }, 'Show path');
  const form = el('form', { class: 'toolbar', onsubmit: ev => { ev.preventDefault(); evaluate(); } }, prompt, go,
    ctx.can('operator') ? null : el('span', { class: 'muted' }, 'evaluating a prompt needs the operator role'));

  function draw() {
    graphBox.replaceChildren(drawGraph(g, hot, selected, id => { selected = id; setParams({ node: id }); draw(); }));
    const n = g.nodes.find(x => x.id === selected);
    details.replaceChildren(n ? el('div', {}, el('h3', {}, n.id), n.sub ? el('p', { class: 'muted' }, n.sub) : null, pre(n.detail))
      : el('p', { class: 'muted' }, 'Click a node for its config.'));
  }

  async function evaluate() {
    const text = prompt.value.trim();
    setParams({ prompt: text });
    if (!text) { hot = new Set(); result.replaceChildren(); draw(); return; }
    try {
      evResult = await api('/api/v1/eval', { body: { request: { model: 'auto', messages: [{ role: 'user', content: text }] } } });
      hot = hotPath(cfg, evResult);
      const matched = (evResult.signals || []).filter(s => s.matched).map(s => `${s.family}:${s.name}`);
      result.replaceChildren(el('p', { class: 'path' }, 'signals ', el('b', {}, matched.join(', ') || 'none'), ' → decision ',
        el('b', { id: 'path-decision' }, (evResult.decision && evResult.decision.name) || 'none'), ' → ', (evResult.selection && evResult.selection.used) || evResult.algorithm || '', ' → model ',
        el('b', { id: 'path-model' }, evResult.model || 'none'), ' ', el('a', { href: `#/playground?prompt=${encodeURIComponent(text)}` }, 'open in playground')));
    } catch (e) { result.replaceChildren(errorBox(e)); }
    draw();
  }

  main.append(el('div', { class: 'toolbar' }, el('h2', {}, 'Topology'), el('span', { class: 'muted' }, `config generation ${conf.generation}: ${g.nodes.length} nodes`)),
    form, result, el('div', { class: 'split' }, graphBox, details));
  draw();
  if (prompt.value && ctx.can('operator')) await evaluate();
}
