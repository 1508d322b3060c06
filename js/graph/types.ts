/**
 * The graph of an HS3 workspace, in exactly the shape of Python's `Graph.to_dict()`
 * (pyhs3_lab/graph.py): nodes `{id, kind, type, path}` and edges `{source, target, field}`,
 * an edge pointing from the object that refers to the object referred to.
 */

export type NodeKind = "distribution" | "function" | "parameter" | "data" | "likelihood" | "analysis";

export interface GraphNode {
  id: string;
  kind: NodeKind;
  type: string;
  /** JSON path of the object in the workspace (for a parameter: where it is first referenced) */
  path: string;
}

export interface GraphEdge {
  source: string;
  target: string;
  field: string;
}

export interface GraphData {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** Role of a parameter, as the widget knows it from the kernel (kernel-less viewers may not know it). */
export type ParamRole = "poi" | "nuisance" | "global_observable" | "observable" | "constant";
