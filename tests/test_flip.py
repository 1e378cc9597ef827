"""Maker's Flipper (flip.sol): hand-computed auctions, the vectorised round against the per-loan
reference, and flip auctions through the solver."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lending_checks import (
    eth_moves,
    moved_prices,
    run_against_reference,
    small_world,
)
from numpy.typing import NDArray

from contagion import sample_world
from contagion.exceptions import ScenarioError
from contagion.lending.cdp import FlipRules, flip_bids, flip_deficit
from contagion.lending.engine import LendingParams, LendingRound, LendingState, lending_round
from contagion.propagate import propagate
from contagion.scenario import (
    ModelParams,
    PriceShock,
    Scenario,
    scenario_from_toml,
    scenario_to_toml,
)
from contagion.world import World

FloatArray = NDArray[np.float64]

RULES = FlipRules()  # ETH-A, 2020-03-12: ttl 10 min, tau 6 h, beg 3 %


# -- hand-computed bids ------------------------------------------------------------------


def test_competitive_bid_covers_the_tab_and_dent_returns_collateral() -> None:
    # Tab 11,300 DAI (10,000 debt + 13 %) on 8 ETH; keepers pay 2,000 x 0.98 = 1,960 DAI/ETH.
    b = flip_bids(0.0, 8.0, 11_300.0, 1_960.0, 1e9, 0.03)
    assert float(b.bid) == 11_300.0
    # dent: the tab buys 11,300 / 1,960 = 5.7653 ETH; 2.2347 ETH go back to the vault.
    assert float(b.lot) == pytest.approx(11_300.0 / 1_960.0)
    assert float(b.returned) == pytest.approx(8.0 - 11_300.0 / 1_960.0)
    assert float(b.raised) == 11_300.0 and bool(b.placed)
    assert float(flip_deficit(10_000.0, b.bid)) == 0.0


def test_dent_needs_a_decrease_of_at_least_beg() -> None:
    # The tab is already bid; keepers would take 7.9 of 8 ETH: 1.3 % less, below beg 3 %.
    b = flip_bids(11_300.0, 8.0, 11_300.0, 11_300.0 / 7.9, 0.0, 0.03)
    assert float(b.lot) == 8.0 and not bool(b.placed)
    # 7.7 ETH is 3.9 % less: the dent goes through, without new capital.
    b = flip_bids(11_300.0, 8.0, 11_300.0, 11_300.0 / 7.7, 0.0, 0.03)
    assert float(b.lot) == pytest.approx(7.7) and float(b.raised) == 0.0


def test_tend_needs_beg_unless_it_reaches_the_tab() -> None:
    # Lot worth 1,020 DAI to keepers over a bid of 1,000: +2 % < beg 3 %: no bid.
    b = flip_bids(1_000.0, 1.0, 5_000.0, 1_020.0, 1e9, 0.03)
    assert not bool(b.placed) and float(b.bid) == 1_000.0
    # Same +2 % but it is the whole tab: allowed (flip.sol: ``bid == tab``).
    b = flip_bids(1_000.0, 1.0, 1_020.0, 2_000.0, 1e9, 0.03)
    assert bool(b.placed) and float(b.bid) == 1_020.0


def test_capacity_goes_to_the_most_profitable_auctions_first() -> None:
    # Surpluses (lot value - bid): 3,000, 6,000 and 1,500 DAI; keepers have 7,000 DAI.
    # The 6,000 one is bid whole, the 3,000 one gets the 1,000 left (any raise over a 0 bid
    # meets beg), the last nothing: it keeps its bid of 500.
    b = flip_bids([0.0, 0.0, 500.0], [1.5, 3.0, 1.0], [1e6, 1e6, 1e6], [2_000.0] * 3, 7_000.0, 0.03)
    np.testing.assert_allclose(b.bid, [1_000.0, 6_000.0, 500.0])
    np.testing.assert_array_equal(b.placed, [True, True, False])
    np.testing.assert_allclose(b.raised, [1_000.0, 6_000.0, 0.0])
    # Lot worth less than the tab: the bid stops at the lot's value, the deficit remains.
    b = flip_bids(0.0, 5.0, 11_300.0, 1_500.0, 1e9, 0.03)
    assert float(b.bid) == 7_500.0 and float(b.lot) == 5.0
    assert float(flip_deficit(10_000.0, b.bid)) == 2_500.0


def test_rules_are_checked() -> None:
    with pytest.raises(ScenarioError, match="ttl_s"):
        FlipRules(ttl_s=0.0)
    with pytest.raises(ScenarioError, match="beg"):
        FlipRules(beg=1.5)


# -- the lending round -------------------------------------------------------------------


def _flip_round(
    world: World,
    state: LendingState,
    market: FloatArray,
    oracle: FloatArray,
    oracle_usd: FloatArray,
    capacity: float,
    now: float,
) -> tuple[LendingState, LendingRound]:
    params = LendingParams(keeper_capacity_usd=capacity, flip=RULES, now_s=now)
    depth = np.full(len(market), 5e7)
    return lending_round(world.lending, state, oracle, oracle_usd, market, depth, params)


def _maker_debt_usd(world: World, market: FloatArray, loans: NDArray[np.int64]) -> float:
    book = world.lending
    pos = book.positions_of(loans)
    return float((book.debt[pos] * market[book.asset[pos]]).sum())


def test_no_bid_within_ttl_goes_for_zero_and_the_debt_is_bad() -> None:
    _, world = small_world(2_000, 7)
    book = world.lending
    market, oracle, oracle_usd = moved_prices(world, eth_moves(world, 0.6))
    state = LendingState.initial(book, len(market))
    state, first = _flip_round(world, state, market, oracle, oracle_usd, 0.0, 600.0)
    barked = np.flatnonzero(state.auction_tab > 0)
    maker = book.loan_protocol[barked[0]]
    assert len(barked) > 0 and (book.loan_protocol[barked] == maker).all()
    # Kicked and zero-bid, not dealt yet: nothing sold, no bad debt, every tic = now + ttl.
    assert not (first.liquidations.kind >= 2).any() and first.bad_debt_usd[maker] == 0.0
    np.testing.assert_array_equal(state.auction_tic[barked], 600.0 + RULES.ttl_s)
    np.testing.assert_array_equal(state.auction_bid[barked], 0.0)
    # Five minutes later keepers are still absent and the bids have not expired.
    state, mid = _flip_round(world, state, market, oracle, oracle_usd, 0.0, 900.0)
    assert not (mid.liquidations.kind >= 2).any()
    # ttl passed: deal for 0 DAI; the whole debt (not the penalty) is bad debt.
    state, last = _flip_round(world, state, market, oracle, oracle_usd, 0.0, 1_200.0)
    liq = last.liquidations
    auctions = liq.kind >= 2
    assert auctions.sum() == len(barked) and (liq.kind[auctions] == 3).all()
    assert not liq.debt_repaid[auctions].any()
    np.testing.assert_allclose(
        liq.collateral_seized[auctions], book.per_loan(book.collateral)[barked]
    )
    debt = _maker_debt_usd(world, market, barked)
    assert last.bad_debt_usd[maker] == pytest.approx(debt, rel=1e-9)
    assert not state.auction_tab.any() and not state.auction_collateral.any()


def test_keepers_with_capacity_cover_the_tabs() -> None:
    _, world = small_world(2_000, 7)
    book = world.lending
    market, oracle, oracle_usd = moved_prices(world, eth_moves(world, 0.75))
    state = LendingState.initial(book, len(market))
    state, _ = _flip_round(world, state, market, oracle, oracle_usd, np.inf, 600.0)
    barked = np.flatnonzero(state.auction_tab > 0)
    assert len(barked) > 0
    # The tab is bid in full (lots are worth more at a 25 % fall); dent gave the vault back
    # what the tab does not buy at the keepers' price.
    np.testing.assert_allclose(state.auction_bid[barked], state.auction_tab[barked])
    coll_asset, debt_asset = book.loan_collateral_debt_asset
    keeper_price = market[coll_asset[barked]] * 0.98 / market[debt_asset[barked]]
    lot = book.per_loan(book.collateral)[barked]
    wanted = state.auction_tab[barked] / keeper_price
    # A dent must take at least beg (3 %) off the lot; a smaller decrease is not placed.
    expected = np.where(wanted * 1.03 <= lot, wanted, lot)
    assert (expected < lot).any()
    np.testing.assert_allclose(state.auction_collateral[barked], expected)
    np.testing.assert_allclose(
        book.per_loan(state.collateral)[barked] + state.auction_collateral[barked],
        book.per_loan(book.collateral)[barked],
    )
    state, done = _flip_round(world, state, market, oracle, oracle_usd, np.inf, 1_200.0)
    auctions = done.liquidations.kind >= 2
    assert (done.liquidations.kind[auctions] == 2).all() and auctions.sum() == len(barked)
    maker = book.loan_protocol[barked[0]]
    assert done.bad_debt_usd[maker] == 0.0


def _run_both(seed: int, moves: list[float], capacities: list[float]) -> None:
    rounds = [
        (
            moves[r % len(moves)],
            LendingParams(keeper_capacity_usd=capacity, flip=RULES, now_s=300.0 * (r + 1)),
        )
        for r, capacity in enumerate(capacities)
    ]
    for fast, slow in run_against_reference(seed, rounds):
        zero_fast = int((fast.liquidations.kind == 3).sum())
        assert zero_fast == sum(x["kind"] == "cdp-zero-bid" for x in slow.liquidations)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 3),
    moves=st.lists(st.floats(0.45, 1.1), min_size=1, max_size=4),
    capacities=st.lists(st.sampled_from([np.inf, 1e6, 2e4, 0.0]), min_size=2, max_size=6),
)
def test_flip_round_matches_reference(
    seed: int, moves: list[float], capacities: list[float]
) -> None:
    _run_both(seed, moves, capacities)


# -- through the solver and the scenario -------------------------------------------------


def test_solver_keeper_path_decides_between_zero_bids_and_covered_tabs() -> None:
    world = sample_world(positions=2_000, seed=3)
    shock = (PriceShock("ETH", -0.45),)
    bad = {}
    # Keepers absent for the first 40 rounds (then back at 10 M USD a round), or ample.
    for label, path, rest in (("absent", (0.0,) * 40, 10e6), ("present", (), 1e12)):
        params = ModelParams(
            round_seconds=600,
            cdp_auction="flip",
            keeper_capacity_path=path,
            keeper_capacity_usd=rest,
            max_rounds=80,
        )
        result = propagate(world, Scenario("flip", shocks=shock, params=params))
        liq = result.liquidations
        auctions = liq[liq["protocol_id"] == "maker-cdp"]
        bad[label] = float(result.bad_debt_usd.get("maker-cdp", 0.0))
        zero = auctions[auctions["kind"] == "cdp-zero-bid"]
        if label == "absent":
            assert len(auctions) and (auctions["kind"] == "cdp-zero-bid").all()
            assert float(zero["debt_repaid"].sum()) == 0.0
        else:
            assert zero.empty
    assert bad["absent"] > 0 and bad["present"] < bad["absent"]


def test_scenario_carries_the_auction_rule_and_keeper_path() -> None:
    # A list (as TOML gives it) becomes a tuple of floats.
    params = ModelParams(cdp_auction="flip", keeper_capacity_path=[1e6, 0, 5e5])  # type: ignore[arg-type]
    assert params.keeper_capacity_path == (1e6, 0.0, 5e5)
    s = Scenario("bt", params=params)
    assert scenario_from_toml(scenario_to_toml(s)) == s
    with pytest.raises(ScenarioError, match="cdp_auction"):
        ModelParams(cdp_auction="dutch")  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match=r"keeper_capacity_path\[1\]"):
        ModelParams(keeper_capacity_path=(1.0, -2.0))
    with pytest.raises(ScenarioError, match="keeper_capacity_path"):
        scenario_from_toml('name = "x"\n[params]\nkeeper_capacity_path = "fast"\n')
