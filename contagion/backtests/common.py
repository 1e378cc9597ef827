"""What every backtest shares: its result, the shipped series it reads, and derived worlds.

A :class:`Backtest` states the world it ran on, every parameter with its source, the
observed and modelled series side by side with their error, the headline figures, the
acceptance checks of the event (when it has any) and, in plain words, where the model misses
and why. Series come from the files of :mod:`contagion.data.events`, whose README gives their
provenance; a missing or malformed file raises :class:`~contagion.exceptions.SchemaError`
naming the file and the field.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from contagion.dataset import Dataset
from contagion.exceptions import SchemaError

__all__ = [
    "Acceptance",
    "Backtest",
    "Figure",
    "Parameter",
    "daily_series",
    "derive_world",
    "event_file",
    "markdown_table",
    "stablecoin_series",
    "ten_minute_bars",
    "uniswap_reserves",
]


@dataclass(frozen=True)
class Parameter:
    """One input of a backtest, with where its value comes from."""

    name: str
    value: str
    source: str


@dataclass(frozen=True)
class Figure:
    """A headline number: observed (None when no observation exists) and modelled."""

    name: str
    observed: float | None
    modelled: float
    unit: str = ""
    source: str = ""

    @property
    def error(self) -> float | None:
        return None if self.observed is None else self.modelled - self.observed


@dataclass(frozen=True)
class Acceptance:
    """A pass/fail check stated by the event's acceptance criterion."""

    criterion: str
    passed: bool
    detail: str


@dataclass(frozen=True, eq=False)
class Backtest:
    """The outcome of replaying one historical event through the model.

    Attributes
    ----------
    name, title
        The event's command-line name and its heading.
    world
        Which world the event ran on and how it was derived from the embedded one.
    parameters
        Every input with its value and source; inputs set for this event say so.
    series
        Observed and modelled values side by side: columns ``time``, ``observed``,
        ``modelled``, ``error`` (modelled - observed), plus event-specific columns.
    figures
        Headline numbers, observed against modelled where an observation exists.
    acceptance
        The event's acceptance checks (empty when it has none).
    limitations
        Where the model misses and why, in plain words.
    seconds
        Wall time of the run.
    """

    name: str
    title: str
    world: str
    parameters: tuple[Parameter, ...]
    series: pd.DataFrame
    figures: tuple[Figure, ...]
    acceptance: tuple[Acceptance, ...] = ()
    limitations: tuple[str, ...] = ()
    series_note: str = ""
    seconds: float = field(default=0.0, compare=False)

    @property
    def passed(self) -> bool:
        """True when every acceptance check passes (and when there are none)."""
        return all(a.passed for a in self.acceptance)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (no timing, so equal runs give equal dictionaries)."""
        return {
            "name": self.name,
            "title": self.title,
            "world": self.world,
            "parameters": [vars(p) for p in self.parameters],
            "series": json.loads(self.series.to_json(orient="records")),
            "figures": [{**vars(f), "error": f.error} for f in self.figures],
            "acceptance": [vars(a) for a in self.acceptance],
            "limitations": list(self.limitations),
            "passed": self.passed,
        }

    def to_markdown(self, level: int = 3) -> str:
        """The backtest as a Markdown section (deterministic: no timing in it)."""
        h = "#" * level
        out = [f"{h} {self.title}", "", f"**World.** {self.world}", ""]
        out += [f"{h}# Parameters", ""]
        out += markdown_table(
            ["parameter", "value", "source"],
            [[p.name, p.value, p.source] for p in self.parameters],
        )
        out += ["", f"{h}# Observed vs modelled", ""]
        if self.series_note:
            out += [self.series_note, ""]
        out += markdown_table(list(self.series.columns), _rows(self.series))
        out += ["", f"{h}# Headline figures", ""]
        out += markdown_table(
            ["figure", "observed", "modelled", "error", "source"],
            [
                [
                    f.name + (f" ({f.unit})" if f.unit else ""),
                    "not observed" if f.observed is None else _num(f.observed),
                    _num(f.modelled),
                    "-" if f.error is None else _num(f.error),
                    f.source,
                ]
                for f in self.figures
            ],
        )
        if self.acceptance:
            out += ["", f"{h}# Acceptance", ""]
            out += markdown_table(
                ["criterion", "result", "detail"],
                [[a.criterion, "pass" if a.passed else "FAIL", a.detail] for a in self.acceptance],
            )
        if self.limitations:
            out += ["", f"{h}# Where the model misses, and why", ""]
            out += [f"- {line}" for line in self.limitations]
        return "\n".join(out) + "\n"


def _num(x: float) -> str:
    if isinstance(x, bool | np.bool_):
        return "yes" if x else "no"
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    if abs(x) >= 1e5:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:,.4g}" if abs(x) < 1e3 else f"{x:,.1f}"
    return f"{x:.4f}" if abs(x) >= 1e-4 else f"{x:.2e}"


def _cell(x: Any) -> str:
    if isinstance(x, float | np.floating):
        return "-" if np.isnan(x) else _num(float(x))
    if isinstance(x, bool | np.bool_):
        return "yes" if x else "no"
    return str(x).replace("|", "\\|").replace("\n", " ")


def _rows(frame: pd.DataFrame) -> list[list[Any]]:
    return [list(r) for r in frame.itertuples(index=False)]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Lines of a Markdown table; floats formatted to four significant figures."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(x) for x in row) + " |" for row in rows]
    return lines


# -- shipped series ----------------------------------------------------------------------------


def event_file(name: str) -> Path:
    """Path of a shipped event series; SchemaError naming it when it is absent."""
    path = Path(str(resources.files("contagion.data.events").joinpath(name)))
    if not path.is_file():
        raise SchemaError(f"shipped event series {name} is missing from the installation")
    return path


def _json_list(name: str) -> list[dict[str, Any]]:
    path = event_file(name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise SchemaError(f"not readable JSON: {err}", file=str(path)) from None
    if not isinstance(data, list) or not data or not all(isinstance(r, dict) for r in data):
        raise SchemaError("expected a non-empty list of objects", file=str(path))
    return data


def _positive(path: Path, rows: list[dict[str, Any]], key: str) -> np.ndarray:
    try:
        values = np.array([float(r[key]) for r in rows])
    except (KeyError, TypeError, ValueError):
        bad = next(i for i, r in enumerate(rows) if not _is_number(r.get(key)))
        raise SchemaError(
            f"field {key!r} is missing or not a number", file=str(path), rows=[bad]
        ) from None
    bad_rows = np.flatnonzero(~(np.isfinite(values) & (values > 0))).tolist()
    if bad_rows:
        raise SchemaError(f"field {key!r} must be > 0", file=str(path), rows=bad_rows)
    return values


def _is_number(x: Any) -> bool:
    try:
        float(x)
    except (TypeError, ValueError):
        return False
    return True


def ten_minute_bars(name: str) -> pd.DataFrame:
    """10-minute OHLC bars: ``time`` (UTC), ``open``, ``high``, ``low``, ``close``."""
    rows = _json_list(name)
    path = event_file(name)
    try:
        time = pd.to_datetime([r["time_period_start"] for r in rows], utc=True)
    except (KeyError, ValueError) as err:
        raise SchemaError(f"field 'time_period_start': {err}", file=str(path)) from None
    return pd.DataFrame(
        {
            "time": time,
            **{k: _positive(path, rows, f"price_{k}") for k in ("open", "high", "low", "close")},
        }
    )


def uniswap_reserves(name: str) -> pd.DataFrame:
    """Uniswap v2 ETH/DAI reserves every 10 minutes: columns ``weth``, ``dai``."""
    rows = _json_list(name)
    path = event_file(name)
    return pd.DataFrame(
        {"weth": _positive(path, rows, "WETH"), "dai": _positive(path, rows, "DAI")}
    )


def _csv_rows(name: str) -> tuple[Path, list[dict[str, str]]]:
    path = event_file(name)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            return path, list(csv.DictReader(fh))
    except OSError as err:
        raise SchemaError(f"cannot read: {err.strerror}", file=str(path)) from None


def stablecoin_series(column: str, start: str, end: str) -> pd.Series:
    """Daily prices of one stablecoin column (``terrausd``, ``usd-coin``, ``dai``, ...) for the
    dates ``start`` to ``end`` inclusive (ISO dates), indexed by date string."""
    path, rows = _csv_rows("stablecoins-daily-2020-12-29_2023-07-30.csv")
    if not rows or column not in rows[0]:
        raise SchemaError(f"no column {column!r}", file=str(path), column=column)
    picked = [r for r in rows if start <= r["Date"] <= end]
    return _series(path, picked, "Date", column, start, end)


def daily_series(asset: str, start: str, end: str) -> pd.Series:
    """Daily USD closes of ``eth`` or ``btc`` for ``start`` to ``end`` inclusive."""
    path, rows = _csv_rows(f"{asset}-usd-daily.csv")
    if not rows or "price" not in rows[0] or "snapped_at" not in rows[0]:
        raise SchemaError("expected columns 'snapped_at' and 'price'", file=str(path))
    picked = [{**r, "date": r["snapped_at"][:10]} for r in rows]
    picked = [r for r in picked if start <= r["date"] <= end]
    return _series(path, picked, "date", "price", start, end)


def _series(
    path: Path, rows: list[dict[str, str]], date: str, column: str, start: str, end: str
) -> pd.Series:
    if not rows:
        raise SchemaError(f"no rows between {start} and {end}", file=str(path), column=column)
    values = _positive(path, rows, column)
    return pd.Series(values, index=[r[date] for r in rows], name=column)


# -- derived worlds ----------------------------------------------------------------------------


def derive_world(
    world: Dataset, edits: Mapping[str, Callable[[pd.DataFrame], pd.DataFrame]]
) -> Dataset:
    """A copy of ``world`` with some tables edited (each edit maps a DataFrame to a new one),
    validated again against the data contract."""
    tables = world.tables
    for name, edit in edits.items():
        schema = tables[name].schema
        frame = edit(tables[name].to_pandas())
        tables[name] = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    return Dataset(tables)
