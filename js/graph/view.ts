/**
 * The graph view: an SVG drawing of the workspace (likelihoods -> distributions -> functions ->
 * parameters/data, top-down), styled by kind, with pan (drag), zoom (wheel), search, aggregates
 * that expand on click, and a details pane with the clicked node's JSON and current value.
 *
 * Used by the Explorer widget (js/widget) and by the kernel-less JupyterLab viewer.
 */

import { type VisibleGraph, type VisibleNode, collapseGraph } from "./collapse";
import { describeParameter, resolvePath } from "./from-hs3";
import { type Layout, type LayoutRunner, NODE_HEIGHT, displayLabel, layoutGraph } from "./layout";
import { GRAPH_CSS } from "./style";
import type { GraphData, GraphNode, ParamRole } from "./types";

const SVG_NS = "http://www.w3.org/2000/svg";
/** the smallest zoom "Fit" uses: labels stay legible */
const MIN_FIT_ZOOM = 0.55;

export interface GraphViewOptions {
  /** the raw HS3 document; used to show a node's JSON when `describe` is not given */
  source?: unknown;
  /** JSON to show for a node (overrides `source`) */
  describe?: (node: GraphNode) => unknown;
  /** current value of a node, shown in the details pane (e.g. from the kernel) */
  valueText?: (id: string) => string | undefined;
  /** parameter roles, used to group parameters ("37 nuisance parameters") */
  roles?: Record<string, ParamRole>;
  /** called when the user clicks a (non-aggregate) node */
  onSelect?: (node: GraphNode) => void;
  /** fold parameters/functions into aggregates when the graph has more nodes than this (default 60) */
  collapseAbove?: number;
  /** smallest group that is folded (default 4) */
  minGroup?: number;
  /** CSS height of the drawing area (default "420px") */
  height?: string;
  /** lays out large graphs off the main thread (e.g. `workerLayout(() => new Worker(...))`) */
  layoutRunner?: LayoutRunner;
  /** use `layoutRunner` when more nodes than this are drawn (default 120) */
  workerAbove?: number;
}

export interface GraphView {
  readonly element: HTMLElement;
  /** replace the graph (keeps expanded groups and the selection where possible) */
  update(graph: GraphData, roles?: Record<string, ParamRole>): void;
  /** select a node by id (expands its group if folded); null clears */
  select(id: string | null): void;
  /** the selected node id */
  selected(): string | null;
  /** re-render the details pane (e.g. after values changed) */
  refreshDetails(): void;
  /** ids of the nodes currently drawn (aggregates as `group:...`) */
  visibleIds(): string[];
  /** expand an aggregate by its id (`group:...`) */
  expand(groupId: string): void;
  /** scale and centre the drawing to fit the view */
  fit(): void;
  destroy(): void;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

function h<K extends keyof HTMLElementTagNameMap>(tag: K, cls = "", text = ""): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

function safeJson(v: unknown): string {
  try {
    const s = JSON.stringify(v, null, 2);
    return s === undefined ? String(v) : s;
  } catch (err) {
    return `(cannot show: ${String(err)})`;
  }
}

export function renderGraph(el: HTMLElement, graph: GraphData, opts: GraphViewOptions = {}): GraphView {
  const root = h("div", "hs3g");
  const style = h("style");
  style.textContent = GRAPH_CSS;
  root.appendChild(style);

  const toolbar = h("div", "hs3g-toolbar");
  const search = h("input", "hs3g-search");
  search.type = "search";
  search.placeholder = "Search nodes…";
  search.setAttribute("aria-label", "Search graph nodes");
  const fitBtn = h("button", "hs3g-btn", "Fit");
  fitBtn.type = "button";
  const expandBtn = h("button", "hs3g-btn", "Expand all");
  expandBtn.type = "button";
  const collapseBtn = h("button", "hs3g-btn", "Collapse");
  collapseBtn.type = "button";
  const info = h("span", "hs3g-info");
  toolbar.append(search, fitBtn, expandBtn, collapseBtn, info);

  const main = h("div", "hs3g-main");
  const canvas = h("div", "hs3g-canvas");
  canvas.style.height = opts.height ?? "420px";
  const svgEl = svg("svg", { class: "hs3g-svg", role: "img", "aria-label": "Workspace graph" });
  const defs = svg("defs");
  const marker = svg("marker", {
    id: "hs3g-arrow",
    viewBox: "0 0 10 10",
    refX: 9,
    refY: 5,
    markerWidth: 7,
    markerHeight: 7,
    orient: "auto-start-reverse",
  });
  marker.appendChild(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "hs3g-arrowhead" }));
  defs.appendChild(marker);
  const viewport = svg("g", { class: "hs3g-viewport" });
  svgEl.append(defs, viewport);
  canvas.appendChild(svgEl);
  const details = h("div", "hs3g-details");
  details.setAttribute("aria-live", "polite");
  main.append(canvas, details);
  root.append(toolbar, main);
  el.appendChild(root);

  let data = graph;
  let roles = opts.roles;
  const expanded = new Set<string>();
  let forceCollapsedAbove: number | null = null;
  let visible: VisibleGraph = { nodes: [], edges: [], shownAs: new Map() };
  let layout: Layout = { nodes: new Map(), edges: [], width: 0, height: 0 };
  let selectedId: string | null = null;
  let transform = { k: 1, x: 0, y: 0 };
  const nodeEls = new Map<string, SVGGElement>();
  const byId = new Map<string, GraphNode>();

  const applyTransform = (): void => {
    viewport.setAttribute("transform", `translate(${transform.x},${transform.y}) scale(${transform.k})`);
  };

  const fit = (): void => {
    const w = canvas.clientWidth || 600;
    const hgt = canvas.clientHeight || 420;
    if (layout.width <= 0 || layout.height <= 0) return;
    // never smaller than readable: a wide graph shows its top centre, the rest is a pan away
    const k = Math.min(1.5, Math.max(MIN_FIT_ZOOM, Math.min(w / layout.width, hgt / layout.height) * 0.95));
    transform = { k, x: (w - layout.width * k) / 2, y: Math.max(4, (hgt - layout.height * k) / 2) };
    applyTransform();
  };

  const collapseAbove = (): number => forceCollapsedAbove ?? opts.collapseAbove ?? 60;

  let drawSeq = 0;
  const draw = (): void => {
    byId.clear();
    for (const n of data.nodes) byId.set(n.id, n);
    visible = collapseGraph(data, {
      collapseAbove: collapseAbove(),
      minGroup: opts.minGroup ?? 4,
      roles,
      expanded,
    });
    const seq = ++drawSeq;
    const runner = opts.layoutRunner;
    if (runner !== undefined && visible.nodes.length > (opts.workerAbove ?? 120)) {
      info.textContent = `laying out ${visible.nodes.length} nodes…`;
      root.dataset.layout = "pending";
      const shown = visible;
      runner(shown)
        .then((l) => {
          if (seq !== drawSeq) return;
          layout = l;
          paint("worker");
        })
        .catch((err: unknown) => {
          if (seq !== drawSeq) return;
          layout = layoutGraph(shown);
          paint("main");
          info.textContent += ` (the layout worker failed: ${String(err)})`;
        });
      return;
    }
    layout = layoutGraph(visible);
    paint("main");
  };

  const paint = (where: "main" | "worker"): void => {
    root.dataset.layout = where;
    viewport.replaceChildren();
    nodeEls.clear();
    const edgeLayer = svg("g", { class: "hs3g-edges" });
    const nodeLayer = svg("g", { class: "hs3g-nodes" });
    viewport.append(edgeLayer, nodeLayer);
    for (const e of layout.edges) {
      if (e.points.length === 0) continue;
      const d = e.points.map((p, i) => `${i === 0 ? "M" : "L"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
      const path = svg("path", { d, class: "hs3g-edge", "marker-end": "url(#hs3g-arrow)" });
      path.dataset.source = e.source;
      path.dataset.target = e.target;
      edgeLayer.appendChild(path);
    }
    for (const vn of visible.nodes) {
      const p = layout.nodes.get(vn.id);
      if (p === undefined) continue;
      const g = svg("g", {
        class: `hs3g-node hs3g-kind-${vn.kind}`,
        transform: `translate(${(p.x - p.width / 2).toFixed(1)},${(p.y - p.height / 2).toFixed(1)})`,
        tabindex: 0,
        role: "button",
      });
      g.dataset.id = vn.id;
      const rx = vn.kind === "parameter" ? NODE_HEIGHT / 2 : vn.kind === "function" ? 2 : 7;
      g.appendChild(svg("rect", { width: p.width, height: p.height, rx, ry: rx }));
      const text = svg("text", { x: p.width / 2, y: p.height / 2 + 4, "text-anchor": "middle" });
      text.textContent = displayLabel(vn.label);
      g.appendChild(text);
      const title = svg("title");
      title.textContent = vn.node ? `${vn.node.id}\n${vn.node.kind}: ${vn.node.type}` : `${vn.label} (click to expand)`;
      g.appendChild(title);
      g.addEventListener("click", (ev) => {
        ev.stopPropagation();
        onNodeClick(vn);
      });
      g.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") {
          ev.preventDefault();
          onNodeClick(vn);
        }
      });
      nodeLayer.appendChild(g);
      nodeEls.set(vn.id, g);
    }
    const folded = visible.nodes.filter((n) => n.kind === "group").length;
    info.textContent = `${data.nodes.length} nodes, ${data.edges.length} edges${folded ? `, ${folded} folded groups` : ""}`;
    highlight();
    fit();
  };

  const highlight = (): void => {
    const q = search.value.trim().toLowerCase();
    for (const [id, g] of nodeEls) {
      const vn = visible.nodes.find((n) => n.id === id);
      const match = q !== "" && vn !== undefined && (vn.label.toLowerCase().includes(q) ||
        (vn.members ?? []).some((m) => m.toLowerCase().includes(q)));
      g.classList.toggle("hs3g-match", match);
      const shown = selectedId !== null ? visible.shownAs.get(selectedId) : undefined;
      g.classList.toggle("hs3g-selected", shown === id);
    }
  };

  const showDetails = (): void => {
    details.replaceChildren();
    if (selectedId === null) {
      details.appendChild(h("div", "hs3g-hint", "Click a node to see its JSON and value."));
      return;
    }
    const node = byId.get(selectedId);
    if (node === undefined) {
      details.appendChild(h("div", "hs3g-hint", `${selectedId} is not in the graph`));
      return;
    }
    details.appendChild(h("div", "hs3g-title", node.id));
    details.appendChild(h("div", "hs3g-sub", `${node.kind} · ${node.type} · ${node.path}`));
    const value = opts.valueText?.(node.id);
    if (value !== undefined) details.appendChild(h("div", "hs3g-value", `value: ${value}`));
    let json: unknown;
    if (opts.describe) json = opts.describe(node);
    else if (opts.source !== undefined) {
      json = node.kind === "parameter" ? describeParameter(opts.source, node.id) : resolvePath(opts.source, node.path);
    }
    if (json !== undefined) details.appendChild(h("pre", "hs3g-json", safeJson(json)));
  };

  const onNodeClick = (vn: VisibleNode): void => {
    if (vn.kind === "group") {
      expanded.add(vn.id.slice("group:".length));
      draw();
      return;
    }
    if (vn.node === undefined) return;
    selectedId = vn.node.id;
    highlight();
    showDetails();
    opts.onSelect?.(vn.node);
  };

  // -- pan and zoom --
  let drag: { x: number; y: number; tx: number; ty: number } | null = null;
  const onDown = (ev: PointerEvent): void => {
    if ((ev.target as Element).closest?.(".hs3g-node")) return;
    drag = { x: ev.clientX, y: ev.clientY, tx: transform.x, ty: transform.y };
    svgEl.setPointerCapture?.(ev.pointerId);
  };
  const onMove = (ev: PointerEvent): void => {
    if (drag === null) return;
    transform = { ...transform, x: drag.tx + ev.clientX - drag.x, y: drag.ty + ev.clientY - drag.y };
    applyTransform();
  };
  const onUp = (): void => {
    drag = null;
  };
  const onWheel = (ev: WheelEvent): void => {
    ev.preventDefault();
    const rect = svgEl.getBoundingClientRect();
    const px = ev.clientX - rect.left;
    const py = ev.clientY - rect.top;
    const factor = Math.exp(-ev.deltaY * 0.0015);
    const k = Math.min(4, Math.max(0.03, transform.k * factor));
    const ratio = k / transform.k;
    transform = { k, x: px - (px - transform.x) * ratio, y: py - (py - transform.y) * ratio };
    applyTransform();
  };
  svgEl.addEventListener("pointerdown", onDown);
  svgEl.addEventListener("pointermove", onMove);
  svgEl.addEventListener("pointerup", onUp);
  svgEl.addEventListener("pointercancel", onUp);
  svgEl.addEventListener("wheel", onWheel, { passive: false });

  search.addEventListener("input", highlight);
  search.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter") return;
    const q = search.value.trim().toLowerCase();
    if (!q) return;
    const hit = data.nodes.find((n) => n.id.toLowerCase().includes(q));
    if (hit) view.select(hit.id);
  });
  fitBtn.addEventListener("click", fit);
  expandBtn.addEventListener("click", () => {
    forceCollapsedAbove = Number.POSITIVE_INFINITY;
    draw();
  });
  collapseBtn.addEventListener("click", () => {
    forceCollapsedAbove = 0;
    expanded.clear();
    draw();
  });

  const view: GraphView = {
    element: root,
    update(g, r) {
      data = g;
      if (r !== undefined) roles = r;
      draw();
      showDetails();
    },
    select(id) {
      selectedId = id;
      if (id !== null) {
        const node = byId.get(id);
        const shown = visible.shownAs.get(id);
        if (shown !== undefined && shown !== id && shown.startsWith("group:")) {
          expanded.add(shown.slice("group:".length));
          draw();
        }
        const p = layout.nodes.get(id);
        if (p !== undefined) {
          const w = canvas.clientWidth || 600;
          const hgt = canvas.clientHeight || 420;
          transform = { ...transform, x: w / 2 - p.x * transform.k, y: hgt / 2 - p.y * transform.k };
          applyTransform();
        }
        if (node) opts.onSelect?.(node);
      }
      highlight();
      showDetails();
    },
    selected: () => selectedId,
    refreshDetails: showDetails,
    visibleIds: () => visible.nodes.map((n) => n.id),
    expand(groupId) {
      expanded.add(groupId.replace(/^group:/, ""));
      draw();
    },
    fit,
    destroy() {
      svgEl.removeEventListener("pointerdown", onDown);
      svgEl.removeEventListener("pointermove", onMove);
      svgEl.removeEventListener("pointerup", onUp);
      svgEl.removeEventListener("pointercancel", onUp);
      svgEl.removeEventListener("wheel", onWheel);
      root.remove();
    },
  };

  draw();
  showDetails();
  // the element may get its size only after it is attached; fit once it has one
  if (typeof ResizeObserver !== "undefined") {
    let fitted = false;
    const ro = new ResizeObserver(() => {
      if (!fitted && canvas.clientWidth > 0) {
        fitted = true;
        fit();
        ro.disconnect();
      }
    });
    ro.observe(canvas);
  }
  return view;
}
