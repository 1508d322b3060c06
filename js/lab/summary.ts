/**
 * What a newcomer wants to see first in a workspace, computed from the raw JSON:
 * metadata, how many objects of each type, the parameters with their ranges
 * (domains) and values (parameter points), the likelihoods and the analyses.
 */

import { asNumber, isObject, type Json, type JsonObject, TOP_LEVEL_LISTS } from "./validate";

export interface ITypeCount {
  key: string;
  total: number;
  /** count per HS3 `type` inside this list, most frequent first */
  types: [string, number][];
}

export interface IParameterRow {
  name: string;
  /** domain name -> [min, max] (null where the axis has no bound) */
  ranges: [string, number | null, number | null][];
  /** parameter point name -> value, const */
  values: [string, number | null, boolean][];
  /** the name is an axis of some data (an observable) */
  observable: boolean;
  /** the name is a parameter of interest of some analysis */
  poi: boolean;
}

export interface ILikelihoodRow {
  name: string;
  path: string;
  pairs: [string, string][];
  aux: string[];
}

export interface IAnalysisRow {
  name: string;
  path: string;
  likelihood: string;
  pois: string[];
  domains: string[];
  init: string;
}

export interface ISummary {
  version: string;
  description: string;
  authors: string[];
  packages: string[];
  counts: ITypeCount[];
  parameters: IParameterRow[];
  likelihoods: ILikelihoodRow[];
  analyses: IAnalysisRow[];
}

function objects(doc: JsonObject, key: string): [JsonObject, number][] {
  const val = doc[key];
  if (!Array.isArray(val)) {
    return [];
  }
  const out: [JsonObject, number][] = [];
  val.forEach((v, i) => {
    if (isObject(v)) {
      out.push([v, i]);
    }
  });
  return out;
}

function strings(value: Json | undefined): string[] {
  if (typeof value === "string") {
    return [value];
  }
  if (!Array.isArray(value)) {
    return [];
  }
  return value.map(v => (typeof v === "string" ? v : typeof v === "number" ? String(v) : "?"));
}

export function summarize(doc: JsonObject): ISummary {
  const meta = isObject(doc.metadata) ? doc.metadata : {};
  const packages = Array.isArray(meta.packages)
    ? meta.packages.map(p =>
        isObject(p) ? `${String(p.name ?? "?")}${p.version !== undefined ? ` ${String(p.version)}` : ""}` : String(p)
      )
    : [];

  const counts: ITypeCount[] = [];
  for (const key of TOP_LEVEL_LISTS) {
    const val = doc[key];
    if (!Array.isArray(val)) {
      continue;
    }
    const byType = new Map<string, number>();
    for (const item of val) {
      if (isObject(item) && typeof item.type === "string") {
        byType.set(item.type, (byType.get(item.type) ?? 0) + 1);
      }
    }
    const types = [...byType.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    counts.push({ key, total: val.length, types });
  }

  const observables = new Set<string>();
  for (const [d] of objects(doc, "data")) {
    if (Array.isArray(d.axes)) {
      for (const ax of d.axes) {
        if (isObject(ax) && typeof ax.name === "string") {
          observables.add(ax.name);
        }
      }
    }
  }
  const pois = new Set<string>();
  const analyses: IAnalysisRow[] = [];
  for (const [a, i] of objects(doc, "analyses")) {
    const row: IAnalysisRow = {
      name: String(a.name ?? "?"),
      path: `analyses[${i}]`,
      likelihood: typeof a.likelihood === "string" ? a.likelihood : "?",
      pois: strings(a.parameters_of_interest),
      domains: strings(a.domains ?? a.domain),
      init: typeof a.init === "string" ? a.init : ""
    };
    row.pois.forEach(p => pois.add(p));
    analyses.push(row);
  }

  // every name that has a range or a value, in the order of first appearance
  const rows = new Map<string, IParameterRow>();
  const row = (name: string): IParameterRow => {
    let r = rows.get(name);
    if (r === undefined) {
      r = { name, ranges: [], values: [], observable: observables.has(name), poi: pois.has(name) };
      rows.set(name, r);
    }
    return r;
  };
  for (const [d] of objects(doc, "domains")) {
    if (!Array.isArray(d.axes)) {
      continue;
    }
    for (const ax of d.axes) {
      if (isObject(ax) && typeof ax.name === "string") {
        row(ax.name).ranges.push([String(d.name ?? "?"), asNumber(ax.min), asNumber(ax.max)]);
      }
    }
  }
  for (const [p] of objects(doc, "parameter_points")) {
    if (!Array.isArray(p.parameters)) {
      continue;
    }
    for (const par of p.parameters) {
      if (isObject(par) && typeof par.name === "string") {
        row(par.name).values.push([String(p.name ?? "?"), asNumber(par.value), par.const === true]);
      }
    }
  }

  const likelihoods: ILikelihoodRow[] = objects(doc, "likelihoods").map(([l, i]) => {
    const dists = strings(l.distributions);
    const data = strings(l.data);
    return {
      name: String(l.name ?? "?"),
      path: `likelihoods[${i}]`,
      pairs: dists.map((d, j): [string, string] => [d, data[j] ?? "?"]),
      aux: strings(l.aux_distributions)
    };
  });

  return {
    version: typeof meta.hs3_version === "string" ? meta.hs3_version : "?",
    description: typeof meta.description === "string" ? meta.description : "",
    authors: strings(meta.authors),
    packages,
    counts,
    parameters: [...rows.values()],
    likelihoods,
    analyses
  };
}
