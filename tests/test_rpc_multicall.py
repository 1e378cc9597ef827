"""Multicall3 batching: the aggregate3 codec against eth_abi, and batches read by a pool of
requests in flight that give the same results, checkpoints and budget stops as one request
after the other, against the fixture chain on py-evm (directly and through the fault proxy).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from eth_abi import decode, encode

from indexers.abi import load_abi
from indexers.errors import BudgetExceededError
from indexers.rpc import Call, Checkpoint, HttpTransport, Multicall, ProviderTransport, RpcClient
from indexers.rpc.client import RetryPolicy
from indexers.rpc.multicall import decode_aggregate3, encode_aggregate3

web3 = pytest.importorskip("web3")
pytest.importorskip("vyper")
pytest.importorskip("eth_tester")

from evm.chain import FixtureChain, shared_chain  # noqa: E402
from evm.faults import fault_proxy  # noqa: E402

_AGG = load_abi("multicall3").fn("aggregate3")
_UR = load_abi("aave_v3_data_provider").fn("getUserReserveData")


def _random_calls(rng: np.random.Generator, n: int) -> list[Call]:
    return [
        Call(
            "0x" + bytes(rng.integers(0, 256, 20, dtype=np.uint8)).hex(),
            bytes(rng.integers(0, 256, int(rng.integers(0, 100)), dtype=np.uint8)),
        )
        for _ in range(n)
    ]


def test_aggregate3_call_data_is_the_abi_encoding() -> None:
    rng = np.random.default_rng(1)
    for n in (0, 1, 2, 17, 64):
        calls = _random_calls(rng, n)
        expected = _AGG.selector + encode(
            ["(address,bool,bytes)[]"], [[(c.target, True, c.data) for c in calls]]
        )
        assert encode_aggregate3(calls) == expected
    checksummed = Call("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", b"\x01\x02")
    assert encode_aggregate3([checksummed]) == encode_aggregate3(
        [Call(checksummed.target.lower(), checksummed.data)]
    )


def test_aggregate3_answers_decode_as_eth_abi_does() -> None:
    rng = np.random.default_rng(2)
    for n in (0, 1, 3, 50):
        results = [
            (bool(rng.integers(2)), bytes(rng.integers(0, 256, int(rng.integers(0, 300)), "u1")))
            for _ in range(n)
        ]
        raw = encode(["(bool,bytes)[]"], [results])
        (expected,) = decode(["(bool,bytes)[]"], raw)
        assert decode_aggregate3(raw) == [d if ok else None for ok, d in expected]


_RAW = encode(["(bool,bytes)[]"], [[(True, b"\x01" * 40), (False, b"")]])
_WORDS = [_RAW[i : i + 32] for i in range(0, len(_RAW), 32)]


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(_RAW[: len(_RAW) - 32], id="cut short"),
        pytest.param(_RAW[:100], id="cut in a word"),
        pytest.param(b"".join([*_WORDS[:4], (2).to_bytes(32, "big"), *_WORDS[5:]]), id="flag 2"),
        pytest.param(
            b"".join([*_WORDS[:2], (10**6).to_bytes(32, "big"), *_WORDS[3:]]), id="far offset"
        ),
        pytest.param(
            b"".join([*_WORDS[:1], (2**200).to_bytes(32, "big"), *_WORDS[2:]]), id="huge length"
        ),
        pytest.param(_RAW[:-1] + b"\x07", id="dirty padding"),
        pytest.param(b"", id="empty"),
    ],
)
def test_malformed_answers_are_refused_as_eth_abi_refuses_them(bad: bytes) -> None:
    with pytest.raises(ValueError):
        decode_aggregate3(bad)
    with pytest.raises(Exception):  # noqa: B017 - eth_abi's errors vary by case
        decode(["(bool,bytes)[]"], bad)


@pytest.fixture(scope="module")
def chain() -> FixtureChain:
    return shared_chain()


def _calls(chain: FixtureChain) -> list[Call]:
    reserves = chain.contract("AavePool", chain.pool).functions.getReservesList().call()
    return [
        Call(chain.data_provider.lower(), _UR.encode(r.lower(), u.lower()))
        for u in chain.users
        for r in reserves
    ]


def _reader(
    chain: FixtureChain, client: RpcClient, workers: int, checkpoint: Checkpoint | None = None
) -> tuple[Multicall, list[int]]:
    sizes: list[int] = []
    mc = Multicall(
        client,
        chain.w3.eth.block_number,
        address=chain.multicall,
        batch_size=7,
        checkpoint=checkpoint,
        on_batch=sizes.append,
        workers=workers,
    )
    return mc, sizes


def test_batches_in_flight_give_the_results_of_one_after_the_other(
    chain: FixtureChain, tmp_path: Path
) -> None:
    calls = _calls(chain)
    one, one_sizes = _reader(chain, RpcClient(ProviderTransport(chain.w3)), 1)
    expected = one.run(calls)
    assert len(expected) == len(calls) > 50
    assert sum(_UR.decode(d)[0] > 0 for d in expected if d is not None) >= len(chain.users) - 1
    cp = Checkpoint(tmp_path / "cp", {"run": "pool"})
    client = RpcClient(ProviderTransport(chain.w3))
    pool, sizes = _reader(chain, client, 4, cp)
    assert pool.run(calls) == expected
    assert sizes == one_sizes and sum(sizes) == len(calls)
    batches = -(-len(calls) // 7)
    assert client.stats.requests == batches == cp.batches_done
    # Every batch is now in the checkpoint: a rerun reads nothing.
    again = RpcClient(ProviderTransport(chain.w3))
    rerun, _ = _reader(chain, again, 4, Checkpoint(tmp_path / "cp", {"run": "pool"}))
    assert rerun.run(calls) == expected and again.stats.requests == 0


def test_a_budget_stop_in_flight_resumes_to_the_same_results(
    chain: FixtureChain, tmp_path: Path
) -> None:
    calls = _calls(chain)
    expected = _reader(chain, RpcClient(ProviderTransport(chain.w3)), 1)[0].run(calls)
    batches = -(-len(calls) // 7)
    first = RpcClient(ProviderTransport(chain.w3), max_requests=5)
    mc, _ = _reader(chain, first, 3, Checkpoint(tmp_path / "cp", {"run": "budget"}))
    with pytest.raises(BudgetExceededError):
        mc.run(calls)
    assert first.stats.requests == 5
    kept = Checkpoint(tmp_path / "cp", {"run": "budget"})
    recorded = kept.batches_done
    assert kept.resumed and 1 <= recorded <= 5
    second = RpcClient(ProviderTransport(chain.w3))
    mc2, _ = _reader(chain, second, 3, kept)
    assert mc2.run(calls) == expected
    assert second.stats.requests == batches - recorded


def test_batches_in_flight_through_a_faulty_proxy_give_the_same_results(
    chain: FixtureChain,
) -> None:
    calls = _calls(chain)
    expected = _reader(chain, RpcClient(ProviderTransport(chain.w3)), 1)[0].run(calls)
    schedule = ["ok", "drop", "ok", "429", "ok", "truncate", "503", "ok", "stall", "ok"]
    with fault_proxy(ProviderTransport(chain.w3), schedule, stall_s=2.5) as proxy:
        client = RpcClient(
            HttpTransport(proxy.url, timeout=2.0),
            retry=RetryPolicy(max_attempts=12, base_delay=0.001, max_delay=0.01),
            seed=5,
        )
        mc, _ = _reader(chain, client, 3)
        assert mc.run(calls) == expected
    assert all(proxy.faults.get(f, 0) >= 1 for f in ("drop", "429", "truncate", "503", "stall"))
    assert client.stats.retries >= 5
