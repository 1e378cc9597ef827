"""Compound III, Uniswap v2/v3 and Curve indexers against the fixture chain on py-evm, and the
Deribit importer against the real book-summary export.

The fixture chain is built once per test process (:func:`evm.chain.shared_chain`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from contagion import load_dataset
from contagion.engine import build_engine
from contagion.lending.engine import LendingParams, LendingState, lending_round
from contagion.oracles import FeedState
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


def test_solver_comet_liquidatability_equals_is_liquidatable(
    chain: FixtureChain, comet_tables: dict[str, pa.Table], tmp_path: Path
) -> None:
    write_tables(tmp_path / "ds", comet_tables)
    engine = build_engine(load_dataset(tmp_path / "ds"))
    book = engine.world.lending
    op = FeedState.initial(engine.feeds).answer[engine.position_feed]
    _, lr = lending_round(
        book,
        LendingState.initial(book, len(engine.world.assets)),
        op,
        op,
        engine.world.assets.price,
        engine.liquidation_depth_usd,
        LendingParams(liquidations_enabled=False),
    )
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
