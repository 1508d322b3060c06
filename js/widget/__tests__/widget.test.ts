import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

// BokehJS needs a real canvas; the fake records what the plot panel asks of it.
const bokehLog = vi.hoisted(() => ({ figures: [] as { glyphs: [string, Record<string, unknown>][] }[], shows: 0 }));
vi.mock("../bokeh", () => {
  class ColumnDataSource {
    data: Record<string, unknown>;
    constructor(attrs: { data: Record<string, unknown> }) {
      this.data = attrs.data;
    }
  }
  class Span {
    constructor(readonly attrs: Record<string, unknown>) {}
  }
  const figure = () => {
    const f = { glyphs: [] as [string, Record<string, unknown>][] };
    bokehLog.figures.push(f);
    const glyph = (kind: string) => (attrs: Record<string, unknown>) => {
      f.glyphs.push([kind, attrs]);
      return { visible: true };
    };
    return {
      ...f,
      line: glyph("line"),
      scatter: glyph("scatter"),
      quad: glyph("quad"),
      segment: glyph("segment"),
      rect: glyph("rect"),
      add_layout: () => undefined,
      output_backend: "canvas",
      legend: {},
    };
  };
  return {
    Bokeh: {
      version: "fake",
      ColumnDataSource,
      Span,
      Plotting: {
        figure,
        show: async () => {
          bokehLog.shows += 1;
          return { remove: () => undefined, export: () => ({ to_blob: async () => new Blob() }) };
        },
      },
    },
  };
});

// the worker bundle is a build product; the view without a runner lays out on the main thread
vi.mock("../layout-worker", () => ({ layoutRunner: () => undefined }));

import { renderExplorer } from "../index";
import { ParamSender } from "../params";
import { plotColumns } from "../plot";
import type { Action, ExplorerModel, Param, WidgetModel, WireArray } from "../model";

type Listener = (...args: unknown[]) => void;

class FakeModel implements WidgetModel {
  state: ExplorerModel;
  listeners = new Map<string, Set<Listener>>();
  sets: [string, unknown][] = [];
  saves = 0;
  sent: Action[] = [];

  constructor(state: Partial<ExplorerModel>) {
    this.state = {
      graph: { nodes: [], edges: [] },
      params: [],
      revision: 0,
      ack: 0,
      selected: "",
      inspected: {},
      channels: [],
      curves: {},
      fit_status: { state: "idle" },
      fit_result: {},
      profile: {},
      error: "",
      busy: false,
      progress: {},
      ...state,
    };
  }
  get<K extends keyof ExplorerModel>(key: K): ExplorerModel[K] {
    return this.state[key];
  }
  set<K extends keyof ExplorerModel>(key: K, value: ExplorerModel[K]): void {
    this.state[key] = value;
    this.sets.push([key, value]);
    this.emit(`change:${key}`);
  }
  save_changes(): void {
    this.saves += 1;
  }
  on(event: string, cb: Listener): void {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event)?.add(cb);
  }
  off(event?: string | null, cb?: Listener | null): void {
    if (event && cb) this.listeners.get(event)?.delete(cb);
  }
  send(content: Action): void {
    this.sent.push(content);
  }
  emit(event: string): void {
    for (const cb of this.listeners.get(event) ?? []) cb();
  }
  /** what Python does: set a trait and tell the view */
  py<K extends keyof ExplorerModel>(key: K, value: ExplorerModel[K]): void {
    this.state[key] = value;
    this.emit(`change:${key}`);
  }
}

/** A float64 array as Python sends it: a DataView on a buffer, at an offset. */
function wire(values: number[], offset = 16): WireArray {
  const buf = new ArrayBuffer(offset + values.length * 8);
  new Float64Array(buf, offset, values.length).set(values);
  return { dtype: "float64", shape: [values.length], data: new DataView(buf, offset, values.length * 8) };
}

const params: Param[] = [
  { name: "mu", value: 1, min: -5, max: 10, fixed: false, const: false, role: "poi", poi: true },
  { name: "tau", value: 0.3, min: 0.001, max: 2, fixed: false, const: false, role: "nuisance", poi: false },
  { name: "nom_a", value: 0, min: -5, max: 5, fixed: true, const: true, role: "global_observable", poi: false },
];

function curves(scale: number) {
  return {
    target: "model",
    channel: "model",
    kind: "density" as const,
    observable: "x",
    x: wire([10, 15, 20]),
    total: wire([1 * scale, 2 * scale, 3 * scale], 8),
    components: [{ name: "sig", y: wire([0.5, 1, 1.5]) }],
    stacked: false,
    data: { name: "obs", x: wire([12, 18]), y: wire([3, 4]), err_lo: wire([1, 1]), err_hi: wire([2, 2]) },
    ylabel: "events",
    notes: [],
    nll: 1.5,
  };
}

function makeModel(extra: Partial<ExplorerModel> = {}): FakeModel {
  return new FakeModel({
    graph: {
      nodes: [
        { id: "L", kind: "likelihood", type: "likelihood", path: "likelihoods[0]" },
        { id: "model", kind: "distribution", type: "mixture_dist", path: "distributions[0]" },
        { id: "mu", kind: "parameter", type: "parameter", path: "distributions[0].coefficients[0]" },
      ],
      edges: [
        { source: "L", target: "model", field: "distributions[0]" },
        { source: "model", target: "mu", field: "coefficients[0]" },
      ],
    },
    params,
    selected: "model",
    channels: [{ name: "model", data: "obs", observable: "x", binned: false }],
    curves: curves(1),
    ...extra,
  });
}

const flush = () => new Promise((r) => setTimeout(r, 0));

describe("Explorer view", () => {
  let host: HTMLElement;
  beforeEach(() => {
    host = document.createElement("div");
    document.body.appendChild(host);
    bokehLog.figures.length = 0;
    bokehLog.shows = 0;
  });
  afterEach(() => host.remove());

  it("renders the graph, one slider per visible parameter (aria-label = name) and the plot", async () => {
    const model = makeModel();
    const cleanup = renderExplorer(model, host);
    await flush();
    const nodes = [...host.querySelectorAll<SVGGElement>(".hs3g-node")].map((n) => n.dataset.id);
    expect(nodes.sort()).toEqual(["L", "model", "mu"]);
    expect(host.querySelector('input[type="range"][aria-label="mu"]')).not.toBeNull();
    const tauRow = host.querySelector<HTMLElement>('.pl-row[data-name="tau"]');
    expect(tauRow?.hidden).toBe(false);
    // global observables are hidden by default; POIs come first
    expect(host.querySelector<HTMLElement>('.pl-row[data-name="nom_a"]')?.hidden).toBe(true);
    expect(host.querySelector(".pl-row")?.getAttribute("data-name")).toBe("mu");
    // limits are shown exactly as given
    expect(host.querySelector<HTMLInputElement>('.pl-row[data-name="tau"] .pl-min')?.value).toBe("0.001");
    expect(bokehLog.shows).toBe(1);
    expect(host.querySelector<HTMLElement>(".pl-error")?.hidden).toBe(true);
    cleanup();
    expect(host.children).toHaveLength(0);
  });

  it("rebuilds the same view from the traits alone (a second view of one model)", async () => {
    const model = makeModel();
    const other = document.createElement("div");
    document.body.appendChild(other);
    const cleanupA = renderExplorer(model, host);
    const cleanupB = renderExplorer(model, other);
    await flush();
    for (const root of [host, other]) {
      expect(root.querySelectorAll(".hs3g-node")).toHaveLength(3);
      expect(root.querySelectorAll(".pl-row")).toHaveLength(3);
    }
    model.py("params", params.map((p) => (p.name === "mu" ? { ...p, value: 2.5 } : p)));
    for (const root of [host, other]) {
      expect(root.querySelector<HTMLInputElement>('input[aria-label="mu value"]')?.value).toBe("2.5");
    }
    cleanupA();
    model.py("error", "still listening");
    expect(other.querySelector(".pl-error")?.textContent).toContain("still listening");
    cleanupB();
    other.remove();
  });

  it("coalesces slider input: one update in flight, the latest value wins, nothing queues", async () => {
    const model = makeModel();
    renderExplorer(model, host);
    const slider = host.querySelector<HTMLInputElement>('input[aria-label="mu"]');
    if (!slider) throw new Error("no slider");
    for (const v of ["2", "3", "4"]) {
      slider.value = v;
      slider.dispatchEvent(new Event("input"));
    }
    expect(model.saves).toBe(1);
    expect(model.state.revision).toBe(1);
    expect(model.state.params.find((p) => p.name === "mu")?.value).toBe(2);
    model.py("ack", 1); // Python answered revision 1
    expect(model.saves).toBe(2);
    expect(model.state.revision).toBe(2);
    expect(model.state.params.find((p) => p.name === "mu")?.value).toBe(4);
    model.py("ack", 2);
    expect(model.saves).toBe(2); // nothing pending
  });

  it("decodes binary curves as Float64Array and swaps data without rebuilding the figure", async () => {
    const model = makeModel();
    renderExplorer(model, host);
    await flush();
    const fig = bokehLog.figures[0];
    if (!fig) throw new Error("no figure");
    const totalLine = fig.glyphs.filter(([k]) => k === "line").at(-1);
    const src = totalLine?.[1].source as { data: Record<string, unknown> };
    expect(src.data.y).toBeInstanceOf(Float64Array);
    expect(Array.from(src.data.y as Float64Array)).toEqual([1, 2, 3]);
    model.py("curves", curves(10));
    await flush();
    expect(bokehLog.figures).toHaveLength(1);
    expect(Array.from(src.data.y as Float64Array)).toEqual([10, 20, 30]);
    expect(host.querySelector<HTMLElement>(".pl-plot")?.dataset.renders).toBe("2");
  });

  it("shows errors in a banner and dismisses them through Python", () => {
    const model = makeModel();
    renderExplorer(model, host);
    model.py("error", "Error while evaluating 'model': bad sigma");
    const banner = host.querySelector<HTMLElement>(".pl-error");
    expect(banner?.hidden).toBe(false);
    expect(banner?.textContent).toContain("bad sigma");
    host.querySelector<HTMLButtonElement>(".pl-error-close")?.click();
    expect(model.sent).toContainEqual({ kind: "clear-error" });
  });

  it("sends fit actions and draws the result table and correlation matrix", () => {
    const model = makeModel();
    renderExplorer(model, host);
    const fitBtn = [...host.querySelectorAll<HTMLButtonElement>(".pl-fit button")].find((b) => b.textContent === "Fit");
    fitBtn?.click();
    expect(model.sent).toContainEqual({ kind: "fit" });
    model.py("fit_status", { state: "done", task: "fit", valid: true, fval: -3.9, edm: 1e-6, nfcn: 99, message: "converged" });
    model.py("fit_result", {
      parameters: ["mu", "tau"],
      rows: [
        { name: "mu", value: 1.14, error: 0.4, minos: null, poi: true },
        { name: "tau", value: 0.17, error: 0.05, minos: null, poi: false },
      ],
      correlation: { dtype: "float64", shape: [2, 2], data: new DataView(new Float64Array([1, -0.3, -0.3, 1]).buffer) },
      pulls: [{ name: "tau", pull: 0.5, error: 0.9, constraint: "c" }],
    });
    expect(host.querySelector(".pl-status")?.textContent).toContain("valid");
    expect(host.querySelector(".pl-status")?.textContent).toContain("calls = 99");
    expect(host.querySelectorAll(".pl-table tr")).toHaveLength(3);
    const cells = [...host.querySelectorAll(".pl-corr-cell")].map((c) => c.textContent);
    expect(cells).toEqual(["1.00", "-0.30", "-0.30", "1.00"]);
    expect(host.querySelectorAll(".pl-pull")).toHaveLength(1);
  });

  it("draws a large correlation matrix as a canvas", () => {
    const model = makeModel();
    renderExplorer(model, host);
    const n = 40;
    const names = Array.from({ length: n }, (_, i) => `np_${i}`);
    const flat = new Float64Array(n * n);
    for (let i = 0; i < n; i++) flat[i * n + i] = 1;
    model.py("fit_result", {
      parameters: names,
      rows: names.map((name) => ({ name, value: 0, error: 1, minos: null, poi: false })),
      correlation: { dtype: "float64", shape: [n, n], data: new DataView(flat.buffer) },
    });
    expect(host.querySelectorAll(".pl-corr-cell")).toHaveLength(0);
    expect(host.querySelector(".pl-corr-big canvas")?.getAttribute("aria-label")).toBe("correlation matrix of 40 parameters");
  });

  it("selects a distribution when its graph node is clicked and shows the value Python sends", () => {
    const model = makeModel({ selected: "other" });
    renderExplorer(model, host);
    host.querySelector<SVGGElement>('.hs3g-node[data-id="model"]')?.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(model.sent).toContainEqual({ kind: "select", name: "model" });
    expect(model.sent).toContainEqual({ kind: "inspect", name: "model" });
    model.py("inspected", { name: "model", value: 37, text: "expected events 37", json: { type: "mixture_dist" } });
    expect(host.querySelector(".hs3g-value")?.textContent).toBe("value: expected events 37");
    expect(host.querySelector(".hs3g-json")?.textContent).toContain('"mixture_dist"');
  });
});

describe("ParamSender", () => {
  it("sends again after the acknowledgement timeout (a dead kernel never answers)", () => {
    const model = new FakeModel({});
    let now = 0;
    const s = new ParamSender(model, () => now);
    s.send(params);
    s.send(params);
    expect(model.saves).toBe(1);
    now = 10_000;
    s.send(params);
    expect(model.saves).toBe(2);
  });
});

describe("plotColumns", () => {
  it("stacks binned samples and draws the total as steps", () => {
    const cols = plotColumns(
      {
        kind: "binned",
        x: wire([0, 1, 2]),
        total: wire([3, 5]),
        components: [
          { name: "a", y: wire([1, 2]) },
          { name: "b", y: wire([2, 3]) },
        ],
        stacked: true,
      },
      false,
    );
    expect(Array.from(cols.components[1]?.bottom ?? [])).toEqual([1, 2]);
    expect(Array.from(cols.components[1]?.top ?? [])).toEqual([3, 5]);
    expect(Array.from(cols.total.x ?? [])).toEqual([0, 1, 1, 2]);
    expect(Array.from(cols.total.y ?? [])).toEqual([3, 3, 5, 5]);
  });
});
