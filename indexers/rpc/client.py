"""A JSON-RPC client that survives flaky nodes: retries with backoff, a request budget.

Every request is retried on a transient failure: a timeout or dropped connection, HTTP 429
or 5xx, a body that is not complete JSON (a truncated answer), or a JSON-RPC rate-limit
error. Waits grow exponentially with "full jitter" (a uniform draw between zero and the
exponential cap), which spreads retries of many clients apart (Brooker, "Exponential
Backoff And Jitter", AWS Architecture Blog, 2015). The jitter draws come from a seeded
generator. Every attempt counts against the budget; when it is spent the client raises
:class:`~indexers.errors.BudgetExceededError` instead of sending more.

An ``eth_getLogs`` answer saying the range holds too many results is not retried: it is
raised as :class:`LogRangeError` for :mod:`indexers.rpc.logs` to split the range.

A client may be shared by threads that keep several requests in flight
(:class:`~indexers.rpc.multicall.Multicall` with ``workers``): the budget, the statistics,
the request ids and the jitter draws are taken under one lock, so the budget is never
overrun and every draw still comes from the seeded generator.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from indexers.errors import BudgetExceededError, RpcError
from indexers.rpc.transport import TransientError, Transport

__all__ = ["LogRangeError", "RetryPolicy", "RpcClient", "RpcStats"]

# Messages nodes use when an eth_getLogs range is too big (geth, Erigon, Infura, Alchemy,
# QuickNode, ganache's block-range limit).
_RANGE_ERROR = re.compile(
    r"more than \d+ results|too many results|block range|range too large|range is too large|"
    r"exceed(s|ed)? .*(range|results|limit)|response size|query timeout|limit exceeded|"
    r"log response size",
    re.IGNORECASE,
)
_RATE_LIMIT = re.compile(r"rate limit|too many requests|capacity|try again|\b429\b", re.I)
_RATE_LIMIT_CODES = {-32005, -32029, 429}


class LogRangeError(RpcError):
    """``eth_getLogs`` refused the block range (too many results or too wide)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry transient failures.

    Attempt ``k`` (from 0) waits ``uniform(0, min(max_delay, base_delay * 2**k))`` seconds.
    """

    max_attempts: int = 8
    base_delay: float = 0.25
    max_delay: float = 8.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must be >= 0")


@dataclass
class RpcStats:
    """What a client has sent: attempts (each HTTP request), retries, calls by method."""

    requests: int = 0
    retries: int = 0
    by_method: Counter[str] = field(default_factory=Counter)


class RpcClient:
    """JSON-RPC requests over a :class:`~indexers.rpc.transport.Transport`.

    Parameters
    ----------
    transport
        Where requests go (HTTP or an in-process provider).
    max_requests
        Budget of attempts for the client's life (None: unlimited).
    retry
        Backoff policy for transient failures.
    seed
        Seed of the jitter draws.
    sleep
        Function used to wait (``time.sleep``; tests pass a recorder).

    Examples
    --------
    >>> class Echo:
    ...     label = "echo"
    ...     def send(self, body):
    ...         return b'{"jsonrpc": "2.0", "id": 1, "result": "0x1"}'
    >>> client = RpcClient(Echo())
    >>> client.call("eth_chainId", [])
    '0x1'
    >>> client.stats.requests
    1
    """

    def __init__(
        self,
        transport: Transport,
        *,
        max_requests: int | None = None,
        retry: RetryPolicy | None = None,
        seed: int = 0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_requests is not None and max_requests < 1:
            raise ValueError(f"max_requests must be >= 1, got {max_requests}")
        self.transport = transport
        self.max_requests = max_requests
        self.retry = retry or RetryPolicy()
        self.stats = RpcStats()
        self._rng = np.random.default_rng(seed)
        self._sleep = sleep
        self._next_id = 1
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        """The node, safe to print."""
        return self.transport.label

    def call(self, method: str, params: list[Any]) -> Any:
        """Send one request and return its ``result``.

        Raises
        ------
        RpcError
            The node answered an error, or every attempt failed transiently.
        LogRangeError
            ``eth_getLogs`` refused the range.
        BudgetExceededError
            The request budget is used up.
        """
        with self._lock:
            self.stats.by_method[method] += 1
        last = ""
        for attempt in range(self.retry.max_attempts):
            if attempt:
                cap = min(self.retry.max_delay, self.retry.base_delay * 2 ** (attempt - 1))
                with self._lock:
                    self.stats.retries += 1
                    wait = float(self._rng.uniform(0.0, cap))
                self._sleep(wait)
            with self._lock:
                if self.max_requests is not None and self.stats.requests >= self.max_requests:
                    raise BudgetExceededError(
                        f"request budget of {self.max_requests} used up (raise --max-requests; "
                        "a rerun resumes from the checkpoint)",
                        method=method,
                    )
                self.stats.requests += 1
                request_id = self._next_id
                self._next_id += 1
            body = json.dumps(
                {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
            ).encode()
            try:
                raw = self.transport.send(body)
            except TransientError as exc:
                last = str(exc)
                continue
            try:
                answer = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                last = f"{self.label}: incomplete JSON answer ({len(raw)} bytes)"
                continue
            if not isinstance(answer, dict) or answer.get("id") != request_id:
                last = f"{self.label}: answer does not match request id {request_id}"
                continue
            error = answer.get("error")
            if error is None:
                if "result" not in answer:
                    last = f"{self.label}: answer has neither result nor error"
                    continue
                return answer["result"]
            code = error.get("code") if isinstance(error, dict) else None
            message = str(error.get("message", error) if isinstance(error, dict) else error)
            if method == "eth_getLogs" and _RANGE_ERROR.search(message):
                raise LogRangeError(message, method=method, code=code)
            if code in _RATE_LIMIT_CODES or _RATE_LIMIT.search(message):
                last = f"{self.label}: {message}"
                continue
            raise RpcError(message, method=method, code=code)
        raise RpcError(
            f"gave up after {self.retry.max_attempts} attempts; last failure: {last}",
            method=method,
        )

    # -- typed helpers ---------------------------------------------------------------------
    def chain_id(self) -> int:
        return int(self.call("eth_chainId", []), 16)

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber", []), 16)

    def block_timestamp(self, block: int) -> int:
        header = self.call("eth_getBlockByNumber", [hex(block), False])
        if header is None:
            raise RpcError(
                f"block {block} is not known to {self.label}", method="eth_getBlockByNumber"
            )
        return int(header["timestamp"], 16)

    def eth_call(self, to: str, data: bytes, block: int, *, gas: int | None = None) -> bytes:
        """``eth_call`` of ``data`` on contract ``to`` at ``block``; the returned bytes."""
        tx: dict[str, Any] = {"from": _ZERO, "to": to, "data": "0x" + data.hex()}
        if gas is not None:
            tx["gas"] = hex(gas)
        result = self.call("eth_call", [tx, hex(block)])
        return bytes.fromhex(str(result).removeprefix("0x"))


_ZERO = "0x" + "00" * 20
