"""Value checks of scenario fields: each raises ScenarioError naming the field."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from contagion.exceptions import ScenarioError

if TYPE_CHECKING:
    pass

FloatArray = NDArray[np.float64]


def _number(name: str, raw: Any, *, percent: bool = True) -> float:
    """A finite float from a number or (when ``percent``) a string like '-30%' or '-0.3'."""
    example = "a number like -0.3 or '-30%'" if percent else "a number"
    value: Any = raw
    if isinstance(raw, str) and percent:
        text = raw.strip()
        scale = 0.01 if text.endswith("%") else 1.0
        try:
            value = float(text.removesuffix("%")) * scale
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(f"expected {example}, got {raw!r}", field=name)
    return float(value)


def _plain(name: str, raw: Any) -> float:
    """A finite float given as a number (no percent strings: prices, betas, vol points)."""
    return _number(name, raw, percent=False)


def _csv_number(where: str, raw: str | None) -> float:
    try:
        return _plain(where, float(raw or ""))
    except ValueError:
        raise _err("csv", f"{where}: expected a number, got {raw!r}") from None


def _err(where: str, message: str) -> ScenarioError:
    return ScenarioError(message, field=where)


def _check(name: str, ok: bool, rule: str, raw: Any) -> None:
    if not ok:
        raise ScenarioError(f"must be {rule}, got {raw!r}", field=name)


def _int(name: str, raw: Any, minimum: int = 0) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ScenarioError(f"expected a whole number, got {raw!r}", field=name)
    _check(name, raw >= minimum, f">= {minimum}", raw)
    return raw


def _text(name: str, raw: Any) -> str:
    if not isinstance(raw, str) or not raw:
        raise ScenarioError(f"expected a non-empty string, got {raw!r}", field=name)
    return raw


def _choice(name: str, raw: Any, choices: tuple[str, ...]) -> str:
    if raw not in choices:
        raise _err(name, f"expected one of {', '.join(map(repr, choices))}; got {raw!r}")
    return str(raw)


def _one_of(obj: Any, a: str, b: str) -> None:
    if (getattr(obj, a) is None) == (getattr(obj, b) is None):
        raise ScenarioError(f"give exactly one of {a!r} and {b!r}", field=a)


def _set(obj: Any, **values: Any) -> None:
    # Frozen dataclasses normalise their inputs (percent strings, lists) once, here.
    for k, v in values.items():
        object.__setattr__(obj, k, v)
