"""Scenarios: TOML in and out, checks with file and field in the message, resolution against a
dataset, per-round schedules; every shipped example on the sample world."""

from __future__ import annotations

import doctest
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from conftest import AAVE, ETH_USD, USDC, WETH, WSTETH
from hypothesis import given, settings
from hypothesis import strategies as st

import contagion
import contagion.data.scenarios as examples
from contagion import Dataset, scenario
from contagion.exceptions import ScenarioError
from contagion.oracles import OVERRIDE_MODES, FeedBook, FeedState, exchange_rates, update_feeds
from contagion.scenario import (
    CircuitBreaker,
    Depeg,
    DynamicMargin,
    Mitigations,
    ModelParams,
    OptionsAmm,
    OracleFailure,
    PricePath,
    PriceShock,
    ProtocolFailure,
    Scenario,
    VolatilitySpike,
    load_scenario,
    parse_shock,
    scenario_from_toml,
    scenario_to_toml,
)
from contagion.schema import TABLES

ETH = "1:0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"


@pytest.fixture(scope="module")
def world() -> Dataset:
    return contagion.sample_world(positions=2000)


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- the shipped examples ------------------------------------------------------------------------


def test_every_example_loads_resolves_and_schedules(world: Dataset) -> None:
    assert examples.names() == [
        "black-thursday",
        "eth-crash",
        "maker-clip",
        "oracle-freeze",
        "protocol-failure",
        "steth-depeg",
        "usdc-depeg",
        "vol-spike",
    ]
    for name in examples.names():
        s = examples.load_example(name)
        assert s.name == name and s.description
        sched = s.resolve(world).schedule(s.params.max_rounds)
        assert sched.move.shape == (s.params.max_rounds, world.table("assets").num_rows)
        assert np.all(np.isfinite(sched.move)) and np.all(sched.move > -1)
        assert scenario_from_toml(scenario_to_toml(s)) == s


def _col(world: Dataset, symbol: str) -> int:
    return list(world.table("assets").column("symbol").to_pylist()).index(symbol)


def test_example_schedules_do_what_they_say(world: Dataset) -> None:
    crash = examples.load_example("eth-crash").resolve(world).schedule(20)
    eth, btc = _col(world, "ETH"), _col(world, "BTC")
    np.testing.assert_allclose(crash.move[:10, eth], 0.7 ** (1 / 10) - 1)
    assert np.all(crash.move[10:, eth] == 0)
    assert crash.level[-1, eth] == pytest.approx(0.7)
    assert crash.level[-1, btc] == pytest.approx(0.7**0.8)
    assert crash.level[-1, _col(world, "WETH")] == 1.0  # follows ETH's market in the solver

    usdc = _col(world, "USDC")
    depeg = examples.load_example("usdc-depeg").resolve(world).schedule(300)
    price = world.table("assets").column("price_usd").to_numpy()[usdc]
    assert price * depeg.level[35, usdc] == pytest.approx(0.87)
    assert price * depeg.level[215, usdc] == pytest.approx(0.87)
    assert price * depeg.level[251, usdc] == pytest.approx(1.0)  # par again (13 March)
    assert np.all(depeg.move[252:, usdc] == 0)

    freeze = examples.load_example("oracle-freeze").resolve(world).schedule(100)
    feed = freeze.feed_ids.index(ETH_USD)
    assert (freeze.oracle_mode[:60, feed] == OVERRIDE_MODES.index("frozen")).all()
    assert (freeze.oracle_mode[60:, feed] == 0).all()
    assert freeze.oracle_mode.sum() == 60

    vol = examples.load_example("vol-spike").resolve(world).schedule(5)
    assert vol.vol_points[0, _col(world, "ETH")] == 25.0 and vol.vol_points.sum() == 25.0
    assert vol.vol_multiplier[0, btc] == 1.5 and vol.vol_multiplier.prod() == 1.5

    hack = examples.load_example("protocol-failure").resolve(world).schedule(5)
    assert hack.writedown[0, hack.protocol_ids.index(AAVE)] == pytest.approx(0.1)
    assert hack.writedown.sum() == pytest.approx(0.1)

    bt = examples.load_example("black-thursday")
    sched = bt.resolve(world).schedule(bt.params.max_rounds)
    rel = bt.paths[0].relative
    ends = np.arange(len(rel)) * 12 + 11
    np.testing.assert_allclose(sched.level[ends, eth], rel, rtol=1e-12)
    assert sched.level[-1, eth] == pytest.approx(rel[-1])
    assert bt.params.round_seconds == 300 and bt.params.gas_usd == 60.0


def test_oracle_freeze_example_holds_eth_usd_in_the_feed_rules(world: Dataset) -> None:
    s = examples.load_example("oracle-freeze")
    ids = world.table("assets").column("asset_id").to_pylist()
    sched = s.resolve(world).schedule(61, ids)
    book = FeedBook.from_dataset(world, ids)
    feed = book.feed_ids.index(ETH_USD)
    price = world.table("assets").column("price_usd").to_numpy()
    state = FeedState.initial(book)
    for r in range(61):
        now = s.params.round_seconds * (r + 1)
        market = price * sched.level[r]
        state, _ = update_feeds(
            book, state, market, exchange_rates(world, ids), now, sched.feed_overrides(r)
        )
        expected = book.initial[feed] if r < 60 else market[ids.index(ETH)]
        assert state.answer[feed] == pytest.approx(expected)


# -- loading: types, values, messages ----------------------------------------------------------


def test_error_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[shocks]]\nasset = "WETH"\nmove = -0.1\n\n[[shocks]]\nasset = "ETH"\nmove = "abc"\n',
        "bad.toml",
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == (
        f"{path}: shocks[1].move: expected a number like -0.3 or '-30%', got 'abc'"
    )
    assert info.value.file == str(path) and info.value.field == "shocks[1].move"


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ('nmae = "x"', "nmae", "unknown key"),
        ('[[shocks]]\nasset = "ETH"\nmove = -0.1\nbeta = 2', "shocks[0].beta", "unknown key"),
        ('[[shocks]]\nasset = "ETH"', "shocks[0]", "missing required key 'move'"),
        ('[[shocks]]\nasset = "ETH"\nmove = "-100%"', "shocks[0].move", "must be > -1"),
        ('[[shocks]]\nasset = "ETH"\nmove = true', "shocks[0].move", "got True"),
        ("[[shocks]]\nasset = 3\nmove = 0.1", "shocks[0].asset", "non-empty string"),
        ('[[shocks]]\nasset = "E"\nmove = 0.1\nat_round = 1.5', "shocks[0].at_round", "whole"),
        ('[[shocks]]\nasset = "E"\nmove = 0.1\nover_rounds = 0', "shocks[0].over_rounds", ">= 1"),
        (
            '[[shocks]]\nasset = "E"\nmove = 0.1\ncorrelated = { X = "a" }',
            "shocks[0].correlated.X",
            "expected a number",
        ),
        ("shocks = 3", "shocks", "array of tables"),
        ('[[depegs]]\nasset = "USDC"', "depegs[0].price", "exactly one of 'price' and 'move'"),
        ('[[depegs]]\nasset = "USDC"\nprice = "87%"', "depegs[0].price", "expected a number"),
        ('[[oracle_failures]]\nfeed = "f"\nmode = "broken"', "oracle_failures[0].mode", "one of"),
        ('[[oracle_failures]]\nfeed = "f"\nmode = "frozen"\nfactor = 2', "", "no factor"),
        ('[[oracle_failures]]\nfeed = "f"\nmode = "manipulated"', "", "exactly one of"),
        (
            '[[oracle_failures]]\nfeed = "f"\nmode = "stale"\nfrom_round = 5\nto_round = 4',
            "oracle_failures[0].to_round",
            ">= 5",
        ),
        ('[[volatility_spikes]]\nunderlying = "ETH"', "", "exactly one of"),
        ('[[protocol_failures]]\nprotocol = "p"\nwritedown = "120%"', "writedown", "between"),
        ('[[paths]]\nasset = "ETH"\nrelative = []', "paths[0].relative", "non-empty"),
        ('[[paths]]\nasset = "ETH"\nrelative = [1.0, -2.0]', "paths[0].relative", "> 0"),
        ('[mitigations.circuit_breaker]\nmax_move = "0%"', "max_move", "in (0, 1]"),
        ('[mitigations.dynamic_margin]\nmode = "vega"', "mitigations.dynamic_margin.mode", "one"),
        ("[mitigations.airbag]\nsize = 1", "mitigations.airbag", "unknown key"),
        ('[params]\ndealer_sign = "sideways"', "params.dealer_sign", "'dataset', 'short'"),
        ("[params]\nround_seconds = 0", "params.round_seconds", ">= 1"),
        ("[params]\ntol = -1.0", "params.tol", "> 0"),
        ("[params]\ngas_usd = nan", "params.gas_usd", "expected a number"),
        ("[params]\nrun_rate_per_day = -1", "params.run_rate_per_day", ">= 0"),
        ("[params]\nrun_depeg_saturation = 0", "params.run_depeg_saturation", "> 0"),
        ("[params]\ncovered_run_weight = 1.5", "params.covered_run_weight", "in [0, 1]"),
        ('[params]\naave_version = "3.1"', "params.aave_version", "one of '3.0', '3.3'"),
        ("name = [", "", "not valid TOML"),
    ],
)
def test_bad_files_are_scenario_errors(tmp_path: Path, text: str, field: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError, match=None) as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}: ")
    assert field in (info.value.field or "")
    assert message in info.value.message


def test_unreadable_file() -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario("/nonexistent/scenario.toml")


def test_percent_strings_and_numbers_mean_the_same(tmp_path: Path) -> None:
    a = load_scenario(write(tmp_path, '[[shocks]]\nasset = "ETH"\nmove = "-30%"', "a.toml"))
    b = load_scenario(write(tmp_path, '[[shocks]]\nasset = "ETH"\nmove = -0.3', "a.toml"))
    c = load_scenario(write(tmp_path, '[[shocks]]\nasset = "ETH"\nmove = " -0.3 "', "a.toml"))
    assert a == b == c and a.shocks[0].move == -0.3
    assert a.name == "a" and a.params == ModelParams() and a.mitigations == Mitigations()


def test_aave_version_quoted_or_not(tmp_path: Path) -> None:
    # TOML readers of `aave_version = 3.3` get a float: it means the release "3.3".
    quoted = load_scenario(write(tmp_path, '[params]\naave_version = "3.3"', "a.toml"))
    bare = load_scenario(write(tmp_path, "[params]\naave_version = 3.3", "a.toml"))
    assert quoted == bare and bare.params.aave_version == "3.3"
    assert 'aave_version = "3.3"' in scenario_to_toml(bare)
    assert ModelParams().aave_version == "3.0"


def test_python_objects_are_checked_too() -> None:
    assert PriceShock("ETH", "-25%").move == -0.25  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match="move: must be > -1"):
        PriceShock("ETH", -1.5)
    with pytest.raises(ScenarioError, match="shocks\\[0\\]: expected a PriceShock"):
        Scenario("x", shocks=[Depeg("USDC", price=0.9)])  # type: ignore[list-item]
    with pytest.raises(ScenarioError, match="name: expected a non-empty string"):
        Scenario("")
    s = Scenario("x", shocks=[PriceShock("ETH", -0.1)])
    assert isinstance(s.shocks, tuple)


def test_parse_shock() -> None:
    assert parse_shock("WETH=-30%") == PriceShock("WETH", -0.3)
    assert parse_shock("WETH=-0.3") == PriceShock("WETH", -0.3)
    assert parse_shock(" stETH = +5% ") == PriceShock("stETH", 0.05)
    assert parse_shock("a=b=-10%").asset == "a=b"
    for bad, message in [
        ("WETH", "ASSET=MOVE"),
        ("=-3%", "ASSET=MOVE"),
        ("WETH=abc", "expected a number like"),
        ("WETH=-100%", "must be > -1"),
    ]:
        with pytest.raises(ScenarioError, match=message):
            parse_shock(bad)


def test_price_path_from_csv(tmp_path: Path) -> None:
    (tmp_path / "eth.csv").write_text("time,close\n0,200\n1,180\n2,100\n", encoding="utf-8")
    path = PricePath.from_csv("ETH", tmp_path / "eth.csv", "close", step_rounds=2)
    assert path.relative == (1.0, 0.9, 0.5) and path.step_rounds == 2
    s = load_scenario(
        write(tmp_path, '[[paths]]\nasset = "ETH"\ncsv = "eth.csv"\ncolumn = "close"\n')
    )
    assert s.paths[0].relative == (1.0, 0.9, 0.5)
    with pytest.raises(ScenarioError, match="no column 'open'"):
        PricePath.from_csv("ETH", tmp_path / "eth.csv", "open")
    (tmp_path / "bad.csv").write_text("close\n1\nx\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="row 3: expected a number, got 'x'"):
        PricePath.from_csv("ETH", tmp_path / "bad.csv", "close")
    with pytest.raises(ScenarioError, match=r"^paths\[0\].csv: give 'relative' or 'csv'"):
        scenario_from_toml('name = "x"\n[[paths]]\nasset = "E"\ncsv = "a"\nrelative = [1.0]')
    with pytest.raises(ScenarioError, match=r"s.toml: paths\[0\].column: .* no column 'open'"):
        load_scenario(write(tmp_path, '[[paths]]\nasset = "E"\ncsv = "eth.csv"\ncolumn = "open"'))


# -- round trip ------------------------------------------------------------------------------------

names = st.text(min_size=1, max_size=12)
fractions = st.floats(-0.95, 3.0, allow_nan=False)
rounds = st.integers(0, 50)
positive = st.floats(1e-6, 1e6, allow_nan=False)

shocks = st.builds(
    PriceShock,
    asset=names,
    move=fractions,
    at_round=rounds,
    over_rounds=st.integers(1, 20),
    correlated=st.dictionaries(names, st.floats(-3, 3, allow_nan=False), max_size=3),
)
depegs = st.one_of(
    st.builds(Depeg, asset=names, price=positive, at_round=rounds, over_rounds=st.integers(1, 9)),
    st.builds(Depeg, asset=names, move=fractions, at_round=rounds),
)
failures = st.one_of(
    st.builds(
        OracleFailure,
        feed=names,
        mode=st.sampled_from(["frozen", "stale"]),
        from_round=rounds,
        to_round=st.none() | st.integers(50, 90),
    ),
    st.builds(OracleFailure, feed=names, mode=st.just("manipulated"), factor=positive),
    st.builds(OracleFailure, feed=names, mode=st.just("manipulated"), value=positive),
)
spikes = st.one_of(
    st.builds(VolatilitySpike, underlying=names, iv_points=st.floats(-50, 200), at_round=rounds),
    st.builds(VolatilitySpike, underlying=names, iv_multiplier=positive),
)
writedowns = st.builds(ProtocolFailure, protocol=names, writedown=st.floats(0, 1), at_round=rounds)
paths = st.builds(
    PricePath,
    asset=names,
    relative=st.lists(positive, min_size=1, max_size=8).map(tuple),
    start_round=rounds,
    step_rounds=st.integers(1, 12),
)
mitigations = st.builds(
    Mitigations,
    circuit_breaker=st.none() | st.builds(CircuitBreaker, st.floats(0.01, 1.0), st.integers(1, 9)),
    dynamic_margin=st.none()
    | st.builds(DynamicMargin, st.sampled_from(["volatility", "gex"]), st.floats(0, 10)),
    options_amm=st.none() | st.builds(OptionsAmm, st.floats(0, 1e9)),
)
params = st.builds(
    ModelParams,
    round_seconds=st.integers(1, 3600),
    gas_usd=st.floats(0, 1e3),
    iv_response=st.floats(-5, 5),
    dealer_sign=st.sampled_from(["dataset", "short", "long"]),
    aave_version=st.sampled_from(["3.0", "3.3"]),
    run_rate_per_day=st.floats(0, 10),
    covered_run_weight=st.floats(0, 1),
    tol=st.floats(1e-12, 1.0),
)
scenarios = st.builds(
    Scenario,
    name=names,
    description=st.text(max_size=40),
    shocks=st.lists(shocks, max_size=3),
    depegs=st.lists(depegs, max_size=2),
    oracle_failures=st.lists(failures, max_size=2),
    volatility_spikes=st.lists(spikes, max_size=2),
    protocol_failures=st.lists(writedowns, max_size=2),
    paths=st.lists(paths, max_size=2),
    mitigations=mitigations,
    params=params,
)


@settings(max_examples=150, deadline=None)
@given(s=scenarios)
def test_toml_round_trip(s: Scenario) -> None:
    assert scenario_from_toml(scenario_to_toml(s)) == s


def test_round_trip_through_a_file(tmp_path: Path) -> None:
    s = Scenario(
        'odd "name" \\ with\ttabs\n',
        shocks=(PriceShock("ETH", -0.3, 2, 3, {"s\u00e9": 0.5}),),
        mitigations=Mitigations(circuit_breaker=CircuitBreaker(0.1)),
    )
    path = write(tmp_path, scenario_to_toml(s))
    assert load_scenario(path) == s
    assert "[mitigations.circuit_breaker]" in path.read_text(encoding="utf-8")


# -- resolution ------------------------------------------------------------------------------


def _with_symbols(ds: Dataset, symbols: dict[str, str]) -> Dataset:
    tables = {name: ds.table(name) for name in TABLES}
    assets = tables["assets"]
    ids = assets.column("asset_id").to_pylist()
    new = [symbols.get(a, s) for a, s in zip(ids, assets.column("symbol").to_pylist(), strict=True)]
    i = assets.schema.get_field_index("symbol")
    tables["assets"] = assets.set_column(i, "symbol", pa.array(new, pa.string()))
    return Dataset(tables)


def _resolve_error(ds: Dataset, **events: Any) -> str:
    with pytest.raises(ScenarioError) as info:
        Scenario("x", **events).resolve(ds)
    return str(info.value)


def test_assets_resolve_by_exact_symbol_or_id(tiny_dataset: Dataset) -> None:
    by_symbol = Scenario("x", shocks=[PriceShock("WETH", -0.1)]).resolve(tiny_dataset)
    by_id = Scenario("x", shocks=[PriceShock(WETH, -0.1)]).resolve(tiny_dataset)
    assert by_symbol.moves == by_id.moves
    assert by_symbol.moves[0].asset_id == WETH
    message = _resolve_error(tiny_dataset, shocks=[PriceShock("weth", -0.1)])
    assert message.startswith("shocks[0].asset: unknown asset 'weth'; candidates: 'WETH'")
    message = _resolve_error(tiny_dataset, shocks=[PriceShock("zzzz", -0.1)])
    assert message.endswith("no similar asset in the dataset")


def test_resolution_errors_name_the_file(tmp_path: Path, tiny_dataset: Dataset) -> None:
    path = write(tmp_path, '[[shocks]]\nasset = "ETH"\nmove = -0.1\ncorrelated = { WBTC = 1.0 }')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path).resolve(tiny_dataset)
    assert str(info.value).startswith(f"{path}: shocks[0].asset: unknown asset 'ETH'")
    assert info.value.file == str(path)


def test_untrusted_symbols_can_be_ambiguous(tiny_dataset: Dataset) -> None:
    twin = _with_symbols(tiny_dataset, {WSTETH: "WETH"})
    message = _resolve_error(twin, shocks=[PriceShock("WETH", -0.1)])
    assert "asset 'WETH' is ambiguous" in message
    assert WETH in message and WSTETH in message
    # A symbol that spells another asset's id is ambiguous too, not silently one of them.
    spoof = _with_symbols(tiny_dataset, {WSTETH: USDC})
    assert "ambiguous" in _resolve_error(spoof, depegs=[Depeg(USDC, price=0.9)])


def test_feeds_protocols_and_underlyings_resolve(tiny_dataset: Dataset) -> None:
    r = Scenario(
        "x",
        oracle_failures=[
            OracleFailure("ETH / USD", "frozen", to_round=3),
            OracleFailure(ETH_USD, "manipulated", factor=2.0, from_round=4),
        ],
        volatility_spikes=[VolatilitySpike("WETH", iv_points=10.0)],
        protocol_failures=[ProtocolFailure(AAVE, 0.2)],
    ).resolve(tiny_dataset)
    assert [o.feed_id for o in r.oracle] == [ETH_USD, ETH_USD]
    assert r.vols[0].asset_id == WETH and r.writedowns[0].protocol_id == AAVE
    overlap = _resolve_error(
        tiny_dataset,
        oracle_failures=[
            OracleFailure("ETH / USD", "frozen"),
            OracleFailure(ETH_USD, "stale", from_round=9),
        ],
    )
    assert overlap.startswith("oracle_failures[1]: overlaps oracle_failures[0]")
    assert "candidates: 'ETH / USD'" in _resolve_error(
        tiny_dataset, oracle_failures=[OracleFailure("ETH/USD", "frozen")]
    )
    assert "no option series on 'USDC'" in _resolve_error(
        tiny_dataset, volatility_spikes=[VolatilitySpike("USDC", iv_points=5.0)]
    )
    assert "unknown protocol 'aave'" in _resolve_error(
        tiny_dataset, protocol_failures=[ProtocolFailure("aave", 0.1)]
    )
    assert "issues no receipt" in _resolve_error(
        tiny_dataset, protocol_failures=[ProtocolFailure("uniswap-v2", 0.1)]
    )
    assert "itself" in _resolve_error(
        tiny_dataset, shocks=[PriceShock("WETH", -0.1, correlated={WETH: 1.0})]
    )


# -- schedules ------------------------------------------------------------------------------


def test_schedule_composes_moves(tiny_dataset: Dataset) -> None:
    s = Scenario(
        "x",
        shocks=[PriceShock("WETH", -0.19, at_round=1, over_rounds=2, correlated={"wstETH": 2.0})],
        depegs=[Depeg("USDC", price=0.9, at_round=3), Depeg("wstETH", move=-0.5, at_round=3)],
        paths=[PricePath("LUNA", (1.0, 0.5, 0.25), start_round=1, step_rounds=2)],
        volatility_spikes=[
            VolatilitySpike("WETH", iv_points=10.0, at_round=2),
            VolatilitySpike("WETH", iv_multiplier=2.0, at_round=2),
            VolatilitySpike("WETH", iv_multiplier=1.5, at_round=2),
            VolatilitySpike("WETH", iv_points=5.0, at_round=99),
        ],
        protocol_failures=[ProtocolFailure(AAVE, 0.5, 1), ProtocolFailure(AAVE, 0.5, 1)],
    )
    sched = s.resolve(tiny_dataset).schedule(8)
    ids = sched.asset_ids
    weth, wst, usdc, luna = (ids.index(a) for a in (WETH, WSTETH, USDC, ids[-1]))
    np.testing.assert_allclose(sched.move[:, weth], [0, -0.1, -0.1, 0, 0, 0, 0, 0], atol=1e-15)
    np.testing.assert_allclose(sched.level[-1, wst], 0.81**2 * 0.5)
    np.testing.assert_allclose(sched.level[-1, usdc], 0.9)  # the tiny world's USDC is 1 USD
    np.testing.assert_allclose(
        sched.level[:, luna], [1, 1, 1, 0.5**0.5, 0.5, 0.5**1.5, 0.25, 0.25], rtol=1e-12
    )
    assert sched.vol_points[2, weth] == 10.0 and sched.vol_points.sum() == 10.0
    assert sched.vol_multiplier[2, weth] == 3.0
    assert sched.writedown[1, sched.protocol_ids.index(AAVE)] == pytest.approx(0.75)


def test_schedule_in_a_given_order_and_cut_at_the_horizon(tiny_dataset: Dataset) -> None:
    s = Scenario(
        "x",
        shocks=[PriceShock("WETH", -0.5, at_round=2, over_rounds=10)],
        oracle_failures=[OracleFailure("ETH / USD", "manipulated", value=5.0, from_round=1)],
    )
    r = s.resolve(tiny_dataset)
    sched = r.schedule(4, [USDC, WETH], feed_ids=[ETH_USD], protocol_ids=[])
    assert sched.move.shape == (4, 2) and sched.writedown.shape == (4, 0)
    np.testing.assert_allclose(sched.move[:, 1], [0, 0, 0.5**0.1 - 1, 0.5**0.1 - 1])
    over = sched.feed_overrides(3)
    assert over.mode.tolist() == [3] and over.value.tolist() == [5.0]
    assert sched.feed_overrides(0).mode.tolist() == [0]
    with pytest.raises(ScenarioError, match="moves asset"):
        r.schedule(4, [USDC])


@settings(max_examples=50, deadline=None)
@given(
    moves=st.lists(
        st.tuples(st.floats(-0.9, 2.0), st.integers(0, 6), st.integers(1, 5), st.floats(-2, 2)),
        min_size=1,
        max_size=4,
    )
)
def test_final_level_is_the_product_of_all_moves(
    tiny_dataset: Dataset, moves: list[tuple[float, int, int, float]]
) -> None:
    s = Scenario(
        "x",
        shocks=[
            PriceShock("WETH", m, at, over, correlated={"LUNA": beta})
            for m, at, over, beta in moves
        ],
    )
    sched = s.resolve(tiny_dataset).schedule(12)
    weth, luna = sched.asset_ids.index(WETH), len(sched.asset_ids) - 1
    assert sched.asset_ids[luna].endswith("fa3d")
    expected = math.prod(1 + m for m, *_ in moves)
    assert sched.level[-1, weth] == pytest.approx(expected, rel=1e-9)
    expected_luna = math.prod((1 + m) ** beta for m, _, _, beta in moves)
    assert sched.level[-1, luna] == pytest.approx(expected_luna, rel=1e-9)
    assert np.all(sched.level > 0)


def test_doctests() -> None:
    assert doctest.testmod(scenario).failed == 0
    assert doctest.testmod(examples).failed == 0
