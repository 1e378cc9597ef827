"""Pool math: the Uniswap v2 vector, invariants that must hold after every trade."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contagion.amm import (
    get_amount_in,
    get_amount_out,
    get_d,
    get_y,
    stableswap_out,
    stableswap_price,
    swap_out,
    trade_to_price,
)
from contagion.amm.concentrated import (
    MAX_TICK,
    MIN_TICK,
    LiquidityBook,
    get_sqrt_ratio_at_tick,
    tick_to_sqrt_price,
)

reserves = st.integers(10**6, 10**30)


def test_uniswap_v2_get_amount_out_vector() -> None:
    assert get_amount_out(10**18, 5 * 10**18, 10 * 10**18) == 1662497915624478906


@given(a=st.integers(1, 10**27), x=reserves, y=reserves)
def test_v2_integer_swap_never_decreases_k(a: int, x: int, y: int) -> None:
    out = get_amount_out(a, x, y)
    assert 0 <= out < y
    assert (x + a) * (y - out) >= x * y


@given(out=st.integers(1, 10**20), x=reserves, y=st.integers(10**21, 10**30))
def test_v2_amount_in_buys_at_least_the_output(out: int, x: int, y: int) -> None:
    needed = get_amount_in(out, x, y)
    assert get_amount_out(needed, x, y) >= out


def test_float_swap_matches_integer() -> None:
    got = swap_out(1.0, 5.0, 10.0, 0.003)
    assert float(got) == pytest.approx(1662497915624478906 / 1e18, rel=1e-12)


@given(
    x=st.floats(1.0, 1e9),
    y=st.floats(1.0, 1e9),
    move=st.floats(0.05, 20.0),
    fee=st.sampled_from([0.0, 0.0005, 0.003, 0.01]),
)
def test_arbitrage_to_price_keeps_k_and_reaches_band(
    x: float, y: float, move: float, fee: float
) -> None:
    target = (y / x) * move
    nx_, ny_ = trade_to_price(x, y, target, fee)
    nx_, ny_ = float(nx_), float(ny_)
    assert nx_ > 0 and ny_ > 0
    assert nx_ * ny_ >= x * y * (1 - 1e-12)
    marginal = ny_ / nx_
    gamma = 1 - fee
    # After the trade the pool price sits inside the no-arbitrage band around the target.
    assert target * gamma * (1 - 1e-9) <= marginal <= target / gamma * (1 + 1e-9)


def test_arbitrage_inside_band_does_nothing() -> None:
    nx_, ny_ = trade_to_price(100.0, 200_000.0, 2001.0, 0.003)
    assert (float(nx_), float(ny_)) == (100.0, 200_000.0)


@given(
    base=st.integers(10**18, 10**27),
    ratios=st.lists(st.floats(0.1, 10.0), min_size=2, max_size=3),
    amp=st.integers(1, 5000),
    frac=st.floats(1e-6, 0.5),
)
def test_stableswap_swap_keeps_d_and_pays_less_than_in(
    base: int, ratios: list[float], amp: int, frac: float
) -> None:
    # Pools up to 100:1 out of balance (far beyond that the contracts themselves revert).
    balances = [max(10**18, int(base * r)) for r in ratios]
    d0 = get_d(balances, amp)
    dx = max(1, int(balances[0] * frac))
    y = get_y(0, 1, balances[0] + dx, balances, amp)
    after = list(balances)
    after[0] += dx
    after[1] = y
    # Integer Newton steps round: D moves by a few base units at most.
    assert abs(get_d(after, amp) - d0) <= 16 + d0 // 10**15
    out = stableswap_out(0, 1, dx, balances, amp, 4_000_000)
    assert 0 <= out < balances[1]


def test_stableswap_balanced_pool_prices_at_par() -> None:
    price = stableswap_price([[1e9, 1e9, 1e9], [2e9, 1e9, 1e9]], 2000)
    assert price[0] == pytest.approx(1.0, abs=1e-12)
    assert 0.99 < price[1] < 1.0


def test_stableswap_float_price_matches_small_integer_swap() -> None:
    xp = [1_500_000 * 10**18, 500_000 * 10**18]
    dx = 10**18
    out = stableswap_out(0, 1, dx, xp, 50, 0)
    marginal = float(stableswap_price(np.array([[1.5e6, 0.5e6]]), 50)[0])
    assert out / dx == pytest.approx(marginal, rel=1e-5)


def test_tickmath_published_extremes_and_every_bit() -> None:
    assert get_sqrt_ratio_at_tick(MIN_TICK) == 4295128739
    assert get_sqrt_ratio_at_tick(MAX_TICK) == 1461446703485210103287273052203988822378723970342
    assert get_sqrt_ratio_at_tick(0) == 2**96
    # Every magic constant is used by the tick equal to its bit: each one checked on its own.
    for k in range(20):
        for tick in (2**k, -(2**k)):
            exact = get_sqrt_ratio_at_tick(tick) / 2**96
            assert exact == pytest.approx(float(tick_to_sqrt_price(tick)), rel=1e-11)


def _book() -> LiquidityBook:
    return LiquidityBook.from_ticks([-600, -60, 0, 60, 600], [5.0, 10.0, 0.0, -10.0, -5.0])


@given(tick=st.floats(-599.0, 599.0))
def test_liquidity_book_inverse_round_trips(tick: float) -> None:
    book = _book()
    s = float(tick_to_sqrt_price(tick))
    x, y = book.amounts(s)
    assert float(book.sqrt_price_for_token1(y)) == pytest.approx(s, rel=1e-9)
    assert float(book.sqrt_price_for_token0(x)) == pytest.approx(s, rel=1e-9)


def test_single_range_matches_constant_product() -> None:
    # One wide range behaves like x*y = L^2 with virtual reserves while it stays in range.
    liquidity = 1_000.0
    book = LiquidityBook.from_ticks([-200_000, 200_000], [liquidity, -liquidity])
    s = 1.0
    out, s_new = book.swap(s, 10.0, True, 0.003)
    expected = float(swap_out(10.0, liquidity / s, liquidity * s, 0.003))
    assert out == pytest.approx(expected, rel=1e-9)
    assert s_new < s


@given(amount=st.floats(1e-6, 20.0), zero_for_one=st.booleans())
def test_swap_across_ticks_moves_price_the_right_way(amount: float, zero_for_one: bool) -> None:
    book = _book()
    s = float(tick_to_sqrt_price(5))
    out, s_new = book.swap(s, amount, zero_for_one, 0.0005)
    assert out >= 0.0
    assert (s_new <= s) if zero_for_one else (s_new >= s)
    # The average execution price is never better than the starting marginal price.
    price = s * s
    if out > 0:
        assert (
            (out / amount <= price * (1 + 1e-12))
            if zero_for_one
            else (amount / out >= price * (1 - 1e-12))
        )
