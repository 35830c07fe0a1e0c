// lib.mjs - shared helpers of the interop scripts: the router URL, a check
// counter and a main() wrapper that reports the first failure with a
// stack and exits non-zero.
import assert from 'node:assert/strict';

export { assert };

export const TETHER_URL = process.env.TETHER_URL;
if (!TETHER_URL) {
  console.error('TETHER_URL is not set (run tests/interop/run.sh)');
  process.exit(2);
}

let checks = 0;
export function check(cond, msg) {
  checks++;
  assert.ok(cond, msg);
}

export function step(name) {
  if (process.env.INTEROP_VERBOSE === '1') console.error(`  - ${name}`);
}

export async function main(name, fn) {
  try {
    await fn();
    console.log(`${name}: ok (${checks} checks)`);
  } catch (e) {
    console.error(`${name}: FAILED`);
    console.error(e && e.stack ? e.stack : e);
    if (e && e.error) console.error('error body:', JSON.stringify(e.error));
    process.exit(1);
  }
}
