"""Uniswap v3 pools: slot0, liquidity, fee, tickSpacing, and every initialized tick.

Initialized ticks are found as the pool itself tracks them: ``tickBitmap`` holds one bit per
usable tick, compressed by the spacing (``compressed = floor(tick / tickSpacing)``) and
packed 256 to a word (``wordPos = compressed >> 8``, ``bitPos = compressed & 255``;
``TickBitmap.position``). Every word between the words of ``MIN_TICK`` and ``MAX_TICK`` is
read through Multicall3, each set bit gives a tick, and ``ticks(tick)`` gives its
``liquidityGross`` and ``liquidityNet``. Reserves are the pool's ERC-20 balances
(``balanceOf(pool)`` of token0 and token1), which is what a swap can draw on.

Reference: Adams, H. et al. (2021). Uniswap v3 Core, sections 6.2-6.3;
Uniswap/v3-core ``contracts/libraries/TickBitmap.sol``, ``TickMath.sol`` (MIN_TICK = -887272).
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

__all__ = ["MAX_TICK", "MIN_TICK", "bitmap_words", "extract_uniswap_v3", "index_uniswap_v3"]

MIN_TICK = -887_272
MAX_TICK = 887_272
_FEE_UNIT = 1_000_000  # fee() is in hundredths of a basis point
_POOL = load_abi("uniswap_v3_pool")
_ERC20 = load_abi("erc20")
_FNS = [_POOL.fn(n) for n in ("token0", "token1", "fee", "tickSpacing", "slot0", "liquidity")]


def bitmap_words(tick_spacing: int) -> range:
    """Every ``tickBitmap`` word position a pool of ``tick_spacing`` can use.

    >>> bitmap_words(60)
    range(-58, 58)
    """
    if tick_spacing < 1:
        raise ValueError(f"tick spacing must be >= 1, got {tick_spacing}")
    return range((MIN_TICK // tick_spacing) >> 8, ((MAX_TICK // tick_spacing) >> 8) + 1)


def ticks_in_word(word: int, bits: int, tick_spacing: int) -> list[int]:
    """The initialized ticks a bitmap word's set bits stand for (ascending).

    >>> ticks_in_word(-1, (1 << 255) | 1, 10)
    [-2560, -10]
    """
    out = []
    while bits:
        low = bits & -bits
        out.append((word * 256 + low.bit_length() - 1) * tick_spacing)
        bits ^= low
    return out


def extract_uniswap_v3(ctx: IndexContext, pools: Sequence[str]) -> PoolRead:
    """State, balances and initialized ticks of each pool, and the tokens' metadata."""
    addresses = checked_addresses("uniswap-v3", pools)
    ctx.open_checkpoint({"source": "uniswap-v3", "pools": addresses})
    k = len(_FNS)
    out = ctx.read("pools", [Call(a, f.encode()) for a in addresses for f in _FNS])
    state = {}
    for i, a in enumerate(addresses):
        state[a] = [
            decode_all(f.outputs, out[k * i + j], f"{f.name}() on pool {a}")
            for j, f in enumerate(_FNS)
        ]
    balance_of = _ERC20.fn("balanceOf")
    pairs = [(a, str(state[a][j][0]).lower()) for a in addresses for j in (0, 1)]
    balances = ctx.read("balances", [Call(t, balance_of.encode(a)) for a, t in pairs])
    read = PoolRead()
    bitmap = _POOL.fn("tickBitmap")
    tick_fn = _POOL.fn("ticks")
    for i, a in enumerate(addresses):
        t0, t1, fee, spacing, slot0, liquidity = state[a]
        tick_spacing = int(spacing[0])
        if tick_spacing < 1:
            raise IndexerError(f"uniswap-v3: pool {a} reports tickSpacing {tick_spacing}")
        words = bitmap_words(tick_spacing)
        word_out = ctx.read("tick bitmap", [Call(a, bitmap.encode(w)) for w in words])
        ticks: list[int] = []
        for w, data in zip(words, word_out, strict=True):
            ticks.extend(ticks_in_word(w, uint(data, f"tickBitmap({w}) on pool {a}"), tick_spacing))
        tick_out = ctx.read("ticks", [Call(a, tick_fn.encode(t)) for t in ticks])
        found = {}
        for t, data in zip(ticks, tick_out, strict=True):
            info = decode_all(tick_fn.outputs, data, f"ticks({t}) on pool {a}")
            if not info[7]:
                raise IndexerError(
                    f"uniswap-v3: tick {t} of pool {a} is in the bitmap but not initialized"
                )
            found[t] = (int(info[1]), int(info[0]))
        read.ticks[a] = found
        read.pools.append(
            Pool(
                a,
                "",
                "concentrated-liquidity",
                (str(t0[0]).lower(), str(t1[0]).lower()),
                (
                    uint(balances[2 * i], f"balanceOf({a}) of token0"),
                    uint(balances[2 * i + 1], f"balanceOf({a}) of token1"),
                ),
                int(fee[0]) / _FEE_UNIT,
                sqrt_price_x96=int(slot0[0]),
                tick=int(slot0[1]),
                tick_spacing=tick_spacing,
                liquidity=int(liquidity[0]),
            )
        )
    read.tokens = read_tokens(ctx, [t for p in read.pools for t in p.tokens])
    return read


def index_uniswap_v3(
    ctx: IndexContext,
    *,
    pools: Sequence[str],
    prices: Mapping[str, float] | None = None,
    protocol_id: str | None = None,
) -> dict[str, pa.Table]:
    """Read and transform Uniswap v3 pools and their ticks (tables are not written here)."""
    read = extract_uniswap_v3(ctx, pools)
    meta = ctx.meta("uniswap-v3")
    pid = protocol_id or pool_protocol_id("uniswap-v3", meta.chain_id)
    return pool_tables(meta, "uniswap-v3", read, protocol_id=pid, prices=prices)
