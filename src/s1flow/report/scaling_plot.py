"""The test-time scaling figure: accuracy against average thinking tokens, one panel per eval set.

Points with an interval (``acc_low`` / ``acc_high``, the nested bootstrap of
:mod:`s1flow.report.methods`) get a vertical error bar.

The first row compares sequential and parallel scaling (the paper's Figures 1 and 4); when
the points hold length-controlled methods, a second row compares them with budget forcing
and rejection sampling (Figures 5 and 6).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
from matplotlib.transforms import Bbox

from s1flow.errors import InputFileError
from s1flow.io import atomic_path, require_columns

log = logging.getLogger(__name__)

#: method -> (legend label, colour, marker). Other methods cycle through _EXTRA.
STYLES: dict[str, tuple[str, str, str]] = {
    "budget forcing": ("budget forcing (sequential)", "#1f77b4", "o"),
    "majority voting": ("majority voting (parallel)", "#d62728", "s"),
    "rejection sampling": ("rejection sampling", "#2ca02c", "^"),
    "token-conditional": ("token-conditional", "#9467bd", "D"),
    "token-conditional + budget forcing": ("token-conditional + budget forcing", "#e377c2", "P"),
    "step-conditional": ("step-conditional", "#8c564b", "v"),
    "step-conditional + budget forcing": ("step-conditional + budget forcing", "#bcbd22", "X"),
    "class-conditional": ("class-conditional", "#17becf", "*"),
}
#: methods of the length-control row, and those of both rows
CONTROL_METHODS = ["token-conditional", "token-conditional + budget forcing", "step-conditional",
                   "step-conditional + budget forcing", "class-conditional"]
SHARED_METHODS = ["budget forcing", "rejection sampling"]
_EXTRA = [("#9467bd", "D"), ("#8c564b", "v"), ("#e377c2", "P"), ("#7f7f7f", "X")]
_LINESTYLES = ["-", "--", ":", "-."]
_WAIT_LINE = (0, (1, 1.5))  # dotted: a curve of extended thinking (Waits)
#: the optional interval columns drawn as error bars
_BARS = ["acc_low", "acc_high"]
_NEEDED = ["evalset", "method", "model", "setting", "cap", "num_wait", "min_thinking", "stated_budget",
           "length_class", "votes", "mean_thinking_tokens", "accuracy"]


def point_label(point: Mapping[str, Any]) -> str:
    """A short annotation for a point from its typed columns: cap 512 -> 512, cap auto with 2 Waits -> w2,
    a vote of 4 -> @4, a stated budget of 8 steps -> 8s, a class prompt -> long."""
    method = point["method"]
    if method == "majority voting":
        return f"@{int(point['votes'])}"
    if method in CONTROL_METHODS[:4]:
        return f"{int(point['stated_budget'])}" + ("s" if method.startswith("step") else "")
    if method == "class-conditional":
        return str(point["length_class"])
    if method not in ("budget forcing", "rejection sampling"):
        return str(point["setting"])
    cap = _cap_text(point["cap"])
    wait, minimum = int(point["num_wait"]), int(point["min_thinking"])
    label = "" if cap == "auto" and wait else cap
    if wait:
        label += f"w{wait}"
    if minimum:
        label += f" m{minimum}"
    return label


def _cap_text(cap: Any) -> str:
    """A point's configured cap as text ('auto' where the column is empty)."""
    return "auto" if cap is None or pd.isna(cap) else str(int(cap))


def _wait_lines(group: pd.DataFrame, counts: pd.Series, name: str) -> list[tuple[int, pd.DataFrame, str]]:
    """The lines of one method and model: (Wait count, rows, legend label); -1 for a chain of Waits.

    Capping and extending are different curves, so each Wait count is a line of its own; but
    when several Wait counts extend one cap alone (s1's sweep: cap auto, then 1/2/4/6 Waits),
    they are one line from that cap's 0-Wait point on, in Wait order."""
    lines = [(0, group[counts == 0], name)] if (counts == 0).any() else []
    caps = group["cap"].map(_cap_text)
    waited = counts > 0
    if counts[waited].nunique() > 1 and caps[waited].nunique() == 1:
        cap = caps[waited].iloc[0]
        chain = group[((caps == cap) & (counts == 0)) | waited].assign(_w=counts).sort_values("_w", kind="stable")
        return lines + [(-1, chain.drop(columns="_w"), f"{name} + Waits (cap {cap})")]
    for n_wait, series in group[waited].groupby(counts[waited], sort=True):
        lines.append((int(n_wait), series, f"{name} + {n_wait} Wait{'s' if n_wait > 1 else ''}"))
    return lines


def _style(method: str, extra_index: int) -> tuple[str, str, str]:
    if method in STYLES:
        return STYLES[method]
    colour, marker = _EXTRA[extra_index % len(_EXTRA)]
    return method, colour, marker


def _log2_ticks(lo: float, hi: float) -> list[float]:
    ticks = [2.0 ** e for e in range(math.floor(math.log2(lo)), math.ceil(math.log2(hi)) + 1)
             if lo <= 2.0 ** e <= hi]
    while len(ticks) > 7:
        ticks = ticks[::2]
    return ticks or [2.0 ** round(math.log2(math.sqrt(lo * hi)))]


def _valid(points: pd.DataFrame) -> pd.DataFrame:
    require_columns(points, _NEEDED, "scaling plot points")
    x = pd.to_numeric(points["mean_thinking_tokens"], errors="coerce")
    y = pd.to_numeric(points["accuracy"], errors="coerce")
    ok = (x > 0) & np.isfinite(x) & np.isfinite(y)
    if (~ok).any():
        log.warning("scaling plot: leaving out %d point(s) without positive thinking tokens or accuracy: %s",
                    int((~ok).sum()), list(points.loc[~ok, "setting"])[:5])
    out = points.loc[ok].assign(mean_thinking_tokens=x[ok], accuracy=y[ok])
    for col in _BARS:
        if col in out:
            out[col] = pd.to_numeric(out[col], errors="coerce")
    if out.empty:
        raise InputFileError("scaling plot: no points with positive thinking tokens and an accuracy to plot")
    return out


# Candidate label positions around a marker: (dx, dy) in points, horizontal and vertical alignment.
_ABOVE, _BELOW, _RIGHT = (0, 6, "center", "bottom"), (0, -7, "center", "top"), (6, 0, "left", "center")
_CANDIDATES = [_ABOVE, _BELOW, _RIGHT, (-6, 0, "right", "center"), (5, 5, "left", "bottom"),
               (-5, 5, "right", "bottom"), (5, -5, "left", "top"), (-5, -5, "right", "top"),
               (0, 15, "center", "bottom"), (0, -16, "center", "top")]
_PREFERRED = {"budget forcing": _ABOVE, "majority voting": _BELOW, "rejection sampling": _RIGHT}


def _overlaps(box: Bbox, others: list[Bbox], pad: float = 1.0) -> bool:
    grown = box.padded(pad)
    return any(grown.overlaps(o) for o in others)


def _place_labels(fig: Figure, ax: Axes, labels: list[tuple[float, float, str, str, str]]) -> None:
    """Annotate points, trying positions around each marker until one clashes with nothing drawn so far."""
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    obstacles = []
    for bars in ax.collections:  # error bars: a thin box along each
        for segment in bars.get_segments():
            (x0, y0), (x1, y1) = ax.transData.transform(segment)
            obstacles.append(Bbox.from_extents(min(x0, x1) - 1, min(y0, y1), max(x0, x1) + 1, max(y0, y1)))
    for line in ax.get_lines():
        xy = ax.transData.transform(line.get_xydata())
        for (x0, y0), (x1, y1) in zip(xy[:-1], xy[1:], strict=True):
            steps = max(1, int(math.hypot(x1 - x0, y1 - y0) // 3))
            for t in np.linspace(0, 1, steps + 1):
                px, py = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
                obstacles.append(Bbox.from_extents(px - 1, py - 1, px + 1, py + 1))
        for px, py in xy:  # the markers themselves
            obstacles.append(Bbox.from_extents(px - 5, py - 5, px + 5, py + 5))
    for x, y, text, colour, method in labels:
        ann = ax.annotate(text, (x, y), xytext=(0, 0), textcoords="offset points", fontsize=6.5, color=colour)
        ann.set_in_layout(False)
        order = [_PREFERRED.get(method, _ABOVE)] + _CANDIDATES
        for dx, dy, ha, va in order:
            ann.set_position((dx, dy))
            ann.set_ha(ha)
            ann.set_va(va)
            box = ann.get_window_extent(renderer)
            inside = frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)
            if inside and not _overlaps(box, obstacles):
                obstacles.append(box)
                break
        else:  # no free place around a crowded point: leave it unlabelled rather than print over text
            ann.remove()
            log.info("scaling plot: no room for the label %r at (%.0f, %.1f)", text, x, y)


def _error_bars(ax: Axes, series: pd.DataFrame, colour: str, *, alpha: float) -> None:
    """Vertical bars from ``acc_low`` to ``acc_high`` at each point that has both (none without the columns)."""
    if not all(col in series for col in _BARS):
        return
    has = series[np.isfinite(series["acc_low"]) & np.isfinite(series["acc_high"])]
    if has.empty:
        return
    y = has["accuracy"].to_numpy()
    below, above = y - has["acc_low"].to_numpy(), has["acc_high"].to_numpy() - y
    ax.errorbar(has["mean_thinking_tokens"].to_numpy(), y, yerr=np.clip([below, above], 0, None), fmt="none",
                ecolor=colour, elinewidth=0.8, capsize=0, alpha=0.5 * alpha, zorder=1.5)


def _draw(ax: Axes, panel: pd.DataFrame, models: list[str], extra: list[str], handles: dict[str, Line2D],
          *, waits: bool = True) -> list[tuple[float, float, str, str, str]]:
    """One panel's lines (one per method, model and Wait count); returns the point labels to place."""
    labels = []
    for (method, model), group in panel.groupby(["method", "model"], sort=False):
        name, colour, marker = _style(str(method), extra.index(method) if method in extra else 0)
        m = models.index(str(model))  # later models: other dash pattern, open markers
        counts = group["num_wait"].astype(int)
        if not waits:
            group, counts = group[counts == 0], counts[counts == 0]
        for n_wait, series, label in _wait_lines(group, counts, name):
            label = label if len(models) == 1 else f"{label}, {model}"
            if n_wait >= 0:  # a chain of Waits keeps its Wait order
                series = series.sort_values("mean_thinking_tokens", kind="stable")
            x, y = series["mean_thinking_tokens"].to_numpy(), series["accuracy"].to_numpy()
            (line,) = ax.plot(x, y, color=colour, marker=marker, markersize=4.5, linewidth=1.4,
                              linestyle=_LINESTYLES[m % len(_LINESTYLES)] if not n_wait else _WAIT_LINE,
                              alpha=1.0 if not n_wait else 0.7, label=label,
                              markerfacecolor=colour if m == 0 else "white")
            handles.setdefault(label, line)
            _error_bars(ax, series, colour, alpha=1.0 if not n_wait else 0.7)
            labels += [(xi, yi, point_label(p), colour, str(method))
                       for xi, yi, p in zip(x, y, series.to_dict("records"), strict=True)
                       if n_wait >= 0 or p["num_wait"] > 0]  # a chain's first point is labelled on its cap line
    lo, hi = panel["mean_thinking_tokens"].min(), panel["mean_thinking_tokens"].max()
    ax.set_xscale("log", base=2)
    ax.set_xlim(lo / 1.35, hi * 1.35)
    ax.xaxis.set_major_locator(FixedLocator(_log2_ticks(lo / 1.35, hi * 1.35)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{round(v):d}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.margins(y=0.14)
    ax.set_xlabel("Average thinking tokens", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    return labels


def scaling_figure(points: pd.DataFrame, *, title: str | None = None) -> Figure:
    """The figure of :func:`plot_scaling` (columns as :data:`s1flow.report.methods.POINT_COLUMNS`)."""
    points = _valid(points)
    evalsets = list(dict.fromkeys(points["evalset"].astype(str)))
    models = list(dict.fromkeys(points["model"].astype(str)))
    methods = list(dict.fromkeys(points["method"].astype(str)))
    extra = [m for m in methods if m not in STYLES]
    control = points["method"].isin(CONTROL_METHODS)
    # (title suffix, points, draw Wait lines) of each row of panels
    rows = [("", points[~control], True)]
    if control.any():
        rows.append((": length control", points[control | points["method"].isin(SHARED_METHODS)], False))
    ncols = min(len(evalsets), 4)
    per_row = math.ceil(len(evalsets) / ncols)
    width = max(1.0 + 3.9 * ncols, 5.6)
    fig = Figure(figsize=(width, 1.1 + 3.3 * per_row * len(rows)), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.subplots(per_row * len(rows), ncols, squeeze=False)
    handles: dict[str, Line2D] = {}
    placed: list[tuple[Axes, list]] = []
    for r, (suffix, pts, waits) in enumerate(rows):
        axes = grid[r * per_row:(r + 1) * per_row].ravel()
        for ax, evalset in zip(axes, evalsets, strict=False):
            panel = pts[pts["evalset"].astype(str) == evalset]
            if panel.empty:
                ax.set_visible(False)
                continue
            placed.append((ax, _draw(ax, panel, models, extra, handles, waits=waits)))
            ax.set_title(evalset + suffix, fontsize=10)
        for ax in axes[len(evalsets):]:
            ax.set_visible(False)
    fig.supylabel("Accuracy (%)", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center",
               ncol=max(1, min(len(handles), int(width // (2.5 if len(models) == 1 else 3.2)))),
               fontsize=8, frameon=False, handlelength=3)
    fig.draw_without_rendering()  # settle the layout before measuring where labels fit
    for ax, labels in placed:
        _place_labels(fig, ax, labels)
    return fig


def plot_scaling(points: pd.DataFrame, png: str | os.PathLike, pdf: str | os.PathLike, *,
                 title: str | None = None) -> None:
    """Plot accuracy (%) against average thinking tokens (log2 axis) per eval set, one line per method.

    `points` has the columns of :func:`s1flow.report.methods.method_points`; each point is
    annotated with a short form of its setting. Writes a PNG (200 dpi) and a PDF.
    """
    fig = scaling_figure(points, title=title)
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=200, format="png")
    with atomic_path(pdf) as tmp:
        fig.savefig(tmp, format="pdf")
