/**
 * Plot panel (BokehJS): the selected distribution against its observable; mixture components
 * as dashed lines, HistFactory samples stacked; data overlaid (points with Poisson error bars);
 * linear/log toggle; one tab per channel; PNG/SVG export.
 *
 * The figure is rebuilt only when the structure changes (target, kind, components, log scale);
 * a slider move only replaces the data of its ColumnDataSources.
 */
import { toFloat64 } from "./arrays";
import { Bokeh, type DataSource, type Figure, type PlotView } from "./bokeh";
import type { Curves, WidgetModel } from "./model";

/** more channels than this get a drop-down instead of tabs */
export const MAX_TABS = 12;

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = "", text = ""): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

interface Sources {
  total: DataSource;
  components: DataSource[];
  data: DataSource | null;
  errors: DataSource | null;
}

/** Columns for the ColumnDataSources, computed from the payload (pure, tested). */
export function plotColumns(c: Partial<Curves>, log: boolean): {
  total: Record<string, Float64Array>;
  components: Record<string, Float64Array>[];
  data: Record<string, Float64Array> | null;
  errors: Record<string, Float64Array> | null;
} {
  const x = toFloat64(c.x);
  const total = toFloat64(c.total);
  const floor = log ? positiveFloor(total) : 0;
  const comps = (c.components ?? []).map((k) => toFloat64(k.y));
  let data: Record<string, Float64Array> | null = null;
  let errors: Record<string, Float64Array> | null = null;
  if (c.data) {
    const dx = toFloat64(c.data.x);
    const dy = toFloat64(c.data.y);
    const lo = toFloat64(c.data.err_lo);
    const hi = toFloat64(c.data.err_hi);
    const y0 = new Float64Array(dy.length);
    const y1 = new Float64Array(dy.length);
    for (let i = 0; i < dy.length; i++) {
      y0[i] = Math.max((dy[i] ?? 0) - (lo[i] ?? 0), floor);
      y1[i] = (dy[i] ?? 0) + (hi[i] ?? 0);
    }
    data = { x: dx, y: log ? clampBelow(dy, floor) : dy };
    errors = { x0: dx, x1: dx, y0, y1 };
  }
  if (c.kind === "binned") {
    // bins: x holds the edges; each sample is a quad stacked on the previous ones
    const left = x.subarray(0, Math.max(0, x.length - 1));
    const right = x.subarray(1);
    const components: Record<string, Float64Array>[] = [];
    let bottom = new Float64Array(left.length).fill(floor);
    const stacked = c.stacked !== false;
    for (const y of comps) {
      const top = new Float64Array(left.length);
      for (let i = 0; i < left.length; i++) top[i] = (stacked ? (bottom[i] ?? 0) : floor) + (y[i] ?? 0);
      components.push({ left: Float64Array.from(left), right: Float64Array.from(right), bottom, top });
      if (stacked) bottom = top;
    }
    // the total as a step line over the bin edges
    const sx = new Float64Array(left.length * 2);
    const sy = new Float64Array(left.length * 2);
    for (let i = 0; i < left.length; i++) {
      sx[2 * i] = left[i] ?? 0;
      sx[2 * i + 1] = right[i] ?? 0;
      sy[2 * i] = sy[2 * i + 1] = Math.max(total[i] ?? 0, floor);
    }
    return { total: { x: sx, y: sy }, components, data, errors };
  }
  return {
    total: { x, y: log ? clampBelow(total, floor) : total },
    components: comps.map((y) => ({ x, y: log ? clampBelow(y, floor) : y })),
    data,
    errors,
  };
}

function positiveFloor(y: Float64Array): number {
  let m = Number.POSITIVE_INFINITY;
  for (const v of y) if (v > 0 && v < m) m = v;
  return Number.isFinite(m) ? m * 0.1 : 1e-3;
}

function clampBelow(y: Float64Array, floor: number): Float64Array {
  const out = new Float64Array(y.length);
  for (let i = 0; i < y.length; i++) out[i] = Math.max(y[i] ?? 0, floor);
  return out;
}

export class PlotPanel {
  readonly element: HTMLElement;
  private tabs: HTMLElement;
  private canvas: HTMLElement;
  private notes: HTMLElement;
  private logToggle: HTMLInputElement;
  private view: PlotView | null = null;
  private figure: Figure | null = null;
  private sources: Sources | null = null;
  private structure = "";
  private building: Promise<void> = Promise.resolve();
  /** called after new data reached the figure (for latency measurement) */
  onPainted: (() => void) | null = null;
  renders = 0;

  constructor(private readonly model: WidgetModel) {
    this.element = el("section", "pl-panel pl-plot");
    this.element.setAttribute("aria-label", "Plot");
    const head = el("div", "pl-panel-head");
    head.append(el("h3", "", "Plot"));
    this.tabs = el("div", "pl-tabs");
    this.tabs.setAttribute("role", "tablist");
    const logLabel = el("label", "pl-check");
    this.logToggle = el("input");
    this.logToggle.type = "checkbox";
    this.logToggle.setAttribute("aria-label", "logarithmic y axis");
    logLabel.append(this.logToggle, document.createTextNode(" log y"));
    const png = el("button", "pl-btn", "PNG");
    png.type = "button";
    png.title = "Save the plot as PNG";
    const svgBtn = el("button", "pl-btn", "SVG");
    svgBtn.type = "button";
    svgBtn.title = "Save the plot as SVG";
    head.append(this.tabs, logLabel, png, svgBtn);
    this.canvas = el("div", "pl-plot-canvas");
    this.notes = el("div", "pl-notes");
    this.element.append(head, this.canvas, this.notes);
    this.logToggle.addEventListener("change", () => {
      this.structure = "";
      this.update();
    });
    png.addEventListener("click", () => void this.export("png"));
    svgBtn.addEventListener("click", () => void this.export("svg"));
    this.updateTabs();
    this.update();
  }

  updateTabs(): void {
    const channels = this.model.get("channels") ?? [];
    const selected = this.model.get("selected");
    const curves = this.model.get("curves") ?? {};
    this.tabs.replaceChildren();
    if (channels.length < 2) return;
    if (channels.length > MAX_TABS) {
      // many channels: a searchable drop-down instead of a wall of tabs
      const sel = el("select", "pl-channel-select");
      sel.setAttribute("aria-label", "channel");
      for (const ch of channels) {
        const o = el("option", "", ch.name);
        o.value = ch.name;
        o.selected = ch.name === selected || ch.name === curves.channel;
        sel.append(o);
      }
      sel.addEventListener("change", () => this.model.send({ kind: "select", name: sel.value }));
      this.tabs.append(el("span", "", `${channels.length} channels: `), sel);
      return;
    }
    for (const ch of channels) {
      const b = el("button", "pl-tab", ch.name);
      b.type = "button";
      b.setAttribute("role", "tab");
      const active = ch.name === selected || ch.name === curves.channel;
      b.setAttribute("aria-selected", String(active));
      b.classList.toggle("pl-active", active);
      b.addEventListener("click", () => this.model.send({ kind: "select", name: ch.name }));
      this.tabs.append(b);
    }
  }

  private structureOf(c: Partial<Curves>): string {
    return JSON.stringify([c.target, c.kind, c.observable, c.ylabel, (c.components ?? []).map((k) => k.name),
      c.data?.name ?? null, this.logToggle.checked]);
  }

  /** Draw the curves trait: rebuild the figure if its structure changed, else swap data. */
  update(): void {
    const c = this.model.get("curves") ?? {};
    this.updateTabs();
    this.notes.textContent = (c.notes ?? []).join(" · ");
    if (c.x === undefined) {
      this.canvas.textContent = "Nothing to plot yet: select a distribution in the graph.";
      return;
    }
    const key = this.structureOf(c);
    if (key !== this.structure || this.sources === null) {
      this.structure = key;
      this.building = this.building.then(() => this.rebuild(c)).catch((err: unknown) => this.fail(err));
      return;
    }
    this.building = this.building.then(() => this.swap(c)).catch((err: unknown) => this.fail(err));
  }

  private fail(err: unknown): void {
    this.canvas.textContent = `Plot failed: ${String(err)}`;
    this.structure = "";
  }

  private swap(c: Partial<Curves>): void {
    const s = this.sources;
    if (s === null) return;
    const cols = plotColumns(c, this.logToggle.checked);
    s.total.data = cols.total;
    cols.components.forEach((d, i) => {
      const src = s.components[i];
      if (src) src.data = d;
    });
    if (s.data && cols.data) s.data.data = cols.data;
    if (s.errors && cols.errors) s.errors.data = cols.errors;
    this.painted();
  }

  private painted(): void {
    // a checksum of what is drawn, for tests and for the eye in the DOM inspector
    const total = toFloat64(this.model.get("curves")?.total);
    let sum = 0;
    for (const v of total) sum += Number.isFinite(v) ? v : 0;
    this.element.dataset.totalSum = sum.toPrecision(12);
    this.renders += 1;
    this.element.dataset.renders = String(this.renders);
    const cb = this.onPainted;
    if (cb) requestAnimationFrame(() => cb());
  }

  private async rebuild(c: Partial<Curves>): Promise<void> {
    const log = this.logToggle.checked;
    const cols = plotColumns(c, log);
    this.view?.remove();
    this.view = null;
    this.canvas.replaceChildren();
    const fig = Bokeh.Plotting.figure({
      height: 340,
      sizing_mode: "stretch_width",
      x_axis_label: c.observable ?? "",
      y_axis_label: c.ylabel ?? "",
      y_axis_type: log ? "log" : "linear",
      tools: "pan,wheel_zoom,box_zoom,reset,save",
      toolbar_location: "right",
      title: c.target ?? "",
    });
    const sources: Sources = {
      total: new Bokeh.ColumnDataSource({ data: cols.total }),
      components: [],
      data: null,
      errors: null,
    };
    const names = (c.components ?? []).map((k) => k.name);
    if (c.kind === "binned") {
      cols.components.forEach((d, i) => {
        const src = new Bokeh.ColumnDataSource({ data: d });
        sources.components.push(src);
        fig.quad({ left: { field: "left" }, right: { field: "right" }, bottom: { field: "bottom" },
          top: { field: "top" }, source: src, fill_color: PALETTE[i % PALETTE.length], fill_alpha: 0.55,
          line_color: PALETTE[i % PALETTE.length], legend_label: names[i] ?? `sample ${i}` });
      });
      fig.line({ x: { field: "x" }, y: { field: "y" }, source: sources.total, line_color: "#111", line_width: 2,
        legend_label: "total" });
    } else {
      cols.components.forEach((d, i) => {
        const src = new Bokeh.ColumnDataSource({ data: d });
        sources.components.push(src);
        const highlight = names[i] === c.target;
        fig.line({ x: { field: "x" }, y: { field: "y" }, source: src, line_color: PALETTE[i % PALETTE.length],
          line_dash: highlight ? "solid" : "dashed", line_width: highlight ? 3 : 1.8, legend_label: names[i] ?? `${i}` });
      });
      fig.line({ x: { field: "x" }, y: { field: "y" }, source: sources.total, line_color: "#111", line_width: 2.2,
        legend_label: c.channel ? "model" : (c.target ?? "pdf") });
    }
    if (cols.data && cols.errors) {
      sources.errors = new Bokeh.ColumnDataSource({ data: cols.errors });
      sources.data = new Bokeh.ColumnDataSource({ data: cols.data });
      fig.segment({ x0: { field: "x0" }, x1: { field: "x1" }, y0: { field: "y0" }, y1: { field: "y1" },
        source: sources.errors, line_color: "#000", line_width: 1.3 });
      fig.scatter({ x: { field: "x" }, y: { field: "y" }, source: sources.data, size: 6, fill_color: "#000",
        line_color: "#000", legend_label: `data (${c.data?.name ?? ""})` });
    }
    fig.legend.location = "top_right";
    fig.legend.click_policy = "hide";
    fig.legend.label_text_font_size = "10px";
    fig.legend.background_fill_alpha = 0.6;
    this.figure = fig;
    this.sources = sources;
    this.view = await Bokeh.Plotting.show(fig, this.canvas);
    this.element.dataset.target = c.target ?? "";
    this.painted();
  }

  /** Save the plot as PNG or SVG (SVG: redrawn with Bokeh's SVG backend). */
  async export(type: "png" | "svg"): Promise<void> {
    if (this.view === null || this.figure === null) return;
    let blob: Blob;
    if (type === "svg") {
      this.figure.output_backend = "svg";
      try {
        blob = await this.view.export("svg").to_blob();
      } finally {
        this.figure.output_backend = "canvas";
      }
    } else {
      blob = await this.view.export("png").to_blob();
    }
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `${this.model.get("curves")?.target ?? "plot"}.${type}`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    URL.revokeObjectURL(a.href);
  }

  destroy(): void {
    this.view?.remove();
    this.view = null;
  }
}
