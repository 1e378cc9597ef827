"""Sections about standing exposures: dependency scores, liquidation ladder, GEX."""

from __future__ import annotations

import numpy as np
import pandas as pd

from contagion.dealers import gamma_flip, gex_profile
from contagion.report.charts import bar_chart, gex_chart, ladder_chart
from contagion.report.document import (
    ReportContext,
    ReportTable,
    Section,
)
from contagion.report.sections.common import (
    GEX_POINTS,
    GEX_RANGE,
    protocol_label,
    records,
    shocked_asset,
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

    asset = shocked_asset(ctx)
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
    ladder["who"] = [protocol_label(ctx, p) for p in ladder["protocol_id"]]
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
        data={"asset": asset, "rows": records(ladder.drop(columns=["who"]))},
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
        grid = spot * np.linspace(*GEX_RANGE, GEX_POINTS)
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
