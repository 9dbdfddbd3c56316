import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSpell, compareNodeIDs, SpellParseError } from '../../dist/esm/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..', '..', '..');
const read = (p) => readFileSync(p, 'utf8');

test('a Thoth export: chain, numeric ids, connections from both ends, declared ports', () => {
  const g = parseSpell(read(join(here, '..', 'fixtures', 'spells', 'thoth_code_gate.json')));
  assert.equal(g.format, 'rete');
  assert.equal(g.id, '5d3c0c0e-1f7e-4a59-9d0e-6c1a2b3c4d5e');
  assert.equal(g.meta.dialect, 'thoth');
  assert.deepEqual(g.nodes.map((n) => n.id), ['1', '2', '3', '4', '5', '6']);
  assert.equal(g.nodes[2].type, 'Code');
  assert.deepEqual(g.nodes[2].outputs.map((p) => p.key), ['length', 'long']);
  assert.deepEqual(g.nodes[0].position, { x: 0, y: -300 });
  const edges = g.edges.map((e) => `${e.from.node}.${e.from.port}->${e.to.node}.${e.to.port}`);
  assert.equal(new Set(edges).size, edges.length, 'each connection once although both ends list it');
  assert.ok(edges.includes('4.false->6.trigger') && edges.includes('3.length->6.input'));
});

test('a Magick export whose graph is a JSON string', () => {
  const g = parseSpell(read(join(here, '..', 'fixtures', 'spells', 'magick_gate.json')));
  assert.equal(g.meta.dialect, 'magick');
  assert.equal(g.id, 'sdk-magick-gate');
  assert.equal(g.nodes.length, 6);
});

test('the repository\'s own spell test files parse in both formats', () => {
  for (const f of ['native_hello.json', 'thoth_chain.json', 'magick_graph.json', 'magick_graph_string.json', 'rete_bare_graph.json']) {
    const g = parseSpell(read(join(repo, 'graph', 'testdata', f)));
    assert.ok(g.nodes.length > 0, f);
    const ids = new Set(g.nodes.map((n) => n.id));
    for (const e of g.edges) assert.ok(ids.has(e.from.node) && ids.has(e.to.node), `${f}: edge ${e.from.node}.${e.from.port} -> ${e.to.node}.${e.to.port}`);
  }
});

test('a native document; node ids and edges in canonical order', () => {
  const g = parseSpell({
    format: 'grimoire/spell@1', id: 's',
    nodes: [{ id: 'b', type: 'Echo' }, { id: '10', type: 'Echo' }, { id: '2', type: 'Echo', inputs: [{ key: 'k', kind: 'trigger' }] }],
    edges: [{ from: 'b.output', to: '2.string' }, { from: '10.a.b', to: 'b.string' }],
  });
  assert.deepEqual(g.nodes.map((n) => n.id), ['2', '10', 'b']);
  assert.deepEqual(g.edges[0], { from: { node: '10', port: 'a.b' }, to: { node: 'b', port: 'string' } });
  assert.equal(g.nodes[0].inputs[0].kind, 'trigger');
});

test('bad documents give SpellParseError with a path', () => {
  assert.throws(() => parseSpell('{'), SpellParseError);
  assert.throws(() => parseSpell({ format: 'grimoire/spell@2', nodes: [] }), (e) => e instanceof SpellParseError && e.path === 'format');
  assert.throws(() => parseSpell({ nodes: [] }), /add "format"/);
  assert.throws(() => parseSpell({ format: 'grimoire/spell@1', nodes: [], edges: [{ from: 'x', to: 'y.z' }] }), (e) => e.path === 'edges[0].from');
  assert.throws(() => parseSpell({ hello: 1 }), /not a spell/);
});

test('compareNodeIDs: digits first in numeric order, then byte order', () => {
  assert.deepEqual(['b', '10', 'a', '2', '007'].sort(compareNodeIDs), ['2', '007', '10', 'a', 'b']);
});
