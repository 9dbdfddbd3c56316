// One run: its graph coloured by node state, live while it runs; the
// selected node's inputs, outputs, duration, tokens, cache hit and error;
// the timeline; cancel, re-run and fork.
//
// History comes from GET /v1/runs/{id}/events, live events from the SDK's
// run:subscribe after the last sequence number seen; after a reconnect the
// SDK asks again from there, so nothing is missed or shown twice.
import type { RunEvent } from '@grimoire-run/client';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { formatDuration, formatTime, formatTokens } from './format.js';
import { GraphView } from './graphview.js';
import { JSONView } from './jsonview.js';
import { href } from './router.js';
import { foldRun, type Activation, type NodeStatus } from './runstate.js';
import type { Session } from './session.js';
import { buildSpellView, type SpellView } from './spellgraph.js';
import { Timeline } from './timeline.js';

export function RunView({ session, runId }: { session: Session; runId: string }) {
  const [events, setEvents] = useState<RunEvent[]>([]);
  const [error, setError] = useState<string>();
  const [spell, setSpell] = useState<SpellView | 'unavailable'>();
  const [selected, setSelected] = useState<string>();
  const [scrub, setScrub] = useState<number>(); // undefined: follow the latest event
  const [now, setNow] = useState(Date.now());
  const [busy, setBusy] = useState('');
  const [actionError, setActionError] = useState<string>();
  const [editedInputs, setEditedInputs] = useState<string>(); // undefined: the run's own inputs

  // History, then live events.
  useEffect(() => {
    setEvents([]);
    setError(undefined);
    setSpell(undefined);
    setSelected(undefined);
    setScrub(undefined);
    const bySeq = new Map<number, RunEvent>();
    let frame = 0;
    const add = (evs: RunEvent[]) => {
      for (const e of evs) if (typeof e?.seq === 'number') bySeq.set(e.seq, e);
      if (!frame) frame = requestAnimationFrame(() => {
        frame = 0;
        setEvents([...bySeq.values()]);
      });
    };
    let stopped = false;
    let unsubscribe = () => {};
    (async () => {
      try {
        const history = await session.rest<RunEvent[]>('GET', `/v1/runs/${encodeURIComponent(runId)}/events`);
        if (stopped) return;
        add(history);
        const last = history.reduce((m, e) => Math.max(m, e.seq), 0);
        if (history.some((e) => e.type === 'run:completed' || e.type === 'run:failed' || e.type === 'run:cancelled')) return;
        const run = session.client.subscribe(runId, last);
        add(run.events);
        const on = (e: RunEvent) => add([e]);
        run.on('event', on);
        run.on('error', (err) => !stopped && setError(err.message));
        unsubscribe = () => run.off('event', on);
      } catch (err) {
        if (!stopped) setError((err as Error).message);
      }
    })();
    return () => {
      stopped = true;
      cancelAnimationFrame(frame);
      unsubscribe();
    };
  }, [session, runId]);

  const live = useMemo(() => foldRun(events), [events]);
  const run = useMemo(() => (scrub === undefined ? live : foldRun(events, scrub)), [events, scrub, live]);

  // The spell version the run ran.
  const spellKey = live.spellId ? `${live.spellId}@${live.spellHash ?? ''}` : '';
  useEffect(() => {
    if (!live.spellId) return;
    const q = live.spellHash ? `?hash=${encodeURIComponent(live.spellHash)}` : '';
    session.rest<object>('GET', `/v1/spells/${encodeURIComponent(live.spellId)}${q}`).then(
      (doc) => setSpell(buildSpellView(doc)),
      () => setSpell('unavailable'), // another user's spell, or deleted: draw the nodes the run reached
    );
  }, [session, spellKey]);

  useEffect(() => {
    if (run.status !== 'running') return;
    const t = setInterval(() => setNow(Date.now()), 200);
    return () => clearInterval(t);
  }, [run.status]);

  // Without the spell, the drawing grows with the nodes reached.
  const reached = spell === 'unavailable' ? [...live.nodes.keys()].join(',') : '';
  const drawn: SpellView | undefined = useMemo(() => {
    if (spell !== 'unavailable') return spell;
    const ids = reached ? reached.split(',') : [];
    return { id: live.spellId ?? '', nodes: ids.map((id) => ({ id, type: live.nodes.get(id)?.nodeType ?? '', label: id })), edges: [], positioned: false };
  }, [spell, reached]);

  const [states, streams] = useMemo(() => {
    const m = new Map<string, NodeStatus>();
    const text = new Map<string, string>();
    for (const [id, a] of run.nodes) {
      m.set(id, a.status);
      if (a.status === 'running' && a.text) text.set(id, a.text);
    }
    return [m, text];
  }, [run]);

  const act = async (what: string, f: () => Promise<void>) => {
    setBusy(what);
    setActionError(undefined);
    try {
      await f();
    } catch (err) {
      setActionError(`${what}: ${(err as Error).message}`);
    } finally {
      setBusy('');
    }
  };
  const answer = (a: Activation, text: string) =>
    act('answer', async () => {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        throw new Error(`the answer is not JSON: ${(err as Error).message}`);
      }
      await session.rest('POST', `/v1/runs/${encodeURIComponent(runId)}/answers`, { nodeId: a.nodeId, value });
    });
  const cancel = () => act('cancel', async () => void (await session.rest('DELETE', `/v1/runs/${encodeURIComponent(runId)}`)));
  // The inputs a re-run or a fork sends: the run's own, or the edited ones.
  const chosenInputs = (): Record<string, unknown> | undefined => {
    if (editedInputs === undefined) return undefined;
    let v: unknown;
    try {
      v = JSON.parse(editedInputs);
    } catch (err) {
      throw new Error(`the inputs are not JSON: ${(err as Error).message}`);
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('the inputs are a JSON object of input names to values');
    return v as Record<string, unknown>;
  };
  const rerun = () =>
    act('re-run', async () => {
      const inputs = chosenInputs() ?? live.inputs ?? {};
      const r = await session.rest<{ runId: string }>('POST', `/v1/spells/${encodeURIComponent(live.spellId!)}/runs?mode=async`, { inputs, inputOrder: Object.keys(inputs) });
      location.hash = href('run', r.runId);
    });
  const fork = () =>
    act('fork', async () => {
      const inputs = chosenInputs();
      const r = await session.rest<{ runId: string }>('POST', `/v1/runs/${encodeURIComponent(runId)}/fork`, { fromNode: selected, ...(inputs ? { inputs } : {}) });
      location.hash = href('run', r.runId);
    });

  const chosen = selected ? run.activations.filter((a) => (a.path?.length ? a.key : a.nodeId) === selected) : [];
  const usage = run.usage;
  const duration = run.durationMs ?? (run.started !== undefined ? (run.ended ?? now) - run.started : undefined);
  const top = selected && !selected.includes('/');

  return (
    <section class="run" data-run={runId} data-status={live.status}>
      <header class="toolbar">
        <h1>
          Run <span class="mono">{runId}</span>
        </h1>
        <span class={`badge state-${run.status}`} id="run-status">
          {run.status}
        </span>
        <span>
          spell <a href={href('runs', undefined, { spell: live.spellId ?? '' })}>{live.spellId ?? '…'}</a>
        </span>
        {live.user && <span>user {live.user}</span>}
        <span>started {formatTime(run.started)}</span>
        <span id="run-duration">{formatDuration(duration)}</span>
        <span title={`prompt ${usage.promptTokens}, completion ${usage.completionTokens}`}>{formatTokens(usage.totalTokens)} tokens</span>
        {live.parentRunId && (
          <span>
            forked from <a href={href('run', live.parentRunId)} class="mono">{live.parentRunId}</a>
          </span>
        )}
        <span class="actions">
          <button type="button" id="cancel" disabled={live.status !== 'running' || !!busy} onClick={cancel}>
            Cancel
          </button>
          <button type="button" id="rerun" disabled={!live.spellId || !!busy} onClick={rerun} title="Run the spell again with the same inputs">
            Re-run
          </button>
          <button type="button" id="fork" disabled={!top || live.status === 'running' || !!busy} onClick={fork} title="Reuse everything upstream of the selected node, recompute it and what follows">
            Fork from {top ? selected : 'a node'}
          </button>
        </span>
      </header>
      <details class="edit-inputs" id="edit-inputs">
        <summary>{editedInputs === undefined ? 'Re-run or fork with other inputs' : 'Re-run and fork use these inputs'}</summary>
        <textarea
          id="inputs-json"
          rows={4}
          value={editedInputs ?? JSON.stringify(live.inputs ?? {}, null, 2)}
          onInput={(e) => setEditedInputs((e.target as HTMLTextAreaElement).value)}
        />
        {editedInputs !== undefined && (
          <button type="button" onClick={() => setEditedInputs(undefined)}>
            Back to the run's inputs
          </button>
        )}
      </details>
      {(error || actionError) && (
        <p class="error" role="alert">
          {error ?? actionError}
        </p>
      )}
      {run.error && <p class={`notice state-${run.status}`}>{run.errorNode ? `node ${run.errorNode}: ` : ''}{run.error}</p>}
      <div class="run-body">
        {drawn ? <GraphView spell={drawn} states={states} streams={streams} selected={selected} onSelect={setSelected} /> : <div class="graph" />}
        <aside class="node-panel" id="node-panel">
          {!selected ? (
            <>
              {run.activations
                .filter((a) => a.status === 'waiting' && a.question)
                .map((a) => (
                  <div class="waiting-node" data-node={a.key}>
                    <h2>
                      {a.key} <span class="muted">{a.nodeType}</span> <span class="badge state-waiting">waiting</span>
                    </h2>
                    <Question a={a} onAnswer={scrub === undefined && !busy ? (text) => answer(a, text) : undefined} />
                  </div>
                ))}
              <RunOutputs outputs={run.outputs} inputs={run.inputs} />
            </>
          ) : chosen.length === 0 ? (
            <p class="muted">
              Node <b>{selected}</b> has not run{run.status === 'running' ? ' yet' : ''}.
            </p>
          ) : (
            chosen.map((a) => <ActivationPanel a={a} now={now} onAnswer={scrub === undefined && !busy ? (text) => answer(a, text) : undefined} />)
          )}
        </aside>
      </div>
      <div class="scrubber">
        <label>
          replay{' '}
          <input
            type="range"
            id="scrubber"
            min={0}
            max={live.lastSeq}
            value={scrub ?? live.lastSeq}
            onInput={(e) => {
              const v = Number((e.target as HTMLInputElement).value);
              setScrub(v >= live.lastSeq ? undefined : v);
            }}
          />
        </label>
        <span class="mono" id="scrub-seq">
          {scrub === undefined ? `live · event ${live.lastSeq}` : `event ${scrub} of ${live.lastSeq}`}
        </span>
      </div>
      <Timeline run={run} now={now} selected={selected} onSelect={(a) => setSelected(a.path?.length ? a.key : a.nodeId)} />
    </section>
  );
}

function RunOutputs({ outputs, inputs }: { outputs?: Record<string, unknown>; inputs?: Record<string, unknown> }) {
  return (
    <div>
      <p class="muted">Click a node to see what it received and returned.</p>
      <h3>Run inputs</h3>
      <JSONView value={inputs ?? {}} label="run-inputs" />
      {outputs && (
        <>
          <h3>Run outputs</h3>
          <JSONView value={outputs} label="run-outputs" />
        </>
      )}
    </div>
  );
}

// An answer to start from: the JSON shape the question's schema asks for.
function answerTemplate(schema?: Record<string, unknown>): unknown {
  switch (schema?.type) {
    case 'boolean':
      return true;
    case 'number':
    case 'integer':
      return 0;
    case 'array':
      return [];
    case 'object': {
      const out: Record<string, unknown> = {};
      const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
      for (const k of (schema.required as string[] | undefined) ?? Object.keys(props)) out[k] = answerTemplate(props[k]);
      return out;
    }
    default:
      return '';
  }
}

// The question an Ask node waits on, and a form that answers it.
function Question({ a, onAnswer }: { a: Activation; onAnswer?: (text: string) => void }) {
  const q = a.question!;
  const [text, setText] = useState(() => JSON.stringify(answerTemplate(q.schema), null, 2));
  return (
    <div class="question" id="question">
      <h3>Question</h3>
      <p id="question-prompt">{q.prompt}</p>
      <p class="muted">
        answered by {q.answeredBy?.length ? q.answeredBy.join(', ') : 'the run\'s user'}
        {q.deadline && ` · deadline ${formatTime(Date.parse(q.deadline))}${q.onDeadline ? ` (then ${q.onDeadline})` : ''}`}
      </p>
      {q.schema && (
        <details>
          <summary>Schema of the answer</summary>
          <JSONView value={q.schema} label="answer-schema" />
        </details>
      )}
      {a.status === 'waiting' && onAnswer && (
        <form
          id="answer-form"
          onSubmit={(e) => {
            e.preventDefault();
            onAnswer(text);
          }}
        >
          <textarea id="answer-json" rows={4} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
          <button type="submit" id="answer-submit">
            Answer
          </button>
        </form>
      )}
      {a.answer && (
        <p id="question-answer">
          {a.answer.timedOut ? 'the deadline passed' : `answered${a.answer.user ? ` by ${a.answer.user}` : ''}`}: <code>{JSON.stringify(a.answer.value)}</code>
        </p>
      )}
    </div>
  );
}

function ActivationPanel({ a, now, onAnswer }: { a: Activation; now: number; onAnswer?: (text: string) => void }) {
  const duration = a.durationMs ?? (a.status === 'running' && a.start !== undefined ? now - a.start : undefined);
  return (
    <div class="activation" data-node={a.key} data-activation={a.activation} data-status={a.status}>
      <h2>
        {a.key} <span class="muted">{a.nodeType}</span> {a.activation > 1 && <span class="muted">#{a.activation}</span>}
      </h2>
      <dl>
        <dt>status</dt>
        <dd>
          <span class={`badge state-${a.status}`}>{a.status}</span>
        </dd>
        <dt>duration</dt>
        <dd>{formatDuration(duration)}</dd>
        <dt>tokens</dt>
        <dd>
          {a.usage ? `${formatTokens(a.usage.totalTokens)} (prompt ${a.usage.promptTokens ?? 0}, completion ${a.usage.completionTokens ?? 0})` : '–'}
          {a.usage?.model && <span class="muted"> {a.usage.model}</span>}
        </dd>
        <dt>cache</dt>
        <dd>{a.cached ? `hit${a.source ? ` (${a.source})` : ''}` : 'miss'}</dd>
        {a.fired && (
          <>
            <dt>fired</dt>
            <dd>{a.fired.join(', ') || 'none'}</dd>
          </>
        )}
      </dl>
      {a.question && <Question a={a} onAnswer={onAnswer} />}
      {a.error && <p class="error node-error">{a.error}</p>}
      {a.skipReason && <p class="muted">skipped: {a.skipReason}</p>}
      {a.text && a.status === 'running' && <pre class="stream">{a.text}</pre>}
      <h3>Inputs</h3>
      {a.inputs ? <JSONView value={a.inputs} label="inputs" /> : <p class="muted">–</p>}
      <h3>Outputs</h3>
      {a.outputs ? <JSONView value={a.outputs} label="outputs" /> : <p class="muted">{a.status === 'running' ? 'running…' : '–'}</p>}
    </div>
  );
}
