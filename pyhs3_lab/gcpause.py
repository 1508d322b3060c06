"""The cyclic garbage collector paused while large objects are built (a helper of the set-up stages)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["gc_paused"]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a workspace, model or likelihood is built.

    Set-up creates hundreds of thousands of objects (a large HistFactory model), none of them garbage
    cycles, and every collection walks them all: half the set-up time of such models went to the
    collector. Only collection is deferred (reference counting frees as usual); the collector's state
    is restored on exit, also on error, and a pause inside a pause (or a collector the user turned off)
    leaves it as it was.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
