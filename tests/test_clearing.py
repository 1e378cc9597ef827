"""Market clearing: closed forms, conservation, pool invariants, no arbitrage left, the PSM."""

from __future__ import annotations

import dataclasses
import doctest
import itertools
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import contagion.clearing.arbitrage
import contagion.clearing.external
import contagion.clearing.solver
import contagion.clearing.venues
from contagion import sample_world
from contagion.amm.concentrated import LiquidityBook
from contagion.amm.psm import psm_band
from contagion.amm.stableswap import _d_float, stableswap_price
from contagion.clearing import (
    Clearing,
    ConcentratedPools,
    ConstantProductPools,
    MarketState,
    PegStabilityModules,
    QuietClearing,
    StableswapPools,
    Venues,
    clear,
    impact,
    impact_for_units,
    sold_for_impact,
    units_to_impact,
)
from contagion.exceptions import ConvergenceError

INF = np.inf


def test_docstring_examples_run() -> None:
    for module in (
        contagion.clearing.external,
        contagion.clearing.arbitrage,
        contagion.clearing.venues,
        contagion.clearing.solver,
    ):
        assert doctest.testmod(module).failed == 0


# --- the square-root law ------------------------------------------------------------------


def test_impact_is_the_square_root_law() -> None:
    assert impact([1e6, 4e6, 9e6, -1e6], 1e6).tolist() == pytest.approx([0.02, 0.04, 0.06, -0.02])
    assert impact([1e6, 1e6], [0.0, np.nan]).tolist() == [0.0, 0.0]
    assert sold_for_impact(0.04, 1e6) == pytest.approx(4e6)


@given(lm=st.floats(-3.0, 3.0), ref=st.floats(1e-3, 1e5), depth=st.floats(1e3, 1e10))
def test_units_invert_and_their_slope_is_the_derivative(
    lm: float, ref: float, depth: float
) -> None:
    units, slope = units_to_impact(lm, ref, depth)
    assert float(impact_for_units(units, ref, depth)) == pytest.approx(lm, abs=1e-12, rel=1e-9)
    h = 1e-6
    up, _ = units_to_impact(lm + h, ref, depth)
    down, _ = units_to_impact(lm - h, ref, depth)
    # X grows like L·|L| near zero, where the central difference is off by about c·h.
    c = 2 * depth / (ref * 0.02**2)
    assert float(slope) == pytest.approx(float(up - down) / (2 * h), rel=1e-5, abs=c * h)
    # Each unit was sold at a price between the reference and the final one.
    usd = float(sold_for_impact(lm, depth))
    bounds = sorted([usd / ref, usd / (ref * np.exp(-lm))])
    assert bounds[0] * (1 - 1e-9) - 1e-12 <= float(units) <= bounds[1] * (1 + 1e-9) + 1e-12


# --- closed forms --------------------------------------------------------------------------


def test_external_market_alone_follows_the_curve_and_is_path_independent() -> None:
    venues = Venues(root=np.array([0]), depth_usd=np.array([5e7]))
    state = MarketState.initial(venues, [2000.0])
    one = clear(venues, state, [-10_000.0], [2000.0], [1.0], tol=1e-13)
    half = clear(venues, state, [-5_000.0], [2000.0], [1.0], tol=1e-13)
    two = clear(venues, half.state, [-5_000.0], [2000.0], [1.0], tol=1e-13)
    assert one.converged and two.converged
    sold = float(one.state.external_sold_usd[0])
    assert one.price[0] == pytest.approx(2000.0 * np.exp(-0.02 * np.sqrt(sold / 5e7)), rel=1e-12)
    assert one.external_absorbed[0] == pytest.approx(10_000.0, rel=1e-9)
    # The USD received lies between the sale at the start price and at the end price.
    assert 10_000.0 * one.price[0] < sold < 10_000.0 * 2000.0
    # Two halves walk the same curve as one sale.
    assert two.price[0] == pytest.approx(one.price[0], rel=1e-10)
    assert two.state.external_sold_usd[0] == pytest.approx(sold, rel=1e-9)


def test_resilience_lets_impact_decay_between_rounds() -> None:
    venues = Venues(root=np.array([0]), depth_usd=np.array([5e7]), resilience=0.5)
    state = MarketState.initial(venues, [2000.0])
    hit = clear(venues, state, [-10_000.0], [2000.0], [1.0])
    rest = clear(venues, hit.state, [0.0], [2000.0], [1.0])
    assert hit.price[0] < rest.price[0] < 2000.0
    expected = 2000.0 * np.exp(-float(impact(0.5 * hit.state.external_sold_usd[0], 5e7)))
    assert rest.price[0] == pytest.approx(expected, rel=1e-12)
    assert rest.external_absorbed[0] == pytest.approx(0.0, abs=1e-9)


def _one_pool(x: float, y: float, fee: float) -> Venues:
    """Token 0 traded against a numéraire (root 1, price pinned) in one Uniswap v2 pool."""
    pools = ConstantProductPools(
        tokens=np.array([[0, 1]]), reserves=np.array([[x, y]]), fee=np.array([fee])
    )
    return Venues(root=np.array([0, 1]), depth_usd=np.array([0.0, INF]), constant_product=pools)


def test_one_constant_product_pool_absorbs_the_whole_sale() -> None:
    x, y, fee, sold = 1_000.0, 2_000_000.0, 0.003, 50.0
    venues = _one_pool(x, y, fee)
    state = MarketState.initial(venues, [2000.0, 1.0])
    result = clear(venues, state, [-sold, 0.0], [2000.0, 1.0], [1.0, 1.0], tol=1e-13)
    assert result.converged
    gamma = 1 - fee
    effective = x + gamma * sold  # x·y = effective · y'
    assert result.price[0] == pytest.approx(gamma * x * y / effective**2, rel=1e-9)
    assert result.cp_absorbed[0] == pytest.approx([sold, x * y / effective - y], rel=1e-9)
    assert result.cp_fees[0] == pytest.approx([fee * sold, 0.0], rel=1e-9)
    # The numéraire's perfectly elastic market takes what the pool paid out.
    assert result.external_absorbed[1] == pytest.approx(y - x * y / effective, rel=1e-9)
    assert result.price[1] == 1.0


def test_a_sale_moves_a_shallow_pool_more_than_a_deep_one() -> None:
    moves = []
    for scale in (1.0, 10.0):
        venues = _one_pool(1_000.0 * scale, 2e6 * scale, 0.003)
        state = MarketState.initial(venues, [2000.0, 1.0])
        moves.append(clear(venues, state, [-50.0, 0.0], [2000.0, 1.0], [1.0, 1.0]).price[0])
    assert moves[0] < moves[1] < 2000.0


def test_concentrated_pool_in_one_range_moves_its_sqrt_price_by_the_liquidity() -> None:
    liquidity, fee = 50_000.0, 0.0005
    book = LiquidityBook.from_ticks([-20_000, 20_000], [liquidity, -liquidity])
    pools = ConcentratedPools(
        tokens=np.array([[0, 1]]),
        sqrt_price=np.array([1.0]),
        fee=np.array([fee]),
        books=(book,),
    )
    venues = Venues(root=np.array([0, 1]), depth_usd=np.array([0.0, INF]), concentrated=pools)
    state = MarketState.initial(venues, [1.0, 1.0])
    result = clear(venues, state, [-1_000.0, 0.0], [1.0, 1.0], [1.0, 1.0], tol=1e-12)
    assert result.converged
    s = float(result.state.cl_sqrt_price[0])
    # Whitepaper eq. 6.15-6.16: Δx = L·Δ(1/√P) enters the book, the input also pays the fee.
    assert 1_000.0 * (1 - fee) == pytest.approx(liquidity * (1 / s - 1), rel=1e-9)
    assert result.cl_absorbed[0, 1] == pytest.approx(liquidity * (s - 1.0), rel=1e-9)
    assert result.cl_fees[0, 0] == pytest.approx(1_000.0 * fee, rel=1e-9)
    # The market price sits on the pool's band edge: s² = P / γ.
    assert s**2 == pytest.approx(result.price[0] / (1 - fee), rel=1e-9)


# --- the PSM -------------------------------------------------------------------------------


def _peg_world(headroom: float) -> tuple[Venues, MarketState]:
    """USDC (root 0, deep market) and DAI (root 1, shallow) with a PSM and a Curve pool."""
    psm = PegStabilityModules(
        stable=np.array([1]),
        gem=np.array([0]),
        tin=np.array([0.0]),
        tout=np.array([0.0]),
        gem_balance=np.array([1.6e9]),
        headroom=np.array([headroom]),
    )
    pool = StableswapPools(
        tokens=np.array([[1, 0, -1, -1]]),
        balances=np.array([[5e7, 5e7, np.nan, np.nan]]),
        amp=np.array([2000.0]),
        fee=np.array([0.0001]),
    )
    venues = Venues(root=np.array([0, 1]), depth_usd=np.array([5e8, 3e7]), stableswap=pool, psm=psm)
    return venues, MarketState.initial(venues, [1.0, 1.0])


def test_psm_pins_dai_to_usdc_while_it_can_mint() -> None:
    # March 2023: USDC fell to 0.961; arbitrageurs sold USDC into the PSM for new DAI.
    venues, state = _peg_world(headroom=INF)
    result = clear(venues, state, [0.0, 0.0], [0.961, 1.0], [1.0, 1.0])
    assert result.converged
    assert result.price[1] == pytest.approx(result.price[0], rel=1e-12)
    assert result.psm_absorbed[0, 1] > 0  # gem (USDC) went in
    assert result.psm_absorbed[0, 0] == pytest.approx(-result.psm_absorbed[0, 1])  # 0 % tin
    assert result.state.psm_gem[0] == pytest.approx(1.6e9 + result.psm_absorbed[0, 1])


def test_dai_decouples_once_the_psm_headroom_is_used() -> None:
    venues, state = _peg_world(headroom=2e7)
    result = clear(venues, state, [0.0, 0.0], [0.961, 1.0], [1.0, 1.0])
    assert result.converged
    assert result.psm_absorbed[0, 1] == pytest.approx(2e7)
    assert result.state.psm_headroom[0] == pytest.approx(0.0, abs=1e-3)
    usdc, dai = result.price
    assert usdc < dai < 1.0  # DAI falls with USDC, but less
    assert np.log(dai / usdc) > psm_band(0.0, 0.0)[1]


def test_psm_fees_widen_the_band_dai_may_trade_in() -> None:
    venues, state = _peg_world(headroom=INF)
    psm = dataclasses.replace(venues.psm, tin=np.array([0.01]), tout=np.array([0.01]))
    venues = dataclasses.replace(venues, psm=psm)
    result = clear(venues, state, [0.0, 0.0], [0.961, 1.0], [1.0, 1.0])
    ratio = result.price[1] / result.price[0]
    assert ratio == pytest.approx(1 / 0.99, rel=1e-9)  # sellGem pays (1 - tin) Dai
    assert result.psm_fees[0] == pytest.approx(0.01 * result.psm_absorbed[0, 1], rel=1e-9)


# --- a synthetic world: conservation, invariants, no arbitrage left ------------------------


def synthetic_world(
    n_roots: int = 12, n_cp: int = 20, n_cl: int = 20, n_ss: int = 2, seed: int = 0
) -> tuple[Venues, np.ndarray]:
    """Roots at random prices linked by pools priced consistently with them."""
    rng = np.random.default_rng(seed)
    price = np.exp(rng.uniform(-2.0, 8.0, n_roots))
    # Three stablecoins priced as a StableSwap pool of them prices them.
    stable_balances = np.array([3.0e7, 2.9e7, 3.1e7])
    price[:3] = [float(stableswap_price(stable_balances, 200.0, k, 0)[0]) for k in range(3)]
    pairs = np.column_stack([rng.integers(0, n_roots, n_cp + n_cl), np.zeros(n_cp + n_cl, int)])
    pairs[:, 1] = (pairs[:, 0] + rng.integers(1, n_roots, len(pairs))) % n_roots
    tvl = rng.uniform(1e5, 2e7, len(pairs))
    cp_tokens = pairs[:n_cp]
    cp = ConstantProductPools(
        tokens=cp_tokens,
        reserves=np.column_stack(
            [tvl[:n_cp] / 2 / price[cp_tokens[:, 0]], tvl[:n_cp] / 2 / price[cp_tokens[:, 1]]]
        ),
        fee=rng.choice([0.0005, 0.003, 0.01], n_cp),
    )
    books, sqrt_price = [], []
    for k, (a, b) in enumerate(pairs[n_cp:]):
        p = price[a] / price[b]
        at = np.log(p) / np.log(1.0001)
        lows = np.round(at + rng.normal(0, 300, 6) - rng.uniform(50, 2000, 6)).astype(int)
        highs = lows + rng.integers(100, 4000, 6)
        liq = rng.uniform(0.1, 1.0, 6) * tvl[n_cp + k] / price[b] / np.sqrt(p) / 100
        ticks = np.concatenate([lows, highs, [-887_270, 887_270]])
        net = np.concatenate([liq, -liq, [liq.mean() / 20, -liq.mean() / 20]])
        unique, where = np.unique(ticks, return_inverse=True)
        books.append(LiquidityBook.from_ticks(unique, np.bincount(where, net)))
        sqrt_price.append(np.sqrt(p))
    cl = ConcentratedPools(
        tokens=pairs[n_cp:],
        sqrt_price=np.array(sqrt_price),
        fee=rng.choice([0.0005, 0.003], n_cl),
        books=tuple(books),
    )
    ss_tokens = np.full((n_ss, 4), -1)
    ss_balances = np.full((n_ss, 4), np.nan)
    for k in range(n_ss):
        ss_tokens[k, :3] = [0, 1, 2]
        ss_balances[k, :3] = stable_balances
    ss = StableswapPools(
        tokens=ss_tokens, balances=ss_balances, amp=np.full(n_ss, 200.0), fee=np.full(n_ss, 4e-4)
    )
    venues = Venues(
        root=np.arange(n_roots),
        depth_usd=rng.uniform(1e6, 5e7, n_roots),
        constant_product=cp,
        concentrated=cl,
        stableswap=ss,
    )
    return venues, price


def _marginal_gaps(venues: Venues, result: Clearing, rate: np.ndarray) -> list[tuple[float, float]]:
    """(log pool price - log market price, half band) for every pool and traded pair."""
    token_price = result.price[venues.root] * rate
    out = []
    cp, st_ = venues.constant_product, result.state
    for k in range(len(cp)):
        a, b = cp.tokens[k]
        pool = st_.cp_reserves[k, 1] / st_.cp_reserves[k, 0]
        out.append((np.log(pool * token_price[b] / token_price[a]), -np.log1p(-cp.fee[k])))
    cl = venues.concentrated
    for k in range(len(cl)):
        a, b = cl.tokens[k]
        pool = st_.cl_sqrt_price[k] ** 2
        out.append((np.log(pool * token_price[b] / token_price[a]), -np.log1p(-cl.fee[k])))
    ss = venues.stableswap
    for k in range(len(ss)):
        coins = ss.tokens[k][ss.tokens[k] >= 0]
        bal = st_.ss_balances[k, : len(coins)]
        for i, j in itertools.permutations(range(len(coins)), 2):
            pool = float(stableswap_price(bal, ss.amp[k], i, j)[0])
            market = token_price[coins[i]] / token_price[coins[j]]
            out.append((np.log(pool / market), -np.log1p(-ss.fee[k])))
    return out


@cache
def _synthetic_round() -> tuple[Venues, MarketState, np.ndarray, Clearing]:
    venues, price = synthetic_world()
    state = MarketState.initial(venues, price)
    flow = np.zeros(len(price))
    flow[[0, 3, 7]] = [-5e6 / price[0], -2e6 / price[3], 1e6 / price[7]]
    return venues, state, flow, clear(venues, state, flow, price, np.ones(len(price)))


def test_every_root_clears_and_every_pool_keeps_its_invariant() -> None:
    venues, state, flow, result = _synthetic_round()
    assert result.converged and result.active.all()
    # Conservation: the flow and everything absorbed cancel for every root.
    scale = np.abs(flow).sum() + 1.0
    assert np.abs(flow + result.absorbed).max() <= 1e-8 * scale
    by_venue = result.external_absorbed.copy()
    np.add.at(by_venue, venues.root[venues.constant_product.tokens], result.cp_absorbed)
    np.add.at(by_venue, venues.root[venues.concentrated.tokens], result.cl_absorbed)
    ss_tok = venues.stableswap.tokens
    np.add.at(by_venue, venues.root[ss_tok[ss_tok >= 0]], result.ss_absorbed[ss_tok >= 0])
    assert by_venue == pytest.approx(result.absorbed, rel=1e-12, abs=1e-9)
    # x·y never decreases; D never decreases; the books never change.
    k0 = state.cp_reserves.prod(axis=1)
    assert np.all(result.state.cp_reserves.prod(axis=1) >= k0 * (1 - 1e-12))
    for k in range(len(venues.stableswap)):
        n = int((ss_tok[k] >= 0).sum())
        amp = np.array([venues.stableswap.amp[k] * n])
        d0 = _d_float(state.ss_balances[k : k + 1, :n], amp)
        d1 = _d_float(result.state.ss_balances[k : k + 1, :n], amp)
        assert d1[0] >= d0[0] * (1 - 1e-12)
    cl = venues.concentrated
    idx = np.arange(len(cl))
    before = cl.amounts(idx, state.cl_sqrt_price)
    after = cl.amounts(idx, result.state.cl_sqrt_price)
    gamma = 1 - cl.fee
    for side in (0, 1):
        change = after[side] - before[side]
        paid = np.where(change > 0, change / gamma, change)  # the input also pays the fee
        assert result.cl_absorbed[:, side] == pytest.approx(paid, rel=1e-9, abs=1e-9)


def test_no_pool_is_left_outside_its_fee_band() -> None:
    venues, _, _, result = _synthetic_round()
    for gap, band in _marginal_gaps(venues, result, np.ones(len(venues.root))):
        assert abs(gap) <= band + 1e-9


def test_a_round_without_flow_or_moves_changes_nothing() -> None:
    venues, price = synthetic_world()
    state = MarketState.initial(venues, price)
    result = clear(venues, state, np.zeros(len(price)), price, np.ones(len(price)))
    assert result.converged and result.iterations == 0 and not result.active.any()
    assert result.price.tolist() == price.tolist()
    assert result.state.cp_reserves.tolist() == state.cp_reserves.tolist()
    assert result.state.cl_sqrt_price.tolist() == state.cl_sqrt_price.tolist()
    assert not np.abs(result.absorbed).any()


def test_a_quiet_clearing_answers_only_its_own_inputs() -> None:
    venues, price = synthetic_world()
    state = MarketState.initial(venues, price)
    flow, rate = np.zeros(len(price)), np.ones(len(price))
    result = clear(venues, state, flow, price, rate)
    quiet = QuietClearing.of(state, flow, price, rate, result)
    assert quiet is not None
    # The same values, in new arrays: the same answer, as a fresh clearing gives it.
    again = quiet.answer(dataclasses.replace(result.state), flow.copy(), price.copy(), rate)
    assert again is result
    fresh = clear(venues, result.state, flow, price, rate)
    assert fresh.state.same_as(again.state) and fresh.price.tolist() == again.price.tolist()
    # Any input that differs clears afresh.
    moved = price.copy()
    moved[2] *= 1.0 + 1e-12
    sold = flow.copy()
    sold[0] = -1e-9
    written = rate.copy()
    written[1] = 0.5
    reserves = state.cp_reserves.copy()
    reserves[0, 0] += 1.0
    other = dataclasses.replace(state, cp_reserves=reserves)
    for args in (
        (state, flow, moved, rate),
        (state, sold, price, rate),
        (state, flow, price, written),
        (other, flow, price, rate),
    ):
        assert quiet.answer(*args) is None
    # A clearing that moved prices or venues is not kept.
    _, start, flow_sold, cleared = _synthetic_round()
    assert QuietClearing.of(start, flow_sold, price, rate, cleared) is None


def test_roots_outside_the_reach_of_the_flow_keep_their_price() -> None:
    venues, price = synthetic_world(n_roots=6, n_cp=0, n_cl=0, n_ss=0)
    pools = ConstantProductPools(
        tokens=np.array([[0, 1], [2, 3]]),
        reserves=np.array([[1e3, 1e3 * price[0] / price[1]], [1e3, 1e3 * price[2] / price[3]]]),
        fee=np.array([0.003, 0.003]),
    )
    venues = dataclasses.replace(venues, constant_product=pools)
    state = MarketState.initial(venues, price)
    flow = np.zeros(6)
    flow[0] = -100.0
    result = clear(venues, state, flow, price, np.ones(6))
    assert result.active.tolist() == [True, True, False, False, False, False]
    assert result.price[2:].tolist() == price[2:].tolist()
    assert result.state.cp_reserves[1].tolist() == state.cp_reserves[1].tolist()
    assert result.price[0] < price[0]


def test_a_write_down_of_a_wrapper_is_arbitraged_through_its_pool() -> None:
    # Asset 2 is a receipt token for root 0 (rate 1); a pool trades it against asset 0.
    pools = ConstantProductPools(
        tokens=np.array([[2, 0]]), reserves=np.array([[1e6, 1e6]]), fee=np.array([0.0005])
    )
    venues = Venues(
        root=np.array([0, 1, 0]), depth_usd=np.array([1e8, INF]), constant_product=pools
    )
    state = MarketState.initial(venues, [1.0, 1.0])
    result = clear(venues, state, [0.0, 0.0], [1.0, 1.0], [1.0, 1.0, 0.9])
    assert result.converged
    # The pool now holds more of the written-down token and prices it at 0.9 within the band.
    x, y = result.state.cp_reserves[0]
    assert x > 1e6 > y
    assert y / x / 0.9 == pytest.approx(1.0, abs=0.0006)


def test_a_start_where_the_last_clearing_left_the_venues_still_sees_what_changed() -> None:
    """From where a converged clearing left the venues the pools are inside their bands and
    are not looked at before the solve; a write-down, a moved pinned price or another state
    since then means they must be, and are, even where no flow reaches them."""
    # Roots 0 and 1 are apart; asset 2 is a receipt token for root 0, pooled against it.
    pools = ConstantProductPools(
        tokens=np.array([[2, 0]]), reserves=np.array([[1e6, 1e6]]), fee=np.array([0.0005])
    )
    venues = Venues(
        root=np.array([0, 1, 0, 2]), depth_usd=np.array([1e8, 1e8, INF]), constant_product=pools
    )
    ref, rate = np.ones(3), np.ones(4)
    first = clear(venues, MarketState.initial(venues, ref), [-1e5, -1e5, 0.0], ref, rate)
    assert first.converged and first.active[:2].all()
    assert first.settled(venues, first.state, ref, rate)
    assert not first.settled(venues, dataclasses.replace(first.state), ref, rate)
    assert not first.settled(venues, first.state, np.array([1.0, 1.0, 1.01]), rate)
    written = np.array([1.0, 1.0, 0.9, 1.0])
    assert not first.settled(venues, first.state, ref, written)
    # Flow reaches root 1 only; the written-down receipt token's pool is arbitraged too.
    after = clear(venues, first.state, [0.0, -1e5, 0.0], ref, written, previous=first)
    x, y = after.state.cp_reserves[0]
    assert after.converged and after.active[:2].all()
    assert y / x / 0.9 == pytest.approx(1.0, abs=0.0006)
    # Nothing changed and nothing flows: nothing moves, from the short cut as from scratch.
    still = clear(venues, first.state, [0.0, 0.0, 0.0], ref, rate, previous=first)
    assert not still.active.any() and still.state.same_as(first.state)


def test_flow_nothing_can_absorb_is_reported_not_hidden() -> None:
    venues = Venues(root=np.array([0]), depth_usd=np.array([0.0]))
    state = MarketState.initial(venues, [10.0])
    result = clear(venues, state, [-5.0], [10.0], [1.0], max_iter=5)
    # With no buyer at any price the price keeps falling; the excess left is reported.
    assert not result.converged
    assert result.price[0] < 10.0 * np.exp(-4)
    assert result.residual == pytest.approx(5.0 * result.price[0], rel=1e-9)
    with pytest.raises(ConvergenceError) as caught:
        clear(venues, state, [-5.0], [10.0], [1.0], max_iter=5, raise_on_failure=True)
    assert isinstance(caught.value.result, Clearing)


def test_bad_inputs_are_rejected() -> None:
    venues = Venues(root=np.array([0, 0]), depth_usd=np.array([1e6]))
    state = MarketState.initial(venues, [1.0])
    with pytest.raises(ValueError, match="one value per root"):
        clear(venues, state, [0.0, 0.0], [1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="positive"):
        clear(venues, state, [0.0], [1.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="root indices"):
        Venues(root=np.array([0, 2]), depth_usd=np.array([1e6, 1e6]))
    loop = PegStabilityModules(
        stable=np.array([0, 0]),
        gem=np.array([1, 1]),
        tin=np.zeros(2),
        tout=np.zeros(2),
        gem_balance=np.ones(2),
        headroom=np.ones(2),
    )
    with pytest.raises(ValueError, match="cycle"):
        Venues(root=np.array([0, 1]), depth_usd=np.array([1e6, 1e6]), psm=loop)


@settings(max_examples=15, deadline=None)
@given(
    small=st.floats(1e4, 2e6),
    extra=st.floats(1e4, 5e6),
    root=st.integers(0, 5),
    seed=st.integers(0, 3),
)
def test_more_selling_means_a_lower_price(small: float, extra: float, root: int, seed: int) -> None:
    venues, price = synthetic_world(n_roots=6, n_cp=8, n_cl=6, n_ss=1, seed=seed)
    state = MarketState.initial(venues, price)
    results = []
    for usd in (small, small + extra):
        flow = np.zeros(6)
        flow[root] = -usd / price[root]
        results.append(clear(venues, state, flow, price, np.ones(6)))
    assert all(r.converged for r in results)
    assert results[1].price[root] < results[0].price[root] < price[root]


def test_synthetic_round_of_500_pools_clears() -> None:
    venues, price = synthetic_world(n_roots=50, n_cp=250, n_cl=250, n_ss=0, seed=1)
    state = MarketState.initial(venues, price)
    flow = np.zeros(50)
    flow[:10] = -np.linspace(1e5, 5e6, 10) / price[:10]
    result = clear(venues, state, flow, price, np.ones(50))
    assert result.converged and result.active.sum() == 50
    assert (result.price[:10] < price[:10]).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_previous_rounds_secant_changes_the_path_not_the_answer(seed: int) -> None:
    """A cascade's next round sells about what the last one sold: started by a chord step
    with the last round's secant Jacobian, the solve needs fewer iterations and ends at the
    same prices (the minimum of a convex potential) as started from scratch."""
    venues, price = synthetic_world(n_roots=30, n_cp=80, n_cl=80, n_ss=2, seed=seed)
    rate = np.ones(30)
    flow = np.zeros(30)
    flow[[0, 5, 9]] = [-3e6 / price[0], -8e6 / price[5], 1e6 / price[9]]
    first = clear(venues, MarketState.initial(venues, price), flow, price, rate)
    assert first.converged and first.secant.shape == (first.active.sum(),) * 2
    again = flow * 0.9
    cold = clear(venues, first.state, again, price, rate)
    warm = clear(venues, first.state, again, price, rate, previous=first)
    assert cold.converged and warm.converged
    assert warm.iterations < cold.iterations
    # Equal within the solve's tolerance, which is on the excess in USD (1e-8 of what is
    # at stake), not on prices: a shallow market's price settles to about 1e-6.
    np.testing.assert_allclose(warm.price, cold.price, rtol=1e-5)
    np.testing.assert_allclose(warm.state.cp_reserves, cold.state.cp_reserves, rtol=1e-5)
    # A previous solve over other roots still starts the shared ones; the answer holds.
    other = flow.copy()
    other[[0, 5]] = 0.0
    other[12] = -2e6 / price[12]
    partial = clear(venues, first.state, other, price, rate, previous=first)
    reference = clear(venues, first.state, other, price, rate)
    assert partial.converged
    np.testing.assert_allclose(partial.price, reference.price, rtol=1e-5)


def test_the_secant_maps_the_rounds_move_to_its_excess() -> None:
    """Broyden's update: the secant takes the round's move to minus the excess it cleared,
    and acts as the Jacobian on every direction across the move."""
    from contagion.clearing.solver import _secant

    rng = np.random.default_rng(4)
    jac = -np.abs(rng.normal(size=(5, 5))) - 5 * np.eye(5)
    move, excess = rng.normal(size=5), rng.normal(size=5)
    secant = _secant(jac, move, excess)
    np.testing.assert_allclose(secant @ move, -excess, rtol=1e-12, atol=1e-12)
    across = rng.normal(size=5)
    across -= (across @ move) / (move @ move) * move
    np.testing.assert_allclose(secant @ across, jac @ across, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(_secant(jac, np.zeros(5), excess), jac)


# --- the sample world ----------------------------------------------------------------------


@cache
def _world() -> tuple[Venues, np.ndarray, np.ndarray, np.ndarray, dict[str, int], list[str]]:
    world = sample_world(positions=2_000)
    assets = world.df("assets")
    ids, symbols = assets["asset_id"].tolist(), assets["symbol"].tolist()
    wraps = {"WETH": "ETH", "aEthWETH": "ETH", "wstETH": "stETH", "aEthUSDC": "USDC", "sDAI": "DAI"}
    roots = [s for s in symbols if s not in wraps]
    at = {s: k for k, s in enumerate(roots)}
    root = np.array([at[wraps.get(s, s)] for s in symbols])
    rates = world.df("wrappers").set_index("asset_id")["exchange_rate"]
    rate = np.array([rates[i] if s in wraps else 1.0 for i, s in zip(ids, symbols, strict=True)])
    root_price = np.zeros(len(roots))
    own = ~np.isin(symbols, list(wraps))
    root_price[root[own]] = assets["price_usd"].to_numpy()[own]
    depth = np.zeros(len(roots))
    for symbol, usd in {"ETH": 1e8, "stETH": 2e7, "USDC": 5e8, "USDT": 3e8, "DAI": 3e7}.items():
        depth[at[symbol]] = usd
    venues = Venues.from_dataset(world, ids, root, depth_usd=depth)
    return venues, root_price, rate, depth, at, symbols


def test_from_dataset_reads_pools_in_whole_tokens() -> None:
    world = sample_world(positions=2_000)
    ids = world.df("assets")["asset_id"].tolist()
    venues = Venues.from_dataset(world, ids, np.arange(len(ids)))
    pools = world.df("pools").set_index("pool_id")
    assert len(venues.constant_product) == 2 and len(venues.concentrated) == 1
    assert len(venues.stableswap) == 3 and len(venues.psm) == 1
    # The book at the pool's sqrt price holds the pool's reserves: units agree.
    cl = venues.concentrated
    token0, token1, _ = cl.amounts(np.array([0]), cl.sqrt_price)
    reserves = pools.loc[cl.pool_ids[0], "reserves"]
    assert [float(token0[0]), float(token1[0])] == pytest.approx(list(reserves), rel=1e-6)
    # The PSM holds supply × backing share of USDC; depth defaults to the assets' column.
    row = world.df("stablecoins").query("mechanism == 'psm'").iloc[0]
    assert venues.psm.gem_balance[0] == pytest.approx(row["supply"] * row["backing_share"])
    depth = world.df("assets")["depth_2pct_usd"].to_numpy()
    assert venues.depth_usd == pytest.approx(np.where(np.isnan(depth), 0.0, depth))


def test_sample_world_clears_a_50000_eth_sale() -> None:
    venues, root_price, rate, _, at, _ = _world()
    state = MarketState.initial(venues, root_price)
    flow = np.zeros(len(root_price))
    flow[at["ETH"]] = -50_000.0
    result = clear(venues, state, flow, root_price, rate)
    assert result.converged
    eth, steth = at["ETH"], at["stETH"]
    assert result.price[eth] < root_price[eth] * 0.99
    assert result.price[steth] < root_price[steth]  # through the Curve stETH/ETH pool
    active = result.active
    scale = 50_000.0 * root_price[eth]
    assert np.abs((flow + result.absorbed)[active] * result.price[active]).max() < 1e-6 * scale
    for gap, band in _marginal_gaps(venues, result, rate):
        assert abs(gap) <= band + 1e-9
    # The PSM leaves DAI and USDC within its (zero-fee) band or its inventory exhausted.
    ratio = result.price[at["DAI"]] / result.price[at["USDC"]]
    exhausted = result.state.psm_gem[0] <= 1e-6 or result.state.psm_headroom[0] <= 1e-6
    assert exhausted or ratio == pytest.approx(1.0, abs=1e-12)


def test_line_search_reaches_a_kink_where_the_slope_jumps_by_orders_of_magnitude() -> None:
    """G = z²/2 - z along the ray until z = 0.5, where a deep pool starts trading (its slope
    1e7): the minimum along the Newton step (z = 1 without the pool) is at the kink. The
    secant on G's slope sits at the near end there; the search must get well on the way
    rather than creep 1 % of the bracket a trial."""
    from types import SimpleNamespace

    from contagion.clearing.newton import _line_search

    kink, deep = 0.5, 1e7

    def at(z: np.ndarray) -> tuple[object, np.ndarray, np.ndarray, float, float]:
        x = float(z[0])
        g = 0.5 * x * x - x + 0.5 * deep * max(x - kink, 0.0) ** 2
        slope = x - 1.0 + deep * max(x - kink, 0.0)
        return SimpleNamespace(potential=g), np.array([slope]), np.eye(1), abs(slope), 1.0

    z0 = np.zeros(1)
    found = _line_search(at, z0, np.ones(1), at(z0), np.full(1, -10.0), np.full(1, 10.0), 1e-9)  # type: ignore[arg-type]
    assert found is not None
    alpha, trial = found
    # Creeping 1 % of the bracket a trial ends near 0.06 after the search's six trials.
    assert 0.2 < alpha <= kink
    assert trial[0].potential < at(np.full(1, 0.06))[0].potential  # type: ignore[attr-defined]
