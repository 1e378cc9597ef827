"""The contract every on-chain indexer follows, and the job that runs one.

An indexer is one module per source with three parts (the layering of ethereum-etl and
cryo's datasets):

* ``extract(ctx)``: reads the chain over RPC at ``ctx.block`` (Multicall3 batches, chunked
  ``eth_getLogs``) and returns plain Python values, no tables;
* ``transform(raw, ctx.meta)``: a pure function from those values to the data contract's
  tables (:mod:`contagion.schema`), with provenance (``source``, ``block_number``,
  ``timestamp``) on every row;
* the shared :func:`write_tables`: merges the tables into the dataset folder (rows of the
  same key are replaced, other rows kept), validates the whole dataset, and writes it
  atomically, so an interrupted write never leaves partial output.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from contagion.dataset import Dataset, load_dataset
from contagion.schema import TABLES
from indexers.abi import Event
from indexers.rpc.checkpoint import Checkpoint
from indexers.rpc.client import RpcClient
from indexers.rpc.logs import iter_logs
from indexers.rpc.multicall import MULTICALL3_ADDRESS, Call, Multicall
from indexers.sample_world.common import rows_table

__all__ = [
    "CHAIN_NAMES",
    "IndexContext",
    "Indexer",
    "Meta",
    "chain_name",
    "chains_rows",
    "combine_tables",
    "merge_tables",
    "scan_accounts",
    "write_tables",
]

CHAIN_NAMES = {1: "ethereum", 10: "optimism", 137: "polygon", 8453: "base", 42161: "arbitrum"}


def chain_name(chain_id: int) -> str:
    """``ethereum`` for 1 and the other chains the project ships configs for; else ``chain-N``."""
    return CHAIN_NAMES.get(chain_id, f"chain-{chain_id}")


@dataclass(frozen=True)
class Meta:
    """What every row's provenance needs: chain, block, its time, and the source name."""

    chain_id: int
    block: int
    timestamp: datetime
    source: str

    def row(self, **fields: Any) -> dict[str, Any]:
        """A row of this chain stamped with the block, its time and the source."""
        return {
            "chain_id": self.chain_id,
            **fields,
            "source": self.source,
            "block_number": self.block,
            "timestamp": self.timestamp,
        }


@dataclass
class IndexContext:
    """One run: the client, the block, batching and resume settings, progress callbacks.

    Parameters
    ----------
    client
        JSON-RPC client.
    block
        Block every state read is made at (and the last block of the log scan).
    from_block
        First block of the log scan (account discovery).
    batch_size
        Calls per Multicall3 ``aggregate3``.
    log_chunk
        Largest block span per ``eth_getLogs``.
    checkpoint_dir
        Folder for resume state (None: no checkpoints).
    multicall_address
        Multicall3 contract.
    progress
        ``progress(stage, done, total)`` is called as work completes (total may be None).
    concurrency
        Multicall3 requests in flight at once (the output does not depend on it).
    """

    client: RpcClient
    block: int
    from_block: int = 0
    batch_size: int = 500
    log_chunk: int = 2_000
    checkpoint_dir: Path | None = None
    multicall_address: str = MULTICALL3_ADDRESS
    progress: Callable[[str, int, int | None], None] | None = None
    concurrency: int = 1
    _checkpoint: Checkpoint | None = field(default=None, init=False, repr=False)
    _meta: Meta | None = field(default=None, init=False, repr=False)

    def open_checkpoint(self, key: dict[str, Any]) -> Checkpoint | None:
        """The checkpoint of this run (resumed if one with the same key exists)."""
        if self.checkpoint_dir is None:
            return None
        if self._checkpoint is None:
            full = {**key, "block": self.block, "from_block": self.from_block}
            self._checkpoint = Checkpoint(self.checkpoint_dir, full)
        return self._checkpoint

    @property
    def checkpoint(self) -> Checkpoint | None:
        return self._checkpoint

    def meta(self, source: str) -> Meta:
        """Chain id, block and block time read once per run."""
        if self._meta is None or self._meta.source != source:
            stamp = self.client.block_timestamp(self.block)
            self._meta = Meta(
                chain_id=self.client.chain_id(),
                block=self.block,
                timestamp=datetime.fromtimestamp(stamp, tz=UTC),
                source=source,
            )
        return self._meta

    def report(self, stage: str, done: int, total: int | None = None) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)

    def multicall(self, stage: str) -> Multicall:
        """A Multicall3 reader at the run's block whose batches advance ``stage``."""
        done = [0]

        def advance(n: int) -> None:
            done[0] += n
            self.report(stage, done[0], None)

        return Multicall(
            self.client,
            self.block,
            address=self.multicall_address,
            batch_size=self.batch_size,
            checkpoint=self._checkpoint,
            on_batch=advance,
            workers=self.concurrency,
        )

    def read(self, stage: str, calls: Sequence[Call]) -> list[bytes | None]:
        """Run ``calls`` through Multicall3, reporting progress against their number."""
        done = [0]
        mc = self.multicall(stage)

        def advance(n: int) -> None:
            done[0] += n
            self.report(stage, done[0], len(calls))

        mc.on_batch = advance
        self.report(stage, 0, len(calls))
        return mc.run(calls)


def scan_accounts(
    ctx: IndexContext,
    contract: str,
    events: Sequence[Event],
    accounts_of: Callable[[Event, dict[str, Any]], Iterable[str]],
) -> list[str]:
    """Accounts named by ``events`` of ``contract`` over ``[ctx.from_block, ctx.block]``.

    ``accounts_of(event, values)`` says which accounts one decoded log touches. The scan runs
    in adaptive ``eth_getLogs`` chunks (:func:`~indexers.rpc.logs.iter_logs`); after each
    chunk the accounts found so far and the last block scanned go to the run's checkpoint, so
    a resumed run scans only the rest of the range.
    """
    by_topic = {e.topic: e for e in events}
    cp = ctx.checkpoint
    accounts: set[str] = set(cp.accounts) if cp else set()
    start = ctx.from_block
    if cp is not None and cp.scanned_to is not None:
        start = cp.scanned_to + 1
    total = ctx.block - ctx.from_block + 1
    for _, hi, logs in iter_logs(
        ctx.client, [contract], list(by_topic), start, ctx.block, chunk=ctx.log_chunk
    ):
        for log in logs:
            event = by_topic.get(str(log["topics"][0]).lower())
            if event is not None:
                accounts.update(accounts_of(event, event.decode(log)))
        if cp is not None:
            cp.record_scan(hi, accounts)
        ctx.report("logs", hi - ctx.from_block + 1, total)
    return sorted(accounts)


class Indexer(Protocol):
    """What the registry needs of an indexer module's entry point."""

    name: str

    def __call__(self, ctx: IndexContext, **options: Any) -> dict[str, pa.Table]: ...


def chains_rows(meta: Meta) -> pa.Table:
    """The ``chains`` table: the indexed chain."""
    return rows_table("chains", [meta.row(name=chain_name(meta.chain_id), native_symbol="ETH")])


# Tables whose rows an indexer run states completely for what it indexed: a run that writes
# a protocol (or pool) replaces all of that protocol's (pool's) rows, so a position closed or
# a tick uninitialised since an earlier run does not linger. (table -> column, and the table
# and column of the run's new rows that say what it indexed.)
_SCOPED = {
    "lending_positions": ("protocol_id", "protocols", "protocol_id"),
    "lending_markets": ("protocol_id", "protocols", "protocol_id"),
    "oracle_usage": ("protocol_id", "protocols", "protocol_id"),
    "option_series": ("protocol_id", "protocols", "protocol_id"),
    "pool_ticks": ("pool_id", "pools", "pool_id"),
}


def merge_tables(existing: Dataset | None, new: Mapping[str, pa.Table]) -> dict[str, pa.Table]:
    """``existing`` tables with ``new`` rows added; a new row replaces the row of its key.

    For the tables in ``_SCOPED``, every existing row of a protocol (pool) that ``new``
    indexes is replaced, not only the rows of the same key.
    """
    merged: dict[str, pa.Table] = {}
    for name, spec in TABLES.items():
        old = existing.table(name) if existing is not None else spec.schema.empty_table()
        add = new.get(name)
        if add is None:
            add = spec.schema.empty_table()
        add = add.select(spec.column_names).cast(spec.schema)
        new_keys = set(zip(*(add.column(k).to_pylist() for k in spec.key), strict=True))
        keep = [
            k not in new_keys
            for k in zip(*(old.column(k).to_pylist() for k in spec.key), strict=True)
        ]
        scope = _SCOPED.get(name)
        if scope is not None and scope[1] in new:
            column, parent, parent_column = scope
            replaced = set(new[parent].column(parent_column).to_pylist())
            keep = [
                k and v not in replaced
                for k, v in zip(keep, old.column(column).to_pylist(), strict=True)
            ]
        kept = old.filter(pa.array(keep, type=pa.bool_())) if old.num_rows else old
        merged[name] = pa.concat_tables([kept, add]) if add.num_rows else kept
    return merged


def combine_tables(parts: Sequence[Mapping[str, pa.Table]]) -> dict[str, pa.Table]:
    """The tables of several indexer runs as one set; a later row replaces an earlier row of
    the same key (e.g. the chain row, or a feed two markets read)."""
    combined: dict[str, pa.Table] = {}
    for name, spec in TABLES.items():
        pieces = [p[name].select(spec.column_names).cast(spec.schema) for p in parts if name in p]
        pieces = [t for t in pieces if t.num_rows]
        if not pieces:
            continue
        table = pa.concat_tables(pieces)
        keys = list(zip(*(table.column(k).to_pylist() for k in spec.key), strict=True))
        last = {k: i for i, k in enumerate(keys)}
        keep = sorted(last.values())
        combined[name] = (
            table.take(pa.array(keep, type=pa.int64())) if len(keep) < len(keys) else table
        )
    return combined


def write_tables(out: str | os.PathLike[str], new: Mapping[str, pa.Table]) -> Dataset:
    """Merge ``new`` into the dataset at ``out`` (if any), validate, write atomically."""
    target = Path(out)
    existing = None
    if target.is_dir() and any((target / t).is_dir() for t in TABLES):
        existing = load_dataset(target)
    dataset = Dataset(merge_tables(existing, new))
    dataset.write(target)
    return dataset
