// The runs list: newest first, filtered by spell, status (and user, for
// analysts), a page at a time. New runs appear by polling the list; the runs
// in progress on the page are followed over the socket (the SDK's
// run:subscribe), so their status changes the moment they end.
import { useEffect, useRef, useState } from 'preact/hooks';
import { RUN_STATUSES, type RunsPage, type RunSummary, type SpellSummary } from './api.js';
import { formatDuration, formatTime, formatTokens } from './format.js';
import { href, type Route } from './router.js';
import type { Session } from './session.js';

const PAGE = 25;
const POLL_MS = 1_500;
const WITHIN: Record<string, number> = { hour: 3_600_000, day: 86_400_000, week: 7 * 86_400_000 };

export function RunsList({ session, route }: { session: Session; route: Route }) {
  const spell = route.params.get('spell') ?? '';
  const status = route.params.get('status') ?? '';
  const user = route.params.get('user') ?? '';
  const within = route.params.get('within') ?? '';
  const [cursors, setCursors] = useState<string[]>([]); // cursors of the pages before this one, and this one's
  const cursor = cursors[cursors.length - 1] ?? '';
  const [page, setPage] = useState<RunsPage>();
  const [error, setError] = useState<string>();
  const [spells, setSpells] = useState<SpellSummary[]>([]);
  const [now, setNow] = useState(Date.now());
  const reload = useRef<() => void>(() => {});

  useEffect(() => setCursors([]), [spell, status, user, within]);
  useEffect(() => {
    session.rest<{ spells: SpellSummary[] }>('GET', '/v1/spells').then((r) => setSpells(r.spells), () => {});
  }, [session]);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (spell) q.set('spell', spell);
    if (status) q.set('status', status);
    if (user) q.set('user', user);
    if (cursor) q.set('cursor', cursor);
    const load = async () => {
      clearTimeout(timer);
      if (within) q.set('since', new Date(Date.now() - WITHIN[within]).toISOString());
      try {
        const p = await session.rest<RunsPage>('GET', `/v1/runs?${q}`);
        if (stopped) return;
        setPage(p);
        setError(undefined);
      } catch (err) {
        if (!stopped) setError((err as Error).message);
      }
      if (!stopped) timer = setTimeout(load, document.hidden ? POLL_MS * 4 : POLL_MS);
    };
    reload.current = load;
    load();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [session, spell, status, user, within, cursor]);

  // Follow the runs in progress on this page; any event of theirs reloads the page.
  const runningIDs = (page?.runs ?? []).filter((r) => r.status === 'running').map((r) => `${r.runId}@${r.lastSeq}`);
  useEffect(() => {
    const followed: Array<() => void> = [];
    let pending: ReturnType<typeof setTimeout> | undefined;
    const soon = () => {
      clearTimeout(pending);
      pending = setTimeout(() => reload.current(), 100);
    };
    for (const key of runningIDs) {
      const [id, seq] = key.split('@');
      const run = session.client.subscribe(id, Number(seq));
      run.on('event', soon);
      followed.push(() => run.off('event', soon));
    }
    const tick = runningIDs.length ? setInterval(() => setNow(Date.now()), 250) : undefined;
    return () => {
      clearTimeout(pending);
      clearInterval(tick);
      for (const stop of followed) stop();
    };
  }, [session, runningIDs.join(',')]);

  const nav = (p: Record<string, string>) => (location.hash = href('runs', undefined, { spell, status, user, within, ...p }));
  return (
    <section class="runs">
      <header class="toolbar">
        <h1>Runs</h1>
        <label>
          spell{' '}
          <select name="spell" value={spell} onChange={(e) => nav({ spell: (e.target as HTMLSelectElement).value })}>
            <option value="">all</option>
            {spells.map((s) => (
              <option value={s.id}>{s.name ? `${s.id} — ${s.name}` : s.id}</option>
            ))}
            {spell && !spells.some((s) => s.id === spell) && <option value={spell}>{spell}</option>}
          </select>
        </label>
        <label>
          status{' '}
          <select name="status" value={status} onChange={(e) => nav({ status: (e.target as HTMLSelectElement).value })}>
            <option value="">all</option>
            {RUN_STATUSES.map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          started{' '}
          <select name="within" value={within} onChange={(e) => nav({ within: (e.target as HTMLSelectElement).value })}>
            <option value="">any time</option>
            {Object.keys(WITHIN).map((w) => (
              <option value={w}>in the last {w}</option>
            ))}
          </select>
        </label>
        {session.isAnalyst && (
          <label>
            user{' '}
            <input name="user" value={user} placeholder="everyone" onChange={(e) => nav({ user: (e.target as HTMLInputElement).value.trim() })} />
          </label>
        )}
        {error && <span class="error" role="alert">{error}</span>}
      </header>
      {!page ? (
        <p class="muted">Loading…</p>
      ) : page.runs.length === 0 ? (
        <p class="muted empty">No runs{spell || status ? ' match these filters' : ' yet: start one from Spells, or over REST'}.</p>
      ) : (
        <table class="runs-table">
          <thead>
            <tr>
              <th>run</th>
              <th>spell</th>
              {session.isAnalyst && <th>user</th>}
              <th>status</th>
              <th>started</th>
              <th class="num">duration</th>
              <th class="num">tokens</th>
              <th class="num">nodes</th>
            </tr>
          </thead>
          <tbody>
            {page.runs.map((r) => (
              <RunRow run={r} now={now} showUser={session.isAnalyst} />
            ))}
          </tbody>
        </table>
      )}
      <nav class="pager">
        <button type="button" disabled={!cursors.length} onClick={() => setCursors(cursors.slice(0, -1))}>
          ← newer
        </button>
        <button type="button" disabled={!page?.next} onClick={() => page?.next && setCursors([...cursors, page.next])}>
          older →
        </button>
      </nav>
    </section>
  );
}

function RunRow({ run, now, showUser }: { run: RunSummary; now: number; showUser: boolean }) {
  const duration = run.durationNs !== undefined ? run.durationNs / 1e6 : run.status === 'running' ? now - Date.parse(run.started) : undefined;
  const nodes = Object.entries(run.nodes ?? {})
    .filter(([k, n]) => n && k !== 'chunks')
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  return (
    <tr data-run={run.runId} data-status={run.status}>
      <td>
        <a href={href('run', run.runId)} class="mono">
          {run.runId}
        </a>
        {run.parentRunId && <span class="muted" title={`forked from ${run.parentRunId}`}> ⑂</span>}
      </td>
      <td>{run.spellId}</td>
      {showUser && <td>{run.user ?? <span class="muted">operator</span>}</td>}
      <td>
        <span class={`badge state-${run.status}`}>{run.status}</span>
        {run.error && <span class="muted" title={run.error}> {run.errorNode ?? ''}</span>}
      </td>
      <td>{formatTime(run.started)}</td>
      <td class="num">{formatDuration(duration)}</td>
      <td class="num" title={`prompt ${run.usage?.promptTokens ?? 0}, completion ${run.usage?.completionTokens ?? 0}`}>
        {formatTokens(run.usage?.totalTokens)}
      </td>
      <td class="num muted">{nodes || '–'}</td>
    </tr>
  );
}
