"""Pool depth at 2% slippage: how much of a token a pool absorbs before its price moves 2%.

For every pool and token, the amount of the token sold into the pool (fee included) that
lowers the token's pool price by ``slippage``, with the exact curve of the pool kind:

* **constant product** (Uniswap v2): the closed-form sale of :func:`~contagion.amm.trade_to_price`
  to a marginal output price ``(1 - slippage)`` times the current one;
* **concentrated liquidity** (Uniswap v3): the token the pool's :class:`LiquidityBook` takes in
  between the current sqrt price and ``sqrt(1 - slippage)`` times it (across initialized ticks),
  grossed up by the fee;
* **StableSwap** (Curve): the sale of coin ``i`` for the deepest other coin ``j`` at fixed ``D``
  (the contracts' ``get_y``) whose marginal price (:func:`stableswap_price`) is ``1 - slippage``
  times the current one, found by bisection.

The pools are read as market clearing reads them (:meth:`Venues.from_dataset`).

References
----------
Adams, Zinsmeister, Robinson (2020). Uniswap v2 Core. Adams et al. (2021). Uniswap v3 Core,
section 6. Egorov (2019). StableSwap - efficient mechanism for Stablecoin liquidity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contagion.amm import get_y, stableswap_price, trade_to_price
from contagion.clearing.venues import Venues
from contagion.dataset import Dataset

__all__ = ["DEPTH_SLIPPAGE", "pool_depths"]

DEPTH_SLIPPAGE = 0.02
_SCALE = 10**18
_BISECTIONS = 60

_COLUMNS = ["pool_id", "token_index", "asset_id", "symbol", "reserve", "depth", "depth_usd"]


def pool_depths(dataset: Dataset, *, slippage: float = DEPTH_SLIPPAGE) -> pd.DataFrame:
    """Depth of every pool token at ``slippage``, in tokens and USD at the snapshot price.

    Parameters
    ----------
    dataset
        Its ``pools``, ``pool_ticks`` and ``assets`` are read.
    slippage
        Fall of the token's pool price the sale may cause (0.02 = 2%).

    Returns
    -------
    pandas.DataFrame
        One row per pool and token: ``pool_id``, ``token_index`` (1-based, pool order),
        ``asset_id``, ``symbol``, ``reserve`` (tokens), ``depth`` (tokens sold, fee included)
        and ``depth_usd``.

    Examples
    --------
    A constant-product pool moves 2% once about 1% of its reserve is sold in
    (``x (1 / sqrt(0.98) - 1) / (1 - fee)``); a StableSwap pool takes far more:

    >>> from contagion import sample_world
    >>> depths = pool_depths(sample_world(positions=1_000))
    >>> v2 = depths[depths["pool_id"].str.endswith("eb11")]  # Uniswap v2 DAI/WETH
    >>> [round(float(r), 4) for r in v2["depth"] / v2["reserve"]]
    [0.0102, 0.0102]
    """
    if not 0 < slippage < 1:
        raise ValueError(f"slippage must lie in (0, 1), got {slippage!r}")
    assets = dataset.df("assets")
    ids = assets["asset_id"].tolist()
    venues = Venues.from_dataset(dataset, ids, np.arange(len(ids)))
    price = assets["price_usd"].to_numpy(dtype=float)
    symbol = assets["symbol"].to_numpy(dtype=object)
    rows: list[tuple[str, int, int, float, float]] = []
    keep = 1.0 - slippage

    cp = venues.constant_product
    for k, pool_id in enumerate(cp.pool_ids):
        x, y = cp.reserves[k]
        gamma = 1.0 - cp.fee[k]
        for side, (a, b) in enumerate(((x, y), (y, x))):
            target = keep * gamma * b / a  # marginal output price after the sale
            new_a, _ = trade_to_price(a, b, target, cp.fee[k])
            rows.append((pool_id, side + 1, int(cp.tokens[k, side]), a, float(new_a) - a))

    cl = venues.concentrated
    for k, pool_id in enumerate(cl.pool_ids):
        book, s = cl.books[k], float(cl.sqrt_price[k])
        x0, y0 = book.amounts(s)
        x1, _ = book.amounts(s * np.sqrt(keep))  # token0 sold: its price s^2 falls
        _, y1 = book.amounts(s / np.sqrt(keep))  # token1 sold: its price 1/s^2 falls
        gross = 1.0 / (1.0 - cl.fee[k])
        rows.append((pool_id, 1, int(cl.tokens[k, 0]), float(x0), float(x1 - x0) * gross))
        rows.append((pool_id, 2, int(cl.tokens[k, 1]), float(y0), float(y1 - y0) * gross))

    ss = venues.stableswap
    for k, pool_id in enumerate(ss.pool_ids):
        coins = np.flatnonzero(ss.tokens[k] >= 0)
        balances = ss.balances[k, coins]
        for i in range(len(coins)):
            depth = _stableswap_depth(balances, float(ss.amp[k]), i, keep) / (1.0 - ss.fee[k])
            rows.append((pool_id, i + 1, int(ss.tokens[k, coins[i]]), balances[i], depth))

    frame = pd.DataFrame(rows, columns=["pool_id", "token_index", "at", "reserve", "depth"])
    at = frame["at"].to_numpy(dtype=np.int64)
    frame["asset_id"] = np.asarray(ids, dtype=object)[at]
    frame["symbol"] = symbol[at]
    frame["depth_usd"] = frame["depth"] * price[at]
    return frame[_COLUMNS].sort_values(["pool_id", "token_index"], ignore_index=True)


def _stableswap_depth(balances: np.ndarray, amp: float, i: int, keep: float) -> float:
    """Coin ``i`` sold for the deepest other coin until its marginal price is ``keep`` x now."""
    others = [j for j in range(len(balances)) if j != i]
    j = max(others, key=lambda c: balances[c])
    xp = [int(b * _SCALE) for b in balances]
    amp_int = max(round(amp), 1)
    start = float(stableswap_price(balances[None, :], amp, i, j)[0])

    def price_after(dx: float) -> float:
        new_i = xp[i] + int(dx * _SCALE)
        new_j = get_y(i, j, new_i, xp, amp_int)
        moved = balances.astype(float)
        moved[i], moved[j] = new_i / _SCALE, new_j / _SCALE
        return float(stableswap_price(moved[None, :], amp, i, j)[0])

    lo, hi = 0.0, float(balances[i])
    while price_after(hi) > keep * start:
        hi *= 2.0
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        if price_after(mid) > keep * start:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
