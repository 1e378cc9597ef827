"""contagion: how a market shock spreads across DeFi protocols.

The public API: load or build a dataset, query it with DuckDB, build its exposure graph,
spread a scenario through it with :func:`propagate`, trace its losses back to the shock with
:func:`rank_paths` and score what the network depends on with :func:`score_dependencies`. Mechanics live in their modules
(``contagion.oracles``, ``contagion.lending``, ``contagion.clearing``, ``contagion.dealers``,
``contagion.perps``, ``contagion.stablecoins``, ``contagion.balance_sheet``,
``contagion.debtrank``, ``contagion.options``, ``contagion.amm``).
"""

from __future__ import annotations

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
