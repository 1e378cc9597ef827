"""Helpers shared by the report's section builders."""

from __future__ import annotations

from typing import Any

import pandas as pd

from contagion.paths import NodeNamer
from contagion.report.document import (
    ColumnKind,
    ReportContext,
    ReportTable,
)
from contagion.result import PropagationResult

TOP_ASSETS = 8
LOSS_ROWS = 15
GEX_RANGE = (0.5, 1.5)
GEX_POINTS = 161


def loss_usd(result: PropagationResult) -> float:
    return float(result.losses["usd"].sum()) if len(result.losses) else 0.0


def bad_debt(result: PropagationResult) -> float:
    return float(sum(result.bad_debt_usd.values()))


def shocked_asset(ctx: ReportContext) -> str | None:
    """The asset the main scenario shocks first (as named there), if any."""
    s = ctx.result.scenario
    if s.shocks:
        return s.shocks[0].asset
    if s.paths:
        return s.paths[0].asset
    return None


def asset_index(result: PropagationResult, name: str) -> int | None:
    for i, (a, sym) in enumerate(zip(result.asset_ids, result.symbols, strict=True)):
        if name in (a, sym):
            return i
    return None


def lowest_move(result: PropagationResult, name: str | None) -> float:
    """Largest fall over the run of the asset named ``name`` (NaN when unknown)."""
    i = None if name is None else asset_index(result, name)
    if i is None:
        return float("nan")
    return float(result.lowest_price[i] / result.initial_price[i] - 1.0)


def protocol_label(ctx: ReportContext, protocol_id: str) -> str:
    return NodeNamer(ctx.labels).bearer(protocol_id)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return ReportTable("", frame).records()


OUTPUT_KINDS: dict[str, ColumnKind] = {
    "total_liquidated_usd": "usd",
    "bad_debt_usd": "usd",
    "losses_usd": "usd",
    "max_price_drop": "share",
}
