"""Trait serializers: numpy arrays travel as binary buffers, never as JSON lists.

``to_json`` replaces every numpy array inside a (nested) dict/list by
``{"dtype": "float64", "shape": [...], "data": memoryview}``; ipywidgets splits the
memoryviews out into binary websocket frames, and the front end wraps each as a
``Float64Array`` (js/widget/arrays.ts). Non-finite floats outside arrays become None
(JSON has no NaN/inf).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def encode_array(arr: Any) -> dict[str, Any]:
    a = np.ascontiguousarray(np.asarray(arr, dtype=np.float64))
    return {"dtype": "float64", "shape": list(a.shape), "data": a.reshape(-1).data.cast("B")}


def to_wire(value: Any) -> Any:
    """A JSON-able copy of ``value`` with numpy arrays as binary buffers."""
    if isinstance(value, np.ndarray):
        return encode_array(value)
    if isinstance(value, dict):
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def trait_to_json(value: Any, widget: Any) -> Any:
    return to_wire(value)


def decode_array(obj: dict[str, Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The inverse of :func:`encode_array` (used by tests and by state restored from JSON)."""
    data = obj["data"]
    raw = bytes(data) if not isinstance(data, bytes) else data
    return np.frombuffer(raw, dtype=np.dtype(obj["dtype"])).reshape(obj["shape"]).astype(np.float64)
