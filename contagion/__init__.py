"""contagion: how a market shock spreads across DeFi protocols.

The public API: load or build a dataset, query it with DuckDB, build its exposure graph,
spread a scenario through it with :func:`propagate`, trace its losses back to the shock with
:func:`rank_paths` and score what the network depends on with :func:`score_dependencies`. Mechanics live in their modules
(``contagion.oracles``, ``contagion.lending``, ``contagion.clearing``, ``contagion.dealers``,
``contagion.perps``, ``contagion.stablecoins``, ``contagion.balance_sheet``,
``contagion.debtrank``, ``contagion.options``, ``contagion.amm``).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contagion.backtests import Backtest, run_backtest
    from contagion.balance_sheet import eisenberg_noe
    from contagion.batch import propagate_many
    from contagion.dataset import Dataset, load_dataset
    from contagion.debtrank import debtrank
    from contagion.engine import Engine, build_engine
    from contagion.exceptions import (
        ContagionError,
        ConvergenceError,
        QueryError,
        ScenarioError,
        SchemaError,
    )
    from contagion.graph import ExposureGraph, build_graph
    from contagion.paths import ContagionPath, PathRanking, path_labels, rank_paths
    from contagion.propagate import propagate
    from contagion.report import Report, build_report, write_report
    from contagion.result import PropagationResult
    from contagion.scenario import (
        Depeg,
        Mitigations,
        ModelParams,
        OracleFailure,
        PricePath,
        PriceShock,
        ProtocolFailure,
        RedemptionChange,
        Scenario,
        VolatilitySpike,
        load_scenario,
        parse_shock,
        scenario_to_toml,
    )
    from contagion.schema import TABLES, TableSpec
    from contagion.scores import DependencyScores, default_scenario_set, score_dependencies
    from contagion.sensitivity import Sensitivity, sensitivity, tornado_svg
    from contagion.store import Store

# Public names and the module each comes from. They are imported on first use (PEP 562), so
# that ``import contagion`` (and the command line's start, its help and its errors) does not
# load pandas, SciPy, pyarrow, DuckDB or matplotlib before a command needs them.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "contagion.backtests": ("Backtest", "run_backtest"),
    "contagion.balance_sheet": ("eisenberg_noe",),
    "contagion.batch": ("propagate_many",),
    "contagion.dataset": ("Dataset", "load_dataset"),
    "contagion.debtrank": ("debtrank",),
    "contagion.engine": ("Engine", "build_engine"),
    "contagion.exceptions": (
        "ContagionError",
        "ConvergenceError",
        "QueryError",
        "ScenarioError",
        "SchemaError",
    ),
    "contagion.graph": ("ExposureGraph", "build_graph"),
    "contagion.paths": ("ContagionPath", "PathRanking", "path_labels", "rank_paths"),
    "contagion.propagate": ("propagate",),
    "contagion.report": ("Report", "build_report", "write_report"),
    "contagion.result": ("PropagationResult",),
    "contagion.scenario": (
        "Depeg",
        "Mitigations",
        "ModelParams",
        "OracleFailure",
        "PricePath",
        "PriceShock",
        "ProtocolFailure",
        "RedemptionChange",
        "Scenario",
        "VolatilitySpike",
        "load_scenario",
        "parse_shock",
        "scenario_to_toml",
    ),
    "contagion.schema": ("TABLES", "TableSpec"),
    "contagion.scores": ("DependencyScores", "default_scenario_set", "score_dependencies"),
    "contagion.sensitivity": ("Sensitivity", "sensitivity", "tornado_svg"),
    "contagion.store": ("Store",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "TABLES",
    "Backtest",
    "ContagionError",
    "ContagionPath",
    "ConvergenceError",
    "Dataset",
    "Depeg",
    "DependencyScores",
    "Engine",
    "ExposureGraph",
    "Mitigations",
    "ModelParams",
    "OracleFailure",
    "PathRanking",
    "PricePath",
    "PriceShock",
    "PropagationResult",
    "ProtocolFailure",
    "QueryError",
    "RedemptionChange",
    "Report",
    "Scenario",
    "ScenarioError",
    "SchemaError",
    "Sensitivity",
    "Store",
    "TableSpec",
    "VolatilitySpike",
    "build_engine",
    "build_graph",
    "build_report",
    "debtrank",
    "default_scenario_set",
    "eisenberg_noe",
    "load_dataset",
    "load_scenario",
    "parse_shock",
    "path_labels",
    "propagate",
    "propagate_many",
    "rank_paths",
    "run_backtest",
    "sample_world",
    "scenario_to_toml",
    "score_dependencies",
    "sensitivity",
    "tornado_svg",
    "write_report",
]

__version__ = "0.1.0"


def sample_world(
    positions: int = 50_000, seed: int = 7, *, long_tail: int = 0, option_series: int | None = None
) -> Dataset:
    """Build the embedded default world (see :func:`indexers.sample_world.build_sample_world`).

    Examples
    --------
    >>> world = sample_world(positions=2_000, seed=1)
    >>> world.row_counts()["lending_positions"] > 1_000
    True
    """
    from indexers.sample_world import build_sample_world

    return build_sample_world(
        positions=positions, seed=seed, long_tail=long_tail, option_series=option_series
    )


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use and keep it here; a submodule
    (``contagion.options``, ``contagion.lending``, ...) is imported when first reached."""
    module = _MODULE_OF.get(name)
    if module is None:
        if importlib.util.find_spec(f"{__name__}.{name}") is None:
            raise AttributeError(f"module 'contagion' has no attribute {name!r}")
        return importlib.import_module(f"{__name__}.{name}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """This package's module object: three public functions share their names with the
    submodules that define them (``propagate``, ``sensitivity``, ``debtrank``). Importing such a
    submodule would set the package attribute to the module; the function stays instead (the
    module is in ``sys.modules`` for ``importlib.import_module`` and ``from ... import``)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


_SHADOWED = frozenset(name for name in _MODULE_OF if _MODULE_OF[name] == f"{__name__}.{name}")
sys.modules[__name__].__class__ = _Package
