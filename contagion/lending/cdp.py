"""Maker-style collateralised debt positions: liquidation ratio, penalty, keeper auctions.

Three auction rules are modelled. The default (:func:`cdp_liquidation`) is a market-price
simplification of Maker's Liquidations 2.0:

* a vault is unsafe when ``collateral · price / liquidation_ratio < debt``;
* ``bark`` starts an auction for the debt plus the liquidation penalty
  (``tab = debt · (1 + penalty)``);
* keepers buy the collateral at the market price less their margin (where competing keepers
  take a falling-price auction), within a capacity per round shared over the open auctions,
  so auctions can run over several rounds; the collateral is sold until the tab is covered,
  any collateral left returns to the vault owner, and the debt not covered once the
  collateral is gone is bad debt (``sin``) of the protocol (the penalty is income foregone,
  not a loss).

The second (:class:`ClipRules`, :func:`clip_price`, :func:`hole_room`, :func:`clip_takes`) is
Liquidations 2.0 itself, ``Dog`` and ``Clipper`` (``dog.sol``, ``clip.sol``, ``abaci.sol``):

* ``bark`` is limited by the ``Hole`` (all of a Dog's auctions) and ``ilk.hole`` (one
  collateral type's) on the tabs of open auctions (``Dirt``, ``dirt``): a vault is barked
  only for the room left, in part when the room is smaller than its tab;
* ``kick`` starts a falling-price auction at ``top = buf · OSM price``; the price is
  ``top · cut^floor(elapsed / step)`` (``StairstepExponentialDecrease``); an auction older
  than ``tail`` or fallen below ``cusp · top`` needs ``redo`` (a new ``top`` at the OSM
  price); ``kick`` and ``redo`` pay the keeper ``tip + chip · tab`` from the Vow;
* keepers ``take`` once the price is at or below what the collateral is worth to them,
  paying the auction's price, within their capacity, the cheapest auctions first.

The second (:class:`FlipRules`, :func:`flip_bids`) is the English auction of Maker's
``Flipper`` (``flip.sol``, the collateral auction of Liquidations 1.0 to 1.2, in use on
2020-03-12). ``kick`` opens an auction for ``tab`` (debt plus penalty) with the vault's
``lot`` of collateral, bid 0 and no expiry (``tic = 0``), ending at ``end = now + tau``:

* ``tend``: while the bid is below the tab, bidders raise it for the whole lot; a new bid
  must exceed the last one by the factor ``beg`` or equal the tab;
* ``dent``: once the tab is bid, bidders offer the tab for less collateral, each lot at
  least ``beg`` below the last; the collateral given up goes back to the vault;
* every bid sets ``tic = now + ttl``; ``deal`` pays the lot to the last bidder once ``tic``
  or ``end`` has passed; ``tick`` restarts an auction with no bid whose ``end`` has passed.

DAI bid goes to the ``Vow``; the debt it does not cover stays there as ``Sin`` and is bad
debt, paid for by minting MKR in debt auctions (``flop``). A tend is valid for any positive
bid over a zero bid, so an auction no competitor bids on within ``ttl`` can be won for (the
smallest unit above) 0 DAI: on 2020-03-12 congested keepers left many auctions to such bids.

This module computes the settlement of auctions given the price keepers pay and the keepers'
capacity; the price itself comes from market clearing.

References
----------
MakerDAO (2021). Liquidations 2.0 (MIP45): Dog, Clipper, Abacus; dss ``src/dog.sol``
(``bark``), ``src/clip.sol`` (``kick``, ``redo``, ``take``, ``status``), ``src/abaci.sol``
(``StairstepExponentialDecrease``).
MakerDAO Risk Core Unit (2021). ETH and WBTC Vaults Liquidations 2.0 Parameters; Adjusting
Auction Parameters for ETH vault types; Auction Throughput Parameters Adjustments - Nov 9
2021 (forum.makerdao.com).
MakerDAO, dss ``src/flip.sol`` (Flipper: kick, tick, tend, dent, deal) and the Flipper
documentation (docs.makerdao.com, Collateral Auction House).
MakerDAO (2020). The Market Collapse of March 12-13, 2020: How It Impacted MakerDAO (blog).
Gudgeon et al. (2020). The Decentralized Financial Crisis (Black Thursday keeper failure).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from contagion.exceptions import ScenarioError

__all__ = [
    "CdpLiquidation",
    "ClipRules",
    "ClipTakes",
    "FlipBids",
    "FlipRules",
    "cdp_is_unsafe",
    "cdp_liquidation",
    "clip_price",
    "clip_takes",
    "flip_bids",
    "flip_deficit",
    "hole_room",
]

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
    """Debt (without the penalty) not covered because the collateral ran out (USD)."""


def cdp_liquidation(
    tab: ArrayLike,
    collateral: ArrayLike,
    auction_price: ArrayLike,
    keeper_capacity_usd: ArrayLike,
    debt: ArrayLike | None = None,
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
    debt
        Debt (USD, without the penalty) the auction still has to raise before it covers what
        the vault owed (``sin`` the Vow booked at ``bark``, less what earlier rounds raised);
        the whole tab when not given. An auction whose collateral runs out leaves this much
        uncovered as bad debt: the penalty in an unraised tab is income foregone, not a loss.

    Examples
    --------
    A vault owing 10,000 DAI with the 13% penalty holds 8 ETH; keepers pay $1,500 and can
    spend $6,000 this round:

    >>> r = cdp_liquidation(11_300.0, 8.0, 1_500.0, 6_000.0, debt=10_000.0)
    >>> float(r.collateral_sold), float(r.tab_left), float(r.bad_debt)
    (4.0, 5300.0, 0.0)

    The 4 ETH left fetch $1,000 each: $4,000 more, the debt is covered up to $0 of the
    $10,000, and $1,300 of penalty go unraised, which is not bad debt:

    >>> r = cdp_liquidation(r.tab_left, r.collateral_left, 1_000.0, 6_000.0, debt=4_000.0)
    >>> float(r.tab_covered), float(r.bad_debt)
    (4000.0, 0.0)
    """
    t, c, p, cap = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (tab, collateral, auction_price, keeper_capacity_usd))
    )
    owed = t if debt is None else np.broadcast_to(np.asarray(debt, dtype=float), t.shape)
    spend = np.minimum(np.minimum(t, c * p), np.maximum(cap, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        sold = np.where(p > 0, spend / p, 0.0)
    sold = np.minimum(sold, c)
    tab_left = t - spend
    collateral_left = c - sold
    exhausted = collateral_left <= 1e-12 * np.maximum(c, 1.0)
    bad = np.where(exhausted & (tab_left > 0), np.maximum(owed - spend, 0.0), 0.0)
    return CdpLiquidation(
        collateral_sold=sold,
        tab_covered=spend,
        tab_left=np.where(exhausted, 0.0, tab_left),
        collateral_left=np.where(exhausted, 0.0, collateral_left),
        bad_debt=bad,
    )


# -- Flipper (flip.sol) --------------------------------------------------------------------


@dataclass(frozen=True)
class FlipRules:
    """Parameters of Maker's ``Flipper`` and of the bidders the model gives it.

    Defaults are the ETH-A Flipper's on 2020-03-12 (Maker blog, "The Market Collapse of March
    12-13, 2020"; governance raised ``ttl`` and ``tau`` in the days after).

    Attributes
    ----------
    ttl_s
        Bid duration: an auction is dealt ``ttl`` seconds after its last bid (10 minutes).
    tau_s
        Auction length from ``kick`` (6 hours); ``tick`` restarts an auction with no bid.
    beg
        Minimum relative bid increase in ``tend`` and lot decrease in ``dent`` (3 %).
    zero_bidder
        An opportunistic bidder places a 0-DAI ``tend`` on every auction still without a bid
        at the end of a round (on Black Thursday a handful of addresses did, at gas prices
        others' keepers did not pay). False leaves unbid auctions to ``tick``.
    """

    ttl_s: float = 600.0
    tau_s: float = 21_600.0
    beg: float = 0.03
    zero_bidder: bool = True

    def __post_init__(self) -> None:
        for name in ("ttl_s", "tau_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and np.isfinite(value) and value > 0):
                raise ScenarioError(
                    f"must be a positive number of seconds, got {value!r}", field=name
                )
        if not (isinstance(self.beg, int | float) and 0 <= self.beg < 1):
            raise ScenarioError(f"must be in [0, 1), got {self.beg!r}", field="beg")


@dataclass(frozen=True)
class FlipBids:
    """Competitive keeper bids of one round on open flip auctions."""

    bid: FloatArray
    """Bid after the round (DAI)."""
    lot: FloatArray
    """Lot after the round (collateral tokens)."""
    raised: FloatArray
    """DAI added to the bid this round (keepers' new capital; goes to the Vow)."""
    returned: FloatArray
    """Collateral given back to the vault by ``dent`` this round."""
    placed: NDArray[np.bool_]
    """True where a bid was placed (its ``tic`` restarts)."""


def flip_bids(
    bid: ArrayLike,
    lot: ArrayLike,
    tab: ArrayLike,
    keeper_price: ArrayLike,
    capacity: float,
    beg: float,
) -> FlipBids:
    """Keepers' ``tend`` and ``dent`` bids in one round on auctions still open to bids.

    Keepers value the lot at ``keeper_price`` (DAI per token: the market less their margin).
    In ``tend`` they raise the bid towards ``min(tab, lot * keeper_price)``. ``capacity`` is
    the DAI of new bids keepers can place this round (their capital and the transactions they
    get mined); they spend it on the most profitable auctions first (largest surplus
    ``lot * keeper_price - bid``), the marginal one gets what is left, the rest gets nothing.
    A raise is placed only if it satisfies ``beg`` (or reaches the tab).
    Where the tab is bid, competition in ``dent`` takes the lot down to what the tab buys
    at ``keeper_price`` if that is at least ``beg`` below the current lot (a dent pays the tab
    to the previous bidder: keepers' capital changes hands, no new capital is needed).

    Examples
    --------
    Tab 11,300 DAI on 8 ETH; keepers pay 1,500 DAI an ETH and have 20,000 DAI: the tab is bid
    and the lot falls to 11,300 / 1,500 = 7.533 ETH, 0.467 ETH back to the vault.

    >>> b = flip_bids(0.0, 8.0, 11_300.0, 1_500.0, 20_000.0, 0.03)
    >>> float(b.bid), round(float(b.lot), 3), round(float(b.returned), 3)
    (11300.0, 7.533, 0.467)

    With 2,000 DAI of capacity the bid rises to 2,000 and the lot stays whole:

    >>> b = flip_bids(0.0, 8.0, 11_300.0, 1_500.0, 2_000.0, 0.03)
    >>> float(b.bid), float(b.lot), bool(b.placed)
    (2000.0, 8.0, True)
    """
    b, q, t, kp = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (bid, lot, tab, keeper_price))
    )
    value = q * np.maximum(kp, 0.0)
    target = np.minimum(t, value)
    step_ok = (target > b) & ((target >= b * (1.0 + beg)) | (target >= t))
    need = np.where(step_ok, target - b, 0.0)
    order = np.argsort(-np.where(step_ok, value - b, -np.inf).ravel(), kind="stable")
    ranked_need = need.ravel()[order]
    spent = np.empty(need.size)
    spent[order] = np.concatenate(([0.0], np.cumsum(ranked_need)[:-1]))
    room = np.clip(max(capacity, 0.0) - spent.reshape(need.shape), 0.0, None)
    new = np.where(room >= need, target, b + room)
    tend = step_ok & (new > b) & ((new >= b * (1.0 + beg)) | (new >= t))
    bid_after = np.where(tend, new, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        target_lot = np.where(kp > 0, t / kp, np.inf)
    dent = (bid_after >= t) & (target_lot * (1.0 + beg) <= q)
    lot_after = np.where(dent, target_lot, q)
    return FlipBids(
        bid=bid_after,
        lot=lot_after,
        raised=bid_after - b,
        returned=q - lot_after,
        placed=tend | dent,
    )


def flip_deficit(debt: ArrayLike, bid: ArrayLike) -> FloatArray:
    """Debt a dealt auction leaves uncovered: ``max(debt - bid, 0)`` (``Sin`` in the Vow).

    The penalty inside the tab is the protocol's income, not a debt: a final bid between the
    debt and the tab leaves no deficit.

    >>> float(flip_deficit(10_000.0, 0.0)), float(flip_deficit(10_000.0, 10_500.0))
    (10000.0, 0.0)
    """
    d, b = np.broadcast_arrays(np.asarray(debt, dtype=float), np.asarray(bid, dtype=float))
    out: FloatArray = np.maximum(d - b, 0.0)
    return out


# -- Clipper (clip.sol, dog.sol, abaci.sol) ------------------------------------------------


@dataclass(frozen=True)
class ClipRules:
    """Parameters of Maker's ``Dog`` and ``Clipper`` (Liquidations 2.0).

    Defaults are ETH-A's in November 2021, before the throughput poll of 2021-11-15 (Maker
    Risk Core Unit forum posts, see the module's references): the price starts at 130 % of
    the OSM price and falls 1 % every 90 seconds; an auction resets after 140 minutes or
    once its price is below 40 % of its start; 300 DAI plus 0.1 % of the tab reward the
    keeper who barks or resets; ETH-A's auctions may hold 40 M DAI of tabs, all of the
    Dog's 100 M DAI. Other collateral types take their own ``ilk.hole`` from ``ilk_holes``
    (that month WSTETH-A's was 3 M DAI, WBTC-A's 25 M), ETH-A's where none is given.

    ``dust`` (``Vat.dust``, the debt floor) bounds partial liquidations: a partial ``bark``
    must leave a vault and start an auction of at least ``dust`` of debt
    (:func:`hole_room`), and a partial ``take`` must leave at least ``chost = dust · chop``
    of tab (:func:`clip_takes`). Its default, 7,500 DAI, is an assumption: the floor Maker's
    risk team proposed for WBTC-C in November 2021 (ETH-A's own value that month is not in
    this model's sources). One auction per vault: a vault barked in part is barked again
    for the rest once its auction has ended (Maker would start a second auction as soon as
    there is room).

    Attributes
    ----------
    buf
        Starting price multiplier on the OSM price (``Clipper.buf``).
    cut, step_s
        ``StairstepExponentialDecrease``: the price is multiplied by ``cut`` every
        ``step_s`` seconds.
    tail_s
        Auction age after which it needs ``redo`` (``Clipper.tail``).
    cusp
        Fraction of ``top`` below which it needs ``redo`` (``Clipper.cusp``).
    chip, tip
        Keeper reward for ``bark`` and ``redo``: ``tip`` (DAI) plus ``chip`` times the tab,
        paid by the Vow (``Vat.suck``): system debt, counted with the protocol's bad debt.
    ilk_hole
        Largest total tab of one collateral type's open auctions (``Dog.ilks[ilk].hole``,
        debt-asset units).
    ilk_holes
        ``ilk.hole`` of particular collateral types, by the collateral's asset id (e.g.
        ``{"wstETH": 3e6}``); the others use ``ilk_hole``. Ids the dataset lacks are
        reported when a run starts (:meth:`ilk_hole_by_asset`).
    hole
        Largest total tab of all of a protocol's open auctions (``Dog.Hole``).
    dust
        Debt floor of a vault (``Vat.ilks[ilk].dust``, debt-asset units).
    """

    buf: float = 1.30
    cut: float = 0.99
    step_s: float = 90.0
    tail_s: float = 8_400.0
    cusp: float = 0.40
    chip: float = 0.001
    tip: float = 300.0
    ilk_hole: float = 40e6
    hole: float = 100e6
    dust: float = 7_500.0
    ilk_holes: Mapping[str, float] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        rules = {
            "buf": (lambda v: v > 0, "> 0"),
            "cut": (lambda v: 0 < v < 1, "in (0, 1)"),
            "step_s": (lambda v: v > 0, "> 0 seconds"),
            "tail_s": (lambda v: v > 0, "> 0 seconds"),
            "cusp": (lambda v: 0 <= v < 1, "in [0, 1)"),
            "chip": (lambda v: v >= 0, ">= 0"),
            "tip": (lambda v: v >= 0, ">= 0"),
            "ilk_hole": (lambda v: v >= 0, ">= 0"),
            "hole": (lambda v: v >= 0, ">= 0"),
            "dust": (lambda v: v >= 0, ">= 0"),
        }
        for name, (ok, rule) in rules.items():
            value = getattr(self, name)
            if not (_finite_number(value) and ok(value)):
                raise ScenarioError(f"must be a number {rule}, got {value!r}", field=name)
        holes = self.ilk_holes
        if not isinstance(holes, Mapping):
            raise ScenarioError(
                f"expected a table of asset id = hole, got {holes!r}", field="ilk_holes"
            )
        for asset, value in holes.items():
            if not isinstance(asset, str) or not asset:
                raise ScenarioError(f"expected an asset id, got {asset!r}", field="ilk_holes")
            if not (_finite_number(value) and value >= 0):
                raise ScenarioError(
                    f"must be a number >= 0, got {value!r}", field=f"ilk_holes.{asset}"
                )
        # A copy of plain floats: the caller's table may change, these rules may not.
        object.__setattr__(self, "ilk_holes", {a: float(v) for a, v in holes.items()})

    def ilk_hole_by_asset(self, asset_ids: Sequence[str]) -> FloatArray:
        """``ilk.hole`` of each asset as collateral, in the order of ``asset_ids``.

        Raises :class:`~contagion.exceptions.ScenarioError` naming ``ilk_holes.ID`` for an id
        of ``ilk_holes`` that ``asset_ids`` lacks.

        >>> ClipRules(ilk_holes={"wstETH": 3e6}).ilk_hole_by_asset(["WETH", "wstETH"]).tolist()
        [40000000.0, 3000000.0]
        """
        index = {a: i for i, a in enumerate(asset_ids)}
        out = np.full(len(asset_ids), self.ilk_hole)
        for asset, value in self.ilk_holes.items():
            if asset not in index:
                raise ScenarioError(
                    f"no asset {asset!r} in the dataset (its assets: "
                    f"{', '.join(list(asset_ids)[:8])}{', ...' if len(asset_ids) > 8 else ''})",
                    field=f"ilk_holes.{asset}",
                )
            out[index[asset]] = value
        return out

    def incentive(self, tab: ArrayLike) -> FloatArray:
        """Keeper reward of a ``kick`` or ``redo`` of an auction of ``tab``: ``tip + chip·tab``."""
        result: FloatArray = self.tip + self.chip * np.asarray(tab, dtype=float)
        return result


def _finite_number(value: object) -> bool:
    """A finite int or float (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


def clip_price(top: ArrayLike, elapsed_s: ArrayLike, rules: ClipRules) -> FloatArray:
    """Auction price ``elapsed_s`` seconds after ``kick`` (or ``redo``) at ``top``:
    ``top · cut^floor(elapsed / step)`` (abaci.sol ``StairstepExponentialDecrease``).

    >>> rules = ClipRules()
    >>> [round(float(p), 4) for p in clip_price(1_300.0, [0.0, 89.0, 90.0, 185.0], rules)]
    [1300.0, 1300.0, 1287.0, 1274.13]
    """
    steps = np.floor(np.asarray(elapsed_s, dtype=float) / rules.step_s)
    result: FloatArray = np.asarray(top, dtype=float) * rules.cut**steps
    return result


def clip_needs_redo(
    top: ArrayLike, price: ArrayLike, elapsed_s: ArrayLike, rules: ClipRules
) -> NDArray[np.bool_]:
    """clip.sol ``status``: older than ``tail`` or priced below ``cusp · top``."""
    t, p, e = (np.asarray(v, dtype=float) for v in (top, price, elapsed_s))
    result: NDArray[np.bool_] = (e > rules.tail_s) | (p / t < rules.cusp)
    return result


def hole_room(
    tab: ArrayLike,
    ilk: ArrayLike,
    dog: ArrayLike,
    ilk_room: ArrayLike,
    dog_room: ArrayLike,
    least: ArrayLike = 0.0,
) -> FloatArray:
    """Tab each unsafe vault is barked for, in the order given, under the Dog's limits.

    dog.sol ``bark``: ``room = min(Hole - Dirt, ilk.hole - ilk.dirt)``, the vault is barked
    for ``min(tab, room)`` (a partial liquidation when the room is smaller; nothing once a
    limit is reached) and its tab adds to both ``Dirt`` and ``dirt``. A partial bark must
    leave a vault and start an auction of at least ``dust``: ``least`` is ``dust · chop``
    per vault; a vault that would be left with less is barked whole (past the limit), an
    auction that would be smaller is not started (the bark reverts) and the model gives that
    limit's crumb of room to no later vault in the round. ``ilk`` and ``dog`` number each
    vault's collateral type and Dog; ``ilk_room`` and ``dog_room`` are the room left before
    this round's barks, per ilk and per Dog.

    One bark after another, computed at once: the ilk limits alone give each vault
    ``clip(ilk room - tabs before it in its ilk, 0, tab)``, exact because a vault after the
    one that reaches the limit sees no room left; the Dog's limit then cuts the sequence of
    those amounts the same way.

    >>> # Two ETH vaults (ilk 0) and a WBTC one (ilk 1) of one Dog; ETH has 15 of room left,
    >>> # the Dog 25: the first ETH vault gets 10, the second the 5 left, WBTC the Dog's 10.
    >>> [float(x) for x in hole_room([10.0, 10.0, 30.0], [0, 0, 1], [0, 0, 0], [15.0, 99.0], [25.0])]
    [10.0, 5.0, 10.0]
    >>> # With a least of 6: the second ETH vault would keep 5 (barked whole), WBTC's auction
    >>> # would be 5 (not started).
    >>> [float(x) for x in hole_room([10.0, 10.0, 30.0], [0, 0, 1], [0, 0, 0], [15.0, 99.0], [25.0], 6.0)]
    [10.0, 10.0, 0.0]
    """
    t = np.asarray(tab, dtype=float)
    floor = np.broadcast_to(np.asarray(least, dtype=float), t.shape)
    ilk_ = np.asarray(ilk, dtype=np.int64)
    dog_ = np.asarray(dog, dtype=np.int64)
    by_ilk = _room_in_order(t, t, ilk_, np.asarray(ilk_room, dtype=float), floor)
    return _room_in_order(by_ilk, t, dog_, np.asarray(dog_room, dtype=float), floor)


def _room_in_order(
    amount: FloatArray,
    tab: FloatArray,
    group: NDArray[np.int64],
    room: FloatArray,
    least: FloatArray,
) -> FloatArray:
    """``clip(room[group] - amounts before it in its group, 0, amount)``, in order, with the
    ``dust`` rules of a partial bark against the vault's whole ``tab``."""
    if len(amount) == 0:
        return amount.copy()
    order = np.argsort(group, kind="stable")
    g = group[order]
    total = np.cumsum(amount[order])
    first = np.flatnonzero(np.append(True, g[1:] != g[:-1]))
    base = np.repeat(total[first] - amount[order][first], np.diff(np.append(first, len(g))))
    before = total - amount[order] - base
    left = np.maximum(room[g], 0.0) - before
    # The running sums round: a room used up exactly must leave nothing, not a crumb of
    # 1e-15 that the dust rules would then bark a whole vault for.
    left = np.where(left <= 1e-12 * (np.abs(room[g]) + before), 0.0, left)
    out = np.empty(len(amount))
    out[order] = np.clip(left, 0.0, amount[order])
    partial = (out > 0) & (out < tab)
    whole = partial & (tab - out < least)
    out = np.where(whole, tab, np.where(partial & (out < least), 0.0, out))
    return out


@dataclass(frozen=True)
class ClipTakes:
    """Keepers' ``take`` calls of one round on the open Clipper auctions."""

    owe: FloatArray
    """DAI paid per auction (debt-asset units)."""
    slice: FloatArray
    """Collateral bought per auction."""


def clip_takes(
    price: ArrayLike,
    tab: ArrayLike,
    lot: ArrayLike,
    worth: ArrayLike,
    unit_usd: ArrayLike,
    capacity_usd: float,
    chost: ArrayLike = 0.0,
) -> ClipTakes:
    """Keepers' ``take`` of auctions at ``price`` (debt-asset units per collateral token).

    An auction is taken where its price is at most ``worth``, what the collateral fetches the
    keeper (the market less its margin, in the same units); clip.sol ``take``: the keeper pays
    the auction's price for ``slice = min(lot, tab / price)``, ``owe = slice · price``.
    ``capacity_usd`` is what keepers can pay this round (``owe · unit_usd`` summed); they take
    the auctions with the largest discount ``worth / price`` first, the marginal one in part,
    ties in the order given. A partial take must leave at least ``chost`` of tab: the keeper
    buys less (``owe = tab - chost``), or nothing where the tab is ``chost`` or less.

    Examples
    --------
    Tab 11,300 DAI on 8 ETH at 1,470 DAI an ETH, worth 1,500 to keepers: 7.687 ETH are bought
    for the whole tab, the rest goes back to the vault. At 1,600 DAI nobody takes.

    >>> t = clip_takes([1_470.0, 1_600.0], 11_300.0, 8.0, 1_500.0, 1.0, 1e9)
    >>> [round(float(x), 3) for x in t.slice], [float(x) for x in t.owe]
    ([7.687, 0.0], [11300.0, 0.0])
    """
    p, t, q, w, u, floor = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (price, tab, lot, worth, unit_usd, chost))
    )
    takeable = (p > 0) & (p <= w) & (q > 0) & (t > 0)
    full = np.where(takeable, np.minimum(t, q * p), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        discount = np.where(takeable, w / p, -np.inf)
    order = np.argsort(-discount.ravel(), kind="stable")
    need_usd = (full * u).ravel()[order]
    spent = np.empty(full.size)
    spent[order] = np.concatenate(([0.0], np.cumsum(need_usd)[:-1]))
    room_usd = np.clip(max(capacity_usd, 0.0) - spent.reshape(full.shape), 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        owe = np.where(full * u <= room_usd, full, np.where(u > 0, room_usd / u, 0.0))
        # clip.sol: a partial purchase leaves at least chost of tab.
        short = (owe < full) & (t - owe < floor)
        owe = np.where(short, np.where(t > floor, t - floor, 0.0), owe)
        bought = np.where(takeable, np.minimum(owe / p, q), 0.0)
    # The whole lot bought leaves nothing to round: it is the lot, for what it fetched.
    whole = takeable & (owe >= q * p)
    return ClipTakes(owe=np.where(takeable, owe, 0.0), slice=np.where(whole, q, bought))
