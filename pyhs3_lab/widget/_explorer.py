"""The Explorer widget: graph, parameters, plot and fit of an HS3 workspace in Jupyter.

Python owns the state (synced traits, the contract below mirrors ``js/widget/model.ts``);
the front end only draws it and writes ``params``/``revision``. Actions are messages
(``{"kind": "fit" | "minos" | "profile" | "cancel" | "reset" | "select" | "clear-error"}``);
their results are traits, so the view can always be rebuilt from traits alone.
Fits and profiles run in a background thread with progress and cancel. Every error is put
into the ``error`` trait (shown in the view): a broken workspace never raises here.
"""

from __future__ import annotations

import math
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets as t

from .. import io
from ..errors import PyHS3LabError
from ..fit import fit as fit_fn
from ..fit import profile as profile_fn
from ..pyhf_convert import is_pyhf_workspace
from ..workspace import Workspace
from ._curves import CurveMaker
from ._serialize import trait_to_json

_STATIC = Path(__file__).resolve().parent.parent / "static"
_NOT_BUILT_ESM = """
export default { render({ el }) {
  const d = document.createElement("div");
  d.style.cssText = "color:#a00;font-family:monospace;padding:8px;border:1px solid #a00";
  d.textContent = "pyhs3_lab: the Explorer front end is not built (pyhs3_lab/static/widget.js is missing). "
    + "Run `npm install && npm run build` in the pyhs3_lab repository, then restart the kernel.";
  el.appendChild(d);
} };
"""


def _esm() -> Any:
    path = _STATIC / "widget.js"
    return path if path.exists() else _NOT_BUILT_ESM


def _css() -> Any:
    path = _STATIC / "widget.css"
    return path if path.exists() else ""


#: the synced traits of the Explorer besides anywidget's own (tests compare with this list)
SYNCED_TRAITS = (
    "ack",
    "busy",
    "channels",
    "curves",
    "error",
    "fit_result",
    "fit_status",
    "graph",
    "inspected",
    "params",
    "profile",
    "progress",
    "revision",
    "selected",
)

_PROGRESS_EVERY = 25  # NLL calls between progress updates
#: above this, one NLL evaluation is too slow to follow the sliders (the plot still does)
LIVE_NLL_SECONDS = 0.05


_SHORT_LIST = 24


def _shorten(value: Any, depth: int = 0) -> Any:
    """A JSON value with long lists cut (first items and a count) and deep nesting summarised,
    so that the details of a huge object (a HistFactory channel) stay small."""
    if isinstance(value, dict):
        if depth > 6:
            return f"{{{len(value)} keys}}"
        return {str(k): _shorten(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_shorten(v, depth + 1) for v in value[:_SHORT_LIST]]
        if len(value) > _SHORT_LIST:
            items.append(f"… {len(value) - _SHORT_LIST} more")
        return items
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _num(v: Any) -> float | None:
    """A finite float, or None (JSON has no inf/NaN)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


class Explorer(anywidget.AnyWidget):
    """Explore an HS3 workspace: its graph, parameters (sliders), plots and fits.

    Parameters
    ----------
    source
        A path to an HS3 JSON file, a JSON text, a dict, or a :class:`~pyhs3_lab.Workspace`.
    likelihood
        Name (or names, summed) of the likelihood to fit. Default: the only likelihood (through its
        analysis if it has one); with several, their sum if they share no distribution (one likelihood
        per channel), otherwise the first analysis' likelihood (e.g. observed and Asimov data on one
        model), or the first likelihood.
    analysis
        Name of an analysis (its likelihood, parameters of interest and start values).
    """

    _esm = _esm()
    _css = _css()

    # -- the synced-trait contract (mirrors js/widget/model.ts) ---------------------------
    #: Graph.to_dict() (a node's JSON comes with ``inspected`` when it is clicked)
    graph = t.Dict().tag(sync=True)
    #: one dict per parameter: name, value, min, max (None = unbounded), fixed, const, role, poi
    params = t.List(t.Dict()).tag(sync=True)
    #: written by the front end with every params change; Python echoes it in ``ack`` when done
    revision = t.Int(0).tag(sync=True)
    ack = t.Int(0).tag(sync=True)
    #: the distribution being plotted
    selected = t.Unicode("").tag(sync=True)
    #: the value of the node last clicked in the graph: name, value (a number or None), text
    inspected = t.Dict().tag(sync=True)
    #: the likelihood's (distribution, data) pairs: name, data, observable, binned
    channels = t.List(t.Dict()).tag(sync=True)
    #: the plot payload: arrays as binary buffers ({dtype, shape, data: memoryview})
    curves = t.Dict().tag(sync=True, to_json=trait_to_json)
    #: state of the last fit/profile: state (idle|running|done|failed|cancelled), task, valid, fval, edm, nfcn, message
    fit_status = t.Dict().tag(sync=True, to_json=trait_to_json)
    #: the last fit: parameters, values, errors, minos, correlation (binary), pulls
    fit_result = t.Dict().tag(sync=True, to_json=trait_to_json)
    #: the last profile scan: poi, x, two_delta_nll, valid (binary), best, interval
    profile = t.Dict().tag(sync=True, to_json=trait_to_json)
    #: the last error, shown in the view ("" = none)
    error = t.Unicode("").tag(sync=True)
    busy = t.Bool(False).tag(sync=True)
    #: progress of the running task: task, nfcn, message
    progress = t.Dict().tag(sync=True)

    def __init__(self, source: Any = None, *, likelihood: str | list[str] | None = None,
                 analysis: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.workspace: Workspace | None = None
        self.likelihood: Any = None
        self.model: Any = None
        self._maker: CurveMaker | None = None
        self._pois: list[str] = []
        self._values: dict[str, float] = {}
        self._initial: list[dict[str, Any]] = []
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._lock = threading.RLock()
        self._eval_error = False
        self._nll_cache: tuple[tuple[Any, ...], float] | None = None
        self._lik_names: frozenset[str] = frozenset()
        self._nll_seconds = 0.0
        try:
            self._load(source, likelihood, analysis)
        except Exception as exc:  # a broken workspace is shown, never raised
            self._show_error("loading the workspace", exc)
        self.observe(self._on_params, names=["params"])
        self.observe(self._on_selected, names=["selected"])
        self.on_msg(self._on_msg)
        self._refresh()

    # -- loading ---------------------------------------------------------------------------

    def _load(self, source: Any, likelihood: str | list[str] | None, analysis: str | None) -> None:
        if source is None:
            raise PyHS3LabError("no workspace given: Explorer(path | dict | JSON text | Workspace)")
        if isinstance(source, Workspace):
            ws = source
        else:
            raw = io.read(source)
            # a pyhf workspace is converted (and then evaluated with pyhf's conventions)
            ws = Workspace.from_pyhf(raw) if is_pyhf_workspace(raw) else Workspace(**raw)
        conventions = self._conventions = ws.default_conventions
        self.workspace = ws
        graph = ws.graph.to_dict()
        self.graph = graph
        lik_error: Exception | None = None
        try:
            self.likelihood, self._pois = self._choose_likelihood(ws, likelihood, analysis, conventions)
        except PyHS3LabError as exc:
            if likelihood is not None or analysis is not None:
                raise
            lik_error = exc  # explore the model without a likelihood, and say why
        self.model = self.likelihood.model if self.likelihood is not None else ws.model(conventions=conventions)
        self._maker = CurveMaker(self.model, self.likelihood)
        self.channels = [{"name": c.dist, "data": c.data, "observable": c.observables[0] if c.observables else None,
                          "binned": c.binned} for c in self._maker.channels]
        params = self._initial_params()
        self._initial = [dict(p) for p in params]
        self._values = {p["name"]: float(p["value"]) for p in params if p["value"] is not None}
        self.params = params
        target = self._maker.default_target()
        self.selected = target or ""
        if not ws.spec.distributions:
            keys = sorted(ws.spec.raw) or ["none"]
            raise PyHS3LabError(f"nothing to explore: the workspace has no distributions (its top-level keys: "
                                f"{', '.join(keys)})")
        self.fit_status = {"state": "idle"}
        if lik_error is not None:
            self._show_error("building the likelihood (fits are off; sliders and plots work)", lik_error)

    def _object_json(self, name: str) -> Any:
        """The JSON of a workspace object for the details pane, long lists shortened."""
        ws = self.workspace
        assert ws is not None
        comp = ws.spec.component(name)
        if comp is not None:
            return _shorten(dict(comp.raw))
        for d in ws.spec.data:
            if d.name == name:
                summary: dict[str, Any] = {"name": d.name, "type": d.type,
                                           "axes": [{"name": a.name, "min": _num(a.min), "max": _num(a.max),
                                                     **({"nbins": a.nbins} if a.nbins else {})} for a in d.axes]}
                if d.type == "unbinned":
                    summary["entries"] = f"{len(d.raw.get('entries', []))} entries"
                    if d.raw.get("weights") is not None:
                        summary["weights"] = "weighted"
                else:
                    summary.update({k: v for k, v in d.raw.items() if k not in summary})
                return _shorten(summary)
        for group in (ws.spec.likelihoods, ws.spec.analyses):
            for item in group:
                if item.name == name:
                    return _shorten(dict(item.raw))
        return None

    @staticmethod
    def _choose_likelihood(ws: Workspace, likelihood: str | list[str] | None,
                           analysis: str | None, conventions: str) -> tuple[Any, list[str]]:
        analyses = list(ws.spec.analyses)
        if analysis is not None:
            ana = ws.analysis(analysis, conventions=conventions)
            return ana.likelihood, list(ana.parameters_of_interest)
        if likelihood is not None:
            lik = ws.likelihood(likelihood, conventions=conventions)
            wanted = {likelihood} if isinstance(likelihood, str) else set(likelihood)
            pois = [p for a in analyses if a.likelihood in wanted for p in a.parameters_of_interest]
            return lik, list(dict.fromkeys(pois))
        choice = ws.default_likelihood(conventions)
        return choice.likelihood, choice.parameters_of_interest

    def _initial_params(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.likelihood is not None:
            for p in self.likelihood.parameters:
                poi = p.name in self._pois
                role = ("poi" if poi else "global_observable" if p.global_observable
                        else "constant" if p.const else "nuisance")
                out.append({"name": p.name, "value": _num(p.value), "min": _num(p.min), "max": _num(p.max),
                            "fixed": bool(p.const), "const": bool(p.const), "role": role, "poi": poi})
        else:
            for q in self.model.parameters:
                if q.role == "observable":
                    continue
                role = "global_observable" if q.role == "global_observable" else "constant" if q.const else "nuisance"
                out.append({"name": q.name, "value": _num(q.value), "min": _num(q.min), "max": _num(q.max),
                            "fixed": bool(q.const), "const": bool(q.const), "role": role, "poi": False})
        order = {"poi": 0, "nuisance": 1, "constant": 2, "global_observable": 3}
        return sorted(out, key=lambda p: order.get(p["role"], 4))

    # -- errors ----------------------------------------------------------------------------

    def _show_error(self, what: str, exc: BaseException) -> None:
        if isinstance(exc, PyHS3LabError):
            text = f"Error while {what}: {exc}"
        else:  # not one of ours: show where it happened too
            tb = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            text = f"Error while {what}: {tb}"
        self.error = text

    # -- parameters -> curves --------------------------------------------------------------

    def _on_params(self, change: dict[str, Any]) -> None:
        try:
            with self._lock:
                values: dict[str, float] = {}
                for p in change["new"]:
                    v = _num(p.get("value"))
                    if v is None and p.get("value") is not None:
                        raise PyHS3LabError(f"parameter {p.get('name')!r}: the value {p.get('value')!r} is not a "
                                            "finite number")
                    if v is not None:
                        values[str(p.get("name"))] = v
                self._values = values
            self._refresh()
        except Exception as exc:  # the front end sent something odd: say so, keep the old values
            self._show_error("reading the parameters from the front end", exc)
        finally:
            self.ack = self.revision

    def _on_selected(self, change: dict[str, Any]) -> None:
        self._refresh()

    def to_bokeh(self, target: str | None = None, *, log_y: bool = False) -> Any:
        """The plot of ``target`` (default: the selected distribution) at the sliders' values, as a Python
        ``bokeh.plotting.figure`` (the same curves, components and data as the widget draws)."""
        from ._export import figure_from_curves

        name = target or self.selected
        if self._maker is None or not name:
            raise PyHS3LabError("nothing to plot: the Explorer has no workspace or no selected distribution")
        with self._lock:
            payload = self._maker.curves(name, dict(self._values))
        return figure_from_curves(payload, log_y=log_y)

    def current_values(self) -> dict[str, float]:
        """The parameter values the sliders show."""
        return dict(self._values)

    def _refresh(self) -> None:
        """Recompute the plot payload for the selected distribution (cached per its inputs)."""
        if self._maker is None or not self.selected:
            return
        try:
            with self._lock:
                values = dict(self._values)
                payload = dict(self._maker.curves(self.selected, values))
                payload["nll"] = self._nll(values)
                if payload["nll"] is None and self.likelihood is not None:
                    payload["notes"] = [*payload.get("notes", []),
                                        f"the NLL is not updated live (one evaluation takes "
                                        f"{self._nll_seconds:.2g} s)"]
                # assigned under the (re-entrant) lock: a slider move racing the fit thread's move to
                # the best fit must not leave the older of the two plots on screen
                self.curves = payload
            if self._eval_error:
                self.error = ""
                self._eval_error = False
        except Exception as exc:
            self._show_error(f"evaluating {self.selected!r}", exc)
            self._eval_error = True

    def _nll(self, values: Mapping[str, float], *, force: bool = False) -> float | None:
        """The NLL at the sliders; None when one evaluation is too slow to follow them live
        (``LIVE_NLL_SECONDS``), unless ``force``."""
        lik = self.likelihood
        if lik is None:
            return None
        if not force and self._nll_seconds > LIVE_NLL_SECONDS:
            return None
        names = self._lik_names if self._lik_names else frozenset(lik.parameter_names)
        self._lik_names = names
        given = {k: v for k, v in values.items() if k in names}
        key = tuple(sorted(given.items()))
        if self._nll_cache is not None and self._nll_cache[0] == key:
            return self._nll_cache[1]
        start = time.perf_counter()
        val = float(lik.nll(given))
        self._nll_seconds = time.perf_counter() - start
        self._nll_cache = (key, val)
        return val

    # -- actions ---------------------------------------------------------------------------

    def _on_msg(self, widget: Any, content: Any, buffers: Any) -> None:
        try:
            if not isinstance(content, dict):
                raise PyHS3LabError(f"unexpected message {content!r}")
            self.handle(content)
        except Exception as exc:
            self._show_error(f"handling {content!r}", exc)

    def handle(self, msg: Mapping[str, Any]) -> None:
        """Dispatch one front-end action (also usable from Python: ``w.handle({"kind": "fit"})``)."""
        kind = msg.get("kind")
        if kind == "select":
            name = str(msg.get("name", ""))
            node = self.graph.get("nodes", [])
            kinds = {n["id"]: n["kind"] for n in node}
            if kinds.get(name) == "likelihood" and self.channels:
                name = self.channels[0]["name"]
            if kinds.get(name) != "distribution":
                raise PyHS3LabError(f"{name!r} is a {kinds.get(name, 'unknown name')}; only distributions are "
                                    "plotted (click a distribution in the graph)")
            self.selected = name
        elif kind == "inspect":
            self.inspect(str(msg.get("name", "")))
        elif kind == "fit":
            self.fit(block=False)
        elif kind == "minos":
            names = msg.get("names")
            self.fit(minos=[str(n) for n in names] if isinstance(names, list) else True, block=False)
        elif kind == "profile":
            poi = msg.get("poi")
            points = int(msg.get("points", 21))
            self.profile_scan(str(poi) if poi else None, points=points, block=False)
        elif kind == "cancel":
            self.cancel()
        elif kind == "reset":
            self.reset()
        elif kind == "clear-error":
            self.error = ""
        else:
            raise PyHS3LabError(f"unknown action {kind!r}")

    def inspect(self, name: str) -> None:
        """Put the current value of a graph node into ``inspected`` (shown in the graph's details)."""
        node = self.workspace.graph.nodes.get(name) if self.workspace is not None else None
        if node is None or self.model is None:
            raise PyHS3LabError(f"{name!r} is not in the workspace's graph")
        value: float | None = None
        if node.kind == "parameter":
            value = self._values.get(name)
            text = "an observable (the plot's axis)" if value is None else repr(value)
        elif node.kind == "function":
            obs = self.model.rule.everywhere & self.model.graph.leaves(name)
            if obs:
                text = f"depends on the observable(s) {sorted(obs)}"
            else:
                v = np.asarray(self.model.evaluator(self._values).value(name), dtype=float)
                value = float(v) if v.ndim == 0 else None
                text = repr(value) if value is not None else f"an array of shape {v.shape}"
        elif node.kind == "distribution":
            op = self.model.compiled.distribution(name)
            ev = self.model.evaluator(self._values, self.model.observables_of(name))
            nu = op.expected_events(ev)
            obs = sorted(self.model.observables_of(name))
            text = f"normalised over {obs}" if obs else "no observables"
            if nu is not None and np.ndim(nu) == 0:
                value = float(nu)
                text = f"expected events {value:.6g}; {text}"
        elif node.kind == "likelihood" and self.likelihood is not None and name in (self.likelihood.name, None):
            value = self._nll(self._values, force=True)
            text = f"NLL {value!r}"
        else:
            text = node.kind
        self.inspected = {"name": name, "value": _num(value), "text": text, "json": self._object_json(name)}

    def reset(self) -> None:
        """Restore the initial values, limits and fixed flags (atomically)."""
        self.params = [dict(p) for p in self._initial]
        self.error = ""

    def cancel(self) -> None:
        """Ask the running fit or profile to stop (it ends with state "cancelled")."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running fit/profile; True if nothing is running any more."""
        th = self._thread
        if th is not None:
            th.join(timeout)
            return not th.is_alive()
        return True

    def _fixed(self) -> dict[str, float]:
        out = {}
        for p in self.params:
            if p.get("fixed") and not p.get("const") and p["name"] in self._values:
                out[p["name"]] = self._values[p["name"]]
        return out

    def _start(self, task: str, work: Callable[[Callable[[], bool]], None], block: bool) -> None:
        if self.likelihood is None:
            raise PyHS3LabError("this workspace has no likelihood to fit (it needs a likelihood: distributions "
                                "paired with data)")
        if self._thread is not None and self._thread.is_alive():
            raise PyHS3LabError(f"a {self.fit_status.get('task', 'fit')} is running; wait for it or cancel it")
        self._cancel.clear()
        self.busy = True
        self.progress = {"task": task, "nfcn": 0, "message": f"{task}: starting"}
        self.fit_status = {"state": "running", "task": task}
        calls = [0]

        def abort() -> bool:
            calls[0] += 1
            if calls[0] % _PROGRESS_EVERY == 0:
                self.progress = {"task": task, "nfcn": calls[0], "message": f"{task}: {calls[0]} NLL evaluations"}
            return self._cancel.is_set()

        def run() -> None:
            try:
                work(abort)
            except Exception as exc:
                self._show_error(f"running the {task}", exc)
                self.fit_status = {"state": "failed", "task": task, "message": str(exc)}
            finally:
                self.progress = {}
                self.busy = False

        self._thread = threading.Thread(target=run, name=f"pyhs3_lab-{task}", daemon=True)
        self._thread.start()
        if block:
            self._thread.join()

    def _limits(self) -> dict[str, tuple[float, float]]:
        """The limits of the Parameters panel where they differ from the likelihood's own."""
        lik = self.likelihood
        limits: dict[str, tuple[float, float]] = {}
        names = frozenset(lik.parameter_names)
        for p in self.params:
            name = p["name"]
            if name not in names:
                continue
            lo = -math.inf if p.get("min") is None else float(p["min"])
            hi = math.inf if p.get("max") is None else float(p["max"])
            if (lo, hi) != tuple(lik.bounds(name)):
                if not lo < hi:
                    raise PyHS3LabError(f"the limits of {name!r} are empty: [{lo}, {hi}]")
                limits[name] = (lo, hi)
        return limits

    def _bounds(self, name: str, limits: Mapping[str, tuple[float, float]]) -> tuple[float, float]:
        if name in limits:
            return limits[name]
        lo, hi = self.likelihood.bounds(name)
        return float(lo), float(hi)

    def fit(self, minos: list[str] | bool = False, *, block: bool = True) -> None:
        """MIGRAD + HESSE from the current values (fixed parameters held), + MINOS if ``minos``
        (True: the POIs, or every floating parameter if there are none; or a list of names);
        the sliders move to the best fit. ``block=False`` returns at once (the front end's buttons)."""
        lik = self.likelihood
        task = "minos" if minos else "fit"

        def work(abort: Callable[[], bool]) -> None:
            fixed = self._fixed()
            start = {k: v for k, v in self._values.items() if k in lik.floating and k not in fixed}
            minos_names = None
            if task == "minos":
                floating = [n for n in lik.floating if n not in fixed]
                wanted = minos if isinstance(minos, list) else [p for p in self._pois if p in floating] or floating
                minos_names = [n for n in wanted if n in floating]
            limits = self._limits()
            # start inside the limits (a value typed outside them would start MIGRAD at the wall)
            start = {k: min(max(v, self._bounds(k, limits)[0]), self._bounds(k, limits)[1]) for k, v in start.items()}
            res = fit_fn(lik, fixed=fixed or None, values=start, minos=minos_names, abort=abort,
                         limits=limits or None)
            cancelled = res.message == "cancelled"
            self.fit_result = self._fit_payload(res)
            self.fit_status = {"state": "cancelled" if cancelled else "done", "task": task, "valid": bool(res.valid),
                               "fval": _num(res.fval), "edm": _num(res.edm), "nfcn": int(res.nfcn),
                               "message": res.message}
            if not cancelled:
                self._move_to(res.values)

        self._start(task, work, block)

    def _move_to(self, values: Mapping[str, float]) -> None:
        new = []
        for p in self.params:
            q = dict(p)
            if q["name"] in values and _num(values[q["name"]]) is not None:
                q["value"] = float(values[q["name"]])
            new.append(q)
        self.params = new

    def _fit_payload(self, res: Any) -> dict[str, Any]:
        names = list(res.parameters)
        rows = []
        for name in names:
            lo_hi = res.minos_errors.get(name)
            rows.append({"name": name, "value": _num(res.values.get(name)), "error": _num(res.errors.get(name)),
                         "minos": [_num(lo_hi[0]), _num(lo_hi[1])] if lo_hi else None,
                         "poi": name in self._pois})
        return {"parameters": names, "rows": rows, "correlation": np.asarray(res.correlation, dtype=float),
                "pulls": self._pulls(res), "fval": _num(res.fval), "valid": bool(res.valid),
                "message": res.message}

    def _pulls(self, res: Any) -> list[dict[str, Any]]:
        """(θ̂ - θ0)/σ for parameters with a Gaussian constraint (explicit gaussian_dist terms)."""
        if self.workspace is None:
            return []
        out = []
        seen = set()
        values = {**self._values, **{k: float(v) for k, v in res.values.items()}}
        floating = set(res.parameters)
        for comp in self.workspace.spec.distributions:
            if comp.type not in ("gaussian_dist", "normal_dist"):
                continue
            x, mean, sigma = comp.parameters.get("x"), comp.parameters.get("mean"), comp.parameters.get("sigma")
            # a constraint: the mean is a floating parameter, x a constant (global observable) or number
            param, obs = (mean, x) if mean in floating else (x, mean) if x in floating else (None, None)
            if not isinstance(param, str) or param in seen:
                continue
            x0 = obs if isinstance(obs, float) else values.get(str(obs))
            s = sigma if isinstance(sigma, float) else values.get(str(sigma))
            if x0 is None or s is None or not s > 0:
                continue
            seen.add(param)
            err = res.errors.get(param, math.nan)
            out.append({"name": param, "pull": _num((values[param] - x0) / s), "error": _num(err / s),
                        "constraint": comp.name})
        # implicit constraint terms of bin-count distributions (HistFactory normsys/histosys/staterror...)
        for comp in self.workspace.spec.distributions:
            terms = getattr(self.model.compiled.distribution(comp.name), "constraint_terms", None)
            if terms is None:
                continue
            for param, spec in terms().items():
                if param in seen or param not in floating:
                    continue
                g = values.get(spec.global_observable, spec.aux) if spec.global_observable else spec.aux
                if spec.kind == "gauss":
                    centre, width = float(g), float(spec.sigma)
                elif spec.kind == "poisson" and spec.tau > 0:
                    centre, width = float(g) / spec.tau, 1.0 / math.sqrt(spec.tau)
                else:
                    continue
                seen.add(param)
                err = res.errors.get(param, math.nan)
                out.append({"name": param, "pull": _num((values[param] - centre) / width),
                            "error": _num(err / width), "constraint": f"{spec.kind} term of {comp.name}"})
        return out

    def profile_scan(self, poi: str | None = None, *, points: int = 21, block: bool = True) -> None:
        """Profile-likelihood scan of ``poi`` (default: the first POI) around the best fit."""
        lik = self.likelihood
        if lik is None:
            raise PyHS3LabError("this workspace has no likelihood to profile")
        fixed = self._fixed()
        floating = [n for n in lik.floating if n not in fixed]
        name = poi or next((p for p in self._pois if p in floating), None) or (floating[0] if floating else None)
        if name is None or name not in floating:
            raise PyHS3LabError(f"cannot profile {name!r}: it does not float; floating parameters: {floating}")
        limits = self._limits()
        lo, hi = self._bounds(name, limits)
        centre = self._values.get(name, 0.0)
        rows = {r["name"]: r for r in self.fit_result.get("rows", [])} if self.fit_result else {}
        err = _num(rows.get(name, {}).get("error"))
        if err is not None and err > 0:
            centre = float(rows[name]["value"])
            a, b = centre - 3 * err, centre + 3 * err
        else:
            half = max(abs(centre), 1.0)
            a, b = centre - half, centre + half
        a = max(a, lo) if math.isfinite(lo) else a
        b = min(b, hi) if math.isfinite(hi) else b
        grid = np.linspace(a, b, max(3, points))

        def work(abort: Callable[[], bool]) -> None:
            prof = profile_fn(lik, name, grid, fixed=fixed or None, abort=abort, limits=limits or None)
            cancelled = self._cancel.is_set()
            ilo = ihi = math.nan
            if not cancelled and np.any(np.isfinite(prof.two_delta_nll)):
                ilo, ihi = prof.interval(1.0)
            self.profile = {"poi": name, "x": np.asarray(prof.values, dtype=float),
                            "two_delta_nll": np.asarray(prof.two_delta_nll, dtype=float),
                            "valid": np.asarray(prof.valid, dtype=float), "best": _num(prof.minimum),
                            "interval": [_num(ilo), _num(ihi)]}
            self.fit_status = {"state": "cancelled" if cancelled else "done", "task": "profile",
                               "valid": bool(np.all(prof.valid)), "fval": _num(prof.best.fval),
                               "edm": _num(prof.best.edm), "nfcn": int(prof.best.nfcn),
                               "message": f"profile of {name}: {len(grid)} points"}

        self._start("profile", work, block)
