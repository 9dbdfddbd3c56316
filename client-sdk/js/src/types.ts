// The wire contract of docs/protocol.md, as TypeScript types.

/** Model usage reported by a node or a run. */
export interface Usage {
  model?: string;
  promptTokens?: number;
  completionTokens?: number;
  totalTokens?: number;
  calls?: number;
}

/** A node's data inputs: one value per connection that produced a value. */
export type NodeInputs = Record<string, unknown[]>;
/** A node's data outputs by port. */
export type NodeOutputs = Record<string, unknown>;

interface Base {
  runId: string;
  /** Numbers a run's events from 1 without gaps. */
  seq: number;
  spellId?: string;
  spellHash?: string;
  time?: string;
}

interface NodeRef {
  nodeId: string;
  nodeType?: string;
  /** Counts this node's activations in the run, from 1. */
  activation?: number;
  /** Spell nodes leading to the sub-spell this node belongs to; absent at top level. */
  path?: string[];
}

export interface RunStartEvent extends Base {
  type: 'run:start';
  inputs?: Record<string, unknown>;
  user?: string;
  parentRunId?: string;
}
export interface RunResumedEvent extends Base {
  type: 'run:resumed';
  afterSeq?: number;
  reason?: string;
}
export interface NodeStartEvent extends Base, NodeRef {
  type: 'node:start';
  trigger?: string;
  inputs?: NodeInputs;
}
export interface NodeChunkEvent extends Base, NodeRef {
  type: 'node:chunk';
  index?: number;
  text?: string;
}
export interface NodeEndEvent extends Base, NodeRef {
  type: 'node:end';
  outputs?: NodeOutputs;
  fired?: string[];
  durationMs?: number;
  usage?: Usage;
  /** True for a cache or resume hit. */
  cached?: boolean;
  source?: string;
}
export interface NodeErrorEvent extends Base, NodeRef {
  type: 'node:error';
  error: string;
  durationMs?: number;
}
export interface NodeSkipEvent extends Base, NodeRef {
  type: 'node:skip';
  reason?: string;
}
/** An Ask node waits for an answer: answer with Run.answer (or GrimoireClient.answer). */
export interface NodeWaitingEvent extends Base, NodeRef {
  type: 'node:waiting';
  prompt: string;
  /** JSON Schema the answer must match. */
  schema?: Record<string, unknown>;
  /** Users who may answer; "*" is anyone who may read the run. */
  answeredBy: string[];
  deadline?: string;
  onDeadline?: 'fail' | 'timeout';
}
/** A waiting node got its answer (user: who answered) or timed out. */
export interface NodeAnsweredEvent extends Base, NodeRef {
  type: 'node:answered';
  value?: unknown;
  user?: string;
  timedOut?: boolean;
}
/** The run has nothing left to do but wait for answers; it is not terminal. */
export interface RunWaitingEvent extends Base {
  type: 'run:waiting';
  waiting: { nodeId: string; nodeType?: string; activation: number; path?: string[] }[];
}
export interface RunCompletedEvent extends Base {
  type: 'run:completed';
  outputs: Record<string, unknown>;
  durationMs?: number;
  usage?: Usage;
  /** The run's node-output cache, one entry per activation, in execution order. */
  nodes?: NodeResult[];
}
export interface RunFailedEvent extends Base {
  type: 'run:failed';
  error: string;
  nodeId?: string;
  path?: string[];
  durationMs?: number;
}
export interface RunCancelledEvent extends Base {
  type: 'run:cancelled';
  reason?: string;
  durationMs?: number;
}

/** One activation in run:completed's node-output cache. */
export interface NodeResult {
  nodeId: string;
  nodeType?: string;
  path?: string[];
  activation: number;
  trigger?: string;
  inputs?: NodeInputs;
  outputs?: NodeOutputs;
  fired?: string[];
  cached: boolean;
}

export type NodeEvent = NodeStartEvent | NodeChunkEvent | NodeEndEvent | NodeErrorEvent | NodeSkipEvent | NodeWaitingEvent | NodeAnsweredEvent;
export type TerminalEvent = RunCompletedEvent | RunFailedEvent | RunCancelledEvent;
export type RunEvent = RunStartEvent | RunResumedEvent | NodeEvent | RunWaitingEvent | TerminalEvent;
export type RunEventType = RunEvent['type'];

/** Every run event type, in the order of docs/protocol.md. */
export const RUN_EVENT_TYPES: readonly RunEventType[] = [
  'run:start',
  'run:resumed',
  'node:start',
  'node:chunk',
  'node:end',
  'node:error',
  'node:skip',
  'run:completed',
  'run:failed',
  'run:cancelled',
  'node:waiting',
  'node:answered',
  'run:waiting',
];

/** A port of a spell's signature (what spell:load's ack lists). */
export interface SignaturePort {
  nodeId: string;
  /** The key of the run's inputs or outputs map. */
  name: string;
  socketKey: string;
  type?: string;
}

/** spell:load's ack. */
export interface SpellInfo {
  spellId: string;
  name?: string;
  version: number;
  hash: string;
  inputs: SignaturePort[];
  outputs: SignaturePort[];
  triggerIns: SignaturePort[];
  triggerOuts: SignaturePort[];
}

/** What a completed run produced. */
export interface RunResult {
  runId: string;
  spellId: string;
  /** Run outputs keyed by Output node names. */
  outputs: Record<string, unknown>;
  /** The node-output cache that replay() walks. */
  nodes: NodeResult[];
  durationMs?: number;
  usage?: Usage;
  /** The inputs the run was started with (replay uses them to pick the entry node). */
  inputs?: Record<string, unknown>;
  inputOrder?: string[];
  entry?: string;
}
