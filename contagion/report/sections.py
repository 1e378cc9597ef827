"""The sections of a report, one builder each, and the default list of them.

A builder takes the :class:`~contagion.report.model.ReportContext` and returns a
:class:`~contagion.report.model.Section` (or None to leave it out). To add a section, write a
builder and pass ``(*DEFAULT_SECTIONS, builder)`` to :func:`~contagion.report.build_report`.
Builders read the runs already made by :func:`~contagion.report.collect`; the only work they
do themselves is cheap (a DuckDB query, a GEX grid, charts).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from contagion.dealers import gamma_flip, gex_profile
from contagion.report.charts import bar_chart, gex_chart, ladder_chart, line_chart
from contagion.report.model import (
    ColumnKind,
    Figure,
    ReportContext,
    ReportTable,
    Section,
    SectionBuilder,
    format_value,
)
from contagion.report.pathgraph import path_graph_svg
from contagion.result import PropagationResult

__all__ = [
    "DEFAULT_SECTIONS",
    "dependency_section",
    "gex_section",
    "ladder_section",
    "losses_section",
    "mitigation_section",
    "paths_section",
    "prices_section",
    "sensitivity_section",
    "stress_section",
    "summary_section",
]

_TOP_ASSETS = 8
_LOSS_ROWS = 15
_GEX_RANGE = (0.5, 1.5)
_GEX_POINTS = 161


def _loss_usd(result: PropagationResult) -> float:
    return float(result.losses["usd"].sum()) if len(result.losses) else 0.0


def _bad_debt(result: PropagationResult) -> float:
    return float(sum(result.bad_debt_usd.values()))


def _shocked_asset(ctx: ReportContext) -> str | None:
    """The asset the main scenario shocks first (as named there), if any."""
    s = ctx.result.scenario
    if s.shocks:
        return s.shocks[0].asset
    if s.paths:
        return s.paths[0].asset
    return None


def _asset_index(result: PropagationResult, name: str) -> int | None:
    for i, (a, sym) in enumerate(zip(result.asset_ids, result.symbols, strict=True)):
        if name in (a, sym):
            return i
    return None


def _lowest_move(result: PropagationResult, name: str | None) -> float:
    """Largest fall over the run of the asset named ``name`` (NaN when unknown)."""
    i = None if name is None else _asset_index(result, name)
    if i is None:
        return float("nan")
    path = [result.initial_price[i], *(r.price[i] for r in result.records)]
    return float(min(path) / result.initial_price[i] - 1.0)


def _protocol_label(ctx: ReportContext, protocol_id: str) -> str:
    for key in (f"protocol:{protocol_id}", f"asset:{protocol_id}", f"venue:{protocol_id}"):
        if key in ctx.labels:
            return ctx.labels[key]
    return protocol_id


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
        f"The run {status} after {r.rounds} rounds of {s.params.round_seconds} s. "
        f"{format_value(r.total_liquidated_usd, 'usd')} of collateral was liquidated and "
        f"losses total {format_value(_loss_usd(r), 'usd')} "
        f"(bad debt {format_value(_bad_debt(r), 'usd')}).",
    ]
    if worst:
        text.append("Largest falls: " + ", ".join(worst) + ".")
    headline = pd.DataFrame(
        [
            ("rounds", str(r.rounds)),
            ("settled", "yes" if r.converged else "no"),
            ("collateral liquidated", format_value(r.total_liquidated_usd, "usd")),
            ("bad debt", format_value(_bad_debt(r), "usd")),
            ("losses (all channels)", format_value(_loss_usd(r), "usd")),
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
            "protocol": [_protocol_label(ctx, p) for p in top["protocol_id"]],
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
    chosen = [a for a in moved.index if moved[a] > 1e-6][:_TOP_ASSETS]
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
    losses["who"] = [_protocol_label(ctx, p) for p in losses["protocol_id"]]
    pivot = losses.pivot_table(index="who", columns="channel", values="usd", aggfunc="sum")
    pivot = pivot.fillna(0.0)
    order = pivot.sum(axis=1).sort_values(ascending=False).index[:_LOSS_ROWS]
    pivot = pivot.loc[order]
    liq = r.liquidations
    by_protocol = (
        liq.groupby("protocol_id", as_index=False)[["count", "collateral_usd", "debt_usd"]].sum()
        if len(liq)
        else pd.DataFrame(columns=["protocol_id", "count", "collateral_usd", "debt_usd"])
    )
    liquidated = pd.DataFrame(
        {
            "protocol": [_protocol_label(ctx, p) for p in by_protocol["protocol_id"]],
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
            "auto-deleveraging of perpetual venues, and the depeg loss of algorithmic "
            "stablecoin holders (price shortfall x supply).",
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
        data={"total_usd": _loss_usd(r)},
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


def dependency_section(ctx: ReportContext) -> Section:
    """Dependency scores of protocols and shared components, with their components."""
    scores = ctx.scores
    if scores is None:
        return Section(
            key="scores",
            title="Dependency scores",
            note="Dependency scores were not computed for this report.",
        )
    frame = scores.frame.sort_values("rank").head(15)
    table = pd.DataFrame(
        {
            "rank": frame["rank"].to_numpy(),
            "component": frame["label"].astype(str).to_numpy(),
            "kind": frame["kind"].astype(str).to_numpy(),
            "static score": frame["static_score"].to_numpy(dtype=float),
            "systemic importance": frame["systemic_importance_usd"].to_numpy(dtype=float),
            "vulnerability": frame["vulnerability_usd"].to_numpy(dtype=float),
        }
    )
    parts = scores.components
    top = set(frame["component"])
    parts = parts[parts["component"].isin(top)]
    label = dict(zip(frame["component"], frame["label"].astype(str), strict=True))
    components = pd.DataFrame(
        {
            "component": [label[c] for c in parts["component"]],
            "score": parts["score"].astype(str).to_numpy(),
            "part": parts["part"].astype(str).to_numpy(),
            "value": parts["value"].to_numpy(dtype=float),
            "unit": parts["unit"].astype(str).to_numpy(),
        }
    )
    chart = bar_chart(
        "scores",
        "Systemic importance and vulnerability",
        list(table["component"]),
        [
            ("systemic importance (losses caused elsewhere)", table["systemic importance"]),
            ("vulnerability (losses suffered)", table["vulnerability"]),
        ],
        xlabel="USD over the scenario set",
        alt="Systemic importance and vulnerability of the top components: "
        + ", ".join(table["component"]),
    )
    return Section(
        key="scores",
        title="Dependency scores",
        text=(
            "Static scores come from the exposure graph (oracle concentration, pool dependency, "
            "receipt-token exposure, DebtRank); simulated scores from the scenario set: "
            "systemic importance is the loss a component's failure causes elsewhere, "
            "vulnerability the loss it suffers. Every score decomposes into named parts.",
        ),
        tables=(
            ReportTable(
                "Top components",
                table,
                {
                    "rank": "int",
                    "static score": "number",
                    "systemic importance": "usd",
                    "vulnerability": "usd",
                },
            ),
            ReportTable("Score components", components, {"value": "number"}),
        ),
        figures=(chart,),
        data=scores.to_dict(),
    )


def ladder_section(ctx: ReportContext) -> Section:
    """Collateral that becomes liquidatable at each price level of the shocked asset."""
    from contagion.resources import list_queries

    asset = _shocked_asset(ctx)
    title = "Liquidation ladder"
    if "liquidation_ladder" not in list_queries():
        return Section(key="ladder", title=title, note="The liquidation_ladder query is missing.")
    if asset is None:
        return Section(key="ladder", title=title, note="The scenario shocks no asset's price.")
    ladder = ctx.dataset.store().query("liquidation_ladder", {"asset": asset}).to_pandas()
    if ladder.empty:
        return Section(
            key="ladder",
            title=title,
            note=f"No lending book becomes liquidatable when {asset} falls.",
        )
    ladder["who"] = [_protocol_label(ctx, p) for p in ladder["protocol_id"]]
    wide = ladder.pivot_table(
        index="price_move", columns="who", values="collateral_usd", aggfunc="sum"
    ).fillna(0.0)
    wide = wide.sort_index(ascending=False)
    wide = wide[wide.iloc[-1].sort_values(ascending=False).index]
    symbol = str(ladder["symbol"].dropna().iloc[0]) if ladder["symbol"].notna().any() else asset
    totals = ladder.groupby("price_move", as_index=False)[
        ["accounts", "collateral_usd", "debt_usd", "new_accounts"]
    ].sum()
    totals = totals.sort_values("price_move", ascending=False)
    table = pd.DataFrame(
        {
            f"{symbol} move": totals["price_move"].to_numpy(dtype=float),
            "liquidatable accounts": totals["accounts"].to_numpy(),
            "new at this level": totals["new_accounts"].to_numpy(),
            "collateral": totals["collateral_usd"].to_numpy(dtype=float),
            "debt": totals["debt_usd"].to_numpy(dtype=float),
        }
    )
    chart = ladder_chart(
        "ladder",
        f"Collateral liquidatable as {symbol} falls",
        wide.index.to_numpy(dtype=float),
        [(c, wide[c].to_numpy()) for c in wide.columns],
        xlabel=f"{symbol} price move",
        alt=f"Collateral liquidatable per protocol at each {symbol} price move, stacked.",
    )
    return Section(
        key="ladder",
        title=title,
        text=(
            f"Collateral of lending books that are healthy at the snapshot and become "
            f"liquidatable when {symbol} (with every asset priced from it) falls by each step, "
            "at each protocol's own thresholds (liquidation_ladder query).",
        ),
        tables=(
            ReportTable(
                "Ladder",
                table,
                {
                    f"{symbol} move": "pct",
                    "liquidatable accounts": "int",
                    "new at this level": "int",
                    "collateral": "usd",
                    "debt": "usd",
                },
            ),
        ),
        figures=(chart,),
        data={"asset": asset, "rows": _records(ladder.drop(columns=["who"]))},
    )


def gex_section(ctx: ReportContext) -> Section:
    """Dealers' gamma exposure over the price of each option underlying, and its flip."""
    book = ctx.engine.options
    title = "Dealer gamma exposure (GEX) over price"
    if book.n_series == 0:
        return Section(key="gex", title=title, note="The dataset lists no options.")
    symbols = ctx.symbols
    panels = []
    rows = []
    for u in np.unique(book.underlying):
        spot = float(book.spot[u])
        if not np.isfinite(spot) or spot <= 0:
            continue
        grid = spot * np.linspace(*_GEX_RANGE, _GEX_POINTS)
        gex = gex_profile(book, int(u), grid)
        flip = gamma_flip(book, int(u))
        symbol = symbols.get(book.asset_ids[u], book.asset_ids[u])
        panels.append((symbol, grid, gex, spot, flip))
        at = gex_profile(book, int(u), spot * np.array([1.0, 0.9, 0.8, 0.7]))
        rows.append(
            {
                "underlying": symbol,
                "spot": spot,
                "GEX at spot": at[0],
                "at -10%": at[1],
                "at -20%": at[2],
                "at -30%": at[3],
                "gamma flip": flip,
                "series": int((book.underlying == u).sum()),
            }
        )
    chart = gex_chart(
        "gex",
        title,
        panels,
        alt="Dealer GEX (USD per 1% move) over price for "
        + ", ".join(p[0] for p in panels)
        + "; dashed: spot, dotted: gamma flip.",
    )
    frame = pd.DataFrame(rows)
    usd_cols = ["GEX at spot", "at -10%", "at -20%", "at -30%"]
    return Section(
        key="gex",
        title=title,
        text=(
            "GEX = dealer sign x gamma x open interest x price² x 1%: the USD of the underlying "
            "dealers trade per 1% move to stay delta-hedged (Black 1976 gamma, implied "
            "volatility held at the marks). Where GEX is negative dealers sell into falls and "
            "amplify them; the gamma flip is the price where it changes sign.",
        ),
        tables=(
            ReportTable(
                "GEX by underlying",
                frame,
                {
                    "spot": "price",
                    **dict.fromkeys(usd_cols, "usd"),
                    "gamma flip": "price",
                    "series": "int",
                },
            ),
        ),
        figures=(chart,),
        data={
            p[0]: {"price": p[1].tolist(), "gex_usd": p[2].tolist(), "spot": p[3], "flip": p[4]}
            for p in panels
        },
    )


def stress_section(ctx: ReportContext) -> Section:
    """Loss against shock size: the main scenario rescaled to each move of the ladder."""
    title = "Stress ladder: loss vs shock size"
    if not ctx.stress:
        return Section(key="stress", title=title, note="No stress moves were run.")
    asset = _shocked_asset(ctx)
    frame = pd.DataFrame(
        {
            "shock": [m for m, _ in ctx.stress],
            "losses": [_loss_usd(r) for _, r in ctx.stress],
            "bad debt": [_bad_debt(r) for _, r in ctx.stress],
            "liquidated": [r.total_liquidated_usd for _, r in ctx.stress],
            "lowest price": [_lowest_move(r, asset) for _, r in ctx.stress],
            "rounds": [r.rounds for _, r in ctx.stress],
            "settled": [r.converged for _, r in ctx.stress],
        }
    )
    chart = line_chart(
        "stress",
        title,
        frame["shock"].to_numpy(),
        [
            ("losses", frame["losses"].to_numpy()),
            ("bad debt", frame["bad debt"].to_numpy()),
            ("collateral liquidated", frame["liquidated"].to_numpy()),
        ],
        xlabel="shock (move of the first shocked asset)",
        ylabel="USD",
        x_moves=True,
        alt="Losses, bad debt and liquidations against shock size: "
        + ", ".join(
            f"{m:+.0%} {format_value(v, 'usd')}"
            for m, v in zip(frame["shock"], frame["losses"], strict=True)
        ),
        markers=True,
    )
    unsettled = int((~frame["settled"]).sum())
    text = [
        "The main scenario rerun with its price shocks rescaled (in log terms, keeping their "
        "relative sizes) so that the first shocked asset moves by each amount.",
    ]
    if unsettled:
        text.append(f"{unsettled} run(s) reached the round limit without settling (marked).")
    return Section(
        key="stress",
        title=title,
        text=tuple(text),
        tables=(
            ReportTable(
                "Ladder",
                frame,
                {
                    "shock": "pct",
                    "losses": "usd",
                    "bad debt": "usd",
                    "liquidated": "usd",
                    "lowest price": "pct",
                    "rounds": "int",
                    "settled": "bool",
                },
            ),
        ),
        figures=(chart,),
    )


def mitigation_section(ctx: ReportContext) -> Section:
    """The main scenario with and without each mitigation."""
    title = "Mitigation comparison"
    if not ctx.mitigations:
        return Section(key="mitigations", title=title, note="No mitigations were compared.")
    asset = _shocked_asset(ctx)
    runs = [("none (baseline)", ctx.result), *ctx.mitigations]
    frame = pd.DataFrame(
        {
            "mitigation": [n for n, _ in runs],
            "losses": [_loss_usd(r) for _, r in runs],
            "bad debt": [_bad_debt(r) for _, r in runs],
            "liquidated": [r.total_liquidated_usd for _, r in runs],
            "lowest price": [_lowest_move(r, asset) for _, r in runs],
            "rounds": [r.rounds for _, r in runs],
            "settled": [r.converged for _, r in runs],
        }
    )
    base = frame["losses"].iloc[0]
    frame["vs baseline"] = (frame["losses"] / base - 1.0) if base > 0 else np.nan
    chart = bar_chart(
        "mitigations",
        title,
        list(frame["mitigation"]),
        [
            ("losses", frame["losses"].to_numpy()),
            ("bad debt", frame["bad debt"].to_numpy()),
            ("collateral liquidated", frame["liquidated"].to_numpy()),
        ],
        xlabel="USD",
        alt="Losses, bad debt and liquidations with each mitigation: "
        + ", ".join(
            f"{n} {format_value(v, 'usd')}"
            for n, v in zip(frame["mitigation"], frame["losses"], strict=True)
        ),
    )
    return Section(
        key="mitigations",
        title=title,
        text=(
            "Circuit breaker: liquidations and oracle updates pause once an asset moves more "
            "than the bound in a round. Dynamic margin: liquidation thresholds scale down as "
            "implied volatility rises (positions are liquidated earlier, in smaller steps).",
        ),
        tables=(
            ReportTable(
                "With and without",
                frame,
                {
                    "losses": "usd",
                    "bad debt": "usd",
                    "liquidated": "usd",
                    "lowest price": "pct",
                    "rounds": "int",
                    "settled": "bool",
                    "vs baseline": "pct",
                },
            ),
        ),
        figures=(chart,),
    )


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return ReportTable("", frame).records()


_OUTPUT_KINDS: dict[str, ColumnKind] = {
    "total_liquidated_usd": "usd",
    "bad_debt_usd": "usd",
    "losses_usd": "usd",
    "max_price_drop": "share",
}


def sensitivity_section(ctx: ReportContext) -> Section | None:
    """Tornado tables and charts: each main output at the low and high value of each
    uncertain parameter, one parameter at a time (left out when not computed)."""
    result = ctx.sensitivity
    if result is None:
        return None
    from contagion.sensitivity import OUTPUTS, tornado_svg

    frame = result.frame
    tables = []
    figures = []
    for output in OUTPUTS:
        rows = frame[frame["output"] == output]
        if rows.empty:
            continue
        kind = _OUTPUT_KINDS.get(output, "number")
        shown = rows[["parameter", "low_value", "high_value", "low", "high", "swing"]].copy()
        shown[["low_value", "high_value"]] = shown[["low_value", "high_value"]].astype(str)
        tables.append(
            ReportTable(
                output,
                shown.reset_index(drop=True),
                {"low": kind, "high": kind, "swing": kind},
            )
        )
        figures.append(
            Figure(
                f"Tornado: {output}",
                tornado_svg(result, output),
                f"Swing of {output} between each parameter's low and high value",
            )
        )
    return Section(
        key="sensitivity",
        title="Sensitivity (tornado)",
        text=(
            "The main scenario rerun with one uncertain parameter at a time at its low and high "
            "value (external depth, liquidator capacity, implied-volatility response, dealer "
            "sign, oracle lag), the others at their defaults; parameters sorted by swing. "
            "Interactions between parameters are not measured.",
        ),
        tables=tuple(tables),
        figures=tuple(figures),
        data=result.to_dict(),
    )


DEFAULT_SECTIONS: tuple[SectionBuilder, ...] = (
    summary_section,
    prices_section,
    losses_section,
    paths_section,
    dependency_section,
    ladder_section,
    gex_section,
    stress_section,
    mitigation_section,
    sensitivity_section,
)
"""The sections of a report, in order (the sensitivity section only when computed)."""
