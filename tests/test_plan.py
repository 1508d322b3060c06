"""The flat plan of batched unbinned channels (pyhs3_lab.plan) and the grouped constraint terms
(pyhs3_lab.auxbatch) agree with the general path, turn themselves off where they must, and their
gradients agree with finite differences."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from shared_paths import WORKSPACES

import pyhs3_lab
from pyhs3_lab import auxbatch
from pyhs3_lab.auxbatch import AuxGroup
from pyhs3_lab.batch import ChannelBatch
from pyhs3_lab.plan import ChannelPlan, MixtureTop

BENCH = WORKSPACES / "pyhs3-benchmarks"
#: one file per shape of the benchmark family
SHAPES = [
    "1ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json",
    "3ch_bkgRooExp_sigGauss_shapeFixed_npOff_constrGauss_yield1x.json",
    "3ch_bkgRooExp_sigGauss_shapeFixed_npOn_constrGauss_yield1x.json",
    "3ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrNone_yield1x.json",
    "3ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrPoisson_yield1x.json",
    "10ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield10x.json",
    "30ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json",
]
#: shapes with a kernel that has no plan (generic_dist): the batched tree stays in charge
UNPLANNED = [
    "3ch_bkgGenExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json",
    "3ch_bkgRooExp_sigGeneric_shapeFloat_npOn_constrGauss_yield1x.json",
]


def _general(lik: Any, values: dict[str, Any]) -> float:
    full = lik._full_values(values)
    return float(sum(t.nll(full) for t in lik._density_terms) + sum(a.nll(full) for a in lik._aux_terms))


def _file(name: str) -> Any:
    path = BENCH / name
    if not path.is_file():
        pytest.skip(f"{path} is not available")
    ws = pyhs3_lab.Workspace.load(path)
    return ws.likelihood([lk.name for lk in ws.likelihoods])


def _points(lik: Any, n: int, seed: int) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    out = [dict(lik.init)]
    for _ in range(n):
        pt = dict(lik.init)
        for p in lik.floating:
            lo, hi = lik.bounds(p)
            v = pt[p] * (1 + 0.05 * rng.normal()) + 0.02 * rng.normal()
            pt[p] = float(min(max(v, lo + 1e-6), hi - 1e-6))
        out.append(pt)
    for p in lik.floating[:3]:  # one parameter at a time: only the steps that depend on it rerun
        out.append({**out[-1], p: out[-1][p] * 1.01 + 1e-3})
    return out


def _batches(lik: Any) -> list[ChannelBatch]:
    return [t for t in lik._planned_density_terms() if isinstance(t, ChannelBatch)]


def _batch_general(b: ChannelBatch, full: dict[str, Any]) -> float:
    return float(sum(t.nll(full) for t in b.terms))


def _fd_check(plan: ChannelPlan, full: dict[str, Any], names: list[str]) -> None:
    got = plan.gradient(full, frozenset(names))
    assert got is not None
    for n in names:
        h = 1e-6 * max(1.0, abs(full[n]))
        up = plan.nll({**full, n: full[n] + h})
        down = plan.nll({**full, n: full[n] - h})
        assert up is not None
        assert down is not None
        fd = (up - down) / (2 * h)
        assert got.get(n, 0.0) == pytest.approx(fd, rel=1e-5, abs=1e-5 * max(1.0, abs(up))), n


# --------------------------------------------------------------------------------------
# the benchmark files


@pytest.mark.parametrize("name", SHAPES)
def test_plan_equals_general_path_on_benchmark_shapes(name: str) -> None:
    lik = _file(name)
    for pt in _points(lik, 3, seed=11):
        full = lik._full_values(pt)
        got = lik.nll(pt)
        assert got == pytest.approx(_general(lik, pt), rel=1e-12)
        for b in _batches(lik):
            val = b.plan().nll(full) if b.plan() is not None else None
            assert val is not None
            assert val == pytest.approx(_batch_general(b, full), rel=1e-12)
    batches = _batches(lik)
    assert batches
    assert all(b.plan_ok is True for b in batches), [b.plan_fallback_reason for b in batches]


@pytest.mark.parametrize("name", UNPLANNED)
def test_trees_with_unplanned_kernels_keep_the_batched_tree(name: str) -> None:
    lik = _file(name)
    for pt in _points(lik, 1, seed=2):
        assert lik.nll(pt) == pytest.approx(_general(lik, pt), rel=1e-11)
    for b in _batches(lik):
        assert b.plan() is None
        assert b.plan_ok is False
        assert b.plan_fallback_reason == "a kernel of the tree has no plan"
        assert b.ok is True


@pytest.mark.parametrize("name", SHAPES)
def test_plan_gradient_against_finite_differences(name: str) -> None:
    lik = _file(name)
    for pt in _points(lik, 1, seed=5)[:2]:
        full = lik._full_values(pt)
        lik.nll(pt)
        for b in _batches(lik):
            plan = b.plan()
            assert plan is not None
            names = [n for n in lik.floating if n in b.deps]
            _fd_check(plan, full, names)
    # the whole likelihood's analytic gradient (plan + grouped constraints) against finite differences
    from pyhs3_lab.fit import NLL
    from pyhs3_lab.gradient import numerical_gradient

    nll = NLL(lik, lik.floating)
    x = nll.start * 1.01 + 1e-3
    nll(x)
    g = nll.grad(x)
    g = nll.grad(x)  # (the first call checks the fast paths against the general ones)
    fd = numerical_gradient(nll, x)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5 * max(1.0, abs(nll(x))))
    assert all(b.plan_grad_ok is True for b in _batches(lik))


# --------------------------------------------------------------------------------------
# hand-made workspaces: padded channels, weights, other mixtures


def _workspace(n_events: list[int], weighted: bool = False, kind: str = "extended",
               seed: int = 0) -> pyhs3_lab.Workspace:
    """Channels k: a mixture of Gauss(x | m_k, s) and exp(-c_k x) on [0, 10] with different numbers of events."""
    rng = np.random.default_rng(seed)
    dists: list[dict[str, Any]] = []
    data: list[dict[str, Any]] = []
    params = [{"name": "s", "value": 0.8}, {"name": "mu", "value": 1.0}]
    funcs: list[dict[str, Any]] = []
    for k, n in enumerate(n_events):
        dists.append({"name": f"g{k}", "type": "gaussian_dist", "x": "x", "mean": f"m{k}", "sigma": "s"})
        dists.append({"name": f"e{k}", "type": "exponential_dist", "x": "x", "c": f"c{k}"})
        if kind == "extended":
            funcs.append({"name": f"ns{k}", "type": "product", "factors": ["mu", f"n{k}"]})
            dists.append({"name": f"model{k}", "type": "mixture_dist", "summands": [f"g{k}", f"e{k}"],
                          "coefficients": [f"ns{k}", f"b{k}"], "extended": True})
        elif kind == "fractions":
            dists.append({"name": f"model{k}", "type": "mixture_dist", "summands": [f"g{k}", f"e{k}"],
                          "coefficients": [f"f{k}"]})
        else:  # coefficients, not extended
            dists.append({"name": f"model{k}", "type": "mixture_dist", "summands": [f"g{k}", f"e{k}"],
                          "coefficients": [f"n{k}", f"b{k}"]})
        x = np.concatenate([rng.normal(4.0 + 0.2 * k, 0.8, n // 3), rng.exponential(3.0, n - n // 3)])
        x = np.clip(x, 0.01, 9.99)
        entry: dict[str, Any] = {"name": f"d{k}", "type": "unbinned",
                                 "axes": [{"name": "x", "min": 0.0, "max": 10.0}],
                                 "entries": [[float(v)] for v in x]}
        if weighted:
            entry["weights"] = [float(w) for w in rng.uniform(0.5, 1.5, n)]
        data.append(entry)
        params += [{"name": f"m{k}", "value": 4.0 + 0.2 * k}, {"name": f"c{k}", "value": 0.3 + 0.05 * k},
                   {"name": f"n{k}", "value": n / 3}, {"name": f"b{k}", "value": 2 * n / 3},
                   {"name": f"f{k}", "value": 0.3}]
    domain = [{"name": "x", "min": 0.0, "max": 10.0}, {"name": "s", "min": 0.1, "max": 5.0}]
    return pyhs3_lab.Workspace(
        metadata={"hs3_version": "0.2"}, distributions=dists, functions=funcs, data=data,
        parameter_points=[{"name": "default_values", "parameters": params}],
        domains=[{"name": "default_domain", "type": "product_domain", "axes": domain}],
        likelihoods=[{"name": "L", "distributions": [f"model{k}" for k in range(len(n_events))],
                      "data": [f"d{k}" for k in range(len(n_events))]}])


@pytest.mark.parametrize(("n_events", "weighted", "kind"), [
    ([40, 25, 60], False, "extended"),   # padded channels of different lengths
    ([30, 30], True, "extended"),        # weighted data
    ([35, 20, 50], True, "fractions"),   # N-1 fractions, padded and weighted
    ([25, 45], False, "coefficients"),   # N coefficients, not extended
    ([50], False, "extended"),           # one channel: floats instead of columns
])
def test_plan_on_padded_weighted_and_other_mixtures(n_events: list[int], weighted: bool, kind: str) -> None:
    lik = _workspace(n_events, weighted, kind).likelihood("L")
    (b,) = _batches(lik)
    assert len(b.terms) == len(n_events)
    for pt in _points(lik, 3, seed=4):
        assert lik.nll(pt) == pytest.approx(_general(lik, pt), rel=1e-12)
    assert b.plan_ok is True, b.plan_fallback_reason
    plan = b.plan()
    assert plan is not None
    full = lik._full_values(_points(lik, 1, seed=9)[1])
    _fd_check(plan, full, list(lik.floating))


def test_a_single_gaussian_channel_is_planned() -> None:
    x = [[0.5 + 0.37 * i] for i in range(20)]
    ws = pyhs3_lab.Workspace(
        metadata={"hs3_version": "0.2"},
        distributions=[{"name": "g", "type": "gaussian_dist", "x": "x", "mean": "m", "sigma": "s"}],
        data=[{"name": "d", "type": "unbinned", "axes": [{"name": "x", "min": 0.0, "max": 8.0}], "entries": x}],
        parameter_points=[{"name": "default_values", "parameters": [{"name": "m", "value": 3.0},
                                                                   {"name": "s", "value": 1.5}]}],
        likelihoods=[{"name": "L", "distributions": ["g"], "data": ["d"]}])
    lik = ws.likelihood("L")
    for pt in [{"m": 3.0, "s": 1.5}, {"m": 9.5, "s": 0.7}, {"m": -2.0, "s": 2.0}]:
        assert lik.nll(pt) == pytest.approx(_general(lik, pt), rel=1e-12)
    (b,) = _batches(lik)
    assert b.plan_ok is True
    plan = b.plan()
    assert plan is not None
    _fd_check(plan, lik._full_values({"m": 9.5, "s": 0.7}), ["m", "s"])


# --------------------------------------------------------------------------------------
# fallbacks


def test_a_plan_that_disagrees_is_turned_off_for_good(monkeypatch: pytest.MonkeyPatch) -> None:
    lik = _workspace([30, 20]).likelihood("L")
    real = MixtureTop.nll

    def wrong(self: MixtureTop) -> float | None:
        v = real(self)
        return None if v is None else v + 1e-6 * abs(v)

    monkeypatch.setattr(MixtureTop, "nll", wrong)
    pt = dict(lik.init)
    assert lik.nll(pt) == pytest.approx(_general(lik, pt), rel=1e-12)
    (b,) = _batches(lik)
    assert b.plan_ok is False
    assert b.plan_fallback_reason is not None
    assert b.plan_fallback_reason.startswith("plan ")
    assert b.ok is True  # the batched tree stays
    pt2 = {**pt, "mu": 1.3}
    assert lik.nll(pt2) == pytest.approx(_general(lik, pt2), rel=1e-12)


def test_a_plan_that_raises_is_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    lik = _workspace([30, 20]).likelihood("L")

    def boom(self: MixtureTop) -> float | None:
        raise ArithmeticError("planned failure")

    monkeypatch.setattr(MixtureTop, "nll", boom)
    pt = dict(lik.init)
    assert lik.nll(pt) == pytest.approx(_general(lik, pt), rel=1e-12)
    (b,) = _batches(lik)
    assert b.plan_ok is False
    assert b.plan_fallback_reason == "ArithmeticError: planned failure"


def test_values_outside_the_fast_path_use_the_tree_per_call() -> None:
    lik = _workspace([30, 20]).likelihood("L")
    pt = dict(lik.init)
    lik.nll(pt)
    (b,) = _batches(lik)
    plan = b.plan()
    assert plan is not None
    # a Gaussian of width far below the data spacing and no background: the linear sum underflows
    narrow = {**pt, "s": 0.1, "b0": 0.0, "b1": 0.0}
    assert plan.nll(lik._full_values(narrow)) is None
    assert lik.nll(narrow) == pytest.approx(_general(lik, narrow), rel=1e-12)
    # a negative width: the plan does not apply; the general path says what happens
    assert plan.nll(lik._full_values({**pt, "s": -1.0})) is None
    assert b.plan_ok is True  # still on for other values
    assert plan.nll(lik._full_values(pt)) == pytest.approx(_general(lik, pt), rel=1e-12)


def test_array_values_are_not_planned() -> None:
    lik = _workspace([30, 20]).likelihood("L")
    lik.nll()
    (b,) = _batches(lik)
    plan = b.plan()
    assert plan is not None
    full = lik._full_values({**lik.init, "mu": np.array([0.9, 1.1])})
    assert plan.nll(full) is None


# --------------------------------------------------------------------------------------
# constraint terms in groups


def _constrained(n_terms: int, poisson: bool = False) -> pyhs3_lab.Workspace:
    dists: list[dict[str, Any]] = [{"name": "g", "type": "gaussian_dist", "x": "x", "mean": "m", "sigma": 1.0}]
    params = [{"name": "m", "value": 0.2}]
    aux = []
    domain = [{"name": "x", "min": -5.0, "max": 5.0}]
    for i in range(n_terms):
        if poisson:
            dists.append({"name": f"c{i}", "type": "poisson_dist", "x": f"nom{i}", "mean": f"a{i}",
                          "integer": i % 2 == 0})
            params += [{"name": f"a{i}", "value": 50.0 + i}, {"name": f"nom{i}", "value": 52.0 + 0.5 * i}]
        else:
            dists.append({"name": f"c{i}", "type": "gaussian_dist", "x": f"nom{i}", "mean": f"a{i}",
                          "sigma": 1.0 + 0.1 * i})
            params += [{"name": f"a{i}", "value": 0.1 * i}, {"name": f"nom{i}", "value": 0.05 * i}]
            if i % 2:  # some global observables with a range, some without
                domain.append({"name": f"nom{i}", "min": -3.0, "max": 4.0})
        aux.append(f"c{i}")
    return pyhs3_lab.Workspace(
        metadata={"hs3_version": "0.2"}, distributions=dists,
        data=[{"name": "d", "type": "unbinned", "axes": [{"name": "x", "min": -5.0, "max": 5.0}],
               "entries": [[0.1], [0.5], [-0.7]]}],
        domains=[{"name": "default_domain", "type": "product_domain", "axes": domain}],
        parameter_points=[{"name": "default_values", "parameters": params}],
        likelihoods=[{"name": "L", "distributions": ["g"], "data": ["d"], "aux_distributions": aux}])


@pytest.mark.parametrize("vector", [False, True])
@pytest.mark.parametrize("poisson", [False, True])
def test_constraint_groups_equal_the_terms_one_by_one(vector: bool, poisson: bool,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auxbatch, "VECTOR_MIN", 1 if vector else 1000)
    lik = _constrained(5, poisson).likelihood("L")
    groups = [a for a in lik._planned_aux_terms() if isinstance(a, AuxGroup)]
    assert len(groups) == (2 if poisson else 1)  # Poisson: rounded and continuous terms apart
    assert all(g.vector is vector for g in groups)
    for pt in _points(lik, 3, seed=1):
        assert lik.nll(pt) == pytest.approx(_general(lik, pt), rel=1e-12)
    assert all(g.ok is True for g in groups)
    from pyhs3_lab.fit import NLL
    from pyhs3_lab.gradient import numerical_gradient

    nll = NLL(lik, lik.floating)
    x = nll.start * 1.02 + 0.01
    nll(x)
    g1 = nll.grad(x)
    g2 = nll.grad(x)
    np.testing.assert_allclose(g1, g2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g2, numerical_gradient(nll, x), rtol=1e-5, atol=1e-6)
    assert all(g.grad_ok is True for g in groups)


def test_a_global_observable_outside_its_range_gives_inf() -> None:
    lik = _constrained(3).likelihood("L")
    pt = {**lik.init}
    full = lik._full_values(pt)
    full["nom1"] = 4.5  # outside [-3, 4]
    (group,) = [a for a in lik._planned_aux_terms() if isinstance(a, AuxGroup)]
    group.cached_nll(lik._full_values(pt))  # checked at the start values
    assert group.cached_nll(full) == math.inf
    assert sum(t.nll(full) for t in group.terms) == math.inf


def test_threads_sharing_one_likelihood() -> None:
    """A profile scan with a thread pool fits one likelihood in several threads: the plan's state is locked."""
    import sys
    import threading

    lik = _workspace([40, 25, 60]).likelihood("L")
    points = _points(lik, 6, seed=3)
    expected = [_general(lik, pt) for pt in points]
    fulls = [lik._full_values(pt) for pt in points]
    lik._evaluate(fulls[0])
    (b,) = _batches(lik)
    assert b.plan_ok is True
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    bad: list[tuple[int, float]] = []

    def work(offset: int) -> None:
        for k in range(300):
            i = (k + offset) % len(points)
            with np.errstate(all="ignore"):
                got = lik._evaluate(fulls[i])
            if abs(got - expected[i]) > 1e-12 * abs(expected[i]):
                bad.append((i, got))

    try:
        threads = [threading.Thread(target=work, args=(j,)) for j in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not bad


@pytest.mark.parametrize("text", ["a * (1.0 + 0.1 * b)", "-a + b - a / b", "+a * -b / (a - b)", "a / (b - b)",
                                  "-a / (b - b)", "(a - a) / (a - a)", "a ^ 2 + b", "exp(a) * b"])
def test_expression_steps_on_floats_equal_numpy(text: str) -> None:
    from pyhs3_lab.expr import parse
    from pyhs3_lab.plan import Const, ExpressionStep

    expr = parse(text)
    for a, b in [(1.5, 0.25), (-2.0, 3.0), (0.0, -1e-300), (1e300, 1e300)]:
        step = ExpressionStep(expr, {"a": Const(a), "b": Const(b)})
        assert step.run()
        with np.errstate(all="ignore"):
            ref = float(expr.evaluate({"a": a, "b": b}))
        assert type(step.value) is float
        assert step.value == ref or (math.isnan(step.value) and math.isnan(ref)), (a, b)
