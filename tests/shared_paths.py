"""Where ../shared/ is, and the real workspaces in it (importable by tests as ``shared_paths``)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PYHS3_LAB_SHARED", ROOT.parent / "shared")).resolve()
WORKSPACES = SHARED / "workspaces"


def workspace_files() -> list[Path]:
    """Every HS3 file in ../shared/workspaces (pyhf JSON files excluded)."""
    if not WORKSPACES.is_dir():
        return []
    out = []
    for path in sorted(WORKSPACES.rglob("*.json")):
        if path.name.endswith("_hifa.json") or path.parent.name == "flatppl-rust":
            continue
        out.append(path)
    return out
