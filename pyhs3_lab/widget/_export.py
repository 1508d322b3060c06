"""The Explorer's plot as a Python bokeh figure (for reports, ``bokeh.io.save`` or further styling)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf")


def figure_from_curves(payload: Mapping[str, Any], *, log_y: bool = False, width: int = 640,
                       height: int = 420) -> Any:
    """A ``bokeh.plotting.figure`` drawing one plot payload of the Explorer: the total model, its components
    (stacked bins for bin-count channels, lines for mixture components) and the data with its error bars."""
    from bokeh.models.annotations import Whisker
    from bokeh.plotting import ColumnDataSource, figure

    fig = figure(title=str(payload.get("target", "")), x_axis_label=str(payload.get("observable", "")),
                 y_axis_label=str(payload.get("ylabel", "")), width=width, height=height,
                 y_axis_type="log" if log_y else "linear")
    x = np.asarray(payload["x"], dtype=float)
    total = np.asarray(payload["total"], dtype=float)
    components = list(payload.get("components", []))
    if payload.get("kind") == "binned":
        bottom = np.zeros_like(total)
        for i, comp in enumerate(components):
            y = np.asarray(comp["y"], dtype=float)
            fig.quad(left=x[:-1], right=x[1:], bottom=bottom, top=bottom + y, fill_color=_PALETTE[i % 10],
                     fill_alpha=0.6, line_color=None, legend_label=str(comp["name"]))
            bottom = bottom + y
        fig.step(x=np.append(x[:-1], x[-1]), y=np.append(total, total[-1]), mode="after", line_color="black",
                 line_width=2, legend_label="model")
    else:
        for i, comp in enumerate(components):
            fig.line(x, np.asarray(comp["y"], dtype=float), line_dash="dashed", line_color=_PALETTE[i % 10],
                     line_width=2, legend_label=str(comp["name"]))
        fig.line(x, total, line_color="black", line_width=2, legend_label="model")
    data = payload.get("data")
    if data is not None:
        y = np.asarray(data["y"], dtype=float)
        source = ColumnDataSource({"x": np.asarray(data["x"], dtype=float), "y": y,
                                   "lower": y - np.asarray(data["err_lo"], dtype=float),
                                   "upper": y + np.asarray(data["err_hi"], dtype=float)})
        fig.scatter("x", "y", source=source, size=6, color="black", legend_label=f"data ({data['name']})")
        fig.add_layout(Whisker(source=source, base="x", lower="lower", upper="upper", line_color="black"))
    fig.legend.location = "top_right"
    return fig
