// build.mjs - bundle the dashboard (src/) with its npm libraries into one
// directory the C build embeds (scripts/embed-assets.sh): index.html,
// app.js (the shell, minified ES module), one chunk-*.js per page and the
// libraries they share (loaded when a page is first shown), and app.css. Fails
// when the files together exceed the budget of 400 KB gzipped (issue 14),
// and prints their size. Run by scripts/dashboard.sh after `npm ci`.
// Usage: node build.mjs OUTDIR
import * as esbuild from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync, readdirSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const BUDGET = 400 * 1000; // bytes, gzip -9, every file together
const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) { console.error('usage: node build.mjs OUTDIR'); process.exit(2); }
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const built = await esbuild.build({
  absWorkingDir: here,
  entryPoints: { app: 'src/app.js' },
  bundle: true,
  format: 'esm',
  splitting: true, // a chunk per page, loaded when shown (src/app.js)
  chunkNames: 'chunk-[hash]',
  minify: true,
  target: 'es2020',
  outdir: out,
  legalComments: 'none',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
  metafile: true,
});
// index.html preloads the chunks app.js imports statically (the shared
// libraries), so they load beside app.js rather than after it.
const entry = Object.entries(built.metafile.outputs).find(([, o]) => o.entryPoint === 'src/app.js');
const preload = (entry ? entry[1].imports : []).filter(i => i.kind === 'import-statement')
  .map(i => `<link rel="modulepreload" href="${i.path.split('/').pop()}">\n`).join('');
const page = readFileSync(join(here, 'src/index.html'), 'utf8').replace('</head>', preload + '</head>');
writeFileSync(join(out, 'index.html'), page);

let raw = 0, gz = 0;
const sizes = [];
for (const f of readdirSync(out).sort()) {
  const b = readFileSync(join(out, f));
  const z = gzipSync(b, { level: 9 }).length;
  raw += b.length; gz += z;
  sizes.push(`${f} ${(b.length / 1000).toFixed(1)} KB (${(z / 1000).toFixed(1)} KB gzipped)`);
}
const line = `dashboard: ${(raw / 1000).toFixed(1)} KB, ${(gz / 1000).toFixed(1)} KB gzipped (budget ${BUDGET / 1000} KB): ${sizes.join(', ')}`;
writeFileSync(join(out, '.size'), line + '\n');
if (gz > BUDGET) {
  console.error(line);
  console.error(`dashboard: over the budget of ${BUDGET / 1000} KB gzipped`);
  rmSync(out, { recursive: true, force: true });
  process.exit(1);
}
console.log(line);
