"""``contagion build`` and ``contagion schema``: write the embedded world; show the data
contract."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from contagion.cli.common import DatasetSource, open_dataset, stdout, step, world_options

__all__ = ["build", "schema"]


@click.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Dataset folder to write (replaced atomically).",
)
@world_options
def build(out: Path, source: DatasetSource) -> None:
    """Build the embedded default world and write it as a Parquet dataset.

    Example: contagion build --out world --positions 1000000
    """
    dataset = open_dataset(source)
    with step(f"writing {out}"):
        dataset.write(out)
    stdout.print(f"wrote {len(dataset):,} rows to {out}", highlight=False)


@click.command()
@click.argument("table", required=False)
def schema(table: str | None) -> None:
    """Show the data contract: every table, or the columns of TABLE.

    Example: contagion schema lending_positions
    """
    from contagion.schema import TABLES

    if table is None:
        out = Table(title="Dataset tables", title_justify="left")
        out.add_column("table")
        out.add_column("key")
        out.add_column("what it holds")
        for spec in TABLES.values():
            out.add_row(spec.name, ", ".join(spec.key), spec.doc)
        stdout.print(out)
        return
    if table not in TABLES:
        raise click.BadParameter(
            f"unknown table {table!r}; known: {', '.join(TABLES)}", param_hint="TABLE"
        )
    spec = TABLES[table]
    out = Table(title=f"{spec.name}: {spec.doc}", title_justify="left")
    for heading in ("column", "type", "null", "meaning"):
        out.add_column(heading)
    for col in spec.columns:
        out.add_row(col.name, str(col.type), "yes" if col.nullable else "", col.doc)
    stdout.print(out)
