"""On-chain indexers against real EVMs: fixture contracts with the protocols' real ABIs on
py-evm (in process), reached directly and through a loopback proxy that injects faults.

One session-scoped chain (compiled and deployed once) serves every test here.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from eth_utils import keccak
from lending_checks import snapshot_health

from contagion import load_dataset
from indexers.aave_v3 import index_aave_v3
from indexers.abi import load_abi
from indexers.base import IndexContext, write_tables
from indexers.errors import BudgetExceededError, RpcError
from indexers.rpc import (
    Checkpoint,
    HttpTransport,
    LogRangeError,
    ProviderTransport,
    RetryPolicy,
    RpcClient,
    iter_logs,
    redact_url,
)

web3 = pytest.importorskip("web3")
pytest.importorskip("vyper")
pytest.importorskip("eth_tester")

from evm.chain import FixtureChain, shared_chain  # noqa: E402
from evm.faults import fault_proxy  # noqa: E402

# The real signatures, written out by hand: a selector or topic computed from the shipped
# ABI files must equal keccak of these, so a copy-paste error in a file cannot pass.
SIGNATURES = {
    "multicall3": ["aggregate3((address,bool,bytes)[])"],
    "aave_v3_pool": [
        "getReservesList()",
        "getUserAccountData(address)",
        "getUserEMode(address)",
        "getEModeCategoryData(uint8)",
        "event Supply(address,address,address,uint256,uint16)",
        "event Withdraw(address,address,address,uint256)",
        "event Borrow(address,address,address,uint256,uint8,uint256,uint16)",
        "event Repay(address,address,address,uint256,bool)",
        "event LiquidationCall(address,address,address,uint256,uint256,address,bool)",
        "event ReserveUsedAsCollateralEnabled(address,address)",
        "event ReserveUsedAsCollateralDisabled(address,address)",
    ],
    "aave_v3_data_provider": [
        "getReserveConfigurationData(address)",
        "getReserveTokensAddresses(address)",
        "getReserveCaps(address)",
        "getDebtCeiling(address)",
        "getLiquidationProtocolFee(address)",
        "getReserveEModeCategory(address)",
        "getUserReserveData(address,address)",
    ],
    "aave_v3_oracle": [
        "getSourceOfAsset(address)",
        "getAssetPrice(address)",
        "BASE_CURRENCY_UNIT()",
    ],
    "comet": [
        "numAssets()",
        "getAssetInfo(uint8)",
        "borrowBalanceOf(address)",
        "collateralBalanceOf(address,address)",
        "isLiquidatable(address)",
        "totalSupply()",
        "totalBorrow()",
        "targetReserves()",
        "getReserves()",
        "event Supply(address,address,uint256)",
        "event SupplyCollateral(address,address,address,uint256)",
        "event Withdraw(address,address,uint256)",
        "event WithdrawCollateral(address,address,address,uint256)",
        "event AbsorbDebt(address,address,uint256,uint256)",
        "event AbsorbCollateral(address,address,address,uint256,uint256)",
    ],
    "chainlink_aggregator": ["latestRoundData()", "decimals()", "description()"],
    "uniswap_v2_pair": ["token0()", "token1()", "getReserves()"],
    "uniswap_v3_pool": [
        "slot0()",
        "liquidity()",
        "fee()",
        "tickSpacing()",
        "tickBitmap(int16)",
        "ticks(int24)",
    ],
    "curve_stableswap": ["coins(uint256)", "balances(uint256)", "A()", "fee()"],
    "erc20": ["totalSupply()", "decimals()", "symbol()", "name()", "balanceOf(address)"],
}
# Published 4-byte values (Etherscan / 4byte.directory) for a spot check of the hashing.
KNOWN = {
    "aggregate3((address,bool,bytes)[])": "82ad56cb",
    "getUserAccountData(address)": "bf92857c",
    "latestRoundData()": "feaf968c",
    "getReserves()": "0902f1ac",
    "slot0()": "3850c7bd",
}


@pytest.mark.parametrize("contract", sorted(SIGNATURES))
def test_every_selector_and_topic_is_keccak_of_the_real_signature(contract: str) -> None:
    abi = load_abi(contract)
    for sig in SIGNATURES[contract]:
        if sig.startswith("event "):
            text = sig.removeprefix("event ")
            event = abi.event(text.split("(")[0])
            assert event.topic == "0x" + keccak(text=text).hex(), sig
        else:
            fn = abi.fn(sig.split("(")[0])
            assert fn.selector == keccak(text=sig)[:4], sig
            if sig in KNOWN:
                assert fn.selector.hex() == KNOWN[sig]


def test_redact_url_hides_keys_in_path_query_and_userinfo() -> None:
    url = "https://alice:pa55word@eth.example.org/v3/0123456789abcdef0123456789abcdef?apikey=XYZSECRET"
    clean = redact_url(url)
    for secret in ("pa55word", "alice", "0123456789abcdef0123456789abcdef", "XYZSECRET"):
        assert secret not in clean
    assert clean.startswith("https://***:***@eth.example.org/v3/***")


@pytest.fixture(scope="session")
def chain() -> FixtureChain:
    return shared_chain()


def _ctx(chain: FixtureChain, client: RpcClient, **kw: object) -> IndexContext:
    return IndexContext(
        client,
        chain.w3.eth.block_number,
        multicall_address=chain.multicall,
        **kw,  # type: ignore[arg-type]
    )


def _aave(chain: FixtureChain, client: RpcClient, **kw: object) -> dict[str, pa.Table]:
    tables, rec = index_aave_v3(
        _ctx(chain, client, **kw),
        pool=chain.pool,
        data_provider=chain.data_provider,
        oracle=chain.oracle,
    )
    assert rec.ok, rec.summary()
    return tables


@pytest.fixture(scope="session")
def clean_aave(chain: FixtureChain) -> dict[str, pa.Table]:
    return _aave(chain, RpcClient(ProviderTransport(chain.w3)), batch_size=40)


def _rows(tables: dict[str, pa.Table]) -> dict[str, list[dict[str, object]]]:
    return {k: sorted(map(repr, t.to_pylist())) for k, t in tables.items()}  # type: ignore[misc]


def test_aave_positions_match_the_contracts(
    chain: FixtureChain, clean_aave: dict[str, pa.Table]
) -> None:
    pos = clean_aave["lending_positions"].to_pylist()
    accounts = {p["account"] for p in pos}
    assert chain.users[0].lower() in accounts and chain.liquidated.lower() in accounts
    dp = chain.contract("AaveDataProvider", chain.data_provider)
    for p in pos[:12]:
        asset = web3.Web3.to_checksum_address(p["asset_id"].split(":")[1])
        user = web3.Web3.to_checksum_address(p["account"])
        data = dp.functions.getUserReserveData(asset, user).call()
        assert int(p["collateral_amount_raw"]) == data[0]
        assert int(p["debt_amount_raw"]) == data[1] + data[2]
    looper = chain.users[-1].lower()
    assert {p["emode_category"] for p in pos if p["account"] == looper} == {1}


def test_solver_health_factors_equal_get_user_account_data(
    chain: FixtureChain, clean_aave: dict[str, pa.Table], tmp_path: Path
) -> None:
    ds = write_tables(tmp_path / "ds", clean_aave)
    again = load_dataset(tmp_path / "ds")
    assert again.row_counts() == ds.row_counts()
    engine, lr = snapshot_health(again)
    book = engine.world.lending
    pool = chain.contract("AavePool", chain.pool)
    checked = 0
    for loan, account in enumerate(book.loan_account):
        hf = pool.functions.getUserAccountData(web3.Web3.to_checksum_address(account)).call()[5]
        if hf == 2**256 - 1:
            assert np.isinf(lr.health_factor[loan])
            continue
        assert lr.health_factor[loan] == pytest.approx(hf / 1e18, rel=1e-7)
        checked += 1
    assert checked >= 15
    assert (lr.health_factor < 1).any() == (
        min(
            pool.functions.getUserAccountData(web3.Web3.to_checksum_address(a)).call()[5]
            for a in book.loan_account
        )
        < 10**18
    )


def test_same_output_through_a_proxy_that_drops_stalls_429s_and_truncates(
    chain: FixtureChain, clean_aave: dict[str, pa.Table]
) -> None:
    # eth_getLogs on py-evm takes seconds, hence the long timeout and stall.
    schedule = ["ok", "drop", "ok", "stall", "429", "ok", "truncate", "503", "ok", "ok", "ok"]
    with fault_proxy(ProviderTransport(chain.w3), schedule, stall_s=6.5) as proxy:
        client = RpcClient(
            HttpTransport(proxy.url + "/v3/" + "k" * 32, timeout=6.0),
            retry=RetryPolicy(max_attempts=10, base_delay=0.001, max_delay=0.01),
            seed=3,
        )
        tables = _aave(chain, client, batch_size=40)
    assert all(proxy.faults.get(f, 0) >= 1 for f in ("drop", "stall", "429", "truncate", "503"))
    assert client.stats.retries >= 5
    assert _rows(tables) == _rows(clean_aave)


def test_errors_never_show_the_key_and_the_budget_stops_the_run(chain: FixtureChain) -> None:
    secret = "s3cr3tKEY0123456789abcdef"
    with fault_proxy(ProviderTransport(chain.w3), ["503"]) as proxy:
        client = RpcClient(
            HttpTransport(f"{proxy.url}/v2/{secret}", timeout=0.5),
            retry=RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0),
        )
        with pytest.raises(RpcError) as info:
            client.chain_id()
        assert secret not in str(info.value) and "***" in str(info.value)
        budget = RpcClient(HttpTransport(f"{proxy.url}/v2/{secret}"), max_requests=2)
        with pytest.raises(BudgetExceededError) as info2:
            budget.block_number()
        assert secret not in str(info2.value)
        assert budget.stats.requests == 2


def test_backoff_waits_grow_with_seeded_jitter(chain: FixtureChain) -> None:
    waits: list[float] = []
    with fault_proxy(ProviderTransport(chain.w3), ["429", "429", "429", "429", "ok"]) as proxy:
        client = RpcClient(
            HttpTransport(proxy.url),
            retry=RetryPolicy(max_attempts=6, base_delay=0.1, max_delay=0.25),
            seed=11,
            sleep=waits.append,
        )
        assert client.chain_id() == chain.w3.eth.chain_id
    caps = [0.1, 0.2, 0.25, 0.25]
    assert len(waits) == 4 and all(0 <= w <= c for w, c in zip(waits, caps, strict=True))
    assert len(set(waits)) == 4


class _RangeLimited(ProviderTransport):
    """The in-process node, refusing eth_getLogs over more than ``limit`` blocks."""

    def __init__(self, w3: object, limit: int) -> None:
        super().__init__(w3)
        self.limit = limit

    def send(self, body: bytes) -> bytes:
        import json

        req = json.loads(body)
        if req["method"] == "eth_getLogs":
            q = req["params"][0]
            if int(q["toBlock"], 16) - int(q["fromBlock"], 16) + 1 > self.limit:
                return json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": req["id"],
                        "error": {
                            "code": -32005,
                            "message": "query returned more than 10000 results",
                        },
                    }
                ).encode()
        return super().send(body)


def test_log_scan_halves_refused_ranges_without_gaps(chain: FixtureChain) -> None:
    client = RpcClient(_RangeLimited(chain.w3, limit=7))
    pool_abi = load_abi("aave_v3_pool")
    topics = [pool_abi.event("Supply").topic]
    end = chain.w3.eth.block_number
    spans = [(lo, hi) for lo, hi, _ in iter_logs(client, [chain.pool], topics, 0, end, chunk=64)]
    assert spans[0][0] == 0 and spans[-1][1] == end
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(spans))
    assert max(hi - lo + 1 for lo, hi in spans) <= 7
    whole = RpcClient(ProviderTransport(chain.w3))
    ((_, _, all_logs),) = list(iter_logs(whole, [chain.pool], topics, 0, end, chunk=10**6))
    chunked = [
        log
        for _, _, logs in iter_logs(client, [chain.pool], topics, 0, end, chunk=64)
        for log in logs
    ]
    assert len(chunked) == len(all_logs) > 0
    with pytest.raises(LogRangeError):
        list(iter_logs(RpcClient(_RangeLimited(chain.w3, limit=0)), [chain.pool], topics, 0, 3))


def test_interrupted_run_resumes_from_its_checkpoint(
    chain: FixtureChain, clean_aave: dict[str, pa.Table], tmp_path: Path
) -> None:
    folder = tmp_path / "cp"
    first = RpcClient(ProviderTransport(chain.w3), max_requests=9)
    with pytest.raises(BudgetExceededError):
        _aave(chain, first, batch_size=20, log_chunk=20, checkpoint_dir=folder)
    lines = (folder / "batches.jsonl").read_text().splitlines()
    assert lines, "the first run should have recorded completed batches"
    # A kill during an append leaves half a line: it must be ignored, not mixed in.
    with (folder / "batches.jsonl").open("a") as fh:
        fh.write('{"k": "abc", "r": ["00')
    second = RpcClient(ProviderTransport(chain.w3))
    tables = _aave(chain, second, batch_size=20, log_chunk=20, checkpoint_dir=folder)
    assert _rows(tables) == _rows(clean_aave)
    fresh = RpcClient(ProviderTransport(chain.w3))
    _aave(chain, fresh, batch_size=20, log_chunk=20)
    assert second.stats.requests < fresh.stats.requests
    # A checkpoint of another run (other block) is discarded, not mixed in.
    other = Checkpoint(folder, {"something": "else"})
    assert not other.resumed and other.accounts == []
    assert re.match(r"^\d+$", str(clean_aave["lending_positions"].num_rows))
