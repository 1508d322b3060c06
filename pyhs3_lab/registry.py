"""The one registry of HS3 types: ``type`` string -> field schema + kernel class.

Each kernel module in :mod:`pyhs3_lab.ops` registers its classes with
:func:`register`. The field schema is used by :mod:`pyhs3_lab.spec` to validate
a component and by :mod:`pyhs3_lab.graph` to find its references; the class is
instantiated by :mod:`pyhs3_lab.compile`. This module imports no numpy.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

KernelClass = type

Category = Literal["distribution", "function"]


class Kind(enum.Enum):
    """What a field of a component holds."""

    REF = "a parameter/function name or a number"
    REF_LIST = "a list of parameter/function names or numbers"
    REF_MATRIX = "a list of lists of parameter/function names or numbers"
    DIST = "the name of a distribution"
    DIST_LIST = "a list of distribution names"
    FUNC = "the name of a function"
    FUNC_LIST = "a list of function names"
    NUMBER = "a number"
    NUMBER_LIST = "a list of numbers"
    INT = "an integer"
    INT_LIST = "a list of integers"
    BOOL = "a boolean"
    STRING = "a string"
    EXPRESSION = "an expression string"
    OBJECT = "a JSON object"
    LIST = "a JSON list"
    ANY = "any JSON value"


@dataclass(frozen=True)
class Field:
    kind: Kind
    required: bool = True
    doc: str = ""


def req(kind: Kind, doc: str = "") -> Field:
    return Field(kind, True, doc)


def opt(kind: Kind, doc: str = "") -> Field:
    return Field(kind, False, doc)


#: A check on a whole component, beyond its single fields: returns problems as
#: (field or None, message) pairs.
Check = Callable[[Mapping[str, Any]], list[tuple[str | None, str]]]


@dataclass
class TypeInfo:
    """What pyhs3_lab knows about one HS3 type."""

    type: str
    category: Category
    fields: Mapping[str, Field]
    aliases: tuple[str, ...] = ()
    #: fields whose value is the distribution's own variate (its observable when
    #: it is not paired with data), e.g. ``("x",)`` for ``gaussian_dist``.
    variates: tuple[str, ...] = ()
    checks: tuple[Check, ...] = ()
    kernel: KernelClass | None = None
    doc: str = ""
    extra_refs: Callable[[Mapping[str, Any]], list[tuple[str, str, Kind]]] | None = field(default=None)
    """For types whose references are nested (HistFactory): ``(json_subpath, name, kind)`` triples."""


_REGISTRY: dict[str, TypeInfo] = {}


def register(
    type_: str,
    category: Category,
    fields: Mapping[str, Field],
    *,
    aliases: tuple[str, ...] = (),
    variates: tuple[str, ...] = (),
    checks: tuple[Check, ...] = (),
    extra_refs: Callable[[Mapping[str, Any]], list[tuple[str, str, Kind]]] | None = None,
) -> Callable[[type[Any]], type[Any]]:
    """Class decorator: register a kernel for an HS3 type (and its aliases)."""

    def deco(cls: type[Any]) -> type[Any]:
        info = TypeInfo(
            type=type_,
            category=category,
            fields=dict(fields),
            aliases=aliases,
            variates=variates,
            checks=checks,
            kernel=cls,
            doc=(cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
            extra_refs=extra_refs,
        )
        for key in (type_, *aliases):
            folded = key.lower()
            if folded in _REGISTRY and _REGISTRY[folded].kernel is not cls:
                raise RuntimeError(f"HS3 type {key!r} registered twice")
            _REGISTRY[folded] = info
        cls.type_info = info
        return cls

    return deco


def lookup(type_: str) -> TypeInfo | None:
    """The type info for an HS3 type string (aliases and case folded), or None."""
    _ensure_loaded()
    return _REGISTRY.get(type_.lower())


def all_types() -> dict[str, TypeInfo]:
    """Every registered type string (canonical names and aliases)."""
    _ensure_loaded()
    return dict(_REGISTRY)


def _ensure_loaded() -> None:
    # The kernels register themselves on import.
    from . import ops  # noqa: F401
