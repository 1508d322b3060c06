#!/usr/bin/env python3
"""A synthetic ATLAS-sized HistFactory workspace (pyhf JSON): ~300 channels, ~3000 parameters, ~40000 modifiers.

    python benchmarks/generate_atlas.py [--quick] [--out atlas.json]

Per channel (8 bins): a signal sample (μ, lumi, 10 systematics) and five backgrounds (a normalisation
factor shared by all channels, lumi, a staterror per channel, 22 systematics each); systematics are
normsys or histosys drawn from a pool of 600 shared nuisance parameters. Deterministic (seeded), so that
every run and every tool sees the same model. ``--quick`` writes 1/10 of the channels.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import Any

import numpy as np

N_CHANNELS = 300
N_BINS = 8
N_BKG = 5
N_NP = 600
SIG_SYST = 10
BKG_SYST = 22


def generate(quick: bool = False, seed: int = 7) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    n_channels = N_CHANNELS // 10 if quick else N_CHANNELS
    channels, observations = [], []
    for c in range(n_channels):
        name = f"SR{c}"
        samples = []
        total = np.zeros(N_BINS)
        shape = np.exp(-np.linspace(0.0, 2.0, N_BINS) * rng.uniform(0.3, 1.0))
        sig = 5.0 * rng.uniform(0.5, 2.0) * np.exp(-0.5 * ((np.arange(N_BINS) - rng.uniform(2, 6)) / 1.5) ** 2)
        samples.append(_sample("signal", sig, [{"name": "mu", "type": "normfactor", "data": None}], rng, SIG_SYST))
        total += sig
        for b in range(N_BKG):
            nom = 50.0 * rng.uniform(0.2, 2.0) * shape * rng.uniform(0.8, 1.2, N_BINS)
            mods: list[dict[str, Any]] = [
                {"name": f"norm_bkg{b}", "type": "normfactor", "data": None},
                {"name": f"staterror_{name}", "type": "staterror", "data": list(np.round(0.05 * nom, 6))},
            ]
            samples.append(_sample(f"bkg{b}", nom, mods, rng, BKG_SYST))
            total += nom
        channels.append({"name": name, "samples": samples})
        observations.append({"name": name, "data": [float(v) for v in rng.poisson(total)]})
    return {"channels": channels, "observations": observations, "version": "1.0.0",
            "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": [
                {"name": "lumi", "auxdata": [1.0], "sigmas": [0.017], "bounds": [[0.9, 1.1]], "inits": [1.0]}]}}]}


def _sample(name: str, nominal: np.ndarray, mods: list[dict[str, Any]], rng: np.random.Generator,
            n_syst: int) -> dict[str, Any]:
    mods = [*mods, {"name": "lumi", "type": "lumi", "data": None}]
    for p in rng.choice(N_NP, size=n_syst, replace=False):
        if rng.uniform() < 0.5:
            up = 1.0 + rng.uniform(0.005, 0.1)
            mods.append({"name": f"np_{p}", "type": "normsys", "data": {"hi": up, "lo": 2.0 - up}})
        else:
            var = rng.uniform(0.005, 0.08, nominal.size)
            mods.append({"name": f"np_{p}", "type": "histosys",
                         "data": {"hi_data": list(np.round(nominal * (1 + var), 6)),
                                  "lo_data": list(np.round(nominal * (1 - var), 6))}})
    return {"name": name, "data": list(np.round(nominal, 6)), "modifiers": mods}


def describe(spec: dict[str, Any]) -> str:
    mods = [m for ch in spec["channels"] for s in ch["samples"] for m in s["modifiers"]]
    kinds = Counter(m["type"] for m in mods)
    params: set[str] = set()
    for ch in spec["channels"]:
        nb = len(spec["observations"][0]["data"])
        for s in ch["samples"]:
            for m in s["modifiers"]:
                if m["type"] in ("staterror", "shapesys"):
                    params |= {f"{m['name']}[{i}]" for i in range(nb)}
                else:
                    params.add(m["name"])
    bins = sum(len(o["data"]) for o in spec["observations"])
    return (f"{len(spec['channels'])} channels, {bins} bins, {len(params)} parameters, {len(mods)} modifiers "
            f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="atlas_synthetic.json")
    args = ap.parse_args()
    spec = generate(args.quick)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(spec, f)
    print(f"{args.out}: {describe(spec)}")


if __name__ == "__main__":
    main()
