// Usage over time: GET /v1/usage rows grouped by day and one dimension,
// pivoted into what a chart draws (one series per user, spell or model).

export interface UsageRow {
  user?: string;
  spellId?: string;
  model?: string;
  day?: string;
  calls: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  nodes: number;
  costUsd: number;
}

export type UsageDimension = 'spell' | 'model' | 'user';

export interface UsageSeries {
  /** Days, as seconds since the epoch at 00:00 UTC, every day from the first to the last. */
  days: number[];
  series: Array<{ name: string; tokens: number[]; costUsd: number; totalTokens: number }>;
}

const key = (r: UsageRow, dim: UsageDimension) => (dim === 'spell' ? r.spellId : dim === 'model' ? r.model : r.user) || '(none)';
const DAY = 86_400;

/**
 * Pivots rows (grouped by day and dim) into one series per value of dim,
 * the largest first, every day from `from` (or the first day with usage) to
 * `to` (or the last) included, days without usage at 0. Days are YYYY-MM-DD.
 */
export function usageSeries(rows: readonly UsageRow[], dim: UsageDimension, from?: string, to?: string): UsageSeries {
  const dayOf = (d: string) => Date.parse(`${d}T00:00:00Z`) / 1000;
  const days = rows.filter((r) => r.day).map((r) => dayOf(r.day!));
  if (!days.length) return { days: [], series: [] };
  const first = Math.min(...days, ...(from ? [dayOf(from)] : []));
  const last = Math.max(...days, ...(to ? [dayOf(to)] : []));
  const allDays: number[] = [];
  for (let d = first; d <= last; d += DAY) allDays.push(d);
  const byName = new Map<string, { name: string; tokens: number[]; costUsd: number; totalTokens: number }>();
  for (const r of rows) {
    if (!r.day) continue;
    const name = key(r, dim);
    let s = byName.get(name);
    if (!s) byName.set(name, (s = { name, tokens: allDays.map(() => 0), costUsd: 0, totalTokens: 0 }));
    s.tokens[(dayOf(r.day) - first) / DAY] += r.totalTokens;
    s.costUsd += r.costUsd;
    s.totalTokens += r.totalTokens;
  }
  const series = [...byName.values()].sort((a, b) => b.totalTokens - a.totalTokens || (a.name < b.name ? -1 : 1));
  return { days: allDays, series };
}
