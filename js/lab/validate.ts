/**
 * Structural checks of an HS3 document, in the browser and without a kernel.
 *
 * The same rules and the same JSON paths as the structural part of
 * pyhs3_lab/spec.py `validate` (metadata, top-level lists, names, types, axes,
 * parameter points, likelihood pairing, one namespace). The per-type field
 * schemas live in the Python registry and are not repeated here.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface IProblem {
  /** JSON path such as `distributions[3].mean`; '' for the whole document */
  path: string;
  message: string;
  /** name of the object the problem is in, if it has one */
  name?: string;
  expected?: string;
  /** a warning: the file is read anyway (e.g. no metadata: read as HS3 0.2, like spec.py's non-strict mode) */
  warning?: boolean;
}

export const TOP_LEVEL_LISTS = [
  "distributions",
  "functions",
  "data",
  "likelihoods",
  "domains",
  "parameter_points",
  "analyses"
] as const;

export type TopLevelList = (typeof TOP_LEVEL_LISTS)[number];

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A JSON number, or a numeric string such as "1.0" (ROOT writes those). */
export function asNumber(value: unknown): number | null {
  if (typeof value === "number") {
    return value;
  }
  if (typeof value === "string") {
    const text = value.trim();
    if (text === "" || !/^[0-9+\-.]/.test(text)) {
      return null;
    }
    const num = Number(text);
    return Number.isNaN(num) && !/^[+-]?nan$/i.test(text) ? null : num;
  }
  return null;
}

/** How a value is described in messages, as in spec.py `_type_name`. */
export function typeName(value: unknown): string {
  if (value === null || value === undefined) {
    return "null";
  }
  if (typeof value === "boolean") {
    return "a boolean";
  }
  if (typeof value === "number") {
    return `the number ${value}`;
  }
  if (typeof value === "string") {
    return `the string '${value}'`;
  }
  if (Array.isArray(value)) {
    return "a list";
  }
  return "an object";
}

export function formatProblem(p: IProblem): string {
  const where = p.path === "" ? "<workspace>" : p.path;
  const obj = p.name ? ` (object '${p.name}')` : "";
  const exp = p.expected ? `; expected ${p.expected}` : "";
  return `${where}${obj}: ${p.message}${exp}`;
}

class Collector {
  readonly problems: IProblem[] = [];

  add(path: string, message: string, extra: { name?: string; expected?: string; warning?: boolean } = {}): void {
    this.problems.push({ path, message, ...extra });
  }
}

function checkAxis(c: Collector, raw: unknown, path: string, binned: boolean | null): void {
  if (!isObject(raw)) {
    c.add(path, `an axis must be an object, got ${typeName(raw)}`, { expected: "{name, min, max}" });
    return;
  }
  const name = raw.name;
  if (typeof name !== "string" || name === "") {
    c.add(`${path}.name`, "missing or empty axis name", { expected: "a string" });
    return;
  }
  const bounds: Record<string, number | null> = {};
  for (const key of ["min", "max"]) {
    if (key in raw) {
      bounds[key] = asNumber(raw[key]);
      if (bounds[key] === null) {
        c.add(`${path}.${key}`, `axis '${name}': ${key} is ${typeName(raw[key])}`, { expected: "a number" });
      }
    }
  }
  const lo = bounds.min;
  const hi = bounds.max;
  if (typeof lo === "number" && typeof hi === "number" && lo > hi) {
    c.add(path, `axis '${name}' has min > max (${lo} > ${hi})`, { expected: "min <= max" });
  }
  if ("nbins" in raw) {
    const n = asNumber(raw.nbins);
    if (n === null || !Number.isInteger(n) || n < 1) {
      c.add(`${path}.nbins`, `axis '${name}': nbins is ${typeName(raw.nbins)}`, {
        expected: "a positive integer"
      });
    } else if (typeof lo !== "number" || typeof hi !== "number") {
      c.add(path, `axis '${name}' has nbins but no finite min/max`, { expected: "min and max with nbins" });
    }
  }
  for (const key of ["edges", "bin_edges"]) {
    if (!(key in raw)) {
      continue;
    }
    const edges = raw[key];
    if (!Array.isArray(edges) || edges.length < 2 || edges.some(e => asNumber(e) === null)) {
      c.add(`${path}.${key}`, `axis '${name}': ${key} must be a list of at least two numbers`, {
        expected: "bin edges"
      });
      continue;
    }
    const nums = edges.map(e => asNumber(e) as number);
    if (nums.some((e, i) => i > 0 && e <= nums[i - 1])) {
      c.add(`${path}.${key}`, `axis '${name}': bin edges are not strictly ascending`, {
        expected: "ascending edges"
      });
    }
  }
  if (binned === true && !("nbins" in raw) && !("edges" in raw) && !("bin_edges" in raw)) {
    c.add(path, `binned axis '${name}' has neither nbins nor edges`, {
      expected: "nbins (with min, max) or edges"
    });
  }
}

function checkComponent(c: Collector, raw: unknown, path: string): string | null {
  if (!isObject(raw)) {
    c.add(path, `expected an object, got ${typeName(raw)}`, { expected: "an object with name and type" });
    return null;
  }
  const name = raw.name;
  const ok = typeof name === "string" && name !== "";
  if (!ok) {
    c.add(`${path}.name`, `missing or invalid name (${typeName(name)})`, { expected: "a string" });
  }
  const type = raw.type;
  if (typeof type !== "string" || type === "") {
    c.add(`${path}.type`, `missing or invalid type (${typeName(type)})`, {
      name: ok ? (name as string) : undefined,
      expected: 'an HS3 type such as "gaussian_dist"'
    });
  }
  return ok ? (name as string) : null;
}

function checkData(c: Collector, raw: unknown, path: string): string | null {
  if (!isObject(raw)) {
    c.add(path, `expected an object, got ${typeName(raw)}`, { expected: "a data object" });
    return null;
  }
  const name = raw.name;
  if (typeof name !== "string" || name === "") {
    c.add(`${path}.name`, "missing or invalid data name", { expected: "a string" });
    return null;
  }
  const type = raw.type;
  if (type !== "point" && type !== "unbinned" && type !== "binned") {
    c.add(`${path}.type`, `data '${name}' has type ${typeName(type)}`, {
      name,
      expected: "'point', 'unbinned' or 'binned'"
    });
    return name;
  }
  const axes = raw.axes ?? [];
  if (!Array.isArray(axes)) {
    c.add(`${path}.axes`, `data '${name}': axes is ${typeName(axes)}`, { name, expected: "a list of axes" });
  } else {
    axes.forEach((ax, j) => checkAxis(c, ax, `${path}.axes[${j}]`, type === "binned"));
  }
  if (type === "point") {
    if (asNumber(raw.value) === null) {
      c.add(`${path}.value`, `point data '${name}' has no numeric value`, { name, expected: "a number" });
    }
  } else if (type === "unbinned") {
    const entries = raw.entries;
    if (!Array.isArray(entries)) {
      c.add(`${path}.entries`, `unbinned data '${name}' has no entries list`, {
        name,
        expected: "a list of lists of numbers"
      });
    } else {
      if (!Array.isArray(axes) || axes.length === 0) {
        c.add(`${path}.axes`, `unbinned data '${name}' has no axes`, { name, expected: "one axis per column" });
      }
      const bad = entries.findIndex(row => !Array.isArray(row));
      if (bad >= 0) {
        c.add(`${path}.entries[${bad}]`, `unbinned data '${name}': entry is ${typeName(entries[bad])}`, {
          name,
          expected: "a list of numbers"
        });
      }
      const weights = raw.weights;
      if (weights !== undefined && (!Array.isArray(weights) || weights.length !== entries.length)) {
        c.add(`${path}.weights`, `unbinned data '${name}': weights do not match entries`, {
          name,
          expected: "one weight per entry"
        });
      }
    }
  } else {
    const contents = raw.contents;
    if (!Array.isArray(contents)) {
      c.add(`${path}.contents`, `binned data '${name}': contents is ${typeName(contents)}`, {
        name,
        expected: "a list of numbers"
      });
    } else if (Array.isArray(axes) && axes.length > 0) {
      let n = 1;
      for (const ax of axes) {
        if (!isObject(ax)) {
          n = -1;
          break;
        }
        const nb = asNumber(ax.nbins);
        const edges = Array.isArray(ax.edges) ? ax.edges : Array.isArray(ax.bin_edges) ? ax.bin_edges : null;
        const bins = nb !== null ? nb : edges !== null ? edges.length - 1 : -1;
        if (bins < 0) {
          n = -1;
          break;
        }
        n *= bins;
      }
      if (n >= 0 && n !== contents.length) {
        c.add(`${path}.contents`, `binned data '${name}' has ${contents.length} contents for ${n} bins`, {
          name,
          expected: "one content per bin"
        });
      }
    }
  }
  return name;
}

function checkStringList(
  c: Collector,
  raw: JsonObject,
  key: string,
  path: string,
  name: string,
  required: boolean,
  numbersOk = false
): string[] {
  const val = raw[key];
  if (val === undefined) {
    if (required) {
      c.add(`${path}.${key}`, `'${name}' has no ${key}`, { name, expected: "a list of names" });
    }
    return [];
  }
  if (!Array.isArray(val)) {
    c.add(`${path}.${key}`, `'${name}': ${key} is ${typeName(val)}`, { name, expected: "a list of names" });
    return [];
  }
  const out: string[] = [];
  val.forEach((v, i) => {
    if (typeof v === "string" && v !== "") {
      out.push(v);
    } else if (numbersOk && typeof v === "number") {
      out.push(String(v));
    } else {
      c.add(`${path}.${key}[${i}]`, `'${name}': entry is ${typeName(v)}`, { name, expected: "a name" });
    }
  });
  return out;
}

/** Every structural problem of `doc` (errors and warnings), in document order (none: the structure is valid). */
export function validate(doc: unknown): IProblem[] {
  const c = new Collector();
  if (!isObject(doc)) {
    c.add("", `a workspace is a JSON object, got ${typeName(doc)}`);
    return c.problems;
  }
  // HS3 requires metadata.hs3_version; like spec.py (strict=False) its absence is a warning, so that real
  // files without it (HS3.jl's histfactory_hl.json) still open
  const meta = doc.metadata;
  if (meta === undefined) {
    c.add("metadata", "the workspace has no metadata (read as HS3 0.2)", {
      expected: '{"hs3_version": "0.2", ...} (required by HS3)',
      warning: true
    });
  } else if (!isObject(meta)) {
    c.add("metadata", `metadata is ${typeName(meta)}`, { expected: "an object" });
  } else if (meta.hs3_version === undefined || meta.hs3_version === null) {
    c.add("metadata.hs3_version", "metadata has no hs3_version (read as HS3 0.2)", {
      expected: 'a version string such as "0.2" (required by HS3)',
      warning: true
    });
  } else if (typeof meta.hs3_version !== "string" || meta.hs3_version === "") {
    c.add("metadata.hs3_version", `hs3_version is ${typeName(meta.hs3_version)}`, {
      expected: 'a version string such as "0.2"'
    });
  } else if (!meta.hs3_version.startsWith("0.")) {
    c.add("metadata.hs3_version", `HS3 version '${meta.hs3_version}' is newer than pyhs3_lab knows (0.1.90-0.2.x)`, {
      warning: true
    });
  }

  const lists: Record<string, Json[]> = {};
  for (const key of TOP_LEVEL_LISTS) {
    const val = doc[key] ?? [];
    if (!Array.isArray(val)) {
      c.add(key, `${key} is ${typeName(val)}`, { expected: "a list" });
      lists[key] = [];
    } else {
      lists[key] = val;
    }
  }

  const named: [string, string][] = [];
  lists.distributions.forEach((r, i) => {
    const path = `distributions[${i}]`;
    const name = checkComponent(c, r, path);
    if (name !== null) {
      named.push([name, path]);
    }
  });
  lists.functions.forEach((r, i) => {
    const path = `functions[${i}]`;
    const name = checkComponent(c, r, path);
    if (name !== null) {
      named.push([name, path]);
    }
  });
  lists.data.forEach((r, i) => {
    const path = `data[${i}]`;
    const name = checkData(c, r, path);
    if (name !== null) {
      named.push([name, path]);
    }
  });

  const local: Record<string, [string, string][]> = { domain: [], "parameter point": [], analysis: [] };
  lists.domains.forEach((r, i) => {
    const path = `domains[${i}]`;
    if (!isObject(r) || typeof r.name !== "string") {
      c.add(path, "a domain must be an object with a name", { expected: "{name, type, axes}" });
      return;
    }
    const name = r.name;
    local.domain.push([name, path]);
    const type = r.type ?? "product_domain";
    if (type !== "product_domain") {
      c.add(`${path}.type`, `domain '${name}' has type ${typeName(type)}`, { name, expected: "'product_domain'" });
    }
    const axes = r.axes ?? [];
    if (!Array.isArray(axes)) {
      c.add(`${path}.axes`, `domain '${name}': axes is ${typeName(axes)}`, { name, expected: "a list of axes" });
    } else {
      axes.forEach((ax, j) => checkAxis(c, ax, `${path}.axes[${j}]`, null));
    }
  });

  lists.parameter_points.forEach((r, i) => {
    const path = `parameter_points[${i}]`;
    if (!isObject(r) || typeof r.name !== "string") {
      c.add(path, "a parameter point must be an object with a name", { expected: "{name, parameters}" });
      return;
    }
    const name = r.name;
    local["parameter point"].push([name, path]);
    const pars = r.parameters ?? [];
    if (!Array.isArray(pars)) {
      c.add(`${path}.parameters`, `parameter point '${name}': parameters is ${typeName(pars)}`, {
        name,
        expected: "a list of {name, value}"
      });
      return;
    }
    pars.forEach((p, j) => {
      const ppath = `${path}.parameters[${j}]`;
      if (!isObject(p) || typeof p.name !== "string") {
        c.add(ppath, "a parameter must be an object with a name", { name, expected: "{name, value}" });
        return;
      }
      if (asNumber(p.value) === null) {
        c.add(`${ppath}.value`, `parameter '${p.name}' has value ${typeName(p.value)}`, {
          name,
          expected: "a number"
        });
      }
      if (p.const !== undefined && typeof p.const !== "boolean") {
        c.add(`${ppath}.const`, `parameter '${p.name}': const is ${typeName(p.const)}`, {
          name,
          expected: "a boolean"
        });
      }
    });
  });

  lists.likelihoods.forEach((r, i) => {
    const path = `likelihoods[${i}]`;
    if (!isObject(r) || typeof r.name !== "string") {
      c.add(path, "a likelihood must be an object with a name", { expected: "{name, distributions, data}" });
      return;
    }
    const name = r.name;
    named.push([name, path]);
    const dists = checkStringList(c, r, "distributions", path, name, true);
    const data = checkStringList(c, r, "data", path, name, true, true);
    checkStringList(c, r, "aux_distributions", path, name, false);
    if (dists.length !== data.length) {
      c.add(path, `likelihood '${name}' pairs ${dists.length} distributions with ${data.length} data entries`, {
        name,
        expected: "one data entry per distribution"
      });
    }
  });

  lists.analyses.forEach((r, i) => {
    const path = `analyses[${i}]`;
    if (!isObject(r) || typeof r.name !== "string") {
      c.add(path, "an analysis must be an object with a name", { expected: "{name, likelihood, ...}" });
      return;
    }
    const name = r.name;
    local.analysis.push([name, path]);
    if (typeof r.likelihood !== "string") {
      c.add(`${path}.likelihood`, `analysis '${name}' has no likelihood name`, {
        name,
        expected: "the name of a likelihood"
      });
    }
    checkStringList(c, r, "parameters_of_interest", path, name, false);
  });

  if (doc.misc !== undefined && !isObject(doc.misc)) {
    c.add("misc", `misc is ${typeName(doc.misc)}`, { expected: "an object" });
  }

  for (const [kind, items] of Object.entries(local)) {
    const seenLocal = new Map<string, string>();
    for (const [name, path] of items) {
      const other = seenLocal.get(name);
      if (other !== undefined) {
        c.add(path, `duplicate ${kind} name '${name}' (also at ${other})`, { name, expected: "unique names" });
      } else {
        seenLocal.set(name, path);
      }
    }
  }
  const seen = new Map<string, string>();
  for (const [name, path] of named) {
    const other = seen.get(name);
    if (other !== undefined) {
      c.add(path, `duplicate name '${name}' (also at ${other})`, {
        name,
        expected: "names unique across distributions, functions, data and likelihoods"
      });
    } else {
      seen.set(name, path);
    }
  }
  return c.problems;
}

/** Line and column (1-based) of a character offset in `text`. */
export function lineColumn(text: string, offset: number): [number, number] {
  let line = 1;
  let last = -1;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return [line, offset - last];
}

export interface IParsed {
  doc: Json | undefined;
  /** the JSON syntax error, with line and column, if the text does not parse */
  syntaxError?: string;
}

/** Parse a document given as text (a file) or as a value (a kernel's display data). */
export function parse(source: unknown): IParsed {
  if (typeof source !== "string") {
    return { doc: source as Json };
  }
  try {
    return { doc: JSON.parse(source) as Json };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const match = /position (\d+)/.exec(message);
    if (match) {
      const [line, col] = lineColumn(source, Number(match[1]));
      const where = /line \d+/.test(message) ? "" : ` (line ${line}, column ${col})`;
      return { doc: undefined, syntaxError: `${message}${where}` };
    }
    return { doc: undefined, syntaxError: message };
  }
}
