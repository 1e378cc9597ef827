"""What a propagation run returns: per-round prices, flows, liquidations, losses and causes.

The round loop keeps one :class:`RoundRecord` of arrays per round; :class:`PropagationResult`
turns them into pandas tables on demand (long format, one row per round and asset, feed,
protocol, ...) so that a batch of runs only pays for the tables it reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from contagion.lending.state import LIQUIDATION_KINDS, Liquidations

if TYPE_CHECKING:
    from contagion.causes import CauseLog
    from contagion.engine import Engine
    from contagion.scenario import Scenario

__all__ = ["PropagationResult", "RoundRecord", "format_duration"]

FloatArray = NDArray[np.float64]


def format_duration(seconds: float) -> str:
    """Market time as people say it: ``45 s``, ``12 min``, ``21 h 40 min``, ``3 d 4 h``.

    >>> [format_duration(s) for s in (45, 720, 78_000, 273_600)]
    ['45 s', '12 min', '21 h 40 min', '3 d 4 h']
    """
    s = round(float(seconds))
    if s < 60:
        return f"{s} s"
    minutes = round(s / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(round(s / 3_600), 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@dataclass(frozen=True, eq=False)
class RoundRecord:
    """The arrays one round produced (asset, feed, protocol, ... order of the engine)."""

    price: FloatArray
    root_price: FloatArray
    ref_price: FloatArray
    answers: FloatArray
    lending_flow: FloatArray
    hedge_flow: FloatArray
    perp_flow: FloatArray
    algorithmic_flow: FloatArray
    liquidations: Liquidations
    bad_debt_usd: FloatArray
    bad_debt_by_asset: FloatArray
    gex: FloatArray
    iv_mean: FloatArray
    perp_closed_oi: FloatArray
    insurance_fund: FloatArray
    adl_usd: FloatArray
    coverage: FloatArray
    coin_supply: FloatArray
    governance_supply: FloatArray
    receipt_multiplier: FloatArray
    paused: bool
    clearing_converged: bool
    clearing_residual: float
    time_s: float = 0.0
    """When the round ended, seconds after the snapshot (rounds are ``round_seconds`` apart,
    or further when the solver jumps idle time to the next oracle publication or auction
    step)."""


@dataclass(frozen=True, eq=False)
class PropagationResult:
    """The outcome of :func:`contagion.propagate`.

    Attributes
    ----------
    scenario
        The scenario that was run.
    converged
        True when the run settled (a round changed nothing after the schedule ended); False
        when it stopped at the round limit.
    rounds
        Rounds run.
    last_price_change
        Largest relative price change of the last round.
    seed
        The seed the run used.
    causes
        Every flow and loss with its round, channel, source and destination node and USD
        (:mod:`contagion.causes`).
    """

    scenario: Scenario
    converged: bool
    rounds: int
    last_price_change: float
    seed: int | None
    asset_ids: tuple[str, ...]
    symbols: tuple[str, ...]
    feed_ids: tuple[str, ...]
    protocol_ids: tuple[str, ...]
    initial_price: FloatArray
    initial_answers: FloatArray
    records: tuple[RoundRecord, ...]
    causes: pd.DataFrame
    perp_markets: tuple[str, ...] = ()
    perp_underlying: tuple[str, ...] = ()
    """Asset id of each perpetual market's underlying (order of ``perp_markets``)."""
    algorithmic_coins: tuple[str, ...] = ()
    receipt_assets: tuple[str, ...] = ()
    initial_insurance_fund: FloatArray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def build(
        cls,
        engine: Engine,
        scenario: Scenario,
        seed: int | None,
        records: list[RoundRecord],
        causes: CauseLog,
        *,
        converged: bool,
        last_price_change: float,
    ) -> PropagationResult:
        """The result of a run on ``engine``: its round records and cause log."""
        e = engine
        a = e.world.assets
        return cls(
            scenario=scenario,
            converged=converged,
            rounds=len(records),
            last_price_change=last_price_change,
            seed=seed,
            asset_ids=a.ids,
            symbols=a.symbols,
            feed_ids=e.feeds.feed_ids,
            protocol_ids=e.world.lending.protocol_ids,
            initial_price=a.price.copy(),
            initial_answers=e.feeds.initial.copy(),
            records=tuple(records),
            causes=causes.frame(),
            perp_markets=tuple(e.perps.markets),
            perp_underlying=tuple(a.ids[i] for i in e.perps.market_underlying),
            algorithmic_coins=tuple(a.ids[i] for i in e.algorithmic.coin),
            receipt_assets=tuple(a.ids[i] for i in e.receipt_asset),
            initial_insurance_fund=np.asarray(e.perps.insurance_fund, dtype=float).copy(),
        )

    # -- headline numbers --------------------------------------------------------------
    @property
    def final_price(self) -> FloatArray:
        return self.records[-1].price if self.records else self.initial_price

    @cached_property
    def total_liquidated_usd(self) -> float:
        """Collateral liquidated over the run, USD at the prices of each round."""
        return float(sum(r.liquidations.collateral_usd.sum() for r in self.records))

    @cached_property
    def bad_debt_usd(self) -> dict[str, float]:
        """Bad debt per lending protocol at the end of the run."""
        if not self.records:
            return dict.fromkeys(self.protocol_ids, 0.0)
        return dict(zip(self.protocol_ids, self.records[-1].bad_debt_usd.tolist(), strict=True))

    def price_change(self, asset_id: str) -> float:
        """Relative price change of an asset from the snapshot to the end."""
        i = self.asset_ids.index(asset_id)
        return float(self.final_price[i] / self.initial_price[i] - 1.0)

    @cached_property
    def round_time_s(self) -> FloatArray:
        """Seconds after the snapshot at which each round ended (index 0 = the snapshot, as in
        the tables' ``round``)."""
        return np.array([0.0, *(r.time_s for r in self.records)])

    @property
    def duration_s(self) -> float:
        """Market time the run covered, seconds (its last round's end)."""
        return float(self.round_time_s[-1])

    @cached_property
    def lowest_price(self) -> FloatArray:
        """Each asset's lowest market price over the run (the snapshot included)."""
        return np.min([self.initial_price, *(r.price for r in self.records)], axis=0)

    def price_low(self, asset_id: str) -> float:
        """Relative change of an asset's lowest price in the run from the snapshot: the
        trough of a move that recovered before the end (0 if it never fell)."""
        i = self.asset_ids.index(asset_id)
        return float(self.lowest_price[i] / self.initial_price[i] - 1.0)

    # -- tables ------------------------------------------------------------------------
    @cached_property
    def prices(self) -> pd.DataFrame:
        """Market price of every asset after every round (round 0 = the snapshot)."""
        rows = np.vstack([self.initial_price, *[r.price for r in self.records]])
        return _long(
            rows,
            "price_usd",
            self.asset_ids,
            "asset_id",
            extra={"symbol": np.tile(np.asarray(self.symbols, dtype=object), len(rows))},
        )

    @cached_property
    def oracle_prices(self) -> pd.DataFrame:
        """Answer of every feed after every round (round 0 = the snapshot)."""
        rows = np.vstack([self.initial_answers, *[r.answers for r in self.records]])
        return _long(rows, "answer", self.feed_ids, "feed_id")

    @cached_property
    def flows(self) -> pd.DataFrame:
        """Net flow per round, asset and channel (tokens and USD; negative = sold)."""
        parts = []
        for channel, attr in (
            ("lending", "lending_flow"),
            ("dealer_hedge", "hedge_flow"),
            ("perp_liquidation", "perp_flow"),
            ("algorithmic", "algorithmic_flow"),
        ):
            for k, rec in enumerate(self.records, start=1):
                amount = getattr(rec, attr)
                nz = np.flatnonzero(amount)
                if len(nz) == 0:
                    continue
                parts.append(
                    pd.DataFrame(
                        {
                            "round": k,
                            "channel": channel,
                            "asset_id": np.asarray(self.asset_ids, dtype=object)[nz],
                            "amount": amount[nz],
                            "usd": amount[nz] * rec.price[nz],
                        }
                    )
                )
        columns = ["round", "channel", "asset_id", "amount", "usd"]
        if not parts:
            return pd.DataFrame(columns=columns)
        return pd.concat(parts, ignore_index=True)[columns]

    @cached_property
    def liquidations(self) -> pd.DataFrame:
        """Liquidations per round, protocol, kind and (collateral, debt) asset pair."""
        frames = []
        for k, rec in enumerate(self.records, start=1):
            liq = rec.liquidations
            if len(liq) == 0:
                continue
            frames.append(
                pd.DataFrame(
                    {
                        "round": k,
                        "protocol_id": np.asarray(self.protocol_ids, dtype=object)[liq.protocol],
                        "kind": np.asarray(LIQUIDATION_KINDS, dtype=object)[liq.kind],
                        "collateral_asset_id": np.asarray(self.asset_ids, dtype=object)[
                            liq.collateral_asset
                        ],
                        "debt_asset_id": np.asarray((*self.asset_ids, ""), dtype=object)[
                            liq.debt_asset
                        ],
                        "count": 1,
                        "collateral_seized": liq.collateral_seized,
                        "debt_repaid": liq.debt_repaid,
                        "protocol_fee": liq.protocol_fee,
                        "collateral_usd": liq.collateral_usd,
                        "debt_usd": liq.debt_usd,
                    }
                )
            )
        keys = ["round", "protocol_id", "kind", "collateral_asset_id", "debt_asset_id"]
        values = [
            "count",
            "collateral_seized",
            "debt_repaid",
            "protocol_fee",
            "collateral_usd",
            "debt_usd",
        ]
        if not frames:
            return pd.DataFrame(columns=keys + values)
        return pd.concat(frames).groupby(keys, as_index=False, sort=True)[values].sum()

    @cached_property
    def bad_debt(self) -> pd.DataFrame:
        """Bad debt per lending protocol after every round (a level, USD)."""
        if not self.records:
            return pd.DataFrame(columns=["round", "protocol_id", "bad_debt_usd"])
        rows = np.vstack([r.bad_debt_usd for r in self.records])
        return _long(rows, "bad_debt_usd", self.protocol_ids, "protocol_id", first_round=1)

    @cached_property
    def dealers(self) -> pd.DataFrame:
        """Dealer hedge flow (underlying units and USD), GEX and mean IV per round and asset."""
        frames = []
        for k, rec in enumerate(self.records, start=1):
            nz = np.flatnonzero(~np.isnan(rec.iv_mean))
            frames.append(
                pd.DataFrame(
                    {
                        "round": k,
                        "asset_id": np.asarray(self.asset_ids, dtype=object)[nz],
                        "hedge_flow": rec.hedge_flow[nz],
                        "hedge_usd": rec.hedge_flow[nz] * rec.price[nz],
                        "gex_usd": rec.gex[nz],
                        "iv_mean": rec.iv_mean[nz],
                    }
                )
            )
        if not frames:
            return pd.DataFrame(
                columns=["round", "asset_id", "hedge_flow", "hedge_usd", "gex_usd", "iv_mean"]
            )
        return pd.concat(frames, ignore_index=True)

    @cached_property
    def losses(self) -> pd.DataFrame:
        """Losses per protocol at the end: bad debt, insurance-fund draws, ADL, depegs, and
        the scenario's protocol failures (``writedown``: what the write-down took from the
        receipt tokens' holders beyond the bad debt of that round, which is counted as bad
        debt)."""
        rows: list[dict[str, Any]] = []
        last = self.records[-1] if self.records else None
        for j, protocol in enumerate(self.protocol_ids):
            rows.append(
                {
                    "protocol_id": protocol,
                    "channel": "bad_debt",
                    "usd": float(last.bad_debt_usd[j]) if last else 0.0,
                }
            )
        if last is not None and self.perp_markets:
            for m, market in enumerate(self.perp_markets):
                drawn = float(max(self.initial_insurance_fund[m] - last.insurance_fund[m], 0.0))
                adl = float(sum(r.adl_usd[m] for r in self.records))
                rows.append({"protocol_id": market, "channel": "insurance_fund", "usd": drawn})
                rows.append({"protocol_id": market, "channel": "adl", "usd": adl})
        if last is not None:
            for c, coin in enumerate(self.algorithmic_coins):
                i = self.asset_ids.index(coin)
                depeg = max(1.0 - float(last.price[i]), 0.0) * float(last.coin_supply[c])
                rows.append({"protocol_id": coin, "channel": "depeg", "usd": depeg})
        failed: dict[str, float] = {}
        for failure in self.scenario.protocol_failures:
            failed[failure.protocol] = failed.get(failure.protocol, 0.0) + self._failure_usd(
                failure.protocol, failure.at_round
            )
        for protocol, usd in failed.items():
            rows.append({"protocol_id": protocol, "channel": "writedown", "usd": usd})
        return pd.DataFrame(rows, columns=["protocol_id", "channel", "usd"])

    def _failure_usd(self, protocol: str, at_round: int) -> float:
        """USD a scheduled failure wrote off ``protocol``'s receipt tokens in its round, less
        the bad debt passed to them in that round (a loss of its own)."""
        c, node = self.causes, f"protocol:{protocol}"
        now = c["round"] == at_round
        out = c.loc[now & (c["channel"] == "writedown") & (c["src"] == node), "usd"].sum()
        bad = c.loc[now & (c["channel"] == "bad_debt") & (c["dst"] == node), "usd"].sum()
        return max(float(out - bad), 0.0)

    def summary(self) -> dict[str, Any]:
        """Headline figures as plain JSON-ready values."""
        moves = {
            self.symbols[i]: self.price_change(a)
            for i, a in enumerate(self.asset_ids)
            if abs(self.price_change(a)) > 1e-9
        }
        low = self.lowest_price / self.initial_price - 1.0
        return {
            "scenario": self.scenario.name,
            "converged": self.converged,
            "rounds": self.rounds,
            "duration_s": self.duration_s,
            "last_price_change": self.last_price_change,
            "seed": self.seed,
            "total_liquidated_usd": self.total_liquidated_usd,
            "bad_debt_usd": self.bad_debt_usd,
            "price_change": moves,
            "price_low": {self.symbols[i]: float(low[i]) for i in np.flatnonzero(low < -1e-9)},
            "losses_usd": float(self.losses["usd"].sum()),
        }

    def to_json(self) -> str:
        """The summary and every table as one JSON document."""
        tables = {
            "prices": self.prices,
            "oracle_prices": self.oracle_prices,
            "flows": self.flows,
            "liquidations": self.liquidations,
            "bad_debt": self.bad_debt,
            "dealers": self.dealers,
            "losses": self.losses,
            "causes": self.causes,
        }
        doc = {
            "summary": self.summary(),
            **{k: json.loads(v.to_json(orient="records")) for k, v in tables.items()},
        }
        return json.dumps(doc, indent=1, default=str)


def _long(
    rows: FloatArray,
    value: str,
    names: tuple[str, ...],
    key: str,
    extra: dict[str, Any] | None = None,
    first_round: int = 0,
) -> pd.DataFrame:
    n_rounds, n = rows.shape
    frame = pd.DataFrame(
        {
            "round": np.repeat(np.arange(first_round, first_round + n_rounds), n),
            key: np.tile(np.asarray(names, dtype=object), n_rounds),
            value: rows.ravel(),
        }
    )
    for name, column in (extra or {}).items():
        frame[name] = column
    return frame
