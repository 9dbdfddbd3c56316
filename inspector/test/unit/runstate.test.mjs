// Folding a run's events: node states, activations, usage, and the run as it
// stood at any sequence number (the scrubber).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './load.mjs';

const { foldRun, timelineBars } = await load('src/runstate.ts');

const t = (ms) => new Date(Date.UTC(2026, 11, 7, 12, 0, 0) + ms).toISOString();
const base = { runId: 'r1', spellId: 's', spellHash: 'h' };
const events = [
  { ...base, seq: 1, type: 'run:start', time: t(0), inputs: { q: 'hi' }, user: 'ada' },
  { ...base, seq: 2, type: 'node:end', nodeId: 'start', activation: 1, cached: false, outputs: {}, durationMs: 0, time: t(1) },
  { ...base, seq: 3, type: 'node:start', nodeId: 'a', nodeType: 'Chat Completion', activation: 1, inputs: { q: ['hi'] }, time: t(10) },
  { ...base, seq: 4, type: 'node:start', nodeId: 'b', activation: 1, time: t(12) },
  { ...base, seq: 5, type: 'node:chunk', nodeId: 'a', activation: 1, text: 'He', time: t(20) },
  { ...base, seq: 6, type: 'node:chunk', nodeId: 'a', activation: 1, text: 'llo', time: t(30) },
  { ...base, seq: 7, type: 'node:end', nodeId: 'a', activation: 1, outputs: { result: 'Hello' }, durationMs: 40, usage: { promptTokens: 3, completionTokens: 2, totalTokens: 5 }, time: t(50) },
  { ...base, seq: 8, type: 'node:error', nodeId: 'b', activation: 1, error: 'boom', durationMs: 5, time: t(17) },
  { ...base, seq: 9, type: 'node:end', nodeId: 'c', activation: 1, cached: true, source: 'cache', outputs: { x: 1 }, time: t(55) },
  { ...base, seq: 10, type: 'node:start', nodeId: 'c', activation: 2, time: t(56) },
  { ...base, seq: 11, type: 'node:end', nodeId: 'c', activation: 2, outputs: { x: 2 }, durationMs: 4, time: t(60) },
  { ...base, seq: 12, type: 'node:skip', nodeId: 'd', activation: 1, reason: 'closed trigger', time: t(60) },
  { ...base, seq: 13, type: 'node:end', nodeId: 'inner', path: ['sub'], activation: 1, outputs: {}, durationMs: 1, time: t(61) },
  { ...base, seq: 14, type: 'run:completed', outputs: { answer: 'Hello' }, durationMs: 62, time: t(62) },
];

test('the whole run: each node, each activation, usage, the outcome', () => {
  const st = foldRun(events);
  assert.equal(st.status, 'completed');
  assert.equal(st.user, 'ada');
  assert.deepEqual(st.inputs, { q: 'hi' });
  assert.deepEqual(st.outputs, { answer: 'Hello' });
  assert.equal(st.seq, 14);
  assert.deepEqual(Object.fromEntries([...st.nodes].map(([id, a]) => [id, a.status])), { start: 'done', a: 'done', b: 'failed', c: 'done', d: 'skipped' });
  assert.equal(st.activations.length, 7, 'one per activation, the sub-spell node included');
  const a = st.nodes.get('a');
  assert.equal(a.text, 'Hello');
  assert.deepEqual(a.outputs, { result: 'Hello' });
  assert.equal(a.durationMs, 40);
  assert.equal(st.nodes.get('b').error, 'boom');
  const c1 = st.activations.find((x) => x.nodeId === 'c' && x.activation === 1);
  assert.equal(c1.status, 'cached');
  assert.equal(c1.cached, true);
  assert.equal(st.activations.find((x) => x.nodeId === 'inner').key, 'sub/inner');
  assert.equal(st.nodes.has('inner'), false, 'a sub-spell node is not a node of the drawn graph');
  assert.deepEqual(st.usage, { promptTokens: 3, completionTokens: 2, totalTokens: 5 });
});

test('scrubbing: the run as it stood at a sequence number', () => {
  const at6 = foldRun(events, 6);
  assert.equal(at6.status, 'running');
  assert.equal(at6.seq, 6);
  assert.equal(at6.lastSeq, 14, 'the scrubber still reaches the end');
  assert.equal(at6.nodes.get('a').status, 'running');
  assert.equal(at6.nodes.get('a').text, 'Hello');
  assert.equal(at6.nodes.get('b').status, 'running');
  assert.equal(at6.nodes.has('c'), false);
  assert.equal(foldRun(events, 0).activations.length, 0);
  assert.equal(foldRun(events, 8).nodes.get('b').status, 'failed');
});

test('events out of order or twice fold as the ordered stream', () => {
  const shuffled = [...events].reverse().concat(events.slice(2, 5));
  const a = foldRun(shuffled);
  const b = foldRun(events);
  assert.deepEqual(a.activations, b.activations);
  assert.equal(a.nodes.get('a').text, 'Hello', 'a duplicated chunk is not appended twice');
});

test('timeline: one bar per activation on its node row, placed on the run span', () => {
  const st = foldRun(events);
  const { bars, rows, spanMs } = timelineBars(st, Date.parse(t(1000)));
  assert.equal(bars.length, st.activations.length);
  assert.deepEqual(rows, ['start', 'a', 'b', 'c', 'd', 'sub/inner']);
  assert.equal(spanMs, 62);
  const a = bars.find((b) => b.activation.nodeId === 'a');
  assert.ok(Math.abs(a.left - 10 / 62) < 1e-9 && Math.abs(a.width - 40 / 62) < 1e-9, JSON.stringify(a));
  const cs = bars.filter((b) => b.activation.nodeId === 'c');
  assert.equal(cs.length, 2);
  assert.equal(cs[0].row, cs[1].row, 'two activations of one node share its row');
  // While running, an open bar reaches now.
  const live = foldRun(events, 4);
  const now = Date.parse(t(100));
  const lb = timelineBars(live, now);
  const open = lb.bars.find((b) => b.activation.nodeId === 'a');
  assert.ok(Math.abs(open.left + open.width - 1) < 1e-9, 'a running bar ends at now');
});

test('a run that waits: the question, the run waiting, then the answer and the run going on', () => {
  const schema = { type: 'object', required: ['approved'], properties: { approved: { type: 'boolean' } } };
  const asked = [
    { ...base, seq: 1, type: 'run:start', time: t(0) },
    { ...base, seq: 2, type: 'node:start', nodeId: 'ask', nodeType: 'Ask', activation: 1, time: t(1) },
    { ...base, seq: 3, type: 'node:waiting', nodeId: 'ask', nodeType: 'Ask', activation: 1, prompt: 'Publish?', schema, answeredBy: ['ada'], time: t(2) },
    { ...base, seq: 4, type: 'run:waiting', waiting: [{ nodeId: 'ask', activation: 1 }], time: t(3) },
  ];
  const waiting = foldRun(asked);
  assert.equal(waiting.status, 'waiting');
  const ask = waiting.nodes.get('ask');
  assert.equal(ask.status, 'waiting');
  assert.deepEqual(ask.question, { prompt: 'Publish?', schema, answeredBy: ['ada'], deadline: undefined, onDeadline: undefined });
  const all = [
    ...asked,
    { ...base, seq: 5, type: 'node:answered', nodeId: 'ask', activation: 1, value: { approved: true }, user: 'ada', time: t(50) },
    { ...base, seq: 6, type: 'run:resumed', time: t(51) },
    { ...base, seq: 7, type: 'node:end', nodeId: 'ask', nodeType: 'Ask', activation: 1, cached: true, source: 'resume', outputs: { answer: [{ approved: true }] }, time: t(52) },
    { ...base, seq: 8, type: 'run:completed', outputs: { decision: { approved: true } }, time: t(53) },
  ];
  const answered = foldRun(all);
  assert.equal(answered.status, 'completed');
  const done = answered.nodes.get('ask');
  assert.equal(done.status, 'done', 'an answered question is done, not a cache hit');
  assert.deepEqual(done.answer, { value: { approved: true }, user: 'ada', timedOut: undefined });
  assert.equal(answered.activations.length, 1, 'the answer completes the activation that asked');
  // Scrubbed back to before the answer, the run waits again.
  assert.equal(foldRun(all, 4).status, 'waiting');
  assert.equal(foldRun(all, 4).nodes.get('ask').status, 'waiting');
});
