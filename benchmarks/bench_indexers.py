"""Benchmark: Aave v3 positions indexed over HTTP from a local node, against a naive loop.

A ganache node (``.ci/node``, installed by ``.ci/run``) on loopback gets the fixture
contracts of the indexer tests and ``accounts`` extra borrowers added in bulk (two positions
each). Then, in the same run and against the same block:

* the indexer: ``index_aave_v3`` end to end (reserves, feeds, the event scan, every account's
  data and positions through Multicall3 ``aggregate3``, transform, reconciliation);
* the same ``getUserReserveData`` calls alone through Multicall3 (batching without the rest);
* the naive loop: one ``eth_call`` of ``getUserReserveData`` per (account, reserve), the
  accounts taken from the indexer's own scan (so the loop does strictly less work).

Figures: positions (non-empty account x reserve rows) per second of wall time and per
JSON-RPC request. Targets: at least 100 positions per request and 2,000 positions/s.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _nonzero(values: tuple[object, ...]) -> int:
    """1 when a getUserReserveData answer holds a supply or a debt."""
    return int(any(values[:3]))


def run(accounts: int = 1_500, batch_size: int = 500) -> dict[str, float]:
    """Deploy, add ``accounts`` borrowers, time both readers; print and return the figures."""
    sys.path.insert(0, str(ROOT / "tests"))
    from evm.chain import add_borrowers, build_chain
    from evm.ganache import BINARY, ganache, ganache_binary
    from web3 import HTTPProvider, Web3

    from indexers.aave_v3 import index_aave_v3
    from indexers.abi import load_abi
    from indexers.base import IndexContext
    from indexers.rpc import Call, HttpTransport, Multicall, RpcClient

    if ganache_binary() is None:
        print(f"indexers: skipped, ganache is not installed at {BINARY} (run .ci/run)")
        return {}
    with ganache() as url:
        start = time.perf_counter()
        chain = build_chain(Web3(HTTPProvider(url)))
        add_borrowers(chain, accounts)
        block = chain.w3.eth.block_number
        print(
            f"indexers: fixture chain with {len(chain.users):,} Aave accounts deployed on "
            f"ganache in {time.perf_counter() - start:.1f} s (not part of the figures)"
        )

        client = RpcClient(HttpTransport(url))
        ctx = IndexContext(
            client,
            block,
            batch_size=batch_size,
            log_chunk=100_000,
            multicall_address=chain.multicall,
        )
        start = time.perf_counter()
        tables, rec = index_aave_v3(
            ctx, pool=chain.pool, data_provider=chain.data_provider, oracle=chain.oracle
        )
        fast_s = time.perf_counter() - start
        positions = tables["lending_positions"].num_rows
        fast_req = client.stats.requests
        if not rec.ok:
            raise RuntimeError(rec.summary())

        fn = load_abi("aave_v3_data_provider").fn("getUserReserveData")
        reserves = chain.contract("AavePool", chain.pool).functions.getReservesList().call()
        users = sorted(set(tables["lending_positions"].column("account").to_pylist()))
        pairs = [(u, r) for u in users for r in reserves]

        batched = RpcClient(HttpTransport(url))
        reader = Multicall(batched, block, address=chain.multicall, batch_size=batch_size)
        start = time.perf_counter()
        out = reader.run([Call(chain.data_provider, fn.encode(r, u)) for u, r in pairs])
        batched_found = sum(_nonzero(fn.decode(d)) for d in out if d is not None)
        batched_s = time.perf_counter() - start

        naive = RpcClient(HttpTransport(url))
        start = time.perf_counter()
        found = 0
        for user, reserve in pairs:
            found += _nonzero(
                fn.decode(naive.eth_call(chain.data_provider, fn.encode(reserve, user), block))
            )
        naive_s = time.perf_counter() - start
        naive_req = naive.stats.requests
    if not found == batched_found == positions:
        raise RuntimeError(
            f"positions found: indexer {positions}, batched {batched_found}, naive {found}"
        )
    figures = {
        "positions": positions,
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
    print(
        f"indexers: {positions:,} positions of {len(users):,} accounts, Multicall3 batches of "
        f"{batch_size}\n"
        f"  indexer     {fast_s:7.2f} s  {fast_req:6,} requests  "
        f"{positions / fast_s:9,.0f} positions/s  {positions / fast_req:7.1f} positions/request\n"
        f"  balances through Multicall3 only (the naive loop's calls, batched)\n"
        f"              {batched_s:7.2f} s  {batched.stats.requests:6,} requests  "
        f"{positions / batched_s:9,.0f} positions/s  "
        f"{positions / batched.stats.requests:7.1f} positions/request\n"
        f"  naive loop  {naive_s:7.2f} s  {naive_req:6,} requests  "
        f"{found / naive_s:9,.0f} positions/s  {found / naive_req:7.2f} positions/request\n"
        f"  targets: >= 100 positions/request "
        f"({'met' if positions / fast_req >= 100 else 'MISSED'}), >= 2,000 positions/s "
        f"({'met' if positions / fast_s >= 2_000 else 'MISSED'})"
    )
    return figures
