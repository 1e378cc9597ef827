"""What the AMM indexers (Uniswap v2, Uniswap v3, Curve) share: pool tokens and the tables.

A pool indexer reads its pools into :class:`indexers.sample_world.pools.Pool` values (token
addresses, base-unit reserves) and builds the ``pools`` and ``pool_ticks`` rows with the same
functions the sample world uses (:func:`~indexers.sample_world.pools.pool_fields`,
:func:`~indexers.sample_world.pools.tick_fields`), so an indexed pool and a sample-world pool
have the same units.

A pool names its tokens by ``asset_id``, which must have an ``assets`` row. Pools carry no
USD prices, so token rows come from elsewhere: from a lending market or Chainlink feeds
indexed into the same dataset first, or from ``prices`` given to the indexer (USD per whole
token by token address), which adds an ``assets`` row per priced token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pyarrow as pa

from indexers.base import Meta, chain_name, chains_rows
from indexers.errors import IndexerError
from indexers.sample_world.common import asset_id, rows_table
from indexers.sample_world.pools import Pool, pool_fields, tick_fields
from indexers.tokens import Token, asset_row

__all__ = ["PoolRead", "checked_addresses", "pool_protocol_id", "pool_tables"]

_NAMES = {"uniswap-v2": "Uniswap v2", "uniswap-v3": "Uniswap v3", "curve": "Curve StableSwap"}


class PoolRead:
    """Pools read from one source, their tokens and (concentrated pools) initialized ticks."""

    def __init__(self) -> None:
        self.pools: list[Pool] = []
        self.tokens: dict[str, Token] = {}
        self.ticks: dict[str, dict[int, tuple[int, int]]] = {}
        """pool address -> tick -> (liquidityNet, liquidityGross)."""


def pool_protocol_id(family: str, chain_id: int) -> str:
    """``uniswap-v2``, ``uniswap-v3``, ``curve`` on chain 1 (as in the sample world); the
    chain name is appended elsewhere."""
    return family if chain_id == 1 else f"{family}-{chain_name(chain_id)}"


def pool_tables(
    meta: Meta,
    family: str,
    read: PoolRead,
    *,
    protocol_id: str,
    prices: Mapping[str, float] | None = None,
) -> dict[str, pa.Table]:
    """``chains``, ``protocols``, ``pools``, ``pool_ticks`` and, for priced tokens, ``assets``.

    Raises
    ------
    IndexerError
        If a price is not a positive number.
    """
    cid = meta.chain_id
    wanted = {k.lower(): v for k, v in (prices or {}).items()}
    assets: list[dict[str, Any]] = []
    for address, price in sorted(wanted.items()):
        if address not in read.tokens:
            continue
        if not price > 0:
            raise IndexerError(f"{family}: price of token {address} must be > 0, got {price}")
        assets.append(asset_row(meta, read.tokens[address], float(price)))
    pools, ticks = [], []
    for p in read.pools:
        decimals = [read.tokens[t].decimals for t in p.tokens]
        ids = [asset_id(t, cid) for t in p.tokens]
        fields = pool_fields(replace(p, protocol_id=protocol_id), ids, decimals, cid)
        pools.append(meta.row(**fields))
        unit = 10 ** (sum(decimals) / 2)
        for t, (net, gross) in sorted(read.ticks.get(p.address, {}).items()):
            ticks.append(meta.row(**tick_fields(f"{cid}:{p.address}", t, net, gross, unit)))
    protocols = [
        meta.row(
            protocol_id=protocol_id, name=_NAMES[family], kind="dex", family=family, address=None
        )
    ]
    tables = {
        "chains": chains_rows(meta),
        "protocols": rows_table("protocols", protocols),
        "pools": rows_table("pools", pools),
        "pool_ticks": rows_table("pool_ticks", ticks),
    }
    if assets:
        tables["assets"] = rows_table("assets", assets)
    return tables


def checked_addresses(family: str, addresses: Sequence[str]) -> list[str]:
    """Lower-case pool addresses; IndexerError if none is given or one is malformed."""
    if not addresses:
        raise IndexerError(f"{family}: no pool addresses given (pass --address)")
    out = []
    for a in addresses:
        text = a.strip().lower()
        if len(text) != 42 or not text.startswith("0x") or not _is_hex(text[2:]):
            raise IndexerError(f"{family}: {a!r} is not a 0x-prefixed 20-byte address")
        out.append(text)
    return sorted(set(out))


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True
