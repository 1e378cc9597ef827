"""Mitigations, model parameters and the :class:`Scenario` that holds them with its events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import NDArray

from contagion.exceptions import ScenarioError
from contagion.lending.aave import AAVE_VERSIONS
from contagion.lending.cdp import ClipRules
from contagion.scenario._checks import (
    _check,
    _choice,
    _err,
    _int,
    _number,
    _plain,
    _set,
    _text,
)
from contagion.scenario.events import (
    Depeg,
    OracleFailure,
    PricePath,
    PriceShock,
    ProtocolFailure,
    RedemptionChange,
    VolatilitySpike,
)

if TYPE_CHECKING:
    from contagion.dataset import Dataset
    from contagion.scenario.schedule import ResolvedScenario

FloatArray = NDArray[np.float64]

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
        for f, cls in (
            ("circuit_breaker", CircuitBreaker),
            ("dynamic_margin", DynamicMargin),
        ):
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
    cdp_auction : {'market', 'flip', 'clip'}, default 'market'
        How CDP collateral is auctioned: ``market``, keepers buy at the market price less
        their margin, the price competing keepers take a falling-price auction at (a
        simplification of Liquidations 2.0); ``flip``, Maker's 2020 ``Flipper`` with tend,
        dent, a 10-minute bid duration and a 0-DAI bidder
        (:class:`~contagion.lending.cdp.FlipRules`); ``clip``, Maker's Liquidations 2.0
        ``Dog`` and ``Clipper`` with ETH-A's parameters: barks within the ``Hole`` limits,
        auctions starting at 130 % of the OSM price and falling 1 % every 90 s, taken by
        keepers once at or below the market less their margin, reset after 140 minutes
        (``clip``).
    clip : ClipRules, default ETH-A's of November 2021
        The ``Dog`` and ``Clipper`` parameters of ``cdp_auction = 'clip'``
        (:class:`~contagion.lending.cdp.ClipRules`: ``buf``, ``cut``, ``step_s``, ``tail_s``,
        ``cusp``, ``chip``, ``tip``, ``ilk_hole``, ``hole``, ``dust``, ``ilk_holes``); a
        table in TOML (``[params.clip]``), e.g. ``hole = 150e6`` and ``ilk_hole = 65e6`` for
        the throughput Maker voted on 2021-11-15, ``ilk_holes = { wstETH = 7e6 }`` for
        WSTETH-A's (assets by symbol or id, resolved against the dataset).
    aave_version : {'3.0', '3.3'}, default '3.0'
        Aave liquidation rules (:func:`~contagion.lending.aave.aave_liquidation`): ``3.0``,
        the release live on the shipped world's date (2023), whose close factor is 50 % of
        the debt asset's balance above HF 0.95; ``3.3`` (2025), whose 50 % is of the user's
        whole debt, which lets balances under 2,000 USD go whole and makes a partial call
        leave at least 1,000 USD of debt and of collateral.
    iv_response : float, default 0.5
        Implied-volatility points added per 1% realised move of the underlying, either
        direction (assumption; 0 switches the vega feedback off).
    dealer_sign : {'dataset', 'short', 'long'}
        Side of the option dealers: the option table's ``dealer_sign``, or all short / long.
    hedge_threshold : float, default 0.01
        Option dealers re-hedge an underlying once it has moved this much (relative) since
        their last hedge, or once the hedge they need differs from the one they hold by more
        than such a move would change it (``|gamma| · S · threshold``; implied volatility
        moves deltas too): hedging bands (Whalley & Wilmott 1997; Leland 1985 on hedging
        under transaction costs). Assumption: 1%, a common desk threshold; 0 hedges every
        round.
    external_depth_scale : float, default 1
        Multiplies every asset's ``depth_2pct_usd`` (0.5 halves outside liquidity), in the
        clearing and in the depth liquidators and redemption arbitrage price their slippage
        with (probed again on the scaled venues).
    run_rate_per_day : float, default 1
        Holder run on algorithmic coins: intensity per day at full depeg and no backing (1:
        63 % of the remaining holders a day; :class:`~contagion.stablecoins.AlgorithmicParams`,
        an order-of-magnitude assumption).
    run_depeg_saturation : float, default 0.25
        Depeg at which the run's depeg term saturates (UST's 25 % of 2022-05-09).
    covered_run_weight : float, default 0.1
        Share of the run's full intensity left while the governance token covers the coins.
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
    cdp_auction: Literal["market", "flip", "clip"] = "market"
    clip: ClipRules = field(default_factory=ClipRules)
    aave_version: Literal["3.0", "3.3"] = "3.0"
    iv_response: float = 0.5
    dealer_sign: Literal["dataset", "short", "long"] = "dataset"
    hedge_threshold: float = 0.01
    external_depth_scale: float = 1.0
    run_rate_per_day: float = 1.0
    run_depeg_saturation: float = 0.25
    covered_run_weight: float = 0.1
    max_rounds: int = 180
    tol: float = 1e-6

    def __post_init__(self) -> None:
        num = {f: _plain(f, getattr(self, f)) for f in _PARAM_FLOATS}
        for f in (
            "liquidator_capacity_usd",
            "gas_usd",
            "keeper_capacity_usd",
            "hedge_threshold",
            "run_rate_per_day",
        ):
            _check(f, num[f] >= 0, ">= 0", getattr(self, f))
        for f in ("external_depth_scale", "tol", "run_depeg_saturation"):
            _check(f, num[f] > 0, "> 0", getattr(self, f))
        weight = num["covered_run_weight"]
        _check("covered_run_weight", 0 <= weight <= 1, "in [0, 1]", self.covered_run_weight)
        _set(self, **num, dealer_sign=_choice("dealer_sign", self.dealer_sign, _SIGNS))
        _set(
            self,
            cdp_auction=_choice("cdp_auction", self.cdp_auction, ("market", "flip", "clip")),
        )
        _set(self, clip=_clip_rules(self.clip))
        version = self.aave_version
        if isinstance(version, int | float) and not isinstance(version, bool):
            version = f"{version:.1f}"  # 3.3 written in TOML without quotes
        _set(self, aave_version=_choice("aave_version", version, AAVE_VERSIONS))
        path = self.keeper_capacity_path
        if isinstance(path, str | bytes) or not isinstance(path, list | tuple):
            raise _err("keeper_capacity_path", f"expected a list of numbers, got {path!r}")
        keepers = tuple(_plain(f"keeper_capacity_path[{i}]", v) for i, v in enumerate(path))
        for i, v in enumerate(keepers):
            _check(f"keeper_capacity_path[{i}]", v >= 0, ">= 0", path[i])
        _set(self, keeper_capacity_path=keepers)
        _set(self, round_seconds=_int("round_seconds", self.round_seconds, 1))
        _set(self, max_rounds=_int("max_rounds", self.max_rounds, 1))


def _clip_rules(raw: object) -> ClipRules:
    """ClipRules from themselves or a table of their fields (errors name ``clip.FIELD``)."""
    if isinstance(raw, ClipRules):
        return raw
    if not isinstance(raw, dict):
        raise _err("clip", f"expected a table of Clipper rules, got {raw!r}")
    known = [f.name for f in fields(ClipRules)]
    unknown = [k for k in raw if k not in known]
    if unknown:
        raise _err(f"clip.{unknown[0]}", f"unknown key {unknown[0]!r}; known: {', '.join(known)}")
    try:
        return ClipRules(**raw)
    except ScenarioError as err:
        raise ScenarioError(err.message, field=f"clip.{err.field}") from None


_PARAM_FLOATS = (
    "liquidator_capacity_usd",
    "hedge_threshold",
    "gas_usd",
    "keeper_capacity_usd",
    "iv_response",
    "external_depth_scale",
    "run_rate_per_day",
    "run_depeg_saturation",
    "covered_run_weight",
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
    >>> from contagion.scenario import parse_shock, scenario_from_toml, scenario_to_toml
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
        from contagion.scenario.schedule import resolve_scenario

        try:
            return resolve_scenario(self, dataset)
        except ScenarioError as err:
            raise ScenarioError(err.message, file=self.source, field=err.field) from None
