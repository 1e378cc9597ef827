"""Shared fixtures: a tiny hand-built dataset whose exposure graph can be worked out on paper.

The tiny world (prices: WETH 2000, wstETH 2300, aWETH 2000, USDC = DAI = UST = 1, LUNA 80):

* two lending protocols, ``aave-v3-ethereum`` (WETH, USDC, wstETH reserves) and
  ``compound-v3-usdc`` (USDC base; WETH and aWETH collateral), both reading the Chainlink
  ETH/USD feed; Aave prices wstETH with a composite feed (wstETH/ETH rate x ETH/USD), Compound
  prices its base with a fixed feed;
* aWETH, Aave's receipt token, is collateral in Compound; wstETH (Lido) is collateral in Aave;
* a Uniswap v2 USDC/WETH pool, a Uniswap v3 wstETH/WETH pool with ticks, a Curve DAI/USDC pool;
* DAI backed 60% by USDC through a PSM and 40% by WETH vaults; UST backed by LUNA (algorithmic);
* Deribit ETH options (two series) and ETH perpetual buckets (long and short);
* twelve positions of six accounts; account 0xa4 owes both lending protocols.

:func:`build_tiny_dataset` is importable so that other test modules and benchmarks can reuse
it; :func:`tile_positions` scales its positions up with generated accounts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from contagion import Dataset
from contagion.schema import TABLES

BLOCK = 18_470_000
DERIBIT_TIME = datetime(2020, 5, 14, 5, 41, tzinfo=UTC)

WETH = "1:0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
USDC = "1:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
DAI = "1:0x6b175474e89094c44da98b954eedeac495271d0f"
WSTETH = "1:0x7f39c581f595b53c5cb19bd0b3f8da6c935e2ca0"
AWETH = "1:0x4d5f47fa6a74757f35c14fd3a6ef8e3c9bc514e8"
UST = "1:0xa693b19d2931d498c5b318df961919bb4aee87a5"
LUNA = "1:0xbd31ea8212119f94a611fa969881cba3ea06fa3d"

ETH_USD = "1:0x5f4ec3df9cbd43714fe2740f5e3616155c5b8419"
USDC_USD = "1:0x8fffffd4afb6115b954bd326cbe7b4ba576818f6"
WSTETH_ETH = "1:wsteth-eth-exchange-rate"
WSTETH_USD = "1:aave-wsteth-usd-composite"
USDC_FIXED = "1:compound-v3-usdc-base-price"

AAVE = "aave-v3-ethereum"
COMPOUND = "compound-v3-usdc"

UNI_V2 = "1:0xb4e16d0168e52d35cacd2c6185b44281ec28c9dc"
UNI_V3 = "1:0x109830a1aaad605bbf02a9dfa7b0b92ec2fb7daa"
CURVE = "1:0x5a6a4d54456819380173272a5e8e9b9904bdf41b"

_DECIMALS = {WETH: 18, USDC: 6, DAI: 18, WSTETH: 18, AWETH: 18, UST: 6, LUNA: 6}


def _raw(amount: float, decimals: int) -> str:
    return str(int(Decimal(str(amount)) * 10**decimals))


def _table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    """Rows of table ``name`` with on-chain provenance filled in unless given."""
    filled = [{"source": "tiny", "block_number": BLOCK, "timestamp": None, **r} for r in rows]
    return pa.Table.from_pylist(filled, schema=TABLES[name].schema)


def _offchain(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "chain_id": 0,
        "source": "deribit-csv",
        "block_number": None,
        "timestamp": DERIBIT_TIME,
        **row,
    }


def _asset(
    asset_id: str, symbol: str, kind: str, price: float, underlying: str | None = None
) -> dict[str, Any]:
    address = asset_id.split(":", 1)[1]
    return {
        "chain_id": 1,
        "asset_id": asset_id,
        "address": address,
        "symbol": symbol,
        "name": symbol,
        "kind": kind,
        "decimals": _DECIMALS[asset_id],
        "underlying_asset_id": underlying,
        "price_usd": price,
    }


def _feed(
    feed_id: str,
    description: str,
    kind: str,
    base: str,
    answer: float,
    sources: tuple[str, ...] = (),
    quote: str = "USD",
) -> dict[str, Any]:
    on_chain = feed_id.split(":", 1)[1].startswith("0x")
    return {
        "chain_id": 1,
        "feed_id": feed_id,
        "address": feed_id.split(":", 1)[1] if on_chain else None,
        "description": description,
        "kind": kind,
        "base_asset_id": base,
        "quote": quote,
        "decimals": 8,
        "heartbeat_s": 3600 if kind == "chainlink" else None,
        "deviation_bps": 50.0 if kind == "chainlink" else None,
        "twap_window_s": None,
        "source_feed_ids": list(sources),
        "answer_raw": _raw(answer, 8),
        "answer": answer,
    }


def _position(
    account: str, protocol: str, asset: str, collateral: float, debt: float, used: bool
) -> dict[str, Any]:
    dec = _DECIMALS[asset]
    return {
        "chain_id": 1,
        "account": account,
        "protocol_id": protocol,
        "asset_id": asset,
        "collateral_amount_raw": _raw(collateral, dec),
        "collateral_amount": collateral,
        "debt_amount_raw": _raw(debt, dec),
        "debt_amount": debt,
        "used_as_collateral": used,
        "emode_category": 0,
    }


def _pool(
    pool_id: str, protocol: str, kind: str, tokens: list[str], reserves: list[float], **extra: Any
) -> dict[str, Any]:
    return {
        "chain_id": 1,
        "pool_id": pool_id,
        "protocol_id": protocol,
        "address": pool_id.split(":", 1)[1],
        "kind": kind,
        "token_asset_ids": tokens,
        "reserves_raw": [_raw(r, _DECIMALS[t]) for t, r in zip(tokens, reserves, strict=True)],
        "reserves": reserves,
        "fee": 0.003,
        **extra,
    }


def _tick(tick: int, net: float, gross: float) -> dict[str, Any]:
    return {
        "chain_id": 1,
        "pool_id": UNI_V3,
        "tick": tick,
        "liquidity_net_raw": str(int(net)),
        "liquidity_net": net,
        "liquidity_gross_raw": str(int(gross)),
        "liquidity_gross": gross,
    }


def _tables() -> dict[str, pa.Table]:
    chains = _table(
        "chains",
        [
            {
                "chain_id": 0,
                "name": "offchain",
                "native_symbol": "-",
                "block_number": None,
                "timestamp": DERIBIT_TIME,
            },
            {"chain_id": 1, "name": "ethereum", "native_symbol": "ETH"},
        ],
    )
    protocols = _table(
        "protocols",
        [
            {
                "chain_id": 1,
                "protocol_id": pid,
                "name": name,
                "kind": kind,
                "family": family,
                "address": None,
            }
            for pid, name, kind, family in [
                (AAVE, "Aave v3", "lending", "aave-v3"),
                (COMPOUND, "Compound v3 USDC", "lending", "compound-v3"),
                ("uniswap-v2", "Uniswap v2", "dex", "uniswap-v2"),
                ("uniswap-v3", "Uniswap v3", "dex", "uniswap-v3"),
                ("curve", "Curve", "dex", "curve"),
                ("maker", "Maker", "stablecoin", "psm"),
                ("terra", "Terra", "stablecoin", "algorithmic"),
                ("lido", "Lido", "vault", "lido"),
                ("chainlink", "Chainlink", "oracle", "chainlink"),
            ]
        ]
        + [
            _offchain(
                {
                    "protocol_id": "deribit",
                    "name": "Deribit",
                    "kind": "derivative",
                    "family": "deribit",
                    "address": None,
                }
            )
        ],
    )
    assets = _table(
        "assets",
        [
            _asset(WETH, "WETH", "erc20", 2000.0),
            _asset(USDC, "USDC", "stable", 1.0),
            _asset(DAI, "DAI", "stable", 1.0),
            _asset(WSTETH, "wstETH", "lst", 2300.0, WETH),
            _asset(AWETH, "aEthWETH", "receipt", 2000.0, WETH),
            _asset(UST, "UST", "stable", 1.0),
            _asset(LUNA, "LUNA", "erc20", 80.0),
        ],
    )
    feeds = _table(
        "oracle_feeds",
        [
            _feed(ETH_USD, "ETH / USD", "chainlink", WETH, 2000.0),
            _feed(USDC_USD, "USDC / USD", "chainlink", USDC, 1.0),
            _feed(WSTETH_ETH, "wstETH / ETH exchange rate", "market", WSTETH, 1.15, quote=WETH),
            _feed(
                WSTETH_USD,
                "wstETH / USD",
                "composite",
                WSTETH,
                2300.0,
                sources=(WSTETH_ETH, ETH_USD),
            ),
            _feed(USDC_FIXED, "USDC / USD (constant)", "fixed", USDC, 1.0),
        ],
    )
    usage = _table(
        "oracle_usage",
        [
            {"chain_id": 1, "protocol_id": p, "asset_id": a, "feed_id": f}
            for p, a, f in [
                (AAVE, WETH, ETH_USD),
                (AAVE, USDC, USDC_USD),
                (AAVE, WSTETH, WSTETH_USD),
                (COMPOUND, WETH, ETH_USD),
                (COMPOUND, AWETH, ETH_USD),
                (COMPOUND, USDC, USDC_FIXED),
            ]
        ],
    )
    aave_reserve = {
        "chain_id": 1,
        "protocol_id": AAVE,
        "family": "aave-v3",
        "role": "reserve",
        "debt_asset_id": None,
        "usage_as_collateral": True,
        "borrowing_enabled": True,
        "ltv": 0.8,
        "liquidation_threshold": 0.825,
        "liquidation_bonus": 1.05,
        "liquidation_protocol_fee": 0.1,
        "close_factor": 0.5,
        "close_factor_full_hf": 0.95,
        "emode_category": 0,
    }
    comet = {
        "chain_id": 1,
        "protocol_id": COMPOUND,
        "family": "compound-v3",
        "debt_asset_id": USDC,
        "borrowing_enabled": False,
        "borrow_cf": 0.825,
        "liquidate_cf": 0.895,
        "liquidation_factor": 0.95,
        "store_front_price_factor": 0.5,
    }
    markets = _table(
        "lending_markets",
        [
            {**aave_reserve, "market_id": f"{AAVE}/WETH", "asset_id": WETH},
            {
                **aave_reserve,
                "market_id": f"{AAVE}/USDC",
                "asset_id": USDC,
                "ltv": 0.77,
                "liquidation_threshold": 0.8,
                "liquidation_bonus": 1.045,
            },
            {
                **aave_reserve,
                "market_id": f"{AAVE}/wstETH",
                "asset_id": WSTETH,
                "ltv": 0.69,
                "liquidation_threshold": 0.795,
                "liquidation_bonus": 1.07,
            },
            {
                **comet,
                "market_id": f"{COMPOUND}/USDC",
                "asset_id": USDC,
                "role": "base",
                "usage_as_collateral": False,
                "borrowing_enabled": True,
                "debt_asset_id": None,
                "borrow_cf": None,
                "liquidate_cf": None,
                "liquidation_factor": None,
                "store_front_price_factor": None,
            },
            {
                **comet,
                "market_id": f"{COMPOUND}/WETH",
                "asset_id": WETH,
                "role": "collateral",
                "usage_as_collateral": True,
            },
            {
                **comet,
                "market_id": f"{COMPOUND}/aEthWETH",
                "asset_id": AWETH,
                "role": "collateral",
                "usage_as_collateral": True,
            },
        ],
    )
    positions = _table(
        "lending_positions",
        [
            _position("0xa1", AAVE, WETH, 10.0, 0.0, True),
            _position("0xa1", AAVE, USDC, 0.0, 8000.0, True),
            _position("0xa2", AAVE, WSTETH, 5.0, 0.0, True),
            _position("0xa2", AAVE, WETH, 0.0, 3.0, True),
            _position("0xa3", AAVE, USDC, 50000.0, 0.0, False),
            _position("0xa4", AAVE, WETH, 2.0, 0.0, True),
            _position("0xa4", AAVE, USDC, 0.0, 1000.0, True),
            _position("0xa4", COMPOUND, AWETH, 4.0, 0.0, True),
            _position("0xa4", COMPOUND, USDC, 0.0, 5000.0, False),
            _position("0xa5", COMPOUND, WETH, 3.0, 0.0, True),
            _position("0xa5", COMPOUND, USDC, 0.0, 4000.0, False),
            _position("0xa6", COMPOUND, USDC, 100000.0, 0.0, False),
        ],
    )
    pools = _table(
        "pools",
        [
            _pool(UNI_V2, "uniswap-v2", "constant-product", [USDC, WETH], [200000.0, 100.0]),
            _pool(
                UNI_V3,
                "uniswap-v3",
                "concentrated-liquidity",
                [WSTETH, WETH],
                [50.0, 40.0],
                fee=0.0001,
                sqrt_price_x96_raw=str(int(1.15**0.5 * 2**96)),
                sqrt_price=1.15**0.5,
                tick=1397,
                tick_spacing=1,
                liquidity_raw="1000",
                liquidity=1000.0,
            ),
            _pool(
                CURVE,
                "curve",
                "stableswap",
                [DAI, USDC],
                [300000.0, 250000.0],
                fee=0.0004,
                amplification=200.0,
            ),
        ],
    )
    ticks = _table("pool_ticks", [_tick(1000, 1000.0, 1000.0), _tick(1800, -1000.0, 1000.0)])
    expiry = datetime(2020, 6, 26, 8, tzinfo=UTC)
    options = _table(
        "option_series",
        [
            _offchain(
                {
                    "series_id": sid,
                    "protocol_id": "deribit",
                    "underlying_asset_id": WETH,
                    "expiry": expiry,
                    "strike": strike,
                    "option_type": kind,
                    "open_interest": oi,
                    "mark_iv": 0.8,
                    "mark_price": mark,
                    "underlying_price": 2000.0,
                    "dealer_sign": -1,
                }
            )
            for sid, strike, kind, oi, mark in [
                ("ETH-26JUN20-2000-C", 2000.0, "call", 100.0, 180.0),
                ("ETH-26JUN20-1800-P", 1800.0, "put", 50.0, 90.0),
            ]
        ],
    )
    perps = _table(
        "perp_markets",
        [
            _offchain(
                {
                    "protocol_id": "deribit",
                    "market": "ETH-PERPETUAL",
                    "underlying_asset_id": WETH,
                    "side": side,
                    "liquidation_price": liq,
                    "open_interest": oi,
                    "maintenance_margin": 0.05,
                    "insurance_fund_usd": 1_000_000.0,
                }
            )
            for side, liq, oi in [("long", 1600.0, 30.0), ("short", 2400.0, 20.0)]
        ],
    )
    stablecoins = _table(
        "stablecoins",
        [
            {
                "chain_id": 1,
                "asset_id": a,
                "protocol_id": p,
                "mechanism": m,
                "peg_usd": 1.0,
                "supply": supply,
                "backing_asset_id": b,
                "backing_share": share,
                "redemption_limit_usd": None,
                "redemption_fee": 0.0,
            }
            for a, p, m, supply, b, share in [
                (DAI, "maker", "psm", 500000.0, USDC, 0.6),
                (DAI, "maker", "cdp", 500000.0, WETH, 0.4),
                (UST, "terra", "algorithmic", 1000000.0, LUNA, 1.0),
            ]
        ],
    )
    wrappers = _table(
        "wrappers",
        [
            {
                "chain_id": 1,
                "asset_id": WSTETH,
                "underlying_asset_id": WETH,
                "kind": "lst",
                "protocol_id": "lido",
                "exchange_rate": 1.15,
            },
            {
                "chain_id": 1,
                "asset_id": AWETH,
                "underlying_asset_id": WETH,
                "kind": "receipt",
                "protocol_id": AAVE,
                "exchange_rate": 1.0,
            },
        ],
    )
    return {
        "chains": chains,
        "protocols": protocols,
        "assets": assets,
        "oracle_feeds": feeds,
        "oracle_usage": usage,
        "lending_markets": markets,
        "lending_positions": positions,
        "pools": pools,
        "pool_ticks": ticks,
        "option_series": options,
        "perp_markets": perps,
        "stablecoins": stablecoins,
        "wrappers": wrappers,
    }


def build_tiny_dataset() -> Dataset:
    """The tiny hand-computable world described in this module's docstring."""
    return Dataset(_tables())


def tile_positions(positions: int, *, seed: int = 0) -> Dataset:
    """The tiny world with its positions repeated to ``positions`` rows of generated accounts.

    Each copy of the twelve positions belongs to a fresh set of six accounts and is scaled by
    an integer factor in 1..20 (integer, so the raw base-unit strings stay exact), keeping the
    tiny world's account structure: every copy has one account owing both protocols.
    """
    tables = _tables()
    base = tables["lending_positions"]
    n_base = base.num_rows
    copies = -(-positions // n_base)
    rng = np.random.default_rng(seed)
    row = np.tile(np.arange(n_base), copies)[:positions]
    copy = np.repeat(np.arange(copies), n_base)[:positions]
    factor = rng.integers(1, 21, size=copies)[copy]

    accounts = pc.utf8_lpad(pc.cast(pa.array(copy), pa.string()), 34, "0")
    local = pc.take(base.column("account"), pa.array(row))
    account = pc.binary_join_element_wise(local, accounts, "")

    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name in base.column_names:
        columns[name] = pc.take(base.column(name), pa.array(row))
    columns["account"] = account
    for amount in ("collateral_amount", "debt_amount"):
        base_raw = [int(v) for v in base.column(f"{amount}_raw").to_pylist()]
        # Every (row, factor) pair has one exact raw string; look it up instead of formatting
        # a million integers in Python.
        lookup = pa.array([str(b * f) for b in base_raw for f in range(1, 21)])
        columns[f"{amount}_raw"] = pc.take(lookup, pa.array(row * 20 + factor - 1))
        values = np.asarray(base.column(amount).to_numpy(), dtype=float)
        columns[amount] = pa.array(values[row] * factor)
    tables["lending_positions"] = pa.table(columns).cast(TABLES["lending_positions"].schema)
    return Dataset(tables)


@pytest.fixture(scope="session")
def tiny_dataset() -> Dataset:
    return build_tiny_dataset()


@pytest.fixture(scope="session")
def empty_dataset() -> Dataset:
    return Dataset({})
