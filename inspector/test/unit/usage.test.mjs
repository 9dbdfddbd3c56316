// Pivoting GET /v1/usage rows into one series per spell, model or user.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './load.mjs';

const { usageSeries } = await load('src/usage.ts');
const row = (day, spellId, totalTokens, costUsd = 0, model = 'm') => ({ day, spellId, model, totalTokens, costUsd, calls: 1, promptTokens: 0, completionTokens: totalTokens, nodes: 1 });

test('one series per spell, every day of the span, the largest first', () => {
  const s = usageSeries([row('2026-12-01', 'a', 10, 0.5), row('2026-12-03', 'a', 5), row('2026-12-03', 'b', 100, 1)], 'spell');
  const d0 = Date.UTC(2026, 11, 1) / 1000;
  assert.deepEqual(s.days, [d0, d0 + 86_400, d0 + 2 * 86_400], 'the day without usage is there, at 0');
  assert.deepEqual(s.series.map((x) => [x.name, x.tokens, x.totalTokens, x.costUsd]), [
    ['b', [0, 0, 100], 100, 1],
    ['a', [10, 0, 5], 15, 0.5],
  ]);
});

test('the span covers the period asked for', () => {
  const s = usageSeries([row('2026-12-02', 'a', 1)], 'spell', '2026-12-01', '2026-12-04');
  assert.equal(s.days.length, 4);
  assert.deepEqual(s.series[0].tokens, [0, 1, 0, 0]);
});

test('by model; rows without a day or a value', () => {
  const s = usageSeries([row('2026-12-01', 'a', 3, 0, 'gpt'), row('2026-12-01', 'b', 4, 0, 'gpt'), { ...row('2026-12-01', 'c', 1), model: '' }, { ...row('', 'x', 99) }], 'model');
  assert.deepEqual(s.series.map((x) => [x.name, x.tokens]), [['gpt', [7]], ['(none)', [1]]]);
  assert.deepEqual(usageSeries([], 'spell'), { days: [], series: [] });
});
