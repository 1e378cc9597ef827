"""More option series on the real chain's volatility smile (``build_sample_world(option_series=)``).

The benchmark asks for more series than Deribit's 2020-05-14 chain has (310 per underlying).
New series are placed on the same smile, deterministically:

* expiries: the chain's 7 expiries and the midpoint (in time) of every consecutive pair;
* strikes: per expiry, a grid uniform in log-moneyness ``k = ln(K/F)`` over the chain's range
  of strikes at that expiry (for a midpoint expiry, the average of its neighbours' ranges),
  rounded to whole USD; grid points are taken in golden-ratio order (each prefix covers the
  range evenly), expiries in turn, one call and one put per strike, skipping names the chain
  already has;
* implied volatility: at a chain expiry, the chain's smile (mean of the call and put marks at
  a strike) linearly interpolated in ``k``, flat beyond its ends; between expiries, total
  variance ``sigma**2 * T`` interpolated linearly in ``T`` at fixed ``k`` (the usual
  calendar interpolation, free of calendar arbitrage when the chain's total variance grows
  with ``T``);
* forward: the chain's forward at a chain expiry, linear in ``T`` between them;
* mark price: Black-76 with ``r = 0`` (Deribit's model) at that volatility;
* open interest: that of the chain's series of the same type nearest in ``k`` at the nearest
  chain expiry; the caller then scales every series so the chain's total open interest is
  unchanged.

References
----------
Black, F. (1976). The pricing of commodity contracts.
Gatheral, J. (2006). The Volatility Surface, ch. 3 (interpolation of total variance).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from contagion.options import black76
from indexers.sample_world.common import SNAPSHOT_TIME

__all__ = ["Namer", "extend_chain"]

Namer = Callable[[pd.Series, np.ndarray, pd.Series], list[str]]
"""Builds instrument names from expiries, strikes and option types."""

_YEAR_S = 365.0 * 86_400.0
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def _years(expiry: pd.Series) -> np.ndarray:
    return np.asarray((expiry - SNAPSHOT_TIME).dt.total_seconds(), dtype=float) / _YEAR_S


def extend_chain(chain: pd.DataFrame, n_new: int, names: set[str], namer: Namer) -> pd.DataFrame:
    """``n_new`` further series on the smile of ``chain``.

    Parameters
    ----------
    chain
        One underlying's series: ``expiry`` (UTC), ``strike``, ``option_type``,
        ``open_interest``, ``mark_iv`` (fraction), ``underlying_price`` (the forward).
    n_new
        How many series to add (>= 0).
    names
        Instrument names already taken; new names avoid them.
    namer
        ``namer(expiry, strike, option_type) -> list[str]`` building instrument names.

    Returns
    -------
    DataFrame
        Columns ``series_id``, ``expiry``, ``strike``, ``option_type``, ``open_interest``,
        ``mark_iv``, ``mark_price``, ``underlying_price``.
    """
    t_row = _years(chain["expiry"])
    expiries = np.unique(t_row)
    smiles = []
    for t in expiries:
        rows = chain[t_row == t]
        forward = float(rows["underlying_price"].median())
        by_strike = rows.groupby("strike")["mark_iv"].mean().sort_index()
        k = np.log(by_strike.index.to_numpy(dtype=float) / forward)
        smiles.append((forward, k, by_strike.to_numpy(dtype=float)))
    when = {t: e for t, e in zip(t_row, chain["expiry"], strict=True)}

    def variance(i: int, k: np.ndarray) -> np.ndarray:
        _, ks, iv = smiles[i]
        result: np.ndarray = np.interp(k, ks, iv) ** 2 * expiries[i]
        return result

    # Expiries: the chain's and the midpoints between them (index into the chain's, weight).
    slots = [(i, i, 0.0) for i in range(len(expiries))]
    slots += [(i, i + 1, 0.5) for i in range(len(expiries) - 1)]
    per_slot = max(4, 2 * math.ceil(n_new / (2 * len(slots)))) if n_new else 0
    while True:
        rows_out = _candidates(chain, slots, expiries, smiles, when, per_slot, names, namer)
        if len(rows_out) >= n_new or per_slot > 1_000_000:
            break
        per_slot *= 2
    if len(rows_out) < n_new:
        raise ValueError(f"the smile has room for only {len(rows_out)} more series")
    out = rows_out.iloc[:n_new].reset_index(drop=True)

    t = _years(out["expiry"])
    k = np.log(out["strike"].to_numpy() / out["underlying_price"].to_numpy())
    lo, hi, x = out["lo"].to_numpy(), out["hi"].to_numpy(), out["x"].to_numpy()
    w = np.empty(len(out))
    for i, j in {(int(a), int(b)) for a, b in zip(lo, hi, strict=True)}:
        sel = (lo == i) & (hi == j)
        w[sel] = (1 - x[sel]) * variance(i, k[sel]) + x[sel] * variance(j, k[sel])
    iv = np.sqrt(w / t)
    is_call = (out["option_type"] == "call").to_numpy()
    out["mark_iv"] = iv
    out["mark_price"] = black76(out["underlying_price"], out["strike"], t, iv, is_call).price

    # Open interest of the nearest chain series of the same type (nearest expiry, then k).
    nearest = np.where(x < 0.5, lo, hi)
    chain_k = np.log(chain["strike"].to_numpy() / chain["underlying_price"].to_numpy())
    chain_slot = np.searchsorted(expiries, t_row)
    chain_call = (chain["option_type"] == "call").to_numpy()
    chain_oi = chain["open_interest"].to_numpy(dtype=float)
    oi = np.zeros(len(out))
    for slot in np.unique(nearest).tolist():
        for call in (True, False):
            mine = (nearest == slot) & (is_call == call)
            theirs = np.flatnonzero((chain_slot == slot) & (chain_call == call))
            if not mine.any() or not theirs.size:
                continue
            theirs = theirs[np.argsort(chain_k[theirs], kind="stable")]
            ks = chain_k[theirs]
            right = np.clip(np.searchsorted(ks, k[mine]), 1, max(len(ks) - 1, 1))
            left = right - 1
            closer = np.abs(k[mine] - ks[np.minimum(left, len(ks) - 1)]) <= np.abs(
                ks[np.minimum(right, len(ks) - 1)] - k[mine]
            )
            pick = np.where(closer, left, right).clip(0, len(ks) - 1)
            oi[mine] = chain_oi[theirs[pick]]
    out["open_interest"] = oi
    return out[
        [
            "series_id",
            "expiry",
            "strike",
            "option_type",
            "open_interest",
            "mark_iv",
            "mark_price",
            "underlying_price",
        ]
    ]


def _candidates(
    chain: pd.DataFrame,
    slots: list[tuple[int, int, float]],
    expiries: np.ndarray,
    smiles: list[tuple[float, np.ndarray, np.ndarray]],
    when: dict[float, pd.Timestamp],
    per_slot: int,
    names: set[str],
    namer: Namer,
) -> pd.DataFrame:
    """Every candidate (strike, expiry) pair as a call and a put row, in taking order."""
    parts = []
    rank = np.argsort((np.arange(per_slot) * _GOLDEN) % 1.0, kind="stable")
    order = np.empty(per_slot, dtype=np.int64)
    order[rank] = np.arange(per_slot)
    for s, (i, j, x) in enumerate(slots):
        t = (1 - x) * expiries[i] + x * expiries[j]
        forward = (1 - x) * smiles[i][0] + x * smiles[j][0]
        k_lo = (1 - x) * smiles[i][1][0] + x * smiles[j][1][0]
        k_hi = (1 - x) * smiles[i][1][-1] + x * smiles[j][1][-1]
        strike = np.rint(forward * np.exp(np.linspace(k_lo, k_hi, per_slot)))
        expiry = when[expiries[i]] + pd.to_timedelta(round((t - expiries[i]) * _YEAR_S), "s")
        for kind in ("call", "put"):
            parts.append(
                pd.DataFrame(
                    {
                        "expiry": expiry,
                        "strike": strike,
                        "option_type": kind,
                        "underlying_price": forward,
                        "lo": i,
                        "hi": j,
                        "x": x,
                        "slot": s,
                        "order": order,
                    }
                )
            )
    frame = pd.concat(parts, ignore_index=True)
    frame["series_id"] = namer(frame["expiry"], frame["strike"].to_numpy(), frame["option_type"])
    frame = frame[~frame["series_id"].isin(names)]
    frame = frame.drop_duplicates("series_id")
    # A strike's call and put are taken together; strikes in golden-ratio order per expiry,
    # expiries in turn.
    frame = frame.sort_values(["order", "slot", "strike", "option_type"], kind="stable")
    return frame.reset_index(drop=True)
