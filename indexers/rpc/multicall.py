"""Many contract reads in one ``eth_call``: Multicall3 ``aggregate3``.

Multicall3 (mds1/multicall, deployed at :data:`MULTICALL3_ADDRESS` on Ethereum and most EVM
chains) executes a list of ``(target, allowFailure, callData)`` calls and returns
``(success, returnData)`` for each. Calls are sent in batches of ``batch_size``; a batch the
node refuses (out of gas, answer too large) is split in half and retried, down to single
calls, so one bad batch size cannot stop a run. Completed batches can be recorded in a
:class:`~indexers.rpc.checkpoint.Checkpoint` so that a resumed run does not read them again.

With ``workers`` above one, that many batches are in flight at once from a thread pool (a
node answers requests in parallel; the client keeps encoding and decoding while the node
executes). Results are still returned in call order, and checkpoints and progress are
written from the calling thread only, so the output does not depend on the number of
workers or on which request finishes first.

Reference: https://github.com/mds1/multicall (Multicall3.sol, ``aggregate3``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from indexers.abi import load_abi
from indexers.errors import BudgetExceededError, RpcError
from indexers.rpc.checkpoint import Checkpoint
from indexers.rpc.client import RpcClient

__all__ = ["MULTICALL3_ADDRESS", "Call", "Multicall", "decode_aggregate3", "encode_aggregate3"]

MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11"

_AGGREGATE3 = load_abi("multicall3").fn("aggregate3")
_LOWER_HEX_ADDRESS = re.compile(r"0x[0-9a-f]{40}$")
_TRUE = (1).to_bytes(32, "big")
_WORD_32 = (32).to_bytes(32, "big")
_BYTES_AT = (96).to_bytes(32, "big")  # offset of callData inside one (address,bool,bytes)


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
    workers
        Batches in flight at once (1: one request after the other).
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
        workers: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.client = client
        self.block = block
        self.address = address
        self.batch_size = batch_size
        self.checkpoint = checkpoint
        self.on_batch = on_batch
        self.workers = workers

    def run(self, calls: Sequence[Call]) -> list[bytes | None]:
        """Return data of every call in order (None where the call reverted)."""
        batches = [calls[i : i + self.batch_size] for i in range(0, len(calls), self.batch_size)]
        keys = [_batch_key(self.block, b) for b in batches]
        done: list[list[bytes | None] | None] = [
            self.checkpoint.batch(k) if self.checkpoint is not None else None for k in keys
        ]
        todo = [i for i, d in enumerate(done) if d is None]
        if self.workers == 1 or len(todo) < 2:
            for i, batch in enumerate(batches):
                result = done[i]
                if result is None:
                    result = self._split(batch)
                    self._record(keys[i], result)
                done[i] = result
                self._advance(len(batch))
        else:
            self._run_pool(batches, keys, done, todo)
        return [r for d in done if d is not None for r in d]

    def _run_pool(
        self,
        batches: list[Sequence[Call]],
        keys: list[str],
        done: list[list[bytes | None] | None],
        todo: list[int],
    ) -> None:
        """Read the ``todo`` batches with ``workers`` requests in flight; record in order."""
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="multicall")
        futures: dict[int, Future[list[bytes | None]]] = {
            i: pool.submit(self._split, batches[i]) for i in todo
        }
        try:
            for i, batch in enumerate(batches):
                future = futures.get(i)
                if future is not None:
                    result = future.result()
                    self._record(keys[i], result)
                    done[i] = result
                self._advance(len(batch))
        except BaseException:
            # Keep what finished for a resumed run; do not start what has not.
            for future in futures.values():
                future.cancel()
            for i, future in futures.items():
                if done[i] is None and not future.cancelled() and future.exception() is None:
                    self._record(keys[i], future.result())
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _record(self, key: str, result: list[bytes | None]) -> None:
        if self.checkpoint is not None:
            self.checkpoint.record_batch(key, result)

    def _advance(self, n: int) -> None:
        if self.on_batch is not None:
            self.on_batch(n)

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
        raw = self.client.eth_call(self.address, encode_aggregate3(batch), self.block)
        try:
            results = decode_aggregate3(raw)
        except Exception as exc:
            raise RpcError(
                f"Multicall3 at {self.address} returned undecodable data ({exc})", method="eth_call"
            ) from None
        if len(results) != len(batch):
            raise RpcError(
                f"Multicall3 returned {len(results)} results for {len(batch)} calls",
                method="eth_call",
            )
        return results


def encode_aggregate3(calls: Sequence[Call]) -> bytes:
    """Call data of ``aggregate3`` with ``allowFailure`` set on every call.

    The ABI layout of ``(address,bool,bytes)[]`` written directly: the array's offset, its
    length, one offset per element (from the start of the offset table), then each element
    as its address and flag words, the offset of its bytes (0x60) and the padded bytes.
    Targets that are not lower-case hex go through the general encoder, which validates
    checksums.

    >>> data = encode_aggregate3([Call("0x" + "11" * 20, bytes.fromhex("abcdef01"))])
    >>> data == _AGGREGATE3.encode([("0x" + "11" * 20, True, bytes.fromhex("abcdef01"))])
    True
    """
    if not all(_LOWER_HEX_ADDRESS.match(c.target) for c in calls):
        return _AGGREGATE3.encode([(c.target, True, c.data) for c in calls])
    n = len(calls)
    offsets, parts = [], []
    at = 32 * n
    for c in calls:
        size = len(c.data)
        padded = -size % 32
        offsets.append(at.to_bytes(32, "big"))
        parts.append(
            b"".join(
                (
                    bytes(12),
                    bytes.fromhex(c.target[2:]),
                    _TRUE,
                    _BYTES_AT,
                    size.to_bytes(32, "big"),
                    c.data,
                    bytes(padded),
                )
            )
        )
        at += 128 + size + padded
    head = _AGGREGATE3.selector + _WORD_32 + n.to_bytes(32, "big")
    return head + b"".join(offsets) + b"".join(parts)


def decode_aggregate3(raw: bytes) -> list[bytes | None]:
    """Return data of each call of an ``aggregate3`` answer, None where it failed.

    The ``(bool,bytes)[]`` result read in bulk: the offset table, the success flags and the
    lengths are gathered as numpy arrays and checked at once (offsets and lengths inside the
    answer, flags 0 or 1, high bytes of every word zero), then each call's bytes are sliced.

    Raises
    ------
    ValueError
        The answer is not a well-formed ``(bool,bytes)[]``.

    >>> from eth_abi import encode
    >>> decode_aggregate3(encode(["(bool,bytes)[]"], [[(True, b"\\x01\\x02\\x03"), (False, b"")]]))
    [b'\\x01\\x02\\x03', None]
    """
    buf = np.frombuffer(raw, dtype=np.uint8)
    (base,) = _uints(buf, np.array([0]), "array offset")
    (n,) = _uints(buf, np.array([base]), "array length")
    table = base + 32
    if n > (len(raw) - table) // 32:
        raise ValueError(f"array of {n} results does not fit in {len(raw)} bytes")
    elements = table + _uints(buf, table + 32 * np.arange(n), "element offsets")
    flags = _uints(buf, elements, "success flags")
    if np.any(flags > 1):
        raise ValueError("a success flag is neither 0 nor 1")
    starts = elements + _uints(buf, elements + 32, "bytes offsets")
    lengths = _uints(buf, starts, "bytes lengths")
    ends = starts + 32 + lengths
    if n and int(ends.max()) > len(raw):
        raise ValueError("return data runs past the end of the answer")
    pad_ends = starts + 32 + (lengths + 31) // 32 * 32
    if n and int(pad_ends.max()) > len(raw):
        raise ValueError("padding of return data runs past the end of the answer")
    out: list[bytes | None] = []
    for ok, s, e, p in zip(
        flags.tolist(), (starts + 32).tolist(), ends.tolist(), pad_ends.tolist(), strict=True
    ):
        if any(raw[e:p]):
            raise ValueError("padding bytes of return data are not empty")
        out.append(raw[s:e] if ok else None)
    return out


def _uints(
    buf: npt.NDArray[np.uint8], at: npt.NDArray[np.int64], what: str
) -> npt.NDArray[np.int64]:
    """The 32-byte words of ``buf`` starting at each of ``at``, as integers below 2**62."""
    at = np.asarray(at, dtype=np.int64)
    if at.size and (int(at.min()) < 0 or int(at.max()) + 32 > buf.size):
        raise ValueError(f"{what} point outside the answer ({buf.size} bytes)")
    words = buf[at[:, None] + np.arange(32)]
    if np.any(words[:, :24]) or np.any(words[:, 24] >= 0x40):
        raise ValueError(f"{what} too large")
    return words[:, 24:].copy().view(">u8").ravel().astype(np.int64)


def _batch_key(block: int, batch: Sequence[Call]) -> str:
    digest = hashlib.sha256(str(block).encode())
    for c in batch:
        digest.update(c.target.lower().encode())
        digest.update(c.data)
    return digest.hexdigest()
