// The spell's graph (Cytoscape.js on a canvas): nodes where the editor saved
// them, or laid out by dagre when the spell has no positions; trigger edges
// solid, data edges dashed; each node coloured by its state in the run.
import cytoscape from 'cytoscape';
import dagre from 'cytoscape-dagre';
import { useEffect, useRef } from 'preact/hooks';
import type { NodeStatus } from './runstate.js';
import type { SpellView } from './spellgraph.js';

cytoscape.use(dagre);

/** Past this many nodes the layout and the drawing trade looks for speed. */
const LARGE = 300;

export const STATE_COLOURS: Record<NodeStatus, string> = {
  idle: '#d8dde6',
  running: '#f5b301',
  waiting: '#8e44ad',
  done: '#2e9d5b',
  cached: '#5b8def',
  failed: '#d64541',
  skipped: '#a0a7b4',
};

const style: cytoscape.StylesheetJson = [
  {
    selector: 'node',
    style: {
      shape: 'round-rectangle',
      width: 'label',
      height: 'label',
      padding: '10px',
      label: 'data(label)',
      'font-size': 12,
      'font-family': 'system-ui, sans-serif',
      'text-valign': 'center',
      'text-halign': 'center',
      'text-wrap': 'wrap',
      'text-max-width': '180px',
      color: '#111',
      'background-color': STATE_COLOURS.idle,
      'border-width': 1,
      'border-color': '#7a8394',
    },
  },
  ...(Object.entries(STATE_COLOURS) as Array<[NodeStatus, string]>).map(([s, c]) => ({
    selector: `node[state = "${s}"]`,
    style: { 'background-color': c, color: s === 'idle' || s === 'running' ? '#111' : '#fff' },
  })),
  { selector: 'node:selected', style: { 'border-width': 3, 'border-color': '#111' } },
  {
    selector: 'edge',
    style: { width: 1.5, 'curve-style': 'bezier', 'target-arrow-shape': 'triangle', 'arrow-scale': 0.9 },
  },
  { selector: 'edge[kind = "trigger"]', style: { 'line-color': '#c06a00', 'target-arrow-color': '#c06a00', width: 2.5 } },
  { selector: 'edge[kind = "data"]', style: { 'line-color': '#4a6fa5', 'target-arrow-color': '#4a6fa5', 'line-style': 'dashed' } },
];

export function GraphView({
  spell,
  states,
  streams,
  selected,
  onSelect,
}: {
  spell: SpellView;
  states: Map<string, NodeStatus>;
  /** The text streamed so far by nodes that are running, shown in the node. */
  streams?: Map<string, string>;
  selected?: string;
  onSelect: (nodeId: string) => void;
}) {
  const box = useRef<HTMLDivElement>(null);
  const cyRef = useRef<cytoscape.Core>();
  const onSelectRef = useRef(onSelect);
  onSelectRef.current = onSelect;

  useEffect(() => {
    const ids = new Set(spell.nodes.map((n) => n.id));
    const cy = cytoscape({
      container: box.current,
      style,
      elements: [
        ...spell.nodes.map((n) => ({
          group: 'nodes' as const,
          data: { id: n.id, label: n.label, name: n.label, type: n.type, state: 'idle' },
        })),
        ...spell.edges
          .filter((e) => ids.has(e.source) && ids.has(e.target))
          .map((e) => ({ group: 'edges' as const, data: { id: e.id, source: e.source, target: e.target, kind: e.kind } })),
      ],
      layout: spell.positioned
        ? { name: 'null' }
        : ({
            name: 'dagre',
            rankDir: 'LR',
            nodeSep: 30,
            rankSep: 70,
            // network-simplex ranks best but grows quadratically: past a few
            // hundred nodes the longest path ranks in linear time.
            ranker: spell.nodes.length > LARGE ? 'longest-path' : 'network-simplex',
            fit: true,
            padding: 30,
          } as cytoscape.LayoutOptions),
      // A large graph pans and zooms as a picture, its edges hidden meanwhile.
      textureOnViewport: spell.nodes.length > LARGE,
      hideEdgesOnViewport: spell.nodes.length > LARGE,
      minZoom: 0.02,
      maxZoom: 1.6,
      wheelSensitivity: 0.3,
      selectionType: 'single',
      autoungrabify: true,
    });
    if (spell.positioned) {
      const at = new Map(spell.nodes.map((n) => [n.id, n.position!]));
      cy.nodes().positions((n) => ({ ...at.get(n.id())! }));
      cy.fit(undefined, 30);
      // Placed before the first frame (with the elements, by the preset
      // layout or as here), Cytoscape 3.35 leaves the edges undrawn until a
      // node moves: move them once the frame is drawn, and back.
      requestAnimationFrame(() => {
        if (cy.destroyed()) return;
        cy.nodes().shift({ x: 1, y: 0 });
        cy.nodes().shift({ x: -1, y: 0 });
      });
    }
    cy.on('tap', 'node', (ev) => onSelectRef.current(ev.target.id()));
    cyRef.current = cy;
    // The browser tests read the drawing through the container.
    (box.current as HTMLDivElement & { cy?: cytoscape.Core }).cy = cy;
    const resize = new ResizeObserver(() => cy.resize());
    resize.observe(box.current!);
    return () => {
      resize.disconnect();
      cy.destroy();
    };
  }, [spell]);

  useEffect(() => {
    const cy = cyRef.current;
    if (!cy) return;
    cy.batch(() => {
      cy.nodes().forEach((n) => {
        const s = states.get(n.id()) ?? 'idle';
        if (n.data('state') !== s) n.data('state', s);
        const text = streams?.get(n.id());
        const label = text ? `${n.data('name')}\n“${tail(text, 40)}”` : n.data('name');
        if (n.data('label') !== label) n.data('label', label);
      });
      cy.nodes().unselect();
      if (selected) cy.$id(selected).select();
    });
  }, [states, streams, selected, spell]);

  return <div id="graph" class="graph" ref={box} />;
}

function tail(text: string, n: number): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > n ? `…${t.slice(-n)}` : t;
}
