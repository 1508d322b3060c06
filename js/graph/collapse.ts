/**
 * Progressive disclosure for large graphs: parameters (and, when still too many, functions
 * of one type) are folded into aggregate nodes such as "37 nuisance parameters"; clicking an
 * aggregate expands it. Edges to folded members are redirected to the aggregate (deduplicated).
 */

import type { GraphData, GraphNode, ParamRole } from "./types";

export interface VisibleNode {
  id: string;
  label: string;
  kind: GraphNode["kind"] | "group";
  /** the node itself (undefined for an aggregate) */
  node?: GraphNode;
  /** for an aggregate: its members */
  members?: string[];
  /** for an aggregate: the kind of its members */
  memberKind?: GraphNode["kind"];
}

export interface VisibleGraph {
  nodes: VisibleNode[];
  edges: { source: string; target: string }[];
  /** node id -> id of the visible node that shows it */
  shownAs: Map<string, string>;
}

export interface CollapseOptions {
  /** fold only when the graph has more nodes than this */
  collapseAbove: number;
  /** a group with fewer members is never folded */
  minGroup: number;
  /** parameter roles (from the kernel); without them parameters form one group */
  roles?: Record<string, ParamRole> | undefined;
  /** groups the user has expanded */
  expanded: Set<string>;
  /** in a large graph, groups with more members than this are folded (default 12) */
  maxRow?: number;
}

const ROLE_LABEL: Record<ParamRole, string> = {
  poi: "parameters of interest",
  nuisance: "nuisance parameters",
  global_observable: "global observables",
  observable: "observables",
  constant: "constants",
};

export function groupKey(node: GraphNode, roles: Record<string, ParamRole> | undefined): string | null {
  if (node.kind === "parameter") {
    const role = roles?.[node.id];
    return `param:${role ?? "parameter"}`;
  }
  if (node.kind === "function") return `func:${node.type}`;
  if (node.kind === "data") return `data:${node.type}`;
  if (node.kind === "distribution") return `dist:${node.type}`;
  if (node.kind === "likelihood") return "lik:likelihood";
  return null;
}

/** Folding order: parameters always (when the graph is large), the others only while still too large. */
const FOLD_ORDER = ["param:", "func:", "data:", "dist:", "lik:"];

export function groupLabel(key: string, n: number): string {
  const [what, sub] = key.split(":", 2) as [string, string];
  if (what === "param") {
    const lbl = sub in ROLE_LABEL ? ROLE_LABEL[sub as ParamRole] : "parameters";
    return `${n} ${lbl}`;
  }
  if (what === "func") return `${n} functions (${sub})`;
  if (what === "data") return `${n} data (${sub})`;
  if (what === "dist") return `${n} distributions (${sub})`;
  return `${n} likelihoods`;
}

export function collapseGraph(graph: GraphData, opts: CollapseOptions): VisibleGraph {
  const groups = new Map<string, GraphNode[]>();
  for (const n of graph.nodes) {
    const k = groupKey(n, opts.roles);
    if (k === null) continue;
    const g = groups.get(k);
    if (g) g.push(n);
    else groups.set(k, [n]);
  }
  const folded = new Set<string>();
  if (graph.nodes.length > opts.collapseAbove) {
    // parameters first; functions only while the graph is still too large
    let count = graph.nodes.length;
    const rank = (k: string): number => FOLD_ORDER.findIndex((p) => k.startsWith(p));
    const order = [...groups.keys()].sort(
      (a, b) => rank(a) - rank(b) || (groups.get(b)?.length ?? 0) - (groups.get(a)?.length ?? 0),
    );
    for (const k of order) {
      const members = groups.get(k) ?? [];
      if (members.length < opts.minGroup || opts.expanded.has(k)) continue;
      // in a large graph, a long row of similar nodes is folded even when the count is down
      const longRow = members.length > (opts.maxRow ?? 12);
      if (!k.startsWith("param:") && count <= opts.collapseAbove && !longRow) continue;
      folded.add(k);
      count -= members.length - 1;
    }
  }
  const shownAs = new Map<string, string>();
  const nodes: VisibleNode[] = [];
  const emitted = new Set<string>();
  for (const n of graph.nodes) {
    const k = groupKey(n, opts.roles);
    if (k !== null && folded.has(k)) {
      const gid = `group:${k}`;
      shownAs.set(n.id, gid);
      if (!emitted.has(gid)) {
        emitted.add(gid);
        const members = groups.get(k) ?? [];
        nodes.push({
          id: gid,
          label: groupLabel(k, members.length),
          kind: "group",
          members: members.map((m) => m.id),
          memberKind: n.kind,
        });
      }
    } else {
      shownAs.set(n.id, n.id);
      nodes.push({ id: n.id, label: n.id, kind: n.kind, node: n });
    }
  }
  const seen = new Set<string>();
  const edges: { source: string; target: string }[] = [];
  for (const e of graph.edges) {
    const s = shownAs.get(e.source);
    const t = shownAs.get(e.target);
    if (s === undefined || t === undefined || s === t) continue;
    const key = `${s}\u0000${t}`;
    if (seen.has(key)) continue;
    seen.add(key);
    edges.push({ source: s, target: t });
  }
  return { nodes, edges, shownAs };
}
