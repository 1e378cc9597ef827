"""The rules by which oracle feeds follow the market, round by round, vectorised over feeds.

Every price a protocol sees comes from a feed of ``oracle_feeds``. Time runs in discrete rounds
(``round_seconds``, 60 s by default); :func:`update_feeds` is called once per round with the
round's market prices and applies each feed's rule:

* ``chainlink``: the answer becomes the market value when it has moved by at least the
  deviation threshold from the last answer, or when the heartbeat has elapsed since the last
  update (Chainlink Data Feeds: "deviation threshold" and "heartbeat" trigger parameters).
  Granularity: a trigger that happens inside a round lands at the end of that round, so a
  heartbeat update is up to one round late and a deviation update is read at round ends only.
* ``market``: the market value, always.
* ``twap``: the geometric mean of the market value over ``twap_window_s``, as Uniswap v3's
  oracle returns it (arithmetic mean of the tick accumulator = geometric mean of prices). The
  market value passed at time ``t`` is taken to hold over the round that ends at ``t``; before
  the snapshot the value is taken as the snapshot answer. Uniswap's whole-tick rounding
  (1 bp) is not reproduced.
* ``delayed`` (Maker's oracle security module, OSM): every hop of ``delay_s`` seconds a keeper
  pokes the OSM, which publishes the value it read at the previous poke and reads a new one.
  Hops are counted from the last poke (the snapshot, unless ``FeedState.initial`` is given
  the feeds' ages).
* ``fixed``: the snapshot answer, forever.
* ``exchange-rate``: a wrapper's redemption rate, ``exchange_rate[base]``.
* ``composite``: the product of its sources' answers after they update (Aave's wstETH adapter
  is the wstETH/stETH rate x ETH/USD); composites of composites are evaluated level by level.

Market value = price of the base asset / price of the quote asset (1 for ``'USD'``). Answers
are floats; the feed's ``decimals`` are kept for reporting, not used to round.

Scenario overrides (per feed, for the current round) replace the rule: ``frozen`` and
``stale`` hold the answer (no new round is published; the labels differ only in reports),
``manipulated`` publishes the rule's answer x ``factor`` or a given ``value``. Overrides apply
level by level, so a composite reads its sources' overridden answers. When an override ends,
each rule resumes from the answer the feed has (a Chainlink feed keeps a manipulated answer
until a trigger fires; a held one fires its heartbeat at once if it fell due meanwhile).

References
----------
Chainlink, Data Feeds documentation ("Decentralized Data Model": the deviation threshold and
heartbeat trigger parameters of an aggregator).
Adams, H. et al. (2021). Uniswap v3 Core, section 5 (Oracle: tick accumulator, geometric mean).
smartcontractkit/libocr, median reporting plugin: ``Deviates`` (inclusive threshold test).
MakerDAO, Oracle Security Module (OSM) documentation: ``hop``, ``poke``, ``peek``/``peep``.
BGD Labs, cl-synchronicity-price-adapter (Aave's composite price adapters).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from contagion.oracles.feeds import (
    _CHAINLINK,
    _DELAYED,
    _FIXED,
    _MARKET,
    _RATE,
    _TWAP,
    FeedBook,
)

__all__ = [
    "OVERRIDE_MODES",
    "FeedOverrides",
    "FeedState",
    "market_values",
    "next_publication_s",
    "protocol_prices",
    "update_feeds",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

OVERRIDE_MODES = ("none", "frozen", "stale", "manipulated")
"""Override modes in the order of their integer codes (``FeedOverrides.mode``)."""
_FROZEN, _STALE, _MANIPULATED = 1, 2, 3


@dataclass(frozen=True, eq=False)
class FeedOverrides:
    """Scenario overrides of one round, per feed.

    Attributes
    ----------
    mode
        Code in :data:`OVERRIDE_MODES` (0 = no override).
    factor, value
        For ``manipulated``: multiply the rule's answer by ``factor``, or publish ``value``
        where it is not NaN.
    """

    mode: NDArray[np.int8]
    factor: FloatArray
    value: FloatArray

    @classmethod
    def none(cls, n_feeds: int) -> FeedOverrides:
        """No override on any of ``n_feeds`` feeds."""
        return cls(np.zeros(n_feeds, np.int8), np.ones(n_feeds), np.full(n_feeds, np.nan))


@dataclass(frozen=True, eq=False)
class FeedState:
    """Answers at time ``now_s`` and the history the TWAP and OSM rules need.

    Attributes
    ----------
    now_s
        Time of the last update, seconds since the snapshot.
    answer, updated_at_s
        Per feed: current answer and time of the last published update (for OSMs, the hop
        boundary of the last poke).
    pending
        OSM's queued value (``nxt``), published at the next poke; NaN for other kinds.
    obs_time_s, obs_cum
        TWAP accumulator: times of the observations and, per TWAP feed (columns in
        ``FeedBook.twap_feeds`` order), the cumulative log market value at those times.
    """

    now_s: float
    answer: FloatArray
    updated_at_s: FloatArray
    pending: FloatArray
    obs_time_s: FloatArray
    obs_cum: FloatArray

    @classmethod
    def initial(
        cls, book: FeedBook, *, now_s: float = 0.0, age_s: ArrayLike | None = None
    ) -> FeedState:
        """The snapshot: every answer as in the dataset, last updated ``age_s`` ago (0)."""
        age = np.zeros(len(book)) if age_s is None else np.broadcast_to(age_s, (len(book),))
        return cls(
            now_s=float(now_s),
            answer=book.initial.copy(),
            updated_at_s=now_s - np.asarray(age, dtype=float),
            pending=np.where(book.kind == _DELAYED, book.initial, np.nan),
            obs_time_s=np.array([float(now_s)]),
            obs_cum=np.zeros((1, book.twap_feeds.size)),
        )


def market_values(book: FeedBook, market_price: ArrayLike) -> FloatArray:
    """Market value of every feed's pair: price of the base / price of the quote (USD = 1)."""
    price = np.asarray(market_price, dtype=float)
    quote = np.where(book.quote >= 0, price[np.maximum(book.quote, 0)], 1.0)
    result: FloatArray = price[book.base] / quote
    return result


def _twap(
    book: FeedBook, state: FeedState, value: FloatArray, now_s: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """TWAP answers and the extended accumulator (Uniswap v3 ``observe`` on log prices)."""
    cols = book.twap_feeds
    window = book.twap_window_s[cols]
    cum_now = state.obs_cum[-1] + np.log(value[cols]) * (now_s - state.now_s)
    times = np.append(state.obs_time_s, now_s)
    cum = np.vstack([state.obs_cum, cum_now])
    target = now_s - window
    k = np.searchsorted(times, target, side="right") - 1
    j = np.arange(cols.size)
    lo = np.maximum(k, 0)
    hi = np.minimum(lo + 1, times.size - 1)
    span = times[hi] - times[lo]
    frac = np.where(span > 0, (target - times[lo]) / np.where(span > 0, span, 1.0), 0.0)
    inside = cum[lo, j] + (cum[hi, j] - cum[lo, j]) * frac
    # Before the first observation the feed is taken to have sat at its snapshot answer.
    before = cum[0, j] - np.log(book.initial[cols]) * (times[0] - target)
    cum_then = np.where(k < 0, before, inside)
    answer = np.exp((cum_now - cum_then) / window)
    # Keep the newest observation at or before the oldest window start that can be asked for.
    oldest = now_s - (np.max(window) if window.size else 0.0)
    first = max(int(np.searchsorted(times, oldest, side="right")) - 1, 0)
    return answer, times[first:], cum[first:]


def update_feeds(
    book: FeedBook,
    state: FeedState,
    market_price: ArrayLike,
    exchange_rate: ArrayLike,
    now_s: float,
    overrides: FeedOverrides | None = None,
) -> tuple[FeedState, BoolArray]:
    """Apply every feed's update rule for the round that ends at ``now_s``.

    Parameters
    ----------
    book
        The feeds.
    state
        Answers after the previous round.
    market_price
        USD price of every asset (``book`` numbering) over this round; must be positive.
    exchange_rate
        Redemption rate of every asset (1 for assets that wrap nothing).
    now_s
        End of the round, seconds since the snapshot; later than ``state.now_s``.
    overrides
        The scenario's overrides for this round (none by default).

    Returns
    -------
    state : FeedState
        The new answers (``state`` is not modified).
    updated : ndarray of bool
        Feeds that published an update this round: a Chainlink trigger (even if the value is
        unchanged), an OSM poke, or any other feed whose answer changed by more than 1e-12
        (relative); held feeds never, manipulated ones when the answer changed.

    Examples
    --------
    ETH/USD with a 50 bp threshold ignores a 0.4% move until its one-hour heartbeat:

    >>> import pyarrow as pa
    >>> feeds = pa.Table.from_pylist([dict(feed_id="eth", description="ETH / USD",
    ...     kind="chainlink", base_asset_id="ETH", quote="USD", decimals=8,
    ...     heartbeat_s=3600, deviation_bps=50.0, source_feed_ids=[], answer=2000.0)])
    >>> book = FeedBook.from_table(feeds, ["ETH"])
    >>> state = FeedState.initial(book)
    >>> state, updated = update_feeds(book, state, [2008.0], [1.0], 60.0)
    >>> float(state.answer[0]), bool(updated[0])
    (2000.0, False)
    >>> state, updated = update_feeds(book, state, [2008.0], [1.0], 3600.0)
    >>> float(state.answer[0]), bool(updated[0])
    (2008.0, True)
    """
    price = np.asarray(market_price, dtype=float)
    if not np.all(price > 0):
        raise ValueError("market prices must be positive")
    if not now_s > state.now_s:
        raise ValueError(f"now_s={now_s} is not after the previous update at {state.now_s}")
    kind = book.kind
    old = state.answer
    value = market_values(book, price)

    new = old.copy()
    # OCR's Deviates: |new - old| / |old| >= threshold, inclusive, on integer answers; the
    # 1e-12 slack stands in for exact arithmetic so a move of exactly the threshold triggers.
    trigger = (kind == _CHAINLINK) & (
        (np.abs(value - old) / old >= book.deviation * (1.0 - 1e-12))
        | (now_s - state.updated_at_s >= book.heartbeat_s)
    )
    new[trigger] = value[trigger]
    follow = kind == _MARKET
    new[follow] = value[follow]
    new[kind == _FIXED] = book.fixed_answer[kind == _FIXED]
    rate = kind == _RATE
    new[rate] = np.asarray(exchange_rate, dtype=float)[book.base[rate]]

    twap_answer, obs_time, obs_cum = _twap(book, state, value, now_s)
    new[book.twap_feeds] = twap_answer

    # OSM: a poke at each hop boundary publishes the queued value and queues the current one;
    # if two or more hops passed within the round, the intermediate readings are this round's.
    delayed = kind == _DELAYED
    hop = np.where(delayed, book.delay_s, 1.0)
    hops = np.floor((now_s - state.updated_at_s) / hop)
    poked = delayed & (hops >= 1)
    new[poked] = np.where(hops[poked] >= 2, value[poked], state.pending[poked])
    pending = np.where(poked, value, state.pending)

    ov = overrides if overrides is not None else FeedOverrides.none(len(book))
    hold = (ov.mode == _FROZEN) | (ov.mode == _STALE)
    manipulated = ov.mode == _MANIPULATED

    def override(rows: BoolArray) -> None:
        # Applied level by level, so a composite reads its sources' overridden answers.
        h = rows & hold
        new[h] = old[h]
        m = rows & manipulated
        new[m] = np.where(np.isnan(ov.value[m]), new[m] * ov.factor[m], ov.value[m])

    override(book.level == 0)
    ptr, src = book.source_indptr, book.source_indices
    for lvl in range(book.level_ptr.size - 1):
        lo, hi = int(book.level_ptr[lvl]), int(book.level_ptr[lvl + 1])
        rows = book.composite_order[lo:hi]
        new[rows] = np.multiply.reduceat(new[src[ptr[lo] : ptr[hi]]], ptr[lo:hi] - ptr[lo])
        override(book.level == lvl + 1)

    # Float noise of the TWAP and composite products is not a new answer.
    changed = np.abs(new - old) > 1e-12 * np.abs(old)
    updated = np.where((kind == _CHAINLINK) | delayed, trigger | poked, changed)
    updated = (updated & ~hold) | (manipulated & changed)
    pending = np.where(hold & delayed, state.pending, pending)
    # The OSM's clock (zzz) advances by whole hops from its last poke, whatever else happens.
    osm_clock = np.where(poked & ~hold, state.updated_at_s + hops * hop, state.updated_at_s)
    updated_at = np.where(delayed, osm_clock, np.where(updated, now_s, state.updated_at_s))
    next_state = FeedState(
        now_s=float(now_s),
        answer=new,
        updated_at_s=updated_at,
        pending=pending,
        obs_time_s=obs_time,
        obs_cum=obs_cum,
    )
    return next_state, updated


def next_publication_s(
    book: FeedBook, state: FeedState, market_price: ArrayLike, tol: float = 1e-9
) -> float:
    """Earliest time a feed that lags the market will publish without any further move.

    A Chainlink feed inside its deviation band publishes at its next heartbeat, an OSM at
    its next hop, a TWAP keeps moving for a window; ``inf`` when every feed is at the
    market (fixed, exchange-rate and composite feeds follow their inputs). The solver jumps
    its clock to this time when nothing else is happening, so a run does not stop while an
    oracle is still due to catch up.
    """
    value = market_values(book, market_price)
    lagging = np.abs(state.answer / value - 1.0) > tol
    pending = np.abs(np.nan_to_num(state.pending, nan=0.0) / value - 1.0) > tol
    times = np.concatenate(
        [
            (state.updated_at_s + book.heartbeat_s)[(book.kind == _CHAINLINK) & lagging],
            (state.updated_at_s + book.delay_s)[(book.kind == _DELAYED) & (lagging | pending)],
            (state.now_s + book.twap_window_s)[(book.kind == _TWAP) & lagging],
        ]
    )
    times = times[np.isfinite(times)]
    return float(times.min()) if len(times) else float("inf")


def protocol_prices(book: FeedBook, state: FeedState, usage_feed: ArrayLike) -> FloatArray:
    """The answer each ``oracle_usage`` row reads, in its feed's quote units.

    ``usage_feed`` holds the feed index of every usage row (``book.index(feed_ids)``).
    """
    result: FloatArray = state.answer[np.asarray(usage_feed, dtype=np.int64)]
    return result
