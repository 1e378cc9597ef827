"""Ranked contagion paths: the public objects and :func:`rank_paths`.

See :mod:`contagion.paths` for the method.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from contagion.paths.causal_graph import ContagionPath, _CausalGraph
from contagion.paths.text import NodeNamer, _md, _money
from contagion.tracing import trace

if TYPE_CHECKING:
    from contagion.dataset import Dataset
    from contagion.result import PropagationResult

RESIDUAL_REASONS = {
    "asset": "price moved with no recorded cause (arbitrage through a pool or PSM, a peg)",
    "feed": "feed moved with no recorded source",
    "venue": "venue traded before any move of its underlying was recorded",
    "protocol": "protocol lost value with no recorded cause",
    "market": "market liquidated with no recorded oracle move",
    "unrecorded": "loss with no cause record",
}


@dataclass(frozen=True)
class PathRanking:
    """The ranked paths of a run and how the run's losses split between them.

    ``attributed_usd`` is the loss traced back to the scenario along any path (not only the
    ranked ones), ``residual_usd = total_loss_usd - attributed_usd`` the loss whose chain of
    causes ends somewhere else; ``residual_by_origin`` says where, and why.
    """

    paths: tuple[ContagionPath, ...]
    total_loss_usd: float
    attributed_usd: float
    residual_usd: float
    residual_by_origin: tuple[tuple[str, float, str], ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    scenario: str = ""

    def label(self, node: str) -> str:
        """Display name of a node id (its label, or a name composed from its parts)."""
        return NodeNamer(self.labels)(node)

    def to_frame(self) -> pd.DataFrame:
        """One row per path: rank, loss_usd, share, path (text), nodes, channels, rounds."""
        columns = ["rank", "loss_usd", "share", "path", "nodes", "channels", "rounds"]
        rows = [
            {
                "rank": i,
                "loss_usd": p.loss_usd,
                "share": p.share,
                "path": p.describe(self.labels),
                "nodes": list(p.nodes),
                "channels": list(p.channels),
                "rounds": list(p.rounds),
            }
            for i, p in enumerate(self.paths, start=1)
        ]
        return pd.DataFrame(rows, columns=columns)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: totals, the residual per origin with its reason, and the paths."""
        return {
            "scenario": self.scenario,
            "method": "proportional flow tracing over the round-layered causal graph",
            "total_loss_usd": self.total_loss_usd,
            "attributed_usd": self.attributed_usd,
            "residual_usd": self.residual_usd,
            "residual": [
                {"origin": node, "label": NodeNamer(self.labels)(node), "usd": usd, "reason": why}
                for node, usd, why in self.residual_by_origin
            ],
            "paths": [
                {"rank": i, **p.to_dict(self.labels)} for i, p in enumerate(self.paths, start=1)
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def to_markdown(self) -> str:
        """A Markdown section: totals, the ranked paths as a table, the residual per origin.

        Labels are on-chain text: Markdown and HTML characters in them are escaped.
        """
        lines = [
            f"## Contagion paths: {_md(self.scenario)}",
            "",
            f"Total losses {_money(self.total_loss_usd)}; traced to the shock "
            f"{_money(self.attributed_usd)}; residual {_money(self.residual_usd)}.",
            "",
            "| # | loss (USD) | share | path |",
            "|---:|---:|---:|---|",
        ]
        for i, p in enumerate(self.paths, start=1):
            lines.append(
                f"| {i} | {p.loss_usd:,.0f} | {p.share:.1%} | {_md(p.describe(self.labels))} |"
            )
        if self.residual_by_origin:
            lines += ["", "| residual origin | USD | why |", "|---|---:|---|"]
            for node, usd, why in self.residual_by_origin:
                lines.append(f"| {_md(NodeNamer(self.labels)(node))} | {usd:,.0f} | {_md(why)} |")
        return "\n".join(lines) + "\n"


def rank_paths(
    result: PropagationResult,
    *,
    k: int = 10,
    min_share: float = 0.001,
    labels: Mapping[str, str] | None = None,
) -> PathRanking:
    """The ``k`` contagion paths carrying the most loss, by proportional flow tracing.

    Parameters
    ----------
    result
        A propagation run (:func:`contagion.propagate`).
    k
        Paths to return, heaviest first.
    min_share
        Leave out paths carrying less than this share of the total loss (and stop searching
        below it).
    labels
        Display names of nodes (:func:`path_labels`); asset symbols are known from the run.

    Returns
    -------
    PathRanking
        Paths best first; the total loss (the sum of ``result.losses``), the part traced to
        the scenario along all paths, and the residual per origin.

    Notes
    -----
    Each node of the round-layered causal graph passes on what reached it in proportion to
    the USD of its inflows (Bialek, "Tracing the flow of electricity", 1996; the same
    proportional-sharing rule that attributes defaults to exposures in clearing networks).
    A path's loss is the loss where it ends times the product of the shares along it, so
    the losses of all paths and of the residual add up to the total. The attribution is a
    dynamic programme over time and the paths come from a best-first search bounded by each
    edge's exact best completion (:mod:`contagion.tracing`); neither enumerates paths.

    Examples
    --------
    >>> from contagion import sample_world, propagate
    >>> from contagion.scenario import PriceShock, Scenario
    >>> run = propagate(sample_world(positions=2_000, seed=1),
    ...                 Scenario(name="eth", shocks=(PriceShock("ETH", -0.3),)))
    >>> ranking = rank_paths(run, k=3)
    >>> abs(ranking.attributed_usd + ranking.residual_usd - ranking.total_loss_usd) < 1e-6
    True
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if not 0 <= min_share < 1:
        raise ValueError(f"min_share must be in [0, 1), got {min_share}")
    graph = _CausalGraph.build(result)
    tracing = trace(graph.edges)
    total = float(result.losses["usd"].sum()) if len(result.losses) else 0.0
    origins = tracing.by_origin()
    attributed = origins.pop(0, 0.0)
    residual = total - attributed
    names = graph.names
    residual_rows = tuple(
        (names[i], usd, RESIDUAL_REASONS.get(names[i].split(":", 1)[0], "no recorded cause"))
        for i, usd in sorted(origins.items(), key=lambda kv: -kv[1])
    )
    floor = min_share * total
    paths = graph.routes(tracing, k=k, floor=floor, total=total)
    shown = {a: s for a, s in zip(result.asset_ids, result.symbols, strict=True)}
    merged = {f"asset:{a}": s for a, s in shown.items()}
    merged.update(labels or {})
    return PathRanking(
        paths=paths,
        total_loss_usd=total,
        attributed_usd=attributed,
        residual_usd=residual,
        residual_by_origin=residual_rows,
        labels=merged,
        scenario=result.scenario.name,
    )


def path_labels(dataset: Dataset) -> dict[str, str]:
    """Display names of causal-graph nodes from a dataset's tables (untrusted text: escape
    it where it is rendered)."""
    labels: dict[str, str] = {}
    protocols = dataset.table("protocols").to_pylist()
    for row in protocols:
        labels[f"protocol:{row['protocol_id']}"] = str(row["name"])
        labels[f"venue:{row['protocol_id']}"] = str(row["name"])
    symbol: dict[str, str] = {}
    for row in dataset.table("assets").to_pylist():
        symbol[row["asset_id"]] = str(row["symbol"])
        labels[f"asset:{row['asset_id']}"] = str(row["symbol"])
        labels[f"external:{row['asset_id']}"] = f"outside markets for {row['symbol']}"
    for row in dataset.table("oracle_feeds").to_pylist():
        labels[f"feed:{row['feed_id']}"] = str(row["description"])
    for row in dataset.table("pools").to_pylist():
        pair = "/".join(symbol.get(t, t) for t in row["token_asset_ids"] or ())
        dex = labels.get(f"protocol:{row['protocol_id']}", str(row["protocol_id"]))
        labels[f"pool:{row['pool_id']}"] = f"{dex} {pair} pool"
    for row in protocols:
        # A peg stability module is a venue of its own (its id is the protocol's).
        if row["kind"] == "stablecoin":
            labels.setdefault(f"pool:{row['protocol_id']}", str(row["name"]))
    return labels
