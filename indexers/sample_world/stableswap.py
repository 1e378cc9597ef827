"""StableSwap invariant in float: the invariant D, marginal prices, balances for given prices.

The world uses it to make every Curve pool agree with the world's prices: either the balances
are chosen and the price follows (stETH/ETH), or the prices are given and the balances are
solved for (3pool, the modelled UST pool).

The invariant is written as the deployed contracts compute it, with ``Ann = A * n`` where
``A`` is the value the pool's ``A()`` returns (``A * n**(n-1)`` in the whitepaper's
notation); that on-chain ``A()`` is what the ``pools.amplification`` column holds::

    F(x, D) = Ann * sum(x) + D - Ann * D - D**(n+1) / (n**n * prod(x)) = 0

The marginal price of coin ``k`` in units of coin ``j`` is ``dF/dx_k / dF/dx_j`` with
``dF/dx_k = Ann + D**(n+1) / (n**n * prod(x) * x_k)``.

References
----------
Egorov, M. (2019). StableSwap - efficient mechanism for Stablecoin liquidity.
Curve Finance, ``StableSwap3Pool.vy``: ``get_D``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import root

__all__ = ["balances_for_prices", "stableswap_d", "stableswap_prices"]

_MAX_ITER = 255
_TOL = 1e-12


def stableswap_d(balances: Sequence[float] | NDArray[np.float64], amp: float) -> float:
    """Invariant D of ``balances`` (same-unit amounts) by Curve's Newton iteration.

    Raises
    ------
    ArithmeticError
        If the iteration does not converge (it does for any positive balances).

    Examples
    --------
    >>> round(stableswap_d([100.0, 100.0], 50.0), 9)
    200.0
    """
    x = np.asarray(balances, dtype=float)
    n = len(x)
    s = float(x.sum())
    if s == 0.0:
        return 0.0
    ann = amp * n
    d = s
    for _ in range(_MAX_ITER):
        d_p = d
        for xi in x:
            d_p = d_p * d / (xi * n)
        previous = d
        d = (ann * s + d_p * n) * d / ((ann - 1.0) * d + (n + 1) * d_p)
        if abs(d - previous) <= _TOL * d:
            return float(d)
    raise ArithmeticError("StableSwap invariant did not converge")


def stableswap_prices(
    balances: Sequence[float] | NDArray[np.float64], amp: float
) -> NDArray[np.float64]:
    """Marginal price of every coin in units of coin 0 (coin 0 itself is 1).

    A scarce coin is dearer: with balances ``[60, 40]`` coin 1 costs more than one coin 0.

    >>> bool(stableswap_prices([60.0, 40.0], 50.0)[1] > 1.0)
    True
    """
    x = np.asarray(balances, dtype=float)
    n = len(x)
    d = stableswap_d(x, amp)
    c = d ** (n + 1) / (n**n * float(np.prod(x)))
    ann = amp * n
    grad = ann + c / x
    result: NDArray[np.float64] = grad / grad[0]
    return result


def balances_for_prices(prices: Sequence[float], amp: float, d: float) -> NDArray[np.float64]:
    """Balances with invariant ``d`` whose marginal prices (in coin 0) are ``prices``.

    Parameters
    ----------
    prices
        Wanted price of each coin in units of coin 0 (``prices[0]`` must be 1).
    amp
        The pool's on-chain ``A()``.
    d
        Invariant to hold (about the pool's total balance when prices are near 1).

    Raises
    ------
    ArithmeticError
        If no balances reproduce the prices (they must lie within the curve's price range).
    """
    target = np.asarray(prices, dtype=float)
    n = len(target)
    if abs(target[0] - 1.0) > 1e-15:
        raise ValueError("prices are in units of coin 0, so prices[0] must be 1")

    ann = amp * n

    def residual(log_x: NDArray[np.float64]) -> NDArray[np.float64]:
        x = np.exp(log_x)
        c = d ** (n + 1) / (n**n * float(np.prod(x)))
        invariant = (ann * x.sum() + d - ann * d - c) / d
        grad = ann + c / x
        # Near the peg a price moves by only ~(c/x)/Ann per unit of log balance (1e-4 for the
        # 3pool); rescaling the price equations to O(1) keeps the solver's Jacobian sane.
        prices_off = (grad[1:] / grad[0] - target[1:]) * ann / (c / x[0])
        return np.concatenate([[invariant], prices_off])

    solution = root(residual, np.full(n, np.log(d / n)), method="hybr", tol=1e-14)
    if not solution.success or np.max(np.abs(residual(solution.x))) > 1e-10:
        raise ArithmeticError(f"no StableSwap balances for prices {list(target)}")
    result: NDArray[np.float64] = np.exp(solution.x)
    return result
