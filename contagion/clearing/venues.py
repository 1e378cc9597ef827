"""The venues that absorb a round's flow, and their state between rounds.

Prices are solved for *root* assets: every asset i has ``root[i]`` (WETH → ETH, wstETH →
stETH, aEthUSDC → USDC; an asset not freely convertible into another is its own root) and a
rate (root units per token, supplied per round), so a token's USD price is
``root_price[root[i]] · rate[i]``. Venues are arrays by kind, so a round clears each kind in a
few vectorised operations:

* an external market per root (square-root impact, :mod:`contagion.clearing.external`) with
  ``depth_usd`` (0/NaN: none; ``inf``: a perfectly elastic market that pins the price);
* constant-product pools (Uniswap v2), concentrated-liquidity pools (Uniswap v3, one
  :class:`~contagion.amm.concentrated.LiquidityBook` each), StableSwap pools (2-4 coins);
* peg stability modules (Maker's DssPsm, constant sum between a stablecoin and its backing).

:class:`Venues` is the static description (with the pools' starting reserves);
:class:`MarketState` holds what changes from round to round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from contagion.amm.concentrated import LiquidityBook
from contagion.amm.psm import PSM_USDC_DAILY_MINT_2023
from contagion.clearing.pools import (
    MAX_COINS,
    ConcentratedPools,
    ConstantProductPools,
    PegStabilityModules,
    StableswapPools,
)
from contagion.dataset import Dataset

__all__ = ["MarketState", "Venues"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def _floats(values: ArrayLike, shape: tuple[int, ...] | None = None) -> FloatArray:
    out = np.array(values, dtype=float)
    return out.reshape(shape) if shape is not None else out


@dataclass(frozen=True)
class Venues:
    """Every venue of a world, by kind, over ``len(root)`` assets and ``len(depth_usd)`` roots.

    Parameters
    ----------
    root
        Root index of each asset.
    depth_usd
        External depth per root: USD of sells that move its price 2 %. 0 or NaN: no external
        market; ``inf``: the price is pinned at the reference (a numéraire).
    constant_product, concentrated, stableswap, psm
        The pools and modules; token indices refer to assets.
    resilience
        Share of each external market's cumulative impact that decays before a round.
    asset_ids
        Asset identifiers (display and dataset lookups; empty for synthetic worlds).
    """

    root: IntArray
    depth_usd: FloatArray
    constant_product: ConstantProductPools = field(default_factory=ConstantProductPools)
    concentrated: ConcentratedPools = field(default_factory=ConcentratedPools)
    stableswap: StableswapPools = field(default_factory=StableswapPools)
    psm: PegStabilityModules = field(default_factory=PegStabilityModules)
    resilience: float = 0.0
    asset_ids: tuple[str, ...] = ()
    component: IntArray = field(init=False, repr=False, compare=False)
    """Roots linked by pools or modules share a component; pinned roots are -1."""
    psm_parent: IntArray = field(init=False, repr=False, compare=False)
    """Per module, the root whose price its path parameter is measured from."""
    psm_order: IntArray = field(init=False, repr=False, compare=False)
    """Modules in an order where a parent's price is known before its child's."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", np.asarray(self.root, dtype=np.int64))
        object.__setattr__(self, "depth_usd", _floats(self.depth_usd))
        if not 0.0 <= self.resilience <= 1.0:
            raise ValueError("resilience must be in [0, 1]")
        if self.root.size and (self.root.min() < 0 or self.root.max() >= self.n_roots):
            raise ValueError("root indices must lie in [0, len(depth_usd))")
        for kind in (self.constant_product, self.concentrated, self.stableswap):
            used = kind.tokens[kind.tokens >= 0]
            if used.size and used.max() >= len(self.root):
                raise ValueError("a pool refers to an asset index beyond root")
        object.__setattr__(self, "component", self._components())
        parent, order = self._psm_tree()
        object.__setattr__(self, "psm_parent", parent)
        object.__setattr__(self, "psm_order", order)

    @property
    def n_roots(self) -> int:
        return len(self.depth_usd)

    @property
    def pinned(self) -> NDArray[np.bool_]:
        """Roots whose external market is perfectly elastic (price = reference)."""
        return np.asarray(np.isposinf(self.depth_usd))

    def _edges(self) -> tuple[IntArray, IntArray]:
        pairs = [
            self.root[self.constant_product.tokens],
            self.root[self.concentrated.tokens],
            np.column_stack([self.root[self.psm.stable], self.root[self.psm.gem]]),
        ]
        ss = self.stableswap.tokens
        for j in range(1, MAX_COINS):
            both = (ss[:, 0] >= 0) & (ss[:, j] >= 0)
            pairs.append(self.root[np.column_stack([ss[both, 0], ss[both, j]])])
        edges = np.concatenate([p.reshape(-1, 2) for p in pairs])
        return edges[:, 0], edges[:, 1]

    def _components(self) -> IntArray:
        a, b = self._edges()
        pinned = self.pinned
        keep = ~pinned[a] & ~pinned[b]
        n = self.n_roots
        graph = coo_matrix((np.ones(int(keep.sum())), (a[keep], b[keep])), shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        return np.where(pinned, -1, labels).astype(np.int64)

    def _psm_tree(self) -> tuple[IntArray, IntArray]:
        """Orient the modules as a forest: each child root's price follows its parent's.

        Pinned roots count as one node (their prices are all fixed), so two modules tying a
        coin to two pinned roots close a cycle, which would over-determine its price. A
        module between two pinned roots has no unknown (parent -1, not in the order).
        """
        stable, gem = self.root[self.psm.stable], self.root[self.psm.gem]
        node = np.where(self.pinned, -1, np.arange(self.n_roots))
        adjacent: dict[int, list[int]] = {}
        for k, (s, g) in enumerate(zip(node[stable], node[gem], strict=True)):
            if s == g == -1:
                continue
            if s == g:
                raise ValueError("a peg stability module links a root to itself")
            adjacent.setdefault(int(s), []).append(k)
            adjacent.setdefault(int(g), []).append(k)
        parent = np.full(len(stable), -1, np.int64)
        order: list[int] = []
        seen: set[int] = set()
        for start in sorted(adjacent):  # -1, the pinned node, first
            if start in seen:
                continue
            seen.add(start)
            queue = [start]
            while queue:
                here = queue.pop(0)
                for k in adjacent[here]:
                    if k in order:
                        continue
                    side = stable[k] if node[stable[k]] == here else gem[k]
                    child = int(node[gem[k]] if side == stable[k] else node[stable[k]])
                    if child in seen:
                        raise ValueError("peg stability modules form a cycle between roots")
                    parent[k] = side
                    order.append(k)
                    seen.add(child)
                    queue.append(child)
        return parent, np.array(order, np.int64)

    @classmethod
    def from_dataset(
        cls,
        dataset: Dataset,
        asset_ids: Sequence[str],
        root: ArrayLike,
        *,
        depth_usd: ArrayLike | None = None,
        psm_headroom: float = PSM_USDC_DAILY_MINT_2023,
        resilience: float = 0.0,
    ) -> Venues:
        """Read pools, ticks, external depths and PSMs of a dataset.

        Parameters
        ----------
        dataset
            A validated dataset (``pools``, ``pool_ticks``, ``assets``, ``stablecoins``).
        asset_ids
            The assets of the world, in the caller's order; pools or modules with a token
            outside it are left out.
        root
            Root index of each asset.
        depth_usd
            External depth per root; by default the sum of ``assets.depth_2pct_usd`` over the
            root's assets (each a separate book, e.g. stETH and wstETH order books), null
            meaning no external market.
        psm_headroom
            Dai each module may still mint (``line - art``, not in the dataset). The default
            is PSM-USDC-A's daily minting limit in March 2023, 950 million Dai.
        resilience
            See :class:`Venues`.

        Examples
        --------
        >>> from contagion import sample_world
        >>> world = sample_world(positions=1_000)
        >>> ids = world.df("assets")["asset_id"].tolist()
        >>> venues = Venues.from_dataset(world, ids, np.arange(len(ids)))
        >>> len(venues.constant_product), len(venues.concentrated), len(venues.stableswap)
        (2, 1, 3)
        """
        index = {a: k for k, a in enumerate(asset_ids)}
        root_ = np.asarray(root, dtype=np.int64)
        n_roots = int(root_.max()) + 1 if root_.size else 0
        assets = dataset.table("assets").to_pylist()
        if depth_usd is None:
            depth = np.zeros(n_roots)
            for row in assets:
                if row["asset_id"] in index and row["depth_2pct_usd"] is not None:
                    depth[root_[index[row["asset_id"]]]] += row["depth_2pct_usd"]
        else:
            depth = _floats(depth_usd, (n_roots,))
        decimals = {row["asset_id"]: row["decimals"] for row in assets}
        ticks: dict[str, list[tuple[int, float]]] = {}
        for row in dataset.table("pool_ticks").to_pylist():
            ticks.setdefault(row["pool_id"], []).append((row["tick"], row["liquidity_net"]))

        kinds: dict[str, list[dict[str, Any]]] = {}
        for row in dataset.table("pools").to_pylist():
            tokens = row["token_asset_ids"]
            if all(t in index for t in tokens) and 2 <= len(tokens) <= MAX_COINS:
                row["at"] = [index[t] for t in tokens]
                kinds.setdefault(row["kind"], []).append(row)
        cp = kinds.get("constant-product", [])
        cl = kinds.get("concentrated-liquidity", [])
        ss = kinds.get("stableswap", [])
        books = []
        for row in cl:
            tick, net = zip(*ticks[row["pool_id"]], strict=True)
            token0, token1 = row["token_asset_ids"]
            shift = (decimals[token0] - decimals[token1]) / 2.0
            books.append(LiquidityBook.from_ticks(tick, net, shift))
        pad = [MAX_COINS - len(row["at"]) for row in ss]
        psm = [
            row
            for row in dataset.table("stablecoins").to_pylist()
            if row["mechanism"] == "psm"
            and row["asset_id"] in index
            and row["backing_asset_id"] in index
        ]
        return cls(
            root=root_,
            depth_usd=depth,
            constant_product=ConstantProductPools(
                tokens=np.array([row["at"] for row in cp], np.int64).reshape(-1, 2),
                reserves=np.array([row["reserves"] for row in cp], float).reshape(-1, 2),
                fee=np.array([row["fee"] for row in cp], float),
                pool_ids=tuple(row["pool_id"] for row in cp),
            ),
            concentrated=ConcentratedPools(
                tokens=np.array([row["at"] for row in cl], np.int64).reshape(-1, 2),
                sqrt_price=np.array([row["sqrt_price"] for row in cl], float),
                fee=np.array([row["fee"] for row in cl], float),
                books=tuple(books),
                pool_ids=tuple(row["pool_id"] for row in cl),
            ),
            stableswap=StableswapPools(
                tokens=np.array(
                    [row["at"] + [-1] * k for row, k in zip(ss, pad, strict=True)], np.int64
                ).reshape(-1, MAX_COINS),
                balances=np.array(
                    [row["reserves"] + [np.nan] * k for row, k in zip(ss, pad, strict=True)],
                    float,
                ).reshape(-1, MAX_COINS),
                amp=np.array([row["amplification"] for row in ss], float),
                fee=np.array([row["fee"] for row in ss], float),
                pool_ids=tuple(row["pool_id"] for row in ss),
            ),
            psm=PegStabilityModules(
                stable=np.array([index[row["asset_id"]] for row in psm], np.int64),
                gem=np.array([index[row["backing_asset_id"]] for row in psm], np.int64),
                tin=np.array([row["redemption_fee"] for row in psm], float),
                tout=np.array([row["redemption_fee"] for row in psm], float),
                gem_balance=np.array([row["supply"] * row["backing_share"] for row in psm], float),
                headroom=np.full(len(psm), psm_headroom),
                ids=tuple(row["protocol_id"] for row in psm),
            ),
            resilience=resilience,
            asset_ids=tuple(asset_ids),
        )


@dataclass(frozen=True)
class MarketState:
    """What changes between rounds: prices, external impact, pool balances, PSM inventory.

    Attributes
    ----------
    root_price
        USD price of each root.
    external_sold_usd
        Cumulative net USD sold into each external market since the start (Q).
    cp_reserves, cl_sqrt_price, ss_balances
        Pool reserves (whole tokens) and sqrt prices, as in :class:`Venues`.
    psm_gem, psm_headroom
        Gem held and Dai still mintable by each module.
    """

    root_price: FloatArray
    external_sold_usd: FloatArray
    cp_reserves: FloatArray
    cl_sqrt_price: FloatArray
    ss_balances: FloatArray
    psm_gem: FloatArray
    psm_headroom: FloatArray

    def same_as(self, other: MarketState) -> bool:
        """Whether ``other`` holds the same values (unused pool slots, NaN, included)."""
        return self is other or all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name), equal_nan=True)
            for f in fields(self)
        )

    @classmethod
    def initial(cls, venues: Venues, root_price: ArrayLike) -> MarketState:
        """The state at the start: the venues' own balances, no external impact yet.

        >>> venues = Venues(root=[0, 1], depth_usd=[1e6, 0.0])
        >>> MarketState.initial(venues, [2000.0, 1.0]).external_sold_usd.tolist()
        [0.0, 0.0]
        """
        price = _floats(root_price, (venues.n_roots,))
        if np.any(~(price > 0)):
            raise ValueError("root prices must be positive")
        return cls(
            root_price=price,
            external_sold_usd=np.zeros(venues.n_roots),
            cp_reserves=venues.constant_product.reserves.copy(),
            cl_sqrt_price=venues.concentrated.sqrt_price.copy(),
            ss_balances=venues.stableswap.balances.copy(),
            psm_gem=venues.psm.gem_balance.copy(),
            psm_headroom=venues.psm.headroom.copy(),
        )
