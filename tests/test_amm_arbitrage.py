"""Arbitrage against pools at given market prices: StableSwap and Maker's PSM."""

from __future__ import annotations

import doctest
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import contagion.amm.psm as psm_module
import contagion.amm.stableswap as stableswap_module
from contagion.amm.psm import psm_band, psm_dai_out, psm_trade_to_price
from contagion.amm.stableswap import (
    FEE_DENOMINATOR,
    _d_float,
    stableswap_arbitrage,
    stableswap_out,
    stableswap_price,
    stableswap_trade_to_price,
)


def _d(x: np.ndarray, amp: float) -> float:
    return float(_d_float(np.atleast_2d(x), np.array([amp * len(x)]))[0])


def _prices(x: np.ndarray, amp: float) -> np.ndarray:
    """Marginal price of every coin in units of coin 0."""
    return np.array([1.0] + [float(stableswap_price(x, amp, k, 0)[0]) for k in range(1, len(x))])


def test_docstring_examples_run() -> None:
    for module in (stableswap_module, psm_module):
        assert doctest.testmod(module).failed == 0


def test_frictionless_arbitrage_reaches_the_market_price_on_the_same_curve() -> None:
    x0 = np.array([1_000_000.0, 1_000_000.0])
    new = stableswap_trade_to_price(x0, 100.0, [1.0, 0.98], 0.0)
    assert float(stableswap_price(new, 100.0, 1, 0)[0]) == pytest.approx(0.98, rel=1e-10)
    assert _d(new, 100.0) == pytest.approx(_d(x0, 100.0), rel=1e-12)
    assert new[1] > x0[1] and new[0] < x0[0]


def test_arbitrage_inside_the_fee_band_does_not_trade() -> None:
    x0 = np.array([3e6, 2e6, 1e6])
    prices = _prices(x0, 500.0) * np.array([1.0, 1.0001, 0.99995])
    trade = stableswap_arbitrage(x0, 500.0, prices, 0.0004)
    assert trade.balances.tolist() == x0.tolist()
    assert not trade.fees.any() and not trade.sensitivity.any()


def test_two_coin_trade_equals_curves_integer_exchange() -> None:
    # The trade found is a real Curve exchange: dx in, get_dy (fee on the output) out.
    x0 = np.array([54_573.744673, 55_426.361925])  # the sample world's stETH pool
    amp, fee = 30.0, 0.0004
    trade = stableswap_arbitrage(x0, amp, [1.0, 0.97], fee)
    dx = trade.balances[1] - x0[1]
    paid = x0[0] - trade.balances[0]
    assert dx > 0 and paid > 0
    scale = 10**18
    xp = [round(float(v) * scale) for v in x0]
    exact = stableswap_out(1, 0, round(float(dx) * scale), xp, int(amp), int(fee * FEE_DENOMINATOR))
    assert paid == pytest.approx(exact / scale, rel=1e-9)
    assert trade.fees[0] == pytest.approx(paid * fee / (1 - fee), rel=1e-9)
    # The marginal price after the trade is on the band's edge.
    marginal = float(stableswap_price(trade.balances, amp, 1, 0)[0])
    assert marginal * (1 - fee) == pytest.approx(0.97, rel=1e-9)


pools = st.integers(2, 4).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(0.3, 3.0), min_size=n, max_size=n),
        st.lists(st.floats(0.7, 1.4), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(
    shape=pools,
    amp=st.sampled_from([2.0, 30.0, 200.0, 2000.0]),
    fee=st.sampled_from([0.0, 0.0001, 0.0004, 0.003]),
)
def test_arbitrage_leaves_no_profit_keeps_d_and_never_loses(
    shape: tuple[list[float], list[float]], amp: float, fee: float
) -> None:
    x0 = 1e6 * np.array(shape[0])
    market = _prices(x0, amp) * np.array(shape[1])
    trade = stableswap_arbitrage(x0, amp, market, fee)
    x1 = trade.balances
    assert np.all(x1 > 0)
    # D never decreases: the fee stays in the pool.
    assert _d(x1, amp) >= _d(x0, amp) * (1 - 1e-12)
    # No pair can be traded at a profit after the fee.
    pool = _prices(x1, amp)
    for i, j in itertools.permutations(range(len(x0)), 2):
        assert (1 - fee) * pool[i] / pool[j] <= market[i] / market[j] * (1 + 1e-8)
    # The arbitrageur takes value out of the pool at market prices, and fees only on outputs.
    assert float(market @ (x0 - x1)) >= -1e-9 * float(market @ x0)
    assert np.all(trade.fees >= 0)
    assert np.all(trade.fees[x1 >= x0] == 0)


def test_sensitivity_matches_finite_differences() -> None:
    x0 = np.array([2e6, 1.5e6, 1e6])
    amp, fee = 200.0, 0.0004
    market = np.array([1.0, 0.97, 1.01])
    trade = stableswap_arbitrage(x0, amp, market, fee)
    h = 1e-6
    for j in range(3):
        up, down = market.copy(), market.copy()
        up[j] *= np.exp(h)
        down[j] *= np.exp(-h)
        numeric = (
            stableswap_trade_to_price(x0, amp, up, fee)
            - stableswap_trade_to_price(x0, amp, down, fee)
        ) / (2 * h)
        assert trade.sensitivity[:, j] == pytest.approx(numeric, rel=1e-5, abs=1e-3)


def test_a_coin_that_falls_further_is_held_more() -> None:
    x0 = np.array([1e6, 1e6, 1e6])
    held = [
        stableswap_trade_to_price(x0, 2000.0, [1.0, p, 1.0], 0.0001)[1] for p in (0.999, 0.99, 0.9)
    ]
    assert held[0] < held[1] < held[2] < x0.sum()


def test_a_start_from_an_earlier_answer_gives_the_same_trade() -> None:
    x0 = np.array([4e6, 3e6, 2e6, 1e6])
    first = stableswap_arbitrage(x0, 500.0, [1.0, 0.99, 1.0, 1.02], 0.0004)
    again = stableswap_arbitrage(x0, 500.0, [1.0, 0.991, 1.0, 1.019], 0.0004)
    warm = stableswap_arbitrage(x0, 500.0, [1.0, 0.991, 1.0, 1.019], 0.0004, start=first.balances)
    assert warm.balances == pytest.approx(again.balances, rel=1e-10)


def test_stableswap_arbitrage_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="same length"):
        stableswap_arbitrage([1.0, 1.0], 10.0, [1.0, 1.0, 1.0], 0.0)
    with pytest.raises(ValueError, match="fee"):
        stableswap_arbitrage([1.0, 1.0], 10.0, [1.0, 1.0], 1.0)
    with pytest.raises(ValueError, match="positive"):
        stableswap_arbitrage([1.0, 0.0], 10.0, [1.0, 1.0], 0.0)


def test_psm_amounts_are_dsspsm_integer_amounts() -> None:
    # DssPsm.sellGem: fee = gemAmt18 * tin / WAD, Dai out = gemAmt18 - fee; buyGem adds tout.
    wad, gem_amt, to18 = 10**18, 1_000_000 * 10**6, 10**12
    tin, tout = 10**15, 2 * 10**15  # 0.1 % and 0.2 %
    sell = gem_amt * to18 - gem_amt * to18 * tin // wad
    buy = gem_amt * to18 + gem_amt * to18 * tout // wad
    out = psm_dai_out([1e6, -1e6], tin / wad, tout / wad)
    assert out.tolist() == [sell / wad, -buy / wad]


def test_psm_band_edges_are_exactly_where_a_round_trip_stops_paying() -> None:
    lower, upper = psm_band(0.01, 0.02)
    # Selling one gem for (1 - tin) Dai pays while P_dai (1 - tin) > P_gem.
    assert float(np.exp(upper)) * (1 - 0.01) == pytest.approx(1.0, rel=1e-15)
    assert float(np.exp(lower)) * (1 + 0.02) == pytest.approx(1.0, rel=1e-15)
    ratios = np.exp([upper + 1e-9, upper - 1e-9, lower + 1e-9, lower - 1e-9])
    traded = psm_trade_to_price(5.0, 3.0, ratios, 0.01, 0.02)
    assert traded.tolist() == [3.0, 0.0, 0.0, -5.0]
