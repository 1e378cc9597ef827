"""Feed update rules: Chainlink triggers, TWAP, OSM, composites, overrides, the sample world."""

from __future__ import annotations

import doctest
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import contagion
from contagion import oracles
from contagion.exceptions import SchemaError
from contagion.oracles import (
    OVERRIDE_MODES,
    FeedBook,
    FeedOverrides,
    FeedState,
    exchange_rates,
    market_values,
    protocol_prices,
    update_feeds,
)
from contagion.schema import TABLES

ASSETS = ["ETH", "STETH", "WSTETH", "USDC"]
_SPEC = TABLES["oracle_feeds"].schema
_COLUMNS = [
    "feed_id",
    "description",
    "kind",
    "base_asset_id",
    "quote",
    "decimals",
    "heartbeat_s",
    "deviation_bps",
    "twap_window_s",
    "delay_s",
    "source_feed_ids",
    "answer",
]


def feed(feed_id: str, kind: str, answer: float, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "feed_id": feed_id,
        "description": feed_id,
        "kind": kind,
        "base_asset_id": "ETH",
        "quote": "USD",
        "decimals": 8,
        "heartbeat_s": None,
        "deviation_bps": None,
        "twap_window_s": None,
        "delay_s": None,
        "source_feed_ids": [],
        "answer": answer,
    }
    row.update(extra)
    return row


def book_of(*rows: dict[str, Any]) -> FeedBook:
    schema = pa.schema([_SPEC.field(c) for c in _COLUMNS])
    return FeedBook.from_table(pa.Table.from_pylist(list(rows), schema=schema), ASSETS)


def eth_usd(answer: float = 2000.0) -> dict[str, Any]:
    return feed("eth-usd", "chainlink", answer, heartbeat_s=3600, deviation_bps=50.0)


def prices(eth: float, steth: float | None = None) -> np.ndarray:
    return np.array([eth, eth if steth is None else steth, 1.15 * eth, 1.0])


RATES = np.array([1.0, 1.0, 1.15, 1.0])


def run(
    book: FeedBook,
    path: list[tuple[float, np.ndarray]],
    overrides: list[FeedOverrides | None] | None = None,
) -> list[tuple[FeedState, np.ndarray]]:
    state = FeedState.initial(book)
    out = []
    for r, (t, p) in enumerate(path):
        state, updated = update_feeds(
            book, state, p, RATES, t, overrides[r] if overrides is not None else None
        )
        out.append((state, updated))
    return out


# -- Chainlink ---------------------------------------------------------------------------------


def test_small_move_waits_for_the_heartbeat() -> None:
    book = book_of(eth_usd())
    path = [(60.0 * k, prices(2008.0)) for k in range(1, 61)]
    states = run(book, path)
    assert [float(s.answer[0]) for s, _ in states[:59]] == [2000.0] * 59
    assert not any(bool(u[0]) for _, u in states[:59])
    last, updated = states[59]
    assert last.now_s == 3600.0
    assert float(last.answer[0]) == 2008.0 and bool(updated[0])
    assert float(last.updated_at_s[0]) == 3600.0


def test_move_past_the_threshold_updates_at_once() -> None:
    book = book_of(eth_usd())
    state, updated = run(book, [(60.0, prices(2012.0))])[0]
    assert float(state.answer[0]) == 2012.0 and bool(updated[0])
    # The heartbeat restarts from that update: another 0.4% move waits until 60 + 3600 s.
    steps = [(60.0 * k, prices(2012.0 * 1.004)) for k in range(1, 62)]
    states = run(book, [(60.0, prices(2012.0)), *steps[1:]])
    assert float(states[59][0].answer[0]) == 2012.0
    assert float(states[60][0].answer[0]) == pytest.approx(2012.0 * 1.004)


def test_threshold_is_inclusive() -> None:
    book = book_of(feed("x", "chainlink", 1.0, heartbeat_s=86400, deviation_bps=50.0))
    state, _ = run(book, [(60.0, prices(1.005))])[0]
    assert float(state.answer[0]) == 1.005


@settings(max_examples=60, deadline=None)
@given(
    moves=st.lists(st.floats(-0.02, 0.02), min_size=1, max_size=40),
    dt=st.sampled_from([12.0, 60.0, 600.0]),
)
def test_chainlink_answer_is_never_off_by_more_than_the_threshold(
    moves: list[float], dt: float
) -> None:
    book = book_of(eth_usd())
    level = 2000.0 * np.cumprod(1.0 + np.asarray(moves))
    path = [(dt * (j + 1), prices(p)) for j, p in enumerate(level)]
    for k, (state, updated) in enumerate(run(book, path)):
        off = abs(level[k] / state.answer[0] - 1.0)
        assert bool(updated[0]) or off < 0.005
        assert state.now_s - state.updated_at_s[0] < 3600.0
        if updated[0]:
            assert state.answer[0] == level[k]


# -- market, fixed, exchange rate, composite ---------------------------------------------------


def test_market_fixed_and_exchange_rate_rules() -> None:
    book = book_of(
        feed("mkt", "market", 1.0, base_asset_id="STETH", quote="ETH"),
        feed("fix", "fixed", 1.0, base_asset_id="USDC"),
        feed("rate", "exchange-rate", 1.15, base_asset_id="WSTETH", quote="STETH"),
    )
    state, updated = run(book, [(60.0, prices(1500.0, steth=1425.0))])[0]
    np.testing.assert_allclose(state.answer, [0.95, 1.0, 1.15])
    assert updated.tolist() == [True, False, False]
    rates = RATES.copy()
    rates[2] = 1.2
    state, updated = update_feeds(book, state, prices(1500.0, steth=1425.0), rates, 120.0)
    np.testing.assert_allclose(state.answer, [0.95, 1.0, 1.2])
    assert updated.tolist() == [False, False, True]


def test_composite_is_the_product_of_updated_sources() -> None:
    book = book_of(
        feed("wsteth-usd", "composite", 2300.0, base_asset_id="WSTETH",
             source_feed_ids=["rate", "eth-usd"]),
        feed("rate", "exchange-rate", 1.15, base_asset_id="WSTETH", quote="STETH"),
        eth_usd(),
        feed("double", "composite", 2300.0 * 1.15, base_asset_id="WSTETH",
             source_feed_ids=["wsteth-usd", "rate"]),
    )  # fmt: skip
    assert book.level.tolist() == [1, 0, 0, 2]
    assert book.composite_order.tolist() == [0, 3]
    state, updated = run(book, [(60.0, prices(1500.0))])[0]
    assert float(state.answer[0]) == pytest.approx(1.15 * 1500.0, rel=1e-15)
    assert float(state.answer[3]) == pytest.approx(1.15 * 1.15 * 1500.0, rel=1e-15)
    assert updated.tolist() == [True, False, True, True]
    # A move under the threshold leaves ETH/USD, and so the composite, where they were.
    state, updated = update_feeds(book, state, prices(1504.0), RATES, 120.0)
    assert float(state.answer[0]) == pytest.approx(1.15 * 1500.0, rel=1e-15)
    assert not updated.any()


def test_composite_cycle_and_bad_sources_are_schema_errors() -> None:
    with pytest.raises(SchemaError, match=r"cycle: .*a.*b"):
        book_of(
            feed("a", "composite", 1.0, source_feed_ids=["b"]),
            feed("b", "composite", 1.0, source_feed_ids=["a"]),
        )
    with pytest.raises(SchemaError, match="unknown feed nope"):
        book_of(feed("a", "composite", 1.0, source_feed_ids=["nope"]))
    with pytest.raises(SchemaError, match="no source feeds"):
        book_of(feed("a", "composite", 1.0))
    with pytest.raises(SchemaError, match="twap_window_s"):
        book_of(feed("t", "twap", 1.0))
    with pytest.raises(SchemaError, match="delay_s"):
        book_of(feed("d", "delayed", 1.0))


# -- TWAP ---------------------------------------------------------------------------------------


def twap_book(window: int = 3600) -> FeedBook:
    return book_of(feed("twap", "twap", 2000.0, twap_window_s=window))


def test_twap_lags_and_converges() -> None:
    book = twap_book()
    states = run(book, [(60.0 * k, prices(1600.0)) for k in range(1, 71)])
    answers = np.array([float(s.answer[0]) for s, _ in states])
    # The price passed at t holds over the round ending at t, so at t = 60 s one sixtieth of
    # the window is at the new price; at 1800 s half; from 3600 s all of it.
    assert answers[0] == pytest.approx(2000.0 ** (59 / 60) * 1600.0 ** (1 / 60), rel=1e-12)
    assert answers[29] == pytest.approx((2000.0 * 1600.0) ** 0.5, rel=1e-12)
    assert answers[59] == pytest.approx(1600.0, rel=1e-12)
    assert np.all(np.diff(answers[:60]) < 0)
    assert answers[60:] == pytest.approx(1600.0, rel=1e-12)
    # History older than the window is dropped.
    assert states[-1][0].obs_time_s[0] <= states[-1][0].now_s - 3600.0
    assert states[-1][0].obs_time_s.size <= 62


def _geometric_mean(t0: float, a0: float, path: list[tuple[float, float]], w: float) -> float:
    """Brute force: integrate log price over [t - w, t] for a piecewise-constant path."""
    now = path[-1][0]
    total, prev = 0.0, t0
    lo = now - w
    total += np.log(a0) * max(0.0, min(t0, now) - lo)
    for t, p in path:
        seg_lo, seg_hi = max(prev, lo), t
        if seg_hi > seg_lo:
            total += np.log(p) * (seg_hi - seg_lo)
        prev = t
    return float(np.exp(total / w))


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(1, 900), st.floats(100.0, 5000.0)), min_size=1, max_size=30
    ),
    window=st.integers(60, 3600),
)
def test_twap_is_the_geometric_mean_over_the_window(
    steps: list[tuple[int, float]], window: int
) -> None:
    book = twap_book(window)
    t, path = 0.0, []
    for dt, p in steps:
        t += dt
        path.append((t, p))
    states = run(book, [(tt, prices(p)) for tt, p in path])
    for k, (state, _) in enumerate(states):
        expected = _geometric_mean(0.0, 2000.0, path[: k + 1], window)
        assert float(state.answer[0]) == pytest.approx(expected, rel=1e-9)
        window_prices = [2000.0] + [p for _, p in path[: k + 1]]
        assert min(window_prices) * (1 - 1e-12) <= state.answer[0]
        assert state.answer[0] <= max(window_prices) * (1 + 1e-12)


# -- OSM ----------------------------------------------------------------------------------------


def test_osm_publishes_one_hop_late() -> None:
    book = book_of(feed("osm", "delayed", 2000.0, delay_s=3600))
    states = run(book, [(60.0 * k, prices(1600.0)) for k in range(1, 121)])
    answers = np.array([float(s.answer[0]) for s, _ in states])
    pokes = [k for k, (_, u) in enumerate(states) if u[0]]
    assert pokes == [59, 119]  # t = 3600 and 7200
    assert np.all(answers[:119] == 2000.0)  # the poke at 3600 publishes the older reading
    assert answers[119] == 1600.0
    assert float(states[59][0].pending[0]) == 1600.0
    assert float(states[119][0].updated_at_s[0]) == 7200.0


def test_feed_ages_shift_heartbeats_and_hops() -> None:
    book = book_of(eth_usd(), feed("osm", "delayed", 2000.0, delay_s=3600))
    state = FeedState.initial(book, age_s=[3000.0, 1800.0])
    answers = []
    for k in range(1, 41):
        state, updated = update_feeds(book, state, prices(2004.0), RATES, 60.0 * k)
        answers.append((float(state.answer[0]), bool(updated[1])))
    # The heartbeat falls due 600 s in; the OSM pokes 1800 s in (publishing the queued 2000).
    assert [a for a, _ in answers].index(2004.0) == 9
    assert [u for _, u in answers].index(True) == 29
    assert float(state.updated_at_s[1]) == 1800.0 and float(state.pending[1]) == 2004.0


def test_osm_keeps_its_clock_under_a_manipulation() -> None:
    book = book_of(feed("osm", "delayed", 2000.0, delay_s=3600))
    states = run(
        book,
        [(60.0 * k, prices(1600.0)) for k in range(1, 61)],
        [overrides("manipulated", factor=2.0)] + [None] * 59,
    )
    assert float(states[0][0].answer[0]) == 4000.0
    assert float(states[0][0].updated_at_s[0]) == 0.0
    pokes = [k for k, (_, u) in enumerate(states) if u[0]]
    assert pokes == [0, 59]
    assert float(states[59][0].answer[0]) == 2000.0 and float(states[59][0].pending[0]) == 1600.0


def test_osm_skipping_hops_publishes_the_current_value() -> None:
    book = book_of(feed("osm", "delayed", 2000.0, delay_s=3600))
    state, updated = run(book, [(3 * 3600.0 + 60.0, prices(1500.0))])[0]
    assert float(state.answer[0]) == 1500.0 and bool(updated[0])
    assert float(state.updated_at_s[0]) == 3 * 3600.0


# -- overrides ----------------------------------------------------------------------------------


def overrides(mode: str, n: int = 1, **kw: float) -> FeedOverrides:
    base = FeedOverrides.none(n)
    code = OVERRIDE_MODES.index(mode)
    return FeedOverrides(
        np.full(n, code, np.int8),
        np.full(n, kw.get("factor", 1.0)),
        np.full(n, kw.get("value", np.nan)) if "value" in kw else base.value,
    )


@pytest.mark.parametrize("mode", ["frozen", "stale"])
def test_frozen_and_stale_hold_the_answer(mode: str) -> None:
    book = book_of(eth_usd())
    path = [(60.0 * k, prices(1500.0)) for k in range(1, 6)]
    held = overrides(mode)
    states = run(book, path, [held, held, held, None, None])
    assert [float(s.answer[0]) for s, _ in states] == [2000.0] * 3 + [1500.0] * 2
    assert [bool(u[0]) for _, u in states] == [False, False, False, True, False]
    assert float(states[2][0].updated_at_s[0]) == 0.0


def test_frozen_and_stale_have_the_same_effect() -> None:
    book = book_of(eth_usd(), feed("osm", "delayed", 2000.0, delay_s=3600))
    path = [(600.0 * k, prices(2000.0 - 50.0 * k)) for k in range(1, 16)]
    a = run(book, path, [overrides("frozen", 2)] * 8 + [None] * 7)
    b = run(book, path, [overrides("stale", 2)] * 8 + [None] * 7)
    for (sa, ua), (sb, ub) in zip(a, b, strict=True):
        np.testing.assert_array_equal(sa.answer, sb.answer)
        np.testing.assert_array_equal(ua, ub)


def test_manipulation_by_factor_and_value_reaches_composites() -> None:
    book = book_of(
        eth_usd(),
        feed("rate", "exchange-rate", 1.15, base_asset_id="WSTETH", quote="STETH"),
        feed("wsteth-usd", "composite", 2300.0, base_asset_id="WSTETH",
             source_feed_ids=["rate", "eth-usd"]),
    )  # fmt: skip
    factor = FeedOverrides(
        np.array([3, 0, 0], np.int8), np.array([0.5, 1.0, 1.0]), np.full(3, np.nan)
    )
    state, updated = run(book, [(60.0, prices(2000.0))], [factor])[0]
    np.testing.assert_allclose(state.answer, [1000.0, 1.15, 1150.0])
    assert updated.tolist() == [True, False, True]
    value = FeedOverrides(
        np.array([0, 0, 3], np.int8), np.ones(3), np.array([np.nan, np.nan, 99.0])
    )
    state, _ = run(book, [(60.0, prices(1800.0))], [value])[0]
    np.testing.assert_allclose(state.answer, [1800.0, 1.15, 99.0])


def test_update_does_not_modify_its_input() -> None:
    book = book_of(eth_usd(), feed("twap", "twap", 2000.0, twap_window_s=600))
    state = FeedState.initial(book)
    before = [a.copy() for a in (state.answer, state.updated_at_s, state.obs_cum)]
    update_feeds(book, state, prices(1000.0), RATES, 60.0)
    for a, b in zip(before, (state.answer, state.updated_at_s, state.obs_cum), strict=True):
        np.testing.assert_array_equal(a, b)


def test_bad_inputs() -> None:
    book = book_of(eth_usd())
    state = FeedState.initial(book)
    with pytest.raises(ValueError, match="positive"):
        update_feeds(book, state, prices(0.0), RATES, 60.0)
    with pytest.raises(ValueError, match="not after"):
        update_feeds(book, state, prices(1.0), RATES, 0.0)
    with pytest.raises(KeyError, match="BTC"):
        book_of(feed("btc", "market", 1.0, base_asset_id="BTC"))
    with pytest.raises(KeyError, match="nope"):
        book.index(["nope"])


def test_doctests() -> None:
    for module in (oracles.feeds, oracles.rules):
        result = doctest.testmod(module)
        assert result.failed == 0
    assert doctest.testmod(oracles.feeds).attempted > 0


# -- the sample world ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world() -> Any:
    ds = contagion.sample_world(positions=2000)
    ids = ds.table("assets").column("asset_id").to_pylist()
    return ds, ids, FeedBook.from_dataset(ds, ids)


def _usage(ds: Any, protocol: str, symbol: str) -> str:
    assets = ds.df("assets")
    asset_id = assets.loc[assets["symbol"] == symbol, "asset_id"].item()
    usage = ds.df("oracle_usage")
    row = usage[(usage["protocol_id"] == protocol) & (usage["asset_id"] == asset_id)]
    return str(row["feed_id"].item())


def test_world_initial_answers_are_the_dataset_answers(world: Any) -> None:
    ds, _, book = world
    answers = ds.table("oracle_feeds").column("answer").to_numpy()
    np.testing.assert_array_equal(FeedState.initial(book).answer, answers)
    assert book.feed_ids == tuple(ds.table("oracle_feeds").column("feed_id").to_pylist())


def test_world_aave_wsteth_is_rate_times_eth_usd(world: Any) -> None:
    ds, ids, book = world
    i = int(book.index([_usage(ds, "aave-v3-ethereum", "wstETH")])[0])
    assert book.kind[i] == oracles.KIND["composite"]
    src = book.source_indices[
        book.source_indptr[list(book.composite_order).index(i)] : book.source_indptr[
            list(book.composite_order).index(i) + 1
        ]
    ]
    eth = int(book.index([_usage(ds, "aave-v3-ethereum", "WETH")])[0])
    rate = [s for s in src.tolist() if s != eth]
    assert eth in src.tolist() and len(rate) == 1
    assert book.kind[rate[0]] in (oracles.KIND["fixed"], oracles.KIND["exchange-rate"])
    wrappers = ds.df("wrappers").set_index("asset_id")["exchange_rate"]
    assert book.initial[rate[0]] == pytest.approx(wrappers[ids[book.base[i]]], rel=1e-12)
    assert book.initial[i] == pytest.approx(book.initial[rate[0]] * book.initial[eth], rel=1e-8)
    # After a 20% fall of ETH, the adapter is still the product of its sources.
    price = ds.table("assets").column("price_usd").to_numpy().copy()
    price[ids.index(ids[book.base[eth]])] *= 0.8
    state, _ = update_feeds(book, FeedState.initial(book), price, exchange_rates(ds, ids), 60.0)
    assert state.answer[eth] == pytest.approx(0.8 * book.initial[eth])
    assert state.answer[i] == pytest.approx(state.answer[rate[0]] * state.answer[eth], rel=1e-14)


def test_world_is_consistent_with_its_market_prices(world: Any) -> None:
    ds, ids, book = world
    price = ds.table("assets").column("price_usd").to_numpy()
    state, updated = update_feeds(
        book, FeedState.initial(book), price, exchange_rates(ds, ids), 60.0
    )
    # Every feed's rule reproduces the snapshot answer from the snapshot prices (to the
    # rounding of the answers' decimals), so nothing trips a deviation trigger.
    np.testing.assert_allclose(state.answer, book.initial, rtol=1e-6)
    assert not updated[book.kind == oracles.KIND["chainlink"]].any()
    chainlink = book.kind == oracles.KIND["chainlink"]
    np.testing.assert_allclose(market_values(book, price)[chainlink], book.initial[chainlink],
                               rtol=1e-6)  # fmt: skip


def test_world_eth_feeds_after_a_small_and_a_large_move(world: Any) -> None:
    ds, ids, book = world
    eth_feed = int(book.index([_usage(ds, "aave-v3-ethereum", "WETH")])[0])
    assert book.descriptions[eth_feed] == "ETH / USD"
    assert book.heartbeat_s[eth_feed] == 3600 and book.deviation[eth_feed] == 0.005
    eth = int(book.base[eth_feed])
    base = ds.table("assets").column("price_usd").to_numpy()
    rates = exchange_rates(ds, ids)

    def path(move: float, rounds: int) -> list[FeedState]:
        price = base.copy()
        price[eth] *= 1 + move
        state, out = FeedState.initial(book), []
        for k in range(1, rounds + 1):
            state, _ = update_feeds(book, state, price, rates, 60.0 * k)
            out.append(state)
        return out

    small = path(0.004, 60)
    assert all(s.answer[eth_feed] == book.initial[eth_feed] for s in small[:59])
    assert small[59].answer[eth_feed] == pytest.approx(base[eth] * 1.004)
    large = path(-0.2, 120)
    assert large[0].answer[eth_feed] == pytest.approx(base[eth] * 0.8)
    # Maker reads its own delayed ETH price (an OSM; a TWAP in older builds of the world):
    # half an hour in it has not caught up, two hours in it has.
    maker = int(book.index([_usage(ds, "maker-cdp", "WETH")])[0])
    assert book.kind[maker] in (oracles.KIND["delayed"], oracles.KIND["twap"])
    assert large[29].answer[maker] > base[eth] * 0.85
    assert large[119].answer[maker] == pytest.approx(base[eth] * 0.8, rel=1e-9)


def test_world_protocol_prices(world: Any) -> None:
    ds, _, book = world
    usage = ds.table("oracle_usage")
    rows = book.index(usage.column("feed_id").to_pylist())
    seen = protocol_prices(book, FeedState.initial(book), rows)
    assert seen.shape == (usage.num_rows,)
    table = ds.df("oracle_usage")
    assets = ds.df("assets").set_index("asset_id")["symbol"]
    by_key = {
        (p, assets[a]): float(v)
        for p, a, v in zip(table["protocol_id"], table["asset_id"], seen, strict=True)
    }
    # Compound III WETH counts in ETH; everyone else in USD.
    assert by_key[("compound-v3-weth", "WETH")] == 1.0
    assert by_key[("aave-v3-ethereum", "WETH")] == pytest.approx(1816.854996, rel=1e-9)
    assert by_key[("spark-ethereum", "WETH")] == by_key[("aave-v3-ethereum", "WETH")]
