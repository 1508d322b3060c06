/** Top-down layered layout of the visible graph with dagre. */

import dagre from "@dagrejs/dagre";
import type { VisibleGraph } from "./collapse";

export interface PlacedNode {
  id: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface PlacedEdge {
  source: string;
  target: string;
  points: { x: number; y: number }[];
}

export interface Layout {
  nodes: Map<string, PlacedNode>;
  edges: PlacedEdge[];
  width: number;
  height: number;
}

export const NODE_HEIGHT = 26;
const CHAR_WIDTH = 7;
const MAX_LABEL = 36;

export function displayLabel(label: string): string {
  return label.length > MAX_LABEL ? `${label.slice(0, MAX_LABEL - 1)}…` : label;
}

export function nodeWidth(label: string): number {
  return Math.max(40, displayLabel(label).length * CHAR_WIDTH + 18);
}

export function layoutGraph(g: VisibleGraph): Layout {
  const dg = new dagre.graphlib.Graph({ multigraph: false, compound: false });
  dg.setGraph({ rankdir: "TB", nodesep: 14, ranksep: 46, marginx: 10, marginy: 10 });
  dg.setDefaultEdgeLabel(() => ({}));
  for (const n of g.nodes) dg.setNode(n.id, { width: nodeWidth(n.label), height: NODE_HEIGHT });
  for (const e of g.edges) dg.setEdge(e.source, e.target);
  dagre.layout(dg);
  const nodes = new Map<string, PlacedNode>();
  for (const id of dg.nodes()) {
    const n = dg.node(id);
    nodes.set(id, { id, x: n.x ?? 0, y: n.y ?? 0, width: n.width ?? 0, height: n.height ?? 0 });
  }
  const edges: PlacedEdge[] = g.edges.map((e) => {
    const lbl = dg.edge(e.source, e.target);
    const points = (lbl?.points ?? []).map((p: { x: number; y: number }) => ({ x: p.x, y: p.y }));
    return { source: e.source, target: e.target, points };
  });
  const gl = dg.graph();
  return { nodes, edges, width: gl.width ?? 0, height: gl.height ?? 0 };
}
