"""Compound III (Comet): one market's assets, risk factors, price feeds and every account.

Extract (at one block):

1. ``numAssets``, ``baseToken``, ``baseTokenPriceFeed``, ``baseScale``,
   ``storeFrontPriceFactor``, ``totalSupply``, ``totalBorrow``, ``targetReserves``,
   ``getReserves``; ``getAssetInfo(i)`` for every
   collateral asset and its ``totalsCollateral``; the tokens' ERC-20 metadata and the price
   feeds (:mod:`indexers.chainlink`);
2. accounts from the Comet's events over ``[from_block, block]`` (Supply and Withdraw of the
   base asset, SupplyCollateral, WithdrawCollateral, AbsorbDebt, AbsorbCollateral),
   checkpointed per log chunk;
3. per account ``balanceOf`` (base supplied), ``borrowBalanceOf``, ``isLiquidatable`` and
   ``collateralBalanceOf`` of every collateral asset, all through Multicall3.

Transform: ``assets``, ``oracle_feeds``, ``oracle_usage`` (each asset priced by the feed its
AssetInfo names, the base by ``baseTokenPriceFeed``), ``lending_markets`` (one ``base`` row
with ``targetReserves`` and the reserves in whole base tokens, one ``collateral`` row per asset with ``borrowCollateralFactor``,
``liquidateCollateralFactor``, ``liquidationFactor`` and ``storeFrontPriceFactor`` as
fractions of 1e18, the supply cap in whole tokens) and ``lending_positions`` (base supply and
borrow on the base asset, never collateral; each collateral balance, always collateral).

Reconciliation: the indexed base supply and borrow against ``totalSupply`` and
``totalBorrow``, each asset's indexed collateral against ``totalsCollateral``; per account,
liquidatability from the indexed balances (``borrow * basePrice / baseScale >
sum(collateral * price / scale * liquidateCF)``, as ``Comet.isLiquidatable``) against the
contract's own ``isLiquidatable``.

References
----------
Compound III documentation, "Collateral and borrowing", "Liquidation"; compound-finance/comet
``contracts/Comet.sol`` (``getAssetInfo``, ``isLiquidatable``, ``absorbInternal``) and
``CometMainInterface.sol`` (events).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from indexers.abi import Event, load_abi
from indexers.base import IndexContext, Meta, chain_name, chains_rows, scan_accounts
from indexers.chainlink import FeedRead, chainlink_protocol_row, feed_rows, read_feeds
from indexers.errors import IndexerError
from indexers.reconcile import Reconciliation
from indexers.rpc.multicall import Call
from indexers.sample_world.common import asset_id, rows_table
from indexers.sample_world.reference import ChainlinkFeed
from indexers.tokens import Token, amount, asset_row, decode_all, read_tokens, uint

__all__ = ["CometRaw", "index_compound_v3", "reconcile_compound_v3", "transform_compound_v3"]

_COMET = load_abi("comet")
_FACTOR_SCALE = 10**18
# Event -> the argument naming the account whose balance changed.
_ACCOUNT_ARG = {
    "Supply": "dst",
    "SupplyCollateral": "dst",
    "Withdraw": "src",
    "WithdrawCollateral": "src",
    "AbsorbDebt": "borrower",
    "AbsorbCollateral": "borrower",
}
_EVENTS = [_COMET.event(n) for n in _ACCOUNT_ARG]
_HEADER = (
    "numAssets",
    "baseToken",
    "baseTokenPriceFeed",
    "baseScale",
    "storeFrontPriceFactor",
    "totalSupply",
    "totalBorrow",
    "targetReserves",
    "getReserves",
)


@dataclass(frozen=True)
class AssetInfo:
    """``Comet.getAssetInfo(i)``: a collateral asset and its factors (1e18 scale)."""

    offset: int
    asset: str
    price_feed: str
    scale: int
    borrow_cf: int
    liquidate_cf: int
    liquidation_factor: int
    supply_cap: int


@dataclass
class CometRaw:
    """Everything read from one Comet, before any table is built."""

    comet: str
    base: str
    base_feed: str
    base_scale: int
    store_front: int
    total_supply: int
    total_borrow: int
    target_reserves: int
    reserves: int
    """``getReserves()``, base units (signed)."""
    assets: list[AssetInfo]
    totals_collateral: dict[str, int]
    tokens: dict[str, Token]
    feeds: dict[str, FeedRead]
    accounts: list[str]
    supplied: dict[str, int]
    borrowed: dict[str, int]
    liquidatable: dict[str, bool]
    collateral: dict[tuple[str, str], int]
    """(account, asset) -> collateralBalanceOf, nonzero only."""


def _touched(event: Event, values: dict[str, Any]) -> list[str]:
    return [values[_ACCOUNT_ARG[event.name]]]


def extract_compound_v3(ctx: IndexContext, comet: str) -> CometRaw:
    """Read the market, its feeds, its accounts and their balances (module docstring)."""
    comet = comet.lower()
    ctx.open_checkpoint({"source": "compound-v3", "comet": comet})
    fns = [_COMET.fn(n) for n in _HEADER]
    head = ctx.read("market", [Call(comet, f.encode()) for f in fns])
    values = [
        decode_all(f.outputs, d, f"{f.name}() on Comet {comet}")[0]
        for f, d in zip(fns, head, strict=True)
    ]
    n_assets, base, base_feed, base_scale, store_front, total_supply, total_borrow = values[:7]
    target_reserves, reserves = values[7:]
    info_fn = _COMET.fn("getAssetInfo")
    infos_out = ctx.read("assets", [Call(comet, info_fn.encode(i)) for i in range(int(n_assets))])
    assets = []
    for i, data in enumerate(infos_out):
        (t,) = decode_all(info_fn.outputs, data, f"getAssetInfo({i}) on Comet {comet}")
        assets.append(
            AssetInfo(
                int(t[0]),
                str(t[1]).lower(),
                str(t[2]).lower(),
                int(t[3]),
                int(t[4]),
                int(t[5]),
                int(t[6]),
                int(t[7]),
            )
        )
    tc_fn = _COMET.fn("totalsCollateral")
    tc_out = ctx.read("assets", [Call(comet, tc_fn.encode(a.asset)) for a in assets])
    totals_collateral = {
        a.asset: int(decode_all(tc_fn.outputs, d, f"totalsCollateral({a.asset})")[0])
        for a, d in zip(assets, tc_out, strict=True)
    }
    base = str(base).lower()
    tokens = read_tokens(ctx, [base, *(a.asset for a in assets)])
    feeds = read_feeds(ctx, [str(base_feed).lower(), *(a.price_feed for a in assets)])

    accounts = scan_accounts(ctx, comet, _EVENTS, _touched)
    per_account = [_COMET.fn(n) for n in ("balanceOf", "borrowBalanceOf", "isLiquidatable")]
    coll_fn = _COMET.fn("collateralBalanceOf")
    k = len(per_account) + len(assets)
    calls: list[Call] = []
    for a in accounts:
        calls.extend(Call(comet, f.encode(a)) for f in per_account)
        calls.extend(Call(comet, coll_fn.encode(a, x.asset)) for x in assets)
    out = ctx.read("positions", calls)
    supplied: dict[str, int] = {}
    borrowed: dict[str, int] = {}
    liquidatable: dict[str, bool] = {}
    collateral: dict[tuple[str, str], int] = {}
    for i, a in enumerate(accounts):
        row = out[i * k : (i + 1) * k]
        supplied[a] = uint(row[0], f"balanceOf({a}) on Comet {comet}")
        borrowed[a] = uint(row[1], f"borrowBalanceOf({a}) on Comet {comet}")
        liquidatable[a] = bool(uint(row[2], f"isLiquidatable({a}) on Comet {comet}"))
        for x, data in zip(assets, row[3:], strict=True):
            bal = uint(data, f"collateralBalanceOf({a}, {x.asset}) on Comet {comet}")
            if bal:
                collateral[(a, x.asset)] = bal
    return CometRaw(
        comet=comet,
        base=base,
        base_feed=str(base_feed).lower(),
        base_scale=int(base_scale),
        store_front=int(store_front),
        total_supply=int(total_supply),
        total_borrow=int(total_borrow),
        target_reserves=int(target_reserves),
        reserves=int(reserves),
        assets=assets,
        totals_collateral=totals_collateral,
        tokens=tokens,
        feeds=feeds,
        accounts=accounts,
        supplied=supplied,
        borrowed=borrowed,
        liquidatable=liquidatable,
        collateral=collateral,
    )


def protocol_id_for(chain_id: int, base_symbol: str) -> str:
    """``compound-v3-usdc`` for the USDC market on chain 1; the chain name is added elsewhere."""
    slug = f"compound-v3-{base_symbol.lower()}"
    return slug if chain_id == 1 else f"{slug}-{chain_name(chain_id)}"


def _feed_price(raw: CometRaw, feed: str) -> float:
    f = raw.feeds[feed]
    return f.answer / 10**f.decimals


def transform_compound_v3(
    raw: CometRaw,
    meta: Meta,
    *,
    protocol_id: str | None = None,
    published: Mapping[str, ChainlinkFeed] | None = None,
) -> dict[str, pa.Table]:
    """The data contract's tables from what :func:`extract_compound_v3` read (pure)."""
    cid = meta.chain_id
    base_tok = raw.tokens[raw.base]
    pid = protocol_id or protocol_id_for(cid, base_tok.symbol)
    base_id = asset_id(raw.base, cid)
    assets = [asset_row(meta, base_tok, _feed_price(raw, raw.base_feed))]
    usage = [meta.row(protocol_id=pid, asset_id=base_id, feed_id=asset_id(raw.base_feed, cid))]
    store_front = raw.store_front / _FACTOR_SCALE
    base_row = _market_row(meta, pid, base_tok, base_id, "base", store_front, collateral=False)
    unit = 10**base_tok.decimals
    base_row.update(target_reserves=raw.target_reserves / unit, reserves=raw.reserves / unit)
    markets = [base_row]
    feed_asset = {raw.base_feed: raw.base}
    for x in raw.assets:
        tok = raw.tokens[x.asset]
        if x.scale != 10**tok.decimals:
            raise IndexerError(
                f"compound-v3: getAssetInfo({x.offset}) scale {x.scale} is not 10**decimals "
                f"of {x.asset} ({tok.decimals})"
            )
        assets.append(asset_row(meta, tok, _feed_price(raw, x.price_feed)))
        feed_asset.setdefault(x.price_feed, x.asset)
        usage.append(
            meta.row(
                protocol_id=pid,
                asset_id=asset_id(x.asset, cid),
                feed_id=asset_id(x.price_feed, cid),
            )
        )
        markets.append(
            _market_row(
                meta,
                pid,
                tok,
                base_id,
                "collateral",
                store_front,
                collateral=True,
                borrow_cf=x.borrow_cf / _FACTOR_SCALE,
                liquidate_cf=x.liquidate_cf / _FACTOR_SCALE,
                liquidation_factor=x.liquidation_factor / _FACTOR_SCALE,
                supply_cap=x.supply_cap / x.scale if x.supply_cap else None,
            )
        )
    positions = []
    for account in raw.accounts:
        sup, bor = raw.supplied[account], raw.borrowed[account]
        if sup or bor:
            positions.append(_position(meta, pid, account, base_tok, sup, bor, used=False))
        for x in raw.assets:
            bal = raw.collateral.get((account, x.asset), 0)
            if bal:
                positions.append(
                    _position(meta, pid, account, raw.tokens[x.asset], bal, 0, used=True)
                )
    feeds = feed_rows(meta, raw.feeds, feed_asset, published)
    protocols = [
        meta.row(
            protocol_id=pid,
            name=f"Compound III {base_tok.symbol}",
            kind="lending",
            family="compound-v3",
            address=raw.comet,
        )
    ]
    if any(f["protocol_id"] for f in feeds):
        protocols.append(chainlink_protocol_row(meta))
    return {
        "chains": chains_rows(meta),
        "protocols": rows_table("protocols", protocols),
        "assets": rows_table("assets", assets),
        "oracle_feeds": rows_table("oracle_feeds", feeds),
        "oracle_usage": rows_table("oracle_usage", usage),
        "lending_markets": rows_table("lending_markets", markets),
        "lending_positions": rows_table("lending_positions", positions),
    }


def _market_row(
    meta: Meta,
    pid: str,
    tok: Token,
    base_id: str,
    role: str,
    store_front: float,
    *,
    collateral: bool,
    borrow_cf: float | None = None,
    liquidate_cf: float | None = None,
    liquidation_factor: float | None = None,
    supply_cap: float | None = None,
) -> dict[str, Any]:
    empty = dict.fromkeys(
        (
            "ltv",
            "liquidation_threshold",
            "liquidation_bonus",
            "liquidation_protocol_fee",
            "close_factor",
            "close_factor_full_hf",
            "emode_category",
            "emode_ltv",
            "emode_liquidation_threshold",
            "emode_liquidation_bonus",
            "borrow_cap",
            "debt_ceiling",
            "liquidation_ratio",
            "liquidation_penalty",
        )
    )
    return meta.row(
        market_id=f"{pid}/{tok.symbol}",
        protocol_id=pid,
        family="compound-v3",
        asset_id=asset_id(tok.address, meta.chain_id),
        role=role,
        debt_asset_id=base_id,
        usage_as_collateral=collateral,
        borrowing_enabled=not collateral,
        **empty,
        supply_cap=supply_cap,
        borrow_cf=borrow_cf,
        liquidate_cf=liquidate_cf,
        liquidation_factor=liquidation_factor,
        store_front_price_factor=store_front,
    )


def _position(
    meta: Meta, pid: str, account: str, tok: Token, supplied: int, debt: int, *, used: bool
) -> dict[str, Any]:
    coll_raw, coll = amount(supplied, tok.decimals)
    debt_raw, debt_f = amount(debt, tok.decimals)
    return meta.row(
        account=account,
        protocol_id=pid,
        asset_id=asset_id(tok.address, meta.chain_id),
        collateral_amount_raw=coll_raw,
        collateral_amount=coll,
        debt_amount_raw=debt_raw,
        debt_amount=debt_f,
        used_as_collateral=used,
        emode_category=0,
    )


def reconcile_compound_v3(raw: CometRaw, protocol_id: str) -> Reconciliation:
    """Indexed sums vs totalSupply, totalBorrow, totalsCollateral; liquidatability per account.

    Liquidatability is recomputed in exact integers as ``Comet.isLiquidatable`` does it:
    ``-borrow * basePrice / baseScale + sum(collateral * price / scale * liquidateCF / 1e18)``
    below zero.
    """
    rec = Reconciliation(protocol_id)
    base_symbol = raw.tokens[raw.base].symbol
    rec.compare(base_symbol, "totalSupply", sum(raw.supplied.values()), raw.total_supply)
    rec.compare(base_symbol, "totalBorrow", sum(raw.borrowed.values()), raw.total_borrow)
    for x in raw.assets:
        indexed = sum(v for (_, a), v in raw.collateral.items() if a == x.asset)
        symbol = raw.tokens[x.asset].symbol
        rec.compare(symbol, "totalsCollateral", indexed, raw.totals_collateral[x.asset])
    base_price = raw.feeds[raw.base_feed].answer
    for account in raw.accounts:
        rec.accounts_checked += 1
        borrow = raw.borrowed[account]
        liquidity = -(borrow * base_price // raw.base_scale)
        for x in raw.assets:
            bal = raw.collateral.get((account, x.asset), 0)
            value = bal * raw.feeds[x.price_feed].answer // x.scale
            liquidity += value * x.liquidate_cf // _FACTOR_SCALE
        mine = borrow > 0 and liquidity < 0
        if mine != raw.liquidatable[account]:
            rec.account_mismatches.append(
                f"{account}: indexed balances say liquidatable={mine}, "
                f"isLiquidatable={raw.liquidatable[account]}"
            )
    return rec


def index_compound_v3(
    ctx: IndexContext,
    *,
    comet: str,
    protocol_id: str | None = None,
    published: Mapping[str, ChainlinkFeed] | None = None,
) -> tuple[dict[str, pa.Table], Reconciliation]:
    """Extract, transform and reconcile one Comet market (tables are not written here)."""
    raw = extract_compound_v3(ctx, comet)
    meta = ctx.meta("compound-v3")
    pid = protocol_id or protocol_id_for(meta.chain_id, raw.tokens[raw.base].symbol)
    tables = transform_compound_v3(raw, meta, protocol_id=pid, published=published)
    return tables, reconcile_compound_v3(raw, pid)
