"""Dataset builders ("indexers"), by name.

Every dataset builder here is a callable returning a validated :class:`contagion.Dataset`;
the registry lets the command line and scripts pick one by name (the offline sample world).
The on-chain indexers (JSON-RPC readers) and file importers are registered by source name in
:data:`indexers.registry.SOURCES`, which ``contagion index`` runs.
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
