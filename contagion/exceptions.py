"""Exceptions raised by contagion.

Every error the package raises on purpose derives from :class:`ContagionError`, so a caller
(and the CLI) can tell a user-facing problem from a bug with one ``except`` clause.
"""

from __future__ import annotations

__all__ = [
    "ContagionError",
    "ConvergenceError",
    "QueryError",
    "ScenarioError",
    "SchemaError",
]


class ContagionError(Exception):
    """Root of every error contagion raises deliberately."""


class SchemaError(ContagionError):
    """A dataset table does not satisfy the data contract.

    The message names the table, the file, the column and the first offending rows, so the
    user can find and fix the input without reading code.
    """

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        file: str | None = None,
        column: str | None = None,
        rows: list[int] | None = None,
    ) -> None:
        self.table = table
        self.file = file
        self.column = column
        self.rows = rows or []
        where = []
        if table is not None:
            where.append(f"table {table!r}")
        if file is not None:
            where.append(f"file {file}")
        if column is not None:
            where.append(f"column {column!r}")
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:5])
            more = f" (and {len(self.rows) - 5} more)" if len(self.rows) > 5 else ""
            where.append(f"rows {shown}{more}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class QueryError(ContagionError):
    """A shipped query is unknown, or its parameters are missing or malformed."""


class ScenarioError(ContagionError):
    """A scenario file or object is malformed, or names what the dataset does not have.

    The message starts with the file (when the scenario came from one) and the field, e.g.
    ``crash.toml: shocks[1].move: expected a number like -0.3 or '-30%', got 'abc'``.
    """

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None) -> None:
        self.message = message
        self.file = file
        self.field = field
        prefix = ": ".join(p for p in (file, field) if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ConvergenceError(ContagionError):
    """A solver did not settle within its limit; ``result`` holds what it had reached."""

    def __init__(self, message: str, *, result: object = None) -> None:
        self.result = result
        super().__init__(message)

    def __reduce__(self) -> tuple[type, tuple[str], dict[str, object]]:
        # Pickled with its result (a batch worker hands it back to the calling process).
        return type(self), (str(self),), {"result": self.result}
