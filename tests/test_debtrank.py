"""DebtRank (Battiston et al. 2012) and the impact measures of NetworkRiskMeasures."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from contagion.debtrank import (
    debtrank,
    debtrank_centrality,
    impact_diffusion,
    impact_fluidity,
    impact_matrix,
    impact_susceptibility,
)

# NetworkRiskMeasures' example, rows exposed to columns (a, b, c):
# a -> b 1; b -> a 10, b -> c 3; c -> a 3, c -> b 2; buffers (2, 5, 2).
W = np.array([[0.0, 1.0, 0.0], [10.0, 0.0, 3.0], [3.0, 2.0, 0.0]])
BUFFERS = np.array([2.0, 5.0, 2.0])


def test_impact_matrix_convention() -> None:
    # Row: the node that defaults; column: the node that loses that share of its buffer.
    expected = [[0.0, 1.0, 1.0], [0.5, 0.0, 1.0], [0.0, 0.6, 0.0]]
    np.testing.assert_allclose(impact_matrix(W, BUFFERS), expected)
    binary = [[0.0, 1.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    np.testing.assert_array_equal(impact_matrix(W, BUFFERS, binary=True), binary)


def test_network_risk_measures_reference_vector() -> None:
    np.testing.assert_allclose(impact_susceptibility(W, BUFFERS), [0.0, 1.0, 1.25], atol=1e-12)
    assert impact_fluidity(W, BUFFERS) == pytest.approx(0.75, abs=1e-12)
    diffusion = impact_diffusion(W, BUFFERS)
    np.testing.assert_allclose(diffusion.start, [1.25, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(diffusion.intermediate, [0.0, 0.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(diffusion.total, [1.25, 1.5, 0.0], atol=1e-12)


def test_weighted_susceptibility_is_paths_times_weight() -> None:
    plain = impact_susceptibility(W, BUFFERS)
    in_degree = impact_matrix(W, BUFFERS, binary=True).sum(axis=0)
    weighted = impact_susceptibility(W, BUFFERS, weights=[1.0, 1.0, 1.0])
    np.testing.assert_allclose(weighted, plain * in_degree, atol=1e-12)
    np.testing.assert_allclose(
        impact_susceptibility(W, BUFFERS, weights=[10.0, 100.0, 30.0]),
        weighted * [10.0, 100.0, 30.0],
    )


def test_debtrank_by_hand_on_the_reference_network() -> None:
    # a defaults: b and c lose their whole buffers.
    assert debtrank(W, BUFFERS, [1, 0, 0]).stress.tolist() == [1.0, 1.0, 1.0]
    # b defaults: a loses 0.5, c 1; a then passes 0.5 on to b and c, already at 1.
    np.testing.assert_allclose(debtrank(W, BUFFERS, [0, 1, 0]).stress, [0.5, 1.0, 1.0])
    # c defaults: b loses 0.6; b passes 0.5 * 0.6 to a; a passes 1 * 0.3 back to b.
    done = debtrank(W, BUFFERS, [0, 0, 1])
    np.testing.assert_allclose(done.stress, [0.3, 0.9, 1.0], atol=1e-12)
    np.testing.assert_allclose(done.additional_stress, [0.3, 0.9, 0.0], atol=1e-12)
    assert done.debtrank == pytest.approx(0.4)
    assert done.rounds == 3
    assert done.additional_defaults == 0
    np.testing.assert_allclose(debtrank_centrality(W, BUFFERS), [2 / 3, 0.5, 0.4], atol=1e-12)


def test_debtrank_weights_are_relative_economic_values() -> None:
    done = debtrank(W, BUFFERS, [0, 0, 1], weights=[10.0, 100.0, 30.0])
    assert done.debtrank == pytest.approx((0.3 * 10 + 0.9 * 100) / 140)


def test_partial_shock() -> None:
    # b at 0.5: a loses 0.5 * 0.5, c loses 1 * 0.5; then a passes 0.25 to b and to c, and c
    # passes 0.6 * 0.5 to b.
    done = debtrank(W, BUFFERS, [0, 0.5, 0])
    np.testing.assert_allclose(done.stress, [0.25, 1.0, 0.75], atol=1e-12)


@pytest.mark.parametrize("k", [1, 3, 8])
@pytest.mark.parametrize("exposure", [0.5, 2.0, 7.0])
def test_star_network(k: int, exposure: float) -> None:
    # k leaves lent ``exposure`` each to a hub; every buffer is 2.
    n = k + 1
    exposures = np.zeros((n, n))
    exposures[1:, 0] = exposure
    buffers = np.full(n, 2.0)
    hit = min(1.0, exposure / 2.0)
    hub = debtrank(exposures, buffers, np.eye(n)[0])
    np.testing.assert_allclose(hub.stress, [1.0] + [hit] * k)
    assert hub.debtrank == pytest.approx(k * hit / n)
    assert hub.additional_defaults == (k if exposure >= 2.0 else 0)
    np.testing.assert_allclose(debtrank_centrality(exposures, buffers), [k * hit / n] + [0.0] * k)
    # Binary impact: a leaf is hit only when its loan alone exhausts its buffer.
    leaves = 1.0 if exposure >= 2.0 else 0.0
    np.testing.assert_allclose(impact_susceptibility(exposures, buffers), [0.0] + [leaves] * k)
    assert impact_fluidity(exposures, buffers) == pytest.approx(leaves * k / n)
    diffusion = impact_diffusion(exposures, buffers)
    np.testing.assert_allclose(diffusion.start, [leaves] + [0.0] * k)
    np.testing.assert_allclose(diffusion.intermediate, np.zeros(n))


def test_no_exposures_no_contagion() -> None:
    zeros = np.zeros((4, 4))
    buffers = np.ones(4)
    done = debtrank(zeros, buffers, [1.0, 0.3, 0.0, 0.0])
    np.testing.assert_array_equal(done.stress, [1.0, 0.3, 0.0, 0.0])
    assert done.debtrank == 0.0
    np.testing.assert_array_equal(debtrank_centrality(zeros, buffers), np.zeros(4))
    np.testing.assert_array_equal(impact_susceptibility(zeros, buffers), np.zeros(4))
    assert impact_fluidity(zeros, buffers) == 0.0
    np.testing.assert_array_equal(impact_diffusion(zeros, buffers).total, np.zeros(4))


def test_each_node_passes_its_distress_on_once() -> None:
    # y's default wipes out x, x's default wipes out z. Hitting x slightly at the start makes
    # it pass on that slight distress and go inactive before y's default reaches it.
    exposures = np.zeros((3, 3))  # nodes y, x, z
    exposures[1, 0] = 10.0  # x lent 10 to y
    exposures[2, 1] = 10.0  # z lent 10 to x
    buffers = np.full(3, 5.0)
    alone = debtrank(exposures, buffers, [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(alone.stress, [1.0, 1.0, 1.0])
    both = debtrank(exposures, buffers, [1.0, 0.01, 0.0])
    np.testing.assert_allclose(both.stress, [1.0, 1.0, 0.01])


def test_zero_buffer_is_wiped_out_by_any_exposure() -> None:
    impact = impact_matrix([[0.0, 0.1], [0.0, 0.0]], [0.0, 1.0])
    assert impact.tolist() == [[0.0, 0.0], [1.0, 0.0]]


@pytest.mark.parametrize(
    ("exposures", "buffers", "shock", "message"),
    [
        ([[1.0, 0.0], [0.0, 0.0]], [1.0, 1.0], [0.0, 0.0], "itself"),
        ([[0.0, -1.0], [0.0, 0.0]], [1.0, 1.0], [0.0, 0.0], "non-negative"),
        ([[0.0, 1.0], [0.0, 0.0]], [1.0, -1.0], [0.0, 0.0], "buffers"),
        ([[0.0, 1.0], [0.0, 0.0]], [1.0, 1.0], [0.0, 1.5], r"\[0, 1\]"),
    ],
)
def test_bad_input(
    exposures: list[list[float]], buffers: list[float], shock: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        debtrank(exposures, buffers, shock)


@st.composite
def networks(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 6))
    exposures = draw(
        arrays(float, (n, n), elements=st.floats(0, 10).map(lambda x: 0.0 if x < 4 else x))
    )
    np.fill_diagonal(exposures, 0.0)
    buffers = draw(arrays(float, n, elements=st.floats(0.1, 20)))
    shock = draw(arrays(float, n, elements=st.floats(0, 1).map(lambda x: 0.0 if x < 0.5 else x)))
    more = draw(arrays(float, n, elements=st.floats(0, 1)))
    return exposures, buffers, shock, more


@settings(max_examples=200, deadline=None)
@given(networks())
def test_debtrank_bounds(network: tuple[np.ndarray, ...]) -> None:
    exposures, buffers, shock, _ = network
    done = debtrank(exposures, buffers, shock)
    assert np.all((done.stress >= shock) & (done.stress <= 1.0))
    assert 0.0 <= done.debtrank <= 1.0
    assert done.rounds <= shock.size
    centrality = debtrank_centrality(exposures, buffers)
    assert np.all((centrality >= 0) & (centrality <= 1))
    for i in range(shock.size):
        alone = debtrank(exposures, buffers, np.eye(shock.size)[i])
        assert centrality[i] == pytest.approx(alone.debtrank, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(networks())
def test_debtrank_monotone_in_the_size_of_the_shock(network: tuple[np.ndarray, ...]) -> None:
    exposures, buffers, shock, more = network
    larger = np.where(shock > 0, np.minimum(1.0, shock + more), 0.0)
    low = debtrank(exposures, buffers, shock)
    high = debtrank(exposures, buffers, larger)
    assert np.all(high.stress >= low.stress - 1e-12)
    # Larger exposures (or thinner buffers) never lower the final stress either.
    riskier = debtrank(exposures * 1.5, buffers, shock)
    assert np.all(riskier.stress >= low.stress - 1e-12)
