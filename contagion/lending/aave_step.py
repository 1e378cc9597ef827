"""The Aave family's step of a lending round: liquidation calls within liquidators' capacity.

Each liquidatable loan gets at most one ``liquidationCall`` per round, on its largest debt and
its largest collateral (what liquidation bots pick), up to the close factor
(:func:`~contagion.lending.aave.aave_liquidation`, under the rules of
``LendingParams.aave_version``). A liquidator acts only if the bonus it
receives, valued at market, exceeds gas and the slippage of selling the seized collateral;
liquidations compete for a per-round capacity, most profitable first. The repaid debt asset
is bought and the seized collateral sold: both are flows into the market. A loan seized to
its last collateral is written off (:meth:`~contagion.lending.state.LendingState.write_off`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from contagion.lending.aave import aave_liquidation
from contagion.lending.layout import LoanGroup, kept
from contagion.lending.screen import PositionPrices
from contagion.lending.state import KIND_AAVE, LendingParams, LendingState, Liquidations
from contagion.world import LendingBook

__all__ = ["capacity_share", "liquidation_calls"]

FloatArray = NDArray[np.float64]


def liquidation_calls(
    book: LendingBook,
    s: LendingState,
    op: FloatArray | PositionPrices,
    pm: FloatArray,
    depth: FloatArray,
    params: LendingParams,
    hf: FloatArray,
    group: LoanGroup,
    flow: FloatArray,
) -> tuple[Liquidations, int, int]:
    if len(group.loans) == 0:
        return Liquidations.empty(), 0, 0
    pos = group.pos
    price = op[pos]
    d = group.largest(s.debt[pos] * price)
    c = group.largest(s.collateral[pos] * price * book.used[pos])
    both = (d >= 0) & (c >= 0)
    total_debt = None
    if params.aave_version != "3.0":
        # v3.3's close factor is a share of the user's whole debt at the protocol's prices.
        total_debt = np.bincount(group.local, s.debt[pos] * price, len(group.loans))[both]
    loans, d, c = kept(both, group.loans, d, c)
    liq = aave_liquidation(
        np.inf,
        s.debt[d],
        s.collateral[c],
        op[d],
        op[c],
        book.bonus[c],
        book.protocol_fee[c],
        hf[loans],
        version=params.aave_version,
        total_debt_value=total_debt,
    )
    ca, da = book.asset[c], book.asset[d]
    price_c, price_d = pm[ca], pm[da]
    received_usd = liq.liquidator_collateral * price_c
    repaid_usd = liq.debt_repaid * price_d
    with np.errstate(divide="ignore", invalid="ignore"):
        pool = depth[ca]
        # Average impact of a market order under the square-root law is 2/3 of the final one.
        slip = np.where(
            pool > 0, received_usd * 0.02 * np.sqrt(received_usd / pool) * 2 / 3, np.inf
        )
    profit = received_usd - repaid_usd - params.gas_usd - slip
    profitable = (profit > 0) & (liq.debt_repaid > 0)
    unprofitable = int((~profitable).sum())
    take = capacity_share(profitable, profit, repaid_usd, params.liquidator_capacity_usd)
    over_capacity = int((profitable & (take < 1.0)).sum())
    seized = liq.collateral_seized * take
    repaid = liq.debt_repaid * take
    fee = liq.protocol_fee * take
    s.collateral[c] = np.maximum(s.collateral[c] - seized, 0.0)
    s.debt[d] = np.maximum(s.debt[d] - repaid, 0.0)
    loans, ca, da, seized, repaid, fee, price_c, price_d = kept(
        take > 0, loans, ca, da, seized, repaid, fee, price_c, price_d
    )
    np.add.at(flow, ca, -(seized - fee))
    np.add.at(flow, da, repaid)
    return (
        Liquidations(
            kind=np.full(len(loans), KIND_AAVE, dtype=np.int64),
            loan=loans,
            protocol=book.loan_protocol[loans],
            collateral_asset=ca,
            debt_asset=da,
            collateral_seized=seized,
            debt_repaid=repaid,
            protocol_fee=fee,
            collateral_usd=seized * price_c,
            debt_usd=repaid * price_d,
        ),
        unprofitable,
        over_capacity,
    )


def capacity_share(
    profitable: NDArray[np.bool_], profit: FloatArray, repaid_usd: FloatArray, capacity: float
) -> FloatArray:
    """Share of each liquidation done within the liquidators' capacity: most profitable
    first, the marginal one cut to what is left, the unprofitable ones not at all.

    Unlimited capacity with a finite, non-negative total to repay takes every profitable
    liquidation whole, whatever the order: no sort is needed then."""
    wanted = np.where(profitable, repaid_usd, 0.0)
    if capacity == np.inf and np.isfinite(wanted.sum()) and not (wanted < 0).any():
        return profitable.astype(float)
    # The unprofitable take nothing and spend nothing: only the profitable are ordered.
    candidates = np.flatnonzero(profitable)
    order = candidates[np.argsort(-profit[candidates], kind="stable")]
    spent_before = np.cumsum(wanted[order]) - wanted[order]
    take = np.zeros(len(profit))
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.clip((capacity - spent_before) / repaid_usd[order], 0.0, 1.0)
    take[order] = np.nan_to_num(room)
    return take
