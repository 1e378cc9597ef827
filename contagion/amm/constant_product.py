"""Constant-product pools (Uniswap v2): x · y = k with the fee taken on the input.

Two forms of the same rule: the exact integer arithmetic of ``UniswapV2Library`` (what the
chain computes, used for test vectors and reconciliation) and a vectorised float form for the
solver, plus the closed-form trade that moves a pool to a target price (what an arbitrageur
does when the pool lags the market).

References
----------
Adams, Zinsmeister, Robinson (2020). Uniswap v2 Core, section 3.2.1 and
UniswapV2Library.getAmountOut / getAmountIn.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["get_amount_in", "get_amount_out", "swap_out", "trade_to_price"]

FEE_BPS_V2 = 30


def get_amount_out(
    amount_in: int, reserve_in: int, reserve_out: int, fee_bps: int = FEE_BPS_V2
) -> int:
    """Output of a swap in exact integer arithmetic (UniswapV2Library.getAmountOut).

    >>> get_amount_out(10**18, 5 * 10**18, 10 * 10**18)
    1662497915624478906
    """
    if amount_in <= 0:
        raise ValueError("amount_in must be positive")
    if reserve_in <= 0 or reserve_out <= 0:
        raise ValueError("reserves must be positive")
    amount_in_with_fee = amount_in * (10_000 - fee_bps)
    numerator = amount_in_with_fee * reserve_out
    denominator = reserve_in * 10_000 + amount_in_with_fee
    return numerator // denominator


def get_amount_in(
    amount_out: int, reserve_in: int, reserve_out: int, fee_bps: int = FEE_BPS_V2
) -> int:
    """Input needed for an exact output (UniswapV2Library.getAmountIn, rounded up)."""
    if amount_out <= 0:
        raise ValueError("amount_out must be positive")
    if reserve_in <= 0 or reserve_out <= amount_out:
        raise ValueError("insufficient liquidity")
    numerator = reserve_in * amount_out * 10_000
    denominator = (reserve_out - amount_out) * (10_000 - fee_bps)
    return numerator // denominator + 1


def swap_out(
    amount_in: ArrayLike, reserve_in: ArrayLike, reserve_out: ArrayLike, fee: ArrayLike = 0.003
) -> NDArray[np.float64]:
    """Vectorised float form of :func:`get_amount_out` (``fee`` as a fraction)."""
    a, x, y, f = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (amount_in, reserve_in, reserve_out, fee))
    )
    with_fee = a * (1.0 - f)
    out: NDArray[np.float64] = with_fee * y / (x + with_fee)
    return out


def trade_to_price(
    reserve_x: ArrayLike, reserve_y: ArrayLike, price: ArrayLike, fee: ArrayLike = 0.003
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Reserves after an arbitrageur trades the pool to the market price ``price`` (y per x).

    Selling ``dx`` with the fee on the input leaves ``x + γ·dx`` effective and
    ``y' = x·y / (x + γ·dx)``; the marginal output price is ``γ·x·y / (x + γ·dx)²``. The
    arbitrageur trades until it equals the market price, so nothing happens while the pool
    price is inside the no-arbitrage band ``[p·γ, p/γ]`` (γ = 1 - fee). Returns the new
    ``(reserve_x, reserve_y)``; ``x·y`` never decreases because the fee stays in the pool.
    """
    x, y, p, f = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (reserve_x, reserve_y, price, fee))
    )
    gamma = 1.0 - f
    sold_x, got_y = _sell_until(x, y, p, gamma)
    sold_y, got_x = _sell_until(y, x, 1.0 / p, gamma)
    sell_x = gamma * y / x > p
    sell_y = gamma * x / y > 1.0 / p
    new_x = np.where(sell_x, sold_x, np.where(sell_y, got_x, x))
    new_y = np.where(sell_x, got_y, np.where(sell_y, sold_y, y))
    return new_x, new_y


def _sell_until(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    p: NDArray[np.float64],
    gamma: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Reserves after selling x until the marginal output price is p (y per x)."""
    effective = np.maximum(np.sqrt(gamma * x * y / p), x)
    dx = (effective - x) / gamma
    return x + dx, x * y / effective
