"""Aave v3 health factor and liquidation amounts (LiquidationLogic.executeLiquidationCall).

Rules, as in Aave v3 (core v3.0.x, ``LiquidationLogic`` and ``GenericLogic``):

* health factor ``HF = Σ collateral·price·LT / Σ debt·price`` with the protocol's own oracle
  prices; a position is liquidatable when HF < 1;
* close factor: at most 50% of the debt asset's balance is repaid in one call, 100% once
  HF < 0.95 (``CLOSE_FACTOR_HF_THRESHOLD``);
* collateral seized = repaid value × liquidationBonus, capped at the user's balance of that
  collateral (then the repaid debt is cut to match);
* the protocol keeps ``liquidationProtocolFee`` of the bonus part:
  ``fee = (seized − seized / bonus) · protocolFee``; the liquidator receives the rest;
* in e-mode, a collateral of the user's e-mode category uses the category's liquidation
  threshold and bonus.

All functions are vectorised over positions (numpy arrays) and work in whole tokens / USD
floats; they do not loop in Python.

References
----------
Aave v3 Technical Paper (2022), section 3 (Health factor, liquidations, e-mode).
aave/aave-v3-core: contracts/protocol/libraries/logic/LiquidationLogic.sol.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "CLOSE_FACTOR_HF_THRESHOLD",
    "DEFAULT_CLOSE_FACTOR",
    "MAX_CLOSE_FACTOR",
    "AaveLiquidation",
    "aave_close_factor",
    "aave_health_factor",
    "aave_liquidation",
]

FloatArray = NDArray[np.float64]

DEFAULT_CLOSE_FACTOR = 0.5
MAX_CLOSE_FACTOR = 1.0
CLOSE_FACTOR_HF_THRESHOLD = 0.95


def aave_health_factor(collateral_value_lt: ArrayLike, debt_value: ArrayLike) -> FloatArray:
    """HF = Σ collateral·price·LT / Σ debt·price; +inf where there is no debt.

    ``collateral_value_lt`` is the per-account sum of collateral USD × liquidation threshold
    (e-mode threshold where it applies), ``debt_value`` the per-account debt USD.
    """
    c = np.asarray(collateral_value_lt, dtype=float)
    d = np.asarray(debt_value, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        hf: FloatArray = np.where(d > 0, c / np.where(d > 0, d, 1.0), np.inf)
    return hf


def aave_close_factor(health_factor: ArrayLike) -> FloatArray:
    """Share of the debt repayable in one liquidation: 0.5, or 1.0 when HF < 0.95."""
    hf = np.asarray(health_factor, dtype=float)
    result: FloatArray = np.where(
        hf > CLOSE_FACTOR_HF_THRESHOLD, DEFAULT_CLOSE_FACTOR, MAX_CLOSE_FACTOR
    )
    return result


@dataclass(frozen=True)
class AaveLiquidation:
    """Amounts of one liquidation call per position (whole tokens of each asset)."""

    debt_repaid: FloatArray
    """Debt asset repaid by the liquidator."""
    collateral_seized: FloatArray
    """Collateral taken from the user (liquidator's part plus the protocol fee)."""
    protocol_fee: FloatArray
    """Collateral kept by the protocol (treasury): its share of the bonus."""
    liquidator_collateral: FloatArray
    """Collateral the liquidator receives."""


def aave_liquidation(
    debt_to_cover: ArrayLike,
    user_debt: ArrayLike,
    user_collateral: ArrayLike,
    debt_price: ArrayLike,
    collateral_price: ArrayLike,
    liquidation_bonus: ArrayLike,
    protocol_fee: ArrayLike,
    health_factor: ArrayLike,
) -> AaveLiquidation:
    """Amounts of ``liquidationCall(collateral, debt, user, debtToCover)`` per position.

    Parameters
    ----------
    debt_to_cover
        What the liquidator offers to repay (``inf`` for "as much as allowed").
    user_debt, user_collateral
        The user's balance of the debt asset and of the collateral asset.
    debt_price, collateral_price
        Oracle prices (USD) the protocol reads.
    liquidation_bonus
        Multiplier on repaid value (1.05 = 5% bonus), e-mode bonus where it applies.
    protocol_fee
        Share of the bonus kept by the protocol (``liquidationProtocolFee``, 0.1 = 10%).
    health_factor
        The user's health factor before the call (decides the close factor).

    Examples
    --------
    Aave v3 Ethereum WETH (LT 0.83, bonus 1.05, protocol fee 10%) backing a USDC debt:
    10 WETH at $1,816.85 against 15,500 USDC gives HF 0.9729, so half the debt may go.

    >>> hf = aave_health_factor(10 * 1816.85 * 0.83, 15_500.0)
    >>> liq = aave_liquidation(np.inf, 15_500.0, 10.0, 1.0, 1816.85, 1.05, 0.10, hf)
    >>> round(float(liq.debt_repaid), 2), round(float(liq.collateral_seized), 6)
    (7750.0, 4.478906)
    """
    cover, debt, coll, p_debt, p_coll, bonus, fee, hf = np.broadcast_arrays(
        *(
            np.asarray(v, dtype=float)
            for v in (
                debt_to_cover,
                user_debt,
                user_collateral,
                debt_price,
                collateral_price,
                liquidation_bonus,
                protocol_fee,
                health_factor,
            )
        )
    )
    max_debt = debt * aave_close_factor(hf)
    repay = np.minimum(cover, max_debt)
    liquidatable = (hf < 1.0) & (debt > 0) & (coll > 0)
    repay = np.where(liquidatable, repay, 0.0)
    base_collateral = repay * p_debt / p_coll
    max_seize = base_collateral * bonus
    capped = max_seize > coll
    seized = np.where(capped, coll, max_seize)
    repay = np.where(capped, coll * p_coll / p_debt / bonus, repay)
    bonus_part = seized - seized / bonus
    fee_amount = bonus_part * fee
    return AaveLiquidation(
        debt_repaid=repay,
        collateral_seized=seized,
        protocol_fee=fee_amount,
        liquidator_collateral=seized - fee_amount,
    )
