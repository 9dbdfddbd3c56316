// Integration tests against a real `grimoire serve` (see harness.mjs).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuthError, RequestError, RunCancelledError, connect, replay } from '../../dist/esm/index.js';
import { fixtures, signJWT, startServer, waitFor } from './harness.mjs';

const spellDoc = (name) => JSON.parse(readFileSync(join(fixtures, 'spells', name), 'utf8'));
const T = { timeout: 60_000 };

let srv;
let skipReason;
let alice;
const clients = [];

async function client(opts = {}) {
  const g = await connect(srv.url, { token: alice, timeoutMs: 10_000, ...opts });
  clients.push(g);
  return g;
}

/** Checks a run's delivered events: seq 1..N once each, run:start first, the terminal event last, starts before ends. */
function assertWellOrdered(run) {
  const seqs = run.events.map((e) => e.seq);
  assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'sequence numbers 1..N, each once');
  assert.ok(run.events.every((e) => e.runId === run.id), 'every event belongs to this run');
  assert.equal(run.events[0].type, 'run:start');
  const last = run.events[run.events.length - 1].type;
  assert.ok(['run:completed', 'run:failed', 'run:cancelled'].includes(last), `terminal last, got ${last}`);
  const started = new Set();
  for (const e of run.events) {
    const k = `${(e.path ?? []).join('/')}|${e.nodeId}|${e.activation}`;
    if (e.type === 'node:start') started.add(k);
    if (e.type === 'node:end' && !e.cached) assert.ok(started.has(k), `node:end of ${k} after its node:start`);
  }
}

/** The run's events as the store has them (REST NDJSON). */
async function storedEvents(g, runId) {
  return g.rest('GET', `/v1/runs/${encodeURIComponent(runId)}/events?after=0`);
}

describe('against grimoire serve', () => {
  before(async () => {
    try {
      srv = await startServer();
      alice = await srv.token('alice');
    } catch (err) {
      if (process.env.CI === 'true') throw err;
      skipReason = `no Grimoire server: ${err.message.split('\n')[0]} (CI=true makes this a failure)`;
    }
  });
  after(async () => {
    for (const g of clients) g.close();
    await srv?.stop();
  });

  test('a run that asks waits for run.answer, which is checked against the schema', T, async (t) => {
    if (skipReason) return t.skip(skipReason);
    const g = await client();
    const spell = await g.loadSpell(spellDoc('native_ask.json'));
    const run = spell.run({ draft: 'the post' });
    const question = await new Promise((resolve) => run.on('node:waiting', resolve));
    assert.equal(question.nodeId, 'ask');
    assert.equal(question.prompt, 'Publish "the post"?');
    assert.deepEqual(question.answeredBy, ['alice']);
    assert.equal(question.schema.type, 'object');
    if (run.status !== 'waiting') await new Promise((resolve) => run.on('run:waiting', resolve));
    assert.equal(run.status, 'waiting');
    await assert.rejects(run.answer('ask', { approved: 'yes' }), (err) => {
      assert.ok(err instanceof RequestError, `want RequestError, got ${err?.constructor?.name}`);
      assert.equal(err.code, 'invalid_answer');
      assert.match(err.message, /\/approved/);
      return true;
    });
    const ack = await run.answer('ask', { approved: true });
    assert.equal(ack.nodeId, 'ask');
    const result = await run.completed;
    assert.deepEqual(result.outputs.decision, { approved: true });
    assert.ok(run.events.some((e) => e.type === 'node:answered' && e.user === 'alice'), 'node:answered delivered');
    assertWellOrdered(run);
  });

  test('a valid token connects', T, async (t) => {
    if (skipReason) return t.skip(skipReason);
    const g = await client();
    assert.equal(g.connected, true);
    let calls = 0;
    const g2 = await client({ token: async () => (calls++, alice), transports: ['websocket'] });
    assert.equal(g2.connected, true);
    assert.ok(calls >= 1, 'a token function is asked for the token');
  });

  test('expired, forged, alg:none and missing tokens are refused with AuthError', T, async (t) => {
    if (skipReason) return t.skip(skipReason);
    const now = Math.floor(Date.now() / 1000);
    const cases = [
      ['expired', signJWT({ sub: 'alice', iat: now - 7200, exp: now - 3600 }, srv.secret), 'token_expired'],
      ['forged (wrong key)', signJWT({ sub: 'alice', iat: now, exp: now + 3600 }, 'not-the-secret'), 'token_invalid'],
      ['alg none', signJWT({ sub: 'alice', iat: now, exp: now + 3600 }, '', 'none'), 'token_invalid'],
      ['missing', '', 'token_missing'],
    ];
    for (const [what, token, code] of cases) {
      await assert.rejects(connect(srv.url, { token, timeoutMs: 5_000, reconnection: false }), (err) => {
        assert.ok(err instanceof AuthError, `${what}: want AuthError, got ${err?.constructor?.name}: ${err?.message}`);
        assert.equal(err.code, code, `${what}: code`);
        return true;
      });
    }
  });

  for (const [file, inputs, want] of [
    ['native_branches.json', { name: 'Ada' }, { both: 'Hello, Ada!', upper: 'HELLO, ADA!' }],
    ['thoth_code_gate.json', { 'Input - Default': 'hello there' }, { long: 11 }],
    ['magick_gate.json', { Flag: false, 'Input - Default': 'hi' }, { no: 'hi' }],
  ]) {
    test(`${file}: load, run, node events in order, completed with outputs, replay equals the server`, T, async (t) => {
      if (skipReason) return t.skip(skipReason);
      const g = await client();
      const doc = spellDoc(file);
      const spell = await g.loadSpell(doc);
      assert.match(spell.hash, /^sha256:/);
      const run = spell.run(inputs);
      const nodeEvents = [];
      run.on('node', (e) => nodeEvents.push(e));
      const result = await run.completed;
      assert.deepEqual(result.outputs, want);
      assert.equal(result.runId, run.id);
      assertWellOrdered(run);
      assert.ok(nodeEvents.length > 0 && nodeEvents.every((e) => e.type.startsWith('node:')));
      assert.ok(result.nodes.length > 0, 'run:completed carries the node cache');

      const stored = await storedEvents(g, run.id);
      assert.deepEqual(run.events.map((e) => [e.seq, e.type, e.nodeId ?? '']), stored.map((e) => [e.seq, e.type, e.nodeId ?? '']), 'the socket delivered exactly the stored events');

      const hooked = [];
      const report = await replay(doc, result, (node, ins, outs, ctx) => hooked.push({ id: node.id, activation: ctx.activation, ins, outs }), { strict: true });
      assert.deepEqual(report.outputs, result.outputs, 'replay recomputes the server outputs');
      assert.deepEqual(hooked.map((h) => `${h.id}#${h.activation}`), result.nodes.map((n) => `${n.nodeId}#${n.activation}`));
      const ends = run.events.filter((e) => e.type === 'node:end');
      for (const h of hooked) {
        const end = ends.find((e) => e.nodeId === h.id && e.activation === h.activation);
        assert.deepEqual(h.outs, end.outputs ?? {}, `node ${h.id}: the hook got the outputs the server sent`);
      }
    });
  }

  test('a spell loaded by id (the demo): its document comes over REST and replays', T, async (t) => {
    if (skipReason) return t.skip(skipReason);
    const g = await client();
    const spell = await g.loadSpell('demo');
    const run = spell.run({ name: 'Ada' });
    const result = await run.completed;
    const report = await run.replay({}, { strict: true });
    assert.deepEqual(report.outputs, result.outputs);
  });

  test('two concurrent runs of one spell on one socket, and one on another socket, stay apart', T, async (t) => {
    if (skipReason) return t.skip(skipReason);
    const [g1, g2] = await Promise.all([client(), client()]);
    const doc = spellDoc('native_branches.json');
    const [s1, s2] = await Promise.all([g1.loadSpell(doc), g2.loadSpell(doc)]);
    const runs = [s1.run({ name: 'Ada' }), s1.run({ name: 'Bob' }), s2.run({ name: 'Cy' })];
    const results = await Promise.all(runs.map((r) => r.completed));
    assert.equal(new Set(runs.map((r) => r.id)).size, 3);
    assert.deepEqual(results.map((r) => r.outputs), [
      { both: 'Hello, Ada!', upper: 'HELLO, ADA!' },
      { both: 'Hello, Bob!', other: 'Hello, Bob!' },
      { both: 'Hello, Cy!', other: 'Hello, Cy!' },
    ]);
    for (const r of runs) {
      assertWellOrdered(r);
      assert.equal(r.duplicates, 0);
    }
  });

  for (const transports of [undefined, ['websocket']]) {
    test(`a connection dropped mid-run reconnects and resumes from the last seq: nothing lost, nothing twice (transports ${transports ?? 'default'})`, T, async (t) => {
      if (skipReason) return t.skip(skipReason);
      // A reconnection delay long enough for nodes to finish while the client is away.
      const g = await client({ reconnectionDelay: 600, reconnectionDelayMax: 600, transports });
      let reconnects = 0;
      g.on('reconnect', () => reconnects++);
      const spell = await g.loadSpell(spellDoc('native_slow.json'));
      const run = spell.run({ ms: 200 });
      let seqAtDrop = 0;
      run.on('node:end', (e) => {
        if (e.nodeId === 'c1' && !seqAtDrop) {
          seqAtDrop = e.seq;
          g.socket.io.engine.close(); // the transport dies; Socket.IO reconnects by itself
        }
      });
      const result = await run.completed;
      assert.deepEqual(result.outputs, { count: 5 });
      assert.ok(seqAtDrop > 0);
      assert.ok(reconnects >= 1, 'the client reconnected');
      assertWellOrdered(run);
      const stored = await storedEvents(g, run.id);
      assert.deepEqual(run.events.map((e) => e.seq), stored.map((e) => e.seq));
      assert.ok(stored.length > seqAtDrop + 3, 'events happened while the client was away');
      assert.equal(run.duplicates, 0, 'run:subscribe {afterSeq} sent nothing the client had already seen');
      // A run started while the connection is down waits for the reconnect, on
      // which the spell is loaded again on the new socket.
      g.socket.io.engine.close();
      assert.equal(g.connected, false);
      assert.deepEqual((await spell.run({ ms: 1 }).completed).outputs, { count: 5 });
    });
  }

  test('cancel stops a run: completed rejects with RunCancelledError and nothing starts after it', T, async (t) => {
    if (skipReason) return t.skip(skipReason);
    const g = await client();
    const spell = await g.loadSpell(spellDoc('native_slow.json'));
    const run = spell.run({ ms: 300 });
    await waitFor(() => run.events.some((e) => e.type === 'node:end' && e.nodeId === 'c1'), 20_000, 'c1 to end');
    await run.cancel();
    await assert.rejects(run.completed, (err) => err instanceof RunCancelledError && err.runId === run.id);
    assert.equal(run.status, 'cancelled');
    assertWellOrdered(run);
    assert.ok(!run.events.some((e) => e.type === 'node:end' && e.nodeId === 'c5'), 'the last node never finished');
  });

  test('another client follows a running run with subscribe(runId) and sees every event once', T, async (t) => {
    if (skipReason) return t.skip(skipReason);
    const [g1, g2] = await Promise.all([client(), client()]);
    const spell = await g1.loadSpell(spellDoc('native_slow.json'));
    const run = spell.run({ ms: 100 });
    await waitFor(() => run.events.some((e) => e.type === 'node:end'), 20_000, 'a first node:end');
    const follower = g2.subscribe(run.id, 0);
    const [a, b] = await Promise.all([run.completed, follower.completed]);
    assert.deepEqual(b.outputs, a.outputs);
    assertWellOrdered(follower);
    assert.deepEqual(follower.events.map((e) => e.seq), run.events.map((e) => e.seq));
  });

  test('a socket whose token expires is told why and closed', T, async (t) => {
    if (skipReason) return t.skip(skipReason);
    const token = await srv.token('alice', { ttl: '2s' });
    const g = await client({ token, reconnection: false });
    const closing = new Promise((resolve) => g.on('closing', resolve));
    const disconnected = new Promise((resolve) => g.on('disconnect', resolve));
    const why = await Promise.race([closing, new Promise((r) => setTimeout(() => r('no closing event in 10 s'), 10_000))]);
    assert.deepEqual(typeof why === 'object' ? why.code : why, 'token_expired');
    await disconnected;
    assert.equal(g.connected, false);
  });

  test('refused requests are typed errors and leave the socket usable', T, async (t) => {
    if (skipReason) return t.skip(skipReason);
    const g = await client();
    await assert.rejects(g.loadSpell('no-such-spell'), (err) => err instanceof RequestError && err.code === 'not_found');
    await assert.rejects(
      g.loadSpell({ format: 'grimoire/spell@1', id: 'bad-one', nodes: [{ id: 'n', type: 'Summon Familiar' }], edges: [] }),
      (err) => err instanceof RequestError && err.code === 'invalid_spell',
    );
    const spell = await g.loadSpell('demo');
    await spell.unload();
    const orphan = g.socket.emitWithAck('spell:run', { spellId: 'demo', inputs: {} });
    assert.equal((await orphan).error.code, 'not_found');
    const again = await g.loadSpell('demo');
    assert.deepEqual(Object.keys((await again.run({ name: 'Ada' }).completed).outputs).sort(), ['greeting', 'letters']);
  });
});
