"""Benchmark: Aave v3 positions indexed over HTTP from a local node, against a naive loop.

Each local node that is installed (ganache, ``.ci/node``, installed by ``.ci/run``; anvil,
Foundry's node, where present) gets the fixture contracts of the indexer tests and
``accounts`` extra borrowers added in bulk (two positions each). Then, in the same run and
against the same block:

* the node's own cost: one ``aggregate3`` ``eth_call`` of a single ``getUserReserveData`` and
  one of a full batch, and the gas a batch uses (what the node spends per contract call,
  independent of the client);
* the indexer: ``index_aave_v3`` end to end (reserves, feeds, the event scan, every account's
  data and positions through Multicall3 ``aggregate3``, ``concurrency`` batches in flight,
  transform, reconciliation);
* the same ``getUserReserveData`` calls alone through Multicall3 (batching without the rest);
* the naive loop: one ``eth_call`` of ``getUserReserveData`` per (account, reserve), the
  accounts taken from the indexer's own scan (so the loop does strictly less work).

Figures: positions (non-empty account x reserve rows) per second of wall time and per
JSON-RPC request. Targets: at least 100 positions per request and 2,000 positions/s.

Why ganache cannot reach 2,000 positions/s: a position costs about three contract calls
(two ``getUserReserveData``, half of ``getUserEMode`` and ``getUserAccountData``), so the
target needs about 0.16 ms of node time per call. ganache 7 executes a
``getUserReserveData`` (about 1,270 EVM steps, 22 ``SLOAD``, 10 ``STATICCALL``) in 13-16 ms
inside one ``aggregate3``: every ``SLOAD`` of an ``eth_call`` walks the storage trie
through LevelDB (about 0.4 ms, warm slot or not), every step goes through an asynchronous
``step`` event that ganache attaches to each ``eth_call`` to detect ``console.log`` (no
option turns it off), and a step costs about 6 us. Pinning the block or not, a database on
tmpfs, and more requests in flight (the node is single-threaded) change this by 15% at most.
anvil (Rust EVM) answers the same call in about 0.04 ms, where the client's own encoding and
decoding decide the rate.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NODES = ("ganache", "anvil")


def _nonzero(values: tuple[object, ...]) -> int:
    """1 when a getUserReserveData answer holds a supply or a debt."""
    return int(any(values[:3]))


def _node(name: str) -> tuple[Callable[[], AbstractContextManager[str]] | None, str]:
    """The node's launcher (None if not installed) and where it is looked for."""
    sys.path.insert(0, str(ROOT / "tests"))
    if name == "ganache":
        from evm.ganache import BINARY, ganache, ganache_binary

        return (ganache if ganache_binary() is not None else None), f"{BINARY}"
    from evm.anvil import BINARY as ANVIL
    from evm.anvil import anvil, anvil_binary

    return (anvil if anvil_binary() is not None else None), f"{ANVIL} or PATH"


def run(
    accounts: int = 1_500,
    batch_size: int = 500,
    concurrency: int = 2,
    nodes: tuple[str, ...] = NODES,
) -> dict[str, dict[str, float]]:
    """Per installed node: deploy, add ``accounts`` borrowers, time the readers; print and
    return the figures by node."""
    figures: dict[str, dict[str, float]] = {}
    for name in nodes:
        launcher, where = _node(name)
        if launcher is None:
            print(f"indexers on {name}: skipped, not installed at {where}")
            continue
        with launcher() as url:
            figures[name] = _run_node(url, accounts, batch_size, concurrency)
    return figures


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _run_node(url: str, accounts: int, batch_size: int, concurrency: int) -> dict[str, float]:
    from evm.chain import add_borrowers, build_chain
    from web3 import HTTPProvider, Web3

    from indexers.aave_v3 import index_aave_v3
    from indexers.abi import load_abi
    from indexers.base import IndexContext
    from indexers.rpc import Call, HttpTransport, Multicall, RpcClient
    from indexers.rpc.multicall import encode_aggregate3

    probe = RpcClient(HttpTransport(url))
    version = str(probe.call("web3_clientVersion", []))
    chain, deploy_s = _timed(lambda: build_chain(Web3(HTTPProvider(url))))
    _, add_s = _timed(lambda: add_borrowers(chain, accounts))
    block = chain.w3.eth.block_number
    print(
        f"indexers on {version}: fixture chain with {len(chain.users):,} Aave accounts "
        f"deployed in {deploy_s + add_s:.1f} s (not part of the figures)"
    )

    fn = load_abi("aave_v3_data_provider").fn("getUserReserveData")
    reserves = [
        str(r).lower()
        for r in chain.contract("AavePool", chain.pool).functions.getReservesList().call()
    ]
    dp = chain.data_provider.lower()
    probe_calls = [
        Call(dp, fn.encode(r, u.lower())) for u in chain.users[:batch_size] for r in reserves
    ][:batch_size]
    cost: dict[int, float] = {}
    for n in (1, len(probe_calls)):
        one = Multicall(probe, block, address=chain.multicall, batch_size=n)
        one.run(probe_calls[:n])  # warm the node's caches of this block's state
        cost[n] = _timed(partial(one.run, probe_calls[:n]))[1]
    tx = {
        "to": chain.multicall,
        "data": "0x" + encode_aggregate3(probe_calls).hex(),
    }
    gas = int(probe.call("eth_estimateGas", [tx, hex(block)]), 16)

    client = RpcClient(HttpTransport(url))
    ctx = IndexContext(
        client,
        block,
        batch_size=batch_size,
        log_chunk=100_000,
        multicall_address=chain.multicall,
        concurrency=concurrency,
    )
    (tables, rec), fast_s = _timed(
        lambda: index_aave_v3(
            ctx, pool=chain.pool, data_provider=chain.data_provider, oracle=chain.oracle
        )
    )
    positions = tables["lending_positions"].num_rows
    fast_req = client.stats.requests
    if not rec.ok:
        raise RuntimeError(rec.summary())

    users = sorted(set(tables["lending_positions"].column("account").to_pylist()))
    pairs = [(u, r) for u in users for r in reserves]
    batched = RpcClient(HttpTransport(url))
    reader = Multicall(
        batched, block, address=chain.multicall, batch_size=batch_size, workers=concurrency
    )

    def balances() -> int:
        out = reader.run([Call(dp, fn.encode(r, u)) for u, r in pairs])
        return sum(_nonzero(fn.decode(d)) for d in out if d is not None)

    batched_found, batched_s = _timed(balances)

    naive = RpcClient(HttpTransport(url))

    def loop() -> int:
        return sum(
            _nonzero(fn.decode(naive.eth_call(dp, fn.encode(reserve, user), block)))
            for user, reserve in pairs
        )

    found, naive_s = _timed(loop)
    naive_req = naive.stats.requests
    if not found == batched_found == positions:
        raise RuntimeError(
            f"positions found: indexer {positions}, batched {batched_found}, naive {found}"
        )
    n_probe = len(probe_calls)
    figures = {
        "positions": positions,
        "node_ms_per_call_batched": cost[n_probe] / n_probe * 1e3,
        "node_ms_batch_of_one": cost[1] * 1e3,
        "gas_per_call_batched": gas / n_probe,
        "indexer_s": fast_s,
        "indexer_requests": fast_req,
        "indexer_positions_per_s": positions / fast_s,
        "indexer_positions_per_request": positions / fast_req,
        "balances_batched_s": batched_s,
        "balances_batched_requests": batched.stats.requests,
        "naive_s": naive_s,
        "naive_requests": naive_req,
        "naive_positions_per_s": found / naive_s,
        "naive_positions_per_request": found / naive_req,
    }
    print("\n".join(_lines(figures, len(users), batch_size, concurrency)))
    return figures


def _lines(f: dict[str, float], accounts: int, batch: int, concurrency: int) -> Iterator[str]:
    per_s, per_req = f["indexer_positions_per_s"], f["indexer_positions_per_request"]
    yield (
        f"  node: getUserReserveData through aggregate3 costs "
        f"{f['node_ms_per_call_batched']:.2f} ms per call in a batch of {batch} "
        f"({f['gas_per_call_batched']:,.0f} gas per call); a batch of one takes "
        f"{f['node_ms_batch_of_one']:.1f} ms"
    )
    yield (
        f"  {f['positions']:,.0f} positions of {accounts:,} accounts, Multicall3 batches of "
        f"{batch}, {concurrency} in flight"
    )
    rows = [
        ("indexer", f["indexer_s"], f["indexer_requests"], f["positions"]),
        ("balances", f["balances_batched_s"], f["balances_batched_requests"], f["positions"]),
        ("naive loop", f["naive_s"], f["naive_requests"], f["positions"]),
    ]
    for label, seconds, requests, n in rows:
        yield (
            f"  {label:<11} {seconds:8.2f} s  {requests:6,.0f} requests  "
            f"{n / seconds:9,.0f} positions/s  {n / requests:7.2f} positions/request"
        )
    yield (
        "  (balances: the naive loop's calls alone, batched through Multicall3)\n"
        f"  targets: >= 100 positions/request ({'met' if per_req >= 100 else 'MISSED'}), "
        f">= 2,000 positions/s ({'met' if per_s >= 2_000 else 'MISSED'})"
    )
