"""``contagion backtest EVENT``: replay a real stress event, modelled vs observed."""

from __future__ import annotations

import json
from pathlib import Path

import click

from contagion._atomic import atomic_write_text
from contagion.backtests import names
from contagion.cli.common import stdout, step

__all__ = ["backtest"]


@click.command()
@click.argument("event", type=click.Choice(names()))
@click.option(
    "--json",
    "json_out",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the backtest (world, parameters, series, figures) as JSON to this file.",
)
@click.option("--seed", type=int, default=None, help="Seed passed to the solver.")
def backtest(event: str, json_out: Path | None, seed: int | None) -> None:
    """Replay a historical event through the model and show observed vs modelled.

    EVENT is one of: black-thursday (2020-03-12, Maker vaults and keepers), crash-2021
    (2021-05-19, Uniswap v2 ETH/DAI reserves), terra (UST/LUNA, May 2022), ftx (November
    2022, ETH and BTC paths), usdc-svb (March 2023, DAI through the PSM). The output states
    the world, every parameter and its source, the error, the acceptance checks and where
    the model misses. Exit status 1 when an acceptance check fails.

    Example: contagion backtest usdc-svb --json usdc-svb.json
    """
    from contagion.backtests import run_backtest

    with step(f"replaying {event}"):
        result = run_backtest(event, seed=seed)
    from rich.markdown import Markdown

    stdout.print(Markdown(result.to_markdown(level=2)), soft_wrap=False)
    stdout.print(f"ran in {result.seconds:.1f} s")
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(result.to_dict(), indent=1) + "\n")
    if not result.passed:
        raise SystemExit(1)
