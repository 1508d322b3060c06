"""The Explorer in a real JupyterLab (headless Chromium): graph, slider -> plot, Fit.

Needs the built front end (``npm install && npm run build``) and the package installed in the
kernel's environment (``pip install -e .``). Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Any

import pytest
from shared_paths import WORKSPACES

REPO = Path(__file__).resolve().parents[2]
WORKSPACE = WORKSPACES / "pyhs3-benchmarks" / "1ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json"
ROOT = ".jp-NotebookPanel:not(.lm-mod-hidden) .pyhs3-lab"

pytestmark = pytest.mark.browser


def _built() -> None:
    if not (REPO / "pyhs3_lab" / "static" / "widget.js").exists():
        pytest.fail("the front end is not built: run `npm install && npm run build` first")


def _dataset(lab: Any, selector: str, key: str) -> Any:
    return lab.page.eval_on_selector(selector, f"(e) => e.dataset.{key} ?? null")


def _wait_dataset_change(lab: Any, selector: str, key: str, old: Any, timeout: float = 30_000) -> Any:
    return lab.wait_for(
        """([sel, key, old]) => { const e = document.querySelector(sel);
              const v = e ? e.dataset[key] : undefined; return v !== undefined && v !== old ? v : false; }""",
        arg=[selector, key, old], timeout=timeout)


def test_explorer_graph_slider_fit(lab: Any) -> None:
    _built()
    assert WORKSPACE.exists(), WORKSPACE
    lab.open_notebook("explorer.ipynb", [f"from pyhs3_lab import Explorer\nw = Explorer({str(WORKSPACE)!r})\nw"])
    lab.run_cell(0)
    root = lab.page.locator(ROOT)
    root.wait_for(timeout=60_000)

    # the graph shows the workspace's distributions
    for name in ("model_ch0", "sig_ch0", "bkg_ch0", "constr_alpha_sigma", "L_ch0"):
        root.locator(f'.hs3g-node[data-id="{name}"]').wait_for()
    # no error banner; the plot is drawn (BokehJS canvas) with the channel and its data
    assert root.locator(".pl-error").is_hidden()
    plot = f"{ROOT} .pl-plot"
    lab.wait_for("(sel) => { const e = document.querySelector(sel); return e && e.dataset.renders >= 1; }", arg=plot)
    root.locator(".pl-plot-canvas .bk-Figure, .pl-plot-canvas .bk-Canvas, .pl-plot-canvas canvas").first.wait_for()
    assert _dataset(lab, plot, "target") == "model_ch0"
    lab.screenshot("explorer-initial.png", root)

    # drag the mu_sig slider: the plotted model changes
    before = _dataset(lab, plot, "totalSum")
    slider = root.locator('input[type="range"][aria-label="mu_sig"]')
    box = slider.bounding_box()
    assert box is not None
    lab.page.mouse.move(box["x"] + box["width"] * 0.40, box["y"] + box["height"] / 2)
    lab.page.mouse.down()
    lab.page.mouse.move(box["x"] + box["width"] * 0.85, box["y"] + box["height"] / 2, steps=8)
    lab.page.mouse.up()
    after = _wait_dataset_change(lab, plot, "totalSum", before)
    assert float(after) != pytest.approx(float(before), rel=1e-6)
    mu_box = root.locator('input[aria-label="mu_sig value"]')
    dragged = float(mu_box.input_value())
    assert dragged > 3.0  # 85 % of [-5, 10]
    lab.screenshot("explorer-after-drag.png", root)

    # slider -> repaint latency: clicks along the slider (each is one input event and one round trip),
    # in mu_sig > 0 where the model is valid (a negative signal yield makes the mixture negative)
    latencies = []
    answers = []
    for i in range(12):
        count = _dataset(lab, ROOT, "latencyCount")
        box = slider.bounding_box()
        assert box is not None
        # alternate ends, far apart: a click on the thumb itself does not move it
        frac = 0.45 + 0.01 * i if i % 2 == 0 else 0.85 - 0.01 * i
        lab.page.mouse.click(box["x"] + box["width"] * frac, box["y"] + box["height"] / 2)
        _wait_dataset_change(lab, ROOT, "latencyCount", count)
        latencies.append(float(_dataset(lab, ROOT, "latencyMs")))
        answers.append(float(_dataset(lab, ROOT, "answerMs")))
    assert root.locator(".pl-error").is_hidden()
    print(f"\nslider->repaint latency over {len(latencies)} steps: median {statistics.median(latencies):.1f} ms, "
          f"max {max(latencies):.1f} ms, all {[round(x, 1) for x in latencies]}; of which input->answer from the "
          f"kernel: median {statistics.median(answers):.1f} ms, all {[round(x, 1) for x in answers]}")
    # the keyboard moves a focused slider (JupyterLab's notebook shortcuts do not take the arrows)
    before_key = float(mu_box.input_value())
    count = _dataset(lab, ROOT, "latencyCount")
    slider.focus()
    lab.page.keyboard.press("ArrowRight")
    _wait_dataset_change(lab, ROOT, "latencyCount", count)
    assert float(mu_box.input_value()) > before_key

    # Fit: status valid, sliders move to the best fit
    root.locator(".pl-fit button", has_text="Fit").first.click()
    lab.wait_for("(sel) => { const e = document.querySelector(sel); return e && e.dataset.state === 'done'; }",
                 arg=f"{ROOT} .pl-status", timeout=60_000)
    status = root.locator(".pl-status").inner_text()
    assert "valid" in status, status
    assert "INVALID" not in status, status
    assert "fval" in status
    assert "calls" in status
    fitted = float(mu_box.input_value())
    assert fitted != pytest.approx(dragged, abs=1e-3)
    assert 0.0 < fitted < 3.0, fitted  # the data prefer mu_sig ~ 1.1
    root.locator(".pl-table tr", has_text="mu_sig").wait_for()
    assert root.locator(".pl-corr-cell").count() == 16  # 4 floating parameters
    lab.screenshot("explorer-after-fit.png", root)
    fit_panel = root.locator(".pl-fit")
    fit_panel.scroll_into_view_if_needed()
    lab.screenshot("explorer-fit-panel.png", fit_panel)
    errors = [e for e in lab.console_errors if "pyodide" not in e and "jupyterlite" not in e.lower()]
    assert not [e for e in errors if "pyhs3" in e or "widget" in e.lower()], errors
    Path(REPO / "test-artifacts").mkdir(exist_ok=True)
    (REPO / "test-artifacts" / "explorer-latency.txt").write_text(
        "\n".join(f"{x:.1f}" for x in latencies) + "\n")


THREE_CHANNELS = WORKSPACES / "pyhs3-benchmarks" / "3ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json"


def test_explorer_select_tabs_and_profile(lab: Any) -> None:
    _built()
    assert THREE_CHANNELS.exists(), THREE_CHANNELS
    lab.open_notebook("explorer3.ipynb", [f"from pyhs3_lab import Explorer\nExplorer({str(THREE_CHANNELS)!r})"])
    lab.run_cell(0)
    root = lab.page.locator(ROOT)
    root.wait_for(timeout=60_000)
    plot = f"{ROOT} .pl-plot"
    lab.wait_for("(sel) => { const e = document.querySelector(sel); return e && e.dataset.target === 'model_ch0'; }",
                 arg=plot)
    # one tab per channel
    tabs = root.locator(".pl-tab")
    assert tabs.all_inner_texts() == ["model_ch0", "model_ch1", "model_ch2"]

    # clicking a component in the graph plots its channel, highlighted, and shows its JSON
    root.locator('.hs3g-node[data-id="sig_ch1"]').click()
    lab.wait_for("(sel) => { const e = document.querySelector(sel); return e && e.dataset.target === 'sig_ch1'; }",
                 arg=plot)
    assert root.locator(".pl-tab.pl-active").inner_text() == "model_ch1"
    root.locator(".hs3g-details .hs3g-json", has_text='"gaussian_dist"').wait_for()
    # a tab selects a channel
    tabs.nth(2).click()
    lab.wait_for("(sel) => { const e = document.querySelector(sel); return e && e.dataset.target === 'model_ch2'; }",
                 arg=plot)
    # a parameter's details show its current value; a function's value comes from the kernel
    root.locator('.hs3g-node[data-id="mu_sig"]').click()
    root.locator(".hs3g-details .hs3g-value", has_text="value: 1").wait_for()
    root.locator('.hs3g-node[data-id="nsig_tot_ch1"]').click()  # mu_sig (1) * nsig_ch1 (7)
    root.locator(".hs3g-details .hs3g-value", has_text="value: 7.0").wait_for()

    # profile of the POI: a 2ΔNLL curve with its 68 % interval
    root.locator(".pl-fit button", has_text="Profile POI").click()
    root.locator(".pl-profile h4", has_text="Profile of mu_sig").wait_for(timeout=120_000)
    root.locator(".pl-profile-plot canvas").first.wait_for()
    status = root.locator(".pl-status")
    assert "profile: valid" in status.inner_text(), status.inner_text()
    assert root.locator(".pl-error").is_hidden()
    lab.screenshot("explorer-3ch-tabs.png", root.locator(".pl-middle"))
    fit_panel = root.locator(".pl-fit")
    fit_panel.scroll_into_view_if_needed()
    lab.screenshot("explorer-profile.png", fit_panel)


THIRTY_CHANNELS = WORKSPACES / "pyhs3-benchmarks" / "30ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json"


def test_large_graph_starts_folded_and_expands_in_a_worker(lab: Any) -> None:
    _built()
    assert THIRTY_CHANNELS.exists(), THIRTY_CHANNELS
    lab.open_notebook("explorer30.ipynb", [f"from pyhs3_lab import Explorer\nExplorer({str(THIRTY_CHANNELS)!r})"])
    lab.run_cell(0)
    root = lab.page.locator(ROOT)
    root.wait_for(timeout=60_000)
    graph = root.locator(".hs3g")
    # 366 nodes: parameters (and functions) start folded into aggregates
    agg = root.locator(".hs3g-node.hs3g-kind-group", has_text="nuisance parameters")
    agg.wait_for()
    assert re.fullmatch(r"\d+ nuisance parameters", agg.locator("text").text_content() or "")
    folded = root.locator(".hs3g-node").count()
    assert folded < 366
    # channels fold too: distributions by type, likelihoods, data
    assert root.locator('.hs3g-node[data-id="model_ch17"]').count() == 0
    root.locator(".hs3g-node.hs3g-kind-group", has_text="distributions (mixture_dist)").wait_for()
    lab.screenshot("explorer-30ch-folded.png", graph)
    # search + Enter finds a folded node, unfolds its group, selects it and plots its channel
    root.locator(".hs3g-search").fill("model_ch17")
    root.locator(".hs3g-search").press("Enter")
    root.locator('.hs3g-node.hs3g-selected[data-id="model_ch17"]').wait_for()
    lab.wait_for("(sel) => { const e = document.querySelector(sel); return e && e.dataset.target === 'model_ch17'; }",
                 arg=f"{ROOT} .pl-plot")
    lab.screenshot("explorer-30ch-search.png", graph)
    # clicking an aggregate expands it (it may be panned out of view: the event, not the mouse)
    agg.dispatch_event("click")
    root.locator('.hs3g-node[data-id="nbkg_ch17"]').wait_for()
    # everything: laid out in the Web Worker
    root.locator(".hs3g-btn", has_text="Expand all").click()
    lab.wait_for("(sel) => { const e = document.querySelector(sel); return e && e.dataset.layout === 'worker' "
                 "&& e.querySelectorAll('.hs3g-node').length === 366; }", arg=f"{ROOT} .hs3g", timeout=120_000)
    # search finds a node
    root.locator(".hs3g-search").fill("tau_ch29")
    assert root.locator(".hs3g-node.hs3g-match").count() == 1
    lab.screenshot("explorer-30ch-expanded.png", graph)
    # a fit of 62 parameters: the correlation matrix becomes a heat map
    root.locator(".pl-fit button", has_text="Fit").first.click()
    lab.wait_for("(sel) => { const e = document.querySelector(sel); return e && e.dataset.state === 'done'; }",
                 arg=f"{ROOT} .pl-status", timeout=120_000)
    assert "valid" in root.locator(".pl-status").inner_text()
    heat = root.locator(".pl-corr-big canvas")
    heat.wait_for()
    assert heat.get_attribute("aria-label") == "correlation matrix of 62 parameters"
    heat.hover()
    assert " × " in root.locator(".pl-corr-hover").inner_text()
    fit_panel = root.locator(".pl-fit")
    fit_panel.scroll_into_view_if_needed()
    lab.screenshot("explorer-30ch-fit.png", fit_panel)


HISTFACTORY = WORKSPACES / "pyhs3" / "simplemodel_uncorrelated-background_hs3.json"


def test_histfactory_stack_log_scale_and_export(lab: Any, tmp_path: Path) -> None:
    _built()
    assert HISTFACTORY.exists(), HISTFACTORY
    lab.open_notebook("explorer_hf.ipynb", [f"from pyhs3_lab import Explorer\nExplorer({str(HISTFACTORY)!r})"])
    lab.run_cell(0)
    root = lab.page.locator(ROOT)
    root.wait_for(timeout=60_000)
    plot = f"{ROOT} .pl-plot"
    lab.wait_for("(sel) => { const e = document.querySelector(sel); return e && e.dataset.renders >= 1; }", arg=plot)
    assert _dataset(lab, plot, "target") == "model_singlechannel"
    # 62 + 63 expected events (background + signal, stacked)
    assert float(_dataset(lab, plot, "totalSum")) == pytest.approx(125.0)
    renders = _dataset(lab, plot, "renders")
    root.locator('input[aria-label="logarithmic y axis"]').check()
    _wait_dataset_change(lab, plot, "renders", renders)
    lab.screenshot("explorer-histfactory-log.png", root.locator(".pl-plot"))
    # export: PNG and SVG downloads of the figure
    for kind, magic in (("PNG", b"\x89PNG"), ("SVG", b"<svg")):
        with lab.page.expect_download() as info:
            root.locator(".pl-plot .pl-btn", has_text=kind).click()
        path = tmp_path / info.value.suggested_filename
        info.value.save_as(path)
        head = path.read_bytes()[:200]
        assert magic in head, (kind, head)
        assert path.name == f"model_singlechannel.{kind.lower()}"
    assert root.locator(".pl-error").is_hidden()


PING_CELL = '''
import anywidget, traitlets as t
class Ping(anywidget.AnyWidget):
    _esm = """
    export default { render({ model, el }) {
      el.className = 'pyhs3-ping'; el.textContent = 'ping';
      let resolve = null, t0 = 0;
      model.on('change:ack', () => { if (resolve) { const r = resolve; resolve = null; r(performance.now() - t0); } });
      el.ping = () => new Promise((res) => { resolve = res; t0 = performance.now();
        model.set('rev', (model.get('rev') || 0) + 1); model.save_changes(); });
    } };
    """
    rev = t.Int(0).tag(sync=True)
    ack = t.Int(0).tag(sync=True)
    @t.observe('rev')
    def _answer(self, change):
        self.ack = change['new']
Ping()
'''


def test_kernel_websockets_send_without_nagle_delay(lab: Any) -> None:
    # pyhs3_lab.server_extension, enabled by the configuration the wheel installs, sets TCP_NODELAY on the
    # kernel websockets; a bare widget round trip is measured and reported (not asserted: shared machines)
    from pyhs3_lab.server_extension import ENABLED_MESSAGE

    assert any(ENABLED_MESSAGE in line for line in lab.server.log), "".join(lab.server.log[-30:])
    lab.open_notebook("ping.ipynb", [PING_CELL])
    lab.run_cell(0)
    ping = lab.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .pyhs3-ping")
    ping.wait_for(timeout=60_000)
    times = [float(ping.evaluate("(e) => e.ping()")) for _ in range(20)]
    assert all(t > 0 for t in times)
    print(f"\nbare widget round trip (kernel websocket with TCP_NODELAY): median {statistics.median(times):.1f} ms, "
          f"all {[round(x, 1) for x in times]}")
