/**
 * The references of a `histfactory_dist`, as pyhs3_lab/ops/histfactory.py `_refs` finds them
 * (so that the kernel-less graph equals Python's): the axes' observables, each modifier's
 * parameters (named as ROOT names them when the file does not: `alpha_<name>`,
 * `gamma_stat_<channel>_bin_<i>`, `<parameter>_bin_<i>`, `gamma_<name>_bin_<i>`), named
 * constraint distributions and the `nom_<parameter>` global observables of implicit constraints.
 */

export interface HFRef {
  field: string;
  target: string;
  /** the target must be a distribution (a constraint pdf) */
  dist: boolean;
}

const MODIFIER_TYPES = new Set(["normfactor", "normsys", "histosys", "shapefactor", "shapesys", "staterror", "custom"]);
const TYPE_STRINGS: Record<string, string> = {
  gauss: "gauss",
  gaussian: "gauss",
  normal: "gauss",
  poisson: "poisson",
  const: "const",
  lognormal: "lognormal",
};

type Raw = Record<string, unknown>;

function isRecord(v: unknown): v is Raw {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | null {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  return null;
}

/** Number of bins per axis, or null if the axes are not well formed (Python then finds no references). */
function axesShape(raw: Raw): { names: string[]; shape: number[] } | null {
  const axes = raw.axes;
  if (!Array.isArray(axes) || axes.length === 0) return null;
  const names: string[] = [];
  const shape: number[] = [];
  for (const ax of axes) {
    if (!isRecord(ax) || typeof ax.name !== "string") return null;
    let n: number | null = null;
    for (const key of ["edges", "bounds"]) {
      const e = ax[key];
      if (Array.isArray(e)) {
        const vals = e.map(num);
        if (vals.length < 2 || vals.some((v) => v === null)) return null;
        const xs = vals as number[];
        for (let i = 1; i < xs.length; i++) if (!((xs[i] ?? 0) > (xs[i - 1] ?? 0))) return null;
        n = xs.length - 1;
      }
    }
    if (n === null) {
      const lo = num(ax.min);
      const hi = num(ax.max);
      const nb = num(ax.nbins);
      if (lo === null || hi === null || nb === null || nb < 1 || !Number.isInteger(nb) || !(hi > lo)) return null;
      n = nb;
    }
    names.push(ax.name);
    shape.push(n);
  }
  return { names, shape };
}

/** ROOT's bin suffixes: `i` in 1-D, `i_j[_k]` (row-major) in more. */
function binLabels(shape: number[]): string[] {
  if (shape.length === 1) return Array.from({ length: shape[0] ?? 0 }, (_, i) => String(i));
  let out: number[][] = [[]];
  for (const n of shape) {
    const next: number[][] = [];
    for (const prefix of out) for (let i = 0; i < n; i++) next.push([...prefix, i]);
    out = next;
  }
  return out.map((idx) => idx.join("_"));
}

function modifierParams(mod: Raw, mtype: string, channel: string, labels: string[]): [string[], string] {
  const name = mod.name;
  if (mtype === "normfactor") {
    const par = "parameter" in mod ? mod.parameter : name;
    return [typeof par === "string" ? [par] : [], "parameter" in mod ? "parameter" : "name"];
  }
  if (mtype === "normsys" || mtype === "histosys") {
    if (typeof mod.parameter === "string") return [[mod.parameter], "parameter"];
    return [typeof name === "string" ? [`alpha_${name}`] : [], "name"];
  }
  if (mtype === "custom") {
    for (const key of ["function", "parameter", "name"]) {
      const v = mod[key];
      if (typeof v === "string") return [[v], key];
    }
    return [[], "name"];
  }
  if (Array.isArray(mod.parameters)) {
    return [mod.parameters.filter((p): p is string => typeof p === "string"), "parameters"];
  }
  if (mtype === "staterror") return [labels.map((l) => `gamma_stat_${channel}_bin_${l}`), "name"];
  if (typeof mod.parameter === "string") {
    const base = mod.parameter;
    return [labels.map((l) => `${base}_bin_${l}`), "parameter"];
  }
  return [typeof name === "string" ? labels.map((l) => `gamma_${name}_bin_${l}`) : [], "name"];
}

function typeString(v: unknown): string | null {
  return typeof v === "string" ? (TYPE_STRINGS[v.toLowerCase()] ?? null) : null;
}

function alphaConstraint(mod: Raw): [string, string | null] {
  if (typeof mod.constraint_name === "string") return ["pdf", mod.constraint_name];
  if (typeof mod.constraint === "string") {
    const kind = typeString(mod.constraint);
    return kind !== null ? [kind, null] : ["pdf", mod.constraint];
  }
  const ctype = typeString(mod.constraint_type);
  if (ctype !== null) return [ctype, null];
  return ["none", null];
}

export function histfactoryRefs(raw: Raw): HFRef[] {
  const axes = axesShape(raw);
  if (axes === null) return [];
  const refs: HFRef[] = axes.names.map((name, i) => ({ field: `axes[${i}].name`, target: name, dist: false }));
  const labels = binLabels(axes.shape);
  const rawName = typeof raw.name === "string" ? raw.name : "";
  const channel = rawName.startsWith("model_") ? rawName.slice(6) : rawName;
  const samples = raw.samples;
  if (!Array.isArray(samples)) return refs;
  samples.forEach((sample, i) => {
    if (!isRecord(sample)) return;
    const mods = sample.modifiers ?? [];
    if (!Array.isArray(mods)) return;
    mods.forEach((mod, j) => {
      if (!isRecord(mod) || typeof mod.type !== "string") return;
      const mtype = mod.type;
      if (!MODIFIER_TYPES.has(mtype)) return;
      const path = `samples[${i}].modifiers[${j}]`;
      const [params, where] = modifierParams(mod, mtype, channel, labels);
      params.forEach((p, k) => {
        refs.push({ field: `${path}.${where}${where === "parameters" ? `[${k}]` : ""}`, target: p, dist: false });
      });
      if (mtype === "normsys" || mtype === "histosys" || mtype === "normfactor") {
        const [kind, pdf] = alphaConstraint(mod);
        if (kind === "pdf" && pdf !== null) {
          const key = "constraint_name" in mod ? "constraint_name" : "constraint";
          refs.push({ field: `${path}.${key}`, target: pdf, dist: true });
        } else if (mtype !== "normfactor" && (kind === "gauss" || kind === "none") && params.length) {
          refs.push({ field: path, target: `nom_${params[0]}`, dist: false });
        }
      } else if (mtype === "shapesys" || mtype === "staterror") {
        const pdfs = mod.constraints;
        params.forEach((p, k) => {
          const pdf = Array.isArray(pdfs) && k < pdfs.length ? pdfs[k] : undefined;
          if (typeof pdf === "string") refs.push({ field: `${path}.constraints[${k}]`, target: pdf, dist: true });
          else if (!Array.isArray(pdfs)) refs.push({ field: path, target: `nom_${p}`, dist: false });
        });
      }
    });
  });
  return refs;
}
