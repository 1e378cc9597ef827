"""The DuckDB store: dataset tables registered as relations, shipped queries run by name.

Each shipped query (``queries/<name>.sql``) is one statement with a header comment::

    -- <name>: one line saying what the relation is
    -- grain: one row per ...
    -- key: col_a, col_b
    -- param: min_usd DOUBLE = 0  -- what it does

A query without parameters is also a relation other queries may read by its name: the store
creates it as a view on first use, after the views it reads. Parameters are always bound
(``$min_usd``), never formatted into the SQL text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from contagion.exceptions import QueryError
from contagion.resources import list_queries, query_sql

if TYPE_CHECKING:
    from contagion.dataset import Dataset

__all__ = ["QueryParam", "QuerySpec", "Store", "query_spec"]

_PARAM = re.compile(
    r"^param:\s*(?P<name>[a-z_][a-z0-9_]*)\s+(?P<type>[A-Z]+)\s*(?:=\s*(?P<default>[^\s]+))?"
    r"\s*(?:--\s*(?P<doc>.*))?$"
)
_TYPES = {"DOUBLE": float, "BIGINT": int, "INTEGER": int, "VARCHAR": str, "BOOLEAN": bool}


@dataclass(frozen=True)
class QueryParam:
    """A bound parameter declared in a query header."""

    name: str
    type: str
    default: Any
    doc: str

    def convert(self, text: str) -> Any:
        """Convert a command-line string to this parameter's type."""
        kind = _TYPES[self.type]
        try:
            if kind is bool:
                if text.lower() not in {"true", "false", "1", "0"}:
                    raise ValueError(text)
                return text.lower() in {"true", "1"}
            return kind(text)
        except ValueError:
            raise QueryError(f"parameter {self.name!r} expects {self.type}, got {text!r}") from None


@dataclass(frozen=True)
class QuerySpec:
    """A shipped query: its name, header documentation and declared parameters."""

    name: str
    title: str
    grain: str
    key: tuple[str, ...]
    params: tuple[QueryParam, ...]
    sql: str

    def bind(self, given: dict[str, Any]) -> dict[str, Any]:
        """Parameters for execution: defaults overridden by ``given`` (strings converted)."""
        known = {p.name: p for p in self.params}
        extra = sorted(set(given) - set(known))
        if extra:
            names = ", ".join(known) or "none"
            raise QueryError(
                f"query {self.name!r} has no parameter {extra[0]!r} (parameters: {names})"
            )
        bound: dict[str, Any] = {}
        for p in self.params:
            if p.name in given:
                value = given[p.name]
                bound[p.name] = p.convert(value) if isinstance(value, str) else value
            elif p.default is None:
                raise QueryError(f"query {self.name!r} needs parameter {p.name!r}")
            else:
                bound[p.name] = p.default
        return bound


def query_spec(name: str) -> QuerySpec:
    """Parse the header of shipped query ``name``."""
    sql = query_sql(name)
    title, grain = "", ""
    key: tuple[str, ...] = ()
    params: list[QueryParam] = []
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        text = line[2:].strip()
        if text.startswith(f"{name}:"):
            title = text[len(name) + 1 :].strip()
        elif text.startswith("grain:"):
            grain = text[6:].strip()
        elif text.startswith("key:"):
            key = tuple(k.strip() for k in text[4:].split(",") if k.strip())
        elif text.startswith("param:"):
            m = _PARAM.match(text)
            if m is None or m["type"] not in _TYPES:
                raise QueryError(f"query {name!r}: malformed parameter line {text!r}")
            kind = _TYPES[m["type"]]
            default_text = m["default"]
            default = None
            if default_text is not None:
                default = default_text.lower() == "true" if kind is bool else kind(default_text)
            params.append(QueryParam(m["name"], m["type"], default, (m["doc"] or "").strip()))
    return QuerySpec(name, title, grain, key, tuple(params), sql)


class Store:
    """DuckDB over one dataset: tables registered by name, shipped queries by name.

    Examples
    --------
    >>> from contagion import sample_world
    >>> store = sample_world(positions=2_000, seed=1).store()
    >>> store.sql("select count(*) as n from protocols").column("n")[0].as_py() > 5
    True
    """

    def __init__(self, dataset: Dataset, *, threads: int | None = None) -> None:
        self.dataset = dataset
        self.con = duckdb.connect(":memory:")
        if threads is not None:
            self.con.execute(f"SET threads = {int(threads)}")
        for name, table in dataset.tables.items():
            self.con.register(name, table)
        self._views: set[str] = set()
        self._materialized: set[str] = set()

    @cached_property
    def _specs(self) -> dict[str, QuerySpec]:
        return {name: query_spec(name) for name in list_queries()}

    def _ensure_views(self, sql: str, seen: tuple[str, ...] = ()) -> None:
        """Create as views the parameterless shipped relations that ``sql`` reads."""
        for name, spec in self._specs.items():
            if name in self._views or name in seen or spec.params:
                continue
            if re.search(rf"\b{name}\b", _strip_comments(sql)):
                self._ensure_views(spec.sql, (*seen, name))
                self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {_body(spec.sql)}")
                self._views.add(name)

    def query(self, name: str, params: dict[str, Any] | None = None) -> pa.Table:
        """Run shipped query ``name`` with ``params`` bound; return an Arrow table."""
        if name not in self._specs:
            raise QueryError(f"unknown query {name!r}; shipped queries: {', '.join(self._specs)}")
        spec = self._specs[name]
        bound = spec.bind(params or {})
        self._ensure_views(spec.sql, (name,))
        try:
            return self._run(_body(spec.sql), bound)
        except duckdb.Error as exc:
            raise QueryError(f"query {name!r} failed: {exc}") from None

    def sql(self, text: str, params: dict[str, Any] | list[Any] | None = None) -> pa.Table:
        """Run raw SQL (shipped relations are available by name); values are bound."""
        self._ensure_views(text)
        try:
            return self._run(text, params or {})
        except duckdb.Error as exc:
            raise QueryError(f"SQL failed: {exc}") from None

    def materialize(self, *names: str) -> None:
        """Compute parameterless shipped relations once and keep them as temporary tables.

        A view is recomputed every time a query reads it; a relation that aggregates every
        position and is read by several others (``market_totals``, ``cluster_exposure``) is
        worth computing once per store. Tables are taken as a snapshot of this store's dataset,
        which never changes under it.
        """
        for name in names:
            if name not in self._specs:
                raise QueryError(
                    f"unknown query {name!r}; shipped queries: {', '.join(self._specs)}"
                )
            spec = self._specs[name]
            if spec.params:
                raise QueryError(f"query {name!r} has parameters and cannot be materialized")
            if name in self._materialized:
                continue
            self._ensure_views(spec.sql, (name,))
            try:
                # Views that already read `name` bind by name when run, so they now read
                # the table.
                self.con.execute(f"DROP VIEW IF EXISTS {name}")
                self.con.execute(f"CREATE TEMP TABLE {name} AS {_body(spec.sql)}")
            except duckdb.Error as exc:
                raise QueryError(f"query {name!r} failed: {exc}") from None
            self._views.add(name)
            self._materialized.add(name)

    def close(self) -> None:
        self.con.close()

    def _run(self, text: str, params: dict[str, Any] | list[Any]) -> pa.Table:
        """Run one statement with bound parameters; its rows as Arrow (none for DDL)."""
        relation = self.con.sql(text, params=params or None)
        if relation is None:
            return pa.table({})
        table: pa.Table = relation.to_arrow_table()
        return table


def _strip_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


def _body(sql: str) -> str:
    return _strip_comments(sql).strip().rstrip(";")
