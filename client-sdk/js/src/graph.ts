// Reading spell documents in both formats (docs/spell-format.md): Grimoire's
// native document and Thoth/Magick (Rete.js v1) exports. This mirrors the
// server's graph.ParseSpell closely enough to walk a spell locally; it does not
// validate against node types (the server does that on spell:load).

import { SpellParseError } from './errors.js';

export type PortKind = 'data' | 'trigger';

/** A port a user added to one node. */
export interface PortDecl {
  key: string;
  name?: string;
  kind: PortKind;
  type?: string;
}

export interface GraphNode {
  id: string;
  /** The node type, verbatim (Thoth/Magick names are aliases on the server). */
  type: string;
  config: Record<string, unknown>;
  inputs: PortDecl[];
  outputs: PortDecl[];
  position?: { x: number; y: number };
}

export interface PortRef {
  node: string;
  port: string;
}

export interface GraphEdge {
  from: PortRef;
  to: PortRef;
}

/** A spell graph in either format, normalised. Nodes and edges are in the server's canonical order. */
export interface Graph {
  id: string;
  name?: string;
  format: 'native' | 'rete';
  nodes: GraphNode[];
  edges: GraphEdge[];
  meta?: Record<string, unknown>;
}

export const NATIVE_FORMAT = 'grimoire/spell@1';

/** Reads a spell document (object or JSON text) in either format. */
export function parseSpell(doc: unknown): Graph {
  if (isGraph(doc)) return doc;
  if (typeof doc === 'string') {
    try {
      doc = JSON.parse(doc.replace(/^\uFEFF/, ''));
    } catch (e) {
      throw new SpellParseError(`not JSON: ${(e as Error).message}`);
    }
  }
  if (!isObject(doc)) throw new SpellParseError('a spell is a JSON object');
  if ('format' in doc) {
    if (doc.format === NATIVE_FORMAT) return parseNative(doc);
    throw new SpellParseError(`unknown or unsupported format ${JSON.stringify(doc.format)}: want ${JSON.stringify(NATIVE_FORMAT)}`, 'format');
  }
  if (doc.chain != null || doc.graph != null) return parseRete(doc);
  if (isObject(doc.nodes)) return parseRete(doc);
  if (Array.isArray(doc.nodes)) {
    throw new SpellParseError(`missing: add "format": ${JSON.stringify(NATIVE_FORMAT)}`, 'format');
  }
  throw new SpellParseError('not a spell: want a Grimoire spell ("format") or a Thoth/Magick export ("chain" or "graph")');
}

function isGraph(v: unknown): v is Graph {
  return isObject(v) && (v.format === 'native' || v.format === 'rete') && Array.isArray(v.nodes) && Array.isArray(v.edges);
}

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parsePortRef(s: unknown, path: string): PortRef {
  if (typeof s !== 'string') throw new SpellParseError('want a string "node.port"', path);
  const i = s.indexOf('.');
  if (i <= 0 || i === s.length - 1) throw new SpellParseError(`port reference ${JSON.stringify(s)}: want "node.port"`, path);
  return { node: s.slice(0, i), port: s.slice(i + 1) };
}

function parseNative(doc: Record<string, any>): Graph {
  if (!Array.isArray(doc.nodes)) throw new SpellParseError('want an array', 'nodes');
  const nodes: GraphNode[] = doc.nodes.map((n: any, i: number) => {
    if (!isObject(n) || typeof n.id !== 'string' || typeof n.type !== 'string') {
      throw new SpellParseError('want a node {id, type}', `nodes[${i}]`);
    }
    return {
      id: n.id,
      type: n.type,
      config: isObject(n.config) ? n.config : {},
      inputs: nativePorts(n.inputs),
      outputs: nativePorts(n.outputs),
      position: isObject(n.position) ? { x: Number(n.position.x), y: Number(n.position.y) } : undefined,
    };
  });
  const edges: GraphEdge[] = (Array.isArray(doc.edges) ? doc.edges : []).map((e: any, i: number) => ({
    from: parsePortRef(e?.from, `edges[${i}].from`),
    to: parsePortRef(e?.to, `edges[${i}].to`),
  }));
  return finish({ id: String(doc.id ?? ''), name: doc.name, format: 'native', nodes, edges, meta: isObject(doc.meta) ? doc.meta : undefined });
}

function nativePorts(v: unknown): PortDecl[] {
  if (!Array.isArray(v)) return [];
  return v
    .filter((p) => isObject(p) && typeof p.key === 'string')
    .map((p: any) => ({ key: p.key, name: p.name, kind: p.kind === 'trigger' ? 'trigger' : 'data', type: p.type }));
}

function reteID(v: unknown): string {
  if (v == null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return String(v);
  throw new SpellParseError(`want an id (a number or a string), got ${JSON.stringify(v)}`);
}

function parseRete(doc: Record<string, any>): Graph {
  let g: any = doc;
  let gpath = '';
  let id = '';
  let name: string | undefined;
  const meta: Record<string, unknown> = {};
  if (doc.chain != null) {
    g = doc.chain;
    gpath = 'chain';
    meta.dialect = 'thoth';
  } else if (doc.graph != null) {
    g = doc.graph;
    gpath = 'graph';
    meta.dialect = 'magick';
  }
  if (gpath) {
    id = reteID(doc.id);
    if (typeof doc.name === 'string') name = doc.name;
    if (!id && name) id = name; // Thoth keyed spells by name
  }
  if (typeof g === 'string') {
    try {
      g = JSON.parse(g);
    } catch (e) {
      throw new SpellParseError(`in the "${gpath}" string: ${(e as Error).message}`, gpath);
    }
  }
  if (!isObject(g)) throw new SpellParseError('want a Rete graph object {"id", "nodes"}', gpath || undefined);
  if (typeof g.id === 'string' && g.id) meta.engine = g.id;
  if (!isObject(g.nodes)) throw new SpellParseError('want an object keyed by node id', gpath ? `${gpath}.nodes` : 'nodes');

  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const seen = new Set<string>();
  const add = (e: GraphEdge) => {
    const k = `${e.from.node}\u0000${e.from.port}\u0000${e.to.node}\u0000${e.to.port}`;
    if (!seen.has(k)) {
      seen.add(k);
      edges.push(e);
    }
  };
  for (const key of Object.keys(g.nodes).sort(compareNodeIDs)) {
    const nm = g.nodes[key];
    if (!isObject(nm)) throw new SpellParseError('want a node object', `nodes[${JSON.stringify(key)}]`);
    const nid = reteID(nm.id) || key;
    const data = isObject(nm.data) ? nm.data : {};
    const pos = Array.isArray(nm.position) && nm.position.length >= 2 && typeof nm.position[0] === 'number' && typeof nm.position[1] === 'number'
      ? { x: nm.position[0], y: nm.position[1] }
      : undefined;
    nodes.push({ id: nid, type: typeof nm.name === 'string' ? nm.name : '', config: data, inputs: reteDeclared(data.inputs), outputs: reteDeclared(data.outputs), position: pos });
    for (const [local, other, port] of reteConnections(nm.inputs, 'output')) add({ from: { node: other, port }, to: { node: nid, port: local } });
    for (const [local, other, port] of reteConnections(nm.outputs, 'input')) add({ from: { node: nid, port: local }, to: { node: other, port } });
  }
  return finish({ id, name, format: 'rete', nodes, edges, meta });
}

function reteDeclared(v: unknown): PortDecl[] {
  if (!Array.isArray(v)) return [];
  const out: PortDecl[] = [];
  const seen = new Set<string>();
  for (const m of v) {
    if (!isObject(m)) continue;
    const name = typeof m.name === 'string' ? m.name : '';
    const key = (typeof m.socketKey === 'string' && m.socketKey) || name;
    if (!key || seen.has(key)) continue;
    seen.add(key);
    const socketType = typeof m.socketType === 'string' ? m.socketType : '';
    const trigger = m.taskType === 'option' || socketType.toLowerCase().includes('trigger');
    out.push({ key, name: name !== key ? name : undefined, kind: trigger ? 'trigger' : 'data' });
  }
  return out;
}

function reteConnections(ports: unknown, otherKey: 'output' | 'input'): Array<[string, string, string]> {
  const out: Array<[string, string, string]> = [];
  if (!isObject(ports)) return out;
  for (const local of Object.keys(ports).sort()) {
    const conns = (ports[local] as any)?.connections;
    if (!Array.isArray(conns)) continue;
    for (const c of conns) {
      if (!isObject(c)) continue;
      const node = reteID(c.node);
      const port = c[otherKey];
      if (node && typeof port === 'string' && port) out.push([local, node, port]);
    }
  }
  return out;
}

function finish(g: Graph): Graph {
  g.nodes.sort((a, b) => compareNodeIDs(a.id, b.id));
  g.edges.sort(compareEdges);
  return g;
}

/** The server's node id order: all-digit ids first in numeric order, then the others byte-wise. */
export function compareNodeIDs(a: string, b: string): number {
  const da = /^[0-9]+$/.test(a);
  const db = /^[0-9]+$/.test(b);
  if (da && db) {
    const ta = a.replace(/^0+/, '');
    const tb = b.replace(/^0+/, '');
    if (ta.length !== tb.length) return ta.length < tb.length ? -1 : 1;
    if (ta !== tb) return ta < tb ? -1 : 1;
  } else if (da) return -1;
  else if (db) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareEdges(a: GraphEdge, b: GraphEdge): number {
  return (
    compareNodeIDs(a.from.node, b.from.node) ||
    cmp(a.from.port, b.from.port) ||
    compareNodeIDs(a.to.node, b.to.node) ||
    cmp(a.to.port, b.to.port)
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
