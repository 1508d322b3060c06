/** The notebook that "Explore in a notebook" writes next to a workspace file (no JupyterLab imports). */

/** The name of the notebook for `path` (without directory): `model.hs3.json` -> `model-explore.ipynb`. */
export function notebookName(path: string, n: number): string {
  const base = (path.split("/").pop() ?? path).replace(/(\.hs3)?\.json$/i, "");
  return `${base}-explore${n > 0 ? `-${n}` : ""}.ipynb`;
}

/** The notebook's JSON: a title cell and one code cell with the Explorer (after a `%pip install` in Pyodide). */
export function notebookContent(fileName: string, kernel: { name: string; display_name: string } | null): object {
  // JupyterLite's Pyodide kernel installs packages from the site's index with %pip
  const install = kernel !== null && /pyodide/i.test(kernel.display_name) ? "%pip install pyhs3_lab\n" : "";
  const metadata: Record<string, unknown> = { language_info: { name: "python" } };
  if (kernel !== null) {
    metadata.kernelspec = { name: kernel.name, display_name: kernel.display_name, language: "python" };
  }
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata,
    cells: [
      {
        cell_type: "markdown",
        id: "title",
        metadata: {},
        source: `# Exploring \`${fileName}\`\n\nRun the cell below: the Explorer shows the workspace's graph, its parameters as sliders and the pdfs.`
      },
      {
        cell_type: "code",
        id: "explorer",
        metadata: {},
        execution_count: null,
        outputs: [],
        source: `${install}from pyhs3_lab import Explorer\nExplorer(${JSON.stringify(fileName)})`
      }
    ]
  };
}
