// app.js - the dashboard shell: who the stored token is (GET /api/v1/whoami),
// the login form when it is nobody, the navigation, and the page the URL
// hash names. The shell (sign-in form, role badge) is preact + htm. Each page module exports render(main, ctx) and may return a
// stop function (timers) that runs when the page changes.
import './style.css';
import 'uplot/dist/uPlot.min.css'; // here, so it is in app.css (a page chunk's CSS would not load)
import { el, html, prender, useEffect, useRef, useState, api, route, token, TOKEN_KEY, errorBox } from './lib.js';
// Each page is its own chunk, loaded when first shown: a page does not
// wait for another's libraries (CodeMirror, dagre, uPlot).
const PAGES = {
  overview: () => import('./overview.js'),
  topology: () => import('./topology.js'),
  playground: () => import('./playground.js'),
  sessions: () => import('./sessions.js'),
  record: () => import('./sessions.js'),
  config: () => import('./config.js'),
};
const RANK = { anonymous: 0, viewer: 1, operator: 2, admin: 3 };
const main = document.getElementById('main');
let who = null;
let stop = null;

async function whoami(t) {
  return api('/api/v1/whoami', { token: t });
}

// The sign-in form (preact): checks the token with whoami, keeps it.
function Login({ message }) {
  const [note, setNote] = useState(message || '');
  const input = useRef(null);
  useEffect(() => { input.current.focus(); }, []);
  async function submit(ev) {
    ev.preventDefault();
    const t = input.current.value;
    try {
      const w = await whoami(t);
      if (w.role === 'anonymous') { setNote('That token is not accepted.'); return; }
      localStorage.setItem(TOKEN_KEY, t);
      who = w;
      render();
    } catch (e) { setNote('Login failed: ' + e.message); }
  }
  return html`<form id="login" class="panel narrow" onSubmit=${submit}>
    <h2>Sign in</h2>
    <p class="muted">Paste a token from global.services.management_api.tokens. It is kept in this browser (local storage) and sent as a bearer token.</p>
    <input ref=${input} type="password" id="token" name="token" autocomplete="current-password" placeholder="management API token" required />
    <button type="submit">Sign in</button>
    <p class="error" id="login-error">${note}</p>
  </form>`;
}

function loginForm(message) {
  main.replaceChildren();
  prender(html`<${Login} message=${message} />`, main);
  stop = () => prender(null, main);
}

// The role badge and "sign out" in the header (preact).
function Who({ w }) {
  const out = () => { localStorage.removeItem(TOKEN_KEY); who = null; render(); };
  return html`<span class="role" id="role">${w.open ? 'open (no tokens)' : w.role}</span>${w.open ? null : html`<button class="link" id="logout" onClick=${out}>sign out</button>`}`;
}

function header() {
  prender(html`<${Who} w=${who} />`, document.getElementById('who'));
  const r = route();
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === (r.page === 'record' ? 'sessions' : r.page));
}

async function render() {
  if (stop) { try { stop(); } catch (_) { /* ignore */ } stop = null; }
  const early = PAGES[route().page];
  if (early) early().catch(() => {}); // fetch the page's chunk while whoami runs
  if (!who) {
    try { who = await whoami(token()); } catch (e) { main.replaceChildren(errorBox(e)); return; }
  }
  if (who.role === 'anonymous') {
    prender(null, document.getElementById('who'));
    return loginForm(token() ? 'The stored token is no longer accepted.' : '');
  }
  header();
  const r = route();
  const load = PAGES[r.page];
  if (!load) { main.replaceChildren(el('p', { class: 'error' }, 'no such page: ' + r.page)); return; }
  const ctx = {
    role: who.role,
    can: need => RANK[who.role] >= RANK[need],
    params: r.params,
    page: r.page,
  };
  try {
    const page = await load();
    if (route().page !== r.page) return; // navigated away meanwhile
    main.replaceChildren();
    stop = (await page.render(main, ctx)) || null;
  } catch (e) {
    if (e.status === 401) { who = null; return render(); }
    main.append(errorBox(e));
  }
}

window.addEventListener('hashchange', render);
if (!location.hash) history.replaceState(null, '', '#/overview');
render();
