"""Algorithmic stablecoins: redemption arbitrage, dilution and the holder run."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import LUNA, UST, build_tiny_dataset
from hypothesis import given, settings
from hypothesis import strategies as st

from contagion import Dataset
from contagion.stablecoins import (
    ASSUMED_COVERAGE,
    AlgorithmicBook,
    AlgorithmicParams,
    AlgorithmicState,
    algorithmic_round,
    change_redemption,
    governance_reference,
    initial_algorithmic_state,
    profitable_pool_swaps,
    run_share,
    virtual_pool_swaps,
)

HOUR = 3_600.0
DAY = 86_400.0
NO_RUN = AlgorithmicParams(max_run_rate_per_day=0.0)


def _book(
    supply: float = 1.87e9,
    governance_supply: float = 35e6,
    capacity: float = 28.05e6,
    fee: float = 0.005,
) -> AlgorithmicBook:
    # Assets: 0 the coin, 1 its governance token, 2 an unrelated asset.
    return AlgorithmicBook(
        ("UST", "LUNA", "ETH"), [0], [1], [1.0], [fee], [capacity], [supply], [governance_supply]
    )


def test_no_action_at_peg() -> None:
    book = _book()
    state = initial_algorithmic_state(book)
    new, done = algorithmic_round(book, state, [1.0, 80.0, 1800.0], HOUR)
    assert done.burned.tolist() == [0.0]
    assert done.minted.tolist() == [0.0]
    assert done.run_sell.tolist() == [0.0]
    assert done.flows.tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_array_equal(new.coin_supply, state.coin_supply)
    np.testing.assert_array_equal(new.governance_supply, state.governance_supply)


def test_inside_the_fee_band_nobody_acts() -> None:
    # 0.996 is above 1 - 0.5% fee: redemption does not pay, and the coin trades inside its own
    # no-arbitrage band, which holders do not take for a lost peg.
    book = _book()
    state = initial_algorithmic_state(book)
    new, done = algorithmic_round(book, state, [0.996, 80, 1], HOUR)
    assert done.burned.tolist() == [0.0] == done.run_sell.tolist()
    assert not done.flows.any() and new.unsold[0] == book.coin_supply[0]
    # Beyond the band both start: 0.990 is a 0.5% loss past the spread.
    _, beyond = algorithmic_round(book, state, [0.990, 80, 1], HOUR)
    assert beyond.burned[0] > 0 and beyond.run_sell[0] > 0
    expected = run_share(0.005, beyond.coverage[0], HOUR) * book.coin_supply[0]
    assert beyond.run_sell[0] == pytest.approx(expected)


def test_below_peg_buy_flow_is_the_burn_and_sell_flow_the_mint() -> None:
    book = _book()
    new, done = algorithmic_round(
        book, initial_algorithmic_state(book), [0.8, 50.0, 1800.0], HOUR, NO_RUN
    )
    capacity_coins = 28.05e6 / 24
    assert done.burned[0] == pytest.approx(capacity_coins)
    assert done.flows[0] == done.burned[0]
    assert done.flows[1] == -done.minted[0]
    assert done.flows[2] == 0.0
    assert done.minted[0] == pytest.approx(capacity_coins * 0.995 / 50.0)
    assert new.coin_supply[0] == pytest.approx(1.87e9 - capacity_coins)
    assert new.governance_supply[0] == pytest.approx(35e6 + done.minted[0])


def test_capacity_scales_with_round_length_and_caps_at_supply() -> None:
    book = _book(supply=1e6, capacity=24e6)
    state = initial_algorithmic_state(book)
    prices = [0.5, 10.0, 1.0]
    _, minute = algorithmic_round(book, state, prices, 60, NO_RUN)
    assert minute.burned[0] == pytest.approx(24e6 / 1440)
    _, day = algorithmic_round(book, state, prices, DAY, NO_RUN)
    assert day.burned[0] == 1e6  # capacity 24 M, only 1 M coins exist
    unlimited = _book(capacity=np.inf)
    _, everything = algorithmic_round(unlimited, initial_algorithmic_state(unlimited), prices, 1)
    assert everything.burned[0] == unlimited.coin_supply[0]


def test_lower_governance_price_mints_more_tokens_per_dollar() -> None:
    book = _book()
    state = initial_algorithmic_state(book)
    _, at_ten = algorithmic_round(book, state, [0.9, 10.0, 1.0], HOUR, NO_RUN)
    _, at_five = algorithmic_round(book, state, [0.9, 5.0, 1.0], HOUR, NO_RUN)
    assert at_five.burned[0] == at_ten.burned[0]
    assert at_five.minted[0] == pytest.approx(2 * at_ten.minted[0])


def test_scripted_spiral_drives_coverage_below_one_and_accelerates_the_run() -> None:
    book = _book()
    state = initial_algorithmic_state(book)
    coverage, share, minted, supply = [], [], [], [state.governance_supply[0]]
    governance_price = 80.0
    for _ in range(6):
        unsold = state.unsold[0]
        state, done = algorithmic_round(book, state, [0.75, governance_price, 1.0], 6 * HOUR)
        coverage.append(done.coverage[0])
        share.append(done.run_sell[0] / unsold)
        minted.append(done.minted[0])
        supply.append(state.governance_supply[0])
        governance_price *= 0.6
    assert coverage[0] == pytest.approx(35e6 * 80.0 / 1.87e9)
    assert np.all(np.diff(coverage) < 0)
    assert coverage[-1] < 1.0
    assert np.all(np.diff(share) >= 0)
    covered = [s for c, s in zip(coverage, share, strict=True) if c >= 1]
    uncovered = [s for c, s in zip(coverage, share, strict=True) if c < 1]
    assert min(uncovered) > max(covered)
    assert share[-1] > 5 * share[0]
    assert np.all(np.diff(minted) > 0)  # the same burn mints ever more tokens
    assert np.all(np.diff(supply) > 0)  # dilution


def test_run_share_calibration() -> None:
    # The documented order of magnitude for UST in May 2022.
    assert float(run_share(0.25, 0.5, 4 * DAY)) == pytest.approx(1 - np.exp(-2.2))
    assert float(run_share(0.005, 1.5, DAY)) == pytest.approx(1 - np.exp(-0.002))
    assert float(run_share(0.6, 0.0, DAY)) == pytest.approx(1 - np.exp(-1.0))
    assert float(run_share(0.1, 3.0, DAY)) == float(run_share(0.1, 1.0, DAY))


def test_run_compounds_consistently_across_round_lengths() -> None:
    book = _book()
    prices = [0.997, 80.0, 1.0]  # inside the fee band: no burns, coverage unchanged
    one, _ = algorithmic_round(book, initial_algorithmic_state(book), prices, HOUR)
    half, _ = algorithmic_round(book, initial_algorithmic_state(book), prices, HOUR / 2)
    two, _ = algorithmic_round(book, half, prices, HOUR / 2)
    assert two.unsold[0] == pytest.approx(one.unsold[0], rel=1e-12)


def test_coins_sharing_a_governance_token() -> None:
    # Two coins redeem into the same token: it is diluted by both, and backs both.
    book = AlgorithmicBook(
        ("A", "B", "GOV"), [0, 1], [2, 2], [1.0, 1.0], [0.0, 0.0], [DAY, DAY], [100.0, 300.0],
        [40.0, 40.0],
    )  # fmt: skip
    new, done = algorithmic_round(book, initial_algorithmic_state(book), [0.9, 0.9, 5.0], 10)
    np.testing.assert_allclose(done.coverage, [0.5, 0.5])
    np.testing.assert_allclose(done.minted, [2.0, 2.0])
    assert done.flows[2] == pytest.approx(-4.0)
    np.testing.assert_allclose(new.governance_supply, [44.0, 44.0])


@st.composite
def spirals(draw: st.DrawFn) -> tuple[AlgorithmicBook, list[list[float]], float]:
    supply = draw(st.floats(1.0, 1e10))
    book = _book(
        supply=supply,
        governance_supply=draw(st.floats(0.0, 1e9)),
        capacity=draw(st.one_of(st.just(np.inf), st.just(0.0), st.floats(1.0, 1e10))),
        fee=draw(st.floats(0.0, 0.05)),
    )
    price = st.floats(1e-6, 2.0)
    rounds = draw(st.lists(st.tuples(price, st.floats(1e-6, 1e4)), min_size=1, max_size=6))
    return book, [[c, g, 1.0] for c, g in rounds], draw(st.floats(1.0, DAY))


@settings(max_examples=200, deadline=None)
@given(spirals(), st.floats(0.0, 5.0), st.floats(0.0, 1.0))
def test_spiral_invariants(
    spiral: tuple[AlgorithmicBook, list[list[float]], float], rate: float, weight: float
) -> None:
    book, prices, seconds = spiral
    params = AlgorithmicParams(max_run_rate_per_day=rate, covered_run_weight=weight)
    state = initial_algorithmic_state(book)
    for price in prices:
        new, done = algorithmic_round(book, state, price, seconds, params)
        assert np.all(np.isfinite(done.flows))
        assert np.all(new.governance_supply >= state.governance_supply)
        assert np.all(new.coin_supply <= state.coin_supply)
        assert np.all(new.coin_supply >= 0)
        assert np.all((new.unsold >= 0) & (new.unsold <= new.coin_supply))
        assert np.all(new.unsold <= state.unsold)
        assert np.all(done.burned <= book.capacity_per_day * seconds / DAY + 1e-9)
        value = done.minted * price[1]
        np.testing.assert_allclose(value, done.burned * (1 - book.fee), rtol=1e-12)
        state = new


def test_from_tiny_dataset_assumes_coverage_when_supply_is_unknown() -> None:
    dataset = build_tiny_dataset()
    ids = dataset.df("assets")["asset_id"].tolist()
    book = AlgorithmicBook.from_dataset(dataset, ids)
    assert book.coin.tolist() == [ids.index(UST)]
    assert book.governance.tolist() == [ids.index(LUNA)]
    assert book.capacity_per_day.tolist() == [np.inf]  # redemption_limit_usd is null
    assert book.coin_supply.tolist() == [1e6]
    # Null LUNA supply: worth 1.5 times the UST supply at 80 USD.
    assert book.governance_supply[0] == pytest.approx(ASSUMED_COVERAGE * 1e6 / 80.0)
    lower = AlgorithmicBook.from_dataset(dataset, ids, assumed_coverage=0.5)
    assert lower.governance_supply[0] == pytest.approx(0.5 * 1e6 / 80.0)


def test_from_dataset_uses_the_governance_supply() -> None:
    tables = build_tiny_dataset().tables
    assets = tables["assets"]
    is_luna = pc.equal(assets["asset_id"], LUNA)
    supply = pc.if_else(is_luna, pa.scalar(2.5e4), assets["total_supply"])
    raw = pc.if_else(is_luna, pa.scalar(str(25_000 * 10**6)), assets["total_supply_raw"])
    assets = assets.set_column(
        assets.schema.get_field_index("total_supply"), "total_supply", supply
    )
    assets = assets.set_column(
        assets.schema.get_field_index("total_supply_raw"), "total_supply_raw", raw
    )
    dataset = Dataset({**tables, "assets": assets})
    book = AlgorithmicBook.from_dataset(dataset, dataset.df("assets")["asset_id"].tolist())
    assert book.governance_supply.tolist() == [2.5e4]


def test_from_dataset_needs_the_governance_token() -> None:
    dataset = build_tiny_dataset()
    with pytest.raises(ValueError, match="governance token"):
        AlgorithmicBook.from_dataset(dataset, [UST])
    assert AlgorithmicBook.from_dataset(dataset, [LUNA]).coin.size == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"max_run_rate_per_day": -1.0},
        {"depeg_saturation": 0.0},
        {"covered_run_weight": 1.5},
    ],
)
def test_params_are_validated(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AlgorithmicParams(**changes)


def test_round_rejects_bad_prices() -> None:
    book = _book()
    state = initial_algorithmic_state(book)
    with pytest.raises(ValueError, match="governance"):
        algorithmic_round(book, state, [0.9, 0.0, 1.0], HOUR)
    with pytest.raises(ValueError, match="one entry per asset"):
        algorithmic_round(book, state, [0.9, 1.0], HOUR)
    with pytest.raises(ValueError, match="round_seconds"):
        algorithmic_round(book, state, [0.9, 1.0, 1.0], 0)


# -- Terra's virtual pool, governance changes and the governance token's reference ------------


def test_virtual_pool_fills_to_the_discount_then_swaps_what_recovers() -> None:
    # B = 100, PoolRecoveryPeriod 10 blocks, coin at 0.75: δ* = 100 (1/√0.75 − 1) = 15.4701.
    offered, received, delta = virtual_pool_swaps(100.0, 10, 3, 0.0, 0.25, 0.005)
    target = 100.0 * (1.0 / np.sqrt(0.75) - 1.0)
    assert float(offered) == pytest.approx(target + 2 * target / 10)  # 18.5641
    assert float(delta) == pytest.approx(target * 0.9)  # 13.9230
    # Constant product: 100²(1/100 − 1/115.4701) = 13.3975 in the first block, then
    # 100²(1/113.9230 − 1/115.4701) = 1.176010 in each of the next two.
    assert float(received) == pytest.approx(13.397460 + 2 * 1.176010, rel=1e-6)


def test_virtual_pool_charges_the_minimum_spread_on_small_swaps() -> None:
    # A discount of 1 % gives δ* = 0.5038; the CP spread of that one swap,
    # 1 − 100²/(100 · 100.5038) = 0.5013 %, is below a 0.9 % minimum, which is charged.
    offered, received, _ = virtual_pool_swaps(100.0, 1_000, 1, 0.0, 0.01, 0.009)
    assert float(offered) == pytest.approx(100.0 * (1 / np.sqrt(0.99) - 1))
    assert float(received) == pytest.approx(float(offered) * (1 - 0.009))


def test_virtual_pool_waits_for_the_deviation_to_recover() -> None:
    # δ = 20 left by earlier rounds, target 15.4701: 0.9^k · 20 ≤ 15.4701 from k = 3 (14.58).
    offered, _, delta = virtual_pool_swaps(100.0, 10, 5, 20.0, 0.25, 0.005)
    target = 100.0 * (1.0 / np.sqrt(0.75) - 1.0)
    start = 20.0 * 0.9**3
    assert float(offered) == pytest.approx(target - start + 1 * target / 10)
    assert float(delta) == pytest.approx(0.9 * target)
    # Inside the minimum spread nothing is swapped and the deviation decays.
    offered, received, delta = virtual_pool_swaps(100.0, 10, 5, 20.0, 0.004, 0.005)
    assert float(offered) == 0.0 == float(received)
    assert float(delta) == pytest.approx(20.0 * 0.9**5)


def test_algorithmic_round_uses_the_virtual_pool_and_keeps_its_deviation() -> None:
    book = change_redemption(_book(), 0, base_pool_usd=100.0, recovery_blocks=10, block_seconds=6.0)
    state = initial_algorithmic_state(book)
    new, done = algorithmic_round(book, state, [0.75, 10.0, 1.0], 18.0, NO_RUN)  # 3 blocks
    target = 100.0 * (1.0 / np.sqrt(0.75) - 1.0)
    assert done.burned[0] == pytest.approx(1.2 * target)
    assert done.minted[0] == pytest.approx((13.397460 + 2 * 1.176010) / 10.0, rel=1e-6)
    assert new.pool_delta[0] == pytest.approx(0.9 * target)
    # Proposal 1164: BasePool doubled, recovery halved (the deviation carries over).
    faster = change_redemption(book, 0, base_pool_usd=200.0, recovery_blocks=5)
    _, more = algorithmic_round(faster, new, [0.75, 10.0, 1.0], 18.0, NO_RUN)
    _, same = algorithmic_round(book, new, [0.75, 10.0, 1.0], 18.0, NO_RUN)
    assert more.burned[0] > 2 * same.burned[0]


# -- the arbitrage sells what it is paid in --------------------------------------------------


def test_profitable_swaps_with_a_free_sale_are_the_pool_swaps() -> None:
    free = virtual_pool_swaps(100.0, 10, 3, 0.0, 0.25, 0.005)
    assert profitable_pool_swaps(100.0, 10, 3, 0.0, 0.25, 0.005, np.inf) == free


@given(
    depth=st.floats(1e-3, 1e4),
    discount=st.floats(0.01, 0.95),
    delta=st.floats(0.0, 50.0),
)
@settings(max_examples=200, deadline=None)
def test_the_last_coin_swapped_just_pays(depth: float, discount: float, delta: float) -> None:
    offered, received, _ = profitable_pool_swaps(100.0, 10, 30, delta, discount, 0.005, depth)
    free, _, _ = virtual_pool_swaps(100.0, 10, 30, delta, discount, 0.005)
    assert 0.0 <= float(offered) <= float(free) + 1e-12
    if float(offered) > 0:
        # The pool filled to the discount d' at which (1 - d) = (1 - d') · exp(-0.02 √(V/D)):
        # swapping to d' alone reproduces the amount, and d' is the root of that condition.
        kept = np.exp(-0.02 * np.sqrt(float(received) / depth))
        effective = 1.0 - (1.0 - discount) / kept
        again, _, _ = virtual_pool_swaps(100.0, 10, 30, delta, effective, 0.005)
        assert float(again) == pytest.approx(float(offered), rel=1e-6, abs=1e-9)
    # A shallower market for the paid tokens never lets more through.
    shallower, _, _ = profitable_pool_swaps(100.0, 10, 30, delta, discount, 0.005, depth / 4)
    assert float(shallower) <= float(offered) + 1e-9


def test_no_market_for_the_governance_token_means_no_arbitrage() -> None:
    offered, received, _ = profitable_pool_swaps(100.0, 10, 3, 0.0, 0.5, 0.005, 0.0)
    assert float(offered) == 0.0 == float(received)


def test_daily_limit_arbitrage_stops_where_the_sale_stops_paying() -> None:
    # Coin at 0.90, fee 0.5 %, the governance token's market 1 M USD deep: the last coin pays
    # while 0.90 <= 0.995 · exp(-0.02 √(V / 1e6)), so V = 1e6 · (ln(0.995 / 0.9) / 0.02)² USD.
    book = _book(capacity=1e9)
    state = initial_algorithmic_state(book)
    depth = np.array([0.0, 1e6, 0.0])
    _, done = algorithmic_round(book, state, [0.9, 10.0, 1.0], HOUR, NO_RUN, depth)
    sale = 1e6 * (np.log(0.995 / 0.9) / 0.02) ** 2
    assert done.minted[0] * 10.0 == pytest.approx(sale)
    assert done.burned[0] == pytest.approx(sale / 0.995)
    # Without the depth the whole hour's capacity is used; within the fee nothing happens.
    _, free = algorithmic_round(book, state, [0.9, 10.0, 1.0], HOUR, NO_RUN)
    assert free.burned[0] == pytest.approx(1e9 / 24)
    _, calm = algorithmic_round(book, state, [0.996, 10.0, 1.0], HOUR, NO_RUN, depth)
    assert calm.burned[0] == 0.0
    with pytest.raises(ValueError, match="governance_depth_usd"):
        algorithmic_round(book, state, [0.9, 10.0, 1.0], HOUR, NO_RUN, [1.0, np.nan, 1.0])


def test_change_redemption_validates() -> None:
    book = _book()
    assert change_redemption(book, 0, redemption_fee=0.02).fee.tolist() == [0.02]
    with pytest.raises(ValueError, match="not an algorithmic coin"):
        change_redemption(book, 1, redemption_fee=0.02)
    with pytest.raises(ValueError, match="virtual pool needs"):
        change_redemption(book, 0, base_pool_usd=100.0)


def test_governance_reference_is_value_over_supply() -> None:
    book = _book(supply=100.0, governance_supply=10.0)
    state = initial_algorithmic_state(book)
    assert governance_reference(book, state).tolist() == [1.0]
    # A quarter of the holders left and minting tripled the supply: 0.75 / 3.
    later = AlgorithmicState(np.array([80.0]), np.array([30.0]), np.array([75.0]))
    assert float(governance_reference(book, later)[0]) == pytest.approx(0.25)
    gone = AlgorithmicState(np.array([0.0]), np.array([30.0]), np.array([0.0]))
    assert 0 < float(governance_reference(book, gone)[0]) < 1e-8
    # The coins count at their market price, never above the peg: at 0.60, 0.75 · 0.60 / 3.
    assert float(governance_reference(book, later, [0.6])[0]) == pytest.approx(0.15)
    assert float(governance_reference(book, later, [1.02])[0]) == pytest.approx(0.25)


def test_redemption_changes_in_scenarios() -> None:
    from contagion.exceptions import ScenarioError
    from contagion.scenario import RedemptionChange, Scenario, scenario_from_toml, scenario_to_toml

    dataset = build_tiny_dataset()
    change = RedemptionChange(
        UST, at_round=3, base_pool_usd=1e6, pool_recovery_blocks=18, block_seconds=6.0
    )
    s = Scenario("gov", redemption_changes=(change,))
    assert scenario_from_toml(scenario_to_toml(s)) == s
    sched = s.resolve(dataset).schedule(5)
    assert [(c.asset_id, c.at_round, c.base_pool_usd) for c in sched.redemption_changes] == [
        (UST, 3, 1e6)
    ]
    assert s.resolve(dataset).schedule(3).redemption_changes == ()  # past the last round
    with pytest.raises(ScenarioError, match="not an algorithmic stablecoin"):
        Scenario("x", redemption_changes=(RedemptionChange(LUNA, redemption_fee=0.01),)).resolve(
            dataset
        )
    with pytest.raises(ScenarioError, match="also needs pool_recovery_blocks"):
        Scenario("x", redemption_changes=(RedemptionChange(UST, base_pool_usd=1.0),)).resolve(
            dataset
        )
    with pytest.raises(ScenarioError, match="at least one"):
        RedemptionChange(UST)
