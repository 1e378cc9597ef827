"""Black Thursday, 2020-03-12: Maker's ETH vaults, the OSM and keepers short of capacity.

ETH fell from 195 to about 101 USD within the day. Maker read ETH through its Oracle Security
Module (one hour late), barked unsafe vaults into collateral auctions, and keepers, choked by
gas prices, stopped bidding: auctions closed at zero-DAI bids and the system was left with
5.67 M DAI of debt no collateral covered. The backtest replays ETH's 10-minute path through a
world of Maker ETH vaults and runs it at several keeper capacities (the model's auction rule,
:mod:`contagion.lending.cdp`: keepers buy at the market price less their margin, up to a
capacity per round; a tab still open when its collateral is gone is bad debt).

The model has no zero bids: a keeper that buys, pays the market price. What it can show is
whether scarce keeper capacity alone, while the price keeps falling, leaves tabs uncovered.

References
----------
MakerDAO (2020). The Market Collapse of March 12-13, 2020: How It Impacted MakerDAO.
whiterabbit (2020), analysis of Black Thursday's auctions: 5.67 M DAI undercollateralised,
8.32 M USD of ETH sold in zero-DAI bids, 36 % of auctions.
Gudgeon, L. et al. (2020). The Decentralized Financial Crisis. Crypto Valley Conference.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from contagion.backtests.common import (
    Backtest,
    Figure,
    Parameter,
    derive_world,
    ten_minute_bars,
)
from contagion.dataset import Dataset
from contagion.engine import build_engine
from contagion.propagate import propagate
from contagion.scenario import ModelParams, PricePath, Scenario

__all__ = ["DAI_DEBT_2020", "KEEPER_CAPACITIES", "OBSERVED_BAD_DEBT", "run", "world"]

DAI_DEBT_2020 = 100e6
"""DAI owed by the world's ETH vaults: assumption, the order of magnitude of multi-collateral
DAI's supply in early March 2020 (exact figure not in the shipped data)."""
OBSERVED_BAD_DEBT = 5.67e6
"""DAI left undercollateralised (whiterabbit 2020; Maker's debt auction covered it)."""
OBSERVED_ZERO_BIDS_USD = 8.32e6
"""ETH sold in zero-DAI auctions, USD (whiterabbit 2020)."""
KEEPER_CAPACITIES = (10e6, 1e6, 0.1e6)
"""Keeper capacity per 10-minute round, USD: the model default, then scarce and frozen."""
ETH_A_RATIO, ETH_A_PENALTY = 1.5, 0.13
"""ETH-A liquidation ratio and penalty in March 2020 (Maker governance)."""
_BARS = "eth-usd-10min-2020-03-12.json"
_ROUND_S = 600
_SETTLE = 36


def world(base: Dataset) -> Dataset:
    """Maker ETH vaults alone: ``base`` with every other lending position, option series and
    perpetual book removed, ETH vault debts and collateral scaled together (each vault keeps
    its collateral ratio) to :data:`DAI_DEBT_2020`, and ETH-A's 2020 ratio and penalty."""
    assets = base.table("assets").to_pandas().set_index("symbol")
    weth = str(assets.loc["WETH", "asset_id"])
    positions = base.table("lending_positions").to_pandas()
    maker = positions["protocol_id"] == "maker-cdp"
    eth_accounts = set(positions.loc[maker & (positions["asset_id"] == weth), "account"])
    keep = maker & positions["account"].isin(eth_accounts)
    scale = DAI_DEBT_2020 / float(positions.loc[keep, "debt_amount"].sum())

    def vaults(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[keep.to_numpy()].copy()
        for col in ("collateral_amount", "debt_amount"):
            out[col] = out[col] * scale
            # Both tokens have 18 decimals; the lossless form follows the scaled amount.
            out[f"{col}_raw"] = [str(round(v * 1e18)) for v in out[col]]
        return out

    def markets(frame: pd.DataFrame) -> pd.DataFrame:
        eth_a = (frame["protocol_id"] == "maker-cdp") & (frame["asset_id"] == weth)
        frame.loc[eth_a, "liquidation_ratio"] = ETH_A_RATIO
        frame.loc[eth_a, "liquidation_penalty"] = ETH_A_PENALTY
        return frame

    return derive_world(
        base,
        {
            "lending_positions": vaults,
            "lending_markets": markets,
            "option_series": lambda f: f.iloc[0:0],
            "perp_markets": lambda f: f.iloc[0:0],
        },
    )


def run(base: Dataset, seed: int | None = None) -> Backtest:
    """Replay the day on Maker ETH vaults derived from ``base``, once per keeper capacity."""
    start = time.perf_counter()
    bars = ten_minute_bars(_BARS)
    relative = tuple(float(x) for x in bars["close"] / bars["open"].iloc[0])
    engine = build_engine(world(base))
    runs = []
    for capacity in KEEPER_CAPACITIES:
        scenario = Scenario(
            "black-thursday-2020",
            description="ETH's 10-minute closes of 2020-03-12 through Maker ETH vaults",
            paths=(PricePath("ETH", relative),),
            params=ModelParams(
                round_seconds=_ROUND_S,
                keeper_capacity_usd=capacity,
                max_rounds=len(relative) + _SETTLE,
            ),
        )
        runs.append(propagate(engine, scenario, seed=seed, allow_unconverged=True))
    hours = np.arange(24)
    frames = {}
    for capacity, result in zip(KEEPER_CAPACITIES, runs, strict=True):
        liq = result.liquidations
        by_hour = (
            liq.assign(hour=(liq["round"].astype(int) - 1) // 6)
            .groupby("hour")["debt_usd"]
            .sum()
            .reindex(hours, fill_value=0.0)
        )
        frames[capacity] = by_hour.to_numpy()
    base_run = runs[0]
    eth = base_run.prices[base_run.prices["symbol"] == "ETH"].set_index("round")["price_usd"]
    close_by_hour = bars["close"].to_numpy()[5::6]
    p0 = float(eth.loc[0])
    series = pd.DataFrame(
        {
            "time": [f"{h:02d}:00-{h + 1:02d}:00" for h in hours],
            "eth_close": close_by_hour,
            "observed": close_by_hour / bars["open"].iloc[0],
            "modelled": [float(eth.loc[min(6 * (h + 1), eth.index.max())]) / p0 for h in hours],
        }
    )
    series["error"] = series["modelled"] - series["observed"]
    for capacity in KEEPER_CAPACITIES:
        series[f"auction_dai_{capacity / 1e6:g}M"] = frames[capacity]
    figures = []
    for capacity, result in zip(KEEPER_CAPACITIES, runs, strict=True):
        bad = float(result.bad_debt_usd.get("maker-cdp", 0.0))
        figures.append(
            Figure(
                f"Maker bad debt, keepers {capacity / 1e6:g} M USD a round",
                OBSERVED_BAD_DEBT,
                bad,
                "USD",
                "whiterabbit (2020)",
            )
        )
    figures.append(
        Figure(
            "auction proceeds, keepers 10 M USD a round",
            None,
            float(runs[0].liquidations["debt_usd"].sum()),
            "DAI",
        )
    )
    figures.append(
        Figure(
            "ETH sold at zero-DAI bids",
            OBSERVED_ZERO_BIDS_USD,
            0.0,
            "USD",
            "whiterabbit (2020); the model has no zero bids",
        )
    )
    bad_any = any(f.modelled > 0 for f in figures[: len(KEEPER_CAPACITIES)])
    return Backtest(
        name="black-thursday",
        title="Black Thursday, 2020-03-12: Maker ETH vaults and scarce keepers",
        world=(
            "Maker ETH vaults alone, derived from the embedded world (2023-10-31): its 4,000 "
            "synthetic ETH-A vaults, each keeping its collateral ratio, scaled together to "
            "100 M DAI of debt; ETH-A's 2020 liquidation ratio (150 %) and penalty (13 %); "
            "ETH read through the OSM (one-hour delay). Other lending, options and perpetuals "
            "removed; pools and ETH's external depth (70 M USD at 2 %, a 2023 figure) kept."
        ),
        parameters=(
            Parameter(
                "ETH path",
                "144 10-minute closes relative to the day's first open (195.21 USD)",
                "stablesims feeds/eth",
            ),
            Parameter("round", "10 minutes, one bar each", "the series' step"),
            Parameter(
                "keeper capacity",
                ", ".join(f"{c / 1e6:g} M" for c in KEEPER_CAPACITIES) + " USD a round",
                "model default, then scarce and nearly frozen keepers (scenarios, not fitted)",
            ),
            Parameter("keeper margin", "2 % below the market", "LendingParams default"),
            Parameter("DAI debt of ETH vaults", "100 M", "assumption (order of magnitude)"),
            Parameter("ETH-A ratio, penalty", "150 %, 13 %", "Maker governance, March 2020"),
        ),
        series=series,
        series_note=(
            "Hourly: ETH relative to the day's open (observed path; modelled = the market "
            "price after liquidation selling) and the DAI auctions raised in each hour at each "
            "keeper capacity (modelled; no observed hourly series is shipped)."
        ),
        figures=tuple(figures),
        limitations=(
            (
                "Scarce keepers do leave bad debt in the model: auctions stay open while ETH "
                "keeps falling, and tabs outlive their collateral."
                if bad_any
                else "Scarce keepers alone leave no bad debt in the model: auctions raise the "
                "tab at the market price before the collateral runs out, however slowly."
            ),
            "The observed bad debt came from zero-DAI bids (auctions closed with a single "
            "bid of nothing while congested keepers could not bid), a flaw of the 2020 Flip "
            "auction the model does not have; the model's keepers always pay the market price "
            "less their margin, so it cannot reproduce the 8.32 M USD of ETH given away.",
            "The vault book is synthetic (2023 shapes scaled to an assumed 2020 size); the "
            "real distribution of collateral ratios on 2020-03-12 is not in the shipped data, "
            "so modelled volumes are indicative, not comparable one to one.",
            "ETH's external depth is the 2023 figure; 2020 order books were thinner, so the "
            "modelled extra fall from liquidations is a lower bound.",
        ),
        seconds=time.perf_counter() - start,
    )
