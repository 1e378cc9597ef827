"""The one way to reach files shipped inside the installed package.

SQL files live in the ``queries`` package and real reference data in ``contagion/data``;
both are read through :mod:`importlib.resources`, never through a path relative to the working
directory, so a plain ``pip install .`` works from anywhere.
"""

from __future__ import annotations

import re
from importlib import resources

from contagion.exceptions import QueryError

__all__ = ["data_text", "list_queries", "query_header", "query_sql"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def list_queries() -> list[str]:
    """Names of the shipped SQL queries (file names without ``.sql``), sorted."""
    root = resources.files("queries")
    return sorted(p.name[:-4] for p in root.iterdir() if p.name.endswith(".sql"))


def query_sql(name: str) -> str:
    """Text of the shipped query ``name``; QueryError naming the known queries otherwise."""
    if not _NAME.match(name) or name not in list_queries():
        raise QueryError(f"unknown query {name!r}; shipped queries: {', '.join(list_queries())}")
    return resources.files("queries").joinpath(f"{name}.sql").read_text(encoding="utf-8")


def query_header(name: str) -> str:
    """The leading ``--`` comment block of query ``name``, without the comment markers."""
    lines = []
    for line in query_sql(name).splitlines():
        if not line.startswith("--"):
            break
        lines.append(line[2:].strip())
    return "\n".join(lines)


def data_text(name: str) -> str:
    """Text of a data file shipped in ``contagion/data`` (e.g. ``aave-v3-ethereum.json``)."""
    return resources.files("contagion.data").joinpath(name).read_text(encoding="utf-8")
