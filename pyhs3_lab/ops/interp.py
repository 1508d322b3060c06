"""HistFactory interpolation: ROOT's FlexibleInterpVar (normsys) and PiecewiseInterpolation (histosys).

Everything is vectorised: ``alpha`` may have any shape, and ``lo``/``hi``/``nominal`` broadcast
against it (e.g. ``alpha[..., None]`` against per-bin templates).

The integer codes are ROOT's (``RooFit::Detail::MathFuncs::flexibleInterpSingle``, ROOT master):

===== ===================== ============================================================
code  kind                  formula (nominal y0, up y+ at alpha=+1, down y- at alpha=-1)
===== ===================== ============================================================
0     add  (poly1)          alpha (y+ - y0) for alpha > 0, alpha (y0 - y-) otherwise
1     mult (exp)            (y+/y0)^alpha for alpha >= 0, (y-/y0)^-alpha otherwise
2, 3  add  (poly2 / poly1)  a alpha^2 + b alpha inside |alpha| <= 1, linear outside
4     add  (poly6 / poly1)  histosys only: 6th-degree polynomial inside, linear outside
4, 5  mult (poly6 / exp)    normsys (FlexibleInterpVar maps its code 4 to 5): polynomial
                            inside, exponential outside; histosys: code 5
6     mult (poly6 / poly1)  histosys only: factor 1 + (code-4 delta)
===== ===================== ============================================================

ROOT maps code 3 to code 2 (HistFactoryInterpolationCodeUtils.h). For the multiplicative codes
ROOT multiplies the running total (nominal plus the deltas of the parameters before it), so the
order of the parameters matters when additive and multiplicative codes are mixed;
:func:`piecewise_interpolation` and :func:`flexible_interp_var` follow that order.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import Problem, SchemaError

Array = NDArray[np.float64]
TermKind = Literal["add", "mult"]
Target = Literal["normsys", "histosys"]

__all__ = [
    "HISTOSYS_CODES",
    "NORMSYS_CODES",
    "PreparedTerms",
    "flexible_interp_var",
    "histosys_term",
    "histosys_term_grad",
    "interpolation_code",
    "normsys_term",
    "normsys_term_grad",
    "piecewise_interpolation",
]

#: code -> "add" | "mult" for FlexibleInterpVar (normsys, interpolation0d)
NORMSYS_CODES: dict[int, TermKind] = {0: "add", 1: "mult", 2: "add", 3: "add", 4: "mult", 5: "mult"}
#: code -> "add" | "mult" for PiecewiseInterpolation (histosys, interpolation)
HISTOSYS_CODES: dict[int, TermKind] = {0: "add", 1: "mult", 2: "add", 3: "add", 4: "add", 5: "mult", 6: "mult"}

_DBL_EPSILON = float(np.finfo(np.float64).eps)
_DBL_MIN = float(np.finfo(np.float64).tiny)


def _f(x: ArrayLike) -> Array:
    return np.asarray(x, dtype=np.float64)


# -- the single-parameter formulas (value, d/dalpha) -----------------------------------------------


def _lin(a: Array, lo: Array, nom: Array, hi: Array) -> tuple[Array, Array]:
    up, down = hi - nom, nom - lo
    pos = a > 0
    return np.where(pos, a * up, a * down), np.where(pos, up, down) + 0.0 * a


def _exp(a: Array, rlo: Array, rhi: Array) -> tuple[Array, Array]:
    pos = a >= 0
    val = np.where(pos, np.power(rhi, a), np.power(rlo, -a))
    grad = np.where(pos, val * np.log(rhi), -val * np.log(rlo))
    return val, grad


def _parabolic(a: Array, lo: Array, nom: Array, hi: Array) -> tuple[Array, Array]:
    qa = 0.5 * (hi + lo) - nom
    qb = 0.5 * (hi - lo)
    above, below = a > 1, a < -1
    val = np.where(above, (2 * qa + qb) * (a - 1) + hi - nom,
                   np.where(below, -(2 * qa - qb) * (a + 1) + lo - nom, qa * a * a + qb * a))
    grad = np.where(above, 2 * qa + qb, np.where(below, -(2 * qa - qb), 2 * qa * a + qb))
    return val, grad


def _poly6_add(a: Array, lo: Array, nom: Array, hi: Array) -> tuple[Array, Array]:
    """PiecewiseInterpolation code 4: 6th-degree polynomial inside |a| < 1, linear outside."""
    up, down = hi - nom, nom - lo
    s = 0.5 * (up + down)
    q = 0.0625 * (up - down)
    inner = a * (s + a * q * (15 + a * a * (-10 + a * a * 3)))
    inner_grad = s + q * a * (30 + a * a * (-40 + a * a * 18))
    above, below = a >= 1, a <= -1
    val = np.where(above, a * up, np.where(below, a * down, inner))
    grad = np.where(above, up, np.where(below, down, inner_grad))
    return val, grad


def _poly6_coefficients(rlo: Array, rhi: Array) -> tuple[Array, ...]:
    """The coefficients a..f of 1 + a x + ... + f x^6 that joins hi^x and lo^-x at |x| = 1 with
    equal value, first and second derivative (boundary x0 = 1, as in ROOT)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_hi, log_lo = np.log(rhi), np.log(rlo)
        up_log = np.where(rhi <= 0, 0.0, rhi * log_hi)
        down_log = np.where(rlo <= 0, 0.0, -rlo * log_lo)
        up_log2 = np.where(rhi <= 0, 0.0, up_log * log_hi)
        down_log2 = np.where(rlo <= 0, 0.0, -down_log * log_lo)
    s0, a0 = 0.5 * (rhi + rlo), 0.5 * (rhi - rlo)
    s1, a1 = 0.5 * (up_log + down_log), 0.5 * (up_log - down_log)
    s2, a2 = 0.5 * (up_log2 + down_log2), 0.5 * (up_log2 - down_log2)
    return (
        (15 * a0 - 7 * s1 + a2) / 8,
        (-24 + 24 * s0 - 9 * a1 + s2) / 8,
        (-5 * a0 + 5 * s1 - a2) / 4,
        (12 - 12 * s0 + 7 * a1 - s2) / 4,
        (3 * a0 - 3 * s1 + a2) / 8,
        (-8 + 8 * s0 - 5 * a1 + s2) / 8,
    )


@functools.lru_cache(maxsize=65536)
def _poly6_coefficients_scalar(rlo: float, rhi: float) -> tuple[float, ...]:
    """:func:`_poly6_coefficients` of one (lo, hi) pair, computed once (they are constants of the file)."""
    return tuple(float(c) for c in _poly6_coefficients(np.asarray(rlo), np.asarray(rhi)))


_POLY6_CACHE: dict[tuple[bytes, bytes, tuple[int, ...], tuple[int, ...]], tuple[Array, ...]] = {}


def _poly6_coefficients_array(rlo: Array, rhi: Array) -> tuple[Array, ...]:
    """:func:`_poly6_coefficients` of arrays of (lo, hi) ratios, remembered by their contents (the ratios
    of a model's modifiers are the same at every call; the coefficients are read-only)."""
    if rlo.size + rhi.size > 4096:
        return _poly6_coefficients(rlo, rhi)
    key = (rlo.tobytes(), rhi.tobytes(), rlo.shape, rhi.shape)
    hit = _POLY6_CACHE.get(key)
    if hit is None:
        hit = tuple(np.asarray(c, dtype=np.float64) for c in _poly6_coefficients(rlo, rhi))
        for c in hit:
            c.flags.writeable = False
        if len(_POLY6_CACHE) > 4096:
            _POLY6_CACHE.clear()
        _POLY6_CACHE[key] = hit
    return hit


def _poly6_exp(a: Array, rlo: Array, rhi: Array) -> tuple[Array, Array]:
    """FlexibleInterpVar code 4 / PiecewiseInterpolation code 5 on ratios: the factor."""
    coef: tuple[Any, ...]
    if np.ndim(rlo) == 0 and np.ndim(rhi) == 0:
        coef = _poly6_coefficients_scalar(float(rlo), float(rhi))
    else:
        coef = _poly6_coefficients_array(np.asarray(rlo, dtype=np.float64), np.asarray(rhi, dtype=np.float64))
    c1, c2, c3, c4, c5, c6 = coef
    inner = 1.0 + a * (c1 + a * (c2 + a * (c3 + a * (c4 + a * (c5 + a * c6)))))
    inner_grad = c1 + a * (2 * c2 + a * (3 * c3 + a * (4 * c4 + a * (5 * c5 + a * 6 * c6))))
    outer, outer_grad = _exp(a, rlo, rhi)
    inside = np.abs(a) < 1
    return np.where(inside, inner, outer), np.where(inside, inner_grad, outer_grad)


def _check_code(code: int, table: Mapping[int, TermKind], what: str) -> TermKind:
    if isinstance(code, bool) or not isinstance(code, int | np.integer) or int(code) not in table:
        raise SchemaError([Problem("", f"{what} interpolation code {code!r} is not supported",
                                   expected=f"one of {sorted(table)}")])
    return table[int(code)]


def _normsys(code: int, alpha: ArrayLike, lo: ArrayLike, hi: ArrayLike, nominal: ArrayLike,
             clamp: bool) -> tuple[TermKind, Array, Array]:
    kind = _check_code(code, NORMSYS_CODES, "FlexibleInterpVar (normsys)")
    a, lo_, hi_, nom = _f(alpha), _f(lo), _f(hi), _f(nominal)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if code == 0:
            val, grad = _lin(a, lo_, nom, hi_)
        elif code == 1:
            val, grad = _exp(a, lo_ / nom, hi_ / nom)
        elif code in (2, 3):
            val, grad = _parabolic(a, lo_, nom, hi_)
        else:
            if clamp:
                lo_, hi_ = np.maximum(lo_, _DBL_EPSILON), np.maximum(hi_, _DBL_EPSILON)
            val, grad = _poly6_exp(a, lo_ / nom, hi_ / nom)
    return kind, np.asarray(val, dtype=np.float64), np.asarray(grad, dtype=np.float64)


def normsys_term(code: int, alpha: ArrayLike, lo: ArrayLike, hi: ArrayLike) -> tuple[TermKind, Array]:
    """One FlexibleInterpVar term with nominal 1 (a HistFactory ``normsys``).

    Parameters
    ----------
    code : int
        0, 2, 3 (additive) or 1, 4, 5 (multiplicative); see the module docstring.
    alpha : array_like
        The nuisance parameter (any shape).
    lo, hi : array_like
        The factors at alpha = -1 and +1 (broadcast against ``alpha``). For codes 4/5,
        values <= 0 are clamped to DBL_EPSILON as ROOT does.

    Returns
    -------
    ("add", delta) or ("mult", factor)
        For additive codes the delta to add to 1, for multiplicative codes the factor.
    """
    kind, val, _ = _normsys(code, alpha, lo, hi, 1.0, clamp=True)
    return kind, val


def normsys_term_grad(code: int, alpha: ArrayLike, lo: ArrayLike, hi: ArrayLike) -> tuple[TermKind, Array]:
    """d/dalpha of :func:`normsys_term` (of the delta or of the factor)."""
    kind, _, grad = _normsys(code, alpha, lo, hi, 1.0, clamp=True)
    return kind, grad


def _histosys(code: int, alpha: ArrayLike, nominal: ArrayLike, low: ArrayLike,
              high: ArrayLike) -> tuple[TermKind, Array, Array]:
    kind = _check_code(code, HISTOSYS_CODES, "PiecewiseInterpolation (histosys)")
    a, nom, lo, hi = _f(alpha), _f(nominal), _f(low), _f(high)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if code == 0:
            val, grad = _lin(a, lo, nom, hi)
        elif code == 1:
            val, grad = _exp(a, lo / nom, hi / nom)
        elif code in (2, 3):
            val, grad = _parabolic(a, lo, nom, hi)
        elif code == 4:
            val, grad = _poly6_add(a, lo, nom, hi)
        elif code == 5:
            val, grad = _poly6_exp(a, lo / nom, hi / nom)
        else:
            # ROOT: the code-4 delta computed from the absolute templates, times the running total
            delta, grad = _poly6_add(a, lo, nom, hi)
            val = 1.0 + delta
    return kind, np.asarray(val, dtype=np.float64), np.asarray(grad, dtype=np.float64)


def histosys_term(code: int, alpha: ArrayLike, nominal: ArrayLike, low: ArrayLike,
                  high: ArrayLike) -> tuple[TermKind, Array]:
    """One PiecewiseInterpolation term (a HistFactory ``histosys`` on bin contents).

    Parameters
    ----------
    code : int
        0, 2, 3, 4 (additive) or 1, 5, 6 (multiplicative); see the module docstring.
    alpha : array_like
        The nuisance parameter; broadcast against the templates (use ``alpha[..., None]``
        for a batch of alphas against per-bin templates).
    nominal, low, high : array_like
        Nominal, down (alpha = -1) and up (alpha = +1) templates (absolute contents).

    Returns
    -------
    ("add", delta) or ("mult", ratio)
        The delta to add to the nominal, or the ratio to multiply it with. Code 6 follows
        ROOT literally: ratio = 1 + code-4 delta of the absolute templates.
    """
    kind, val, _ = _histosys(code, alpha, nominal, low, high)
    return kind, val


def histosys_term_grad(code: int, alpha: ArrayLike, nominal: ArrayLike, low: ArrayLike,
                       high: ArrayLike) -> tuple[TermKind, Array]:
    """d/dalpha of :func:`histosys_term` (of the delta or of the ratio)."""
    kind, _, grad = _histosys(code, alpha, nominal, low, high)
    return kind, grad


class PreparedTerms:
    """Many :func:`normsys_term` / :func:`histosys_term` terms of one code whose templates are constants
    (a compiled HistFactory model): what depends only on them (differences, ratios, their logs, the
    poly6 coefficients) is computed once, and each call evaluates the same formulas on ``alpha``
    (broadcast against the templates), with the derivative only on request.

    Parameters
    ----------
    target : {"normsys", "histosys"}
    code : int
        The interpolation code (:data:`NORMSYS_CODES` / :data:`HISTOSYS_CODES`).
    lo, hi, nominal : array_like
        Down and up values (factors for normsys, templates for histosys) and the nominal (1 for normsys).
    """

    def __init__(self, target: Target, code: int, lo: ArrayLike, hi: ArrayLike, nominal: ArrayLike = 1.0) -> None:
        table = NORMSYS_CODES if target == "normsys" else HISTOSYS_CODES
        what = "FlexibleInterpVar (normsys)" if target == "normsys" else "PiecewiseInterpolation (histosys)"
        self.kind: TermKind = _check_code(code, table, what)
        lo_, hi_, nom = _f(lo), _f(hi), _f(nominal)
        c = int(code)
        self.form: str
        self._k: tuple[Any, ...]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if c == 0:
                self.form, self._k = "lin", (hi_ - nom, nom - lo_)
            elif c == 1:
                rlo, rhi = lo_ / nom, hi_ / nom
                self.form, self._k = "exp", (rlo, rhi, np.log(rhi), np.log(rlo))
            elif c in (2, 3):
                qa, qb = 0.5 * (hi_ + lo_) - nom, 0.5 * (hi_ - lo_)
                self.form, self._k = "parabolic", (qa, qb, hi_ - nom, lo_ - nom, 2 * qa + qb, -(2 * qa - qb))
            elif (target == "normsys" and c in (4, 5)) or (target == "histosys" and c == 5):
                if target == "normsys":
                    lo_, hi_ = np.maximum(lo_, _DBL_EPSILON), np.maximum(hi_, _DBL_EPSILON)
                rlo, rhi = lo_ / nom, hi_ / nom
                coef = tuple(np.asarray(x, dtype=np.float64) for x in _poly6_coefficients(rlo, rhi))
                self.form, self._k = "poly6_exp", (rlo, rhi, np.log(rhi), np.log(rlo), *coef)
            else:  # histosys 4 (delta) and 6 (1 + delta)
                up, down = hi_ - nom, nom - lo_
                self.form, self._k = ("poly6_add" if c == 4 else "poly6_ratio"), (up, down, 0.5 * (up + down),
                                                                                   0.0625 * (up - down))

    def __call__(self, alpha: Array, grad: bool = False) -> tuple[Array, Array | None]:
        """(value, d value / d alpha or None) of every term at ``alpha``."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return self.evaluate(alpha, grad)

    def evaluate(self, alpha: Array, grad: bool = False) -> tuple[Array, Array | None]:
        """:meth:`__call__` without setting numpy's error state (for callers that set it once)."""
        a = alpha
        k = self._k
        form = self.form
        dval: Array | None = None
        if form == "lin":
            up, down = k
            pos = a > 0
            val = np.where(pos, a * up, a * down)
            if grad:
                dval = np.where(pos, up, down) + 0.0 * a
        elif form == "exp":
            rlo, rhi, log_hi, log_lo = k
            pos = a >= 0
            val = np.where(pos, np.power(rhi, a), np.power(rlo, -a))
            if grad:
                dval = np.where(pos, val * log_hi, -val * log_lo)
        elif form == "parabolic":
            qa, qb, hn, ln, g_above, g_below = k
            above, below = a > 1, a < -1
            val = np.where(above, g_above * (a - 1) + hn, np.where(below, g_below * (a + 1) + ln,
                                                                   qa * a * a + qb * a))
            if grad:
                dval = np.where(above, g_above, np.where(below, g_below, 2 * qa * a + qb))
        elif form == "poly6_exp":
            rlo, rhi, log_hi, log_lo, c1, c2, c3, c4, c5, c6 = k
            inner = 1.0 + a * (c1 + a * (c2 + a * (c3 + a * (c4 + a * (c5 + a * c6)))))
            pos = a >= 0
            outer = np.where(pos, np.power(rhi, a), np.power(rlo, -a))
            inside = np.abs(a) < 1
            val = np.where(inside, inner, outer)
            if grad:
                inner_grad = c1 + a * (2 * c2 + a * (3 * c3 + a * (4 * c4 + a * (5 * c5 + a * 6 * c6))))
                outer_grad = np.where(pos, outer * log_hi, -outer * log_lo)
                dval = np.where(inside, inner_grad, outer_grad)
        else:
            up, down, s, q = k
            inner = a * (s + a * q * (15 + a * a * (-10 + a * a * 3)))
            above, below = a >= 1, a <= -1
            val = np.where(above, a * up, np.where(below, a * down, inner))
            if grad:
                inner_grad = s + q * a * (30 + a * a * (-40 + a * a * 18))
                dval = np.where(above, up, np.where(below, down, inner_grad))
            if form == "poly6_ratio":
                val = 1.0 + val
        return np.asarray(val, dtype=np.float64), dval


    def second(self, alpha: Array) -> Array:
        """d² value / d alpha² of every term at ``alpha`` (at a kink of codes 0-3: the side the value takes)."""
        a = alpha
        k = self._k
        form = self.form
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if form == "lin":
                out = 0.0 * a
            elif form == "exp":
                rlo, rhi, log_hi, log_lo = k
                pos = a >= 0
                out = np.where(pos, np.power(rhi, a) * log_hi * log_hi, np.power(rlo, -a) * log_lo * log_lo)
            elif form == "parabolic":
                qa = k[0]
                out = np.where((a > 1) | (a < -1), 0.0, 2 * qa + 0.0 * a)
            elif form == "poly6_exp":
                rlo, rhi, log_hi, log_lo, _c1, c2, c3, c4, c5, c6 = k
                inner = 2 * c2 + a * (6 * c3 + a * (12 * c4 + a * (20 * c5 + a * 30 * c6)))
                pos = a >= 0
                outer = np.where(pos, np.power(rhi, a) * log_hi * log_hi, np.power(rlo, -a) * log_lo * log_lo)
                out = np.where(np.abs(a) < 1, inner, outer)
            else:
                q = k[3]
                out = np.where((a >= 1) | (a <= -1), 0.0, q * (30 + a * a * (-120 + a * a * 90)))
        return np.asarray(out, dtype=np.float64)


# -- whole objects, in ROOT's order ------------------------------------------------------------------


def flexible_interp_var(codes: Sequence[int], alphas: Sequence[ArrayLike], nominal: float,
                        lows: Sequence[float], highs: Sequence[float]) -> Array:
    """ROOT's FlexibleInterpVar: ``total = nominal``, then for each parameter in order add its
    delta (additive codes) or multiply by its factor (multiplicative codes); ``total <= 0``
    gives DBL_MIN. Codes 4/5 use ratios hi/nominal, lo/nominal (no clamping: ROOT clamps only
    when it builds HistFactory normsys)."""
    total: Array = np.asarray(float(nominal))
    for code, a, lo, hi in zip(codes, alphas, lows, highs, strict=True):
        kind, val, _ = _normsys(int(code), a, lo, hi, nominal, clamp=False)
        total = total + val if kind == "add" else total * val
    return np.where(total <= 0, _DBL_MIN, total)


def piecewise_interpolation(codes: Sequence[int], alphas: Sequence[ArrayLike], nominal: ArrayLike,
                            lows: Sequence[ArrayLike], highs: Sequence[ArrayLike], *,
                            positive_definite: bool = False) -> Array:
    """ROOT's PiecewiseInterpolation: ``sum = nominal``, then for each parameter in order add its
    delta or multiply by its ratio; clipped at 0 if ``positive_definite``."""
    nom = _f(nominal)
    total: Array = nom
    for code, a, lo, hi in zip(codes, alphas, lows, highs, strict=True):
        kind, val, _ = _histosys(int(code), a, nom, lo, hi)
        total = total + val if kind == "add" else total * val
    if positive_definite:
        total = np.where(total < 0, 0.0, total)
    return np.asarray(total, dtype=np.float64)


# -- codes as written in files ------------------------------------------------------------------------

_STRUCTURED: dict[tuple[str, str, str | None], tuple[int | None, int | None]] = {
    # (type, in, out) -> (normsys code, histosys code)
    ("add", "poly1", None): (0, 0),
    ("add", "poly1", "poly1"): (0, 0),
    ("mult", "exp", None): (1, 1),
    ("mult", "exp", "exp"): (1, 1),
    ("add", "poly2", "poly1"): (2, 2),
    ("add", "poly2", None): (2, 2),
    ("add", "poly6", "poly1"): (None, 4),
    ("mult", "poly6", "exp"): (4, 5),
    ("mult", "poly6", "poly1"): (None, 6),
}

# pyhf / pyhs3 names: code4 is the exponential poly6, code4p the additive one
_NAMED: dict[str, tuple[int | None, int | None]] = {
    "code0": (0, 0), "code1": (1, 1), "code2": (2, 2), "code4": (4, 5), "code4p": (None, 4),
    "lin": (0, 0), "log": (1, 1), "parabolic": (2, 2),
}


def interpolation_code(spec: Any, target: Target = "histosys", *, path: str = "interpolation") -> int:
    """The integer interpolation code of a ``normsys`` (FlexibleInterpVar) or ``histosys``
    (PiecewiseInterpolation), from what a file writes.

    Parameters
    ----------
    spec : int, str or dict
        A legacy ROOT integer code (code 3 means code 2, as in ROOT); a structured
        ``{"type": "add"|"mult", "in": "poly1"|"poly2"|"poly6"|"exp", "out": "poly1"|"exp"|null}``
        (ROOT master, HS3 PR #103); or a pyhf/pyhs3 name ``"code0"``, ``"code1"``, ``"code2"``,
        ``"code4"`` (exponential poly6), ``"code4p"`` (additive poly6).
    target : {"histosys", "normsys"}
        Which numbering: the same structured spec ``mult/poly6/exp`` is code 4 for normsys and
        code 5 for histosys.
    path : str
        JSON path used in the error message.

    Raises
    ------
    SchemaError
        For a code or combination that the target class does not have.
    """
    table = NORMSYS_CODES if target == "normsys" else HISTOSYS_CODES
    column = 0 if target == "normsys" else 1
    cls = "FlexibleInterpVar (normsys)" if target == "normsys" else "PiecewiseInterpolation (histosys)"

    def fail(message: str, expected: str) -> SchemaError:
        return SchemaError([Problem(path, message, field=path.rsplit(".", 1)[-1], expected=expected)])

    if isinstance(spec, bool):
        raise fail(f"interpolation {spec!r} is a boolean", "an integer code, a structured object or a name")
    if isinstance(spec, int | float) and float(spec).is_integer():
        code = int(spec)
        if code not in table:
            raise fail(f"{cls} has no interpolation code {code}", f"one of {sorted(table)}")
        return 2 if code == 3 else code
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key.isdigit():
            return interpolation_code(int(key), target, path=path)
        pair = _NAMED.get(key)
        if pair is None or pair[column] is None:
            known = sorted(k for k, v in _NAMED.items() if v[column] is not None)
            raise fail(f"unknown {target} interpolation {spec!r}", f"one of {known}")
        code_ = pair[column]
        assert code_ is not None
        return code_
    if isinstance(spec, Mapping):
        kind, inner, outer = spec.get("type"), spec.get("in"), spec.get("out")
        key3 = (kind, inner, outer)
        pair = _STRUCTURED.get(key3) if all(isinstance(v, str | None) for v in key3) else None  # type: ignore[arg-type]
        if pair is None or pair[column] is None:
            combos = ", ".join(f"{{type: {t}, in: {i}, out: {o}}}" for (t, i, o), v in _STRUCTURED.items()
                               if v[column] is not None)
            raise fail(f"{target} interpolation {dict(spec)!r} is not supported by {cls}", combos)
        code_ = pair[column]
        assert code_ is not None
        return code_
    raise fail(f"interpolation is {type(spec).__name__} {spec!r}", "an integer code, a structured object or a name")
