"""Pools arbitraged to market prices, all pools of a kind at once, with their derivatives.

Given a pool's state at the start of a round and the market price of token0 in token1, an
arbitrageur trades it to the edge of the no-arbitrage band (nothing happens inside the band).
The clearing solver needs, for every pool, what it absorbed (token units, positive = the pool
took the token in) and the derivative of that with respect to the log market price; and, for
damping, the derivative it would have just outside the band (the *edge* slope), which is what
the pool will do once prices move far enough.

Constant product (Uniswap v2; :func:`contagion.amm.constant_product.trade_to_price`): selling x
until γ·x·y/x'² = P leaves x' = x + (√(γ·x·y/P) - x)/γ, y' = x·y/√(γ·x·y/P), γ = 1 - fee,
so dx'/dlog P = -√(γ·x·y/P)/(2γ) and dy'/dlog P = y'/2 (mirrored when y is sold).

Concentrated liquidity (Uniswap v3 whitepaper §6): the sqrt price moves to
``clip(√s, √(P·γ), √(P/γ))`` and the pool's amounts follow its book; the input also pays the
fee (amountIn = Δ/γ), which goes to the positions' fee accounts outside the book, so the book
(liquidity per range) never changes. Within a range of liquidity L, d token1/d log √P = L·√P
and d token0/d log √P = -L/√P.

References
----------
Adams, Zinsmeister, Robinson (2020). Uniswap v2 Core, §3.2.1.
Adams, Zinsmeister, Salem, Keefer, Robinson (2021). Uniswap v3 Core, §6.1-6.3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from contagion.amm.constant_product import trade_to_price
from contagion.clearing.pools import ConcentratedPools

__all__ = ["PoolMove", "concentrated_move", "constant_product_move"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class PoolMove:
    """Two-token pools after arbitrage to a price (arrays of shape (pools, 2)).

    ``slope`` and ``edge`` are per unit of log(price of token0 in token1); ``gap`` (per
    pool) is the pool's log price less the market's before the trade and ``band`` the fee
    band's half width: the pool trades once |gap| would exceed it.
    """

    absorbed: FloatArray
    slope: FloatArray
    edge: FloatArray
    fees: FloatArray
    gap: FloatArray
    band: FloatArray


def constant_product_move(
    reserves: FloatArray, fee: FloatArray, log_price: FloatArray, near_edge: float = 0.0
) -> tuple[FloatArray, PoolMove]:
    """New reserves of Uniswap v2 pools arbitraged to price exp(log_price) (token1/token0).

    A pool within ``near_edge`` (a share of its band) of an edge gets the slope of the side
    where it would trade: from just inside the edge the one-sided slopes differ by the
    pool's whole depth, and a Newton solver may want either.

    Examples
    --------
    A 100 ETH / 200,000 USDC pool (0.3 %) when ETH falls to 1,800 in the market:

    >>> new, move = constant_product_move(
    ...     np.array([[100.0, 200_000.0]]), np.array([0.003]), np.log([1_800.0])
    ... )
    >>> [round(float(v), 3) for v in new[0]]
    [105.267, 190021.907]
    >>> move.absorbed.round(3).tolist()
    [[5.267, -9978.093]]
    """
    x, y = reserves[:, 0], reserves[:, 1]
    gamma = 1.0 - fee
    nx, ny = trade_to_price(x, y, np.exp(log_price), fee)
    sold_x, sold_y = nx > x, ny > y
    eff_x = x + gamma * (nx - x)  # √(γ·x·y/P) when x was sold
    eff_y = y + gamma * (ny - y)
    gap = np.log(y / x) - log_price
    band = -np.log(gamma)
    sell_x = sold_x | (~sold_y & (gap >= band * (1.0 - near_edge)) & (near_edge > 0))
    sell_y = sold_y | (~sold_x & (gap <= -band * (1.0 - near_edge)) & (near_edge > 0))
    dx = np.where(sell_x, -eff_x / (2.0 * gamma), np.where(sell_y, -nx / 2.0, 0.0))
    dy = np.where(sell_x, ny / 2.0, np.where(sell_y, eff_y / (2.0 * gamma), 0.0))
    new = np.column_stack([nx, ny])
    fees = np.column_stack(
        [np.where(sold_x, fee * (nx - x), 0.0), np.where(sold_y, fee * (ny - y), 0.0)]
    )
    edge = np.column_stack([x / (2.0 * gamma), y / (2.0 * gamma)])
    slope = np.column_stack([dx, dy])
    return new, PoolMove(new - reserves, slope, edge, fees, gap, band)


def concentrated_move(
    pools: ConcentratedPools,
    index: IntArray,
    sqrt_price: FloatArray,
    log_price: FloatArray,
    near_edge: float = 0.0,
    start_amounts: tuple[FloatArray, FloatArray] | None = None,
) -> tuple[FloatArray, PoolMove]:
    """New sqrt prices of Uniswap v3 pools ``index`` arbitraged to exp(log_price).

    ``near_edge`` as in :func:`constant_product_move`; ``start_amounts`` are the pools'
    token0 and token1 at ``sqrt_price`` when already known (a solver pricing the same
    pools many times in a round reads their books there once).

    Examples
    --------
    One full range of L = 1,000 at √P = 1 is a constant-product pool with reserves 1,000 and
    1,000 (whitepaper eq. 6.5); at a market price of 0.9 it takes in token0:

    >>> from contagion.amm.concentrated import LiquidityBook
    >>> book = LiquidityBook.from_ticks([-887_270, 887_270], [1_000.0, -1_000.0])
    >>> pools = ConcentratedPools([[0, 1]], [1.0], [0.0], (book,))
    >>> s, move = concentrated_move(pools, np.array([0]), np.array([1.0]), np.log([0.9]))
    >>> round(float(s[0] ** 2), 12), move.absorbed.round(3).tolist()
    (0.9, [[54.093, -51.317]])
    """
    fee = pools.fee[index]
    half_band = -0.5 * np.log1p(-fee)
    log_s = np.log(sqrt_price)
    target = np.clip(log_s, 0.5 * log_price - half_band, 0.5 * log_price + half_band)
    flat = pools.flat
    lo, hi = flat.bounds[flat.first[index]], flat.bounds[flat.last[index]]
    new_s = np.clip(np.where(target == log_s, sqrt_price, np.exp(target)), lo, hi)
    moved = (target != log_s) & (new_s > lo) & (new_s < hi)
    a0, a1 = pools.amounts(index, sqrt_price)[:2] if start_amounts is None else start_amounts
    b0, b1, liq = pools.amounts(index, new_s)
    gamma = 1.0 - fee
    in0, in1 = b0 > a0, b1 > a1
    # The input pays the fee on top of what enters the book.
    absorbed = np.column_stack(
        [(b0 - a0) / np.where(in0, gamma, 1.0), (b1 - a1) / np.where(in1, gamma, 1.0)]
    )
    fees = np.column_stack(
        [np.where(in0, (b0 - a0) * fee / gamma, 0.0), np.where(in1, (b1 - a1) * fee / gamma, 0.0)]
    )
    # d log √P / d log P is 1/2 while the price is pinned to the band's edge.
    gap = 2.0 * log_s - log_price
    inner = (new_s > lo) & (new_s < hi) & ~moved & (near_edge > 0)
    near0 = inner & (gap >= 2.0 * half_band * (1.0 - near_edge))
    near1 = inner & (gap <= -2.0 * half_band * (1.0 - near_edge))
    in0, in1 = in0 | near0, in1 | near1
    d0 = -0.5 * liq / new_s / np.where(in0, gamma, 1.0)
    d1 = 0.5 * liq * new_s / np.where(in1, gamma, 1.0)
    slope = np.where((moved | near0 | near1)[:, None], np.column_stack([d0, d1]), 0.0)
    edge = np.column_stack([0.5 * liq / new_s / gamma, 0.5 * liq * new_s / gamma])
    return new_s, PoolMove(absorbed, slope, edge, fees, gap, 2.0 * half_band)
