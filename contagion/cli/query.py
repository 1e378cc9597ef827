"""``contagion query``: run a shipped SQL relation (or ad-hoc SQL) on a dataset."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from contagion._atomic import atomic_file, atomic_write_text
from contagion.cli.common import DatasetSource, dataset_options, open_dataset, stderr, stdout
from contagion.resources import list_queries

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["query"]


def _parse_params(pairs: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected k=v, got {pair!r}", param_hint="--param")
        params[key.strip()] = value
    return params


@click.command()
@click.argument("name", required=False)
@click.option(
    "--sql",
    "raw_sql",
    default=None,
    help="Run this SQL instead of a shipped query (tables and shipped relations are "
    "available by name).",
)
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="K=V",
    help="Bind a parameter of the query (repeatable).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "parquet"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="Write to this file (atomically) instead of stdout; required for parquet.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Rows shown by --format table.",
)
@click.option("--list", "list_only", is_flag=True, help="List the shipped queries and exit.")
@dataset_options
def query(
    name: str | None,
    raw_sql: str | None,
    params: tuple[str, ...],
    fmt: str,
    output: Path | None,
    limit: int,
    list_only: bool,
    source: DatasetSource,
) -> None:
    """Run a shipped query by NAME (or --sql) on a dataset.

    Examples:

      contagion query --list

      contagion query largest_positions --param limit=10 --format csv

      contagion query --sql "select symbol, price_usd from assets" --dataset world
    """
    if list_only:
        _print_query_list()
        return
    if (name is None) == (raw_sql is None):
        raise click.UsageError("give either a query NAME or --sql (see --list)")
    if fmt == "parquet" and output is None:
        raise click.UsageError("--format parquet needs --output FILE")
    from contagion.store import query_spec

    if name is not None:
        query_spec(name)  # fail on an unknown name before building a dataset
    store = open_dataset(source).store()
    bound = _parse_params(params)
    if name is not None:
        result = store.query(name, bound)
    else:
        result = store.sql(raw_sql or "", bound or None)
    _emit(result, fmt, output, limit)


def _print_query_list() -> None:
    from contagion.store import query_spec

    table = Table(title="Shipped queries", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("what it is")
    table.add_column("parameters")
    for name in list_queries():
        spec = query_spec(name)
        params = ", ".join(f"{p.name} ({p.type}, default {p.default})" for p in spec.params)
        table.add_row(name, spec.title, params or "-")
    stdout.print(table)


def _emit(result: pa.Table, fmt: str, output: Path | None, limit: int) -> None:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        assert output is not None
        with atomic_file(output) as tmp:
            pq.write_table(result, tmp)
        stderr.print(f"wrote {result.num_rows:,} rows to {output}", highlight=False)
        return
    if fmt == "table":
        text = _render_table(result.to_pandas(), limit)
    elif fmt == "csv":
        # From Arrow rows, not pandas: integer columns with nulls stay integers.
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(result.column_names)
        writer.writerows(row.values() for row in result.to_pylist())
        text = buf.getvalue()
    else:
        text = json.dumps(result.to_pylist(), indent=1, default=_json_value) + "\n"
    if output is not None:
        atomic_write_text(output, text)
        stderr.print(f"wrote {result.num_rows:,} rows to {output}", highlight=False)
    else:
        sys.stdout.write(text)


def _json_value(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def _render_table(frame: pd.DataFrame, limit: int) -> str:
    import pandas as pd

    table = Table(
        caption=f"{len(frame):,} rows" + (f", first {limit} shown" if len(frame) > limit else "")
    )
    for col in frame.columns:
        table.add_column(
            str(col), justify="right" if pd.api.types.is_numeric_dtype(frame[col]) else "left"
        )
    for row in frame.head(limit).itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    console = Console(file=io.StringIO(), width=200, soft_wrap=False)
    console.print(table)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def _cell(value: Any) -> Text:
    # Cells carry untrusted on-chain text (symbols, names): Text is never parsed as markup.
    if isinstance(value, float):
        return Text(f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}")
    return Text(str(value))
