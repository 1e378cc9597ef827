"""Black Thursday, 2020-03-12: Maker's ETH vaults, the OSM, flip auctions and stalled keepers.

ETH fell from 195 to about 101 USD within the day. Maker read ETH through its Oracle Security
Module (one hour late) and bit unsafe vaults into ``Flipper`` auctions (``flip.sol``: DAI bids
rising to the tab, then the lot falling; the last bid wins ``ttl`` after it was placed, the
auction ends after ``tau``). Gas prices spiked, many keepers' bots stopped bidding, and a few
bidders won auctions with bids of 0 DAI: no competing bid arrived within the 10-minute
``ttl``. The system was left with 5.67 M DAI of debt no collateral covered, paid for by
minting and selling MKR in debt auctions.

The backtest replays ETH's 10-minute path through a world of Maker ETH vaults with the model's
flip auctions (:class:`~contagion.lending.cdp.FlipRules`, the ETH-A Flipper's 2020 ``ttl``,
``tau`` and ``beg``) at several levels of keeper participation during the crash, and once with
the model's default market-price auctions for comparison.

References
----------
MakerDAO (2020-04-15). The Market Collapse of March 12-13, 2020: How It Impacted MakerDAO
(Maker blog): network congestion and gas prices, keepers failing to bid, zero-DAI bids, the
debt auction; ETH-A Flipper ``ttl`` 10 minutes and ``tau`` 6 hours, raised by governance in
the following days (Black Thursday Response Thread, forum.makerdao.com).
whiterabbit (2020), analysis of Black Thursday's auctions: 5.67 M DAI undercollateralised,
8.32 M USD of ETH sold at (near) zero-DAI bids, 36 % of the auctioned volume.
MakerDAO, dss ``src/flip.sol``.
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
from contagion.lending.cdp import FlipRules
from contagion.propagate import propagate
from contagion.result import PropagationResult
from contagion.scenario import ModelParams, PricePath, Scenario

__all__ = [
    "DAI_DEBT_2020",
    "FLIP_RULES",
    "KEEPER_CAPACITY",
    "OBSERVED_BAD_DEBT",
    "OBSERVED_ZERO_BIDS_USD",
    "OBSERVED_ZERO_BID_SHARE",
    "PARTICIPATION",
    "congestion_start",
    "keeper_path",
    "run",
    "world",
]

DAI_DEBT_2020 = 100e6
"""DAI owed by the world's ETH vaults: assumption, the order of magnitude of multi-collateral
DAI's supply in early March 2020 (exact figure not in the shipped data)."""
OBSERVED_BAD_DEBT = 5.67e6
"""DAI left undercollateralised (whiterabbit 2020; Maker's debt auction covered it)."""
OBSERVED_ZERO_BIDS_USD = 8.32e6
"""ETH sold in zero-DAI auctions, USD (whiterabbit 2020)."""
OBSERVED_ZERO_BID_SHARE = 0.36
"""Share of the auctioned volume won with zero-DAI bids (whiterabbit 2020)."""
FLIP_RULES = FlipRules()
"""ETH-A Flipper on 2020-03-12: ``ttl`` 10 minutes, ``tau`` 6 hours, ``beg`` 3 %, and a
zero bidder (Maker blog 2020; flip.sol)."""
KEEPER_CAPACITY = ModelParams().keeper_capacity_usd
"""Keepers' capacity per round before the crash: the model's default (10 M USD, assumption)."""
PARTICIPATION = (1.0, 0.1, 0.0)
"""Share of :data:`KEEPER_CAPACITY` keepers keep from the crash on: unchanged, a tenth (most
bots stalled by gas prices and failed transactions), none. Scenarios spanning the
post-mortems' account, not fitted to the outcome."""
CONGESTION_FALL = 0.05
"""The crash (and the gas spike with it) starts at the first 10-minute fall of ETH larger
than this (10:30 UTC in the shipped series)."""
ETH_A_RATIO, ETH_A_PENALTY = 1.5, 0.13
"""ETH-A liquidation ratio and penalty in March 2020 (Maker governance)."""
_BARS = "eth-usd-10min-2020-03-12.json"
_ROUND_S = 600
_SETTLE = 48


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


def congestion_start(close: np.ndarray) -> int:
    """Index of the first bar whose close is more than :data:`CONGESTION_FALL` below the
    previous one (the bar count if none)."""
    falls = np.flatnonzero(close[1:] < close[:-1] * (1.0 - CONGESTION_FALL))
    return int(falls[0]) + 1 if len(falls) else len(close)


def keeper_path(n_rounds: int, start: int, participation: float) -> tuple[float, ...]:
    """Keeper capacity per round: :data:`KEEPER_CAPACITY` before round ``start`` (0-based),
    ``participation`` of it from then on."""
    return tuple(KEEPER_CAPACITY * (1.0 if r < start else participation) for r in range(n_rounds))


def _maker_auctions(result: PropagationResult) -> pd.DataFrame:
    liq = result.liquidations
    return liq[(liq["protocol_id"] == "maker-cdp") & liq["kind"].str.startswith("cdp-")]


def _hourly(frame: pd.DataFrame, column: str) -> np.ndarray:
    hours = (frame["round"].astype(int) - 1) // 6
    by_hour = frame.assign(hour=hours).groupby("hour")[column].sum()
    return by_hour.reindex(range(24), fill_value=0.0).to_numpy()


def run(base: Dataset, seed: int | None = None) -> Backtest:
    """Replay the day on Maker ETH vaults derived from ``base``: flip auctions at each keeper
    participation of :data:`PARTICIPATION`, then market-price auctions with keepers intact."""
    start = time.perf_counter()
    bars = ten_minute_bars(_BARS)
    close = bars["close"].to_numpy()
    relative = tuple(float(x) for x in close / bars["open"].iloc[0])
    crash = congestion_start(close)
    n_rounds = len(relative) + _SETTLE
    engine = build_engine(world(base))

    def replay(params: ModelParams) -> PropagationResult:
        scenario = Scenario(
            "black-thursday-2020",
            description="ETH's 10-minute closes of 2020-03-12 through Maker ETH vaults",
            paths=(PricePath("ETH", relative),),
            params=params,
        )
        return propagate(engine, scenario, seed=seed, allow_unconverged=True)

    flips = [
        replay(
            ModelParams(
                round_seconds=_ROUND_S,
                cdp_auction="flip",
                keeper_capacity_path=keeper_path(n_rounds, crash, share),
                max_rounds=n_rounds,
            )
        )
        for share in PARTICIPATION
    ]
    market = replay(ModelParams(round_seconds=_ROUND_S, max_rounds=n_rounds))
    labels = [f"{share:.0%}" for share in PARTICIPATION]

    eth = flips[0].prices[flips[0].prices["symbol"] == "ETH"].set_index("round")["price_usd"]
    close_by_hour = close[5::6]
    p0 = float(eth.loc[0])
    series = pd.DataFrame(
        {
            "time": [f"{h:02d}:00-{h + 1:02d}:00" for h in range(24)],
            "eth_close": close_by_hour,
            "observed": close_by_hour / bars["open"].iloc[0],
            "modelled": [float(eth.loc[min(6 * (h + 1), eth.index.max())]) / p0 for h in range(24)],
        }
    )
    series["error"] = series["modelled"] - series["observed"]
    for label, result in zip(labels, flips, strict=True):
        auctions = _maker_auctions(result)
        zero = auctions[auctions["kind"] == "cdp-zero-bid"]
        series[f"auction_dai_{label}"] = _hourly(auctions, "debt_usd")
        series[f"zero_bid_eth_usd_{label}"] = _hourly(zero, "collateral_usd")

    figures = []
    for label, result in zip(labels, flips, strict=True):
        auctions = _maker_auctions(result)
        zero = auctions[auctions["kind"] == "cdp-zero-bid"]
        sold = float(auctions["collateral_seized"].sum())
        figures += [
            Figure(
                f"Maker bad debt, flip auctions, keepers at {label} from the crash",
                OBSERVED_BAD_DEBT,
                float(result.bad_debt_usd.get("maker-cdp", 0.0)),
                "USD",
                "whiterabbit (2020)",
            ),
            Figure(
                f"ETH won at zero-DAI bids, keepers at {label}",
                OBSERVED_ZERO_BIDS_USD,
                float(zero["collateral_usd"].sum()),
                "USD",
                "whiterabbit (2020)",
            ),
            Figure(
                f"share of auctioned ETH won at zero bids, keepers at {label}",
                OBSERVED_ZERO_BID_SHARE,
                float(zero["collateral_seized"].sum()) / sold if sold > 0 else 0.0,
                "",
                "whiterabbit (2020): 36 % of the auctioned volume",
            ),
        ]
    figures += [
        Figure(
            "auctions settled, flip, keepers at 100 %",
            None,
            float(_maker_auctions(flips[0])["count"].sum()),
            "",
        ),
        Figure(
            "Maker bad debt, market-price auctions (model default), keepers intact",
            OBSERVED_BAD_DEBT,
            float(market.bad_debt_usd.get("maker-cdp", 0.0)),
            "USD",
            "whiterabbit (2020)",
        ),
    ]
    bad = {
        label: float(r.bad_debt_usd.get("maker-cdp", 0.0))
        for label, r in zip(labels, flips, strict=True)
    }
    crash_time = bars["time"].iloc[crash].strftime("%H:%M UTC") if crash < len(bars) else "never"
    return Backtest(
        name="black-thursday",
        title="Black Thursday, 2020-03-12: Maker ETH vaults, flip auctions and stalled keepers",
        world=(
            "Maker ETH vaults alone, derived from the embedded world (2023-10-31): its "
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
                "auction rule",
                "Flipper (flip.sol): tend, dent, deal, tick; one auction per vault",
                "MakerDAO dss flip.sol; the rule of 2020-03-12",
            ),
            Parameter(
                "ttl, tau, beg",
                f"{FLIP_RULES.ttl_s / 60:g} min, {FLIP_RULES.tau_s / 3600:g} h, "
                f"{FLIP_RULES.beg:.0%}",
                "ETH-A Flipper on 2020-03-12 (Maker blog 2020; raised by governance after)",
            ),
            Parameter(
                "zero bidder",
                "bids 0 DAI on every auction nobody else bids on in its round",
                "whiterabbit (2020): four addresses won 0-DAI bids at gas prices others did "
                "not pay",
            ),
            Parameter(
                "keeper capacity before the crash",
                f"{KEEPER_CAPACITY / 1e6:g} M USD of new bids a round",
                "ModelParams default (assumption)",
            ),
            Parameter(
                "keeper participation from the crash",
                ", ".join(labels) + f" of that capacity, from {crash_time} (the first "
                f"10-minute fall over {CONGESTION_FALL:.0%}) to the end",
                "scenarios spanning the post-mortems' account of stalled keepers (Maker blog "
                "2020: gas spike, failed keeper transactions); not fitted",
            ),
            Parameter("keeper margin", "2 % below the market", "LendingParams default"),
            Parameter("DAI debt of ETH vaults", "100 M", "assumption (order of magnitude)"),
            Parameter("ETH-A ratio, penalty", "150 %, 13 %", "Maker governance, March 2020"),
        ),
        series=series,
        series_note=(
            "Hourly: ETH relative to the day's open (observed path; modelled = the market "
            "price after liquidation selling, keepers at 100 %), and per keeper participation "
            "the DAI flip auctions raised and the USD value of ETH won at zero bids in each "
            "hour (modelled; no observed hourly series is shipped). Auctions kicked late in the day "
            "settle after midnight: they count in the headline figures, not in these rows."
        ),
        figures=tuple(figures),
        limitations=(
            "With flip auctions the model produces the mechanism of the day: auctions nobody "
            "bids on within ttl go for 0 DAI and their debt becomes bad debt. It overshoots "
            f"the size: {bad[labels[0]] / 1e6:.1f} M USD of bad debt with keepers intact "
            f"and {bad[labels[-1]] / 1e6:.1f} M with none, against 5.67 M observed. The "
            "default keeper capacity is an assumption, and when the hourly OSM publishes a "
            "large fall the model bites every unsafe vault in one round, more tabs than that "
            "capacity covers.",
            "Auctions are one per vault; in 2020 the Cat cut vaults into lots of at most 50 "
            "ETH (lump), so the model has fewer, larger auctions than the day's; the count is "
            "not comparable.",
            "Vault owners who added collateral or repaid while the OSM lagged are not "
            "modelled; real vaults were saved that way, which the model counts as bitten.",
            "Rounds are 10 minutes, the bid duration: a bid stands against keepers for "
            "between one and two rounds, so the model's window to outbid a zero bid is "
            "between 10 and 20 minutes.",
            "The vault book is synthetic (2023 shapes scaled to an assumed 2020 size); the "
            "real distribution of collateral ratios on 2020-03-12 is not in the shipped data, "
            "so modelled volumes are indicative, not comparable one to one.",
            "ETH's external depth is the 2023 figure; 2020 order books were thinner, so the "
            "modelled extra fall from liquidations is a lower bound.",
        ),
        seconds=time.perf_counter() - start,
    )
