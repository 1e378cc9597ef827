"""Option dealers' delta hedging: the change of their hedge is flow in the underlying.

Dealers hold ``dealer_sign · OI`` options of every listed series and keep the book
delta-neutral with the underlying: their hedge is ``H = -Σ sign · OI · Δ`` (underlying units),
with Δ from Black (1976) at ``r = 0`` and the forward taken as the spot, as Deribit computes
its greeks. When spot and implied volatility move, H changes; the change is what dealers buy
(positive) or sell in the market that round.

* Gamma: ``GEX = Σ sign · Γ · OI · S² · 0.01`` USD per 1% move. To first order a move of
  ``m`` percent makes dealers trade ``-GEX · m / S`` units: with positive GEX they buy dips
  (damping), with negative GEX they sell into falls (amplifying).
* Vega feedback: implied volatility rises as the underlying falls (the leverage effect),
  ``iv_response`` vol points per 1% move, optionally on down moves only, floored at
  ``iv_floor``; a scenario's vol spike adds points. Higher IV moves every delta towards that
  of an at-the-money option (vanna), which shifts the hedge too.
* Expiry: Deribit options settle in cash; an expired series leaves the book, its hedge is
  unwound.
* Options-AMM buffer (a mitigation): up to ``options_amm_buffer_usd`` of hedge flow per
  round is taken off-market by a venue on the other side of dealers' hedge trades.

References
----------
Black, F. (1976). The pricing of commodity contracts. Journal of Financial Economics 3.
Deribit Knowledge Base, "Inverse Options": European, cash-settled; IV on the forward.
SqueezeMetrics (2017). Gamma Exposure (GEX) white paper: dealers short puts, long calls.
Black, F. (1976). Studies of stock price volatility changes (the leverage effect).
Christie, A. (1982). The stochastic behavior of common stock variances. JFE 10.
tastytrade, "Comparing movements in SPX and VIX": about -1 VIX point per 1% SPX move.
CoinDesk (2023-04-04), "Bitcoin volatility index's correlation with price flips positive".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq

from contagion.options import black76, gamma_exposure

if TYPE_CHECKING:
    from contagion.dataset import Dataset

__all__ = [
    "DealerParams",
    "DealerRound",
    "DealerState",
    "OptionBook",
    "dealer_round",
    "gamma_flip",
    "gex_profile",
    "initial_dealer_state",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
SignConvention = Literal["dataset", "short", "long"]

SECONDS_PER_YEAR = 365 * 24 * 3600  # ACT/365, Deribit's year for time to expiry
_CONVENTIONS = ("dataset", "short", "long")
_PROFILE_CELLS = 1 << 20  # grid points × series priced at once by gex_profile
_BOOK_DTYPES = [("spot", float), ("underlying", np.int64), ("strike", float)]
_BOOK_DTYPES += [("expiry_years", float), ("is_call", bool), ("open_interest", float)]
_BOOK_DTYPES += [("mark_iv", float), ("dealer_sign", float), ("venue", np.int64)]


@dataclass(frozen=True)
class DealerParams:
    """How dealers and implied volatility behave.

    Attributes
    ----------
    iv_response
        Vol points IV rises per 1% fall (and falls per 1% rise unless ``down_only``). The
        default 1.0 is the equity rule: the VIX moves about -1 point per 1% S&P 500 move
        (tastytrade's study; the leverage effect of Black 1976, Christie 1982). In points,
        not relative terms, it is mild for crypto, whose IVs are 2-3 times equity ones.
    down_only
        Only falls raise IV (default): since early 2023 bitcoin's IV has risen with rallies
        (CoinDesk, 2023-04-04), so rallies are not taken to lower it.
    iv_floor
        Lowest implied volatility, as a fraction (0.05 = 5%).
    dealer_sign
        ``"dataset"`` (the ``dealer_sign`` column: dealers short puts, long calls in the
        sample world), ``"short"`` (dealers short every series) or ``"long"``.
    options_amm_buffer_usd
        Hedge flow (USD, all assets together) absorbed off-market per round.
    """

    iv_response: float = 1.0
    down_only: bool = True
    iv_floor: float = 0.05
    dealer_sign: SignConvention = "dataset"
    options_amm_buffer_usd: float = 0.0

    def __post_init__(self) -> None:
        if self.dealer_sign not in _CONVENTIONS:
            raise ValueError(f"dealer_sign must be one of {_CONVENTIONS}, got {self.dealer_sign!r}")
        for name in ("iv_response", "iv_floor", "options_amm_buffer_usd"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be finite and non-negative, got {value!r}")


@dataclass(frozen=True)
class OptionBook:
    """Listed option series as arrays (one entry per series), indexed into ``asset_ids``."""

    asset_ids: tuple[str, ...]
    spot: FloatArray
    """Reference price per asset at the snapshot (``assets.price_usd``; NaN if unknown)."""
    underlying: IntArray
    strike: FloatArray
    expiry_years: FloatArray
    """Time to expiry at the snapshot, years (ACT/365)."""
    is_call: BoolArray
    open_interest: FloatArray
    """Underlying units."""
    mark_iv: FloatArray
    dealer_sign: FloatArray
    """+1 where dealers are long the open interest, -1 where short."""
    venue: IntArray
    venues: tuple[str, ...] = ()
    series_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = np.size(self.strike)
        for name, dtype in _BOOK_DTYPES:
            value = np.atleast_1d(np.asarray(getattr(self, name), dtype))
            if value.shape != ((len(self.asset_ids),) if name == "spot" else (n,)):
                raise ValueError(
                    f"{name} must have one entry per {'asset' if name == 'spot' else 'series'}"
                )
            object.__setattr__(self, name, value)
        if n and not 0 <= self.underlying.min() <= self.underlying.max() < len(self.asset_ids):
            raise ValueError("underlying indices must point into asset_ids")

    @property
    def n_series(self) -> int:
        return int(self.strike.shape[0])

    @property
    def n_assets(self) -> int:
        return len(self.asset_ids)

    @classmethod
    def from_dataset(cls, dataset: Dataset, asset_ids: list[str]) -> OptionBook:
        """The ``option_series`` whose underlying is in ``asset_ids``, as arrays.

        Time to expiry runs from the snapshot, the latest ``option_series.timestamp``.

        Examples
        --------
        >>> from contagion import sample_world
        >>> book = OptionBook.from_dataset(sample_world(positions=2_000), ["0:btc"])
        >>> book.n_series, book.venues
        (310, ('deribit',))
        """
        index = pd.Index(asset_ids)
        if not index.is_unique:
            raise ValueError("asset_ids must be unique")
        table = dataset.table("option_series")
        position = index.get_indexer(table.column("underlying_asset_id").to_numpy(False))
        table = table.filter(pa.array(position >= 0))
        position = position[position >= 0]
        snapshot = pc.max(table.column("timestamp").cast(pa.int64())).as_py()
        if snapshot is None and table.num_rows:
            raise ValueError("option_series has no timestamp to measure time to expiry from")
        expiry_s = table.column("expiry").cast(pa.int64()).to_numpy(False)
        assets = dataset.table("assets")
        price_at = pd.Index(assets.column("asset_id").to_numpy(False)).get_indexer(asset_ids)
        prices = assets.column("price_usd").to_numpy(False)
        venues, venue = np.unique(table.column("protocol_id").to_numpy(False), return_inverse=True)
        return cls(
            asset_ids=tuple(asset_ids),
            spot=np.where(price_at >= 0, prices[price_at], np.nan),
            underlying=position,
            strike=table.column("strike").to_numpy(False),
            expiry_years=(expiry_s - (snapshot or 0)) / SECONDS_PER_YEAR,
            is_call=table.column("option_type").to_numpy(False) == "call",
            open_interest=table.column("open_interest").to_numpy(False),
            mark_iv=table.column("mark_iv").to_numpy(False),
            dealer_sign=table.column("dealer_sign").to_numpy(False),
            venue=venue,
            venues=tuple(str(v) for v in venues),
            series_ids=tuple(table.column("series_id").to_pylist()),
        )


@dataclass(frozen=True)
class DealerState:
    """Dealers' state between rounds."""

    iv: FloatArray
    """Implied volatility per series (fraction)."""
    hedge: FloatArray
    """Underlying units held as hedge per asset."""
    spot: FloatArray
    """Prices per asset the hedge was last set at."""
    elapsed: float
    """Years since the snapshot."""


@dataclass(frozen=True)
class DealerRound:
    """What dealers did in one round (per asset)."""

    hedge_flow: FloatArray
    """Underlying units traded in the market (positive: bought), after the buffer."""
    absorbed_flow: FloatArray
    """Hedge trades taken off-market by the options-AMM buffer (units, same sign rule)."""
    gex: FloatArray
    """Gamma exposure after the round, USD per 1% move."""
    net_delta: FloatArray
    """Delta of the dealers' options, underlying units; the hedge is its negative."""
    vega: FloatArray
    """Vega of the dealers' options, USD per vol point."""


def _signs(book: OptionBook, convention: SignConvention) -> FloatArray:
    if convention not in _CONVENTIONS:
        raise ValueError(f"dealer_sign must be one of {_CONVENTIONS}, got {convention!r}")
    fixed = -1.0 if convention == "short" else 1.0
    return book.dealer_sign if convention == "dataset" else np.full(book.n_series, fixed)


def _per_asset(book: OptionBook, values: FloatArray) -> FloatArray:
    return np.asarray(
        np.bincount(book.underlying, weights=values, minlength=book.n_assets), dtype=np.float64
    )


def _asset_vector(
    values: ArrayLike | None, book: OptionBook, name: str, default: float = np.nan
) -> FloatArray:
    if values is None:
        return np.full(book.n_assets, default)
    array = np.asarray(values, dtype=float)
    if array.shape != (book.n_assets,):
        raise ValueError(f"{name} must have one entry per asset ({book.n_assets})")
    return array


def _greeks(
    book: OptionBook, spot: FloatArray, iv: FloatArray, elapsed: float, signs: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-series dealer delta, gex and vega (expired series hold nothing)."""
    s = spot[book.underlying]
    if not np.all(np.isfinite(s) & (s > 0)):
        raise ValueError("every underlying of the book needs a positive finite price")
    t = book.expiry_years - elapsed
    live = t > 0
    g = black76(s, book.strike, np.where(live, t, 0.0), iv, book.is_call, r=0.0)
    held = np.where(live, signs * book.open_interest, 0.0)
    gex = gamma_exposure(g.gamma, book.open_interest, s, np.where(live, signs, 0.0))
    return held * g.delta, gex, held * g.vega / 100.0


def initial_dealer_state(
    book: OptionBook, spot: ArrayLike | None = None, params: DealerParams | None = None
) -> DealerState:
    """The delta-neutral state at the snapshot (``spot`` defaults to the book's prices)."""
    params = params or DealerParams()
    prices = book.spot if spot is None else _asset_vector(spot, book, "spot")
    iv = np.maximum(book.mark_iv, params.iv_floor)
    delta, _, _ = _greeks(book, prices, iv, 0.0, _signs(book, params.dealer_sign))
    return DealerState(iv=iv, hedge=-_per_asset(book, delta), spot=prices.copy(), elapsed=0.0)


def dealer_round(
    book: OptionBook,
    state: DealerState,
    spot: ArrayLike,
    dt_years: float,
    params: DealerParams | None = None,
    *,
    vol_spike: ArrayLike | None = None,
    vol_multiplier: ArrayLike | None = None,
) -> tuple[DealerState, DealerRound]:
    """Re-hedge after spot moves from ``state.spot`` to ``spot`` and ``dt_years`` pass.

    Parameters
    ----------
    book
        The option book.
    state
        State after the previous round (start from :func:`initial_dealer_state`).
    spot
        Prices per asset this round.
    dt_years
        Time since the previous round, years.
    params
        Dealer behaviour; the defaults of :class:`DealerParams` when None.
    vol_spike, vol_multiplier
        Per asset, vol points added to and a factor on the implied volatility of its series
        this round (a scenario's volatility spike): ``iv · multiplier + points / 100``.

    Returns
    -------
    (DealerState, DealerRound)
        The new state and the round's flows and exposures.

    Examples
    --------
    Dealers long 100 at-the-money calls (positive gamma) buy when the price falls 1%:

    >>> book = OptionBook(("ETH",), [2000.0], [0], [2000.0], [30 / 365], [True],
    ...                   [100.0], [0.5], [1.0], [0])
    >>> state = initial_dealer_state(book, params=DealerParams(iv_response=0.0))
    >>> _, done = dealer_round(book, state, [1980.0], 0.0, DealerParams(iv_response=0.0))
    >>> round(float(done.hedge_flow[0]), 2)
    2.79
    """
    params = params or DealerParams()
    if not np.isfinite(dt_years) or dt_years < 0:
        raise ValueError(f"dt_years must be finite and non-negative, got {dt_years!r}")
    prices = _asset_vector(spot, book, "spot")
    spike = _asset_vector(vol_spike, book, "vol_spike", 0.0)
    factor = _asset_vector(vol_multiplier, book, "vol_multiplier", 1.0)
    move_pct = 100.0 * (prices[book.underlying] / state.spot[book.underlying] - 1.0)
    falls = np.minimum(move_pct, 0.0) if params.down_only else move_pct
    iv_points = -params.iv_response * falls + spike[book.underlying]
    iv = np.maximum(state.iv * factor[book.underlying] + iv_points / 100.0, params.iv_floor)
    elapsed = state.elapsed + dt_years
    delta, gex, vega = _greeks(book, prices, iv, elapsed, _signs(book, params.dealer_sign))
    hedge = -_per_asset(book, delta)
    change = hedge - state.hedge
    # The buffer is one pool for all assets, shared pro rata to each asset's USD flow.
    traded_usd = np.abs(change) * np.where(np.isfinite(prices), prices, 0.0)
    total = float(traded_usd.sum())
    share = min(1.0, params.options_amm_buffer_usd / total) if total > 0 else 0.0
    absorbed = change * share
    done = DealerRound(
        hedge_flow=change - absorbed,
        absorbed_flow=absorbed,
        gex=_per_asset(book, gex),
        net_delta=-hedge,
        vega=_per_asset(book, vega),
    )
    return DealerState(iv=iv, hedge=hedge, spot=prices.copy(), elapsed=elapsed), done


def _underlying_index(book: OptionBook, underlying: int | str) -> int:
    if isinstance(underlying, str):
        if underlying not in book.asset_ids:
            raise KeyError(f"asset {underlying!r} is not in the book's asset_ids")
        return book.asset_ids.index(underlying)
    if not 0 <= underlying < book.n_assets:
        raise IndexError(f"asset index {underlying} out of range")
    return int(underlying)


def gex_profile(
    book: OptionBook,
    underlying: int | str,
    spot_grid: ArrayLike,
    iv: ArrayLike | None = None,
    *,
    elapsed_years: float = 0.0,
    dealer_sign: SignConvention = "dataset",
) -> FloatArray:
    """Dealer gamma exposure (USD per 1% move) of one underlying at each price of a grid.

    ``iv`` is per series (``state.iv``); the marks when None. Implied volatility is held
    fixed across the grid (sticky strike).

    Examples
    --------
    Dealers short puts below a long call: negative GEX low, positive high.

    >>> book = OptionBook(("BTC",), [30e3], [0, 0], [25e3, 35e3], [0.1, 0.1],
    ...                   [False, True], [1e3, 1e3], [0.5, 0.5], [-1.0, 1.0], [0, 0])
    >>> [bool(x > 0) for x in gex_profile(book, "BTC", [22e3, 38e3])]
    [False, True]
    """
    u = _underlying_index(book, underlying)
    grid = np.atleast_1d(np.asarray(spot_grid, dtype=float))
    vols = book.mark_iv if iv is None else np.asarray(iv, dtype=float)
    mine = book.underlying == u
    t = book.expiry_years[mine] - elapsed_years
    live = t > 0
    strike, call = book.strike[mine][live], book.is_call[mine][live]
    oi, vol, t = book.open_interest[mine][live], vols[mine][live], t[live]
    sign = _signs(book, dealer_sign)[mine][live]
    out = np.zeros(grid.shape[0])
    # Blocks of grid rows keep the (rows × series) temporaries to a few megabytes.
    rows = max(1, _PROFILE_CELLS // max(1, strike.shape[0]))
    for start in range(0, grid.shape[0], rows):
        s = grid[start : start + rows, None]
        gamma = black76(s, strike, t, vol, call, r=0.0).gamma
        out[start : start + rows] = gamma_exposure(gamma, oi, s, sign).sum(axis=1)
    return out


def gamma_flip(
    book: OptionBook,
    underlying: int | str,
    *,
    spot: float | None = None,
    iv: ArrayLike | None = None,
    elapsed_years: float = 0.0,
    dealer_sign: SignConvention = "dataset",
    bounds: tuple[float, float] = (0.2, 5.0),
    points: int = 801,
) -> float | None:
    """Price where the underlying's dealer GEX changes sign, nearest to ``spot``; None if none.

    GEX is scanned on ``points`` log-spaced prices between ``bounds`` times ``spot`` (the
    book's price by default), then the crossing is solved by Brent's method. Points with
    |GEX| under 1e-9 of its peak are skipped: in the far tails gamma underflows.

    Examples
    --------
    >>> book = OptionBook(("BTC",), [30e3], [0, 0], [25e3, 35e3], [0.1, 0.1],
    ...                   [False, True], [1e3, 1e3], [0.5, 0.5], [-1.0, 1.0], [0, 0])
    >>> round(gamma_flip(book, "BTC"))
    29213
    """
    u = _underlying_index(book, underlying)
    centre = float(book.spot[u]) if spot is None else float(spot)
    if not np.isfinite(centre) or centre <= 0:
        raise ValueError("gamma_flip needs a positive reference price for the underlying")

    def profile(prices: ArrayLike) -> FloatArray:
        return gex_profile(
            book, u, prices, iv, elapsed_years=elapsed_years, dealer_sign=dealer_sign
        )

    grid = centre * np.geomspace(bounds[0], bounds[1], points)
    gex = profile(grid)
    keep = np.abs(gex) > 1e-9 * np.abs(gex).max(initial=0.0)
    x, y = grid[keep], gex[keep]
    change = np.flatnonzero(np.sign(y[:-1]) != np.sign(y[1:]))
    if change.size == 0:
        return None
    mid = np.sqrt(x[change] * x[change + 1])
    i = change[np.argmin(np.abs(np.log(mid / centre)))]
    return float(brentq(lambda p: float(profile([p])[0]), x[i], x[i + 1], xtol=1e-9 * centre))
