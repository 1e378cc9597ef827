"""``contagion shock``: spread a scenario through a dataset and summarise the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table
from rich.text import Text

from contagion._atomic import atomic_dir
from contagion.cli.common import (
    DatasetSource,
    ScenarioChoice,
    dataset_options,
    exit_if_unsettled,
    open_dataset,
    scenario_options,
    stdout,
    step,
    usd,
)

if TYPE_CHECKING:
    from contagion.paths import NodeNamer

__all__ = ["shock"]


@click.command()
@scenario_options
@click.option("--list-examples", is_flag=True, help="List the shipped example scenarios and exit.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for the result: summary.json, result.json and CSV tables (written atomically).",
)
@dataset_options
def shock(
    choice: ScenarioChoice, list_examples: bool, out: Path | None, source: DatasetSource
) -> None:
    """Spread a shock through a dataset round by round and report what it did.

    Give --shock (one or more), --scenario FILE or --example NAME. Prints the run's
    summary: rounds, whether it settled, liquidations, bad debt per protocol, price moves and
    the largest causes. Exits 3 when the run reaches the round limit without settling (the
    result is still printed and written, marked unconverged), 2 on bad input.

    Examples:

      contagion shock --shock WETH=-30%

      contagion shock --example usdc-depeg --out usdc-run

      contagion shock --scenario my-scenario.toml --dataset world
    """
    from contagion.data.scenarios import load_example, names
    from contagion.paths import NodeNamer, path_labels

    if list_examples:
        for name in names():
            stdout.print(Text(f"{name}: {load_example(name).description}"))
        return
    choice.scenario()  # a bad scenario fails before the dataset is built
    dataset = open_dataset(source)
    result = choice.run(dataset)
    if out is not None:
        with step(f"writing {out}"):
            _write_result(out, result)
    _print_result(result, NodeNamer(path_labels(dataset)))
    exit_if_unsettled(result)


def _write_result(out: Path, result: Any) -> None:
    with atomic_dir(out) as tmp:
        (tmp / "summary.json").write_text(json.dumps(result.summary(), indent=2) + "\n")
        (tmp / "result.json").write_text(result.to_json() + "\n")
        for name in (
            "prices",
            "oracle_prices",
            "flows",
            "liquidations",
            "bad_debt",
            "dealers",
            "losses",
            "causes",
        ):
            getattr(result, name).to_csv(tmp / f"{name}.csv", index=False)


def _print_result(result: Any, name: NodeNamer) -> None:
    from contagion.result import format_duration

    summary = result.summary()
    status = "settled" if result.converged else "NOT settled"
    stdout.print(
        Text(
            f"{summary['scenario']}: {status} after {result.rounds} rounds "
            f"({format_duration(result.duration_s)} of market time); "
            f"{usd(summary['total_liquidated_usd'])} liquidated"
        )
    )
    losses = Table(title="Losses (USD)", title_justify="left")
    for col in ("protocol / market", "channel", "loss"):
        losses.add_column(col, justify="right" if col == "loss" else "left")
    frame = result.losses
    for row in frame[frame["usd"] > 0].sort_values("usd", ascending=False).itertuples():
        who = name.bearer(str(row.protocol_id))
        losses.add_row(Text(who), Text(str(row.channel)), usd(row.usd))
    stdout.print(losses)
    moves = Table(title="Price changes (lowest in the run, and at the end)", title_justify="left")
    moves.add_column("asset")
    moves.add_column("low", justify="right")
    moves.add_column("end", justify="right")
    lows = result.lowest_price / result.initial_price - 1.0
    ends = result.final_price / result.initial_price - 1.0
    moved = [
        (float(low), float(end), symbol)
        for low, end, symbol in zip(lows, ends, result.symbols, strict=True)
        if abs(end) > 1e-9 or low < -1e-9
    ]
    for low, end, symbol in sorted(moved)[:12]:  # deepest fall first
        moves.add_row(Text(str(symbol)), f"{low:+.2%}", f"{end:+.2%}")
    stdout.print(moves)
    causes = Table(title="Largest causes", title_justify="left")
    for col in ("round", "channel", "from", "to", "USD"):
        causes.add_column(col, justify="right" if col in ("round", "USD") else "left")
    causes_frame = result.causes[result.causes["usd"] > 0]
    top = causes_frame.sort_values("usd", ascending=False).head(12)
    for row in top.itertuples():
        causes.add_row(
            str(row.round),
            row.channel,
            Text(name(str(row.src))),
            Text(name(str(row.dst))),
            usd(row.usd),
        )
    stdout.print(causes)
