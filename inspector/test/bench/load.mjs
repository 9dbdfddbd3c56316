// The figures of docs/benchmarks.md "Inspector page": how long the page takes
// to load on loopback, and to draw a run of a 1,000-node spell, in headless
// Chromium against a real `grimoire serve`.
//
//   cd inspector && node test/bench/load.mjs      (GRIMOIRE_BIN=… to reuse a binary)
import { chromium } from 'playwright-core';
import { startServer } from '../browser/server.mjs';

const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const LOADS = 20;
const NODES = 1000;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const max = (xs) => Math.max(...xs);

const srv = await startServer();
const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
try {
  const token = await srv.token('bench');
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(srv.url + '/');
  await page.evaluate((t) => localStorage.setItem('grimoire.inspector.session', JSON.stringify({ token: t })), token);

  // 1. The runs list, from navigation to its table (or its empty message) shown.
  const dcl = [];
  const ready = [];
  for (let i = 0; i < LOADS; i++) {
    await page.goto(`${srv.url}/?load=${i}#/runs`);
    await page.locator('.runs-table, .runs .empty').first().waitFor();
    const t = await page.evaluate(() => ({ dcl: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd, now: performance.now() }));
    dcl.push(t.dcl);
    ready.push(t.now);
  }
  console.log(`page load (${LOADS} loads): DOMContentLoaded median ${median(dcl).toFixed(0)} ms, max ${max(dcl).toFixed(0)} ms; runs list shown median ${median(ready).toFixed(0)} ms, max ${max(ready).toFixed(0)} ms`);

  // 2. A run of a spell of NODES nodes (a trigger chain of Text Templates, no positions: dagre lays it out).
  const nodes = [{ id: 'n0', type: 'Module Trigger In', config: { name: 'start' } }];
  const edges = [];
  for (let i = 1; i < NODES; i++) {
    nodes.push({ id: `n${i}`, type: 'Text Template', config: { template: `step ${i}` } });
    edges.push({ from: `n${i - 1}.trigger`, to: `n${i}.trigger` });
  }
  await srv.rest(token, 'PUT', '/v1/spells/big', { format: 'grimoire/spell@1', id: 'big', nodes, edges });
  const run = await srv.rest(token, 'POST', '/v1/spells/big/runs?mode=sync', { inputs: {} });
  const drawn = [];
  for (let i = 0; i < 5; i++) {
    await page.goto(`${srv.url}/?open=${i}#/runs/${run.runId}`);
    const t0 = 0; // from the navigation's start
    await page.waitForFunction(
      (n) => {
        const cy = document.querySelector('#graph')?.cy;
        return cy && cy.nodes().length === n && cy.edges().length === n - 1 && cy.nodes().every((x) => x.data('state') === 'done');
      },
      NODES,
      { timeout: 120_000, polling: 50 },
    );
    drawn.push((await page.evaluate(() => performance.now())) - t0);
  }
  const bars = await page.locator('.timeline .bar').count();
  console.log(`run of a ${NODES}-node spell (${bars} timeline bars): drawn with every node done in median ${median(drawn).toFixed(0)} ms, max ${max(drawn).toFixed(0)} ms (5 opens)`);
} finally {
  await browser.close();
  await srv.stop();
}
