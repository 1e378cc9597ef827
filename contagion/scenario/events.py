"""Scenario events: price shocks, depegs, oracle failures, volatility spikes, write-downs,
redemption changes and price paths (frozen, checked on construction)."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from contagion.exceptions import ScenarioError
from contagion.oracles import OVERRIDE_MODES
from contagion.scenario._checks import (
    _check,
    _choice,
    _csv_number,
    _err,
    _int,
    _number,
    _one_of,
    _plain,
    _set,
    _text,
)

if TYPE_CHECKING:
    import os


FloatArray = NDArray[np.float64]

# -- events ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceShock:
    """A move of an asset's price, e.g. ``move=-0.30`` for a 30% fall, with correlated moves:
    ``correlated={"wstETH": 1.0}`` moves wstETH by ``(1 + move) ** 1.0``."""

    asset: str
    move: float
    at_round: int = 0
    over_rounds: int = 1
    correlated: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        move = _number("move", self.move)
        _check("move", move > -1, "> -1 (a fall of 100% leaves no price)", self.move)
        if not isinstance(self.correlated, dict):
            raise _err("correlated", f"expected a table of betas, got {self.correlated!r}")
        betas = {
            _text("correlated", k): _plain(f"correlated.{k}", v) for k, v in self.correlated.items()
        }
        _set(
            self,
            asset=_text("asset", self.asset),
            move=move,
            at_round=_int("at_round", self.at_round),
            over_rounds=_int("over_rounds", self.over_rounds, 1),
            correlated=betas,
        )


@dataclass(frozen=True)
class Depeg:
    """A stablecoin or LST leaving its peg ("broken correlation"): to ``price`` USD, or by
    ``move`` from its snapshot price; composed with any other move of the asset."""

    asset: str
    price: float | None = None
    move: float | None = None
    at_round: int = 0
    over_rounds: int = 1

    def __post_init__(self) -> None:
        _one_of(self, "price", "move")
        price = None if self.price is None else _plain("price", self.price)
        move = None if self.move is None else _number("move", self.move)
        _check("price", price is None or price > 0, "> 0 USD", self.price)
        _check("move", move is None or move > -1, "> -1", self.move)
        _set(
            self,
            asset=_text("asset", self.asset),
            price=price,
            move=move,
            at_round=_int("at_round", self.at_round),
            over_rounds=_int("over_rounds", self.over_rounds, 1),
        )


@dataclass(frozen=True)
class OracleFailure:
    """A feed that stops updating (``frozen``, ``stale``) or publishes a wrong answer
    (``manipulated``: its rule's answer x ``factor``, or ``value``) in rounds ``from_round``
    to ``to_round`` inclusive (None: to the end)."""

    feed: str
    mode: str
    factor: float | None = None
    value: float | None = None
    from_round: int = 0
    to_round: int | None = None

    def __post_init__(self) -> None:
        mode = _choice("mode", self.mode, OVERRIDE_MODES[1:])
        if mode == "manipulated":
            _one_of(self, "factor", "value")
        elif self.factor is not None or self.value is not None:
            raise ScenarioError(f"a {mode} feed takes no factor or value", field="factor")
        factor = None if self.factor is None else _number("factor", self.factor)
        value = None if self.value is None else _plain("value", self.value)
        _check("factor", factor is None or factor > 0, "> 0", self.factor)
        _check("value", value is None or value > 0, "> 0", self.value)
        start = _int("from_round", self.from_round)
        end = None if self.to_round is None else _int("to_round", self.to_round, start)
        _set(self, feed=_text("feed", self.feed), mode=mode, factor=factor, value=value)
        _set(self, from_round=start, to_round=end)


@dataclass(frozen=True)
class VolatilitySpike:
    """Implied volatility of options on ``underlying`` jumps at ``at_round`` by ``iv_points``
    vol points (20 = +0.20) or by the factor ``iv_multiplier``, and stays there."""

    underlying: str
    iv_points: float | None = None
    iv_multiplier: float | None = None
    at_round: int = 0

    def __post_init__(self) -> None:
        _one_of(self, "iv_points", "iv_multiplier")
        points = None if self.iv_points is None else _plain("iv_points", self.iv_points)
        mult = None if self.iv_multiplier is None else _number("iv_multiplier", self.iv_multiplier)
        _check("iv_multiplier", mult is None or mult > 0, "> 0", self.iv_multiplier)
        _set(self, underlying=_text("underlying", self.underlying), iv_points=points)
        _set(self, iv_multiplier=mult, at_round=_int("at_round", self.at_round))


@dataclass(frozen=True)
class ProtocolFailure:
    """``protocol`` loses ``writedown`` (a fraction) of the value behind its receipt tokens
    at ``at_round`` (a hack or bad debt socialised to depositors)."""

    protocol: str
    writedown: float
    at_round: int = 0

    def __post_init__(self) -> None:
        loss = _number("writedown", self.writedown)
        _check(
            "writedown",
            0 <= loss <= 1,
            "between 0 and 1 ('0%' to '100%')",
            self.writedown,
        )
        _set(self, protocol=_text("protocol", self.protocol), writedown=loss)
        _set(self, at_round=_int("at_round", self.at_round))


@dataclass(frozen=True)
class RedemptionChange:
    """A governance change of an algorithmic stablecoin's redemption rule from ``at_round``
    on; parameters left out keep their value (see :mod:`contagion.stablecoins`).

    ``redemption_limit_usd`` and ``redemption_fee`` replace the dataset's columns of the same
    names; ``base_pool_usd`` (the virtual pool's depth, USD at the peg), ``pool_recovery_blocks``
    and ``block_seconds`` put the coin under a market module's virtual-pool rule, or change it.
    """

    asset: str
    at_round: int = 0
    redemption_limit_usd: float | None = None
    redemption_fee: float | None = None
    base_pool_usd: float | None = None
    pool_recovery_blocks: float | None = None
    block_seconds: float | None = None

    def __post_init__(self) -> None:
        values = {f: getattr(self, f) for f in _REDEMPTION_FIELDS}
        if all(v is None for v in values.values()):
            raise _err("", f"give at least one of {', '.join(_REDEMPTION_FIELDS)}")
        num = {f: None if v is None else _plain(f, v) for f, v in values.items()}
        for f, rule, ok in (
            ("redemption_limit_usd", ">= 0 USD a day", lambda x: x >= 0),
            ("redemption_fee", "in [0, 1)", lambda x: 0 <= x < 1),
            ("base_pool_usd", "> 0 USD", lambda x: x > 0),
            ("pool_recovery_blocks", ">= 1 block", lambda x: x >= 1),
            ("block_seconds", "> 0 seconds", lambda x: x > 0),
        ):
            _check(f, num[f] is None or ok(num[f]), rule, values[f])
        _set(
            self,
            asset=_text("asset", self.asset),
            at_round=_int("at_round", self.at_round),
        )
        _set(self, **num)


_REDEMPTION_FIELDS = (
    "redemption_limit_usd",
    "redemption_fee",
    "base_pool_usd",
    "pool_recovery_blocks",
    "block_seconds",
)


@dataclass(frozen=True)
class PricePath:
    """Prices of ``asset`` relative to the snapshot, one point per ``step_rounds`` rounds from
    ``start_round`` (a historical series normalised to its first value, or a hand-made one)."""

    asset: str
    relative: tuple[float, ...]
    start_round: int = 0
    step_rounds: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.relative, str) or not isinstance(self.relative, list | tuple):
            raise _err("relative", f"expected a list of numbers, got {self.relative!r}")
        rel = tuple(_plain(f"relative[{i}]", v) for i, v in enumerate(self.relative))
        _check(
            "relative",
            len(rel) > 0 and min(rel) > 0,
            "non-empty and > 0",
            self.relative,
        )
        _set(self, asset=_text("asset", self.asset), relative=rel)
        _set(self, start_round=_int("start_round", self.start_round))
        _set(self, step_rounds=_int("step_rounds", self.step_rounds, 1))

    @classmethod
    def from_csv(
        cls, asset: str, path: str | os.PathLike[str], column: str, **kw: int
    ) -> PricePath:
        """A path from one column of a CSV file (header row), normalised to its first value."""
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
        except OSError as err:
            raise ScenarioError(f"cannot read {path}: {err.strerror}", field="csv") from None
        if not rows or column not in rows[0]:
            found = ", ".join(rows[0]) if rows else "no rows"
            raise ScenarioError(f"{path} has no column {column!r} ({found})", field="column")
        values = [_csv_number(f"{path} row {i + 2}", r[column]) for i, r in enumerate(rows)]
        _check("csv", values[0] > 0, "a series starting above 0", values[0])
        return cls(asset, tuple(v / values[0] for v in values), **kw)
