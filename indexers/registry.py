"""Every data source the ``contagion index`` command can fill a dataset from, in one place.

A :class:`Source` turns command-line options into indexer calls: the on-chain ones read a
node over JSON-RPC at one block (:mod:`indexers.aave_v3`, :mod:`indexers.compound_v3`,
:mod:`indexers.uniswap_v2`, :mod:`indexers.uniswap_v3`, :mod:`indexers.curve`,
:mod:`indexers.chainlink`), ``deribit`` imports an exported file (:mod:`indexers.deribit`).
Contract addresses default to the shipped deployment of the chain
(:mod:`indexers.deployments`); ``--address`` overrides them.

:func:`run_source` is the job: one checkpoint folder per indexed contract inside the output
folder (``DIR/.checkpoint/<part>``), so a killed run started again with the same options
resumes; the tables of every part are combined and written atomically into the dataset,
which replaces the checkpoints.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexers.deployments import deployment
from indexers.errors import IndexerError, ReconciliationError
from indexers.reconcile import Reconciliation

if TYPE_CHECKING:
    import pyarrow as pa

    from contagion.dataset import Dataset
    from indexers.base import IndexContext
    from indexers.rpc.client import RpcClient

# The sources' readers (ABI codecs, Parquet writers) are imported when a source runs: listing
# the sources (the command line's choices and help) loads none of them.

__all__ = ["SOURCES", "IndexOptions", "IndexResult", "Source", "get_source", "run_source"]

CHECKPOINT_FOLDER = ".checkpoint"


@dataclass(frozen=True)
class IndexOptions:
    """What a run was asked for besides the node and the block.

    ``addresses``: contracts as given on the command line (meaning per source, see
    :data:`SOURCES`); ``prices``: USD per whole token by token address (pool tokens);
    ``from_block``: first block of the account scan (None: the deployment's start block, or
    0); ``file``: the export a file source imports.
    """

    addresses: tuple[str, ...] = ()
    prices: Mapping[str, float] = field(default_factory=dict)
    from_block: int | None = None
    file: Path | None = None


@dataclass
class IndexResult:
    """What a run wrote: the dataset, its new rows per table, and the reconciliations."""

    dataset: Dataset
    rows: dict[str, int]
    reconciliations: list[Reconciliation]


@dataclass(frozen=True)
class Part:
    """One unit of work with its own checkpoint: a name and what it runs."""

    name: str
    from_block: int
    run: Callable[[IndexContext], tuple[dict[str, pa.Table], Reconciliation | None]]


@dataclass(frozen=True)
class Source:
    """A registered source: its name, what ``--address`` means for it, and its parts."""

    name: str
    summary: str
    address_help: str
    plan: Callable[[int, IndexOptions], list[Part]] | None = None
    """Parts of a run on chain ``chain_id`` (None: a file source)."""


def _shipped(chain_id: int, key: str) -> Any:
    doc = deployment(chain_id)
    if key not in doc:
        raise IndexerError(f"no shipped {key} addresses for chain {chain_id}; pass --address")
    return doc[key]


def _start(opts: IndexOptions, shipped: int | None) -> int:
    if opts.from_block is not None:
        return opts.from_block
    return shipped or 0


def _roles(source: str, given: Sequence[str], roles: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in given:
        role, sep, address = item.partition("=")
        if not sep or role not in roles:
            raise IndexerError(
                f"{source}: --address must be ROLE=ADDRESS with ROLE one of {', '.join(roles)}; "
                f"got {item!r}"
            )
        found[role] = address
    missing = [r for r in roles if r not in found]
    if missing:
        raise IndexerError(f"{source}: missing --address {'=..., '.join(missing)}=...")
    return found


def _plan_aave(chain_id: int, opts: IndexOptions) -> list[Part]:
    roles = ("pool", "data_provider", "oracle")
    if opts.addresses:
        given = _roles("aave-v3", opts.addresses, roles)
        start = _start(opts, None)
    else:
        shipped = _shipped(chain_id, "aave-v3")
        given = {r: shipped[r] for r in roles}
        start = _start(opts, shipped.get("start_block"))

    def run(ctx: IndexContext) -> tuple[dict[str, pa.Table], Reconciliation | None]:
        from indexers.aave_v3 import index_aave_v3

        return index_aave_v3(
            ctx, pool=given["pool"], data_provider=given["data_provider"], oracle=given["oracle"]
        )

    return [Part(f"aave-v3-{given['pool'].lower()}", start, run)]


def _plan_comet(chain_id: int, opts: IndexOptions) -> list[Part]:
    if opts.addresses:
        comets = [(a, _start(opts, None)) for a in opts.addresses]
    else:
        shipped = _shipped(chain_id, "compound-v3")
        comets = [(m["comet"], _start(opts, m.get("start_block"))) for m in shipped.values()]
    parts = []
    for comet, start in comets:

        def run(
            ctx: IndexContext, comet: str = comet
        ) -> tuple[dict[str, pa.Table], Reconciliation | None]:
            from indexers.compound_v3 import index_compound_v3

            return index_compound_v3(ctx, comet=comet)

        parts.append(Part(f"compound-v3-{comet.lower()}", start, run))
    return parts


def _index_pools(
    family: str, ctx: IndexContext, addresses: list[str], prices: Mapping[str, float]
) -> dict[str, pa.Table]:
    if family == "uniswap-v2":
        from indexers.uniswap_v2 import index_uniswap_v2

        return index_uniswap_v2(ctx, pairs=addresses, prices=prices)
    if family == "uniswap-v3":
        from indexers.uniswap_v3 import index_uniswap_v3

        return index_uniswap_v3(ctx, pools=addresses, prices=prices)
    from indexers.curve import index_curve

    return index_curve(ctx, pools=addresses, prices=prices)


def _plan_pools(family: str, key: str) -> Callable[[int, IndexOptions], list[Part]]:
    def plan(chain_id: int, opts: IndexOptions) -> list[Part]:
        addresses = list(opts.addresses) or list(_shipped(chain_id, family)[key])

        def run(ctx: IndexContext) -> tuple[dict[str, pa.Table], Reconciliation | None]:
            return _index_pools(family, ctx, addresses, opts.prices), None

        return [Part(family, _start(opts, None), run)]

    return plan


def _plan_chainlink(chain_id: int, opts: IndexOptions) -> list[Part]:
    feeds = {}
    for item in opts.addresses:
        feed, sep, token = item.partition("=")
        if not sep:
            raise IndexerError(f"chainlink: --address must be FEED=TOKEN, got {item!r}")
        feeds[feed] = token

    def run(ctx: IndexContext) -> tuple[dict[str, pa.Table], Reconciliation | None]:
        from indexers.chainlink import index_chainlink

        return index_chainlink(ctx, feeds=feeds), None

    del chain_id
    return [Part("chainlink", _start(opts, None), run)]


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            "aave-v3",
            "Aave v3 reserves, e-modes, oracles and every account's positions.",
            "pool=ADDRESS, data_provider=ADDRESS and oracle=ADDRESS (default: shipped)",
            _plan_aave,
        ),
        Source(
            "compound-v3",
            "Compound III (Comet) markets: assets, factors, feeds, every account.",
            "a Comet proxy, repeatable (default: the shipped USDC and WETH markets)",
            _plan_comet,
        ),
        Source(
            "uniswap-v2",
            "Uniswap v2 pairs: tokens and reserves.",
            "a pair, repeatable (default: shipped pairs)",
            _plan_pools("uniswap-v2", "pairs"),
        ),
        Source(
            "uniswap-v3",
            "Uniswap v3 pools: price, liquidity and every initialized tick.",
            "a pool, repeatable (default: shipped pools)",
            _plan_pools("uniswap-v3", "pools"),
        ),
        Source(
            "curve",
            "Curve StableSwap pools: coins, balances, A and fee.",
            "a pool, repeatable (default: shipped pools)",
            _plan_pools("curve", "pools"),
        ),
        Source(
            "chainlink",
            "Chainlink feeds: latest answer, decimals, description, heartbeat, deviation.",
            "FEED=TOKEN: a feed proxy and the token it prices, repeatable (required)",
            _plan_chainlink,
        ),
        Source("deribit", "Deribit option chain from a book-summary CSV export.", "-", None),
    )
}


def get_source(name: str) -> Source:
    """The source registered as ``name``; IndexerError naming the known ones otherwise."""
    try:
        return SOURCES[name]
    except KeyError:
        raise IndexerError(f"unknown source {name!r}; known: {', '.join(SOURCES)}") from None


def run_source(
    name: str,
    out: str | os.PathLike[str],
    options: IndexOptions,
    *,
    client: RpcClient | None = None,
    block: int | None = None,
    batch_size: int = 500,
    log_chunk: int = 2_000,
    multicall: str | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
    strict: bool = False,
    concurrency: int = 1,
) -> IndexResult:
    """Index ``name`` into the dataset at ``out`` (merged with what is there), resumably.

    Raises
    ------
    IndexerError
        Unknown source, missing option, unreadable contract, failed RPC.
    ReconciliationError
        ``strict`` and the indexed positions do not add up to the protocol's totals.
    """
    from indexers.base import IndexContext
    from indexers.rpc.multicall import MULTICALL3_ADDRESS

    source = get_source(name)
    target = Path(out)
    if source.plan is None:
        if options.file is None:
            raise IndexerError(f"{name}: pass the exported file with --file")
        from indexers.deribit import import_deribit

        tables = import_deribit(options.file)
        return _write(target, [tables], [])
    if client is None or block is None:
        raise IndexerError(f"{name}: an on-chain source needs --rpc-url and --block")
    if block < 0:
        raise IndexerError(f"--block must be >= 0, got {block}")
    chain_id = client.chain_id()
    if multicall is None:
        multicall = str(deployment(chain_id)["multicall3"]) if chain_id == 1 else MULTICALL3_ADDRESS
    parts = source.plan(chain_id, options)
    results, recs = [], []
    for part in parts:
        if part.from_block > block:
            raise IndexerError(f"{name}: --from-block {part.from_block} is after --block {block}")
        ctx = IndexContext(
            client,
            block,
            from_block=part.from_block,
            batch_size=batch_size,
            log_chunk=log_chunk,
            checkpoint_dir=target / CHECKPOINT_FOLDER / part.name,
            multicall_address=str(multicall),
            progress=progress,
            concurrency=concurrency,
        )
        tables, rec = part.run(ctx)
        results.append(tables)
        if rec is not None:
            recs.append(rec)
    bad = [r for r in recs if not r.ok]
    if strict and bad:
        raise ReconciliationError("\n".join(r.summary() for r in bad))
    return _write(target, results, recs)


def _write(
    target: Path, parts: Sequence[Mapping[str, pa.Table]], recs: list[Reconciliation]
) -> IndexResult:
    from indexers.base import combine_tables, write_tables

    tables = combine_tables(parts)
    dataset = write_tables(target, tables)
    rows = {k: t.num_rows for k, t in tables.items() if t.num_rows}
    return IndexResult(dataset, rows, recs)
