"""External markets: the square-root law of market impact.

Each root asset may have an external market (centralised exchanges, venues outside the
dataset) described by its reference price ``ref`` (exogenous: scenarios move it) and its depth
``D`` = USD of sells that move the price 2 %. The relative impact of a cumulative net sale of
``Q`` USD since the start is

    I(Q) = 0.02 · sign(Q) · sqrt(|Q| / D),        price = ref · exp(-I).

The square root is the empirical law of metaorder impact (Almgren et al. 2005; Tóth et al.
2011; Bouchaud et al. 2018, ch. 12). The price is ``ref·exp(-I)`` rather than ``ref·(1 - I)``:
it stays positive however large the sale (the linear form crosses zero at Q = 2,500·D), a buy
and a sell of the same size move the log price by the same amount, and it is linear in the
log prices the clearing solver works in. The two agree to first order; at the calibration
point Q = D the move is 1.98 % instead of 2 %.

Amounts: walking the curve from impact L₀ to L₁ (L = log(ref/price)) trades

    X(L₁) - X(L₀),   X(L) = ∫₀^L (dQ/dl) / price(l) dl = 2D / (ref·0.02²) · sign(L) · g(L),

root units, with g(L) = (L - 1)·eᴸ + 1, because each dollar of Q is sold at the price reached
at that point of the curve; Q stays in USD (the USD the sellers received), so a move of ``ref``
between rounds does not rewrite past impact. Resilience (decay of Q between rounds, the
transient impact of Bouchaud et al. 2004) is applied by the caller before a round.

References
----------
Almgren, R., Thum, C., Hauptmann, E., Li, H. (2005). Direct estimation of equity market
impact. Risk 18(7).
Tóth, B. et al. (2011). Anomalous price impact and the critical nature of liquidity in
financial markets. Physical Review X 1, 021006.
Bouchaud, J.-P., Bonart, J., Donier, J., Gould, M. (2018). Trades, Quotes and Prices.
Cambridge University Press, ch. 12-13.
Bouchaud, J.-P., Gefen, Y., Potters, M., Wyart, M. (2004). Fluctuations and response in
financial markets: the subtle nature of 'random' price changes. Quantitative Finance 4(2).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "IMPACT_AT_DEPTH",
    "ImpactCurves",
    "impact",
    "impact_for_units",
    "sold_for_impact",
    "units_to_impact",
    "walk_value",
]

IMPACT_AT_DEPTH = 0.02
"""Relative impact of selling ``depth_2pct_usd`` (the definition of the depth column)."""

_SERIES_BELOW = 1e-3


def impact(sold_usd: ArrayLike, depth_usd: ArrayLike) -> NDArray[np.float64]:
    """Relative impact I = 0.02·sign(Q)·sqrt(|Q|/D) of a cumulative sale of Q USD.

    Roots without an external market (D = 0 or NaN) have none (0).

    >>> [round(float(i), 6) for i in impact([1e6, -1e6, 4e6], 1e6)]
    [0.02, -0.02, 0.04]
    """
    q, d = np.broadcast_arrays(np.asarray(sold_usd, float), np.asarray(depth_usd, float))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = IMPACT_AT_DEPTH * np.sign(q) * np.sqrt(np.abs(q) / d)
    result: NDArray[np.float64] = np.where((d > 0) & np.isfinite(out), out, 0.0)
    return result


def sold_for_impact(log_move: ArrayLike, depth_usd: ArrayLike) -> NDArray[np.float64]:
    """Inverse of :func:`impact`: the cumulative USD sold that moves the log price by L.

    >>> sold_for_impact([0.02, -0.04], 1e6).round(6).tolist()
    [1000000.0, -4000000.0]
    """
    lm, d = np.broadcast_arrays(np.asarray(log_move, float), np.asarray(depth_usd, float))
    result: NDArray[np.float64] = np.sign(lm) * d * (lm / IMPACT_AT_DEPTH) ** 2
    return result


def units_to_impact(
    log_move: ArrayLike, ref_price: ArrayLike, depth_usd: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Root units sold along the curve from no impact to impact L, and d(units)/dL.

    Parameters
    ----------
    log_move
        L = log(ref / price): positive below the reference (the market has bought).
    ref_price
        Reference price, USD per root unit.
    depth_usd
        USD of sells that move the price 2 % (0 or NaN: no external market, nothing traded).

    Returns
    -------
    units, slope
        X(L) and dX/dL = 2D·|L|·eᴸ / (ref·0.02²), i.e. (dQ/dL) / price.

    Examples
    --------
    Selling the depth's worth of USD moves the log price by 0.02; it takes units worth a
    little more than that at the reference price, since each was sold below it:

    >>> units, _ = units_to_impact(0.02, 2000.0, 1e6)
    >>> round(float(units) * 2000.0)
    1013434
    """
    lm, ref, d = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (log_move, ref_price, depth_usd))
    )
    return _units(lm, _coefficient(ref, d))


def _coefficient(ref: NDArray[np.float64], depth: NDArray[np.float64]) -> NDArray[np.float64]:
    """c = 2D / (ref·0.02²) where there is a market, else 0."""
    has = depth > 0
    result: NDArray[np.float64] = np.where(
        has, 2.0 * np.where(has, depth, 0.0) / (ref * IMPACT_AT_DEPTH**2), 0.0
    )
    return result


def _units(
    lm: NDArray[np.float64], coeff: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    # g(L) = L·eᴸ - expm1(L) ≈ L²/2 + L³/3 + L⁴/8 + L⁵/30: the closed form cancels badly
    # for small L, where the series is exact to double precision.
    small = np.abs(lm) < _SERIES_BELOW
    series = lm * lm * (0.5 + lm * (1.0 / 3.0 + lm * (0.125 + lm / 30.0)))
    closed = lm * np.exp(lm) - np.expm1(lm)
    g = np.where(small, series, closed)
    units: NDArray[np.float64] = coeff * np.sign(lm) * g
    slope: NDArray[np.float64] = coeff * np.abs(lm) * np.exp(lm)
    return units, slope


def impact_for_units(
    units: ArrayLike, ref_price: ArrayLike, depth_usd: ArrayLike
) -> NDArray[np.float64]:
    """Inverse of :func:`units_to_impact`: the impact L at which ``units`` have been sold.

    Newton's method from the constant-price estimate Q ≈ units·ref, which lies on the far
    side of the root (X is convex above zero, concave below), so the iterates approach it
    monotonically. Roots without an external market get 0.

    >>> units, _ = units_to_impact([0.05, -0.3], 2000.0, 1e6)
    >>> impact_for_units(units, 2000.0, 1e6).round(12).tolist()
    [0.05, -0.3]
    """
    u, ref, d = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (units, ref_price, depth_usd))
    )
    has = d > 0
    depth = np.where(has, d, 1.0)
    target = np.where(has, u, 0.0)
    lm = impact(target * ref, depth)
    for _ in range(64):
        x, slope = units_to_impact(lm, ref, depth)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(slope > 0, (x - target) / slope, 0.0)
        lm = lm - step
        if np.all(np.abs(step) <= 1e-12 * np.abs(lm) + 1e-300):
            break
    return lm


def walk_value(
    log_move: ArrayLike, start: ArrayLike, ref_price: ArrayLike, depth_usd: ArrayLike
) -> NDArray[np.float64]:
    """ψ: the external market's part of the clearing potential for a walk from ``start`` to L.

    ψ(L) = ∫ from L₀ to L of (X(l) - X(L₀))·ref·e⁻ˡ dl, so that dψ/dlog(price) is minus the
    USD value of the units the walk absorbed: the market's counterpart of an AMM's
    arbitrage profit, convex in the price. With ∫₀ᴸ X(l)·e⁻ˡ dl = c·sign(L)·h(L),
    h(L) = L²/2 - L + 1 - e⁻ᴸ and c = 2D/(ref·0.02²), it has a closed form.

    >>> float(walk_value(0.0, 0.0, 2000.0, 1e6))
    0.0
    >>> bool(walk_value(0.03, 0.0, 2000.0, 1e6) > 0 < walk_value(-0.03, 0.0, 2000.0, 1e6))
    True
    """
    lm, l0, ref, d = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (log_move, start, ref_price, depth_usd))
    )
    return ImpactCurves(ref, d, l0).walk(lm)


def _signed_h(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """sign(L)·h(L), h(L) = L²/2 - L + 1 - e⁻ᴸ."""
    # Series below 1e-3 (L³/6 - L⁴/24 + L⁵/120 - L⁶/720), where the closed form cancels.
    series = x**3 * (1.0 / 6.0 - x * (1.0 / 24.0 - x * (1.0 / 120.0 - x / 720.0)))
    closed = 0.5 * x * x - x - np.expm1(-x)
    return np.asarray(np.sign(x) * np.where(np.abs(x) < _SERIES_BELOW, series, closed))


class ImpactCurves:
    """The external markets of one round, walked from the impact ``start`` they begin it at:
    :func:`units_to_impact` and :func:`walk_value` with what depends only on the round
    computed once (a round's solve evaluates them many times).

    >>> curves = ImpactCurves(np.array([2000.0]), np.array([1e6]), np.array([0.01]))
    >>> units, _ = curves.units(np.array([0.03]))
    >>> bool(units[0] == units_to_impact(0.03, 2000.0, 1e6)[0])
    True
    >>> bool(curves.walk(np.array([0.03]))[0] == walk_value(0.03, 0.01, 2000.0, 1e6))
    True
    """

    def __init__(
        self, ref_price: NDArray[np.float64], depth_usd: NDArray[np.float64], start: ArrayLike
    ) -> None:
        self.ref = ref_price
        self.has = depth_usd > 0
        self.coeff = _coefficient(ref_price, depth_usd)
        self.start = np.asarray(start, dtype=float)
        self.units0 = _units(self.start, self.coeff)[0]
        self._h0 = _signed_h(self.start)
        self._e0 = np.exp(-self.start)

    def units(
        self, log_move: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Units sold from no impact to L and d(units)/dL (:func:`units_to_impact`)."""
        return _units(log_move, self.coeff)

    def walk(self, log_move: NDArray[np.float64]) -> NDArray[np.float64]:
        """ψ of the walk from the start to L (:func:`walk_value`)."""
        h = _signed_h(log_move)
        value = self.ref * (
            self.coeff * (h - self._h0) - self.units0 * (self._e0 - np.exp(-log_move))
        )
        result: NDArray[np.float64] = np.where(self.has, value, 0.0)
        return result
