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
(March 2023: USDC at 0.961 and DAI at 0.9625 on 2023-03-11). At the band's edge the module
supplies any amount up to its limit, so its flow is no function of the price: market clearing
treats it as an active set of states (:mod:`contagion.clearing.modules`).

Signs: ``gem_in`` > 0 is gem sold into the module (``sellGem``), < 0 gem taken out.

References
----------
MakerDAO (2020). MIP29: Peg Stability Module; ``DssPsm`` (dss-psm ``src/psm.sol``):
sellGem, buyGem, tin, tout.
MakerDAO emergency executive proposal, 2023-03-11: PSM-USDC-A's daily minting limit
(the DC-IAM gap) was 950 million Dai at 0 % fees, proposed down to 250 million at 1 %.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["PSM_USDC_DAILY_MINT_2023", "psm_band", "psm_dai_out", "psm_trade_to_price"]

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
