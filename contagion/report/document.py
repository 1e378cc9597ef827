"""What a report holds: sections of text, tables and charts, and the runs they were drawn from.

A report is a list of :class:`Section` objects, each made by one *section builder* (a
:data:`SectionBuilder`) from a :class:`ReportContext` (the dataset, its exposure graph, the
main propagation run and the batches run for the stress ladder and the mitigation
comparison). Renderers (:mod:`contagion.report.html`, :mod:`contagion.report.markdown`,
:mod:`contagion.report.json`) only format sections; :mod:`contagion.report.build` runs what a
report shows and applies the builders.

Every string that comes from a dataset (token symbols, protocol and feed names) is untrusted
on-chain text; sections keep it as plain text and each renderer escapes it for its format.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from contagion.dataset import Dataset
    from contagion.engine import Engine
    from contagion.graph import ExposureGraph
    from contagion.result import PropagationResult

__all__ = [
    "ColumnKind",
    "Figure",
    "Report",
    "ReportContext",
    "ReportTable",
    "Section",
    "SectionBuilder",
    "format_value",
]

ColumnKind = Literal["text", "usd", "pct", "share", "number", "int", "price", "bool"]


@dataclass(frozen=True)
class ReportTable:
    """A table of a section: a frame and the kind of each column (how it is formatted).

    Columns missing from ``kinds`` are shown as text. ``frame`` holds plain values; text cells
    may be untrusted and are escaped by each renderer.
    """

    title: str
    frame: pd.DataFrame
    kinds: Mapping[str, ColumnKind] = field(default_factory=dict)

    def kind(self, column: str) -> ColumnKind:
        return self.kinds.get(column, "text")

    def records(self) -> list[dict[str, Any]]:
        """Rows as JSON-ready dicts (NaN and infinities become None)."""
        return [
            {str(k): _plain(v) for k, v in row.items()}
            for row in self.frame.to_dict(orient="records")
        ]


@dataclass(frozen=True)
class Figure:
    """A chart as a standalone SVG document (``<svg ...>...</svg>``), with alternative text."""

    title: str
    svg: str
    alt: str


@dataclass(frozen=True)
class Section:
    """One part of a report.

    Attributes
    ----------
    key
        Stable identifier (HTML anchor, JSON key), e.g. ``"losses"``.
    title
        Heading.
    text
        Paragraphs of plain text (escaped by each renderer).
    tables, figures
        What the section shows.
    data
        JSON-ready values the section is built from, beyond its tables.
    note
        Why the section is empty or partial, when it is (e.g. a module not available).
    """

    key: str
    title: str
    text: tuple[str, ...] = ()
    tables: tuple[ReportTable, ...] = ()
    figures: tuple[Figure, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "text": list(self.text),
            "note": self.note,
            "tables": [
                {"title": t.title, "columns": list(map(str, t.frame.columns)), "rows": t.records()}
                for t in self.tables
            ],
            "figures": [{"title": f.title, "alt": f.alt} for f in self.figures],
            "data": _plain(dict(self.data)),
        }


@dataclass(frozen=True)
class Report:
    """A titled list of sections, with the timings of the steps that produced it."""

    title: str
    sections: tuple[Section, ...]
    timings_s: Mapping[str, float] = field(default_factory=dict)

    def section(self, key: str) -> Section:
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "timings_s": {k: round(v, 3) for k, v in self.timings_s.items()},
            "sections": [s.to_dict() for s in self.sections],
        }


@dataclass(frozen=True, eq=False)
class ReportContext:
    """Everything section builders read: the data, the main run and the batches.

    Attributes
    ----------
    dataset, engine, graph
        The dataset, its compiled engine and its exposure graph.
    labels
        Display label of every node id of the exposure graph and of the cause records
        (untrusted text: token symbols, protocol names).
    result
        The main run.
    stress
        ``(move, result)`` per point of the stress ladder, in order of ``move``.
    mitigations
        ``(name, result)`` of the main scenario rerun with each mitigation switched on.
    paths
        The ranked contagion paths of the main run (a ``contagion.paths.PathRanking``), or
        None where path ranking is not available.
    scores
        Dependency scores (a ``contagion.scores.DependencyScores``), or None where scoring
        is not available or was not asked for.
    sensitivity
        One-at-a-time sensitivity of the main scenario to the model's uncertain parameters
        (a ``contagion.sensitivity.Sensitivity``), or None when not asked for.
    timings_s
        Seconds spent per step of :func:`collect`.
    """

    dataset: Dataset
    engine: Engine
    graph: ExposureGraph
    labels: Mapping[str, str]
    result: PropagationResult
    stress: tuple[tuple[float, PropagationResult], ...] = ()
    mitigations: tuple[tuple[str, PropagationResult], ...] = ()
    paths: Any = None
    scores: Any = None
    sensitivity: Any = None
    seed: int = 0
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def symbols(self) -> dict[str, str]:
        """Symbol of every asset id."""
        return dict(zip(self.result.asset_ids, self.result.symbols, strict=True))


SectionBuilder = Callable[[ReportContext], Section | None]
"""A function that makes one section from a context (None leaves the section out)."""


def format_value(value: Any, kind: ColumnKind) -> str:
    """Display text of a cell: ``$1.23M``, ``-12.30%`` (pct: signed change), ``12.30%``
    (share), ``1,234``; ``-`` for a missing value.

    Examples
    --------
    >>> format_value(-436_500.0, "usd"), format_value(-0.3, "pct"), format_value(0.25, "share")
    ('-$436.50k', '-30.00%', '25.00%')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if kind == "text":
        return str(value)
    if kind == "bool":
        return "yes" if bool(value) else "no"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(v):
        return "-"
    if kind == "usd":
        sign = "-" if v < 0 else ""
        for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
            if abs(v) >= scale:
                return f"{sign}${abs(v) / scale:,.2f}{unit}"
        return f"{sign}${abs(v):,.0f}"
    if kind == "pct":
        return f"{v:+.2%}"
    if kind == "share":
        return f"{v:.2%}"
    if kind == "int":
        return f"{round(v):,}"
    if kind == "price":
        return f"{v:,.2f}" if abs(v) >= 1 else f"{v:.4g}"
    return f"{v:,.4g}" if abs(v) < 1e6 else f"{v:,.0f}"


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars, NaN and infinities made JSON-ready."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is pd.NaT or value is pd.NA:
        return None
    return value
