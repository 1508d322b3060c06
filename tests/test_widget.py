"""The Explorer widget driven through its traits and messages, without a kernel or a browser."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

anywidget = pytest.importorskip("anywidget")

from shared_paths import WORKSPACES  # noqa: E402

from pyhs3_lab import Workspace  # noqa: E402
from pyhs3_lab.widget import SYNCED_TRAITS, Explorer  # noqa: E402
from pyhs3_lab.widget._serialize import decode_array, to_wire  # noqa: E402

ONE_CHANNEL = WORKSPACES / "pyhs3-benchmarks" / "1ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json"
THREE_CHANNELS = WORKSPACES / "pyhs3-benchmarks" / "3ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json"
HISTFACTORY = WORKSPACES / "pyhs3" / "simplemodel_uncorrelated-background_hs3.json"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


@pytest.fixture
def one_channel() -> Explorer:
    w = Explorer(_need(ONE_CHANNEL))
    assert w.error == ""
    return w


def _wire(w: Explorer, trait: str) -> Any:
    """The trait as it goes over the wire (what the front end receives)."""
    return to_wire(getattr(w, trait))


def _set(w: Explorer, **values: float) -> None:
    """What the front end does when a slider moves: new params list and the next revision."""
    new = [dict(p, value=values[p["name"]]) if p["name"] in values else dict(p) for p in w.params]
    with w.hold_trait_notifications():
        w.revision = w.revision + 1
        w.params = new


def _param(w: Explorer, name: str) -> dict[str, Any]:
    return next(p for p in w.params if p["name"] == name)


def test_synced_traits_are_the_contract_of_model_ts() -> None:
    w = Explorer({"metadata": {"hs3_version": "0.2"}, "distributions": []})
    base = set(anywidget.AnyWidget().trait_names(sync=True))
    own = set(w.trait_names(sync=True)) - base - {"_esm", "_css", "_anywidget_id"}
    # js/widget/model.ts::ExplorerModel has exactly these keys; change both together
    assert sorted(own) == [
        "ack", "busy", "channels", "curves", "error", "fit_result", "fit_status", "graph", "inspected", "params",
        "profile", "progress", "revision", "selected",
    ]
    assert sorted(own) == sorted(SYNCED_TRAITS)
    model_ts = Path(__file__).resolve().parents[1] / "js" / "widget" / "model.ts"
    if model_ts.exists():
        text = model_ts.read_text()
        block = text[text.index("export interface ExplorerModel"):]
        block = block[:block.index("}")]
        for name in SYNCED_TRAITS:
            assert f"  {name}:" in block, name


def test_initial_state(one_channel: Explorer) -> None:
    w = one_channel
    ids = {n["id"] for n in w.graph["nodes"]}
    assert {"model_ch0", "sig_ch0", "bkg_ch0", "constr_alpha_sigma", "L_ch0"} <= ids
    assert set(w.graph) == {"nodes", "edges"}
    names = [p["name"] for p in w.params]
    assert names[0] == "mu_sig"  # POIs first
    assert "x" not in names  # observables are the plot axis, not sliders
    assert _param(w, "mu_sig") == {"name": "mu_sig", "value": 1.0, "min": -5.0, "max": 10.0, "fixed": False,
                                   "const": False, "role": "poi", "poi": True}
    assert _param(w, "nom_alpha_sigma")["role"] == "global_observable"
    assert _param(w, "mean_ch0")["min"] is None  # unbounded: None, never inf in JSON
    assert w.selected == "model_ch0"
    assert w.channels == [{"name": "model_ch0", "data": "combData_ch0", "observable": "x", "binned": False}]
    json.dumps(w.params)
    json.dumps(w.graph)


def test_curves_are_binary_and_equal_the_model(one_channel: Explorer) -> None:
    w = one_channel
    wire = _wire(w, "curves")
    assert isinstance(wire["x"]["data"], memoryview)
    assert isinstance(wire["total"]["data"], memoryview)
    assert isinstance(wire["data"]["y"]["data"], memoryview)
    json.dumps({k: v for k, v in wire.items() if k not in ("x", "total", "components", "data")})
    x = decode_array(wire["x"])
    total = decode_array(wire["total"])
    counts = decode_array(wire["data"]["y"])
    assert counts.sum() == len(w.workspace["combData_ch0"].raw["entries"])
    edges = decode_array(wire["data"]["edges"])
    width = edges[1] - edges[0]

    def expected(vals: dict[str, float]) -> Any:
        n_exp = vals["mu_sig"] * 7.0 + vals["nbkg_ch0"]  # extended mixture: nsig_ch0 = 7 (const)
        return n_exp * width * w.model.pdf("model_ch0", x=x, **vals)

    start = {"mu_sig": 1.0, "nbkg_ch0": 23.0, "alpha_sigma": 0.0, "tau_ch0": 0.3}
    np.testing.assert_allclose(total, expected(start), rtol=1e-10)
    # components add up to the total
    comps = [decode_array(c["y"]) for c in wire["components"]]
    assert [c["name"] for c in wire["components"]] == ["sig_ch0", "bkg_ch0"]
    np.testing.assert_allclose(comps[0] + comps[1], total, rtol=1e-10)

    _set(w, mu_sig=2.5, tau_ch0=0.1)
    assert w.ack == w.revision
    new_total = decode_array(_wire(w, "curves")["total"])
    moved = {**start, "mu_sig": 2.5, "tau_ch0": 0.1}
    np.testing.assert_allclose(new_total, expected(moved), rtol=1e-10)
    assert not np.allclose(new_total, total)
    assert w.curves["nll"] == pytest.approx(w.likelihood.nll(moved), rel=1e-12)


def test_only_what_depends_on_a_parameter_is_reevaluated(one_channel: Explorer) -> None:
    w = one_channel
    maker = w._maker
    assert maker is not None
    before = maker.evaluations
    total = w.curves["total"].copy()
    # sigma_constr enters only the constraint term, not the plotted channel
    _set(w, sigma_constr=2.0)
    assert maker.evaluations == before
    np.testing.assert_array_equal(w.curves["total"], total)
    # ...but the NLL does depend on it
    assert w.curves["nll"] == pytest.approx(w.likelihood.nll({"sigma_constr": 2.0}))
    _set(w, tau_ch0=0.5)
    assert maker.evaluations == before + 1
    # back to a value seen before: served from the cache
    _set(w, tau_ch0=0.3)
    assert maker.evaluations == before + 1


def test_fit_message_runs_in_the_background_and_moves_the_sliders(one_channel: Explorer) -> None:
    w = one_channel
    w._on_msg(w, {"kind": "fit"}, [])
    assert w.wait(120)
    assert w.error == ""
    status = w.fit_status
    assert status["state"] == "done"
    assert status["valid"] is True
    assert status["nfcn"] > 0
    ref = w.likelihood.fit()
    assert status["fval"] == pytest.approx(ref.fval, abs=1e-6)
    assert _param(w, "mu_sig")["value"] == pytest.approx(ref.values["mu_sig"], abs=1e-3)
    assert _param(w, "mu_sig")["value"] != 1.0
    assert w.busy is False
    result = _wire(w, "fit_result")
    corr = decode_array(result["correlation"])
    assert corr.shape == (4, 4)
    np.testing.assert_allclose(np.diag(corr), 1.0)
    rows = {r["name"]: r for r in result["rows"]}
    assert rows["mu_sig"]["error"] == pytest.approx(ref.errors["mu_sig"], rel=1e-3)
    assert [p["name"] for p in result["pulls"]] == ["alpha_sigma"]
    # the plot follows the sliders to the best fit
    assert w.curves["nll"] == pytest.approx(ref.fval, abs=1e-6)


def test_fixed_parameters_stay_fixed_in_the_fit(one_channel: Explorer) -> None:
    w = one_channel
    new = [dict(p, fixed=True, value=0.2) if p["name"] == "tau_ch0" else dict(p) for p in w.params]
    w.params = new
    w.fit()
    assert w.fit_status["valid"] is True
    assert _param(w, "tau_ch0")["value"] == 0.2
    assert "tau_ch0" not in w.fit_result["parameters"]


def test_minos_and_profile(one_channel: Explorer) -> None:
    w = one_channel
    w.handle({"kind": "minos"})
    assert w.wait(120)
    row = next(r for r in w.fit_result["rows"] if r["name"] == "mu_sig")
    lo, hi = row["minos"]
    assert lo < 0 < hi
    w.handle({"kind": "profile", "points": 9})
    assert w.wait(300)
    assert w.error == ""
    prof = w.profile
    assert prof["poi"] == "mu_sig"
    y = prof["two_delta_nll"]
    assert len(y) == 9
    assert np.nanmin(y) == pytest.approx(0.0, abs=0.05)
    ilo, ihi = prof["interval"]
    assert ilo == pytest.approx(row["value"] + lo, abs=0.1)
    assert ihi == pytest.approx(row["value"] + hi, abs=0.1)


def test_cancel_stops_a_profile(one_channel: Explorer) -> None:
    w = one_channel
    started = threading.Event()

    def on_progress(change: dict[str, Any]) -> None:
        if change["new"].get("nfcn", 0) >= 25:
            w.handle({"kind": "cancel"})
            started.set()

    w.observe(on_progress, names=["progress"])
    w.handle({"kind": "profile", "points": 41})
    assert w.wait(300)
    assert started.is_set()
    assert w.fit_status["state"] == "cancelled"
    assert w.busy is False


def test_errors_go_to_the_error_trait_and_clear(one_channel: Explorer) -> None:
    w = one_channel
    _set(w, mu_sig=-4.0)  # a negative signal yield makes the mixture negative
    assert "negative" in w.error
    assert "model_ch0" in w.error
    assert w.ack == w.revision  # the front end is never left waiting
    _set(w, mu_sig=1.0)
    assert w.error == ""
    w._on_msg(w, {"kind": "no-such-action"}, [])
    assert "unknown action" in w.error
    w._on_msg(w, {"kind": "clear-error"}, [])
    assert w.error == ""
    w._on_msg(w, {"kind": "select", "name": "tau_ch0"}, [])
    assert "only distributions" in w.error
    # the fit thread needs the Explorer's lock to move the sliders to the best fit: holding it keeps the
    # (now ~2 ms) fit running while a second one is asked for
    with w._lock:
        w.handle({"kind": "fit"})
        with pytest.raises(Exception, match="running"):
            w.handle({"kind": "fit"})
    assert w.wait(120)
    assert w.fit_status["state"] == "done"


def test_select_a_component_draws_its_channel(one_channel: Explorer) -> None:
    w = one_channel
    w.handle({"kind": "select", "name": "sig_ch0"})
    assert w.selected == "sig_ch0"
    assert w.curves["target"] == "sig_ch0"
    assert w.curves["channel"] == "model_ch0"
    assert w.curves["data"] is not None
    # a distribution outside every channel: its normalised density over its own observable
    w.handle({"kind": "select", "name": "constr_alpha_sigma"})
    c = w.curves
    assert c["observable"] == "nom_alpha_sigma"
    assert c["data"] is None
    x, y = c["x"], c["total"]
    assert np.trapezoid(y, x) == pytest.approx(1.0, rel=1e-3)


def test_reset_restores_values_limits_and_fixed(one_channel: Explorer) -> None:
    w = one_channel
    initial = [dict(p) for p in w.params]
    w.params = [dict(p, value=2.0, min=0.5, fixed=True) if p["name"] == "mu_sig" else p for p in w.params]
    w.handle({"kind": "reset"})
    assert w.params == initial
    assert w.current_values()["mu_sig"] == 1.0


@pytest.mark.parametrize("source", [
    "/no/such/file.json",
    "{not json",
    {"metadata": {"hs3_version": "0.2"}, "distributions": [{"name": "g", "type": "gaussian_dist", "x": "x",
                                                            "mean": "m", "sigma": "missing_dist"}],
     "likelihoods": [{"name": "L", "distributions": ["nope"], "data": ["d"]}]},
    {"distributions": 3},
    None,
])
def test_a_broken_workspace_shows_an_error_instead_of_raising(source: Any) -> None:
    w = Explorer(source)
    assert w.error.startswith("Error while loading the workspace")
    assert w.params == []
    w.handle({"kind": "reset"})
    w._on_msg(w, {"kind": "fit"}, [])
    assert "no likelihood" in w.error


def test_model_without_likelihood() -> None:
    ws = Workspace(metadata={"hs3_version": "0.2"},
                   distributions=[{"name": "g", "type": "gaussian_dist", "x": "x", "mean": "m", "sigma": 0.5}],
                   domains=[{"name": "d", "type": "product_domain", "axes": [{"name": "x", "min": -3, "max": 3},
                                                                            {"name": "m", "min": -1, "max": 1}]}],
                   parameter_points=[{"name": "p", "parameters": [{"name": "m", "value": 0.25}]}])
    w = ws.explore()
    assert isinstance(w, Explorer)
    assert w.error == ""
    assert [p["name"] for p in w.params] == ["m"]
    assert w.selected == "g"
    np.testing.assert_allclose(w.curves["total"], ws.model().pdf("g", x=w.curves["x"], m=0.25), rtol=1e-12)
    _set(w, m=-0.5)
    np.testing.assert_allclose(w.curves["total"], ws.model().pdf("g", x=w.curves["x"], m=-0.5), rtol=1e-12)
    w._on_msg(w, {"kind": "fit"}, [])
    assert "no likelihood" in w.error


def test_histfactory_samples_are_stacked_and_data_are_binned() -> None:
    w = Explorer(_need(HISTFACTORY))
    assert w.error == ""
    c = w.curves
    assert c["kind"] == "binned"
    assert [k["name"] for k in c["components"]] == ["background", "signal"]
    np.testing.assert_allclose(sum(k["y"] for k in c["components"]), c["total"])
    expected = w.likelihood.expected(c["channel"], w.current_values())
    np.testing.assert_allclose(c["total"], sum(expected.values()))
    _set(w, mu=2.0)
    np.testing.assert_allclose(w.curves["components"][1]["y"], 2.0 * c["components"][1]["y"], rtol=1e-12)


def test_several_channels_are_summed_and_each_is_a_tab() -> None:
    w = Explorer(_need(THREE_CHANNELS))
    assert w.error == ""
    assert [c["name"] for c in w.channels] == ["model_ch0", "model_ch1", "model_ch2"]
    w.handle({"kind": "select", "name": "model_ch2"})
    assert w.curves["channel"] == "model_ch2"
    assert w.curves["nll"] == pytest.approx(sum(w.workspace.likelihood(f"L_ch{i}").nll() for i in range(3)))


def test_explicit_likelihood_and_analysis_names(one_channel: Explorer) -> None:
    w = Explorer(_need(ONE_CHANNEL), analysis="L_ch0")
    assert w.error == ""
    assert _param(w, "mu_sig")["poi"] is True
    w2 = Explorer(_need(ONE_CHANNEL), likelihood="nope")
    assert "nope" in w2.error


def test_limits_typed_in_the_panel_bound_the_fit(one_channel: Explorer) -> None:
    w = one_channel
    w.params = [dict(p, max=0.8) if p["name"] == "mu_sig" else dict(p) for p in w.params]
    w.fit()
    assert w.fit_status["valid"] is True
    assert _param(w, "mu_sig")["value"] <= 0.8 + 1e-9
    assert w.fit_result["fval"] > w.likelihood.fit().fval  # the free fit goes to mu_sig ~ 1.14
    w.params = [dict(p, min=2.0, max=1.0) if p["name"] == "mu_sig" else dict(p) for p in w.params]
    w.fit()
    assert "empty" in w.error


def test_inspect_gives_the_current_value_of_a_node(one_channel: Explorer) -> None:
    w = one_channel
    _set(w, mu_sig=2.0)
    w.handle({"kind": "inspect", "name": "nsig_tot_ch0"})  # product mu_sig * nsig_ch0 (7)
    assert w.inspected["value"] == pytest.approx(14.0)
    w.handle({"kind": "inspect", "name": "model_ch0"})
    assert w.inspected["value"] == pytest.approx(14.0 + 23.0)  # extended: expected events
    w.handle({"kind": "inspect", "name": "sig_ch0"})
    assert w.inspected["json"]["type"] == "gaussian_dist"
    assert w.inspected["value"] is None
    assert "['x']" in w.inspected["text"]
    w.handle({"kind": "inspect", "name": "L_ch0"})
    assert w.inspected["value"] == pytest.approx(w.likelihood.nll({"mu_sig": 2.0}))
    w._on_msg(w, {"kind": "inspect", "name": "nope"}, [])
    assert "nope" in w.error


@pytest.mark.pyhf
@pytest.mark.filterwarnings("ignore:jsonschema.RefResolver is deprecated:DeprecationWarning")  # inside pyhf
def test_a_pyhf_workspace_is_converted_and_evaluated_with_pyhf_conventions() -> None:
    pyhf = pytest.importorskip("pyhf")
    path = _need(WORKSPACES / "pyhs3" / "simplemodel_correlated-background_hifa.json")
    spec = json.loads(path.read_text())
    pws = pyhf.Workspace(spec)
    model = pws.model()
    ref = float(pyhf.infer.mle.twice_nll(model.config.suggested_init(), pws.data(model), model)[0]) / 2
    w = Explorer(path)
    assert w.error == ""
    assert w.curves["kind"] == "binned"
    assert w.curves["nll"] == pytest.approx(ref, rel=1e-9)


def test_a_workspace_without_distributions_says_so() -> None:
    w = Explorer({"metadata": {"hs3_version": "0.2"}, "parameter_points": []})
    assert "no distributions" in w.error


def test_pulls_of_implicit_histfactory_constraints() -> None:
    w = Explorer(_need(WORKSPACES / "HS3.jl" / "rf515_hfJSON_3.json"))
    w.fit()
    assert w.fit_status["valid"] is True
    pulls = {p["name"]: p for p in w.fit_result["pulls"]}
    rows = {r["name"]: r for r in w.fit_result["rows"]}
    # Gaussian terms around 0 with width 1: the pull is the fitted value, its error the fitted error
    for name in ("syst1", "syst2", "syst3"):
        assert pulls[name]["pull"] == pytest.approx(rows[name]["value"], abs=1e-12)
        assert pulls[name]["error"] == pytest.approx(rows[name]["error"], abs=1e-12)
    # Poisson (Barlow-Beeston-lite) terms around 1: (γ - 1) / σ_rel with the same sign as γ - 1
    for name in ("gamma_stat_channel1_bin_0", "gamma_stat_channel1_bin_1"):
        assert np.sign(pulls[name]["pull"]) == np.sign(rows[name]["value"] - 1.0)
        assert pulls[name]["pull"] / (rows[name]["value"] - 1.0) == pytest.approx(
            pulls[name]["error"] / rows[name]["error"], rel=1e-9)
    assert "mu" not in pulls  # unconstrained


def test_details_of_huge_objects_are_shortened() -> None:
    bins = list(range(100))
    w = Explorer({"metadata": {"hs3_version": "0.2"},
                  "distributions": [{"name": "h", "type": "histogram_dist", "x": "x",
                                     "data": {"contents": bins, "axes": [{"name": "x", "min": 0, "max": 1,
                                                                          "nbins": 100}]}}]})
    w.handle({"kind": "inspect", "name": "h"})
    contents = w.inspected["json"]["data"]["contents"]
    assert contents[:24] == bins[:24]
    assert contents[-1] == "… 76 more"
    json.dumps(w.inspected)


def test_malformed_parameters_from_the_front_end_are_an_error_not_a_crash(one_channel: Explorer) -> None:
    w = one_channel
    before = w.current_values()
    w.params = [dict(p, value="abc") if p["name"] == "mu_sig" else p for p in w.params]
    assert "'abc' is not a finite number" in w.error
    assert w.current_values() == before
    assert w.ack == w.revision


def test_an_old_layout_pyhf_workspace_is_converted() -> None:
    # the older pyhf layout ("data": {channel: counts}, "toplvl") is recognised as pyhf, not read as HS3
    w = Explorer(_need(WORKSPACES / "flatppl-rust" / "multichan_old.json"))
    assert w.error == ""
    assert w.likelihood is not None
    assert w._conventions == "pyhf"


def test_a_converted_pyhf_workspace_keeps_pyhf_conventions(tmp_path: Path) -> None:
    # Workspace.from_pyhf(...).explore() and the dumped conversion evaluate as the pyhf file does
    source = _need(WORKSPACES / "pyhs3" / "simplemodel_uncorrelated-background_hifa.json")
    from_file = Explorer(source)
    converted = Workspace.from_pyhf(source)
    dumped = tmp_path / "converted.json"
    converted.dump(dumped)
    for w in (Explorer(converted), Explorer(dumped)):
        assert w.error == ""
        assert w._conventions == "pyhf"
        assert w.current_values() == from_file.current_values()


def test_export_to_a_python_bokeh_figure(one_channel: Explorer) -> None:
    """The plot as a bokeh figure: its model line and data points are the widget's curves."""
    from bokeh.models import GlyphRenderer
    from bokeh.plotting import figure

    fig = one_channel.to_bokeh()
    assert isinstance(fig, figure)
    payload = one_channel._maker.curves(one_channel.selected, one_channel.current_values())  # type: ignore[union-attr]
    renderers = [r for r in fig.renderers if isinstance(r, GlyphRenderer)]
    lines = [r.data_source.data for r in renderers if type(r.glyph).__name__ == "Line"]
    assert any(np.array_equal(np.asarray(d["y"]), payload["total"]) for d in lines)
    points = [r.data_source.data for r in renderers if type(r.glyph).__name__ == "Scatter"]
    assert len(points) == 1
    np.testing.assert_array_equal(np.asarray(points[0]["y"]), payload["data"]["y"])
    assert fig.yaxis[0].axis_label == payload["ylabel"]
    assert type(one_channel.to_bokeh(log_y=True).y_scale).__name__ == "LogScale"


def test_export_of_a_histfactory_channel_stacks_its_samples(workspaces_dir: Path) -> None:
    w = Explorer(workspaces_dir / "HS3.jl/rf515_hfJSON_3.json")
    fig = w.to_bokeh()
    payload = w._maker.curves(w.selected, w.current_values())  # type: ignore[union-attr]
    assert payload["kind"] == "binned"
    quads = [r for r in fig.renderers if type(r.glyph).__name__ == "Quad"]
    assert len(quads) == len(payload["components"]) > 1
    top = np.asarray(quads[-1].data_source.data["top"])
    np.testing.assert_allclose(top, payload["total"], rtol=1e-12)
