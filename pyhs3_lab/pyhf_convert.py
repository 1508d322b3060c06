"""pyhf JSON workspaces to HS3.

:func:`pyhf_to_hs3` turns a pyhf workspace (``channels``, ``observations``,
``measurements``, ``version``; also the older layout with ``data`` and
``toplvl.measurements``) into an HS3 document: one ``histfactory_dist`` and one binned
data object per channel (observable ``obs_x_<channel>`` with bins ``0..nbins``), one
likelihood, one analysis with the measurement's POI, a domain with the parameter
bounds and a parameter point with the initial values (``fixed`` parameters constant).

Evaluated with ``conventions="pyhf"`` the negative log-likelihood of the result equals
pyhf's ``-model.logpdf(pars, data)``:

* the channels carry ROOT's ``BinnedLikelihood`` tag, so the main term is the full
  Poisson with ``lgamma(n + 1)`` as in pyhf;
* ``staterror``: per-bin parameters ``<name>_<i>``, the sample's ``errors`` are the
  modifier's absolute uncertainties, and the channel block says ``Gauss`` (pyhf's
  constraint), which holds under both conventions;
* ``shapesys``: parameters ``<name>_<i>``, ``data.vals`` the absolute uncertainties with
  an explicit ``Poisson`` constraint: pyhf's τ = (n/σ)² **only with pyhf conventions**
  (ROOT reads ``vals`` as relative uncertainties);
* ``normsys`` / ``histosys``: parameter = modifier name; the interpolation code of pyhf's
  ``modifier_settings`` (default: pyhf's ``code4`` / ``code4p`` = ROOT's code 4) is written
  on each modifier;
* ``lumi``: a ``normfactor`` whose ``constraint`` names an explicit
  ``gaussian_dist`` ``N(nom_<lumi> | lumi, σ)`` (``nom_<lumi>`` = the measurement's
  ``auxdata``, constant);
* a normsys/histosys parameter whose ``auxdata``/``sigmas`` the measurement overrides
  gets an explicit Gaussian constraint the same way.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from .errors import Problem, SchemaError

__all__ = ["CONVERTER", "PYHF_DEFAULT_SETTINGS", "is_pyhf_workspace", "normalize_pyhf_spec", "pyhf_to_hs3"]

#: pyhf's default bounds and initial values per modifier type
_DEFAULTS: dict[str, tuple[float, tuple[float, float]]] = {
    "normfactor": (1.0, (0.0, 10.0)),
    "shapefactor": (1.0, (0.0, 10.0)),
    "normsys": (0.0, (-5.0, 5.0)),
    "histosys": (0.0, (-5.0, 5.0)),
    "shapesys": (1.0, (1e-10, 10.0)),
    "staterror": (1.0, (1e-10, 10.0)),
}


def _fail(path: str, message: str, expected: str | None = None) -> SchemaError:
    return SchemaError([Problem(path, message, expected=expected)])


#: ``metadata.packages[0].name`` of the HS3 documents :func:`pyhf_to_hs3` writes: they are meant to be
#: evaluated with ``conventions="pyhf"`` (the Explorer and the command line do so)
CONVERTER = "pyhs3_lab (from pyhf)"


def is_pyhf_workspace(raw: Mapping[str, Any]) -> bool:
    """True if ``raw`` is a pyhf JSON workspace rather than HS3: ``channels`` with ``observations``
    (or the older layout's ``data`` object), and no HS3 ``metadata`` or ``distributions``."""
    if "metadata" in raw or "distributions" in raw or "channels" not in raw:
        return False
    return "observations" in raw or isinstance(raw.get("data"), Mapping)


def normalize_pyhf_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A pyhf workspace in the current layout (``observations``, ``measurements``).

    The older layout (``data: {channel: [...]}`` and ``toplvl: {measurements: [...]}``)
    is converted; a current one is returned as a deep copy.
    """
    if not isinstance(spec, Mapping):
        raise _fail("", f"a pyhf workspace is a JSON object, got {type(spec).__name__}")
    out = copy.deepcopy(dict(spec))
    if "observations" not in out and isinstance(out.get("data"), Mapping):
        out["observations"] = [{"name": k, "data": v} for k, v in out.pop("data").items()]
    if "measurements" not in out and isinstance(out.get("toplvl"), Mapping):
        out["measurements"] = out.pop("toplvl").get("measurements", [])
    out.setdefault("version", "1.0.0")
    for key in ("channels", "observations", "measurements"):
        if not isinstance(out.get(key), list):
            raise _fail(key, f"the pyhf workspace has no {key!r} list", "a pyhf workspace (channels, "
                        "observations, measurements)")
    return out


def _numbers(value: Any, path: str, n: int | None = None) -> list[float]:
    if not isinstance(value, list) or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise _fail(path, f"expected a list of numbers, got {value!r}", "a list of numbers")
    if n is not None and len(value) != n:
        raise _fail(path, f"has {len(value)} numbers for {n} bins", f"{n} numbers")
    return [float(v) for v in value]


#: pyhf's ``Model(modifier_settings=...)`` defaults since pyhf 0.7
PYHF_DEFAULT_SETTINGS: dict[str, dict[str, str]] = {"normsys": {"interpcode": "code4"},
                                                    "histosys": {"interpcode": "code4p"}}
_PYHF_CODES = {"normsys": {"code0": 0, "code1": 1, "code2": 2, "code4": 4},
               "histosys": {"code0": 0, "code1": 1, "code2": 2, "code4p": 4}}


def _interp_codes(settings: Mapping[str, Any] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for kind, table in _PYHF_CODES.items():
        code = (settings or {}).get(kind, {}).get("interpcode")
        if code is None:
            continue
        if code not in table:
            raise _fail(f"modifier_settings.{kind}.interpcode", f"unknown pyhf interpolation {code!r} for {kind}",
                        f"one of {sorted(table)}")
        out[kind] = table[code]
    return out


def _masked_bins(distributions: list[dict[str, Any]]) -> set[str]:
    """The per-bin parameters pyhf fixes: shapesys bins without yield or uncertainty, staterror bins
    whose relative uncertainty is 0 (written ``const`` so that every reader fixes them)."""
    out: set[str] = set()
    for dist in distributions:
        stat: dict[tuple[str, ...], list[tuple[list[float], list[float]]]] = {}
        for sample in dist["samples"]:
            contents = sample["data"]["contents"]
            for mod in sample["modifiers"]:
                if mod["type"] == "shapesys":
                    out |= {p for p, n, v in zip(mod["parameters"], contents, mod["data"]["vals"], strict=True)
                            if not (n > 0 and v > 0)}
                elif mod["type"] == "staterror":
                    stat.setdefault(tuple(mod["parameters"]), []).append((contents, sample["data"]["errors"]))
        for params, entries in stat.items():
            for b, p in enumerate(params):
                total = sum(c[b] for c, _ in entries)
                err2 = sum(e[b] ** 2 for _, e in entries)
                if not (total > 0 and err2 > 0):
                    out.add(p)
    return out


def pyhf_to_hs3(spec: Mapping[str, Any], measurement: str | None = None, *,
                modifier_settings: Mapping[str, Any] | None = PYHF_DEFAULT_SETTINGS) -> dict[str, Any]:
    """Convert a pyhf workspace to an HS3 document (see the module docstring).

    Parameters
    ----------
    spec : dict
        The pyhf workspace.
    measurement : str, optional
        Name of the measurement to use (default: the first).
    modifier_settings : dict or None
        pyhf's ``Model(modifier_settings=...)``: the interpolation codes of normsys and
        histosys, written on every such modifier as ROOT's integer codes. The default is
        pyhf's own default (``code4`` / ``code4p``, i.e. ROOT's code 4 for both), so that
        the file means the same under both conventions. ``None`` writes no code: the
        evaluation's conventions decide (``"pyhf"``: code 1 / code 0, as pyhf before 0.7).

    Returns
    -------
    dict
        The HS3 document (``metadata.hs3_version`` "0.2").

    Raises
    ------
    SchemaError
        For a malformed pyhf workspace, naming the JSON path.
    """
    ws = normalize_pyhf_spec(spec)
    codes = _interp_codes(modifier_settings)
    measurements = ws["measurements"]
    if not measurements:
        raise _fail("measurements", "the pyhf workspace has no measurement", "at least one measurement")
    if measurement is None:
        meas = measurements[0]
    else:
        found = [m for m in measurements if isinstance(m, Mapping) and m.get("name") == measurement]
        if not found:
            names = [m.get("name") for m in measurements if isinstance(m, Mapping)]
            raise _fail("measurements", f"no measurement named {measurement!r}; the workspace has {names}")
        meas = found[0]
    config = meas.get("config", {}) if isinstance(meas, Mapping) else {}
    poi = config.get("poi")
    par_config: dict[str, Mapping[str, Any]] = {}
    for p in config.get("parameters", []):
        if isinstance(p, Mapping) and isinstance(p.get("name"), str):
            par_config[p["name"]] = p

    observations = {o["name"]: o["data"] for o in ws["observations"] if isinstance(o, Mapping) and "name" in o}

    distributions: list[dict[str, Any]] = []
    data: list[dict[str, Any]] = []
    attributes: dict[str, Any] = {}
    #: parameter -> (modifier type, number of components)
    params: dict[str, tuple[str, int]] = {}
    constraint_pdfs: dict[str, dict[str, Any]] = {}
    globals_: dict[str, float] = {}

    def explicit_gauss(name: str, aux: float, sigma: float) -> str:
        pdf = f"{name}Constraint"
        constraint_pdfs.setdefault(pdf, {"name": pdf, "type": "gaussian_dist", "x": f"nom_{name}", "mean": name,
                                         "sigma": sigma})
        globals_[f"nom_{name}"] = aux
        return pdf

    for ci, ch in enumerate(ws["channels"]):
        cpath = f"channels[{ci}]"
        if not isinstance(ch, Mapping) or not isinstance(ch.get("name"), str):
            raise _fail(cpath, "a channel must be an object with a name and samples")
        cname = ch["name"]
        samples_out: list[dict[str, Any]] = []
        n_bins: int | None = None
        has_staterror = False
        for si, sample in enumerate(ch.get("samples", [])):
            spath = f"{cpath}.samples[{si}]"
            if not isinstance(sample, Mapping) or not isinstance(sample.get("name"), str):
                raise _fail(spath, "a sample must be an object with a name, data and modifiers")
            contents = _numbers(sample.get("data"), f"{spath}.data", n_bins)
            n_bins = len(contents)
            out_sample: dict[str, Any] = {"name": sample["name"], "data": {"contents": contents}}
            mods: list[dict[str, Any]] = []
            for mi, mod in enumerate(sample.get("modifiers", [])):
                mpath = f"{spath}.modifiers[{mi}]"
                if not isinstance(mod, Mapping) or not isinstance(mod.get("name"), str) or \
                        not isinstance(mod.get("type"), str):
                    raise _fail(mpath, "a modifier must be an object with a name and a type")
                name, mtype, mdata = mod["name"], mod["type"], mod.get("data")
                labels = [f"{name}_{i}" for i in range(n_bins)]
                if mtype == "normfactor":
                    mods.append({"type": "normfactor", "name": name, "parameter": name})
                    params.setdefault(name, ("normfactor", 1))
                elif mtype == "lumi":
                    cfg = par_config.get(name, {})
                    aux = cfg.get("auxdata", [1.0])
                    sig = cfg.get("sigmas")
                    if not isinstance(sig, list) or not sig:
                        raise _fail(mpath, f"lumi modifier {name!r} needs 'sigmas' in the measurement's "
                                           "parameter config", "measurements[].config.parameters[{name, sigmas}]")
                    pdf = explicit_gauss(name, float(aux[0]), float(sig[0]))
                    # "constraint" (ROOT master, HS3) and "constraint_name" (ROOT 6.34-6.40) name the same pdf
                    mods.append({"type": "normfactor", "name": name, "parameter": name, "constraint": pdf,
                                 "constraint_name": pdf})
                    params.setdefault(name, ("lumi", 1))
                elif mtype == "normsys":
                    if not isinstance(mdata, Mapping):
                        raise _fail(f"{mpath}.data", f"normsys {name!r} needs data {{hi, lo}}", "{hi, lo}")
                    mods.append({"type": "normsys", "name": name, "parameter": name,
                                 "data": {"hi": float(mdata["hi"]), "lo": float(mdata["lo"])}})
                    if "normsys" in codes:
                        mods[-1]["interpolation"] = codes["normsys"]
                    params.setdefault(name, ("normsys", 1))
                elif mtype == "histosys":
                    if not isinstance(mdata, Mapping):
                        raise _fail(f"{mpath}.data", f"histosys {name!r} needs data {{hi_data, lo_data}}",
                                    "{hi_data, lo_data}")
                    mods.append({"type": "histosys", "name": name, "parameter": name, "data": {
                        "hi": {"contents": _numbers(mdata.get("hi_data"), f"{mpath}.data.hi_data", n_bins)},
                        "lo": {"contents": _numbers(mdata.get("lo_data"), f"{mpath}.data.lo_data", n_bins)}}})
                    if "histosys" in codes:
                        mods[-1]["interpolation"] = codes["histosys"]
                    params.setdefault(name, ("histosys", 1))
                elif mtype == "shapesys":
                    vals = _numbers(mdata, f"{mpath}.data", n_bins)
                    mods.append({"type": "shapesys", "name": name, "parameters": labels, "data": {"vals": vals},
                                 "constraint": "Poisson"})
                    params.setdefault(name, ("shapesys", n_bins))
                elif mtype == "shapefactor":
                    mods.append({"type": "shapefactor", "name": name, "parameters": labels})
                    params.setdefault(name, ("shapefactor", n_bins))
                elif mtype == "staterror":
                    out_sample["data"]["errors"] = _numbers(mdata, f"{mpath}.data", n_bins)
                    mods.append({"type": "staterror", "name": name, "parameters": labels})
                    params.setdefault(name, ("staterror", n_bins))
                    has_staterror = True
                else:
                    raise _fail(f"{mpath}.type", f"unknown pyhf modifier type {mtype!r}",
                                "normfactor, lumi, normsys, histosys, shapesys, shapefactor or staterror")
            out_sample["modifiers"] = mods
            samples_out.append(out_sample)
        if n_bins is None:
            raise _fail(f"{cpath}.samples", f"channel {cname!r} has no samples", "at least one sample")
        obs = f"obs_x_{cname}"
        axes = [{"name": obs, "min": 0.0, "max": float(n_bins), "nbins": n_bins}]
        dist: dict[str, Any] = {"name": f"model_{cname}", "type": "histfactory_dist", "axes": axes,
                                "samples": samples_out}
        if has_staterror:
            dist["staterror"] = {"constraint_type": "Gauss", "relThreshold": 0.0}
        distributions.append(dist)
        # the tag where pyhs3_lab reads it (the channel) and where RooFit 6.40 does (its sum pdf)
        attributes[dist["name"]] = {"tags": ["BinnedLikelihood"]}
        attributes[f"{cname}_model"] = {"tags": ["BinnedLikelihood"]}
        if cname not in observations:
            raise _fail("observations", f"no observation for channel {cname!r}", f"an observation named {cname!r}")
        counts = _numbers(observations[cname], f"observations[{cname}].data", n_bins)
        data.append({"name": f"obsData_{cname}", "type": "binned", "axes": copy.deepcopy(axes), "contents": counts})

    # normsys/histosys whose constraint the measurement changes: explicit Gaussians
    for dist in distributions:
        for sample in dist["samples"]:
            for mod in sample["modifiers"]:
                cfg = par_config.get(mod.get("parameter", ""), {})
                if mod["type"] in ("normsys", "histosys") and ("auxdata" in cfg or "sigmas" in cfg):
                    aux = float(cfg.get("auxdata", [0.0])[0])
                    sig = float(cfg.get("sigmas", [1.0])[0])
                    mod["constraint"] = mod["constraint_name"] = explicit_gauss(mod["parameter"], aux, sig)
    for name, cfg in par_config.items():
        kind = params.get(name, ("", 0))[0]
        if kind in ("shapesys", "staterror") and ("auxdata" in cfg or "sigmas" in cfg):
            raise _fail(f"measurements config parameter {name!r}",
                        f"changing the auxdata/sigmas of the {kind} parameter {name!r} is not supported")

    axes_out: list[dict[str, Any]] = []
    point: list[dict[str, Any]] = []
    masked = _masked_bins(distributions)
    for name, (kind, n) in params.items():
        cfg = par_config.get(name, {})
        init, bound = _DEFAULTS.get(kind, (1.0, (0.0, 10.0)))
        inits = cfg.get("inits", [init] * n)
        bounds = cfg.get("bounds", [list(bound)] * n)
        fixed = bool(cfg.get("fixed", False))
        names = [name] if kind in ("normfactor", "lumi", "normsys", "histosys") else [f"{name}_{i}" for i in range(n)]
        if len(inits) != n or len(bounds) != n:
            raise _fail(f"measurements config parameter {name!r}", f"inits/bounds have the wrong length for "
                        f"{n} component(s)")
        for nm, ini, bd in zip(names, inits, bounds, strict=True):
            lo, hi = float(bd[0]), float(bd[1])
            axes_out.append({"name": nm, "min": lo, "max": hi})
            entry: dict[str, Any] = {"name": nm, "value": float(ini)}
            if fixed or nm in masked:
                entry["const"] = True
            point.append(entry)
    for nm, val in globals_.items():
        point.append({"name": nm, "value": val, "const": True})

    mname = str(meas.get("name", "measurement"))
    lik_name = f"{mname}_likelihood"
    analysis: dict[str, Any] = {"name": mname, "likelihood": lik_name, "domains": ["default_domain"],
                                "init": "default_values"}
    if isinstance(poi, str) and poi:
        analysis["parameters_of_interest"] = [poi]
    version = ws.get("version")
    return {
        "metadata": {"hs3_version": "0.2", "packages": [{"name": CONVERTER, "version": "1"}],
                     "description": f"converted from a pyhf workspace (version {version})"},
        "distributions": [*distributions, *constraint_pdfs.values()],
        "data": data,
        "likelihoods": [{"name": lik_name, "distributions": [d["name"] for d in distributions],
                         "data": [d["name"] for d in data]}],
        "domains": [{"name": "default_domain", "type": "product_domain", "axes": axes_out}],
        "parameter_points": [{"name": "default_values", "parameters": point}],
        "analyses": [analysis],
        "misc": {"ROOT_internal": {"attributes": attributes}, "pyhf": {"version": version}},
    }
