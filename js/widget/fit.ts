/**
 * Fit panel: Fit (MIGRAD + HESSE), MINOS, Profile POI and Cancel; status (valid, fval, EDM,
 * calls); the table of values ± errors; pulls of constrained parameters; the correlation
 * matrix as a heat map; the profile-likelihood plot (BokehJS).
 */
import { fmt, rows2d, toFloat64 } from "./arrays";
import { Bokeh, type PlotView } from "./bokeh";
import type { WidgetModel } from "./model";

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = "", text = ""): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

/** Blue (−1) – white (0) – red (+1). */
export function corrColor(r: number): string {
  if (!Number.isFinite(r)) return "#ddd";
  const a = Math.min(1, Math.abs(r));
  const c = Math.round(255 * (1 - a));
  return r >= 0 ? `rgb(255,${c},${c})` : `rgb(${c},${c},255)`;
}

/** Above this many parameters the correlation matrix is a canvas heat map instead of a table. */
export const TABLE_MAX = 30;

/** The correlation matrix as pixels (any size), with the pair and value under the pointer. */
function corrCanvas(names: string[], m: Float64Array[]): HTMLElement {
  const n = names.length;
  const cell = Math.max(2, Math.floor(480 / n));
  const box = el("div", "pl-corr-big");
  const canvas = el("canvas");
  canvas.width = canvas.height = n * cell;
  canvas.setAttribute("aria-label", `correlation matrix of ${n} parameters`);
  const label = el("div", "pl-corr-hover", "point at a cell");
  const ctx = canvas.getContext("2d");
  if (ctx) {
    m.forEach((row, i) => {
      row.forEach((v, j) => {
        ctx.fillStyle = corrColor(v);
        ctx.fillRect(j * cell, i * cell, cell, cell);
      });
    });
  }
  canvas.addEventListener("mousemove", (ev) => {
    const rect = canvas.getBoundingClientRect();
    const j = Math.floor(((ev.clientX - rect.left) / rect.width) * n);
    const i = Math.floor(((ev.clientY - rect.top) / rect.height) * n);
    const v = m[i]?.[j];
    if (v !== undefined) label.textContent = `${names[i]} × ${names[j]}: ${fmt(v, 4)}`;
  });
  box.append(canvas, label);
  return box;
}

export class FitPanel {
  readonly element: HTMLElement;
  private status: HTMLElement;
  private buttons: Record<"fit" | "minos" | "profile" | "cancel", HTMLButtonElement>;
  private table: HTMLElement;
  private pulls: HTMLElement;
  private corr: HTMLElement;
  private profileEl: HTMLElement;
  private profileView: PlotView | null = null;
  private profileKey = "";

  constructor(private readonly model: WidgetModel) {
    this.element = el("section", "pl-panel pl-fit");
    this.element.setAttribute("aria-label", "Fit");
    const head = el("div", "pl-panel-head");
    head.append(el("h3", "", "Fit"));
    const mk = (label: string, title: string): HTMLButtonElement => {
      const b = el("button", "pl-btn", label);
      b.type = "button";
      b.title = title;
      head.append(b);
      return b;
    };
    this.buttons = {
      fit: mk("Fit", "MIGRAD + HESSE from the current values; the sliders move to the best fit"),
      minos: mk("MINOS", "Fit with MINOS errors of the parameters of interest"),
      profile: mk("Profile POI", "Profile-likelihood scan of the first parameter of interest"),
      cancel: mk("Cancel", "Stop the running fit or scan"),
    };
    this.buttons.fit.classList.add("pl-primary");
    this.buttons.fit.addEventListener("click", () => model.send({ kind: "fit" }));
    this.buttons.minos.addEventListener("click", () => model.send({ kind: "minos" }));
    this.buttons.profile.addEventListener("click", () => model.send({ kind: "profile" }));
    this.buttons.cancel.addEventListener("click", () => model.send({ kind: "cancel" }));
    this.status = el("div", "pl-status");
    this.status.setAttribute("role", "status");
    const body = el("div", "pl-fit-body");
    this.table = el("div", "pl-fit-table");
    this.pulls = el("div", "pl-pulls");
    this.corr = el("div", "pl-corr");
    this.profileEl = el("div", "pl-profile");
    body.append(this.table, this.pulls, this.corr, this.profileEl);
    this.element.append(head, this.status, body);
    this.update();
  }

  update(): void {
    const busy = this.model.get("busy") === true;
    const hasLik = (this.model.get("channels") ?? []).length > 0;
    this.buttons.fit.disabled = busy || !hasLik;
    this.buttons.minos.disabled = busy || !hasLik;
    this.buttons.profile.disabled = busy || !hasLik;
    this.buttons.cancel.disabled = !busy;
    this.renderStatus();
    this.renderResult();
    this.renderProfile();
  }

  /** only the status line (cheap: called on every slider move for the NLL) */
  updateStatus(): void {
    this.renderStatus();
  }

  private renderStatus(): void {
    const s = this.model.get("fit_status") ?? {};
    const p = this.model.get("progress") ?? {};
    const parts: string[] = [];
    if (!(this.model.get("channels") ?? []).length) parts.push("no likelihood: nothing to fit");
    if (s.state === "running") parts.push(p.message ?? `${s.task ?? "fit"} running…`);
    else if (s.state === "done" || s.state === "cancelled" || s.state === "failed") {
      parts.push(`${s.task ?? "fit"}: ${s.state === "done" ? (s.valid ? "valid" : "INVALID") : s.state}`);
      if (s.fval !== undefined) parts.push(`fval = ${fmt(s.fval, 10)}`);
      if (s.edm !== undefined) parts.push(`EDM = ${fmt(s.edm, 3)}`);
      if (s.nfcn !== undefined) parts.push(`calls = ${s.nfcn}`);
      if (s.message) parts.push(s.message);
    } else parts.push("not fitted yet");
    const nll = this.model.get("curves")?.nll;
    if (s.state !== "running" && nll !== null && nll !== undefined) parts.push(`NLL at the sliders = ${fmt(nll, 10)}`);
    this.status.textContent = parts.join(" · ");
    this.status.dataset.state = s.state ?? "idle";
    this.status.dataset.valid = String(s.valid === true);
  }

  private renderResult(): void {
    const r = this.model.get("fit_result") ?? {};
    this.table.replaceChildren();
    this.pulls.replaceChildren();
    this.corr.replaceChildren();
    // parameters of interest first, then the others in the fit's order
    const rows = [...(r.rows ?? [])].sort((a, b) => Number(b.poi) - Number(a.poi));
    if (!rows.length) return;
    const t = el("table", "pl-table");
    const head = el("tr");
    for (const h of ["parameter", "value", "± error", "MINOS"]) head.append(el("th", "", h));
    t.append(head);
    for (const row of rows) {
      const tr = el("tr");
      tr.dataset.name = row.name;
      tr.append(el("td", row.poi ? "pl-poi" : "", row.name), el("td", "pl-num", fmt(row.value)),
        el("td", "pl-num", fmt(row.error, 3)),
        el("td", "pl-num", row.minos ? `${fmt(row.minos[0], 3)} / +${fmt(row.minos[1], 3)}` : ""));
      t.append(tr);
    }
    this.table.append(t);

    const pulls = r.pulls ?? [];
    if (pulls.length) {
      this.pulls.append(el("h4", "", "Pulls (θ̂ − θ₀)/σ"));
      for (const p of pulls) {
        const line = el("div", "pl-pull");
        const bar = el("div", "pl-pull-bar");
        const v = p.pull ?? 0;
        const e = p.error ?? 0;
        // scale: ±3 over the bar's width
        const pos = (x: number) => `${Math.max(0, Math.min(100, 50 + (x / 3) * 50))}%`;
        const band = el("span", "pl-pull-err");
        band.style.left = pos(v - e);
        band.style.width = `${Math.max(0, Math.min(100, (e / 3) * 100))}%`;
        const dot = el("span", "pl-pull-dot");
        dot.style.left = pos(v);
        bar.append(el("span", "pl-pull-zero"), band, dot);
        line.append(el("span", "pl-pull-name", p.name), bar, el("span", "pl-num", `${fmt(v, 3)} ± ${fmt(e, 3)}`));
        line.title = `constraint ${p.constraint}`;
        this.pulls.append(line);
      }
    }

    const names = r.parameters ?? [];
    const m = rows2d(r.correlation);
    if (names.length > TABLE_MAX && m.length === names.length) {
      this.corr.append(el("h4", "", `Correlation (${names.length} parameters)`), corrCanvas(names, m));
    } else if (names.length > 1 && m.length === names.length) {
      this.corr.append(el("h4", "", "Correlation"));
      const ct = el("table", "pl-corr-table");
      const hr = el("tr");
      hr.append(el("th"));
      for (const n of names) {
        const th = el("th", "pl-corr-col", n);
        th.title = n;
        hr.append(th);
      }
      ct.append(hr);
      m.forEach((row, i) => {
        const tr = el("tr");
        const th = el("th", "", names[i] ?? "");
        tr.append(th);
        row.forEach((v, j) => {
          const td = el("td", "pl-corr-cell", Number.isFinite(v) ? v.toFixed(2) : "–");
          td.style.background = corrColor(v);
          td.title = `${names[i]} × ${names[j]}: ${fmt(v, 4)}`;
          tr.append(td);
        });
        ct.append(tr);
      });
      this.corr.append(ct);
    }
  }

  private renderProfile(): void {
    const p = this.model.get("profile") ?? {};
    const x = toFloat64(p.x);
    const y = toFloat64(p.two_delta_nll);
    const key = `${p.poi}:${x.length}:${y[0]}:${y[y.length - 1]}`;
    if (key === this.profileKey) return;
    this.profileKey = key;
    this.profileView?.remove();
    this.profileView = null;
    this.profileEl.replaceChildren();
    if (!p.poi || x.length === 0) return;
    const [lo, hi] = p.interval ?? [null, null];
    this.profileEl.append(el("h4", "", `Profile of ${p.poi}: ${fmt(p.best)} (68 %: [${fmt(lo, 4)}, ${fmt(hi, 4)}])`));
    const host = el("div", "pl-profile-plot");
    this.profileEl.append(host);
    const fig = Bokeh.Plotting.figure({ height: 240, sizing_mode: "stretch_width", x_axis_label: p.poi,
      y_axis_label: "2ΔNLL", tools: "pan,wheel_zoom,reset,save", toolbar_location: "right" });
    const src = new Bokeh.ColumnDataSource({ data: { x, y } });
    fig.line({ x: { field: "x" }, y: { field: "y" }, source: src, line_color: "#1f77b4", line_width: 2 });
    fig.scatter({ x: { field: "x" }, y: { field: "y" }, source: src, size: 5, fill_color: "#1f77b4" });
    fig.add_layout(new Bokeh.Span({ location: 1, dimension: "width", line_dash: "dashed", line_color: "#d62728" }));
    void Bokeh.Plotting.show(fig, host).then((v) => {
      this.profileView = v;
    });
  }

  destroy(): void {
    this.profileView?.remove();
  }
}
