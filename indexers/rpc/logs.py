"""``eth_getLogs`` over a long block range in chunks that adapt to the node's limits.

Nodes cap a logs query by block span or by result count (geth/Erigon: response size;
Infura: 10,000 results; Alchemy: 2,000 blocks or 10,000 logs). The scan starts with
``chunk`` blocks per request, halves the span when the node refuses a range
(:class:`~indexers.rpc.client.LogRangeError`) and doubles it again, up to ``chunk``, after
each success, so a dense stretch costs more requests only while it lasts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from indexers.rpc.client import LogRangeError, RpcClient

__all__ = ["iter_logs"]


def iter_logs(
    client: RpcClient,
    addresses: Sequence[str],
    topics: Sequence[str],
    from_block: int,
    to_block: int,
    *,
    chunk: int = 2_000,
) -> Iterator[tuple[int, int, list[dict[str, Any]]]]:
    """Yield ``(first, last, logs)`` for consecutive block ranges covering the whole span.

    Parameters
    ----------
    client
        JSON-RPC client.
    addresses
        Contracts whose logs are wanted.
    topics
        Accepted ``topics[0]`` values (event topics, any of them).
    from_block, to_block
        Inclusive block range.
    chunk
        Largest span per request.

    Raises
    ------
    LogRangeError
        If the node refuses even a single block.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if from_block > to_block:
        return
    span = chunk
    lo = from_block
    address = [a for a in addresses]
    while lo <= to_block:
        hi = min(to_block, lo + span - 1)
        query = {
            "fromBlock": hex(lo),
            "toBlock": hex(hi),
            "address": address,
            "topics": [list(topics)],
        }
        try:
            logs = client.call("eth_getLogs", [query])
        except LogRangeError:
            if hi == lo:
                raise
            span = max(1, (hi - lo + 1) // 2)
            continue
        yield lo, hi, list(logs)
        lo = hi + 1
        span = min(chunk, span * 2)
