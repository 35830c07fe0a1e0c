// measure.mjs - first render time of every dashboard page (not a test: it
// prints figures for docs/PERFORMANCE.md). Run: tests/browser/run.sh measure.mjs
// Each page is loaded fresh (a new tab, token already stored) and timed from
// navigation start until its main element shows real data.
import { chromium } from 'playwright-core';

const env = process.env;
const MGMT = `http://127.0.0.1:${env.DASH_MGMT_PORT}`;
const ROUTER = `http://127.0.0.1:${env.DASH_PORT}`;
for (let i = 0; i < 20; i++) {
  await fetch(`${ROUTER}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-session-id': 'm' + (i % 4) },
    body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: i % 3 ? 'hello' : 'prove it' }] }),
  });
}
const pages = [
  ['baseline', null, 'body'], // /health: what a page load costs here before any dashboard work
  ['overview', '#/overview', '.card.requests .value'],
  ['topology', '#/topology', '#graph'],
  ['playground', '#/playground?prompt=prove%20it', '#pg-decision'],
  ['sessions', '#/sessions', '#records tbody tr'],
  ['session', '#/sessions?session=m0', 'table.timeline tbody tr[data-turn]'],
  ['config', '#/config', '#cfg-editor'],
];
const browser = await chromium.launch({ executablePath: env.CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
const ctx = await browser.newContext();
await ctx.addInitScript(t => localStorage.setItem('tether.dashboard.token', t), env.DASH_OPERATOR_TOKEN);
const runs = 5;
for (const [name, hash, sel] of pages) {
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const page = await ctx.newPage();
    const t0 = Date.now();
    await page.goto(hash ? `${MGMT}/dashboard/${hash}` : `${MGMT}/health`);
    await page.waitForSelector(sel);
    ms.push(Date.now() - t0);
    await page.close();
  }
  ms.sort((a, b) => a - b);
  console.log(`${name.padEnd(10)} first render: median ${ms[Math.floor(runs / 2)]} ms, max ${ms[runs - 1]} ms (${runs} loads)`);
}
await browser.close();
