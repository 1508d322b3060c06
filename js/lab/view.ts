/**
 * The kernel-less view of an HS3 workspace: problems (with their JSON paths), a summary,
 * a lazy collapsible tree and the graph view shared with the Explorer widget (js/graph).
 *
 * Plain DOM, no JupyterLab imports, so that it can be tested with happy-dom and reused.
 * Only the summary is built eagerly; the tree and the graph are built when their tab is
 * first opened, which keeps multi-megabyte workspaces responsive.
 */

import { buildGraphData, type GraphView, renderGraph } from "../graph";
import { LAB_CSS } from "./style";
import { type ISummary, summarize } from "./summary";
import { JsonTree } from "./tree";
import { formatProblem, type IProblem, isObject, type Json, type JsonObject, lineColumn, parse, validate } from "./validate";

/** rows of the parameter table rendered before a "show all" button */
export const PARAMETER_ROWS = 100;

export type TabName = "summary" | "tree" | "graph";

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls = "",
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) {
    e.className = cls;
  }
  e.append(...children);
  return e;
}

function table(header: string[], rows: (Node | string)[][], cls: string): HTMLTableElement {
  const t = h("table", `jp-HS3View-table ${cls}`);
  const head = h("tr", "", ...header.map(x => h("th", "", x)));
  t.appendChild(h("thead", "", head));
  const body = h("tbody");
  for (const row of rows) {
    body.appendChild(h("tr", "", ...row.map(x => h("td", "", x))));
  }
  t.appendChild(body);
  return t;
}

function fmt(x: number | null): string {
  if (x === null) {
    return "—";
  }
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(6)));
}

function ensureStyle(): void {
  if (document.getElementById("jp-HS3View-style") !== null) {
    return;
  }
  const style = document.createElement("style");
  style.id = "jp-HS3View-style";
  style.textContent = LAB_CSS;
  document.head.appendChild(style);
}

/** A few lines of `text` around `offset`, with a caret under the column. */
function excerpt(text: string, offset: number): string {
  const [line, col] = lineColumn(text, offset);
  const lines = text.split("\n", line + 1);
  const first = Math.max(0, line - 3);
  const out: string[] = [];
  for (let i = first; i < line && i < lines.length; i++) {
    const src = lines[i] ?? "";
    const shown = src.length > 160 ? `${src.slice(Math.max(0, col - 80), col + 80)}` : src;
    out.push(`${String(i + 1).padStart(6)} | ${shown}`);
  }
  const caretCol = (lines[line - 1] ?? "").length > 160 ? Math.min(col, 80) : col;
  out.push(`${" ".repeat(6)} | ${" ".repeat(Math.max(0, caretCol - 1))}^`);
  return out.join("\n");
}

export class HS3View {
  readonly node: HTMLDivElement;
  private doc: Json | undefined;
  private problems: IProblem[] = [];
  private tree: JsonTree | null = null;
  private graph: GraphView | null = null;
  private readonly panels = new Map<TabName, HTMLDivElement>();
  private readonly tabs = new Map<TabName, HTMLButtonElement>();
  private current: TabName = "summary";

  /** the tab shown now */
  get currentTab(): TabName {
    return this.current;
  }

  constructor() {
    ensureStyle();
    this.node = h("div", "jp-HS3View");
  }

  /** Show `source`: the text of a file, or an already parsed document (a kernel's display data). */
  render(source: unknown): void {
    this.dispose();
    this.node.replaceChildren();
    this.panels.clear();
    this.tabs.clear();
    this.tree = null;
    const parsed = parse(source);
    if (parsed.syntaxError !== undefined) {
      this.doc = undefined;
      this.problems = [];
      this.renderSyntaxError(parsed.syntaxError, typeof source === "string" ? source : "");
      return;
    }
    this.doc = parsed.doc;
    this.problems = validate(this.doc);
    if (this.problems.length > 0) {
      this.node.appendChild(this.renderProblems());
    }
    if (!isObject(this.doc)) {
      return;
    }
    const summary = summarize(this.doc);
    this.node.appendChild(this.renderHeader(summary));
    const bar = h("div", "jp-HS3View-tabs");
    bar.setAttribute("role", "tablist");
    for (const [name, label] of [
      ["summary", "Summary"],
      ["tree", "Tree"],
      ["graph", "Graph"]
    ] as [TabName, string][]) {
      const button = h("button", "jp-HS3View-tab", label);
      button.type = "button";
      button.setAttribute("role", "tab");
      button.dataset.tab = name;
      button.addEventListener("click", () => this.show(name));
      bar.appendChild(button);
      this.tabs.set(name, button);
      const panel = h("div", `jp-HS3View-panel jp-HS3View-${name}`);
      panel.setAttribute("role", "tabpanel");
      panel.hidden = true;
      this.panels.set(name, panel);
    }
    this.node.appendChild(bar);
    for (const panel of this.panels.values()) {
      this.node.appendChild(panel);
    }
    this.panels.get("summary")?.appendChild(this.renderSummary(summary));
    this.show(this.current);
  }

  /** Switch to a tab, building it on first use. */
  show(name: TabName): void {
    const panel = this.panels.get(name);
    if (panel === undefined || !isObject(this.doc)) {
      return;
    }
    this.current = name;
    for (const [n, p] of this.panels) {
      p.hidden = n !== name;
      this.tabs.get(n)?.classList.toggle("jp-mod-current", n === name);
      this.tabs.get(n)?.setAttribute("aria-selected", String(n === name));
    }
    if (name === "tree" && this.tree === null) {
      this.tree = new JsonTree(this.doc);
      panel.appendChild(this.tree.node);
    }
    if (name === "graph") {
      if (this.graph === null) {
        this.graph = this.renderGraphPanel(panel, this.doc);
      } else {
        this.graph.fit();
      }
    }
  }

  /** Open the tree at a JSON path (as far as it exists). */
  reveal(path: string): void {
    this.show("tree");
    this.tree?.reveal(path);
  }

  dispose(): void {
    this.graph?.destroy();
    this.graph = null;
  }

  private renderSyntaxError(message: string, text: string): void {
    const box = h("div", "jp-HS3View-problems jp-HS3View-syntax");
    box.appendChild(h("div", "jp-HS3View-problems-title", "This file is not valid JSON"));
    box.appendChild(h("div", "jp-HS3View-problem", message));
    const pos = /position (\d+)/.exec(message);
    if (pos !== null && text !== "") {
      box.appendChild(h("pre", "jp-HS3View-excerpt", excerpt(text, Number(pos[1]))));
    }
    this.node.appendChild(box);
  }

  /** Errors (red: not a valid workspace) and warnings (yellow: read anyway), each with a link to its path. */
  private renderProblems(): HTMLElement {
    const wrap = h("div", "jp-HS3View-problem-boxes");
    const errors = this.problems.filter(p => p.warning !== true);
    const warnings = this.problems.filter(p => p.warning === true);
    if (errors.length > 0) {
      const n = errors.length;
      wrap.appendChild(
        this.problemBox(errors, "jp-HS3View-problems", `${n} problem${n === 1 ? "" : "s"}: this is not a valid HS3 workspace`)
      );
    }
    if (warnings.length > 0) {
      const n = warnings.length;
      wrap.appendChild(this.problemBox(warnings, "jp-HS3View-warnings", `${n} warning${n === 1 ? "" : "s"}`));
    }
    return wrap;
  }

  private problemBox(problems: IProblem[], cls: string, title: string): HTMLElement {
    const box = h("div", cls);
    box.appendChild(h("div", "jp-HS3View-problems-title", title));
    const list = h("ul", "jp-HS3View-problem-list");
    for (const p of problems) {
      const item = h("li", "jp-HS3View-problem");
      item.dataset.path = p.path;
      const where = p.path === "" ? "<workspace>" : p.path;
      const link = h("a", "jp-HS3View-path", where);
      link.href = "#";
      link.title = "Show in the tree";
      link.addEventListener("click", ev => {
        ev.preventDefault();
        this.reveal(p.path);
      });
      item.append(link, formatProblem(p).slice(where.length));
      list.appendChild(item);
    }
    box.appendChild(list);
    return box;
  }

  private renderHeader(s: ISummary): HTMLElement {
    const head = h("div", "jp-HS3View-header");
    head.appendChild(h("span", "jp-HS3View-title", "HS3 workspace"));
    head.appendChild(h("span", "jp-HS3View-meta", s.version === "?" ? "no hs3_version" : `hs3_version ${s.version}`));
    if (s.packages.length > 0) {
      head.appendChild(h("span", "jp-HS3View-meta", `written by ${s.packages.join(", ")}`));
    }
    if (s.authors.length > 0) {
      head.appendChild(h("span", "jp-HS3View-meta", `authors: ${s.authors.join(", ")}`));
    }
    if (s.description !== "") {
      head.appendChild(h("div", "jp-HS3View-description", s.description));
    }
    return head;
  }

  private renderSummary(s: ISummary): HTMLElement {
    const box = h("div", "jp-HS3View-summary-body");
    box.appendChild(h("h3", "", "Contents"));
    box.appendChild(
      table(
        ["", "count", "types"],
        s.counts.map(c => [c.key, String(c.total), c.types.map(([t, n]) => (n > 1 ? `${t} ×${n}` : t)).join(", ")]),
        "jp-HS3View-counts"
      )
    );

    box.appendChild(h("h3", "", `Likelihoods (${s.likelihoods.length})`));
    if (s.likelihoods.length === 0) {
      box.appendChild(h("p", "jp-HS3View-none", "none"));
    } else {
      box.appendChild(
        table(
          ["name", "distribution ↔ data", "auxiliary distributions"],
          s.likelihoods.map(l => [
            this.pathLink(l.name, l.path),
            l.pairs.map(([d, x]) => `${d} ↔ ${x}`).join("\n"),
            l.aux.join(", ")
          ]),
          "jp-HS3View-likelihoods"
        )
      );
    }

    box.appendChild(h("h3", "", `Analyses (${s.analyses.length})`));
    if (s.analyses.length === 0) {
      box.appendChild(h("p", "jp-HS3View-none", "none"));
    } else {
      box.appendChild(
        table(
          ["name", "likelihood", "parameters of interest", "domains", "init"],
          s.analyses.map(a => [
            this.pathLink(a.name, a.path),
            a.likelihood,
            a.pois.join(", "),
            a.domains.join(", "),
            a.init
          ]),
          "jp-HS3View-analyses"
        )
      );
    }

    box.appendChild(h("h3", "", `Parameters and observables with a range or a value (${s.parameters.length})`));
    const wrap = h("div", "jp-HS3View-parameters-wrap");
    box.appendChild(wrap);
    const fill = (limit: number): void => {
      const rows = s.parameters.slice(0, limit).map(p => {
        const role = [p.poi ? "POI" : "", p.observable ? "observable" : ""].filter(x => x).join(", ");
        const ranges = p.ranges.map(([d, lo, hi]) => `[${fmt(lo)}, ${fmt(hi)}] (${d})`).join("\n");
        const values = p.values.map(([pt, v, c]) => `${fmt(v)}${c ? " const" : ""} (${pt})`).join("\n");
        return [p.name, role, ranges, values];
      });
      wrap.replaceChildren(
        table(["name", "role", "range (domain)", "value (parameter point)"], rows, "jp-HS3View-parameters")
      );
      if (s.parameters.length > limit) {
        const more = h("button", "jp-HS3View-more jp-mod-styled", `show all ${s.parameters.length}`);
        more.type = "button";
        more.addEventListener("click", () => fill(s.parameters.length));
        wrap.appendChild(more);
      }
    };
    fill(PARAMETER_ROWS);
    return box;
  }

  private pathLink(text: string, path: string): HTMLElement {
    const a = h("a", "jp-HS3View-path", text);
    a.href = "#";
    a.title = `${path}: show in the tree`;
    a.addEventListener("click", ev => {
      ev.preventDefault();
      this.reveal(path);
    });
    return a;
  }

  private renderGraphPanel(panel: HTMLElement, doc: JsonObject): GraphView | null {
    try {
      const data = buildGraphData(doc);
      return renderGraph(panel, data, { source: doc, height: "560px" });
    } catch (err) {
      panel.appendChild(
        h("div", "jp-HS3View-problems", `The graph cannot be drawn: ${err instanceof Error ? err.message : String(err)}`)
      );
      return null;
    }
  }
}
