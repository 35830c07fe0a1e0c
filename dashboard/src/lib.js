// lib.js - what every page shares: DOM building (el() and preact+htm; text
// only, never HTML from data), the management API client with the stored bearer token, the page
// state kept in the URL hash (#/page?key=value), formatting, the Prometheus
// text parser.

import { h, render as prender } from 'preact';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import htm from 'htm';

// Components are preact with htm templates (no JSX step): html`<div>…</div>`.
export const html = htm.bind(h);
export { prender, useEffect, useLayoutEffect, useMemo, useRef, useState };

export const TOKEN_KEY = 'tether.dashboard.token';

// el('div', {class: 'x', onclick: f}, 'text', child, [more]) -> element.
export function el(tag, attrs, ...kids) {
  const svg = ['svg', 'path', 'line', 'text', 'g', 'rect', 'circle', 'polyline', 'title'].includes(tag);
  const e = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'value' && !svg) e.value = v;
    else if (k === 'style') e.style.cssText = v; // CSSOM: allowed by the CSP, attributes are not
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  add(e, kids);
  return e;
}

function add(e, kids) {
  for (const k of kids) {
    if (k === undefined || k === null || k === false) continue;
    if (Array.isArray(k)) add(e, k);
    else e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
}

export class ApiError extends Error {
  constructor(status, message, code) { super(message); this.status = status; this.code = code; }
}

export function token() { return localStorage.getItem(TOKEN_KEY) || ''; }

// fetch on the management API; JSON in and out unless opts.text.
export async function api(path, opts = {}) {
  const headers = {};
  const t = opts.token !== undefined ? opts.token : token();
  if (t) headers.authorization = 'Bearer ' + t;
  let body;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    headers['content-type'] = opts.contentType || 'application/json';
  }
  const r = await fetch(path, { method: opts.method || (body !== undefined ? 'POST' : 'GET'), headers, body });
  const txt = await r.text();
  if (opts.text && r.ok) return txt;
  let j = null;
  try { j = JSON.parse(txt); } catch (_) { /* not JSON */ }
  if (!r.ok) {
    const msg = j && j.error ? j.error.message : txt || r.statusText;
    throw new ApiError(r.status, msg, j && j.error ? j.error.code : '');
  }
  return j;
}

// The page and its state, from the hash: #/sessions?session=abc
export function route() {
  const h = location.hash.replace(/^#\/?/, '');
  const q = h.indexOf('?');
  const page = (q < 0 ? h : h.slice(0, q)) || 'overview';
  const params = new URLSearchParams(q < 0 ? '' : h.slice(q + 1));
  return { page, params: Object.fromEntries(params) };
}

export function link(page, params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== '') p.set(k, v);
  const s = p.toString();
  return '#/' + page + (s ? '?' + s : '');
}

// Change the URL state of the current page without re-rendering it.
export function setParams(params, merge = true) {
  const r = route();
  const next = merge ? Object.assign({}, r.params, params) : params;
  history.replaceState(null, '', link(r.page, next));
}

export function fmtNum(v, digits = 2) {
  if (v === undefined || v === null || Number.isNaN(v)) return '–';
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(1) + 'G';
  if (a >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (a >= 1e4) return (v / 1e3).toFixed(1) + 'k';
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(digits);
}

export function fmtMs(sec) {
  if (sec === undefined || sec === null || Number.isNaN(sec)) return '–';
  const ms = sec * 1000;
  return ms < 10 ? ms.toFixed(2) + ' ms' : ms < 1000 ? ms.toFixed(0) + ' ms' : (ms / 1000).toFixed(2) + ' s';
}

export function fmtTime(ms) {
  if (!ms) return '–';
  const d = new Date(ms);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

// Prometheus text format -> [{name, labels, value}].
export function parseProm(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let lm;
      while ((lm = re.exec(m[3]))) labels[lm[1]] = lm[2].replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
    }
    out.push({ name: m[1], labels, value: parseFloat(m[4]) });
  }
  return out;
}

// Sum of a family's series, grouped by one label (or all into '').
export function sumBy(samples, name, label) {
  const g = {};
  for (const s of samples) {
    if (s.name !== name) continue;
    const k = label ? s.labels[label] || '' : '';
    g[k] = (g[k] || 0) + s.value;
  }
  return g;
}

// Cumulative histogram buckets {le: count} summed over every series.
export function buckets(samples, name) {
  const b = {};
  for (const s of samples) {
    if (s.name !== name + '_bucket') continue;
    const le = s.labels.le === '+Inf' ? Infinity : parseFloat(s.labels.le);
    b[le] = (b[le] || 0) + s.value;
  }
  return b;
}

// Quantile q of cumulative buckets (linear inside a bucket), NaN when empty.
export function quantile(b, q) {
  const les = Object.keys(b).map(Number).sort((x, y) => x - y);
  if (!les.length) return NaN;
  const total = b[les[les.length - 1]];
  if (!(total > 0)) return NaN;
  const rank = q * total;
  let prevLe = 0, prevC = 0;
  for (const le of les) {
    const c = b[le];
    if (c >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + (le - prevLe) * ((rank - prevC) / Math.max(c - prevC, 1e-12));
    }
    prevLe = le; prevC = c;
  }
  return prevLe;
}

export function diffBuckets(now, before) {
  const d = {};
  for (const k of Object.keys(now)) d[k] = now[k] - ((before && before[k]) || 0);
  return d;
}

const COLORS = ['#2f6fdf', '#d9534f', '#3a9d5d', '#e0a02b', '#8e5bd8', '#1aa3a3', '#c25b9e', '#7a7a7a'];
export function color(i) { return COLORS[i % COLORS.length]; }

export function table(cols, rows, opts = {}) {
  return el('table', { class: opts.class || 'grid' },
    el('thead', {}, el('tr', {}, cols.map(c => el('th', {}, c)))),
    el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: cols.length, class: 'muted' }, opts.empty || 'none'))));
}

export function card(label, value, cls) {
  return el('div', { class: 'card ' + (cls || '') }, el('div', { class: 'label' }, label), el('div', { class: 'value' }, value));
}

export function errorMsg(e) {
  return e instanceof ApiError
    ? (e.status === 403 ? 'This token\'s role cannot do that (' + e.message + ').' : `${e.status}: ${e.message}`)
    : String(e && e.message ? e.message : e);
}

export function errorBox(e) {
  return el('p', { class: 'error' }, errorMsg(e));
}

export function pre(obj) {
  return el('pre', { class: 'json' }, typeof obj === 'string' ? obj : JSON.stringify(obj, null, 2));
}
