"""The vectorised lending round against the plain per-loan reference, and its conservation laws."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lending_checks import (
    eth_moves,
    moved_prices,
    run_against_reference,
    small_world,
    with_comet_reserves,
)

from contagion.lending.engine import LendingParams, LendingState, lending_round

_RESERVES = {
    "unknown": None,
    "target": lambda ds: with_comet_reserves(ds),
    "ample": lambda ds: with_comet_reserves(ds, 1e12),
}


def _run_both(
    positions: int,
    seed: int,
    moves: list[float],
    params: LendingParams,
    rounds: int,
    reserves: str = "unknown",
) -> None:
    run_against_reference(
        seed,
        [(moves, params)] * rounds,
        positions=positions,
        depth=lambda n: np.where(np.arange(n) % 3 == 0, 0.0, 40e6),
        edit=_RESERVES[reserves],
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 3),
    moves=st.lists(st.floats(0.45, 1.1), min_size=1, max_size=6),
    capacity=st.sampled_from([np.inf, 5e7, 2e6]),
    keeper=st.sampled_from([np.inf, 1e7, 1e5]),
    gas=st.sampled_from([0.0, 30.0, 5_000.0]),
    aave_version=st.sampled_from(["3.0", "3.3"]),
    reserves=st.sampled_from(sorted(_RESERVES)),
)
def test_fast_round_matches_reference(
    seed: int,
    moves: list[float],
    capacity: float,
    keeper: float,
    gas: float,
    aave_version: str,
    reserves: str,
) -> None:
    params = LendingParams(
        liquidator_capacity_usd=capacity,
        gas_usd=gas,
        keeper_capacity_usd=keeper,
        aave_version=aave_version,
    )
    _run_both(600, seed, moves, params, rounds=3, reserves=reserves)


def test_aave_v33_rules_change_what_the_round_repays() -> None:
    # A gradual crash brings loans just under HF 1, where the two releases differ: v3.0
    # repays at most half of a debt balance above HF 0.95, v3.3 up to half of the loan's
    # whole debt (more for a loan with two debts), and a partial v3.3 call leaves at least
    # 1,000 USD of the balance. Each round also matches the per-loan reference.
    moves = [1 - 0.02 * k for k in range(1, 20)]
    past_half = {}
    for version in ("3.0", "3.3"):
        shares: list[float] = []

        def calls(world, before, after, fast, shares=shares, version=version):  # type: ignore[no-untyped-def]
            book, liq = world.lending, fast.liquidations
            for i in np.flatnonzero(liq.kind == 0):
                loan, asset = liq.loan[i], liq.debt_asset[i]
                pos = book.positions_of(np.array([loan]))
                balance = before.debt[pos[book.asset[pos] == asset]].sum()
                if fast.health_factor[loan] > 0.95 and balance > 0:
                    shares.append(liq.debt_repaid[i] / balance)
                    left = (balance - liq.debt_repaid[i]) * liq.debt_usd[i] / liq.debt_repaid[i]
                    if version == "3.3" and left > 1e-6 * balance:
                        assert left >= 1_000.0 * (1 - 1e-9)

        params = LendingParams(aave_version=version)
        run_against_reference(1, [(m, params) for m in moves], positions=2_000, check=calls)
        assert len(shares) > 10
        past_half[version] = sum(share > 0.5 + 1e-9 for share in shares)
    assert past_half["3.0"] == 0 and past_half["3.3"] > 0


def test_no_liquidation_at_the_snapshot() -> None:
    _, world = small_world(2_000, 7)
    market, oracle, oracle_usd = moved_prices(world, [1.0])
    state = LendingState.initial(world.lending, len(world.assets))
    _, result = lending_round(
        world.lending, state, oracle, oracle_usd, market, np.full(len(market), 1e8), LendingParams()
    )
    assert len(result.liquidations) == 0
    assert float(result.health_factor.min()) >= 1.0
    assert not result.flow.any()
    assert not result.bad_debt_usd.any()


@settings(max_examples=20, deadline=None)
@given(move=st.floats(0.3, 1.0), seed=st.integers(0, 3))
def test_round_invariants(move: float, seed: int) -> None:
    _, world = small_world(600, seed)
    book, a = world.lending, world.assets
    market, oracle, oracle_usd = moved_prices(world, eth_moves(world, move))
    state = LendingState.initial(book, len(a))
    for _ in range(3):
        before = state
        state, result = lending_round(
            book, state, oracle, oracle_usd, market, np.full(len(a), 5e7), LendingParams()
        )
        assert (state.collateral >= 0).all() and (state.debt >= 0).all()
        assert (state.collateral <= before.collateral + 1e-9).all() or (
            state.auction_tab.sum() < before.auction_tab.sum()  # auction returns collateral
        )
        assert (result.bad_debt_usd >= 0).all()
        liq = result.liquidations
        aave = liq.kind == 0
        # Seized value = repaid value x bonus at the protocol's own prices, fee inside it.
        assert (liq.protocol_fee[aave] <= liq.collateral_seized[aave] + 1e-12).all()
        assert (liq.collateral_seized >= 0).all() and (liq.debt_repaid >= 0).all()


def test_larger_shock_liquidates_more() -> None:
    _, world = small_world(2_000, 7)
    book, a = world.lending, world.assets
    totals = []
    for move in (0.95, 0.85, 0.75, 0.65, 0.55):
        market, oracle, oracle_usd = moved_prices(world, eth_moves(world, move))
        state = LendingState.initial(book, len(a))
        total = 0.0
        for _ in range(4):
            state, result = lending_round(
                book, state, oracle, oracle_usd, market, np.full(len(a), 1e12), LendingParams()
            )
            total += result.liquidations.collateral_usd.sum()
        totals.append(total)
    assert totals == sorted(totals)
    assert totals[-1] > 0


def _position_prices(world: Any, answers0: Any, root_move: Any) -> Any:
    """Every feed that prices a position moved with its asset's market."""
    from contagion.lending.screen import PositionPrices

    book, a = world.lending, world.assets
    feed_move = np.ones(len(answers0))
    feed_move[book.feed] = root_move[a.root][book.asset]
    return PositionPrices(answers0 * feed_move, book.feed)


def _both_rounds(
    world: Any,
    answers0: Any,
    root_move: Any,
    plain: Any,
    screened: Any,
    screen: Any,
    depth: Any,
    params: Any,
) -> tuple[Any, Any, Any, Any]:
    """One round with full evaluation and one with the health screen; they must agree."""
    book, a = world.lending, world.assets
    market = a.price * root_move[a.root]
    op = _position_prices(world, answers0, root_move)
    full = op.answer[book.feed]
    plain, r_plain = lending_round(book, plain, full, full, market, depth, params)
    screened, r_screen = lending_round(book, screened, op, op, market, depth, params, screen=screen)
    np.testing.assert_array_equal(screened.collateral, plain.collateral)
    np.testing.assert_array_equal(screened.debt, plain.debt)
    np.testing.assert_array_equal(r_screen.flow, r_plain.flow)
    np.testing.assert_array_equal(r_screen.bad_debt_usd, r_plain.bad_debt_usd)
    assert len(r_screen.liquidations) == len(r_plain.liquidations)
    return plain, screened, r_plain, r_screen


def _screen_setup(seed: int, band: float = 0.05) -> tuple[Any, ...]:
    """A small world, its feed answers, a deep market, the start state and a screen."""
    from contagion.lending.screen import HealthScreen

    _, world = small_world(600, seed)
    book, a = world.lending, world.assets
    answers0 = world.dataset.table("oracle_feeds").column("answer").to_numpy()
    depth = np.full(len(a), 40e6)
    state = LendingState.initial(book, len(a))
    eth = np.isin(a.symbols, ["ETH", "stETH", "cbETH", "rETH"])[a.root_assets]
    return world, answers0, depth, state, HealthScreen(band=band), eth


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 3),
    path=st.lists(st.floats(0.6, 1.15), min_size=2, max_size=6),
    capacity=st.sampled_from([np.inf, 2e6]),
    band=st.sampled_from([0.02, 0.05, 0.2]),
)
def test_health_screen_changes_nothing(
    seed: int, path: list[float], capacity: float, band: float
) -> None:
    """Rounds with the health screen liquidate exactly what full evaluation liquidates."""
    params = LendingParams(liquidator_capacity_usd=capacity)
    world, answers0, depth, plain, screen, eth = _screen_setup(seed, band)
    screened = plain
    for step, move in enumerate(path):
        # ETH markets follow the path; other markets drift a little the other way.
        root_move = np.where(eth, move, 1.0 + 0.01 * (step % 3 - 1))
        plain, screened, r_plain, r_screen = _both_rounds(
            world, answers0, root_move, plain, screened, screen, depth, params
        )
        liquidatable = r_plain.health_factor < 1.0
        np.testing.assert_array_equal(r_screen.health_factor < 1.0, liquidatable)
        np.testing.assert_allclose(
            r_screen.health_factor[liquidatable], r_plain.health_factor[liquidatable]
        )


def test_health_screen_reuses_a_selection_while_prices_hold() -> None:
    """Rounds at unchanged prices select the very same loans (the selection and its layout
    are reused); a price move selects anew; every round equals full evaluation."""
    params = LendingParams(liquidator_capacity_usd=2e5)
    world, answers0, depth, plain, screen, eth = _screen_setup(1)
    screened, book = plain, world.lending
    previous = None
    reused = renewed = 0
    for move in (1.0, 0.8, 0.8, 0.8, 0.78, 0.78):
        root_move = np.where(eth, move, 1.0)
        op = _position_prices(world, answers0, root_move)
        selection = screen.candidates(book, op, None)
        if selection is not None and previous is not None:
            reused += selection is previous
            renewed += selection is not previous
        plain, screened, _, _ = _both_rounds(
            world, answers0, root_move, plain, screened, screen, depth, params
        )
        previous = screen.candidates(book, op, None)
    assert reused >= 2 and renewed >= 1


def test_health_screen_drops_loans_left_without_debt() -> None:
    """Nothing in a round adds debt: a loan evaluated without any (barked, absorbed, repaid
    in full) is not evaluated again, and the rounds still equal full evaluation."""
    params = LendingParams(keeper_capacity_usd=1e5)
    world, answers0, depth, plain, screen, eth = _screen_setup(2)
    screened, book = plain, world.lending
    root_move = np.where(eth, 0.6, 1.0)
    op = _position_prices(world, answers0, root_move)
    debt_free_before = None
    for _ in range(4):
        selection = screen.candidates(book, op, None)
        if selection is not None and debt_free_before is not None:
            assert not np.isin(selection, debt_free_before).any()
        owes = np.bincount(book.loan, screened.debt, book.n_loans) > 0
        plain, screened, _, _ = _both_rounds(
            world, answers0, root_move, plain, screened, screen, depth, params
        )
        # Loans without debt at the start of this round were evaluated in it (or never
        # needed to be): the next round leaves them out.
        debt_free_before = np.flatnonzero(~owes)
    assert (screened.auction_tab > 0).any()  # auctions were open throughout
    assert screened.open_auctions(book).tolist() == np.flatnonzero(screened.auction_tab).tolist()


def test_loans_liquidated_to_their_last_collateral_are_written_off() -> None:
    """A loan seized down to its last collateral leaves the rounds' work: its debt is kept
    per market and valued as bad debt at each round's prices, the same bad debt as the
    shortfall of every loan below 1 computed from scratch; the screen stops evaluating it."""
    from contagion.world import AAVE

    params = LendingParams()
    world, answers0, depth, plain, screen, eth = _screen_setup(0)
    screened, book, a = plain, world.lending, world.assets
    written_before = None
    screened_rounds = 0
    for move in (0.5, 0.49, 0.495, 0.485, 0.48):
        root_move = np.where(eth, move, 1.0)
        op = _position_prices(world, answers0, root_move)
        selection = screen.candidates(book, op, None)
        if selection is not None and written_before is not None:
            assert not np.isin(selection, written_before).any()
            screened_rounds += 1
        plain, screened, r_plain, _ = _both_rounds(
            world, answers0, root_move, plain, screened, screen, depth, params
        )
        np.testing.assert_array_equal(screened.written_off, plain.written_off)
        written_before = np.flatnonzero(plain.written_off)
        # From scratch: each Aave loan below 1 short of collateral at market prices, its
        # shortfall spread over its debts pro rata.
        market = (a.price * root_move[a.root])[book.asset]
        expected = np.zeros_like(r_plain.bad_debt_by_asset)
        for loan in np.flatnonzero((book.loan_family == AAVE) & (r_plain.health_factor < 1.0)):
            pos = book.positions_of(np.array([loan]))
            coll = float(np.sum(plain.collateral[pos] * market[pos] * book.used[pos]))
            debt = plain.debt[pos] * market[pos]
            short = max(debt.sum() - coll, 0.0)
            for i in np.flatnonzero(debt > 0):
                expected[book.loan_protocol[loan], book.asset[pos[i]]] += (
                    short * debt[i] / debt.sum()
                )
        np.testing.assert_allclose(r_plain.bad_debt_by_asset, expected, rtol=1e-12, atol=1e-6)
    assert written_before is not None and len(written_before) > 0 and screened_rounds >= 2
    pos = book.positions_of(written_before)
    owner = np.repeat(written_before, book.loan_size[written_before])
    assert (book.loan_family[written_before] == AAVE).all()
    assert not (plain.collateral[pos] * book.used[pos]).any()
    assert (np.bincount(owner, plain.debt[pos], book.n_loans)[written_before] > 0).all()
    held = np.zeros_like(plain.written_off_debt)
    np.add.at(held, (book.loan_protocol[owner], book.asset[pos]), plain.debt[pos])
    np.testing.assert_allclose(plain.written_off_debt, held, rtol=1e-12)


def test_solver_runs_the_aave_release_the_scenario_names() -> None:
    from contagion import sample_world
    from contagion.propagate import propagate
    from contagion.scenario import ModelParams, PriceShock, Scenario

    world = sample_world(positions=5_000, seed=7)
    repaid = {}
    for version in ("3.0", "3.3"):
        params = ModelParams(aave_version=version)  # type: ignore[arg-type]
        run = propagate(world, Scenario(version, shocks=(PriceShock("ETH", -0.2),), params=params))
        liq = run.liquidations
        repaid[version] = liq.loc[liq["kind"] == "aave-liquidation-call", "debt_usd"].sum()
    assert repaid["3.0"] > 0 and repaid["3.3"] != repaid["3.0"]


def _comet_run(reserves: float | None) -> tuple[Any, list[float]]:
    """A crash through the Comets with their reserves set; the inventory they hold after each
    round (whole tokens, summed over assets)."""
    held: list[float] = []

    def inventory(world, before, after, fast):  # type: ignore[no-untyped-def]
        comets = world.lending.protocol_family == 1
        held.append(float(after.inventory[comets].sum()))
        # Absorb draws reserves down; sales pay base in.
        assert np.all(np.isfinite(after.comet_reserves[comets]))

    moves = [0.8, 0.7, 0.6, 0.6, 0.6]
    answers = run_against_reference(
        2,
        [(m, LendingParams()) for m in moves],
        positions=2_000,
        check=inventory,
        edit=lambda ds: with_comet_reserves(ds, reserves),
    )
    return answers, held


def test_comet_collateral_is_not_for_sale_while_reserves_reach_the_target() -> None:
    # Reserves far above targetReserves: buyCollateral reverts NotForSale, so what absorb
    # takes stays with the protocol round after round (and the reference agrees).
    _, held = _comet_run(1e12)
    assert held[-1] > 0 and held == sorted(held)
    # Reserves at the target: the first absorb draws them below it and the collateral sells.
    _, at_target = _comet_run(None)
    assert min(at_target) < max(held)
    assert at_target[-1] < held[-1]


def test_solver_settles_with_collateral_a_comet_may_not_sell() -> None:
    # Unsold inventory that is not for sale does not keep a run busy: it settles. The Comet
    # keeps what it absorbed, valued at the fallen price at the end, instead of selling it
    # at the store front as the crash goes on: a larger loss.
    from contagion import sample_world
    from contagion.propagate import propagate
    from contagion.scenario import PriceShock, Scenario

    world = sample_world(positions=5_000, seed=7)
    shock = Scenario("eth", shocks=(PriceShock("ETH", -0.35),))
    loss, sold = {}, {}
    for label, dataset in (("unknown", world), ("ample", with_comet_reserves(world, 1e12))):
        run = propagate(dataset, shock)
        assert run.converged
        loss[label] = run.bad_debt_usd["compound-v3-usdc"]
        # Store-front sales carry their cause (the Comet's market -> the asset), also when
        # the collateral was absorbed in the same round.
        causes = run.causes
        sales = causes[(causes["channel"] == "sell") & causes["src"].str.startswith("market:comp")]
        sold[label] = float(sales["usd"].sum())
    assert loss["ample"] > loss["unknown"] > 0
    assert sold["unknown"] > 1e6 and sold["ample"] == 0.0
