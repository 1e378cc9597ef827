"""Loan groups and book layouts: each shortcut of the lending round against the plain way."""

from __future__ import annotations

import gc

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from lending_checks import small_world

from contagion import sample_world
from contagion.lending.engine import LendingParams, LendingState, _bark
from contagion.lending.layout import _LAYOUTS, BookLayout, LoanGroup
from contagion.world import CDP, compile_world


def _scan_largest(group: LoanGroup, values: np.ndarray) -> list[int]:
    """Per loan, the first position with the largest positive value, one loan at a time."""
    out = []
    for i in range(len(group.loans)):
        rows = range(group.starts[i], group.starts[i] + group.size[i])
        if any(np.isnan(values[j]) for j in rows):
            out.append(-1)
            continue
        best, chosen = 0.0, -1
        for j in rows:
            if values[j] > best:
                best, chosen = values[j], int(group.pos[j])
        out.append(chosen)
    return out


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 3),
    data=st.data(),
)
def test_largest_is_the_first_largest_positive_value(seed: int, data: st.DataObject) -> None:
    _, world = small_world(400, seed)
    book = world.lending
    loans = np.unique(
        np.array(data.draw(st.lists(st.integers(0, book.n_loans - 1), min_size=1, max_size=60)))
    )
    group = LoanGroup.of(book, loans)
    # Few distinct values so that ties are common; NaN and non-positive values included.
    pool = st.sampled_from([-1.0, 0.0, 1.0, 2.0, 2.0, 5.0, np.nan, -np.inf, np.inf])
    values = np.array(data.draw(st.lists(pool, min_size=len(group.pos), max_size=len(group.pos))))
    assert group.largest(values).tolist() == _scan_largest(group, values)
    assert np.array_equal(group.pos, book.positions_of(loans))


def test_vault_bark_equals_the_grouped_bark() -> None:
    _, world = small_world(600, 1)
    book = world.lending
    layout = BookLayout.of(book)
    vaults = np.flatnonzero((book.loan_family == CDP) & (layout.vault_collateral >= 0))
    other = np.flatnonzero(layout.vault_collateral < 0)[:1]
    assert len(vaults) > 10 and len(other) == 1
    params = LendingParams()
    start = LendingState.initial(book, len(world.assets))
    # Grouped: one loan that is not a vault sends every loan through the grouped sums.
    grouped = start.copy()
    _bark(book, grouped, np.sort(np.concatenate([vaults, other])), params)
    split = start.copy()
    _bark(book, split, vaults, params)
    _bark(book, split, other, params)
    for name in LendingState.__dataclass_fields__:
        assert np.array_equal(getattr(grouped, name), getattr(split, name)), name
    assert (split.auction_tab[vaults] > 0).all()
    assert (split.debt[book.positions_of(vaults)] == 0).all()


def test_market_positions_as_the_book_finds_them() -> None:
    _, world = small_world(600, 2)
    book = world.lending
    keys, _ = book.market_position
    n_assets = int(book.asset.max()) + 1
    protocol, asset = keys // n_assets, keys % n_assets
    expected = book.position_of_market(protocol, asset)
    assert np.array_equal(BookLayout.of(book).position_of_market(book, protocol, asset), expected)
    assert (book.asset[expected] == asset).all()


def test_layout_is_dropped_with_its_book() -> None:
    book = compile_world(sample_world(positions=200, seed=5)).lending
    key = id(book)
    BookLayout.of(book)
    assert key in _LAYOUTS
    del book
    gc.collect()
    assert key not in _LAYOUTS
