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

Aave v3.3 (``version="3.3"``; aave-v3-origin, deployed on Ethereum in 2025) changed the
amounts:

* the close factor's 50% is of the user's *total* debt (in the base currency), not of the
  debt asset's balance: the whole balance may go when it is at most half the total;
* a debt or collateral balance worth less than ``MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD``
  (2,000 USD) may be liquidated whole at any HF below 1;
* a call that repays neither the whole debt balance nor takes the whole collateral balance
  must leave at least ``MIN_LEFTOVER_BASE`` (1,000 USD) of each, or it reverts
  (``MUST_NOT_LEAVE_DUST``): liquidators are modelled as making the largest call that does
  not revert (one that leaves exactly that much).

All functions are vectorised over positions (numpy arrays) and work in whole tokens / USD
floats; they do not loop in Python.

References
----------
Aave v3 Technical Paper (2022), section 3 (Health factor, liquidations, e-mode).
aave/aave-v3-core: contracts/protocol/libraries/logic/LiquidationLogic.sol (v3.0).
aave-dao/aave-v3-origin: src/contracts/protocol/libraries/logic/LiquidationLogic.sol
(v3.3: ``MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD``, ``MIN_LEFTOVER_BASE``); BGD Labs, "Aave v3.3
(feat Umbrella)", Aave governance forum (2024); Aave documentation, "Liquidations" (a debt
reserve that would keep less than 1,000 USD must be liquidated whole).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "AAVE_VERSIONS",
    "CLOSE_FACTOR_HF_THRESHOLD",
    "DEFAULT_CLOSE_FACTOR",
    "MAX_CLOSE_FACTOR",
    "MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD",
    "MIN_LEFTOVER_BASE",
    "AaveLiquidation",
    "aave_close_factor",
    "aave_health_factor",
    "aave_liquidation",
]

FloatArray = NDArray[np.float64]

DEFAULT_CLOSE_FACTOR = 0.5
MAX_CLOSE_FACTOR = 1.0
CLOSE_FACTOR_HF_THRESHOLD = 0.95
MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD = 2_000.0
"""v3.3: base-currency value (USD) of a debt or collateral balance below which the whole
balance may be liquidated."""
MIN_LEFTOVER_BASE = MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD / 2
"""v3.3: base-currency value (USD) a partial liquidation must leave of debt and collateral."""
AAVE_VERSIONS = ("3.0", "3.3")
"""Liquidation rules :func:`aave_liquidation` implements."""


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
    *,
    version: str = "3.0",
    total_debt_value: ArrayLike | None = None,
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
    version
        ``"3.0"`` or ``"3.3"``: the rules of that release (see the module docstring).
    total_debt_value
        v3.3: the user's debt over every asset at the protocol's prices (base currency, USD),
        which its close factor is a share of; the debt asset's own value when not given.

    Examples
    --------
    Aave v3 Ethereum WETH (LT 0.83, bonus 1.05, protocol fee 10%) backing a USDC debt:
    10 WETH at $1,816.85 against 15,500 USDC gives HF 0.9729, so half the debt may go.

    >>> hf = aave_health_factor(10 * 1816.85 * 0.83, 15_500.0)
    >>> liq = aave_liquidation(np.inf, 15_500.0, 10.0, 1.0, 1816.85, 1.05, 0.10, hf)
    >>> round(float(liq.debt_repaid), 2), round(float(liq.collateral_seized), 6)
    (7750.0, 4.478906)

    Under v3.3 a 1,500 USDC debt (below 2,000 USD) goes whole at the same health factor, and
    a 5,500 USDC balance of a 10,000 USD total debt stops at 4,500 USDC: the 5,000 its close
    factor allows would leave 500 USD, less than the 1,000 USD a partial call must leave.

    >>> small = aave_liquidation(np.inf, 1_500.0, 1.0, 1.0, 1816.85, 1.05, 0.10, 0.97,
    ...                          version="3.3")
    >>> float(small.debt_repaid)
    1500.0
    >>> split = aave_liquidation(np.inf, 5_500.0, 10.0, 1.0, 1816.85, 1.05, 0.10, 0.97,
    ...                          version="3.3", total_debt_value=10_000.0)
    >>> round(float(split.debt_repaid), 6)
    4500.0
    """
    if version not in AAVE_VERSIONS:
        raise ValueError(f"unknown Aave version {version!r}; known: {', '.join(AAVE_VERSIONS)}")
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
    if version == "3.0":
        max_debt = debt * aave_close_factor(hf)
    else:
        total = debt * p_debt if total_debt_value is None else np.asarray(total_debt_value)
        max_debt = _v33_max_debt(debt, coll, p_debt, p_coll, hf, np.broadcast_to(total, debt.shape))
    repay = np.minimum(cover, max_debt)
    liquidatable = (hf < 1.0) & (debt > 0) & (coll > 0)
    repay = np.where(liquidatable, repay, 0.0)
    base_collateral = repay * p_debt / p_coll
    max_seize = base_collateral * bonus
    capped = max_seize > coll
    seized = np.where(capped, coll, max_seize)
    repay = np.where(capped, coll * p_coll / p_debt / bonus, repay)
    if version == "3.3":
        # MUST_NOT_LEAVE_DUST: a partial call leaves MIN_LEFTOVER_BASE of debt and of
        # collateral; the largest call that does, leaves exactly that much of one of them.
        partial = (repay < debt) & (seized < coll)
        with np.errstate(divide="ignore", invalid="ignore"):
            dusty = partial & (
                ((debt - repay) * p_debt < MIN_LEFTOVER_BASE)
                | ((coll - seized) * p_coll < MIN_LEFTOVER_BASE)
            )
            fits = np.minimum(
                debt - MIN_LEFTOVER_BASE / p_debt,
                (coll * p_coll - MIN_LEFTOVER_BASE) / (p_debt * bonus),
            )
        repay = np.where(dusty, np.clip(fits, 0.0, repay), repay)
        seized = np.where(dusty, repay * p_debt / p_coll * bonus, seized)
    bonus_part = seized - seized / bonus
    fee_amount = bonus_part * fee
    return AaveLiquidation(
        debt_repaid=repay,
        collateral_seized=seized,
        protocol_fee=fee_amount,
        liquidator_collateral=seized - fee_amount,
    )


def _v33_max_debt(
    debt: FloatArray,
    coll: FloatArray,
    p_debt: FloatArray,
    p_coll: FloatArray,
    hf: FloatArray,
    total_debt_value: FloatArray,
) -> FloatArray:
    """v3.3 ``maxLiquidatableDebt``: the whole balance, but for balances of debt and
    collateral both worth at least 2,000 USD at HF above 0.95, at most half the user's total
    debt."""
    limited = (
        (coll * p_coll >= MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD)
        & (debt * p_debt >= MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD)
        & (hf > CLOSE_FACTOR_HF_THRESHOLD)
    )
    half = total_debt_value * DEFAULT_CLOSE_FACTOR
    with np.errstate(divide="ignore", invalid="ignore"):
        capped = np.where(debt * p_debt > half, half / p_debt, debt)
    result: FloatArray = np.where(limited, capped, debt)
    return result
