"""The shared JSON-RPC layer of the indexers.

:class:`RpcClient` (retries with backoff and jitter, request budget, redacted errors) over a
:mod:`transport <indexers.rpc.transport>`; :class:`Multicall` batches reads through
Multicall3 ``aggregate3``; :func:`iter_logs` scans ``eth_getLogs`` in adaptive chunks;
:class:`Checkpoint` records progress for resuming.
"""

from __future__ import annotations

from indexers.rpc.checkpoint import Checkpoint
from indexers.rpc.client import LogRangeError, RetryPolicy, RpcClient, RpcStats
from indexers.rpc.logs import iter_logs
from indexers.rpc.multicall import MULTICALL3_ADDRESS, Call, Multicall
from indexers.rpc.redact import redact_url
from indexers.rpc.transport import HttpTransport, ProviderTransport, TransientError, Transport

__all__ = [
    "MULTICALL3_ADDRESS",
    "Call",
    "Checkpoint",
    "HttpTransport",
    "LogRangeError",
    "Multicall",
    "ProviderTransport",
    "RetryPolicy",
    "RpcClient",
    "RpcStats",
    "TransientError",
    "Transport",
    "iter_logs",
    "redact_url",
]
