"""Default contract addresses per chain, carried inside the package (see README.md here)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from indexers.errors import IndexerError

__all__ = ["deployment"]

_FILES = {1: "ethereum.json"}


@cache
def deployment(chain_id: int) -> dict[str, Any]:
    """The shipped addresses of chain ``chain_id``; IndexerError if none are shipped."""
    name = _FILES.get(chain_id)
    if name is None:
        raise IndexerError(
            f"no shipped contract addresses for chain {chain_id}; pass the addresses as options"
        )
    text = resources.files("indexers.deployments").joinpath(name).read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc
