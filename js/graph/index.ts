/**
 * The HS3 graph view, shared by the Explorer widget and the kernel-less JupyterLab viewer.
 *
 *   const graph = buildGraphData(JSON.parse(text));   // same shape as Python's Graph.to_dict()
 *   const view = renderGraph(el, graph, { source: doc, onSelect: (n) => ... });
 *   ...; view.destroy();
 */

export type { GraphData, GraphEdge, GraphNode, NodeKind, ParamRole } from "./types";
export { HS3FormatError, buildGraphData, describeParameter, expressionSymbols, resolvePath } from "./from-hs3";
export { collapseGraph, type VisibleGraph, type VisibleNode } from "./collapse";
export { layoutGraph, type Layout } from "./layout";
export { renderGraph, type GraphView, type GraphViewOptions } from "./view";
export { GRAPH_CSS } from "./style";
