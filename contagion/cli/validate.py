"""``contagion validate``: regenerate docs/VALIDATION.md."""

from __future__ import annotations

from pathlib import Path

import click

from contagion.cli.common import stdout, step

__all__ = ["validate"]


@click.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("docs/VALIDATION.md"),
    show_default=True,
    help="File to write the validation report to (replaced atomically).",
)
def validate(out: Path) -> None:
    """Regenerate the validation report: every published test vector (pass/fail, value,
    reference), every backtest with observed vs modelled and its error, the sensitivity of
    the default ETH crash, and the model's known limitations.

    Runs all backtests and the sensitivity analysis on the embedded world (several minutes).

    Example: contagion validate --out docs/VALIDATION.md
    """
    from contagion.validation_report import build_validation, write_validation

    with step("running test vectors, backtests and sensitivity"):
        text = build_validation()
    write_validation(out, text)
    stdout.print(f"wrote {out}")
