// The line diff between two versions' native documents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './load.mjs';

const { spellDiff } = await load('src/spelldiff.ts');

test('changed lines are removed then added; the rest is kept', () => {
  const a = '{\n  "id": "x",\n  "name": "old"\n}\n';
  const b = '{\n  "id": "x",\n  "name": "new",\n  "meta": 1\n}\n';
  const d = spellDiff(a, b);
  assert.equal(d.removed, 1);
  assert.equal(d.added, 2);
  assert.deepEqual(d.lines.filter((l) => l.kind !== 'same').map((l) => `${l.kind} ${l.text.trim()}`), ['removed "name": "old"', 'added "name": "new",', 'added "meta": 1']);
  assert.deepEqual(spellDiff(a, a), { lines: a.trimEnd().split('\n').map((text) => ({ kind: 'same', text })), added: 0, removed: 0 });
});
