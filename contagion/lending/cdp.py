"""Maker-style collateralised debt positions: liquidation ratio, penalty, keeper auctions.

Rules, as in Maker's Liquidations 2.0 (``Dog.bark`` and ``Clipper``):

* a vault is unsafe when ``collateral · price / liquidation_ratio < debt``;
* ``bark`` starts an auction for the debt plus the liquidation penalty
  (``tab = debt · (1 + penalty)``);
* keepers buy the collateral in the auction; what they can absorb per round is limited (the
  ``Hole``/``hole`` limits and keeper capital), so auctions can run over several rounds; the
  collateral is sold until the tab is covered, any collateral left returns to the vault owner,
  and a tab not covered once the collateral is gone is bad debt (``sin``) of the protocol.

This module computes the settlement of auctions given the price keepers pay and the keepers'
capacity; the price itself comes from market clearing.

References
----------
MakerDAO (2021). Liquidations 2.0 (MIP45): Dog, Clipper, Abacus.
Gudgeon et al. (2020). The Decentralized Financial Crisis (Black Thursday keeper failure).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["CdpLiquidation", "cdp_is_unsafe", "cdp_liquidation"]

FloatArray = NDArray[np.float64]


def cdp_is_unsafe(
    collateral_value: ArrayLike, debt: ArrayLike, liquidation_ratio: ArrayLike
) -> NDArray[np.bool_]:
    """True where ``collateral value / liquidation_ratio < debt``."""
    c, d, lr = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (collateral_value, debt, liquidation_ratio))
    )
    result: NDArray[np.bool_] = c / lr < d
    return result


@dataclass(frozen=True)
class CdpLiquidation:
    """Auction settlement per vault for one round."""

    collateral_sold: FloatArray
    """Collateral (tokens) bought by keepers this round."""
    tab_covered: FloatArray
    """Debt plus penalty (USD) raised this round."""
    tab_left: FloatArray
    """Tab still to raise after this round."""
    collateral_left: FloatArray
    """Collateral still in the auction (returned to the owner once the tab is covered)."""
    bad_debt: FloatArray
    """Tab not covered because the collateral ran out (USD)."""


def cdp_liquidation(
    tab: ArrayLike, collateral: ArrayLike, auction_price: ArrayLike, keeper_capacity_usd: ArrayLike
) -> CdpLiquidation:
    """Settle one round of collateral auctions.

    Parameters
    ----------
    tab
        Debt plus penalty still to raise per auction (USD).
    collateral
        Collateral left in each auction (tokens).
    auction_price
        Price keepers pay per token this round (USD), after the auction's decrease and the
        slippage they face when reselling.
    keeper_capacity_usd
        USD keepers can spend on each auction this round.

    Examples
    --------
    A vault owing 10,000 DAI with the 13% penalty holds 8 ETH; keepers pay $1,500 and can
    spend $6,000 this round:

    >>> r = cdp_liquidation(11_300.0, 8.0, 1_500.0, 6_000.0)
    >>> float(r.collateral_sold), float(r.tab_left), float(r.bad_debt)
    (4.0, 5300.0, 0.0)
    """
    t, c, p, cap = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (tab, collateral, auction_price, keeper_capacity_usd))
    )
    spend = np.minimum(np.minimum(t, c * p), np.maximum(cap, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        sold = np.where(p > 0, spend / p, 0.0)
    sold = np.minimum(sold, c)
    tab_left = t - spend
    collateral_left = c - sold
    exhausted = collateral_left <= 1e-12 * np.maximum(c, 1.0)
    bad = np.where(exhausted & (tab_left > 0), tab_left, 0.0)
    return CdpLiquidation(
        collateral_sold=sold,
        tab_covered=spend,
        tab_left=np.where(exhausted, 0.0, tab_left),
        collateral_left=np.where(exhausted, 0.0, collateral_left),
        bad_debt=bad,
    )
