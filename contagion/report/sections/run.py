"""Sections about the run itself: summary, price paths, losses, contagion paths."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from contagion.report.charts import bar_chart, line_chart
from contagion.report.document import (
    Figure,
    ReportContext,
    ReportTable,
    Section,
    format_value,
)
from contagion.report.pathgraph import path_graph_svg
from contagion.report.sections.common import (
    LOSS_ROWS,
    TOP_ASSETS,
    bad_debt,
    loss_usd,
    protocol_label,
)
from contagion.result import format_duration


def summary_section(ctx: ReportContext) -> Section:
    """Headline figures of the main run and what the dataset holds."""
    r = ctx.result
    s = r.scenario
    status = "settled" if r.converged else "did NOT settle (round limit reached)"
    moves = sorted(
        ((sym, r.price_change(a)) for a, sym in zip(r.asset_ids, r.symbols, strict=True)),
        key=lambda kv: kv[1],
    )
    worst = [f"{sym} {move:+.1%}" for sym, move in moves[:3] if move < -1e-9]
    text = [
        f"Scenario {s.name!r}: {s.description or 'no description'}",
        f"The run {status} after {r.rounds} rounds of {s.params.round_seconds} s, "
        f"{format_duration(r.duration_s)} of market time (idle time up to the next oracle "
        "publication or auction step is skipped). "
        f"{format_value(r.total_liquidated_usd, 'usd')} of collateral was liquidated and "
        f"losses total {format_value(loss_usd(r), 'usd')} "
        f"(bad debt {format_value(bad_debt(r), 'usd')}).",
    ]
    if worst:
        text.append("Largest falls: " + ", ".join(worst) + ".")
    headline = pd.DataFrame(
        [
            ("rounds", str(r.rounds)),
            ("market time", format_duration(r.duration_s)),
            ("settled", "yes" if r.converged else "no"),
            ("collateral liquidated", format_value(r.total_liquidated_usd, "usd")),
            ("bad debt", format_value(bad_debt(r), "usd")),
            ("losses (all channels)", format_value(loss_usd(r), "usd")),
            ("run seed", str(r.seed)),
        ],
        columns=["figure", "value"],
    )
    counts = pd.DataFrame(list(ctx.dataset.row_counts().items()), columns=["table", "rows"]).query(
        "rows > 0"
    )
    tvl = ctx.graph.protocols
    top = tvl.sort_values("tvl_usd", ascending=False).head(10)
    protocols = pd.DataFrame(
        {
            "protocol": [protocol_label(ctx, p) for p in top["protocol_id"]],
            "kind": top["kind"].astype(str).to_numpy(),
            "TVL": top["tvl_usd"].to_numpy(dtype=float),
            "borrowed": top["debt_usd"].to_numpy(dtype=float),
        }
    )
    return Section(
        key="summary",
        title="Summary",
        text=tuple(text),
        tables=(
            ReportTable("Headline figures", headline),
            ReportTable("Largest protocols", protocols, {"TVL": "usd", "borrowed": "usd"}),
            ReportTable("Dataset", counts, {"rows": "int"}),
        ),
        data={"result": r.summary(), "dataset_rows": ctx.dataset.row_counts()},
    )


def prices_section(ctx: ReportContext) -> Section:
    """Market price of the assets that moved most, round by round."""
    r = ctx.result
    prices = r.prices
    start = np.asarray(r.initial_price, dtype=float)
    table = prices.pivot(index="round", columns="asset_id", values="price_usd")
    relative = table.divide(pd.Series(start, index=list(r.asset_ids)), axis=1) - 1.0
    low = relative.min(axis=0)
    final = relative.iloc[-1]
    moved = (low.abs() + final.abs()).sort_values(ascending=False)
    chosen = [a for a in moved.index if moved[a] > 1e-6][:TOP_ASSETS]
    symbols = ctx.symbols
    figures: tuple[Figure, ...] = ()
    if chosen:
        figures = (
            line_chart(
                "prices",
                "Price paths",
                relative.index.to_numpy(),
                [(symbols[a], relative[a].to_numpy()) for a in chosen],
                xlabel="round",
                ylabel="change from the snapshot",
                y_kind="pct",
                alt="Relative price change per round of the assets that moved most: "
                + ", ".join(symbols[a] for a in chosen),
            ),
        )
    index = {a: i for i, a in enumerate(r.asset_ids)}
    frame = pd.DataFrame(
        {
            "asset": [symbols[a] for a in chosen],
            "snapshot price": [start[index[a]] for a in chosen],
            "lowest": [float(table[a].min()) for a in chosen],
            "final": [float(table[a].iloc[-1]) for a in chosen],
            "lowest change": [float(low[a]) for a in chosen],
            "final change": [float(final[a]) for a in chosen],
            "round of low": [int(table[a].idxmin()) for a in chosen],
        }
    )
    kinds: dict[str, Any] = {
        "snapshot price": "price",
        "lowest": "price",
        "final": "price",
        "lowest change": "pct",
        "final change": "pct",
        "round of low": "int",
    }
    return Section(
        key="prices",
        title="Price paths per round",
        text=(
            "Market price of each asset after every round, relative to the snapshot (round 0), "
            f"for the {len(chosen)} assets that moved most.",
        ),
        tables=(ReportTable("Moves", frame, kinds),),
        figures=figures,
        data={
            "rounds": relative.index.tolist(),
            "relative_price": {symbols[a]: relative[a].tolist() for a in chosen},
        },
        note=None if chosen else "No asset price moved.",
    )


def losses_section(ctx: ReportContext) -> Section:
    """Losses per protocol and channel, and liquidations per protocol."""
    r = ctx.result
    losses = r.losses[r.losses["usd"] > 0].copy()
    losses["who"] = [protocol_label(ctx, p) for p in losses["protocol_id"]]
    pivot = losses.pivot_table(index="who", columns="channel", values="usd", aggfunc="sum")
    pivot = pivot.fillna(0.0)
    order = pivot.sum(axis=1).sort_values(ascending=False).index[:LOSS_ROWS]
    pivot = pivot.loc[order]
    liq = r.liquidations
    by_protocol = (
        liq.groupby("protocol_id", as_index=False)[["count", "collateral_usd", "debt_usd"]].sum()
        if len(liq)
        else pd.DataFrame(columns=["protocol_id", "count", "collateral_usd", "debt_usd"])
    )
    liquidated = pd.DataFrame(
        {
            "protocol": [protocol_label(ctx, p) for p in by_protocol["protocol_id"]],
            "liquidations": by_protocol["count"].to_numpy(),
            "collateral seized": by_protocol["collateral_usd"].to_numpy(dtype=float),
            "debt repaid": by_protocol["debt_usd"].to_numpy(dtype=float),
        }
    ).sort_values("collateral seized", ascending=False)
    table = losses.sort_values("usd", ascending=False)[["who", "protocol_id", "channel", "usd"]]
    table = table.rename(columns={"who": "protocol / market", "protocol_id": "id", "usd": "loss"})
    figures: tuple[Figure, ...] = ()
    if len(pivot):
        figures = (
            bar_chart(
                "losses",
                "Losses per protocol",
                list(pivot.index),
                [(c, pivot[c].to_numpy()) for c in pivot.columns],
                xlabel="loss (USD)",
                stacked=True,
                alt="Loss per protocol, stacked by channel: "
                + ", ".join(f"{w} {format_value(v, 'usd')}" for w, v in pivot.sum(axis=1).items()),
            ),
        )
    return Section(
        key="losses",
        title="Losses per protocol",
        text=(
            "Bad debt left in lending protocols at the end of the run, insurance-fund draws and "
            "auto-deleveraging of perpetual venues, the depeg loss of algorithmic "
            "stablecoin holders (price shortfall x supply), and what a failed protocol's "
            "write-down took from its receipt tokens' holders.",
        ),
        tables=(
            ReportTable("Losses", table, {"loss": "usd"}),
            ReportTable(
                "Liquidations",
                liquidated,
                {"liquidations": "int", "collateral seized": "usd", "debt repaid": "usd"},
            ),
        ),
        figures=figures,
        data={"total_usd": loss_usd(r)},
        note=None if len(losses) else "The run caused no loss.",
    )


def paths_section(ctx: ReportContext) -> Section:
    """The top contagion paths, drawn and listed, with what they leave unexplained."""
    ranking = ctx.paths
    if ranking is None:
        return Section(
            key="paths",
            title="Top contagion paths",
            note="Path ranking (contagion.paths) is not available in this installation.",
        )
    paths = list(ranking.paths)
    frame = pd.DataFrame(
        {
            "rank": range(1, len(paths) + 1),
            "path": [p.describe(ranking.labels) for p in paths],
            "loss": [p.loss_usd for p in paths],
            "share": [p.share for p in paths],
            "rounds": [f"{min(p.rounds)}–{max(p.rounds)}" if p.rounds else "" for p in paths],
        }
    )
    residual = pd.DataFrame(
        [
            (ctx.labels.get(node, node), usd, why)
            for node, usd, why in ranking.residual_by_origin[:10]
        ],
        columns=["origin", "loss", "why"],
    )
    text = (
        "Each loss is traced back through the round-by-round cause records to the shock by "
        "proportional flow tracing: every node passes on what reached it in proportion to "
        "the USD of its inflows (Bialek 1996). A path's loss is the loss where it ends times "
        "the shares along it.",
        f"Total loss {format_value(ranking.total_loss_usd, 'usd')}: "
        f"{format_value(ranking.attributed_usd, 'usd')} traced to the scenario along all "
        f"paths, {format_value(ranking.residual_usd, 'usd')} residual (chains of causes that "
        f"end elsewhere). The {len(paths)} paths below carry "
        f"{format_value(sum(p.loss_usd for p in paths), 'usd')}.",
    )
    figures = (path_graph_svg(paths, ranking.labels),) if paths else ()
    return Section(
        key="paths",
        title="Top contagion paths",
        text=text,
        tables=(
            ReportTable("Ranked paths", frame, {"rank": "int", "loss": "usd", "share": "share"}),
            ReportTable("Residual by origin", residual, {"loss": "usd"}),
        ),
        figures=figures,
        data=ranking.to_dict(),
        note=None if paths else "No path carries a loss.",
    )
