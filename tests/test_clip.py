"""Maker's Liquidations 2.0 (dog.sol, clip.sol, abaci.sol): the published price curve, the
Dog's limits one bark after another, keepers' takes, the vectorised round against the
per-loan reference, and Clipper auctions through the solver."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lending_checks import (
    eth_moves,
    moved_prices,
    run_against_reference,
    small_world,
)

from contagion import sample_world
from contagion.exceptions import ScenarioError
from contagion.lending.cdp import (
    ClipRules,
    FlipRules,
    clip_needs_redo,
    clip_price,
    clip_takes,
    hole_room,
)
from contagion.lending.cdp_step import clip_next_event_s
from contagion.lending.engine import LendingParams, LendingState, lending_round
from contagion.propagate import propagate
from contagion.scenario import (
    ModelParams,
    PriceShock,
    Scenario,
    scenario_from_toml,
    scenario_to_toml,
)

ETH_A = ClipRules()
WETH_ID = "1:0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
WSTETH_ID = "1:0x7f39c581f595b53c5cb19bd0b3f8da6c935e2ca0"

# -- the price curve ---------------------------------------------------------------------


def test_eth_b_curve_of_june_2021_resets_at_48_percent_with_a_37_percent_loss() -> None:
    # Maker Risk Core Unit, "Adjusting Auction Parameters for ETH vault types" (2021): buf
    # 1.20, cut 0.99, step 60 s, tail 90 minutes: "OSM price at auction reset = 48%", and
    # "Maker loss for 130% LR vault type at lowest auction price is estimated at about -37%".
    rules = ClipRules(buf=1.20, cut=0.99, step_s=60.0, tail_s=5_400.0, cusp=0.4)
    osm = 1.0
    top = rules.buf * osm
    lowest = float(clip_price(top, rules.tail_s, rules))
    assert lowest / osm == pytest.approx(0.4857, abs=5e-4)
    assert round(lowest / osm, 2) == 0.49 and math.floor(lowest / osm * 100) == 48
    # A vault at its 130 % ratio: collateral worth 1.3 x debt at the OSM price.
    loss = 1.3 * lowest - 1.0
    assert round(loss, 2) == -0.37
    # Past the tail (not at it) the auction needs redo; above cusp (0.4 x top) it does not.
    assert not clip_needs_redo(top, lowest, rules.tail_s, rules)
    assert clip_needs_redo(top, lowest, rules.tail_s + 1.0, rules)


def test_stairstep_falls_once_per_step_and_cusp_resets() -> None:
    top = 2_600.0  # 1.30 x an OSM price of 2,000
    prices = clip_price(top, [0.0, 89.9, 90.0, 179.9, 180.0, 900.0], ETH_A)
    np.testing.assert_allclose(
        prices, [2_600.0, 2_600.0, 2_574.0, 2_574.0, 2_548.26, 2_600.0 * 0.99**10]
    )
    # cut^91 = 0.4007 is above cusp 0.40, cut^92 = 0.3967 below: a reset after 92 steps
    # (138 minutes), before the 140-minute tail.
    at_91, at_92 = clip_price(top, [91 * 90.0, 92 * 90.0], ETH_A)
    assert not clip_needs_redo(top, at_91, 91 * 90.0, ETH_A)
    assert clip_needs_redo(top, at_92, 92 * 90.0, ETH_A)


def test_rules_are_checked() -> None:
    with pytest.raises(ScenarioError, match="cut"):
        ClipRules(cut=1.0)
    with pytest.raises(ScenarioError, match="ilk_hole"):
        ClipRules(ilk_hole=-1.0)
    with pytest.raises(ValueError, match="flip or clip"):
        LendingParams(flip=FlipRules(), clip=ETH_A)


# -- the Dog's limits ----------------------------------------------------------------------


def _sequential_barks(
    tabs: list[float],
    ilks: list[int],
    dogs: list[int],
    ilk_room: list[float],
    dog_room: list[float],
    least: float,
) -> list[float]:
    """dog.sol ``bark`` called once per vault, in order: the room of its ilk, then of its
    Dog; a partial bark leaving less than ``least`` takes the vault whole, one starting an
    auction under ``least`` reverts (and closes that limit for the round, as the model does)."""
    dirt: dict[tuple[str, int], float] = {}
    closed: set[tuple[str, int]] = set()
    out = []
    for tab, ilk, dog in zip(tabs, ilks, dogs, strict=True):
        barked = tab
        for limit, hole in ((("ilk", ilk), ilk_room[ilk]), (("dog", dog), dog_room[dog])):
            room = 0.0 if limit in closed else max(hole - dirt.get(limit, 0.0), 0.0)
            cut = min(barked, room)
            if 0 < cut < tab:
                if tab - cut < least:
                    cut = tab
                elif cut < least:
                    cut = 0.0
                    closed.add(limit)
            barked = cut
        for limit in (("ilk", ilk), ("dog", dog)):
            dirt[limit] = dirt.get(limit, 0.0) + barked
        out.append(barked)
    return out


@example(
    # Room used up exactly by a running sum that rounds to a crumb of 7e-15: no bark.
    data=[(63.0, 0, 0), (14.831321339769014, 3, 0), (50.5, 3, 0)],
    ilk_room=[0.0, 0.0, 0.0, 50.5],
    dog_room=[0.0, 51.0],
    least=15.0,
)
@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.floats(0.0, 100.0), st.integers(0, 3), st.integers(0, 1)),
        min_size=0,
        max_size=25,
    ),
    ilk_room=st.lists(st.floats(-20.0, 200.0), min_size=4, max_size=4),
    dog_room=st.lists(st.floats(-20.0, 300.0), min_size=2, max_size=2),
    least=st.sampled_from([0.0, 3.0, 15.0]),
)
def test_hole_room_is_barks_one_after_another(
    data: list[tuple[float, int, int]], ilk_room: list[float], dog_room: list[float], least: float
) -> None:
    # Ilk i belongs to Dog i % 2, as a collateral type belongs to one protocol; keepers bark
    # the largest tabs first.
    data = sorted(data, key=lambda d: -d[0])
    tabs = [d[0] for d in data]
    ilks = [d[1] for d in data]
    dogs = [i % 2 for i in ilks]
    fast = hole_room(tabs, ilks, dogs, ilk_room, dog_room, least)
    slow = _sequential_barks(tabs, ilks, dogs, ilk_room, dog_room, least)
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-9)
    if least == 0.0:
        # Without a debt floor the limits hold after the barks.
        for ilk in range(4):
            took = sum(f for f, i in zip(fast, ilks, strict=True) if i == ilk)
            assert took <= max(ilk_room[ilk], 0.0) + 1e-9


def test_clip_takes_cheapest_first_within_capacity() -> None:
    # Three auctions worth 1,500 a token to keepers, priced 1,200 (discount 1.25), 1,450
    # (1.03) and 1,600 (not takeable); tabs 12,000 DAI each on 20 tokens; 15,000 USD of
    # capacity: the cheapest auction's whole tab (10 tokens), then 3,000 DAI of the next.
    t = clip_takes([1_450.0, 1_200.0, 1_600.0], 12_000.0, 20.0, 1_500.0, 1.0, 15_000.0)
    np.testing.assert_allclose(t.owe, [3_000.0, 12_000.0, 0.0])
    np.testing.assert_allclose(t.slice, [3_000.0 / 1_450.0, 10.0, 0.0])
    # The lot worth less than the tab at the auction price: the whole lot, for its price.
    t = clip_takes(1_000.0, 12_000.0, 5.0, 1_500.0, 1.0, np.inf)
    assert float(t.slice) == 5.0 and float(t.owe) == 5_000.0


# -- the lending round against the reference -----------------------------------------------

RULE_SETS = (
    ETH_A,
    ClipRules(ilk_hole=3e5, hole=5e5),
    ClipRules(ilk_hole=1e5, hole=1.5e5, step_s=30.0, tail_s=900.0, cusp=0.7),
    # A debt floor near the vaults' size: partial barks taken whole or reverted, takes
    # held back by chost.
    ClipRules(ilk_hole=4e5, hole=6e5, dust=6e4, step_s=30.0),
    # Vault types with their own ilk.hole: wstETH's far below WETH's.
    ClipRules(ilk_hole=3e5, hole=5e5, ilk_holes={WSTETH_ID: 4e4}),
)


def _run_both(
    seed: int, moves: list[float], capacities: list[float], rules: ClipRules, dt: float
) -> int:
    rounds = [
        (
            moves[r % len(moves)],
            LendingParams(keeper_capacity_usd=capacity, clip=rules, now_s=dt * (r + 1)),
        )
        for r, capacity in enumerate(capacities)
    ]

    def conserved(world, before, after, fast):  # type: ignore[no-untyped-def]
        _check_conservation(world, before, after, fast.liquidations, rules)

    answers = run_against_reference(seed, rounds, check=conserved)
    return sum(int((fast.liquidations.kind == 2).sum()) for fast, _ in answers)


def _check_conservation(world, before, after, liquidations, rules: ClipRules) -> None:  # type: ignore[no-untyped-def]
    """A vault's collateral is only moved (vault, auction, sold), auction tabs respect the limits, a
    take pays the price for what it bought and no balance goes negative."""
    book = world.lending
    held = book.per_loan(np.where(book.used, before.collateral, 0.0)) + before.auction_collateral
    now = book.per_loan(np.where(book.used, after.collateral, 0.0)) + after.auction_collateral
    sold = np.bincount(
        liquidations.loan[liquidations.kind == 2],
        liquidations.collateral_seized[liquidations.kind == 2],
        book.n_loans,
    )
    vaults = np.concatenate([np.arange(a, b) for a, b in book.cdp_loan_runs])
    np.testing.assert_allclose((now + sold)[vaults], held[vaults], rtol=1e-9, atol=1e-9)
    assert (after.collateral >= -1e-9).all() and (after.debt >= -1e-9).all()
    assert (after.auction_tab >= 0).all() and (after.auction_collateral >= -1e-12).all()
    opened = after.open_auctions(book)
    ilk_hole = rules.ilk_hole_by_asset(book.asset_ids)
    collateral = book.loan_collateral_debt_asset[0]
    for p in np.unique(book.loan_protocol[opened]):
        mine = opened[book.loan_protocol[opened] == p]
        assert after.auction_tab[mine].sum() <= rules.hole * (1 + 1e-9)
        # Each collateral type's tabs within its own ilk.hole, but for one vault barked
        # whole past it because its rest would have been under dust x chop.
        for asset in np.unique(collateral[mine]):
            tabs = after.auction_tab[mine[collateral[mine] == asset]].sum()
            assert tabs <= ilk_hole[asset] * (1 + 1e-9) + 2.0 * rules.dust
    assert (liquidations.debt_repaid >= 0).all() and (liquidations.collateral_seized >= 0).all()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 3),
    moves=st.lists(st.floats(0.45, 1.1), min_size=1, max_size=4),
    capacities=st.lists(st.sampled_from([np.inf, 1e6, 2e4, 0.0]), min_size=2, max_size=7),
    rules=st.sampled_from(RULE_SETS),
    dt=st.sampled_from([60.0, 600.0, 3_000.0]),
)
def test_clip_round_matches_reference(
    seed: int, moves: list[float], capacities: list[float], rules: ClipRules, dt: float
) -> None:
    _run_both(seed, moves, capacities, rules, dt)


def test_reference_comparison_sees_partial_barks_and_takes() -> None:
    # The comparison is not vacuous: tight limits bark vaults in part, and auctions are taken.
    _, world = small_world(600, 1)
    book = world.lending
    market, oracle, oracle_usd = moved_prices(world, eth_moves(world, 0.5))
    state = LendingState.initial(book, len(market))
    rules = RULE_SETS[1]
    params = LendingParams(clip=rules, now_s=60.0)
    depth = np.full(len(market), 40e6)
    state, _ = lending_round(book, state, oracle, oracle_usd, market, depth, params)
    opened = state.open_auctions(book)
    assert len(opened) and state.auction_tab[opened].sum() == pytest.approx(rules.hole)
    partial = book.per_loan(state.debt)[opened] > 0
    assert partial.sum() >= 1
    assert _run_both(1, [0.5], [1e6] * 6, rules, 3_000.0) > 0


# -- when auctions become takeable -----------------------------------------------------------


def test_next_event_is_the_step_the_price_reaches_what_keepers_pay() -> None:
    _, world = small_world(600, 1)
    book = world.lending
    market, oracle, oracle_usd = moved_prices(world, eth_moves(world, 0.5))
    state = LendingState.initial(book, len(market))
    params = LendingParams(clip=ETH_A, now_s=60.0, keeper_capacity_usd=np.inf)
    depth = np.full(len(market), 40e6)
    state, first = lending_round(book, state, oracle, oracle_usd, market, depth, params)
    assert not (first.liquidations.kind == 2).any()  # 130 % of the oracle: too dear
    due = clip_next_event_s(book, state, market, 60.0, params.keeper_margin, ETH_A)
    # The oracle moved with the market: the price must fall to 0.98 / 1.30 of its start.
    steps = math.ceil(math.log(0.98 / 1.30) / math.log(0.99))
    assert due == pytest.approx(60.0 + steps * ETH_A.step_s)
    # One second before, nothing is taken; at that time, the auctions are.
    for now, expect in ((due - 1.0, False), (due, True)):
        trial = state.copy()
        at = LendingParams(clip=ETH_A, now_s=now, keeper_capacity_usd=np.inf)
        _, rnd = lending_round(book, trial, oracle, oracle_usd, market, depth, at)
        assert bool((rnd.liquidations.kind == 2).any()) is expect


# -- through the solver and the scenario ---------------------------------------------------


def test_solver_runs_clipper_auctions_to_a_fixed_point() -> None:
    world = sample_world(positions=3_000, seed=3)
    shock = (PriceShock("ETH", -0.35),)
    params = ModelParams(cdp_auction="clip", max_rounds=400)
    clip = propagate(world, Scenario("clip", shocks=shock, params=params))
    assert clip.converged
    liq = clip.liquidations
    maker = liq[(liq["protocol_id"] == "maker-cdp") & (liq["kind"] == "cdp-auction")]
    assert len(maker) > 0
    # Keepers pay the auction's price (DAI per token), never more than the market (as the
    # round found it: the prices after the round before) less their margin.
    paid = (maker["debt_repaid"] / maker["collateral_seized"]).to_numpy()
    market = clip.prices.set_index(["round", "asset_id"])["price_usd"]
    rows = zip(maker["round"], maker["collateral_asset_id"], maker["debt_asset_id"], strict=True)
    worth = np.array([market[(r - 1, c)] * 0.98 / market[(r - 1, d)] for r, c, d in rows])
    assert (paid <= worth * (1 + 1e-9)).all() and (paid >= 0.9 * worth).all()
    # Auctions waiting for their price to fall are skipped to the next step, not run
    # minute by minute: the run spans hours more than its rounds at 60 s.
    gaps = np.diff(clip.round_time_s)
    assert gaps.min() == 60.0 and (gaps == 90.0 * np.round(gaps / 90.0)).any()
    assert clip.round_time_s[-1] > 10 * 3_600.0 > 60.0 * clip.rounds
    # Hole limits: the Maker bad debt stays small next to what was auctioned.
    assert clip.bad_debt_usd["maker-cdp"] < 0.05 * maker["debt_usd"].sum()


def test_scenario_carries_the_clip_rule_and_its_parameters() -> None:
    s = Scenario("clip", params=ModelParams(cdp_auction="clip"))
    assert scenario_from_toml(scenario_to_toml(s)) == s
    assert s.params.clip == ETH_A
    # Maker's throughput poll of 2021-11-15: Hole 150 M, ETH-A's ilk.hole 65 M.
    text = (
        'name = "t"\n[params]\ncdp_auction = "clip"\n[params.clip]\nhole = 150e6\nilk_hole = 65e6\n'
    )
    voted = scenario_from_toml(text)
    assert voted.params.clip == ClipRules(hole=150e6, ilk_hole=65e6)
    assert scenario_from_toml(scenario_to_toml(voted)) == voted
    with pytest.raises(ScenarioError, match="cdp_auction"):
        ModelParams(cdp_auction="clipper")  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match=r"params\.clip\.buff: unknown key 'buff'"):
        scenario_from_toml('name = "t"\n[params.clip]\nbuff = 1.2\n')
    with pytest.raises(ScenarioError, match=r"params\.clip\.cut: must be a number in \(0, 1\)"):
        scenario_from_toml('name = "t"\n[params.clip]\ncut = 1.5\n')


def test_each_vault_type_has_its_own_ilk_hole() -> None:
    # WSTETH-A's 3 M DAI of November 2021, by symbol; resolved to the asset's id for a run.
    text = (
        'name = "t"\n[params]\ncdp_auction = "clip"\n[params.clip]\nilk_holes = { wstETH = 3e6 }\n'
    )
    s = scenario_from_toml(text, source="wsteth.toml")
    assert s.params.clip.ilk_holes == {"wstETH": 3e6}
    assert scenario_from_toml(scenario_to_toml(s)) == s
    world = sample_world(positions=2_000, seed=1)
    assert s.resolve(world).clip == ClipRules(ilk_holes={WSTETH_ID: 3e6})
    rules = ClipRules(ilk_holes={WSTETH_ID: 3e6})
    ids = ["x", WSTETH_ID, WETH_ID]
    assert rules.ilk_hole_by_asset(ids).tolist() == [40e6, 3e6, 40e6]
    # The rules keep their own copy of the table.
    table = {"wstETH": 1.0}
    copied = ClipRules(ilk_holes=table)
    table["wstETH"] = 2.0
    assert copied.ilk_holes == {"wstETH": 1.0}
    bad = {
        "ilk_holes = { wstETH = -1 }": r"params\.clip\.ilk_holes\.wstETH: must be a number >= 0",
        "ilk_holes = 3": r"params\.clip\.ilk_holes: expected a table of asset id = hole",
    }
    for body, message in bad.items():
        with pytest.raises(ScenarioError, match=message):
            scenario_from_toml(f'name = "t"\n[params.clip]\n{body}\n', source="bad.toml")
    for body, message in {
        "ilk_holes = { NOPE = 1e6 }": r"wsteth\.toml: params\.clip\.ilk_holes\.NOPE: unknown asset",
        f'ilk_holes = {{ wstETH = 1e6, "{WSTETH_ID}" = 2e6 }}': "names asset .* again",
    }.items():
        named = scenario_from_toml(
            text.replace("ilk_holes = { wstETH = 3e6 }", body), source="wsteth.toml"
        )
        with pytest.raises(ScenarioError, match=message):
            propagate(world, named)
    with pytest.raises(ScenarioError, match=r"ilk_holes\.nope: no asset 'nope' in the dataset"):
        ClipRules(ilk_holes={"nope": 1.0}).ilk_hole_by_asset(ids)


def test_a_small_ilk_hole_paces_that_vault_type_alone() -> None:
    # wstETH vaults within a 10 M DAI ilk.hole: their auctions go a few at a time, so their
    # last take comes later than with ETH-A's 40 M (WETH's vaults keep ETH-A's).
    world = sample_world(positions=3_000, seed=3)
    shock = (PriceShock("ETH", -0.35, correlated={"stETH": 1.0}),)
    last_take: dict[tuple[str, str], float] = {}
    for label, rules in (("eth-a", ETH_A), ("small", ClipRules(ilk_holes={"wstETH": 10e6}))):
        params = ModelParams(cdp_auction="clip", clip=rules, max_rounds=1_000)
        run = propagate(world, Scenario(label, shocks=shock, params=params))
        liq = run.liquidations
        takes = liq[(liq["protocol_id"] == "maker-cdp") & (liq["kind"] == "cdp-auction")]
        for asset in (WETH_ID, WSTETH_ID):
            mine = takes[takes["collateral_asset_id"] == asset]
            assert len(mine) > 0, (label, asset)
            last_take[(label, asset)] = run.round_time_s[int(mine["round"].max())]
    assert last_take[("small", WSTETH_ID)] > last_take[("eth-a", WSTETH_ID)]


def test_larger_hole_limits_liquidate_the_same_vaults_sooner() -> None:
    # The Dog's limits pace Maker's liquidations: with room for every tab at once the
    # auctions all start together and the last take comes earlier.
    world = sample_world(positions=3_000, seed=3)
    shock = (PriceShock("ETH", -0.35),)
    last_take = {}
    for label, rules in (("eth-a", ETH_A), ("ample", ClipRules(hole=1e12, ilk_hole=1e12))):
        params = ModelParams(cdp_auction="clip", clip=rules, max_rounds=400)
        run = propagate(world, Scenario(label, shocks=shock, params=params))
        liq = run.liquidations
        takes = liq[(liq["protocol_id"] == "maker-cdp") & (liq["kind"] == "cdp-auction")]
        last_take[label] = run.round_time_s[int(takes["round"].max())]
    assert last_take["ample"] < last_take["eth-a"]


def test_docstring_examples_run() -> None:
    import doctest

    from contagion import result
    from contagion.lending import cdp

    for module in (cdp, result):
        outcome = doctest.testmod(module)
        assert outcome.attempted > 0 and outcome.failed == 0, module.__name__


def test_run_reports_its_market_time() -> None:
    world = sample_world(positions=2_000, seed=3)
    run = propagate(world, Scenario("eth", shocks=(PriceShock("ETH", -0.2),)))
    times = run.round_time_s
    assert times[0] == 0.0 and times[1] == run.scenario.params.round_seconds
    assert (np.diff(times) >= run.scenario.params.round_seconds).all()
    assert run.summary()["duration_s"] == times[-1] == run.duration_s
