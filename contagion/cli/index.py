"""``contagion index``: fill a dataset from a chain over JSON-RPC, or from an exported file."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from contagion.cli.common import stderr, stdout
from indexers.registry import SOURCES, IndexOptions, run_source

__all__ = ["index"]


def _pairs(values: tuple[str, ...], what: str) -> dict[str, float]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        try:
            out[key.lower()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise click.BadParameter(f"expected TOKEN=USD, got {item!r}", param_hint=what)
    return out


def _address_help() -> str:
    per_source = "; ".join(f"{s.name}: {s.address_help}" for s in SOURCES.values() if s.plan)
    return f"Contract to index (repeatable). Per source: {per_source}."


@click.command()
@click.argument("source", type=click.Choice(list(SOURCES)))
@click.option(
    "--rpc-url",
    envvar="CONTAGION_RPC_URL",
    help="JSON-RPC endpoint (http or https; also read from CONTAGION_RPC_URL). API keys in "
    "it are never printed.",
)
@click.option("--block", type=int, help="Block every state read is made at (required on chain).")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Dataset folder: new rows are merged into what it holds, written atomically; "
    "resume state is kept in its .checkpoint folder until the run completes.",
)
@click.option(
    "--from-block",
    type=int,
    help="First block scanned for accounts (default: the shipped deployment block, else 0).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="Calls per Multicall3 aggregate3 request.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=32),
    default=1,
    show_default=True,
    help="Multicall3 requests in flight at once (2-4 suits a real node); the output is the "
    "same, batches are recorded in order.",
)
@click.option(
    "--log-chunk",
    type=click.IntRange(min=1),
    default=2_000,
    show_default=True,
    help="Largest block span per eth_getLogs request (halved when the node refuses).",
)
@click.option(
    "--max-requests",
    type=click.IntRange(min=1),
    help="Request budget of the run; when spent the run stops and a rerun resumes.",
)
@click.option("--address", "addresses", multiple=True, help=_address_help())
@click.option(
    "--price",
    "prices",
    multiple=True,
    help="TOKEN=USD: price of a pool token that has no assets row in the dataset yet "
    "(repeatable; pool sources only).",
)
@click.option(
    "--multicall",
    help="Multicall3 contract (default: the canonical 0xcA11...CA11).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Seconds to wait for each RPC answer before retrying.",
)
@click.option(
    "--file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Exported file to import (deribit: a book-summary CSV).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Fail (exit 2) when indexed positions do not add up to the protocol's totals.",
)
def index(
    source: str,
    rpc_url: str | None,
    block: int | None,
    out: Path,
    from_block: int | None,
    batch_size: int,
    concurrency: int,
    log_chunk: int,
    max_requests: int | None,
    addresses: tuple[str, ...],
    prices: tuple[str, ...],
    multicall: str | None,
    timeout: float,
    file: Path | None,
    strict: bool,
) -> None:
    """Fill dataset folder OUT from SOURCE: a chain read over JSON-RPC at one block, or a file.

    An interrupted run (network fault, Ctrl-C, kill) started again with the same options
    resumes from its checkpoint and writes the same rows, without duplicates.

    Examples: contagion index aave-v3 --rpc-url URL --block 18470000 --out data;
    contagion index deribit --file btc-options.csv --out data
    """
    options = IndexOptions(
        addresses=addresses,
        prices=_pairs(prices, "--price"),
        from_block=from_block,
        file=file,
    )
    client = None
    if SOURCES[source].plan is not None:
        if not rpc_url:
            raise click.UsageError(f"{source} reads a chain: pass --rpc-url (or CONTAGION_RPC_URL)")
        if urlsplit(rpc_url).scheme not in ("http", "https"):
            raise click.BadParameter("must be an http:// or https:// URL", param_hint="--rpc-url")
        if block is None:
            raise click.UsageError(f"{source} reads a chain: pass --block")
        from indexers.rpc.client import RpcClient
        from indexers.rpc.transport import HttpTransport

        client = RpcClient(HttpTransport(rpc_url, timeout=timeout), max_requests=max_requests)
        stderr.print(f"node {client.label}, block {block:,}", highlight=False, markup=False)
    columns = (
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=stderr, transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        result = run_source(
            source,
            out,
            options,
            client=client,
            block=block,
            batch_size=batch_size,
            concurrency=concurrency,
            log_chunk=log_chunk,
            multicall=multicall,
            progress=progress,
            strict=strict,
        )
    for rec in result.reconciliations:
        stderr.print(rec.summary(), highlight=False, markup=False)
    if client is not None:
        stats = client.stats
        stderr.print(f"{stats.requests:,} requests ({stats.retries:,} retries)", highlight=False)
    written = ", ".join(f"{n:,} {t}" for t, n in result.rows.items())
    stdout.print(f"wrote {written} to {out}", highlight=False, markup=False)
