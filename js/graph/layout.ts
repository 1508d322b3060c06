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

/** A layout as plain JSON (for postMessage). */
export interface SerializedLayout {
  nodes: PlacedNode[];
  edges: PlacedEdge[];
  width: number;
  height: number;
}

export function serializeLayout(l: Layout): SerializedLayout {
  return { nodes: [...l.nodes.values()], edges: l.edges, width: l.width, height: l.height };
}

export function deserializeLayout(s: SerializedLayout): Layout {
  return { nodes: new Map(s.nodes.map((n) => [n.id, n])), edges: s.edges, width: s.width, height: s.height };
}

/** Something that lays out a graph asynchronously (a Web Worker). */
export type LayoutRunner = (g: VisibleGraph) => Promise<Layout>;

/** The minimal Worker interface used (a real Worker, or a fake in tests). */
export interface WorkerLike {
  postMessage(msg: unknown): void;
  onmessage: ((e: MessageEvent) => void) | null;
  onerror: ((e: ErrorEvent) => void) | null;
  terminate(): void;
}

/**
 * Runs layouts in a worker made by `makeWorker` (created on first use). Replies are matched by
 * id; a worker error rejects every pending layout, and the next call starts a new worker.
 */
export function workerLayout(makeWorker: () => WorkerLike): LayoutRunner & { terminate(): void } {
  let worker: WorkerLike | null = null;
  let next = 0;
  const pending = new Map<number, { resolve: (l: Layout) => void; reject: (e: Error) => void }>();
  const start = (): WorkerLike => {
    const w = makeWorker();
    w.onmessage = (e: MessageEvent) => {
      const msg = e.data as { id: number; layout?: SerializedLayout; error?: string };
      const p = pending.get(msg.id);
      if (p === undefined) return;
      pending.delete(msg.id);
      if (msg.layout !== undefined) p.resolve(deserializeLayout(msg.layout));
      else p.reject(new Error(msg.error ?? "layout failed"));
    };
    w.onerror = (e: ErrorEvent) => {
      for (const p of pending.values()) p.reject(new Error(`layout worker: ${e.message}`));
      pending.clear();
      w.terminate();
      worker = null;
    };
    return w;
  };
  const run = (g: VisibleGraph): Promise<Layout> => {
    worker ??= start();
    const id = ++next;
    const w = worker;
    return new Promise<Layout>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      w.postMessage({
        id,
        graph: { nodes: g.nodes.map((n) => ({ id: n.id, label: n.label, kind: n.kind })), edges: g.edges },
      });
    });
  };
  return Object.assign(run, {
    terminate(): void {
      worker?.terminate();
      worker = null;
      for (const p of pending.values()) p.reject(new Error("layout worker stopped"));
      pending.clear();
    },
  });
}
