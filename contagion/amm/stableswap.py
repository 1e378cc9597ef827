"""Curve StableSwap pools: the invariant, exact integer swaps and vectorised float prices.

The invariant for n coins with balances x_i (in a common 18-decimal precision) is

    A·nⁿ·Σx_i + D = A·D·nⁿ + D^(n+1) / (nⁿ·Πx_i)

The deployed contracts store ``A()`` = A·n^(n-1) and use ``Ann = A() · n``; the
``amplification`` column of the ``pools`` table is that on-chain ``A()`` value, and the
functions below follow the contracts' Newton iterations (``get_D``, ``get_y``) exactly, so an
integer swap here equals the chain's ``get_dy`` (fee taken on the output, in 1e10 units).

References
----------
Egorov, M. (2019). StableSwap - efficient mechanism for Stablecoin liquidity.
Curve Finance, StableSwap3Pool.vy and StableSwapSTETH.vy: get_D, get_y, get_dy.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["FEE_DENOMINATOR", "get_d", "get_y", "stableswap_out", "stableswap_price"]

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
