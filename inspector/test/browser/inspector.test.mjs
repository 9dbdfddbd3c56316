// The inspector page in headless Chromium (Debian's /usr/bin/chromium, or
// $CHROMIUM) driven by playwright-core, against a real `grimoire serve`
// (loopback, its own data directory, the development secret and model
// stand-in). Screenshots of each view go to inspector/test/screenshots/
// (gitignored). Without Chromium or the server the tests are skipped, and
// fail under CI=true.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from './server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..', '..');
const shots = join(here, '..', 'screenshots');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const DONE = 'rgb(46,157,91)'; // STATE_COLOURS.done
const RUNNING = 'rgb(245,179,1)';

let srv;
let browser;
let context;
let page;
let skipReason;
let devToken;
const pageLog = [];

// A question the development model stand-in streams back at 20 tokens/s.
const words = (n) => Array.from({ length: n }, (_, i) => `word${i}`).join(' ');

before(async () => {
  try {
    if (!existsSync(executablePath)) throw new Error(`${executablePath} is missing (apt-get install -y chromium, or set CHROMIUM)`);
    srv = await startServer();
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  } catch (err) {
    if (process.env.CI === 'true') throw err;
    skipReason = `browser test not run: ${err.message.split('\n')[0]} (CI=true makes this a failure)`;
    return;
  }
  mkdirSync(shots, { recursive: true });
  context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  page = await context.newPage();
  page.on('console', (m) => pageLog.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => pageLog.push(`pageerror: ${e.message}`));
  devToken = await srv.token('dev');
  await srv.rest(devToken, 'PUT', '/v1/spells/chat', JSON.parse(readFileSync(join(repo, 'examples', 'chat.json'), 'utf8')));
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

const skip = (t) => {
  if (skipReason) {
    t.skip(skipReason);
    return true;
  }
  return false;
};

const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`) });
const logs = () => `\npage log:\n${pageLog.slice(-30).join('\n')}\nserver log (tail):\n${srv.log().slice(-3000)}`;

/** The drawn graph's nodes, read from Cytoscape: id, state and the colour it is painted. */
const graphNodes = () =>
  page.evaluate(() => {
    const cy = document.querySelector('#graph')?.cy;
    if (!cy) return [];
    return cy.nodes().map((n) => ({ id: n.id(), state: n.data('state'), colour: n.style('background-color').replace(/\s/g, ''), x: n.position('x'), y: n.position('y') }));
  });

const nodeColour = async (id) => (await graphNodes()).find((n) => n.id === id)?.colour;

async function startChat(token, n) {
  const r = await srv.rest(token, 'POST', '/v1/spells/chat/runs?mode=async', { inputs: { question: words(n) } });
  return r.runId;
}

async function waitRunStatus(token, runId, want, ms = 30_000) {
  const end = Date.now() + ms;
  for (;;) {
    const r = await srv.rest(token, 'GET', `/v1/runs/${runId}`);
    if (want.includes(r.status)) return r;
    if (Date.now() > end) throw new Error(`run ${runId} is ${r.status}, want ${want}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

test('sign in as the development user; the page loads fast', { timeout: 60_000 }, async (t) => {
  if (skip(t)) return;
  await page.goto(srv.url + '/');
  const button = page.locator('#dev-sign-in');
  await button.waitFor();
  assert.equal((await button.textContent()).trim(), 'Sign in as dev');
  await shot('sign-in');
  const nav = await page.evaluate(() => {
    const n = performance.getEntriesByType('navigation')[0];
    return { domContentLoaded: n.domContentLoadedEventEnd, load: n.loadEventEnd };
  });
  t.diagnostic(`page load on loopback: DOMContentLoaded ${nav.domContentLoaded.toFixed(0)} ms, load ${nav.load.toFixed(0)} ms`);
  writeFileSync(join(shots, 'load-timing.json'), JSON.stringify(nav));
  await button.click();
  await page.locator('#who').waitFor();
  assert.equal((await page.textContent('#who')).trim(), 'dev');
  await page.locator('#connection.conn-connected').waitFor();
});

test('a pasted token signs in too', { timeout: 30_000 }, async (t) => {
  if (skip(t)) return;
  const other = await context.newPage();
  await other.goto(srv.url + '/');
  await other.evaluate(() => localStorage.clear());
  await other.reload();
  await other.fill('#token', 'not a token');
  await other.click('button[type=submit]');
  assert.match(await other.textContent('.signin .error'), /not a JWT/);
  await other.fill('#token', await srv.token('carol'));
  await other.click('button[type=submit]');
  await other.locator('#who').waitFor();
  assert.equal((await other.textContent('#who')).trim(), 'carol');
  await other.click('#sign-out');
  await other.close();
  // Signing out in that tab forgot the shared session; sign in again here.
  await page.reload();
  await page.locator('#dev-sign-in').click();
  await page.locator('#who').waitFor();
});

let chatRun;
test('a run started over REST appears in the list live, and its status changes without reload', { timeout: 60_000 }, async (t) => {
  if (skip(t)) return;
  await page.goto(srv.url + '/#/runs');
  await page.locator('.runs').waitFor();
  chatRun = await startChat(devToken, 120); // about 6 s: longer than the list's polling, even on a loaded machine
  const row = page.locator(`tr[data-run="${chatRun}"]`);
  await page.locator(`tr[data-run="${chatRun}"][data-status="running"]`).waitFor({ timeout: 6_000 });
  await shot('runs-live');
  await page.locator(`tr[data-run="${chatRun}"][data-status="completed"]`).waitFor({ timeout: 30_000 });
  const tokens = await row.locator('td.num').nth(1).textContent();
  assert.match(tokens, /^\d+/, `tokens shown for the run: ${tokens}`);
  // Filters: by status, by spell.
  await page.selectOption('select[name=status]', 'failed');
  await page.locator(`tr[data-run="${chatRun}"]`).waitFor({ state: 'detached' });
  await page.selectOption('select[name=status]', 'completed');
  await row.waitFor();
  await page.selectOption('select[name=spell]', 'demo');
  await page.locator(`tr[data-run="${chatRun}"]`).waitFor({ state: 'detached' });
  await page.selectOption('select[name=spell]', 'chat');
  await row.waitFor();
  await shot('runs');
});

test('a run: the graph shows the node running, then done; its outputs; the timeline', { timeout: 60_000 }, async (t) => {
  if (skip(t)) return;
  const runId = await startChat(devToken, 120); // about 6 s
  await page.goto(`${srv.url}/#/runs/${runId}`);
  await page.locator('#graph').waitFor();
  await page.waitForFunction(() => document.querySelector('#graph')?.cy?.$id('llm').data('state') === 'running', null, { timeout: 15_000 });
  assert.equal(await nodeColour('llm'), RUNNING);
  // Streamed tokens show in the node as they arrive.
  await page.waitForFunction(() => /word\d+/.test(document.querySelector('#graph').cy.$id('llm').data('label')), null, { timeout: 10_000 });
  await shot('run-live');
  await page.waitForFunction(() => document.querySelector('#graph')?.cy?.$id('llm').data('state') === 'done', null, { timeout: 20_000 });
  assert.equal(await nodeColour('llm'), DONE);
  await page.locator('.run[data-status="completed"]').waitFor();
  const nodes = await graphNodes();
  assert.deepEqual(nodes.map((n) => n.id).sort(), ['answer', 'llm', 'question', 'start']);
  // Click the node on the canvas, where Cytoscape drew it.
  const box = await page.locator('#graph').boundingBox();
  const pos = await page.evaluate(() => document.querySelector('#graph').cy.$id('llm').renderedPosition());
  await page.mouse.click(box.x + pos.x, box.y + pos.y);
  const panel = page.locator('#node-panel .activation[data-node="llm"]');
  await panel.waitFor();
  const outputs = JSON.parse(await panel.locator('[data-json="outputs"]').getAttribute('data-value'));
  assert.equal(outputs.result, words(120));
  assert.match(await panel.textContent(), /duration/);
  assert.match(await panel.textContent(), /cachemiss/);
  assert.match(await panel.textContent(), /tokens\d+/);
  // One bar per activation, as the server's timeline counts them.
  const tl = await srv.rest(devToken, 'GET', `/v1/runs/${runId}/timeline`);
  const bars = await page.locator('.timeline .bar').count();
  assert.equal(bars, tl.steps.length, `bars ${bars}, activations ${tl.steps.length}`);
  assert.ok(bars >= 3);
  await shot('run');

  // The replay slider: the graph as it stood after the first event (run:start), then live again.
  const last = Number(await page.getAttribute('#scrubber', 'max'));
  assert.ok(last > 3);
  await page.locator('#scrubber').fill('1');
  await page.waitForFunction(() => document.querySelector('#graph').cy.nodes().every((n) => n.data('state') === 'idle'));
  assert.equal(await page.textContent('#scrub-seq'), `event 1 of ${last}`);
  assert.equal(await page.locator('.timeline .bar').count(), 0, 'no activation yet at event 1');
  await shot('run-scrubbed');
  await page.locator('#scrubber').fill(String(last));
  await page.waitForFunction(() => document.querySelector('#graph').cy.$id('llm').data('state') === 'done');
  assert.match(await page.textContent('#scrub-seq'), /^live/);
});

test('the graph is drawn at the saved Thoth positions', { timeout: 30_000 }, async (t) => {
  if (skip(t)) return;
  const doc = JSON.parse(readFileSync(join(repo, 'examples', 'thoth-gate.json'), 'utf8'));
  const saved = await srv.rest(devToken, 'PUT', `/v1/spells/${doc.id}`, doc);
  assert.ok(saved.hash);
  const r = await srv.rest(devToken, 'POST', `/v1/spells/${doc.id}/runs?mode=sync`, { inputs: { 'Input - Default': 'hi' } });
  await page.goto(`${srv.url}/#/runs/${r.runId}`);
  await page.locator(`.run[data-run="${r.runId}"][data-status="completed"]`).waitFor({ timeout: 15_000 });
  const chain = doc.chain ?? doc.graph;
  // Drawn from the spell (not only from the nodes the run reached) once it is loaded.
  await page.waitForFunction((n) => document.querySelector('#graph')?.cy?.edges().length === n, 8);
  const drawn = await graphNodes();
  for (const [id, n] of Object.entries(chain.nodes)) {
    const d = drawn.find((x) => x.id === String(n.id ?? id));
    assert.ok(d, `node ${id} drawn`);
    assert.deepEqual([d.x, d.y], n.position, `node ${id} at its saved position`);
  }
  assert.ok(drawn.some((n) => n.state === 'done'));
  // Every edge is drawn (has a size on the canvas), trigger and data edges apart.
  await page.waitForFunction(() => document.querySelector('#graph').cy.edges().every((e) => e.renderedBoundingBox().w > 0));
  const edges = await page.evaluate(() => document.querySelector('#graph').cy.edges().map((e) => ({ id: e.id(), kind: e.data('kind'), style: e.style('line-style') })));
  assert.equal(edges.length, 8);
  assert.equal(edges.find((e) => e.id === '4.true->5.trigger').style, 'solid');
  assert.equal(edges.find((e) => e.id === '3.long->4.boolean').style, 'dashed');
  await shot('run-thoth');
});

test('cancel and re-run from the page', { timeout: 90_000 }, async (t) => {
  if (skip(t)) return;
  const runId = await startChat(devToken, 400); // about 20 s
  await page.goto(`${srv.url}/#/runs/${runId}`);
  await page.waitForFunction(() => document.querySelector('#graph')?.cy?.$id('llm').data('state') === 'running', null, { timeout: 15_000 });
  await page.click('#cancel');
  await page.locator('.run[data-status="cancelled"]').waitFor({ timeout: 15_000 });
  assert.equal((await waitRunStatus(devToken, runId, ['cancelled'])).status, 'cancelled');
  await shot('run-cancelled');

  await page.goto(`${srv.url}/#/runs/${chatRun}`);
  await page.locator('.run[data-status="completed"]').waitFor();
  await page.click('#rerun');
  await page.waitForFunction((old) => /^#\/runs\/./.test(location.hash) && !location.hash.includes(old), chatRun);
  const newId = decodeURIComponent((await page.evaluate(() => location.hash)).split('/')[2]);
  await page.locator(`.run[data-run="${newId}"][data-status="completed"]`).waitFor({ timeout: 20_000 });
  const [a, b] = await Promise.all([srv.rest(devToken, 'GET', `/v1/runs/${chatRun}/timeline`), srv.rest(devToken, 'GET', `/v1/runs/${newId}/timeline`)]);
  assert.deepEqual(b.inputs, a.inputs, 're-run with the same inputs');
  assert.deepEqual(b.outputs, a.outputs);

  // Re-run with edited inputs; JSON that is not an object is refused on the page.
  await page.click('#edit-inputs summary');
  await page.fill('#inputs-json', '[1, 2]');
  await page.click('#rerun');
  assert.match(await page.locator('.run .error').textContent(), /JSON object/);
  await page.fill('#inputs-json', JSON.stringify({ question: 'edited question' }));
  await page.click('#rerun');
  await page.waitForFunction((old) => /^#\/runs\/./.test(location.hash) && !location.hash.includes(old), newId);
  const editedId = decodeURIComponent((await page.evaluate(() => location.hash)).split('/')[2]);
  await page.locator(`.run[data-run="${editedId}"][data-status="completed"]`).waitFor({ timeout: 20_000 });
  const c = await srv.rest(devToken, 'GET', `/v1/runs/${editedId}/timeline`);
  assert.deepEqual(c.inputs, { question: 'edited question' });
  assert.deepEqual(c.outputs, { answer: 'edited question' });
});

test('fork from a node', { timeout: 60_000 }, async (t) => {
  if (skip(t)) return;
  await page.goto(`${srv.url}/#/runs/${chatRun}`);
  await page.locator('.run[data-status="completed"]').waitFor();
  await page.waitForFunction(() => document.querySelector('#graph')?.cy?.$id('llm').length === 1);
  const box = await page.locator('#graph').boundingBox();
  const pos = await page.evaluate(() => document.querySelector('#graph').cy.$id('llm').renderedPosition());
  await page.mouse.click(box.x + pos.x, box.y + pos.y);
  await page.locator('#fork:not([disabled])').waitFor();
  assert.match(await page.textContent('#fork'), /Fork from llm/);
  await page.click('#fork');
  await page.waitForFunction((old) => /^#\/runs\/./.test(location.hash) && !location.hash.includes(old), chatRun);
  const forkId = decodeURIComponent((await page.evaluate(() => location.hash)).split('/')[2]);
  await page.locator(`.run[data-run="${forkId}"][data-status="completed"]`).waitFor({ timeout: 20_000 });
  assert.match(await page.textContent('.run header'), new RegExp(`forked from ${chatRun}`));
  const [tl, parent] = await Promise.all([srv.rest(devToken, 'GET', `/v1/runs/${forkId}/timeline`), srv.rest(devToken, 'GET', `/v1/runs/${chatRun}/timeline`)]);
  assert.equal(tl.parentRunId, chatRun);
  assert.deepEqual(tl.inputs, parent.inputs, "a fork without edited inputs keeps the parent's");
  await shot('run-fork');
});

test('the list pages through runs, newest first', { timeout: 60_000 }, async (t) => {
  if (skip(t)) return;
  const ids = [];
  for (let i = 0; i < 27; i++) ids.push((await srv.rest(devToken, 'POST', '/v1/spells/demo/runs?mode=sync', { inputs: { name: `n${i}` } })).runId);
  await page.goto(`${srv.url}/#/runs?spell=demo&within=hour`);
  const rows = page.locator('.runs-table tbody tr');
  await page.locator(`tr[data-run="${ids[26]}"]`).waitFor({ timeout: 10_000 });
  assert.equal(await rows.count(), 25);
  assert.equal(await rows.first().getAttribute('data-run'), ids[26], 'newest first');
  await page.click('.pager button:has-text("older")');
  await page.locator(`tr[data-run="${ids[0]}"]`).waitFor();
  const older = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.run));
  assert.deepEqual(older, [ids[1], ids[0]]);
  await page.click('.pager button:has-text("newer")');
  await page.locator(`tr[data-run="${ids[26]}"]`).waitFor();
});

test("a user does not see another user's runs", { timeout: 30_000 }, async (t) => {
  if (skip(t)) return;
  const bob = await srv.token('bob');
  const bobs = await srv.rest(bob, 'POST', '/v1/spells/demo/runs?mode=sync', { inputs: { name: 'Bob' } });
  const mine = await srv.rest(devToken, 'POST', '/v1/spells/demo/runs?mode=sync', { inputs: { name: 'Dev' } });
  await page.goto(`${srv.url}/#/runs`);
  await page.locator(`tr[data-run="${mine.runId}"]`).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator(`tr[data-run="${bobs.runId}"]`).count(), 0, "bob's run is not listed");
  await page.goto(`${srv.url}/#/runs/${bobs.runId}`);
  const err = page.locator('.run .error');
  await err.waitFor();
  assert.match(await err.textContent(), /another user|forbidden|may not/i);
  assert.equal(await page.evaluate(() => document.querySelector('#graph')?.cy?.nodes().length ?? 0), 0, "nothing of bob's run is drawn");

  // An analyst sees everyone's runs, with a user column and filter.
  const analyst = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const ap = await analyst.newPage();
  await ap.goto(srv.url + '/');
  await ap.fill('#token', await srv.token('ana', { roles: ['analyst'] }));
  await ap.click('button[type=submit]');
  await ap.locator(`tr[data-run="${bobs.runId}"]`).waitFor({ timeout: 10_000 });
  await ap.locator(`tr[data-run="${mine.runId}"]`).waitFor();
  assert.equal((await ap.textContent('#who')).trim(), 'ana (analyst)');
  await ap.fill('input[name=user]', 'bob');
  await ap.press('input[name=user]', 'Tab');
  await ap.locator(`tr[data-run="${mine.runId}"]`).waitFor({ state: 'detached' });
  assert.equal(await ap.locator(`tr[data-run="${bobs.runId}"]`).count(), 1);
  await ap.goto(`${srv.url}/#/runs/${bobs.runId}`);
  await ap.locator(`.run[data-run="${bobs.runId}"][data-status="completed"]`).waitFor();
  await analyst.close();
});

test('the page survives a server restart: it reconnects and follows the run to its end', { timeout: 120_000 }, async (t) => {
  if (skip(t)) return;
  const runId = await startChat(devToken, 200); // about 10 s
  await page.goto(`${srv.url}/#/runs/${runId}`);
  await page.waitForFunction(() => document.querySelector('#graph')?.cy?.$id('llm').data('state') === 'running', null, { timeout: 15_000 });
  await page.locator('#connection.conn-connected').waitFor();
  const restarted = srv.restart();
  await page.locator('#connection.conn-reconnecting').waitFor({ timeout: 15_000 });
  await shot('reconnecting');
  await restarted;
  await page.locator('#connection.conn-connected').waitFor({ timeout: 30_000 });
  // The server resumes the interrupted run; the page follows it to its end.
  await page.locator('.run[data-status="completed"]').waitFor({ timeout: 60_000 }).catch((err) => {
    throw new Error(`${err.message}${logs()}`);
  });
  await page.waitForFunction(() => document.querySelector('#graph')?.cy?.$id('llm').data('state') === 'done');
  assert.equal((await waitRunStatus(devToken, runId, ['completed'])).status, 'completed');
  // The list works again too.
  await page.goto(`${srv.url}/#/runs`);
  await page.locator(`tr[data-run="${runId}"][data-status="completed"]`).waitFor({ timeout: 10_000 });
});

test('the spells view: a form from the Input nodes, and Run', { timeout: 60_000 }, async (t) => {
  if (skip(t)) return;
  await page.goto(`${srv.url}/#/spells`);
  await page.locator('tr[data-spell="demo"]').waitFor();
  await shot('spells');
  await page.click('tr[data-spell="demo"] a');
  await page.locator('#run-form textarea[name="name"]').waitFor();
  await page.fill('#run-form textarea[name="name"]', 'Playground');
  await shot('playground');
  await page.click('#run-spell');
  await page.locator('.run[data-status="completed"]').waitFor({ timeout: 20_000 });
  const outputs = JSON.parse(await page.locator('[data-json="run-outputs"]').getAttribute('data-value'));
  assert.deepEqual(outputs, { greeting: 'Hello, Playground!', letters: 15 });

  // Versions, and the diff between the last two.
  const doc = JSON.parse(readFileSync(join(repo, 'examples', 'chat.json'), 'utf8'));
  doc.nodes.find((n) => n.id === 'llm').config.system = 'Answer in French.';
  const v2 = await srv.rest(devToken, 'PUT', '/v1/spells/chat', doc);
  await page.goto(`${srv.url}/#/spells/chat`);
  await page.locator('#versions tr[data-version="2"]').waitFor();
  assert.match(await page.textContent('#versions tr[data-version="2"]'), new RegExp(v2.hash));
  await page.locator('#spell-diff').waitFor();
  const removed = await page.locator('#spell-diff .diff-removed').allTextContents();
  const added = await page.locator('#spell-diff .diff-added').allTextContents();
  assert.equal(removed.length, 1, removed.join('\n'));
  assert.match(removed[0], /Answer in one sentence/);
  assert.equal(added.length, 1, added.join('\n'));
  assert.match(added[0], /Answer in French/);
  await shot('spell-versions');
});

test('usage: tokens per day by spell, as a chart, with totals', { timeout: 30_000 }, async (t) => {
  if (skip(t)) return;
  const report = await srv.rest(devToken, 'GET', '/v1/usage?group_by=spell');
  const chat = report.rows.find((r) => r.spellId === 'chat');
  assert.ok(chat?.totalTokens > 0, `the chat runs used tokens: ${JSON.stringify(report)}`);
  await page.goto(`${srv.url}/#/usage`);
  await page.locator('#usage-chart canvas').waitFor();
  const row = page.locator('.usage-table tr[data-name="chat"]');
  await row.waitFor();
  assert.equal(Number(await row.getAttribute('data-tokens')), chat.totalTokens);
  await page.selectOption('select[name=by]', 'model');
  await page.locator('.usage-table tr[data-name="grimoire-dev-echo"]').waitFor();
  await shot('usage');
});

test('a run that waits: the page shows the question, answers it, and the run goes on', { timeout: 60_000 }, async (t) => {
  if (skip(t)) return;
  await srv.rest(devToken, 'PUT', '/v1/spells/approve', JSON.parse(readFileSync(join(repo, 'examples', 'approve.json'), 'utf8')));
  const { runId } = await srv.rest(devToken, 'POST', '/v1/spells/approve/runs?mode=async', { inputs: { draft: 'hello world' } });
  await waitRunStatus(devToken, runId, ['waiting']);
  await page.goto(`${srv.url}/#/runs/${runId}`);
  await page.locator('.run[data-status="waiting"]').waitFor({ timeout: 15_000 });
  await page.waitForFunction(() => document.querySelector('#graph')?.cy?.$id('ask').data('state') === 'waiting', null, { timeout: 15_000 });
  assert.equal(await page.locator('#question-prompt').textContent(), 'Publish "hello world"?');
  // The form starts from the schema's shape; an answer the schema refuses is shown, and nothing changes.
  assert.deepEqual(JSON.parse(await page.locator('#answer-json').inputValue()), { approved: true });
  await shot('run-waiting');
  await page.fill('#answer-json', JSON.stringify({ approved: 'yes' }));
  await page.click('#answer-submit');
  await page.locator('.run .error').waitFor({ timeout: 10_000 });
  assert.match(await page.locator('.run .error').textContent(), /approved/);
  assert.equal((await srv.rest(devToken, 'GET', `/v1/runs/${runId}`)).status, 'waiting');
  await page.fill('#answer-json', JSON.stringify({ approved: true, note: 'ship it' }));
  await page.click('#answer-submit');
  await page.locator('.run[data-status="completed"]').waitFor({ timeout: 20_000 }).catch(async (err) => {
    throw new Error(`${err.message}${logs()}`);
  });
  const done = await waitRunStatus(devToken, runId, ['completed']);
  assert.deepEqual(done.outputs, { decision: { approved: true, note: 'ship it' } });
  assert.equal(await nodeColour('ask'), DONE);
});

test('no page errors', (t) => {
  if (skip(t)) return;
  const errors = pageLog.filter((l) => l.startsWith('pageerror'));
  assert.deepEqual(errors, [], logs());
});
