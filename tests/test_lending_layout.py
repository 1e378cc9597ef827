"""Loan groups and the book's vault layout: each shortcut of the lending round against the
plain way."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from lending_checks import small_world

from contagion.lending.cdp_step import bark
from contagion.lending.engine import LendingParams, LendingState
from contagion.lending.layout import LoanGroup
from contagion.world import CDP


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
    vault_collateral = book.vault_positions[2]
    vaults = np.flatnonzero((book.loan_family == CDP) & (vault_collateral >= 0))
    other = np.flatnonzero(vault_collateral < 0)[:1]
    assert len(vaults) > 10 and len(other) == 1
    params = LendingParams()
    start = LendingState.initial(book, len(world.assets))
    # Grouped: one loan that is not a vault sends every loan through the grouped sums.
    grouped = start.copy()
    bark(book, grouped, np.sort(np.concatenate([vaults, other])), params)
    split = start.copy()
    bark(book, split, vaults, params)
    bark(book, split, other, params)
    for name in LendingState.__dataclass_fields__:
        assert np.array_equal(getattr(grouped, name), getattr(split, name), equal_nan=True), name
    assert (split.auction_tab[vaults] > 0).all()
    assert (split.debt[book.positions_of(vaults)] == 0).all()


def test_market_positions_as_the_book_finds_them() -> None:
    _, world = small_world(600, 2)
    book = world.lending
    keys, _ = book.market_position
    n_assets = int(book.asset.max()) + 1
    assert book.market_width == n_assets
    protocol, asset = keys // n_assets, keys % n_assets
    found = book.position_of_market(protocol, asset)
    # Each market's position, as a scan of the book finds it.
    market = book.loan_protocol[book.loan] * n_assets + book.asset
    expected = [int(np.flatnonzero(market == k)[0]) for k in keys]
    assert found.tolist() == expected
    assert (book.asset[found] == asset).all()


def test_vault_positions_are_the_two_positions_of_vault_shaped_loans() -> None:
    _, world = small_world(600, 3)
    book = world.lending
    first, second, collateral = book.vault_positions
    for loan in range(book.n_loans):
        pos = list(book.positions_of(np.array([loan])))
        used = [p for p in pos if book.used[p]]
        if len(pos) == 2 and len(used) == 1:
            assert (first[loan], second[loan], collateral[loan]) == (pos[0], pos[1], used[0])
        else:
            assert first[loan] == second[loan] == collateral[loan] == -1
