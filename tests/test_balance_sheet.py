"""Eisenberg–Noe clearing with senior debt, receipt write-downs and their network clearing."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from contagion.balance_sheet import (
    _has_closed_group,
    _least_floor_solution,
    clear_receipt_network,
    eisenberg_noe,
    receipt_writedown,
)
from contagion.exceptions import ConvergenceError

CYCLE = [[0.0, 4.0, 0.0], [0.0, 0.0, 3.0], [2.0, 0.0, 0.0]]
CYCLE_ASSETS = np.array([20.0, 20.0, 10.0])
CYCLE_SENIOR = [17.0, 18.0, 8.0]


def test_eisenberg_noe_reference_vector() -> None:
    cleared = eisenberg_noe(CYCLE, CYCLE_ASSETS, CYCLE_SENIOR)
    np.testing.assert_allclose(cleared.payments, [4.0, 3.0, 2.0], rtol=0, atol=1e-12)
    assert not cleared.defaulted.any()
    np.testing.assert_allclose(cleared.senior_paid, CYCLE_SENIOR, rtol=0, atol=1e-12)
    # Equity: 20 + 2 - 17 - 4, 20 + 4 - 18 - 3, 10 + 3 - 8 - 2.
    np.testing.assert_allclose(cleared.equity, [1.0, 3.0, 3.0], rtol=0, atol=1e-12)


def test_eisenberg_noe_reference_vector_after_ten_percent_shock() -> None:
    cleared = eisenberg_noe(CYCLE, CYCLE_ASSETS * 0.9, CYCLE_SENIOR)
    np.testing.assert_allclose(cleared.payments, [3.0, 3.0, 2.0], rtol=0, atol=1e-12)
    assert cleared.defaulted.tolist() == [True, False, False]
    np.testing.assert_allclose(cleared.equity, [0.0, 0.0, 2.0], rtol=0, atol=1e-12)
    assert cleared.iterations == 1


def test_default_cascades_down_a_chain() -> None:
    # A owes B 10, B owes C 10; A has 5: B receives 5 and can pass on only 5.
    liabilities = [[0, 10, 0], [0, 0, 10], [0, 0, 0]]
    cleared = eisenberg_noe(liabilities, [5, 0, 0])
    np.testing.assert_allclose(cleared.payments, [5.0, 5.0, 0.0], rtol=0, atol=1e-12)
    assert cleared.defaulted.tolist() == [True, True, False]
    np.testing.assert_allclose(cleared.equity, [0.0, 0.0, 5.0])
    assert cleared.iterations == 2


def test_senior_debt_is_paid_first() -> None:
    # A has 6 and owes 4 to outsiders first: B gets 2 of the 10 it is owed.
    cleared = eisenberg_noe([[0, 10], [0, 0]], [6, 0], [4, 0])
    np.testing.assert_allclose(cleared.payments, [2.0, 0.0])
    np.testing.assert_allclose(cleared.senior_paid, [4.0, 0.0])
    # Senior debt larger than the assets: nothing reaches the network.
    wiped = eisenberg_noe([[0, 10], [0, 0]], [3, 0], [4, 0])
    np.testing.assert_allclose(wiped.payments, [0.0, 0.0])
    np.testing.assert_allclose(wiped.senior_paid, [3.0, 0.0])
    assert wiped.defaulted.tolist() == [True, False]


def test_cycle_without_external_assets_pays_in_full() -> None:
    # Every p0 = p1 in [0, 5] clears; the greatest clearing vector is full payment.
    cleared = eisenberg_noe([[0, 5], [5, 0]], [0, 0])
    np.testing.assert_allclose(cleared.payments, [5.0, 5.0])
    assert not cleared.defaulted.any()


def test_closed_pair_short_of_senior_debt_pays_nothing() -> None:
    cleared = eisenberg_noe([[0, 1e9], [1e9, 0]], [0, 0], [1, 1])
    np.testing.assert_allclose(cleared.payments, [0.0, 0.0])
    assert cleared.defaulted.all()


def test_running_out_of_steps_raises_with_the_upper_bound() -> None:
    with pytest.raises(ConvergenceError) as caught:
        eisenberg_noe([[0, 10, 0], [0, 0, 10], [0, 0, 0]], [5, 0, 0], max_iter=1)
    np.testing.assert_allclose(caught.value.result.payments, [5.0, 10.0, 0.0])  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("liabilities", "assets", "message"),
    [
        ([[1, 0], [0, 0]], [1, 1], "owe itself"),
        ([[0, -1], [0, 0]], [1, 1], "non-negative"),
        ([[0, 1, 0], [0, 0, 1]], [1, 1], "square"),
        ([[0, 1], [0, 0]], [1], "one entry per node"),
    ],
)
def test_eisenberg_noe_rejects_bad_input(
    liabilities: list[list[float]], assets: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        eisenberg_noe(liabilities, assets)


def _fixed_points(liabilities: np.ndarray, base: np.ndarray) -> list[np.ndarray]:
    """Every clearing vector found by trying each node as full / zero / partial payer."""
    owed = liabilities.sum(axis=1)
    share = np.divide(
        liabilities, owed[:, None], out=np.zeros_like(liabilities), where=owed[:, None] > 0
    ).T
    n = owed.size
    found = []
    for kinds in itertools.product(range(3), repeat=n):
        kind = np.array(kinds)
        p = np.where(kind == 0, owed, 0.0)
        part = kind == 2
        if part.any():
            block = np.eye(part.sum()) - share[np.ix_(part, part)]
            if abs(np.linalg.det(block)) < 1e-9:
                continue
            p[part] = np.linalg.solve(block, base[part] + share[np.ix_(part, ~part)] @ p[~part])
        if np.allclose(np.clip(base + share @ p, 0.0, owed), p, atol=1e-9):
            found.append(p)
    return found


amounts = st.floats(0.0, 10.0, allow_nan=False).map(lambda x: 0.0 if x < 3.0 else x)


@st.composite
def networks(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 4))
    liabilities = draw(arrays(float, (n, n), elements=amounts))
    np.fill_diagonal(liabilities, 0.0)
    assets = draw(arrays(float, n, elements=st.floats(0.0, 10.0)))
    senior = draw(arrays(float, n, elements=st.floats(0.0, 10.0)))
    return liabilities, assets, senior


@settings(max_examples=150, deadline=None)
@given(networks())
def test_clearing_vector_is_the_greatest_fixed_point(
    network: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    liabilities, assets, senior = network
    cleared = eisenberg_noe(liabilities, assets, senior)
    p, owed = cleared.payments, liabilities.sum(axis=1)
    assert np.all(p >= 0) and np.all(p <= owed)
    share = np.divide(
        liabilities, owed[:, None], out=np.zeros_like(liabilities), where=owed[:, None] > 0
    ).T
    np.testing.assert_allclose(np.clip(assets - senior + share @ p, 0, owed), p, atol=1e-12)
    for other in _fixed_points(liabilities, assets - senior):
        assert np.all(p >= other - 1e-9)
    # Eisenberg-Noe has no deadweight loss: external assets end as senior payments or equity.
    total = cleared.senior_paid.sum() + cleared.equity.sum()
    assert total == pytest.approx(assets.sum(), abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(networks(), arrays(float, 4, elements=st.floats(0.0, 5.0)))
def test_more_external_assets_never_lower_payments(
    network: tuple[np.ndarray, np.ndarray, np.ndarray], extra: np.ndarray
) -> None:
    liabilities, assets, senior = network
    before = eisenberg_noe(liabilities, assets, senior).payments
    after = eisenberg_noe(liabilities, assets + extra[: assets.size], senior).payments
    assert np.all(after >= before - 1e-9)


def test_receipt_writedown_is_pro_rata() -> None:
    multiplier = receipt_writedown([0.0, 25.0, 100.0, 300.0, 0.0, 2.0], [100.0] * 4 + [0.0] * 2)
    assert multiplier.tolist() == [1.0, 0.75, 0.0, 0.0, 1.0, 0.0]
    with pytest.raises(ValueError):
        receipt_writedown([-1.0], [10.0])


@given(st.floats(0, 1e12), st.floats(0, 1e12))
def test_receipt_writedown_bounds(bad: float, deposits: float) -> None:
    m = float(receipt_writedown(bad, deposits))
    assert 0.0 <= m <= 1.0
    if deposits > 0:
        assert m == pytest.approx(max(0.0, 1 - bad / deposits))


def test_receipt_chain_passes_the_loss_on() -> None:
    # Spark holds 20 M of Aave's receipts against its own 50 M; Aave loses 10% of 100 M.
    cleared = clear_receipt_network([[0, 0], [20e6, 0]], [100e6, 50e6], [10e6, 0])
    np.testing.assert_allclose(cleared.multiplier, [0.9, 0.96], rtol=0, atol=1e-12)
    np.testing.assert_allclose(cleared.receipt_loss_usd, [0.0, 2e6])
    np.testing.assert_allclose(cleared.loss_usd, [10e6, 2e6])
    assert cleared.converged


def test_receipt_cycle_by_hand() -> None:
    # w_A = (10 + 50 w_B) / 100, w_B = 50 w_A / 100  =>  w_A = 0.1 / 0.75, w_B = w_A / 2.
    cleared = clear_receipt_network([[0, 50], [50, 0]], [100, 100], [10, 0])
    w_a = 0.1 / 0.75
    np.testing.assert_allclose(cleared.multiplier, [1 - w_a, 1 - w_a / 2], rtol=0, atol=1e-12)


def test_receipt_wipe_out_and_no_loss() -> None:
    wiped = clear_receipt_network([[0, 0], [30, 0]], [100, 60], [150, 0])
    np.testing.assert_allclose(wiped.multiplier, [0.0, 0.5])
    clean = clear_receipt_network([[0, 30], [30, 0]], [100, 60], [0, 0])
    np.testing.assert_array_equal(clean.multiplier, [1.0, 1.0])
    assert clean.iterations == 1


def test_receipt_holdings_cannot_exceed_deposits() -> None:
    with pytest.raises(ValueError, match="more of a protocol's receipts"):
        clear_receipt_network([[0, 0], [120, 0]], [100, 50], [0, 0])


@st.composite
def receipt_networks(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 5))
    deposits = draw(arrays(float, n, elements=st.floats(1.0, 100.0)))
    split = draw(arrays(float, (n, n), elements=st.floats(0.0, 1.0)))
    np.fill_diagonal(split, 0.0)
    # Scale each column so protocols hold at most 90% of a protocol's receipts.
    held = split / np.maximum(split.sum(axis=0), 1.0) * 0.9 * deposits[None, :]
    losses = draw(arrays(float, n, elements=st.floats(0.0, 150.0)))
    return held, deposits, losses


@settings(max_examples=150, deadline=None)
@given(receipt_networks(), st.floats(0.0, 50.0))
def test_receipt_clearing_is_a_fixed_point_and_monotone(
    network: tuple[np.ndarray, np.ndarray, np.ndarray], more: float
) -> None:
    held, deposits, losses = network
    cleared = clear_receipt_network(held, deposits, losses)
    m = cleared.multiplier
    assert cleared.converged
    assert np.all((m >= 0) & (m <= 1))
    again = receipt_writedown(losses + held @ (1 - m), deposits)
    np.testing.assert_allclose(again, m, atol=1e-12)
    worse = clear_receipt_network(held, deposits, losses + more)
    assert np.all(worse.multiplier <= m + 1e-12)


def test_closed_groups_are_detected() -> None:
    assert _has_closed_group(np.array([[0.0, 1.0], [1.0, 0.0]]))
    assert not _has_closed_group(np.array([[0.0, 0.5], [1.0, 0.0]]))
    assert not _has_closed_group(np.zeros((0, 0)))


def test_non_unique_floor_problem_is_refused() -> None:
    # q0 = max(0, 1 + q1), q1 = max(0, q0 - 1): every (1 + t, t) solves it.
    assert (
        _least_floor_solution(np.array([1.0, -1.0]), np.array([[0, 1.0], [1.0, 0]]), 1e-12) is None
    )
    solved = _least_floor_solution(np.array([1.0, -2.0]), np.array([[0, 0.5], [1.0, 0]]), 1e-12)
    assert solved is not None
    np.testing.assert_allclose(solved, [1.0, 0.0])
