"""pyhs3_lab: load, evaluate, fit and explore HS3 statistical models (numpy and scipy only)."""

from __future__ import annotations

from typing import Any

from .errors import (
    CycleError,
    EvaluationError,
    ExpressionError,
    FitError,
    HS3ReferenceError,
    LikelihoodError,
    ParseError,
    Problem,
    PyHS3LabError,
    SchemaError,
    UnsupportedTypeError,
)
from .fit import FitResult, ProfileResult
from .likelihood import Analysis, Likelihood, LikelihoodParameter
from .model import Model, ParameterInfo
from .toys import PseudoData, ToyStudy, UpperLimit
from .workspace import Workspace

__version__ = "0.1.0"

__all__ = [
    "Analysis",
    "CycleError",
    "EvaluationError",
    "ExpressionError",
    "FitError",
    "FitResult",
    "HS3ReferenceError",
    "Likelihood",
    "LikelihoodError",
    "LikelihoodParameter",
    "Model",
    "ParameterInfo",
    "ParseError",
    "Problem",
    "ProfileResult",
    "PseudoData",
    "PyHS3LabError",
    "SchemaError",
    "ToyStudy",
    "UnsupportedTypeError",
    "UpperLimit",
    "Workspace",
    "__version__",
    "load",
]


def load(source: Any, *, strict: bool = False) -> Workspace:
    """Load a workspace from a path, JSON text, bytes or dict (see :meth:`Workspace.load`)."""
    return Workspace.load(source, strict=strict)


def __getattr__(name: str) -> Any:
    # the widget is imported only on use, so that the engine never imports Jupyter packages
    if name == "Explorer":
        from .widget import Explorer

        return Explorer
    raise AttributeError(f"module 'pyhs3_lab' has no attribute {name!r}")
