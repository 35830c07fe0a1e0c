// first_render.mjs - the first render time of every dashboard page: each
// page loaded fresh (a new tab; the token already stored), timed from
// navigation start until its main element shows real data. Used by
// dashboard.test.mjs (figures to $DASH_ARTIFACTS/first-render.txt, printed,
// never asserted) and measure.mjs. Figures, not checks: docs/dashboard.md.
export const PAGES = [
  ['baseline', null, 'body'], // /health: what a page load costs here before any dashboard work
  ['overview', '#/overview', '.card.requests .value'],
  ['topology', '#/topology', '#graph [data-id]'],
  ['playground', '#/playground?prompt=prove%20it', '#pg-decision'],
  ['sessions', '#/sessions', '#records tbody tr'],
  ['session', '#/sessions?session=SESSION', 'table.timeline tbody tr[data-turn]'],
  ['config', '#/config', '#cfg-editor .cm-line'],
];

// -> [{name, median, max, runs}]; session names the session page's session.
export async function firstRender(browser, mgmt, token, session, runs = 5) {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await ctx.addInitScript(t => localStorage.setItem('tether.dashboard.token', t), token);
  const out = [];
  for (const [name, hash, sel] of PAGES) {
    const ms = [];
    for (let i = 0; i < runs; i++) {
      const page = await ctx.newPage();
      const t0 = Date.now();
      await page.goto(hash ? `${mgmt}/dashboard/${hash.replace('SESSION', encodeURIComponent(session))}` : `${mgmt}/health`);
      await page.waitForSelector(sel, { timeout: 30000 });
      ms.push(Date.now() - t0);
      await page.close();
    }
    ms.sort((a, b) => a - b);
    out.push({ name, median: ms[Math.floor(runs / 2)], max: ms[runs - 1], runs });
  }
  await ctx.close();
  return out;
}

export function formatRenders(rows) {
  return rows.map(r => `${r.name.padEnd(10)} first render: median ${r.median} ms, max ${r.max} ms (${r.runs} loads)`).join('\n') + '\n';
}
