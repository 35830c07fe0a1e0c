// app.js - the dashboard shell: who the stored token is (GET /api/v1/whoami),
// the login form when it is nobody, the navigation, and the page the URL
// hash names. Each page module exports render(main, ctx) and may return a
// stop function (timers) that runs when the page changes.
import { el, api, route, token, TOKEN_KEY, errorBox } from './lib.js';
import * as overview from './overview.js';
import * as topology from './topology.js';
import * as playground from './playground.js';
import * as sessions from './sessions.js';
import * as config from './config.js';

const PAGES = { overview, topology, playground, sessions, record: sessions, config };
const RANK = { anonymous: 0, viewer: 1, operator: 2, admin: 3 };
const main = document.getElementById('main');
let who = null;
let stop = null;

async function whoami(t) {
  return api('/api/v1/whoami', { token: t });
}

function loginForm(message) {
  const input = el('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'current-password', placeholder: 'management API token', required: true });
  const note = el('p', { class: 'error', id: 'login-error' }, message || '');
  const form = el('form', { id: 'login', class: 'panel narrow', onsubmit: async ev => {
    ev.preventDefault();
    try {
      const w = await whoami(input.value);
      if (w.role === 'anonymous') { note.textContent = 'That token is not accepted.'; return; }
      localStorage.setItem(TOKEN_KEY, input.value);
      who = w;
      render();
    } catch (e) { note.textContent = 'Login failed: ' + e.message; }
  } },
  el('h2', {}, 'Sign in'),
  el('p', { class: 'muted' }, 'Paste a token from global.services.management_api.tokens. It is kept in this browser (local storage) and sent as a bearer token.'),
  input, el('button', { type: 'submit' }, 'Sign in'), note);
  main.replaceChildren(form);
  input.focus();
}

function header() {
  const w = document.getElementById('who');
  w.replaceChildren(el('span', { class: 'role', id: 'role' }, who.open ? 'open (no tokens)' : who.role),
    who.open ? null : el('button', { class: 'link', id: 'logout', onclick: () => { localStorage.removeItem(TOKEN_KEY); who = null; render(); } }, 'sign out'));
  const r = route();
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === (r.page === 'record' ? 'sessions' : r.page));
}

async function render() {
  if (stop) { try { stop(); } catch (_) { /* ignore */ } stop = null; }
  if (!who) {
    try { who = await whoami(token()); } catch (e) { main.replaceChildren(errorBox(e)); return; }
  }
  if (who.role === 'anonymous') {
    document.getElementById('who').replaceChildren();
    return loginForm(token() ? 'The stored token is no longer accepted.' : '');
  }
  header();
  const r = route();
  const page = PAGES[r.page];
  if (!page) { main.replaceChildren(el('p', { class: 'error' }, 'no such page: ' + r.page)); return; }
  const ctx = {
    role: who.role,
    can: need => RANK[who.role] >= RANK[need],
    params: r.params,
    page: r.page,
  };
  main.replaceChildren();
  try {
    stop = (await page.render(main, ctx)) || null;
  } catch (e) {
    if (e.status === 401) { who = null; return render(); }
    main.append(errorBox(e));
  }
}

window.addEventListener('hashchange', render);
if (!location.hash) history.replaceState(null, '', '#/overview');
render();
