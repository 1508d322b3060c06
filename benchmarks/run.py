#!/usr/bin/env python3
"""pyhs3_lab against RooFit, pyhf, pyhs3 and hand-written numpy, on the same machine, in one process.

    python benchmarks/run.py [--quick] [--only NAME] [--json OUT] [--rounds R]

Workloads (``--only`` takes a workload name or a substring of a case name):

``unbinned``
    Extended Gaussian signal + exponential background on one observable, 1e4 / 1e5 / 1e6 events
    (the HS3 document is built in code; RooFit imports the same JSON text): one NLL, one NLL +
    gradient (tools that have one), MIGRAD + HESSE from the same start, and the peak memory a fit
    adds (the kernel's resident high-water mark, reset before each tool's fit; in multiples of the
    size of the data array).
``files``
    The pyhs3-benchmarks files (1, 10, 30 channels; yield ×1 and the larger yields that exist):
    import + set-up + first NLL, NLL with one parameter moved, with all moved, fit.
``histfactory``
    pyhf's simple model (signal × μ, background with per-bin shapesys and a shared normsys)
    scaled to channels × bins, and a synthetic ATLAS-sized workspace (``generate_atlas.py``):
    load + set-up, NLL, fit, against pyhf (numpy backend, same Minuit settings) and RooFit.
``interactive``
    What a slider does on a 10-channel model: the plotted curves of every channel on 1000-point
    grids after one parameter change, and the whole kernel-side handling of one ``params``
    message of :class:`pyhs3_lab.widget.Explorer`.

Method: every tool of a case is set up once; then ``rounds`` interleaved rounds each time every
tool once (a batch of calls sized to last a few ms), so all tools see the same machine noise; the
table gives the median (and min) per call and the ratio of medians to pyhs3_lab. Each NLL call
moves parameters to values not seen before (no tool can answer from a cache of earlier points).
Fits: Minuit2/iminuit strategy 1, tolerance 1 (EDM < 1e-3, RooFit's default), MIGRAD then HESSE,
numerical gradients unless a tool supplies one. BLAS is pinned to one thread (see the
performance anchors: threaded BLAS on this 2-vCPU box is slower, not faster). Missing optional
tools are reported as skipped.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from scipy import special  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import pyhs3_lab  # noqa: E402
from pyhs3_lab.fit import NLL  # noqa: E402

FILES_DIR = HERE.parent.parent / "shared" / "workspaces" / "pyhs3-benchmarks"
LAB = "pyhs3_lab"
SQRT2PI = math.sqrt(2.0 * math.pi)


# ======================================================================================
# timing


@dataclass
class Record:
    workload: str
    case: str
    metric: str
    tool: str
    median: float = math.nan
    min: float = math.nan
    calls: int = 0
    rounds: int = 0
    value: float | None = None
    note: str = ""
    skipped: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: "s": median/min are seconds; "×data": multiples of the data size (memory)
    unit: str = "s"


class Bench:
    def __init__(self, quick: bool, rounds: int | None) -> None:
        self.quick = quick
        self.rounds = rounds if rounds is not None else (5 if quick else 11)
        self.batch_time = 0.004 if quick else 0.02
        self.records: list[Record] = []
        self.json_path: str | None = None

    def write_json(self, path: str) -> None:
        out = {"host": platform.node(), "python": platform.python_version(), "numpy": np.__version__,
               "quick": self.quick, "rounds": self.rounds, "records": [r.__dict__ for r in self.records]}
        Path(path).write_text(json.dumps(out, indent=1, default=str))

    def add(self, rec: Record) -> None:
        self.records.append(rec)
        if self.json_path:  # written after every record: an interrupted run keeps what it measured
            self.write_json(self.json_path)
        if rec.skipped:
            print(f"  {rec.case:<40} {rec.metric:<10} {rec.tool:<14} skipped: {rec.skipped}", flush=True)
        else:
            extra = f" value={rec.value:.10g}" if rec.value is not None else ""
            spread = f" (min {fmt_t(rec.min)})" if rec.unit == "s" else ""
            print(f"  {rec.case:<40} {rec.metric:<10} {rec.tool:<14} {fmt_v(rec)}{spread}"
                  f"{extra} {rec.note}", flush=True)

    def skip(self, workload: str, case: str, metric: str, tool: str, why: str) -> None:
        self.add(Record(workload, case, metric, tool, skipped=why))

    def per_call(self, workload: str, case: str, metric: str, tools: dict[str, Callable[[], Any]],
                 rounds: int | None = None, notes: dict[str, str] | None = None,
                 max_calls: int = 100000) -> None:
        """Median per-call time of each tool, interleaved rounds of calibrated batches."""
        notes = notes or {}
        live: dict[str, Callable[[], Any]] = {}
        batch: dict[str, int] = {}
        for name, fn in tools.items():
            try:
                t0 = time.perf_counter()
                fn()
                dt = time.perf_counter() - t0
                t0 = time.perf_counter()
                fn()
                dt = min(dt, time.perf_counter() - t0)
            except Exception as exc:  # a tool that fails is reported, the others still run
                self.skip(workload, case, metric, name, f"failed: {type(exc).__name__}: {exc}"[:300])
                continue
            live[name] = fn
            batch[name] = max(1, min(max_calls, int(self.batch_time / max(dt, 1e-7))))
        n_rounds = rounds if rounds is not None else self.rounds
        times: dict[str, list[float]] = {n: [] for n in live}
        names = list(live)
        for r in range(n_rounds):
            order = names[r % len(names):] + names[:r % len(names)] if names else []
            for name in order:
                fn, n = live[name], batch[name]
                gc.collect()
                gc.disable()
                try:
                    t0 = time.perf_counter()
                    for _ in range(n):
                        fn()
                    times[name].append((time.perf_counter() - t0) / n)
                finally:
                    gc.enable()
        for name in names:
            ts = times[name]
            self.add(Record(workload, case, metric, name, statistics.median(ts), min(ts), batch[name], n_rounds,
                            note=notes.get(name, "")))

    def once(self, workload: str, case: str, metric: str, tools: dict[str, Callable[[], Any]],
             rounds: int | None = None, notes: dict[str, str] | None = None) -> dict[str, Any]:
        """Whole operations (set-up, fits) timed one by one, interleaved; returns each tool's last result."""
        notes = notes or {}
        n_rounds = rounds if rounds is not None else (1 if self.quick else 2)
        times: dict[str, list[float]] = {n: [] for n in tools}
        results: dict[str, Any] = {}
        failed: dict[str, str] = {}
        names = list(tools)
        for r in range(n_rounds):
            order = names[r % len(names):] + names[:r % len(names)] if names else []
            for name in order:
                if name in failed:
                    continue
                try:
                    t0 = time.perf_counter()
                    results[name] = tools[name]()
                    times[name].append(time.perf_counter() - t0)
                except Exception as exc:
                    failed[name] = f"failed: {type(exc).__name__}: {exc}"[:300]
                    if os.environ.get("BENCH_DEBUG"):
                        traceback.print_exc()
        for name in names:
            if name in failed:
                self.skip(workload, case, metric, name, failed[name])
                continue
            ts = times[name]
            res = results.get(name)
            value = None
            extra: dict[str, Any] = {}
            if isinstance(res, dict):
                value = res.get("fval")
                extra = {k: v for k, v in res.items() if k != "fval"}
            elif isinstance(res, float):
                value = res
            note = notes.get(name, "")
            if extra.get("nfcn") is not None:
                note = f"[nfcn {extra['nfcn']}{', valid' if extra.get('valid') else ', INVALID'}] {note}".strip()
            self.add(Record(workload, case, metric, name, statistics.median(ts), min(ts), 1, len(ts), value,
                            note, extra=extra))
        return results


def _vm() -> dict[str, int]:
    out = {}
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            key, _, val = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(val.split()[0]) * 1024
    return out


def peak_memory(fn: Callable[[], Any]) -> float | None:
    """Peak resident memory that ``fn()`` adds to the process (bytes): the kernel's high-water mark,
    reset before the call (Linux ``/proc/self/clear_refs``), minus the resident size before it.
    Counts C++ (ROOT) and numpy allocations alike; None where the kernel does not offer it."""
    try:
        gc.collect()
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        before = _vm()
        fn()
        return float(_vm()["VmHWM"] - before["VmRSS"])
    except (OSError, KeyError):
        return None


MEMORY_TOOLS = (LAB, "RooFit", "numpy+grad")


def memory_case(bench: Bench, workload: str, case: str, n: int, tools: Sequence[str]) -> None:
    """``peak mem`` records: what one fit adds at its peak after set-up, in multiples of the data size, each tool in
    a fresh process (so that no memory freed by earlier work is reused unseen) with glibc's mmap
    threshold fixed (large arrays are mapped and unmapped, not kept in the heap)."""
    import subprocess

    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    for name in tools:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child", name, str(n)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800, check=False)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            why = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            bench.skip(workload, case, "peak mem", name, f"failed: {why}"[:300])
            continue
        got = json.loads(lines[-1])
        if got.get("peak") is None:
            bench.skip(workload, case, "peak mem", name, got.get("why", "not measured"))
            continue
        ratio = got["peak"] / got["data_bytes"]
        setup = got.get("setup_peak")
        # (no time: with the fixed mmap threshold every large temporary is a fresh mapping, slower than usual)
        note = f"(set-up peak {setup / got['data_bytes']:.2g}× data)" if setup is not None else ""
        bench.add(Record(workload, case, "peak mem", name, ratio, ratio, 1, 1, unit="×data", note=note,
                         extra={"bytes": got["peak"], "data_bytes": got["data_bytes"], "setup_bytes": setup}))


def memory_child(tool: str, n: int) -> None:
    """In a fresh process: set up ``tool`` on the unbinned workload of ``n`` events, then measure one fit.

    Set-up is what happens once per likelihood: for pyhs3_lab the first NLL and the first gradient, at which
    its fast paths are checked against the general per-channel path (at the full data size); its peak is
    reported beside the fit's."""
    x = unbinned_events(n)
    docs = [unbinned_doc(x)]
    # start values and limits (which depend on n, not on the data) from the same document with 100 events
    small = pyhs3_lab.Workspace.load({**docs[0], "data": unbinned_doc(x[:100])["data"]}).likelihood("L")
    names = list(small.floating)
    x0 = NLL(small, names).start
    limits_of = {k: small.bounds(k) for k in names}
    tool_state: dict[str, Any] = {}

    def setup() -> None:
        if tool == LAB:
            lik = pyhs3_lab.Workspace.load(docs[0]).likelihood("L")
            nll = NLL(lik, names)
            nll(x0)
            nll.grad(x0)
            tool_state["fit"] = lambda: lab_fit(lik)
        elif tool == "RooFit":
            roo = RooNLL(docs[0], "model", "data", [])
            roo.value()
            start = dict(zip(names, x0.tolist(), strict=True))
            tool_state["fit"] = lambda: roo.fit(start)
        else:
            hand = NumpyUnbinned(x)
            order = [names.index(k) for k in hand.names]
            hand.value_grad(x0[order])
            limits = [limits_of[k] for k in hand.names]
            tool_state["fit"] = lambda: minuit_fit(hand.nll, x0[order], hand.names, limits, grad=hand.grad)

    if tool == "RooFit" and root() is None:
        print(json.dumps({"peak": None, "why": _ROOT_ERR}))
        return
    setup_peak = peak_memory(setup)
    docs.clear()
    t0 = time.perf_counter()
    peak = peak_memory(tool_state["fit"])
    print(json.dumps({"peak": peak, "setup_peak": setup_peak, "data_bytes": x.nbytes,
                      "seconds": time.perf_counter() - t0}))


def fmt_v(rec: Record) -> str:
    if rec.unit == "×data":
        mb = rec.extra.get("bytes", math.nan) / 1e6
        return f"{rec.median:.2g}× data ({mb:.3g} MB)"
    return fmt_t(rec.median)


def fmt_t(t: float) -> str:
    if not math.isfinite(t):
        return "-"
    if t < 1e-3:
        return f"{t * 1e6:.3g} µs"
    if t < 1.0:
        return f"{t * 1e3:.3g} ms"
    return f"{t:.3g} s"


class Moving:
    """Parameter vectors never seen before: x0 with the chosen components moved a little more each call."""

    def __init__(self, x0: np.ndarray, which: np.ndarray, scale: np.ndarray) -> None:
        self.x0 = np.asarray(x0, dtype=float)
        self.which = which
        self.scale = scale
        self.k = 0

    def next(self) -> np.ndarray:
        self.k += 1
        x = self.x0.copy()
        x[self.which] += self.scale[self.which] * (1e-3 + 1e-7 * self.k)
        return x


# ======================================================================================
# optional tools


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence C++ output on fd 1/2 (ROOT's importer) for a block."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        os.close(devnull)


_ROOT: Any = None
_ROOT_ERR = ""


def root() -> Any:
    global _ROOT, _ROOT_ERR
    if _ROOT is None and not _ROOT_ERR:
        try:
            with warnings.catch_warnings(), quiet():
                warnings.simplefilter("ignore")
                import ROOT
                ROOT.gROOT.SetBatch(True)
                ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.ERROR)
                ROOT.gErrorIgnoreLevel = ROOT.kError
                ROOT.RooWorkspace("warmup")
            _ROOT = ROOT
        except Exception as exc:
            _ROOT_ERR = f"ROOT not available ({type(exc).__name__}: {exc})"
    return _ROOT


def pyhs3_mod() -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pyhs3
            import pytensor  # noqa: F401
        return pyhs3
    except Exception:
        return None


def pyhf_mod() -> Any:
    try:
        import pyhf
        return pyhf
    except Exception:
        return None


class RooNLL:
    """A RooFit NLL (cpu backend, no offset) of an HS3 document, with its floating parameters."""

    def __init__(self, doc: dict[str, Any], pdf: str, data: str, aux: list[str], *, text: str | None = None) -> None:
        R = root()
        self.ws = R.RooWorkspace("w")
        with quiet():
            ok = R.RooJSONFactoryWSTool(self.ws).importJSONfromString(text if text is not None else json.dumps(doc))
        if not ok:
            raise RuntimeError("RooJSONFactoryWSTool.importJSONfromString returned false")
        misc = doc.get("misc", {}).get("ROOT_internal", {})
        for name, attr in misc.get("attributes", {}).items():
            if "Constant" in (attr or {}).get("tags", []) and self.ws.var(name):
                self.ws.var(name).setConstant(True)
        for p in doc.get("parameter_points", []):
            for q in p.get("parameters", []):
                if q.get("const") and self.ws.var(q["name"]):
                    self.ws.var(q["name"]).setConstant(True)
        self.pdf = self.ws.pdf(pdf)
        self.data = self.ws.data(data)
        if not self.pdf or not self.data:
            raise RuntimeError(f"{pdf!r} or {data!r} not in ROOT's workspace")
        used = {v.GetName() for v in self.pdf.getVariables()}
        aux_pdfs = [self.ws.pdf(a) for a in aux]
        for a in aux_pdfs:
            used |= {v.GetName() for v in a.getVariables()}
        globs = sorted(n for n in used if n.startswith("nom_") and self.ws.var(n))
        self._keep: list[Any] = []
        args = [R.RooFit.EvalBackend("cpu"), R.RooFit.Offset("none")]
        if globs:
            gset = R.RooArgSet()
            for g in globs:
                self.ws.var(g).setConstant(True)
                gset.add(self.ws.var(g))
            self._keep.append(gset)
            args.append(R.RooFit.GlobalObservables(gset))
        if aux_pdfs:
            aset = R.RooArgSet()
            for a in aux_pdfs:
                aset.add(a)
            self._keep.append(aset)
            args.append(R.RooFit.ExternalConstraints(aset))
        cmd = R.RooLinkedList()
        for a in args:
            cmd.Add(a)
        with quiet():
            self.nll = self.pdf.createNLL(self.data, cmd)
        obs = {v.GetName() for v in self.data.get()}
        self.vars = [self.ws.var(n) for n in sorted(used) if n not in obs and n not in globs and self.ws.var(n)
                     and not self.ws.var(n).isConstant()]
        self.names = [v.GetName() for v in self.vars]
        self.x0 = np.array([v.getVal() for v in self.vars])

    def set(self, x: np.ndarray) -> None:
        for v, val in zip(self.vars, x.tolist(), strict=True):
            v.setVal(val)

    def value(self) -> float:
        return float(self.nll.getVal())

    def at(self, x: np.ndarray) -> float:
        self.set(x)
        return float(self.nll.getVal())

    def fit(self, x0: dict[str, float] | None = None) -> dict[str, Any]:
        R = root()
        if x0 is not None:
            for v in self.vars:
                if v.GetName() in x0:
                    v.setVal(x0[v.GetName()])
        else:
            self.set(self.x0)
        m = R.RooMinimizer(self.nll)
        m.setMinimizerType("Minuit2")
        m.setStrategy(1)
        m.setOffsetting(False)
        m.setPrintLevel(-1)
        m.setVerbose(False)
        with quiet():
            status = int(m.migrad())
            m.hesse()
            r = m.save()
        try:
            nfcn: int | None = int(m.evalCounter())
        except Exception:
            nfcn = None
        return {"fval": float(r.minNll()), "valid": status == 0 and int(r.covQual()) >= 2, "nfcn": nfcn}


def minuit_fit(fcn: Callable[[np.ndarray], float], x0: np.ndarray, names: list[str],
               limits: Sequence[tuple[float, float] | None], grad: Callable[[np.ndarray], np.ndarray] | None = None,
               strategy: int = 1) -> dict[str, Any]:
    from iminuit import Minuit

    m = Minuit(fcn, np.asarray(x0, dtype=float), grad=grad, name=names)
    m.errordef = 0.5
    m.strategy = strategy
    m.tol = 1.0
    for n, lim in zip(names, limits, strict=True):
        if lim is not None:
            m.limits[n] = lim
    m.migrad()
    if m.valid:
        m.hesse()
    return {"fval": float(m.fval), "valid": bool(m.valid), "nfcn": int(m.nfcn)}


def lab_fit(lik: Any, **opts: Any) -> dict[str, Any]:
    res = lik.fit(tolerance=1.0, **opts)
    return {"fval": float(res.fval), "valid": bool(res.valid), "nfcn": int(res.nfcn)}


def lab_nll(lik: Any) -> tuple[NLL, np.ndarray, list[str]]:
    names = list(lik.floating)
    nll = NLL(lik, names)
    return nll, nll.start, names


def lab_grad(nll: NLL) -> Callable[[np.ndarray], Any] | None:
    g = getattr(nll, "grad", None)
    # NLL.grad exists always; it is analytic only where nll.has_grad (iminuit's protocol)
    return g if callable(g) and getattr(nll, "has_grad", True) else None


class Pyhs3Lik:
    """pyhs3 0.4.2: ``Model.log_prob`` of each likelihood compiled with pytensor (default mode), summed."""

    def __init__(self, doc: dict[str, Any], likelihoods: list[str], grad: bool = False) -> None:
        pyhs3 = pyhs3_mod()
        import pytensor
        import pytensor.tensor as pt
        from pytensor.graph import Constant
        try:
            from pytensor.graph.traversal import graph_inputs
        except ImportError:  # older pytensor
            from pytensor.graph.basic import graph_inputs
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ws = pyhs3.Workspace(**doc)
            by_name = {getattr(a.likelihood, "name", a.likelihood): a for a in ws.analyses}
            total = None
            ins: list[Any] = []
            self.args: list[np.ndarray] = []
            seen: set[int] = set()
            for name in likelihoods:
                model = ws.model(by_name[name]) if name in by_name else ws.model(ws.likelihoods[name])
                lp = pt.sum(model.log_prob)
                total = lp if total is None else total + lp
                values = {**model.data, **model.free_params}  # each model has its own inputs (and data)
                for v in graph_inputs([lp]):
                    if isinstance(v, Constant) or id(v) in seen:
                        continue
                    seen.add(id(v))
                    ins.append(v)
                    self.args.append(np.asarray(values[str(v.name)], dtype=np.float64))
            assert total is not None
            self.names = [str(v.name) for v in ins]
            self.params = list(dict.fromkeys(n for v, n in zip(ins, self.names, strict=True)
                                             if v.type.ndim == 0 and not n.startswith("nom_")))
            outs = [-total]
            if grad:
                # one gradient per distinct name: the sum over the models' copies of that parameter
                grads = pytensor.grad(-total, ins)
                for p in self.params:
                    idx = [i for i, n in enumerate(self.names) if n == p]
                    g = grads[idx[0]]
                    for i in idx[1:]:
                        g = g + grads[i]
                    outs.append(g)
            self.fn = pytensor.function(ins, outs if grad else outs[0])
        self.pos = [[i for i, n in enumerate(self.names) if n == p] for p in self.params]
        self.x0 = np.array([float(self.args[ix[0]]) for ix in self.pos])

    def __call__(self, x: np.ndarray) -> Any:
        args = list(self.args)
        for ix, v in zip(self.pos, x.tolist(), strict=True):
            a = np.asarray(v)
            for i in ix:
                args[i] = a
        return self.fn(*args)


# ======================================================================================
# 1. unbinned Gauss + exponential, extended


UNB_LO, UNB_HI = 0.0, 10.0


def unbinned_events(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ns = int(0.2 * n)
    sig = rng.normal(5.0, 0.5, 2 * ns)
    sig = sig[(sig >= UNB_LO) & (sig <= UNB_HI)][:ns]
    u = rng.uniform(0.0, 1.0, n - ns)
    c = 0.3
    bkg = -np.log(1.0 - u * (1.0 - math.exp(-c * (UNB_HI - UNB_LO)))) / c + UNB_LO
    return np.concatenate([sig, bkg])


UNB_START = {"mu": 5.2, "sigma": 0.6, "c": 0.25}


def unbinned_doc(x: np.ndarray) -> dict[str, Any]:
    n = len(x)
    start = {**UNB_START, "nsig": 0.25 * n, "nbkg": 0.75 * n}
    ranges = {"mu": (0.0, 10.0), "sigma": (0.05, 3.0), "c": (0.001, 2.0), "nsig": (0.0, 2.0 * n),
              "nbkg": (0.0, 2.0 * n)}
    return {
        "metadata": {"hs3_version": "0.2"},
        "distributions": [
            {"name": "sig", "type": "gaussian_dist", "x": "x", "mean": "mu", "sigma": "sigma"},
            {"name": "bkg", "type": "exponential_dist", "x": "x", "c": "c"},
            {"name": "model", "type": "mixture_dist", "summands": ["sig", "bkg"],
             "coefficients": ["nsig", "nbkg"], "extended": True},
        ],
        "data": [{"name": "data", "type": "unbinned", "axes": [{"name": "x", "min": UNB_LO, "max": UNB_HI}],
                  "entries": [[float(v)] for v in x]}],
        "likelihoods": [{"name": "L", "distributions": ["model"], "data": ["data"]}],
        "analyses": [{"name": "A", "likelihood": "L", "parameters_of_interest": ["nsig"],
                      "domains": ["default_domain"], "init": "default_values"}],
        "domains": [{"name": "default_domain", "type": "product_domain",
                     "axes": [{"name": "x", "min": UNB_LO, "max": UNB_HI}]
                     + [{"name": k, "min": lo, "max": hi} for k, (lo, hi) in ranges.items()]}],
        "parameter_points": [{"name": "default_values",
                              "parameters": [{"name": k, "value": v} for k, v in start.items()]}],
    }


class NumpyUnbinned:
    """Hand-written numpy: extended Gauss + exp(-c x) on [lo, hi], analytic gradient."""

    def __init__(self, x: np.ndarray) -> None:
        self.names = ["mu", "sigma", "c", "nsig", "nbkg"]
        self.x = np.ascontiguousarray(x, dtype=float)

    def _parts(self, p: np.ndarray) -> tuple[Any, ...]:
        mu, s, c, ns, nb = p.tolist()
        x = self.x
        a, b = (UNB_LO - mu) / s, (UNB_HI - mu) / s
        d = special.ndtr(b) - special.ndtr(a)
        z = (x - mu) / s
        g = np.exp(-0.5 * z * z) * (1.0 / (s * SQRT2PI * d))
        w = UNB_HI - UNB_LO
        em = math.exp(-c * w)
        e = np.exp(-c * (x - UNB_LO)) * (c / (1.0 - em))
        lik = ns * g + nb * e
        return mu, s, c, ns, nb, a, b, d, z, g, e, em, w, lik

    def nll(self, p: np.ndarray) -> float:
        *_, lik = self._parts(p)
        ns, nb = float(p[3]), float(p[4])
        return float(ns + nb - np.sum(np.log(lik)))

    def grad(self, p: np.ndarray) -> np.ndarray:
        return self.value_grad(p)[1]

    def value_grad(self, p: np.ndarray) -> tuple[float, np.ndarray]:
        _, s, c, ns, nb, a, b, d, z, g, e, em, w, lik = self._parts(p)
        inv = 1.0 / lik
        phi_a, phi_b = math.exp(-0.5 * a * a) / SQRT2PI, math.exp(-0.5 * b * b) / SQRT2PI
        dlogd_mu = (phi_a - phi_b) / s / d
        dlogd_s = (a * phi_a - b * phi_b) / s / d
        gi = g * inv
        ei = e * inv
        sg = float(np.sum(gi))
        se = float(np.sum(ei))
        szg = float(np.sum(z * gi))
        sz2g = float(np.sum(z * z * gi))
        sxe = float(np.sum((self.x - UNB_LO) * ei))
        dmu = -ns * (szg / s - dlogd_mu * sg)
        ds = -ns * (sz2g / s - sg / s - dlogd_s * sg)
        dc = -nb * (se * (1.0 / c - w * em / (1.0 - em)) - sxe)
        val = float(ns + nb - np.sum(np.log(lik)))
        return val, np.array([dmu, ds, dc, 1.0 - sg, 1.0 - se])


def run_unbinned(bench: Bench, only: str | None) -> None:
    sizes = [10_000, 100_000] if bench.quick else [10_000, 100_000, 1_000_000]
    for n in sizes:
        case = f"gauss+exp N={n:.0e}".replace("+0", "")
        if only and only not in ("unbinned", case) and only not in case:
            continue
        print(f"\n[unbinned] {case}", flush=True)
        unbinned_case(bench, case, n)


def unbinned_case(bench: Bench, case: str, n: int) -> None:
    x = unbinned_events(n)
    doc = unbinned_doc(x)
    text = json.dumps(doc)
    hand = NumpyUnbinned(x)

    # set-up
    setup: dict[str, Callable[[], Any]] = {LAB: lambda: pyhs3_lab.Workspace.load(text).likelihood("L").nll()}
    if root() is not None:
        setup["RooFit"] = lambda: RooNLL(doc, "model", "data", [], text=text).value()
    if pyhs3_mod() is not None and (n <= 100_000 or not bench.quick):
        setup["pyhs3"] = lambda: _p3_first(doc, ["L"])
    bench.once("unbinned", case, "set-up", setup, rounds=1,
               notes={"pyhs3": "(incl. pytensor compile)", LAB: "(JSON text to the first NLL)"})

    lik = pyhs3_lab.Workspace.load(text).likelihood("L")
    nll, x0, names = lab_nll(lik)
    order = [names.index(k) for k in hand.names]
    x0_hand = x0[order]
    scale = np.abs(x0) + 0.1
    mv = {k: Moving(x0, np.arange(len(x0)), scale) for k in ("lab", "hand", "roo", "p3")}
    tools: dict[str, Callable[[], Any]] = {
        LAB: lambda: nll(mv["lab"].next()),
        "numpy": lambda: hand.nll(mv["hand"].next()[order]),
    }
    check = {LAB: nll(x0), "numpy": hand.nll(x0_hand)}
    roo = None
    if root() is not None:
        roo = RooNLL(doc, "model", "data", [], text=text)
        rorder = [names.index(k) for k in roo.names]
        tools["RooFit"] = lambda: roo.at(mv["roo"].next()[rorder])
        roo.set(x0[rorder])
        check["RooFit"] = roo.value()
    else:
        bench.skip("unbinned", case, "nll", "RooFit", _ROOT_ERR)
    p3 = None
    if pyhs3_mod() is not None:
        try:
            p3 = Pyhs3Lik(doc, ["L"], grad=True)
            porder = [names.index(k) for k in p3.params]
            tools["pyhs3"] = lambda: p3(mv["p3"].next()[porder])[0]
            check["pyhs3"] = float(np.asarray(p3(x0[porder])[0]).sum())
        except Exception as exc:
            bench.skip("unbinned", case, "nll", "pyhs3", f"failed: {type(exc).__name__}: {exc}"[:200])
    else:
        bench.skip("unbinned", case, "nll", "pyhs3", "pyhs3 not installed")
    print("  NLL at the start point: " + ", ".join(f"{k} {v:.10g}" for k, v in check.items()), flush=True)
    bench.per_call("unbinned", case, "nll", tools)

    # value + gradient
    gtools: dict[str, Callable[[], Any]] = {"numpy": lambda: hand.value_grad(mv["hand"].next()[order])}
    g = lab_grad(nll)
    if g is not None:
        gtools[LAB] = lambda: (nll(xx := mv["lab"].next()), g(xx))
    else:
        bench.skip("unbinned", case, "nll+grad", LAB, "no analytic gradient (NLL.grad) yet")
    if p3 is not None:
        gtools["pyhs3"] = lambda: p3(mv["p3"].next()[porder])
    bench.per_call("unbinned", case, "nll+grad", gtools)

    # fits from the same start
    limits = [lik.bounds(k) for k in hand.names]
    ftools: dict[str, Callable[[], Any]] = {
        LAB: lambda: lab_fit(lik),
        "numpy": lambda: minuit_fit(hand.nll, x0_hand, hand.names, list(limits)),
        "numpy+grad": lambda: minuit_fit(hand.nll, x0_hand, hand.names, list(limits), grad=hand.grad),
    }
    if roo is not None:
        ftools["RooFit"] = lambda: roo.fit(dict(zip(names, x0.tolist(), strict=True)))
    if p3 is not None and (n <= 100_000 or not bench.quick):
        plim = [lik.bounds(k) for k in p3.params]
        ftools["pyhs3"] = lambda: minuit_fit(lambda xx: float(np.sum(p3(xx)[0])), x0[porder], p3.params, plim)
    bench.once("unbinned", case, "fit", ftools)

    # memory of a fit: what the fit adds on top of the loaded data and likelihood, each tool alone
    memory_case(bench, "unbinned", case, n, [k for k in MEMORY_TOOLS if k in ftools])


def _p3_first(doc: dict[str, Any], liks: list[str]) -> float:
    p = Pyhs3Lik(doc, liks)
    return float(np.sum(p.fn(*p.args)))


# ======================================================================================
# 2. pyhs3-benchmarks files


FILE_CASES = [
    ("1ch ×1", "1ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json"),
    ("1ch ×100", "1ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield100x.json"),
    ("1ch ×1000", "1ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1000x.json"),
    ("3ch ×100", "3ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield100x.json"),
    ("10ch ×1", "10ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json"),
    ("10ch ×10", "10ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield10x.json"),
    ("30ch ×1", "30ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json"),
]
QUICK_FILE_CASES = {"1ch ×1", "1ch ×1000", "10ch ×1", "30ch ×1"}


class NumpyFile:
    """Hand-written numpy for the bkgRooExp_sigGauss family: a plain Python loop over channels.

    Channel k: extended mixture of Gauss(x | mean_k, sigma_nom_k (1 + 0.1 α)) and exp(-τ_k x) on the
    data range, yields μ·nsig_k and nbkg_k; plus the Gaussian constraint of α (global observable
    nom_alpha_sigma, normalised over its range)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        vals = {q["name"]: q["value"] for p in doc["parameter_points"] if p["name"] == "default_values"
                for q in p["parameters"]}
        data = {d["name"]: d for d in doc["data"]}
        self.channels = []
        for lk in doc["likelihoods"]:
            dist, dname = lk["distributions"][0], lk["data"][0]
            k = dist.removeprefix("model_")
            d = data[dname]
            ax = d["axes"][0]
            x = np.array([e[0] for e in d["entries"]], dtype=float)
            w = np.asarray(d["weights"], dtype=float) if "weights" in d else None
            self.channels.append({"k": k, "x": x, "w": w, "lo": float(ax["min"]), "hi": float(ax["max"]),
                                  "mean": vals[f"mean_{k}"], "snom": vals[f"sigma_nom_{k}"],
                                  "nsig": vals[f"nsig_{k}"]})
        doms = {a["name"]: (a["min"], a["max"]) for dm in doc["domains"] for a in dm["axes"]}
        self.glob_range = doms.get("nom_alpha_sigma", (-5.0, 5.0))
        self.nom = vals.get("nom_alpha_sigma", 0.0)
        self.sc = vals.get("sigma_constr", 1.0)
        self.names = ["alpha_sigma", "mu_sig"] + [f"{p}_{c['k']}" for c in self.channels for p in ("tau", "nbkg")]

    def nll(self, p: np.ndarray) -> float:
        vals = p.tolist()
        alpha, mu = vals[0], vals[1]
        total = 0.0
        for i, ch in enumerate(self.channels):
            tau, nbkg = vals[2 + 2 * i], vals[3 + 2 * i]
            x, lo, hi = ch["x"], ch["lo"], ch["hi"]
            s = ch["snom"] * (1.0 + 0.1 * alpha)
            m = ch["mean"]
            d = 0.5 * (math.erf((hi - m) / (s * math.sqrt(2))) - math.erf((lo - m) / (s * math.sqrt(2))))
            z = (x - m) / s
            g = np.exp(-0.5 * z * z) * (1.0 / (s * SQRT2PI * d))
            e = np.exp(-tau * x) * (tau / (math.exp(-tau * lo) - math.exp(-tau * hi)))
            ns = mu * ch["nsig"]
            lik = ns * g + nbkg * e
            nu = ns + nbkg
            if ch["w"] is None:
                total += nu - float(np.sum(np.log(lik))) + len(x) * 0.0
            else:
                total += nu - float(np.sum(ch["w"] * np.log(lik)))
        lo, hi = self.glob_range
        r2 = self.sc * math.sqrt(2)
        dn = 0.5 * (math.erf((hi - alpha) / r2) - math.erf((lo - alpha) / r2))
        zc = (self.nom - alpha) / self.sc
        total += 0.5 * zc * zc + math.log(self.sc * SQRT2PI * dn)
        return float(total)


def run_files(bench: Bench, only: str | None) -> None:
    for label, fname in FILE_CASES:
        if bench.quick and label not in QUICK_FILE_CASES:
            continue
        if only and only not in ("files", label) and only not in label:
            continue
        file_case(bench, label, fname)


def file_case(bench: Bench, label: str, fname: str) -> None:
    path = FILES_DIR / fname
    if not path.exists():
        bench.skip("files", label, "set-up", LAB, f"missing file {path}")
        return
    print(f"\n[files] {label}: {fname}", flush=True)
    text = path.read_text()
    doc = json.loads(text)
    lik_names = [lk["name"] for lk in doc["likelihoods"]]
    all_aux = list(dict.fromkeys(a for lk in doc["likelihoods"] for a in lk.get("aux_distributions", [])))
    n_ch = len(lik_names)
    roo_pdf, roo_data = ("sim_pdf", "combData")

    def lab_setup() -> float:
        return float(pyhs3_lab.Workspace.load(str(path)).likelihood(lik_names).nll())

    def roo_setup() -> float:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        return RooNLL(d, roo_pdf, roo_data, all_aux).value()

    def p3_setup() -> float:
        with open(path, encoding="utf-8") as f:
            return _p3_first(json.load(f), lik_names)

    setup: dict[str, Callable[[], Any]] = {LAB: lab_setup}
    if root() is not None:
        setup["RooFit"] = roo_setup
    if pyhs3_mod() is not None and n_ch <= 10:
        setup["pyhs3"] = p3_setup
    bench.once("files", label, "set-up", setup, notes={"pyhs3": "(incl. pytensor compile)"})

    lik = pyhs3_lab.Workspace.load(str(path)).likelihood(lik_names)
    nll, x0, names = lab_nll(lik)
    hand = NumpyFile(doc)
    horder = [names.index(k) for k in hand.names]
    check: dict[str, float] = {LAB: nll(x0), "numpy": hand.nll(x0[horder])}
    roo = p3 = None
    rorder: list[int] = []
    porder: list[int] = []
    if root() is not None:
        roo = RooNLL(doc, roo_pdf, roo_data, all_aux)
        rorder = [names.index(k) for k in roo.names]
        check["RooFit - N log(n_ch)"] = roo.value() - lik.n_events * math.log(n_ch)
    if pyhs3_mod() is not None and n_ch <= 10:  # pytensor compiles each channel (~6 s each)
        try:
            p3 = Pyhs3Lik(doc, lik_names)
            porder = [names.index(k) for k in p3.params]
            check["pyhs3"] = float(np.sum(p3(x0[porder])))
        except Exception as exc:
            bench.skip("files", label, "nll", "pyhs3", f"failed: {type(exc).__name__}: {exc}"[:200])
    print("  NLL at the default point: " + ", ".join(f"{k} {v:.10g}" for k, v in check.items()), flush=True)
    scale = np.abs(x0) + 0.1
    mu_i = np.array([names.index("mu_sig")])
    for metric, which in (("nll 1p", mu_i), ("nll all", np.arange(len(x0)))):
        mv = {k: Moving(x0, which, scale) for k in ("lab", "hand", "roo", "p3")}
        tools: dict[str, Callable[[], Any]] = {
            LAB: lambda mv=mv: nll(mv["lab"].next()),
            "numpy": lambda mv=mv: hand.nll(mv["hand"].next()[horder]),
        }
        if roo is not None:
            if metric == "nll 1p":
                mu_var = roo.vars[roo.names.index("mu_sig")]
                roo.set(x0[rorder])

                def roo_1p(mv: dict[str, Moving] = mv, v: Any = mu_var, r: RooNLL = roo) -> float:
                    v.setVal(float(mv["roo"].next()[mu_i[0]]))
                    return r.value()

                tools["RooFit"] = roo_1p
            else:
                tools["RooFit"] = lambda mv=mv: roo.at(mv["roo"].next()[rorder])
        if p3 is not None:
            tools["pyhs3"] = lambda mv=mv: p3(mv["p3"].next()[porder])
        bench.per_call("files", label, metric, tools,
                       notes={"RooFit": "(RooFit caches what the moved parameter does not touch)"
                              if metric == "nll 1p" else ""})

    limits = [lik.bounds(k) for k in hand.names]
    ftools: dict[str, Callable[[], Any]] = {
        LAB: lambda: lab_fit(lik),
        "numpy": lambda: minuit_fit(hand.nll, x0[horder], hand.names, list(limits)),
    }
    if roo is not None:
        ftools["RooFit"] = lambda: roo.fit(dict(zip(names, x0.tolist(), strict=True)))
    if p3 is not None and n_ch <= 10:
        plim = [lik.bounds(k) for k in p3.params]
        ftools["pyhs3"] = lambda: minuit_fit(lambda xx: float(np.sum(p3(xx))), x0[porder], p3.params, plim)
    bench.once("files", label, "fit", ftools)


# ======================================================================================
# 3. binned HistFactory


def pyhf_simple_spec(n_channels: int, n_bins: int) -> dict[str, Any]:
    """pyhf's uncorrelated_background model per channel (data 120, bkg 100 ± 10, sig 30 per bin) plus a
    shared normsys on the background (1.05 / 0.95) and a shared μ."""
    channels, observations = [], []
    for c in range(n_channels):
        name = f"ch{c}"
        sig = [30.0 + 0.1 * ((c + b) % 7) for b in range(n_bins)]
        bkg = [100.0 + 0.5 * ((3 * c + b) % 11) for b in range(n_bins)]
        unc = [10.0] * n_bins
        channels.append({"name": name, "samples": [
            {"name": "signal", "data": sig, "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
            {"name": "background", "data": bkg, "modifiers": [
                {"name": f"uncorr_bkguncrt_{name}", "type": "shapesys", "data": unc},
                {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.05, "lo": 0.95}}]}]})
        observations.append({"name": name, "data": [120.0 + ((c + 2 * b) % 5) for b in range(n_bins)]})
    return {"channels": channels, "observations": observations, "version": "1.0.0",
            "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}]}


class NumpySimpleHF:
    """Hand-written numpy NLL of :func:`pyhf_simple_spec` in pyhf's conventions, all bins in one pass:
    ν = μ S + B γ I4(α) (code4 normsys), Poisson main term and Poisson(τ | γτ) shapesys constraints
    with τ = (B/σ)², and N(0 | α, 1); constants (lgamma, log √2π) as pyhf keeps them."""

    def __init__(self, spec: dict[str, Any]) -> None:
        s, b, sd, n, names = [], [], [], [], ["mu", "bkg_norm"]
        obs = {o["name"]: o["data"] for o in spec["observations"]}
        for ch in spec["channels"]:
            sig, bkg = ch["samples"]
            s += sig["data"]
            b += bkg["data"]
            sd += bkg["modifiers"][0]["data"]
            n += obs[ch["name"]]
            names += [f"{bkg['modifiers'][0]['name']}_{i}" for i in range(len(bkg["data"]))]
        self.names = names
        self.s, self.b, self.n = (np.array(v, dtype=float) for v in (s, b, n))
        self.tau = (self.b / np.array(sd, dtype=float)) ** 2
        hi, lo = 1.05, 0.95
        self.hi, self.lo = hi, lo
        lh, ll = math.log(hi), math.log(lo)
        a = np.array([[1, 1, 1, 1, 1, 1], [-1, 1, -1, 1, -1, 1], [1, 2, 3, 4, 5, 6], [1, -2, 3, -4, 5, -6],
                      [0, 2, 6, 12, 20, 30], [0, 2, -6, 12, -20, 30]], dtype=float)
        rhs = np.array([hi - 1, lo - 1, hi * lh, -lo * ll, hi * lh * lh, lo * ll * ll])
        self.coef = np.linalg.solve(a, rhs)
        self.const = float(np.sum(special.gammaln(self.n + 1)) + np.sum(special.gammaln(self.tau + 1))
                           + math.log(SQRT2PI))
        self.ln_tau = np.log(self.tau)

    def nll(self, p: np.ndarray) -> float:
        mu, alpha = float(p[0]), float(p[1])
        gam = p[2:]
        if alpha >= 1.0:
            f = self.hi ** alpha
        elif alpha <= -1.0:
            f = self.lo ** (-alpha)
        else:
            f = 1.0 + sum(c * alpha ** (i + 1) for i, c in enumerate(self.coef.tolist()))
        nu = mu * self.s + (f * self.b) * gam
        gt = gam * self.tau
        main = float(np.sum(nu - self.n * np.log(nu)))
        cons = float(np.sum(gt - self.tau * (self.ln_tau + np.log(gam))))
        return main + cons + 0.5 * alpha * alpha + self.const


HF_CASES = [(1, 10), (1, 100), (1, 1000), (10, 10), (10, 100), (10, 1000), (100, 10), (100, 100)]
HF_QUICK = [(1, 10), (1, 1000), (10, 100), (100, 10)]


class PyhfNLL:
    def __init__(self, spec: dict[str, Any]) -> None:
        import pyhf
        pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(tolerance=1.0, strategy=1))
        self.pyhf = pyhf
        self.ws = pyhf.Workspace(spec)
        self.model = self.ws.model()
        self.data = np.asarray(self.ws.data(self.model), dtype=float)
        self.init = np.asarray(self.model.config.suggested_init(), dtype=float)
        self.names = [f"{p}[{i}]" if self.model.config.param_set(p).n_parameters > 1 else p
                      for p in self.model.config.par_order
                      for i in range(self.model.config.param_set(p).n_parameters)]

    def nll(self, x: np.ndarray) -> float:
        return -float(self.model.logpdf(x, self.data)[0])

    def fit(self) -> dict[str, Any]:
        _, res = self.pyhf.infer.mle.fit(self.data, self.model, return_result_obj=True)
        m = res.minuit
        # pyhf minimises -2 log L
        return {"fval": 0.5 * float(m.fval), "valid": bool(m.valid), "nfcn": int(m.nfcn)}


def run_histfactory(bench: Bench, only: str | None) -> None:
    cases = HF_QUICK if bench.quick else HF_CASES
    for n_ch, n_bins in cases:
        label = f"{n_ch}ch × {n_bins} bins"
        if only and only not in ("histfactory", label) and only not in label:
            continue
        print(f"\n[histfactory] {label}", flush=True)
        spec = pyhf_simple_spec(n_ch, n_bins)
        # fits with ~100 parameters at most: pyhf's numerical HESSE alone is N²/2 calls (533 s at 1002 parameters)
        hf_case(bench, label, spec, fit=n_ch * n_bins <= 100,
                hand=NumpySimpleHF(spec))
    if only and only not in ("histfactory", "atlas") and "atlas" not in only:
        return
    import generate_atlas

    spec = generate_atlas.generate(quick=bench.quick)
    label = "ATLAS-sized" + (" (quick: 1/10)" if bench.quick else "")
    print(f"\n[histfactory] {label}: {generate_atlas.describe(spec)}", flush=True)
    # the fit of pyhs3_lab only: pyhf's and RooFit's MINUIT HESSE alone is N²/2 NLL calls at ~3000 parameters
    hf_case(bench, label, spec, fit=True, fit_tools=(LAB,))


def hf_case(bench: Bench, label: str, spec: dict[str, Any], fit: bool, fit_tools: Sequence[str] | None = None,
            **extra: Any) -> None:
    from pyhs3_lab.pyhf_convert import pyhf_to_hs3

    text = json.dumps(spec)

    def lab_setup() -> float:
        ws = pyhs3_lab.Workspace.from_pyhf(json.loads(text))
        return float(ws.likelihood(conventions="pyhf").nll())

    setup: dict[str, Callable[[], Any]] = {LAB: lab_setup}
    if pyhf_mod() is not None:
        setup["pyhf"] = lambda: _pyhf_setup(text)
    hs3_doc = _for_root(pyhf_to_hs3(spec))
    hs3_text = json.dumps(hs3_doc)
    roo_ok = root() is not None
    if roo_ok:
        setup["RooFit"] = lambda: _roo_hf(hs3_doc, hs3_text).value()
    res = bench.once("histfactory", label, "set-up", setup, rounds=1 if "ATLAS" in label else None,
                     notes={"RooFit": "(the HS3 conversion of the pyhf spec)"})
    if "RooFit" not in res:
        roo_ok = False

    lik = pyhs3_lab.Workspace.from_pyhf(spec).likelihood(conventions="pyhf")
    nll, x0, names = lab_nll(lik)
    tools: dict[str, Callable[[], Any]] = {}
    scale = np.abs(x0) + 0.1
    mv = {k: Moving(x0, np.arange(len(x0)), scale) for k in ("lab", "pyhf", "roo", "hand")}
    tools[LAB] = lambda: nll(mv["lab"].next())
    check = {LAB: nll(x0)}
    if "hand" in extra:
        hand = extra["hand"]
        horder = [names.index(k) for k in hand.names]
        check["numpy"] = hand.nll(x0[horder])
        tools["numpy"] = lambda: hand.nll(mv["hand"].next()[horder])
    ph = None
    if pyhf_mod() is not None:
        ph = PyhfNLL(spec)
        porder = [names.index(_lab_name(n)) for n in ph.names]
        check["pyhf"] = ph.nll(x0[porder])
        tools["pyhf"] = lambda: ph.nll(mv["pyhf"].next()[porder])
    else:
        bench.skip("histfactory", label, "nll", "pyhf", "pyhf not installed")
    roo = None
    if roo_ok:
        try:
            roo = _roo_hf(hs3_doc, hs3_text)
            rmv = Moving(roo.x0, np.arange(len(roo.x0)), np.abs(roo.x0) + 0.1)
            tools["RooFit"] = lambda: roo.at(rmv.next())
        except Exception as exc:
            bench.skip("histfactory", label, "nll", "RooFit", f"failed: {type(exc).__name__}: {exc}"[:200])
    print("  NLL at the start point: " + ", ".join(f"{k} {v:.10g}" for k, v in check.items()), flush=True)
    bench.per_call("histfactory", label, "nll all", tools,
                   notes={"RooFit": "(ROOT reads shapesys as relative: another NLL, same structure)"})
    if not fit:
        return
    ftools: dict[str, Callable[[], Any]] = {LAB: lambda: lab_fit(lik)}
    if "hand" in extra:
        hlim = [lik.bounds(k) for k in extra["hand"].names]
        ftools["numpy"] = lambda: minuit_fit(extra["hand"].nll, x0[horder], extra["hand"].names, hlim)
    if ph is not None:
        ftools["pyhf"] = ph.fit
    if roo is not None:
        ftools["RooFit"] = lambda: roo.fit()
    for name in list(ftools):
        if fit_tools is not None and name not in fit_tools:
            del ftools[name]
            bench.skip("histfactory", label, "fit", name, "not run (its numerical HESSE alone: N²/2 NLL calls)")
    bench.once("histfactory", label, "fit", ftools, rounds=1 if fit_tools is not None else None)


def _pyhf_setup(text: str) -> float:
    p = PyhfNLL(json.loads(text))
    return p.nll(p.init)


def _for_root(doc: dict[str, Any]) -> dict[str, Any]:
    """The converted document with ROOT's RooSimultaneous bookkeeping (what ROOT itself writes), so that
    ROOT builds one combined pdf and dataset (``simPdf`` + ``obsData``)."""
    lk = doc["likelihoods"][0]
    labels = [d.removeprefix("model_") for d in lk["distributions"]]
    if [f"obsData_{lb}" for lb in labels] != list(lk["data"]):
        return doc
    info = {"index_cat": "channelCat", "indices": list(range(len(labels))), "labels": labels}
    root_misc = doc.setdefault("misc", {}).setdefault("ROOT_internal", {})
    root_misc["combined_distributions"] = {"simPdf": {**info, "distributions": list(lk["distributions"])}}
    root_misc["combined_datasets"] = {"obsData": dict(info)}
    return doc


def _roo_hf(doc: dict[str, Any], text: str) -> RooNLL:
    return RooNLL(doc, "simPdf", "obsData", [], text=text)


def _lab_name(pyhf_name: str) -> str:
    """pyhf's parameter name (``name[i]``) as pyhf_convert names it (``name_i``)."""
    if pyhf_name.endswith("]"):
        base, idx = pyhf_name[:-1].split("[")
        return f"{base}_{idx}"
    return pyhf_name


# ======================================================================================
# 4. interactive


def run_interactive(bench: Bench, only: str | None) -> None:
    if only and only not in ("interactive",):
        return
    fname = "10ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json"
    path = FILES_DIR / fname
    print(f"\n[interactive] 10 channels: {fname}", flush=True)
    from pyhs3_lab.widget import _curves

    ws = pyhs3_lab.Workspace.load(str(path))
    doc = json.loads(path.read_text())
    lik_names = [lk["name"] for lk in doc["likelihoods"]]
    lik = ws.likelihood(lik_names)
    hand = NumpyFile(doc)
    values = dict(lik.init)
    maker = _curves.CurveMaker(lik.model, lik)
    dists = [f"model_{c['k']}" for c in hand.channels]
    k = [0]
    old_grid = _curves.GRID_POINTS
    _curves.GRID_POINTS = 1000

    def lab_curves() -> None:
        k[0] += 1
        v = dict(values)
        v["mu_sig"] = 1.0 + 1e-7 * k[0]
        for d in dists:
            maker.curves(d, v)

    def numpy_curves() -> None:
        k[0] += 1
        mu = 1.0 + 1e-7 * k[0]
        alpha = values["alpha_sigma"]
        for i, ch in enumerate(hand.channels):
            lo, hi = ch["lo"], ch["hi"]
            grid = np.linspace(lo, hi, 1000)
            tau, nbkg = values[f"tau_{ch['k']}"], values[f"nbkg_{ch['k']}"]
            s = ch["snom"] * (1.0 + 0.1 * alpha)
            m = ch["mean"]
            d = 0.5 * (math.erf((hi - m) / (s * math.sqrt(2))) - math.erf((lo - m) / (s * math.sqrt(2))))
            z = (grid - m) / s
            g = np.exp(-0.5 * z * z) * (1.0 / (s * SQRT2PI * d))
            e = np.exp(-tau * grid) * (tau / (math.exp(-tau * lo) - math.exp(-tau * hi)))
            width = (hi - lo) / 20  # events per histogram bin of the data
            sig_c = mu * ch["nsig"] * g * width
            bkg_c = nbkg * e * width
            _ = (sig_c + bkg_c, sig_c, bkg_c, i)

    try:
        bench.per_call("interactive", "10ch curves, 1000-pt grids", "1 slider", {LAB: lab_curves,
                                                                               "numpy": numpy_curves},
                       notes={LAB: "(CurveMaker.curves of the 10 channels: total, components, data)",
                              "numpy": "(total and components on the grids)"})
    finally:
        _curves.GRID_POINTS = old_grid
    try:
        from pyhs3_lab.widget import Explorer
    except Exception as exc:
        bench.skip("interactive", "Explorer params message", "1 slider", LAB, f"widget not importable: {exc}")
        return
    ex = Explorer(ws)
    base = [dict(p) for p in ex.params]
    movable = [i for i, p in enumerate(base) if p["name"] == "mu_sig"] or [
        i for i, p in enumerate(base) if not p.get("fixed") and p.get("value") is not None]
    if not movable:
        bench.skip("interactive", "Explorer params message", "1 slider", LAB,
                   f"the Explorer shows no parameter to move ({ex.error or 'no error'})")
        return
    idx = movable[0]
    j = [0]

    def slider() -> None:
        j[0] += 1
        new = [dict(p) for p in base]
        new[idx]["value"] = 1.0 + 1e-6 * j[0]
        ex.revision = j[0]
        ex.params = new

    bench.per_call("interactive", "Explorer params message", "1 slider", {LAB: slider},
                   notes={LAB: f"(selected {ex.selected!r}: curves of one channel + the NLL of all)"})


# ======================================================================================
# report


def table(records: list[Record]) -> str:
    groups: dict[tuple[str, str, str], dict[str, Record]] = {}
    tools: list[str] = []
    for r in records:
        groups.setdefault((r.workload, r.case, r.metric), {})[r.tool] = r
        if r.tool not in tools:
            tools.append(r.tool)
    tools = [LAB] + [t for t in tools if t != LAB]
    head = "| workload | case | metric | " + " | ".join(tools) + " |"
    lines = [head, "|" + "---|" * (3 + len(tools))]
    for (w, c, m), recs in groups.items():
        ref = recs.get(LAB)
        cells = []
        for t in tools:
            rec = recs.get(t)
            if rec is None:
                cells.append("")
                continue
            r = rec
            if r.skipped:
                cells.append("skipped")
            else:
                cell = fmt_v(r)
                if t != LAB and ref is not None and not ref.skipped and ref.median > 0:
                    cell += f" (×{r.median / ref.median:.3g})"
                if r.extra.get("nfcn"):
                    cell += f" [{r.extra['nfcn']}]"
                cells.append(cell)
        lines.append(f"| {w} | {c} | {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def warm_up() -> None:
    """One small fit with each tool before any timing: what a first fit loads once per process (iminuit,
    ROOT's Minuit2 library, pyhf's optimizer) is not counted in the first case's fit."""
    doc = unbinned_doc(unbinned_events(200, seed=9))
    with contextlib.suppress(Exception):
        lab_fit(pyhs3_lab.Workspace.load(doc).likelihood("L"))
    if root() is not None:
        with contextlib.suppress(Exception):
            RooNLL(doc, "model", "data", []).fit()
    if pyhf_mod() is not None:
        with contextlib.suppress(Exception):
            PyhfNLL(pyhf_simple_spec(1, 2)).fit()


WORKLOADS = {"unbinned": run_unbinned, "files": run_files, "histfactory": run_histfactory,
             "interactive": run_interactive}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="pyhs3_lab benchmarks (see the module docstring)")
    ap.add_argument("--quick", action="store_true", help="smaller sizes, fewer rounds")
    ap.add_argument("--only", help="a workload (unbinned, files, histfactory, interactive) or part of a case name")
    ap.add_argument("--json", help="write the records to this JSON file")
    ap.add_argument("--rounds", type=int, help="interleaved rounds per per-call case")
    ap.add_argument("--table", nargs="+", metavar="JSON",
                    help="only print the table of earlier --json outputs (later files replace earlier records)")
    ap.add_argument("--memory-child", nargs=2, metavar=("TOOL", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child[0], int(args.memory_child[1]))
        return 0
    if args.table:
        merged: dict[tuple[str, str, str, str], Record] = {}
        for path in args.table:
            for r in json.loads(Path(path).read_text())["records"]:
                rec = Record(**r)
                merged[(rec.workload, rec.case, rec.metric, rec.tool)] = rec
        print(table(list(merged.values())))
        return 0
    bench = Bench(args.quick, args.rounds)
    bench.json_path = args.json
    print(f"pyhs3_lab benchmarks on {platform.node()} ({platform.processor() or platform.machine()}), "
          f"python {platform.python_version()}, numpy {np.__version__}; rounds {bench.rounds}", flush=True)
    if root() is None:
        print(f"RooFit: skipped ({_ROOT_ERR})")
    if pyhs3_mod() is None:
        print("pyhs3: skipped (not installed)")
    if pyhf_mod() is None:
        print("pyhf: skipped (not installed)")
    warm_up()
    selected = [args.only] if args.only in WORKLOADS else list(WORKLOADS)
    only = None if args.only in WORKLOADS else args.only
    t0 = time.time()
    for name in selected:
        try:
            WORKLOADS[name](bench, only)
        except Exception:
            print(f"workload {name} failed:", file=sys.stderr)
            traceback.print_exc()
    print(f"\n{table(bench.records)}\n\n(total {time.time() - t0:.0f} s; ratios are medians relative to pyhs3_lab; "
          "[n] = NLL calls of a fit)")
    if args.json:
        bench.write_json(args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
