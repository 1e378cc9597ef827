"""``contagion demo``: the whole pipeline on the embedded default world."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table
from rich.text import Text

from contagion._atomic import atomic_write_text
from contagion.cli.common import DatasetSource, open_dataset, stdout, step, usd, world_options

if TYPE_CHECKING:
    from contagion.dataset import Dataset

__all__ = ["demo"]


@click.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("demo-out"),
    show_default=True,
    help="Folder to write the dataset, graph, summary and report into (each written atomically).",
)
@click.option(
    "--report/--no-report",
    default=True,
    show_default=True,
    help="Run the default scenario set (ETH -30%, a stress ladder, mitigations, contagion "
    "paths, dependency scores) and write report.html, report.md and report.json; "
    "--no-report only summarises the world.",
)
@world_options
def demo(out: Path, report: bool, source: DatasetSource) -> None:
    """Run the whole pipeline on the embedded default world and write its report.

    Builds the default world (real Aave v3, Compound v3, Chainlink and Deribit parameters
    with generated positions, pools and books; see the README), loads it into DuckDB, builds
    the exposure graph and summarises it; then ETH falls 30% and the report (contagion paths,
    dependency scores, liquidation ladder, GEX, stress ladder, mitigations) is written to
    OUT/report.html, report.md and report.json beside the dataset and graph. Prints the
    run's headline and its top contagion paths.

    Examples:

      contagion demo

      contagion demo --out my-demo --positions 200000

      contagion demo --no-report
    """
    dataset = open_dataset(source)
    with step("loading into DuckDB and building the exposure graph"):
        graph = dataset.graph()
    summary = graph.summary()
    with step(f"writing dataset, graph and summary to {out}"):
        _write_demo(out, dataset, graph, summary)
    _print_summary(dataset, summary)
    if not report:
        return
    from contagion.cli.paths import print_paths
    from contagion.cli.report import run_report

    ctx = run_report(
        dataset,
        out,
        subtitle=f"embedded default world: {source.positions:,} positions, seed {source.seed}",
    )
    if ctx.paths is not None:
        print_paths(ctx.paths, top=5, residual=False)
    stdout.print(Text(f"open {out / 'report.html'} to see the whole report"))


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
