"""Dependency scores: how much others depend on every protocol and shared component.

:func:`score_dependencies` scores every protocol, oracle feed, pool, stablecoin and asset of a
dataset. Static scores read the exposure data only (:mod:`contagion.scores.static`: oracle
concentration, pool dependency against depth at 2% slippage, receipt-token exposure,
DebtRank); simulated scores propagate a scenario set (:mod:`contagion.scores.simulated`:
systemic importance = losses caused elsewhere when the component fails, vulnerability =
losses suffered). Every score decomposes into named parts, the rows of
:attr:`DependencyScores.components`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from contagion.dataset import Dataset
from contagion.engine import build_engine
from contagion.scenario import Scenario
from contagion.scores.depth import pool_depths
from contagion.scores.simulated import SimulatedRuns, default_scenario_set, simulated_scores
from contagion.scores.static import COMPONENT_COLUMNS, node_labels, static_scores

__all__ = [
    "COMPONENT_COLUMNS",
    "DependencyScores",
    "default_scenario_set",
    "pool_depths",
    "score_dependencies",
]

FRAME_COLUMNS = [
    "component",
    "label",
    "kind",
    "static_score",
    "systemic_importance_usd",
    "vulnerability_usd",
    "rank",
]
_KINDS = {"protocol": "protocol", "feed": "feed", "pool": "pool", "asset": "asset"}


@dataclass(frozen=True)
class DependencyScores:
    """Dependency scores of every component, with the parts each score is made of.

    Attributes
    ----------
    frame
        One row per component: ``component`` (exposure-graph node id, e.g.
        ``protocol:aave-v3-ethereum``, ``feed:1:0x5f4e…``, ``pool:…``, ``asset:…``), ``label``
        (display text, untrusted on-chain symbols included), ``kind`` (protocol, feed, pool,
        stablecoin, asset), ``static_score`` (USD: the sum of the component's static measures),
        ``systemic_importance_usd`` and ``vulnerability_usd`` (NaN when not simulated), and
        ``rank`` (1 = most depended upon: by systemic importance when simulated, then static
        score).
    components
        Long table ``component, score, part, value, unit``. ``score`` is ``static``,
        ``systemic_importance``, ``vulnerability`` or one static measure
        (``oracle_concentration``, ``pool_dependency``, ``receipt_exposure``, ``debtrank``,
        ``liquidations_at_shock``). The ``usd`` rows of a score add up to it; rows in other
        units (``share``, ``index``, ``ratio``, ``usd_level``) are context.
    shock
        Price move the static and simulated measures used.
    scenarios
        Names of the scenarios simulated (empty for static scores only).
    unconverged
        Scenarios that reached their round limit (their losses are those reached so far).
    """

    frame: pd.DataFrame
    components: pd.DataFrame
    shock: float = -0.30
    scenarios: tuple[str, ...] = ()
    unconverged: tuple[str, ...] = ()

    @property
    def simulated(self) -> bool:
        return bool(self.scenarios)

    def parts(self, component: str, score: str | None = None) -> pd.DataFrame:
        """The component rows of one component (optionally of one score), largest first."""
        rows = self.components[self.components["component"] == component]
        if score is not None:
            rows = rows[rows["score"] == score]
        return rows.sort_values("value", ascending=False, kind="stable")

    def to_dict(self) -> dict[str, Any]:
        """Scores, parts and run facts as JSON-ready values (NaN as null)."""
        return {
            "shock": self.shock,
            "scenarios": list(self.scenarios),
            "unconverged": list(self.unconverged),
            "scores": _records(self.frame),
            "components": _records(self.components),
        }


def score_dependencies(
    dataset: Dataset,
    *,
    scenarios: Sequence[Scenario] | None = None,
    shock: float = -0.30,
    seed: int = 0,
    simulate: bool = True,
) -> DependencyScores:
    """Score every protocol and shared component for how much others depend on it.

    Parameters
    ----------
    dataset
        The dataset to score.
    scenarios
        Scenarios for the simulated scores; by default :func:`default_scenario_set` with
        ``shock``. A scenario named after a graph node (``protocol:…``, ``feed:…``,
        ``asset:…``) is charged to that component, any other to ``scenario:<name>``.
    shock
        Price move of the static measures (liquidations at shock, pool flows) and of the
        default scenarios.
    seed
        Seed of the batch run (scenario ``i`` uses ``seed + i``).
    simulate
        False computes the static scores only (fast: no propagation).

    Returns
    -------
    DependencyScores

    Examples
    --------
    >>> from contagion import sample_world
    >>> scores = score_dependencies(sample_world(positions=2_000, seed=1), simulate=False)
    >>> top = scores.frame.iloc[0]
    >>> bool(top["static_score"] > 0), int(top["rank"])
    (True, 1)
    """
    if not -1 < shock < 0:
        raise ValueError(f"shock must be a fall between -1 and 0, got {shock!r}")
    store = dataset.store()
    try:
        out = static_scores(dataset, store, shock=shock)
        runs = SimulatedRuns((), ())
        if simulate:
            chosen = (
                list(scenarios)
                if scenarios is not None
                else default_scenario_set(store, shock=shock)
            )
            labels = node_labels(store)
            for s in chosen:
                kind = s.name.split(":", 1)[0]
                component = s.name if kind in _KINDS and ":" in s.name else f"scenario:{s.name}"
                kind = "stablecoin" if s.depegs and kind == "asset" else kind
                label = labels.get(component, s.description or s.name)
                out.node(
                    component, label, _KINDS.get(kind, kind if kind == "stablecoin" else "scenario")
                )
            runs = simulated_scores(build_engine(dataset), store, chosen, seed=seed, out=out)
    finally:
        store.close()
    components = out.frame()
    for component in components["component"].unique():
        if component.startswith("protocol:"):
            out.node(component, component.removeprefix("protocol:"), "protocol")
    components = components[components["component"] != "system"].reset_index(drop=True)
    frame = _frame(components, out.meta, simulated=simulate)
    return DependencyScores(
        frame=frame,
        components=components,
        shock=shock,
        scenarios=runs.scenarios,
        unconverged=runs.unconverged,
    )


def _frame(
    components: pd.DataFrame, meta: dict[str, tuple[str, str]], *, simulated: bool
) -> pd.DataFrame:
    usd = components[components["unit"] == "usd"]
    totals = usd.pivot_table(
        index="component", columns="score", values="value", aggfunc="sum", fill_value=0.0
    )
    names = sorted(meta)
    frame = pd.DataFrame({"component": names})
    frame["label"] = [meta[n][0] for n in names]
    frame["kind"] = [meta[n][1] for n in names]
    for column, score in (
        ("static_score", "static"),
        ("systemic_importance_usd", "systemic_importance"),
        ("vulnerability_usd", "vulnerability"),
    ):
        values = totals[score] if score in totals else pd.Series(dtype=float)
        filled = values.reindex(names).fillna(0.0).to_numpy(dtype=float)
        frame[column] = filled if simulated or score == "static" else np.nan
    order = ["systemic_importance_usd", "static_score"] if simulated else ["static_score"]
    frame = frame.sort_values(
        [*order, "component"], ascending=[False] * len(order) + [True], kind="stable"
    ).reset_index(drop=True)
    frame["rank"] = np.arange(1, len(frame) + 1)
    return frame[FRAME_COLUMNS]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = frame.to_dict(orient="records")
    return [
        {
            str(k): (None if isinstance(v, float) and math.isnan(v) else _plain(v))
            for k, v in row.items()
        }
        for row in rows
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value
