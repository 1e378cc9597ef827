"""Maker-style collateralised debt positions: liquidation ratio, penalty, keeper auctions.

Two auction rules are modelled. The default (:func:`cdp_liquidation`) follows Maker's
Liquidations 2.0 (``Dog.bark`` and ``Clipper``):

* a vault is unsafe when ``collateral · price / liquidation_ratio < debt``;
* ``bark`` starts an auction for the debt plus the liquidation penalty
  (``tab = debt · (1 + penalty)``);
* keepers buy the collateral in the auction; what they can absorb per round is limited (the
  ``Hole``/``hole`` limits and keeper capital), so auctions can run over several rounds; the
  collateral is sold until the tab is covered, any collateral left returns to the vault owner,
  and a tab not covered once the collateral is gone is bad debt (``sin``) of the protocol.

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
MakerDAO (2021). Liquidations 2.0 (MIP45): Dog, Clipper, Abacus.
MakerDAO, dss ``src/flip.sol`` (Flipper: kick, tick, tend, dent, deal) and the Flipper
documentation (docs.makerdao.com, Collateral Auction House).
MakerDAO (2020). The Market Collapse of March 12-13, 2020: How It Impacted MakerDAO (blog).
Gudgeon et al. (2020). The Decentralized Financial Crisis (Black Thursday keeper failure).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from contagion.exceptions import ScenarioError

__all__ = [
    "CdpLiquidation",
    "FlipBids",
    "FlipRules",
    "cdp_is_unsafe",
    "cdp_liquidation",
    "flip_bids",
    "flip_deficit",
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
    """Tab not covered because the collateral ran out (USD)."""


def cdp_liquidation(
    tab: ArrayLike, collateral: ArrayLike, auction_price: ArrayLike, keeper_capacity_usd: ArrayLike
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

    Examples
    --------
    A vault owing 10,000 DAI with the 13% penalty holds 8 ETH; keepers pay $1,500 and can
    spend $6,000 this round:

    >>> r = cdp_liquidation(11_300.0, 8.0, 1_500.0, 6_000.0)
    >>> float(r.collateral_sold), float(r.tab_left), float(r.bad_debt)
    (4.0, 5300.0, 0.0)
    """
    t, c, p, cap = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (tab, collateral, auction_price, keeper_capacity_usd))
    )
    spend = np.minimum(np.minimum(t, c * p), np.maximum(cap, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        sold = np.where(p > 0, spend / p, 0.0)
    sold = np.minimum(sold, c)
    tab_left = t - spend
    collateral_left = c - sold
    exhausted = collateral_left <= 1e-12 * np.maximum(c, 1.0)
    bad = np.where(exhausted & (tab_left > 0), tab_left, 0.0)
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
