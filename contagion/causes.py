"""Cause records: every flow and loss of a run, with its round, channel and from -> to nodes.

Nodes use the exposure graph's ids (``asset:…``, ``feed:…``, ``market:<protocol>|<asset>``,
``protocol:…``, ``pool:…``, ``venue:…``) plus ``scenario`` for exogenous events, so a cause
chain read across rounds is a contagion path through the graph. Records are appended as
numpy arrays (one call per channel per round, never per position) and aggregated once at the
end by (round, channel, src, dst).

Channels, in the order a cascade usually meets them:

========================  ====================================================================
``shock``                 scenario -> asset: the exogenous move (USD of lending collateral moved)
``oracle``                asset or source feed -> feed: an update (USD of positions repriced)
``liquidation``           feed -> market: collateral liquidated because that feed moved (USD)
``sell``                  market or venue -> asset: liquidated collateral or hedges sold (USD)
``absorb``                asset -> pool or ``external:<asset>``: where the round's flow went
``bad_debt``              market -> protocol: new shortfall in that debt market (USD)
``writedown``             protocol -> asset: receipt tokens written down (USD of value lost)
``hedge``                 venue -> asset: dealers' hedge sells (USD)
``perp_liquidation``      venue -> asset: force-closed perpetual longs sold (USD)
``redemption``            asset -> asset: algorithmic coin redeemed, governance token sold (USD)
``run``                   asset -> asset: holders selling the coin as backing cover falls (USD)
``peg``                   asset -> asset: a staking token's market carried by its underlying's
                          move (USD of lending collateral moved, as for ``shock``)
========================  ====================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from contagion.oracles import KIND

if TYPE_CHECKING:
    from contagion.clearing import Clearing
    from contagion.engine import Engine
    from contagion.lending.state import LendingRound, Liquidations
    from contagion.stablecoins import AlgorithmicRound

__all__ = ["CHANNELS", "CauseLog", "NodeIndex", "RunCauses"]

FloatArray = NDArray[np.float64]

CHANNELS = (
    "shock",
    "oracle",
    "liquidation",
    "sell",
    "absorb",
    "bad_debt",
    "writedown",
    "hedge",
    "perp_liquidation",
    "redemption",
    "run",
    "peg",
)
_CHANNEL = {name: i for i, name in enumerate(CHANNELS)}


@dataclass
class NodeIndex:
    """Node names and their integer ids; ids are handed out on first use."""

    names: list[str] = field(default_factory=lambda: ["scenario"])
    _ids: dict[str, int] = field(default_factory=lambda: {"scenario": 0})

    def id(self, name: str) -> int:
        """The id of ``name``, registering it if new."""
        found = self._ids.get(name)
        if found is None:
            found = len(self.names)
            self._ids[name] = found
            self.names.append(name)
        return found

    def ids(self, names: list[str] | tuple[str, ...]) -> NDArray[np.int64]:
        return np.array([self.id(n) for n in names], dtype=np.int64)


def _spread(values: NDArray[Any], shape: tuple[int, ...]) -> NDArray[Any]:
    """``values`` broadcast to ``shape`` (a scalar filled in: cheaper than a broadcast)."""
    if values.shape == shape:
        return values
    if values.ndim == 0:
        return np.full(shape, values, dtype=values.dtype)
    return np.broadcast_to(values, shape)


@dataclass
class CauseLog:
    """Accumulates cause records of a run."""

    nodes: NodeIndex = field(default_factory=NodeIndex)
    _round: list[NDArray[np.int64]] = field(default_factory=list)
    _channel: list[NDArray[np.int64]] = field(default_factory=list)
    _src: list[NDArray[np.int64]] = field(default_factory=list)
    _dst: list[NDArray[np.int64]] = field(default_factory=list)
    _usd: list[NDArray[np.float64]] = field(default_factory=list)

    def add(
        self, round_: int, channel: str, src: ArrayLike, dst: ArrayLike, usd: ArrayLike
    ) -> None:
        """Record edges ``src[i] -> dst[i]`` worth ``usd[i]`` (non-positive weights dropped)."""
        u = np.asarray(usd, dtype=float)
        if not (u > 0).any():
            return  # most calls of a quiet round: nothing to record
        s = np.asarray(src, dtype=np.int64)
        d = np.asarray(dst, dtype=np.int64)
        if not s.shape == d.shape == u.shape:
            shape = np.broadcast_shapes(s.shape, d.shape, u.shape)
            s, d, u = (_spread(a, shape) for a in (s, d, u))
        keep = (u > 0) & np.isfinite(u) & (s >= 0) & (d >= 0)
        if not keep.any():
            return
        s, d, u = s[keep], d[keep], u[keep]
        if len(u) > 1:
            # Edges of one call that share (src, dst) are summed now: a round's liquidations
            # become one record per (feed, market), not one per loan.
            width = int(max(s.max(), d.max())) + 1
            pairs, inverse = np.unique(s * width + d, return_inverse=True)
            u = np.bincount(inverse.ravel(), weights=u, minlength=len(pairs))
            s, d = pairs // width, pairs % width
        n = len(u)
        self._round.append(np.full(n, round_, dtype=np.int64))
        self._channel.append(np.full(n, _CHANNEL[channel], dtype=np.int64))
        self._src.append(np.array(s, dtype=np.int64))
        self._dst.append(np.array(d, dtype=np.int64))
        self._usd.append(np.array(u, dtype=float))

    def frame(self) -> pd.DataFrame:
        """Records aggregated by (round, channel, src, dst), largest first within a round."""
        columns = ["round", "channel", "src", "dst", "usd"]
        if not self._round:
            return pd.DataFrame(
                {c: pd.Series(dtype=float if c == "usd" else object) for c in columns}
            )
        r = np.concatenate(self._round)
        c = np.concatenate(self._channel)
        s = np.concatenate(self._src)
        d = np.concatenate(self._dst)
        u = np.concatenate(self._usd)
        # One integer key per (round, channel, src, dst): a 1-D unique instead of a row sort.
        n_nodes = len(self.nodes.names)
        if (int(r.max()) + 1) * len(CHANNELS) * n_nodes**2 >= 2**62:
            raise OverflowError("too many rounds and nodes to key cause records")
        key = ((r * len(CHANNELS) + c) * n_nodes + s) * n_nodes + d
        unique, inverse = np.unique(key, return_inverse=True)
        total = np.bincount(inverse.ravel(), weights=u, minlength=len(unique))
        dst, rest = unique % n_nodes, unique // n_nodes
        src, rest = rest % n_nodes, rest // n_nodes
        channel, round_ = rest % len(CHANNELS), rest // len(CHANNELS)
        names = np.asarray(self.nodes.names, dtype=object)
        frame = pd.DataFrame(
            {
                "round": round_,
                "channel": np.asarray(CHANNELS, dtype=object)[channel],
                "src": names[src],
                "dst": names[dst],
                "usd": total,
            }
        )
        return frame.sort_values(
            ["round", "usd"], ascending=[True, False], kind="stable"
        ).reset_index(drop=True)


class RunCauses:
    """A run's cause log with the node ids of its engine, and one recorder per channel group.

    The round loop (:mod:`contagion.propagate`) calls a recorder after each step with what
    the step did; every call adds numpy arrays, one per channel, never a row per position.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.log = CauseLog()
        e, a = engine, engine.world.assets
        n = self.log.nodes
        self.root_node = n.ids([f"asset:{a.ids[i]}" for i in a.root_assets])
        self.asset_node = n.ids([f"asset:{x}" for x in a.ids])
        self.feed_node = n.ids([f"feed:{f}" for f in e.feeds.feed_ids])
        # Per feed, its row in the composites' evaluation order (-1: not a composite).
        self.composite_row = np.full(len(e.feeds), -1, dtype=np.int64)
        self.composite_row[e.feeds.composite_order] = np.arange(len(e.feeds.composite_order))
        protocols = e.world.lending.protocol_ids
        self.protocol_node = n.ids([f"protocol:{p}" for p in protocols])
        self.market_node = np.array(
            [[n.id(f"market:{p}|{x}") for x in a.ids] for p in protocols], dtype=np.int64
        ).reshape(len(protocols), len(a))
        self.options_venue = n.id(f"venue:{e.venue_ids[0]}") if e.venue_ids else -1
        self.perp_venue = n.id(f"venue:{e.perp_venue_ids[0]}") if e.perp_venue_ids else -1
        v = e.venues
        self.pool_nodes = {
            "cp": n.ids([f"pool:{p}" for p in v.constant_product.pool_ids]),
            "cl": n.ids([f"pool:{p}" for p in v.concentrated.pool_ids]),
            "ss": n.ids([f"pool:{p}" for p in v.stableswap.pool_ids]),
            "psm": n.ids([f"pool:{p}" for p in v.psm.ids]),
        }
        self.external_node = n.ids([f"external:{a.ids[i]}" for i in a.root_assets])
        issuers = e.dataset.table("wrappers").to_pylist()
        issuer_of = {w["asset_id"]: w["protocol_id"] for w in issuers}
        self.receipt_issuer_node = n.ids(
            [f"protocol:{issuer_of[a.ids[i]]}" for i in e.receipt_asset]
        )

    def oracles(
        self, r: int, answer: FloatArray, before: FloatArray, updated: NDArray[np.bool_]
    ) -> None:
        """Feeds that published: from their asset (or source feeds) to the feed."""
        e = self.engine
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.abs(answer / before - 1.0)
        usd = np.where(updated, rel * e.feed_value_usd, 0.0)
        moved = np.flatnonzero(usd > 0)
        if len(moved) == 0:
            return
        fb = e.feeds
        a = e.world.assets
        row = self.composite_row
        composite = row >= 0
        plain = moved[~composite[moved]]
        # A market feed moves with its asset's market; an exchange-rate feed with the token
        # itself (a receipt written down), which is the node the write-down reached.
        rate_feed = fb.kind[plain] == KIND["exchange-rate"]
        src = np.where(
            rate_feed, self.asset_node[fb.base[plain]], self.root_node[a.root[fb.base[plain]]]
        )
        self.log.add(r, "oracle", src, self.feed_node[plain], usd[plain])
        # A composite from each of its sources, its move shared equally among them.
        made = moved[composite[moved]]
        first, count = fb.source_indptr[row[made]], np.diff(fb.source_indptr)[row[made]]
        edge = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        sources = fb.source_indices[np.repeat(first, count) + edge]
        share = np.repeat(usd[made] / np.maximum(count, 1), count)
        self.log.add(
            r, "oracle", self.feed_node[sources], self.feed_node[np.repeat(made, count)], share
        )

    def lending(
        self,
        r: int,
        lr: LendingRound,
        bad_before: FloatArray | None,
        total_bad_before: FloatArray | None,
        price: FloatArray,
    ) -> None:
        """Liquidations (feed -> market), collateral sold (market -> asset), bad debt."""
        e, a = self.engine, self.engine.world.assets
        liq: Liquidations = lr.liquidations
        if len(liq):
            # Summed per (protocol, collateral) market first: a round liquidates thousands
            # of loans in a few markets, and their feed and nodes are the market's.
            shape = self.market_node.shape
            key = liq.protocol * shape[1] + liq.collateral_asset
            seized = np.bincount(key, liq.collateral_usd, self.market_node.size)
            each = (liq.collateral_seized - liq.protocol_fee) * price[liq.collateral_asset]
            sold = np.bincount(key, np.where(liq.kind == 1, 0.0, each), self.market_node.size)
            protocol, asset = np.divmod(np.flatnonzero((seized > 0) | (sold > 0)), shape[1])
            market = self.market_node[protocol, asset]
            feed = self.feed_node[self.market_feed(protocol, asset)]
            at = protocol * shape[1] + asset
            self.log.add(r, "liquidation", feed, market, seized[at])
            self.log.add(r, "sell", market, self.root_node[a.root[asset]], sold[at])
        # Comets' store-front sales, of collateral absorbed in this round or before.
        sales = lr.store_sales if lr.store_sales is not None else np.zeros((0, 0))
        protos, assets_ = np.nonzero(sales > 0)
        if len(protos):
            sale = sales[protos, assets_] * price[assets_]
            self.log.add(
                r, "sell", self.market_node[protos, assets_], self.root_node[a.root[assets_]], sale
            )
        prev = np.zeros_like(lr.bad_debt_by_asset) if bad_before is None else bad_before
        growth = np.maximum(lr.bad_debt_by_asset - prev, 0.0)
        k, x = np.nonzero(growth)
        self.log.add(r, "bad_debt", self.market_node[k, x], self.protocol_node[k], growth[k, x])
        prev_total = (
            np.zeros_like(lr.bad_debt_usd) if total_bad_before is None else total_bad_before
        )
        other = np.maximum(
            (lr.bad_debt_usd - lr.bad_debt_by_asset.sum(axis=1)) - (prev_total - prev.sum(axis=1)),
            0.0,
        )
        ks = np.flatnonzero(other > 0)
        debt_asset = np.maximum(e.protocol_debt_asset[ks], 0)
        self.log.add(
            r, "bad_debt", self.market_node[ks, debt_asset], self.protocol_node[ks], other[ks]
        )

    def market_feed(
        self, protocol: NDArray[np.int64], asset: NDArray[np.int64]
    ) -> NDArray[np.int64]:
        """The feed a protocol reads for an asset."""
        position = self.engine.world.lending.position_of_market(protocol, asset)
        result: NDArray[np.int64] = self.engine.position_feed[position]
        return result

    def flows(
        self,
        r: int,
        move: FloatArray,
        hedge: FloatArray,
        perp: FloatArray,
        ar: AlgorithmicRound,
        cleared: Clearing,
        price: FloatArray,
    ) -> None:
        """Shocks, hedges, force-closes, redemptions, the run, and what the venues absorbed."""
        e, a = self.engine, self.engine.world.assets
        shocked = np.flatnonzero(move != 0)
        self.log.add(
            r,
            "shock",
            0,
            self.root_node[shocked],
            np.abs(move[shocked]) * e.root_exposure_usd[shocked],
        )
        sells = np.maximum(-hedge, 0.0) * price
        if self.options_venue >= 0:
            self.log.add(r, "hedge", self.options_venue, self.root_node[a.root], sells)
        if self.perp_venue >= 0:
            self.log.add(
                r,
                "perp_liquidation",
                self.perp_venue,
                self.root_node[a.root],
                np.maximum(-perp, 0.0) * price,
            )
        book = e.algorithmic
        if len(book.coin):
            self.log.add(
                r,
                "redemption",
                self.asset_node[book.coin],
                self.asset_node[book.governance],
                ar.minted * price[book.governance],
            )
            self.log.add(
                r,
                "run",
                self.asset_node[book.governance],
                self.asset_node[book.coin],
                ar.run_sell * price[book.coin],
            )
        self._absorption(r, cleared, price)

    def peg(
        self, r: int, underlying: NDArray[np.int64], root: NDArray[np.int64], move: FloatArray
    ) -> None:
        """Staking-token roots whose markets followed their underlying's move (log size)."""
        usd = move * self.engine.root_exposure_usd[root]
        self.log.add(r, "peg", self.root_node[underlying], self.root_node[root], usd)

    def _absorption(self, r: int, cleared: Clearing, price: FloatArray) -> None:
        e, a = self.engine, self.engine.world.assets
        v = e.venues
        for kind, tokens, absorbed in (
            ("cp", v.constant_product.tokens, cleared.cp_absorbed),
            ("cl", v.concentrated.tokens, cleared.cl_absorbed),
            ("ss", v.stableswap.tokens, cleared.ss_absorbed),
        ):
            if absorbed.size == 0:
                continue
            valid = tokens >= 0
            took = np.where(valid, np.maximum(absorbed, 0.0), 0.0)
            pool, slot = np.nonzero(took > 0)
            token = tokens[pool, slot]
            self.log.add(
                r,
                "absorb",
                self.root_node[a.root[token]],
                self.pool_nodes[kind][pool],
                took[pool, slot] * price[token],
            )
        if cleared.psm_absorbed.size:
            for col, assets_ in ((0, v.psm.stable), (1, v.psm.gem)):
                took = np.maximum(cleared.psm_absorbed[:, col], 0.0)
                self.log.add(
                    r,
                    "absorb",
                    self.root_node[a.root[assets_]],
                    self.pool_nodes["psm"],
                    took * price[assets_],
                )
        ext = np.maximum(cleared.external_absorbed, 0.0) * cleared.price
        self.log.add(r, "absorb", self.root_node, self.external_node, ext)

    def writedown(self, r: int, lost_usd: FloatArray) -> None:
        """Receipt tokens written down: from their issuer to the token (USD of value lost)."""
        self.log.add(
            r,
            "writedown",
            self.receipt_issuer_node,
            self.asset_node[self.engine.receipt_asset],
            lost_usd,
        )
