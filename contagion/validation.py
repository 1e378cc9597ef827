"""Validation of dataset tables against the data contract in :mod:`contagion.schema`.

Checks run column by column with pyarrow compute kernels (no per-row Python), and every
failure raises :class:`~contagion.exceptions.SchemaError` naming table, file, column and the
first offending rows (0-based row numbers within the file).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contagion.exceptions import SchemaError
from contagion.schema import Column, TableSpec

__all__ = ["check_references", "check_unique_key", "conform", "validate_values"]

_UINT_PATTERN = r"^[0-9]+$"
_INT_PATTERN = r"^-?[0-9]+$"
_MAX_ROWS_REPORTED = 10


def _compatible(actual: pa.DataType, expected: pa.DataType) -> bool:
    if actual == expected:
        return True
    if pa.types.is_null(actual):
        return True
    pairs = (
        (pa.types.is_integer, pa.types.is_integer),
        (pa.types.is_floating, pa.types.is_floating),
        (pa.types.is_timestamp, pa.types.is_timestamp),
        (pa.types.is_string, pa.types.is_large_string),
        (pa.types.is_large_string, pa.types.is_string),
    )
    if any(a(actual) and b(expected) for a, b in pairs):
        return True
    if pa.types.is_integer(actual) and pa.types.is_floating(expected):
        return True
    if pa.types.is_list(actual) or pa.types.is_large_list(actual):
        return pa.types.is_list(expected) and _compatible(actual.value_type, expected.value_type)
    return False


def conform(table: pa.Table, spec: TableSpec, *, file: str | None = None) -> pa.Table:
    """Return ``table`` with exactly the columns and types of ``spec``.

    Extra columns are dropped; missing columns and incompatible types raise SchemaError, but
    for columns added to the contract later (``null_if_absent``), which read as null.
    Lossless widenings (int32 -> int64, a timestamp in ms -> s UTC, ...) are applied.
    """
    absent = [c for c in spec.columns if c.null_if_absent and c.name not in table.column_names]
    for col in absent:
        # Written before the column joined the contract: null throughout.
        table = table.append_column(col.field(), pa.nulls(table.num_rows, col.type))
    missing = [c.name for c in spec.columns if c.name not in table.column_names]
    if missing:
        raise SchemaError(
            f"missing column(s) {', '.join(missing)}; expected {', '.join(spec.column_names)}",
            table=spec.name,
            file=file,
            column=missing[0],
        )
    arrays = []
    for col in spec.columns:
        arr = table.column(col.name)
        if not _compatible(arr.type, col.type):
            raise SchemaError(
                f"has type {arr.type}, expected {col.type}",
                table=spec.name,
                file=file,
                column=col.name,
            )
        if arr.type != col.type:
            try:
                arr = arr.cast(col.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SchemaError(
                    f"cannot be converted from {arr.type} to {col.type}: {exc}",
                    table=spec.name,
                    file=file,
                    column=col.name,
                ) from None
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=spec.schema)


def _flat(arr: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray | None]:
    """Flatten a list column; return the values and, for lists, the parent row of each value."""
    combined = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    if pa.types.is_list(combined.type):
        parents = np.asarray(pc.list_parent_indices(combined).to_numpy(zero_copy_only=False))
        return pc.list_flatten(combined), parents
    return combined, None


def _fail(
    spec: TableSpec,
    col: Column,
    file: str | None,
    mask: pa.Array,
    parents: np.ndarray | None,
    message: str,
) -> None:
    filled = np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)
    idx = np.flatnonzero(filled)
    if len(idx) == 0:
        return
    rows = np.unique(parents[idx]) if parents is not None else idx
    raise SchemaError(
        f"{message} ({len(rows)} row(s))",
        table=spec.name,
        file=file,
        column=col.name,
        rows=[int(r) for r in rows],
    )


def validate_values(table: pa.Table, spec: TableSpec, *, file: str | None = None) -> None:
    """Check nulls, NaNs, signs, choices and raw-integer strings of a conformed table."""
    for col in spec.columns:
        arr = table.column(col.name)
        if not col.nullable and arr.null_count:
            _fail(spec, col, file, pc.is_null(arr), None, "is null but the column is required")
        values, parents = _flat(arr)
        if len(values) == 0:
            continue
        if pa.types.is_floating(values.type):
            _fail(spec, col, file, pc.is_nan(values), parents, "is NaN")
            _fail(spec, col, file, pc.is_inf(values), parents, "is infinite")
        if col.positive:
            _fail(spec, col, file, pc.less_equal(values, 0), parents, "must be positive")
        elif col.non_negative:
            _fail(spec, col, file, pc.less(values, 0), parents, "must not be negative")
        if col.choices:
            bad = pc.invert(pc.is_in(values, value_set=pa.array(col.choices)))
            _fail(spec, col, file, bad, parents, f"must be one of {', '.join(col.choices)}")
        if col.raw_uint or col.raw_int:
            pattern = _UINT_PATTERN if col.raw_uint else _INT_PATTERN
            what = "a non-negative integer" if col.raw_uint else "an integer"
            bad = pc.invert(pc.match_substring_regex(values, pattern))
            _fail(spec, col, file, bad, parents, f"must be {what} written in decimal digits")
    if "block_number" in spec.column_names and table.num_rows:
        neither = pc.and_(
            pc.is_null(table.column("block_number")), pc.is_null(table.column("timestamp"))
        )
        _fail(
            spec,
            spec.column("block_number"),
            file,
            neither.combine_chunks(),
            None,
            "provenance needs block_number or timestamp; both are null",
        )


def check_references(
    spec: TableSpec,
    parts: Iterable[tuple[str | None, pa.Table]],
    keys: dict[tuple[str, str], pa.Array],
) -> None:
    """Check that every referencing column of ``spec`` points at an existing key.

    ``parts`` are the (file, table) pieces of the table so that an error names the file;
    ``keys`` maps ``(table, column)`` to the set of values that exist there.
    """
    for col in spec.columns:
        if col.references is None:
            continue
        known = keys.get(col.references)
        if known is None:
            continue
        for file, part in parts:
            values, parents = _flat(part.column(col.name))
            if len(values) == 0:
                continue
            unknown = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=known)))
            ref_table, ref_col = col.references
            filled = np.asarray(
                pc.fill_null(unknown, False).to_numpy(zero_copy_only=False), dtype=bool
            )
            if filled.any():
                first = values[int(np.flatnonzero(filled)[0])].as_py()
                _fail(
                    spec,
                    col,
                    file,
                    unknown,
                    parents,
                    f"refers to unknown {ref_table}.{ref_col} {first!r}",
                )


def check_unique_key(table: pa.Table, spec: TableSpec, *, file: str | None = None) -> None:
    """Raise when two rows share the table's key."""
    if table.num_rows == 0:
        return
    key = [*spec.key]
    if "chain_id" not in key and spec.name != "chains":
        key = ["chain_id", *key]
    counts = table.group_by(key).aggregate([([], "count_all")])
    dup = counts.filter(pc.greater(counts.column("count_all"), 1))
    if dup.num_rows:
        example = {k: dup.column(k)[0].as_py() for k in key}
        raise SchemaError(
            f"{dup.num_rows} duplicate key(s) on ({', '.join(key)}), e.g. {example}",
            table=spec.name,
            file=file,
            column=spec.key[0],
        )
