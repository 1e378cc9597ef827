"""What every command shares: consoles, the error-to-exit-status group, progress steps, the
dataset / world options and the scenario options.

The option decorators collapse their options into one argument of the command
(``source: DatasetSource``, ``choice: ScenarioChoice``), so a command's signature names what it
needs rather than every flag.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console

from contagion.exceptions import ContagionError

if TYPE_CHECKING:
    from contagion.dataset import Dataset
    from contagion.result import PropagationResult
    from contagion.scenario import Scenario

__all__ = [
    "EXIT_INPUT_ERROR",
    "EXIT_UNCONVERGED",
    "DatasetSource",
    "ErrorExitGroup",
    "Output",
    "ScenarioChoice",
    "dataset_options",
    "exit_if_unsettled",
    "open_dataset",
    "output_options",
    "scenario_options",
    "stderr",
    "stdout",
    "step",
    "usd",
    "world_options",
]

EXIT_INPUT_ERROR = 2
EXIT_UNCONVERGED = 3

F = TypeVar("F", bound=Callable[..., Any])

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


class ErrorExitGroup(click.Group):
    """A click group that turns deliberate errors into a message and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ContagionError, OSError) as exc:
            stderr.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
            ctx.exit(EXIT_INPUT_ERROR)


@contextmanager
def step(text: str) -> Iterator[None]:
    """Show a spinner on stderr while a long step runs (silent when stderr is not a TTY)."""
    with stderr.status(text, spinner="dots"):
        yield
    stderr.print(f"[green]✓[/] {text}", markup=True, highlight=False)


def usd(value: Any) -> str:
    """``$1.23M``-style text of a USD amount; ``-`` for none or zero."""
    import pandas as pd

    if value is None or pd.isna(value) or value == 0:
        return "-"
    v = float(value)
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"${v / scale:,.2f}{unit}"
    return f"${v:,.0f}"


@dataclass(frozen=True)
class DatasetSource:
    """Where a command's dataset comes from: a folder, or the embedded world's parameters."""

    dataset_dir: Path | None = None
    positions: int = 50_000
    seed: int = 7
    long_tail: int = 0
    option_series: int | None = None


_WORLD_KEYS = ("positions", "seed", "long_tail", "option_series")


def _world_option_list() -> list[Callable[[F], F]]:
    return [
        click.option(
            "--option-series",
            type=click.IntRange(min=620),
            default=None,
            help="Option series in the embedded world (default: the 620 of the "
            "Deribit chain and its ETH twin).",
        ),
        click.option(
            "--long-tail",
            type=click.IntRange(min=0),
            default=0,
            show_default=True,
            help="Synthetic long-tail tokens added to the embedded world, each with "
            "listings, positions and about 18 pools (benchmark scale).",
        ),
        click.option(
            "--seed", type=int, default=7, show_default=True, help="Seed of the embedded world."
        ),
        click.option(
            "--positions",
            type=click.IntRange(min=100),
            default=50_000,
            show_default=True,
            help="Lending positions in the embedded world.",
        ),
    ]


def _collapse(func: F, keys: tuple[str, ...], name: str, build: Callable[..., Any]) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {key: kwargs.pop(key) for key in keys}
        kwargs[name] = build(**values)
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def world_options(func: F) -> F:
    """``--positions``, ``--seed``, ``--long-tail``, ``--option-series`` of the embedded world,
    passed to the command as ``source: DatasetSource``."""
    wrapped = _collapse(func, _WORLD_KEYS, "source", DatasetSource)
    for option in _world_option_list():
        wrapped = option(wrapped)
    return wrapped


def dataset_options(func: F) -> F:
    """``--dataset DIR`` or, without it, the embedded default world (see world_options);
    passed to the command as ``source: DatasetSource``."""
    wrapped = _collapse(func, ("dataset_dir", *_WORLD_KEYS), "source", DatasetSource)
    for option in _world_option_list():
        wrapped = option(wrapped)
    return click.option(
        "--dataset",
        "dataset_dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Dataset folder (one sub-folder of Parquet files per table). "
        "Default: the embedded world (the world options are ignored with --dataset).",
    )(wrapped)


def open_dataset(source: DatasetSource) -> Dataset:
    """Read and validate the dataset folder, or build the embedded world."""
    from contagion.dataset import Dataset

    if source.dataset_dir is not None:
        with step(f"reading and validating {source.dataset_dir}"):
            return Dataset.load(source.dataset_dir)
    from indexers.sample_world import build_sample_world

    text = f"building the default world ({source.positions:,} positions, seed {source.seed})"
    with step(text):
        return build_sample_world(
            positions=source.positions,
            seed=source.seed,
            long_tail=source.long_tail,
            option_series=source.option_series,
        )


@dataclass(frozen=True)
class ScenarioChoice:
    """The scenario a command runs: ``--shock`` moves, a ``--scenario`` file or an
    ``--example``, with the run's round limit, tolerance and seed."""

    shocks: tuple[str, ...] = ()
    scenario_file: Path | None = None
    example: str | None = None
    max_rounds: int | None = None
    tol: float | None = None
    run_seed: int | None = None

    @property
    def given(self) -> bool:
        """Whether any of --shock, --scenario, --example was given."""
        return bool(self.shocks) or self.scenario_file is not None or self.example is not None

    def scenario(self) -> Scenario:
        """The chosen scenario (exactly one of --shock, --scenario, --example)."""
        from contagion.data.scenarios import load_example
        from contagion.scenario import Scenario, load_scenario, parse_shock

        given = sum(x is not None for x in (self.scenario_file, self.example)) + bool(self.shocks)
        if given != 1:
            raise click.UsageError("give exactly one of --shock, --scenario or --example")
        if self.scenario_file is not None:
            return load_scenario(self.scenario_file)
        if self.example is not None:
            return load_example(self.example)
        parsed = tuple(parse_shock(x) for x in self.shocks)
        return Scenario(name=" ".join(self.shocks), shocks=parsed)

    def run(self, dataset: Dataset) -> PropagationResult:
        """Propagate the chosen scenario through ``dataset`` (an unsettled run is returned,
        marked; see :func:`exit_if_unsettled`)."""
        from contagion.propagate import propagate

        scenario = self.scenario()
        with step(f"propagating {scenario.name!r}"):
            return propagate(
                dataset,
                scenario,
                max_rounds=self.max_rounds,
                tol=self.tol,
                seed=self.run_seed,
                allow_unconverged=True,
            )


def exit_if_unsettled(result: PropagationResult, what: str = "") -> None:
    """Say so and exit with status 3 when ``result`` reached its round limit unsettled."""
    if result.converged:
        return
    stderr.print(
        f"[bold yellow]not settled:[/] the run reached {result.rounds} rounds with prices "
        f"still moving ({result.last_price_change:.3g} in the last round){what}",
        markup=True,
        highlight=False,
    )
    sys.exit(EXIT_UNCONVERGED)


_SCENARIO_KEYS = ("shocks", "scenario_file", "example", "max_rounds", "tol", "run_seed")


def scenario_options(func: F) -> F:
    """``--shock``/``--scenario``/``--example`` and ``--max-rounds``/``--tol``/``--run-seed``,
    passed to the command as ``choice: ScenarioChoice``."""
    wrapped = _collapse(func, _SCENARIO_KEYS, "choice", ScenarioChoice)
    options = [
        click.option("--run-seed", type=int, default=None, help="Seed of the run's random draws."),
        click.option(
            "--tol",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="Largest relative price change of a settled round (default 1e-6).",
        ),
        click.option(
            "--max-rounds",
            type=click.IntRange(min=1),
            default=None,
            help="Round limit (default: the scenario's, 180).",
        ),
        click.option(
            "--example",
            default=None,
            help="A shipped example scenario by name (list: contagion shock --list-examples).",
        ),
        click.option(
            "--scenario",
            "scenario_file",
            type=click.Path(path_type=Path),
            default=None,
            help="A scenario TOML file (see docs/scenarios.md).",
        ),
        click.option(
            "--shock",
            "shocks",
            multiple=True,
            metavar="ASSET=MOVE",
            help="A price shock, e.g. WETH=-30% or stETH=-0.05 (repeatable).",
        ),
    ]
    for option in options:
        wrapped = option(wrapped)
    return wrapped


@dataclass(frozen=True)
class Output:
    """Where and how a command prints its result: ``--format table|json|markdown`` and
    ``--out FILE``."""

    fmt: str = "table"
    out: Path | None = None

    def emit(
        self,
        table: Callable[[], None],
        json_text: Callable[[], str],
        markdown: Callable[[], str],
    ) -> None:
        """Print the table, or write JSON / Markdown to the terminal or (atomically) to
        ``--out``; a table asked for in a file is written as Markdown."""
        from contagion._atomic import atomic_write_text

        if self.fmt == "table" and self.out is None:
            table()
            return
        text = json_text() if self.fmt == "json" else markdown()
        if not text.endswith("\n"):
            text += "\n"
        if self.out is None:
            click.echo(text, nl=False)
            return
        with step(f"writing {self.out}"):
            atomic_write_text(self.out, text)


def output_options(func: F) -> F:
    """``--format table|json|markdown`` and ``--out FILE``, passed to the command as
    ``output: Output``."""
    wrapped = _collapse(func, ("fmt", "out"), "output", Output)
    wrapped = click.option(
        "--out",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Write the output to FILE (atomically) instead of the terminal; a table is "
        "written as Markdown.",
    )(wrapped)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "json", "markdown"]),
        default="table",
        show_default=True,
        help="Output: a table on the terminal, JSON or Markdown.",
    )(wrapped)
