"""Maker's Peg Stability Module (DssPsm): a constant-sum venue between Dai and a stablecoin.

``sellGem(usr, gemAmt)`` locks ``gemAmt`` of the stablecoin (the *gem*, e.g. USDC) and mints
``gemAmt`` Dai of debt, of which the user gets ``gemAmt · (1 - tin)``; the fee goes to the
surplus buffer (vow). ``buyGem(usr, gemAmt)`` releases ``gemAmt`` gem for
``gemAmt · (1 + tout)`` Dai, repaying ``gemAmt`` of debt. Amounts are 1:1 after the decimals
conversion and there is no slippage, so the PSM is a constant-sum market with two limits:
``sellGem`` stops when the module's debt reaches its ceiling (``line - art``: the *headroom*)
and ``buyGem`` when the gem it holds runs out.

An arbitrageur uses it whenever Dai's price in gem, r = P_dai / P_gem, leaves the band
``[1 / (1 + tout), 1 / (1 - tin)]``: above it gem is sold in and the Dai sold in the market,
below it Dai buys gem. A depeg of the gem therefore reaches Dai until the headroom is used up
(March 2023: USDC at 0.961 and DAI at 0.9625 on 2023-03-11).

Signs: ``gem_in`` > 0 is gem sold into the module (``sellGem``), < 0 gem taken out.

References
----------
MakerDAO (2020). MIP29: Peg Stability Module; ``DssPsm`` (dss-psm ``src/psm.sol``):
sellGem, buyGem, tin, tout.
MakerDAO emergency executive proposal, 2023-03-11: PSM-USDC-A's daily minting limit
(the DC-IAM gap) was 950 million Dai at 0 % fees, proposed down to 250 million at 1 %.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "PSM_USDC_DAILY_MINT_2023",
    "PsmPath",
    "psm_band",
    "psm_dai_out",
    "psm_path",
    "psm_trade_to_price",
]

PSM_USDC_DAILY_MINT_2023 = 950e6
"""Dai PSM-USDC-A could mint per day through its DC-IAM in March 2023 (the ``gap``)."""


def psm_band(tin: ArrayLike, tout: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Log of the no-arbitrage band of r = P_dai / P_gem: ``(-log(1 + tout), -log(1 - tin))``.

    >>> [round(float(b), 7) for b in psm_band(0.001, 0.001)]
    [-0.0009995, 0.0010005]
    """
    lower: NDArray[np.float64] = -np.log1p(np.asarray(tout, dtype=float))
    upper: NDArray[np.float64] = -np.log1p(-np.asarray(tin, dtype=float))
    return lower, upper


def psm_dai_out(gem_in: ArrayLike, tin: ArrayLike, tout: ArrayLike) -> NDArray[np.float64]:
    """Dai the module pays out for ``gem_in`` (negative: Dai it takes in), as DssPsm.

    >>> psm_dai_out([100.0, -100.0], 0.01, 0.02).tolist()
    [99.0, -102.0]
    """
    g = np.asarray(gem_in, dtype=float)
    out: NDArray[np.float64] = np.where(
        g > 0, g * (1.0 - np.asarray(tin, dtype=float)), g * (1.0 + np.asarray(tout, dtype=float))
    )
    return out


def psm_trade_to_price(
    gem: ArrayLike, headroom: ArrayLike, price_ratio: ArrayLike, tin: ArrayLike, tout: ArrayLike
) -> NDArray[np.float64]:
    """Gem an arbitrageur sells into the module at a fixed Dai/gem price ratio.

    Constant sum: outside the band the whole capacity is used (the headroom, or all the gem
    held), inside nothing happens.

    Parameters
    ----------
    gem
        Gem the module holds (the most ``buyGem`` can release).
    headroom
        Dai the module may still mint (``line - art``; the most ``sellGem`` can take).
    price_ratio
        Market price of Dai in gem, P_dai / P_gem.
    tin, tout
        Fees of ``sellGem`` and ``buyGem`` (fractions).

    Examples
    --------
    >>> psm_trade_to_price(1e9, 5e8, [1.02, 1.0, 0.98], 0.0, 0.0).tolist()
    [500000000.0, 0.0, -1000000000.0]
    """
    lower, upper = psm_band(tin, tout)
    log_r = np.log(np.asarray(price_ratio, dtype=float))
    g = np.asarray(gem, dtype=float)
    room = np.asarray(headroom, dtype=float)
    out: NDArray[np.float64] = np.where(log_r > upper, room, np.where(log_r < lower, -g, 0.0))
    return out


@dataclass(frozen=True)
class PsmPath:
    """A point on a module's supply curve (see :func:`psm_path`)."""

    log_ratio: NDArray[np.float64]
    """log(P_dai / P_gem)."""
    gem_in: NDArray[np.float64]
    d_log_ratio: NDArray[np.float64]
    """d log_ratio / dt."""
    d_gem_in: NDArray[np.float64]
    """d gem_in / dt."""


def psm_path(
    t: ArrayLike,
    scale: ArrayLike,
    gem: ArrayLike,
    headroom: ArrayLike,
    tin: ArrayLike,
    tout: ArrayLike,
) -> PsmPath:
    """The module's supply curve as one continuous, non-decreasing path in a parameter t.

    A constant-sum venue supplies any amount at the band's edge, so its supply is a vertical
    segment in (price, amount) and no function of the price: a solver cannot use price as the
    unknown. Along t the curve is: price rising through the band with nothing traded
    (``lower ≤ t ≤ upper``), then at the upper edge gem flowing in at ``scale`` per unit of t
    until the headroom is used, then price rising again with the flow at its limit; mirrored
    below the band with gem flowing out until the module is empty. Price and flow are both
    piecewise linear and non-decreasing in t, so Newton's method applies.

    Parameters
    ----------
    t
        Path parameter: equal to log(P_dai / P_gem) inside the band.
    scale
        Gem per unit of t along the vertical parts (any positive size; the module's gem
        balance is a natural one).
    gem, headroom, tin, tout
        As in :func:`psm_trade_to_price`; ``headroom`` may be ``inf``.

    Examples
    --------
    >>> point = psm_path([0.0, 0.5, 2.0], 1.0, 1.0, 1.0, 0.0, 0.0)
    >>> point.log_ratio.tolist(), point.gem_in.tolist()
    ([0.0, 0.0, 1.0], [0.0, 0.5, 1.0])
    """
    lower, upper = psm_band(tin, tout)
    t_, s, g, room = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (t, scale, gem, headroom))
    )
    sell_end = upper + room / s
    buy_end = lower - g / s
    up = np.clip(t_ - upper, 0.0, None)
    down = np.clip(lower - t_, 0.0, None)
    selling = (t_ > upper) & (t_ < sell_end)
    buying = (t_ < lower) & (t_ > buy_end)
    log_ratio = np.where(
        t_ >= sell_end,
        t_ - room / s,
        np.where(t_ <= buy_end, t_ + g / s, np.clip(t_, lower, upper)),
    )
    gem_in = np.minimum(up * s, room) - np.minimum(down * s, g)
    d_log_ratio = np.where(selling | buying, 0.0, 1.0)
    d_gem_in = np.where(selling | buying, s, 0.0)
    return PsmPath(log_ratio, gem_in, d_log_ratio, d_gem_in)
