"""Building a report: running what it shows, then applying its section builders.

:func:`collect` runs the main scenario, the stress ladder, the mitigation comparison, path
ranking and dependency scores into a :class:`~contagion.report.document.ReportContext`;
:func:`build_report` turns that into sections with a list of section builders
(:data:`~contagion.report.sections.DEFAULT_SECTIONS` by default), so a new section is one
builder function added to the list::

    def tornado(ctx: ReportContext) -> Section | None:
        ...
    report = build_report(ctx, sections=(*DEFAULT_SECTIONS, tornado))
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from contagion.exceptions import ContagionError
from contagion.report.document import Report, ReportContext, Section, SectionBuilder
from contagion.report.sections import DEFAULT_SECTIONS
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

__all__ = [
    "DEFAULT_MITIGATIONS",
    "DEFAULT_SCENARIO",
    "DEFAULT_SCORE_COMPONENTS",
    "DEFAULT_STRESS_MOVES",
    "build_report",
    "collect",
    "node_labels",
    "optional_module",
    "scaled_scenario",
]


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
