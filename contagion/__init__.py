"""contagion: how a market shock spreads across DeFi protocols.

The public API: load or build a dataset, query it with DuckDB, build its exposure graph.
"""

from __future__ import annotations

from contagion.dataset import Dataset, load_dataset
from contagion.exceptions import ContagionError, QueryError, SchemaError
from contagion.schema import TABLES, TableSpec

__all__ = [
    "TABLES",
    "ContagionError",
    "Dataset",
    "QueryError",
    "SchemaError",
    "TableSpec",
    "load_dataset",
]

__version__ = "0.1.0"
