"""The kernel-less JupyterLab viewer of .hs3.json files (js/lab), in a real JupyterLab and Chromium.

Needs the built extension (``npm run build``); JupyterLab must list ``pyhs3_lab`` as a
federated extension (pip install, or the repository's build on JUPYTER_PATH).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"
Lab = Any  # the `lab` fixture of conftest.py
LabServer = Any  # the `lab_server` fixture of conftest.py
VIEW = ".jp-HS3View"
SMALL = "pyhs3-benchmarks/1ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json"
HUGE = "pyhs3-benchmarks/3ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield500x.json"


@pytest.fixture(scope="module")
def extension(lab_server: LabServer) -> None:
    """Skip (with the reason) when the server does not load our extension."""
    import urllib.request

    with urllib.request.urlopen(f"{lab_server.url}/lab?token={lab_server.token}", timeout=30) as resp:
        html = resp.read().decode()
    match = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', html, re.S)
    assert match is not None, "JupyterLab's page has no config data"
    names = [e["name"] for e in json.loads(match.group(1)).get("federated_extensions", [])]
    if "pyhs3_lab" not in names:
        pytest.skip("JupyterLab does not load the pyhs3_lab labextension: build it (npm run build) and install "
                    f"the package (pip install .); federated extensions found: {names}")


def copy_workspace(lab: Lab, workspaces_dir: Path, rel: str, name: str) -> dict[str, Any]:
    text = (workspaces_dir / rel).read_text()
    lab.write(name, text)
    doc: dict[str, Any] = json.loads(text)
    return doc


def open_viewer(lab: Lab, name: str) -> Any:
    lab.open(name, wait_selector=VIEW)
    return lab.page.locator(VIEW)


@pytest.mark.slow
def test_wheel_ships_labextension_and_labextension_list_shows_ok(tmp_path: Path) -> None:
    """pip install of the wheel puts the extension where JupyterLab finds it: `jupyter labextension list` says OK."""
    if not (REPO / "pyhs3_lab" / "labextension" / "package.json").is_file():
        pytest.skip("the labextension is not built: npm install && npm run build")
    from pyhs3_lab import lite

    wheel = lite.build_wheel(tmp_path / "dist")
    prefix = tmp_path / "prefix"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--prefix",
                    str(prefix), str(wheel)], check=True, timeout=300)
    installed = prefix / "share" / "jupyter" / "labextensions" / "pyhs3_lab"
    assert (installed / "package.json").is_file()
    assert json.loads((installed / "package.json").read_text())["jupyterlab"]["_build"]["mimeExtension"]
    env = dict(os.environ, JUPYTER_PATH=str(prefix / "share" / "jupyter"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    out = subprocess.run([sys.executable, "-m", "jupyterlab.labextensions", "list"], capture_output=True, text=True,
                         env=env, timeout=120, check=False)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)
    # the section of the list that belongs to the prefix the wheel was installed into
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == str(installed.parent))
    section = []
    for line in lines[start + 1:]:
        if not line.startswith((" ", "\t")):
            break
        section.append(line.strip())
    assert any(re.fullmatch(r"pyhs3_lab v\S+ enabled\s+OK.*", line) for line in section), text


def test_opens_real_workspace_without_kernel(lab: Lab, extension: None, workspaces_dir: Path) -> None:
    doc = copy_workspace(lab, workspaces_dir, SMALL, "bench.hs3.json")
    view = open_viewer(lab, "bench.hs3.json")
    # no kernel was started for the viewer
    assert lab.server.api("/api/kernels") == []
    # the summary: version, one row per top-level list with its count and types
    assert f"hs3_version {doc['metadata']['hs3_version']}" in view.locator(".jp-HS3View-header").inner_text()
    counts = view.locator(".jp-HS3View-counts tbody tr")
    rows = {r.locator("td").nth(0).inner_text(): r for r in counts.all()}
    dists = doc["distributions"]
    assert rows["distributions"].locator("td").nth(1).inner_text() == str(len(dists))
    types_text = rows["distributions"].locator("td").nth(2).inner_text()
    for t in {d["type"] for d in dists}:
        n = sum(d["type"] == t for d in dists)
        assert (f"{t} ×{n}" if n > 1 else t) in types_text
    # likelihoods and analyses with their names; parameters with ranges and values
    lik_text = view.locator(".jp-HS3View-likelihoods").inner_text()
    for lik in doc["likelihoods"]:
        assert lik["name"] in lik_text
        for d, x in zip(lik["distributions"], lik["data"], strict=True):
            assert f"{d} ↔ {x}" in lik_text
    params = view.locator(".jp-HS3View-parameters").inner_text()
    assert "mu_sig" in params
    assert "POI" in params
    lab.screenshot("lab-hs3-summary.png")

    # the graph (the same module as the Explorer's): one node per distribution
    view.locator(".jp-HS3View-tab[data-tab='graph']").click()
    lab.page.wait_for_selector(f"{VIEW} .hs3g-node")
    drawn = set(view.locator(".hs3g-node").evaluate_all("els => els.map(e => e.dataset.id)"))
    assert {d["name"] for d in dists} <= drawn
    box = view.locator(".hs3g-canvas").bounding_box()
    assert box is not None
    assert box["width"] > 200
    assert box["height"] > 200
    view.locator(f".hs3g-node[data-id='{dists[1]['name']}']").click()
    assert dists[1]["type"] in view.locator(".hs3g-details").inner_text()
    lab.screenshot("lab-hs3-graph.png")

    # the tree: opening distributions shows every distribution by name and type
    view.locator(".jp-HS3View-tab[data-tab='tree']").click()
    view.locator(".jp-HS3Tree-row[data-path='distributions']").click()
    for i, d in enumerate(dists):
        row = view.locator(f".jp-HS3Tree-row[data-path='distributions[{i}]']")
        assert f"{d['name']} ({d['type']})" in row.inner_text()
    lab.screenshot("lab-hs3-tree.png")
    assert not [e for e in lab.console_errors if "pyhs3" in e.lower() or "hs3" in e.lower()]


def test_invalid_workspace_shows_problems_with_paths(lab: Lab, extension: None) -> None:
    bad = {
        "distributions": [
            {"name": "g", "type": "gaussian_dist", "x": "x", "mean": 0, "sigma": 1},
            {"name": "no_type"},
            {"name": "g", "type": "poisson_dist", "x": "n", "mean": 3},
        ],
        "likelihoods": [{"name": "L", "distributions": ["g", "no_type"], "data": ["d"]}],
        "parameter_points": [{"name": "p", "parameters": [{"name": "mu", "value": "high"}]}],
    }
    lab.write("bad.hs3.json", json.dumps(bad, indent=1))
    view = open_viewer(lab, "bad.hs3.json")
    problems = view.locator(".jp-HS3View-problems .jp-HS3View-problem")
    problems.first.wait_for()
    paths = problems.evaluate_all("els => els.map(e => e.dataset.path)")
    assert paths == ["distributions[1].type", "parameter_points[0].parameters[0].value", "likelihoods[0]",
                     "distributions[2]"]
    text = view.locator(".jp-HS3View-problems").inner_text()
    assert "4 problems" in text
    assert "duplicate name 'g' (also at distributions[0])" in text
    # no metadata: read as HS3 0.2 with a warning, as pyhs3_lab.Workspace does
    assert "1 warning" in view.locator(".jp-HS3View-warnings").inner_text()
    assert view.locator(".jp-HS3View-warnings .jp-HS3View-problem").get_attribute("data-path") == "metadata"
    # clicking a path opens the tree there
    problems.nth(0).locator("a").click()
    row = view.locator(".jp-HS3Tree-row.jp-mod-highlight")
    assert row.get_attribute("data-path") == "distributions[1]"
    lab.screenshot("lab-hs3-invalid.png")


def test_syntax_error_shows_line_and_column(lab: Lab, extension: None) -> None:
    text = '{\n  "metadata": {"hs3_version": "0.2"},\n  "distributions": [\n    {"name": "a",}\n  ]\n}\n'
    lab.write("broken.hs3.json", text)
    view = open_viewer(lab, "broken.hs3.json")
    box = view.locator(".jp-HS3View-syntax")
    box.wait_for()
    text = box.inner_text()
    assert "not valid JSON" in text
    assert re.search(r"line 4,? column \d+", text), text
    assert '{"name": "a",}' in view.locator(".jp-HS3View-excerpt").inner_text()
    lab.screenshot("lab-hs3-syntax-error.png")


def test_huge_workspace_renders_lazily(lab: Lab, extension: None, workspaces_dir: Path) -> None:
    doc = copy_workspace(lab, workspaces_dir, HUGE, "huge.hs3.json")
    n_entries = len(doc["data"][0]["entries"])
    assert n_entries > 1000
    view = open_viewer(lab, "huge.hs3.json")
    view.locator(".jp-HS3View-counts").wait_for()
    view.locator(".jp-HS3View-tab[data-tab='tree']").click()
    view.locator(".jp-HS3Tree-row[data-path='data']").click()
    view.locator(".jp-HS3Tree-row[data-path='data[0]']").click()
    view.locator(".jp-HS3Tree-row[data-path='data[0].entries']").click()
    more = view.locator(".jp-HS3Tree-more").first
    more.wait_for()
    assert f"of {n_entries - 200}" in more.inner_text()
    # only one page of entries exists in the DOM
    shown = view.locator(".jp-HS3Tree-row[data-path^='data[0].entries[']").count()
    assert shown == 200
    more.click()
    view.locator(".jp-HS3Tree-row[data-path='data[0].entries[399]']").wait_for()
    lab.screenshot("lab-hs3-huge-tree.png")


def test_open_with_for_plain_json(lab: Lab, extension: None, workspaces_dir: Path) -> None:
    copy_workspace(lab, workspaces_dir, "pyhs3/rf501_simultaneouspdf.json", "rf501.json")
    lab.page.goto(f"{lab.server.url}/lab?reset&token={lab.server.token}")
    item = lab.page.locator(".jp-DirListing-item[title^='Name: rf501.json']")
    item.click(button="right")
    lab.page.locator(".lm-Menu-item", has_text="Open With").hover()
    lab.page.locator(".lm-Menu-item", has_text="HS3 Workspace").click()
    view = lab.page.locator(VIEW)
    view.wait_for()
    assert "mixture_dist ×2" in view.locator(".jp-HS3View-counts").inner_text()


def test_explore_in_notebook_button(lab: Lab, extension: None, workspaces_dir: Path) -> None:
    copy_workspace(lab, workspaces_dir, SMALL, "sub/model.hs3.json")
    open_viewer(lab, "sub/model.hs3.json")
    lab.page.locator(".jp-HS3-explore").click()
    lab.page.wait_for_selector(f"{NOTEBOOK} .jp-Cell")
    created = lab.server.root_dir / "sub" / "model-explore.ipynb"
    nb = json.loads(created.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    source = "".join(code[0]["source"])
    assert source == 'from pyhs3_lab import Explorer\nExplorer("model.hs3.json")'
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    # the notebook opened in the lab shows that code, and its kernel starts
    lab.page.locator(f"{NOTEBOOK} .jp-RenderedMarkdown", has_text="Exploring").wait_for()
    assert "Explorer(" in lab.page.locator(f"{NOTEBOOK} .jp-Cell").nth(1).inner_text()
    lab.wait_kernel_idle()
    # and it runs: the Explorer shows the workspace's graph
    cell = lab.run_cell(1)
    cell.locator(".jp-OutputArea-output .hs3g-node[data-id='model_ch0']").wait_for(timeout=120_000)
    lab.screenshot("lab-hs3-explore-notebook.png")


def test_large_graph_is_folded(lab: Lab, extension: None, workspaces_dir: Path) -> None:
    """A 30-channel ROOT benchmark: the graph opens as an overview with folded groups that expand on click."""
    doc = copy_workspace(lab, workspaces_dir,
                         "pyhs3-benchmarks/30ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json",
                         "big.hs3.json")
    n_objects = sum(len(doc.get(k, [])) for k in ("distributions", "functions", "data", "likelihoods"))
    view = open_viewer(lab, "big.hs3.json")
    view.locator(".jp-HS3View-tab[data-tab='graph']").click()
    lab.page.wait_for_selector(f"{VIEW} .hs3g-node")
    ids = view.locator(".hs3g-node").evaluate_all("els => els.map(e => e.dataset.id)")
    groups = [i for i in ids if i.startswith("group:")]
    assert groups, ids
    assert len(ids) < n_objects
    info = view.locator(".hs3g-info").inner_text()
    assert re.search(r"\d+ nodes", info)
    lab.screenshot("lab-hs3-large-graph.png")
    # expanding a group shows its members
    before = len(ids)
    view.locator(f".hs3g-node[data-id='{groups[0]}']").click()
    lab.page.wait_for_function(f"() => document.querySelectorAll('{VIEW} .hs3g-node').length > {before}")


def test_kernel_output_with_hs3_mime_type_renders(lab: Lab, extension: None, workspaces_dir: Path) -> None:
    """A workspace that a kernel displays as application/vnd.hs3+json is shown by the same viewer."""
    doc = json.loads((workspaces_dir / "pyhs3" / "rf501_simultaneouspdf.json").read_text())
    lab.write("rf501.json", json.dumps(doc))
    code = ("import json\nfrom IPython.display import display\n"
            "doc = json.load(open('rf501.json'))\n"
            "display({'application/vnd.hs3+json': doc, 'text/plain': 'an HS3 workspace'}, raw=True)")
    lab.open_notebook("display.ipynb", [code])
    cell = lab.run_cell(0)
    view = cell.locator(".jp-OutputArea-output .jp-HS3View")
    view.wait_for()
    counts = view.locator(".jp-HS3View-counts").inner_text()
    assert f"distributions\t{len(doc['distributions'])}" in counts
    lab.screenshot("lab-hs3-output.png")
