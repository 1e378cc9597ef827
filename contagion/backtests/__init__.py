"""Historical backtests: real stress events replayed through the model, observed vs modelled.

One module per event, all returning a :class:`~contagion.backtests.common.Backtest`:

============================  =======================================================
``black-thursday``            2020-03-12, Maker ETH vaults, OSM and scarce keepers
``crash-2021``                2021-05-19, Uniswap v2 ETH/DAI reserves under arbitrage
``terra``                     May 2022, UST/LUNA death spiral
``ftx``                       November 2022, ETH and BTC daily paths
``usdc-svb``                  March 2023, USDC depeg reaching DAI through the PSM
============================  =======================================================

The series they replay ship in :mod:`contagion.data.events` (provenance in its README).

Examples
--------
>>> names()
['black-thursday', 'crash-2021', 'ftx', 'terra', 'usdc-svb']
>>> run_backtest("crash-2021").name
'crash-2021'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from contagion.exceptions import ContagionError

if TYPE_CHECKING:
    from contagion.backtests.common import Acceptance, Backtest, Figure, Parameter
    from contagion.dataset import Dataset

__all__ = ["Acceptance", "Backtest", "Figure", "Parameter", "names", "run_backtest"]

# Event name -> its module's name (each module's ``run``); modules are imported when run, so
# that listing the events (the command line's choices) loads none of them.
_WORLD_EVENTS = {
    "black-thursday": "black_thursday",
    "ftx": "ftx",
    "terra": "terra",
    "usdc-svb": "usdc_svb",
}
_STANDALONE = {"crash-2021": "crash_2021"}
_COMMON = ("Acceptance", "Backtest", "Figure", "Parameter")


def __getattr__(name: str) -> Any:
    if name in _COMMON:
        return getattr(importlib.import_module("contagion.backtests.common"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _run(module: str) -> Any:
    return importlib.import_module(f"{__name__}.{module}").run


def names() -> list[str]:
    """Names of the backtests, sorted."""
    return sorted({*_WORLD_EVENTS, *_STANDALONE})


def run_backtest(name: str, *, world: Dataset | None = None, seed: int | None = None) -> Backtest:
    """Run backtest ``name``.

    Parameters
    ----------
    name
        One of :func:`names`.
    world
        The embedded world the event's world is derived from (built when not given; pass one
        to run several backtests on one build).
    seed
        Passed to the solver; the replays are deterministic.

    Raises
    ------
    ContagionError
        When ``name`` is not a backtest (the message lists them).
    """
    if name in _STANDALONE:
        return _run(_STANDALONE[name])(seed=seed)
    if name not in _WORLD_EVENTS:
        raise ContagionError(f"unknown backtest {name!r}; known: {', '.join(names())}")
    if world is None:
        from contagion import sample_world

        world = sample_world()
    return _run(_WORLD_EVENTS[name])(world, seed=seed)
