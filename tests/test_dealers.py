"""Dealer hedging: greeks of contagion.options, hand-solvable books, the sample world's books."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime

import numpy as np
import pytest
from conftest import WETH
from hypothesis import given, settings
from hypothesis import strategies as st

from contagion import Dataset, dealers, sample_world
from contagion.dealers import (
    DealerParams,
    OptionBook,
    dealer_round,
    gamma_flip,
    gex_profile,
    initial_dealer_state,
)
from contagion.options import black76, gamma_exposure

BTC = "0:btc"
STATIC = DealerParams(iv_response=0.0)  # gamma alone: implied volatility stays put
MINUTE = 1.0 / (365 * 24 * 60)


def one_series(
    strike: float = 2000.0,
    call: bool = True,
    sign: float = 1.0,
    oi: float = 100.0,
    t: float = 30 / 365,
    iv: float = 0.5,
    spot: float = 2000.0,
) -> OptionBook:
    return OptionBook(("ETH",), [spot], [0], [strike], [t], [call], [oi], [iv], [sign], [0])


@pytest.fixture(scope="module")
def world() -> Dataset:
    return sample_world(positions=2_000)


@pytest.fixture(scope="module")
def world_book(world: Dataset) -> OptionBook:
    # BTC first, then the other underlyings (ETH) in the dataset's order.
    underlyings = world.df("option_series")["underlying_asset_id"].unique().tolist()
    return OptionBook.from_dataset(world, [BTC, *(a for a in underlyings if a != BTC)])


def test_reproduces_options_greeks_on_one_series() -> None:
    book = one_series(strike=2100.0, call=False, sign=-1.0, oi=40.0)
    g = black76(1950.0, 2100.0, 30 / 365, 0.5, False, r=0.0)
    state = initial_dealer_state(book, [1950.0], STATIC)
    assert state.hedge[0] == pytest.approx(40.0 * float(g.delta))  # -(-1 · 40 · Δ)
    _, done = dealer_round(book, state, [1950.0], 0.0, STATIC)
    assert done.net_delta[0] == pytest.approx(-40.0 * float(g.delta))
    assert done.gex[0] == pytest.approx(float(gamma_exposure(g.gamma, 40.0, 1950.0, -1.0)))
    assert done.vega[0] == pytest.approx(-40.0 * float(g.vega) / 100)
    assert done.hedge_flow[0] == 0.0


def test_from_dataset_on_the_tiny_world(tiny_dataset: Dataset) -> None:
    book = OptionBook.from_dataset(tiny_dataset, ["other", WETH])
    expiry, snapshot = (
        datetime(2020, 6, 26, 8, tzinfo=UTC),
        datetime(2020, 5, 14, 5, 41, tzinfo=UTC),
    )
    years = (expiry - snapshot).total_seconds() / (365 * 86400)
    np.testing.assert_allclose(book.expiry_years, [years, years])
    np.testing.assert_array_equal(book.underlying, [1, 1])
    np.testing.assert_array_equal(book.strike, [2000.0, 1800.0])
    np.testing.assert_array_equal(book.is_call, [True, False])
    np.testing.assert_array_equal(book.open_interest, [100.0, 50.0])
    np.testing.assert_array_equal(book.dealer_sign, [-1.0, -1.0])
    assert book.venues == ("deribit",) and book.series_ids[1] == "ETH-26JUN20-1800-P"
    assert np.isnan(book.spot[0]) and book.spot[1] == 2000.0
    assert OptionBook.from_dataset(tiny_dataset, ["other"]).n_series == 0


@settings(max_examples=60, deadline=None)
@given(
    strike=st.floats(500.0, 8000.0),
    call=st.booleans(),
    sign=st.sampled_from([-1.0, 1.0]),
    t=st.floats(1 / 365, 1.0),
    iv=st.floats(0.2, 2.0),
    move=st.floats(-0.3, 0.3).filter(lambda m: abs(m) > 1e-4),
)
def test_gamma_sign_decides_damping(
    strike: float, call: bool, sign: float, t: float, iv: float, move: float
) -> None:
    # Delta rises with the price, so long gamma (GEX > 0) buys falls and sells rallies, and
    # short gamma does the opposite, for any size of move.
    book = one_series(strike=strike, call=call, sign=sign, t=t, iv=iv)
    state = initial_dealer_state(book, params=STATIC)
    _, done = dealer_round(book, state, [2000.0 * (1 + move)], 0.0, STATIC)
    assert np.sign(gex_profile(book, 0, [2000.0])[0]) in (0.0, sign)  # 0: gamma underflows
    if abs(done.hedge_flow[0]) > 1e-9:
        assert np.sign(done.hedge_flow[0]) == -sign * np.sign(move)


def test_first_order_flow_is_gex_over_spot(world_book: OptionBook) -> None:
    state = initial_dealer_state(world_book, params=STATIC)
    _, before = dealer_round(world_book, state, world_book.spot, 0.0, STATIC)
    for move in (-0.1, 0.1):
        _, done = dealer_round(world_book, state, world_book.spot * (1 + move / 100), 0.0, STATIC)
        expected = -before.gex / world_book.spot * move
        np.testing.assert_allclose(done.hedge_flow, expected, rtol=1e-2)


def test_zero_move_and_time_give_no_or_small_flow(world_book: OptionBook) -> None:
    state = initial_dealer_state(world_book)
    _, still = dealer_round(world_book, state, world_book.spot, 0.0)
    np.testing.assert_array_equal(still.hedge_flow, [0.0, 0.0])
    _, minute = dealer_round(world_book, state, world_book.spot, MINUTE)
    _, percent = dealer_round(world_book, state, world_book.spot * 0.99, 0.0, STATIC)
    assert np.all(np.abs(minute.hedge_flow) < 0.01 * np.abs(percent.hedge_flow))


@pytest.mark.parametrize(
    ("strike", "call", "sign", "flow_sign"),
    [
        (2400.0, True, 1.0, -1),  # long out-of-the-money call: delta rises, dealers sell
        (1600.0, False, -1.0, -1),  # short OTM put: its delta falls, the book's rises: sell
        (1600.0, True, 1.0, 1),  # long in-the-money call: delta falls towards 0.5: buy
    ],
)
def test_vol_spike_shifts_deltas_towards_at_the_money(
    strike: float, call: bool, sign: float, flow_sign: int
) -> None:
    book = one_series(strike=strike, call=call, sign=sign)
    state = initial_dealer_state(book)
    new, done = dealer_round(book, state, [2000.0], 0.0, vol_spike=[10.0])
    assert new.iv[0] == pytest.approx(0.6)
    assert np.sign(done.hedge_flow[0]) == flow_sign


def test_vol_multiplier_scales_iv_per_asset() -> None:
    book = OptionBook(
        ("A", "B"), [100.0, 50.0], [0, 1], [100.0, 50.0], [0.1, 0.1], [True, True],
        [1.0, 1.0], [0.4, 0.8], [1.0, 1.0], [0, 0],
    )  # fmt: skip
    state = initial_dealer_state(book)
    new, _ = dealer_round(book, state, book.spot, 0.0, vol_multiplier=[1.5, 1.0], vol_spike=[0, 5])
    np.testing.assert_allclose(new.iv, [0.6, 0.85])


def test_iv_responds_to_moves_down_only_and_floored() -> None:
    book = one_series(iv=0.5)
    state = initial_dealer_state(book)
    down, _ = dealer_round(book, state, [1900.0], 0.0, DealerParams(iv_response=1.5))
    assert down.iv[0] == pytest.approx(0.5 + 1.5 * 5 / 100)
    up, _ = dealer_round(book, state, [2100.0], 0.0, DealerParams(iv_response=1.5))
    assert up.iv[0] == 0.5
    both = DealerParams(iv_response=1.5, down_only=False)
    assert dealer_round(book, state, [2100.0], 0.0, both)[0].iv[0] == pytest.approx(0.425)
    floored = DealerParams(iv_response=20.0, down_only=False, iv_floor=0.1)
    assert dealer_round(book, state, [2100.0], 0.0, floored)[0].iv[0] == 0.1


def test_vega_feedback_adds_selling_for_long_otm_calls() -> None:
    book = one_series(strike=2600.0)
    state = initial_dealer_state(book)
    _, gamma_only = dealer_round(book, state, [1900.0], 0.0, STATIC)
    _, with_vega = dealer_round(book, state, [1900.0], 0.0, DealerParams(iv_response=2.0))
    assert gamma_only.hedge_flow[0] > with_vega.hedge_flow[0]


def test_dealer_sign_conventions(world_book: OptionBook) -> None:
    short, long_ = DealerParams(dealer_sign="short"), DealerParams(dealer_sign="long")
    hedge_short = initial_dealer_state(world_book, params=short).hedge
    np.testing.assert_allclose(initial_dealer_state(world_book, params=long_).hedge, -hedge_short)
    grid = world_book.spot[0] * np.linspace(0.7, 1.3, 25)
    assert np.all(gex_profile(world_book, BTC, grid, dealer_sign="short") < 0)
    assert np.all(gex_profile(world_book, BTC, grid, dealer_sign="long") > 0)
    with pytest.raises(ValueError, match="dealer_sign"):
        DealerParams(dealer_sign="flat")  # type: ignore[arg-type]


def test_expired_series_hedge_is_unwound() -> None:
    book = one_series(strike=1800.0, t=1 / 365)
    state = initial_dealer_state(book)
    new, done = dealer_round(book, state, [2000.0], 2 / 365)
    assert new.hedge[0] == 0.0 and done.gex[0] == 0.0
    assert done.hedge_flow[0] == pytest.approx(-state.hedge[0])


@settings(max_examples=50, deadline=None)
@given(buffer=st.floats(0.0, 5e8), move=st.floats(-0.2, 0.2))
def test_options_amm_buffer_absorbs_up_to_its_size(buffer: float, move: float) -> None:
    book = OptionBook(
        ("BTC", "ETH"), [30e3, 2e3], [0, 1], [28e3, 2.1e3], [0.1, 0.2], [False, True],
        [2e3, 3e4], [0.5, 0.6], [-1.0, 1.0], [0, 0],
    )  # fmt: skip
    state = initial_dealer_state(book)
    prices = book.spot * (1 + move)
    _, plain = dealer_round(book, state, prices, 0.0)
    _, done = dealer_round(book, state, prices, 0.0, DealerParams(options_amm_buffer_usd=buffer))
    np.testing.assert_allclose(done.hedge_flow + done.absorbed_flow, plain.hedge_flow)
    absorbed_usd = float(np.sum(np.abs(done.absorbed_flow) * prices))
    assert absorbed_usd <= buffer * (1 + 1e-12) + 1e-9  # USD; subnormal buffers round
    total_usd = float(np.sum(np.abs(plain.hedge_flow) * prices))
    assert absorbed_usd == pytest.approx(min(buffer, total_usd), rel=1e-9, abs=1e-6)
    assert np.all(np.abs(done.hedge_flow) <= np.abs(plain.hedge_flow))


def test_inputs_are_not_mutated(world_book: OptionBook) -> None:
    state = initial_dealer_state(world_book)
    iv, hedge, spot = state.iv.copy(), state.hedge.copy(), state.spot.copy()
    prices = world_book.spot * 0.9
    new, _ = dealer_round(world_book, state, prices, MINUTE, vol_spike=[5.0, 5.0])
    np.testing.assert_array_equal(state.iv, iv)
    np.testing.assert_array_equal(state.hedge, hedge)
    np.testing.assert_array_equal(state.spot, spot)
    assert new.elapsed == MINUTE and state.elapsed == 0.0


def test_bad_inputs_raise(world_book: OptionBook) -> None:
    state = initial_dealer_state(world_book)
    with pytest.raises(ValueError, match="one entry per asset"):
        dealer_round(world_book, state, [1.0], 0.0)
    with pytest.raises(ValueError, match="dt_years"):
        dealer_round(world_book, state, world_book.spot, -1.0)
    with pytest.raises(ValueError, match="positive finite price"):
        dealer_round(world_book, state, [0.0, 1.0], 0.0)
    with pytest.raises(ValueError, match="iv_floor"):
        DealerParams(iv_floor=-0.1)
    with pytest.raises(KeyError):
        gex_profile(world_book, "1:0xnot", [1.0])


def test_world_books_sign_convention_and_finite_gex(world: Dataset, world_book: OptionBook) -> None:
    # The sample world follows the published GEX convention: dealers short puts, long calls.
    np.testing.assert_array_equal(world_book.dealer_sign, np.where(world_book.is_call, 1, -1))
    assert world_book.n_assets == 2 and world_book.n_series == world.row_counts()["option_series"]
    assert np.all(np.bincount(world_book.underlying) > 0)
    state = initial_dealer_state(world_book)
    _, done = dealer_round(world_book, state, world_book.spot, 0.0)
    assert np.all(np.isfinite(done.gex)) and np.all(done.gex != 0)
    for u, asset in enumerate(world_book.asset_ids):
        grid = world_book.spot[u] * np.linspace(0.7, 1.3, 61)
        profile = gex_profile(world_book, asset, grid)
        assert np.all(np.isfinite(profile))
        assert profile[0] < 0 < profile[-1]  # short puts below, long calls above
        assert profile[np.argmin(np.abs(grid - world_book.spot[u]))] == pytest.approx(done.gex[u])


def test_gamma_flip(world_book: OptionBook) -> None:
    flip = gamma_flip(world_book, BTC)
    assert flip is not None
    below, above = gex_profile(world_book, BTC, [flip * 0.999, flip * 1.001])
    assert below < 0 < above
    scale = np.abs(gex_profile(world_book, BTC, [flip * 0.9, flip * 1.1])).max()
    assert abs(float(gex_profile(world_book, BTC, [flip])[0])) < 1e-9 * scale
    assert gamma_flip(world_book, BTC, dealer_sign="long") is None
    # Two equal and opposite series: the flip lies between their strikes.
    book = OptionBook(
        ("BTC",), [30e3], [0, 0], [25e3, 35e3], [0.1, 0.1], [False, True],
        [1e3, 1e3], [0.5, 0.5], [-1.0, 1.0], [0, 0],
    )  # fmt: skip
    assert 25e3 < (gamma_flip(book, "BTC") or 0.0) < 35e3


def test_doctests() -> None:
    result = doctest.testmod(dealers)
    assert result.attempted > 0 and result.failed == 0
