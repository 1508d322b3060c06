/** Styles of the graph view, injected with the view so that every host (widget, lab viewer) gets them. */
export const GRAPH_CSS = `
.hs3g { font-family: var(--jp-ui-font-family, system-ui, sans-serif); font-size: 12px;
  color: var(--jp-ui-font-color1, #222); }
.hs3g-toolbar { display: flex; gap: 6px; align-items: center; padding: 4px 0; flex-wrap: wrap; }
.hs3g-search { flex: 0 1 220px; padding: 2px 6px; font: inherit; }
.hs3g-btn { font: inherit; padding: 2px 8px; cursor: pointer; }
.hs3g-info { color: var(--jp-ui-font-color2, #666); margin-left: auto; }
.hs3g-main { display: flex; gap: 8px; align-items: stretch; }
.hs3g-canvas { flex: 1 1 auto; min-width: 0; border: 1px solid var(--jp-border-color2, #ddd);
  border-radius: 4px; overflow: hidden; background: var(--jp-layout-color0, #fff); }
.hs3g-svg { width: 100%; height: 100%; display: block; cursor: grab; touch-action: none; user-select: none; }
.hs3g-details { flex: 0 0 260px; max-height: 100%; overflow: auto; border: 1px solid var(--jp-border-color2, #ddd);
  border-radius: 4px; padding: 6px; background: var(--jp-layout-color1, #fafafa); }
.hs3g-title { font-weight: 600; word-break: break-all; }
.hs3g-sub { color: var(--jp-ui-font-color2, #666); margin: 2px 0 4px; word-break: break-all; }
.hs3g-value { font-family: var(--jp-code-font-family, monospace); margin-bottom: 4px; }
.hs3g-json { font-family: var(--jp-code-font-family, monospace); font-size: 11px; white-space: pre-wrap;
  word-break: break-all; margin: 0; }
.hs3g-hint { color: var(--jp-ui-font-color2, #666); }
.hs3g-edge { fill: none; stroke: #9aa3ad; stroke-width: 1.1; }
.hs3g-arrowhead { fill: #9aa3ad; }
.hs3g-node { cursor: pointer; }
.hs3g-node rect { stroke-width: 1.2; }
.hs3g-node text { font-size: 11px; pointer-events: none; fill: #1b1b1b; }
.hs3g-kind-likelihood rect { fill: #e6dcf5; stroke: #6a3d9a; stroke-width: 1.8; }
.hs3g-kind-analysis rect { fill: #eeeeee; stroke: #444; stroke-width: 1.8; }
.hs3g-kind-distribution rect { fill: #dbe9f7; stroke: #1f77b4; }
.hs3g-kind-function rect { fill: #dff2df; stroke: #2ca02c; }
.hs3g-kind-parameter rect { fill: #fff0de; stroke: #ff7f0e; }
.hs3g-kind-data rect { fill: #efe3dd; stroke: #8c564b; }
.hs3g-kind-group rect { fill: #f4f4f4; stroke: #777; stroke-dasharray: 4 2; }
.hs3g-node.hs3g-match rect { stroke: #d62728; stroke-width: 2.5; }
.hs3g-node.hs3g-selected rect { stroke: #000; stroke-width: 2.8; }
.hs3g-node:focus { outline: none; }
.hs3g-node:focus rect { stroke-width: 2.6; }
`;
