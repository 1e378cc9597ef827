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

References
----------
Egorov, M. (2019). StableSwap - efficient mechanism for Stablecoin liquidity.
Curve Finance, StableSwap3Pool.vy and StableSwapSTETH.vy: get_D, get_y, get_dy, exchange.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "FEE_DENOMINATOR",
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


def _d_float(x: NDArray[np.float64], ann: NDArray[np.float64]) -> NDArray[np.float64]:
    """D for many pools at once; x has shape (pools, n)."""
    n = x.shape[1]
    s = x.sum(axis=1)
    d = s.copy()
    for _ in range(_MAX_ITER):
        d_p = d.copy()
        for k in range(n):
            d_p = d_p * d / (x[:, k] * n)
        d_new = (ann * s + d_p * n) * d / ((ann - 1.0) * d + (n + 1) * d_p)
        if np.all(np.abs(d_new - d) <= 1e-12 * np.maximum(d_new, 1.0)):
            return d_new
        d = d_new
    raise ArithmeticError("StableSwap D did not converge")


def _d_scalar(x: list[float], ann: float) -> float:
    """D of one pool in plain floats (the iteration of :func:`_d_float`, without numpy's
    per-call cost, which dominates for a single pool of two to four coins)."""
    n = len(x)
    s = sum(x)
    d = s
    for _ in range(_MAX_ITER):
        d_p = d
        for xk in x:
            d_p = d_p * d / (xk * n)
        d_new = (ann * s + d_p * n) * d / ((ann - 1.0) * d + (n + 1) * d_p)
        if abs(d_new - d) <= 1e-12 * max(d_new, 1.0):
            return d_new
        d = d_new
    raise ArithmeticError("StableSwap D did not converge")


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


_ARB_TOL = 1e-12
_ROUNDING_FLOOR = 1e-10


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
    """

    balances: NDArray[np.float64]
    fees: NDArray[np.float64]
    sensitivity: NDArray[np.float64]
    gaps: NDArray[np.float64]


class _Arbitrage:
    """The equations of one pool arbitraged to market prices, for a given set of traded coins.

    Unknowns: log balances of the traded coins, log D₁ of the new balances and a level c.
    Equations (divided by Ann, or in log price, so that all are O(1)):

    * the new balances x lie on their own invariant: F(x, D₁) = 0;
    * a coin sold into the pool ends at log(marginal / market price) = c + h/2 and a coin
      bought from it at c - h/2, h = -log(1 - fee). Curve takes the fee on the output, so
      selling coin i for coin j pays (1 - fee) times the marginal price: traded pairs end on
      the edge of the no-arbitrage band and every other pair inside it;
    * the gross trade keeps the original invariant: F(u, D₀) = 0 with u = x for inputs and
      u = x₀ - (x₀ - x)/(1 - fee) for outputs, whose fee stays in the pool.

    Plain floats: the pools have two to four coins, where numpy's per-call cost dominates.
    """

    def __init__(self, x0: list[float], amp: float, log_price: list[float], fee: float) -> None:
        self.x0 = x0
        self.n = n = len(x0)
        self.ann = amp * n
        self.log_price = log_price
        self.gamma = 1.0 - fee
        self.h = -math.log1p(-fee)
        self.log_d0 = math.log(_d_scalar(x0, self.ann))
        self.log_nn = n * math.log(n)

    def gaps(self, lam: list[float], log_d: float) -> list[float]:
        """log(marginal price / market price) of each coin, up to a common constant."""
        rho = math.exp(self.n * log_d - self.log_nn - sum(lam))
        return [
            math.log(self.ann + rho * math.exp(log_d - lk)) - pk
            for lk, pk in zip(lam, self.log_price, strict=True)
        ]

    def equations(
        self, side: list[int], lam: list[float], log_d: float, c: float
    ) -> tuple[list[float], list[list[float]]] | None:
        """Residuals and Jacobian (None where the gross output would exceed the balance)."""
        n, ann, gamma = self.n, self.ann, self.gamma
        moved = [k for k in range(n) if side[k]]
        x = [math.exp(lk) for lk in lam]
        u = [
            x0k - (x0k - xk) / gamma if s < 0 else xk
            for x0k, xk, s in zip(self.x0, x, side, strict=True)
        ]
        if min(u) <= 0.0:
            return None
        inv_d = math.exp(-log_d)
        d0 = math.exp(self.log_d0)
        rho = math.exp(n * log_d - self.log_nn - sum(lam))
        rho_u = math.exp(n * self.log_d0 - self.log_nn - sum(math.log(uk) for uk in u))
        v = [rho * math.exp(log_d - lk) for lk in lam]  # ∂F/∂x_k - Ann
        residual = [sum(x) * inv_d - 1.0 + (1.0 - rho) / ann]
        residual += [
            math.log(ann + v[k]) - self.log_price[k] - c - side[k] * self.h / 2.0 for k in moved
        ]
        residual.append(sum(u) / d0 - 1.0 + (1.0 - rho_u) / ann)
        m = len(moved)
        first = [x[k] * inv_d + rho / ann for k in moved]
        first += [-sum(x) * inv_d - n * rho / ann, 0.0]
        rows = [first]
        for i, k in enumerate(moved):
            ratio = v[k] / (ann + v[k])
            row = [-ratio * (2.0 if j == i else 1.0) for j in range(m)]
            rows.append([*row, (n + 1) * ratio, -1.0])
        last = [
            (1.0 / d0 + rho_u / (ann * u[k])) * x[k] * (1.0 / gamma if side[k] < 0 else 1.0)
            for k in moved
        ]
        rows.append([*last, 0.0, 0.0])
        return residual, rows

    def guess(self, side: list[int]) -> list[float]:
        """Log balances from the one-dimensional problem that ignores the fee kept in the pool.

        Marginal prices proportional to the targets mean Ann + K/x_k = λ·P̃_k for the traded
        coins (P̃ the target moved half a fee band to its side), so x_k = K/(λ·P̃_k - Ann);
        K = D^(n+1)/(nⁿ·Πx) then has a closed form in λ and the invariant with D = D₀ is one
        equation, monotone in ζ = log(λ·min P̃ - Ann). Newton on the full system is erratic
        from the starting balances (the curve is nearly flat near the peg and steep away from
        it) and converges in a few steps from here.
        """
        n, ann = self.n, self.ann
        moved = [k for k in range(n) if side[k]]
        m = len(moved)
        target = [self.log_price[k] + side[k] * self.h / 2.0 for k in moved]
        target = [math.exp(t - min(target)) for t in target]
        fixed = [self.x0[k] for k in range(n) if not side[k]]
        log_const = (n + 1) * self.log_d0 - self.log_nn - sum(math.log(f) for f in fixed)
        d = math.exp(self.log_d0)
        scale = ann * d

        def phi(zeta: float) -> tuple[float, float, list[float]]:
            a = [(ann + math.exp(zeta)) * t - ann for t in target]
            k = math.exp((log_const + sum(math.log(ai) for ai in a)) / (m + 1))
            x = [k / ai for ai in a]
            dlogk = sum(t / ai for t, ai in zip(target, a, strict=True)) / (m + 1)
            value = ann * (sum(x) + sum(fixed)) + d - ann * d - k
            slope = ann * sum(xi * (dlogk - t / ai) for xi, t, ai in zip(x, target, a, strict=True))
            slope -= k * dlogk
            return value / scale, slope * math.exp(zeta) / scale, x

        # φ falls from +∞ to -∞ as ζ grows: bracket the root, then Newton kept inside it.
        lo, hi = math.log(n) - 2.0, math.log(n) + 2.0
        while phi(lo)[0] < 0.0:
            lo -= 4.0
        while phi(hi)[0] > 0.0:
            hi += 4.0
        zeta = 0.5 * (lo + hi)
        for _ in range(_MAX_ITER):
            value, slope, _ = phi(zeta)
            lo, hi = (zeta, hi) if value > 0.0 else (lo, zeta)
            step = -value / slope if slope < 0.0 else math.inf
            zeta = zeta + step if lo < zeta + step < hi else 0.5 * (lo + hi)
            if abs(step) < 1e-12 or hi - lo < 1e-12:
                break
        lam = [math.log(xk) for xk in self.x0]
        for k, xk in zip(moved, phi(zeta)[2], strict=True):
            lam[k] = math.log(xk)
        return lam

    def solve(
        self, side: list[int], lam: list[float]
    ) -> tuple[list[float], float, float, list[list[float]]]:
        """Damped Newton from log balances ``lam``: (lam, log D₁, c, Jacobian)."""
        moved = [k for k in range(self.n) if side[k]]
        log_d = self.log_d0
        gaps = self.gaps(lam, log_d)
        c = sum(gaps[k] - side[k] * self.h / 2.0 for k in moved) / len(moved)
        system = self.equations(side, lam, log_d, c)
        if system is None:
            raise ArithmeticError("StableSwap arbitrage: start outside the pool's balances")
        residual, jac = system
        for _ in range(_MAX_ITER):
            matrix = np.array(jac)
            step = np.linalg.solve(matrix, -np.array(residual))
            size = float(np.max(np.abs(step)))
            if size <= _ARB_TOL:
                return lam, log_d, c, jac
            # A step of more than e in a balance leaves the region where the linear model
            # holds; cut it back, then halve until the natural monotonicity test passes: the
            # next Newton correction, with this Jacobian, must be smaller than this one. Its
            # measure is affine invariant, unlike the residual's norm, whose rows (invariant
            # and log price) scale very differently (Deuflhard 2004, §3.2).
            t = min(1.0, 1.0 / max(float(np.max(np.abs(step[:-1]))), 1e-300))
            while True:
                trial = list(lam)
                for i, k in enumerate(moved):
                    trial[k] += t * float(step[i])
                trial_d, trial_c = log_d + t * float(step[-2]), c + t * float(step[-1])
                found = self.equations(side, trial, trial_d, trial_c)
                if found is not None:
                    following = np.linalg.solve(matrix, -np.array(found[0]))
                    if float(np.max(np.abs(following))) <= (1.0 - t / 4.0) * size:
                        break
                t /= 2.0
                if t < 1e-2 and math.hypot(*residual) <= _ROUNDING_FLOOR:
                    return lam, log_d, c, jac  # only rounding error is left
                if t < 1e-9:
                    raise ArithmeticError("StableSwap arbitrage did not converge")
            lam, log_d, c = trial, trial_d, trial_c
            residual, jac = found
        raise ArithmeticError("StableSwap arbitrage did not converge")


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
    is found by an active-set loop (a few solves at most for n ≤ 4).

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
    n = len(x0)
    if x0.ndim != 1 or n < 2 or prices.shape != (n,):
        raise ValueError("balances and target_prices must be two or more coins, same length")
    if not (np.all(x0 > 0) and np.all(np.isfinite(x0)) and np.all(prices > 0)):
        raise ValueError("balances and target prices must be positive and finite")
    if not 0.0 <= fee < 1.0:
        raise ValueError("fee must be in [0, 1)")
    system = _Arbitrage(x0.tolist(), float(amp), np.log(prices).tolist(), fee)
    lam0 = np.log(x0).tolist()
    gaps0 = system.gaps(lam0, system.log_d0)
    if max(gaps0) - min(gaps0) <= system.h + _ARB_TOL:
        return _with_sensitivity(system, [0] * n, lam0, system.log_d0, x0, near_edge)

    Solved = tuple[list[float], float, float, list[list[float]]]

    def settle(side: list[int], solved: Solved) -> tuple[list[int], Solved] | None:
        """Adjust the traded coins until consistent; None if a side runs empty."""
        for _ in range(4 * n):
            lam, log_d, c, _ = solved
            gap = system.gaps(lam, log_d)
            new_side = list(side)
            # An untouched coin must be inside the band; a traded one must trade its own way.
            for k in range(n):
                if side[k] == 0 and abs(gap[k] - c) > system.h / 2.0 + _ARB_TOL:
                    new_side[k] = 1 if gap[k] > c else -1
                elif side[k] * (lam[k] - lam0[k]) < 0.0:
                    new_side[k] = 0
            if new_side == side:
                return side, solved
            if 1 not in new_side or -1 not in new_side:
                return None
            side = new_side
            solved = system.solve(side, system.guess(side))
        return None

    settled = None
    if start is not None:
        previous = np.asarray(start, dtype=float)
        near = np.where(np.abs(previous - x0) > 1e-9 * x0, previous - x0, 0.0)
        side = [int(v) for v in np.sign(near)]
        if 1 in side and -1 in side:
            try:
                settled = settle(side, system.solve(side, np.log(previous).tolist()))
            except ArithmeticError:
                settled = None
    if settled is None:
        side = [0] * n
        side[int(np.argmax(gaps0))], side[int(np.argmin(gaps0))] = 1, -1
        settled = settle(side, system.solve(side, system.guess(side)))
    if settled is None:
        raise ArithmeticError("StableSwap arbitrage: the set of traded coins did not settle")
    side, (lam, log_d, _, _) = settled
    return _with_sensitivity(system, side, lam, log_d, x0, near_edge)


def _with_sensitivity(
    system: _Arbitrage,
    side: list[int],
    lam: list[float],
    log_d: float,
    x0: NDArray[np.float64],
    near_edge: float,
) -> StableswapTrade:
    """The trade with d balances / d log prices by the implicit-function theorem, coins
    within ``near_edge`` of the band of trading counted as traded."""
    n, h = system.n, system.h
    gaps = np.array(system.gaps(lam, log_d))
    top = gaps >= gaps.min() + h * (1.0 - near_edge)
    bottom = gaps <= gaps.max() - h * (1.0 - near_edge)
    near = [
        s
        if s or not near_edge
        else (1 if top[k] and not bottom[k] else -1 if bottom[k] and not top[k] else 0)
        for k, s in enumerate(side)
    ]
    x = np.exp(lam) if any(side) else x0.copy()
    sensitivity = np.zeros((n, n))
    moved = np.flatnonzero(near)
    if 1 in near and -1 in near:
        c = float(np.mean([gaps[k] - near[k] * h / 2.0 for k in moved]))
        found = system.equations(near, list(lam), log_d, c)
        if found is not None:
            m = len(moved)
            # d(unknowns)/d(log price): each traded coin's gap equation has -1 on its price.
            rhs = np.zeros((m + 2, n))
            rhs[1 + np.arange(m), moved] = 1.0
            d_unknowns = np.linalg.solve(np.array(found[1]), rhs)
            sensitivity[moved] = x[moved, None] * d_unknowns[:m]
    fees = np.where(np.array(side) < 0, (x0 - x) * (1.0 - system.gamma) / system.gamma, 0.0)
    return StableswapTrade(x, fees, sensitivity, gaps - gaps.mean())


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
