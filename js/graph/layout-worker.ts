/**
 * Web Worker entry: lays out a graph with dagre off the main thread (large graphs).
 * Message in: {id, graph: {nodes: [{id, label}], edges: [{source, target}]}};
 * message out: {id, layout: {nodes: PlacedNode[], edges, width, height}} or {id, error}.
 * Built on its own (npm run build:worker) and started from a Blob by the widget.
 */
import type { VisibleGraph } from "./collapse";
import { layoutGraph, serializeLayout } from "./layout";

interface Request {
  id: number;
  graph: Pick<VisibleGraph, "nodes" | "edges">;
}

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<Request>) => void) | null;
  postMessage(msg: unknown): void;
};

scope.onmessage = (e: MessageEvent<Request>) => {
  const { id, graph } = e.data;
  try {
    const layout = layoutGraph({ nodes: graph.nodes, edges: graph.edges, shownAs: new Map() });
    scope.postMessage({ id, layout: serializeLayout(layout) });
  } catch (err) {
    scope.postMessage({ id, error: String(err) });
  }
};
