"""The indexers over HTTP JSON-RPC against a real node process on loopback (ganache), and a
run killed with SIGKILL mid-way that, restarted, writes the same dataset.

ganache comes from the npm registry (``.ci/run`` installs it into ``.ci/node``); where it is
absent these tests skip and say so.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from contagion import load_dataset
from indexers.aave_v3 import index_aave_v3
from indexers.base import IndexContext, write_tables
from indexers.compound_v3 import index_compound_v3
from indexers.curve import index_curve
from indexers.registry import IndexOptions, run_source
from indexers.rpc import HttpTransport, RpcClient
from indexers.uniswap_v2 import index_uniswap_v2
from indexers.uniswap_v3 import index_uniswap_v3

web3 = pytest.importorskip("web3")
pytest.importorskip("vyper")

from evm.chain import FixtureChain, build_chain  # noqa: E402
from evm.ganache import BINARY, ganache, ganache_binary  # noqa: E402

pytestmark = pytest.mark.skipif(
    ganache_binary() is None,
    reason=f"ganache is not installed at {BINARY} (.ci/run installs it with "
    "`npm install --prefix .ci/node ganache@7`)",
)


@pytest.fixture(scope="module")
def node() -> Iterator[tuple[str, FixtureChain]]:
    with ganache() as url:
        yield url, build_chain(web3.Web3(web3.HTTPProvider(url)))


def _ctx(url: str, chain: FixtureChain, **kw: object) -> IndexContext:
    return IndexContext(
        RpcClient(HttpTransport(url, timeout=30)),
        chain.w3.eth.block_number,
        multicall_address=chain.multicall,
        **kw,  # type: ignore[arg-type]
    )


def test_every_indexer_over_http_agrees_with_the_node(
    node: tuple[str, FixtureChain], tmp_path: Path
) -> None:
    every_indexer_agrees_with_the_node(*node, tmp_path)


def every_indexer_agrees_with_the_node(
    url: str, chain: FixtureChain, tmp_path: Path, concurrency: int = 1
) -> None:
    """Index every source from the node at ``url``; check the output against the node."""
    ctx = _ctx(url, chain, batch_size=100, concurrency=concurrency)
    aave, aave_rec = index_aave_v3(
        ctx, pool=chain.pool, data_provider=chain.data_provider, oracle=chain.oracle
    )
    comet, comet_rec = index_compound_v3(
        _ctx(url, chain, batch_size=100, concurrency=concurrency), comet=chain.comet
    )
    # The protocols' own totals and health verdicts, read from the node, agree.
    assert aave_rec.ok and comet_rec.ok, aave_rec.summary() + comet_rec.summary()
    assert aave_rec.accounts_checked >= len(chain.users) and comet_rec.accounts_checked > 10
    pools = _ctx(url, chain, batch_size=300)
    parts: list[dict[str, pa.Table]] = [
        aave,
        comet,
        index_uniswap_v2(pools, pairs=[chain.v2_pair]),
        index_uniswap_v3(pools, pools=[chain.v3_pool]),
        index_curve(
            pools,
            pools=[chain.curve_pool],
            prices={chain.tokens["DAI"]: 1.0, chain.tokens["USDT"]: 1.0},
        ),
    ]
    for tables in parts:
        write_tables(tmp_path / "ds", tables)
    ds = load_dataset(tmp_path / "ds")
    assert ds.table("pool_ticks").num_rows == 8
    dp = chain.contract("AaveDataProvider", chain.data_provider)
    for p in ds.table("lending_positions").to_pylist()[:10]:
        if p["protocol_id"].startswith("aave"):
            asset = web3.Web3.to_checksum_address(p["asset_id"].split(":")[1])
            data = dp.functions.getUserReserveData(
                asset, web3.Web3.to_checksum_address(p["account"])
            ).call()
            assert int(p["collateral_amount_raw"]) == data[0]
    slot0 = chain.contract("UniswapV3Pool", chain.v3_pool).functions.slot0().call()
    (v3,) = [p for p in ds.table("pools").to_pylist() if p["kind"] == "concentrated-liquidity"]
    assert int(v3["sqrt_price_x96_raw"]) == slot0[0]
    assert ctx.client.stats.retries == 0


def index_cmd(url: str, chain: FixtureChain, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "contagion.cli",
        "index",
        "aave-v3",
        "--rpc-url",
        url,
        "--block",
        str(chain.w3.eth.block_number),
        "--out",
        str(out),
        "--from-block",
        "0",
        "--address",
        f"pool={chain.pool}",
        "--address",
        f"data_provider={chain.data_provider}",
        "--address",
        f"oracle={chain.oracle}",
        "--multicall",
        chain.multicall,
        "--batch-size",
        "3",
        "--log-chunk",
        "1",
    ]


def _progress(folder: Path) -> tuple[int | None, int]:
    """(last block scanned, completed Multicall3 batches) of a run's checkpoint."""
    try:
        state = json.loads((folder / "state.json").read_text())
        batches = (folder / "batches.jsonl").read_text().count("\n")
    except (OSError, json.JSONDecodeError):
        return None, 0
    return state.get("scanned_to"), batches


def test_sigkill_mid_run_then_restart_gives_the_same_dataset(
    node: tuple[str, FixtureChain], tmp_path: Path
) -> None:
    url, chain = node
    # The uninterrupted reference, in process and in large batches: the rows must not
    # depend on the batch size either.
    clean_client = RpcClient(HttpTransport(url))
    run_source(
        "aave-v3",
        tmp_path / "clean",
        IndexOptions(
            addresses=(
                f"pool={chain.pool}",
                f"data_provider={chain.data_provider}",
                f"oracle={chain.oracle}",
            ),
            from_block=0,
        ),
        client=clean_client,
        block=chain.w3.eth.block_number,
        multicall=chain.multicall,
    )

    out = tmp_path / "ds"
    checkpoint = out / ".checkpoint" / f"aave-v3-{chain.pool.lower()}"
    kills: list[tuple[int | None, int]] = []
    # Kill once during the log scan, once during the account reads (Multicall3 batches).
    for phase in ("scan", "batches"):
        proc = subprocess.Popen(
            index_cmd(url, chain, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            scanned, batches = _progress(checkpoint)
            if phase == "scan" and scanned is not None and scanned > 10:
                break
            done_scan = scanned == chain.w3.eth.block_number
            if phase == "batches" and done_scan and batches >= kills[0][1] + 5:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills.append(_progress(checkpoint))
        # Nothing but the checkpoint: no partial dataset.
        assert sorted(p.name for p in out.iterdir()) == [".checkpoint"]
    assert kills[0][0] is not None and kills[1][1] > kills[0][1]
    assert kills[1][0] == chain.w3.eth.block_number
    rest = subprocess.run(index_cmd(url, chain, out), capture_output=True, text=True, check=False)
    assert rest.returncode == 0, rest.stderr
    # It resumed rather than started over: with --log-chunk 1 a fresh run needs one
    # eth_getLogs per block before any account read; the resumed one skips the whole scan.
    assert _requests(rest.stderr) < chain.w3.eth.block_number
    a, b = load_dataset(tmp_path / "clean"), load_dataset(out)
    for name, table in a.tables.items():
        assert (
            b.table(name)
            .sort_by([(k, "ascending") for k in _key(name)])
            .equals(table.sort_by([(k, "ascending") for k in _key(name)]))
        ), name
    positions = b.table("lending_positions")
    keys = set(
        zip(
            positions.column("account").to_pylist(),
            positions.column("asset_id").to_pylist(),
            strict=True,
        )
    )
    assert len(keys) == positions.num_rows > 20  # no duplicates, none missing (equal above)


def _requests(stderr: str) -> int:
    line = next(x for x in stderr.splitlines() if " requests (" in x)
    return int(line.split()[0].replace(",", ""))


def _key(name: str) -> tuple[str, ...]:
    from contagion.schema import TABLES

    return TABLES[name].key
