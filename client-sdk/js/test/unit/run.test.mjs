// A Run's delivery: every event once, in sequence order, whatever the socket
// delivers (duplicates after a reconnect, reordering, gaps filled by run:subscribe).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Run, RunFailedError, RunCancelledError, RequestError } from '../../dist/esm/index.js';
import * as cjs from '../../dist/cjs/index.cjs';

function fakeClient() {
  const requests = [];
  return {
    requests,
    forgotten: 0,
    request(event, payload) {
      requests.push({ event, payload });
      return Promise.resolve({ ok: true });
    },
    _send(event, payload) {
      return this.request(event, payload);
    },
    _gapFillDelay: () => 20,
    _forget() {
      this.forgotten++;
    },
  };
}
const ev = (seq, type = 'node:end', extra = {}) => ({ type, runId: 'r_test_1', seq, nodeId: `n${seq}`, activation: 1, ...extra });

test('duplicates are dropped and out-of-order events wait for the missing ones', async () => {
  const client = fakeClient();
  const run = new Run(client, { runId: 'r_test_1', spellId: 's' });
  const seen = [];
  const nodes = [];
  run.on('event', (e) => seen.push(e.seq));
  run.on('node', (e) => nodes.push(e.nodeId));
  for (const s of [1, 2, 2, 4, 3, 1, 5, 4]) run._receive(ev(s, s === 1 ? 'run:start' : 'node:end'));
  assert.deepEqual(seen, [1, 2, 3, 4, 5]);
  assert.deepEqual(nodes, ['n2', 'n3', 'n4', 'n5']);
  assert.equal(run.duplicates, 3);
  assert.equal(run.lastSeq, 5);
  run._receive(ev(6, 'run:completed', { outputs: { a: 1 }, nodes: [] }));
  const result = await run.completed;
  assert.deepEqual(result.outputs, { a: 1 });
  assert.equal(run.status, 'completed');
  assert.equal(client.forgotten, 1);
  run._receive(ev(7)); // after the end: ignored
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6]);
});

test('a gap that does not fill by itself is asked for with run:subscribe after the last delivered seq', async () => {
  const client = fakeClient();
  const run = new Run(client, { runId: 'r_test_1', spellId: 's' });
  run._receive(ev(1, 'run:start'));
  run._receive(ev(2));
  run._receive(ev(5));
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(client.requests, [{ event: 'run:subscribe', payload: { runId: 'r_test_1', afterSeq: 2 } }]);
  for (const s of [3, 4, 5]) run._receive(ev(s));
  assert.deepEqual(run.events.map((e) => e.seq), [1, 2, 3, 4, 5]);
});

test('run:failed and run:cancelled reject completed with typed errors', async () => {
  const a = new Run(fakeClient(), { runId: 'r_test_1', spellId: 's' });
  a._receive(ev(1, 'run:failed', { error: 'boom', nodeId: '3' }));
  await assert.rejects(a.completed, (e) => e instanceof RunFailedError && e.nodeId === '3' && e.code === 'run_failed');
  const b = new Run(fakeClient(), { runId: 'r_test_1', spellId: 's' });
  b._receive(ev(1, 'run:cancelled', { reason: 'user' }));
  await assert.rejects(b.completed, (e) => e instanceof RunCancelledError && e.reason === 'user');
  const c = new Run(fakeClient(), { runId: 'r_test_1', spellId: 's' });
  c._fail(new RequestError('spell:run', 'limit_exceeded', 'too many runs'));
  await assert.rejects(c.completed, (e) => e instanceof RequestError && e.code === 'limit_exceeded');
});

test('the CommonJS build exports the same API', () => {
  assert.equal(typeof cjs.connect, 'function');
  assert.equal(typeof cjs.replay, 'function');
  assert.equal(typeof cjs.Run, 'function');
});

test('newRunID: the server run id format (a ULID: 26 Crockford base32 digits, time first)', async () => {
  const { newRunID } = await import('../../dist/esm/index.js');
  const at = Date.UTC(2026, 11, 6, 5, 0, 0, 123);
  const id = newRunID(at);
  assert.match(id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  // The first 10 digits are the 48-bit milliseconds.
  let ms = 0n;
  for (const c of id.slice(0, 10)) ms = ms * 32n + BigInt('0123456789ABCDEFGHJKMNPQRSTVWXYZ'.indexOf(c));
  assert.equal(Number(ms), at);
  assert.ok(newRunID(at) < newRunID(at + 1), 'ids sort by creation time');
  assert.notEqual(newRunID(at), newRunID(at), 'the random part differs');
});
