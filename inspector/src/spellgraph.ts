// What the run view draws: a spell's nodes and edges, from a document in
// either format (the server's native document, or a Thoth / Magick export),
// with each edge told as a trigger edge (control, pushed) or a data edge
// (values, pulled). Parsing is the SDK's (parseSpell); this adds what a
// drawing needs.
import { BUILTIN_NODE_TYPES, parseSpell, type Graph, type GraphNode, type PortKind } from '@grimoire-run/client';

export interface ViewNode {
  id: string;
  type: string;
  /** What the node shows: its name (Input, Output, Trigger In names) or its type. */
  label: string;
  /** The editor's position, when the document has one. */
  position?: { x: number; y: number };
}

export interface ViewEdge {
  id: string;
  source: string;
  sourcePort: string;
  target: string;
  targetPort: string;
  kind: PortKind;
}

export interface SpellView {
  id: string;
  name?: string;
  nodes: ViewNode[];
  edges: ViewEdge[];
  /** True when every node has a saved position: draw them there; otherwise lay the graph out. */
  positioned: boolean;
}

const builtinPorts = new Map<string, { inputs: Map<string, PortKind>; outputs: Map<string, PortKind> }>();
for (const t of BUILTIN_NODE_TYPES) {
  const ports = {
    inputs: new Map((t.inputs ?? []).map((p) => [p.name, p.kind] as [string, PortKind])),
    outputs: new Map((t.outputs ?? []).map((p) => [p.name, p.kind] as [string, PortKind])),
  };
  for (const n of [t.name, ...(t.aliases ?? [])]) builtinPorts.set(n.toLowerCase(), ports);
}

// Trigger ports of node types the SDK's catalog does not list are named so
// by convention (trigger, true/false of a gate, the Switch's default …).
const TRIGGER_NAMES = /^(trigger|true|false|default|done|then|else|onTrigger)$/i;

function portKind(node: GraphNode | undefined, port: string, side: 'inputs' | 'outputs'): PortKind | undefined {
  if (!node) return undefined;
  const declared = node[side].find((p) => p.key === port);
  if (declared) return declared.kind;
  return builtinPorts.get(node.type.toLowerCase())?.[side].get(port);
}

/** Reads a spell document (object or JSON text, either format) into what the run view draws. */
export function buildSpellView(doc: unknown): SpellView {
  const g: Graph = parseSpell(doc);
  const byID = new Map(g.nodes.map((n) => [n.id, n]));
  const nodes = g.nodes.map((n) => ({ id: n.id, type: n.type, label: labelOf(n), position: finite(n.position) }));
  const edges = g.edges.map((e) => {
    const kind =
      portKind(byID.get(e.from.node), e.from.port, 'outputs') ??
      portKind(byID.get(e.to.node), e.to.port, 'inputs') ??
      (TRIGGER_NAMES.test(e.from.port) || TRIGGER_NAMES.test(e.to.port) ? 'trigger' : 'data');
    return {
      id: `${e.from.node}.${e.from.port}->${e.to.node}.${e.to.port}`,
      source: e.from.node,
      sourcePort: e.from.port,
      target: e.to.node,
      targetPort: e.to.port,
      kind,
    };
  });
  return { id: g.id, name: g.name, nodes, edges, positioned: nodes.length > 0 && nodes.every((n) => n.position) };
}

function finite(p: { x: number; y: number } | undefined) {
  return p && Number.isFinite(p.x) && Number.isFinite(p.y) ? p : undefined;
}

function labelOf(n: GraphNode): string {
  const name = typeof n.config.name === 'string' && n.config.name.trim() ? n.config.name : n.id;
  if (!n.type || name === n.type) return name;
  return `${name}\n${n.type}`;
}

/** The names of a spell's Input nodes, with their defaults: the fields of a run form. */
export function inputFields(doc: unknown): Array<{ name: string; nodeId: string; defaultValue?: unknown; type?: string }> {
  const g = parseSpell(doc);
  const out: Array<{ name: string; nodeId: string; defaultValue?: unknown; type?: string }> = [];
  for (const n of g.nodes) {
    const t = n.type.toLowerCase();
    if (t !== 'input' && t !== 'universal input') continue;
    const name = typeof n.config.name === 'string' && n.config.name ? n.config.name : n.id;
    if (out.some((f) => f.name === name)) continue;
    const def = n.config.default ?? n.config.defaultValue ?? n.config.value;
    out.push({ name, nodeId: n.id, defaultValue: def, type: typeof n.config.type === 'string' ? n.config.type : undefined });
  }
  return out;
}
