// Usage: tokens per day by spell, model or user (analysts), as a chart
// (uPlot), and the totals with their cost.
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatTokens } from './format.js';
import { href, type Route } from './router.js';
import type { Session } from './session.js';
import { usageSeries, type UsageDimension, type UsageRow, type UsageSeries } from './usage.js';

const PALETTE = ['#5a3fc0', '#2e9d5b', '#c06a00', '#4a6fa5', '#d64541', '#8a6d3b', '#0f8b8d', '#a0a7b4'];

export function UsageView({ session, route }: { session: Session; route: Route }) {
  const dim = (route.params.get('by') as UsageDimension) || 'spell';
  const days = Number(route.params.get('days') || 30);
  const [data, setData] = useState<{ series: UsageSeries; unpriced?: string[] }>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    const since = new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);
    session.rest<{ rows: UsageRow[]; unpriced?: string[] }>('GET', `/v1/usage?group_by=day,${dim}&since=${since}`).then(
      (r) => {
        setData({ series: usageSeries(r.rows ?? [], dim, since, new Date().toISOString().slice(0, 10)), unpriced: r.unpriced });
        setError(undefined);
      },
      (err) => setError((err as Error).message),
    );
  }, [session, dim, days]);
  const dims: UsageDimension[] = session.isAnalyst ? ['spell', 'model', 'user'] : ['spell', 'model'];
  return (
    <section class="usage">
      <header class="toolbar">
        <h1>Usage</h1>
        <label>
          by{' '}
          <select name="by" value={dim} onChange={(e) => (location.hash = href('usage', undefined, { by: (e.target as HTMLSelectElement).value, days: String(days) }))}>
            {dims.map((d) => (
              <option value={d}>{d}</option>
            ))}
          </select>
        </label>
        <label>
          over{' '}
          <select name="days" value={String(days)} onChange={(e) => (location.hash = href('usage', undefined, { by: dim, days: (e.target as HTMLSelectElement).value }))}>
            {[7, 30, 90, 365].map((d) => (
              <option value={String(d)}>the last {d} days</option>
            ))}
          </select>
        </label>
        {!session.isAnalyst && <span class="muted">your own usage</span>}
        {error && <span class="error">{error}</span>}
      </header>
      {!data ? (
        <p class="muted">Loading…</p>
      ) : data.series.series.length === 0 ? (
        <p class="muted empty">No token usage in this period.</p>
      ) : (
        <>
          <UsageChart data={data.series} />
          <table class="usage-table">
            <thead>
              <tr>
                <th>{dim}</th>
                <th class="num">tokens</th>
                <th class="num">cost (USD)</th>
              </tr>
            </thead>
            <tbody>
              {data.series.series.map((s, i) => (
                <tr data-name={s.name} data-tokens={s.totalTokens}>
                  <td>
                    <span class="swatch" style={{ background: PALETTE[i % PALETTE.length] }} /> {s.name}
                  </td>
                  <td class="num">{formatTokens(s.totalTokens)}</td>
                  <td class="num">{s.costUsd ? s.costUsd.toFixed(4) : '–'}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {data.unpriced?.length ? <p class="muted">No price for {data.unpriced.join(', ')} (GRIMOIRE_PRICES).</p> : null}
        </>
      )}
    </section>
  );
}

function UsageChart({ data }: { data: UsageSeries }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current!;
    const plot = new uPlot(
      {
        width: el.clientWidth || 900,
        height: 300,
        series: [{}, ...data.series.map((s, i) => ({ label: s.name, stroke: PALETTE[i % PALETTE.length], width: 2, points: { show: true } }))],
        axes: [{}, { label: 'tokens per day', size: 70 }],
        scales: { x: { time: true } },
      },
      [data.days, ...data.series.map((s) => s.tokens)],
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: el.clientWidth, height: 300 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [data]);
  return <div class="usage-chart" id="usage-chart" ref={box} />;
}
