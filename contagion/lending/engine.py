"""One round of liquidations over every lending position, vectorised.

Each family follows its protocol's rules (see :mod:`contagion.lending.aave`,
:mod:`~contagion.lending.compound`, :mod:`~contagion.lending.cdp`), with the protocol's own
oracle prices deciding *whether* a loan is liquidated and market prices deciding whether a
liquidator finds it worth doing and what the collateral fetches:

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
  collateral within a per-round capacity at the market price less their margin; a tab left
  when the collateral runs out is bad debt. With :class:`~contagion.lending.cdp.FlipRules`
  the auctions are instead Maker's 2020 ``Flipper`` (tend, dent, deal after ``ttl``, tick
  after ``tau``): keepers bid within their capacity, an opportunistic bidder bids 0 DAI on
  what nobody else bids on, and the debt a final bid does not cover is bad debt.

Bad debt of the Aave family is the market-value shortfall of insolvent loans
(``max(0, debt - collateral)``), allocated to debt assets pro rata: it is what the suppliers of
those assets (the aToken holders) stand to lose.

References
----------
Qin, Zhou, Gamito, Jovanovic, Gervais (2021). An Empirical Study of DeFi Liquidations.
Perez, Werner, Xu, Livshits (2021). Liquidations: DeFi on a Knife-edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from contagion.lending.aave import aave_liquidation
from contagion.lending.cdp import FlipRules, cdp_liquidation, flip_bids, flip_deficit
from contagion.lending.layout import LoanGroup
from contagion.lending.screen import HealthScreen, PositionPrices
from contagion.world import AAVE, CDP, COMET, LendingBook

__all__ = ["LendingParams", "LendingRound", "LendingState", "Liquidations", "lending_round"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

KIND_AAVE, KIND_ABSORB, KIND_AUCTION, KIND_ZERO_BID = 0, 1, 2, 3
LIQUIDATION_KINDS = ("aave-liquidation-call", "comet-absorb", "cdp-auction", "cdp-zero-bid")


@dataclass(frozen=True)
class LendingParams:
    """Behaviour of liquidators and keepers in one round.

    Attributes
    ----------
    liquidator_capacity_usd
        Debt (USD) liquidators can repay per round across Aave-family protocols.
    gas_usd
        Cost of one liquidation transaction.
    keeper_capacity_usd
        USD keepers can spend per round on CDP auctions.
    keeper_margin
        Discount to the market price keepers require to buy auctioned collateral.
    liquidations_enabled
        False while a circuit breaker pauses liquidations.
    flip
        Run CDP auctions as Maker's ``Flipper`` with these rules; None (the default) runs
        the market-price auctions of :func:`~contagion.lending.cdp.cdp_liquidation`.
    now_s
        Time of the round (seconds): flip auctions' ``tic`` and ``end`` are measured on it.
    """

    liquidator_capacity_usd: float = np.inf
    gas_usd: float = 30.0
    keeper_capacity_usd: float = np.inf
    keeper_margin: float = 0.02
    liquidations_enabled: bool = True
    flip: FlipRules | None = None
    now_s: float = 0.0


@dataclass(frozen=True)
class LendingState:
    """Balances that change as loans are liquidated."""

    collateral: FloatArray
    debt: FloatArray
    auction_tab: FloatArray
    """Per loan: debt plus penalty an open CDP auction must still raise (debt-asset units)."""
    auction_collateral: FloatArray
    """Per loan: collateral left in the open auction."""
    inventory: FloatArray
    """Per protocol x asset: collateral absorbed by Comet and not sold yet."""
    absorbed_usd: FloatArray
    """Per protocol: debt written off (plus surplus credited) by absorb, cumulative, USD."""
    proceeds_usd: FloatArray
    """Per protocol: what absorbed collateral fetched, cumulative, USD."""
    auction_bad_debt_usd: FloatArray
    """Per protocol: CDP tabs left uncovered, cumulative, USD."""
    auction_debt: FloatArray
    """Per loan: debt (without penalty) of the open flip auction, debt-asset units."""
    auction_bid: FloatArray
    """Per loan: the open flip auction's bid (debt-asset units)."""
    auction_tic: FloatArray
    """Per loan: when the flip auction's last bid expires (s; 0 while it has no bid)."""
    auction_end: FloatArray
    """Per loan: when the flip auction ends (s)."""
    written_off: NDArray[np.bool_]
    """Per loan: an Aave-family loan with debt and no collateral left, which no
    ``liquidationCall`` can reach again (there is nothing to seize) and nothing in a round
    changes: its whole debt is bad debt for good."""
    written_off_debt: FloatArray
    """Per protocol x asset: debt (tokens) of the written-off loans."""

    def copy(self) -> LendingState:
        """A state with its own copies of every array (updated in place during a round)."""
        return LendingState(**{k: getattr(self, k).copy() for k in self.__dataclass_fields__})

    @classmethod
    def initial(cls, book: LendingBook, n_assets: int) -> LendingState:
        n_protocols = len(book.protocol_ids)
        state = cls(
            collateral=book.collateral.copy(),
            debt=book.debt.copy(),
            auction_tab=np.zeros(book.n_loans),
            auction_collateral=np.zeros(book.n_loans),
            inventory=np.zeros((n_protocols, n_assets)),
            absorbed_usd=np.zeros(n_protocols),
            proceeds_usd=np.zeros(n_protocols),
            auction_bad_debt_usd=np.zeros(n_protocols),
            auction_debt=np.zeros(book.n_loans),
            auction_bid=np.zeros(book.n_loans),
            auction_tic=np.zeros(book.n_loans),
            auction_end=np.zeros(book.n_loans),
            written_off=np.zeros(book.n_loans, dtype=bool),
            written_off_debt=np.zeros((n_protocols, n_assets)),
        )
        _write_off(book, state, book.uncollateralised_aave_loans)
        return state


@dataclass(frozen=True)
class Liquidations:
    """The liquidations of one round, one entry per liquidated loan and asset pair."""

    kind: IntArray
    loan: IntArray
    protocol: IntArray
    collateral_asset: IntArray
    debt_asset: IntArray
    collateral_seized: FloatArray
    debt_repaid: FloatArray
    protocol_fee: FloatArray
    collateral_usd: FloatArray
    debt_usd: FloatArray

    @classmethod
    def empty(cls) -> Liquidations:
        i, f = np.zeros(0, dtype=np.int64), np.zeros(0)
        return cls(i, i, i, i, i, f, f, f, f, f)

    @classmethod
    def concat(cls, parts: list[Liquidations]) -> Liquidations:
        fields = cls.__dataclass_fields__
        return cls(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in fields})

    def __len__(self) -> int:
        return len(self.loan)


@dataclass(frozen=True)
class LendingRound:
    """What one round of liquidations did."""

    flow: FloatArray
    """Per asset, tokens: positive bought (debt repaid, DAI for tabs), negative sold."""
    liquidations: Liquidations
    health_factor: FloatArray
    """Per loan, before this round's liquidations (protocol oracle prices)."""
    bad_debt_usd: FloatArray
    """Per protocol, after the round: Aave-family shortfall + Comet loss + CDP bad debt."""
    bad_debt_by_asset: FloatArray
    """Per protocol x asset: the Aave-family shortfall allocated to debt assets (USD)."""
    skipped_unprofitable: int
    skipped_capacity: int


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
    written_off_before = new.written_off_debt.copy()
    flow = np.zeros(n_assets)
    parts: list[Liquidations] = []
    unprofitable = over_capacity = 0
    auctioned = np.flatnonzero(new.auction_tab > 0)
    opened = auctioned  # Auctions open after this round's barks.
    called = underwater.loans[:0]  # Loans given a liquidationCall.
    if len(liquidatable):
        kind = below_family
        part, unprofitable, over_capacity = _aave(
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
        parts.append(_comet(book, new, market_price, liquidatable[kind == COMET]))
        barked = liquidatable[kind == CDP]
        _bark(book, new, barked, params)
        if len(barked):
            opened = np.concatenate([auctioned, barked])
            opened.sort()
            opened = opened[np.append(True, opened[1:] != opened[:-1])]
            opened = opened[new.auction_tab[opened] > 0]
    if params.liquidations_enabled:
        if params.flip is None:
            parts.append(_auctions(book, new, opened, market_price, params, flow))
        else:
            parts.append(_flip_auctions(book, new, opened, market_price, params, params.flip, flow))
        parts.append(_sell_inventory(book, new, oracle_usd, market_price, flow))
    # Loans liquidated down to their last collateral are written off from the next round.
    emptied = _write_off(book, new, called)
    if screen is not None:
        # Open auctions hold no debt (the bark cleared it): only what was liquidated now
        # changed in a way that matters to its health; written-off loans no longer can.
        screen.touched(liquidatable)
        screen.retire(emptied, 0.0)
    liquidations = Liquidations.concat(parts) if parts else Liquidations.empty()
    bad, by_asset = _bad_debt(book, new, market_price, underwater, written_off_before)
    return new, LendingRound(
        flow=flow,
        liquidations=liquidations,
        health_factor=hf,
        bad_debt_usd=bad,
        bad_debt_by_asset=by_asset,
        skipped_unprofitable=unprofitable,
        skipped_capacity=over_capacity,
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


def _aave(
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
    loans, d, c = _kept((d >= 0) & (c >= 0), group.loans, d, c)
    liq = aave_liquidation(
        np.inf,
        s.debt[d],
        s.collateral[c],
        op[d],
        op[c],
        book.bonus[c],
        book.protocol_fee[c],
        hf[loans],
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
    take = _capacity_share(profitable, profit, repaid_usd, params.liquidator_capacity_usd)
    over_capacity = int((profitable & (take < 1.0)).sum())
    seized = liq.collateral_seized * take
    repaid = liq.debt_repaid * take
    fee = liq.protocol_fee * take
    s.collateral[c] = np.maximum(s.collateral[c] - seized, 0.0)
    s.debt[d] = np.maximum(s.debt[d] - repaid, 0.0)
    loans, ca, da, seized, repaid, fee, price_c, price_d = _kept(
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


def _write_off(book: LendingBook, s: LendingState, loans: IntArray) -> IntArray:
    """Write off those of the Aave-family ``loans`` (sorted, not written off yet) left with
    debt and no collateral; they are returned.

    Aave's ``liquidationCall`` seizes only reserves the borrower uses as collateral
    (``validateLiquidationCall``): with none left the loan is beyond reach, and nothing in
    the model repays or adds to it. Its debt is kept per market in the state, valued at
    each round's prices as bad debt, and the loan leaves the rounds' work."""
    loans = loans[~s.written_off[loans]]
    if len(loans) == 0:
        return loans
    group = LoanGroup.of(book, loans)
    pos, local = group.pos, group.local
    left = np.bincount(local, s.collateral[pos] * book.used[pos], len(loans))
    owed = np.bincount(local, s.debt[pos], len(loans))
    gone = (left == 0.0) & (owed > 0.0)
    if not gone.any():
        return loans[:0]
    rows = np.flatnonzero(gone[local])
    n_protocols, n_assets = s.written_off_debt.shape
    market = book.loan_protocol[book.loan[pos[rows]]] * n_assets + book.asset[pos[rows]]
    s.written_off_debt[...] += np.bincount(
        market, s.debt[pos[rows]], n_protocols * n_assets
    ).reshape(n_protocols, n_assets)
    emptied: IntArray = loans[gone]
    s.written_off[emptied] = True
    return emptied


def _kept(keep: NDArray[np.bool_], *arrays: NDArray[Any]) -> tuple[Any, ...]:
    """``arrays`` where ``keep`` holds (the arrays themselves when it holds everywhere)."""
    if keep.all():
        return arrays
    # Integer indices: cheaper than a boolean mask applied to each array.
    idx = np.flatnonzero(keep)
    return tuple(a[idx] for a in arrays)


def _capacity_share(
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


def _comet(book: LendingBook, s: LendingState, pm: FloatArray, loans: IntArray) -> Liquidations:
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


def _sell_inventory(
    book: LendingBook,
    s: LendingState,
    oracle_usd: FloatArray | PositionPrices,
    pm: FloatArray,
    flow: FloatArray,
) -> Liquidations:
    """Comet's buyCollateral: inventory sells once the store-front price is at or below market.

    The store-front price is the protocol's oracle price less
    ``storeFrontPriceFactor * (1 - liquidationFactor)``; while the oracle lags a falling market
    it sits above the market price and nobody buys.
    """
    protos, assets = np.nonzero(s.inventory > 0)
    if len(protos) == 0:
        return Liquidations.empty()
    # Any position of the (protocol, asset) market carries its parameters and oracle price.
    idx = book.position_of_market(protos, assets)
    discount = book.store_front[idx] * (1.0 - book.liquidation_factor[idx])
    store_price = oracle_usd[idx] * (1.0 - discount)
    amount = np.where(store_price <= pm[assets], s.inventory[protos, assets], 0.0)
    np.add.at(flow, assets, -amount)
    np.add.at(s.proceeds_usd, protos, amount * store_price)
    s.inventory[protos, assets] -= amount
    return Liquidations.empty()


def _bark(book: LendingBook, s: LendingState, loans: IntArray, params: LendingParams) -> None:
    """Start auctions of unsafe vaults for their debt plus the liquidation penalty (a flip
    auction is kicked with bid 0, no bid expiry and ``end = now + tau``)."""
    if len(loans) == 0:
        return
    if book.all_vaults(loans):
        tab = _bark_vaults(book, s, loans)
    else:
        group = LoanGroup.of(book, loans)
        pos, local, k = group.pos, group.local, len(loans)
        penalty = np.zeros(k)
        np.maximum.at(penalty, local, book.penalty[pos])
        tab = np.asarray(np.bincount(local, weights=s.debt[pos], minlength=k), dtype=float)
        taken = np.where(book.used[pos], s.collateral[pos], 0.0)
        s.auction_tab[loans] += tab * (1.0 + penalty)
        s.auction_collateral[loans] += np.bincount(local, weights=taken, minlength=k)
        s.collateral[pos] -= taken
        s.debt[pos] = 0.0
    if params.flip is not None:
        s.auction_debt[loans] += tab
        s.auction_bid[loans] = 0.0
        s.auction_tic[loans] = 0.0
        s.auction_end[loans] = params.now_s + params.flip.tau_s


def _bark_vaults(book: LendingBook, s: LendingState, loans: IntArray) -> FloatArray:
    """:func:`_bark` of vault-shaped loans (one collateral position and one other): the sums
    over a vault's positions, in position order, read its two positions. Returns the debt."""
    vault_first, vault_second, vault_collateral = book.vault_positions
    first, second, used = vault_first[loans], vault_second[loans], vault_collateral[loans]
    penalty = np.maximum(np.maximum(0.0, book.penalty[first]), book.penalty[second])
    tab: FloatArray = s.debt[first] + s.debt[second]
    taken = s.collateral[used]
    s.auction_tab[loans] += tab * (1.0 + penalty)
    s.auction_collateral[loans] += taken
    s.collateral[used] -= taken
    s.debt[first] = 0.0
    s.debt[second] = 0.0
    return tab


def _auctions(
    book: LendingBook,
    s: LendingState,
    loans: IntArray,
    pm: FloatArray,
    params: LendingParams,
    flow: FloatArray,
) -> Liquidations:
    """One round of market-price auctions of the open ``loans`` (sorted)."""
    if len(loans) == 0:
        return Liquidations.empty()
    coll_asset, debt_asset = book.loan_collateral_debt_asset
    ca, da = coll_asset[loans], debt_asset[loans]
    tab_usd = s.auction_tab[loans] * pm[da]
    total = tab_usd.sum()
    capacity = params.keeper_capacity_usd * tab_usd / total if total > 0 else tab_usd
    price = pm[ca] * (1.0 - params.keeper_margin)
    result = cdp_liquidation(tab_usd, s.auction_collateral[loans], price, capacity)
    sold = result.collateral_sold
    np.add.at(flow, ca, -sold)
    np.add.at(flow, da, result.tab_covered / pm[da])
    # Collateral left after the tab is covered goes back to the vault.
    covered = (result.tab_left <= 0) & (result.bad_debt <= 0)
    returned = np.where(covered, result.collateral_left, 0.0)
    back = returned > 0
    if book.all_vaults(loans[back]):
        s.collateral[book.vault_positions[2][loans[back]]] += returned[back]
    else:
        back_pos = book.positions_of(loans[back])
        back_amount = np.repeat(returned[back], book.loan_size[loans[back]])
        used = book.used[back_pos]
        s.collateral[back_pos[used]] += back_amount[used]
    np.add.at(s.auction_bad_debt_usd, book.loan_protocol[loans], result.bad_debt)
    s.auction_tab[loans] = np.where(covered | (result.bad_debt > 0), 0.0, result.tab_left / pm[da])
    s.auction_collateral[loans] = np.where(
        covered | (result.bad_debt > 0), 0.0, result.collateral_left
    )
    loans, ca, da, sold, tab_covered = _kept(sold > 0, loans, ca, da, sold, result.tab_covered)
    return Liquidations(
        kind=np.full(len(loans), KIND_AUCTION, dtype=np.int64),
        loan=loans,
        protocol=book.loan_protocol[loans],
        collateral_asset=ca,
        debt_asset=da,
        collateral_seized=sold,
        debt_repaid=tab_covered / pm[da],
        protocol_fee=np.zeros(len(loans)),
        collateral_usd=sold * pm[ca],
        debt_usd=tab_covered,
    )


def _flip_auctions(
    book: LendingBook,
    s: LendingState,
    loans: IntArray,
    pm: FloatArray,
    params: LendingParams,
    rules: FlipRules,
    flow: FloatArray,
) -> Liquidations:
    """One round of ``Flipper`` auctions ending at ``params.now_s``.

    In order: ``tick`` restarts what ended without a bid; keepers ``tend`` and ``dent``
    within their capacity; ``deal`` settles what expired (``tic``) or ended (``end``) without
    a new bid; the zero bidder bids 0 DAI on every auction still without a bid. A round is
    the interval up to ``now``: keepers acting in it act before the bids expiring in it, so
    a bid stands against keepers for between ``ttl`` and ``ttl`` plus one round.

    The winner of a dealt lot sells it (sell flow of the collateral); keepers buy the DAI
    they bid as they raise it (buy flow of the debt asset). ``loans`` are the open auctions
    (sorted).
    """
    if len(loans) == 0:
        return Liquidations.empty()
    now = params.now_s
    coll_asset, debt_asset = book.loan_collateral_debt_asset
    ca, da = coll_asset[loans], debt_asset[loans]
    # tick: an auction past its end without a bid starts again.
    restart = (s.auction_tic[loans] == 0) & (s.auction_end[loans] <= now)
    s.auction_end[loans[restart]] = now + rules.tau_s
    # tend and dent by keepers, priced in USD so that one capacity covers every debt asset.
    unit = pm[da]
    bids = flip_bids(
        s.auction_bid[loans] * unit,
        s.auction_collateral[loans],
        s.auction_tab[loans] * unit,
        pm[ca] * (1.0 - params.keeper_margin),
        params.keeper_capacity_usd,
        rules.beg,
    )
    s.auction_bid[loans] = np.where(bids.placed, bids.bid / unit, s.auction_bid[loans])
    s.auction_collateral[loans] = bids.lot
    np.add.at(flow, da, bids.raised / unit)
    back = np.zeros(book.n_loans)
    back[loans] = bids.returned
    back_pos = book.positions_of(loans[bids.returned > 0])
    back_pos = back_pos[book.used[back_pos]]
    s.collateral[back_pos] += back[book.loan[back_pos]]
    tic, end = s.auction_tic[loans], s.auction_end[loans]
    s.auction_tic[loans[bids.placed]] = now + rules.ttl_s
    # deal: the last bid expired with no new one, or the auction ended (flip.sol ``deal``).
    dealt = (tic > 0) & (((tic <= now) & ~bids.placed) | (end <= now))
    d_loans, d_ca, d_da = loans[dealt], ca[dealt], da[dealt]
    lot, bid = s.auction_collateral[d_loans], s.auction_bid[d_loans]
    np.add.at(flow, d_ca, -lot)
    deficit = flip_deficit(s.auction_debt[d_loans], bid) * pm[d_da]
    np.add.at(s.auction_bad_debt_usd, book.loan_protocol[d_loans], deficit)
    for closed in (
        s.auction_tab,
        s.auction_collateral,
        s.auction_debt,
        s.auction_bid,
        s.auction_tic,
        s.auction_end,
    ):
        closed[d_loans] = 0.0
    # The zero bidder takes every auction nobody has bid on.
    if rules.zero_bidder:
        unbid = loans[~dealt & ~bids.placed & (tic == 0)]
        s.auction_tic[unbid] = now + rules.ttl_s
    zero = bid <= 0
    return Liquidations(
        kind=np.where(zero, KIND_ZERO_BID, KIND_AUCTION).astype(np.int64),
        loan=d_loans,
        protocol=book.loan_protocol[d_loans],
        collateral_asset=d_ca,
        debt_asset=d_da,
        collateral_seized=lot,
        debt_repaid=bid,
        protocol_fee=np.zeros(len(d_loans)),
        collateral_usd=lot * pm[d_ca],
        debt_usd=bid * pm[d_da],
    )


def _bad_debt(
    book: LendingBook,
    s: LendingState,
    pm: FloatArray,
    group: LoanGroup,
    written_off_debt: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Aave-family shortfall of the ``group`` of underwater loans and of the written-off ones
    (whose ``written_off_debt`` is short whole): the only loans below HF 1, so the only ones
    that can be short of collateral; Comet's loss and CDP tabs left uncovered."""
    by_asset = written_off_debt * pm[None, :]
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
