"""HS3 generic expressions: our own tokenizer, Pratt parser and numpy evaluator.

The grammar is the one of the HS3 standard (§3.1), plus what real files contain:

* literals ``12``, ``1.5``, ``.5``, ``1.2e-3``; constants ``TRUE`` ``FALSE`` (1.0/0.0), ``PI``, ``EULER``;
* ``+ - * /`` (``/`` always divides floats), ``^`` and ``**`` (power, right-associative, binding tighter
  than unary minus: ``-x^2`` is ``-(x^2)``, ``2^-1`` is ``0.5``);
* comparisons ``==`` (equal within a few ULP), ``===`` (exactly equal), ``!=``, ``!==``,
  ``< <= > >=``; logic ``!``, ``&&``, ``||``; the ternary ``c ? a : b``; round brackets.
  Comparisons and logic give 1.0/0.0, the ternary is :func:`numpy.where` (both branches are evaluated);
* functions ``exp log sqrt abs pow min max sin cos tan asin acos atan`` (the standard), ``log10 erf erfc
  floor ceil atan2 sinh cosh tanh`` (ROOT's export names, HS3 PR #107), and ROOT TFormula's
  ``TMath::Exp``, ``TMath::Pi()``, ... found in files written before ROOT PR #20275.

Every other identifier (a letter or ``_``, then letters, digits or ``_``) is a variable: a parameter,
function or observable of the workspace. Operator precedence, loosest first:
``?:`` < ``||`` < ``&&`` < ``== != === !==`` < ``< <= > >=`` < ``+ -`` < ``* /`` < unary ``- + !``
< ``^ **``.

Nothing here calls ``eval``; an expression can only compute numbers from its variables.

>>> e = parse("a * exp(-x^2 / 2)")
>>> sorted(e.symbols)
['a', 'x']
>>> float(e.evaluate({"a": 2.0, "x": 0.0}.__getitem__))
2.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy import special

from .errors import ExpressionError

__all__ = ["FUNCTIONS", "Expression", "parse"]

Resolve = Callable[[str], Any]
_Eval = Callable[[Resolve], Any]

# -- functions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Function:
    name: str
    nargs: int
    impl: Callable[..., Any]


def _min(a: Any, b: Any) -> Any:
    return np.minimum(a, b)


def _max(a: Any, b: Any) -> Any:
    return np.maximum(a, b)


def _gaus(x: Any, mean: Any, sigma: Any) -> Any:
    # TMath::Gaus(x, mean, sigma) without normalisation (its default norm=false)
    z = (x - mean) / sigma
    return np.exp(-0.5 * z * z)


_BASE: dict[str, tuple[int, Callable[..., Any]]] = {
    "exp": (1, np.exp),
    "log": (1, np.log),
    "sqrt": (1, np.sqrt),
    "abs": (1, np.abs),
    "pow": (2, np.power),
    "min": (2, _min),
    "max": (2, _max),
    "sin": (1, np.sin),
    "cos": (1, np.cos),
    "tan": (1, np.tan),
    "asin": (1, np.arcsin),
    "acos": (1, np.arccos),
    "atan": (1, np.arctan),
    # beyond the standard: ROOT's export names and HS3 PR #107
    "log10": (1, np.log10),
    "erf": (1, special.erf),
    "erfc": (1, special.erfc),
    "floor": (1, np.floor),
    "ceil": (1, np.ceil),
    "atan2": (2, np.arctan2),
    "sinh": (1, np.sinh),
    "cosh": (1, np.cosh),
    "tanh": (1, np.tanh),
}

# ROOT TFormula / TMath spellings (pre ROOT PR #20275 files), mapped to the names above
_TMATH: dict[str, str] = {
    "TMath::Exp": "exp", "TMath::Log": "log", "TMath::Log10": "log10", "TMath::Sqrt": "sqrt",
    "TMath::Power": "pow", "TMath::Abs": "abs", "TMath::Min": "min", "TMath::Max": "max",
    "TMath::Sin": "sin", "TMath::Cos": "cos", "TMath::Tan": "tan", "TMath::ASin": "asin",
    "TMath::ACos": "acos", "TMath::ATan": "atan", "TMath::ATan2": "atan2", "TMath::SinH": "sinh",
    "TMath::CosH": "cosh", "TMath::TanH": "tanh", "TMath::Erf": "erf", "TMath::Erfc": "erfc",
    "TMath::Floor": "floor", "TMath::Ceil": "ceil",
    # C/C++ spellings TFormula also accepts
    "fabs": "abs", "std::exp": "exp", "std::log": "log", "std::sqrt": "sqrt", "std::abs": "abs",
    "std::pow": "pow", "std::min": "min", "std::max": "max",
}

#: Every function an expression may call: ``name -> (number of arguments, numpy implementation)``.
FUNCTIONS: dict[str, _Function] = {name: _Function(name, n, f) for name, (n, f) in _BASE.items()}
FUNCTIONS.update({alias: _Function(alias, FUNCTIONS[target].nargs, FUNCTIONS[target].impl)
                  for alias, target in _TMATH.items()})
FUNCTIONS["TMath::Gaus"] = _Function("TMath::Gaus", 3, _gaus)

#: Named constants (never variables).
CONSTANTS: dict[str, float] = {"PI": math.pi, "EULER": math.e, "TRUE": 1.0, "FALSE": 0.0}
#: Functions of no argument that are constants (ROOT TMath).
_CONSTANT_CALLS: dict[str, float] = {"TMath::Pi": math.pi, "TMath::E": math.e, "TMath::TwoPi": 2.0 * math.pi,
                                     "TMath::PiOver2": math.pi / 2.0, "TMath::Sqrt2": math.sqrt(2.0),
                                     "TMath::Ln10": math.log(10.0)}

# -- tokenizer -------------------------------------------------------------------------------


class _Token(NamedTuple):
    kind: str  # "num", "name", "op", "end"
    text: str
    pos: int


_OPERATORS = ("===", "!==", "**", "==", "!=", "<=", ">=", "&&", "||",
              "+", "-", "*", "/", "^", "<", ">", "!", "?", ":", "(", ")", ",")


def _is_name_start(ch: str) -> bool:
    return ch == "_" or ("a" <= ch <= "z") or ("A" <= ch <= "Z")


def _is_name_char(ch: str) -> bool:
    return _is_name_start(ch) or ("0" <= ch <= "9")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        start = i
        if (ch.isdigit() and ch.isascii()) or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            while i < n and text[i].isdigit() and text[i].isascii():
                i += 1
            if i < n and text[i] == ".":
                i += 1
                while i < n and text[i].isdigit() and text[i].isascii():
                    i += 1
            if i < n and text[i] in "eE":
                j = i + 1
                if j < n and text[j] in "+-":
                    j += 1
                if j < n and text[j].isdigit() and text[j].isascii():
                    i = j
                    while i < n and text[i].isdigit() and text[i].isascii():
                        i += 1
                else:
                    raise ExpressionError("malformed exponent in number", text, i)
            if i < n and (_is_name_start(text[i]) or text[i] == "."):
                raise ExpressionError(f"unexpected character {text[i]!r} after number", text, i)
            tokens.append(_Token("num", text[start:i], start))
            continue
        if _is_name_start(ch):
            while i < n and _is_name_char(text[i]):
                i += 1
            # C++ scopes as in TMath::Exp: only valid as the name of a function (checked by the parser)
            while i + 2 < n and text[i:i + 2] == "::" and _is_name_start(text[i + 2]):
                i += 2
                while i < n and _is_name_char(text[i]):
                    i += 1
            tokens.append(_Token("name", text[start:i], start))
            continue
        for op in _OPERATORS:
            if text.startswith(op, i):
                tokens.append(_Token("op", op, start))
                i += len(op)
                break
        else:
            if ch == "." and i + 1 < n and _is_name_start(text[i + 1]):
                raise ExpressionError("attribute access ('.') is not part of the expression grammar", text, i)
            if ch in "[]@":
                raise ExpressionError(f"unexpected character {ch!r} (ROOT formula placeholders such as x[0], "
                                      "[0] or @0 must be replaced by variable names)", text, i)
            raise ExpressionError(f"unexpected character {ch!r}", text, i)
    tokens.append(_Token("end", "", n))
    return tokens


# -- AST ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Variable:
    name: str


@dataclass(frozen=True)
class Unary:
    op: str  # "-", "+", "!"
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Ternary:
    cond: Node
    then: Node
    other: Node


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Node, ...]


Node = Number | Variable | Unary | Binary | Ternary | Call

# binding powers of the infix operators (higher binds tighter)
_INFIX: dict[str, int] = {
    "||": 20, "&&": 30,
    "==": 40, "!=": 40, "===": 40, "!==": 40,
    "<": 50, "<=": 50, ">": 50, ">=": 50,
    "+": 60, "-": 60,
    "*": 70, "/": 70,
    "^": 90, "**": 90,
}
_TERNARY_BP = 10
_UNARY_BP = 80
_RIGHT_ASSOC = {"^", "**"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, message: str, tok: _Token) -> ExpressionError:
        return ExpressionError(message, self.text, tok.pos)

    def expect(self, op: str) -> _Token:
        tok = self.peek()
        if tok.kind != "op" or tok.text != op:
            found = "the end of the expression" if tok.kind == "end" else repr(tok.text)
            raise self.error(f"expected {op!r}, found {found}", tok)
        return self.advance()

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise self.error("empty expression", self.peek())
        node = self.expression(0)
        tok = self.peek()
        if tok.kind != "end":
            raise self.error(f"unexpected {tok.text!r} after a complete expression", tok)
        return node

    def expression(self, min_bp: int) -> Node:
        left = self.prefix()
        while True:
            tok = self.peek()
            if tok.kind != "op":
                if tok.kind == "end":
                    break
                raise self.error(f"expected an operator before {tok.text!r}", tok)
            op = tok.text
            if op == "?":
                if min_bp > _TERNARY_BP:
                    break
                self.advance()
                then = self.expression(0)
                self.expect(":")
                other = self.expression(_TERNARY_BP)  # right-associative
                left = Ternary(left, then, other)
                continue
            bp = _INFIX.get(op)
            if bp is None:
                if op in (")", ",", ":"):
                    break
                raise self.error(f"unexpected {op!r}", tok)
            if bp < min_bp or (bp == min_bp and op not in _RIGHT_ASSOC):
                break
            self.advance()
            # right-associative power: its exponent may carry its own sign (2^-1)
            right = self.unary_operand(bp) if op in _RIGHT_ASSOC else self.expression(bp + 1)
            left = Binary("^" if op == "**" else op, left, right)
        return left

    def unary_operand(self, bp: int) -> Node:
        tok = self.peek()
        if tok.kind == "op" and tok.text in ("-", "+", "!"):
            self.advance()
            return Unary(tok.text, self.unary_operand(bp))
        return self.expression(bp)

    def prefix(self) -> Node:
        tok = self.advance()
        if tok.kind == "num":
            return Number(float(tok.text))
        if tok.kind == "name":
            nxt = self.peek()
            if nxt.kind == "op" and nxt.text == "(":
                return self.call(tok)
            if "::" in tok.text:
                raise self.error(f"{tok.text!r} is not a variable name (only functions such as "
                                 f"TMath::Exp(...) may have a '::' scope)", tok)
            if tok.text in CONSTANTS:
                return Number(CONSTANTS[tok.text])
            return Variable(tok.text)
        if tok.kind == "op":
            if tok.text in ("-", "+", "!"):
                return Unary(tok.text, self.expression(_UNARY_BP))
            if tok.text == "(":
                if self.peek().kind == "op" and self.peek().text == ")":
                    raise self.error("empty brackets", self.peek())
                inner = self.expression(0)
                self.expect(")")
                return inner
            raise self.error(f"unexpected {tok.text!r}", tok)
        raise self.error("unexpected end of the expression", tok)

    def call(self, name_tok: _Token) -> Node:
        name = name_tok.text
        self.expect("(")
        args: list[Node] = []
        if not (self.peek().kind == "op" and self.peek().text == ")"):
            while True:
                args.append(self.expression(0))
                if self.peek().kind == "op" and self.peek().text == ",":
                    self.advance()
                    continue
                break
        self.expect(")")
        if name in _CONSTANT_CALLS:
            if args:
                raise self.error(f"{name}() takes no arguments, got {len(args)}", name_tok)
            return Number(_CONSTANT_CALLS[name])
        fn = FUNCTIONS.get(name)
        if fn is None:
            raise self.error(f"unknown function {name!r} (known: {', '.join(sorted(_BASE))})", name_tok)
        if len(args) != fn.nargs:
            raise self.error(f"function {name!r} takes {fn.nargs} argument{'s' if fn.nargs != 1 else ''}, "
                             f"got {len(args)}", name_tok)
        return Call(name, tuple(args))


# -- evaluation ---------------------------------------------------------------------------------

_ULP_TOLERANCE = 4.0 * np.finfo(np.float64).eps


def _approx_equal(a: Any, b: Any) -> Any:
    # exactly equal (inf == inf), or both finite and within a few ULP (never inf == 1)
    close = np.abs(a - b) <= _ULP_TOLERANCE * np.maximum(np.abs(a), np.abs(b))
    return np.equal(a, b) | (close & np.isfinite(a) & np.isfinite(b))


def _as_float(b: Any) -> Any:
    return np.asarray(b, dtype=np.float64) if np.ndim(b) else np.float64(b)


def _truth(a: Any) -> Any:
    return np.asarray(a) != 0


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.true_divide,
    "^": np.power,
    "<": lambda a, b: _as_float(np.less(a, b)),
    "<=": lambda a, b: _as_float(np.less_equal(a, b)),
    ">": lambda a, b: _as_float(np.greater(a, b)),
    ">=": lambda a, b: _as_float(np.greater_equal(a, b)),
    "===": lambda a, b: _as_float(np.equal(a, b)),
    "!==": lambda a, b: _as_float(np.not_equal(a, b)),
    "==": lambda a, b: _as_float(_approx_equal(a, b)),
    "!=": lambda a, b: _as_float(~np.asarray(_approx_equal(a, b))),
    "&&": lambda a, b: _as_float(_truth(a) & _truth(b)),
    "||": lambda a, b: _as_float(_truth(a) | _truth(b)),
}


def _compile(node: Node) -> _Eval:
    """A closure evaluating ``node``; constant sub-trees are folded."""
    if isinstance(node, Number):
        value = np.float64(node.value)
        return lambda resolve: value
    if isinstance(node, Variable):
        name = node.name

        def var(resolve: Resolve) -> Any:
            v = resolve(name)
            return v if isinstance(v, float | np.floating) else np.asarray(v, dtype=np.float64)

        return var
    if isinstance(node, Unary):
        inner = _compile(node.operand)
        if node.op == "-":
            return lambda resolve: np.negative(inner(resolve))
        if node.op == "+":
            return inner
        return lambda resolve: _as_float(~_truth(inner(resolve)))
    if isinstance(node, Binary):
        f = _BINARY[node.op]
        left, right = _compile(node.left), _compile(node.right)
        return lambda resolve: f(left(resolve), right(resolve))
    if isinstance(node, Ternary):
        c, a, b = _compile(node.cond), _compile(node.then), _compile(node.other)

        def ternary(resolve: Resolve) -> Any:
            cond = c(resolve)
            out: NDArray[np.float64] = np.asarray(np.where(_truth(cond), a(resolve), b(resolve)), dtype=np.float64)
            return out if out.ndim else np.float64(out)

        return ternary
    impl = FUNCTIONS[node.function].impl
    args = [_compile(a) for a in node.args]
    if len(args) == 1:
        (arg,) = args
        return lambda resolve: impl(arg(resolve))
    return lambda resolve: impl(*(a(resolve) for a in args))


def _symbols(node: Node) -> set[str]:
    if isinstance(node, Variable):
        return {node.name}
    if isinstance(node, Number):
        return set()
    if isinstance(node, Unary):
        return _symbols(node.operand)
    if isinstance(node, Binary):
        return _symbols(node.left) | _symbols(node.right)
    if isinstance(node, Ternary):
        return _symbols(node.cond) | _symbols(node.then) | _symbols(node.other)
    out: set[str] = set()
    for a in node.args:
        out |= _symbols(a)
    return out


def _functions(node: Node) -> set[str]:
    if isinstance(node, Number | Variable):
        return set()
    if isinstance(node, Unary):
        return _functions(node.operand)
    if isinstance(node, Binary):
        return _functions(node.left) | _functions(node.right)
    if isinstance(node, Ternary):
        return _functions(node.cond) | _functions(node.then) | _functions(node.other)
    out = {node.function}
    for a in node.args:
        out |= _functions(a)
    return out


def _has_variable(node: Node) -> bool:
    return bool(_symbols(node))


def _fold(node: Node) -> Node:
    """Replace every sub-tree without variables by its value."""
    if isinstance(node, Number | Variable):
        return node
    if not _has_variable(node):
        with np.errstate(all="ignore"):
            return Number(float(_compile(node)(_no_variables)))
    if isinstance(node, Unary):
        return Unary(node.op, _fold(node.operand))
    if isinstance(node, Binary):
        return Binary(node.op, _fold(node.left), _fold(node.right))
    if isinstance(node, Ternary):
        return Ternary(_fold(node.cond), _fold(node.then), _fold(node.other))
    return Call(node.function, tuple(_fold(a) for a in node.args))


def _no_variables(name: str) -> Any:  # pragma: no cover - only called for variable-free trees
    raise AssertionError(name)


# -- symbolic derivatives ---------------------------------------------------------------------

_ZERO = Number(0.0)
_ONE = Number(1.0)


def _is_num(node: Node, value: float) -> bool:
    return isinstance(node, Number) and node.value == value


def _d_add(a: Node, b: Node) -> Node:
    if _is_num(a, 0.0):
        return b
    if _is_num(b, 0.0):
        return a
    return Binary("+", a, b)


def _d_sub(a: Node, b: Node) -> Node:
    if _is_num(b, 0.0):
        return a
    if _is_num(a, 0.0):
        return _d_neg(b)
    return Binary("-", a, b)


def _d_neg(a: Node) -> Node:
    if isinstance(a, Number):
        return Number(-a.value)
    return Unary("-", a)


def _d_mul(a: Node, b: Node) -> Node:
    if _is_num(a, 0.0) or _is_num(b, 0.0):
        return _ZERO
    if _is_num(a, 1.0):
        return b
    if _is_num(b, 1.0):
        return a
    return Binary("*", a, b)


def _d_div(a: Node, b: Node) -> Node:
    if _is_num(a, 0.0):
        return _ZERO
    if _is_num(b, 1.0):
        return a
    return Binary("/", a, b)


def _call(name: str, *args: Node) -> Node:
    return Call(name, tuple(args))


def _d_pow(a: Node, b: Node, da: Node, db: Node) -> Node:
    # d(a^b) = b a^(b-1) da + a^b log(a) db (the second term only where b varies)
    first = _d_mul(_d_mul(b, Binary("^", a, _d_sub(b, _ONE))), da) if not _is_num(da, 0.0) else _ZERO
    second = _d_mul(_d_mul(Binary("^", a, b), _call("log", a)), db) if not _is_num(db, 0.0) else _ZERO
    return _d_add(first, second)


def _sign(u: Node) -> Node:
    return Ternary(Binary(">", u, _ZERO), _ONE, Ternary(Binary("<", u, _ZERO), Number(-1.0), _ZERO))


def _diff(node: Node, name: str) -> Node:
    """The derivative of ``node`` with respect to the variable ``name`` (a syntax tree)."""
    if isinstance(node, Number):
        return _ZERO
    if isinstance(node, Variable):
        return _ONE if node.name == name else _ZERO
    if name not in _symbols(node):
        return _ZERO
    if isinstance(node, Unary):
        if node.op == "-":
            return _d_neg(_diff(node.operand, name))
        if node.op == "+":
            return _diff(node.operand, name)
        return _ZERO  # logical not
    if isinstance(node, Binary):
        a, b = node.left, node.right
        if node.op in ("+", "-"):
            da, db = _diff(a, name), _diff(b, name)
            return _d_add(da, db) if node.op == "+" else _d_sub(da, db)
        if node.op == "*":
            return _d_add(_d_mul(_diff(a, name), b), _d_mul(a, _diff(b, name)))
        if node.op == "/":
            da, db = _diff(a, name), _diff(b, name)
            return _d_sub(_d_div(da, b), _d_div(_d_mul(a, db), Binary("*", b, b)))
        if node.op == "^":
            return _d_pow(a, b, _diff(a, name), _diff(b, name))
        return _ZERO  # comparisons and logic are piecewise constant
    if isinstance(node, Ternary):
        dt, do = _diff(node.then, name), _diff(node.other, name)
        if _is_num(dt, 0.0) and _is_num(do, 0.0):
            return _ZERO
        return Ternary(node.cond, dt, do)
    fn = _TMATH.get(node.function, node.function)
    args = node.args
    if fn in ("floor", "ceil"):
        return _ZERO
    if fn == "pow":
        return _d_pow(args[0], args[1], _diff(args[0], name), _diff(args[1], name))
    if fn in ("min", "max"):
        cmp = "<=" if fn == "min" else ">="
        return Ternary(Binary(cmp, args[0], args[1]), _diff(args[0], name), _diff(args[1], name))
    if fn == "atan2":  # atan2(y, x)
        y, x = args
        num = _d_sub(_d_mul(x, _diff(y, name)), _d_mul(y, _diff(x, name)))
        return _d_div(num, Binary("+", Binary("*", x, x), Binary("*", y, y)))
    if fn == "TMath::Gaus":  # exp(-z²/2), z = (x - m)/s
        x, m, s = args
        z = Binary("/", Binary("-", x, m), s)
        dz = _d_sub(_d_div(_d_sub(_diff(x, name), _diff(m, name)), s),
                    _d_div(_d_mul(z, _diff(s, name)), s))
        return _d_mul(_d_mul(node, _d_neg(z)), dz)
    (u,) = args
    du = _diff(u, name)
    if _is_num(du, 0.0):
        return _ZERO
    outer: Node
    if fn == "exp":
        outer = node
    elif fn == "log":
        outer = Binary("/", _ONE, u)
    elif fn == "log10":
        outer = Binary("/", _ONE, Binary("*", u, Number(math.log(10.0))))
    elif fn == "sqrt":
        outer = Binary("/", Number(0.5), node)
    elif fn == "abs":
        outer = _sign(u)
    elif fn == "sin":
        outer = _call("cos", u)
    elif fn == "cos":
        outer = _d_neg(_call("sin", u))
    elif fn == "tan":
        outer = Binary("/", _ONE, Binary("^", _call("cos", u), Number(2.0)))
    elif fn == "asin":
        outer = Binary("/", _ONE, _call("sqrt", Binary("-", _ONE, Binary("*", u, u))))
    elif fn == "acos":
        outer = Binary("/", Number(-1.0), _call("sqrt", Binary("-", _ONE, Binary("*", u, u))))
    elif fn == "atan":
        outer = Binary("/", _ONE, Binary("+", _ONE, Binary("*", u, u)))
    elif fn in ("erf", "erfc"):
        k = 2.0 / math.sqrt(math.pi) * (1.0 if fn == "erf" else -1.0)
        outer = Binary("*", Number(k), _call("exp", _d_neg(Binary("*", u, u))))
    elif fn == "sinh":
        outer = _call("cosh", u)
    elif fn == "cosh":
        outer = _call("sinh", u)
    elif fn == "tanh":
        outer = Binary("-", _ONE, Binary("^", node, Number(2.0)))
    else:  # pragma: no cover - every function of FUNCTIONS is handled above
        raise ExpressionError(f"no derivative of function {node.function!r}", "", None)
    return _d_mul(outer, du)


class Expression:
    """A parsed expression (immutable; obtain one with :func:`parse`).

    Attributes
    ----------
    text : str
        The expression as written.
    tree : Node
        Its syntax tree (``Number``, ``Variable``, ``Unary``, ``Binary``, ``Ternary``, ``Call``).
    symbols : frozenset of str
        The variable names it uses (not functions, not constants).
    functions : frozenset of str
        The functions it calls, as spelled in the text.
    """

    __slots__ = ("_derivatives", "_eval", "functions", "symbols", "text", "tree")

    def __init__(self, text: str, tree: Node) -> None:
        self.text = text
        self.tree = tree
        self.symbols: frozenset[str] = frozenset(_symbols(tree))
        self.functions: frozenset[str] = frozenset(_functions(tree))
        self._eval = _compile(_fold(tree))
        self._derivatives: dict[str, Expression] = {}

    def derivative(self, name: str) -> Expression:
        """The symbolic derivative with respect to the variable ``name`` (cached).

        Comparisons, logic, ``floor`` and ``ceil`` are piecewise constant (derivative 0); ``abs``,
        ``min``, ``max`` and the ternary take the derivative of the branch that applies.

        >>> float(parse("a * x^2").derivative("x")(a=3.0, x=2.0))
        12.0
        """
        got = self._derivatives.get(name)
        if got is None:
            got = Expression(f"d({self.text})/d{name}", _diff(self.tree, name))
            self._derivatives[name] = got
        return got

    def evaluate(self, resolve: Resolve | Mapping[str, Any]) -> Any:
        """The value of the expression, vectorised with numpy.

        Parameters
        ----------
        resolve : callable or mapping
            Gives the value (a float or an array) of each variable name in :attr:`symbols`.
            Array values are broadcast against each other.

        Returns
        -------
        float or numpy.ndarray
            Comparisons, logic and booleans give 1.0 / 0.0. Floating-point exceptions
            (division by zero, log of a negative number) give inf / nan as in C, without warnings.
        """
        get: Resolve = resolve.__getitem__ if isinstance(resolve, Mapping) else resolve
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            return self._eval(get)

    def __call__(self, **values: Any) -> Any:
        """``expr(x=..., y=...)``: evaluate with keyword values."""
        return self.evaluate(values)

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


@lru_cache(maxsize=4096)
def parse(text: str) -> Expression:
    """Parse an HS3 expression.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"exp(-0.5*((x-mu)/sigma)**2)"``.

    Returns
    -------
    Expression
        The parsed expression (results are cached: equal texts give the same object).

    Raises
    ------
    ExpressionError
        On a syntax error, an unknown function or a wrong number of arguments, with the
        position of the problem in ``text``.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be a string, not {type(text).__name__}", repr(text), None)
    return Expression(text, _Parser(text).parse())
