"""Black Thursday through flip auctions: stalled keepers leave zero bids and bad debt, the
parameters are the cited ones, and the market-price rule is there for comparison."""

from __future__ import annotations

import numpy as np
import pytest

from contagion import sample_world
from contagion.backtests import Backtest, run_backtest
from contagion.backtests.black_thursday import (
    FLIP_RULES,
    KEEPER_CAPACITY,
    OBSERVED_BAD_DEBT,
    PARTICIPATION,
    congestion_start,
    keeper_path,
)


@pytest.fixture(scope="module")
def backtest() -> Backtest:
    return run_backtest("black-thursday", world=sample_world(positions=4_000, seed=7))


def test_congestion_starts_at_the_first_large_ten_minute_fall() -> None:
    close = np.array([100.0, 99.0, 97.0, 91.0, 92.0, 80.0])
    assert congestion_start(close) == 3  # 97 -> 91 is the first fall over 5 %
    assert congestion_start(np.array([100.0, 99.0])) == 2
    path = keeper_path(5, 3, 0.1)
    assert path == (KEEPER_CAPACITY,) * 3 + (0.1 * KEEPER_CAPACITY,) * 2


def test_flip_rules_are_the_2020_eth_a_flipper() -> None:
    assert (FLIP_RULES.ttl_s, FLIP_RULES.tau_s, FLIP_RULES.beg) == (600.0, 21_600.0, 0.03)
    assert FLIP_RULES.zero_bidder


def test_stalled_keepers_leave_zero_bids_and_bad_debt(backtest: Backtest) -> None:
    fig = {f.name: f for f in backtest.figures}
    labels = [f"{p:.0%}" for p in PARTICIPATION]
    bad = [fig[f"Maker bad debt, flip auctions, keepers at {x} from the crash"] for x in labels]
    zero = [fig[f"ETH won at zero-DAI bids, keepers at {x}"].modelled for x in labels]
    share = [fig[f"share of auctioned ETH won at zero bids, keepers at {x}"] for x in labels]
    assert all(f.observed == OBSERVED_BAD_DEBT for f in bad)
    # Fewer keepers, more auctions left to the zero bidder and more debt uncovered.
    assert [f.modelled for f in bad] == sorted(f.modelled for f in bad)
    assert zero == sorted(zero) and zero[-1] > 0 and bad[-1].modelled > 0
    assert all(0.0 <= f.modelled <= 1.0 for f in share) and share[-1].modelled > 0.5
    # The deficit is debt, not tab: it cannot exceed the vaults' 100 M DAI.
    assert bad[-1].modelled < 100e6
    # Without zero bids (market-price auctions, keepers intact) there is no bad debt.
    market = fig["Maker bad debt, market-price auctions (model default), keepers intact"]
    assert market.modelled == 0.0
    series = backtest.series
    np.testing.assert_allclose(series["error"], series["modelled"] - series["observed"])
    for x in labels:
        # Hourly rows cover the day; auctions settling after midnight are in the figures only.
        hourly = series[f"zero_bid_eth_usd_{x}"].sum()
        assert 0 < hourly <= fig[f"ETH won at zero-DAI bids, keepers at {x}"].modelled + 1e-6
    names = {p.name for p in backtest.parameters}
    assert {"ttl, tau, beg", "zero bidder", "keeper participation from the crash"} <= names
    assert "overshoots" in backtest.limitations[0]
