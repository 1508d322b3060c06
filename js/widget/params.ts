/**
 * Parameters panel: per parameter a slider over its range, a numeric box, editable min/max and
 * a fix toggle; POIs first, then nuisance parameters and constants; global observables hidden
 * unless asked for; a filter box and Reset.
 *
 * Slider updates are coalesced: while one update is in flight (Python has not acknowledged its
 * `revision` yet), only the latest value is kept, and it is sent when the answer arrives.
 */
import { exact, fmt } from "./arrays";
import type { Param, WidgetModel } from "./model";

/** How long to wait for an acknowledgement before sending again (a dead kernel never answers). */
export const ACK_TIMEOUT_MS = 5000;

export class ParamSender {
  private inFlight = false;
  private pending: Param[] | null = null;
  private sentAt = 0;
  /** time of the user input that the value in flight answers (for latency measurement) */
  inputAt = 0;
  sends = 0;

  constructor(
    private readonly model: WidgetModel,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Send these params now, or keep them as the latest if an update is in flight. */
  send(params: Param[]): void {
    if (this.inFlight && this.now() - this.sentAt < ACK_TIMEOUT_MS) {
      this.pending = params;
      return;
    }
    this.push(params);
  }

  private push(params: Param[]): void {
    const rev = (this.model.get("revision") ?? 0) + 1;
    this.model.set("params", params);
    this.model.set("revision", rev);
    this.model.save_changes();
    this.inFlight = true;
    this.sentAt = this.now();
    this.sends += 1;
  }

  /** Python acknowledged `ack`; send the latest pending params if any. */
  acknowledged(ack: number): void {
    if (ack < (this.model.get("revision") ?? 0)) return; // an older answer
    this.inFlight = false;
    if (this.pending !== null) {
      const p = this.pending;
      this.pending = null;
      this.push(p);
    }
  }

  get busy(): boolean {
    return this.inFlight;
  }
}

interface Row {
  el: HTMLElement;
  slider: HTMLInputElement;
  value: HTMLInputElement;
  min: HTMLInputElement;
  max: HTMLInputElement;
  fix: HTMLInputElement;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = "", text = ""): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

/** The slider range: the limits, or around the value where a limit is missing. */
export function sliderRange(p: Param): [number, number] {
  const v = p.value ?? 0;
  const span = Math.max(Math.abs(v), 1);
  let lo = p.min ?? (p.max !== null ? Math.min(v, p.max) - span : v - span);
  let hi = p.max ?? (p.min !== null ? Math.max(v, p.min) + span : v + span);
  if (!(hi > lo)) {
    lo = v - 1;
    hi = v + 1;
  }
  return [lo, hi];
}

const ROLE_TITLE: Record<string, string> = {
  poi: "Parameters of interest",
  nuisance: "Nuisance parameters",
  constant: "Constants",
  global_observable: "Global observables",
};

export class ParamsPanel {
  readonly element: HTMLElement;
  readonly sender: ParamSender;
  private rows = new Map<string, Row>();
  private list: HTMLElement;
  private filter: HTMLInputElement;
  private showGlobals: HTMLInputElement;
  private local: Param[] = [];
  private structureKey = "";
  private shown = new Map<string, string>();
  onInput: (() => void) | null = null;

  constructor(private readonly model: WidgetModel) {
    this.sender = new ParamSender(model);
    this.element = el("section", "pl-panel pl-params");
    this.element.setAttribute("aria-label", "Parameters");
    const head = el("div", "pl-panel-head");
    head.append(el("h3", "", "Parameters"));
    this.filter = el("input", "pl-filter");
    this.filter.type = "search";
    this.filter.placeholder = "Filter…";
    this.filter.setAttribute("aria-label", "Filter parameters");
    const globals = el("label", "pl-check");
    this.showGlobals = el("input");
    this.showGlobals.type = "checkbox";
    globals.append(this.showGlobals, document.createTextNode(" global observables"));
    const reset = el("button", "pl-btn", "Reset");
    reset.type = "button";
    reset.title = "Restore the initial values, limits and fixed flags";
    reset.addEventListener("click", () => model.send({ kind: "reset" }));
    head.append(this.filter, globals, reset);
    this.list = el("div", "pl-param-list");
    this.element.append(head, this.list);
    this.filter.addEventListener("input", () => this.applyFilter());
    this.showGlobals.addEventListener("change", () => this.applyFilter());
    this.update();
  }

  /** Redraw from the params trait (rows are rebuilt only when the set of parameters changes). */
  update(): void {
    const params = this.model.get("params") ?? [];
    this.local = params.map((p) => ({ ...p }));
    const key = params.map((p) => `${p.name}:${p.role}`).join("|");
    if (key !== this.structureKey) {
      this.structureKey = key;
      this.build(params);
      this.shown.clear();
      this.applyFilter();
    }
    // only rows whose parameter changed are touched (thousands of rows stay cheap)
    for (const p of params) {
      const sig = `${p.value}|${p.min}|${p.max}|${p.fixed}|${p.const}`;
      if (this.shown.get(p.name) === sig) continue;
      this.shown.set(p.name, sig);
      this.fill(p);
    }
  }

  private build(params: Param[]): void {
    this.list.replaceChildren();
    this.rows.clear();
    let role = "";
    for (const p of params) {
      if (p.role !== role) {
        role = p.role;
        const h = el("div", `pl-group pl-group-${role}`, ROLE_TITLE[role] ?? role);
        h.dataset.role = role;
        this.list.append(h);
      }
      this.list.append(this.row(p));
    }
  }

  private row(p: Param): HTMLElement {
    const r = el("div", `pl-row pl-role-${p.role}`);
    r.dataset.name = p.name;
    r.dataset.role = p.role;
    const name = el("span", "pl-name", p.name);
    name.title = p.name;
    const min = el("input", "pl-limit pl-min");
    min.type = "text";
    min.inputMode = "decimal";
    min.setAttribute("aria-label", `${p.name} minimum`);
    const slider = el("input", "pl-slider");
    slider.type = "range";
    slider.setAttribute("aria-label", p.name);
    const max = el("input", "pl-limit pl-max");
    max.type = "text";
    max.inputMode = "decimal";
    max.setAttribute("aria-label", `${p.name} maximum`);
    const value = el("input", "pl-value");
    value.type = "text";
    value.inputMode = "decimal";
    value.setAttribute("aria-label", `${p.name} value`);
    const fixLabel = el("label", "pl-fix");
    const fix = el("input");
    fix.type = "checkbox";
    fix.setAttribute("aria-label", `fix ${p.name}`);
    fixLabel.append(fix, document.createTextNode(" fix"));
    fixLabel.title = p.const ? "a constant of the workspace: always fixed in fits" : "hold fixed in fits";
    r.append(name, min, slider, max, value, fixLabel);

    slider.addEventListener("input", () => {
      this.sender.inputAt = performance.now();
      this.change(p.name, { value: Number(slider.value) });
      value.value = fmt(Number(slider.value), 8);
    });
    value.addEventListener("change", () => {
      const v = Number(value.value);
      if (value.value.trim() === "" || !Number.isFinite(v)) {
        this.markInvalid(value, "not a number");
        return;
      }
      this.markInvalid(value, null);
      this.sender.inputAt = performance.now();
      this.change(p.name, { value: v });
    });
    const limit = (box: HTMLInputElement, key: "min" | "max") => () => {
      const t = box.value.trim();
      const v = t === "" ? null : Number(t);
      if (v !== null && !Number.isFinite(v)) {
        this.markInvalid(box, "not a number");
        return;
      }
      const cur = this.local.find((q) => q.name === p.name);
      const other = key === "min" ? cur?.max : cur?.min;
      if (v !== null && other !== null && other !== undefined && (key === "min" ? v >= other : v <= other)) {
        this.markInvalid(box, key === "min" ? "min must be below max" : "max must be above min");
        return;
      }
      this.markInvalid(box, null);
      this.change(p.name, { [key]: v });
    };
    min.addEventListener("change", limit(min, "min"));
    max.addEventListener("change", limit(max, "max"));
    fix.addEventListener("change", () => this.change(p.name, { fixed: fix.checked }));
    this.rows.set(p.name, { el: r, slider, value, min, max, fix });
    return r;
  }

  private markInvalid(box: HTMLInputElement, why: string | null): void {
    box.classList.toggle("pl-invalid", why !== null);
    box.title = why ?? "";
  }

  private fill(p: Param): void {
    const r = this.rows.get(p.name);
    if (r === undefined) return;
    const [lo, hi] = sliderRange(p);
    r.slider.min = String(lo);
    r.slider.max = String(hi);
    r.slider.step = String((hi - lo) / 1000);
    const focused = typeof document !== "undefined" ? document.activeElement : null;
    if (p.value !== null && focused !== r.slider) r.slider.value = String(p.value);
    if (focused !== r.value) r.value.value = p.value === null ? "" : fmt(p.value, 8);
    if (focused !== r.min) r.min.value = exact(p.min);
    if (focused !== r.max) r.max.value = exact(p.max);
    r.min.placeholder = "−∞";
    r.max.placeholder = "+∞";
    r.fix.checked = p.fixed || p.const;
    r.fix.disabled = p.const;
    r.slider.disabled = p.value === null;
    r.el.classList.toggle("pl-fixed", p.fixed || p.const);
  }

  private change(name: string, patch: Partial<Param>): void {
    this.local = this.local.map((q) => (q.name === name ? { ...q, ...patch } : q));
    const p = this.local.find((q) => q.name === name);
    if (p !== undefined && (patch.min !== undefined || patch.max !== undefined)) {
      this.fill(p);
      this.shown.set(p.name, `${p.value}|${p.min}|${p.max}|${p.fixed}|${p.const}`);
    }
    this.sender.send(this.local.map((q) => ({ ...q })));
    this.onInput?.();
  }

  private applyFilter(): void {
    const q = this.filter.value.trim().toLowerCase();
    const showGlobals = this.showGlobals.checked;
    const visibleRoles = new Set<string>();
    for (const [name, r] of this.rows) {
      const role = r.el.dataset.role ?? "";
      const show = (showGlobals || role !== "global_observable") && (q === "" || name.toLowerCase().includes(q));
      r.el.hidden = !show;
      if (show) visibleRoles.add(role);
    }
    for (const h of this.list.querySelectorAll<HTMLElement>(".pl-group")) {
      h.hidden = !visibleRoles.has(h.dataset.role ?? "");
    }
  }
}
