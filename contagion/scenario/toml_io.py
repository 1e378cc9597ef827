"""Scenarios as TOML: read with every key, type and value checked; written back losslessly.

References
----------
TOML v1.0.0 specification (the file format; strings are written as escaped basic strings).
"""

from __future__ import annotations

import tomllib
from dataclasses import MISSING, Field, fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from contagion.exceptions import ScenarioError
from contagion.scenario._checks import _err, _text
from contagion.scenario.events import PricePath, PriceShock
from contagion.scenario.model import (
    _EVENTS,
    _MITIGATIONS,
    Mitigations,
    ModelParams,
    Scenario,
)

if TYPE_CHECKING:
    import os


FloatArray = NDArray[np.float64]

# -- TOML in and out ---------------------------------------------------------------------------


def _build(cls: type, table: Any, where: str, base: Path | None = None) -> Any:
    """``cls(**table)`` with unknown, missing and bad keys reported against ``where``."""
    if not isinstance(table, dict):
        raise _err(where, f"expected a table, got {table!r}")
    names = [f.name for f in fields(cls) if f.init and f.name != "source"]
    allowed = [*names, "csv", "column"] if cls is PricePath else names
    unknown = [k for k in table if k not in allowed]
    if unknown:
        raise _err(
            f"{where}.{unknown[0]}",
            f"unknown key {unknown[0]!r}; known: {', '.join(allowed)}",
        )
    required = [
        f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
    ]
    table = dict(table)
    try:
        if "csv" in table or "column" in table:
            if "relative" in table:
                raise _err("csv", "give 'relative' or 'csv' and 'column', not both")
            path = (base or Path()) / _text("csv", table.pop("csv", None))
            column = _text("column", table.pop("column", None))
            table["relative"] = PricePath.from_csv("-", path, column).relative
        missing = [k for k in required if k not in table]
        if missing:
            raise _err("", f"missing required key {missing[0]!r}")
        return cls(**table)
    except ScenarioError as err:
        raise _err(f"{where}.{err.field}" if err.field else where, err.message) from None


def scenario_from_toml(
    text: str, *, source: str | None = None, base: str | os.PathLike[str] | None = None
) -> Scenario:
    """Parse a scenario from TOML text; ``source`` names it in messages, ``base`` is the
    folder CSV paths are relative to."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"not valid TOML: {err}", file=source) from None
    try:
        return _from_mapping(data, source, Path(base) if base is not None else None)
    except ScenarioError as err:
        raise ScenarioError(err.message, file=source, field=err.field) from None


def _from_mapping(data: dict[str, Any], source: str | None, base: Path | None) -> Scenario:
    top = ("name", "description", *_EVENTS, "mitigations", "params")
    unknown = [k for k in data if k not in top]
    if unknown:
        raise _err(unknown[0], f"unknown key {unknown[0]!r}; known: {', '.join(top)}")
    events: dict[str, Any] = {}
    for key, cls in _EVENTS.items():
        items = data.get(key, [])
        if not isinstance(items, list):
            raise ScenarioError(f"expected an array of tables ([[{key}]])", field=key)
        events[key] = [_build(cls, t, f"{key}[{i}]", base) for i, t in enumerate(items)]
    mit = data.get("mitigations", {})
    if not isinstance(mit, dict):
        raise ScenarioError("expected a table ([mitigations])", field="mitigations")
    extra = [k for k in mit if k not in _MITIGATIONS]
    if extra:
        known = ", ".join(_MITIGATIONS)
        raise _err(f"mitigations.{extra[0]}", f"unknown key {extra[0]!r}; known: {known}")
    mitigations = Mitigations(
        **{k: _build(c, mit[k], f"mitigations.{k}") for k, c in _MITIGATIONS.items() if k in mit}
    )
    params = _build(ModelParams, data.get("params", {}), "params")
    default_name = Path(source).stem if source else ""
    return Scenario(
        name=data.get("name", default_name),
        description=data.get("description", ""),
        mitigations=mitigations,
        params=params,
        source=source,
        **events,
    )


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read a scenario file (TOML, format in ``docs/scenarios.md``).

    Percent strings are accepted wherever a fraction is (``move = "-30%"``); CSV paths are
    relative to the file; ``name`` defaults to the file name without ``.toml``.

    Parameters
    ----------
    path
        The ``.toml`` file.

    Returns
    -------
    Scenario
        With ``source`` set to ``path`` (not compared by ``==``).

    Raises
    ------
    ScenarioError
        The file cannot be read, is not TOML, or has an unknown key, a missing key, a value
        of the wrong type or out of range; the message starts with the file and the field,
        e.g. ``crash.toml: shocks[1].move: expected a number like -0.3 or '-30%', got 'abc'``.

    Examples
    --------
    >>> from contagion.data.scenarios import example_path
    >>> load_scenario(example_path("eth-crash")).shocks[0].move
    -0.3
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(f"cannot read: {err}", file=str(p)) from None
    return scenario_from_toml(text, source=str(p), base=p.parent)


def parse_shock(text: str) -> PriceShock:
    """A shock from the command line: ``'WETH=-30%'`` or ``'WETH=-0.3'``.

    >>> parse_shock("WETH=-30%")
    PriceShock(asset='WETH', move=-0.3, at_round=0, over_rounds=1, correlated={})
    """
    asset, sep, move = text.rpartition("=")
    if not sep or not asset.strip():
        raise _err("shock", f"expected ASSET=MOVE like 'WETH=-30%', got {text!r}")
    try:
        return PriceShock(asset.strip(), move.strip())  # type: ignore[arg-type]
    except ScenarioError as err:
        raise ScenarioError(err.message, field=f"shock {asset.strip()!r}") from None


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        # Basic string: escape the quote, the backslash and every control character.
        out = []
        for ch in v:
            if ch in '"\\':
                out.append("\\" + ch)
            elif ord(ch) < 0x20 or ord(ch) == 0x7F:
                out.append(f"\\u{ord(ch):04X}")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    if isinstance(v, tuple | list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_value(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if is_dataclass(v) and not isinstance(v, type):
        # A rule set (params.clip): an inline table of the fields that differ from default.
        changed = {
            f.name: getattr(v, f.name) for f in fields(v) if getattr(v, f.name) != _default(f)
        }
        return _toml_value(changed)
    raise TypeError(f"cannot write {v!r} to TOML")


def _default(f: Field[Any]) -> Any:
    return f.default_factory() if f.default_factory is not MISSING else f.default


def _toml_table(obj: Any, *, skip_defaults: bool) -> list[str]:
    lines = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.name == "source" or value is None:
            continue
        default = _default(f)
        if skip_defaults and value == default:
            continue
        lines.append(f"{f.name} = {_toml_value(value)}")
    return lines


def scenario_to_toml(scenario: Scenario) -> str:
    """The TOML text of ``scenario``; :func:`scenario_from_toml` reads it back equal."""
    lines = [f"name = {_toml_value(scenario.name)}"]
    if scenario.description:
        lines.append(f"description = {_toml_value(scenario.description)}")
    params = _toml_table(scenario.params, skip_defaults=True)
    if params:
        lines += ["", "[params]", *params]
    for key in _MITIGATIONS:
        mitigation = getattr(scenario.mitigations, key)
        if mitigation is not None:
            lines += [
                "",
                f"[mitigations.{key}]",
                *_toml_table(mitigation, skip_defaults=False),
            ]
    for key in _EVENTS:
        for item in getattr(scenario, key):
            lines += ["", f"[[{key}]]", *_toml_table(item, skip_defaults=False)]
    return "\n".join(lines) + "\n"
