"""Option prices and greeks: Black-Scholes (1973) on spot and Black (1976) on forwards.

All functions are vectorised over numpy arrays (broadcasting), so a whole book of option
series is priced in one call. Conventions:

* ``t`` is time to expiry in years (ACT/365), ``sigma`` the annualised volatility (0.75 = 75%);
* ``vega`` is per 1.00 of volatility (divide by 100 for "per vol point", Deribit's unit);
* ``theta`` is per year (divide by 365 for per calendar day);
* gamma exposure follows the usual dealer convention: GEX = sign · Γ · OI · S² · 0.01, the
  USD of underlying dealers must trade per 1% move (negative: they sell into falls).

References
----------
Black, F. and Scholes, M. (1973). The Pricing of Options and Corporate Liabilities.
Black, F. (1976). The pricing of commodity contracts. Journal of Financial Economics 3.
Hull, J. C. Options, Futures, and Other Derivatives, ch. 15 and 19 (the test vectors).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

__all__ = ["Greeks", "black76", "black_scholes", "gamma_exposure"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Greeks:
    """Price and first/second-order sensitivities of a set of options (arrays)."""

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    """Per 1.00 of volatility."""
    theta: FloatArray
    """Per year."""


def _pdf(x: FloatArray) -> FloatArray:
    return np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)


def black_scholes(
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
    r: ArrayLike = 0.0,
    q: ArrayLike = 0.0,
) -> Greeks:
    """Black-Scholes-Merton price and greeks of European options on a spot asset.

    Parameters
    ----------
    spot, strike : array_like
        Spot price and strike (same currency).
    t : array_like
        Time to expiry in years; expired options (``t <= 0``) are worth their intrinsic value
        and have zero gamma and vega.
    sigma : array_like
        Annualised volatility.
    is_call : array_like of bool
        True for calls, False for puts.
    r, q : array_like
        Continuously compounded risk-free rate and dividend (or staking) yield.

    Returns
    -------
    Greeks

    Examples
    --------
    Hull's example 15.6: S=42, K=40, r=10%, σ=20%, T=0.5.

    >>> g = black_scholes(42.0, 40.0, 0.5, 0.2, [True, False], r=0.1)
    >>> [round(float(p), 4) for p in g.price]
    [4.7594, 0.8086]
    """
    s, k, tt, vol, call, rate, div = np.broadcast_arrays(
        np.asarray(spot, dtype=float),
        np.asarray(strike, dtype=float),
        np.asarray(t, dtype=float),
        np.asarray(sigma, dtype=float),
        np.asarray(is_call, dtype=bool),
        np.asarray(r, dtype=float),
        np.asarray(q, dtype=float),
    )
    live = (tt > 0) & (vol > 0)
    t_safe = np.where(live, tt, 1.0)
    vol_safe = np.where(live, vol, 1.0)
    sqrt_t = np.sqrt(t_safe)
    d1 = (np.log(s / k) + (rate - div + 0.5 * vol_safe**2) * t_safe) / (vol_safe * sqrt_t)
    d2 = d1 - vol_safe * sqrt_t
    disc_q = np.exp(-div * t_safe)
    disc_r = np.exp(-rate * t_safe)
    sign = np.where(call, 1.0, -1.0)
    price = sign * (s * disc_q * ndtr(sign * d1) - k * disc_r * ndtr(sign * d2))
    delta = disc_q * np.where(call, ndtr(d1), ndtr(d1) - 1.0)
    gamma = disc_q * _pdf(d1) / (s * vol_safe * sqrt_t)
    vega = s * disc_q * _pdf(d1) * sqrt_t
    theta = (
        -s * disc_q * _pdf(d1) * vol_safe / (2.0 * sqrt_t)
        - sign * rate * k * disc_r * ndtr(sign * d2)
        + sign * div * s * disc_q * ndtr(sign * d1)
    )
    intrinsic = np.maximum(sign * (s - k), 0.0)
    expired_delta = np.where(sign * (s - k) > 0, sign, 0.0)
    return Greeks(
        price=np.where(live, price, intrinsic),
        delta=np.where(live, delta, expired_delta),
        gamma=np.where(live, gamma, 0.0),
        vega=np.where(live, vega, 0.0),
        theta=np.where(live, theta, 0.0),
    )


def black76(
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
    r: ArrayLike = 0.0,
) -> Greeks:
    """Black (1976) price and greeks of European options on a forward (Deribit's model).

    Greeks are with respect to the forward; with ``r = 0`` (Deribit's convention) delta is
    N(d1) for calls and N(d1) - 1 for puts. This is Black-Scholes with the dividend yield
    equal to the rate, which is how it is computed.

    Examples
    --------
    >>> g = black76(9352.58, 9250.0, 0.0221811, 0.7687, False)
    >>> round(float(g.delta), 3), round(float(g.vega) / 100, 2)
    (-0.439, 5.49)
    """
    return black_scholes(forward, strike, t, sigma, is_call, r=r, q=r)


def gamma_exposure(
    gamma: ArrayLike, open_interest: ArrayLike, spot: ArrayLike, dealer_sign: ArrayLike
) -> FloatArray:
    """Dealer gamma exposure, USD of underlying traded per 1% move: sign · Γ · OI · S² · 0.01.

    Positive GEX: dealers buy dips and sell rallies (damping). Negative GEX: they sell into
    falls and buy into rises (amplifying).
    """
    g, oi, s, sign = np.broadcast_arrays(
        np.asarray(gamma, dtype=float),
        np.asarray(open_interest, dtype=float),
        np.asarray(spot, dtype=float),
        np.asarray(dealer_sign, dtype=float),
    )
    result: FloatArray = sign * g * oi * s * s * 0.01
    return result
