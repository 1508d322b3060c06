"""Shared fixtures: where ../shared/ is, and the real workspaces in it."""

from __future__ import annotations

from pathlib import Path

import pytest
from shared_paths import SHARED, WORKSPACES, workspace_files

__all__ = ["SHARED", "WORKSPACES", "workspace_files"]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"the shared inputs are not at {SHARED} (set PYHS3_LAB_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def workspaces_dir(shared_dir: Path) -> Path:
    return shared_dir / "workspaces"
