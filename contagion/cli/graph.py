"""``contagion graph``: export the exposure graph."""

from __future__ import annotations

from pathlib import Path

import click

from contagion.cli.common import DatasetSource, dataset_options, open_dataset, stdout, step

__all__ = ["graph"]


@click.command()
@click.option(
    "--export",
    "export_path",
    type=click.Path(path_type=Path),
    required=True,
    help="File to write the graph to (atomically).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["graphml", "gexf"]),
    default=None,
    help="File format; default from the file suffix (.graphml or .gexf).",
)
@dataset_options
def graph(
    export_path: Path,
    fmt: str | None,
    source: DatasetSource,
) -> None:
    """Build the exposure graph and export it for Gephi / networkx.

    Example: contagion graph --export exposure.gexf --dataset world
    """
    chosen = fmt or export_path.suffix.lstrip(".").lower()
    if chosen not in ("graphml", "gexf"):
        raise click.UsageError(
            f"cannot tell the format from {export_path.name!r}; pass --format graphml|gexf"
        )
    dataset = open_dataset(source)
    with step("building the exposure graph"):
        exposure = dataset.graph()
    with step(f"writing {export_path}"):
        exposure.write(export_path, format=chosen)
    summary = exposure.summary()
    nodes = sum(summary["nodes_by_kind"].values())
    edges = sum(v["count"] for v in summary["edges_by_kind"].values())
    stdout.print(f"wrote {nodes:,} nodes and {edges:,} edges to {export_path}", highlight=False)
