"""Option greeks against published vectors: Hull's textbook examples and Deribit's own greeks."""

from __future__ import annotations

import ast
import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contagion.options import black76, black_scholes, gamma_exposure

DERIBIT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "deribit"
CHAIN = DERIBIT / "btc-options-2020-05-14.csv"
MS_PER_YEAR = 365 * 24 * 3600 * 1000


def test_hull_example_prices() -> None:
    # Hull, Options, Futures, and Other Derivatives, Example 15.6.
    g = black_scholes(42.0, 40.0, 0.5, 0.20, [True, False], r=0.10)
    assert g.price[0] == pytest.approx(4.7594, abs=5e-5)
    assert g.price[1] == pytest.approx(0.8086, abs=5e-5)


def test_hull_example_greeks() -> None:
    # Hull, Examples 19.1, 19.4 and 19.6: S=49, K=50, r=5%, sigma=20%, T=20 weeks.
    g = black_scholes(49.0, 50.0, 20 / 52, 0.20, True, r=0.05)
    assert float(g.delta) == pytest.approx(0.5216, abs=5e-5)
    assert float(g.gamma) == pytest.approx(0.06554, abs=5e-6)
    assert float(g.vega) == pytest.approx(12.105, abs=5e-4)


@pytest.mark.skipif(not CHAIN.exists(), reason="the shared Deribit chain is not beside the clone")
def test_deribit_greeks_for_every_row() -> None:
    with CHAIN.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 310
    fwd = np.array([float(r["underlying_price"]) for r in rows])
    strike = np.array([float(r["strike"]) for r in rows])
    t = np.array(
        [(int(r["expiration_timestamp"]) - int(r["timestamp"])) / MS_PER_YEAR for r in rows]
    )
    iv = np.array([float(r["mark_iv"]) / 100 for r in rows])
    call = np.array([r["option_type"] == "call" for r in rows])
    greeks = [ast.literal_eval(r["greeks"]) for r in rows]
    g = black76(fwd, strike, t, iv, call, r=0.0)
    # Deribit publishes delta to 5 decimals, gamma to 5 decimals, vega per vol point.
    np.testing.assert_allclose(g.delta, [x["delta"] for x in greeks], atol=5e-4)
    np.testing.assert_allclose(g.gamma, [x["gamma"] for x in greeks], atol=5.1e-6)
    np.testing.assert_allclose(g.vega / 100, [x["vega"] for x in greeks], atol=2e-3, rtol=2e-4)
    # Mark prices are quoted in BTC: the USD premium divided by the forward.
    marks = np.array([float(r["mark_price"]) for r in rows])
    np.testing.assert_allclose(g.price / fwd, marks, atol=1.5e-3, rtol=1e-3)


@given(
    s=st.floats(1.0, 1e5),
    k_ratio=st.floats(0.2, 5.0),
    t=st.floats(1e-3, 3.0),
    vol=st.floats(0.05, 3.0),
    r=st.floats(0.0, 0.2),
)
def test_put_call_parity_and_signs(
    s: float, k_ratio: float, t: float, vol: float, r: float
) -> None:
    k = s * k_ratio
    g = black_scholes(s, k, t, vol, [True, False], r=r)
    assert g.price[0] - g.price[1] == pytest.approx(s - k * np.exp(-r * t), rel=1e-9, abs=1e-9 * s)
    assert 0.0 <= g.delta[0] <= 1.0 and -1.0 <= g.delta[1] <= 0.0
    assert g.delta[0] - g.delta[1] == pytest.approx(1.0)
    assert g.gamma[0] == pytest.approx(g.gamma[1]) and g.gamma[0] >= 0.0
    assert g.vega[0] >= 0.0


def test_expired_options_are_intrinsic() -> None:
    g = black_scholes([90.0, 110.0], 100.0, 0.0, 0.5, [True, True])
    np.testing.assert_allclose(g.price, [0.0, 10.0])
    np.testing.assert_allclose(g.delta, [0.0, 1.0])
    np.testing.assert_allclose(g.gamma, [0.0, 0.0])


def test_gamma_exposure_sign_and_scale() -> None:
    # 1 BTC of gamma 1e-4 at S=30,000: 0.01 * 1e-4 * 9e8 = 900 USD per 1% move.
    assert float(gamma_exposure(1e-4, 1.0, 30_000.0, 1)) == pytest.approx(900.0)
    assert float(gamma_exposure(1e-4, 1.0, 30_000.0, -1)) == pytest.approx(-900.0)
