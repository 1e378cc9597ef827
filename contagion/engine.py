"""Everything the propagation solver compiles once per dataset.

An :class:`Engine` holds the dataset's lending book (:mod:`contagion.world`), oracle feeds,
trading venues, option and perpetual books and algorithmic stablecoins in array form, plus the
few static quantities the round loop needs (which feed prices which position, deposits behind
receipt tokens, how deep each market is for a liquidator). Building it costs a fraction of a
second; every scenario run on the dataset, and every scenario of a batch, reuses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from contagion.clearing import MarketState, Venues, clear
from contagion.dataset import Dataset
from contagion.dealers import OptionBook
from contagion.oracles import FeedBook, exchange_rates
from contagion.perps import PerpBook
from contagion.stablecoins import AlgorithmicBook
from contagion.world import World, compile_world

__all__ = ["Engine", "build_engine"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_PROBE_USD = 1e6
_QUOTE_USD = -1


@dataclass(frozen=True, eq=False)
class Engine:
    """A dataset compiled for the solver.

    Attributes
    ----------
    world
        Assets, markets (roots) and the lending book.
    feeds, venues, options, perps, algorithmic
        The oracle feeds, trading venues, option books, perpetual books and algorithmic
        stablecoins, each in its module's array form.
    position_feed
        Per lending position, the index (in ``feeds``) of the feed its protocol reads.
    wrapper_rate
        Per asset, underlying units per token at the snapshot (1 for non-wrappers).
    receipt_asset, receipt_protocol, receipt_underlying
        Receipt tokens issued by a lending protocol of the book: asset index, protocol index
        (in ``world.lending.protocol_ids``) and the asset they redeem for.
    deposits_usd
        Per protocol x asset, supplied value at the snapshot (the deposits behind receipts).
    protocol_debt_asset
        Per lending protocol, the asset it lends when it lends one (Comet base, CDP stablecoin),
        else -1.
    root_parent
        Per root, the root of the asset it is a staking claim on (stETH, cbETH, rETH -> ETH),
        else -1: its reference price follows that market's exogenous moves.
    feed_value_usd
        Per feed, value of positions priced through it (directly or via composites).
    root_exposure_usd
        Per root, lending collateral and debt in that market at the snapshot.
    liquidation_depth_usd
        Per asset, USD that moves its market 2% (pools and external venues together) at the
        snapshot, as a liquidator estimates slippage: lending collateral and the governance
        tokens of algorithmic coins (0 for other assets). :meth:`liquidation_depth` gives it
        for outside markets of another depth.
    """

    world: World
    feeds: FeedBook
    venues: Venues
    options: OptionBook
    perps: PerpBook
    algorithmic: AlgorithmicBook
    position_feed: IntArray
    wrapper_rate: FloatArray
    receipt_asset: IntArray
    receipt_protocol: IntArray
    receipt_underlying: IntArray
    deposits_usd: FloatArray
    protocol_debt_asset: IntArray
    root_parent: IntArray
    feed_value_usd: FloatArray
    root_exposure_usd: FloatArray
    liquidation_depth_usd: FloatArray
    venue_ids: tuple[str, ...]
    perp_venue_ids: tuple[str, ...]
    _depth_at_scale: dict[float, FloatArray] = field(default_factory=dict, repr=False)

    @property
    def dataset(self) -> Dataset:
        return self.world.dataset

    def scaled_venues(self, external_depth_scale: float) -> Venues:
        """The venues with every external market's depth multiplied by the scale."""
        if external_depth_scale == 1.0:
            return self.venues
        return replace(self.venues, depth_usd=self.venues.depth_usd * external_depth_scale)

    def liquidation_depth(self, external_depth_scale: float = 1.0) -> FloatArray:
        """:attr:`liquidation_depth_usd` with outside markets ``external_depth_scale`` times
        as deep: probed again on those venues (pools keep their depth, so the whole market's
        depth scales by less), once per scale."""
        if external_depth_scale == 1.0:
            return self.liquidation_depth_usd
        if external_depth_scale not in self._depth_at_scale:
            self._depth_at_scale[external_depth_scale] = _liquidation_depth(
                self.world, self.scaled_venues(external_depth_scale), self.algorithmic.governance
            )
        return self._depth_at_scale[external_depth_scale]


def build_engine(dataset: Dataset | World) -> Engine:
    """Compile ``dataset`` (or an already compiled world) for :func:`contagion.propagate`.

    Examples
    --------
    >>> from contagion import sample_world
    >>> engine = build_engine(sample_world(positions=2_000, seed=1))
    >>> engine.world.lending.n_positions > 1_000
    True
    """
    world = dataset if isinstance(dataset, World) else compile_world(dataset)
    ds, assets, book = world.dataset, world.assets, world.lending
    ids = list(assets.ids)
    feeds = FeedBook.from_dataset(ds, ids)
    position_feed = feeds.index(list(world.feed_ids))[book.feed]
    venues = Venues.from_dataset(ds, ids, assets.root, depth_usd=_external_depth(ds, world))
    wrapper_rate = exchange_rates(ds, ids)

    n_protocols, n_assets = len(book.protocol_ids), len(assets)
    deposits = np.zeros((n_protocols, n_assets))
    np.add.at(
        deposits,
        (book.loan_protocol[book.loan], book.asset),
        book.collateral * assets.price[book.asset],
    )
    r_asset, r_protocol, r_under = _receipts(ds, ids, book.protocol_ids)

    debt_asset = np.full(n_protocols, -1, dtype=np.int64)
    markets = ds.table("lending_markets").to_pylist()
    for m in markets:
        if m["debt_asset_id"] and m["protocol_id"] in book.protocol_ids:
            debt_asset[book.protocol_ids.index(m["protocol_id"])] = ids.index(m["debt_asset_id"])

    value = (book.collateral + book.debt) * assets.price[book.asset]
    feed_value = np.bincount(position_feed, weights=value, minlength=len(feeds)).astype(float)
    feed_value = _through_composites(feeds, feed_value)
    exposure = np.bincount(assets.root[book.asset], weights=value, minlength=assets.n_roots).astype(
        float
    )

    algorithmic = AlgorithmicBook.from_dataset(ds, ids)
    return Engine(
        world=world,
        feeds=feeds,
        venues=venues,
        options=OptionBook.from_dataset(ds, ids),
        perps=PerpBook.from_dataset(ds, ids),
        algorithmic=algorithmic,
        position_feed=position_feed.astype(np.int64),
        wrapper_rate=wrapper_rate,
        receipt_asset=r_asset,
        receipt_protocol=r_protocol,
        receipt_underlying=r_under,
        deposits_usd=deposits,
        protocol_debt_asset=debt_asset,
        root_parent=_root_parent(ds, world),
        feed_value_usd=feed_value,
        root_exposure_usd=exposure,
        liquidation_depth_usd=_liquidation_depth(world, venues, algorithmic.governance),
        venue_ids=tuple(sorted(set(ds.table("option_series").column("protocol_id").to_pylist()))),
        perp_venue_ids=tuple(
            sorted(set(ds.table("perp_markets").column("protocol_id").to_pylist()))
        ),
    )


def _external_depth(ds: Dataset, world: World) -> FloatArray:
    """External depth per root; fiat-backed stablecoins are pinned at their reference.

    A fiat-backed coin is minted and redeemed at par by its issuer, so buying or selling it
    does not move its price; only a scenario (a depeg) moves its reference. Infinite depth
    is how the clearing pins a market at its reference.
    """
    assets = world.assets
    depth = assets.depth_2pct_usd.copy()
    fiat = {s["asset_id"] for s in ds.table("stablecoins").to_pylist() if s["mechanism"] == "fiat"}
    for asset in fiat:
        depth[assets.root[assets.index(asset)]] = np.inf
    return depth


def _root_parent(ds: Dataset, world: World) -> IntArray:
    assets = world.assets
    parent = np.full(assets.n_roots, -1, dtype=np.int64)
    for w in ds.table("wrappers").to_pylist():
        if w["kind"] != "lst":
            continue
        root = assets.root[assets.index(w["asset_id"])]
        under = assets.root[assets.index(w["underlying_asset_id"])]
        if root != under:
            parent[root] = under
    return parent


def _receipts(
    ds: Dataset, ids: list[str], protocols: tuple[str, ...]
) -> tuple[IntArray, IntArray, IntArray]:
    rows = [
        w
        for w in ds.table("wrappers").to_pylist()
        if w["kind"] == "receipt" and w["protocol_id"] in protocols
    ]
    return (
        np.array([ids.index(w["asset_id"]) for w in rows], dtype=np.int64),
        np.array([protocols.index(w["protocol_id"]) for w in rows], dtype=np.int64),
        np.array([ids.index(w["underlying_asset_id"]) for w in rows], dtype=np.int64),
    )


def _through_composites(feeds: FeedBook, direct: FloatArray) -> FloatArray:
    """Value priced by each feed, counting what its composites price (any depth)."""
    total = direct.copy()
    # Composites are ordered after their sources; walking them backwards hands each
    # composite's total to its sources once the composite's own total is complete.
    for j in range(len(feeds.composite_order) - 1, -1, -1):
        sources = feeds.source_indices[feeds.source_indptr[j] : feeds.source_indptr[j + 1]]
        total[sources] += total[feeds.composite_order[j]]
    return total


def _liquidation_depth(world: World, venues: Venues, also: IntArray) -> FloatArray:
    """Per asset, USD selling which moves its market 2%, probed through market clearing.

    Each market holding lending collateral, and the market of each asset in ``also`` (the
    governance tokens that algorithmic-coin arbitrage sells), is sold ``_PROBE_USD`` into the
    snapshot venues alone; the move is scaled to 2% with the square-root law. Liquidators use
    the figure to price the slippage of selling what they seize; the arbitrage, of selling
    the governance tokens it is paid in. Other assets get 0.
    """
    assets = world.assets
    root_price = assets.root_price(assets.price, assets.rate)
    state = MarketState.initial(venues, root_price)
    depth_root = np.zeros(assets.n_roots)
    held = np.unique(
        np.concatenate(
            [assets.root[world.lending.asset[world.lending.collateral > 0]], assets.root[also]]
        )
    )
    for r in held:
        flow = np.zeros(assets.n_roots)
        flow[r] = -_PROBE_USD / root_price[r]
        result = clear(venues, state, flow, root_price, assets.rate)
        move = abs(np.log(result.price[r] / root_price[r]))
        depth_root[r] = _PROBE_USD * (0.02 / move) ** 2 if move > 0 else np.inf
    result_depth: FloatArray = depth_root[assets.root]
    return result_depth
