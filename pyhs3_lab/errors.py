"""The exception hierarchy of pyhs3_lab.

Every error raised for a bad workspace, an unsupported type, a bad expression
or a failed evaluation derives from :class:`PyHS3LabError`, and says where the
problem is: the object's name, the field, and the JSON path.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem found in a workspace.

    ``path`` is a JSON path such as ``distributions[3].mean``; ``name`` is the
    name of the object (if it has one); ``field`` the key inside it.
    """

    path: str
    message: str
    name: str | None = None
    field: str | None = None
    expected: str | None = None

    def __str__(self) -> str:
        where = self.path or "<workspace>"
        obj = f" (object {self.name!r})" if self.name else ""
        exp = f"; expected {self.expected}" if self.expected else ""
        return f"{where}{obj}: {self.message}{exp}"


class PyHS3LabError(Exception):
    """Base class of all pyhs3_lab errors."""


class ParseError(PyHS3LabError):
    """The input is not JSON (or not a JSON object)."""


class SchemaError(PyHS3LabError):
    """The workspace does not follow the HS3 structure.

    ``problems`` lists every problem found, not only the first.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in the workspace:"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


class HS3ReferenceError(SchemaError):
    """A reference to a name that does not exist, or of the wrong kind."""


class CycleError(HS3ReferenceError):
    """The objects of a workspace reference each other in a cycle."""


class UnsupportedTypeError(PyHS3LabError):
    """An HS3 ``type`` that pyhs3_lab cannot evaluate."""

    def __init__(self, type_: str, name: str, path: str, detail: str = "") -> None:
        self.type = type_
        self.name = name
        self.path = path
        msg = f"{path} (object {name!r}): HS3 type {type_!r} is not supported by pyhs3_lab"
        if detail:
            msg += f": {detail}"
        super().__init__(msg)


class ExpressionError(PyHS3LabError):
    """An expression that does not parse (or uses an unknown function)."""

    def __init__(self, message: str, text: str, position: int | None = None, path: str = "") -> None:
        self.text = text
        self.position = position
        self.path = path
        where = f"{path}: " if path else ""
        pointer = ""
        if position is not None:
            pointer = f"\n    {text}\n    {' ' * position}^"
        super().__init__(f"{where}{message} in expression {text!r}{pointer}")


class EvaluationError(PyHS3LabError):
    """A value could not be computed (missing parameter value, bad shape, ...)."""


class LikelihoodError(PyHS3LabError):
    """A likelihood whose data does not match its distributions, or a bad request."""


class FitError(PyHS3LabError):
    """A fit request that cannot be carried out (unknown parameter, ...)."""
