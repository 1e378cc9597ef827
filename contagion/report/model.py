"""What a report holds: sections of text, tables and charts, and the runs they were drawn from.

A report is a list of :class:`Section` objects, each made by one *section builder* from a
:class:`ReportContext` (the dataset, its exposure graph, the main propagation run and the
batches run for the stress ladder and the mitigation comparison). Renderers
(:mod:`contagion.report.html`, :mod:`contagion.report.markdown`, :mod:`contagion.report.json`)
only format sections, so a new section is one builder function added to the list passed to
:func:`build_report`::

    def tornado(ctx: ReportContext) -> Section | None:
        ...
    report = build_report(ctx, sections=(*DEFAULT_SECTIONS, tornado))

Every string that comes from a dataset (token symbols, protocol and feed names) is untrusted
on-chain text; sections keep it as plain text and each renderer escapes it for its format.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from contagion.exceptions import ContagionError
from contagion.scenario import (
    CircuitBreaker,
    DynamicMargin,
    Mitigations,
    PriceShock,
    Scenario,
)

if TYPE_CHECKING:
    from contagion.dataset import Dataset
    from contagion.engine import Engine
    from contagion.graph import ExposureGraph
    from contagion.result import PropagationResult

__all__ = [
    "DEFAULT_MITIGATIONS",
    "DEFAULT_SCENARIO",
    "DEFAULT_SCORE_COMPONENTS",
    "DEFAULT_STRESS_MOVES",
    "ColumnKind",
    "Figure",
    "Report",
    "ReportContext",
    "ReportTable",
    "Section",
    "SectionBuilder",
    "build_report",
    "collect",
    "format_value",
]

ColumnKind = Literal["text", "usd", "pct", "share", "number", "int", "price", "bool"]

DEFAULT_SCENARIO = Scenario(
    name="ETH -30%",
    description="ETH falls 30% at once; staking tokens move with it, BTC at beta 0.8.",
    shocks=(
        PriceShock("ETH", -0.3, correlated={"stETH": 1.0, "cbETH": 1.0, "rETH": 1.0, "BTC": 0.8}),
    ),
)
"""The demo's main scenario: the ``eth-crash`` example's move, applied in one round."""

DEFAULT_STRESS_MOVES = (-0.1, -0.2, -0.3)
"""Moves of the stress ladder: the main scenario's price shocks rescaled to each."""

DEFAULT_SCORE_COMPONENTS = 1
"""Components per kind whose failure the dependency scores simulate by default."""

DEFAULT_MITIGATIONS: Mapping[str, Mitigations] = {
    "circuit breaker (5% move, 15-round pause)": Mitigations(
        circuit_breaker=CircuitBreaker(max_move=0.05, pause_rounds=15)
    ),
    "dynamic margin (volatility-scaled, sensitivity 0.5)": Mitigations(
        dynamic_margin=DynamicMargin(mode="volatility", sensitivity=0.5)
    ),
}
"""Mitigations compared with the unmitigated main run, by display name."""


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


def node_labels(dataset: Dataset, graph: ExposureGraph) -> dict[str, str]:
    """Display labels of every node a report names: exposure-graph nodes and cause records.

    The graph's own labels (markets as ``protocol/symbol``), overridden by the readable names
    of :func:`contagion.paths.path_labels` where that module is available (pools by pair,
    ``external:<asset>`` markets), plus ``scenario`` for the exogenous event.
    """
    nodes = graph.nodes
    labels: dict[str, str] = dict(
        zip(nodes["node_id"].astype(str), nodes["label"].fillna("").astype(str), strict=True)
    )
    paths = optional_module("contagion.paths")
    if paths is not None:
        labels.update(paths.path_labels(dataset))
    labels["scenario"] = "scenario shock"
    return labels


def optional_module(name: str) -> Any:
    """The module ``name`` if it can be imported, else None (a section that needs it says
    so instead of failing the whole report)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name is not None and name.startswith(err.name):
            return None
        raise


def scaled_scenario(scenario: Scenario, move: float, fallback_asset: str = "ETH") -> Scenario:
    """``scenario`` with its price shocks rescaled so that the first one moves by ``move``.

    Every shock keeps its asset, timing and correlated betas; each move is rescaled in log
    terms (``(1 + m) ** (log(1 + move) / log(1 + m0))``), so relative sizes stay as in the
    scenario. A scenario without price shocks is stressed through ``fallback_asset`` alone
    (added to its other events).
    """
    if not scenario.shocks:
        shocks: tuple[PriceShock, ...] = (PriceShock(fallback_asset, move),)
    else:
        first = scenario.shocks[0].move
        ratio = math.log1p(move) / math.log1p(first) if first != 0 else 1.0
        shocks = tuple(
            replace(s, move=float(np.expm1(math.log1p(s.move) * ratio))) if first else s
            for s in scenario.shocks
        )
        if first == 0:
            shocks = (replace(shocks[0], move=move), *shocks[1:])
    return replace(scenario, name=f"{scenario.name} at {move:+.0%}", shocks=shocks)


def collect(
    dataset: Dataset,
    scenario: Scenario = DEFAULT_SCENARIO,
    *,
    engine: Engine | None = None,
    stress_moves: Sequence[float] = DEFAULT_STRESS_MOVES,
    mitigations: Mapping[str, Mitigations] = DEFAULT_MITIGATIONS,
    paths_k: int = 10,
    scores: int | None = DEFAULT_SCORE_COMPONENTS,
    seed: int = 0,
    max_rounds: int | None = None,
    tol: float | None = None,
    progress: Callable[[str], Any] | None = None,
    sensitivity: bool = False,
) -> ReportContext:
    """Run everything a report shows: the main scenario, the stress ladder, the mitigations,
    path ranking and dependency scores.

    Parameters
    ----------
    dataset
        The dataset (pass ``engine`` compiled from it to skip compiling it again).
    scenario
        The main scenario (default :data:`DEFAULT_SCENARIO`).
    stress_moves
        Moves of the stress ladder (:func:`scaled_scenario`). The main scenario's own move is
        always a point of a ladder (its run is reused). Empty: no ladder.
    mitigations
        Mitigations to compare, by display name; each reruns the main scenario with it.
    paths_k
        Paths ranked in the path section.
    scores
        Dependency scores (``contagion.scores``): None skips them, 0 computes the static
        scores only, ``n`` also simulates the failure of the ``n`` largest components of each
        kind (price roots, feeds, issuing protocols, stablecoins) for systemic importance and
        vulnerability.
    seed
        Seed of the runs (:func:`contagion.propagate_many` gives run ``i`` seed ``seed + i``).
    max_rounds, tol
        Round limit and settling tolerance of every run (default: each scenario's). Runs that
        do not settle are kept and marked unconverged in the report.
    progress
        Called with a short text before each step (the CLI shows it).
    sensitivity
        Also rerun the main scenario at the low and high value of each uncertain parameter
        (:func:`contagion.sensitivity.sensitivity`, two runs per parameter) for the tornado
        section.

    Raises
    ------
    ContagionError
        When a stress move is not in (-1, 0) or ``paths_k`` is below 1; ScenarioError when
        the scenario does not fit the dataset.
    """
    from contagion.batch import propagate_many
    from contagion.engine import build_engine

    bad = [m for m in stress_moves if not -1 < m < 0]
    if bad:
        raise ContagionError(f"stress moves must lie in (-1, 0), got {bad}")
    if paths_k < 1:
        raise ContagionError(f"paths_k must be at least 1, got {paths_k}")
    say = progress or (lambda _text: None)
    timings: dict[str, float] = {}

    say("compiling the dataset and building the exposure graph")
    with _timed(timings, "engine"):
        engine = engine if engine is not None else build_engine(dataset)
    with _timed(timings, "graph"):
        graph = dataset.graph()

    main_move = round(scenario.shocks[0].move, 6) if scenario.shocks else None
    ladder = sorted({round(float(m), 6) for m in stress_moves} - {main_move})

    reruns = [scaled_scenario(scenario, m) for m in ladder]
    variants = [
        replace(scenario, name=f"{scenario.name} with {name}", mitigations=m)
        for name, m in mitigations.items()
    ]
    say(
        f"propagating {scenario.name!r}, {len(reruns)} more stress moves and "
        f"{len(variants)} mitigations"
    )
    with _timed(timings, "propagate"):
        runs = propagate_many(
            engine, [scenario, *reruns, *variants], max_rounds=max_rounds, tol=tol, seed=seed
        )
    result = runs[0]
    by_move = dict(zip(ladder, runs[1 : 1 + len(reruns)], strict=True))
    if stress_moves and main_move is not None:
        by_move[main_move] = result
    labels = node_labels(dataset, graph)

    ranking = None
    paths = optional_module("contagion.paths")
    if paths is not None:
        say("ranking contagion paths")
        with _timed(timings, "paths"):
            ranking = paths.rank_paths(result, k=paths_k, labels=labels)
    dependency = None
    module = optional_module("contagion.scores") if scores is not None else None
    if module is not None and scores is not None:
        say("scoring dependencies")
        with _timed(timings, "scores"):
            chosen = module.default_scenario_set(dataset, per_kind=scores) if scores else None
            dependency = module.score_dependencies(
                dataset, scenarios=chosen, seed=seed, simulate=bool(scores)
            )
    tornado = None
    if sensitivity:
        from contagion.sensitivity import sensitivity as one_at_a_time

        say("rerunning the scenario at each uncertain parameter's low and high value")
        with _timed(timings, "sensitivity"):
            tornado = one_at_a_time(engine, scenario, seed=seed)
    return ReportContext(
        dataset=dataset,
        engine=engine,
        graph=graph,
        labels=labels,
        result=result,
        sensitivity=tornado,
        stress=tuple(sorted(by_move.items())),
        mitigations=tuple(zip(mitigations, runs[1 + len(reruns) :], strict=True)),
        paths=ranking,
        scores=dependency,
        seed=seed,
        timings_s=timings,
    )


@contextmanager
def _timed(into: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        into[name] = into.get(name, 0.0) + time.perf_counter() - start


def build_report(
    ctx: ReportContext,
    sections: Sequence[SectionBuilder] | None = None,
    *,
    title: str | None = None,
) -> Report:
    """Apply each section builder to ``ctx`` (default :data:`DEFAULT_SECTIONS`).

    A builder returning None leaves its section out. Seconds per builder are added to the
    report's timings as ``section:<key>``.
    """
    from contagion.report.sections import DEFAULT_SECTIONS

    built: list[Section] = []
    for builder in DEFAULT_SECTIONS if sections is None else sections:
        start = time.perf_counter()
        section = builder(ctx)
        if section is not None:
            ctx.timings_s[f"section:{section.key}"] = time.perf_counter() - start
            built.append(section)
    keys = [s.key for s in built]
    if len(set(keys)) != len(keys):
        raise ContagionError(f"report sections must have distinct keys, got {keys}")
    name = title or f"Contagion report: {ctx.result.scenario.name}"
    return Report(title=name, sections=tuple(built), timings_s=dict(ctx.timings_s))


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
