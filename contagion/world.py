"""A dataset compiled into the arrays the propagation solver runs on.

Compiling happens once per dataset; every scenario (and every scenario of a batch) reuses it.
Two things are decided here:

* **Markets (roots).** Tokens that convert freely into another token share its market: a
  vault or receipt token (WETH -> ETH, WBTC -> BTC, sDAI -> DAI, Aave's aTokens -> their
  underlying) and the wrapper of a staking token (wstETH -> stETH). Its price is the root's
  price times its exchange rate, and selling it is selling the root. A staking token on the
  native coin (stETH, cbETH, rETH) only redeems through a withdrawal queue, so it keeps its own
  market and may trade at a discount set by its pools.
* **Lending books.** Positions are grouped into loans (protocol x account) and sorted by loan,
  so per-loan sums are ``np.add.reduceat`` over contiguous slices; every per-position rule
  parameter (liquidation threshold with e-mode, bonus, Comet factors, CDP ratio) and the
  oracle feed each protocol reads for the position's asset are gathered into flat arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from contagion.exceptions import SchemaError

if TYPE_CHECKING:
    from contagion.dataset import Dataset

__all__ = ["FAMILIES", "AssetIndex", "LendingBook", "World", "compile_world"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

FAMILIES = ("aave-v3", "compound-v3", "cdp")
"""Lending rule families, in the order of their integer codes."""
AAVE, COMET, CDP = 0, 1, 2


@dataclass(frozen=True)
class AssetIndex:
    """Assets in a fixed order, with the market (root) each one trades in.

    Attributes
    ----------
    ids, symbols, kinds
        Per asset; ``symbols`` are untrusted on-chain text, for display only.
    price
        Market price (USD) at the snapshot.
    root
        Position of the asset's root in ``root_assets`` (its market).
    rate
        Root units per token at the snapshot (1 for a root itself; 1.145 for wstETH).
    root_assets
        Asset index of each root.
    depth_2pct_usd
        External market depth per root (0 where there is none).
    """

    ids: tuple[str, ...]
    symbols: tuple[str, ...]
    kinds: tuple[str, ...]
    decimals: IntArray
    price: FloatArray
    total_supply: FloatArray
    root: IntArray
    rate: FloatArray
    root_assets: IntArray
    depth_2pct_usd: FloatArray

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_roots(self) -> int:
        return len(self.root_assets)

    def index(self, asset_id: str) -> int:
        """Position of ``asset_id``; KeyError naming it otherwise."""
        try:
            return self.ids.index(asset_id)
        except ValueError:
            raise KeyError(f"unknown asset {asset_id!r}") from None

    def root_price(self, price: FloatArray, rate: FloatArray) -> FloatArray:
        """Root prices implied by token prices (each root priced by itself)."""
        result: FloatArray = price[self.root_assets] / rate[self.root_assets]
        return result

    def token_price(self, root_price: FloatArray, rate: FloatArray) -> FloatArray:
        """Token prices: the root's price times the token's exchange rate."""
        result: FloatArray = root_price[self.root] * rate
        return result


@dataclass(frozen=True)
class LendingBook:
    """Lending positions as flat arrays sorted by loan (protocol x account).

    Per position: ``loan``, ``asset``, ``collateral`` and ``debt`` (whole tokens),
    ``used`` (counts as collateral), ``feed`` (oracle feed index the protocol reads for the
    asset; -1 if none), and the rule parameters of the position's market: ``lt`` (Aave
    liquidation threshold, e-mode applied), ``bonus`` (e-mode applied), ``protocol_fee``,
    ``liquidate_cf``, ``liquidation_factor``, ``store_front`` (Comet), ``liquidation_ratio``,
    ``penalty`` (CDP). Per loan: ``loan_start`` (first position), ``loan_protocol``,
    ``loan_family``, ``loan_account``. ``asset_ids`` names the assets ``asset`` indexes. Per
    protocol, for Comets: ``comet_base`` (the base asset, -1 elsewhere), ``target_reserves``
    and ``reserves`` (whole base tokens at the snapshot; NaN where unknown or not a Comet).
    """

    protocol_ids: tuple[str, ...]
    protocol_family: IntArray
    loan: IntArray
    asset: IntArray
    collateral: FloatArray
    debt: FloatArray
    used: BoolArray
    feed: IntArray
    lt: FloatArray
    bonus: FloatArray
    protocol_fee: FloatArray
    liquidate_cf: FloatArray
    liquidation_factor: FloatArray
    store_front: FloatArray
    liquidation_ratio: FloatArray
    penalty: FloatArray
    loan_start: IntArray
    loan_protocol: IntArray
    loan_family: IntArray
    loan_account: tuple[str, ...]
    asset_ids: tuple[str, ...]
    comet_base: IntArray
    target_reserves: FloatArray
    reserves: FloatArray

    @property
    def n_positions(self) -> int:
        return len(self.loan)

    @property
    def n_loans(self) -> int:
        return len(self.loan_start)

    @cached_property
    def health_weight(self) -> FloatArray:
        """Per position, the factor its collateral counts with in its family's health rule.

        Aave: liquidation threshold (e-mode applied); Comet: liquidateCollateralFactor; CDP:
        1 / liquidation ratio; zero for supplies not used as collateral.
        """
        family = self.loan_family[self.loan]
        weight = np.where(
            family == AAVE,
            self.lt,
            np.where(family == COMET, self.liquidate_cf, 1.0 / self.liquidation_ratio),
        )
        result: FloatArray = weight * self.used
        return result

    @cached_property
    def market_width(self) -> int:
        """The asset count market keys (``protocol x market_width + asset``) are built on."""
        return int(self.asset.max()) + 1 if self.n_positions else 1

    @cached_property
    def market_position(self) -> tuple[IntArray, IntArray]:
        """Sorted market keys (protocol x market_width + asset) and a position of each market."""
        key = self.loan_protocol[self.loan] * self.market_width + self.asset
        keys, first = np.unique(key, return_index=True)
        return keys.astype(np.int64), first.astype(np.int64)

    @cached_property
    def feed_position(self) -> IntArray:
        """The first position reading each oracle feed, in feed order."""
        _, first = np.unique(self.feed, return_index=True)
        return first.astype(np.int64)

    def position_of_market(self, protocol: IntArray, asset: IntArray) -> IntArray:
        """A position of each (protocol, asset) market (its parameters and oracle feed)."""
        keys, first = self.market_position
        want = protocol * self.market_width + asset
        result: IntArray = first[np.clip(np.searchsorted(keys, want), 0, len(keys) - 1)]
        return result

    @cached_property
    def vault_positions(self) -> tuple[IntArray, IntArray, IntArray]:
        """Per loan shaped as a CDP vault (two positions, exactly one used as collateral): its
        first and second position and the collateral one; -1 for every other loan.

        A step whose loans are all vault-shaped reads their two positions instead of grouping
        positions by loan."""
        first = np.full(self.n_loans, -1, dtype=np.int64)
        second = np.full(self.n_loans, -1, dtype=np.int64)
        collateral = np.full(self.n_loans, -1, dtype=np.int64)
        if self.n_loans == 0:
            return first, second, collateral
        used = np.bincount(self.loan, self.used, self.n_loans)
        vault = np.flatnonzero((self.loan_size == 2) & (used == 1))
        a = self.loan_start[vault]
        first[vault], second[vault] = a, a + 1
        collateral[vault] = np.where(self.used[a], a, a + 1)
        return first, second, collateral

    def all_vaults(self, loans: IntArray) -> bool:
        """Whether every one of ``loans`` is vault-shaped (:attr:`vault_positions`)."""
        return bool((self.vault_positions[2][loans] >= 0).all())

    @cached_property
    def loan_collateral_debt_asset(self) -> tuple[IntArray, IntArray]:
        """Per loan, its collateral asset and its debt asset (CDP vaults hold one of each)."""
        coll_asset = np.full(self.n_loans, -1, dtype=np.int64)
        debt_asset = np.full(self.n_loans, -1, dtype=np.int64)
        coll_asset[self.loan[self.used]] = self.asset[self.used]
        debt_asset[self.loan[~self.used]] = self.asset[~self.used]
        return coll_asset, debt_asset

    @cached_property
    def cdp_loan_runs(self) -> tuple[tuple[int, int], ...]:
        """The CDP vaults' loans, the only ones an auction can hold, as runs of consecutive
        loans ``(start, stop)`` (loans are grouped by protocol: one run per CDP protocol)."""
        edges = np.diff(np.concatenate([[0], (self.loan_family == CDP).astype(np.int8), [0]]))
        starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        return tuple(zip(starts.tolist(), stops.tolist(), strict=True))

    @cached_property
    def uncollateralised_aave_loans(self) -> IntArray:
        """Aave-family loans holding debt and no collateral (sorted): no liquidation can
        reach them (see ``LendingState.written_off``)."""
        left = np.bincount(self.loan, self.collateral * self.used, self.n_loans)
        owed = np.bincount(self.loan, self.debt, self.n_loans)
        found = (self.loan_family == AAVE) & (left == 0.0) & (owed > 0.0)
        return np.flatnonzero(found).astype(np.int64)

    @cached_property
    def loan_size(self) -> IntArray:
        """Per loan, its number of positions."""
        result: IntArray = np.diff(np.append(self.loan_start, self.n_positions)).astype(np.int64)
        return result

    def positions_of(self, loans: IntArray) -> IntArray:
        """The positions of ``loans`` (sorted loans give sorted positions), without touching
        the other positions."""
        size = self.loan_size[loans]
        offset = np.cumsum(size) - size
        result: IntArray = np.repeat(self.loan_start[loans] - offset, size) + np.arange(
            int(size.sum()), dtype=np.int64
        )
        return result

    def per_loan(self, values: FloatArray) -> FloatArray:
        """Sum ``values`` (one per position) over each loan."""
        if self.n_positions == 0:
            return np.zeros(0)
        result: FloatArray = np.add.reduceat(values, self.loan_start)
        return result


@dataclass(frozen=True)
class World:
    """Everything the solver needs from a dataset, compiled once."""

    dataset: Dataset
    assets: AssetIndex
    lending: LendingBook
    feed_ids: tuple[str, ...]


def _assets(dataset: Dataset) -> AssetIndex:
    table = dataset.table("assets")
    ids = tuple(table.column("asset_id").to_pylist())
    position = {a: i for i, a in enumerate(ids)}
    underlying_of = dict.fromkeys(ids, "")
    rate_of = dict.fromkeys(ids, 1.0)
    kinds = dict(zip(ids, table.column("kind").to_pylist(), strict=True))
    wrappers = dataset.table("wrappers").to_pylist()
    wrapper_kind = {w["asset_id"]: w["kind"] for w in wrappers}
    for w in wrappers:
        convertible = w["kind"] in ("vault", "receipt") or (
            w["kind"] == "lst" and wrapper_kind.get(w["underlying_asset_id"]) == "lst"
        )
        if convertible:
            underlying_of[w["asset_id"]] = w["underlying_asset_id"]
            rate_of[w["asset_id"]] = float(w["exchange_rate"])
    root_id: dict[str, str] = {}
    rate = np.ones(len(ids))
    for i, asset in enumerate(ids):
        current, r, seen = asset, 1.0, {asset}
        while underlying_of[current]:
            r *= rate_of[current]
            current = underlying_of[current]
            if current in seen:
                raise SchemaError(
                    f"wrappers form a cycle through {asset!r}",
                    table="wrappers",
                    column="underlying_asset_id",
                )
            seen.add(current)
        root_id[asset] = current
        rate[i] = r
    root_assets = np.array(sorted({position[r] for r in root_id.values()}), dtype=np.int64)
    root_pos = {int(a): k for k, a in enumerate(root_assets)}
    root = np.array([root_pos[position[root_id[a]]] for a in ids], dtype=np.int64)
    depth_asset = np.nan_to_num(
        table.column("depth_2pct_usd").to_numpy(zero_copy_only=False).astype(float), nan=0.0
    )
    # A root's external market is the deepest external market quoted for it or its wrappers.
    depth = np.zeros(len(root_assets))
    np.maximum.at(depth, root, depth_asset)
    supply = table.column("total_supply").to_numpy(zero_copy_only=False).astype(float)
    return AssetIndex(
        ids=ids,
        symbols=tuple(table.column("symbol").to_pylist()),
        kinds=tuple(kinds[a] for a in ids),
        decimals=table.column("decimals").to_numpy().astype(np.int64),
        price=table.column("price_usd").to_numpy().astype(float),
        total_supply=supply,
        root=root,
        rate=rate,
        root_assets=root_assets,
        depth_2pct_usd=depth,
    )


def _lending(dataset: Dataset, assets: AssetIndex, feed_ids: tuple[str, ...]) -> LendingBook:
    positions = dataset.table("lending_positions")
    markets = dataset.table("lending_markets")
    family_of = dict(
        zip(
            markets.column("protocol_id").to_pylist(),
            markets.column("family").to_pylist(),
            strict=True,
        )
    )
    protocol_ids = tuple(sorted(set(positions.column("protocol_id").to_pylist())))
    missing = [p for p in protocol_ids if p not in family_of]
    if missing:
        raise SchemaError(
            f"positions in protocol {missing[0]!r}, which has no lending_markets rows",
            table="lending_positions",
            column="protocol_id",
        )
    protocol_family = np.array([FAMILIES.index(family_of[p]) for p in protocol_ids], dtype=np.int64)
    n = positions.num_rows
    proto_codes = pc.index_in(
        positions.column("protocol_id"), value_set=_arrow(protocol_ids)
    ).to_numpy()
    asset_codes = pc.index_in(positions.column("asset_id"), value_set=_arrow(assets.ids)).to_numpy()
    accounts = positions.column("account").combine_chunks()
    account_codes, account_values = _factorize(accounts)
    # Sort positions by (protocol, account): each loan becomes a contiguous slice.
    order = np.lexsort((asset_codes, account_codes, proto_codes))
    proto_sorted = proto_codes[order].astype(np.int64)
    account_sorted = account_codes[order]
    if n:
        new_loan = np.ones(n, dtype=bool)
        new_loan[1:] = (proto_sorted[1:] != proto_sorted[:-1]) | (
            account_sorted[1:] != account_sorted[:-1]
        )
        loan = np.cumsum(new_loan) - 1
        loan_start = np.flatnonzero(new_loan).astype(np.int64)
    else:
        loan = np.zeros(0, dtype=np.int64)
        loan_start = np.zeros(0, dtype=np.int64)
    asset_sorted = asset_codes[order].astype(np.int64)
    emode = positions.column("emode_category").to_numpy().astype(np.int64)[order]

    params = _market_params(markets, protocol_ids, assets)
    key = proto_sorted * len(assets) + asset_sorted

    def gather(name: str, default: float = np.nan) -> FloatArray:
        table = params[name]
        result: FloatArray = table.get_values(key, default)
        return result

    market_emode = np.nan_to_num(gather("emode_category", 0.0)).astype(np.int64)
    in_emode = (emode > 0) & (market_emode == emode)
    lt = np.where(in_emode, gather("emode_liquidation_threshold"), gather("liquidation_threshold"))
    bonus = np.where(in_emode, gather("emode_liquidation_bonus"), gather("liquidation_bonus"))
    feed = _feeds_per_position(dataset, protocol_ids, assets, feed_ids, key)
    if (feed < 0).any():
        bad = int(np.flatnonzero(feed < 0)[0])
        raise SchemaError(
            f"protocol {protocol_ids[proto_sorted[bad]]!r} has positions in asset "
            f"{assets.ids[asset_sorted[bad]]!r} but no oracle_usage row says which feed "
            "prices it",
            table="oracle_usage",
            column="feed_id",
        )
    return LendingBook(
        protocol_ids=protocol_ids,
        protocol_family=protocol_family,
        loan=loan.astype(np.int64),
        asset=asset_sorted,
        collateral=positions.column("collateral_amount").to_numpy()[order].astype(float),
        debt=positions.column("debt_amount").to_numpy()[order].astype(float),
        used=positions.column("used_as_collateral")
        .to_numpy(zero_copy_only=False)[order]
        .astype(bool),
        feed=feed,
        lt=np.nan_to_num(lt, nan=0.0),
        bonus=np.nan_to_num(bonus, nan=1.0),
        protocol_fee=np.nan_to_num(gather("liquidation_protocol_fee"), nan=0.0),
        liquidate_cf=np.nan_to_num(gather("liquidate_cf"), nan=0.0),
        liquidation_factor=np.nan_to_num(gather("liquidation_factor"), nan=0.0),
        store_front=np.nan_to_num(gather("store_front_price_factor"), nan=0.0),
        liquidation_ratio=np.nan_to_num(gather("liquidation_ratio"), nan=np.inf),
        penalty=np.nan_to_num(gather("liquidation_penalty"), nan=0.0),
        loan_start=loan_start,
        loan_protocol=proto_sorted[loan_start] if n else np.zeros(0, dtype=np.int64),
        loan_family=protocol_family[proto_sorted[loan_start]] if n else np.zeros(0, dtype=np.int64),
        loan_account=tuple(account_values[account_sorted[loan_start]].tolist()) if n else (),
        asset_ids=tuple(assets.ids),
        **_comet_reserves(markets, protocol_ids, assets),
    )


def _comet_reserves(
    markets: pa.Table, protocol_ids: tuple[str, ...], assets: AssetIndex
) -> dict[str, NDArray[Any]]:
    """Per protocol: a Comet's base asset, ``targetReserves`` and reserves (its base row)."""
    n = len(protocol_ids)
    base = np.full(n, -1, dtype=np.int64)
    target, reserves = np.full(n, np.nan), np.full(n, np.nan)
    index = {p: i for i, p in enumerate(protocol_ids)}
    asset_index = {a: i for i, a in enumerate(assets.ids)}
    rows = zip(
        *(
            markets.column(c).to_pylist()
            for c in ("protocol_id", "family", "role", "asset_id", "target_reserves", "reserves")
        ),
        strict=True,
    )
    for protocol, family, role, asset, target_value, reserve_value in rows:
        i = index.get(protocol)
        if i is None or family != "compound-v3" or role != "base":
            continue
        base[i] = asset_index.get(asset, -1)
        target[i] = np.nan if target_value is None else target_value
        reserves[i] = np.nan if reserve_value is None else reserve_value
    return {"comet_base": base, "target_reserves": target, "reserves": reserves}


@dataclass(frozen=True)
class _KeyedColumn:
    """A market parameter keyed by protocol * n_assets + asset."""

    keys: IntArray
    values: FloatArray

    def get_values(self, key: IntArray, default: float) -> FloatArray:
        out = np.full(len(key), default, dtype=float)
        if len(self.keys) == 0 or len(key) == 0:
            return out
        idx = np.clip(np.searchsorted(self.keys, key), 0, len(self.keys) - 1)
        hit = self.keys[idx] == key
        out[hit] = self.values[idx[hit]]
        return out


_PARAMS = (
    "liquidation_threshold",
    "liquidation_bonus",
    "liquidation_protocol_fee",
    "emode_category",
    "emode_liquidation_threshold",
    "emode_liquidation_bonus",
    "liquidate_cf",
    "liquidation_factor",
    "store_front_price_factor",
    "liquidation_ratio",
    "liquidation_penalty",
)


def _market_params(
    markets: pa.Table, protocol_ids: tuple[str, ...], assets: AssetIndex
) -> dict[str, _KeyedColumn]:
    proto = pc.index_in(markets.column("protocol_id"), value_set=_arrow(protocol_ids)).to_numpy(
        zero_copy_only=False
    )
    asset = pc.index_in(markets.column("asset_id"), value_set=_arrow(assets.ids)).to_numpy(
        zero_copy_only=False
    )
    keep = ~(np.isnan(proto.astype(float)) | np.isnan(asset.astype(float)))
    keys = (
        np.nan_to_num(proto.astype(float)) * len(assets) + np.nan_to_num(asset.astype(float))
    ).astype(np.int64)
    order = np.argsort(keys[keep], kind="stable")
    sorted_keys = keys[keep][order]
    result = {}
    for name in _PARAMS:
        column = markets.column(name).to_numpy(zero_copy_only=False).astype(float)
        result[name] = _KeyedColumn(sorted_keys, column[keep][order])
    return result


def _feeds_per_position(
    dataset: Dataset,
    protocol_ids: tuple[str, ...],
    assets: AssetIndex,
    feed_ids: tuple[str, ...],
    key: IntArray,
) -> IntArray:
    usage = dataset.table("oracle_usage")
    proto = (
        pc.index_in(usage.column("protocol_id"), value_set=_arrow(protocol_ids))
        .to_numpy(zero_copy_only=False)
        .astype(float)
    )
    asset = (
        pc.index_in(usage.column("asset_id"), value_set=_arrow(assets.ids))
        .to_numpy(zero_copy_only=False)
        .astype(float)
    )
    feed = (
        pc.index_in(usage.column("feed_id"), value_set=_arrow(feed_ids))
        .to_numpy(zero_copy_only=False)
        .astype(float)
    )
    keep = ~(np.isnan(proto) | np.isnan(asset) | np.isnan(feed))
    keys = (proto[keep] * len(assets) + asset[keep]).astype(np.int64)
    order = np.argsort(keys, kind="stable")
    column = _KeyedColumn(keys[order], feed[keep][order])
    return column.get_values(key, -1.0).astype(np.int64)


def _arrow(values: tuple[str, ...]) -> pa.Array:
    return pa.array(list(values), pa.string())


def _factorize(values: pa.Array) -> tuple[IntArray, NDArray[np.object_]]:
    encoded = values.dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, np.asarray(encoded.dictionary.to_pylist(), dtype=object)


def compile_world(dataset: Dataset) -> World:
    """Compile ``dataset`` for the solver (see the module docstring).

    Examples
    --------
    >>> from contagion import sample_world
    >>> world = compile_world(sample_world(positions=2_000, seed=1))
    >>> world.lending.n_positions > 1_000, world.assets.n_roots < len(world.assets)
    (True, True)
    """
    feed_ids = tuple(dataset.table("oracle_feeds").column("feed_id").to_pylist())
    assets = _assets(dataset)
    return World(
        dataset=dataset,
        assets=assets,
        lending=_lending(dataset, assets, feed_ids),
        feed_ids=feed_ids,
    )
