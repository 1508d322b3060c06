"""The kernel-less graph (js/graph/from-hs3.ts, run in node) equals Python's Graph.to_dict()
for every shared workspace: the same nodes (id, kind, type, JSON path) and edges (source,
target, field). Order aside: Python visits fields in its schema's order, TypeScript in the
file's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from shared_paths import workspace_files

import pyhs3_lab
from pyhs3_lab.errors import PyHS3LabError

REPO = Path(__file__).resolve().parents[1]
ESBUILD = REPO / "node_modules" / ".bin" / "esbuild"

RUN = """
const g = require(process.argv[1]); const fs = require("fs");
const out = {};
for (const f of JSON.parse(fs.readFileSync(0, "utf8"))) {
  try { out[f] = g.buildGraphData(JSON.parse(fs.readFileSync(f, "utf8"))); }
  catch (e) { out[f] = { error: String(e) }; }
}
process.stdout.write(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def ts_graphs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None or not ESBUILD.exists():
        pytest.skip("needs node and `npm install` (node_modules/.bin/esbuild)")
    files = [str(p) for p in workspace_files()]
    if not files:
        pytest.skip("no shared workspaces")
    bundle = tmp_path_factory.mktemp("graph") / "from-hs3.cjs"
    subprocess.run([str(ESBUILD), str(REPO / "js" / "graph" / "from-hs3.ts"), "--bundle", "--platform=node",
                    "--format=cjs", f"--outfile={bundle}", "--log-level=error"], check=True, cwd=REPO)
    out = subprocess.run([node, "-e", RUN, str(bundle)], input=json.dumps(files), capture_output=True, text=True,
                         check=True, timeout=300)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


@pytest.mark.parametrize("path", workspace_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_typescript_graph_equals_python_graph(path: Path, ts_graphs: dict[str, Any]) -> None:
    try:
        py = pyhs3_lab.Workspace.load(path).graph.to_dict()
    except PyHS3LabError as exc:
        pytest.skip(f"Python does not load it ({type(exc).__name__}); the viewer shows the problems instead")
    ts = ts_graphs[str(path)]
    assert "error" not in ts, ts
    py_nodes = {(n["id"], n["kind"], n["type"], n["path"]) for n in py["nodes"]}
    ts_nodes = {(n["id"], n["kind"], n["type"], n["path"]) for n in ts["nodes"]}
    assert ts_nodes == py_nodes, (sorted(py_nodes - ts_nodes)[:5], sorted(ts_nodes - py_nodes)[:5])
    py_edges = {(e["source"], e["target"], e["field"]) for e in py["edges"]}
    ts_edges = {(e["source"], e["target"], e["field"]) for e in ts["edges"]}
    assert ts_edges == py_edges, (sorted(py_edges - ts_edges)[:5], sorted(ts_edges - py_edges)[:5])
    # same grouping by kind, in Python's order of kinds
    kinds = ["distribution", "function", "parameter", "data", "likelihood", "analysis"]
    assert [kinds.index(n["kind"]) for n in ts["nodes"]] == sorted(kinds.index(n["kind"]) for n in ts["nodes"])
