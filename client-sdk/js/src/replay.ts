// Cached-output replay: walk a spell locally with the server's execution
// semantics (graph/runner.go), taking every activation's outputs from the run's
// node-output cache instead of executing anything, and call the editor's
// per-node hooks in the order the server ran the nodes.

import { ReplayError } from './errors.js';
import { compareNodeIDs, parseSpell, type Graph, type GraphNode, type PortKind, type PortRef } from './graph.js';
import type { NodeInputs, NodeOutputs, NodeResult, RunCompletedEvent, RunEvent, RunResult } from './types.js';

/** What replay needs to know about a node type; `grimoire nodes --json` prints these. */
export interface NodeTypeInfo {
  name: string;
  aliases?: string[];
  role?: '' | 'input' | 'output' | 'trigger-in' | 'trigger-out';
  inputs?: Array<{ name: string; kind: PortKind }>;
  outputs?: Array<{ name: string; kind: PortKind }>;
  dynamicPorts?: boolean;
}

const T = (name: string) => ({ name, kind: 'trigger' as const });
const D = (name: string) => ({ name, kind: 'data' as const });

/**
 * The server's built-in node types (package nodes), as far as replay needs
 * them: roles and which ports are triggers. Types not listed here follow the
 * Rete convention (a port named "trigger" is a trigger, others are data) plus
 * what the node declares; pass `catalog` for anything else.
 */
export const BUILTIN_NODE_TYPES: NodeTypeInfo[] = [
  { name: 'Input', aliases: ['Universal Input'], role: 'input', outputs: [D('output'), T('trigger')] },
  { name: 'Output', role: 'output', inputs: [D('input'), T('trigger')], outputs: [T('trigger')] },
  { name: 'Module Trigger In', aliases: ['Trigger In'], role: 'trigger-in', outputs: [T('trigger')] },
  { name: 'Module Trigger Out', aliases: ['Trigger Out'], role: 'trigger-out', inputs: [T('trigger')] },
  { name: 'Boolean Gate', inputs: [D('boolean'), T('trigger')], outputs: [T('true'), T('false')] },
  { name: 'Switch', inputs: [D('input'), T('trigger')], outputs: [T('default')], dynamicPorts: true },
  { name: 'Wait For All', outputs: [T('default')], dynamicPorts: true },
  { name: 'Exclusive Gate', outputs: [T('trigger'), D('output')], dynamicPorts: true },
  { name: 'Spell', aliases: ['Sub Spell', 'Module'], dynamicPorts: true },
  { name: 'Code', aliases: ['Javascript', 'JavaScript'], inputs: [T('trigger')], outputs: [T('trigger')], dynamicPorts: true },
  { name: 'Generator', inputs: [T('trigger')], outputs: [T('trigger'), D('result'), D('composed')], dynamicPorts: true },
  { name: 'Text Template', inputs: [T('trigger')], outputs: [D('output'), T('trigger')], dynamicPorts: true },
  { name: 'Echo', inputs: [D('string'), T('trigger')], outputs: [D('output'), T('trigger')] },
  { name: 'JSON Parse', aliases: ['Parse JSON'], inputs: [D('input'), T('trigger')], outputs: [D('output'), T('trigger')] },
  { name: 'JSON Stringify', aliases: ['Stringify JSON'], inputs: [D('input'), T('trigger')], outputs: [D('output'), T('trigger')] },
];

/** One replayed activation, as the hook sees it. */
export interface ReplayContext {
  /** The node, from the graph (for a sub-spell's node: id and type only). */
  node: GraphNode;
  /** The node type the server reported (canonical name). */
  nodeType: string;
  activation: number;
  /** The trigger input that fired this activation; "" when pulled for data or the entry. */
  trigger: string;
  /** The cached inputs: as the server recorded them, else as the walk resolved them. */
  inputs: NodeInputs;
  outputs: NodeOutputs;
  /** Trigger outputs the activation left open. */
  fired: string[];
  /** The server took this activation from its cache rather than executing it. */
  cached: boolean;
  /** Spell nodes leading to the sub-spell; empty at top level. */
  path: string[];
  /** Position in the server's execution order. */
  index: number;
  graph: Graph;
}

/** The editor's per-node hook, Rete-style: (node, inputs, outputs, context). */
export type ReplayHook = (node: GraphNode, inputs: NodeInputs, outputs: NodeOutputs, ctx: ReplayContext) => void | Promise<void>;

/**
 * Hooks by node type (the name in the graph, the server's canonical name or an
 * alias; case-insensitive) with "*" as the fallback, or one hook for every node.
 */
export type ReplayWorkers = ReplayHook | Record<string, ReplayHook>;

export interface ReplayOptions {
  /** The run's inputs and their order; they pick the entry node as on the server. RunResult carries them. */
  inputs?: Record<string, unknown>;
  inputOrder?: string[];
  entry?: string;
  /** Node types beyond the built-in ones (`grimoire nodes --json`). */
  catalog?: NodeTypeInfo[];
  /** Throw ReplayError on any mismatch between the walk and the cache (default false: report them). */
  strict?: boolean;
  /** Bound on activations, like the server's MaxActivations (default 10,000). */
  maxActivations?: number;
}

export interface ReplayReport {
  /** Run outputs recomputed by the walk (Output nodes' inputs), keyed by Output name. */
  outputs: Record<string, unknown>;
  /** Every activation, in the server's execution order. */
  activations: ReplayContext[];
  /** Top-level nodes that never ran. */
  skipped: string[];
  /** Differences between the walk and the cache (empty when they agree). */
  mismatches: string[];
}

type ResultLike = RunResult | RunCompletedEvent | { nodes?: NodeResult[]; outputs?: Record<string, unknown> } | NodeResult[];

/**
 * Replays a finished run through its spell without calling any model: it
 * walks `graph` (either format) in the server's execution order, resolving
 * each node's data inputs from its producers' cached outputs, following the
 * trigger outputs each cached activation fired, and calls `workers` for each
 * activation with its cached inputs and outputs.
 */
export async function replay(graph: unknown, result: ResultLike, workers: ReplayWorkers = {}, options: ReplayOptions = {}): Promise<ReplayReport> {
  const g = parseSpell(graph);
  const res = Array.isArray(result) ? { nodes: result } : result;
  const nodes = res.nodes ?? [];
  const opts: ReplayOptions = { ...options };
  if (!Array.isArray(result) && 'runId' in result && 'spellId' in result) {
    const rr = result as RunResult;
    opts.inputs ??= rr.inputs;
    opts.inputOrder ??= rr.inputOrder;
    opts.entry ??= rr.entry;
  }
  const report = walk(g, nodes, opts);
  const hookFor = resolveHooks(workers, opts.catalog);
  for (const ctx of report.activations) {
    const hook = hookFor(ctx.node.type, ctx.nodeType);
    if (hook) await hook(ctx.node, ctx.inputs, ctx.outputs, ctx);
  }
  return report;
}

/** Builds the node-output cache from a run's events (what run:completed.nodes carries). */
export function nodeResultsFromEvents(events: Iterable<RunEvent>): NodeResult[] {
  const started = new Map<string, { trigger?: string; inputs?: NodeInputs }>();
  const out: NodeResult[] = [];
  for (const e of events) {
    if (e.type === 'node:start') {
      started.set(recordKey(e.path, e.nodeId, e.activation ?? 0), { trigger: e.trigger, inputs: e.inputs });
    } else if (e.type === 'node:end') {
      const s = started.get(recordKey(e.path, e.nodeId, e.activation ?? 0));
      out.push({
        nodeId: e.nodeId, nodeType: e.nodeType, path: e.path, activation: e.activation ?? 0,
        trigger: s?.trigger, inputs: s?.inputs, outputs: e.outputs, fired: e.fired, cached: e.cached === true,
      });
    }
  }
  return out;
}

function recordKey(path: string[] | undefined, nodeId: string, activation: number): string {
  return JSON.stringify([path ?? [], nodeId, activation]);
}

class Types {
  private byName = new Map<string, NodeTypeInfo>();
  constructor(catalog: NodeTypeInfo[] | undefined) {
    for (const t of [...BUILTIN_NODE_TYPES, ...(catalog ?? [])]) {
      for (const n of [t.name, ...(t.aliases ?? [])]) this.byName.set(n.toLowerCase(), t);
    }
  }
  lookup(name: string | undefined): NodeTypeInfo | undefined {
    return name ? this.byName.get(name.toLowerCase()) : undefined;
  }
}

function resolveHooks(workers: ReplayWorkers, catalog: NodeTypeInfo[] | undefined): (graphType: string, serverType: string) => ReplayHook | undefined {
  if (typeof workers === 'function') return () => workers;
  const types = new Types(catalog);
  const folded = new Map<string, ReplayHook>();
  for (const [k, h] of Object.entries(workers)) folded.set(k.toLowerCase(), h);
  return (graphType, serverType) => {
    for (const name of [graphType, serverType]) {
      if (!name) continue;
      const h = workers[name] ?? folded.get(name.toLowerCase());
      if (h) return h;
      const t = types.lookup(name);
      if (t) {
        for (const alt of [t.name, ...(t.aliases ?? [])]) {
          const h2 = folded.get(alt.toLowerCase());
          if (h2) return h2;
        }
      }
    }
    return workers['*'];
  };
}

interface ProgramNode {
  node: GraphNode;
  type?: NodeTypeInfo;
  role: string;
  dataInputs: Array<{ port: string; sources: PortRef[] }>;
  triggerOuts: Array<{ port: string; targets: PortRef[] }>;
  triggered: boolean;
}

interface NodeState {
  activations: number;
  outputs: NodeOutputs;
  hasOutputs: boolean;
  pulled: boolean;
  pullOk: boolean;
  closed: string[];
}

interface Pending {
  pn: ProgramNode;
  trigger: string;
  from: string;
}

function walk(g: Graph, records: NodeResult[], opts: ReplayOptions): ReplayReport {
  const types = new Types(opts.catalog);
  const strict = opts.strict === true;
  const maxActivations = opts.maxActivations ?? 10_000;
  const mismatches: string[] = [];
  const mismatch = (msg: string, nodeId?: string) => {
    if (strict) throw new ReplayError(msg, nodeId);
    mismatches.push(msg);
  };

  // The cache, by (path, node, activation), remembering the server's order.
  const byKey = new Map<string, { rec: NodeResult; index: number; used: boolean }>();
  const recordsByNode = new Map<string, Array<{ rec: NodeResult; index: number; used: boolean }>>();
  records.forEach((rec, index) => {
    const entry = { rec, index, used: false };
    byKey.set(recordKey(rec.path, rec.nodeId, rec.activation), entry);
    if (rec.path && rec.path.length) return;
    let list = recordsByNode.get(rec.nodeId);
    if (!list) recordsByNode.set(rec.nodeId, (list = []));
    list.push(entry);
  });

  // Hints from the cache for ports of types replay does not know.
  const firedPorts = new Set<string>();
  const triggerPorts = new Set<string>();
  for (const r of records) {
    if (r.path && r.path.length) continue;
    for (const f of r.fired ?? []) firedPorts.add(`${r.nodeId}.${f}`);
    if (r.trigger) triggerPorts.add(`${r.nodeId}.${r.trigger}`);
  }
  const nodeByID = new Map(g.nodes.map((n) => [n.id, n]));
  const kindOf = (nodeId: string, side: 'in' | 'out', port: string): PortKind | undefined => {
    const n = nodeByID.get(nodeId);
    if (!n) return undefined;
    const t = types.lookup(n.type);
    const fixed = side === 'in' ? t?.inputs : t?.outputs;
    const f = fixed?.find((p) => p.name === port);
    if (f) return f.kind;
    const d = (side === 'in' ? n.inputs : n.outputs).find((p) => p.key === port);
    if (d) return d.kind;
    if (port === 'trigger') return 'trigger';
    if (side === 'out' && firedPorts.has(`${nodeId}.${port}`)) return 'trigger';
    if (side === 'in' && triggerPorts.has(`${nodeId}.${port}`)) return 'trigger';
    return undefined;
  };
  const edgeKind = (from: PortRef, to: PortRef): PortKind =>
    kindOf(from.node, 'out', from.port) === 'trigger' || kindOf(to.node, 'in', to.port) === 'trigger' ? 'trigger' : 'data';

  // Compile (graph.Compile): ports in the type's order, then declared, then
  // any other port an edge names.
  const prog = new Map<string, ProgramNode>();
  const order: ProgramNode[] = [];
  for (const n of [...g.nodes].sort((a, b) => compareNodeIDs(a.id, b.id))) {
    const t = types.lookup(n.type);
    const pn: ProgramNode = { node: n, type: t, role: t?.role ?? '', dataInputs: [], triggerOuts: [], triggered: false };
    prog.set(n.id, pn);
    order.push(pn);
  }
  const portOrder = (n: GraphNode, side: 'in' | 'out'): string[] => {
    const t = types.lookup(n.type);
    const names: string[] = [];
    for (const p of (side === 'in' ? t?.inputs : t?.outputs) ?? []) names.push(p.name);
    for (const d of side === 'in' ? n.inputs : n.outputs) if (!names.includes(d.key)) names.push(d.key);
    const extra = new Set<string>();
    for (const e of g.edges) {
      const end = side === 'in' ? e.to : e.from;
      if (end.node === n.id && !names.includes(end.port)) extra.add(end.port);
    }
    return [...names, ...[...extra].sort()];
  };
  for (const pn of order) {
    for (const port of portOrder(pn.node, 'in')) {
      const edges = g.edges.filter((e) => e.to.node === pn.node.id && e.to.port === port);
      if (!edges.length) continue;
      if (edgeKind(edges[0].from, edges[0].to) === 'trigger') pn.triggered = true;
      else pn.dataInputs.push({ port, sources: edges.map((e) => e.from) });
    }
    for (const port of portOrder(pn.node, 'out')) {
      const edges = g.edges.filter((e) => e.from.node === pn.node.id && e.from.port === port);
      const kind = edges.length ? edgeKind(edges[0].from, edges[0].to) : kindOf(pn.node.id, 'out', port);
      if (kind === 'trigger') pn.triggerOuts.push({ port, targets: edges.map((e) => e.to) });
    }
  }

  const state = new Map<string, NodeState>(order.map((pn) => [pn.node.id, { activations: 0, outputs: {}, hasOutputs: false, pulled: false, pullOk: false, closed: [] }]));
  const runOutputs: Record<string, unknown> = {};
  const walked: ReplayContext[] = [];
  let total = 0;

  const pull = (src: PortRef): { ok: boolean; value?: unknown } => {
    const pn = prog.get(src.node);
    if (!pn) return { ok: false };
    const ns = state.get(src.node)!;
    if (!pn.triggered) evaluateOnce(pn, ns);
    if (!ns.hasOutputs || !(src.port in ns.outputs)) return { ok: false };
    return { ok: true, value: ns.outputs[src.port] };
  };

  const resolveInputs = (pn: ProgramNode, from: string): NodeInputs => {
    const inputs: NodeInputs = {};
    for (const di of pn.dataInputs) {
      let srcs = di.sources;
      if (srcs.length > 1 && from) {
        const s = srcs.find((x) => x.node === from);
        if (s) srcs = [s];
      }
      for (const src of srcs) {
        const v = pull(src);
        if (v.ok) (inputs[di.port] ??= []).push(v.value);
      }
    }
    return inputs;
  };

  const runActivation = (pn: ProgramNode, trigger: string, from: string): { closed: string[] } | null => {
    const inputs = resolveInputs(pn, from);
    const ns = state.get(pn.node.id)!;
    if (++total > maxActivations) throw new ReplayError(`more than ${maxActivations} activations (a trigger loop?)`, pn.node.id);
    ns.activations++;
    const number = ns.activations;
    const entry = byKey.get(recordKey([], pn.node.id, number));
    if (!entry) {
      // Replay never executes a node: without a cached result the walk does not go on along this path.
      ns.activations--;
      total--;
      mismatch(`node ${pn.node.id} (${pn.node.type}) activation ${number} is reached by the graph walk but is not in the run's node cache`, pn.node.id);
      return null;
    }
    entry.used = true;
    const rec = entry.rec;
    const outputs = rec.outputs ?? {};
    const fired = rec.fired ?? [];
    if (rec.inputs !== undefined && !sameJSON(rec.inputs, inputs)) {
      mismatch(`node ${pn.node.id} activation ${number}: the server recorded inputs ${JSON.stringify(rec.inputs)}, the walk resolved ${JSON.stringify(inputs)}`, pn.node.id);
    }
    if (!rec.cached && (rec.trigger ?? '') !== trigger) {
      mismatch(`node ${pn.node.id} activation ${number}: the server recorded trigger ${JSON.stringify(rec.trigger ?? '')}, the walk ${JSON.stringify(trigger)}`, pn.node.id);
    }
    if (pn.role === 'output') {
      const name = typeof pn.node.config.name === 'string' && pn.node.config.name ? pn.node.config.name : 'output';
      // The recorded inputs win: a concurrent branch may have finished on the
      // server after this node read its inputs (any difference is in mismatches).
      const v = (rec.inputs ?? inputs).input;
      runOutputs[name] = v && v.length ? v[0] : null;
    }
    ns.outputs = outputs;
    ns.hasOutputs = true;
    walked.push({
      node: pn.node, nodeType: rec.nodeType ?? pn.type?.name ?? pn.node.type, activation: number, trigger,
      inputs: rec.inputs ?? inputs, outputs, fired, cached: rec.cached === true, path: [], index: entry.index, graph: g,
    });
    return { closed: pn.triggerOuts.map((t) => t.port).filter((p) => !fired.includes(p)) };
  };

  const evaluateOnce = (pn: ProgramNode, ns: NodeState): boolean => {
    if (ns.pulled) return ns.pullOk;
    ns.pulled = true;
    const res = runActivation(pn, '', '');
    ns.pullOk = res !== null;
    if (res) ns.closed = res.closed;
    return ns.pullOk;
  };

  const triggerTargets = (pn: ProgramNode, closed: string[]): Pending[] => {
    const out: Pending[] = [];
    for (const to of pn.triggerOuts) {
      if (closed.includes(to.port)) continue;
      for (const t of to.targets) {
        const target = prog.get(t.node);
        if (target) out.push({ pn: target, trigger: t.port, from: pn.node.id });
      }
    }
    return out;
  };

  const activate = (p: Pending): Pending[] => {
    const ns = state.get(p.pn.node.id)!;
    if (!p.pn.triggered && p.trigger === '') {
      if (!evaluateOnce(p.pn, ns)) return [];
      return triggerTargets(p.pn, ns.closed);
    }
    const res = runActivation(p.pn, p.trigger, p.from);
    return res ? triggerTargets(p.pn, res.closed) : [];
  };

  // The runner's queue, serialized. The server drains it with up to 16
  // workers, so of the activations ready at one moment, it is the cache's
  // order that says which ran first: pick the ready activation whose next
  // cached record comes earliest (same node and trigger), FIFO on ties.
  const unusedIndex = (p: Pending): number => {
    let any = Infinity;
    for (const e of recordsByNode.get(p.pn.node.id) ?? []) {
      if (e.used) continue;
      if ((e.rec.trigger ?? '') === p.trigger || e.rec.cached) return e.index;
      if (any === Infinity) any = e.index + 0.5;
    }
    return any;
  };
  const pending: Pending[] = entries(order, opts).map((pn) => ({ pn, trigger: '', from: '' }));
  while (pending.length) {
    let best = 0;
    let bestScore = unusedIndex(pending[0]);
    for (let i = 1; i < pending.length; i++) {
      const sc = unusedIndex(pending[i]);
      if (sc < bestScore) {
        best = i;
        bestScore = sc;
      }
    }
    const [next] = pending.splice(best, 1);
    pending.push(...activate(next));
  }

  // Sub-spell activations (path not empty) are not walked (replay has only the
  // top-level graph); they are delivered in the server's order.
  for (const [, entry] of byKey) {
    const rec = entry.rec;
    if (rec.path && rec.path.length) {
      entry.used = true;
      walked.push({
        node: { id: rec.nodeId, type: rec.nodeType ?? '', config: {}, inputs: [], outputs: [] },
        nodeType: rec.nodeType ?? '', activation: rec.activation, trigger: rec.trigger ?? '', inputs: rec.inputs ?? {},
        outputs: rec.outputs ?? {}, fired: rec.fired ?? [], cached: rec.cached === true, path: rec.path, index: entry.index, graph: g,
      });
    } else if (!entry.used) {
      mismatch(`node ${rec.nodeId} activation ${rec.activation} is in the run's node cache but the graph walk never reached it`, rec.nodeId);
    }
  }
  walked.sort((a, b) => a.index - b.index);
  const skipped = order.filter((pn) => state.get(pn.node.id)!.activations === 0).map((pn) => pn.node.id);
  return { outputs: runOutputs, activations: walked, skipped, mismatches };
}

// Program.entries: where a run starts.
function entries(order: ProgramNode[], opts: ReplayOptions): ProgramNode[] {
  const name = (pn: ProgramNode) => (typeof pn.node.config.name === 'string' ? pn.node.config.name : '');
  if (opts.entry) {
    const byID = order.find((pn) => pn.node.id === opts.entry);
    if (byID) return [byID];
    const byName = order.find((pn) => (pn.role === 'trigger-in' || pn.role === 'input') && (name(pn) === opts.entry || pn.node.config.socketKey === opts.entry));
    if (byName) return [byName];
    throw new ReplayError(`no node, Trigger In or Input named ${JSON.stringify(opts.entry)}`);
  }
  const fires = (pn: ProgramNode) => pn.triggerOuts.some((t) => t.targets.length > 0);
  const byRole = (role: string) =>
    order
      .filter((pn) => pn.role === role)
      .sort((a, b) => (a.node.position?.y ?? 0) - (b.node.position?.y ?? 0) || compareNodeIDs(a.node.id, b.node.id));
  const inputs = byRole('input');
  let first = '';
  if (opts.inputOrder && opts.inputOrder.length) first = opts.inputOrder[0];
  else if (opts.inputs && Object.keys(opts.inputs).length === 1) first = Object.keys(opts.inputs)[0];
  if (first) {
    const pn = inputs.find((p) => name(p) === first && fires(p));
    if (pn) return [pn];
  }
  const tins = byRole('trigger-in');
  if (tins.length) return [tins[0]];
  const def = inputs.find((p) => name(p) === 'Input - Default' && fires(p));
  if (def) return [def];
  const any = inputs.find(fires);
  if (any) return [any];
  const outs = byRole('output');
  if (outs.length) return outs;
  throw new ReplayError('the spell has no Trigger In, Input or Output node');
}

/** JSON equality with object keys in any order. */
export function sameJSON(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]])) : x,
  );
}
