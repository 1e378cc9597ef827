"""A dataset: the contract's tables, validated, in memory as Arrow and on disk as Parquet.

On disk a dataset is one folder with one sub-folder per table; files are named
``{chain}__{table}__{start}_to_{end}.parquet`` (start/end are the block range, or dates for
off-chain rows) so that ``{table}/*.parquet`` reads them all. A missing sub-folder is an empty
table. Reading validates every file against :mod:`contagion.schema` and every cross-table
reference; writing is atomic (the whole folder appears at once or not at all).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from contagion._atomic import atomic_dir
from contagion.exceptions import SchemaError
from contagion.schema import TABLES, TableSpec
from contagion.validation import check_references, check_unique_key, conform, validate_values

if TYPE_CHECKING:
    from contagion.graph import ExposureGraph
    from contagion.store import Store

__all__ = ["Dataset", "load_dataset"]


def _empty(spec: TableSpec) -> pa.Table:
    return spec.schema.empty_table()


class Dataset:
    """The validated tables of one dataset.

    Parameters
    ----------
    tables
        Arrow tables (or pandas DataFrames) by table name; absent tables are empty.
    path
        Folder the dataset was read from, if any (used in messages only).

    Raises
    ------
    SchemaError
        When a table misses a column, has a wrong type, a bad value, a duplicate key or a
        reference to an unknown asset, protocol, feed or pool.
    """

    def __init__(
        self,
        tables: Mapping[str, pa.Table | pd.DataFrame],
        *,
        path: str | os.PathLike[str] | None = None,
        _files: Mapping[str, list[tuple[str | None, pa.Table]]] | None = None,
    ) -> None:
        unknown = sorted(set(tables) - set(TABLES))
        if unknown:
            raise SchemaError(f"unknown table(s) {', '.join(unknown)}; known: {', '.join(TABLES)}")
        self.path = Path(path) if path is not None else None
        parts: dict[str, list[tuple[str | None, pa.Table]]] = {}
        for name, spec in TABLES.items():
            if _files is not None and name in _files:
                parts[name] = list(_files[name])
                continue
            given = tables.get(name)
            if given is None:
                parts[name] = []
                continue
            arrow = _to_arrow(given, spec)
            table = conform(arrow, spec)
            validate_values(table, spec)
            parts[name] = [(None, table)]
        self._tables: dict[str, pa.Table] = {}
        for name, spec in TABLES.items():
            pieces = [t for _, t in parts[name]]
            table = pa.concat_tables(pieces) if pieces else _empty(spec)
            check_unique_key(table, spec, file=_files_hint(parts[name]))
            self._tables[name] = table
        keys = _key_sets(self._tables)
        for name, spec in TABLES.items():
            check_references(spec, parts[name], keys)

    # -- reading -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Dataset:
        """Read and validate the dataset in folder ``path``."""
        root = Path(path)
        if not root.is_dir():
            raise SchemaError(f"dataset folder {root} does not exist or is not a folder")
        present = [p for p in TABLES if (root / p).is_dir()]
        if not present:
            raise SchemaError(
                f"{root} holds no dataset table folders (expected some of {', '.join(TABLES)})"
            )
        files: dict[str, list[tuple[str | None, pa.Table]]] = {}
        for name, spec in TABLES.items():
            files[name] = []
            for file in sorted((root / name).glob("*.parquet")):
                try:
                    raw = pq.read_table(file)
                except (pa.ArrowInvalid, OSError) as exc:
                    raise SchemaError(
                        f"not a readable Parquet file: {exc}", table=name, file=str(file)
                    ) from None
                table = conform(raw, spec, file=str(file))
                validate_values(table, spec, file=str(file))
                files[name].append((str(file), table))
        return cls({}, path=root, _files=files)

    @property
    def tables(self) -> dict[str, pa.Table]:
        """All tables by name, as Arrow tables."""
        return dict(self._tables)

    def table(self, name: str) -> pa.Table:
        """Table ``name`` as an Arrow table."""
        if name not in self._tables:
            raise KeyError(f"unknown table {name!r}; known tables: {', '.join(TABLES)}")
        return self._tables[name]

    def df(self, name: str) -> pd.DataFrame:
        """Table ``name`` as a pandas DataFrame."""
        return self.table(name).to_pandas()

    def to_pandas(self) -> dict[str, pd.DataFrame]:
        """Every table as a pandas DataFrame, by name."""
        return {name: t.to_pandas() for name, t in self._tables.items()}

    def __len__(self) -> int:
        return sum(t.num_rows for t in self._tables.values())

    def row_counts(self) -> dict[str, int]:
        """Number of rows of every table."""
        return {name: t.num_rows for name, t in self._tables.items()}

    def __repr__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        counts = ", ".join(f"{k}={v}" for k, v in self.row_counts().items() if v)
        return f"<Dataset{where}: {counts}>"

    # -- writing -------------------------------------------------------------------------
    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the dataset to folder ``path`` atomically (replacing what was there)."""
        chain_names = dict(
            zip(
                self._tables["chains"].column("chain_id").to_pylist(),
                self._tables["chains"].column("name").to_pylist(),
                strict=True,
            )
        )
        target = Path(path)
        with atomic_dir(target) as tmp:
            for name, table in self._tables.items():
                if table.num_rows == 0:
                    continue
                folder = tmp / name
                folder.mkdir()
                for chain_id in pc.unique(table.column("chain_id")).to_pylist():
                    part = table.filter(pc.equal(table.column("chain_id"), chain_id))
                    chain = chain_names.get(chain_id, str(chain_id))
                    start, end = _span(part)
                    pq.write_table(part, folder / f"{chain}__{name}__{start}_to_{end}.parquet")
        return target

    # -- derived views -------------------------------------------------------------------
    def store(self) -> Store:
        """A DuckDB store over this dataset's tables."""
        from contagion.store import Store

        return Store(self)

    def graph(self) -> ExposureGraph:
        """Build the typed exposure graph of this dataset."""
        from contagion.graph import build_graph

        return build_graph(self)


def load_dataset(path: str | os.PathLike[str]) -> Dataset:
    """Read and validate the dataset in folder ``path`` (see :meth:`Dataset.load`)."""
    return Dataset.load(path)


def _to_arrow(given: pa.Table | pd.DataFrame, spec: TableSpec) -> pa.Table:
    if isinstance(given, pa.Table):
        return given
    if isinstance(given, pd.DataFrame):
        try:
            return pa.Table.from_pandas(given, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise SchemaError(f"cannot convert DataFrame: {exc}", table=spec.name) from None
    raise SchemaError(
        f"expected a pyarrow Table or pandas DataFrame, got {type(given).__name__}", table=spec.name
    )


def _files_hint(parts: list[tuple[str | None, pa.Table]]) -> str | None:
    files = [f for f, _ in parts if f is not None]
    if not files:
        return None
    return files[0] if len(files) == 1 else f"{files[0]} (+{len(files) - 1} more)"


def _key_sets(tables: Mapping[str, pa.Table]) -> dict[tuple[str, str], pa.Array]:
    keys: dict[tuple[str, str], pa.Array] = {}
    for spec in TABLES.values():
        for col in spec.columns:
            if col.references is not None and col.references not in keys:
                ref_table, ref_col = col.references
                values = tables[ref_table].column(ref_col).combine_chunks()
                keys[col.references] = pc.unique(values)
    return keys


def _span(table: pa.Table) -> tuple[Any, Any]:
    blocks = table.column("block_number")
    if blocks.null_count < len(blocks):
        return pc.min(blocks).as_py(), pc.max(blocks).as_py()
    stamps = table.column("timestamp")
    if stamps.null_count < len(stamps):
        lo, hi = pc.min(stamps).as_py(), pc.max(stamps).as_py()
        return lo.strftime("%Y%m%dT%H%M%S"), hi.strftime("%Y%m%dT%H%M%S")
    return "na", "na"
