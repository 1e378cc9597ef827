"""Dataset builders ("indexers"), by name.

Every indexer is a callable returning a validated :class:`contagion.Dataset`; the registry
lets the command line and scripts pick one by name. Only the offline sample world exists so
far; on-chain indexers (JSON-RPC readers) will register here under their own names.
"""

from __future__ import annotations

from collections.abc import Callable

from contagion.dataset import Dataset
from indexers.sample_world import build_sample_world

__all__ = ["INDEXERS", "get_indexer"]

INDEXERS: dict[str, Callable[..., Dataset]] = {
    "sample-world": build_sample_world,
}


def get_indexer(name: str) -> Callable[..., Dataset]:
    """The indexer registered as ``name``; KeyError naming the known ones otherwise.

    >>> get_indexer("sample-world").__name__
    'build_sample_world'
    """
    try:
        return INDEXERS[name]
    except KeyError:
        raise KeyError(f"unknown indexer {name!r}; known: {', '.join(sorted(INDEXERS))}") from None
