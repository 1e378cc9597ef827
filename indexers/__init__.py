"""Dataset builders ("indexers"), by name.

Every dataset builder here is a callable returning a validated :class:`contagion.Dataset`;
the registry lets the command line and scripts pick one by name (the offline sample world).
The on-chain indexers (JSON-RPC readers) and file importers are registered by source name in
:data:`indexers.registry.SOURCES`, which ``contagion index`` runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contagion.dataset import Dataset

    INDEXERS: dict[str, Callable[..., Dataset]]

__all__ = ["INDEXERS", "get_indexer"]


@functools.cache
def _indexers() -> dict[str, Callable[..., Dataset]]:
    # Imported on first use: ``indexers.registry`` (the command line's sources) does not
    # need the sample world's generators.
    from indexers.sample_world import build_sample_world

    return {"sample-world": build_sample_world}


def __getattr__(name: str) -> Any:
    if name == "INDEXERS":
        return _indexers()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_indexer(name: str) -> Callable[..., Dataset]:
    """The indexer registered as ``name``; KeyError naming the known ones otherwise.

    >>> get_indexer("sample-world").__name__
    'build_sample_world'
    """
    try:
        return _indexers()[name]
    except KeyError:
        raise KeyError(
            f"unknown indexer {name!r}; known: {', '.join(sorted(_indexers()))}"
        ) from None
