"""Execute every tutorial notebook (notebooks/*.ipynb) with nbclient, so that they never rot.

Each notebook runs in a fresh kernel of this Python (kernel ``python3``) with notebooks/ as its working
directory, the way a reader runs it; a cell that raises fails the test with the cell's traceback.
The notebooks carry their own checks (asserts against closed forms and reference values).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))
TIMEOUT = 600


def test_notebooks_exist() -> None:
    names = [p.name for p in ALL]
    assert names == ["01-workspaces.ipynb", "02-shapes-and-sliders.ipynb", "03-likelihoods-and-fits.ipynb",
                     "04-histfactory.ipynb"]


def test_notebooks_are_committed_without_outputs() -> None:
    nbformat = pytest.importorskip("nbformat")
    for path in ALL:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [], f"{path.name}: a cell has outputs"
                assert cell.execution_count is None, f"{path.name}: a cell has an execution count"


@pytest.mark.notebooks
@pytest.mark.slow
@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_notebook_runs(path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    env = dict(os.environ)
    # the kernel imports this checkout's pyhs3_lab even where the package is not installed
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(NOTEBOOKS.parent), env.get("PYTHONPATH", "")] if p)
    before = set(NOTEBOOKS.rglob("*"))
    client = nbclient.NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute(env=env)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    # a notebook leaves nothing behind in notebooks/
    assert set(NOTEBOOKS.rglob("*")) - before == set()
