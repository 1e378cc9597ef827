"""contagion: how a market shock spreads across DeFi protocols.

The public API: load or build a dataset, query it with DuckDB, build its exposure graph.
"""

from __future__ import annotations

from contagion.dataset import Dataset, load_dataset
from contagion.exceptions import ContagionError, QueryError, SchemaError
from contagion.graph import ExposureGraph, build_graph
from contagion.schema import TABLES, TableSpec
from contagion.store import Store

__all__ = [
    "TABLES",
    "ContagionError",
    "Dataset",
    "ExposureGraph",
    "QueryError",
    "SchemaError",
    "Store",
    "TableSpec",
    "build_graph",
    "load_dataset",
    "sample_world",
]

__version__ = "0.1.0"


def sample_world(positions: int = 50_000, seed: int = 7) -> Dataset:
    """Build the embedded default world (see :func:`indexers.sample_world.build_sample_world`).

    Examples
    --------
    >>> world = sample_world(positions=2_000, seed=1)
    >>> world.row_counts()["lending_positions"] > 1_000
    True
    """
    from indexers.sample_world import build_sample_world

    return build_sample_world(positions=positions, seed=seed)
