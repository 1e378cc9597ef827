"""StableSwap arbitrage of many pools at once pinned to each pool solved on its own."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import contagion.amm.stableswap_newton as newton
from contagion.amm.stableswap import StableswapArbitrage, stableswap_arbitrage

pool = st.integers(2, 4).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(0.3, 3.0), min_size=n, max_size=n),
        st.lists(st.floats(0.7, 1.4), min_size=n, max_size=n),
        st.sampled_from([2.0, 30.0, 200.0, 2000.0]),
        st.sampled_from([0.0, 0.0001, 0.0004, 0.003]),
    )
)


def _padded(rows: list[list[float]], width: int) -> np.ndarray:
    return np.array([r + [np.nan] * (width - len(r)) for r in rows])


@settings(max_examples=40, deadline=None)
@given(pools=st.lists(pool, min_size=1, max_size=5), near_edge=st.sampled_from([0.0, 0.01]))
def test_many_pools_at_once_equal_each_pool_alone(
    pools: list[tuple[list[float], list[float], float, float]], near_edge: float
) -> None:
    width = max(len(p[0]) for p in pools)
    balances = _padded([[1e6 * b for b in p[0]] for p in pools], width)
    prices = _padded([p[1] for p in pools], width)
    amp, fee = np.array([p[2] for p in pools]), np.array([p[3] for p in pools])
    many = StableswapArbitrage(balances, amp, fee).trade(prices, near_edge=near_edge)
    for k, (x, market, a, f) in enumerate(pools):
        n = len(x)
        alone = stableswap_arbitrage(balances[k, :n], a, market, f, near_edge=near_edge)
        assert many.balances[k, :n] == pytest.approx(alone.balances, rel=1e-9)
        assert many.fees[k, :n] == pytest.approx(alone.fees, rel=1e-6, abs=1e-6)
        assert many.gaps[k, :n] == pytest.approx(alone.gaps, abs=1e-9)
        scale = 1.0 + float(np.abs(alone.sensitivity).max())
        assert np.abs(many.sensitivity[k, :n, :n] - alone.sensitivity).max() <= 1e-6 * scale
        assert np.isnan(many.balances[k, n:]).all()
        assert not many.sensitivity[k, n:].any() and not many.sensitivity[k, :, n:].any()


@settings(max_examples=20, deadline=None)
@given(pools=st.lists(pool, min_size=1, max_size=4), seed=st.integers(0, 2**32 - 1))
def test_a_warm_start_gives_each_pool_its_own_answer(
    pools: list[tuple[list[float], list[float], float, float]], seed: int
) -> None:
    width = max(len(p[0]) for p in pools)
    balances = _padded([[1e6 * b for b in p[0]] for p in pools], width)
    prices = _padded([p[1] for p in pools], width)
    amp, fee = np.array([p[2] for p in pools]), np.array([p[3] for p in pools])
    pools_ = StableswapArbitrage(balances, amp, fee)
    first = pools_.trade(prices)
    moved = prices * np.exp(np.random.default_rng(seed).normal(0.0, 0.01, prices.shape))
    warm = pools_.trade(moved, start=first.balances)
    for k, (x, _, a, f) in enumerate(pools):
        n = len(x)
        alone = stableswap_arbitrage(balances[k, :n], a, moved[k, :n], f)
        assert warm.balances[k, :n] == pytest.approx(alone.balances, rel=1e-9)


@settings(max_examples=20, deadline=None)
@given(pools=st.lists(pool, min_size=1, max_size=4), seed=st.integers(0, 2**32 - 1))
def test_a_start_that_traded_the_other_way_gives_each_pool_its_own_answer(
    pools: list[tuple[list[float], list[float], float, float]], seed: int
) -> None:
    """A solver probing prices on both sides of a pool's hands it answers that traded each
    coin the other way, or a different coin: the answer is the pool's own all the same."""
    width = max(len(p[0]) for p in pools)
    balances = _padded([[1e6 * b for b in p[0]] for p in pools], width)
    prices = _padded([p[1] for p in pools], width)
    amp, fee = np.array([p[2] for p in pools]), np.array([p[3] for p in pools])
    pools_ = StableswapArbitrage(balances, amp, fee)
    rng = np.random.default_rng(seed)
    first = pools_.trade(prices)
    # Prices reflected through the pool's own (the other side of it), and shuffled.
    reflected = np.exp(-np.log(prices) + rng.normal(0.0, 0.01, prices.shape))
    shuffled = reflected.copy()
    for k, p in enumerate(pools):
        shuffled[k, : len(p[0])] = rng.permutation(reflected[k, : len(p[0])])
    for target in (reflected, shuffled):
        warm = StableswapArbitrage(balances, amp, fee).trade(target, start=first.balances)
        for k, (x, _, a, f) in enumerate(pools):
            n = len(x)
            alone = stableswap_arbitrage(balances[k, :n], a, target[k, :n], f)
            assert warm.balances[k, :n] == pytest.approx(alone.balances, rel=1e-9)
            assert warm.fees[k, :n] == pytest.approx(alone.fees, rel=1e-6, abs=1e-6)


def test_a_trade_without_sensitivity_is_the_same_trade_and_never_served_for_one() -> None:
    balances = np.array([[1e6, 1.2e6, np.nan], [1e6, 1e6, 1e6], [5e5, 5e5, np.nan]])
    prices = np.array([[1.0, 0.97, np.nan], [1.0, 0.99, 1.01], [1.0, 1.0, np.nan]])
    amp, fee = np.array([30.0, 2000.0, 500.0]), np.array([0.0004, 0.0001, 0.0004])
    full = StableswapArbitrage(balances, amp, fee).trade(prices)
    assert np.abs(full.sensitivity[:2]).max() > 0  # the first two pools trade
    pools = StableswapArbitrage(balances, amp, fee)
    bare = pools.trade(prices, sensitivity=False)
    for got, want in ((bare.balances, full.balances), (bare.fees, full.fees)):
        assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(bare.gaps, full.gaps, equal_nan=True)
    assert not bare.sensitivity.any()
    # The same prices again, now with the sensitivity: computed, not the bare answer kept.
    again = pools.trade(prices)
    assert np.array_equal(again.sensitivity, full.sensitivity)
    # One pool's prices moved: the rows kept from the last call have their sensitivity too.
    moved = prices.copy()
    moved[1, 1] = 0.985
    merged = pools.trade(moved)
    alone = StableswapArbitrage(balances, amp, fee).trade(moved)
    assert np.array_equal(merged.sensitivity, alone.sensitivity)


def test_many_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="two or more coins"):
        StableswapArbitrage([[1.0, np.nan]], [10.0], [0.0])
    with pytest.raises(ValueError, match="positive"):
        StableswapArbitrage([[1.0, -2.0]], [10.0], [0.0])
    with pytest.raises(ValueError, match="fee"):
        StableswapArbitrage([[1.0, 2.0]], [10.0], [1.5])
    pools = StableswapArbitrage([[1.0, 2.0]], [10.0], [0.0])
    with pytest.raises(ValueError, match="positive"):
        pools.trade([[1.0, -1.0]])
    with pytest.raises(ValueError, match="shape"):
        pools.trade([[1.0, 1.0, 1.0]])


@settings(max_examples=30, deadline=None)
@given(pools=st.lists(pool, min_size=1, max_size=4), near_edge=st.sampled_from([0.0, 0.01]))
def test_the_sensitivity_from_the_solves_inverse_is_the_one_taken_afresh(
    pools: list[tuple[list[float], list[float], float, float]], near_edge: float
) -> None:
    """A pool's solve ends with the inverse Jacobian of the system its sensitivity needs
    (the same traded coins at the same point); using it must change nothing."""
    width = max(len(p[0]) for p in pools)
    balances = _padded([[1e6 * b for b in p[0]] for p in pools], width)
    prices = _padded([p[1] for p in pools], width)
    amp, fee = np.array([p[2] for p in pools]), np.array([p[3] for p in pools])
    reused = StableswapArbitrage(balances, amp, fee).trade(prices, near_edge=near_edge)
    sensitivity = newton._sensitivity
    given_inverses: list[bool] = []

    def afresh(*args: Any) -> Any:
        given_inverses.append(args[7] is not None)
        return sensitivity(*args[:7])

    newton._sensitivity = afresh
    try:
        fresh = StableswapArbitrage(balances, amp, fee).trade(prices, near_edge=near_edge)
    finally:
        newton._sensitivity = sensitivity
    assert all(given_inverses)
    assert np.array_equal(reused.sensitivity, fresh.sensitivity)
    assert np.array_equal(reused.balances, fresh.balances, equal_nan=True)
