"""Aave v3: reserves, their risk parameters and oracles, and every account's positions.

Extract (at one block):

1. ``Pool.getReservesList``; per reserve ``AaveProtocolDataProvider``
   ``getReserveConfigurationData``, ``getReserveTokensAddresses``, ``getReserveCaps``,
   ``getDebtCeiling``, ``getLiquidationProtocolFee``, ``getReserveEModeCategory``;
   ``AaveOracle.getSourceOfAsset`` and ``getAssetPrice``; e-mode categories with
   ``Pool.getEModeCategoryData``; the Chainlink sources (:mod:`indexers.chainlink`);
2. accounts from the Pool's events over ``[from_block, block]`` (Supply, Borrow, Repay,
   Withdraw, LiquidationCall, ReserveUsedAsCollateralEnabled/Disabled), checkpointed per
   log chunk;
3. per account ``Pool.getUserEMode`` and ``getUserAccountData``, and per account x reserve
   ``getUserReserveData`` (aToken balance, stable and variable debt, collateral flag), all
   through Multicall3.

Transform: ``assets`` (underlyings and aTokens), ``wrappers`` (aToken -> underlying),
``oracle_feeds``, ``oracle_usage``, ``lending_markets`` (basis points as fractions,
liquidationBonus as the multiplier, caps in whole tokens, the debt ceiling with its two
decimals) and ``lending_positions``.

Reconciliation: per reserve, the indexed aToken balances against ``aToken.totalSupply`` and
the indexed debt against the debt tokens' ``totalSupply``; per account, the health factor
computed from the indexed balances against ``getUserAccountData().healthFactor``.

References
----------
Aave v3 technical paper (2022); aave-v3-core ``Pool.sol``, ``AaveProtocolDataProvider.sol``,
``GenericLogic.calculateUserAccountData``, ``ReserveConfiguration.sol`` (DEBT_CEILING_DECIMALS
= 2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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

__all__ = ["AaveRaw", "index_aave_v3", "transform_aave_v3"]

_POOL = load_abi("aave_v3_pool")
_DP = load_abi("aave_v3_data_provider")
_ORACLE = load_abi("aave_v3_oracle")
_BPS = 10_000
_DEBT_CEILING_DECIMALS = 2
_WAD = 10**18
# Event -> the argument naming the account whose position changed.
_ACCOUNT_ARG = {
    "Supply": "onBehalfOf",
    "Borrow": "onBehalfOf",
    "Repay": "user",
    "Withdraw": "user",
    "LiquidationCall": "user",
    "ReserveUsedAsCollateralEnabled": "user",
    "ReserveUsedAsCollateralDisabled": "user",
}
_EVENTS = [_POOL.event(n) for n in _ACCOUNT_ARG]


@dataclass
class AaveRaw:
    """Everything read from the chain, before any table is built."""

    pool: str
    reserves: list[str]
    config: dict[str, tuple[Any, ...]]
    tokens_of: dict[str, tuple[str, str, str]]
    caps: dict[str, tuple[int, int]]
    debt_ceiling: dict[str, int]
    protocol_fee: dict[str, int]
    emode_of: dict[str, int]
    source_of: dict[str, str]
    price: dict[str, int]
    base_unit: int
    emodes: dict[int, tuple[int, int, int]]
    tokens: dict[str, Token]
    feeds: dict[str, FeedRead]
    accounts: list[str]
    user_emode: dict[str, int]
    account_hf: dict[str, int]
    balances: dict[tuple[str, str], tuple[int, int, bool]] = field(default_factory=dict)
    """(account, reserve) -> (aToken balance, stable + variable debt, used as collateral)."""


def _touched(event: Event, values: dict[str, Any]) -> list[str]:
    """Accounts whose position an Aave Pool event changed."""
    found = [values[_ACCOUNT_ARG[event.name]]]
    if event.name == "LiquidationCall" and values["receiveAToken"]:
        found.append(values["liquidator"])
    return found


def extract_aave_v3(ctx: IndexContext, pool: str, data_provider: str, oracle: str) -> AaveRaw:
    """Read reserves, oracles, accounts and balances (see the module docstring)."""
    pool, data_provider, oracle = pool.lower(), data_provider.lower(), oracle.lower()
    ctx.open_checkpoint(
        {"source": "aave-v3", "pool": pool, "data_provider": data_provider, "oracle": oracle}
    )
    fn = _POOL.fn("getReservesList")
    reserves = [
        str(a).lower() for a in fn.decode(ctx.client.eth_call(pool, fn.encode(), ctx.block))[0]
    ]
    if not reserves:
        raise IndexerError(f"aave-v3: Pool {pool} lists no reserves at block {ctx.block}")
    per_reserve = [
        (data_provider, _DP.fn("getReserveConfigurationData")),
        (data_provider, _DP.fn("getReserveTokensAddresses")),
        (data_provider, _DP.fn("getReserveCaps")),
        (data_provider, _DP.fn("getDebtCeiling")),
        (data_provider, _DP.fn("getLiquidationProtocolFee")),
        (data_provider, _DP.fn("getReserveEModeCategory")),
        (oracle, _ORACLE.fn("getSourceOfAsset")),
        (oracle, _ORACLE.fn("getAssetPrice")),
    ]
    calls = [Call(t, f.encode(r)) for r in reserves for t, f in per_reserve]
    base_fn = _ORACLE.fn("BASE_CURRENCY_UNIT")
    calls.append(Call(oracle, base_fn.encode()))
    out = ctx.read("reserves", calls)
    k = len(per_reserve)
    raw: dict[str, list[tuple[Any, ...]]] = {}
    for i, r in enumerate(reserves):
        raw[r] = [
            decode_all(f.outputs, out[i * k + j], f"{f.name}({r}) on {t}")
            for j, (t, f) in enumerate(per_reserve)
        ]
    base_unit = uint(out[-1], f"BASE_CURRENCY_UNIT() on {oracle}")
    emode_of = {r: int(raw[r][5][0]) for r in reserves}
    cats = sorted({c for c in emode_of.values() if c})
    em_fn = _POOL.fn("getEModeCategoryData")
    em_out = ctx.read("e-modes", [Call(pool, em_fn.encode(c)) for c in cats])
    emodes = {}
    for c, data in zip(cats, em_out, strict=True):
        ltv, lt, bonus, _, _ = decode_all(em_fn.outputs, data, f"getEModeCategoryData({c})")[0]
        emodes[c] = (int(ltv), int(lt), int(bonus))
    tokens_of = {r: tuple(str(a).lower() for a in raw[r][1]) for r in reserves}
    wanted = set(reserves) | {tokens_of[r][0] for r in reserves}
    wanted |= {a for r in reserves for a in tokens_of[r][1:] if int(a, 16)}
    tokens = read_tokens(ctx, wanted)
    source_of = {r: str(raw[r][6][0]).lower() for r in reserves}
    feeds = read_feeds(ctx, {s for s in source_of.values() if int(s, 16)})

    accounts = scan_accounts(ctx, pool, _EVENTS, _touched)
    user_fns = [_POOL.fn("getUserEMode"), _POOL.fn("getUserAccountData")]
    user_out = ctx.read("accounts", [Call(pool, f.encode(a)) for a in accounts for f in user_fns])
    user_emode = {a: uint(user_out[2 * i], f"getUserEMode({a})") for i, a in enumerate(accounts)}
    account_hf = {
        a: int(decode_all(user_fns[1].outputs, user_out[2 * i + 1], f"getUserAccountData({a})")[5])
        for i, a in enumerate(accounts)
    }
    ur = _DP.fn("getUserReserveData")
    pairs = [(a, r) for a in accounts for r in reserves]
    bal_out = ctx.read("positions", [Call(data_provider, ur.encode(r, a)) for a, r in pairs])
    balances: dict[tuple[str, str], tuple[int, int, bool]] = {}
    for (a, r), data in zip(pairs, bal_out, strict=True):
        values = decode_all(ur.outputs, data, f"getUserReserveData({r}, {a})")
        supplied, stable, variable = int(values[0]), int(values[1]), int(values[2])
        if supplied or stable or variable:
            balances[(a, r)] = (supplied, stable + variable, bool(values[8]))
    return AaveRaw(
        pool=pool,
        reserves=reserves,
        config={r: raw[r][0] for r in reserves},
        tokens_of={r: (tokens_of[r][0], tokens_of[r][1], tokens_of[r][2]) for r in reserves},
        caps={r: (int(raw[r][2][0]), int(raw[r][2][1])) for r in reserves},
        debt_ceiling={r: int(raw[r][3][0]) for r in reserves},
        protocol_fee={r: int(raw[r][4][0]) for r in reserves},
        emode_of=emode_of,
        source_of=source_of,
        price={r: int(raw[r][7][0]) for r in reserves},
        base_unit=base_unit,
        emodes=emodes,
        tokens=tokens,
        feeds=feeds,
        accounts=accounts,
        user_emode=user_emode,
        account_hf=account_hf,
        balances=balances,
    )


def protocol_id_for(chain_id: int) -> str:
    """``aave-v3-ethereum`` on chain 1, ``aave-v3-<chain name>`` elsewhere."""
    return f"aave-v3-{chain_name(chain_id)}"


def transform_aave_v3(
    raw: AaveRaw,
    meta: Meta,
    *,
    protocol_id: str | None = None,
    published: Mapping[str, ChainlinkFeed] | None = None,
) -> dict[str, pa.Table]:
    """The data contract's tables from what :func:`extract_aave_v3` read (pure)."""
    pid = protocol_id or protocol_id_for(meta.chain_id)
    cid = meta.chain_id
    price_usd = {r: raw.price[r] / raw.base_unit for r in raw.reserves}
    for r, p in price_usd.items():
        if p <= 0:
            raise IndexerError(f"aave-v3: AaveOracle price of reserve {r} is {raw.price[r]}")
    assets, wrappers, markets, usage = [], [], [], []
    for r in raw.reserves:
        tok = raw.tokens[r]
        a_token = raw.tokens[raw.tokens_of[r][0]]
        assets.append(asset_row(meta, tok, price_usd[r]))
        assets.append(asset_row(meta, a_token, price_usd[r], kind="receipt", underlying=r))
        wrappers.append(
            meta.row(
                asset_id=asset_id(a_token.address, cid),
                underlying_asset_id=asset_id(r, cid),
                kind="receipt",
                protocol_id=pid,
                exchange_rate=1.0,
            )
        )
        (dec, ltv, lt, bonus, _rf, coll, borrow, _stable, _active, _frozen) = raw.config[r]
        cat = raw.emode_of[r]
        em = raw.emodes.get(cat)
        borrow_cap, supply_cap = raw.caps[r]
        markets.append(
            meta.row(
                market_id=f"{pid}/{tok.symbol}",
                protocol_id=pid,
                family="aave-v3",
                asset_id=asset_id(r, cid),
                role="reserve",
                debt_asset_id=None,
                usage_as_collateral=bool(coll),
                borrowing_enabled=bool(borrow),
                ltv=ltv / _BPS,
                liquidation_threshold=lt / _BPS,
                liquidation_bonus=bonus / _BPS,
                liquidation_protocol_fee=raw.protocol_fee[r] / _BPS,
                close_factor=0.5,
                close_factor_full_hf=0.95,
                emode_category=cat,
                emode_ltv=em[0] / _BPS if em else None,
                emode_liquidation_threshold=em[1] / _BPS if em else None,
                emode_liquidation_bonus=em[2] / _BPS if em else None,
                supply_cap=float(supply_cap),
                borrow_cap=float(borrow_cap),
                debt_ceiling=raw.debt_ceiling[r] / 10**_DEBT_CEILING_DECIMALS,
                borrow_cf=None,
                liquidate_cf=None,
                liquidation_factor=None,
                store_front_price_factor=None,
                liquidation_ratio=None,
                liquidation_penalty=None,
            )
        )
        source = raw.source_of[r]
        if source in raw.feeds:
            usage.append(
                meta.row(protocol_id=pid, asset_id=asset_id(r, cid), feed_id=asset_id(source, cid))
            )
    base_asset: dict[str, str] = {}
    for r in raw.reserves:
        base_asset.setdefault(raw.source_of[r], r)
    feeds = feed_rows(meta, raw.feeds, base_asset, published)
    positions = []
    for (account, r), (supplied, debt, used) in sorted(raw.balances.items()):
        dec = raw.tokens[r].decimals
        coll_raw, coll = amount(supplied, dec)
        debt_raw, debt_f = amount(debt, dec)
        positions.append(
            meta.row(
                account=account,
                protocol_id=pid,
                asset_id=asset_id(r, cid),
                collateral_amount_raw=coll_raw,
                collateral_amount=coll,
                debt_amount_raw=debt_raw,
                debt_amount=debt_f,
                used_as_collateral=used and supplied > 0,
                emode_category=raw.user_emode.get(account, 0),
            )
        )
    protocols = [
        meta.row(
            protocol_id=pid, name="Aave v3", kind="lending", family="aave-v3", address=raw.pool
        )
    ]
    if any(f["protocol_id"] for f in feeds):
        protocols.append(chainlink_protocol_row(meta))
    return {
        "chains": chains_rows(meta),
        "protocols": rows_table("protocols", protocols),
        "assets": rows_table("assets", assets),
        "wrappers": rows_table("wrappers", wrappers),
        "oracle_feeds": rows_table("oracle_feeds", feeds),
        "oracle_usage": rows_table("oracle_usage", usage),
        "lending_markets": rows_table("lending_markets", markets),
        "lending_positions": rows_table("lending_positions", positions),
    }


def reconcile_aave_v3(raw: AaveRaw, protocol_id: str) -> Reconciliation:
    """Indexed sums per reserve vs token supplies; indexed health vs getUserAccountData."""
    rec = Reconciliation(protocol_id)
    for r in raw.reserves:
        a_tok, stable, variable = raw.tokens_of[r]
        supplied = sum(v[0] for (_, res), v in raw.balances.items() if res == r)
        borrowed = sum(v[1] for (_, res), v in raw.balances.items() if res == r)
        symbol = raw.tokens[r].symbol
        rec.compare(symbol, "aToken totalSupply", supplied, raw.tokens[a_tok].total_supply)
        debt_total = sum(raw.tokens[t].total_supply for t in (stable, variable) if t in raw.tokens)
        rec.compare(symbol, "debt token totalSupply", borrowed, debt_total)
    for account in raw.accounts:
        coll_lt = debt = 0.0
        for r in raw.reserves:
            bal = raw.balances.get((account, r))
            if bal is None:
                continue
            unit = 10 ** raw.tokens[r].decimals
            lt = raw.config[r][2]
            cat = raw.user_emode.get(account, 0)
            if cat and raw.emode_of[r] == cat and cat in raw.emodes:
                lt = raw.emodes[cat][1]
            if bal[2]:
                coll_lt += bal[0] * raw.price[r] / unit * lt / _BPS
            debt += bal[1] * raw.price[r] / unit
        reported = raw.account_hf[account]
        rec.accounts_checked += 1
        if debt == 0:
            if reported != 2**256 - 1:
                rec.account_mismatches.append(f"{account}: no indexed debt, HF {reported / _WAD}")
            continue
        hf = coll_lt / debt
        if abs(hf - reported / _WAD) > 1e-6 * max(1.0, hf):
            rec.account_mismatches.append(
                f"{account}: indexed HF {hf:.9f}, getUserAccountData {reported / _WAD:.9f}"
            )
    return rec


def index_aave_v3(
    ctx: IndexContext,
    *,
    pool: str,
    data_provider: str,
    oracle: str,
    protocol_id: str | None = None,
    published: Mapping[str, ChainlinkFeed] | None = None,
) -> tuple[dict[str, pa.Table], Reconciliation]:
    """Extract, transform and reconcile one Aave v3 market (tables are not written here)."""
    raw = extract_aave_v3(ctx, pool, data_provider, oracle)
    meta = ctx.meta("aave-v3")
    pid = protocol_id or protocol_id_for(meta.chain_id)
    return transform_aave_v3(raw, meta, protocol_id=pid, published=published), reconcile_aave_v3(
        raw, pid
    )
