"""``contagion score``: how much others depend on every protocol and shared component."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click
from rich.table import Table
from rich.text import Text

from contagion.cli.common import (
    DatasetSource,
    Output,
    dataset_options,
    open_dataset,
    output_options,
    stdout,
    step,
    usd,
)

if TYPE_CHECKING:
    from contagion.scores import DependencyScores

__all__ = ["score"]


@click.command()
@click.option(
    "--simulated/--static",
    default=True,
    show_default=True,
    help="Also propagate the default scenario set (systemic importance and vulnerability), "
    "or compute the static scores only (no propagation; seconds).",
)
@click.option(
    "--shock",
    type=click.FloatRange(min=-1, max=0, min_open=True, max_open=True),
    default=-0.30,
    show_default=True,
    help="Price move of the static measures and of the scenarios (-0.3 = 30% down).",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="How many components to show, most depended upon first.",
)
@output_options
@click.option(
    "--run-seed", type=int, default=0, show_default=True, help="Seed of the scenario batch."
)
@dataset_options
def score(
    simulated: bool,
    shock: float,
    top: int,
    output: Output,
    run_seed: int,
    source: DatasetSource,
) -> None:
    """Score protocols, oracle feeds, pools, stablecoins and assets by dependency.

    Static scores (USD) read the exposure data: value priced by each feed, liquidation
    flow each pool would receive against its depth at 2% slippage, value of each
    protocol's tokens held elsewhere, and protocol DebtRank. Simulated scores run one
    scenario per component (asset shock, feed failure, protocol write-down, depeg):
    systemic importance is the loss it causes to other protocols, vulnerability the
    loss a protocol suffers. Each score is shown with the parts it is made of.

    Examples:

      contagion score --static

      contagion score --top 5 --format markdown --out scores.md

      contagion score --dataset world --shock -0.2 --format json
    """
    from contagion.scores import score_dependencies

    dataset = open_dataset(source)
    what = "static and simulated scores" if simulated else "static scores"
    with step(f"computing {what}"):
        scores = score_dependencies(dataset, shock=shock, seed=run_seed, simulate=simulated)
    output.emit(
        lambda: _print_table(scores, top),
        lambda: json.dumps(scores.to_dict(), indent=1),
        lambda: _markdown(scores, top),
    )


def _top_parts(
    scores: DependencyScores, component: str, n: int = 3
) -> list[tuple[str, str, float]]:
    """The largest USD parts of a component: of its static measures, systemic importance and
    vulnerability (the ``static`` rows only total the measures, so they are skipped)."""
    rows = scores.components
    rows = rows[(rows["component"] == component) & (rows["unit"] == "usd") & (rows["value"] > 0)]
    rows = rows[rows["score"] != "static"]
    rows = rows.sort_values("value", ascending=False, kind="stable").head(n)
    return [(str(r["score"]), str(r["part"]), float(r["value"])) for r in rows.to_dict("records")]


def _print_table(scores: DependencyScores, top: int) -> None:
    table = Table(title=f"Dependency scores (shock {scores.shock:+.0%})", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("component")
    table.add_column("kind")
    table.add_column("static", justify="right")
    if scores.simulated:
        table.add_column("systemic", justify="right")
        table.add_column("vulnerability", justify="right")
    table.add_column("largest parts")
    for row in scores.frame.head(top).to_dict("records"):
        found = _top_parts(scores, str(row["component"]))
        parts = "\n".join(f"{s}: {p} {usd(v)}" for s, p, v in found)
        cells: list[str | Text] = [
            str(row["rank"]),
            Text(str(row["label"])),
            str(row["kind"]),
            usd(row["static_score"]),
        ]
        if scores.simulated:
            cells += [usd(row["systemic_importance_usd"]), usd(row["vulnerability_usd"])]
        table.add_row(*cells, Text(parts))
    stdout.print(table)
    if scores.unconverged:
        stdout.print(
            Text(
                f"{len(scores.unconverged)} scenario(s) reached the round limit; their losses "
                "are those reached so far."
            )
        )


def _markdown(scores: DependencyScores, top: int) -> str:
    head = ["#", "component", "kind", "static"]
    if scores.simulated:
        head += ["systemic importance", "vulnerability"]
    lines = [
        f"# Dependency scores (shock {scores.shock:+.0%})",
        "",
        "| " + " | ".join([*head, "largest parts"]) + " |",
        "|" + "---|" * (len(head) + 1),
    ]
    for row in scores.frame.head(top).to_dict("records"):
        found = _top_parts(scores, str(row["component"]))
        parts = "; ".join(f"{s}: {p} {usd(v)}" for s, p, v in found)
        cells = [str(row["rank"]), str(row["label"]), str(row["kind"]), usd(row["static_score"])]
        if scores.simulated:
            cells += [usd(row["systemic_importance_usd"]), usd(row["vulnerability_usd"])]
        lines.append("| " + " | ".join(_cell(c) for c in [*cells, parts]) + " |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Markdown table cell: on-chain text may hold pipes, markup or newlines."""
    escaped = text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    return escaped.replace("<", "&lt;").replace(">", "&gt;")
