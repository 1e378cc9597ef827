"""``contagion report``: run a scenario set on a dataset and write the HTML, Markdown and JSON
report; :func:`run_report` is shared with ``contagion demo --out``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.text import Text

from contagion.cli.common import (
    DatasetSource,
    ScenarioChoice,
    dataset_options,
    exit_if_unsettled,
    open_dataset,
    scenario_options,
    stdout,
    step,
    usd,
)
from contagion.exceptions import ScenarioError

if TYPE_CHECKING:
    from contagion.dataset import Dataset

__all__ = ["report", "run_report"]


class _Move(click.ParamType):
    """A price fall such as ``-10%`` or ``-0.1``."""

    name = "MOVE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        from contagion.scenario import parse_shock

        try:
            move = parse_shock(f"asset={value}").move
        except ScenarioError:
            self.fail(f"expected a fall like -10% or -0.1, got {value!r}", param, ctx)
        if not -1 < move < 0:
            self.fail(f"expected a fall between -100% and 0, got {value!r}", param, ctx)
        return move


def _scores_option(value: str) -> int | None:
    if value == "none":
        return None
    if value == "static":
        return 0
    try:
        n = int(value)
    except ValueError:
        raise click.BadParameter(
            f"expected none, static or a number of components, got {value!r}",
            param_hint="--scores",
        ) from None
    if n < 0:
        raise click.BadParameter("must be at least 0", param_hint="--scores")
    return n


def run_report(
    dataset: Dataset,
    out: Path,
    *,
    scenario: Any = None,
    stress: Sequence[float] | None = None,
    mitigations: Mapping[str, Any] | None = None,
    scores: int | None = -1,
    paths: int = 10,
    formats: Sequence[str] | None = None,
    seed: int = 0,
    max_rounds: int | None = None,
    tol: float | None = None,
    subtitle: str = "",
    sensitivity: bool = False,
) -> Any:
    """Collect, build and write a report (defaults: the report package's scenario set;
    ``scores=-1``: its default number of simulated components, None: no scores)."""
    from contagion import report as rp

    if scores == -1:
        scores = rp.DEFAULT_SCORE_COMPONENTS

    chosen = scenario if scenario is not None else rp.DEFAULT_SCENARIO
    moves = rp.DEFAULT_STRESS_MOVES if stress is None else tuple(stress)
    variants = rp.DEFAULT_MITIGATIONS if mitigations is None else mitigations
    runs = 1 + len(set(moves) - {chosen.shocks[0].move if chosen.shocks else None}) + len(variants)
    with step(f"running {chosen.name!r}: {runs} propagation runs, paths and scores"):
        ctx = rp.collect(
            dataset,
            chosen,
            stress_moves=moves,
            mitigations=variants,
            paths_k=paths,
            scores=scores,
            seed=seed,
            max_rounds=max_rounds,
            tol=tol,
            sensitivity=sensitivity,
        )
    with step("drawing the report"):
        built = rp.build_report(ctx)
    with step(f"writing the report to {out}"):
        rp.write_report(built, out, formats or tuple(rp.FORMATS), subtitle=subtitle)
    from contagion.result import format_duration

    result = ctx.result
    status = "settled" if result.converged else "NOT settled"
    stdout.print(
        Text(
            f"{result.scenario.name}: {status} after {result.rounds} rounds "
            f"({format_duration(result.duration_s)} of market time); "
            f"{usd(result.total_liquidated_usd)} liquidated, "
            f"{usd(float(result.losses['usd'].sum()))} of losses"
        )
    )
    names = ", ".join(rp.FORMATS[f] for f in (formats or tuple(rp.FORMATS)))
    stdout.print(Text(f"wrote {names} to {out}"))
    return ctx


@click.command()
@scenario_options
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder to write report.html, report.md and report.json into (all or none).",
)
@click.option(
    "--format",
    "formats",
    type=click.Choice(["html", "md", "json"]),
    multiple=True,
    help="Formats to write (repeatable; default all three).",
)
@click.option(
    "--stress",
    "stress",
    type=_Move(),
    multiple=True,
    help="A move of the stress ladder: the scenario's price shocks rescaled so the first moves "
    "by it (repeatable; default -10%, -20%, -30%).",
)
@click.option("--no-stress", is_flag=True, help="Leave the stress ladder out.")
@click.option(
    "--no-mitigations",
    is_flag=True,
    help="Leave the mitigation comparison out (default: circuit breaker and dynamic margin).",
)
@click.option(
    "--scores",
    "scores_text",
    default="1",
    show_default=True,
    metavar="none|static|N",
    help="Dependency scores: none, static only, or also simulate the failure of the N largest "
    "components of each kind.",
)
@click.option(
    "--sensitivity",
    is_flag=True,
    help="Add the sensitivity section: the scenario rerun at the low and high value of each "
    "uncertain parameter (external depth, liquidator capacity, IV response, dealer sign, "
    "oracle lag), as tornado tables and charts (ten more runs).",
)
@click.option(
    "--paths",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Contagion paths to rank and draw.",
)
@dataset_options
def report(
    choice: ScenarioChoice,
    out: Path,
    formats: tuple[str, ...],
    stress: tuple[float, ...],
    no_stress: bool,
    no_mitigations: bool,
    scores_text: str,
    sensitivity: bool,
    paths: int,
    source: DatasetSource,
) -> None:
    """Run a scenario and its variants and write an HTML, Markdown and JSON report.

    The report shows the run's summary, price paths per round, losses per protocol, the top
    contagion paths drawn as a graph, dependency scores with their components, the
    liquidation ladder, dealers' GEX over price, a stress ladder (loss vs shock size) and the
    scenario with and without mitigations. The HTML file is self-contained: charts are inline
    SVG and it loads nothing from the network. Without --shock, --scenario or --example the
    scenario is ETH -30% (staking tokens with it, BTC at beta 0.8). Exits 3 when the main
    run does not settle (the report is still written, marked), 2 on bad input.

    Examples:

      contagion report --out report

      contagion report --example usdc-depeg --no-stress --out svb-report --dataset world

      contagion report --shock WETH=-40% --stress -10% --stress -25% --scores static --out r
    """
    scores = _scores_option(scores_text)
    scenario = choice.scenario() if choice.given else None
    dataset = open_dataset(source)
    ctx = run_report(
        dataset,
        out,
        scenario=scenario,
        stress=() if no_stress else (stress or None),
        mitigations={} if no_mitigations else None,
        scores=scores,
        paths=paths,
        formats=formats or None,
        seed=choice.run_seed or 0,
        max_rounds=choice.max_rounds,
        tol=choice.tol,
        subtitle=_subtitle(source),
        sensitivity=sensitivity,
    )
    exit_if_unsettled(ctx.result, "; the report is written, marked")


def _subtitle(source: DatasetSource) -> str:
    if source.dataset_dir is not None:
        return f"dataset {source.dataset_dir}"
    return f"embedded default world: {source.positions:,} positions, seed {source.seed}"
