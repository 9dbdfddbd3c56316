// Replay against node caches recorded by the server's own runner
// (test/fixtures/runs, written by testdata/fixturegen from the Go graph.Runner).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { replay, parseSpell, nodeResultsFromEvents, ReplayError } from '../../dist/esm/index.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const readJSON = (...p) => JSON.parse(readFileSync(join(fixtures, ...p), 'utf8'));
const runs = readdirSync(join(fixtures, 'runs')).filter((f) => f.endsWith('.json')).sort();

test('fixtures exist for both spell formats', () => {
  const spells = new Set(runs.map((f) => readJSON('runs', f).spell));
  assert.ok(spells.has('thoth_code_gate.json') && spells.has('magick_gate.json') && spells.has('native_branches.json'));
});

for (const file of runs) {
  test(`replay ${file}: hooks in the server's order with cached inputs and outputs; outputs equal the server's`, async () => {
    const fx = readJSON('runs', file);
    const doc = readJSON('spells', fx.spell);
    const calls = [];
    const report = await replay(doc, { nodes: fx.nodes }, {
      '*': async (node, inputs, outputs, ctx) => {
        await new Promise((r) => setTimeout(r, 0)); // hooks may be async; replay awaits each
        calls.push({ nodeId: node.id, activation: ctx.activation, inputs, outputs, fired: ctx.fired });
      },
    }, { inputs: fx.inputs, inputOrder: fx.inputOrder, strict: true });

    assert.deepEqual(report.mismatches, []);
    assert.deepEqual(report.outputs, fx.outputs, 'run outputs recomputed through the graph');
    assert.deepEqual(calls.map((c) => `${c.nodeId}#${c.activation}`), fx.nodes.map((n) => `${n.nodeId}#${n.activation}`));
    calls.forEach((c, i) => {
      assert.deepEqual(c.inputs, fx.nodes[i].inputs ?? {});
      assert.deepEqual(c.outputs, fx.nodes[i].outputs ?? {});
      assert.deepEqual(c.fired, fx.nodes[i].fired ?? []);
    });
    assert.deepEqual([...report.skipped].sort(), [...fx.skipped].sort());
  });

  test(`replay ${file} from cache hits alone (no recorded inputs): the walk resolves the same inputs`, async () => {
    const fx = readJSON('runs', file);
    const doc = readJSON('spells', fx.spell);
    const hits = fx.nodes.map(({ inputs, trigger, ...rest }) => ({ ...rest, cached: true }));
    const seen = [];
    const report = await replay(doc, hits, (node, inputs) => seen.push(inputs), { inputs: fx.inputs, inputOrder: fx.inputOrder, strict: true });
    assert.deepEqual(report.outputs, fx.outputs);
    assert.deepEqual(seen, fx.nodes.map((n) => n.inputs ?? {}));
  });
}

test('hooks are found by graph type, canonical type or alias, case-insensitively, with * as fallback', async () => {
  const fx = readJSON('runs', 'thoth_long.json');
  const doc = readJSON('spells', fx.spell);
  const by = {};
  const count = (k) => () => void (by[k] = (by[k] ?? 0) + 1);
  await replay(doc, fx, { input: count('input'), 'boolean gate': count('gate'), JavaScript: count('code'), '*': count('other') }, { inputs: fx.inputs });
  // 1 Module Trigger In, 2 Universal Input (alias of Input), 3 Code (alias JavaScript), 4 Boolean Gate, 5 Output
  assert.deepEqual(by, { input: 1, gate: 1, code: 1, other: 2 });
});

test('a RunResult carries its inputs: replay picks the same entry as the server (Magick first input)', async () => {
  const fx = readJSON('runs', 'magick_flag_no.json');
  const doc = readJSON('spells', fx.spell);
  const result = { runId: 'r_1', spellId: 'sdk-magick-gate', outputs: fx.outputs, nodes: fx.nodes, inputs: fx.inputs, inputOrder: fx.inputOrder };
  const report = await replay(doc, result, {}, { strict: true });
  assert.deepEqual(report.outputs, { no: 'hi' });
  assert.deepEqual(report.skipped, ['5']);
});

test('a cache missing an activation the walk needs: ReplayError when strict, a mismatch otherwise; never a model call', async () => {
  const fx = readJSON('runs', 'thoth_long.json');
  const doc = readJSON('spells', fx.spell);
  const cut = fx.nodes.filter((n) => n.nodeId !== '4');
  await assert.rejects(replay(doc, cut, {}, { strict: true }), (err) => err instanceof ReplayError && err.nodeId === '4');
  const report = await replay(doc, cut, {});
  assert.match(report.mismatches[0], /node 4 .*not in the run's node cache/);
  assert.match(report.mismatches[1], /node 5 activation 1 is in the run's node cache but the graph walk never reached it/);
  assert.deepEqual(report.outputs, {});
});

test('a cached activation the walk never reaches is reported', async () => {
  const fx = readJSON('runs', 'thoth_long.json');
  const doc = readJSON('spells', fx.spell);
  const extra = [...fx.nodes, { nodeId: '6', nodeType: 'Output', activation: 1, cached: false }];
  const report = await replay(doc, extra, {});
  assert.match(report.mismatches.join('\n'), /node 6 activation 1 is in the run's node cache but the graph walk never reached it/);
});

test('sub-spell activations (path) reach the hooks in the server order', async () => {
  const fx = readJSON('runs', 'thoth_long.json');
  const doc = readJSON('spells', fx.spell);
  const nodes = [...fx.nodes];
  nodes.splice(3, 0, { nodeId: 'x', nodeType: 'Echo', path: ['3'], activation: 1, outputs: { output: 'sub' }, cached: false });
  const order = [];
  await replay(doc, nodes, (node, _i, _o, ctx) => order.push(ctx.path.concat(node.id).join('/')), { strict: true });
  assert.deepEqual(order, ['1', '2', '3', '3/x', '4', '5']);
});

test('nodeResultsFromEvents builds the node cache from live events', () => {
  const events = [
    { type: 'run:start', runId: 'r', seq: 1 },
    { type: 'node:start', runId: 'r', seq: 2, nodeId: 'a', activation: 1, trigger: 'trigger', inputs: { x: [1] } },
    { type: 'node:chunk', runId: 'r', seq: 3, nodeId: 'a', activation: 1, text: 'h' },
    { type: 'node:end', runId: 'r', seq: 4, nodeId: 'a', activation: 1, outputs: { y: 2 }, fired: ['trigger'], cached: false },
    { type: 'node:end', runId: 'r', seq: 5, nodeId: 'b', activation: 1, outputs: { z: 3 }, cached: true },
  ];
  assert.deepEqual(nodeResultsFromEvents(events), [
    { nodeId: 'a', nodeType: undefined, path: undefined, activation: 1, trigger: 'trigger', inputs: { x: [1] }, outputs: { y: 2 }, fired: ['trigger'], cached: false },
    { nodeId: 'b', nodeType: undefined, path: undefined, activation: 1, trigger: undefined, inputs: undefined, outputs: { z: 3 }, fired: undefined, cached: true },
  ]);
});
