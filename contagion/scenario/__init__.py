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

The package: :mod:`~contagion.scenario.events` (the events),
:mod:`~contagion.scenario.model` (mitigations, parameters, :class:`Scenario`),
:mod:`~contagion.scenario.toml_io` (TOML in and out) and :mod:`~contagion.scenario.schedule`
(resolution against a dataset and the per-round schedule).

References
----------
TOML v1.0.0 specification (the file format; strings are written as escaped basic strings).
Gudgeon, L. et al. (2020). The Decentralized Financial Crisis (Black Thursday, the example).
"""

from contagion.scenario.events import (
    Depeg,
    OracleFailure,
    PricePath,
    PriceShock,
    ProtocolFailure,
    RedemptionChange,
    VolatilitySpike,
)
from contagion.scenario.model import (
    CircuitBreaker,
    DynamicMargin,
    Mitigations,
    ModelParams,
    OptionsAmm,
    Scenario,
)
from contagion.scenario.schedule import ResolvedScenario, Schedule
from contagion.scenario.toml_io import (
    load_scenario,
    parse_shock,
    scenario_from_toml,
    scenario_to_toml,
)

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
