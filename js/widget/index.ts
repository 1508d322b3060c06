/**
 * The Explorer anywidget front end: graph (js/graph), parameters, plot and fit panels, and an
 * error banner. Everything is drawn from the synced traits (model.ts); user actions either
 * write `params` (coalesced, params.ts) or send an action message.
 */
import { type GraphNode, type GraphView, type ParamRole as GraphRole, renderGraph } from "../graph";
import { fmt } from "./arrays";
import { FitPanel } from "./fit";
import { layoutRunner } from "./layout-worker";
import type { ExplorerModel, WidgetModel } from "./model";
import { ParamsPanel } from "./params";
import { PlotPanel } from "./plot";

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = "", text = ""): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

function graphRoles(model: WidgetModel): Record<string, GraphRole> {
  const out: Record<string, GraphRole> = {};
  for (const p of model.get("params") ?? []) out[p.name] = p.role;
  for (const ch of model.get("channels") ?? []) if (ch.observable) out[ch.observable] = "observable";
  return out;
}

export function renderExplorer(model: WidgetModel, host: HTMLElement): () => void {
  const root = el("div", "pyhs3-lab");
  // keys pressed in the widget (arrows on a slider, Enter in the search box) are the widget's,
  // not JupyterLab's notebook shortcuts
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  // ...and the notebook's own key handling (which cancels arrow keys) does not see them either
  const keepKeys = (ev: KeyboardEvent): void => {
    const t = ev.target as Element | null;
    if (t?.closest?.("input, select, textarea, button, .hs3g-node")) ev.stopPropagation();
  };
  root.addEventListener("keydown", keepKeys);
  host.appendChild(root);

  const banner = el("div", "pl-error");
  banner.setAttribute("role", "alert");
  const bannerText = el("pre", "pl-error-text");
  const dismiss = el("button", "pl-btn pl-error-close", "×");
  dismiss.type = "button";
  dismiss.setAttribute("aria-label", "Dismiss the error");
  dismiss.addEventListener("click", () => model.send({ kind: "clear-error" }));
  banner.append(bannerText, dismiss);

  const graphBox = el("section", "pl-panel pl-graph");
  graphBox.setAttribute("aria-label", "Graph");
  const graphHead = el("div", "pl-panel-head");
  graphHead.append(el("h3", "", "Graph"));
  const graphHost = el("div", "pl-graph-host");
  graphBox.append(graphHead, graphHost);

  const params = new ParamsPanel(model);
  const plot = new PlotPanel(model);
  const fit = new FitPanel(model);

  const middle = el("div", "pl-middle");
  middle.append(plot.element, params.element);
  root.append(banner, graphBox, middle, fit.element);

  // -- graph --
  let graphView: GraphView | null = null;
  const runner = layoutRunner();
  const paramOf = (id: string) => (model.get("params") ?? []).find((p) => p.name === id);
  const drawGraph = (): void => {
    const g = model.get("graph");
    graphView?.destroy();
    graphView = null;
    if (!g || !Array.isArray(g.nodes)) {
      graphHost.textContent = "No graph (the workspace did not load).";
      return;
    }
    graphHost.replaceChildren();
    graphView = renderGraph(graphHost, { nodes: g.nodes, edges: g.edges }, {
      roles: graphRoles(model),
      height: "360px",
      ...(runner ? { layoutRunner: runner } : {}),
      describe: (node: GraphNode) => {
        const p = paramOf(node.id);
        if (p) return p;
        const ins = model.get("inspected") ?? {};
        if (ins.name === node.id && ins.json !== undefined && ins.json !== null) return ins.json;
        return { id: node.id, kind: node.kind, type: node.type, path: node.path };
      },
      valueText: (id: string) => {
        const p = paramOf(id);
        if (p && p.value !== null) return fmt(p.value, 8);
        const ins = model.get("inspected") ?? {};
        return ins.name === id ? (ins.text ?? undefined) : undefined;
      },
      onSelect: (node: GraphNode) => {
        model.send({ kind: "inspect", name: node.id });
        if (node.kind === "distribution" || node.kind === "likelihood") {
          if (node.id !== model.get("selected")) model.send({ kind: "select", name: node.id });
        }
      },
    });
    const sel = model.get("selected");
    if (sel) root.dataset.selected = sel;
  };
  drawGraph();

  // -- latency: slider input -> new curves painted --
  let lastInput = 0;
  plot.onPainted = () => {
    const t0 = params.sender.inputAt;
    if (t0 > lastInput) {
      lastInput = t0;
      const ms = performance.now() - t0;
      root.dataset.latencyMs = ms.toFixed(1);
      root.dataset.latencyCount = String(Number(root.dataset.latencyCount ?? "0") + 1);
    }
  };

  const showError = (): void => {
    const msg = model.get("error") ?? "";
    bannerText.textContent = msg;
    banner.hidden = msg === "";
  };
  showError();

  const on = (event: string, cb: () => void): void => {
    const wrapped = (): void => {
      try {
        cb();
      } catch (err) {
        // a drawing error is shown, not swallowed
        bannerText.textContent = `Front-end error (${event}): ${String(err)}`;
        banner.hidden = false;
      }
    };
    model.on(event, wrapped);
    handlers.push([event, wrapped]);
  };
  const handlers: [string, () => void][] = [];
  on("change:error", showError);
  on("change:graph", drawGraph);
  on("change:params", () => {
    params.update();
    graphView?.refreshDetails();
  });
  // the round-trip state, visible in the DOM (tests and debugging read it)
  const syncState = (): void => {
    root.dataset.revision = String(model.get("revision") ?? 0);
    root.dataset.ack = String(model.get("ack") ?? 0);
    root.dataset.inFlight = String(params.sender.busy);
  };
  params.onInput = syncState;
  on("change:inspected", () => graphView?.refreshDetails());
  on("change:ack", () => {
    params.sender.acknowledged(model.get("ack") ?? 0);
    syncState();
  });
  on("change:curves", () => {
    // the answer to the input in flight has arrived: the part of the latency that is not painting
    if (params.sender.inputAt > 0) root.dataset.answerMs = (performance.now() - params.sender.inputAt).toFixed(1);
    plot.update();
    fit.updateStatus();
  });
  on("change:selected", () => {
    root.dataset.selected = model.get("selected") ?? "";
    plot.updateTabs();
  });
  on("change:channels", () => {
    plot.updateTabs();
    fit.update();
  });
  for (const k of ["fit_status", "fit_result", "profile", "busy", "progress"] as (keyof ExplorerModel)[]) {
    on(`change:${k}`, () => fit.update());
  }
  on("change:busy", () => root.classList.toggle("pl-busy", model.get("busy") === true));

  return () => {
    root.removeEventListener("keydown", keepKeys);
    for (const [event, cb] of handlers) model.off(event, cb);
    graphView?.destroy();
    runner?.terminate();
    plot.destroy();
    fit.destroy();
    root.remove();
  };
}

export default {
  render({ model, el: host }: { model: WidgetModel; el: HTMLElement }): () => void {
    return renderExplorer(model, host);
  },
};
