"""Perpetual force-closes, insurance fund and auto-deleveraging: hand cases and invariants."""

from __future__ import annotations

import doctest

import numpy as np
import pyarrow.compute as pc
import pytest
from conftest import WETH, build_tiny_dataset
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from contagion import Dataset, SchemaError, perps, sample_world
from contagion.perps import PerpBook, PerpState, initial_perp_state, perp_round

BTC = "0:btc"
MM = 0.004


def hand_book(fund: float = 1e6) -> PerpBook:
    """BTC at 30,000: longs liquidated at 27,000 / 28,500 / 29,500, shorts at 31,000 / 32,000."""
    return PerpBook(
        asset_ids=("BTC",),
        markets=("x/BTC-PERP",),
        market_underlying=[0],
        insurance_fund=[fund],
        market=[0, 0, 0, 0, 0],
        side=[1.0, 1.0, 1.0, -1.0, -1.0],
        liquidation_price=[27e3, 28.5e3, 29.5e3, 31e3, 32e3],
        open_interest=[30.0, 20.0, 10.0, 25.0, 15.0],
        maintenance_margin=[MM] * 5,
    )


@pytest.fixture(scope="module")
def world_dataset() -> Dataset:
    return sample_world(positions=2_000)


@pytest.fixture(scope="module")
def world(world_dataset: Dataset) -> tuple[PerpBook, np.ndarray]:
    underlyings = world_dataset.df("perp_markets")["underlying_asset_id"].unique().tolist()
    assert BTC in underlyings
    book = PerpBook.from_dataset(world_dataset, underlyings)
    assets = world_dataset.df("assets").set_index("asset_id")
    return book, assets.loc[underlyings, "price_usd"].to_numpy()


@settings(max_examples=50, deadline=None)
@given(price=st.floats(29_500.0, 31_000.0, exclude_min=True, exclude_max=True))
def test_no_liquidation_between_the_nearest_buckets(price: float) -> None:
    book = hand_book()
    state, done = perp_round(book, initial_perp_state(book), [price])
    assert not done.closed_oi.any() and done.flow[0] == 0.0
    np.testing.assert_array_equal(state.open_interest, book.open_interest)
    assert state.insurance_fund[0] == 1e6


def test_hand_long_liquidation_pays_the_shortfall() -> None:
    book = hand_book()
    state, done = perp_round(book, initial_perp_state(book), [28_000.0], surplus_to_fund=False)
    # 28,500 and 29,500 longs are crossed; bankrupt at liq·(1 - 0.004).
    np.testing.assert_array_equal(done.closed_oi, [0.0, 20.0, 10.0, 0.0, 0.0])
    assert done.flow[0] == -30.0
    shortfall = 20 * (28_500 * (1 - MM) - 28_000) + 10 * (29_500 * (1 - MM) - 28_000)
    assert done.shortfall_usd[0] == pytest.approx(shortfall)
    assert done.fund_draw_usd[0] == pytest.approx(shortfall)
    assert state.insurance_fund[0] == pytest.approx(1e6 - shortfall)
    assert done.adl_usd[0] == 0.0 and not done.adl_oi.any()
    np.testing.assert_array_equal(state.open_interest, [30.0, 0.0, 0.0, 25.0, 15.0])


def test_closes_before_bankruptcy_feed_the_fund() -> None:
    book = hand_book()
    # 29,450 is below the 29,500 liquidation price but above its bankruptcy price 29,382.
    state, done = perp_round(book, initial_perp_state(book), [29_450.0])
    assert done.shortfall_usd[0] == 0.0
    assert done.fund_income_usd[0] == pytest.approx(10 * (29_450 - 29_500 * (1 - MM)))
    assert state.insurance_fund[0] == pytest.approx(1e6 + done.fund_income_usd[0])
    _, kept = perp_round(book, initial_perp_state(book), [29_450.0], surplus_to_fund=False)
    assert kept.fund_income_usd[0] == 0.0


def test_short_squeeze_buys_and_adl_cuts_longs_pro_rata() -> None:
    book = hand_book(fund=10_000.0)
    state, done = perp_round(book, initial_perp_state(book), [33_000.0], surplus_to_fund=False)
    assert done.flow[0] == 40.0  # both short buckets bought back
    shortfall = 25 * (33_000 - 31_000 * (1 + MM)) + 15 * (33_000 - 32_000 * (1 + MM))
    assert done.shortfall_usd[0] == pytest.approx(shortfall)
    assert done.fund_draw_usd[0] == 10_000.0 and state.insurance_fund[0] == 0.0
    uncovered = shortfall - 10_000.0
    assert done.adl_usd[0] == pytest.approx(uncovered)
    cut = uncovered / 33_000 / 60.0  # of the 60 long units, pro rata
    np.testing.assert_allclose(done.adl_oi, [30 * cut, 20 * cut, 10 * cut, 0.0, 0.0])
    np.testing.assert_allclose(
        state.open_interest, [30 * (1 - cut), 20 * (1 - cut), 10 * (1 - cut), 0, 0]
    )
    assert state.adl_usd[0] == pytest.approx(uncovered) and done.bad_debt_usd[0] == 0.0


def test_adl_beyond_the_opposite_side_is_bad_debt() -> None:
    book = PerpBook(("BTC",), ("x/BTC-PERP",), [0], [0.0], [0, 0], [1.0, -1.0], [30e3, 40e3], [100.0, 0.01], [MM, MM])  # fmt: skip
    state, done = perp_round(book, initial_perp_state(book), [20e3])
    shortfall = 100 * (30e3 * (1 - MM) - 20e3)
    assert done.adl_usd[0] == pytest.approx(0.01 * 20e3)
    assert done.bad_debt_usd[0] == pytest.approx(shortfall - 0.01 * 20e3)
    np.testing.assert_array_equal(state.open_interest, [0.0, 0.0])
    assert state.bad_debt_usd[0] == done.bad_debt_usd[0]


def test_ten_percent_drop_on_the_world(world: tuple[PerpBook, np.ndarray]) -> None:
    book, spot = world
    state, done = perp_round(book, initial_perp_state(book), spot * 0.9)
    p0 = spot[book.underlying]
    expected = (book.side > 0) & (book.liquidation_price >= 0.9 * p0)
    np.testing.assert_array_equal(done.closed_oi > 0, expected)
    np.testing.assert_allclose(done.closed_oi[expected], book.open_interest[expected])
    for u in range(book.n_assets):
        mine = expected & (book.underlying == u)
        assert done.flow[u] == pytest.approx(-book.open_interest[mine].sum())
    change = state.insurance_fund - book.insurance_fund
    np.testing.assert_allclose(change, done.fund_income_usd - done.shortfall_usd)
    assert np.all(done.adl_usd == 0)  # 400 M and 200 M funds cover a 10% gap


def test_default_world_books_load(
    world_dataset: Dataset, world: tuple[PerpBook, np.ndarray]
) -> None:
    book, _ = world
    frame = world_dataset.df("perp_markets")
    funds = frame.groupby(frame["protocol_id"] + "/" + frame["market"])["insurance_fund_usd"]
    assert book.markets == tuple(funds.groups) and len(book.markets) >= 2
    np.testing.assert_array_equal(book.insurance_fund, funds.first().to_numpy())
    assert np.all(book.insurance_fund > 0)  # each market's fund, taken once, not summed
    assert book.open_interest.shape == (len(frame),) and np.all(book.open_interest > 0)
    btc = book.market_underlying == book.asset_ids.index(BTC)
    assert btc.sum() == 1
    in_btc = book.market == np.flatnonzero(btc)[0]
    longs = book.side > 0
    assert book.open_interest[longs & in_btc].sum() == pytest.approx(
        frame.loc[
            (frame["underlying_asset_id"] == BTC) & (frame["side"] == "long"), "open_interest"
        ].sum()
    )
    assert np.all(book.liquidation_price[longs & in_btc] < world[1][book.asset_ids.index(BTC)])
    only_btc = PerpBook.from_dataset(world_dataset, [BTC])
    assert only_btc.markets == tuple(np.array(book.markets)[btc])


def test_fund_repeated_per_bucket_must_agree() -> None:
    tables = build_tiny_dataset().tables
    perps = tables["perp_markets"]
    fund = pc.if_else(
        pc.equal(perps.column("side"), "short"), 5.0, perps.column("insurance_fund_usd")
    )
    tables["perp_markets"] = perps.set_column(
        perps.schema.get_field_index("insurance_fund_usd"), "insurance_fund_usd", fund
    )
    dataset = Dataset(tables)
    with pytest.raises(SchemaError, match="insurance_fund_usd"):
        PerpBook.from_dataset(dataset, [WETH])
    assert PerpBook.from_dataset(dataset, ["other"]).markets == ()  # no bucket on "other"


Spec = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]
books = st.integers(1, 12).flatmap(
    lambda n: st.tuples(
        hnp.arrays(float, n, elements=st.sampled_from([1.0, -1.0])),
        hnp.arrays(float, n, elements=st.floats(0.3, 0.999)),
        hnp.arrays(float, n, elements=st.floats(0.0, 50.0)),
        hnp.arrays(float, n, elements=st.floats(0.0, 0.05)),
        st.floats(0.0, 2e5),
    )
)


def random_book(spec: Spec) -> PerpBook:
    """A book at price 1,000: longs liquidated below it, shorts above, as after any round."""
    side, depth, oi, mm, fund = spec
    liq = 1e3 * np.where(side > 0, depth, 2.0 - depth)
    return PerpBook(
        ("A",), ("x/A-PERP",), [0], [fund], np.zeros(side.shape[0], int), side, liq, oi, mm
    )


@settings(max_examples=80, deadline=None)
@given(spec=books, path=st.lists(st.floats(0.2, 2.0), min_size=1, max_size=6))
def test_invariants_over_price_paths(spec: Spec, path: list[float]) -> None:
    book = random_book(spec)
    state: PerpState = initial_perp_state(book)
    for move in path:
        fund_before = state.insurance_fund.copy()
        oi_before = state.open_interest.copy()
        state, done = perp_round(book, state, [1e3 * move])
        assert np.all(state.open_interest >= 0)
        assert np.all(state.open_interest <= oi_before)
        assert np.all(state.insurance_fund >= 0)
        np.testing.assert_allclose(
            done.shortfall_usd, done.fund_draw_usd + done.adl_usd + done.bad_debt_usd, rtol=1e-9
        )
        np.testing.assert_allclose(
            state.insurance_fund, fund_before + done.fund_income_usd - done.fund_draw_usd
        )
        if done.adl_usd[0] > 0 or done.bad_debt_usd[0] > 0:
            assert state.insurance_fund[0] == 0.0
        # A close sells longs and buys shorts, one for one with the closed open interest.
        assert done.flow[0] == pytest.approx(-(book.side * done.closed_oi).sum())


@settings(max_examples=80, deadline=None)
@given(spec=books, a=st.floats(0.0, 0.8), b=st.floats(0.0, 0.8))
def test_larger_drop_closes_at_least_as_much(spec: Spec, a: float, b: float) -> None:
    book = random_book(spec)
    small, large = sorted((a, b))
    start = initial_perp_state(book)
    _, mild = perp_round(book, start, [1e3 * (1 - small)])
    _, deep = perp_round(book, start, [1e3 * (1 - large)])
    assert deep.closed_oi.sum() >= mild.closed_oi.sum()
    assert np.all(deep.closed_oi >= mild.closed_oi)
    assert deep.flow[0] <= mild.flow[0] + 1e-9 * max(1.0, abs(mild.flow[0]))


def test_doctests() -> None:
    result = doctest.testmod(perps)
    assert result.attempted > 0 and result.failed == 0
