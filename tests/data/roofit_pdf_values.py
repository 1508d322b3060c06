"""Print RooFit's normalised pdf values (and expected events) for an HS3 file, as JSON.

Usage: ``python roofit_pdf_values.py workspace.json request.json`` where the request is
``{"pdf name": {"observable": "x", "points": [...]}, ...}``. Each pdf is evaluated at the
points, normalised over the observable's range (its ``default_domain`` / data axis), at the
``default_values`` of the other variables; RooFit's numerical integrals run with a relative
and absolute precision of 1e-12. Run it in a subprocess: ROOT may crash on a bad file.
"""

from __future__ import annotations

import json
import sys
import warnings


def main(argv: list[str]) -> int:
    warnings.simplefilter("ignore")
    import ROOT

    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
    config = ROOT.RooAbsReal.defaultIntegratorConfig()
    config.setEpsAbs(1e-12)
    config.setEpsRel(1e-12)
    ws = ROOT.RooWorkspace("w")
    ROOT.RooJSONFactoryWSTool(ws).importJSON(argv[1])
    with open(argv[2]) as f:
        request = json.load(f)
    out = {}
    for name, what in request.items():
        pdf = ws.pdf(name)
        if not pdf:
            out[name] = {"error": f"ROOT has no pdf {name!r} after import"}
            continue
        obs = ws.var(what["observable"])
        nset = ROOT.RooArgSet(obs)
        values = []
        for v in what["points"]:
            obs.setVal(v)
            values.append(pdf.getVal(nset))
        entry = {"values": values}
        if pdf.canBeExtended():
            entry["expected_events"] = pdf.expectedEvents(nset)
        out[name] = entry
    print("RESULT " + json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
