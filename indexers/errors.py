"""Errors of the on-chain indexers, all under :class:`contagion.exceptions.ContagionError`.

The CLI maps every :class:`~contagion.exceptions.ContagionError` to exit status 2 with its
message and no traceback; messages never contain an RPC URL's secret parts (see
:func:`indexers.rpc.redact.redact_url`).
"""

from __future__ import annotations

from contagion.exceptions import ContagionError

__all__ = ["BudgetExceededError", "IndexerError", "ReconciliationError", "RpcError"]


class IndexerError(ContagionError):
    """An indexer cannot produce its tables (bad argument, unreadable contract, ...)."""


class RpcError(IndexerError):
    """A JSON-RPC request failed for good: a node error, or retries exhausted."""

    def __init__(self, message: str, *, method: str | None = None, code: int | None = None) -> None:
        self.method = method
        self.code = code
        super().__init__(f"{method}: {message}" if method else message)


class BudgetExceededError(RpcError):
    """The run used up its request budget (``--max-requests``)."""


class ReconciliationError(IndexerError):
    """Indexed positions do not add up to the protocol's own totals (strict mode only)."""
