"""CDP vaults' step of a lending round: ``bark`` and the auctions keepers bid in.

Unsafe vaults are barked into auctions for debt plus penalty; keepers buy collateral within a
per-round capacity at the market price less their margin
(:func:`~contagion.lending.cdp.cdp_liquidation`); the debt an auction has not raised when its
collateral runs out is bad debt. With :class:`~contagion.lending.cdp.FlipRules` the auctions are instead Maker's
2020 ``Flipper`` (tend, dent, deal after ``ttl``, tick after ``tau``); with
:class:`~contagion.lending.cdp.ClipRules` Maker's ``Dog`` and ``Clipper`` (barks within the
``Hole`` limits, falling-price auctions keepers take, ``redo``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from contagion.lending.cdp import (
    ClipRules,
    FlipRules,
    cdp_liquidation,
    clip_needs_redo,
    clip_price,
    clip_takes,
    flip_bids,
    flip_deficit,
    hole_room,
)
from contagion.lending.layout import LoanGroup, kept
from contagion.lending.screen import PositionPrices
from contagion.lending.state import (
    KIND_AUCTION,
    KIND_ZERO_BID,
    LendingParams,
    LendingState,
    Liquidations,
)
from contagion.world import LendingBook

__all__ = ["auctions", "bark", "clip_auctions", "clip_bark", "clip_next_event_s", "flip_auctions"]

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
    # What the vault owed (the Vow's ``sin``), and what the auction has raised so far.
    s.auction_debt[loans] += tab
    s.auction_bid[loans] = 0.0
    if params.flip is not None:
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
    raised = s.auction_bid[loans]
    owed_usd = np.maximum(s.auction_debt[loans] - raised, 0.0) * pm[da]
    result = cdp_liquidation(tab_usd, s.auction_collateral[loans], price, capacity, owed_usd)
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
    # Closed: the tab raised, or the collateral gone (cdp_liquidation zeroes tab_left).
    closed = covered | ((result.tab_left <= 0) & (result.collateral_left <= 0))
    s.auction_tab[loans] = np.where(closed, 0.0, result.tab_left / pm[da])
    s.auction_collateral[loans] = np.where(closed, 0.0, result.collateral_left)
    s.auction_bid[loans] = np.where(closed, 0.0, raised + result.tab_covered / pm[da])
    s.auction_debt[loans] = np.where(closed, 0.0, s.auction_debt[loans])
    loans, ca, da, sold, tab_covered = kept(sold > 0, loans, ca, da, sold, result.tab_covered)
    kind = np.full(len(loans), KIND_AUCTION, dtype=np.int64)
    return _sales(book, kind, loans, ca, da, sold, tab_covered / pm[da], pm, tab_covered)


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
    kind = np.where(zero, KIND_ZERO_BID, KIND_AUCTION).astype(np.int64)
    return _sales(book, kind, d_loans, d_ca, d_da, lot, bid, pm)


# -- Dog and Clipper (Liquidations 2.0) ----------------------------------------------------


def clip_bark(
    book: LendingBook,
    s: LendingState,
    loans: IntArray,
    op: FloatArray | PositionPrices,
    pm: FloatArray,
    params: LendingParams,
    rules: ClipRules,
) -> IntArray:
    """dog.sol ``bark`` of the unsafe vaults ``loans`` (sorted) within the Dog's limits, and
    clip.sol ``kick`` of their auctions; returns the vaults barked.

    Keepers bark the largest tabs first (their reward grows with the tab), one after the
    other: each vault is barked for the room ``Hole`` and its ``ilk.hole`` leave
    (:func:`~contagion.lending.cdp.hole_room`), its debt and collateral taken in proportion
    (``dink = ink · dart / art``). A vault whose auction is still open waits for it to end.
    The auction starts at ``top = buf`` times the protocol's oracle price of the collateral
    in debt units; the keeper's reward (``tip + chip · tab``) is the protocol's cost."""
    loans = loans[s.auction_tab[loans] <= 0]
    if len(loans) == 0:
        return loans
    group = LoanGroup.of(book, loans)
    pos, local, k = group.pos, group.local, len(loans)
    penalty = np.zeros(k)
    np.maximum.at(penalty, local, book.penalty[pos])
    debt = np.bincount(local, weights=s.debt[pos], minlength=k)
    tab = debt * (1.0 + penalty)
    coll_asset, debt_asset = book.loan_collateral_debt_asset
    ca, da = coll_asset[loans], debt_asset[loans]
    protocol = book.loan_protocol[loans]
    n_assets = len(pm)
    # Dirt and dirt: the tabs of the auctions open before these barks.
    opened = s.open_auctions(book)
    n_protocols = len(book.protocol_ids)
    dirt_key = book.loan_protocol[opened] * n_assets + coll_asset[opened]
    ilk_dirt = np.bincount(dirt_key, s.auction_tab[opened], n_protocols * n_assets)
    dog_dirt = np.bincount(book.loan_protocol[opened], s.auction_tab[opened], n_protocols)
    order = np.argsort(-tab, kind="stable")
    barked_tab = np.empty(k)
    barked_tab[order] = hole_room(
        tab[order],
        (protocol * n_assets + ca)[order],
        protocol[order],
        np.tile(rules.ilk_hole_by_asset(book.asset_ids), n_protocols) - ilk_dirt,
        rules.hole - dog_dirt,
        (rules.dust * (1.0 + penalty))[order],
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(tab > 0, np.minimum(barked_tab / tab, 1.0), 0.0)
    chosen = share > 0
    loans, share, penalty, debt, ca, da, protocol = kept(
        chosen, loans, share, penalty, debt, ca, da, protocol
    )
    rows = np.flatnonzero(chosen[local])
    pos, local = pos[rows], np.cumsum(chosen)[local[rows]] - 1
    taken = np.where(book.used[pos], s.collateral[pos] * share[local], 0.0)
    s.auction_top[loans] = _clip_top(book, pos, local, op, da, rules.buf)
    s.collateral[pos] -= taken
    s.debt[pos] -= s.debt[pos] * share[local]
    due = debt * share
    s.auction_tab[loans] = due * (1.0 + penalty)
    s.auction_collateral[loans] = np.bincount(local, weights=taken, minlength=len(loans))
    s.auction_debt[loans] = due
    s.auction_bid[loans] = 0.0
    s.auction_tic[loans] = params.now_s
    reward = rules.incentive(s.auction_tab[loans]) * pm[da]
    np.add.at(s.auction_bad_debt_usd, protocol, reward)
    return loans


def clip_auctions(
    book: LendingBook,
    s: LendingState,
    loans: IntArray,
    op: FloatArray | PositionPrices,
    pm: FloatArray,
    params: LendingParams,
    rules: ClipRules,
    flow: FloatArray,
) -> Liquidations:
    """One round of Clipper auctions at ``params.now_s``: ``redo`` of those past ``tail`` or
    ``cusp`` (a new ``top`` at the oracle price, the keeper's reward paid), then keepers'
    ``take`` within their capacity (:func:`~contagion.lending.cdp.clip_takes`).

    A take pays the auction's price: the collateral bought is sold on the market (sell flow)
    and the DAI paid bought there (buy flow). An auction ends when its tab is raised (the
    collateral left goes back to the vault) or its collateral is gone (the debt it did not
    raise is bad debt: clip.sol leaves it in the Vow as ``sin``; the penalty is income, not
    debt). ``loans`` are the open auctions (sorted)."""
    if len(loans) == 0:
        return Liquidations.empty()
    now = params.now_s
    coll_asset, debt_asset = book.loan_collateral_debt_asset
    ca, da = coll_asset[loans], debt_asset[loans]
    top, tic = s.auction_top[loans], s.auction_tic[loans]
    price = clip_price(top, now - tic, rules)
    redo = clip_needs_redo(top, price, now - tic, rules)
    if redo.any():
        group = LoanGroup.of(book, loans[redo])
        again = group.loans
        new_top = _clip_top(book, group.pos, group.local, op, da[redo], rules.buf)
        s.auction_top[again] = new_top
        s.auction_tic[again] = now
        price = np.where(redo, 0.0, price)
        price[redo] = new_top
        reward = rules.incentive(s.auction_tab[again]) * pm[da[redo]]
        np.add.at(s.auction_bad_debt_usd, book.loan_protocol[again], reward)
    tab, lot = s.auction_tab[loans], s.auction_collateral[loans]
    worth = pm[ca] * (1.0 - params.keeper_margin) / pm[da]
    group = LoanGroup.of(book, loans)
    chop = np.ones(len(loans))
    np.maximum.at(chop, group.local, 1.0 + book.penalty[group.pos])
    chost = rules.dust * chop
    takes = clip_takes(price, tab, lot, worth, pm[da], params.keeper_capacity_usd, chost)
    owe, bought = takes.owe, takes.slice
    np.add.at(flow, ca, -bought)
    np.add.at(flow, da, owe)
    raised = s.auction_bid[loans] + owe
    tab_left = tab - owe
    lot_left = lot - bought
    emptied = (bought > 0) & (bought >= lot)
    covered = ~emptied & (owe > 0) & (tab_left <= 0)
    # A raised tab returns the collateral left to the vault.
    back = loans[covered]
    if len(back):
        back_pos = book.positions_of(back)
        amount = np.repeat(lot_left[covered], book.loan_size[back])
        used = book.used[back_pos]
        s.collateral[back_pos[used]] += amount[used]
    deficit = np.where(emptied, np.maximum(s.auction_debt[loans] - raised, 0.0), 0.0) * pm[da]
    np.add.at(s.auction_bad_debt_usd, book.loan_protocol[loans], deficit)
    closed = emptied | covered
    s.auction_tab[loans] = np.where(closed, 0.0, tab_left)
    s.auction_collateral[loans] = np.where(closed, 0.0, lot_left)
    s.auction_bid[loans] = np.where(closed, 0.0, raised)
    for field in (s.auction_debt, s.auction_tic, s.auction_top):
        field[loans[closed]] = 0.0
    loans, ca, da, bought, owe = kept(bought > 0, loans, ca, da, bought, owe)
    kind = np.full(len(loans), KIND_AUCTION, dtype=np.int64)
    return _sales(book, kind, loans, ca, da, bought, owe, pm)


def _clip_top(
    book: LendingBook,
    pos: IntArray,
    local: IntArray,
    op: FloatArray | PositionPrices,
    debt_asset: IntArray,
    buf: float,
) -> FloatArray:
    """clip.sol ``top``: ``buf`` times the protocol's oracle price of each vault's collateral
    in units of its debt (``pos``: the vaults' positions, ``local``: each one's vault)."""
    price = op[pos]
    coll_price = np.zeros(len(debt_asset))
    debt_price = np.zeros(len(debt_asset))
    used = book.used[pos]
    coll_price[local[used]] = price[used]
    owes = book.asset[pos] == debt_asset[local]
    debt_price[local[owes]] = price[owes]
    with np.errstate(divide="ignore", invalid="ignore"):
        top: FloatArray = np.where(debt_price > 0, buf * coll_price / debt_price, 0.0)
    return top


def _sales(
    book: LendingBook,
    kind: IntArray,
    loans: IntArray,
    ca: IntArray,
    da: IntArray,
    sold: FloatArray,
    repaid: FloatArray,
    pm: FloatArray,
    debt_usd: FloatArray | None = None,
) -> Liquidations:
    """Auction sales as liquidation records: collateral sold for debt (no protocol fee)."""
    return Liquidations(
        kind=kind,
        loan=loans,
        protocol=book.loan_protocol[loans],
        collateral_asset=ca,
        debt_asset=da,
        collateral_seized=sold,
        debt_repaid=repaid,
        protocol_fee=np.zeros(len(loans)),
        collateral_usd=sold * pm[ca],
        debt_usd=repaid * pm[da] if debt_usd is None else debt_usd,
    )


def clip_next_event_s(
    book: LendingBook,
    s: LendingState,
    pm: FloatArray,
    now_s: float,
    keeper_margin: float,
    rules: ClipRules,
) -> float:
    """Earliest time after ``now_s`` an open Clipper auction becomes takeable at the
    market prices ``pm`` (its falling price reaches what keepers pay) or needs ``redo``;
    ``inf`` with no open auction. While auctions only wait for their price to fall, nothing
    else changes: the solver jumps its clock to this time."""
    loans = s.open_auctions(book)
    if len(loans) == 0:
        return float("inf")
    coll_asset, debt_asset = book.loan_collateral_debt_asset
    top, tic = s.auction_top[loans], s.auction_tic[loans]
    worth = pm[coll_asset[loans]] * (1.0 - keeper_margin) / pm[debt_asset[loans]]
    log_cut = np.log(rules.cut)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Steps until top · cut^k <= worth, and until top · cut^k < cusp · top.
        to_take = np.ceil(np.log(worth / top) / log_cut - 1e-12)
    to_take = np.where(np.isfinite(to_take), np.maximum(to_take, 0.0), np.inf)
    take_s = tic + to_take * rules.step_s
    # Past due but not taken (no capacity, or rounding at the step): the next step.
    next_step = tic + (np.floor((now_s - tic) / rules.step_s) + 1.0) * rules.step_s
    take_s = np.where(take_s <= now_s, next_step, take_s)
    to_cusp = np.floor(np.log(rules.cusp) / log_cut) + 1.0 if rules.cusp > 0 else np.inf
    times = np.concatenate(
        [
            take_s,
            tic + to_cusp * rules.step_s,
            # ``tail`` is passed once the age exceeds it: a second later.
            tic + rules.tail_s + 1.0,
        ]
    )
    times = times[times > now_s]
    return float(times.min()) if len(times) else float("inf")
