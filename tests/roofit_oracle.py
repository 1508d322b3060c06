#!/usr/bin/env python3
"""RooFit's NLLs for HS3 files: the oracle of ``tests/test_roofit_oracle.py``.

Run it in a subprocess (ROOT can crash on invalid files)::

    python tests/roofit_oracle.py [--fit FILE ...] [--eps 1e-12] FILE ...

For each FILE it prints one JSON line (to the original stdout; ROOT's own messages go to stderr)::

    {"file": ..., "ok": true, "root_version": "6.40/00", "fixups": [...], "likelihoods": [...]}

or ``{"file": ..., "ok": false, "error": "..."}`` when ROOT cannot read the file. It follows
``../shared/reference/roofit-reference.md`` §1:

* import with ``RooJSONFactoryWSTool``; the state after import is the reference point;
  ``Constant`` tags of ``misc.ROOT_internal.attributes`` and ``const`` in ``default_values``
  are applied (ROOT's importer does not apply the tags);
* one NLL per HS3 likelihood: ``createNLL(data, EvalBackend("cpu"), Offset("none"),
  GlobalObservables(...), ExternalConstraints(aux_distributions))``; a likelihood with several
  pairs is the sum of the pairs' NLLs (the aux terms go with the first pair);
  a per-channel dataset that ROOT merged into a combined one is ``combined.reduce(index == label)``;
* ``kind: "simultaneous"``: a ``combined_distributions`` RooSimultaneous with ≥ 2 channels and its
  combined dataset, with the union of the channels' aux terms; ``components`` names the HS3
  likelihoods whose sum it is (ROOT adds ``n_events * log(n_categories)`` to that sum);
* global observables: the ModelConfig's, the axes of domains named ``*_global_observables``, and
  constant ``nom_*`` variables of the model; all are set constant;
* points: ``default``; ``shift:<p>`` with one floating parameter ``p`` moved by ``δ``; ``shift:all``
  with every floating parameter moved at once. ``δ = 0.05·(max − min)`` for a finite range,
  else ``0.1·max(|v|, 1)``; upwards if ``v + δ ≤ max``, else downwards if ``v − δ ≥ min``,
  else to the middle of ``[v, max]``;
* ``numeric_integrals``: the pdfs that ROOT normalises by numerical integration (an exact engine
  may differ from ROOT there by ROOT's integration precision, about 1e-6 relative or worse);
* with ``--fit``: Minuit2 (strategy 1, no offsetting, ``migrad`` + ``hesse``) from the reference point,
  with tolerance ``FIT_TOLERANCE`` = 1e-5 (EDM < 1e-8) instead of ROOT's default 1 (EDM < 1e-3, which
  leaves the minimum uncertain by up to ~0.04 σ): the fit tests compare positions to 1e-3 σ.

``--eps E`` sets ROOT's default numerical-integration precision (absolute and relative) to ``E``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
import traceback
from collections.abc import Iterable
from typing import Any

# ROOT and its C++ print to fd 1; keep a private copy of stdout for the JSON lines and send fd 1 to stderr.
_OUT = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr

import warnings  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # "This distribution of ROOT is in alpha stage"
    import ROOT

ROOT.gROOT.SetBatch(True)
ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.ERROR)
ROOT.gErrorIgnoreLevel = ROOT.kError


FIT_TOLERANCE = 1e-5


def _num(x: float) -> float | str:
    """JSON-safe float: inf and nan as strings."""
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _set(items: Iterable[Any]) -> Any:
    out = ROOT.RooArgSet()
    for it in items:
        out.add(it)
    return out


def _strings(obj: Any) -> Iterable[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for key, val in obj.items():
            yield key
            yield from _strings(val)
    elif isinstance(obj, list):
        for val in obj:
            yield from _strings(val)


def fixed_copy(doc: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Spellings ROOT needs (documented in roofit-reference.md), applied to a copy."""
    fixups = []
    for d in doc.get("distributions", []):
        if d.get("type") == "argus_dist":
            d["type"] = "ARGUS_dist"
            fixups.append(f"distribution {d.get('name')!r}: type argus_dist spelled ARGUS_dist for ROOT")
    used = set(_strings(doc.get("distributions", []))) | set(_strings(doc.get("functions", [])))
    kept = []
    for a in doc.get("analyses", []):
        missing = [p for p in a.get("parameters_of_interest", []) if p not in used]
        if missing:
            fixups.append(f"analysis {a.get('name')!r} dropped: its parameters of interest {missing} are not in the "
                          "model (an invalid file; ROOT's importer segfaults on it)")
        else:
            kept.append(a)
    if "analyses" in doc:
        doc["analyses"] = kept
    meta = doc.setdefault("metadata", {})
    if "hs3_version" not in meta:
        meta["hs3_version"] = "0.2"
        fixups.append("metadata.hs3_version missing: set to '0.2' for ROOT")
    return doc, fixups


class FileOracle:
    def __init__(self, path: str, doc: dict[str, Any], fixups: list[str]) -> None:
        self.path = path
        self.doc = doc
        self.fixups = fixups
        self.ws = ROOT.RooWorkspace("w")
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(doc, f)
            tmp = f.name
        try:
            ok = ROOT.RooJSONFactoryWSTool(self.ws).importJSON(tmp)
        finally:
            os.unlink(tmp)
        if not ok:
            raise RuntimeError("RooJSONFactoryWSTool.importJSON returned false")
        self.misc = doc.get("misc", {}).get("ROOT_internal", {})
        self.keep: list[Any] = []
        self._apply_constants()
        self.reference = {v.GetName(): v.getVal() for v in self.ws.allVars()}
        self.reference_const = {v.GetName(): bool(v.isConstant()) for v in self.ws.allVars()}

    # -- set-up ---------------------------------------------------------------------------

    def _apply_constants(self) -> None:
        for name, attr in self.misc.get("attributes", {}).items():
            if "Constant" in (attr or {}).get("tags", []) and self.ws.var(name):
                self.ws.var(name).setConstant(True)
        for p in self.doc.get("parameter_points", []):
            if p.get("name") != "default_values":
                continue
            for q in p.get("parameters", []):
                if q.get("const") and self.ws.var(q["name"]):
                    self.ws.var(q["name"]).setConstant(True)

    def restore(self) -> None:
        for v in self.ws.allVars():
            name = v.GetName()
            if name in self.reference:
                v.setVal(self.reference[name])
                v.setConstant(self.reference_const[name])

    def combined_datasets(self) -> dict[str, dict[str, Any]]:
        out = dict(self.misc.get("combined_datasets", {}))
        out.update(self.misc.get("combined_datas", {}))  # HS3.jl's older spelling
        return out

    def dataset(self, name: str) -> Any:
        data = self.ws.data(name)
        if data:
            return data
        for comb, info in self.combined_datasets().items():
            cdata = self.ws.data(comb)
            if not cdata:
                continue
            cat = info.get("index_cat", "index")
            for label in info.get("labels", []):
                if name == f"{comb}_{label}":
                    return cdata.reduce(ROOT.RooFit.Cut(f"{cat}=={cat}::{label}"))
        raise KeyError(f"dataset {name!r} is not in ROOT's workspace")

    def model_config(self, lik_name: str) -> Any:
        for a in self.doc.get("analyses", []):
            if a.get("likelihood") == lik_name:
                mc = self.ws.obj(a["name"])
                if mc and mc.InheritsFrom("RooStats::ModelConfig"):
                    return mc
        return None

    def global_observables(self, pdfs: list[Any], mc: Any) -> list[str]:
        names: set[str] = set()
        if mc and mc.GetGlobalObservables():
            names |= {v.GetName() for v in mc.GetGlobalObservables()}
        for d in self.doc.get("domains", []):
            if str(d.get("name", "")).endswith("_global_observables"):
                names |= {a["name"] for a in d.get("axes", [])}
        used: set[str] = set()
        for p in pdfs:
            used |= {v.GetName() for v in p.getVariables()}
        for name in used:
            v = self.ws.var(name)
            if name.startswith("nom_") and v and v.isConstant():
                names.add(name)
        return sorted(n for n in names & used if self.ws.var(n))

    # -- likelihoods -----------------------------------------------------------------------

    def likelihood_specs(self) -> list[dict[str, Any]]:
        specs: list[dict[str, Any]] = []
        liks = self.doc.get("likelihoods", [])
        for lik in liks:
            data = lik.get("data", [])
            if not all(isinstance(d, str) for d in data):
                raise RuntimeError(f"likelihood {lik['name']!r}: numbers as data are not handled by this oracle")
            specs.append({"name": lik["name"], "kind": "hs3", "pairs": list(zip(lik["distributions"], data,
                                                                                  strict=True)),
                          "aux": list(lik.get("aux_distributions", []))})
        pairs_to_lik = {}
        for lik in liks:
            for pair in zip(lik.get("distributions", []), lik.get("data", []), strict=False):
                pairs_to_lik[pair] = lik
        for sim_name, info in self.misc.get("combined_distributions", {}).items():
            dists = info.get("distributions", [])
            labels = info.get("labels", [])
            if len(dists) < 2 or not self.ws.pdf(sim_name):
                continue
            for comb, dinfo in self.combined_datasets().items():
                if sorted(dinfo.get("labels", [])) != sorted(labels) or not self.ws.data(comb):
                    continue
                components: list[str] = []
                aux: list[str] = []
                for dist, label in zip(dists, labels, strict=True):
                    lik = pairs_to_lik.get((dist, f"{comb}_{label}"))
                    if lik is None or len(lik["distributions"]) != 1:
                        components = []
                        break
                    components.append(lik["name"])
                    aux += [a for a in lik.get("aux_distributions", []) if a not in aux]
                specs.append({"name": f"{sim_name}+{comb}", "kind": "simultaneous", "pdf": sim_name, "data": comb,
                              "n_categories": len(dists), "components": components, "aux": aux})
        return specs

    def build(self, spec: dict[str, Any]) -> dict[str, Any]:
        """ROOT's NLL objects for one likelihood spec."""
        if spec["kind"] == "hs3":
            pairs = [(self.ws.pdf(d), self.dataset(x), d, x) for d, x in spec["pairs"]]
            mc = self.model_config(spec["name"])
        else:
            pairs = [(self.ws.pdf(spec["pdf"]), self.ws.data(spec["data"]), spec["pdf"], spec["data"])]
            mc = None
        for pdf, _, d, _ in pairs:
            if not pdf:
                raise RuntimeError(f"distribution {d!r} is not in ROOT's workspace")
        aux = [self.ws.pdf(a) for a in spec["aux"]]
        if mc and mc.GetExternalConstraints():
            aux += [c for c in mc.GetExternalConstraints() if c.GetName() not in spec["aux"]]
        globs = self.global_observables([p for p, *_ in pairs] + aux, mc)
        for g in globs:
            self.ws.var(g).setConstant(True)
        glob_set = _set(self.ws.var(g) for g in globs)
        nlls = []
        for i, (pdf, data, _, _) in enumerate(pairs):
            args = [ROOT.RooFit.EvalBackend("cpu"), ROOT.RooFit.Offset("none")]
            if globs:
                args.append(ROOT.RooFit.GlobalObservables(glob_set))
            if i == 0 and aux:
                args.append(ROOT.RooFit.ExternalConstraints(_set(aux)))
            if mc and mc.GetConstraintParameters() and mc.GetConstraintParameters().getSize() > 0:
                args.append(ROOT.RooFit.Constrain(mc.GetConstraintParameters()))
            cmd = ROOT.RooLinkedList()
            for a in args:
                cmd.Add(a)
            nlls.append(pdf.createNLL(data, cmd))
        params: dict[str, Any] = {}
        observables: set[str] = set()
        for _, data, _, _ in pairs:
            observables |= {v.GetName() for v in data.get()}
        for obj in [p for p, *_ in pairs] + aux:
            for v in obj.getVariables():
                name = v.GetName()
                if name in observables or name in globs or v.isConstant() or not v.InheritsFrom("RooRealVar"):
                    continue
                params[name] = self.ws.var(name)
        numeric = self.numeric_integrals(pairs, aux, globs)
        n_events = sum(float(data.sumEntries()) for _, data, _, _ in pairs)
        self.keep.append((pairs, aux, glob_set))  # ROOT objects the NLLs point to stay alive
        return {"nlls": nlls, "params": params, "globs": globs, "numeric": numeric, "n_events": n_events,
                "pairs": [(d, x) for _, _, d, x in pairs]}

    def numeric_integrals(self, pairs: list[Any], aux: list[Any], globs: list[str]) -> list[str]:
        out: set[str] = set()
        todo = [(pdf, data.get()) for pdf, data, _, _ in pairs]
        todo += [(a, _set(self.ws.var(g) for g in globs)) for a in aux]
        for top, obs_all in todo:
            for comp in top.getComponents():
                if not comp.InheritsFrom("RooAbsPdf") or comp.InheritsFrom("RooSimultaneous"):
                    continue
                obs = comp.getObservables(obs_all)
                if obs.getSize() == 0:
                    continue
                integ = comp.createIntegral(obs)
                if integ.InheritsFrom("RooRealIntegral") and integ.numIntRealVars().getSize() > 0:
                    out.add(comp.GetName())
                if comp.InheritsFrom("RooProdPdf"):
                    # factors in the same observable: RooProdPdf integrates their product numerically
                    seen: set[str] = set()
                    for factor in comp.pdfList():
                        names = {v.GetName() for v in factor.getObservables(obs)}
                        if names & seen:
                            out.add(comp.GetName())
                        seen |= names
        return sorted(out)

    @staticmethod
    def shift(v: Any) -> float:
        val, lo, hi = v.getVal(), v.getMin(), v.getMax()
        finite = math.isfinite(lo) and math.isfinite(hi) and hi < 1e30 and lo > -1e30
        delta = 0.05 * (hi - lo) if finite else 0.1 * max(abs(val), 1.0)
        if val + delta <= hi:
            return float(val + delta)
        if val - delta >= lo:
            return float(val - delta)
        return float(0.5 * (val + hi))

    def evaluate(self, spec: dict[str, Any], fit: bool) -> dict[str, Any]:
        self.restore()
        built = self.build(spec)
        nlls, params = built["nlls"], built["params"]

        def value() -> float:
            return float(sum(n.getVal() for n in nlls))

        default = {name: float(v.getVal()) for name, v in params.items()}
        points = [{"label": "default", "values": dict(default), "nll": _num(value())}]
        shifted = {name: self.shift(v) for name, v in params.items()}
        for name, v in params.items():
            v.setVal(shifted[name])
            points.append({"label": f"shift:{name}", "values": {**default, name: shifted[name]}, "nll": _num(value())})
            v.setVal(default[name])
        if len(params) > 1:
            for name, v in params.items():
                v.setVal(shifted[name])
            points.append({"label": "shift:all", "values": dict(shifted), "nll": _num(value())})
            for name, v in params.items():
                v.setVal(default[name])
        out: dict[str, Any] = {key: spec[key] for key in ("name", "kind") if key in spec}
        out.update({
            "pairs": built["pairs"],
            "aux": spec["aux"],
            "global_observables": built["globs"],
            "n_events": built["n_events"],
            "numeric_integrals": built["numeric"],
            "parameters": {n: {"value": default[n], "min": _num(v.getMin()), "max": _num(v.getMax())}
                           for n, v in params.items()},
            "points": points,
        })
        if spec["kind"] == "simultaneous":
            out.update({"n_categories": spec["n_categories"], "components": spec["components"]})
        if fit and len(nlls) == 1 and params:
            out["fit"] = self.fit(nlls[0], params)
            for name, v in params.items():
                v.setVal(default[name])
        return out

    @staticmethod
    def fit(nll: Any, params: dict[str, Any]) -> dict[str, Any]:
        m = ROOT.RooMinimizer(nll)
        m.setMinimizerType("Minuit2")
        m.setStrategy(1)
        m.setOffsetting(False)
        m.setEps(FIT_TOLERANCE)
        m.setPrintLevel(-1)
        m.setVerbose(False)
        status = int(m.migrad())
        hesse = int(m.hesse())
        r = m.save()
        values = {v.GetName(): float(v.getVal()) for v in r.floatParsFinal()}
        errors = {v.GetName(): float(v.getError()) for v in r.floatParsFinal()}
        return {"migrad_status": status, "hesse_status": hesse, "cov_qual": int(r.covQual()),
                "min_nll": _num(float(r.minNll())), "edm": float(r.edm()), "values": values, "errors": errors}


def run_file(path: str, fit: bool) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    doc, fixups = fixed_copy(doc)
    oracle = FileOracle(path, doc, fixups)
    liks = []
    for spec in oracle.likelihood_specs():
        try:
            liks.append(oracle.evaluate(spec, fit))
        except Exception as exc:  # one bad likelihood does not hide the others
            liks.append({"name": spec["name"], "kind": spec["kind"], "error": f"{type(exc).__name__}: {exc}"})
    return {"file": path, "ok": True, "root_version": str(ROOT.gROOT.GetVersion()), "fixups": fixups,
            "likelihoods": liks}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", help="HS3 files: NLLs at the reference and shifted points")
    ap.add_argument("--fit", action="append", default=[], metavar="FILE", help="also fit every likelihood of FILE")
    ap.add_argument("--eps", type=float, default=None, help="ROOT's numerical-integration precision")
    args = ap.parse_intermixed_args(argv)
    if args.eps is not None:
        cfg = ROOT.RooAbsReal.defaultIntegratorConfig()
        cfg.setEpsAbs(args.eps)
        cfg.setEpsRel(args.eps)
    fits = {os.path.abspath(f) for f in args.fit}
    todo = list(dict.fromkeys([*args.files, *args.fit]))
    for path in todo:
        try:
            result = run_file(path, os.path.abspath(path) in fits)
        except Exception as exc:
            traceback.print_exc()
            found = re.search(r"no handling for type '[^']+'", str(exc))
            reason = f"ROOT's importer: {found.group(0)}" if found else f"{type(exc).__name__}: {exc}"
            result = {"file": path, "ok": False, "error": reason}
        _OUT.write(json.dumps(result) + "\n")
        _OUT.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
