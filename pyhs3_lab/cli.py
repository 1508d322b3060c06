"""The command line: ``pyhs3-lab validate|info|fit``.

``validate FILE...`` reports every problem of every file (exit 1 if any);
``info FILE`` prints what a workspace holds; ``fit FILE`` fits a likelihood or an
analysis and prints the result table (exit 1 if the fit is not valid).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections import Counter
from collections.abc import Sequence
from typing import TextIO

from . import io
from .errors import PyHS3LabError, SchemaError
from .pyhf_convert import CONVERTER, is_pyhf_workspace
from .workspace import Workspace

__all__ = ["main"]


def _is_pyhf(path: str) -> bool:
    """True if the file is a pyhf JSON workspace (see :func:`~pyhs3_lab.pyhf_convert.is_pyhf_workspace`)."""
    try:
        raw = io.read(path)
    except PyHS3LabError:
        return False
    return is_pyhf_workspace(raw)


def _load(path: str, out: TextIO, conventions: list[str] | None = None) -> Workspace | None:
    try:
        if _is_pyhf(path):
            print(f"{path}: a pyhf workspace, converted to HS3 (evaluated with pyhf's conventions)", file=out)
            if conventions is not None:
                conventions.append("pyhf")
            return Workspace.from_pyhf(path)
        ws = Workspace.load(path)
        if ws.spec.writer == CONVERTER:
            print(f"{path}: converted from pyhf by pyhs3_lab (evaluated with pyhf's conventions)", file=out)
            if conventions is not None:
                conventions.append("pyhf")
        return ws
    except PyHS3LabError as exc:
        print(f"{path}: {exc}", file=out)
        return None


def _num(x: float) -> str:
    if math.isinf(x):
        return "-inf" if x < 0 else "inf"
    if math.isnan(x):
        return "-"
    return f"{x:.6g}"


# -- validate ----------------------------------------------------------------------------


def _validate_one(path: str, out: TextIO) -> int:
    """Print the problems of one file; return their number."""
    try:
        ws = Workspace.load(path, strict=True)
    except SchemaError as exc:
        print(f"{path}: {len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''}", file=out)
        for p in exc.problems:
            print(f"  error: {p}", file=out)
        if _is_pyhf(path):
            print("  note: this is a pyhf workspace, not HS3; `pyhs3-lab info` and `pyhs3-lab fit` convert it, "
                  "and so does pyhs3_lab.Workspace.from_pyhf(path)", file=out)
        return len(exc.problems)
    except PyHS3LabError as exc:
        print(f"{path}: 1 problem", file=out)
        print(f"  error: {exc}", file=out)
        return 1
    problems: list[str] = []
    warnings = [str(w) for w in ws.spec.warnings]
    warned = {w.path for w in ws.spec.warnings}
    failed = ws.compiled().build_all()
    unsupported = {exc.name for exc in failed}
    warnings += [str(exc) for exc in failed if exc.path not in warned]
    for lik in ws.likelihoods:
        if set(lik.distributions) & unsupported or set(lik.aux_distributions) & unsupported:
            continue  # reported as unsupported above
        try:
            value = ws.likelihood(lik.name).nll()
        except PyHS3LabError as exc:
            problems.append(str(exc))
            continue
        if not math.isfinite(value):
            warnings.append(f"{lik.path} (likelihood {lik.name!r}): the NLL is {value} at the default values")
    status = "OK" if not problems else f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    extra = f" ({len(warnings)} warning{'s' if len(warnings) != 1 else ''})" if warnings else ""
    print(f"{path}: {status}{extra}", file=out)
    for msg in problems:
        print(f"  error: {msg}", file=out)
    for w in warnings:
        print(f"  warning: {w}", file=out)
    return len(problems)


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    total = sum(_validate_one(path, out) for path in args.files)
    return 1 if total else 0


# -- info --------------------------------------------------------------------------------


def _table(rows: Sequence[Sequence[str]], out: TextIO, indent: str = "  ") -> None:
    if not rows:
        return
    width = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        cells = [c.ljust(width[i]) if i == 0 else c.rjust(width[i]) for i, c in enumerate(r)]
        print((indent + "  ".join(cells)).rstrip(), file=out)


def cmd_info(args: argparse.Namespace, out: TextIO) -> int:
    conventions: list[str] = []
    ws = _load(args.file, out, conventions)
    if ws is None:
        return 1
    conv = conventions[0] if conventions else "root"
    meta = ws.metadata
    print(f"{args.file}", file=out)
    print(f"  hs3_version: {meta.hs3_version}", file=out)
    if ws.spec.writer:
        versions = [f"{p.get('name')} {p.get('version', '')}".strip() for p in meta.packages]
        print(f"  written by: {', '.join(versions)}", file=out)
    if meta.description:
        print(f"  description: {meta.description}", file=out)
    for label, items in (("distributions", ws.distributions), ("functions", ws.functions)):
        counts = Counter(c.type for c in items)
        summary = ", ".join(f"{t}×{n}" for t, n in sorted(counts.items()))
        print(f"{label} ({len(items)}): {summary or '-'}", file=out)
    print(f"data ({len(ws.data)}):", file=out)
    for d in ws.data:
        axes = ", ".join(f"{a.name} [{_num(a.bounds[0])}, {_num(a.bounds[1])}]" for a in d.axes)
        size = ""
        if d.type == "unbinned" and isinstance(d.raw.get("entries"), list):
            size = f", {len(d.raw['entries'])} entries"
        elif d.type == "binned" and isinstance(d.raw.get("contents"), list):
            size = f", {len(d.raw['contents'])} bins"
        print(f"  {d.name}: {d.type}{size}; axes {axes or '-'}", file=out)
    try:
        model = ws.model(conventions=conv)
        params = model.parameters
    except PyHS3LabError as exc:
        print(f"parameters: cannot be listed: {exc}", file=out)
        params = []
    if params:
        print(f"parameters ({len(params)}):", file=out)
        rows = [("name", "value", "min", "max", "const", "role")]
        rows += [(p.name, _num(p.value), _num(p.min), _num(p.max), "const" if p.const else "", p.role)
                 for p in params]
        _table(rows, out)
    print(f"likelihoods ({len(ws.likelihoods)}):", file=out)
    for lik in ws.likelihoods:
        pairs = ", ".join(f"{d} | {x}" for d, x in zip(lik.distributions, lik.data, strict=False))
        aux = f"; aux {', '.join(lik.aux_distributions)}" if lik.aux_distributions else ""
        print(f"  {lik.name}: {pairs}{aux}", file=out)
    print(f"analyses ({len(ws.analyses)}):", file=out)
    for ana in ws.analyses:
        pois = ", ".join(ana.parameters_of_interest) or "-"
        print(f"  {ana.name}: likelihood {ana.likelihood}; POIs {pois}; domains {', '.join(ana.domains) or '-'}; "
              f"init {ana.init or '-'}", file=out)
    return 0


# -- fit ---------------------------------------------------------------------------------


def _parse_fixed(items: Sequence[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name] = float(value)
        except ValueError:
            raise PyHS3LabError(f"--fix {item!r}: expected NAME=VALUE, e.g. --fix lumi=1.0") from None
    return out


def cmd_fit(args: argparse.Namespace, out: TextIO) -> int:
    conventions: list[str] = []
    ws = _load(args.file, out, conventions)
    if ws is None:
        return 1
    conv = conventions[0] if conventions else "root"
    try:
        if args.analysis and args.likelihood:
            raise PyHS3LabError("give --analysis or --likelihood, not both")
        if args.analysis:
            lik = ws.analysis(args.analysis, conventions=conv).likelihood
        elif args.likelihood:
            lik = ws.likelihood(args.likelihood if len(args.likelihood) > 1 else args.likelihood[0],
                                conventions=conv)
        elif args.all_likelihoods:
            lik = ws.likelihood([x.name for x in ws.likelihoods], conventions=conv)
        elif len(ws.analyses) == 1:
            lik = ws.analysis(ws.analyses[0].name, conventions=conv).likelihood
        else:
            choice = ws.default_likelihood(conv)
            if choice.likelihood is None:
                raise PyHS3LabError(f"{args.file} has no likelihood to fit (a likelihood pairs distributions with "
                                    "data); `pyhs3-lab info` shows what it holds")
            if choice.ambiguous:
                names = [x.name for x in ws.likelihoods]
                anas = [x.name for x in ws.analyses]
                raise PyHS3LabError(
                    f"{args.file} has {len(names)} likelihoods {names} on the same distributions (alternatives, "
                    f"not channels) and {len(anas)} analyses {anas}; choose with --likelihood NAME (repeat it "
                    "to sum several), --all-likelihoods or --analysis NAME")
            lik = choice.likelihood
            if len(ws.likelihoods) > 1:
                print(f"note: no --likelihood given: fitting {choice.why}", file=out)
        res = lik.fit(fixed=_parse_fixed(args.fix), minos=args.minos or None, strategy=args.strategy,
                      tolerance=args.tolerance)
    except PyHS3LabError as exc:
        print(f"error: {exc}", file=out)
        return 1
    print(f"{args.file}: {lik.name}", file=out)
    print(str(res), file=out)
    return 0 if res.valid else 1


# -- main --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyhs3-lab", description="Validate, inspect and fit HS3 workspaces.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="report every problem of every file (exit 1 if any)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p = sub.add_parser("info", help="metadata, types, parameters, likelihoods and analyses of a workspace")
    p.add_argument("file", metavar="FILE")
    p = sub.add_parser("fit", help="fit a likelihood or an analysis and print the result")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--analysis", metavar="NAME")
    p.add_argument("--likelihood", metavar="NAME", action="append",
                   help="a likelihood; repeat to sum several")
    p.add_argument("--all-likelihoods", action="store_true", help="sum every likelihood of the file")
    p.add_argument("--minos", metavar="POI", action="append", default=[], help="MINOS errors for this parameter")
    p.add_argument("--fix", metavar="NAME=VALUE", action="append", default=[], help="hold a parameter fixed")
    p.add_argument("--strategy", type=int, default=None, choices=(0, 1, 2),
                   help="MINUIT strategy (default: 1, or the large-fit mode of pyhs3_lab.fit.fit from 500 "
                        "parameters with an analytic Hessian)")
    p.add_argument("--tolerance", type=float, default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    out = sys.stdout
    commands = {"validate": cmd_validate, "info": cmd_info, "fit": cmd_fit}
    try:
        code = commands[args.command](args, out)
        out.flush()
    except BrokenPipeError:
        # the reader went away (`pyhs3-lab info FILE | head`): no traceback, and none at exit either
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return 1
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
