"""Curve StableSwap pools: coins, balances, A and fee at one block.

``coins(i)`` and ``balances(i)`` are read for i = 0, 1, ... until the call reverts (plain
pools hold two to four coins). ``A()`` is the amplification as the pool exposes it (newer
pools keep ``A * A_PRECISION`` inside and return ``A``); ``fee()`` is a fraction of 1e10
(``FEE_DENOMINATOR``). Balances are the pool's own accounting (``self.balances``), the
reserves its invariant prices with. ETH pools name ETH as
``0xEeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE``, which has no ERC-20 metadata: such pools are
refused with an error naming the coin.

Reference: Egorov, M. (2019). StableSwap - efficient mechanism for Stablecoin liquidity;
curvefi/curve-contract ``contracts/pools/3pool/StableSwap3Pool.vy``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

from indexers.abi import load_abi
from indexers.base import IndexContext
from indexers.errors import IndexerError
from indexers.pools import PoolRead, checked_addresses, pool_protocol_id, pool_tables
from indexers.rpc.multicall import Call
from indexers.sample_world.pools import Pool
from indexers.tokens import decode_all, read_tokens, uint

__all__ = ["MAX_COINS", "extract_curve", "index_curve"]

MAX_COINS = 8
_FEE_DENOMINATOR = 10**10
_ETH = "0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
_POOL = load_abi("curve_stableswap")


def extract_curve(ctx: IndexContext, pools: Sequence[str]) -> PoolRead:
    """Coins, balances, A and fee of each pool, and the coins' metadata."""
    addresses = checked_addresses("curve", pools)
    ctx.open_checkpoint({"source": "curve", "pools": addresses})
    coins, balances, a_fn, fee_fn = (_POOL.fn(n) for n in ("coins", "balances", "A", "fee"))
    calls = []
    for a in addresses:
        calls += [Call(a, a_fn.encode()), Call(a, fee_fn.encode())]
        calls += [Call(a, f.encode(i)) for i in range(MAX_COINS) for f in (coins, balances)]
    per_pool = 2 + 2 * MAX_COINS
    out = ctx.read("pools", calls)
    read = PoolRead()
    for n, a in enumerate(addresses):
        row = out[n * per_pool : (n + 1) * per_pool]
        amp = uint(row[0], f"A() on pool {a}")
        fee = uint(row[1], f"fee() on pool {a}")
        tokens, reserves = [], []
        for i in range(MAX_COINS):
            coin, bal = row[2 + 2 * i], row[3 + 2 * i]
            if coin is None or len(coin) < 32:
                break
            address = str(decode_all(["address"], coin, f"coins({i}) on pool {a}")[0]).lower()
            if address == _ETH:
                raise IndexerError(f"curve: pool {a} holds native ETH as coin {i}; not supported")
            tokens.append(address)
            reserves.append(uint(bal, f"balances({i}) on pool {a}"))
        if len(tokens) < 2:
            raise IndexerError(f"curve: pool {a} lists {len(tokens)} coins; is it a Curve pool?")
        if amp <= 0:
            raise IndexerError(f"curve: pool {a} reports A() = {amp}")
        read.pools.append(
            Pool(
                a,
                "",
                "stableswap",
                tuple(tokens),
                tuple(reserves),
                fee / _FEE_DENOMINATOR,
                amplification=float(amp),
            )
        )
    read.tokens = read_tokens(ctx, [t for p in read.pools for t in p.tokens])
    return read


def index_curve(
    ctx: IndexContext,
    *,
    pools: Sequence[str],
    prices: Mapping[str, float] | None = None,
    protocol_id: str | None = None,
) -> dict[str, pa.Table]:
    """Read and transform Curve StableSwap pools (tables are not written here)."""
    read = extract_curve(ctx, pools)
    meta = ctx.meta("curve")
    pid = protocol_id or pool_protocol_id("curve", meta.chain_id)
    return pool_tables(meta, "curve", read, protocol_id=pid, prices=prices)
