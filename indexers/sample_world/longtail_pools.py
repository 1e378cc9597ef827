"""Pools of the synthetic long-tail tokens, built vectorised and priced at the world's prices.

Every long-tail token gets the same 18 pools, 9 against WETH and 9 against USDC, on the
venues where Ethereum's long tail trades: Uniswap v2 and SushiSwap (constant product, fee
0.3 %), Uniswap v3 (0.05 %, 0.3 %, 1 %; tick spacings 10, 60, 200), SushiSwap v3 (0.3 %,
1 %) and PancakeSwap v3 (0.25 %, 1 %; tick spacings 50 and 200). Sizes are assumptions:

* a token's pools hold 2 % of its market capitalisation in all, two thirds of it against
  WETH; each pool's share is lognormal (log-sd 1);
* a constant-product pool holds half its value in each token, so its price is the ratio of
  the world's prices;
* a concentrated pool has 20 LP positions: one full-range, the others centred within about
  10 % of the price (normal, sd 10 %) with half-widths lognormal around 15 % (log-sd 0.8),
  aligned to the tick spacing, and liquidity lognormal (log-sd 1.5), scaled to the pool's
  value. ``sqrtPriceX96`` is the exact integer square root of the price in base units times
  2**192 and ``tick`` the greatest tick whose ``getSqrtRatioAtTick`` does not exceed it,
  as in the main Uniswap v3 pool (:mod:`.pools`).

Liquidity stays exact in integers without Python integers per position: each pool's
liquidities are ``mantissa * 10**e`` with int64 mantissas below 2**50 and one exponent per
pool, so tick sums and the active liquidity are exact int64 sums, written out with the
exponent's zeros appended.

References
----------
Adams, H. et al. (2021). Uniswap v3 Core (whitepaper), sections 6.1-6.3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from contagion.amm.concentrated import MAX_TICK, get_sqrt_ratio_at_tick
from contagion.schema import TABLES, UTC_SECONDS
from indexers.sample_world.catalog import (
    PANCAKESWAP_V3,
    SUSHISWAP,
    SUSHISWAP_V3,
    UNISWAP_V2,
    UNISWAP_V3,
    Catalog,
)
from indexers.sample_world.common import (
    CHAIN_ID,
    SNAPSHOT_BLOCK,
    SNAPSHOT_TIME,
    SYNTHETIC,
    raw_amounts,
    synthetic_address,
)

__all__ = ["POOLS_PER_TOKEN", "LongTailPools", "build_long_tail_pools"]

# (protocol, fee, tick spacing or 0 for a constant-product pair), per quote token.
_VENUES = (
    (UNISWAP_V2, 0.003, 0),
    (SUSHISWAP, 0.003, 0),
    (UNISWAP_V3, 0.0005, 10),
    (UNISWAP_V3, 0.003, 60),
    (UNISWAP_V3, 0.01, 200),
    (SUSHISWAP_V3, 0.003, 60),
    (SUSHISWAP_V3, 0.01, 200),
    (PANCAKESWAP_V3, 0.0025, 50),
    (PANCAKESWAP_V3, 0.01, 200),
)
_QUOTES = (("WETH", 2.0), ("USDC", 1.0))  # quote token, relative weight of its pools
POOLS_PER_TOKEN = len(_VENUES) * len(_QUOTES)
_TVL_SHARE_OF_MARKET_CAP = 0.02
_POOL_WEIGHT_LOG_SD = 1.0
_POSITIONS = 20
_TICK_BASE = math.log(1.0001)
_CENTER_SD = math.log(1.10) / _TICK_BASE
_HALF_WIDTH = math.log(1.15) / _TICK_BASE
_HALF_WIDTH_LOG_SD = 0.8
_LIQUIDITY_LOG_SD = 1.5
_MANTISSA_BITS = 50


@dataclass(frozen=True)
class LongTailPools:
    """The ``pools`` rows and ``pool_ticks`` rows of the long-tail pools, as Arrow tables."""

    pools: pa.Table
    ticks: pa.Table


def _tick_at(sqrt_price_x96: int) -> int:
    """Greatest tick whose TickMath sqrt ratio does not exceed ``sqrt_price_x96``."""
    tick = math.floor(2.0 * math.log(sqrt_price_x96 / 2**96) / _TICK_BASE)
    while tick < MAX_TICK and get_sqrt_ratio_at_tick(tick + 1) <= sqrt_price_x96:
        tick += 1
    while get_sqrt_ratio_at_tick(tick) > sqrt_price_x96:
        tick -= 1
    return tick


def _integer_strings(mantissa: NDArray[np.int64], zeros: NDArray[np.int64]) -> pa.Array:
    """Decimal strings of ``mantissa * 10**zeros`` (signed), without Python integers."""
    magnitude = pa.array(np.abs(mantissa).astype(np.uint64)).cast(pa.string())
    suffixes = pa.array(["0" * z for z in range(int(zeros.max(initial=0)) + 1)])
    digits = pc.binary_join_element_wise(magnitude, suffixes.take(pa.array(zeros)), "")
    digits = pc.if_else(pa.array(mantissa == 0), pa.scalar("0"), digits)
    sign = pc.if_else(pa.array(mantissa < 0), pa.scalar("-"), pa.scalar(""))
    return pc.binary_join_element_wise(sign, digits, "")


def build_long_tail_pools(catalog: Catalog, rng: np.random.Generator) -> LongTailPools:
    """The 18 pools of every long-tail token of ``catalog`` and their initialized ticks.

    Raises
    ------
    ValueError
        If ``catalog`` has no long-tail token.
    """
    tokens = catalog.long_tail
    if not tokens:
        raise ValueError("the catalog has no long-tail tokens")
    rows = [(t, q, w, v) for t in tokens for q, w in _QUOTES for v in _VENUES]
    n = len(rows)
    token_key = [r[0] for r in rows]
    quote_key = [r[1] for r in rows]
    protocol = [r[3][0] for r in rows]
    fee = np.array([r[3][1] for r in rows], dtype=float)
    spacing = np.array([r[3][2] for r in rows], dtype=np.int64)

    # Pool values: 2 % of the token's market capitalisation over its pools.
    weight = np.array([r[2] for r in rows]) * np.exp(_POOL_WEIGHT_LOG_SD * rng.standard_normal(n))
    cap = np.array([float((catalog[t].supply or 0) * catalog[t].price) for t in token_key])
    per_token = weight.reshape(len(tokens), POOLS_PER_TOKEN)
    share = (per_token / per_token.sum(axis=1, keepdims=True)).ravel()
    value = _TVL_SHARE_OF_MARKET_CAP * cap * share

    # Uniswap orders a pair's tokens by address.
    first = [
        catalog[t].address < catalog[q].address for t, q in zip(token_key, quote_key, strict=True)
    ]
    key0 = [t if f else q for t, q, f in zip(token_key, quote_key, first, strict=True)]
    key1 = [q if f else t for t, q, f in zip(token_key, quote_key, first, strict=True)]
    dec0 = np.array([catalog[k].decimals for k in key0], dtype=np.int64)
    dec1 = np.array([catalog[k].decimals for k in key1], dtype=np.int64)
    usd0 = np.array([catalog[k].price_usd for k in key0])
    usd1 = np.array([catalog[k].price_usd for k in key1])
    amount0 = value / 2.0 / usd0  # whole tokens, for the constant-product pairs
    amount1 = value / 2.0 / usd1

    concentrated = spacing > 0
    sqrt_x96 = np.zeros(n, dtype=object)
    tick = np.zeros(n, dtype=np.int64)
    for i in np.flatnonzero(concentrated).tolist():
        price = (
            catalog[key0[i]].price / catalog[key1[i]].price * Fraction(10) ** int(dec1[i] - dec0[i])
        )
        sqrt_x96[i] = math.isqrt(price.numerator * 2**192 // price.denominator)
        tick[i] = _tick_at(int(sqrt_x96[i]))

    ticks_table, liquidity_raw, liquidity_m, amounts = _positions(
        np.flatnonzero(concentrated), tick, spacing, sqrt_x96, dec0, dec1, usd0, usd1, value, rng
    )
    pool_index = np.flatnonzero(concentrated)
    amount0[pool_index], amount1[pool_index] = amounts

    raw0, float0 = raw_amounts(amount0, dec0)
    raw1, float1 = raw_amounts(amount1, dec1)
    address = [
        synthetic_address(f"sample-world:long-tail-pool:{t}:{q}:{v[0]}:{v[1]}")
        for t, q, _, v in rows
    ]
    ids = {k: catalog.id(k) for k in {*key0, *key1}}
    offsets = pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32))

    def pairs(a: pa.Array, b: pa.Array) -> pa.Array:
        interleaved = pa.concat_arrays([a, b]).take(
            pa.array(np.stack([np.arange(n), np.arange(n) + n], axis=1).ravel())
        )
        return pa.ListArray.from_arrays(offsets, interleaved)

    shift = (dec0 - dec1) / 2.0
    whole = np.power(10.0, (dec0 + dec1) / 2.0)
    root = np.array([int(s) / 2**96 if s else np.nan for s in sqrt_x96]) * np.power(10.0, shift)
    sqrt_raw = pa.array(
        [str(int(s)) if c else None for s, c in zip(sqrt_x96, concentrated, strict=True)]
    )
    liq_raw = pa.array(liquidity_raw, pa.string())
    pools = pa.table(
        {
            "chain_id": pa.array(np.full(n, CHAIN_ID, dtype=np.int64)),
            "pool_id": pa.array([f"{CHAIN_ID}:{a}" for a in address]),
            "protocol_id": pa.array(protocol, pa.string()),
            "address": pa.array(address, pa.string()),
            "kind": pa.array(np.where(concentrated, "concentrated-liquidity", "constant-product")),
            "token_asset_ids": pairs(
                pa.array([ids[k] for k in key0], pa.string()),
                pa.array([ids[k] for k in key1], pa.string()),
            ),
            "reserves_raw": pairs(raw0, raw1),
            "reserves": pairs(pa.array(float0), pa.array(float1)),
            "fee": pa.array(fee),
            "amplification": pa.nulls(n, pa.float64()),
            "sqrt_price_x96_raw": sqrt_raw,
            "sqrt_price": pa.array(np.where(concentrated, root, np.nan), from_pandas=True),
            "tick": pa.array(np.where(concentrated, tick, 0).astype(np.int32), mask=~concentrated),
            "tick_spacing": pa.array(spacing.astype(np.int32), mask=~concentrated),
            "liquidity_raw": liq_raw,
            "liquidity": pa.array(
                np.where(concentrated, liquidity_m / whole, np.nan), from_pandas=True
            ),
            "source": pa.repeat(pa.scalar(SYNTHETIC), n),
            "block_number": pa.repeat(pa.scalar(SNAPSHOT_BLOCK, pa.int64()), n),
            "timestamp": pa.repeat(pa.scalar(SNAPSHOT_TIME, UTC_SECONDS), n),
        },
        schema=TABLES["pools"].schema,
    )
    ticks = ticks_table.set_column(
        1, "pool_id", pa.array([f"{CHAIN_ID}:{a}" for a in address]).take(ticks_table["pool_id"])
    )
    return LongTailPools(pools, ticks.cast(TABLES["pool_ticks"].schema))


def _positions(
    pool: NDArray[np.int64],
    tick: NDArray[np.int64],
    spacing: NDArray[np.int64],
    sqrt_x96: NDArray[np.object_],
    dec0: NDArray[np.int64],
    dec1: NDArray[np.int64],
    usd0: NDArray[np.float64],
    usd1: NDArray[np.float64],
    value: NDArray[np.float64],
    rng: np.random.Generator,
) -> tuple[pa.Table, list[str | None], NDArray[np.float64], tuple[NDArray[np.float64], ...]]:
    """LP positions of the concentrated pools ``pool`` (indices into the per-pool arrays).

    Returns the ticks (``pool_id`` holding the pool index, to be mapped by the caller), each
    pool's active liquidity as a raw string (None for the pools that are not concentrated),
    the active liquidity as a float in raw units, and the token amounts the positions hold.
    """
    n_all = len(tick)
    m, k = len(pool), _POSITIONS
    ts = spacing[pool][:, None]
    max_tick = (MAX_TICK // ts) * ts
    center = tick[pool][:, None] + _CENTER_SD * rng.standard_normal((m, k))
    half = _HALF_WIDTH * np.exp(_HALF_WIDTH_LOG_SD * rng.standard_normal((m, k)))
    lower = np.floor((center - half) / ts).astype(np.int64) * ts
    upper = np.ceil((center + half) / ts).astype(np.int64) * ts
    upper = np.maximum(upper, lower + ts)
    # Every pool has a full-range position, so its price is always inside some liquidity.
    lower[:, 0], upper[:, 0] = -max_tick[:, 0], max_tick[:, 0]
    lower = np.clip(lower, -max_tick, max_tick - ts)
    upper = np.clip(upper, lower + ts, max_tick)
    weight = np.exp(_LIQUIDITY_LOG_SD * rng.standard_normal((m, k)))

    sqrt_p = np.array([int(s) / 2**96 for s in sqrt_x96[pool]], dtype=float)[:, None]
    sa, sb = np.power(1.0001, lower / 2.0), np.power(1.0001, upper / 2.0)
    s = np.clip(sqrt_p, sa, sb)
    per_l0, per_l1 = 1.0 / s - 1.0 / sb, s - sa  # raw token amounts per unit of liquidity
    unit_usd = (
        per_l0 / np.power(10.0, dec0[pool])[:, None] * usd0[pool][:, None]
        + per_l1 / np.power(10.0, dec1[pool])[:, None] * usd1[pool][:, None]
    )
    liquidity = weight * (value[pool] / (weight * unit_usd).sum(axis=1))[:, None]
    # One power of ten per pool keeps every mantissa below 2**50 (exact in float and int64).
    exponent = np.maximum(
        np.ceil(np.log10(liquidity.max(axis=1, initial=1.0) / 2.0**_MANTISSA_BITS)), 0
    ).astype(np.int64)
    mantissa = np.maximum(np.rint(liquidity / np.power(10.0, exponent)[:, None]), 1).astype(
        np.int64
    )
    exact = mantissa * np.power(10.0, exponent)[:, None]
    amount0 = (exact * per_l0).sum(axis=1) / np.power(10.0, dec0[pool])
    amount1 = (exact * per_l1).sum(axis=1) / np.power(10.0, dec1[pool])

    # Each position adds its liquidity at its lower tick and removes it at its upper tick.
    owner = np.repeat(np.arange(m), 2 * k)
    at = np.concatenate([lower, upper], axis=1).ravel()
    delta = np.concatenate([mantissa, -mantissa], axis=1).ravel()
    order = np.lexsort((at, owner))
    owner, at, delta = owner[order], at[order], delta[order]
    start = np.flatnonzero(np.r_[True, (owner[1:] != owner[:-1]) | (at[1:] != at[:-1])])
    net = np.add.reduceat(delta, start)
    gross = np.add.reduceat(np.abs(delta), start)
    t_owner, t_tick = owner[start], at[start]
    below = np.where(t_tick <= tick[pool][t_owner], net, 0)
    first_tick = np.flatnonzero(np.r_[True, t_owner[1:] != t_owner[:-1]])
    active = np.add.reduceat(below, first_tick)

    zeros = exponent[t_owner]
    whole = np.power(10.0, (dec0[pool] + dec1[pool]) / 2.0)[t_owner]
    scale = np.power(10.0, zeros)
    ticks = pa.table(
        {
            "chain_id": pa.array(np.full(len(net), CHAIN_ID, dtype=np.int64)),
            "pool_id": pa.array(pool[t_owner]),
            "tick": pa.array(t_tick.astype(np.int32)),
            "liquidity_net_raw": _integer_strings(net, zeros),
            "liquidity_net": pa.array(net * scale / whole),
            "liquidity_gross_raw": _integer_strings(gross, zeros),
            "liquidity_gross": pa.array(gross * scale / whole),
            "source": pa.repeat(pa.scalar(SYNTHETIC), len(net)),
            "block_number": pa.repeat(pa.scalar(SNAPSHOT_BLOCK, pa.int64()), len(net)),
            "timestamp": pa.repeat(pa.scalar(SNAPSHOT_TIME, UTC_SECONDS), len(net)),
        }
    )
    active_raw: list[str | None] = [None] * n_all
    for i, text in zip(pool.tolist(), _integer_strings(active, exponent).to_pylist(), strict=True):
        active_raw[i] = text
    active_float = np.full(n_all, np.nan)
    active_float[pool] = active * np.power(10.0, exponent)
    return ticks, active_raw, active_float, (amount0, amount1)
