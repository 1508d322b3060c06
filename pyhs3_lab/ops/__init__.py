"""The numpy/scipy kernels, one per HS3 type, registered in :mod:`pyhs3_lab.registry`.

Importing this package registers every kernel module below.
"""

from __future__ import annotations

from . import (  # noqa: F401  (imported for their registrations)
    composite,
    functions,
    histfactory,
    multivariate,
    univariate,
)
