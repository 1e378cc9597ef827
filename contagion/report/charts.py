"""Report charts drawn with matplotlib and rendered to inline SVG.

Each function returns one :class:`~contagion.report.document.Figure` whose ``svg`` is a bare
``<svg>`` element (no XML prolog, no metadata) ready to be placed in an HTML page: text stays
text (``svg.fonttype = 'none'``), so labels are searchable and scale with the page, and every
element id is salted with the chart's own key so that many charts can share one document.

Labels often carry untrusted on-chain text (token symbols, protocol names). matplotlib writes
SVG text XML-escaped, and mathtext is off (``text.parse_math = False``), so a symbol such as
``$PEPE$`` is drawn as written instead of being parsed as TeX.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl
import numpy as np
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import FuncFormatter, PercentFormatter
from numpy.typing import ArrayLike

from contagion.report.document import Figure, format_value

__all__ = [
    "PALETTE",
    "bar_chart",
    "gex_chart",
    "ladder_chart",
    "line_chart",
    "render_svg",
]

PALETTE = (
    "#1f5fa8",
    "#d1495b",
    "#edae49",
    "#00798c",
    "#6a4c93",
    "#8a9b0f",
    "#e07a5f",
    "#3d405b",
    "#81b29a",
    "#b5838d",
)

_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 9.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "axes.prop_cycle": cycler(color=PALETTE),
    "legend.frameon": False,
    "text.usetex": False,
    "text.parse_math": False,
}
_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)


def _style(key: str) -> Any:
    return {**_RC, "svg.hashsalt": f"contagion-{key}"}


@contextmanager
def _figure(key: str, width: float = 7.5, height: float = 3.4) -> Iterator[MplFigure]:
    with mpl.rc_context(_style(key)):
        yield MplFigure(figsize=(width, height), layout="constrained")


def render_svg(fig: MplFigure, key: str) -> str:
    """The figure as a bare ``<svg>`` element (ids salted with ``key``)."""
    buf = io.StringIO()
    with mpl.rc_context(_style(key)):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = _METADATA.sub("", _PROLOG.sub("", buf.getvalue(), count=1), count=1)
    return svg.replace("<svg ", f'<svg class="chart" data-chart="{key}" ', 1)


def _usd_axis(ax: Axes, axis: str = "y") -> None:
    fmt = FuncFormatter(lambda v, _pos: format_value(v, "usd"))
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def line_chart(
    key: str,
    title: str,
    x: ArrayLike,
    series: Sequence[tuple[str, ArrayLike]],
    *,
    xlabel: str,
    ylabel: str,
    y_kind: str = "usd",
    x_moves: bool = False,
    alt: str,
    markers: bool = False,
) -> Figure:
    """Lines over a shared x axis; ``y_kind`` 'usd', 'pct' (fractions) or 'number'.

    ``x_moves``: x holds price moves (fractions, e.g. -0.3), shown as percentages with the
    largest fall on the right."""
    with _figure(key) as fig:
        ax = fig.add_subplot()
        xs = np.asarray(x, dtype=float)
        for name, ys in series:
            ax.plot(
                xs,
                np.asarray(ys, dtype=float),
                label=name,
                linewidth=1.6,
                marker="o" if markers else None,
                markersize=3.5,
            )
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if y_kind == "usd":
            _usd_axis(ax)
        elif y_kind == "pct":
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        if x_moves:
            ax.xaxis.set_major_formatter(PercentFormatter(1.0))
            ax.invert_xaxis()
        if len(series) > 1:
            ax.legend(loc="best", fontsize=8, ncols=2 if len(series) > 5 else 1)
        return Figure(title=title, svg=render_svg(fig, key), alt=alt)


def bar_chart(
    key: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[tuple[str, ArrayLike]],
    *,
    xlabel: str,
    alt: str,
    stacked: bool = False,
) -> Figure:
    """Horizontal bars, one row per label (largest first as given); several value series are
    drawn side by side, or stacked."""
    rows = len(labels)
    with _figure(key, height=max(1.8, 0.32 * rows * (1 if stacked else len(values)) + 1.0)) as fig:
        ax = fig.add_subplot()
        y = np.arange(rows, dtype=float)
        n = len(values)
        height = 0.8 if stacked else 0.8 / max(n, 1)
        left = np.zeros(rows)
        for k, (name, vals) in enumerate(values):
            v = np.asarray(vals, dtype=float)
            if stacked:
                ax.barh(y, v, height=height, left=left, label=name)
                left = left + v
            else:
                ax.barh(y - 0.4 + height * (k + 0.5), v, height=height, label=name)
        ax.set_yticks(y, [str(s) for s in labels])
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        ax.grid(axis="y", visible=False)
        _usd_axis(ax, "x")
        if n > 1:
            ax.legend(loc="lower right", fontsize=8)
        return Figure(title=title, svg=render_svg(fig, key), alt=alt)


def ladder_chart(
    key: str,
    title: str,
    moves: ArrayLike,
    series: Sequence[tuple[str, ArrayLike]],
    *,
    xlabel: str,
    alt: str,
) -> Figure:
    """Stacked areas over price moves (fractions, e.g. -0.3), the largest fall on the right."""
    with _figure(key) as fig:
        ax = fig.add_subplot()
        x = np.asarray(moves, dtype=float)
        ys = [np.asarray(v, dtype=float) for _, v in series]
        if ys:
            ax.stackplot(x, *ys, labels=[n for n, _ in series], alpha=0.85)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.invert_xaxis()
        ax.set_xlabel(xlabel)
        ax.set_ylabel("USD")
        _usd_axis(ax)
        if series:
            ax.legend(loc="upper left", fontsize=7, ncols=2 if len(series) > 6 else 1)
        return Figure(title=title, svg=render_svg(fig, key), alt=alt)


def gex_chart(
    key: str,
    title: str,
    panels: Sequence[tuple[str, ArrayLike, ArrayLike, float, float | None]],
    *,
    alt: str,
) -> Figure:
    """Dealer GEX over price, one panel per underlying: ``(symbol, grid, gex, spot, flip)``.

    The spot price is a dashed line, the gamma flip (where GEX changes sign) a dotted one;
    below the flip dealers' hedging amplifies moves, above it damps them (for a book short
    gamma below and long above).
    """
    n = max(len(panels), 1)
    with _figure(key, height=2.6 * n) as fig:
        axes = fig.subplots(n, 1, squeeze=False)[:, 0]
        for ax, (symbol, grid, gex, spot, flip) in zip(axes, panels, strict=False):
            g = np.asarray(grid, dtype=float)
            y = np.asarray(gex, dtype=float)
            ax.fill_between(g, y, 0, where=y >= 0, color=PALETTE[3], alpha=0.35, linewidth=0)
            ax.fill_between(g, y, 0, where=y < 0, color=PALETTE[1], alpha=0.35, linewidth=0)
            ax.plot(g, y, color="#333333", linewidth=1.2)
            ax.axhline(0, color="#777777", linewidth=0.8)
            ax.axvline(spot, color=PALETTE[0], linestyle="--", linewidth=1.0, label="spot")
            if flip is not None:
                ax.axvline(flip, color=PALETTE[4], linestyle=":", linewidth=1.4, label="gamma flip")
            ax.set_title(f"{symbol}: dealer GEX (USD per 1% move)", loc="left")
            ax.set_xlabel(f"{symbol} price (USD)")
            _usd_axis(ax)
            ax.legend(loc="best", fontsize=8)
        return Figure(title=title, svg=render_svg(fig, key), alt=alt)
