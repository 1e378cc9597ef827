"""One-at-a-time sensitivity of a run's main outputs to the model's uncertain parameters.

For each uncertain parameter the scenario is run at a low and a high value with every other
parameter at its base; each output's *swing* is ``|output(high) - output(low)|``. Sorted by
swing, the rows form a tornado table (and chart): the parameters at the top are those the
answer depends on most, so they are where better data pays first.

Parameters and their ranges (:data:`PARAMETERS`, each a stated assumption):

* ``external_depth_scale`` 0.5 / 2: outside liquidity halved or doubled (depth estimates are
  order-of-magnitude figures; ``docs/sample-world.md``);
* ``liquidator_capacity_usd`` 10 M / 200 M a round around the 50 M default;
* ``iv_response`` 0 / 1 vol point per 1 % move around 0.5 (0 switches vega feedback off);
* ``dealer_sign`` long / short around the dataset's own sides;
* ``oracle_lag`` 0 / 10 rounds: every feed publishes nothing for the first rounds of the run
  (the base has no lag, so low equals base).

Outputs (:data:`OUTPUTS`): collateral liquidated, bad debt, the largest fall of any asset's
market price during the run, and total losses (USD).

References
----------
Saltelli, A. et al. (2008). Global Sensitivity Analysis: The Primer, ch. 1 (one-at-a-time
designs and their limits: interactions between parameters are not seen).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from contagion.engine import Engine, build_engine
from contagion.propagate import propagate
from contagion.scenario import OracleFailure, Scenario

if TYPE_CHECKING:
    from contagion.dataset import Dataset
    from contagion.result import PropagationResult

__all__ = ["OUTPUTS", "PARAMETERS", "Sensitivity", "sensitivity", "tornado_svg"]

PARAMETERS: dict[str, tuple[Any, Any, Any]] = {
    "external_depth_scale": (0.5, 1.0, 2.0),
    "liquidator_capacity_usd": (10e6, 50e6, 200e6),
    "iv_response": (0.0, 0.5, 1.0),
    "dealer_sign": ("long", "dataset", "short"),
    "oracle_lag": (0, 0, 10),
}
"""(low, base, high) per uncertain parameter."""

OUTPUTS = ("total_liquidated_usd", "bad_debt_usd", "max_price_drop", "losses_usd")


@dataclass(frozen=True, eq=False)
class Sensitivity:
    """A tornado table: one row per (output, parameter).

    ``frame`` has columns ``output``, ``parameter``, ``low_value``, ``high_value`` (the
    parameter's values), ``low``, ``high``, ``base`` (the output at each) and ``swing``
    (``|high - low|``), sorted by output then by swing, largest first.
    """

    scenario: str
    frame: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return {
            "scenario": self.scenario,
            "rows": [
                {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
                for row in self.frame.to_dict(orient="records")
            ],
        }

    def to_markdown(self) -> str:
        """The tornado tables, one per output, in Markdown."""
        from contagion.backtests.common import markdown_table

        out: list[str] = []
        for output, rows in self.frame.groupby("output", sort=False):
            out += [f"**{output}** (base {_fmt(float(rows['base'].iloc[0]))})", ""]
            out += markdown_table(
                [
                    "parameter",
                    "low value",
                    "high value",
                    "output at low",
                    "output at high",
                    "swing",
                ],
                [
                    [
                        r.parameter,
                        str(r.low_value),
                        str(r.high_value),
                        _fmt(float(r.low)),  # type: ignore[arg-type]
                        _fmt(float(r.high)),  # type: ignore[arg-type]
                        _fmt(float(r.swing)),  # type: ignore[arg-type]
                    ]
                    for r in rows.itertuples()
                ],
            )
            out.append("")
        return "\n".join(out)


def _fmt(x: float) -> str:
    if abs(x) >= 1e3:
        return f"{x:,.0f}"
    return f"{x:.4f}"


def _outputs(result: PropagationResult) -> dict[str, float]:
    lows = np.min(np.vstack([result.initial_price, *[r.price for r in result.records]]), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        drop = np.where(result.initial_price > 0, 1.0 - lows / result.initial_price, 0.0)
    return {
        "total_liquidated_usd": float(result.total_liquidated_usd),
        "bad_debt_usd": float(sum(result.bad_debt_usd.values())),
        "max_price_drop": float(np.max(drop)) if drop.size else 0.0,
        "losses_usd": float(result.losses["usd"].sum()),
    }


def _variant(scenario: Scenario, engine: Engine, parameter: str, value: Any) -> Scenario:
    if parameter == "oracle_lag":
        lag = int(value)
        if lag <= 0:
            return scenario
        taken = {o.feed for o in scenario.oracle_failures}
        frozen = tuple(
            OracleFailure(feed, "frozen", from_round=0, to_round=lag - 1)
            for feed in engine.feeds.feed_ids
            if feed not in taken
        )
        return replace(scenario, oracle_failures=(*scenario.oracle_failures, *frozen))
    return replace(scenario, params=replace(scenario.params, **{parameter: value}))


def sensitivity(
    dataset: Dataset | Engine,
    scenario: Scenario,
    *,
    parameters: dict[str, tuple[Any, Any, Any]] | None = None,
    seed: int | None = None,
) -> Sensitivity:
    """One-at-a-time low/high runs of ``scenario`` for each uncertain parameter.

    Parameters
    ----------
    dataset
        The world, or its compiled engine.
    scenario
        The base scenario; its own parameter values are replaced by the base values of
        ``parameters`` (default :data:`PARAMETERS`).
    parameters
        ``{name: (low, base, high)}``; names are :class:`~contagion.scenario.ModelParams`
        fields or ``oracle_lag`` (rounds every feed stays frozen from the start).
    seed
        Seed of every run.

    Returns
    -------
    Sensitivity
        The tornado table.

    Examples
    --------
    >>> from contagion import sample_world
    >>> from contagion.scenario import PriceShock
    >>> s = sensitivity(sample_world(positions=2_000, seed=1),
    ...                 Scenario("eth", shocks=(PriceShock("ETH", -0.2),)),
    ...                 parameters={"liquidator_capacity_usd": (1e6, 50e6, 100e6)})
    >>> sorted(s.frame["output"].unique())[:2]
    ['bad_debt_usd', 'losses_usd']
    """
    ranges = PARAMETERS if parameters is None else parameters
    engine = dataset if isinstance(dataset, Engine) else build_engine(dataset)
    base_scenario = scenario
    for name, (_, base_value, _) in ranges.items():
        base_scenario = _variant(base_scenario, engine, name, base_value)

    def run(s: Scenario) -> dict[str, float]:
        return _outputs(propagate(engine, s, seed=seed, allow_unconverged=True))

    base = run(base_scenario)
    rows = []
    for name, (low_value, _, high_value) in ranges.items():
        low = run(_variant(base_scenario, engine, name, low_value))
        high = run(_variant(base_scenario, engine, name, high_value))
        for output in OUTPUTS:
            rows.append(
                {
                    "output": output,
                    "parameter": name,
                    "low_value": str(low_value),
                    "high_value": str(high_value),
                    "low": low[output],
                    "high": high[output],
                    "base": base[output],
                    "swing": abs(high[output] - low[output]),
                }
            )
    frame = pd.DataFrame(rows)
    order = {o: i for i, o in enumerate(OUTPUTS)}
    frame = frame.sort_values(
        ["output", "swing", "parameter"],
        key=lambda c: c.map(order) if c.name == "output" else c,
        ascending=[True, False, True],
        kind="mergesort",
    ).reset_index(drop=True)
    return Sensitivity(scenario=scenario.name, frame=frame)


def tornado_svg(result: Sensitivity, output: str) -> str:
    """A tornado chart of one output as SVG text (matplotlib, deterministic: no timestamps,
    fixed hash salt), bars from the output at the low to the output at the high value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result.frame[result.frame["output"] == output]
    if rows.empty:
        raise ValueError(f"no output {output!r}; known: {', '.join(OUTPUTS)}")
    rows = rows.iloc[::-1]
    base = float(rows["base"].iloc[0])
    with matplotlib.rc_context({"svg.hashsalt": "contagion", "svg.fonttype": "none"}):
        fig, ax = plt.subplots(figsize=(6.4, 0.5 * len(rows) + 1.2))
        y = np.arange(len(rows))
        lo = rows["low"].to_numpy(dtype=float)
        hi = rows["high"].to_numpy(dtype=float)
        ax.barh(y, lo - base, left=base, color="#4c72b0", label="low value")
        ax.barh(y, hi - base, left=base, color="#dd8452", label="high value")
        ax.axvline(base, color="black", linewidth=0.8)
        ax.set_yticks(y, list(rows["parameter"]))
        ax.set_xlabel(f"{output} (base {_fmt(base)})")
        ax.set_title(f"Sensitivity of {output}: {result.scenario}")
        ax.legend(loc="lower right", fontsize="small")
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        plt.close(fig)
    return buf.getvalue()
