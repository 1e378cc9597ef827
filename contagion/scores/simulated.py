"""Simulated dependency scores: losses caused and suffered over a set of propagated scenarios.

Each scenario of the set makes one component fail or move: a price root falls by ``shock``, a
feed publishes ``1 + shock`` times its rule's answer for ``FAILURE_ROUNDS`` rounds, a protocol writes its receipt tokens down
by ``|shock|``, a stablecoin leaves its peg by ``depeg``. All run through the solver in one
batch (:func:`~contagion.batch.propagate_many`, the dataset compiled once), and every loss
of a run (bad debt, insurance-fund draws, auto-deleveraging, depeg losses of algorithmic
coins, a failed protocol's write-down; :attr:`PropagationResult.losses`) is charged to the
protocol that bears it (a failure's own write-down is not counted as caused by it).

* **systemic importance** of a component: the losses its scenario causes to protocols other
  than itself (for a stablecoin, other than its issuers), over a baseline run with no event,
  part by protocol hit;
* **vulnerability** of a protocol: the losses it suffers over the scenarios of other
  components, part by scenario.

Pool draining has no scenario event yet, so pools get static scores only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from contagion.batch import propagate_many
from contagion.engine import Engine
from contagion.result import PropagationResult
from contagion.scenario import (
    Depeg,
    ModelParams,
    OracleFailure,
    PriceShock,
    ProtocolFailure,
    Scenario,
)
from contagion.scores.static import ScoreRows
from contagion.store import Store

__all__ = [
    "FAILURE_ROUNDS",
    "SCENARIO_ROUNDS",
    "SimulatedRuns",
    "default_scenario_set",
    "simulated_scores",
]

SCENARIO_ROUNDS = 60
"""Round limit of the default scenarios: an hour of one-minute rounds, enough for every
Chainlink heartbeat; a longer tail changes little and a batch stays affordable."""


FAILURE_ROUNDS = 10
"""Rounds a failing feed publishes its wrong answer before it recovers (ten minutes)."""

_MATERIAL_USD = 1.0
"""Losses under a dollar over the baseline are the solver's rounding, not a loss."""


@dataclass(frozen=True)
class SimulatedRuns:
    """The scenarios run for simulated scores and how they ended."""

    scenarios: tuple[str, ...]
    unconverged: tuple[str, ...]


def default_scenario_set(
    dataset_or_store: object,
    *,
    shock: float = -0.30,
    depeg: float = -0.10,
    per_kind: int = 8,
    max_rounds: int = SCENARIO_ROUNDS,
) -> list[Scenario]:
    """The scenarios simulated scores are computed over, one per component that may fail.

    Parameters
    ----------
    dataset_or_store
        A :class:`~contagion.dataset.Dataset` or a :class:`~contagion.store.Store` over one.
    shock
        Price move of an asset shock, factor ``1 + shock`` of a manipulated feed, and (as
        ``|shock|``) the write-down of a failing protocol.
    depeg
        Move of a stablecoin leaving its peg.
    per_kind
        Largest components of each kind to include: price roots by collateral rooted in them,
        feeds by value priced, issuing protocols by value others hold in their tokens,
        stablecoins by supply.
    max_rounds
        Round limit of each scenario.

    Returns
    -------
    list of Scenario
        Each named after the graph node it fails (``asset:…``, ``feed:…``, ``protocol:…``).
    """
    if not -1 < shock < 0 or not -1 < depeg < 0:
        raise ValueError("shock and depeg must be falls between -1 and 0")
    store = dataset_or_store if isinstance(dataset_or_store, Store) else None
    if store is None:
        from contagion.dataset import Dataset

        if not isinstance(dataset_or_store, Dataset):
            raise TypeError("expected a Dataset or a Store")
        store = dataset_or_store.store()
    params = ModelParams(max_rounds=max_rounds)
    pct = f"{shock:+.0%}"
    coins = store.sql(
        "select asset_id, any_value(symbol) as symbol, max(supply * peg_usd) as usd "
        "from stablecoins join assets using (asset_id) group by asset_id"
    ).to_pandas()
    stable = set(coins["asset_id"])
    roots = store.sql(
        "select e.root_asset_id as asset_id, any_value(a.symbol) as symbol, "
        "sum(e.collateral_in_usd) as usd from book_root_exposure as e "
        "join assets as a on a.asset_id = e.root_asset_id group by e.root_asset_id"
    ).to_pandas()
    roots = roots[~roots["asset_id"].isin(stable)]
    feeds = store.sql(
        "select u.feed_id, any_value(f.description) as description, sum(u.priced_usd) as usd "
        "from feed_usage as u join oracle_feeds as f using (feed_id) group by u.feed_id"
    ).to_pandas()
    issuers = store.sql(
        "select w.protocol_id, coalesce(sum(e.usd), 0) as usd from "
        "(select distinct protocol_id from wrappers) as w left join protocol_exposures as e "
        "on e.issuer_protocol_id = w.protocol_id group by w.protocol_id"
    ).to_pandas()
    out: list[Scenario] = []
    for row in _largest(roots, per_kind):
        out.append(
            Scenario(
                f"asset:{row.asset_id}",
                f"{row.symbol} {pct}",
                shocks=(PriceShock(row.asset_id, shock),),
                params=params,
            )
        )
    for row in _largest(feeds, per_kind):
        out.append(
            Scenario(
                f"feed:{row.feed_id}",
                f"{row.description} reads x{1 + shock:.2f} for {FAILURE_ROUNDS} rounds",
                oracle_failures=(
                    OracleFailure(
                        row.feed_id,
                        "manipulated",
                        factor=1 + shock,
                        to_round=FAILURE_ROUNDS - 1,
                    ),
                ),
                params=params,
            )
        )
    for row in _largest(issuers, per_kind):
        out.append(
            Scenario(
                f"protocol:{row.protocol_id}",
                f"{row.protocol_id} writes down {abs(shock):.0%}",
                protocol_failures=(ProtocolFailure(row.protocol_id, abs(shock)),),
                params=params,
            )
        )
    for row in _largest(coins, per_kind):
        out.append(
            Scenario(
                f"asset:{row.asset_id}",
                f"{row.symbol} depegs {depeg:+.0%}",
                depegs=(Depeg(row.asset_id, move=depeg),),
                params=params,
            )
        )
    return out


def _largest(frame: pd.DataFrame, n: int) -> list[Any]:
    ranked = frame[frame["usd"] > 0].sort_values("usd", ascending=False, kind="stable")
    return list(ranked.head(n).itertuples(index=False))


def simulated_scores(
    engine: Engine, store: Store, scenarios: Sequence[Scenario], *, seed: int, out: ScoreRows
) -> SimulatedRuns:
    """Run ``scenarios`` in one batch and add systemic-importance and vulnerability rows.

    Losses are counted over a baseline run with no event and the same model parameters:
    what the world loses anyway (positions already underwater, perpetuals past their
    liquidation price) is caused by no component.
    """
    params = list(dict.fromkeys(s.params for s in scenarios))
    baselines = [Scenario(f"baseline {k}", params=p) for k, p in enumerate(params)]
    results = propagate_many(engine, [*baselines, *scenarios], seed=seed, allow_unconverged=True)
    charge = _loss_owner(store)
    base = {p: _losses(r, charge) for p, r in zip(params, results[: len(params)], strict=True)}
    issuers = (
        store.sql("select asset_id, protocol_id from stablecoins").to_pandas().groupby("asset_id")
    )
    owners_of = {str(a): set(g["protocol_id"]) for a, g in issuers}
    runs = results[len(baselines) :]
    for scenario, result in zip(scenarios, runs, strict=True):
        component = _component(scenario)
        owners = {f.protocol for f in scenario.protocol_failures}
        for d in scenario.depegs:
            owners |= owners_of.get(d.asset, set())
        losses = _losses(result, charge)
        added = losses.sub(base[scenario.params], fill_value=0.0)
        caused = added[~added.index.isin(owners) & (added >= _MATERIAL_USD)]
        label = scenario.description or scenario.name
        for protocol_id, usd in caused.items():
            out.add(component, "systemic_importance", f"loss of {protocol_id}", usd)
            out.add(f"protocol:{protocol_id}", "vulnerability", label, usd)
    names = tuple(s.name for s in scenarios)
    unconverged = tuple(s.name for s, r in zip(scenarios, runs, strict=True) if not r.converged)
    return SimulatedRuns(scenarios=names, unconverged=unconverged)


def _component(scenario: Scenario) -> str:
    prefix = scenario.name.split(":", 1)[0]
    if prefix in {"asset", "feed", "protocol", "pool"} and ":" in scenario.name:
        return scenario.name
    return f"scenario:{scenario.name}"


def _loss_owner(store: Store) -> dict[str, str]:
    """Who bears a loss row: perp markets map to their venue, algorithmic coins to issuers."""
    owner: dict[str, str] = {}
    perps = store.sql("select distinct protocol_id, market from perp_markets").to_pandas()
    for row in perps.itertuples(index=False):
        owner[f"{row.protocol_id}/{row.market}"] = str(row.protocol_id)
    coins = store.sql(
        "select asset_id, arg_max(protocol_id, backing_share) as protocol_id "
        "from stablecoins group by asset_id"
    ).to_pandas()
    owner.update(zip(coins["asset_id"], coins["protocol_id"], strict=True))
    return owner


def _losses(result: PropagationResult, owner: dict[str, str]) -> pd.Series:
    losses = result.losses
    if losses.empty:
        return pd.Series(dtype=float)
    keys = losses["protocol_id"].map(lambda k: owner.get(k, k))
    return losses.groupby(keys.to_numpy())["usd"].sum()
