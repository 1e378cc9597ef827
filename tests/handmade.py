"""Small hand-made datasets shared by the tests."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

TS = dt.datetime(2023, 10, 31, tzinfo=dt.UTC)
WETH = "1:0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
USDC = "1:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"


def _prov(n: int) -> dict[str, list[object]]:
    return {"source": ["test"] * n, "block_number": [18_470_000] * n, "timestamp": [TS] * n}


def small_tables() -> dict[str, pa.Table]:
    """A minimal valid dataset: one chain, one lending protocol, two assets, three positions."""
    positions = {
        "chain_id": [1, 1, 1],
        "account": ["0xaa", "0xaa", "0xbb"],
        "protocol_id": ["aave-v3-ethereum"] * 3,
        "asset_id": [WETH, USDC, WETH],
        "collateral_amount_raw": ["2000000000000000000", "0", "500000000000000000"],
        "collateral_amount": [2.0, 0.0, 0.5],
        "debt_amount_raw": ["0", "1500000000", "0"],
        "debt_amount": [0.0, 1500.0, 0.0],
        "used_as_collateral": [True, False, True],
        "emode_category": [0, 0, 0],
        **_prov(3),
    }
    return {
        "chains": pa.table(
            {"chain_id": [1], "name": ["ethereum"], "native_symbol": ["ETH"], **_prov(1)}
        ),
        "protocols": pa.table(
            {
                "chain_id": [1],
                "protocol_id": ["aave-v3-ethereum"],
                "name": ["Aave v3"],
                "kind": ["lending"],
                "family": ["aave-v3"],
                "address": ["0x87870bca3f3fd6335c3f4ce8392d69350b4fa4e2"],
                **_prov(1),
            }
        ),
        "assets": pa.table(
            {
                "chain_id": [1, 1],
                "asset_id": [WETH, USDC],
                "address": [WETH[2:], USDC[2:]],
                "symbol": ["WETH", "USDC"],
                "name": ["Wrapped Ether", "USD Coin"],
                "kind": ["erc20", "stable"],
                "decimals": pa.array([18, 6], pa.int32()),
                "underlying_asset_id": [None, None],
                "price_usd": [1816.85, 1.0],
                "total_supply_raw": ["3200000000000000000000000", None],
                "total_supply": [3_200_000.0, None],
                "depth_2pct_usd": [60e6, None],
                **_prov(2),
            }
        ),
        "lending_positions": pa.table(positions),
    }
