/** Styles of the kernel-less HS3 viewer (JupyterLab theme variables, so light and dark themes work). */
export const LAB_CSS = `
.jp-HS3View { padding: 8px 12px; overflow: auto; height: 100%; box-sizing: border-box;
  font-family: var(--jp-ui-font-family); font-size: var(--jp-ui-font-size1, 13px);
  color: var(--jp-ui-font-color1); background: var(--jp-layout-color0); }
.jp-HS3View-header { display: flex; flex-wrap: wrap; gap: 4px 14px; align-items: baseline; margin-bottom: 8px; }
.jp-HS3View-title { font-size: var(--jp-ui-font-size3, 16px); font-weight: 600; }
.jp-HS3View-meta { color: var(--jp-ui-font-color2); }
.jp-HS3View-description { flex-basis: 100%; color: var(--jp-ui-font-color1); }
.jp-HS3View-problems { border: 1px solid var(--jp-error-color1, #d32f2f); border-radius: 4px; padding: 6px 10px;
  margin-bottom: 10px; background: var(--jp-error-color3, #fdecea); color: var(--jp-ui-font-color0); }
.jp-HS3View-warnings { border: 1px solid var(--jp-warn-color1, #f0ad4e); border-radius: 4px; padding: 6px 10px;
  margin-bottom: 10px; background: var(--jp-warn-color3, #fff3cd); color: var(--jp-ui-font-color0); }
.jp-HS3View-warnings .jp-HS3View-problems-title { color: var(--jp-warn-color0, #8a6d3b); }
.jp-HS3View-problems-title { font-weight: 600; color: var(--jp-error-color1, #d32f2f); margin-bottom: 4px; }
.jp-HS3View-problem-list { margin: 0; padding-left: 18px; max-height: 240px; overflow: auto; }
.jp-HS3View-problem { font-family: var(--jp-code-font-family); font-size: var(--jp-code-font-size, 12px); }
.jp-HS3View-excerpt { font-family: var(--jp-code-font-family); font-size: var(--jp-code-font-size, 12px);
  background: var(--jp-layout-color1); padding: 4px; overflow: auto; }
.jp-HS3View-path { color: var(--jp-content-link-color, #1976d2); text-decoration: none; cursor: pointer; }
.jp-HS3View-path:hover { text-decoration: underline; }
.jp-HS3View-tabs { display: flex; gap: 2px; border-bottom: 1px solid var(--jp-border-color1); margin-bottom: 8px; }
.jp-HS3View-tab { font: inherit; padding: 4px 14px; border: 1px solid transparent; border-bottom: none;
  background: transparent; color: var(--jp-ui-font-color1); cursor: pointer; border-radius: 4px 4px 0 0; }
.jp-HS3View-tab.jp-mod-current { border-color: var(--jp-border-color1); background: var(--jp-layout-color1);
  font-weight: 600; }
.jp-HS3View h3 { font-size: var(--jp-ui-font-size2, 14px); margin: 12px 0 4px; }
.jp-HS3View-table { border-collapse: collapse; font-size: var(--jp-ui-font-size1, 13px); }
.jp-HS3View-table th, .jp-HS3View-table td { border: 1px solid var(--jp-border-color2); padding: 2px 8px;
  text-align: left; vertical-align: top; white-space: pre-line; }
.jp-HS3View-table th { background: var(--jp-layout-color2); font-weight: 600; }
.jp-HS3View-none { color: var(--jp-ui-font-color2); margin: 0; }
.jp-HS3View-more { margin-top: 4px; }
.jp-HS3Tree { font-family: var(--jp-code-font-family); font-size: var(--jp-code-font-size, 12px); }
.jp-HS3Tree-children { padding-left: 16px; border-left: 1px dotted var(--jp-border-color2); margin-left: 5px; }
.jp-HS3Tree-row { white-space: nowrap; padding: 1px 2px; border-radius: 2px; }
.jp-HS3Tree-branch { cursor: pointer; }
.jp-HS3Tree-branch:hover { background: var(--jp-layout-color2); }
.jp-HS3Tree-row.jp-mod-highlight { background: var(--jp-warn-color3, #fff3cd); outline: 1px solid var(--jp-warn-color1, #f0ad4e); }
.jp-HS3Tree-toggle { display: inline-block; width: 1em; color: var(--jp-ui-font-color2); }
.jp-HS3Tree-key { color: var(--jp-mirror-editor-property-color, #00f); }
.jp-HS3Tree-preview { color: var(--jp-ui-font-color2); }
.jp-HS3Tree-string { color: var(--jp-mirror-editor-string-color, #a11); }
.jp-HS3Tree-number { color: var(--jp-mirror-editor-number-color, #080); }
.jp-HS3Tree-boolean, .jp-HS3Tree-null { color: var(--jp-mirror-editor-keyword-color, #708); }
.jp-HS3Tree-more { margin: 2px 0; font-size: var(--jp-ui-font-size0, 11px); }
`;
