// dashboard.test.mjs - the dashboard in headless Chromium against the real
// router run.sh started: log in, every page renders values from the running
// router (requests sent here appear in Overview and Sessions), the
// playground and the topology's prompt box show the decision a prompt must
// take, a config edit with a typo shows its diagnostic at the right line,
// and a viewer cannot evaluate or edit. Screenshots of every page go to
// $DASH_ARTIFACTS, each page's first render time to first-render.txt there.
// Prints one line per check and "N passed, N failed".
import { chromium } from 'playwright-core';
import { writeFileSync } from 'node:fs';
import { firstRender, formatRenders } from './first_render.mjs';

const env = process.env;
const MGMT = `http://127.0.0.1:${env.DASH_MGMT_PORT}`;
const ROUTER = `http://127.0.0.1:${env.DASH_PORT}`;
const ART = env.DASH_ARTIFACTS;
let passed = 0, failed = 0;

async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.message ? e.message.split('\n')[0] : e}`);
  }
}

function expect(cond, msg) { if (!cond) throw new Error(msg); }

async function chat(session, content) {
  const r = await fetch(`${ROUTER}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-session-id': session },
    body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content }] }),
  });
  expect(r.status === 200, `chat answered ${r.status}`);
  return r.json();
}

async function login(page, tok) {
  await page.goto(`${MGMT}/`);
  await page.waitForSelector('#login');
  await page.fill('#token', tok);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#role');
}

async function shot(page, name) {
  await page.screenshot({ path: `${ART}/${name}.png`, fullPage: true });
}

const SESSION = 'browser-s' + Date.now();
// a cold start on small, then a prompt the hard_reasoning decision takes
await chat(SESSION, 'hello there');
await chat(SESSION, 'please prove this step by step');

const browser = await chromium.launch({ executablePath: env.CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
// a blocked inline style or script names its source in the console error
await ctx.addInitScript(() => document.addEventListener('securitypolicyviolation', e => console.error(
  `CSP ${e.violatedDirective}: ${e.sourceFile}:${e.lineNumber}:${e.columnNumber} on ${e.target && e.target.outerHTML ? e.target.outerHTML.slice(0, 160) : e.target}`)));
const page = await ctx.newPage();
const consoleErrors = [];
page.on('console', m => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', e => consoleErrors.push(String(e)));
// bounds on waits, not timing checks: generous for a loaded machine under ASan
page.setDefaultTimeout(30000);

// Set the config editor's (CodeMirror) text as a user would: select all,
// then paste the new text (one edit; the editor handles a paste itself,
// where the browser's own editing of a large selection would add inline
// styles the CSP refuses).
async function setEditor(text) {
  await page.click('#cfg-editor .cm-content');
  await page.keyboard.press('Control+A');
  await page.$eval('#cfg-editor .cm-content', (e, v) => {
    const dt = new DataTransfer();
    dt.setData('text/plain', v);
    e.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  }, text);
}

// The page's own URL once it holds part: the pages write their state into
// it (history.replaceState) as they handle an event, and page.url() follows
// such same-document changes only when the browser's event about it has
// arrived; so wait (bounded) on location itself, then the caller asserts.
async function urlWith(part) {
  await page.waitForFunction(p => location.href.includes(p), part).catch(() => {});
  return page.evaluate(() => location.href);
}

// The line number the editor's gutter shows beside the first error marker.
async function markedLine() {
  return page.evaluate(() => {
    const root = document.querySelector('#cfg-editor').shadowRoot;
    const m = root.querySelector('.cm-lint-marker-error');
    if (!m) return null;
    const top = (m.closest('.cm-gutterElement') || m).getBoundingClientRect().top;
    for (const n of root.querySelectorAll('.cm-lineNumbers .cm-gutterElement'))
      if (n.textContent && Math.abs(n.getBoundingClientRect().top - top) < 2) return n.textContent;
    return null;
  });
}

await check('/ redirects to /dashboard/ and shows the login form', async () => {
  await page.goto(`${MGMT}/`);
  await page.waitForSelector('#login');
  expect(new URL(page.url()).pathname === '/dashboard/', `landed on ${page.url()}`);
});

await check('a wrong token is refused by the login form', async () => {
  await page.fill('#token', 'not-a-token');
  await page.click('#login button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#login-error').textContent.includes('not accepted'));
});

await check('viewer logs in; Overview shows the requests sent and both models', async () => {
  await login(page, env.DASH_VIEWER_TOKEN);
  expect((await page.textContent('#role')) === 'viewer', 'role is not viewer');
  await page.goto(`${MGMT}/dashboard/#/overview?every=1`);
  await page.waitForSelector('#overview .cards');
  // the card shows the newest read of /metrics (every second here); the
  // two requests sent above are counted there before the browser started
  const counted = await page.waitForFunction(
    () => Number(document.querySelector('.card.requests .value').textContent) >= 2).then(() => true, () => false);
  const n = Number(await page.textContent('.card.requests .value'));
  expect(counted && n >= 2, `requests card shows ${n}`);
  const models = await page.textContent('#overview .tables');
  expect(models.includes('small') && models.includes('large'), 'top models lack small/large');
  // top decisions come from the replay records, which the writer stores a
  // moment after the answer (a batch): wait for them (bounded), then check
  const shown = await page.waitForFunction(
    () => document.querySelector('#overview .tables').textContent.includes('hard_reasoning')).then(() => true, () => false);
  expect(shown, 'top decisions lack hard_reasoning');
  const gen = await page.textContent('.card.generation .value');
  expect(gen === '1', `generation ${gen}`);
  await page.waitForSelector('[data-chart=rate] canvas');
  await shot(page, 'overview');
});

await check('Overview keeps its window in the URL', async () => {
  await page.selectOption('#window', '15m');
  const u = await urlWith('window=15m');
  expect(u.includes('window=15m'), u);
});

await check('Sessions lists the session; its timeline marks the switch', async () => {
  await page.goto(`${MGMT}/dashboard/#/sessions?session_id=${SESSION}`);
  await page.waitForSelector(`#records a:text("${SESSION}")`);
  const found = await page.textContent('#sessions-found');
  expect(found.includes(SESSION) && found.includes('hard_reasoning'), `sessions table: ${found}`);
  await shot(page, 'sessions');
  await page.click(`#records a:text("${SESSION}")`);
  await page.waitForSelector('table.timeline tbody tr[data-turn]');
  const rows = await page.$$eval('table.timeline tbody tr[data-turn]', trs => trs.map(t => ({ cls: t.className, text: t.textContent })));
  expect(rows.length === 2, `${rows.length} timeline rows`);
  expect(rows[0].text.includes('small') && rows[0].text.includes('cold_start'), rows[0].text);
  expect(rows[1].cls.includes('switch') && rows[1].text.includes('large') && rows[1].text.includes('hard_reasoning'), rows[1].text);
  const u = await urlWith('session=' + SESSION);
  expect(u.includes('session=' + SESSION), u);
  await shot(page, 'session');
});

await check('one replay record in full', async () => {
  await page.click('table.timeline tbody tr[data-turn="2"] a:text("record")');
  await page.waitForSelector('#record-id');
  const body = await page.textContent('main');
  expect(body.includes('hard_reasoning') && body.includes('net_switch_advantage'), 'record lacks its routing');
  await shot(page, 'record');
});

await check('Topology draws the live config; a viewer cannot evaluate a prompt', async () => {
  await page.goto(`${MGMT}/dashboard/#/topology`);
  await page.waitForSelector('#graph');
  for (const id of ['signal:keyword:think_hard', 'decision:hard_reasoning', 'decision:default', 'decision:everything', 'model:large', 'backend:small/small-1'])
    expect(await page.$(`#graph [data-id="${id}"]`), `no node ${id}`);
  expect(await page.isDisabled('#topo-prompt'), 'prompt box enabled for a viewer');
  await page.click('#graph [data-id="decision:hard_reasoning"]');
  await page.waitForFunction(() => document.querySelector('#details').textContent.includes('think_hard'));
  const u = await urlWith('node=decision');
  expect(u.includes('node=decision'), u);
});

await check('Playground and Config are read-only for a viewer', async () => {
  await page.goto(`${MGMT}/dashboard/#/playground`);
  await page.waitForSelector('#pg-run');
  expect(await page.isDisabled('#pg-run'), 'evaluate enabled for a viewer');
  await page.goto(`${MGMT}/dashboard/#/config`);
  await page.waitForSelector('#cfg-editor');
  expect(await page.getAttribute('#cfg-editor .cm-content', 'contenteditable') === 'false', 'editor writable for a viewer');
  expect(!(await page.$('#cfg-apply')), 'a viewer has an Apply button');
});

await check('operator: the playground shows the decision a prompt must take', async () => {
  await page.click('#logout');
  await login(page, env.DASH_OPERATOR_TOKEN);
  await page.goto(`${MGMT}/dashboard/#/playground`);
  await page.waitForSelector('#pg-input');
  await page.fill('#pg-input', 'can you derive the formula');
  await page.click('#pg-run');
  await page.waitForSelector('#pg-decision');
  expect((await page.textContent('#pg-decision')) === 'hard_reasoning', 'wrong decision');
  expect((await page.textContent('#pg-model')) === 'large', 'wrong model');
  expect((await page.textContent('#pg-trace')).includes('keyword:think_hard'), 'trace lacks the signal');
  expect((await page.textContent('#pg-applied')).includes('system_prompt'), 'system_prompt not applied');
  const rewritten = JSON.parse(await page.textContent('#pg-rewritten'));
  expect(rewritten.model === 'sim-large' && rewritten.messages[0].content === 'Reason carefully.', JSON.stringify(rewritten));
  await shot(page, 'playground');
});

await check('the playground state is in the URL: a shared link re-runs it', async () => {
  const url = await urlWith('prompt=can+you+derive');
  expect(url.includes('prompt=can+you+derive'), url);
  await page.goto('about:blank');
  await page.goto(url);
  await page.waitForSelector('#pg-decision');
  expect((await page.textContent('#pg-decision')) === 'hard_reasoning', 'wrong decision after reload');
  await page.fill('#pg-input', 'hello');
  await page.fill('input[name=model]', 'large');
  await page.fill('input[name=turns]', '3');
  await page.click('#pg-run');
  await page.waitForFunction(() => document.querySelector('#pg-decision') && document.querySelector('#pg-decision').textContent === 'default');
  const reason = await page.textContent('#pg-reason');
  expect(reason && reason !== 'cold_start' && reason !== '–', `session verdict ${reason}`);
});

await check('the playground routes a Messages body like the router does', async () => {
  await page.goto(`${MGMT}/dashboard/#/playground`);
  await page.waitForSelector('#pg-input');
  await page.selectOption('#pg-mode', 'messages');
  await page.fill('#pg-input', JSON.stringify({ model: 'auto', max_tokens: 64, messages: [{ role: 'user', content: 'prove that' }] }));
  await page.fill('input[name=model]', '');
  await page.fill('input[name=turns]', '');
  await page.click('#pg-run');
  await page.waitForFunction(() => document.querySelector('#pg-decision') && document.querySelector('#pg-decision').textContent === 'hard_reasoning');
  const u = await urlWith('endpoint=messages');
  expect(u.includes('endpoint=messages'), u);
});

await check('operator: the topology highlights a prompt\'s path', async () => {
  await page.goto(`${MGMT}/dashboard/#/topology?prompt=prove%20it`);
  await page.waitForSelector('#path-decision');
  expect((await page.textContent('#path-decision')) === 'hard_reasoning', 'wrong decision');
  for (const id of ['signal:keyword:think_hard', 'decision:hard_reasoning', 'model:large', 'backend:large/large-1']) {
    const cls = await page.getAttribute(`#graph [data-id="${id}"]`, 'class');
    expect(cls.includes('hot'), `${id} not highlighted`);
  }
  const cls = await page.getAttribute('#graph [data-id="model:small"]', 'class');
  expect(!cls.includes('hot'), 'model:small highlighted');
  await shot(page, 'topology');
});

await check('Config: a typo shows its diagnostic at the right line', async () => {
  await page.goto(`${MGMT}/dashboard/#/config`);
  await page.waitForSelector('#cfg-editor');
  await page.waitForFunction(() => document.querySelector('#cfg-editor').value.includes('hard_reasoning'));
  const yaml = ['version: v0.3', 'providers:', '  defaults: {default_model: m}', '  models: [{name: m, backend_refs: [{endpoint: "h:1"}]}]',
    'routing:', '  modelCards: [{name: m}]', '  decisions:', '    - name: d', '      priority: high', '      modelRefs: [{model: m}]'].join('\n');
  await setEditor(yaml);
  await page.waitForSelector('#cfg-diags .diag.error');
  const diag = await page.textContent('#cfg-diags .diag.error');
  expect(diag.startsWith('request:9:'), `diagnostic ${diag}`);
  expect((await page.getAttribute('#cfg-diags .diag.error', 'data-line')) === '9', 'wrong line');
  await page.waitForSelector('#cfg-editor .cm-lint-marker-error');
  const marked = await markedLine();
  expect(marked === '9', `gutter marks line ${marked}, not 9`);
  expect(await page.$('#cfg-editor .cm-lintRange-error'), 'no error underline in the text');
  expect((await page.textContent('#cfg-diff')).includes('+ routing:'), 'diff lacks the edit');
  await shot(page, 'config');
  await setEditor(yaml.replace('priority: high', 'priority: 5'));
  await page.waitForFunction(() => document.querySelector('#cfg-state').textContent === 'valid');
});

await check('Config: a valid edit applies and the topology shows the new decision', async () => {
  await page.reload(); // a fresh editor with the running config
  await page.waitForFunction(() => document.querySelector('#cfg-editor') && document.querySelector('#cfg-editor').value.includes('hard_reasoning'));
  const cfg = JSON.parse(await page.$eval('#cfg-editor', e => e.value));
  cfg.routing.decisions.splice(1, 0, { name: 'math_help', priority: 30, rules: { type: 'keyword', name: 'think_hard' }, modelRefs: [{ model: 'small' }] });
  await setEditor(JSON.stringify(cfg, null, 2));
  await page.waitForFunction(() => document.querySelector('#cfg-state').textContent === 'valid');
  await page.waitForSelector('#cfg-apply:not([disabled])');
  await page.click('#cfg-apply');
  await page.waitForSelector('#cfg-applied');
  expect((await page.textContent('#cfg-applied')).startsWith('applied: generation 2'), await page.textContent('#cfg-applied'));
  await page.waitForFunction(() => document.querySelector('#cfg-audit').textContent.includes('op'));
  const audit = await page.textContent('#cfg-audit');
  expect(audit.includes('operator') && audit.includes('applied'), audit);
  await shot(page, 'config-applied');
  await page.waitForFunction(() => document.querySelector('#cfg-dsl').textContent.includes('ROUTE hard_reasoning'));
  await page.goto(`${MGMT}/dashboard/#/topology`);
  await page.waitForSelector('#graph [data-id="decision:math_help"]');
});

// Figures, not a check: every page's first render (first_render.mjs), to
// $DASH_ARTIFACTS/first-render.txt and stdout (docs/dashboard.md).
await check('first render of every page measured (figures only)', async () => {
  const text = formatRenders(await firstRender(browser, MGMT, env.DASH_OPERATOR_TOKEN, SESSION, 3));
  writeFileSync(`${ART}/first-render.txt`, text);
  process.stdout.write(text);
});

await check('no error in the browser console', async () => {
  expect(consoleErrors.length === 0, consoleErrors.join(' | '));
});

await browser.close();
writeFileSync(`${ART}/result.txt`, `${passed} passed, ${failed} failed\n`);
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
