"""The Jupyter front end of pyhs3_lab (the only package that imports anywidget/ipywidgets)."""

from __future__ import annotations

from ._explorer import SYNCED_TRAITS, Explorer

__all__ = ["SYNCED_TRAITS", "Explorer"]
