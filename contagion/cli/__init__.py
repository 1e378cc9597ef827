"""The ``contagion`` command line.

Commands parse options and call the Python API; they hold no model logic. Every error the
package raises on purpose (:class:`~contagion.exceptions.ContagionError`) is printed as one
line on stderr and exits with status 2, without a traceback. Every file a command writes
appears atomically (temporary file, then rename). Each command lives in its own module of this
package and is registered below; what commands share is in :mod:`contagion.cli.common`.
"""

from __future__ import annotations

import sys

import click

from contagion.cli.backtest import backtest
from contagion.cli.common import ErrorExitGroup, stderr
from contagion.cli.dataset import build, schema
from contagion.cli.demo import demo
from contagion.cli.graph import graph
from contagion.cli.index import index
from contagion.cli.paths import paths
from contagion.cli.query import query
from contagion.cli.report import report
from contagion.cli.score import score
from contagion.cli.shock import shock
from contagion.cli.validate import validate

__all__ = ["cli", "main"]


@click.group(
    cls=ErrorExitGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="contagion")
def cli() -> None:
    """See how a market shock spreads across DeFi protocols.

    Build or read a dataset (Parquet, one folder per table), query it with DuckDB and
    build its typed exposure graph. Run `contagion demo` to start.
    """


for _command in (
    demo,
    build,
    query,
    graph,
    shock,
    paths,
    score,
    report,
    schema,
    backtest,
    validate,
    index,
):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``contagion`` console script."""
    try:
        cli.main(args=argv, prog_name="contagion")
    except KeyboardInterrupt:
        stderr.print("interrupted")
        sys.exit(130)
