"""Terra's market module: swaps through the virtual pool, and arbitrage that sells what it is paid.

See :mod:`contagion.stablecoins` for the rules and references.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    pass

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

SALE_IMPACT = 0.02
"""Relative impact of selling a market's 2 % depth (the square-root law's scale)."""


def virtual_pool_swaps(
    base_pool: ArrayLike,
    recovery_blocks: ArrayLike,
    n_blocks: ArrayLike,
    delta: ArrayLike,
    discount: ArrayLike,
    min_spread: ArrayLike,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Arbitrage through Terra's virtual pool over ``n_blocks`` blocks (:mod:`contagion.stablecoins`).

    Arbitrageurs swap coins for governance tokens while the marginal spread is below the
    coin's ``discount``: each block they fill the pool deviation up to
    ``δ* = B · (1/√(1 − d) − 1)``, then ``EndBlock`` lets ``δ / PoolRecoveryPeriod`` of it
    recover. Swaps start in the first block whose deviation is at or below ``δ*`` (the
    deviation left by earlier rounds may exceed it), and none happen while the discount is
    within ``min_spread``.

    Parameters
    ----------
    base_pool
        ``BasePool`` (USD at the peg).
    recovery_blocks
        ``PoolRecoveryPeriod`` (blocks).
    n_blocks
        Blocks in the round.
    delta
        ``TerraPoolDelta`` at the start of the round (USD at the peg).
    discount
        ``1 − price / peg`` of the coin.
    min_spread
        ``MinStabilitySpread``.

    Returns
    -------
    (offered, received, delta)
        USD of coins swapped (at the peg), USD of governance tokens received (at the oracle
        price, after the spread), and ``TerraPoolDelta`` after the round's last ``EndBlock``.

    Examples
    --------
    A pool of 100 with a 10-block recovery, a coin at 0.75 (δ* = 100·(1/√0.75 − 1) = 15.47)
    over 3 blocks: 15.47 in the first block, 1.547 in each of the next two.

    >>> offered, received, delta = virtual_pool_swaps(100.0, 10, 3, 0.0, 0.25, 0.005)
    >>> round(float(offered), 4), round(float(delta), 4)
    (18.5641, 13.923)
    """
    b, r, n, d0, disc, m = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (base_pool, recovery_blocks, n_blocks, delta,
                                               discount, min_spread))
    )  # fmt: skip
    q = 1.0 - 1.0 / r
    swapping = disc > m
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        target = np.where(
            swapping, b * (1.0 / np.sqrt(np.clip(1.0 - disc, 1e-300, None)) - 1.0), 0.0
        )
        # Blocks before the deviation left by earlier rounds has recovered down to the target.
        wait = np.where(
            d0 > target,
            np.ceil(
                np.log(np.where(target > 0, target / d0, 1.0)) / np.log(np.where(q > 0, q, 0.5))
            ),
            0.0,
        )
    wait = np.where(q <= 0, np.minimum(wait, 1.0), wait)  # recovery in one block
    active = swapping & (target > 0) & (wait < n)
    start = d0 * q ** np.where(active, wait, 0.0)
    first = np.where(active, np.maximum(target - start, 0.0), 0.0)
    steady_blocks = np.where(active, n - wait - 1.0, 0.0)
    step = target / r
    cp = b * b
    with np.errstate(divide="ignore", invalid="ignore"):
        got_first = np.minimum(first * (1.0 - m), cp / (b + start) - cp / (b + target))
        got_step = np.minimum(step * (1.0 - m), cp / (b + target * q) - cp / (b + target))
    offered = first + steady_blocks * step
    received = np.where(active, got_first + steady_blocks * got_step, 0.0)
    after = np.where(active, target * q, d0 * q**n)
    return (
        np.asarray(offered, dtype=float),
        np.asarray(np.maximum(received, 0.0), dtype=float),
        np.asarray(after, dtype=float),
    )


def profitable_pool_swaps(
    base_pool: ArrayLike,
    recovery_blocks: ArrayLike,
    n_blocks: ArrayLike,
    delta: ArrayLike,
    discount: ArrayLike,
    min_spread: ArrayLike,
    sale_depth_usd: ArrayLike,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """:func:`virtual_pool_swaps` by arbitrageurs who sell what they receive into a market.

    The governance tokens received are sold into a market ``sale_depth_usd`` deep (USD of
    sells that move it 2 %), whose marginal price after ``V`` USD of sales is
    ``exp(-0.02 · sqrt(V / D))`` of the oracle's (the square-root law of
    :mod:`contagion.clearing.external`). Arbitrage stops where the last coin stops paying:
    the pool fills as :func:`virtual_pool_swaps` does for the *effective* discount
    ``d' = 1 − (1 − d) / exp(-0.02 · sqrt(V(d') / D))``, ``V(d')`` being what those swaps
    receive. ``d'`` falls as ``V`` grows, so the root is unique; it is found by bisection.
    An infinite depth gives :func:`virtual_pool_swaps` exactly.

    Examples
    --------
    A coin at 0.75 whose governance token trades in a market 1 % of the pool deep swaps far
    less than with a free sale:

    >>> free, _, _ = virtual_pool_swaps(100.0, 10, 3, 0.0, 0.25, 0.005)
    >>> costly, _, _ = profitable_pool_swaps(100.0, 10, 3, 0.0, 0.25, 0.005, 1.0)
    >>> round(float(free), 2), round(float(costly), 2)
    (18.56, 13.81)
    """
    b, r, n, d0, disc, m, depth = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (base_pool, recovery_blocks, n_blocks, delta,
                                               discount, min_spread, sale_depth_usd))
    )  # fmt: skip
    free = np.isposinf(depth)
    if not (~free & (disc > m)).any():
        # No coin both trades beyond its spread and pays for the sale: the pool's own swaps.
        return virtual_pool_swaps(b, r, n, d0, disc, m)
    low, high = np.minimum(m, disc), disc.copy()
    for _ in range(60):
        mid = 0.5 * (low + high)
        _, got, _ = virtual_pool_swaps(b, r, n, d0, mid, m)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            kept = np.exp(-SALE_IMPACT * np.sqrt(np.where(depth > 0, got / depth, np.inf)))
            implied = np.where(kept > 0, 1.0 - (1.0 - disc) / kept, -np.inf)
        too_far = mid > implied
        high = np.where(too_far, mid, high)
        low = np.where(too_far, low, mid)
    effective = np.where(free, disc, low)
    return virtual_pool_swaps(b, r, n, d0, effective, m)
