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
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "FEE_DENOMINATOR",
    "StableswapTrade",
    "get_d",
    "get_y",
    "stableswap_arbitrage",
    "stableswap_arbitrage_many",
    "stableswap_out",
    "stableswap_price",
    "stableswap_trade_to_price",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

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
    """D for many pools at once; x has shape (pools, coins), NaN where a pool has fewer."""
    has = np.isfinite(x)
    n = has.sum(axis=1)
    xs = np.where(has, x, 1.0)
    s = np.where(has, x, 0.0).sum(axis=1)
    d = s.copy()
    for _ in range(_MAX_ITER):
        d_p = d.copy()
        for k in range(x.shape[1]):
            d_p = np.where(has[:, k], d_p * d / (xs[:, k] * n), d_p)
        d_new = (ann * s + d_p * n) * d / ((ann - 1.0) * d + (n + 1) * d_p)
        if np.all(np.abs(d_new - d) <= 1e-12 * np.maximum(d_new, 1.0)):
            return np.asarray(d_new, dtype=np.float64)
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


@dataclass(frozen=True)
class _Pools:
    """Pools arbitraged together: per-pool constants, coins padded to a common width.

    The unknowns of a pool are the log balances of its coins, log D₁ of the new balances and
    a level c (:func:`_equations`); a coin that does not trade, and a padding slot, keeps its
    balance through an identity row, so every pool's system has the same size and one
    stacked ``np.linalg.solve`` does all pools' Newton steps at once.
    """

    has: NDArray[np.bool_]  # (pools, width): a coin in this slot
    x0: FloatArray  # starting balances, 1 in padding slots
    lam0: FloatArray  # their logs
    n: FloatArray  # coins per pool
    ann: FloatArray  # A()·n
    log_price: FloatArray  # log target prices, 0 in padding slots
    gamma: FloatArray  # 1 - fee
    h: FloatArray  # -log(1 - fee): the width of the no-arbitrage band in log price
    log_nn: FloatArray  # n·log(n)
    log_d0: FloatArray  # log D of the starting balances

    @classmethod
    def build(
        cls, x0: FloatArray, amp: FloatArray, log_price: FloatArray, fee: FloatArray
    ) -> _Pools:
        has = np.isfinite(x0)
        n = has.sum(axis=1).astype(float)
        ann = amp * n
        xs = np.where(has, x0, 1.0)
        return cls(
            has, xs, np.log(xs), n, ann, np.where(has, log_price, 0.0), 1.0 - fee,
            -np.log1p(-fee), n * np.log(n), np.log(_d_float(x0, ann)),
        )  # fmt: skip

    def take(self, rows: IntArray) -> _Pools:
        return _Pools(*(getattr(self, f.name)[rows] for f in fields(self)))

    def gaps(self, lam: FloatArray, log_d: FloatArray) -> FloatArray:
        """log(marginal price / market price) of each coin, up to a constant per pool."""
        rho = np.exp(self.n * log_d - self.log_nn - lam.sum(axis=1))
        marginal = self.ann[:, None] + rho[:, None] * np.exp(log_d[:, None] - lam)
        return np.asarray(np.log(marginal) - self.log_price)


def _masked(values: FloatArray, has: NDArray[np.bool_], reduce: str) -> FloatArray:
    """max, min or mean over each pool's coins, ignoring padding slots."""
    if reduce == "mean":
        return np.asarray(np.where(has, values, 0.0).sum(axis=1) / has.sum(axis=1))
    fill = -np.inf if reduce == "max" else np.inf
    return np.asarray(getattr(np.where(has, values, fill), reduce)(axis=1))


def _stacked_solve(matrix: FloatArray, rhs: FloatArray) -> FloatArray:
    """Solve stacked small systems (rhs: (pools, m, k)); NaN for a singular pool's system."""
    try:
        return np.asarray(np.linalg.solve(matrix, rhs), dtype=np.float64)
    except np.linalg.LinAlgError:
        out = np.full(rhs.shape, np.nan)
        for k in range(len(matrix)):
            try:
                out[k] = np.linalg.solve(matrix[k], rhs[k])
            except np.linalg.LinAlgError:
                continue
        return out


def _equations(
    pools: _Pools, side: IntArray, lam: FloatArray, log_d: FloatArray, c: FloatArray
) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
    """Residuals, Jacobians and which pools' gross trades stay within their balances.

    For the coins that trade (``side`` +1: sold into the pool, -1: bought from it), divided
    by Ann or in log price so that all are O(1):

    * the new balances x lie on their own invariant: F(x, D₁) = 0 (row ``width``);
    * a coin sold into the pool ends at log(marginal / market price) = c + h/2 and a coin
      bought from it at c - h/2, h = -log(1 - fee) (its own row). Curve takes the fee on the
      output, so selling coin i for coin j pays (1 - fee) times the marginal price: traded
      pairs end on the edge of the no-arbitrage band and every other pair inside it;
    * the gross trade keeps the original invariant: F(u, D₀) = 0 with u = x for inputs and
      u = x₀ - (x₀ - x)/(1 - fee) for outputs, whose fee stays in the pool (row
      ``width + 1``).

    Other coins and padding slots have identity rows (their balance stays).
    """
    count, width = lam.shape
    moved = side != 0
    has, ann, n = pools.has, pools.ann, pools.n
    x = np.exp(lam)
    u = np.where(side < 0, pools.x0 - (pools.x0 - x) / pools.gamma[:, None], x)
    ok = np.all(u > 0.0, axis=1)
    u = np.where(u > 0.0, u, 1.0)
    inv_d = np.exp(-log_d)
    d0 = np.exp(pools.log_d0)
    sum_x = np.where(has, x, 0.0).sum(axis=1)
    rho = np.exp(n * log_d - pools.log_nn - lam.sum(axis=1))
    rho_u = np.exp(n * pools.log_d0 - pools.log_nn - np.log(u).sum(axis=1))
    v = rho[:, None] * np.exp(log_d[:, None] - lam)  # ∂F/∂x_k - Ann
    target = pools.log_price + c[:, None] + side * pools.h[:, None] / 2.0
    residual = np.zeros((count, width + 2))
    residual[:, :width] = np.where(moved, np.log(ann[:, None] + v) - target, 0.0)
    residual[:, width] = sum_x * inv_d - 1.0 + (1.0 - rho) / ann
    residual[:, width + 1] = np.where(has, u, 0.0).sum(axis=1) / d0 - 1.0 + (1.0 - rho_u) / ann
    jac = np.zeros((count, width + 2, width + 2))
    ratio = np.where(moved, v / (ann[:, None] + v), 0.0)
    both = moved[:, :, None] & moved[:, None, :]
    jac[:, :width, :width] = np.where(both, -ratio[:, :, None] * (1.0 + np.eye(width)), 0.0)
    diagonal = np.arange(width)
    jac[:, diagonal, diagonal] = np.where(moved, jac[:, diagonal, diagonal], 1.0)
    jac[:, :width, width] = (n[:, None] + 1.0) * ratio
    jac[:, :width, width + 1] = -moved.astype(float)
    jac[:, width, :width] = np.where(moved, x * inv_d[:, None] + (rho / ann)[:, None], 0.0)
    jac[:, width, width] = -sum_x * inv_d - n * rho / ann
    du = x * np.where(side < 0, 1.0 / pools.gamma[:, None], 1.0)
    slope_u = 1.0 / d0[:, None] + rho_u[:, None] / (ann[:, None] * u)
    jac[:, width + 1, :width] = np.where(moved, slope_u * du, 0.0)
    return residual, jac, ok


def _guess(pools: _Pools, side: IntArray) -> FloatArray:
    """Log balances from the one-dimensional problem that ignores the fee kept in the pool.

    Marginal prices proportional to the targets mean Ann + K/x_k = λ·P̃_k for the traded
    coins (P̃ the target moved half a fee band to its side), so x_k = K/(λ·P̃_k - Ann);
    K = D^(n+1)/(nⁿ·Πx) then has a closed form in λ and the invariant with D = D₀ is one
    equation, monotone in ζ = log(λ·min P̃ - Ann), solved by Newton's method kept inside a
    bracket, for all pools at once. Newton on the full system is erratic from the starting
    balances (the curve is nearly flat near the peg and steep away from it) and converges in
    a few steps from here.
    """
    moved = side != 0
    ann, n = pools.ann[:, None], pools.n
    m = moved.sum(axis=1)
    shifted = pools.log_price + side * pools.h[:, None] / 2.0
    target = np.where(moved, np.exp(shifted - _masked(shifted, moved, "min")[:, None]), 1.0)
    fixed = ~moved & pools.has
    fixed_sum = np.where(fixed, pools.x0, 0.0).sum(axis=1)
    log_const = (n + 1.0) * pools.log_d0 - pools.log_nn - np.where(fixed, pools.lam0, 0.0).sum(1)
    d = np.exp(pools.log_d0)
    scale = pools.ann * d

    def phi(zeta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        a = np.where(moved, (ann + np.exp(zeta)[:, None]) * target - ann, 1.0)
        k = np.exp((log_const + np.log(a).sum(axis=1)) / (m + 1))
        x = k[:, None] / a
        per = np.where(moved, target / a, 0.0)
        dlogk = per.sum(axis=1) / (m + 1)
        value = (
            pools.ann * (np.where(moved, x, 0.0).sum(axis=1) + fixed_sum) + d - pools.ann * d - k
        )
        slope = pools.ann * np.where(moved, x * (dlogk[:, None] - per), 0.0).sum(axis=1)
        slope -= k * dlogk
        return value / scale, slope * np.exp(zeta) / scale, x

    # φ falls from +∞ to -∞ as ζ grows: bracket the root, then Newton kept inside it.
    lo, hi = np.log(n) - 2.0, np.log(n) + 2.0
    while np.any(low := phi(lo)[0] < 0.0):
        lo = np.where(low, lo - 4.0, lo)
    while np.any(high := phi(hi)[0] > 0.0):
        hi = np.where(high, hi + 4.0, hi)
    zeta = 0.5 * (lo + hi)
    running = np.ones(len(zeta), bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(_MAX_ITER):
            value, slope, _ = phi(zeta)
            lo = np.where(running & (value > 0.0), zeta, lo)
            hi = np.where(running & ~(value > 0.0), zeta, hi)
            step = np.where(slope < 0.0, -value / slope, np.inf)
            inside = (lo < zeta + step) & (zeta + step < hi)
            zeta = np.where(running, np.where(inside, zeta + step, 0.5 * (lo + hi)), zeta)
            running &= ~((np.abs(step) < 1e-12) | (hi - lo < 1e-12))
            if not running.any():
                break
    return np.where(moved, np.log(phi(zeta)[2]), pools.lam0)


_Solved = tuple[FloatArray, FloatArray, FloatArray, NDArray[np.bool_]]
"""Log balances, log D₁, c, and which pools converged."""


def _solve(pools: _Pools, side: IntArray, lam: FloatArray) -> _Solved:
    """Damped Newton from log balances ``lam``, all pools at once, each on its own path.

    A step of more than e in a balance leaves the region where the linear model holds; it
    is cut back, then halved until the natural monotonicity test passes: the next Newton
    correction, with this Jacobian, must be smaller than this one. Its measure is affine
    invariant, unlike the residual's norm, whose rows (invariant and log price) scale very
    differently (Deuflhard 2004, §3.2).
    """
    count, width = lam.shape
    moved = side != 0
    lam = np.where(moved, lam, pools.lam0)
    log_d = pools.log_d0.copy()
    with np.errstate(all="ignore"):
        c = _masked(pools.gaps(lam, log_d) - side * pools.h[:, None] / 2.0, moved, "mean")
        residual, jac, ok = _equations(pools, side, lam, log_d, c)
        running, done = ok.copy(), np.zeros(count, bool)
        for _ in range(_MAX_ITER):
            if not running.any():
                break
            step = _stacked_solve(jac, -residual[:, :, None])[:, :, 0]
            size = np.max(np.abs(step), axis=1)
            settled = running & (size <= _ARB_TOL)
            done |= settled
            running &= ~settled & np.isfinite(size)
            t = np.minimum(1.0, 1.0 / np.maximum(np.max(np.abs(step[:, :-1]), axis=1), 1e-300))
            trying = running.copy()
            new = (lam.copy(), log_d.copy(), c.copy(), residual.copy(), jac.copy())
            while trying.any():
                trial = (lam + t[:, None] * step[:, :width], log_d + t * step[:, width])
                found = _equations(pools, side, *trial, c + t * step[:, width + 1])
                following = _stacked_solve(jac, -found[0][:, :, None])[:, :, 0]
                accept = trying & found[2]
                accept &= np.max(np.abs(following), axis=1) <= (1.0 - t / 4.0) * size
                for old, value in zip(
                    new, (*trial, c + t * step[:, width + 1], *found[:2]), strict=True
                ):
                    old[accept] = value[accept]
                trying &= ~accept
                t = np.where(trying, t / 2.0, t)
                rounding = trying & (t < 1e-2)
                rounding &= np.sqrt(np.sum(residual**2, axis=1)) <= _ROUNDING_FLOOR
                failed = trying & ~rounding & (t < 1e-9)
                done |= rounding  # only rounding error is left
                running &= ~(rounding | failed)
                trying &= ~(rounding | failed)
            lam, log_d, c, residual, jac = new
    return lam, log_d, c, done


def _settle(pools: _Pools, side: IntArray, solved: _Solved) -> tuple[IntArray, _Solved]:
    """Adjust each pool's traded coins until consistent; ``ok`` False where a side runs
    empty or the set does not settle."""
    lam, log_d, c, ok = solved[0].copy(), solved[1].copy(), solved[2].copy(), solved[3].copy()
    side = side.copy()
    pending = ok.copy()
    h = pools.h[:, None]
    for attempt in range(4 * lam.shape[1] + 1):
        gap = pools.gaps(lam, log_d) - c[:, None]
        # An untouched coin must be inside the band; a traded one must trade its own way.
        enter = pools.has & (side == 0) & (np.abs(gap) > h / 2.0 + _ARB_TOL)
        new_side = np.where(enter, np.where(gap > 0.0, 1, -1), side)
        new_side = np.where((side != 0) & (side * (lam - pools.lam0) < 0.0), 0, new_side)
        pending &= np.any(new_side != side, axis=1)
        two_sided = np.any(new_side == 1, axis=1) & np.any(new_side == -1, axis=1)
        failed = pending & (~two_sided | (attempt >= 4 * pools.n))
        ok &= ~failed
        pending &= ~failed
        if not pending.any():
            break
        rows = np.flatnonzero(pending)
        sub, s = pools.take(rows), new_side[rows]
        lam[rows], log_d[rows], c[rows], good = _solve(sub, s, _guess(sub, s))
        side[rows] = s
        ok[rows] = good
        pending[rows] = good
    return side, (lam, log_d, c, ok)


def _sensitivity(
    pools: _Pools, side: IntArray, lam: FloatArray, log_d: FloatArray, near_edge: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Balances, d balances / d log prices by the implicit-function theorem (coins within
    ``near_edge`` of the band of trading counted as traded) and the gaps."""
    has, h = pools.has, pools.h[:, None]
    gaps = pools.gaps(lam, log_d)
    top = gaps >= _masked(gaps, has, "min")[:, None] + h * (1.0 - near_edge)
    bottom = gaps <= _masked(gaps, has, "max")[:, None] - h * (1.0 - near_edge)
    near = side
    if near_edge:
        near = np.where(side != 0, side, np.where(top & ~bottom, 1, np.where(bottom & ~top, -1, 0)))
        near = np.where(has, near, 0)
    x = np.where(side != 0, np.exp(lam), pools.x0)
    count, width = lam.shape
    sensitivity = np.zeros((count, width, width))
    rows = np.flatnonzero(np.any(near == 1, axis=1) & np.any(near == -1, axis=1))
    if len(rows):
        sub, s, moved = pools.take(rows), near[rows], near[rows] != 0
        c = _masked(gaps[rows] - s * sub.h[:, None] / 2.0, moved, "mean")
        _, jac, ok = _equations(sub, s, lam[rows], log_d[rows], c)
        # d(unknowns)/d(log price): each traded coin's gap equation has -1 on its price.
        rhs = np.zeros((len(rows), width + 2, width))
        rhs[:, np.arange(width), np.arange(width)] = moved
        d_unknowns = _stacked_solve(np.where(ok[:, None, None], jac, np.eye(width + 2)), rhs)
        sens = np.where(moved[:, :, None] & ok[:, None, None], x[rows][:, :, None], 0.0)
        sensitivity[rows] = sens * d_unknowns[:, :width]
    return x, sensitivity, gaps - _masked(gaps, has, "mean")[:, None]


def stableswap_arbitrage_many(
    balances: ArrayLike,
    amp: ArrayLike,
    target_prices: ArrayLike,
    fee: ArrayLike,
    *,
    start: ArrayLike | None = None,
    near_edge: float = 0.0,
) -> StableswapTrade:
    """:func:`stableswap_arbitrage` for many pools at once, each with its own coins.

    Parameters
    ----------
    balances
        Shape (pools, width): each pool's balances, NaN in the slots beyond its coins.
    amp, fee
        Per pool.
    target_prices
        Shape (pools, width): market prices of each pool's coins (ignored in NaN slots).
    start
        Shape (pools, width): balances of an earlier answer per pool (a row of NaN: none).
    near_edge
        As in :func:`stableswap_arbitrage`.

    Returns
    -------
    StableswapTrade
        Its arrays with a leading axis over pools: balances, fees and gaps (pools, width),
        NaN in padding slots; sensitivity (pools, width, width), 0 there.

    Raises
    ------
    ArithmeticError
        If Newton's method does not converge for some pool.

    Examples
    --------
    A two-coin and a three-coin pool solved together, as each would be alone:

    >>> nan = float("nan")
    >>> trades = stableswap_arbitrage_many(
    ...     [[1e6, 1e6, nan], [1e6, 1e6, 1e6]], [100.0, 100.0],
    ...     [[1.0, 0.99, nan], [1.0, 0.99, 1.0]], [0.0004, 0.0004],
    ... )  # fmt: skip
    >>> [round(float(b)) for b in trades.balances[0, :2]]
    [633568, 1368118]
    """
    x0 = np.array(balances, dtype=float, ndmin=2)
    prices = np.array(target_prices, dtype=float, ndmin=2)
    count, width = x0.shape
    amp_ = np.broadcast_to(np.asarray(amp, dtype=float), (count,))
    fee_ = np.broadcast_to(np.asarray(fee, dtype=float), (count,))
    has = ~np.isnan(x0)
    if x0.ndim != 2 or prices.shape != x0.shape or np.any(has.sum(axis=1) < 2):
        raise ValueError("balances and target_prices must be two or more coins, same length")
    if not (np.all(x0[has] > 0) and np.all(np.isfinite(x0[has])) and np.all(prices[has] > 0)):
        raise ValueError("balances and target prices must be positive and finite")
    if not np.all((fee_ >= 0.0) & (fee_ < 1.0)):
        raise ValueError("fee must be in [0, 1)")
    log_price = np.log(np.where(has, prices, 1.0))
    pools = _Pools.build(np.where(has, x0, np.nan), amp_, log_price, fee_)
    gaps0 = pools.gaps(pools.lam0, pools.log_d0)
    spread = _masked(gaps0, has, "max") - _masked(gaps0, has, "min")
    side = np.zeros((count, width), np.int64)
    lam, log_d = pools.lam0.copy(), pools.log_d0.copy()
    todo = spread > pools.h + _ARB_TOL
    if start is not None and todo.any():
        previous = np.array(start, dtype=float, ndmin=2)
        with np.errstate(invalid="ignore"):
            apart = has & (np.abs(previous - x0) > 1e-9 * x0)
        warm = np.where(apart, np.sign(previous - x0), 0).astype(np.int64)
        tried = todo & np.any(warm == 1, axis=1) & np.any(warm == -1, axis=1)
        rows = np.flatnonzero(tried)
        if len(rows):
            sub, s = pools.take(rows), warm[rows]
            first = _solve(sub, s, np.where(s != 0, np.log(np.abs(previous[rows])), sub.lam0))
            s, (lam_w, d_w, _, ok) = _settle(sub, s, first)
            side[rows[ok]], lam[rows[ok]], log_d[rows[ok]] = s[ok], lam_w[ok], d_w[ok]
            todo[rows[ok]] = False
    rows = np.flatnonzero(todo)
    if len(rows):
        sub = pools.take(rows)
        g = np.where(sub.has, gaps0[rows], np.nan)
        s = np.zeros((len(rows), width), np.int64)
        s[np.arange(len(rows)), np.nanargmax(g, axis=1)] = 1
        s[np.arange(len(rows)), np.nanargmin(g, axis=1)] = -1
        s, (lam_c, d_c, _, ok) = _settle(sub, s, _solve(sub, s, _guess(sub, s)))
        if not ok.all():
            raise ArithmeticError("StableSwap arbitrage did not converge")
        side[rows], lam[rows], log_d[rows] = s, lam_c, d_c
    x, sensitivity, gaps = _sensitivity(pools, side, lam, log_d, near_edge)
    gamma = pools.gamma[:, None]
    fees = np.where(side < 0, (pools.x0 - x) * (1.0 - gamma) / gamma, 0.0)
    pad = np.where(has, 0.0, np.nan)
    return StableswapTrade(x + pad, fees + pad, sensitivity, gaps + pad)


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
