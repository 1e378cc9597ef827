"""CDP vaults' step of a lending round: ``bark`` and the auctions keepers bid in.

Unsafe vaults are barked into auctions for debt plus penalty; keepers buy collateral within a
per-round capacity at the market price less their margin
(:func:`~contagion.lending.cdp.cdp_liquidation`); a tab left when the collateral runs out is
bad debt. With :class:`~contagion.lending.cdp.FlipRules` the auctions are instead Maker's
2020 ``Flipper`` (tend, dent, deal after ``ttl``, tick after ``tau``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from contagion.lending.cdp import FlipRules, cdp_liquidation, flip_bids, flip_deficit
from contagion.lending.layout import LoanGroup, kept
from contagion.lending.state import (
    KIND_AUCTION,
    KIND_ZERO_BID,
    LendingParams,
    LendingState,
    Liquidations,
)
from contagion.world import LendingBook

__all__ = ["auctions", "bark", "flip_auctions"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def bark(book: LendingBook, s: LendingState, loans: IntArray, params: LendingParams) -> None:
    """Start auctions of unsafe vaults for their debt plus the liquidation penalty (a flip
    auction is kicked with bid 0, no bid expiry and ``end = now + tau``)."""
    if len(loans) == 0:
        return
    if book.all_vaults(loans):
        tab = bark_vaults(book, s, loans)
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


def bark_vaults(book: LendingBook, s: LendingState, loans: IntArray) -> FloatArray:
    """:func:`bark` of vault-shaped loans (one collateral position and one other): the sums
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


def auctions(
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
    loans, ca, da, sold, tab_covered = kept(sold > 0, loans, ca, da, sold, result.tab_covered)
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


def flip_auctions(
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
