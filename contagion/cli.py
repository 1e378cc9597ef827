"""The ``contagion`` command line.

Commands parse options and call the Python API; they hold no model logic. Every error the
package raises on purpose (:class:`~contagion.exceptions.ContagionError`) is printed as one
line on stderr and exits with status 2, without a traceback. Every file a command writes
appears atomically (temporary file, then rename).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import click
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table
from rich.text import Text

from contagion._atomic import atomic_dir, atomic_file, atomic_write_text
from contagion.dataset import Dataset
from contagion.exceptions import ContagionError
from contagion.resources import list_queries
from contagion.schema import TABLES
from contagion.store import query_spec

__all__ = ["cli", "main"]

EXIT_INPUT_ERROR = 2

F = TypeVar("F", bound=Callable[..., Any])

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


class _Group(click.Group):
    """A click group that turns deliberate errors into a message and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ContagionError as exc:
            stderr.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
            ctx.exit(EXIT_INPUT_ERROR)
        except OSError as exc:
            stderr.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
            ctx.exit(EXIT_INPUT_ERROR)


@contextmanager
def _step(text: str) -> Iterator[None]:
    """Show a spinner on stderr while a long step runs (silent when stderr is not a TTY)."""
    with stderr.status(text, spinner="dots"):
        yield
    stderr.print(f"[green]✓[/] {text}", markup=True, highlight=False)


@dataclass(frozen=True)
class _WorldSpec:
    positions: int
    seed: int
    long_tail: int
    option_series: int | None


def world_options(func: F) -> F:
    """Options of the embedded world: ``--positions``, ``--seed``, ``--long-tail``,
    ``--option-series``."""
    options = [
        click.option(
            "--option-series",
            type=click.IntRange(min=620),
            default=None,
            help="Option series in the embedded world (default: the 620 of the "
            "Deribit chain and its ETH twin).",
        ),
        click.option(
            "--long-tail",
            type=click.IntRange(min=0),
            default=0,
            show_default=True,
            help="Synthetic long-tail tokens added to the embedded world, each with "
            "listings, positions and about 18 pools (benchmark scale).",
        ),
        click.option(
            "--seed", type=int, default=7, show_default=True, help="Seed of the embedded world."
        ),
        click.option(
            "--positions",
            type=click.IntRange(min=100),
            default=50_000,
            show_default=True,
            help="Lending positions in the embedded world.",
        ),
    ]
    for option in options:
        func = option(func)
    return func


def _world(positions: int, seed: int, long_tail: int, option_series: int | None) -> _WorldSpec:
    return _WorldSpec(positions, seed, long_tail, option_series)


def dataset_options(func: F) -> F:
    """``--dataset DIR`` or, without it, the embedded default world (see world_options)."""
    func = world_options(func)
    func = click.option(
        "--dataset",
        "dataset_dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Dataset folder (one sub-folder of Parquet files per table). "
        "Default: the embedded world (the world options are ignored with --dataset).",
    )(func)
    return func


def _open_dataset(dataset_dir: Path | None, world: _WorldSpec) -> Dataset:
    if dataset_dir is not None:
        with _step(f"reading and validating {dataset_dir}"):
            return Dataset.load(dataset_dir)
    from indexers.sample_world import build_sample_world

    text = f"building the default world ({world.positions:,} positions, seed {world.seed})"
    with _step(text):
        return build_sample_world(
            positions=world.positions,
            seed=world.seed,
            long_tail=world.long_tail,
            option_series=world.option_series,
        )


@click.group(
    cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(package_name="contagion")
def cli() -> None:
    """See how a market shock spreads across DeFi protocols.

    Build or read a dataset (Parquet, one folder per table), query it with DuckDB and
    build its typed exposure graph. Run `contagion demo` to start.
    """


@cli.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder to write the dataset, graph and summary into (replaced atomically).",
)
@world_options
def demo(
    out: Path | None, positions: int, seed: int, long_tail: int, option_series: int | None
) -> None:
    """Build the default world, load it into DuckDB, build the exposure graph, summarise it.

    The default world is built from real Aave v3, Compound v3, Chainlink and Deribit
    parameters with generated positions, pools and books (see the README).

    Example: contagion demo --out demo-out
    """
    dataset = _open_dataset(None, _world(positions, seed, long_tail, option_series))
    with _step("loading into DuckDB and building the exposure graph"):
        graph = dataset.graph()
    summary = graph.summary()
    if out is not None:
        with _step(f"writing dataset, graph and summary to {out}"):
            _write_demo(out, dataset, graph, summary)
    _print_summary(dataset, summary)


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
            _usd(row.get("tvl_usd")),
            _usd(row.get("debt_usd")),
            _usd(row.get("open_interest_usd")),
            _usd(row.get("stablecoin_supply_usd")),
        )
    stdout.print(tvl)

    edges = Table(title="Exposure graph: edges by kind", title_justify="left")
    edges.add_column("edge kind")
    edges.add_column("edges", justify="right")
    edges.add_column("USD weight", justify="right")
    for kind, info in summary.get("edges_by_kind", {}).items():
        edges.add_row(kind, f"{info['count']:,}", _usd(info["usd"]))
    stdout.print(edges)
    nodes = ", ".join(f"{k} {v:,}" for k, v in summary.get("nodes_by_kind", {}).items())
    stdout.print(f"Nodes: {nodes}", highlight=False)


def _usd(value: Any) -> str:
    if value is None or pd.isna(value) or value == 0:
        return "-"
    v = float(value)
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"${v / scale:,.2f}{unit}"
    return f"${v:,.0f}"


@cli.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Dataset folder to write (replaced atomically).",
)
@world_options
def build(out: Path, positions: int, seed: int, long_tail: int, option_series: int | None) -> None:
    """Build the embedded default world and write it as a Parquet dataset.

    Example: contagion build --out world --positions 1000000
    """
    dataset = _open_dataset(None, _world(positions, seed, long_tail, option_series))
    with _step(f"writing {out}"):
        dataset.write(out)
    stdout.print(f"wrote {len(dataset):,} rows to {out}", highlight=False)


def _parse_params(pairs: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected k=v, got {pair!r}", param_hint="--param")
        params[key.strip()] = value
    return params


@cli.command()
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
    dataset_dir: Path | None,
    positions: int,
    seed: int,
    long_tail: int,
    option_series: int | None,
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
    if name is not None:
        query_spec(name)  # fail on an unknown name before building a dataset
    store = _open_dataset(dataset_dir, _world(positions, seed, long_tail, option_series)).store()
    bound = _parse_params(params)
    if name is not None:
        result = store.query(name, bound)
    else:
        result = store.sql(raw_sql or "", bound or None)
    _emit(result, fmt, output, limit)


def _print_query_list() -> None:
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


@cli.command()
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
    dataset_dir: Path | None,
    positions: int,
    seed: int,
    long_tail: int,
    option_series: int | None,
) -> None:
    """Build the exposure graph and export it for Gephi / networkx.

    Example: contagion graph --export exposure.gexf --dataset world
    """
    chosen = fmt or export_path.suffix.lstrip(".").lower()
    if chosen not in ("graphml", "gexf"):
        raise click.UsageError(
            f"cannot tell the format from {export_path.name!r}; pass --format graphml|gexf"
        )
    dataset = _open_dataset(dataset_dir, _world(positions, seed, long_tail, option_series))
    with _step("building the exposure graph"):
        exposure = dataset.graph()
    with _step(f"writing {export_path}"):
        exposure.write(export_path, format=chosen)
    summary = exposure.summary()
    nodes = sum(summary["nodes_by_kind"].values())
    edges = sum(v["count"] for v in summary["edges_by_kind"].values())
    stdout.print(f"wrote {nodes:,} nodes and {edges:,} edges to {export_path}", highlight=False)


EXIT_UNCONVERGED = 3


@cli.command()
@click.option(
    "--shock",
    "shocks",
    multiple=True,
    metavar="ASSET=MOVE",
    help="A price shock, e.g. WETH=-30% or stETH=-0.05 (repeatable).",
)
@click.option(
    "--scenario",
    "scenario_file",
    type=click.Path(path_type=Path),
    default=None,
    help="A scenario TOML file (see docs/scenarios.md).",
)
@click.option(
    "--example", default=None, help="A shipped example scenario by name (see --list-examples)."
)
@click.option("--list-examples", is_flag=True, help="List the shipped example scenarios and exit.")
@click.option(
    "--max-rounds",
    type=click.IntRange(min=1),
    default=None,
    help="Round limit (default: the scenario's, 180).",
)
@click.option(
    "--tol",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Largest relative price change of a settled round (default 1e-6).",
)
@click.option("--run-seed", type=int, default=None, help="Seed of the run's random draws.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for the result: summary.json, result.json and CSV tables (written atomically).",
)
@dataset_options
def shock(
    shocks: tuple[str, ...],
    scenario_file: Path | None,
    example: str | None,
    list_examples: bool,
    max_rounds: int | None,
    tol: float | None,
    run_seed: int | None,
    out: Path | None,
    dataset_dir: Path | None,
    positions: int,
    seed: int,
    long_tail: int,
    option_series: int | None,
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
    from contagion.propagate import propagate
    from contagion.scenario import Scenario, load_scenario, parse_shock

    if list_examples:
        for name in names():
            stdout.print(Text(f"{name}: {load_example(name).description}"))
        return
    given = sum(x is not None for x in (scenario_file, example)) + bool(shocks)
    if given != 1:
        raise click.UsageError("give exactly one of --shock, --scenario or --example")
    if scenario_file is not None:
        scenario = load_scenario(scenario_file)
    elif example is not None:
        scenario = load_example(example)
    else:
        parsed = tuple(parse_shock(x) for x in shocks)
        scenario = Scenario(name=" ".join(shocks), shocks=parsed)
    dataset = _open_dataset(dataset_dir, _world(positions, seed, long_tail, option_series))
    with _step(f"propagating {scenario.name!r}"):
        result = propagate(
            dataset, scenario, max_rounds=max_rounds, tol=tol, seed=run_seed, allow_unconverged=True
        )
    if out is not None:
        with _step(f"writing {out}"):
            _write_result(out, result)
    _print_result(result)
    if not result.converged:
        stderr.print(
            f"[bold yellow]not settled:[/] the run reached {result.rounds} rounds with prices "
            f"still moving ({result.last_price_change:.3g} in the last round)",
            markup=True,
            highlight=False,
        )
        sys.exit(EXIT_UNCONVERGED)


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


def _print_result(result: Any) -> None:
    summary = result.summary()
    status = "settled" if result.converged else "NOT settled"
    stdout.print(
        Text(
            f"{summary['scenario']}: {status} after {result.rounds} rounds; "
            f"{_usd(summary['total_liquidated_usd'])} liquidated"
        )
    )
    losses = Table(title="Losses (USD)", title_justify="left")
    for col in ("protocol / market", "channel", "loss"):
        losses.add_column(col, justify="right" if col == "loss" else "left")
    frame = result.losses
    for row in frame[frame["usd"] > 0].sort_values("usd", ascending=False).itertuples():
        losses.add_row(Text(str(row.protocol_id)), Text(str(row.channel)), _usd(row.usd))
    stdout.print(losses)
    moves = Table(title="Price changes", title_justify="left")
    moves.add_column("asset")
    moves.add_column("change", justify="right")
    ordered = sorted(summary["price_change"].items(), key=lambda kv: kv[1])
    for symbol, change in ordered[:12]:
        moves.add_row(Text(str(symbol)), f"{change:+.2%}")
    stdout.print(moves)
    causes = Table(title="Largest causes", title_justify="left")
    for col in ("round", "channel", "from", "to", "USD"):
        causes.add_column(col, justify="right" if col in ("round", "USD") else "left")
    top = result.causes.sort_values("usd", ascending=False).head(12)
    for row in top.itertuples():
        causes.add_row(
            str(row.round), row.channel, Text(str(row.src)), Text(str(row.dst)), _usd(row.usd)
        )
    stdout.print(causes)


@cli.command()
@click.argument("table", required=False)
def schema(table: str | None) -> None:
    """Show the data contract: every table, or the columns of TABLE.

    Example: contagion schema lending_positions
    """
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


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``contagion`` console script."""
    try:
        cli.main(args=argv, prog_name="contagion")
    except KeyboardInterrupt:
        stderr.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
