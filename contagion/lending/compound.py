"""Compound III (Comet): liquidatability, absorb and the collateral store front.

Rules, as in ``Comet.sol``:

* an account is liquidatable when its borrow (base asset, USD at the base price feed) exceeds
  ``Σ collateral · price · liquidateCollateralFactor``;
* ``absorb`` takes the whole account: all collateral moves to the protocol, and the account's
  debt is credited with ``Σ collateral · price · liquidationFactor``; a surplus becomes the
  account's base supply, a shortfall is paid from protocol reserves (bad debt once reserves
  run out);
* the protocol sells absorbed collateral through ``buyCollateral`` at a discount of
  ``storeFrontPriceFactor · (1 − liquidationFactor)`` off the oracle price (``quoteCollateral``),
  but only while its reserves (``getReserves``: base held, less supplies, plus borrows) are
  below ``targetReserves`` (``NotForSale`` otherwise); absorb lowers the reserves by the debt
  it writes off and the surplus it credits, a sale raises them by the base paid in.

References
----------
Compound III documentation, "Liquidation" (isLiquidatable, absorb, buyCollateral).
compound-finance/comet: contracts/Comet.sol (absorbInternal, quoteCollateral).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["CometAbsorb", "comet_absorb", "comet_is_liquidatable", "comet_store_front_price"]

FloatArray = NDArray[np.float64]


def comet_is_liquidatable(
    collateral_value_liquidate_cf: ArrayLike, borrow_value: ArrayLike
) -> NDArray[np.bool_]:
    """True where ``borrow > Σ collateral · price · liquidateCF`` (values in USD)."""
    c = np.asarray(collateral_value_liquidate_cf, dtype=float)
    b = np.asarray(borrow_value, dtype=float)
    result: NDArray[np.bool_] = b > c
    return result


@dataclass(frozen=True)
class CometAbsorb:
    """What ``absorb`` does to each account (USD)."""

    debt_absorbed: FloatArray
    """Borrow balance written off the account."""
    collateral_value: FloatArray
    """Oracle value of the collateral taken by the protocol."""
    credit: FloatArray
    """Σ collateral · price · liquidationFactor credited against the debt."""
    account_surplus: FloatArray
    """Credit above the debt, returned to the account as base supply."""
    reserve_loss: FloatArray
    """Debt not covered by the credit: paid from protocol reserves."""


def comet_absorb(
    collateral_value: ArrayLike,
    collateral_value_liquidation_factor: ArrayLike,
    borrow_value: ArrayLike,
) -> CometAbsorb:
    """Absorb whole accounts: collateral to the protocol, debt credited at liquidationFactor.

    Examples
    --------
    10 WETH at $1,816.85 (liquidationFactor 0.95) against $17,000 of USDC debt:

    >>> a = comet_absorb(18_168.5, 18_168.5 * 0.95, 17_000.0)
    >>> round(float(a.credit), 2), round(float(a.account_surplus), 2)
    (17260.07, 260.07)
    """
    value, credit, borrow = np.broadcast_arrays(
        *(
            np.asarray(v, dtype=float)
            for v in (collateral_value, collateral_value_liquidation_factor, borrow_value)
        )
    )
    return CometAbsorb(
        debt_absorbed=borrow,
        collateral_value=value,
        credit=credit,
        account_surplus=np.maximum(credit - borrow, 0.0),
        reserve_loss=np.maximum(borrow - credit, 0.0),
    )


def comet_store_front_price(
    oracle_price: ArrayLike, liquidation_factor: ArrayLike, store_front_price_factor: ArrayLike
) -> FloatArray:
    """Price at which Comet sells absorbed collateral (``quoteCollateral``).

    discount = storeFrontPriceFactor · (1 − liquidationFactor); WETH on the USDC market
    (0.5, 0.95) sells 2.5% under the oracle price.

    >>> float(comet_store_front_price(2000.0, 0.95, 0.5))
    1950.0
    """
    p, lf, sf = np.broadcast_arrays(
        *(
            np.asarray(v, dtype=float)
            for v in (oracle_price, liquidation_factor, store_front_price_factor)
        )
    )
    result: FloatArray = p * (1.0 - sf * (1.0 - lf))
    return result
