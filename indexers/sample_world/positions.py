"""Lending positions of the world, generated vectorised from the profiles in :mod:`.profiles`.

For each profile (a few dozen numpy operations per profile, none per account):

1. draw accounts' collateral: one weighted asset plus up to two more, weighted without
   replacement (Gumbel top-k), with random value shares;
2. draw account sizes from a lognormal (heavy right tail, lower tail cut at -3 sd so no
   account is dust);
3. draw each borrower's health factor and size its debt with the protocol's own rule at the
   protocol's own oracle prices: ``debt = sum(collateral * price * weight) / HF`` where the
   weight is Aave's liquidation threshold (the e-mode one in e-mode), Compound III's
   liquidateCF, or 1 / liquidation ratio for a CDP, then split the debt over one or two debt
   assets;
4. scale the profile (or each of its collateral groups) to its USD target, which keeps health
   factors unchanged and makes protocol totals independent of the number of positions;
5. scale down whole accounts (again keeping their health) where a supply or borrow cap would
   be used above 97 %;
6. floor amounts to 1e-9 token (never rounding collateral up), append the rows of SparkLend's
   aToken holdings in Aave, and check that no account is liquidatable at the snapshot.

Multi-protocol borrowers are real addresses shared between profiles (a share of Compound III
ETH longs also borrow on Aave; a share of Spark's wstETH loopers also loop on Aave).

References
----------
Aave (2022). Aave v3 technical paper: health factor, e-mode, isolation mode.
Compound Labs. Compound III documentation: ``isLiquidatable``.
Gumbel-top-k sampling: Kool, van Hoof & Welling (2019), Stochastic Beams and Where to Find
Them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from contagion.schema import TABLES, UTC_SECONDS
from indexers.sample_world.catalog import AAVE, MAKER, SPARK, Catalog
from indexers.sample_world.common import (
    SNAPSHOT_BLOCK,
    SNAPSHOT_TIME,
    SYNTHETIC,
    dequantize,
    mantissa_unit,
    quantize,
    raw_strings,
    synthetic_address,
)
from indexers.sample_world.markets import Market
from indexers.sample_world.oracles import OracleBook
from indexers.sample_world.profiles import Profile, expected_rows

__all__ = ["PositionBook", "generate_positions"]

_COLLATERAL_SLOTS = 3
_DEBT_SLOTS = 2
_HF_FLOOR = 1.001  # margin for flooring amounts; no account may start at HF < 1
_CAP_USE = 0.97
_SIZE_Z_FLOOR = -3.0
_EXTRA_SHARE = (0.15, 0.6)  # value of an extra collateral relative to the first one
_SECOND_DEBT_SHARE = (0.55, 0.9)  # share of debt in the first debt asset when there are two
_SPARK_ATOKENS = {"aEthWETH": "WETH", "aEthUSDC": "USDC"}


@dataclass(frozen=True)
class PositionBook:
    """The ``lending_positions`` table and the totals other tables are built from."""

    table: pa.Table
    cdp_debt: dict[str, float]
    """DAI owed to the CDP by collateral key (whole DAI)."""
    aave_supplied_raw: dict[str, int]
    """Base units supplied to Aave (every row, Spark's aToken holdings included) of each
    asset whose aToken the world lists: the aToken's total supply."""


@dataclass
class _Rows:
    group: NDArray[np.int64]  # account within one protocol (global index)
    protocol: NDArray[np.int64]
    key: NDArray[np.int64]
    coll: NDArray[np.float64]
    debt: NDArray[np.float64]
    used: NDArray[np.bool_]
    emode: NDArray[np.int32]


class _Context:
    """Per-key lookup arrays: market prices, decimals, and per protocol the oracle prices,
    health weights, caps and collateral flags."""

    def __init__(
        self,
        catalog: Catalog,
        markets: Mapping[tuple[str, str], Market],
        oracles: OracleBook,
        protocols: Sequence[str],
    ) -> None:
        self.keys = [a.key for a in catalog]
        self.index = {k: i for i, k in enumerate(self.keys)}
        self.protocols = list(protocols)
        self.pindex = {p: i for i, p in enumerate(self.protocols)}
        self.markets = markets
        self.oracles = oracles
        self.price_usd = np.array([catalog[k].price_usd for k in self.keys])
        self.decimals = np.array([catalog[k].decimals for k in self.keys], dtype=np.int64)
        n = len(self.keys)
        shape = (len(self.protocols), n)
        self.supply_cap = np.full(shape, np.inf)
        self.borrow_cap = np.full(shape, np.inf)
        for (p, k), m in markets.items():
            if p in self.pindex:
                if m.supply_cap:
                    self.supply_cap[self.pindex[p], self.index[k]] = m.supply_cap
                if m.borrow_cap:
                    self.borrow_cap[self.pindex[p], self.index[k]] = m.borrow_cap

    def idx(self, keys: Sequence[str]) -> NDArray[np.int64]:
        return np.array([self.index[k] for k in keys], dtype=np.int64)

    def oracle(self, protocol_id: str) -> NDArray[np.float64]:
        """Oracle price of every key in the protocol's numeraire (NaN where not priced)."""
        out = np.full(len(self.keys), np.nan)
        for p, k in self.oracles.usage:
            if p == protocol_id:
                out[self.index[k]] = self.oracles.price(p, k)
        return out

    def weight(self, protocol_id: str, emode: int) -> NDArray[np.float64]:
        """Health weight of every key as collateral (0 where not collateral)."""
        out = np.zeros(len(self.keys))
        for (p, k), m in self.markets.items():
            if p == protocol_id:
                out[self.index[k]] = m.health_weight(emode)
        return out

    def supply_flag(self, protocol_id: str) -> NDArray[np.bool_]:
        """Whether a plain supply of each key counts as collateral (isolated assets do not
        become collateral by supplying them; bases of Compound III never do)."""
        out = np.zeros(len(self.keys), dtype=bool)
        for (p, k), m in self.markets.items():
            if p == protocol_id:
                out[self.index[k]] = m.usage_as_collateral and not m.isolated
        return out


def _check(p: Profile, markets: Mapping[tuple[str, str], Market]) -> None:
    """Refuse a profile that the protocol's rules would not allow."""
    coll = set(p.collateral) | set(p.extras)
    debt = set(p.debt) | set(p.debt_extras)
    if coll & debt:
        raise ValueError(f"profile {p.name} supplies and borrows {sorted(coll & debt)}")
    for k in coll:
        m = markets.get((p.protocol_id, k))
        if m is None:
            raise ValueError(f"profile {p.name}: {p.protocol_id} has no market for {k}")
        if p.borrows and not m.usage_as_collateral:
            raise ValueError(f"profile {p.name}: {k} is not collateral in {p.protocol_id}")
        if (
            p.borrows
            and m.isolated
            and (
                p.extras
                or any(not markets[(p.protocol_id, d)].borrowable_in_isolation for d in debt)
            )
        ):
            raise ValueError(f"profile {p.name}: isolation-mode rules broken by {k}")
    bases = {m.debt_key for (q, _), m in markets.items() if q == p.protocol_id and m.debt_key}
    for k in debt:
        m = markets.get((p.protocol_id, k))
        if bases and k not in bases:
            raise ValueError(f"profile {p.name}: {p.protocol_id} lends only {sorted(bases)}")
        if not bases and (m is None or not m.borrowing_enabled):
            raise ValueError(f"profile {p.name}: {k} cannot be borrowed in {p.protocol_id}")
        if p.emode and m is not None and m.emode_category != p.emode:
            raise ValueError(f"profile {p.name}: {k} is outside e-mode {p.emode}")


def _choice(
    rng: np.random.Generator, idx: NDArray[np.int64], weights: Sequence[float], n: int
) -> NDArray[np.int64]:
    w = np.asarray(weights, dtype=float)
    return idx[rng.choice(len(idx), size=n, p=w / w.sum())]


def _choice_without(
    rng: np.random.Generator,
    idx: NDArray[np.int64],
    weights: Sequence[float],
    exclude: NDArray[np.int64],
    k: int,
) -> NDArray[np.int64]:
    """``k`` weighted draws without replacement per row, never ``exclude``; -1 if none left."""
    n = len(exclude)
    keys = np.log(np.asarray(weights, dtype=float))[None, :] + rng.gumbel(size=(n, len(idx)))
    keys[idx[None, :] == exclude[:, None]] = -np.inf
    order = np.argsort(-keys, axis=1)[:, :k]
    ok = np.isfinite(np.take_along_axis(keys, order, axis=1))
    picked: NDArray[np.int64] = np.where(ok, idx[order], -1)
    if picked.shape[1] < k:
        picked = np.pad(picked, ((0, 0), (0, k - picked.shape[1])), constant_values=-1)
    return picked


def _draw(p: Profile, n: int, rng: np.random.Generator, ctx: _Context) -> _Rows:
    """All rows of ``n`` accounts of profile ``p`` (group ids local, 0..n-1)."""
    coll_key = np.full((n, _COLLATERAL_SLOTS), -1, dtype=np.int64)
    coll_key[:, 0] = _choice(rng, ctx.idx(list(p.collateral)), list(p.collateral.values()), n)
    if p.extras and p.p_extra[0] > 0:
        u = rng.random(n)
        count = (u < p.p_extra[0]).astype(np.int64) + (u < p.p_extra[1])
        extra = _choice_without(
            rng,
            ctx.idx(list(p.extras)),
            list(p.extras.values()),
            coll_key[:, 0],
            _COLLATERAL_SLOTS - 1,
        )
        for slot in range(1, _COLLATERAL_SLOTS):
            coll_key[:, slot] = np.where(count >= slot, extra[:, slot - 1], -1)
    has = coll_key >= 0
    relative = np.where(has, rng.uniform(*_EXTRA_SHARE, size=has.shape), 0.0)
    relative[:, 0] = 1.0
    share = relative / relative.sum(axis=1, keepdims=True)
    size = np.exp(p.size_sigma * np.maximum(rng.standard_normal(n), _SIZE_Z_FLOOR))
    safe = np.maximum(coll_key, 0)
    coll = np.where(has, size[:, None] * share / ctx.price_usd[safe], 0.0)

    debt_key = np.full((n, _DEBT_SLOTS), -1, dtype=np.int64)
    debt = np.zeros((n, _DEBT_SLOTS))
    if p.borrows:
        median, sigma = p.hf
        hf = np.maximum(1.0 + median * np.exp(sigma * rng.standard_normal(n)), _HF_FLOOR)
        oracle = ctx.oracle(p.protocol_id)
        weight = ctx.weight(p.protocol_id, p.emode)
        value = (coll * np.where(has, oracle[safe] * weight[safe], 0.0)).sum(axis=1) / hf
        debt_key[:, 0] = _choice(rng, ctx.idx(list(p.debt)), list(p.debt.values()), n)
        first = np.ones(n)
        if p.debt_extras and p.p_debt_extra > 0:
            second = _choice_without(
                rng, ctx.idx(list(p.debt_extras)), list(p.debt_extras.values()), debt_key[:, 0], 1
            )[:, 0]
            two = (rng.random(n) < p.p_debt_extra) & (second >= 0)
            debt_key[:, 1] = np.where(two, second, -1)
            first = np.where(two, rng.uniform(*_SECOND_DEBT_SHARE, size=n), 1.0)
        shares = np.stack([first, 1.0 - first], axis=1)
        debt = np.where(
            debt_key >= 0, value[:, None] * shares / oracle[np.maximum(debt_key, 0)], 0.0
        )

    scale = _scale(p, coll, coll_key, debt, debt_key, ctx)
    keys = np.concatenate([coll_key, debt_key], axis=1)
    amounts_c = np.concatenate([coll, np.zeros_like(debt)], axis=1) * scale[:, None]
    amounts_d = np.concatenate([np.zeros_like(coll), debt], axis=1) * scale[:, None]
    flag = np.ones(len(ctx.keys), dtype=bool) if p.borrows else ctx.supply_flag(p.protocol_id)
    used = np.concatenate([has & flag[safe], np.zeros_like(debt_key, dtype=bool)], axis=1)
    keep = keys >= 0  # row-major flattening keeps each account's rows together
    group = np.broadcast_to(np.arange(n, dtype=np.int64)[:, None], keys.shape)
    return _Rows(
        group=group[keep],
        protocol=np.full(int(keep.sum()), ctx.pindex[p.protocol_id]),
        key=keys[keep],
        coll=amounts_c[keep],
        debt=amounts_d[keep],
        used=used[keep],
        emode=np.full(int(keep.sum()), p.emode, dtype=np.int32),
    )


def _scale(
    p: Profile,
    coll: NDArray[np.float64],
    coll_key: NDArray[np.int64],
    debt: NDArray[np.float64],
    debt_key: NDArray[np.int64],
    ctx: _Context,
) -> NDArray[np.float64]:
    """Per-account factor that brings the profile (or each collateral group) to its USD
    target, measured on collateral or on debt at market prices."""
    n = len(coll)
    if p.target_on == "debt":
        basis = (debt * ctx.price_usd[np.maximum(debt_key, 0)]).sum(axis=1)
    else:
        basis = (coll * ctx.price_usd[np.maximum(coll_key, 0)]).sum(axis=1)
    if p.target_by_collateral is None:
        total = basis.sum()
        return np.full(n, p.target_usd / total if total > 0 else 0.0)
    scale = np.zeros(n)
    for key, target in p.target_by_collateral.items():
        members = coll_key[:, 0] == ctx.index[key]
        total = basis[members].sum()
        if total > 0:
            scale[members] = target / total
    return scale


def _concat(parts: Sequence[_Rows]) -> _Rows:
    return _Rows(
        *(
            np.concatenate([getattr(r, f) for r in parts])
            for f in ("group", "protocol", "key", "coll", "debt", "used", "emode")
        )
    )


def _respect_caps(rows: _Rows, ctx: _Context, n_groups: int) -> None:
    """Scale whole accounts down until no supply or borrow cap is used above 97 %."""
    width = len(ctx.keys)
    pk = rows.protocol * width + rows.key
    supply_cap = ctx.supply_cap.ravel() * _CAP_USE
    borrow_cap = ctx.borrow_cap.ravel() * _CAP_USE
    for _ in range(20):
        supplied = np.bincount(pk, weights=rows.coll, minlength=supply_cap.size)
        borrowed = np.bincount(pk, weights=rows.debt, minlength=borrow_cap.size)
        with np.errstate(divide="ignore", invalid="ignore"):
            f_supply = np.where(supplied > supply_cap, supply_cap / supplied, 1.0)
            f_borrow = np.where(borrowed > borrow_cap, borrow_cap / borrowed, 1.0)
        row_factor = np.minimum(
            np.where(rows.coll > 0, f_supply[pk], 1.0), np.where(rows.debt > 0, f_borrow[pk], 1.0)
        )
        if row_factor.min(initial=1.0) >= 1.0:
            return
        group_factor = np.ones(n_groups)
        np.minimum.at(group_factor, rows.group, row_factor)
        rows.coll *= group_factor[rows.group]
        rows.debt *= group_factor[rows.group]
    raise ArithmeticError("could not bring positions within the supply and borrow caps")


def _addresses(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` random lower-case hex addresses, built without a Python loop per address."""
    lut = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2")
    body = lut[rng.integers(0, 256, size=(n, 20), dtype=np.uint8)].view("S40").ravel()
    strings = pa.array(np.char.add(b"0x", body)).cast(pa.string())
    # Arrow returns large fixed-width byte arrays in chunks; one contiguous array is simpler.
    return strings.combine_chunks() if isinstance(strings, pa.ChunkedArray) else strings


def _health_check(
    rows: _Rows, coll: NDArray[np.float64], debt: NDArray[np.float64], ctx: _Context, n_groups: int
) -> None:
    """Raise if any account is liquidatable at the snapshot's oracle prices."""
    risk = np.zeros(len(rows.key))
    owed = np.zeros(len(rows.key))
    for pi, protocol in enumerate(ctx.protocols):
        on = rows.protocol == pi
        if not on.any():
            continue
        oracle = np.nan_to_num(ctx.oracle(protocol))
        for emode in np.unique(rows.emode[on]):
            sel = on & (rows.emode == emode)
            weight = ctx.weight(protocol, int(emode))
            risk[sel] = coll[sel] * oracle[rows.key[sel]] * weight[rows.key[sel]] * rows.used[sel]
            owed[sel] = debt[sel] * oracle[rows.key[sel]]
    risk_g = np.bincount(rows.group, weights=risk, minlength=n_groups)
    owed_g = np.bincount(rows.group, weights=owed, minlength=n_groups)
    bad = owed_g > risk_g
    if bad.any():
        raise ArithmeticError(f"{int(bad.sum())} generated account(s) start liquidatable")


def _accounts(p: Profile, target_rows: int) -> int:
    if target_rows <= 0:
        return 0
    return max(1, round(target_rows * p.row_share / expected_rows(p)))


def generate_positions(
    target_rows: int,
    rng: np.random.Generator,
    catalog: Catalog,
    markets: Mapping[tuple[str, str], Market],
    oracles: OracleBook,
    profiles: Sequence[Profile],
) -> PositionBook:
    """Generate about ``target_rows`` lending positions (see the module docstring).

    Raises
    ------
    ValueError
        If a profile breaks its protocol's rules (collateral that is not collateral,
        isolation mode, e-mode, a debt asset the protocol does not lend).
    ArithmeticError
        If an account would start liquidatable or caps cannot be met (a calibration bug).
    """
    for p in profiles:
        _check(p, markets)
    protocols = sorted({p.protocol_id for p in profiles} | {AAVE})
    ctx = _Context(catalog, markets, oracles, protocols)

    parts: list[_Rows] = []
    group_profile: list[NDArray[np.int64]] = []
    offsets: dict[str, tuple[int, int]] = {}
    n_groups = 0
    for i, p in enumerate(profiles):
        n = _accounts(p, target_rows)
        rows = _draw(p, n, rng, ctx)
        rows.group += n_groups
        parts.append(rows)
        offsets[p.name] = (n_groups, n)
        group_profile.append(np.full(n, i, dtype=np.int64))
        n_groups += n
    rows = _concat(parts)
    _respect_caps(rows, ctx, n_groups)

    # Addresses: fresh ones, except the shares of accounts that also borrow elsewhere.
    address_of = np.full(n_groups, -1, dtype=np.int64)
    fresh = 0
    for p in profiles:
        start, n = offsets[p.name]
        shared = 0
        if p.share_accounts_with and n:
            src_start, src_n = offsets[p.share_accounts_with]
            shared = min(round(p.shared_fraction * n), src_n)
            picked = rng.choice(src_n, size=shared, replace=False) + src_start
            address_of[start : start + shared] = address_of[picked]
        address_of[start + shared : start + n] = np.arange(fresh, fresh + n - shared)
        fresh += n - shared
    addresses = _addresses(rng, fresh)

    coll_m, coll = quantize(rows.coll, ctx.decimals[rows.key])
    debt_m, debt = quantize(rows.debt, ctx.decimals[rows.key])
    _health_check(rows, coll, debt, ctx, n_groups)

    # SparkLend holds the aTokens its users post; in Aave that is a plain supply by Spark's
    # aToken-holding contract (synthetic, like the listings).
    account = addresses.take(pa.array(address_of[rows.group]))
    spark = ctx.pindex.get(SPARK)
    holder_keys, holder_m, holder_names = [], [], []
    for a_token, underlying in _SPARK_ATOKENS.items():
        on = (rows.protocol == spark) & (rows.key == ctx.index[a_token])
        if on.any():
            holder_keys.append(ctx.index[underlying])
            holder_m.append(int(coll_m[on].sum(dtype=np.uint64)))
            holder_names.append(synthetic_address(f"sample-world:{SPARK}:{a_token}-holder"))
    n_h = len(holder_keys)
    key = np.concatenate([rows.key, np.array(holder_keys, dtype=np.int64)])
    protocol = np.concatenate([rows.protocol, np.full(n_h, ctx.pindex[AAVE])])
    coll_m = np.concatenate([coll_m, np.array(holder_m, dtype=np.uint64)])
    debt_m = np.concatenate([debt_m, np.zeros(n_h, dtype=np.uint64)])
    decimals = ctx.decimals[key]

    aave_supplied_raw = {}
    for underlying in _SPARK_ATOKENS.values():
        on = (protocol == ctx.pindex[AAVE]) & (key == ctx.index[underlying])
        unit = mantissa_unit(int(ctx.decimals[ctx.index[underlying]]))
        aave_supplied_raw[underlying] = int(coll_m[on].sum(dtype=np.uint64)) * unit

    n_rows = len(key)
    ids = pa.array([catalog.id(k) for k in ctx.keys])
    table = pa.table(
        {
            "chain_id": pa.array(np.ones(n_rows, dtype=np.int64)),
            "account": pa.concat_arrays([account, pa.array(holder_names, pa.string())]),
            "protocol_id": pa.array(ctx.protocols).take(pa.array(protocol)),
            "asset_id": ids.take(pa.array(key)),
            "collateral_amount_raw": raw_strings(coll_m, decimals),
            "collateral_amount": pa.array(dequantize(coll_m, decimals)),
            "debt_amount_raw": raw_strings(debt_m, decimals),
            "debt_amount": pa.array(dequantize(debt_m, decimals)),
            "used_as_collateral": pa.array(np.concatenate([rows.used, np.zeros(n_h, bool)])),
            "emode_category": pa.array(np.concatenate([rows.emode, np.zeros(n_h, np.int32)])),
            "source": pa.repeat(pa.scalar(SYNTHETIC), n_rows),
            "block_number": pa.repeat(pa.scalar(SNAPSHOT_BLOCK, pa.int64()), n_rows),
            "timestamp": pa.repeat(pa.scalar(SNAPSHOT_TIME, UTC_SECONDS), n_rows),
        },
        schema=TABLES["lending_positions"].schema,
    )

    cdp_debt: dict[str, float] = {}
    maker = ctx.pindex.get(MAKER)
    profile_of_group = np.concatenate(group_profile) if group_profile else np.zeros(0, int)
    for i, p in enumerate(profiles):
        if p.protocol_id != MAKER:
            continue
        on = (rows.protocol == maker) & (profile_of_group[rows.group] == i)
        cdp_debt[next(iter(p.collateral))] = float(debt[on].sum())
    return PositionBook(table=table, cdp_debt=cdp_debt, aave_supplied_raw=aave_supplied_raw)
