"""Uniswap v2 pairs: token0, token1 and getReserves at one block.

A pair is a constant-product pool (x * y = k) with the 0.3 % fee taken from the input
(``UniswapV2Pair.swap`` checks ``balance * 1000 - amountIn * 3``), a constant of the
contract, not a value it stores. Reserves are ``getReserves()`` as the pair accounts them
(tokens sent without ``sync`` are not counted).

Reference: Adams, H., Zinsmeister, N. & Robinson, D. (2020). Uniswap v2 Core;
Uniswap/v2-core ``contracts/UniswapV2Pair.sol``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

from indexers.abi import load_abi
from indexers.base import IndexContext
from indexers.pools import PoolRead, checked_addresses, pool_protocol_id, pool_tables
from indexers.rpc.multicall import Call
from indexers.sample_world.pools import Pool
from indexers.tokens import decode_all, read_tokens

__all__ = ["UNISWAP_V2_FEE", "extract_uniswap_v2", "index_uniswap_v2"]

UNISWAP_V2_FEE = 0.003
_PAIR = load_abi("uniswap_v2_pair")
_FNS = [_PAIR.fn(n) for n in ("token0", "token1", "getReserves")]


def extract_uniswap_v2(ctx: IndexContext, pairs: Sequence[str]) -> PoolRead:
    """token0, token1 and reserves of each pair, and the tokens' metadata."""
    addresses = checked_addresses("uniswap-v2", pairs)
    ctx.open_checkpoint({"source": "uniswap-v2", "pairs": addresses})
    out = ctx.read("pairs", [Call(a, f.encode()) for a in addresses for f in _FNS])
    read = PoolRead()
    for i, a in enumerate(addresses):
        t0, t1, reserves = (
            decode_all(f.outputs, out[3 * i + j], f"{f.name}() on pair {a}")
            for j, f in enumerate(_FNS)
        )
        read.pools.append(
            Pool(
                a,
                "",
                "constant-product",
                (str(t0[0]).lower(), str(t1[0]).lower()),
                (int(reserves[0]), int(reserves[1])),
                UNISWAP_V2_FEE,
            )
        )
    read.tokens = read_tokens(ctx, [t for p in read.pools for t in p.tokens])
    return read


def index_uniswap_v2(
    ctx: IndexContext,
    *,
    pairs: Sequence[str],
    prices: Mapping[str, float] | None = None,
    protocol_id: str | None = None,
) -> dict[str, pa.Table]:
    """Read and transform Uniswap v2 pairs (tables are not written here)."""
    read = extract_uniswap_v2(ctx, pairs)
    meta = ctx.meta("uniswap-v2")
    pid = protocol_id or pool_protocol_id("uniswap-v2", meta.chain_id)
    return pool_tables(meta, "uniswap-v2", read, protocol_id=pid, prices=prices)
