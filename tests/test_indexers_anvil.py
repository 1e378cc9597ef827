"""The indexers over HTTP JSON-RPC against a second real node on loopback (anvil, Foundry's
node, the one the indexer benchmark reaches its throughput on), with Multicall3 requests in
flight.

anvil comes from the npm registry (``.ci/run`` installs it into ``.ci/node``); where it is
absent these tests skip and say so.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

web3 = pytest.importorskip("web3")
pytest.importorskip("vyper")

from evm.anvil import BINARY, anvil, anvil_binary  # noqa: E402
from evm.chain import FixtureChain, build_chain  # noqa: E402
from test_indexers_ganache import every_indexer_agrees_with_the_node, index_cmd  # noqa: E402

pytestmark = pytest.mark.skipif(
    anvil_binary() is None,
    reason=f"anvil is not installed at {BINARY} nor on PATH (.ci/run installs it with "
    "`npm install --prefix .ci/node @foundry-rs/anvil-linux-amd64`)",
)


@pytest.fixture(scope="module")
def node() -> Iterator[tuple[str, FixtureChain]]:
    with anvil() as url:
        yield url, build_chain(web3.Web3(web3.HTTPProvider(url)))


def test_every_indexer_agrees_with_anvil_with_requests_in_flight(
    node: tuple[str, FixtureChain], tmp_path: Path
) -> None:
    every_indexer_agrees_with_the_node(*node, tmp_path, concurrency=3)


def test_the_cli_writes_the_same_dataset_whatever_the_concurrency(
    node: tuple[str, FixtureChain], tmp_path: Path
) -> None:
    url, chain = node
    outputs = []
    for concurrency in (1, 4):
        out = tmp_path / f"c{concurrency}"
        cmd = [*index_cmd(url, chain, out), "--concurrency", str(concurrency)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        outputs.append({p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*.parquet"))})
    assert outputs[0] and outputs[0] == outputs[1]
