"""Backtests: the shipped series match the shared data, each replay states its world and error,
and the acceptance criteria of the events hold where the model meets them."""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from contagion import sample_world
from contagion.backtests import names, run_backtest
from contagion.backtests.common import event_file, stablecoin_series, ten_minute_bars
from contagion.backtests.crash_2021 import align_lag
from contagion.exceptions import ContagionError, SchemaError

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
COPIES = {
    "eth-usd-10min-2020-03-12.json": "prices/eth-usd-10min-2020-03-12.json",
    "eth-usd-10min-2021-05-19.json": "prices/eth-usd-10min-2021-05-19.json",
    "eth-usd-daily.csv": "prices/eth-usd-daily.csv",
    "btc-usd-daily.csv": "prices/btc-usd-daily.csv",
    "stablecoins-daily-2020-12-29_2023-07-30.csv": (
        "prices/stablecoins-daily-2020-12-29_2023-07-30.csv"
    ),
    "uniswap-v2-eth-dai-2021-05-19.json": "uniswap-v2-liquidity/eth-dai-05-19-2021.json",
}


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return sample_world(positions=4_000, seed=7)


@pytest.mark.skipif(not SHARED.exists(), reason="the shared data is not beside the clone")
@pytest.mark.parametrize("name", sorted(COPIES))
def test_shipped_series_are_unchanged_copies(name: str) -> None:
    assert filecmp.cmp(event_file(name), SHARED / COPIES[name], shallow=False)


def test_series_readers_return_the_published_anchor_values() -> None:
    bars = ten_minute_bars("eth-usd-10min-2020-03-12.json")
    assert len(bars) == 144
    assert bars["low"].min() == pytest.approx(101.01)
    usdc = stablecoin_series("usd-coin", "2023-03-11", "2023-03-11")
    assert float(usdc.iloc[0]) == pytest.approx(0.961, abs=5e-4)
    ust = stablecoin_series("terrausd", "2022-05-13", "2022-05-13")
    assert float(ust.iloc[0]) == pytest.approx(0.129)


def test_unknown_event_and_column_are_named() -> None:
    with pytest.raises(ContagionError, match=r"unknown backtest 'nope'.*black-thursday"):
        run_backtest("nope")
    with pytest.raises(SchemaError, match="no column 'ust'"):
        stablecoin_series("ust", "2022-05-01", "2022-05-02")
    with pytest.raises(SchemaError, match="missing from the installation"):
        event_file("no-such-series.json")


def test_align_lag_recovers_a_known_shift() -> None:
    close = np.exp(np.sin(np.arange(200) / 7.0))
    assert align_lag(close[13:150], close) == 13


def test_crash_2021_replays_reserves_with_the_exact_v2_rule() -> None:
    b = run_backtest("crash-2021")
    assert b.name in names()
    fig = {f.name: f for f in b.figures}
    # Arbitrage keeps x*y (the fee stays in the pool): sqrt(k) can only grow.
    assert fig["sqrt(k) change over the replay"].modelled >= 0
    # Against the observed pool price the replay errs by a few percent, far below the
    # unaligned gap between the two series.
    price_rms = fig["pool price RMS log error vs observed"].modelled
    assert 0 < price_rms < 0.05
    assert price_rms < fig["RMS log gap pool price vs ETH close, unaligned"].modelled / 3
    assert np.allclose(b.series["error"], b.series["modelled"] - b.series["observed"])
    assert b.limitations and b.parameters


def test_usdc_svb_keeps_dai_within_a_cent(world) -> None:  # type: ignore[no-untyped-def]
    b = run_backtest("usdc-svb", world=world)
    assert b.passed, b.acceptance
    checked = b.series[b.series["time"].between("2023-03-10", "2023-03-14")]
    assert len(checked) == 5
    assert (checked["error"].abs() <= 0.01).all()
    # The depeg reaches DAI: on 03-11 the model's DAI is below 0.97, like the observed 0.9625.
    low = checked.set_index("time").loc["2023-03-11"]
    assert low["modelled"] < 0.97
    assert b.seconds < 120


def test_terra_states_its_verdict_against_the_observed_break(world) -> None:  # type: ignore[no-untyped-def]
    b = run_backtest("terra", world=world)
    (check,) = b.acceptance
    series = b.series.set_index("time")
    # The acceptance: modelled UST below 0.5 within two days of the observed 2022-05-12.
    below = series.index[series["modelled"] < 0.5]
    assert len(below) > 0
    gap = (pd.Timestamp(below[0]) - pd.Timestamp("2022-05-12")).days
    assert abs(gap) <= 2
    assert check.passed and "observed 2022-05-12" in check.detail
    # Before the spiral UST hovers below the peg: the trigger, then arbitrage support.
    assert (series.loc[:"2022-05-09", "modelled"].iloc[1:].between(0.7, 0.95)).all()
    # Terra's virtual pool mints mLUNA as fast as the discount allows: it collapses.
    assert series["mluna_modelled"].iloc[-1] < 1e-3 * series["mluna_modelled"].iloc[0]
    names = {p.name for p in b.parameters}
    assert {"market module, to 2022-05-10", "market module, from 2022-05-11"} <= names
    # The timing's sensitivity: the run's own gap, then four variants of the parameters.
    gaps = {f.name: f.modelled for f in b.figures if f.unit == "days"}
    assert gaps["days from the observed break"] == gap
    assert len(gaps) == 5 and all(np.isfinite(v) for v in gaps.values())
    # Holders who run faster break the peg no later; deeper outside markets no sooner.
    assert gaps["days from the observed break, holders run twice as fast"] <= gap
    assert gaps["days from the observed break, outside markets twice as deep"] >= gap
