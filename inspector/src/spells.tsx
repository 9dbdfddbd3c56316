// The spells the user may run, and a playground per spell: a form from its
// Input nodes and a Run button that opens the run, live.
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { SpellSummary } from './api.js';
import { formatTime } from './format.js';
import { GraphView } from './graphview.js';
import { href } from './router.js';
import type { Session } from './session.js';
import { spellDiff } from './spelldiff.js';
import { buildSpellView, inputFields } from './spellgraph.js';

export function SpellsList({ session }: { session: Session }) {
  const [spells, setSpells] = useState<SpellSummary[]>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    session.rest<{ spells: SpellSummary[] }>('GET', '/v1/spells').then(
      (r) => setSpells(r.spells.filter((s) => !s.deleted)),
      (err) => setError((err as Error).message),
    );
  }, [session]);
  return (
    <section class="spells">
      <header class="toolbar">
        <h1>Spells</h1>
        {error && <span class="error">{error}</span>}
      </header>
      {!spells ? (
        <p class="muted">Loading…</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>spell</th>
              <th>name</th>
              <th>owner</th>
              <th class="num">version</th>
              <th>updated</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {spells.map((s) => (
              <tr data-spell={s.id}>
                <td>
                  <a href={href('spell', s.id)}>{s.id}</a>
                </td>
                <td>{s.name}</td>
                <td>{s.owner ?? <span class="muted">operator</span>}</td>
                <td class="num" title={s.hash}>
                  {s.version}
                </td>
                <td>{formatTime(s.updated)}</td>
                <td>
                  <a href={href('runs', undefined, { spell: s.id })}>runs</a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function SpellPlayground({ session, spellId }: { session: Session; spellId: string }) {
  const [doc, setDoc] = useState<object>();
  const [error, setError] = useState<string>();
  const [values, setValues] = useState<Record<string, string>>({});
  useEffect(() => {
    session.rest<object>('GET', `/v1/spells/${encodeURIComponent(spellId)}`).then(setDoc, (err) => setError((err as Error).message));
  }, [session, spellId]);
  const view = useMemo(() => (doc ? buildSpellView(doc) : undefined), [doc]);
  const fields = useMemo(() => (doc ? inputFields(doc) : []), [doc]);
  const run = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    const inputs: Record<string, unknown> = {};
    for (const f of fields) {
      const raw = values[f.name];
      if (raw === undefined || raw === '') continue;
      inputs[f.name] = parseValue(raw);
    }
    try {
      const r = await session.rest<{ runId: string }>('POST', `/v1/spells/${encodeURIComponent(spellId)}/runs?mode=async`, { inputs, inputOrder: Object.keys(inputs) });
      location.hash = href('run', r.runId);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <section class="playground">
      <header class="toolbar">
        <h1>
          Spell {spellId} {view?.name && <span class="muted">{view.name}</span>}
        </h1>
        <a href={href('runs', undefined, { spell: spellId })}>its runs</a>
      </header>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="run-body">
        {view ? <GraphView spell={view} states={new Map()} onSelect={() => {}} /> : <div class="graph" />}
        <aside class="node-panel">
          <form onSubmit={run} id="run-form">
            <h2>Inputs</h2>
            {fields.length === 0 && <p class="muted">This spell has no Input nodes.</p>}
            {fields.map((f) => (
              <label class="field">
                <span>{f.name}</span>
                <textarea
                  name={f.name}
                  rows={2}
                  placeholder={f.defaultValue !== undefined ? `default: ${JSON.stringify(f.defaultValue)}` : ''}
                  value={values[f.name] ?? ''}
                  onInput={(e) => setValues({ ...values, [f.name]: (e.target as HTMLTextAreaElement).value })}
                />
              </label>
            ))}
            <p class="muted">A value that reads as JSON (a number, true, an object) is sent as JSON; anything else as text.</p>
            <button type="submit" class="primary" id="run-spell">
              Run
            </button>
          </form>
        </aside>
      </div>
      <Versions session={session} spellId={spellId} />
    </section>
  );
}

interface VersionInfo {
  version: number;
  hash: string;
  user?: string;
  time: string;
}

/** A spell's versions, and the diff between two of them (the previous and the latest by default). */
function Versions({ session, spellId }: { session: Session; spellId: string }) {
  const [versions, setVersions] = useState<VersionInfo[]>();
  const [from, setFrom] = useState<string>();
  const [to, setTo] = useState<string>();
  const [diff, setDiff] = useState<ReturnType<typeof spellDiff>>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    session.rest<{ versions: VersionInfo[] }>('GET', `/v1/spells/${encodeURIComponent(spellId)}/versions`).then(
      (r) => {
        setVersions(r.versions);
        const n = r.versions.length;
        if (n >= 2) {
          setFrom(r.versions[n - 2].hash);
          setTo(r.versions[n - 1].hash);
        }
      },
      (err) => setError((err as Error).message),
    );
  }, [session, spellId]);
  useEffect(() => {
    if (!from || !to) return;
    const doc = (hash: string) =>
      fetchText(session, `/v1/spells/${encodeURIComponent(spellId)}?hash=${encodeURIComponent(hash)}`);
    Promise.all([doc(from), doc(to)]).then(
      ([a, b]) => setDiff(spellDiff(a, b)),
      (err) => setError((err as Error).message),
    );
  }, [session, spellId, from, to]);
  if (error) return <p class="error">{error}</p>;
  if (!versions) return null;
  const pick = (value: string | undefined, set: (h: string) => void, name: string) => (
    <select name={name} value={value} onChange={(e) => set((e.target as HTMLSelectElement).value)}>
      {versions.map((v) => (
        <option value={v.hash}>
          v{v.version} {v.hash.replace(/^sha256:/, '').slice(0, 10)}
        </option>
      ))}
    </select>
  );
  return (
    <div class="versions" id="versions">
      <h2>Versions</h2>
      <table>
        <thead>
          <tr>
            <th class="num">version</th>
            <th>content hash</th>
            <th>saved by</th>
            <th>when</th>
          </tr>
        </thead>
        <tbody>
          {[...versions].reverse().map((v) => (
            <tr data-version={v.version}>
              <td class="num">{v.version}</td>
              <td class="mono">{v.hash}</td>
              <td>{v.user ?? <span class="muted">operator</span>}</td>
              <td>{formatTime(v.time)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {versions.length >= 2 && (
        <>
          <p>
            Compare {pick(from, setFrom, 'from')} with {pick(to, setTo, 'to')}
            {diff && (
              <span class="muted">
                {' '}
                +{diff.added} −{diff.removed} lines
              </span>
            )}
          </p>
          {diff && (
            <pre class="diff" id="spell-diff">
              {diff.lines.map((l) => (
                <div class={`diff-${l.kind}`}>
                  {l.kind === 'added' ? '+ ' : l.kind === 'removed' ? '- ' : '  '}
                  {l.text}
                </div>
              ))}
            </pre>
          )}
        </>
      )}
    </div>
  );
}

/** A spell document as the server wrote it (its canonical text, which is what the diff compares). */
async function fetchText(session: Session, path: string): Promise<string> {
  const res = await fetch(path, { headers: { authorization: `Bearer ${await session.token()}` } });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status} ${text}`);
  return text;
}

function parseValue(raw: string): unknown {
  const t = raw.trim();
  if (/^(-?\d|\{|\[|true$|false$|null$|")/.test(t)) {
    try {
      return JSON.parse(t);
    } catch {
      /* text */
    }
  }
  return raw;
}
