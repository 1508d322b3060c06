import { describe, expect, it } from "vitest";
import { buildGraphData, collapseGraph, expressionSymbols, renderGraph, resolvePath } from "../index";
import { layoutGraph, serializeLayout, type WorkerLike, workerLayout } from "../layout";
import type { GraphData } from "../types";

const doc = {
  metadata: { hs3_version: "0.2" },
  distributions: [
    { name: "constr", type: "gaussian_dist", x: "nom_a", mean: "a", sigma: 1.0 },
    { name: "model", type: "mixture_dist", summands: ["sig", "bkg"], coefficients: ["nsig", "nbkg"], extended: true },
    { name: "bkg", type: "exponential_dist", x: "x", c: "tau" },
    { name: "sig", type: "gaussian_dist", x: "x", mean: "15.0", sigma: "width" },
  ],
  functions: [
    { name: "nsig", type: "product", factors: ["mu", "n0"] },
    { name: "width", type: "generic_function", expression: "s0 * (1.0 + 0.1 * a) + TMath::Exp(1e-3)" },
  ],
  data: [{ name: "obs", type: "unbinned", axes: [{ name: "x", min: 10, max: 20 }], entries: [[11.0]] }],
  likelihoods: [{ name: "L", distributions: ["model"], data: ["obs"], aux_distributions: ["constr"] }],
  analyses: [{ name: "A", likelihood: "L", parameters_of_interest: ["mu"] }],
  domains: [{ name: "d", type: "product_domain", axes: [{ name: "mu", min: -5, max: 10 }] }],
  parameter_points: [{ name: "default_values", parameters: [{ name: "mu", value: 1 }] }],
};

describe("buildGraphData", () => {
  it("gives the nodes and edges of Python's Graph.to_dict(), in its order", () => {
    const g = buildGraphData(doc);
    expect(g.nodes.map((n) => [n.id, n.kind])).toEqual([
      ["constr", "distribution"],
      ["model", "distribution"],
      ["bkg", "distribution"],
      ["sig", "distribution"],
      ["nsig", "function"],
      ["width", "function"],
      ["nom_a", "parameter"],
      ["a", "parameter"],
      ["nbkg", "parameter"],
      ["x", "parameter"],
      ["tau", "parameter"],
      ["mu", "parameter"],
      ["n0", "parameter"],
      ["s0", "parameter"],
      ["obs", "data"],
      ["L", "likelihood"],
      ["A", "analysis"],
    ]);
    expect(g.nodes.find((n) => n.id === "nom_a")?.path).toBe("distributions[0].x");
    expect(g.nodes.find((n) => n.id === "width")).toEqual({
      id: "width",
      kind: "function",
      type: "generic_function",
      path: "functions[1]",
    });
    expect(g.edges).toContainEqual({ source: "model", target: "sig", field: "summands[0]" });
    expect(g.edges).toContainEqual({ source: "model", target: "nbkg", field: "coefficients[1]" });
    expect(g.edges).toContainEqual({ source: "width", target: "a", field: "expression" });
    expect(g.edges).toContainEqual({ source: "L", target: "obs", field: "data[0]" });
    expect(g.edges).toContainEqual({ source: "L", target: "constr", field: "aux_distributions[0]" });
    expect(g.edges).toContainEqual({ source: "A", target: "L", field: "likelihood" });
    // numbers and numeric strings are not references
    expect(g.edges.filter((e) => e.source === "sig").map((e) => e.target)).toEqual(["x", "width"]);
  });

  it("finds HistFactory modifier parameters and named constraints, not legacy constraint types", () => {
    const g = buildGraphData({
      distributions: [
        {
          name: "ch",
          type: "histfactory_dist",
          axes: [{ name: "obs_x", min: 0, max: 1, nbins: 2 }],
          samples: [
            {
              name: "s",
              data: { contents: [1, 2] },
              modifiers: [
                { type: "normfactor", name: "mu" },
                { type: "normsys", parameter: "alpha_l", constraint: "Gauss", data: { hi: 1.1, lo: 0.9 } },
                { type: "histosys", parameter: "alpha_j", constraint: "alpha_jConstraint", data: {} },
              ],
            },
          ],
        },
        { name: "alpha_jConstraint", type: "gaussian_dist", x: "nom_alpha_j", mean: "alpha_j", sigma: 1 },
      ],
    });
    const targets = g.edges.filter((e) => e.source === "ch").map((e) => `${e.field}->${e.target}`);
    // as pyhs3_lab/ops/histfactory.py finds them: the observable, the parameters, a legacy Gauss
    // constraint's global observable nom_<parameter>, a constraint pdf by name
    expect(targets).toEqual([
      "axes[0].name->obs_x",
      "samples[0].modifiers[0].name->mu",
      "samples[0].modifiers[1].parameter->alpha_l",
      "samples[0].modifiers[1]->nom_alpha_l",
      "samples[0].modifiers[2].parameter->alpha_j",
      "samples[0].modifiers[2].constraint->alpha_jConstraint",
    ]);
  });

  it("rejects what is not a JSON object", () => {
    expect(() => buildGraphData([1, 2])).toThrow(/JSON object/);
  });

  it("reads expression symbols without functions, constants or exponents", () => {
    expect(expressionSymbols("a*exp(-b*x) + PI + 2e-3*c + TMath::Gaus(x, m, s)")).toEqual(["a", "b", "c", "m", "s", "x"]);
  });

  it("resolves JSON paths", () => {
    expect(resolvePath(doc, "distributions[1].summands[1]")).toBe("bkg");
  });
});

function bigGraph(nParams: number): GraphData {
  const nodes: GraphData["nodes"] = [{ id: "main", kind: "distribution", type: "product_dist", path: "distributions[0]" }];
  const edges: GraphData["edges"] = [];
  for (let i = 0; i < nParams; i++) {
    nodes.push({ id: `np_${i}`, kind: "parameter", type: "parameter", path: `distributions[0].x[${i}]` });
    edges.push({ source: "main", target: `np_${i}`, field: `x[${i}]` });
  }
  return { nodes, edges };
}

describe("collapseGraph", () => {
  it("folds many parameters into one aggregate and redirects edges", () => {
    const v = collapseGraph(bigGraph(37), {
      collapseAbove: 20,
      minGroup: 4,
      roles: Object.fromEntries(Array.from({ length: 37 }, (_, i) => [`np_${i}`, "nuisance" as const])),
      expanded: new Set(),
    });
    expect(v.nodes.map((n) => n.label)).toEqual(["main", "37 nuisance parameters"]);
    expect(v.edges).toEqual([{ source: "main", target: "group:param:nuisance" }]);
  });

  it("keeps small graphs and expanded groups unfolded", () => {
    expect(collapseGraph(bigGraph(5), { collapseAbove: 20, minGroup: 4, expanded: new Set() }).nodes).toHaveLength(6);
    const v = collapseGraph(bigGraph(30), { collapseAbove: 20, minGroup: 4, expanded: new Set(["param:parameter"]) });
    expect(v.nodes).toHaveLength(31);
  });
});

describe("renderGraph", () => {
  it("draws every node, shows JSON on click and expands aggregates", () => {
    const el = document.createElement("div");
    document.body.appendChild(el);
    const selected: string[] = [];
    const g = buildGraphData(doc);
    const view = renderGraph(el, g, { source: doc, onSelect: (n) => selected.push(n.id) });
    const ids = [...el.querySelectorAll<SVGGElement>(".hs3g-node")].map((n) => n.dataset.id);
    expect(ids.sort()).toEqual(g.nodes.map((n) => n.id).sort());
    const sig = el.querySelector<SVGGElement>('.hs3g-node[data-id="sig"]');
    sig?.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(selected).toEqual(["sig"]);
    expect(el.querySelector(".hs3g-json")?.textContent).toContain('"gaussian_dist"');
    view.destroy();

    const big = bigGraph(50);
    const v2 = renderGraph(el, big, { collapseAbove: 20 });
    expect(v2.visibleIds()).toEqual(["main", "group:param:parameter"]);
    el.querySelector<SVGGElement>('.hs3g-node[data-id="group:param:parameter"]')?.dispatchEvent(
      new MouseEvent("click", { bubbles: true }),
    );
    expect(v2.visibleIds()).toHaveLength(51);
    v2.destroy();
    expect(el.children).toHaveLength(0);
  });
});

/** A Worker that answers like js/graph/layout-worker.ts, asynchronously. */
class FakeWorker implements WorkerLike {
  onmessage: ((e: MessageEvent) => void) | null = null;
  onerror: ((e: ErrorEvent) => void) | null = null;
  posted = 0;
  terminated = false;
  constructor(private readonly fail = false) {}
  postMessage(msg: unknown): void {
    this.posted += 1;
    const { id, graph } = msg as { id: number; graph: { nodes: { id: string; label: string }[]; edges: [] } };
    queueMicrotask(() => {
      if (this.fail) {
        this.onerror?.({ message: "boom" } as ErrorEvent);
        return;
      }
      const nodes = graph.nodes.map((n) => ({ ...n, kind: "parameter" as const }));
      const layout = serializeLayout(layoutGraph({ nodes, edges: graph.edges, shownAs: new Map() }));
      this.onmessage?.({ data: { id, layout } } as MessageEvent);
    });
  }
  terminate(): void {
    this.terminated = true;
  }
}

describe("layout in a worker", () => {
  it("lays out large graphs through the runner and draws them", async () => {
    const workers: FakeWorker[] = [];
    const runner = workerLayout(() => {
      const w = new FakeWorker();
      workers.push(w);
      return w;
    });
    const el = document.createElement("div");
    const view = renderGraph(el, bigGraph(200), { collapseAbove: 1000, layoutRunner: runner, workerAbove: 100 });
    expect(view.element.dataset.layout).toBe("pending");
    await new Promise((r) => setTimeout(r, 0));
    expect(view.element.dataset.layout).toBe("worker");
    expect(el.querySelectorAll(".hs3g-node")).toHaveLength(201);
    expect(workers).toHaveLength(1);
    // small graphs stay on the main thread
    const small = renderGraph(el, bigGraph(5), { layoutRunner: runner, workerAbove: 100 });
    expect(small.element.dataset.layout).toBe("main");
    expect(workers[0]?.posted).toBe(1);
    runner.terminate();
    expect(workers[0]?.terminated).toBe(true);
  });

  it("falls back to the main thread when the worker fails", async () => {
    const runner = workerLayout(() => new FakeWorker(true));
    const el = document.createElement("div");
    const view = renderGraph(el, bigGraph(200), { collapseAbove: 1000, layoutRunner: runner, workerAbove: 100 });
    await new Promise((r) => setTimeout(r, 0));
    expect(view.element.dataset.layout).toBe("main");
    expect(el.querySelectorAll(".hs3g-node")).toHaveLength(201);
    expect(el.querySelector(".hs3g-info")?.textContent).toContain("worker failed");
  });
});
