"""Many contract reads in one ``eth_call``: Multicall3 ``aggregate3``.

Multicall3 (mds1/multicall, deployed at :data:`MULTICALL3_ADDRESS` on Ethereum and most EVM
chains) executes a list of ``(target, allowFailure, callData)`` calls and returns
``(success, returnData)`` for each. Calls are sent in batches of ``batch_size``; a batch the
node refuses (out of gas, answer too large) is split in half and retried, down to single
calls, so one bad batch size cannot stop a run. Completed batches can be recorded in a
:class:`~indexers.rpc.checkpoint.Checkpoint` so that a resumed run does not read them again.

Reference: https://github.com/mds1/multicall (Multicall3.sol, ``aggregate3``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from indexers.abi import load_abi
from indexers.errors import BudgetExceededError, RpcError
from indexers.rpc.checkpoint import Checkpoint
from indexers.rpc.client import RpcClient

__all__ = ["MULTICALL3_ADDRESS", "Call", "Multicall"]

MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11"

_AGGREGATE3 = load_abi("multicall3").fn("aggregate3")


@dataclass(frozen=True)
class Call:
    """One read: contract ``target`` and its call data."""

    target: str
    data: bytes


class Multicall:
    """Batched reads through Multicall3 at a fixed block.

    Parameters
    ----------
    client
        JSON-RPC client.
    block
        Block every read is made at.
    address
        Multicall3 contract (the canonical address by default).
    batch_size
        Calls per ``eth_call``.
    checkpoint
        Where completed batches are recorded for a resumed run (optional).
    on_batch
        Called with the number of calls in each completed batch (progress display).
    """

    def __init__(
        self,
        client: RpcClient,
        block: int,
        *,
        address: str = MULTICALL3_ADDRESS,
        batch_size: int = 500,
        checkpoint: Checkpoint | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.client = client
        self.block = block
        self.address = address
        self.batch_size = batch_size
        self.checkpoint = checkpoint
        self.on_batch = on_batch

    def run(self, calls: Sequence[Call]) -> list[bytes | None]:
        """Return data of every call in order (None where the call reverted)."""
        out: list[bytes | None] = []
        for start in range(0, len(calls), self.batch_size):
            batch = calls[start : start + self.batch_size]
            out.extend(self._cached(batch))
            if self.on_batch is not None:
                self.on_batch(len(batch))
        return out

    def _cached(self, batch: Sequence[Call]) -> list[bytes | None]:
        key = _batch_key(self.block, batch)
        if self.checkpoint is not None:
            done = self.checkpoint.batch(key)
            if done is not None:
                return done
        result = self._split(batch)
        if self.checkpoint is not None:
            self.checkpoint.record_batch(key, result)
        return result

    def _split(self, batch: Sequence[Call]) -> list[bytes | None]:
        try:
            return self._aggregate(batch)
        except BudgetExceededError:
            raise
        except RpcError:
            if len(batch) == 1:
                raise
            half = len(batch) // 2
            return self._split(batch[:half]) + self._split(batch[half:])

    def _aggregate(self, batch: Sequence[Call]) -> list[bytes | None]:
        data = _AGGREGATE3.encode([(c.target, True, c.data) for c in batch])
        raw = self.client.eth_call(self.address, data, self.block)
        try:
            (results,) = _AGGREGATE3.decode(raw)
        except Exception as exc:
            raise RpcError(
                f"Multicall3 at {self.address} returned undecodable data ({exc})", method="eth_call"
            ) from None
        if len(results) != len(batch):
            raise RpcError(
                f"Multicall3 returned {len(results)} results for {len(batch)} calls",
                method="eth_call",
            )
        return [bytes(data) if ok else None for ok, data in results]


def _batch_key(block: int, batch: Sequence[Call]) -> str:
    digest = hashlib.sha256(str(block).encode())
    for c in batch:
        digest.update(c.target.lower().encode())
        digest.update(c.data)
    return digest.hexdigest()
