import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it, vi } from "vitest";
import { notebookContent, notebookName } from "../notebook";
import { summarize } from "../summary";
import { JsonTree, PAGE, splitPath } from "../tree";
import { formatProblem, lineColumn, parse, validate } from "../validate";
import { HS3View } from "../view";

const here = dirname(fileURLToPath(import.meta.url));
const DATA = join(here, "..", "..", "..", "notebooks", "data");
const bench = JSON.parse(readFileSync(join(DATA, "benchmark_1ch.hs3.json"), "utf8"));

describe("validate", () => {
  it("accepts real workspaces", () => {
    for (const f of ["benchmark_1ch", "rf501_simultaneouspdf", "rf515_hfJSON_3", "simplemodel_uncorrelated-background"]) {
      const doc = JSON.parse(readFileSync(join(DATA, `${f}.hs3.json`), "utf8"));
      expect(validate(doc), f).toEqual([]);
    }
  });

  it("reports every problem with its JSON path, like spec.py", () => {
    const problems = validate({
      metadata: { hs3_version: 2 },
      distributions: [{ name: "a", type: "gaussian_dist" }, { type: "x" }, "oops"],
      data: [
        { name: "d", type: "binned", axes: [{ name: "x", min: 0, max: 1, nbins: 3 }], contents: [1, 2] },
        { name: "u", type: "unbinned", axes: [{ name: "x", min: 2, max: 1 }], entries: [[1], 3] },
      ],
      domains: [{ name: "dom", type: "product_domain", axes: [{ name: "p", min: 0, max: 1, edges: [0, 2, 1] }] }],
      likelihoods: [{ name: "a", distributions: ["a"], data: [] }],
      analyses: [{ name: "an" }],
    });
    expect(problems.map((p) => p.path)).toEqual([
      "metadata.hs3_version",
      "distributions[1].name",
      "distributions[2]",
      "data[0].contents",
      "data[1].axes[0]",
      "data[1].entries[1]",
      "domains[0].axes[0].edges",
      "likelihoods[0]",
      "analyses[0].likelihood",
      "likelihoods[0]",
    ]);
    expect(formatProblem(problems[3]!)).toBe(
      "data[0].contents (object 'd'): binned data 'd' has 2 contents for 3 bins; expected one content per bin",
    );
    expect(problems[9]!.message).toBe("duplicate name 'a' (also at distributions[0])");
  });

  it("finds the same errors as spec.py on the shared invalid workspaces", () => {
    // the same file is checked against Python's validate by tests/test_lab_validation.py
    const cases = JSON.parse(readFileSync(join(here, "invalid-workspaces.json"), "utf8")) as {
      why: string;
      errors: string[];
      doc: unknown;
    }[];
    expect(cases.length).toBeGreaterThan(5);
    for (const c of cases) {
      const errors = validate(c.doc).filter((p) => p.warning !== true);
      expect(errors.map((p) => p.path), c.why).toEqual(c.errors);
    }
  });

  it("warns, like spec.py, when metadata or hs3_version is missing", () => {
    expect(validate({ distributions: [] })).toEqual([
      expect.objectContaining({ path: "metadata", warning: true }),
    ]);
    expect(validate({ metadata: {} })).toEqual([
      expect.objectContaining({ path: "metadata.hs3_version", warning: true }),
    ]);
    expect(validate({ metadata: { hs3_version: "1.0" } })[0]?.warning).toBe(true);
  });

  it("says what a non-object document is", () => {
    expect(validate([1, 2])).toEqual([{ path: "", message: "a workspace is a JSON object, got a list" }]);
  });
});

describe("parse", () => {
  it("reports a syntax error", () => {
    const res = parse('{\n  "a": [1,\n  ]\n}');
    expect(res.doc).toBeUndefined();
    expect(res.syntaxError).toMatch(/JSON/);
  });
  it("adds line and column when the engine gives only a position", () => {
    const spy = vi.spyOn(JSON, "parse").mockImplementation(() => {
      throw new SyntaxError("Unexpected token ']' at position 15");
    });
    try {
      expect(parse('{\n  "a": [1,\n  ]\n}').syntaxError).toBe("Unexpected token ']' at position 15 (line 3, column 3)");
    } finally {
      spy.mockRestore();
    }
  });
  it("takes already parsed display data", () => {
    expect(parse({ metadata: {} }).doc).toEqual({ metadata: {} });
  });
  it("counts lines and columns from 1", () => {
    expect(lineColumn("ab\ncd", 4)).toEqual([2, 2]);
  });
});

describe("summarize", () => {
  it("counts types, pairs likelihoods and collects parameters", () => {
    const s = summarize(bench);
    expect(s.version).toBe("0.2");
    expect(s.packages).toEqual(["ROOT 6.36.02"]);
    const dists = s.counts.find((c) => c.key === "distributions")!;
    expect(dists.total).toBe(4);
    expect(dists.types[0]).toEqual(["gaussian_dist", 2]);
    expect(s.likelihoods).toEqual([
      { name: "L_ch0", path: "likelihoods[0]", pairs: [["model_ch0", "combData_ch0"]], aux: ["constr_alpha_sigma"] },
    ]);
    const mu = s.parameters.find((p) => p.name === "mu_sig")!;
    expect(mu.poi).toBe(true);
    expect(mu.ranges[0]).toEqual(["sim_pdf_combData_parameters_of_interest", -5, 10]);
    expect(mu.values).toEqual([
      ["default_values", 1, false],
      ["nominal", 1, false],
    ]);
    expect(s.parameters.find((p) => p.name === "x")!.observable).toBe(true);
  });
});

describe("tree", () => {
  it("splits JSON paths", () => {
    expect(splitPath("a.b[2].c")).toEqual(["a", "b", 2, "c"]);
  });

  it("renders children lazily and a page at a time", () => {
    const doc = { big: Array.from({ length: 1000 }, (_, i) => i) };
    const tree = new JsonTree(doc);
    expect(tree.node.querySelectorAll(".jp-HS3Tree-row").length).toBe(2); // document + "big", unopened
    const row = tree.reveal("big[450]");
    expect(row?.dataset.path).toBe("big[450]");
    const shown = tree.node.querySelectorAll(".jp-HS3Tree-row[data-path^='big[']").length;
    expect(shown).toBeGreaterThanOrEqual(451);
    expect(shown).toBeLessThan(451 + PAGE);
  });
});

describe("HS3View", () => {
  it("shows problems before the summary and builds the graph only on demand", () => {
    const view = new HS3View();
    document.body.appendChild(view.node);
    view.render(JSON.stringify({ ...bench, metadata: undefined }));
    expect(view.node.querySelector(".jp-HS3View-warnings .jp-HS3View-problem")?.getAttribute("data-path")).toBe("metadata");
    expect(view.node.querySelector(".jp-HS3View-problems")).toBeNull();
    expect(view.node.querySelector(".jp-HS3View-counts")).not.toBeNull();
    expect(view.node.querySelector(".hs3g")).toBeNull();
    view.show("graph");
    expect(view.node.querySelectorAll(".hs3g-node").length).toBeGreaterThan(4);
    view.dispose();
  });

  it("shows a syntax error with an excerpt", () => {
    const view = new HS3View();
    view.render('{"metadata": {"hs3_version": "0.2"},, }');
    expect(view.node.querySelector(".jp-HS3View-syntax")?.textContent).toContain("not valid JSON");
    expect(view.node.querySelector(".jp-HS3View-excerpt")?.textContent).toContain("^");
  });
});

describe("explore notebook", () => {
  it("names the notebook after the file and writes the Explorer cell", () => {
    expect(notebookName("dir/model.hs3.json", 0)).toBe("model-explore.ipynb");
    expect(notebookName("x.json", 2)).toBe("x-explore-2.ipynb");
    const nb = notebookContent("model.hs3.json", { name: "python3", display_name: "Python 3" }) as {
      cells: { source: string }[];
      metadata: { kernelspec: { name: string } };
    };
    expect(nb.cells[1]!.source).toBe('from pyhs3_lab import Explorer\nExplorer("model.hs3.json")');
    expect(nb.metadata.kernelspec.name).toBe("python3");
    const lite = notebookContent("m.json", { name: "python", display_name: "Python (Pyodide)" }) as {
      cells: { source: string }[];
    };
    expect(lite.cells[1]!.source.startsWith("%pip install pyhs3_lab\n")).toBe(true);
  });
});
