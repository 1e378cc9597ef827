"""The oracle feeds of a dataset as arrays: what each feed is and what it reads.

:class:`FeedBook` is the static side of ``oracle_feeds`` (kinds as integer codes, Chainlink
triggers, TWAP windows, OSM hops, the composites' sources in evaluation order); the rules
that move the answers round by round are in :mod:`contagion.oracles.rules`.
"""

from __future__ import annotations

from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from contagion.exceptions import SchemaError
from contagion.schema import FEED_KINDS

if TYPE_CHECKING:
    from contagion.dataset import Dataset

__all__ = ["KIND", "FeedBook", "exchange_rates"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

KIND = {kind: code for code, kind in enumerate(FEED_KINDS)}
"""Integer code of each feed kind (``FeedBook.kind`` holds these)."""
_CHAINLINK, _TWAP, _COMPOSITE = KIND["chainlink"], KIND["twap"], KIND["composite"]
_FIXED, _MARKET, _DELAYED, _RATE = (
    KIND["fixed"],
    KIND["market"],
    KIND["delayed"],
    KIND["exchange-rate"],
)


def _optional(table: pa.Table, name: str) -> FloatArray:
    """A nullable numeric column as floats with NaN for null (NaN if the column is absent)."""
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    values = table.column(name).to_pandas().to_numpy(dtype=float, na_value=np.nan)
    return np.asarray(values, dtype=float)


@dataclass(frozen=True, eq=False)
class FeedBook:
    """Static description of every feed, as arrays in ``oracle_feeds`` row order.

    Attributes
    ----------
    feed_ids, descriptions
        Per feed, for reporting (descriptions are on-chain text).
    kind
        Code of the feed kind (see :data:`KIND`).
    base, quote
        Asset index of the priced asset and of the quote asset (-1 for ``'USD'``).
    decimals
        Answer decimals.
    heartbeat_s, deviation
        Chainlink triggers: seconds, and a fraction (``deviation_bps / 1e4``); ``inf`` where the
        feed has no such trigger.
    twap_window_s, delay_s
        TWAP window and OSM hop, seconds (NaN for other kinds).
    level
        0 for a non-composite; 1 + the deepest level of its sources for a composite.
    composite_order
        The composite feeds sorted by level, so sources compute before composites;
        ``composite_order[level_ptr[k]:level_ptr[k + 1]]`` are the composites of level k + 1.
    level_ptr
        Start of each level in ``composite_order`` (and a final end).
    source_indptr, source_indices
        Composite sources in CSR form over ``composite_order``: composite
        ``composite_order[j]`` multiplies the answers of
        ``source_indices[source_indptr[j]:source_indptr[j + 1]]`` (feed indices).
    fixed_answer
        The constant of a fixed feed (NaN for others).
    initial
        Answer at the snapshot.
    twap_feeds
        Indices of the TWAP feeds (the columns of ``FeedState.obs_cum``).
    """

    feed_ids: tuple[str, ...]
    descriptions: tuple[str, ...]
    kind: IntArray
    base: IntArray
    quote: IntArray
    decimals: IntArray
    heartbeat_s: FloatArray
    deviation: FloatArray
    twap_window_s: FloatArray
    delay_s: FloatArray
    level: IntArray
    composite_order: IntArray
    level_ptr: IntArray
    source_indptr: IntArray
    source_indices: IntArray
    fixed_answer: FloatArray
    initial: FloatArray
    twap_feeds: IntArray

    def __len__(self) -> int:
        return len(self.feed_ids)

    def index(self, feed_ids: list[str] | tuple[str, ...]) -> IntArray:
        """Positions of ``feed_ids`` in the book; KeyError naming the first unknown one."""
        where = {f: i for i, f in enumerate(self.feed_ids)}
        missing = [f for f in feed_ids if f not in where]
        if missing:
            raise KeyError(f"unknown feed {missing[0]!r}")
        return np.array([where[f] for f in feed_ids], dtype=np.int64)

    @classmethod
    def from_dataset(cls, dataset: Dataset, asset_ids: list[str] | tuple[str, ...]) -> FeedBook:
        """The feeds of ``dataset`` with assets numbered as in ``asset_ids``.

        Examples
        --------
        >>> import contagion
        >>> ds = contagion.sample_world(positions=200)
        >>> ids = ds.table("assets").column("asset_id").to_pylist()
        >>> book = FeedBook.from_dataset(ds, ids)
        >>> len(book) == ds.table("oracle_feeds").num_rows
        True
        """
        return cls.from_table(dataset.table("oracle_feeds"), asset_ids)

    @classmethod
    def from_table(cls, table: pa.Table, asset_ids: list[str] | tuple[str, ...]) -> FeedBook:
        """The feeds of an ``oracle_feeds``-shaped table (``delay_s`` and the trigger
        columns may be absent).

        Raises
        ------
        SchemaError
            A composite without sources, with an unknown source or on a cycle of composites;
            a twap feed without a window or a delayed feed without a delay.
        KeyError
            A base or quote asset missing from ``asset_ids``.
        """
        col = table.column
        feed_ids = tuple(str(f) for f in col("feed_id").to_pylist())
        asset_pos = {a: i for i, a in enumerate(asset_ids)}

        def asset_index(ids: list[str], usd_ok: bool) -> IntArray:
            missing = [a for a in ids if a not in asset_pos and not (usd_ok and a == "USD")]
            if missing:
                raise KeyError(f"feed asset {missing[0]!r} is not in asset_ids")
            return np.array([-1 if a == "USD" else asset_pos[a] for a in ids], dtype=np.int64)

        kinds = col("kind").to_pylist()
        kind = np.array([KIND[k] for k in kinds], dtype=np.int64)
        twap = _optional(table, "twap_window_s")
        delay = _optional(table, "delay_s")
        for code, values, column in ((_TWAP, twap, "twap_window_s"), (_DELAYED, delay, "delay_s")):
            bad = np.flatnonzero((kind == code) & ~(values > 0))
            if bad.size:
                raise SchemaError(
                    f"feed {feed_ids[bad[0]]} needs a positive {column}",
                    table="oracle_feeds",
                    column=column,
                    rows=bad.tolist(),
                )
        level, order, level_ptr, indptr, indices = _composites(
            feed_ids, kind, col("source_feed_ids").to_pylist()
        )
        heartbeat = _optional(table, "heartbeat_s")
        deviation = _optional(table, "deviation_bps") / 1e4
        initial = np.asarray(col("answer").to_numpy(), dtype=float)
        return cls(
            feed_ids=feed_ids,
            descriptions=tuple(str(d) for d in col("description").to_pylist()),
            kind=kind,
            base=asset_index(col("base_asset_id").to_pylist(), usd_ok=False),
            quote=asset_index(col("quote").to_pylist(), usd_ok=True),
            decimals=np.asarray(col("decimals").to_numpy(), dtype=np.int64),
            heartbeat_s=np.where(np.isnan(heartbeat), np.inf, heartbeat),
            deviation=np.where(np.isnan(deviation), np.inf, deviation),
            twap_window_s=np.where(kind == _TWAP, twap, np.nan),
            delay_s=np.where(kind == _DELAYED, delay, np.nan),
            level=level,
            composite_order=order,
            level_ptr=level_ptr,
            source_indptr=indptr,
            source_indices=indices,
            fixed_answer=np.where(kind == _FIXED, initial, np.nan),
            initial=initial,
            twap_feeds=np.flatnonzero(kind == _TWAP),
        )


def _composites(
    feed_ids: tuple[str, ...], kind: IntArray, sources: list[list[str] | None]
) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray]:
    """Levels, evaluation order and source CSR of the composites (setup, run once)."""
    where = {f: i for i, f in enumerate(feed_ids)}
    lists: dict[int, list[int]] = {}
    for i in np.flatnonzero(kind == _COMPOSITE).tolist():
        src = sources[i] or []
        unknown = [s for s in src if s not in where]
        if not src or unknown:
            problem = f"reads unknown feed {unknown[0]}" if unknown else "has no source feeds"
            raise SchemaError(
                f"composite feed {feed_ids[i]} {problem}",
                table="oracle_feeds",
                column="source_feed_ids",
                rows=[i],
            )
        lists[i] = [where[s] for s in src]
    try:
        topo = list(TopologicalSorter(lists).static_order())
    except CycleError as err:
        cycle = " -> ".join(feed_ids[i] for i in err.args[1])
        raise SchemaError(
            f"composite feeds form a cycle: {cycle}", table="oracle_feeds", column="source_feed_ids"
        ) from None
    level = np.zeros(len(feed_ids), dtype=np.int64)
    for i in topo:
        if i in lists:
            level[i] = 1 + max(int(level[s]) for s in lists[i])
    order = np.array(sorted(lists, key=lambda i: (level[i], i)), dtype=np.int64)
    depth = int(level.max(initial=0))
    level_ptr = np.searchsorted(level[order], np.arange(1, depth + 2)).astype(np.int64)
    indptr = np.zeros(order.size + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(lists[i]) for i in order.tolist()])
    indices = np.array([s for i in order.tolist() for s in lists[i]], dtype=np.int64)
    return level, order, level_ptr, indptr, indices


def exchange_rates(dataset: Dataset, asset_ids: list[str] | tuple[str, ...]) -> FloatArray:
    """Snapshot redemption rates from ``wrappers`` (1 for assets that wrap nothing)."""
    wrappers = dataset.table("wrappers")
    rate = dict(
        zip(
            wrappers.column("asset_id").to_pylist(),
            wrappers.column("exchange_rate").to_pylist(),
            strict=True,
        )
    )
    return np.array([float(rate.get(a, 1.0)) for a in asset_ids])
