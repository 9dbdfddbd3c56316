// Building the drawn graph from both formats: Grimoire's native document and
// Thoth / Magick exports (graph/testdata, the server's own fixtures).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { examples, load, testdata } from './load.mjs';

const { buildSpellView, inputFields } = await load('src/spellgraph.ts');
const read = (dir, f) => readFileSync(join(dir, f), 'utf8');
const kinds = (view) => Object.fromEntries(view.edges.map((e) => [`${e.source}.${e.sourcePort}->${e.target}.${e.targetPort}`, e.kind]));

test('native: nodes, edges told trigger or data, laid out when there are no positions', () => {
  const v = buildSpellView(read(join(examples, '..', 'cmd', 'grimoire'), 'demo-spell.json'));
  assert.equal(v.id, 'demo');
  assert.deepEqual(v.nodes.map((n) => n.id).sort(), ['count', 'greet', 'greeting', 'letters', 'name', 'start']);
  assert.equal(v.positioned, false);
  assert.deepEqual(kinds(v), {
    'count.letters->letters.input': 'data',
    'count.trigger->letters.trigger': 'trigger',
    'greet.output->count.text': 'data',
    'greet.output->greeting.input': 'data',
    'greet.trigger->count.trigger': 'trigger',
    'greet.trigger->greeting.trigger': 'trigger',
    'name.output->greet.name': 'data',
    'start.trigger->greet.trigger': 'trigger',
  });
  assert.equal(v.nodes.find((n) => n.id === 'greeting').label, 'greeting\nOutput');
  assert.deepEqual(inputFields(read(join(examples, '..', 'cmd', 'grimoire'), 'demo-spell.json')), [{ name: 'name', nodeId: 'name', defaultValue: 'world', type: undefined }]);
});

test('Thoth (chain): positions kept, connections from both ends once', () => {
  const v = buildSpellView(read(testdata, 'thoth_chain.json'));
  assert.equal(v.positioned, true);
  assert.deepEqual(v.nodes.find((n) => n.id === '3').position, { x: -472.3212364212005, y: -279.86350854927025 });
  const k = kinds(v);
  assert.equal(k['1.trigger->3.trigger'], 'trigger');
  assert.equal(k['6.trigger->3.trigger'], 'trigger');
  assert.equal(k['2.output->3.input'], 'data');
  assert.equal(k['4.output->3.persona'], 'data');
  assert.equal(k['3.trigger->5.trigger'], 'trigger');
  assert.equal(k['5.trigger->7.trigger'], 'trigger');
  assert.equal(new Set(v.edges.map((e) => e.id)).size, v.edges.length, 'no edge twice');
  assert.deepEqual(inputFields(read(testdata, 'thoth_chain.json')).map((f) => f.nodeId), ['2']);
});

test('Magick (graph, and graph as a JSON string): declared trigger outputs, builtin gate ports', () => {
  const v = buildSpellView(read(testdata, 'magick_graph_string.json'));
  assert.equal(v.positioned, true);
  const k = kinds(v);
  assert.equal(k['9.done->10.trigger'], 'trigger', 'a declared option output is a trigger');
  assert.equal(k['9.upper->11.input'], 'data');
  assert.equal(k['9.isEmpty->10.boolean'], 'data');
  assert.equal(k['10.false->11.trigger'], 'trigger', "Boolean Gate's false is a trigger");
  assert.equal(k['7.trigger->9.trigger'], 'trigger');
  assert.equal(k['7.output->9.text'], 'data');

  const m = buildSpellView(read(testdata, 'magick_graph.json'));
  assert.equal(m.nodes.length, 7);
  const mk = kinds(m);
  assert.equal(mk['100.trigger->101.trigger'], 'trigger');
  assert.equal(mk['101.content->103.input'], 'data');
  assert.equal(mk['103.composed->106.input'], 'data');
  assert.equal(mk['103.trigger->106.trigger'], 'trigger');
});

test('a graph without positions for some nodes is laid out', () => {
  const doc = JSON.parse(read(testdata, 'thoth_chain.json'));
  delete doc.chain.nodes['4'].position;
  assert.equal(buildSpellView(doc).positioned, false);
});

test('a document that is not a spell is refused with a clear error', () => {
  assert.throws(() => buildSpellView('{"nodes": []}'), /format/);
  assert.throws(() => buildSpellView('not json'), /not JSON/);
});
