"""The engine's imports: ``import pyhs3_lab`` stays light, and the engine works without Jupyter.

Each check runs in a fresh interpreter, so that modules imported by other tests do not count.
The hiding of modules follows iminuit's ``tests/_hide_modules.py``: a finder at the front of
``sys.meta_path`` that refuses the hidden names, as if they were not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from shared_paths import WORKSPACES

#: top-level packages that ``import pyhs3_lab`` must not import (Jupyter, the widget stack, the fitter,
#: and symbolic/JIT stacks the engine must never need: it runs in Pyodide with numpy and scipy only)
FORBIDDEN = (
    "IPython", "ipykernel", "ipywidgets", "anywidget", "traitlets", "comm", "jupyter_client", "jupyter_core",
    "jupyterlab", "notebook", "bokeh", "iminuit", "pytensor", "sympy", "numba", "jax", "matplotlib", "pandas",
)
#: submodules that are too heavy to be imported before they are used
FORBIDDEN_SUBMODULES = ("scipy.stats",)

HIDE = """
import importlib.abc
import sys

HIDDEN = {hidden!r}


class _Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {{fullname!r}} (hidden by the test)", name=fullname)
        return None


for name in list(sys.modules):
    if name.split(".")[0] in HIDDEN:
        del sys.modules[name]
sys.meta_path.insert(0, _Hide())
"""


def _run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, f"the subprocess failed:\n{proc.stderr}"
    return proc.stdout


def test_import_is_light() -> None:
    out = _run("""
        import json, sys
        import pyhs3_lab
        print(json.dumps(sorted(sys.modules)))
    """)
    loaded = json.loads(out)
    bad = sorted({m for m in loaded if m.split(".")[0] in FORBIDDEN}
                 | {m for m in loaded for sub in FORBIDDEN_SUBMODULES if m == sub or m.startswith(sub + ".")})
    assert "pyhs3_lab" in loaded
    assert not bad, f"`import pyhs3_lab` imports {bad}"


def test_loading_and_evaluating_stay_light() -> None:
    """Loading a real workspace and computing an NLL import nothing of Jupyter or the fitter either."""
    path = WORKSPACES / "pyhs3-benchmarks" / "1ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json"
    out = _run(f"""
        import json, math, sys
        import pyhs3_lab
        ws = pyhs3_lab.Workspace.load({str(path)!r})
        nll = ws.likelihood("L_ch0").nll({{"mu_sig": 1.5}})
        assert math.isfinite(nll), nll
        print(json.dumps(sorted(sys.modules)))
    """)
    loaded = json.loads(out)
    bad = sorted(m for m in loaded if m.split(".")[0] in FORBIDDEN)
    assert not bad, f"loading a workspace and evaluating an NLL import {bad}"


def test_engine_works_with_jupyter_hidden() -> None:
    """With ipywidgets, anywidget, traitlets and bokeh missing, the engine loads, evaluates and fits;
    only the Explorer needs them, and asking for it says which module is missing."""
    path = WORKSPACES / "pyhs3-benchmarks" / "1ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json"
    hidden = ("ipywidgets", "anywidget", "traitlets", "bokeh", "IPython", "ipykernel", "comm")
    out = _run(HIDE.format(hidden=hidden) + f"""
import json
import pyhs3_lab
ws = pyhs3_lab.Workspace.load({str(path)!r})
lik = ws.likelihood("L_ch0")
res = lik.fit()
try:
    pyhs3_lab.Explorer
except ImportError as exc:
    explorer = str(exc)
else:
    explorer = "imported"
print(json.dumps({{"nll": lik.nll(), "fval": res.fval, "valid": res.valid, "mu": res.values["mu_sig"],
                  "explorer": explorer}}))
""")
    got = json.loads(out)
    assert got["valid"]
    # the fit lowers the NLL from the default point, and moves mu_sig from its start value 1
    assert got["fval"] < got["nll"]
    assert got["mu"] != 1.0
    assert got["explorer"] != "imported"
    assert "hidden by the test" in got["explorer"]
