"""Example scenarios shipped with the package, one TOML file each (see ``docs/scenarios.md``).

Examples
--------
>>> "eth-crash" in names()
True
>>> load_example("usdc-depeg").depegs[0].price
0.87
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contagion.scenario import Scenario

__all__ = ["example_path", "load_example", "names"]


def names() -> list[str]:
    """Names of the shipped example scenarios (file names without ``.toml``), sorted."""
    root = resources.files(__name__)
    return sorted(p.name.removesuffix(".toml") for p in root.iterdir() if p.name.endswith(".toml"))


def example_path(name: str) -> Path:
    """Path of the shipped example ``name``; ScenarioError naming the examples otherwise."""
    from contagion.exceptions import ScenarioError

    if name not in names():
        raise ScenarioError(f"unknown example scenario {name!r}; shipped: {', '.join(names())}")
    return Path(str(resources.files(__name__).joinpath(f"{name}.toml")))


def load_example(name: str) -> Scenario:
    """The shipped example ``name`` as a :class:`~contagion.scenario.Scenario`."""
    from contagion.scenario import load_scenario

    return load_scenario(example_path(name))
