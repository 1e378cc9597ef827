"""One round of liquidations over every lending position, vectorised.

Each family follows its protocol's rules (see :mod:`contagion.lending.aave`,
:mod:`~contagion.lending.compound`, :mod:`~contagion.lending.cdp`), with the protocol's own
oracle prices deciding *whether* a loan is liquidated and market prices deciding whether a
liquidator finds it worth doing and what the collateral fetches. This module finds the
liquidatable loans (health factors, :mod:`~contagion.lending.screen`), runs each family's
step (:mod:`~contagion.lending.aave_step`, :mod:`~contagion.lending.comet_step`,
:mod:`~contagion.lending.cdp_step`) on the round's state (:mod:`~contagion.lending.state`)
and values the bad debt left:

* **Aave v3 family**: each liquidatable loan gets at most one ``liquidationCall`` per round,
  on its largest debt and its largest collateral (what liquidation bots pick), up to the
  close factor. A liquidator acts only if the bonus it receives, valued at market, exceeds
  gas and the slippage of selling the seized collateral; liquidations compete for a per-round
  capacity (the capital and block space of liquidators), most profitable first. The repaid
  debt asset is bought and the seized collateral sold: both are flows into the market.
* **Compound III**: liquidatable accounts are absorbed whole; the protocol's collateral
  inventory is sold through ``buyCollateral`` once the store-front price is at or below the
  market price.
* **CDP**: unsafe vaults are barked into auctions for debt plus penalty; keepers buy
  collateral within a per-round capacity at the market price less their margin; the debt an
  auction has not raised when its collateral runs out is bad debt (the penalty is not). With :class:`~contagion.lending.cdp.FlipRules`
  the auctions are instead Maker's 2020 ``Flipper`` (tend, dent, deal after ``ttl``, tick
  after ``tau``): keepers bid within their capacity, an opportunistic bidder bids 0 DAI on
  what nobody else bids on, and the debt a final bid does not cover is bad debt. With
  :class:`~contagion.lending.cdp.ClipRules` they are Maker's Liquidations 2.0: barks within
  the ``Hole`` limits, falling-price auctions keepers take once cheap enough, ``redo``.

Bad debt of the Aave family is the market-value shortfall of insolvent loans
(``max(0, debt - collateral)``), allocated to debt assets pro rata: it is what the suppliers of
those assets (the aToken holders) stand to lose.

References
----------
Qin, Zhou, Gamito, Jovanovic, Gervais (2021). An Empirical Study of DeFi Liquidations.
Perez, Werner, Xu, Livshits (2021). Liquidations: DeFi on a Knife-edge.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from contagion.lending.aave_step import liquidation_calls
from contagion.lending.cdp_step import auctions, bark, clip_auctions, clip_bark, flip_auctions
from contagion.lending.comet_step import absorb, buy_collateral
from contagion.lending.layout import LoanGroup
from contagion.lending.screen import HealthScreen, PositionPrices
from contagion.lending.state import (
    LIQUIDATION_KINDS,
    LendingParams,
    LendingRound,
    LendingState,
    Liquidations,
)
from contagion.world import AAVE, CDP, COMET, LendingBook

__all__ = [
    "LIQUIDATION_KINDS",
    "LendingParams",
    "LendingRound",
    "LendingState",
    "Liquidations",
    "lending_round",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def lending_round(
    book: LendingBook,
    state: LendingState,
    oracle_price: FloatArray | PositionPrices,
    oracle_usd: FloatArray | PositionPrices,
    market_price: FloatArray,
    slippage_depth_usd: FloatArray,
    params: LendingParams,
    margin_scale: FloatArray | None = None,
    screen: HealthScreen | None = None,
    *,
    in_place: bool = False,
) -> tuple[LendingState, LendingRound]:
    """Liquidate what the rules allow this round.

    Parameters
    ----------
    book
        The compiled positions and their market parameters.
    state
        Balances at the start of the round.
    oracle_price
        Per position: the price its protocol reads for its asset (feed quote units); an array
        or a :class:`~contagion.lending.screen.PositionPrices` view.
    oracle_usd
        Per position: the same price converted to USD (for Comet's store front).
    market_price
        Per asset: market price in USD.
    slippage_depth_usd
        Per asset: USD that moves its market 2% (pools and external venues together), used
        by liquidators to price the slippage of selling seized collateral.
    params
        Liquidator and keeper behaviour.
    margin_scale
        Per asset multiplier on liquidation thresholds (dynamic margin; 1 = unchanged).
    screen
        Health screening across rounds (:mod:`contagion.lending.screen`): only loans whose
        health can have fallen below 1 are evaluated; the outcome is the same.
    in_place
        Update ``state``'s arrays instead of copying them first (the round loop keeps only
        the newest state; a million-position copy per round is not free).
    """
    n_assets = len(market_price)
    op = oracle_price
    family = book.loan_family
    evaluated = screen.candidates(book, op, margin_scale) if screen is not None else None
    if evaluated is None:
        hf = _health(book, state, op, margin_scale, None)
        if screen is not None:
            screen.reset(book, hf, op, margin_scale, state.written_off)
        below = np.flatnonzero(hf < 1.0)
    else:
        assert screen is not None
        layout = screen.layout(book, evaluated)
        exact = _health(book, state, op, margin_scale, evaluated, layout)
        hf = screen.health(evaluated, exact)
        below = evaluated[exact < 1.0]
    # Written-off loans have nothing left to liquidate; their debt is bad debt whole.
    below = below[~state.written_off[below]]
    below_family = family[below]
    liquidatable = below if params.liquidations_enabled else below[:0]
    # The Aave family's loans below 1: liquidated (when enabled) and tested for bad debt.
    underwater = LoanGroup.of(book, below[below_family == AAVE])
    new = state if in_place else state.copy()
    flow = np.zeros(n_assets)
    parts: list[Liquidations] = []
    unprofitable = over_capacity = 0
    auctioned = new.open_auctions(book)
    opened = auctioned  # Auctions open after this round's barks.
    called = underwater.loans[:0]  # Loans given a liquidationCall.
    if len(liquidatable):
        kind = below_family
        part, unprofitable, over_capacity = liquidation_calls(
            book,
            new,
            op,
            market_price,
            slippage_depth_usd,
            params,
            hf,
            underwater,
            flow,
        )
        parts.append(part)
        called = part.loan
        parts.append(absorb(book, new, market_price, liquidatable[kind == COMET]))
        barked = liquidatable[kind == CDP]
        if params.clip is None:
            bark(book, new, barked, params)
        else:
            barked = clip_bark(book, new, barked, op, market_price, params, params.clip)
        if len(barked):
            opened = np.concatenate([auctioned, barked])
            opened.sort()
            opened = opened[np.append(True, opened[1:] != opened[:-1])]
            opened = opened[new.auction_tab[opened] > 0]
    store_sales = np.zeros_like(new.inventory)
    if params.liquidations_enabled:
        if params.clip is not None:
            parts.append(
                clip_auctions(book, new, opened, op, market_price, params, params.clip, flow)
            )
        elif params.flip is None:
            parts.append(auctions(book, new, opened, market_price, params, flow))
        else:
            parts.append(flip_auctions(book, new, opened, market_price, params, params.flip, flow))
        store_sales = buy_collateral(book, new, oracle_usd, market_price, flow)
    liquidations = Liquidations.concat(parts) if parts else Liquidations.empty()
    bad, by_asset = _bad_debt(book, new, market_price, underwater)
    # Loans liquidated down to their last collateral are written off from the next round
    # (this round's bad debt has them among the underwater loans).
    emptied = new.write_off(book, called)
    if screen is not None:
        # Open auctions hold no debt (the bark cleared it): only what was liquidated now
        # changed in a way that matters to its health; written-off loans no longer can.
        screen.touched(liquidatable)
        screen.retire(emptied, 0.0)
    return new, LendingRound(
        flow=flow,
        liquidations=liquidations,
        health_factor=hf,
        bad_debt_usd=bad,
        bad_debt_by_asset=by_asset,
        skipped_unprofitable=unprofitable,
        skipped_capacity=over_capacity,
        store_sales=store_sales,
    )


def _health(
    book: LendingBook,
    state: LendingState,
    op: FloatArray | PositionPrices,
    margin_scale: FloatArray | None,
    loans: IntArray | None,
    layout: tuple[IntArray, IntArray] | None = None,
) -> FloatArray:
    """Health factor of ``loans`` (all when None) with each family's own rule, in the
    protocol's quote units; ``layout`` is the loans' positions and the index of each one's
    loan in ``loans``, when known.

    Sums run over a loan's positions in order, one after the other, as the protocols'
    loops over a user's reserves do (``np.bincount``; a segmented ``reduceat`` adds a
    loan's first position to the sum of the others, and over half a million short segments
    is several times slower)."""
    if loans is None:
        weight = book.health_weight
        if margin_scale is not None:
            weight = weight * margin_scale[book.asset]
        price = op[:]
        # One temporary for both products (a million positions).
        values = np.multiply(state.collateral, price)
        values *= weight
        coll_value = np.bincount(book.loan, values, book.n_loans)
        debt_value = np.bincount(
            book.loan, np.multiply(state.debt, price, out=values), book.n_loans
        )
    else:
        if len(loans) == 0:
            return np.zeros(0)
        if layout is None:
            owner = np.repeat(np.arange(len(loans), dtype=np.int64), book.loan_size[loans])
            layout = (book.positions_of(loans), owner)
        pos, owner = layout
        weight = book.health_weight[pos]
        if margin_scale is not None:
            weight = weight * margin_scale[book.asset[pos]]
        price = op[pos]
        coll_value = np.bincount(owner, state.collateral[pos] * price * weight, len(loans))
        debt_value = np.bincount(owner, state.debt[pos] * price, len(loans))
    owes = debt_value > 0
    hf: FloatArray = np.divide(coll_value, debt_value, out=coll_value, where=owes)
    hf[~owes] = np.inf
    return hf


def _bad_debt(
    book: LendingBook,
    s: LendingState,
    pm: FloatArray,
    group: LoanGroup,
) -> tuple[FloatArray, FloatArray]:
    """Aave-family shortfall of the ``group`` of underwater loans and of the written-off ones
    (whose debt is short whole): the only loans below HF 1, so the only ones that can be
    short of collateral; Comet's loss and CDP debt auctions left uncovered."""
    by_asset = s.written_off_debt * pm[None, :]
    n_protocols, n_assets = by_asset.shape
    underwater = group.loans
    if len(underwater):
        pos = group.pos
        # Loans numbered 0..k-1 in ``underwater`` order: sums sized by k, not by every loan.
        local = group.local
        price = pm[book.asset[pos]]
        debt_pos = s.debt[pos] * price
        coll_usd = np.bincount(
            local, weights=s.collateral[pos] * price * book.used[pos], minlength=len(underwater)
        )
        debt_usd = np.bincount(local, weights=debt_pos, minlength=len(underwater))
        shortfall = np.maximum(debt_usd - coll_usd, 0.0)
        # Only loans short of collateral add to the allocation (the others would add zeros).
        short = ~(shortfall == 0.0)
        if short.any():
            rows = np.flatnonzero(short[local])
            owner, debt_pos = local[rows], debt_pos[rows]
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.where(debt_usd[owner] > 0, debt_pos / debt_usd[owner], 0.0)
            market = book.loan_protocol[underwater][owner] * n_assets + book.asset[pos[rows]]
            by_asset += np.bincount(
                market, weights=share * shortfall[owner], minlength=n_protocols * n_assets
            ).reshape(n_protocols, n_assets)
    inventory_usd = (s.inventory * pm[None, :]).sum(axis=1)
    comet_loss = np.maximum(s.absorbed_usd - s.proceeds_usd - inventory_usd, 0.0)
    total = by_asset.sum(axis=1) + comet_loss + s.auction_bad_debt_usd
    return total, by_asset
