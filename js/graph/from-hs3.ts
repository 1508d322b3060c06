/**
 * Builds GraphData from a raw HS3 document in the browser (no kernel), with the same
 * node/edge shape and order as Python's `Graph.to_dict()`: distributions, functions,
 * free parameters (first reference order), data, likelihoods, analyses.
 *
 * Python knows each type's field schema; here we do not, so references are found by rule:
 * every string value of a component that is not a number is a reference, except in keys
 * that never hold names (below); expression fields contribute their identifiers;
 * constraint keys count only when they name a distribution (ROOT master) and not when they
 * hold a legacy constraint type ("Gauss", "Poisson", ...).
 */

import { histfactoryRefs } from "./histfactory";
import type { GraphData, GraphEdge, GraphNode, NodeKind } from "./types";

const NOT_REFS = new Set([
  "name",
  "type",
  "interpolation",
  "default_interpolation",
  "constraint_type",
  "axes",
  "integer",
  "extended",
  "relThreshold",
  "normalization_type",
  "dict",
  "tags",
  // range keys some writers add (uniform_dist min/max): not references in pyhs3_lab's schema
  "min",
  "max",
]);
/** types whose "expression" is an expression (elsewhere, e.g. CMS types, it is a name) */
const EXPRESSION_TYPES = new Set(["generic_function", "generic_dist"]);
const CONSTRAINT_KEYS = new Set(["constraint", "constraint_name", "constraints"]);
const MODIFIER_TYPES = new Set(["normfactor", "normsys", "histosys", "shapesys", "shapefactor", "staterror", "lumi"]);
const EXPRESSION_KEYS = new Set(["expression", "formula"]);
const EXPR_CONSTANTS = new Set(["PI", "EULER", "TRUE", "FALSE", "pi", "e"]);

export class HS3FormatError extends Error {}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function numeric(s: string): boolean {
  const t = s.trim();
  return t !== "" && /^[+\-.\d]/.test(t) && Number.isFinite(Number(t));
}

/** Identifiers of an HS3 expression that are variables (not function calls, not constants). */
export function expressionSymbols(text: string): string[] {
  const out = new Set<string>();
  const re = /[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const prev = m.index > 0 ? text[m.index - 1] : "";
    if (prev !== undefined && /[0-9.]/.test(prev)) continue; // exponent of a number like 1e5
    const rest = text.slice(m.index + m[0].length);
    if (/^\s*\(/.test(rest)) continue; // a function call
    if (EXPR_CONSTANTS.has(m[0])) continue;
    out.add(m[0]);
  }
  return [...out].sort();
}

interface Ref {
  field: string;
  target: string;
  constraintOnly: boolean;
}

function collectRefs(value: unknown, field: string, key: string, out: Ref[], inConstraint: boolean,
  expressions = false): void {
  if (typeof value === "string") {
    if (expressions && EXPRESSION_KEYS.has(key)) {
      for (const s of expressionSymbols(value)) out.push({ field, target: s, constraintOnly: false });
    } else if (value !== "" && !numeric(value)) {
      out.push({ field, target: value, constraintOnly: inConstraint });
    }
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => collectRefs(v, `${field}[${i}]`, key, out, inConstraint, expressions));
  } else if (isRecord(value)) {
    const hasParam = "parameter" in value || "parameters" in value;
    for (const [k, v] of Object.entries(value)) {
      // a HistFactory modifier without "parameter" is named after its parameter
      if (k === "name" && !hasParam && typeof value.type === "string" && MODIFIER_TYPES.has(value.type)) {
        collectRefs(v, `${field}.${k}`, k, out, inConstraint, expressions);
        continue;
      }
      if (NOT_REFS.has(k) || k === "data" || k === "contents" || k === "errors") continue;
      collectRefs(v, `${field}.${k}`, k, out, inConstraint || CONSTRAINT_KEYS.has(k), expressions);
    }
  }
}

function list(doc: Record<string, unknown>, key: string): Record<string, unknown>[] {
  const v = doc[key];
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new HS3FormatError(`"${key}" must be a list`);
  return v.filter(isRecord);
}

/** GraphData of a raw HS3 document (parsed JSON). Throws HS3FormatError if it is not an HS3 object. */
export function buildGraphData(doc: unknown): GraphData {
  if (!isRecord(doc)) throw new HS3FormatError("an HS3 workspace must be a JSON object");
  const nodes = new Map<string, GraphNode>();
  const edges: GraphEdge[] = [];
  const add = (id: string, kind: NodeKind, type: string, path: string): void => {
    if (!nodes.has(id)) nodes.set(id, { id, kind, type, path });
  };
  const comps: [Record<string, unknown>, string][] = [];
  list(doc, "distributions").forEach((d, i) => {
    if (typeof d.name === "string") {
      add(d.name, "distribution", String(d.type ?? "?"), `distributions[${i}]`);
      comps.push([d, `distributions[${i}]`]);
    }
  });
  list(doc, "functions").forEach((f, i) => {
    if (typeof f.name === "string") {
      add(f.name, "function", String(f.type ?? "?"), `functions[${i}]`);
      comps.push([f, `functions[${i}]`]);
    }
  });
  const params = new Map<string, string>();
  for (const [comp, path] of comps) {
    const refs: Ref[] = [];
    if (comp.type === "histfactory_dist") {
      for (const r of histfactoryRefs(comp)) refs.push({ field: r.field, target: r.target, constraintOnly: r.dist });
    } else {
      const expressions = EXPRESSION_TYPES.has(String(comp.type));
      for (const [k, v] of Object.entries(comp)) {
        if (NOT_REFS.has(k)) continue;
        if (k === "data" || k === "contents" || k === "errors") continue;
        collectRefs(v, k, k, refs, CONSTRAINT_KEYS.has(k), expressions);
      }
    }
    for (const r of refs) {
      if (r.target === comp.name) continue; // an object named like its own field value refers to nothing
      const target = nodes.get(r.target);
      if (r.constraintOnly && (target === undefined || target.kind !== "distribution")) continue;
      if (target === undefined && !params.has(r.target)) params.set(r.target, `${path}.${r.field}`);
      edges.push({ source: String(comp.name), target: r.target, field: r.field });
    }
  }
  for (const [name, where] of params) add(name, "parameter", "parameter", where);
  list(doc, "data").forEach((d, i) => {
    if (typeof d.name === "string") add(d.name, "data", String(d.type ?? "?"), `data[${i}]`);
  });
  list(doc, "likelihoods").forEach((l, i) => {
    if (typeof l.name !== "string") return;
    add(l.name, "likelihood", "likelihood", `likelihoods[${i}]`);
    for (const key of ["distributions", "data", "aux_distributions"]) {
      const vals = l[key];
      if (!Array.isArray(vals)) continue;
      vals.forEach((v, j) => {
        if (typeof v === "string" && nodes.has(v)) edges.push({ source: String(l.name), target: v, field: `${key}[${j}]` });
      });
    }
  });
  list(doc, "analyses").forEach((a, i) => {
    if (typeof a.name !== "string") return;
    add(a.name, "analysis", "analysis", `analyses[${i}]`);
    if (typeof a.likelihood === "string" && nodes.get(a.likelihood)?.kind === "likelihood") {
      edges.push({ source: a.name, target: a.likelihood, field: "likelihood" });
    }
  });
  return { nodes: [...nodes.values()], edges };
}

/** The JSON object at a path such as `distributions[2]` or `distributions[2].samples[0].name`. */
export function resolvePath(doc: unknown, path: string): unknown {
  let cur: unknown = doc;
  const re = /([^.[\]]+)|\[(\d+)\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(path)) !== null) {
    if (m[1] !== undefined) {
      if (!isRecord(cur)) return undefined;
      cur = cur[m[1]];
    } else if (m[2] !== undefined) {
      if (!Array.isArray(cur)) return undefined;
      cur = cur[Number(m[2])];
    }
  }
  return cur;
}

/** What the workspace says about a free parameter: its ranges (domains) and values (parameter points). */
export function describeParameter(doc: unknown, name: string): Record<string, unknown> {
  const out: Record<string, unknown> = { name };
  if (!isRecord(doc)) return out;
  const ranges: Record<string, unknown> = {};
  for (const d of list(doc, "domains")) {
    const axes = Array.isArray(d.axes) ? d.axes.filter(isRecord) : [];
    const ax = axes.find((a) => a.name === name);
    if (ax !== undefined) ranges[String(d.name)] = { min: ax.min ?? null, max: ax.max ?? null };
  }
  const values: Record<string, unknown> = {};
  for (const p of list(doc, "parameter_points")) {
    const ps = Array.isArray(p.parameters) ? p.parameters.filter(isRecord) : [];
    const e = ps.find((x) => x.name === name);
    if (e !== undefined) values[String(p.name)] = e.const === true ? { value: e.value, const: true } : e.value;
  }
  if (Object.keys(ranges).length) out.domains = ranges;
  if (Object.keys(values).length) out.parameter_points = values;
  return out;
}
