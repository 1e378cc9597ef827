"""Compound III's step of a lending round: ``absorb`` and the store front's sales.

Liquidatable accounts are absorbed whole (:func:`~contagion.lending.compound.comet_absorb`);
the protocol's collateral inventory is sold through ``buyCollateral`` once the store-front
price is at or below the market price, while the protocol's reserves are below
``targetReserves`` (``NotForSale`` otherwise; Comet.sol ``buyCollateral``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from contagion.lending.layout import LoanGroup
from contagion.lending.screen import PositionPrices
from contagion.lending.state import KIND_ABSORB, LendingState, Liquidations
from contagion.world import LendingBook

__all__ = ["absorb", "buy_collateral"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def absorb(book: LendingBook, s: LendingState, pm: FloatArray, loans: IntArray) -> Liquidations:
    """Absorb whole accounts: collateral to the protocol's inventory, debt written off."""
    if len(loans) == 0:
        return Liquidations.empty()
    # Sums per account over ``local`` (the account's index in ``loans``), sized by the
    # accounts absorbed, not by every loan.
    group = LoanGroup.of(book, loans)
    pos, local, k = group.pos, group.local, len(loans)
    loan, asset = book.loan[pos], book.asset[pos]
    proto = book.loan_protocol[loan]
    taken = np.where(book.used[pos], s.collateral[pos], 0.0)
    owed = s.debt[pos]
    taken_usd = taken * pm[asset]
    credit = np.bincount(local, weights=taken_usd * book.liquidation_factor[pos], minlength=k)
    loan_debt_usd = np.bincount(local, weights=owed * pm[asset], minlength=k)
    loan_debt = np.bincount(local, weights=owed, minlength=k)
    loan_coll_usd = np.bincount(local, weights=taken_usd, minlength=k)
    # The account's surplus (credit above its debt) is returned as base supply: a cost to the
    # protocol like the written-off debt.
    surplus = np.maximum(credit - loan_debt_usd, 0.0)
    np.add.at(s.absorbed_usd, book.loan_protocol[loans], loan_debt_usd + surplus)
    _draw_reserves(book, s, book.loan_protocol[loans], loan_debt.astype(float), surplus, pm)
    moved = np.flatnonzero(taken != 0.0)
    if s.inventory.flags.c_contiguous:
        # One flat index per (protocol, asset): ``add.at`` on one axis.
        width = s.inventory.shape[1]
        cells = proto[moved] * width + asset[moved]
        np.add.at(s.inventory.reshape(-1), cells, taken[moved])
    else:
        np.add.at(s.inventory, (proto[moved], asset[moved]), taken[moved])
    s.collateral[pos] -= taken
    s.debt[pos] = 0.0
    debt_asset_of_loan = np.full(k, -1, dtype=np.int64)
    owing = np.flatnonzero(owed > 0)
    debt_asset_of_loan[local[owing]] = asset[owing]
    rows = np.flatnonzero(taken > 0)
    owner = local[rows]
    coll_usd = loan_coll_usd[owner]
    with np.errstate(divide="ignore", invalid="ignore"):
        share: FloatArray = np.where(coll_usd > 0, taken_usd[rows] / coll_usd, 0.0).astype(float)
    return Liquidations(
        kind=np.full(len(rows), KIND_ABSORB, dtype=np.int64),
        loan=loan[rows],
        protocol=proto[rows],
        collateral_asset=asset[rows],
        debt_asset=debt_asset_of_loan[owner],
        collateral_seized=taken[rows],
        debt_repaid=share * loan_debt[owner],
        protocol_fee=np.zeros(len(rows)),
        collateral_usd=taken_usd[rows],
        debt_usd=share * loan_debt_usd[owner],
    )


def buy_collateral(
    book: LendingBook,
    s: LendingState,
    oracle_usd: FloatArray | PositionPrices,
    pm: FloatArray,
    flow: FloatArray,
) -> FloatArray:
    """Comet's buyCollateral: inventory sells once the store-front price is at or below market,
    and only while the protocol's reserves are below ``targetReserves`` (where both are known).

    The store-front price is the protocol's oracle price less
    ``storeFrontPriceFactor * (1 - liquidationFactor)``; while the oracle lags a falling market
    it sits above the market price and nobody buys. Returns what was sold per protocol x
    asset (tokens).
    """
    sold = np.zeros_like(s.inventory)
    protos, assets = np.nonzero(s.inventory > 0)
    if len(protos) == 0:
        return sold
    # Any position of the (protocol, asset) market carries its parameters and oracle price.
    idx = book.position_of_market(protos, assets)
    discount = book.store_front[idx] * (1.0 - book.liquidation_factor[idx])
    store_price = oracle_usd[idx] * (1.0 - discount)
    # NotForSale is checked once a round per Comet, after the round's absorbs: the round's
    # buys are taken as one.
    open_ = s.for_sale(book)[protos]
    amount = np.where((store_price <= pm[assets]) & open_, s.inventory[protos, assets], 0.0)
    np.add.at(flow, assets, -amount)
    np.add.at(s.proceeds_usd, protos, amount * store_price)
    s.inventory[protos, assets] -= amount
    sold[protos, assets] = amount
    # The base paid in raises the reserves.
    base = book.comet_base[protos]
    paid = np.where(base >= 0, amount * store_price / pm[np.maximum(base, 0)], 0.0)
    np.add.at(s.comet_reserves, protos, paid)
    return sold


def _draw_reserves(
    book: LendingBook,
    s: LendingState,
    protocol: IntArray,
    debt: FloatArray,
    surplus_usd: FloatArray,
    pm: FloatArray,
) -> None:
    """``absorb`` lowers a Comet's reserves by the debt it writes off and the surplus it
    credits as base supply (``totalBorrow`` down, ``totalSupply`` up), in base tokens."""
    base = book.comet_base[protocol]
    drawn = debt + np.where(base >= 0, surplus_usd / pm[np.maximum(base, 0)], 0.0)
    np.add.at(s.comet_reserves, protocol, -drawn)
