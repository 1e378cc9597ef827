"""Scenarios: what happens to a world, as TOML files and frozen Python objects.

A :class:`Scenario` lists exogenous events (price shocks with correlated moves, depegs,
historical or hand-made price paths, oracle failures, implied-volatility spikes, protocol
write-downs), the mitigations to switch on and the model parameters. :func:`load_scenario`
reads one from TOML (``tomllib``), checking every key, type and value and naming the file and
field of the first problem; :func:`scenario_to_toml` writes it back. :meth:`Scenario.resolve`
ties names to a dataset (assets by exact symbol or ``asset_id``, feeds by ``feed_id`` or
description, protocols by ``protocol_id``) and :meth:`ResolvedScenario.schedule` turns the
events into per-round numpy arrays for the solver. The file format is documented field by
field in ``docs/scenarios.md``; examples ship in :mod:`contagion.data.scenarios`.

Rounds are numbered from 0; "over N rounds" spreads a move evenly in log terms over rounds
``at_round .. at_round + N - 1``. Moves compose multiplicatively. A correlated move with beta
``b`` follows the log return: the asset's price is multiplied by ``(1 + move) ** b``, which stays
positive for any move above -100%.

References
----------
TOML v1.0.0 specification (the file format; strings are written as escaped basic strings).
Gudgeon, L. et al. (2020). The Decentralized Financial Crisis (Black Thursday, the example).
"""

from __future__ import annotations

import csv
import difflib
import math
import tomllib
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from contagion.exceptions import ScenarioError
from contagion.oracles import OVERRIDE_MODES, FeedOverrides

if TYPE_CHECKING:
    import os

    from contagion.dataset import Dataset

__all__ = [
    "CircuitBreaker",
    "Depeg",
    "DynamicMargin",
    "Mitigations",
    "ModelParams",
    "OptionsAmm",
    "OracleFailure",
    "PricePath",
    "PriceShock",
    "ProtocolFailure",
    "RedemptionChange",
    "ResolvedScenario",
    "Scenario",
    "Schedule",
    "VolatilitySpike",
    "load_scenario",
    "parse_shock",
    "scenario_from_toml",
    "scenario_to_toml",
]

FloatArray = NDArray[np.float64]

# -- value checks: each raises ScenarioError naming the field ----------------------------------


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
        _check("writedown", 0 <= loss <= 1, "between 0 and 1 ('0%' to '100%')", self.writedown)
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
        _set(self, asset=_text("asset", self.asset), at_round=_int("at_round", self.at_round))
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
        _check("relative", len(rel) > 0 and min(rel) > 0, "non-empty and > 0", self.relative)
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


# -- mitigations and parameters ----------------------------------------------------------------


@dataclass(frozen=True)
class CircuitBreaker:
    """Pause liquidations and oracle updates for ``pause_rounds`` once an asset moves by more
    than ``max_move`` in one round (default pause: 15 rounds = the 15-minute halt of the NYSE
    market-wide circuit breaker, Rule 7.12, at 60-second rounds)."""

    max_move: float
    pause_rounds: int = 15

    def __post_init__(self) -> None:
        move = _number("max_move", self.max_move)
        _check("max_move", 0 < move <= 1, "in (0, 1]", self.max_move)
        _set(self, max_move=move, pause_rounds=_int("pause_rounds", self.pause_rounds, 1))


@dataclass(frozen=True)
class DynamicMargin:
    """Scale liquidation thresholds down as risk rises: ``mode='volatility'`` multiplies them by
    ``(iv_0 / iv) ** sensitivity``; ``mode='gex'`` by ``1 - sensitivity x`` (dealers' negative
    gamma exposure / the asset's external 2% depth), floored at 0."""

    mode: str
    sensitivity: float = 1.0

    def __post_init__(self) -> None:
        s = _plain("sensitivity", self.sensitivity)
        _check("sensitivity", s >= 0, ">= 0", self.sensitivity)
        _set(self, mode=_choice("mode", self.mode, ("volatility", "gex")), sensitivity=s)


@dataclass(frozen=True)
class OptionsAmm:
    """An options AMM that absorbs up to ``buffer_usd`` of dealer hedge flow per round."""

    buffer_usd: float

    def __post_init__(self) -> None:
        b = _plain("buffer_usd", self.buffer_usd)
        _check("buffer_usd", b >= 0, ">= 0", self.buffer_usd)
        _set(self, buffer_usd=b)


@dataclass(frozen=True)
class Mitigations:
    """Mitigations to switch on; all off (None) by default."""

    circuit_breaker: CircuitBreaker | None = None
    dynamic_margin: DynamicMargin | None = None
    options_amm: OptionsAmm | None = None

    def __post_init__(self) -> None:
        for f, cls in (("circuit_breaker", CircuitBreaker), ("dynamic_margin", DynamicMargin)):
            if not isinstance(getattr(self, f), cls | None):
                raise ScenarioError(f"expected a {cls.__name__}", field=f)
        if not isinstance(self.options_amm, OptionsAmm | None):
            raise ScenarioError("expected an OptionsAmm", field="options_amm")


@dataclass(frozen=True)
class ModelParams:
    """Solver settings, with the source of each default.

    Attributes
    ----------
    round_seconds : int, default 60
        Length of a round: five 12-second Ethereum slots.
    liquidator_capacity_usd : float, default 50e6
        Debt all liquidators together repay per round, USD. Assumption: flash loans make
        capital ample; lower it to study congested liquidators (Black Thursday).
    gas_usd : float, default 20
        Gas cost of one liquidation, USD: an Aave v3 ``liquidationCall`` uses roughly
        300-400k gas; 350k gas x 30 gwei x 1,800 USD/ETH is about 19 USD. Liquidations whose
        profit is below it are not taken (Qin et al. 2021 on liquidator profitability).
    keeper_capacity_usd : float, default 10e6
        CDP auction debt keepers cover per round, USD (assumption).
    keeper_capacity_path : list of float, default empty
        Keeper capacity round by round (USD), for keepers whose participation changes over
        the run (gas spikes, stalled bots); rounds past its end use ``keeper_capacity_usd``.
    cdp_auction : {'market', 'flip'}, default 'market'
        How CDP collateral is auctioned: ``market``, keepers buy at the market price less
        their margin (Liquidations 2.0 style); ``flip``, Maker's 2020 ``Flipper`` with tend,
        dent, a 10-minute bid duration and a 0-DAI bidder
        (:class:`~contagion.lending.cdp.FlipRules`).
    iv_response : float, default 0.5
        Implied-volatility points added per 1% realised move of the underlying, either
        direction (assumption; 0 switches the vega feedback off).
    dealer_sign : {'dataset', 'short', 'long'}
        Side of the option dealers: the option table's ``dealer_sign``, or all short / long.
    hedge_threshold : float, default 0.01
        Option dealers re-hedge an underlying once it has moved this much (relative) since
        their last hedge: move-based hedging bands (Whalley & Wilmott 1997; Leland 1985 on
        hedging under transaction costs). Assumption: 1%, a common desk threshold; 0 hedges
        every round.
    external_depth_scale : float, default 1
        Multiplies every asset's ``depth_2pct_usd`` (0.5 halves outside liquidity).
    max_rounds : int, default 180
        Round limit: three hours at 60 s, enough for a Maker OSM to publish a move (up to
        two one-hour hops late) and for every Chainlink heartbeat of one hour.
    tol : float, default 1e-6
        A round whose largest relative price change is below ``tol`` (and that liquidates
        nothing) ends the run.

    References
    ----------
    Qin, K. et al. (2021). An Empirical Study of DeFi Liquidations.
    Toth, B. et al. (2011). Anomalous price impact and the critical nature of liquidity in
    financial markets. Physical Review X 1.
    """

    round_seconds: int = 60
    liquidator_capacity_usd: float = 50e6
    gas_usd: float = 20.0
    keeper_capacity_usd: float = 10e6
    keeper_capacity_path: tuple[float, ...] = ()
    cdp_auction: Literal["market", "flip"] = "market"
    iv_response: float = 0.5
    dealer_sign: Literal["dataset", "short", "long"] = "dataset"
    hedge_threshold: float = 0.01
    external_depth_scale: float = 1.0
    max_rounds: int = 180
    tol: float = 1e-6

    def __post_init__(self) -> None:
        num = {f: _plain(f, getattr(self, f)) for f in _PARAM_FLOATS}
        for f in ("liquidator_capacity_usd", "gas_usd", "keeper_capacity_usd", "hedge_threshold"):
            _check(f, num[f] >= 0, ">= 0", getattr(self, f))
        for f in ("external_depth_scale", "tol"):
            _check(f, num[f] > 0, "> 0", getattr(self, f))
        _set(self, **num, dealer_sign=_choice("dealer_sign", self.dealer_sign, _SIGNS))
        _set(self, cdp_auction=_choice("cdp_auction", self.cdp_auction, ("market", "flip")))
        path = self.keeper_capacity_path
        if isinstance(path, str | bytes) or not isinstance(path, list | tuple):
            raise _err("keeper_capacity_path", f"expected a list of numbers, got {path!r}")
        keepers = tuple(_plain(f"keeper_capacity_path[{i}]", v) for i, v in enumerate(path))
        for i, v in enumerate(keepers):
            _check(f"keeper_capacity_path[{i}]", v >= 0, ">= 0", path[i])
        _set(self, keeper_capacity_path=keepers)
        _set(self, round_seconds=_int("round_seconds", self.round_seconds, 1))
        _set(self, max_rounds=_int("max_rounds", self.max_rounds, 1))


_PARAM_FLOATS = (
    "liquidator_capacity_usd",
    "hedge_threshold",
    "gas_usd",
    "keeper_capacity_usd",
    "iv_response",
    "external_depth_scale",
    "tol",
)
_SIGNS = ("dataset", "short", "long")
_EVENTS: dict[str, type] = {
    "shocks": PriceShock,
    "depegs": Depeg,
    "oracle_failures": OracleFailure,
    "volatility_spikes": VolatilitySpike,
    "protocol_failures": ProtocolFailure,
    "paths": PricePath,
    "redemption_changes": RedemptionChange,
}
_MITIGATIONS: dict[str, type] = {
    "circuit_breaker": CircuitBreaker,
    "dynamic_margin": DynamicMargin,
    "options_amm": OptionsAmm,
}


@dataclass(frozen=True)
class Scenario:
    """A named set of events, mitigations and parameters.

    Examples
    --------
    >>> s = Scenario("crash", shocks=[parse_shock("WETH=-30%")])
    >>> s.shocks[0].move
    -0.3
    >>> scenario_from_toml(scenario_to_toml(s)) == s
    True
    """

    name: str
    description: str = ""
    shocks: Sequence[PriceShock] = ()
    depegs: Sequence[Depeg] = ()
    oracle_failures: Sequence[OracleFailure] = ()
    volatility_spikes: Sequence[VolatilitySpike] = ()
    protocol_failures: Sequence[ProtocolFailure] = ()
    paths: Sequence[PricePath] = ()
    redemption_changes: Sequence[RedemptionChange] = ()
    mitigations: Mitigations = field(default_factory=Mitigations)
    params: ModelParams = field(default_factory=ModelParams)
    source: str | None = field(default=None, compare=False, repr=False)
    """File the scenario was read from (for messages)."""

    def __post_init__(self) -> None:
        _set(self, name=_text("name", self.name))
        if not isinstance(self.description, str):
            raise _err("description", f"expected a string, got {self.description!r}")
        for key, cls in _EVENTS.items():
            items = getattr(self, key)
            if isinstance(items, str | bytes) or not isinstance(items, list | tuple):
                raise ScenarioError(f"expected a list of {cls.__name__}", field=key)
            for i, item in enumerate(items):
                if not isinstance(item, cls):
                    raise ScenarioError(f"expected a {cls.__name__}", field=f"{key}[{i}]")
            _set(self, **{key: tuple(items)})
        if not isinstance(self.mitigations, Mitigations):
            raise ScenarioError("expected Mitigations", field="mitigations")
        if not isinstance(self.params, ModelParams):
            raise ScenarioError("expected ModelParams", field="params")

    def resolve(self, dataset: Dataset) -> ResolvedScenario:
        """Tie every name to ``dataset``.

        Raises
        ------
        ScenarioError
            A name matches nothing (the message lists similar symbols, descriptions or ids),
            or an untrusted symbol or description matches several; a volatility spike on an
            asset without options; a write-down of a protocol that issues no token; two
            overlapping failures of one feed. The message names the file and the field.
        """
        try:
            return _resolve(self, dataset)
        except ScenarioError as err:
            raise ScenarioError(err.message, file=self.source, field=err.field) from None


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
            f"{where}.{unknown[0]}", f"unknown key {unknown[0]!r}; known: {', '.join(allowed)}"
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
    raise TypeError(f"cannot write {v!r} to TOML")


def _toml_table(obj: Any, *, skip_defaults: bool) -> list[str]:
    lines = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.name == "source" or value is None:
            continue
        default = f.default_factory() if f.default_factory is not MISSING else f.default
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
            lines += ["", f"[mitigations.{key}]", *_toml_table(mitigation, skip_defaults=False)]
    for key in _EVENTS:
        for item in getattr(scenario, key):
            lines += ["", f"[[{key}]]", *_toml_table(item, skip_defaults=False)]
    return "\n".join(lines) + "\n"


# -- resolution against a dataset and the per-round schedule ----------------------------------


@dataclass(frozen=True, eq=False)
class Schedule:
    """The scenario's exogenous inputs per round (rows) and asset, feed or protocol (columns).

    Attributes
    ----------
    move
        Relative move of each asset's reference price within the round (-0.1 = falls 10%).
    oracle_mode, oracle_factor, oracle_value
        Feed overrides per round (codes of :data:`contagion.oracles.OVERRIDE_MODES`; factor 1
        and value NaN where there is none); :meth:`feed_overrides` gives one round's.
    vol_points, vol_multiplier
        Implied-volatility jumps per underlying asset in the round they happen (0 and 1
        elsewhere); the new level persists.
    writedown
        Fraction of the remaining value behind each protocol's receipt tokens lost in the round.
    redemption_changes
        Governance changes of algorithmic coins' redemption rules, in round order (those past
        the last round are cut off).
    """

    asset_ids: tuple[str, ...]
    feed_ids: tuple[str, ...]
    protocol_ids: tuple[str, ...]
    move: FloatArray
    oracle_mode: NDArray[np.int8]
    oracle_factor: FloatArray
    oracle_value: FloatArray
    vol_points: FloatArray
    vol_multiplier: FloatArray
    writedown: FloatArray
    redemption_changes: tuple[ResolvedRedemptionChange, ...] = ()

    @property
    def n_rounds(self) -> int:
        return int(self.move.shape[0])

    @property
    def level(self) -> FloatArray:
        """Reference price after each round relative to the snapshot (cumulative product)."""
        return np.asarray(np.cumprod(1.0 + self.move, axis=0), dtype=np.float64)

    def feed_overrides(self, round_index: int) -> FeedOverrides:
        """The overrides :func:`contagion.oracles.update_feeds` takes for one round."""
        r = round_index
        return FeedOverrides(self.oracle_mode[r], self.oracle_factor[r], self.oracle_value[r])


class ResolvedMove(NamedTuple):
    """A resolved shock, correlated move or depeg: total log move spread over rounds."""

    asset_id: str
    log_move: float
    at_round: int
    over_rounds: int


class ResolvedPath(NamedTuple):
    """A resolved price path: log levels, one per ``step_rounds`` rounds."""

    asset_id: str
    log_levels: tuple[float, ...]
    start_round: int
    step_rounds: int


class ResolvedOverride(NamedTuple):
    """A resolved oracle failure (``mode`` is a code of ``OVERRIDE_MODES``)."""

    feed_id: str
    mode: int
    factor: float
    value: float
    from_round: int
    to_round: int | None


class ResolvedSpike(NamedTuple):
    """A resolved volatility spike (points 0 or multiplier 1 when not given)."""

    asset_id: str
    points: float
    multiplier: float
    at_round: int


class ResolvedRedemptionChange(NamedTuple):
    """A resolved redemption change (None: the parameter keeps its value)."""

    asset_id: str
    at_round: int
    redemption_limit_usd: float | None
    redemption_fee: float | None
    base_pool_usd: float | None
    pool_recovery_blocks: float | None
    block_seconds: float | None


class ResolvedWritedown(NamedTuple):
    """A resolved protocol failure."""

    protocol_id: str
    writedown: float
    at_round: int


@dataclass(frozen=True, eq=False)
class ResolvedScenario:
    """A scenario whose names are the dataset's ids (see :meth:`Scenario.resolve`).

    ``moves`` holds every shock, correlated move and depeg as a log move spread over rounds;
    ``paths``, ``oracle``, ``vols`` and ``writedowns`` the other events, all as named tuples
    of ids and numbers. ``asset_ids``, ``feed_ids`` and ``protocol_ids`` are in dataset order.
    """

    scenario: Scenario
    asset_ids: tuple[str, ...]
    feed_ids: tuple[str, ...]
    protocol_ids: tuple[str, ...]
    moves: tuple[ResolvedMove, ...]
    paths: tuple[ResolvedPath, ...]
    oracle: tuple[ResolvedOverride, ...]
    vols: tuple[ResolvedSpike, ...]
    writedowns: tuple[ResolvedWritedown, ...]
    redemption_changes: tuple[ResolvedRedemptionChange, ...] = ()

    def schedule(
        self,
        n_rounds: int,
        asset_ids: list[str] | tuple[str, ...] | None = None,
        *,
        feed_ids: list[str] | tuple[str, ...] | None = None,
        protocol_ids: list[str] | tuple[str, ...] | None = None,
    ) -> Schedule:
        """Per-round arrays for ``n_rounds`` rounds, columns in the given id orders (dataset
        order by default). Events past the last round are cut off.

        Examples
        --------
        >>> import contagion
        >>> world = contagion.sample_world(positions=200)
        >>> s = Scenario("x", shocks=[PriceShock("ETH", "-19%", over_rounds=2)])
        >>> sched = s.resolve(world).schedule(3)
        >>> eth = sched.asset_ids.index("1:0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee")
        >>> [round(float(x), 6) for x in sched.move[:, eth]]
        [-0.1, -0.1, 0.0]
        """
        assets = tuple(asset_ids) if asset_ids is not None else self.asset_ids
        feeds = tuple(feed_ids) if feed_ids is not None else self.feed_ids
        protos = tuple(protocol_ids) if protocol_ids is not None else self.protocol_ids
        col = _columns(assets, "asset")
        n = _int("n_rounds", n_rounds, 1)
        log_move = np.zeros((n, len(assets)))
        for asset, total, at, over in self.moves:
            log_move[at : at + over, col(asset)] += total / over
        for asset, levels, start, step in self.paths:
            steps = np.repeat(np.diff(np.asarray(levels), prepend=0.0) / step, step)
            end = min(n, start + steps.size)
            if end > start:
                log_move[start:end, col(asset)] += steps[: end - start]
        fcol = _columns(feeds, "feed")
        mode = np.zeros((n, len(feeds)), np.int8)
        factor, value = np.ones((n, len(feeds))), np.full((n, len(feeds)), np.nan)
        for feed, code, fac, val, start, stop in self.oracle:
            rows, c = slice(start, n if stop is None else stop + 1), fcol(feed)
            mode[rows, c], factor[rows, c], value[rows, c] = code, fac, val
        points, mult = np.zeros((n, len(assets))), np.ones((n, len(assets)))
        for asset, pts, mul, at in self.vols:
            if at < n:
                points[at, col(asset)] += pts
                mult[at, col(asset)] *= mul
        keep = np.ones((n, len(protos)))
        pcol = _columns(protos, "protocol")
        for protocol, loss, at in self.writedowns:
            if at < n:
                keep[at, pcol(protocol)] *= 1.0 - loss
        return Schedule(
            asset_ids=assets,
            feed_ids=feeds,
            protocol_ids=protos,
            move=np.expm1(log_move),
            oracle_mode=mode,
            oracle_factor=factor,
            oracle_value=value,
            vol_points=points,
            vol_multiplier=mult,
            writedown=1.0 - keep,
            redemption_changes=tuple(
                sorted(
                    (c for c in self.redemption_changes if c.at_round < n),
                    key=lambda c: c.at_round,
                )
            ),
        )


def _columns(ids: tuple[str, ...], what: str) -> Any:
    where = {x: i for i, x in enumerate(ids)}

    def col(x: str) -> int:
        if x not in where:
            raise ScenarioError(f"the scenario moves {what} {x!r}, which the given ids lack")
        return where[x]

    return col


def _lookup(name: str, ids: list[str], labels: list[str], what: str, field_: str) -> str:
    """Resolve ``name`` as an id or an exact label (untrusted text); list candidates."""
    by_label = [i for i, label in zip(ids, labels, strict=True) if label == name]
    hits = list(dict.fromkeys(([name] if name in ids else []) + by_label))
    if len(hits) == 1:
        return hits[0]
    if hits:
        listed = ", ".join(repr(h) for h in hits)
        raise _err(field_, f"{what} {name!r} is ambiguous: {listed}; give one of these ids")
    fold = name.casefold()
    near = [i for i, label in zip(ids, labels, strict=True) if label.casefold() == fold]
    close = difflib.get_close_matches(name, labels, n=5, cutoff=0.6)
    near += [i for i, label in zip(ids, labels, strict=True) if label in close and i not in near]
    near += [i for i in difflib.get_close_matches(name, ids, n=3, cutoff=0.8) if i not in near]
    shown = [
        f"{labels[ids.index(i)]!r} ({i})" if labels[ids.index(i)] != i else repr(i) for i in near
    ]
    hint = f"candidates: {', '.join(shown)}" if shown else f"no similar {what} in the dataset"
    raise _err(field_, f"unknown {what} {name!r}; {hint}")


def _end(to_round: int | None) -> float:
    return math.inf if to_round is None else to_round


def _resolve(s: Scenario, dataset: Dataset) -> ResolvedScenario:
    assets = dataset.table("assets")
    asset_ids = [str(a) for a in assets.column("asset_id").to_pylist()]
    symbols = [str(x) for x in assets.column("symbol").to_pylist()]
    price = dict(zip(asset_ids, assets.column("price_usd").to_pylist(), strict=True))
    feeds = dataset.table("oracle_feeds")
    feed_ids = [str(f) for f in feeds.column("feed_id").to_pylist()]
    descriptions = [str(d) for d in feeds.column("description").to_pylist()]
    protocol_ids = [str(p) for p in dataset.table("protocols").column("protocol_id").to_pylist()]

    def asset(name: str, where: str) -> str:
        return _lookup(name, asset_ids, symbols, "asset", where)

    moves: list[ResolvedMove] = []
    for i, shock in enumerate(s.shocks):
        main = asset(shock.asset, f"shocks[{i}].asset")
        moves.append(ResolvedMove(main, math.log1p(shock.move), shock.at_round, shock.over_rounds))
        for name, beta in shock.correlated.items():
            other = asset(name, f"shocks[{i}].correlated.{name}")
            if other == main:
                raise _err(f"shocks[{i}].correlated.{name}", "is the shocked asset itself")
            log_move = beta * math.log1p(shock.move)
            moves.append(ResolvedMove(other, log_move, shock.at_round, shock.over_rounds))
    for i, d in enumerate(s.depegs):
        a = asset(d.asset, f"depegs[{i}].asset")
        total = math.log(d.price / price[a]) if d.price is not None else math.log1p(d.move or 0.0)
        moves.append(ResolvedMove(a, total, d.at_round, d.over_rounds))
    paths = tuple(
        ResolvedPath(
            asset(p.asset, f"paths[{i}].asset"),
            tuple(np.log(p.relative).tolist()),
            p.start_round,
            p.step_rounds,
        )
        for i, p in enumerate(s.paths)
    )
    oracle: list[ResolvedOverride] = []
    for i, o in enumerate(s.oracle_failures):
        f = _lookup(o.feed, feed_ids, descriptions, "feed", f"oracle_failures[{i}].feed")
        for j, prev in enumerate(oracle):
            if (
                prev.feed_id == f
                and o.from_round <= _end(prev.to_round)
                and prev.from_round <= _end(o.to_round)
            ):
                raise _err(f"oracle_failures[{i}]", f"overlaps oracle_failures[{j}] (same feed)")
        fac = o.factor if o.factor is not None else 1.0
        val = o.value if o.value is not None else math.nan
        oracle.append(
            ResolvedOverride(f, OVERRIDE_MODES.index(o.mode), fac, val, o.from_round, o.to_round)
        )
    options = set(dataset.table("option_series").column("underlying_asset_id").to_pylist())
    vols: list[ResolvedSpike] = []
    for i, v in enumerate(s.volatility_spikes):
        where = f"volatility_spikes[{i}].underlying"
        a = asset(v.underlying, where)
        if a not in options:
            listed = ", ".join(f"{symbols[asset_ids.index(u)]!r} ({u})" for u in sorted(options))
            raise _err(where, f"no option series on {v.underlying!r}; underlyings: {listed}")
        pts = v.iv_points if v.iv_points is not None else 0.0
        mult = v.iv_multiplier if v.iv_multiplier is not None else 1.0
        vols.append(ResolvedSpike(a, pts, mult, v.at_round))
    issuers = sorted(
        set(dataset.table("wrappers").column("protocol_id").to_pylist())
        | set(dataset.table("stablecoins").column("protocol_id").to_pylist())
    )
    writedowns: list[ResolvedWritedown] = []
    for i, w in enumerate(s.protocol_failures):
        where = f"protocol_failures[{i}].protocol"
        p = _lookup(w.protocol, protocol_ids, protocol_ids, "protocol", where)
        if p not in issuers:
            listed = ", ".join(issuers)
            raise _err(where, f"{p!r} issues no receipt or stablecoin token; issuers: {listed}")
        writedowns.append(ResolvedWritedown(p, w.writedown, w.at_round))
    return ResolvedScenario(
        scenario=s,
        asset_ids=tuple(asset_ids),
        feed_ids=tuple(feed_ids),
        protocol_ids=tuple(protocol_ids),
        moves=tuple(moves),
        paths=paths,
        oracle=tuple(oracle),
        vols=tuple(vols),
        writedowns=tuple(writedowns),
        redemption_changes=_redemption_changes(s, dataset, asset),
    )


def _redemption_changes(
    s: Scenario, dataset: Dataset, asset: Any
) -> tuple[ResolvedRedemptionChange, ...]:
    """Resolve ``redemption_changes``: algorithmic coins only, and a virtual pool complete."""
    coins = dataset.df("stablecoins")
    algorithmic = set(coins.loc[coins["mechanism"] == "algorithmic", "asset_id"])
    pool_keys = ("base_pool_usd", "pool_recovery_blocks", "block_seconds")
    known: dict[str, set[str]] = {}
    out: list[ResolvedRedemptionChange] = []
    order = sorted(range(len(s.redemption_changes)), key=lambda i: s.redemption_changes[i].at_round)
    for i in order:
        c = s.redemption_changes[i]
        where = f"redemption_changes[{i}]"
        a = asset(c.asset, f"{where}.asset")
        if a not in algorithmic:
            raise _err(f"{where}.asset", f"{c.asset!r} is not an algorithmic stablecoin")
        have = known.setdefault(a, set())
        have |= {k for k in pool_keys if getattr(c, k) is not None}
        if have and have != set(pool_keys):
            missing = ", ".join(k for k in pool_keys if k not in have)
            raise _err(where, f"a virtual pool also needs {missing} (here or earlier)")
        out.append(
            ResolvedRedemptionChange(a, c.at_round, *(getattr(c, f) for f in _REDEMPTION_FIELDS))
        )
    return tuple(out)
