"""Sections that compare runs: stress ladder, mitigations, sensitivity."""

from __future__ import annotations

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
from contagion.report.sections.common import (
    OUTPUT_KINDS,
    bad_debt,
    loss_usd,
    lowest_move,
    shocked_asset,
)


def stress_section(ctx: ReportContext) -> Section:
    """Loss against shock size: the main scenario rescaled to each move of the ladder."""
    title = "Stress ladder: loss vs shock size"
    if not ctx.stress:
        return Section(key="stress", title=title, note="No stress moves were run.")
    asset = shocked_asset(ctx)
    frame = pd.DataFrame(
        {
            "shock": [m for m, _ in ctx.stress],
            "losses": [loss_usd(r) for _, r in ctx.stress],
            "bad debt": [bad_debt(r) for _, r in ctx.stress],
            "liquidated": [r.total_liquidated_usd for _, r in ctx.stress],
            "lowest price": [lowest_move(r, asset) for _, r in ctx.stress],
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
    asset = shocked_asset(ctx)
    runs = [("none (baseline)", ctx.result), *ctx.mitigations]
    frame = pd.DataFrame(
        {
            "mitigation": [n for n, _ in runs],
            "losses": [loss_usd(r) for _, r in runs],
            "bad debt": [bad_debt(r) for _, r in runs],
            "liquidated": [r.total_liquidated_usd for _, r in runs],
            "lowest price": [lowest_move(r, asset) for _, r in runs],
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
        kind = OUTPUT_KINDS.get(output, "number")
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
