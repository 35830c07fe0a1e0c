// measure.mjs - first render time of every dashboard page (not a test: it
// prints figures for docs/dashboard.md). Run: tests/browser/run.sh measure.mjs
// (first_render.mjs says how a page is timed).
import { chromium } from 'playwright-core';
import { firstRender, formatRenders } from './first_render.mjs';

const env = process.env;
const MGMT = `http://127.0.0.1:${env.DASH_MGMT_PORT}`;
const ROUTER = `http://127.0.0.1:${env.DASH_PORT}`;
for (let i = 0; i < 20; i++) {
  await fetch(`${ROUTER}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-session-id': 'm' + (i % 4) },
    body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: i % 3 ? 'hello' : 'prove it' }] }),
  });
}
const browser = await chromium.launch({ executablePath: env.CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
process.stdout.write(formatRenders(await firstRender(browser, MGMT, env.DASH_OPERATOR_TOKEN, 'm0')));
await browser.close();
