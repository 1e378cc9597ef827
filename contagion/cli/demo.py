"""``contagion demo``: the whole pipeline on the embedded default world."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from contagion._atomic import atomic_write_text
from contagion.cli.common import DatasetSource, open_dataset, stdout, step, usd, world_options
from contagion.dataset import Dataset

__all__ = ["demo"]


@click.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder to write the dataset, graph, summary and report into (each written atomically).",
)
@click.option(
    "--report/--no-report",
    default=True,
    show_default=True,
    help="With --out, also run the default scenario set (ETH -30%, a stress ladder, "
    "mitigations, dependency scores) and write report.html, report.md and report.json.",
)
@world_options
def demo(out: Path | None, report: bool, source: DatasetSource) -> None:
    """Build the default world, load it into DuckDB, build the exposure graph, summarise it.

    The default world is built from real Aave v3, Compound v3, Chainlink and Deribit
    parameters with generated positions, pools and books (see the README). With --out, the
    whole pipeline runs: the dataset and graph are written, then ETH falls 30% and the
    report (contagion paths, dependency scores, liquidation ladder, GEX, stress ladder,
    mitigations) is written beside them.

    Example: contagion demo --out demo-out
    """
    dataset = open_dataset(source)
    with step("loading into DuckDB and building the exposure graph"):
        graph = dataset.graph()
    summary = graph.summary()
    if out is not None:
        with step(f"writing dataset, graph and summary to {out}"):
            _write_demo(out, dataset, graph, summary)
    _print_summary(dataset, summary)
    if out is not None and report:
        from contagion.cli.report import run_report

        run_report(
            dataset,
            out,
            subtitle=f"embedded default world: {source.positions:,} positions, seed {source.seed}",
        )


def _write_demo(out: Path, dataset: Dataset, graph: Any, summary: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    dataset.write(out / "dataset")
    graph.write(out / "exposure-graph.graphml", format="graphml")
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")


def _print_summary(dataset: Dataset, summary: dict[str, Any]) -> None:
    counts = Table(title="Dataset", title_justify="left")
    counts.add_column("table")
    counts.add_column("rows", justify="right")
    for name, n in dataset.row_counts().items():
        counts.add_row(name, f"{n:,}")
    stdout.print(counts)

    tvl = Table(title="Protocols (USD)", title_justify="left")
    for col in ("protocol", "kind", "TVL", "borrowed", "open interest", "stablecoin supply"):
        left = col in ("protocol", "kind")
        tvl.add_column(col, justify="left" if left else "right", no_wrap=left)
    for row in summary.get("tvl", []):
        tvl.add_row(
            Text(str(row.get("protocol_id", ""))),
            Text(str(row.get("kind", ""))),
            usd(row.get("tvl_usd")),
            usd(row.get("debt_usd")),
            usd(row.get("open_interest_usd")),
            usd(row.get("stablecoin_supply_usd")),
        )
    stdout.print(tvl)

    edges = Table(title="Exposure graph: edges by kind", title_justify="left")
    edges.add_column("edge kind")
    edges.add_column("edges", justify="right")
    edges.add_column("USD weight", justify="right")
    for kind, info in summary.get("edges_by_kind", {}).items():
        edges.add_row(kind, f"{info['count']:,}", usd(info["usd"]))
    stdout.print(edges)
    nodes = ", ".join(f"{k} {v:,}" for k, v in summary.get("nodes_by_kind", {}).items())
    stdout.print(f"Nodes: {nodes}", highlight=False)
