"""``contagion paths``: run a scenario and rank the contagion paths that carried its losses."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.table import Table
from rich.text import Text

from contagion.cli.common import (
    DatasetSource,
    Output,
    ScenarioChoice,
    dataset_options,
    exit_if_unsettled,
    open_dataset,
    output_options,
    scenario_options,
    stdout,
    step,
    usd,
)

if TYPE_CHECKING:
    from contagion.paths import PathRanking

__all__ = ["paths", "print_paths"]


@click.command()
@scenario_options
@click.option(
    "--top",
    "top",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="How many paths to show, heaviest first.",
)
@click.option(
    "--min-share",
    type=click.FloatRange(min=0, max=1, max_open=True),
    default=0.001,
    show_default=True,
    help="Leave out paths carrying less than this share of the total loss.",
)
@output_options
@dataset_options
def paths(
    choice: ScenarioChoice,
    top: int,
    min_share: float,
    output: Output,
    source: DatasetSource,
) -> None:
    """Rank the contagion paths from a shock to the losses it caused.

    Runs the scenario (same options as `contagion shock`), traces every loss back through
    the run's cause records by proportional flow tracing (each node passes on what reached
    it in proportion to the USD of its inflows) and shows the heaviest chains, e.g.
    "WETH -30% -> ETH / USD -> Aave v3 liquidates WETH -> ...", with the loss each carries.
    Prints the total loss, the part traced to the shock and the residual with its origins.
    Exits 3 when the run did not settle (paths are still shown), 2 on bad input.

    Examples:

      contagion paths --shock WETH=-30%

      contagion paths --example protocol-failure --top 5 --format markdown --out paths.md

      contagion paths --scenario my-scenario.toml --dataset world --format json
    """
    from contagion.paths import path_labels, rank_paths

    dataset = open_dataset(source)
    result = choice.run(dataset)
    with step("tracing losses to the shock"):
        ranking = rank_paths(result, k=top, min_share=min_share, labels=path_labels(dataset))
    output.emit(lambda: print_paths(ranking), ranking.to_json, ranking.to_markdown)
    exit_if_unsettled(result, "; the paths cover the losses so far")


def print_paths(ranking: PathRanking, top: int | None = None, residual: bool = True) -> None:
    """The ranking as terminal tables: its totals, the ``top`` paths (all by default) and,
    with ``residual``, the losses that have no route back to the shock."""
    stdout.print(
        Text(
            f"{ranking.scenario}: losses {usd(ranking.total_loss_usd)}, traced to the shock "
            f"{usd(ranking.attributed_usd)}, residual {usd(ranking.residual_usd)}"
        )
    )
    table = Table(title="Contagion paths", title_justify="left", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("loss", justify="right")
    table.add_column("share", justify="right")
    table.add_column("rounds", justify="right")
    table.add_column("path")
    for i, p in enumerate(ranking.paths[:top], start=1):
        rounds = f"{min(p.rounds)}-{max(p.rounds)}" if p.rounds else ""
        table.add_row(
            str(i),
            usd(p.loss_usd),
            f"{p.share:.1%}",
            rounds,
            Text(p.describe(ranking.labels)),
        )
    stdout.print(table)
    if residual and ranking.residual_by_origin:
        rest = Table(title="Residual: losses with no route back to the shock")
        rest.title_justify = "left"
        for col in ("origin", "USD", "why"):
            rest.add_column(col, justify="right" if col == "USD" else "left")
        for node, amount, why in ranking.residual_by_origin[:10]:
            rest.add_row(Text(ranking.label(node)), usd(amount), Text(why))
        stdout.print(rest)
