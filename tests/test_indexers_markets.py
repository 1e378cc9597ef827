"""Compound III, Uniswap v2/v3 and Curve indexers against the fixture chain on py-evm, and the
Deribit importer against the real book-summary export.

The fixture chain is built once per test process (:func:`evm.chain.shared_chain`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from lending_checks import snapshot_health

from contagion import load_dataset
from contagion.engine import build_engine
from indexers.base import IndexContext, write_tables
from indexers.compound_v3 import index_compound_v3
from indexers.rpc import ProviderTransport, RpcClient

web3 = pytest.importorskip("web3")
pytest.importorskip("vyper")
pytest.importorskip("eth_tester")

from evm.chain import FixtureChain, shared_chain  # noqa: E402


@pytest.fixture(scope="module")
def chain() -> FixtureChain:
    return shared_chain()


def _ctx(chain: FixtureChain, **kw: object) -> IndexContext:
    return IndexContext(
        RpcClient(ProviderTransport(chain.w3)),
        chain.w3.eth.block_number,
        multicall_address=chain.multicall,
        **kw,  # type: ignore[arg-type]
    )


def _cs(address: str) -> str:
    return str(web3.Web3.to_checksum_address(address))


@pytest.fixture(scope="module")
def comet_tables(chain: FixtureChain) -> dict[str, pa.Table]:
    tables, rec = index_compound_v3(_ctx(chain, batch_size=16), comet=chain.comet)
    assert rec.ok, rec.summary()
    assert rec.markets_checked == 4  # totalSupply, totalBorrow, two collaterals
    assert rec.accounts_checked == len(chain.comet_users) + 1  # the borrowers and the lender
    return tables


def test_comet_positions_equal_the_contract_balances(
    chain: FixtureChain, comet_tables: dict[str, pa.Table]
) -> None:
    comet = chain.contract("Comet", chain.comet)
    pos = comet_tables["lending_positions"].to_pylist()
    usdc = f"{chain.w3.eth.chain_id}:{chain.tokens['USDC'].lower()}"
    seen = 0
    for p in pos:
        user = _cs(p["account"])
        if p["asset_id"] == usdc:
            assert not p["used_as_collateral"]
            assert int(p["debt_amount_raw"]) == comet.functions.borrowBalanceOf(user).call()
            assert int(p["collateral_amount_raw"]) == comet.functions.balanceOf(user).call()
        else:
            asset = _cs(p["asset_id"].split(":")[1])
            assert p["used_as_collateral"] and p["debt_amount_raw"] == "0"
            held = comet.functions.collateralBalanceOf(user, asset).call()
            assert int(p["collateral_amount_raw"]) == held
        seen += 1
    # Absorb took the whole account (collateral seized, the shortfall covered by the
    # protocol): it has no row left.
    assert chain.absorbed and chain.absorbed.lower() not in {p["account"] for p in pos}
    assert seen == len(pos) >= 2 * (len(chain.comet_users) - 1)
    markets = {m["role"]: m for m in comet_tables["lending_markets"].to_pylist()}
    assert markets["base"]["asset_id"] == usdc
    assert markets["collateral"]["liquidate_cf"] > markets["collateral"]["borrow_cf"] > 0
    # targetReserves as the mainnet deployment file sets it; the reserves as Comet defines
    # them: the base held, less what the indexed suppliers are owed, plus what the indexed
    # borrowers owe (getReserves, read by the indexer, agrees with the balances it indexed).
    assert markets["base"]["target_reserves"] == 5_000_000.0
    assert markets["collateral"]["target_reserves"] is None
    token = chain.w3.eth.contract(
        address=_cs(chain.tokens["USDC"]),
        abi=[
            {
                "type": "function",
                "name": "balanceOf",
                "stateMutability": "view",
                "inputs": [{"name": "a", "type": "address"}],
                "outputs": [{"name": "", "type": "uint256"}],
            }
        ],
    )
    held = token.functions.balanceOf(_cs(chain.comet)).call()
    supplied = sum(int(p["collateral_amount_raw"]) for p in pos if p["asset_id"] == usdc)
    borrowed = sum(int(p["debt_amount_raw"]) for p in pos if p["asset_id"] == usdc)
    assert markets["base"]["reserves"] == pytest.approx((held - supplied + borrowed) / 1e6)
    assert markets["base"]["reserves"] > 5_000_000.0  # above target: nothing for sale


def test_solver_comet_liquidatability_equals_is_liquidatable(
    chain: FixtureChain, comet_tables: dict[str, pa.Table], tmp_path: Path
) -> None:
    write_tables(tmp_path / "ds", comet_tables)
    engine, lr = snapshot_health(load_dataset(tmp_path / "ds"))
    book = engine.world.lending
    comet = chain.contract("Comet", chain.comet)
    verdicts = []
    for loan, account in enumerate(book.loan_account):
        expected = comet.functions.isLiquidatable(_cs(account)).call()
        assert bool(lr.health_factor[loan] < 1) == expected, account
        verdicts.append(expected)
    assert len(verdicts) == len(chain.comet_users)  # every account with a position
    assert any(verdicts) and not all(verdicts)
    assert np.isinf(
        lr.health_factor[list(book.loan_account).index(chain.w3.eth.accounts[0].lower())]
    )


def test_pools_and_ticks_equal_the_contracts(chain: FixtureChain, tmp_path: Path) -> None:
    from indexers.chainlink import index_chainlink
    from indexers.curve import index_curve
    from indexers.uniswap_v2 import index_uniswap_v2
    from indexers.uniswap_v3 import index_uniswap_v3

    cid = chain.w3.eth.chain_id
    symbols = ("USDC", "WETH", "DAI", "USDT")
    # Pool tokens get their assets rows (and prices) from Chainlink feeds indexed first.
    feeds = {chain.feeds[s]: chain.tokens[s] for s in symbols}
    write_tables(tmp_path / "ds", index_chainlink(_ctx(chain), feeds=feeds, published={}))
    ctx = _ctx(chain, batch_size=200)
    for tables in (
        index_uniswap_v2(ctx, pairs=[chain.v2_pair]),
        index_uniswap_v3(ctx, pools=[chain.v3_pool]),
        index_curve(ctx, pools=[chain.curve_pool]),
    ):
        ds = write_tables(tmp_path / "ds", tables)
    ds = load_dataset(tmp_path / "ds")
    pools = {p["address"]: p for p in ds.table("pools").to_pylist()}
    assert len(pools) == 3

    pair = chain.contract("UniswapV2Pair", chain.v2_pair)
    v2 = pools[chain.v2_pair.lower()]
    r0, r1, _ = pair.functions.getReserves().call()
    assert v2["reserves_raw"] == [str(r0), str(r1)] and v2["fee"] == 0.003
    assert v2["kind"] == "constant-product"
    assert v2["protocol_id"] == f"uniswap-v2-chain-{cid}"  # "uniswap-v2" on chain 1
    assert v2["token_asset_ids"] == [
        f"{cid}:{pair.functions.token0().call().lower()}",
        f"{cid}:{pair.functions.token1().call().lower()}",
    ]
    assert v2["reserves"][1] == pytest.approx(r1 / 1e18)

    pool = chain.contract("UniswapV3Pool", chain.v3_pool)
    v3 = pools[chain.v3_pool.lower()]
    slot0 = pool.functions.slot0().call()
    assert int(v3["sqrt_price_x96_raw"]) == slot0[0] and v3["tick"] == slot0[1] == 201_300
    assert int(v3["liquidity_raw"]) == pool.functions.liquidity().call()
    assert v3["fee"] == 0.0005 and v3["tick_spacing"] == 10
    # Whole-token units as in the sample world: USDC (6) / WETH (18).
    assert v3["sqrt_price"] == pytest.approx(slot0[0] / 2**96 * 10**-6)
    minted = {200_000, 202_000, 199_000, 203_500, -887_270, 887_270, 201_250, 201_400}
    ticks = {
        t["tick"]: t for t in ds.table("pool_ticks").to_pylist() if t["pool_id"] == v3["pool_id"]
    }
    assert set(ticks) == minted
    for t, row in ticks.items():
        gross, net = pool.functions.ticks(t).call()[:2]
        assert (int(row["liquidity_gross_raw"]), int(row["liquidity_net_raw"])) == (gross, net)
        assert row["liquidity_net"] == pytest.approx(net / 1e12)
    assert sum(int(r["liquidity_net_raw"]) for r in ticks.values()) == 0
    active = sum(int(r["liquidity_net_raw"]) for t, r in ticks.items() if t <= slot0[1])
    assert active == int(v3["liquidity_raw"])

    curve = chain.contract("CurvePool", chain.curve_pool)
    cv = pools[chain.curve_pool.lower()]
    assert cv["reserves_raw"] == [str(curve.functions.balances(i).call()) for i in range(3)]
    assert cv["token_asset_ids"] == [
        f"{cid}:{chain.tokens[s].lower()}" for s in ("DAI", "USDC", "USDT")
    ]
    assert cv["amplification"] == 2000.0 and cv["fee"] == pytest.approx(1e-4)
    build_engine(ds)  # the pipeline reads the indexed pools unchanged


def test_pool_addresses_are_checked(chain: FixtureChain) -> None:
    from indexers.errors import IndexerError
    from indexers.uniswap_v2 import index_uniswap_v2

    with pytest.raises(IndexerError, match="not a 0x-prefixed 20-byte address"):
        index_uniswap_v2(_ctx(chain), pairs=["0x1234"])
    with pytest.raises(IndexerError, match=r"(getReserves|token0)\(\) on pair"):
        index_uniswap_v2(_ctx(chain), pairs=[chain.curve_pool])


def test_a_rerun_replaces_the_protocols_rows_it_indexes(
    comet_tables: dict[str, pa.Table], tmp_path: Path
) -> None:
    from indexers.deribit import import_deribit

    csv = Path(__file__).resolve().parents[2] / "shared" / "data" / "deribit"
    csv = csv / "btc-options-2020-05-14.csv"
    write_tables(tmp_path / "ds", comet_tables)
    if csv.exists():
        write_tables(tmp_path / "ds", import_deribit(csv))
    # The same market read again with one position closed: its row must go, not linger.
    positions = comet_tables["lending_positions"]
    later = {**comet_tables, "lending_positions": positions.slice(1)}
    ds = write_tables(tmp_path / "ds", later)
    assert ds.table("lending_positions").num_rows == positions.num_rows - 1
    closed = positions.slice(0, 1).to_pylist()[0]
    assert (closed["account"], closed["asset_id"]) not in {
        (p["account"], p["asset_id"]) for p in ds.table("lending_positions").to_pylist()
    }
    # Rows of what this run did not index are kept.
    assert ds.table("option_series").num_rows == (310 if csv.exists() else 0)
