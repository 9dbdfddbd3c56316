// A run as it stood after any of its events: the state of each node, one
// activation per node run (the timeline's bars), the run's status. The run
// view folds the events it has (live, or up to the scrubber's sequence
// number) with foldRun; nothing here talks to the server.
import type { NodeInputs, NodeOutputs, RunEvent, Usage } from '@grimoire-run/client';

export type NodeStatus = 'idle' | 'running' | 'waiting' | 'done' | 'cached' | 'failed' | 'skipped';
/** 'waiting': nothing is left to do but answer the questions of Ask nodes (not terminal). */
export type RunStatus = 'running' | 'waiting' | 'completed' | 'failed' | 'cancelled';

export interface Activation {
  /** The node's id, prefixed by the Spell nodes leading to it ("outer/inner") inside a sub-spell. */
  key: string;
  nodeId: string;
  nodeType?: string;
  path?: string[];
  activation: number;
  status: NodeStatus;
  /** Milliseconds since the epoch. */
  start?: number;
  end?: number;
  durationMs?: number;
  inputs?: NodeInputs;
  outputs?: NodeOutputs;
  fired?: string[];
  usage?: Usage;
  cached: boolean;
  source?: string;
  error?: string;
  skipReason?: string;
  /** Streamed text so far (node:chunk). */
  text: string;
  /** The question an Ask node waits on (node:waiting). */
  question?: { prompt: string; schema?: Record<string, unknown>; answeredBy: string[]; deadline?: string; onDeadline?: string };
  /** Its answer (node:answered): who gave it, or that the deadline passed. */
  answer?: { value?: unknown; user?: string; timedOut?: boolean };
}

export interface RunState {
  runId: string;
  spellId?: string;
  spellHash?: string;
  user?: string;
  parentRunId?: string;
  inputs?: Record<string, unknown>;
  status: RunStatus;
  outputs?: Record<string, unknown>;
  error?: string;
  errorNode?: string;
  started?: number;
  ended?: number;
  durationMs?: number;
  usage: { promptTokens: number; completionTokens: number; totalTokens: number };
  /** Every activation, in the order they started (or ended, for those that never started). */
  activations: Activation[];
  /** Each top-level node's latest activation. */
  nodes: Map<string, Activation>;
  /** The sequence number of the last event folded. */
  seq: number;
  /** The highest sequence number among the events given (what a scrubber can reach). */
  lastSeq: number;
}

const ms = (t?: string) => {
  if (!t) return undefined;
  const v = Date.parse(t);
  return Number.isNaN(v) ? undefined : v;
};

/** Folds a run's events (any order; duplicates ignored) up to and including sequence number `upto`. */
export function foldRun(events: readonly RunEvent[], upto = Number.POSITIVE_INFINITY): RunState {
  const sorted = [...events].sort((a, b) => a.seq - b.seq);
  const st: RunState = {
    runId: sorted[0]?.runId ?? '',
    status: 'running',
    usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0 },
    activations: [],
    nodes: new Map(),
    seq: 0,
    lastSeq: sorted.length ? sorted[sorted.length - 1].seq : 0,
  };
  const open = new Map<string, Activation>(); // key#activation → activation
  let prev = 0;
  for (const e of sorted) {
    if (e.seq > upto) break;
    if (e.seq === prev) continue;
    prev = e.seq;
    st.seq = e.seq;
    const t = ms(e.time);
    st.spellId ??= e.spellId;
    st.spellHash ??= e.spellHash;
    switch (e.type) {
      case 'run:start':
        st.started = t;
        st.inputs = e.inputs;
        st.user = e.user;
        st.parentRunId = e.parentRunId;
        break;
      case 'run:resumed':
        if (st.status === 'waiting') st.status = 'running';
        break;
      case 'run:waiting':
        st.status = 'waiting';
        break;
      case 'node:start':
      case 'node:chunk':
      case 'node:waiting':
      case 'node:answered':
      case 'node:end':
      case 'node:error':
      case 'node:skip': {
        const key = [...(e.path ?? []), e.nodeId].join('/');
        const n = e.activation ?? 1;
        const id = `${key}#${n}`;
        let a = open.get(id);
        if (!a) {
          a = { key, nodeId: e.nodeId, nodeType: e.nodeType, path: e.path, activation: n, status: 'running', cached: false, text: '' };
          open.set(id, a);
          st.activations.push(a);
        }
        a.nodeType ??= e.nodeType;
        if (e.type === 'node:start') {
          a.start = t;
          a.inputs = e.inputs;
        } else if (e.type === 'node:chunk') {
          a.text += e.text ?? '';
        } else if (e.type === 'node:waiting') {
          a.status = 'waiting';
          a.question = { prompt: e.prompt, schema: e.schema, answeredBy: e.answeredBy, deadline: e.deadline, onDeadline: e.onDeadline };
          a.start ??= t;
        } else if (e.type === 'node:answered') {
          a.answer = { value: e.value, user: e.user, timedOut: e.timedOut };
          if (a.status === 'waiting') a.status = 'running';
          if (st.status === 'waiting') st.status = 'running';
        } else if (e.type === 'node:end') {
          // An answered question is replayed from the log when the run goes on: it was answered, not cached.
          a.status = e.cached && !a.answer ? 'cached' : 'done';
          a.cached = !!e.cached;
          a.source = e.source;
          a.outputs = e.outputs;
          a.fired = e.fired;
          a.usage = e.usage;
          a.durationMs = e.durationMs;
          a.end = t;
          if (a.start === undefined) a.start = t !== undefined && e.durationMs !== undefined ? t - e.durationMs : t;
          if (e.usage) {
            st.usage.promptTokens += e.usage.promptTokens ?? 0;
            st.usage.completionTokens += e.usage.completionTokens ?? 0;
            st.usage.totalTokens += e.usage.totalTokens ?? (e.usage.promptTokens ?? 0) + (e.usage.completionTokens ?? 0);
          }
        } else if (e.type === 'node:error') {
          a.status = 'failed';
          a.error = e.error;
          a.durationMs = e.durationMs;
          a.end = t;
          a.start ??= t;
        } else {
          a.status = 'skipped';
          a.skipReason = e.reason;
          a.start ??= t;
          a.end = t;
        }
        if (!e.path?.length) st.nodes.set(e.nodeId, a);
        break;
      }
      case 'run:completed':
        st.status = 'completed';
        st.outputs = e.outputs;
        st.durationMs = e.durationMs;
        st.ended = t;
        break;
      case 'run:failed':
        st.status = 'failed';
        st.error = e.error;
        st.errorNode = e.nodeId;
        st.durationMs = e.durationMs;
        st.ended = t;
        break;
      case 'run:cancelled':
        st.status = 'cancelled';
        st.error = e.reason;
        st.durationMs = e.durationMs;
        st.ended = t;
        break;
    }
  }
  return st;
}

export interface Bar {
  activation: Activation;
  /** Offset from the run's start and length, as fractions of the whole span (0..1). */
  left: number;
  width: number;
  /** The row: each node (key) has its own. */
  row: number;
}

/**
 * The timeline: one bar per activation, one row per node, placed on the
 * span from the run's start to its end (or to `now` while it runs).
 */
export function timelineBars(st: RunState, now: number): { bars: Bar[]; rows: string[]; spanMs: number; t0: number } {
  const t0 = st.started ?? Math.min(...st.activations.map((a) => a.start ?? now), now);
  const tEnd = Math.max(st.ended ?? now, ...st.activations.map((a) => a.end ?? (a.status === 'running' ? now : a.start ?? t0)));
  const spanMs = Math.max(tEnd - t0, 1);
  const rows: string[] = [];
  const rowOf = new Map<string, number>();
  const bars = st.activations.map((a) => {
    let row = rowOf.get(a.key);
    if (row === undefined) {
      row = rows.push(a.key) - 1;
      rowOf.set(a.key, row);
    }
    const s = a.start ?? t0;
    const e = a.end ?? (a.status === 'running' ? now : s);
    return { activation: a, left: (s - t0) / spanMs, width: Math.max(e - s, 0) / spanMs, row };
  });
  return { bars, rows, spanMs, t0 };
}
