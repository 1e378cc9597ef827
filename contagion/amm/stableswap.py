"""Curve StableSwap pools: the invariant, exact integer swaps and vectorised float prices.

The invariant for n coins with balances x_i (in a common 18-decimal precision) is

    A·nⁿ·Σx_i + D = A·D·nⁿ + D^(n+1) / (nⁿ·Πx_i)

The deployed contracts store ``A()`` = A·n^(n-1) and use ``Ann = A() · n``; the
``amplification`` column of the ``pools`` table is that on-chain ``A()`` value, and the
functions below follow the contracts' Newton iterations (``get_D``, ``get_y``) exactly, so an
integer swap here equals the chain's ``get_dy`` (fee taken on the output, in 1e10 units).

:func:`stableswap_arbitrage` is the float trade an arbitrageur makes when market prices move
away from the pool's: balances move along the invariant until no pair of coins can be traded
at a profit after the fee, and the fee stays in the pool, so D never decreases.
:class:`StableswapArbitrage` makes it for many pools at once (vectorised over pools,
:mod:`contagion.amm.stableswap_newton`).

References
----------
Egorov, M. (2019). StableSwap - efficient mechanism for Stablecoin liquidity.
Curve Finance, StableSwap3Pool.vy and StableSwapSTETH.vy: get_D, get_y, get_dy, exchange.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from contagion.amm.stableswap_newton import ArbitragePools, arbitrage
from contagion.amm.stableswap_newton import float_d as _d_float

FloatArray = NDArray[np.float64]

__all__ = [
    "FEE_DENOMINATOR",
    "StableswapArbitrage",
    "StableswapTrade",
    "get_d",
    "get_y",
    "stableswap_arbitrage",
    "stableswap_out",
    "stableswap_price",
    "stableswap_trade_to_price",
]

FEE_DENOMINATOR = 10**10
_MAX_ITER = 255


def get_d(xp: list[int], amp: int) -> int:
    """The invariant D of balances ``xp`` (integer Newton iteration of the contracts)."""
    n = len(xp)
    s = sum(xp)
    if s == 0:
        return 0
    d = s
    ann = amp * n
    for _ in range(_MAX_ITER):
        d_p = d
        for x in xp:
            d_p = d_p * d // (x * n)
        d_prev = d
        d = (ann * s + d_p * n) * d // ((ann - 1) * d + (n + 1) * d_p)
        if abs(d - d_prev) <= 1:
            return d
    raise ArithmeticError("StableSwap get_D did not converge")


def get_y(i: int, j: int, x: int, xp: list[int], amp: int) -> int:
    """New balance of coin ``j`` when coin ``i``'s balance becomes ``x``, D held fixed."""
    n = len(xp)
    if i == j or not (0 <= i < n and 0 <= j < n):
        raise ValueError("i and j must be distinct coin indices")
    d = get_d(xp, amp)
    ann = amp * n
    c = d
    s = 0
    for k in range(n):
        if k == i:
            x_k = x
        elif k != j:
            x_k = xp[k]
        else:
            continue
        s += x_k
        c = c * d // (x_k * n)
    c = c * d // (ann * n)
    b = s + d // ann
    y = d
    for _ in range(_MAX_ITER):
        y_prev = y
        y = (y * y + c) // (2 * y + b - d)
        if abs(y - y_prev) <= 1:
            return y
    raise ArithmeticError("StableSwap get_y did not converge")


def stableswap_out(i: int, j: int, dx: int, xp: list[int], amp: int, fee: int) -> int:
    """Output of swapping ``dx`` of coin i for coin j (``get_dy``; fee in 1e10 units)."""
    y = get_y(i, j, xp[i] + dx, xp, amp)
    dy = xp[j] - y - 1
    return dy - dy * fee // FEE_DENOMINATOR


def stableswap_price(
    balances: ArrayLike, amp: ArrayLike, i: int = 0, j: int = 1
) -> NDArray[np.float64]:
    """Marginal price of coin i in units of coin j (dx_j/dx_i along the invariant), per pool.

    ``balances`` has shape (pools, n) in a common precision. Differentiating the invariant
    F(x) = Ann·Σx + D - Ann·D - D^(n+1)/(nⁿ·Πx) at fixed D gives
    price = (∂F/∂x_i) / (∂F/∂x_j) with ∂F/∂x_k = Ann + D^(n+1)/(nⁿ·Πx·x_k).
    """
    x = np.atleast_2d(np.asarray(balances, dtype=float))
    n = x.shape[1]
    ann = np.broadcast_to(np.asarray(amp, dtype=float), (x.shape[0],)) * n
    d = _d_float(x, ann)
    prod = np.prod(x, axis=1)
    term = d ** (n + 1) / (n**n * prod)
    result: NDArray[np.float64] = (ann + term / x[:, i]) / (ann + term / x[:, j])
    return result


@dataclass(frozen=True)
class StableswapTrade:
    """An arbitrageur's trade that brings a StableSwap pool to market prices (float).

    Attributes
    ----------
    balances
        Pool balances after the trade, the fee retained by the pool.
    fees
        Fee the pool kept on each coin (on the coins it paid out; 0 elsewhere).
    sensitivity
        ``sensitivity[k, j]`` = d balances[k] / d log target_prices[j] at the solution, the
        set of traded coins held fixed (implicit-function theorem on the equations solved).
    gaps
        log(marginal price / target price) of each coin at the new balances, less their
        mean: within ``-log(1 - fee)`` of each other, and traded pairs exactly that far apart.

    From :meth:`StableswapArbitrage.trade` every array has a leading axis over pools.
    """

    balances: NDArray[np.float64]
    fees: NDArray[np.float64]
    sensitivity: NDArray[np.float64]
    gaps: NDArray[np.float64]


class StableswapArbitrage:
    """Many StableSwap pools at their starting balances, arbitraged to market prices.

    What no price changes (the invariant D of each pool, its coins) is computed once, so a
    solver that prices the same pools many times in a round pays for it once; each call of
    :meth:`trade` brings every pool to its own market prices, all pools' Newton steps done
    together (:mod:`contagion.amm.stableswap_newton`).

    Parameters
    ----------
    balances
        Shape (pools, width): each pool's balances in a common unit such as whole tokens,
        all positive, NaN in the slots beyond its coins (two at least).
    amp
        Each pool's on-chain ``A()`` (the contracts use ``Ann = A() · n``).
    fee
        Each pool's swap fee as a fraction (``fee() / 1e10``).

    Examples
    --------
    A two-coin and a three-coin pool solved together, each as it would be alone:

    >>> nan = float("nan")
    >>> pools = StableswapArbitrage([[1e6, 1e6, nan], [1e6, 1e6, 1e6]], [100.0, 100.0], 0.0004)
    >>> trades = pools.trade([[1.0, 0.99, nan], [1.0, 0.99, 1.0]])
    >>> [round(float(b)) for b in trades.balances[0, :2]]
    [633568, 1368118]
    """

    def __init__(self, balances: ArrayLike, amp: ArrayLike, fee: ArrayLike) -> None:
        x0 = np.array(balances, dtype=float, ndmin=2)
        count = len(x0)
        amp_ = np.broadcast_to(np.asarray(amp, dtype=float), (count,))
        fee_ = np.broadcast_to(np.asarray(fee, dtype=float), (count,))
        has = ~np.isnan(x0)
        if x0.ndim != 2 or np.any(has.sum(axis=1) < 2):
            raise ValueError("balances must be two or more coins per pool")
        if not (np.all(x0[has] > 0) and np.all(np.isfinite(x0[has]))):
            raise ValueError("balances must be positive and finite")
        if not np.all((fee_ >= 0.0) & (fee_ < 1.0)):
            raise ValueError("fee must be in [0, 1)")
        self.pools = ArbitragePools(x0, amp_, fee_)
        self._last: tuple[FloatArray, float, bool, StableswapTrade] | None = None

    def __len__(self) -> int:
        return len(self.pools.n)

    def trade(
        self,
        target_prices: ArrayLike,
        *,
        start: ArrayLike | None = None,
        near_edge: float = 0.0,
        sensitivity: bool = True,
    ) -> StableswapTrade:
        """Every pool arbitraged to ``target_prices`` (see :func:`stableswap_arbitrage`).

        Parameters
        ----------
        target_prices
            Shape (pools, width): market prices of each pool's coins (ignored beyond them).
        start
            Shape (pools, width): balances of an earlier answer per pool (NaN rows: none).
        near_edge
            As in :func:`stableswap_arbitrage`.
        sensitivity
            Whether to compute the sensitivity (zeros otherwise: a caller that needs only
            the trade skips a linear solve per pool).

        Returns
        -------
        StableswapTrade
            Its arrays with a leading axis over pools: balances, fees and gaps (pools,
            width), NaN beyond each pool's coins; sensitivity (pools, width, width), 0 there.

        Raises
        ------
        ArithmeticError
            If Newton's method does not converge for some pool.
        """
        has = self.pools.has
        prices = np.array(target_prices, dtype=float, ndmin=2)
        if prices.shape != has.shape:
            raise ValueError("target_prices must have the balances' shape")
        if not np.all(prices[has] > 0):
            raise ValueError("target prices must be positive")
        previous = None if start is None else np.array(start, dtype=float, ndmin=2)
        if previous is not None and previous.shape != has.shape:
            raise ValueError("start must have the balances' shape")
        log_price = np.log(np.where(has, prices, 1.0))
        log_price -= log_price.max(axis=1, keepdims=True)  # only ratios matter
        # A pool whose prices are those of the last call has the last call's answer (if
        # that has the sensitivity when it is asked for).
        redo = np.ones(len(has), bool)
        last = self._last
        if last is not None and (last[1] != near_edge or (sensitivity and not last[2])):
            last = None
        if last is not None:
            redo = np.any(log_price != last[0], axis=1)
            if not redo.any():
                return last[3]
        rows = np.flatnonzero(redo)
        warm = None if previous is None else previous[rows]
        found = arbitrage(self.pools.take(rows), log_price[rows], warm, near_edge, sensitivity)
        if last is None or len(rows) == len(redo):
            trade = StableswapTrade(*found)
        else:
            kept = last[3]
            parts = (kept.balances, kept.fees, kept.sensitivity, kept.gaps)
            merged = [old.copy() for old in parts]
            for into, new in zip(merged, found, strict=True):
                into[rows] = new
            trade = StableswapTrade(*merged)
        self._last = (log_price, near_edge, sensitivity, trade)
        return trade


def stableswap_arbitrage(
    balances: ArrayLike,
    amp: float,
    target_prices: ArrayLike,
    fee: float,
    *,
    start: ArrayLike | None = None,
    near_edge: float = 0.0,
) -> StableswapTrade:
    """The trade that leaves no profitable arbitrage between a StableSwap pool and the market.

    An arbitrageur sells into the pool the coins it prices above the market and takes out
    those it prices below, until every pair's marginal price, after the fee, is within the
    no-arbitrage band ``(1 - fee) · p_i/p_j ≤ P_i/P_j``; traded pairs end on the band's
    edge. Trades move along the invariant D of the starting balances and the fee on each
    output stays in the pool (Curve's ``exchange``), so D never decreases. Which coins trade
    is found by an active-set loop (a few solves at most for n ≤ 4). One pool of
    :class:`StableswapArbitrage`.

    Parameters
    ----------
    balances
        Pool balances (n coins, a common unit such as whole tokens), all positive.
    amp
        The pool's on-chain ``A()`` (the contracts use ``Ann = A() · n``).
    target_prices
        Market price of each coin in any common unit (only ratios matter).
    fee
        Swap fee as a fraction (``fee() / 1e10``). The admin share stays in the balances
        too: Curve moves it out only when the admin claims it.
    start
        Balances of an earlier answer for nearby prices: Newton starts there and the same
        coins are tried first (a solver calling this repeatedly saves most of the work).
    near_edge
        Share of the fee band within which an untraded coin counts as traded in the
        sensitivity (on the side it would trade): the derivative a Newton solver wants
        from just inside an edge, where the one-sided slopes differ by the pool's depth.

    Returns
    -------
    StableswapTrade
        New balances, the fee kept per coin and the sensitivity to the target prices.

    Raises
    ------
    ArithmeticError
        If Newton's method does not converge.

    Examples
    --------
    A balanced pool whose second coin falls 1 % in the market takes in that coin until its
    marginal price, less the 4 bp fee, is the market's:

    >>> trade = stableswap_arbitrage([1e6, 1e6], 100.0, [1.0, 0.99], 0.0004)
    >>> [round(float(b)) for b in trade.balances]
    [633568, 1368118]
    >>> price = float(stableswap_price(trade.balances, 100.0, 1, 0)[0])
    >>> round(price * (1 - 0.0004), 9)
    0.99

    References
    ----------
    Egorov, M. (2019). StableSwap - efficient mechanism for Stablecoin liquidity.
    Curve Finance, StableSwap3Pool.vy: exchange (fee on the output, kept in the balances).
    """
    x0 = np.asarray(balances, dtype=float)
    prices = np.asarray(target_prices, dtype=float)
    if x0.ndim != 1 or len(x0) < 2 or prices.shape != x0.shape:
        raise ValueError("balances and target_prices must be two or more coins, same length")
    if not (np.all(x0 > 0) and np.all(np.isfinite(x0)) and np.all(prices > 0)):
        raise ValueError("balances and target prices must be positive and finite")
    warm = None if start is None else np.asarray(start, dtype=float)[None]
    one = StableswapArbitrage(x0[None], amp, fee).trade(
        prices[None], start=warm, near_edge=near_edge
    )
    return StableswapTrade(one.balances[0], one.fees[0], one.sensitivity[0], one.gaps[0])


def stableswap_trade_to_price(
    balances: ArrayLike, amp: float, target_prices: ArrayLike, fee: float
) -> NDArray[np.float64]:
    """Balances after arbitrage to ``target_prices`` (see :func:`stableswap_arbitrage`).

    Examples
    --------
    Prices already inside the fee band leave the pool as it is:

    >>> stableswap_trade_to_price([1e6, 1e6], 100.0, [1.0, 0.9999], 0.0004).tolist()
    [1000000.0, 1000000.0]
    """
    return stableswap_arbitrage(balances, amp, target_prices, fee).balances
