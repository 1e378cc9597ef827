"""Perpetual futures: forced closes, the insurance fund and auto-deleveraging.

The book is open interest per (market, side, liquidation-price bucket). Each round, at the
round's price ``p`` of the underlying:

* **Liquidation.** A bucket is crossed when ``p <= liquidation_price`` (longs) or
  ``p >= liquidation_price`` (shorts), i.e. when the position's margin has fallen to its
  maintenance margin. Its whole remaining open interest is closed in the market at ``p``:
  a long close sells (negative flow), a short close buys.
* **Loss.** At the liquidation price the position still holds about its maintenance margin,
  ``mm · liquidation_price`` per unit, so it is bankrupt (equity zero) at
  ``liq · (1 - mm)`` for longs and ``liq · (1 + mm)`` for shorts. A close past that price
  leaves a shortfall ``OI · |bankruptcy - p|``; a close before it leaves margin, which the
  venue keeps for its insurance fund.
* **Insurance fund.** The market's fund pays the shortfall as far as it can.
* **Auto-deleveraging (ADL).** What the fund cannot pay is taken from opposite-side
  positions: their open interest is cut pro rata by the uncovered loss in notional at
  ``p`` (matched off-market, so no flow). Venues rank ADL by profit and leverage; the
  buckets carry neither, so the cut is pro rata, as Deribit's socialised loss spreads it
  over the winning side. A loss larger than the whole opposite side is the venue's bad
  debt.

Every quantity is an array over buckets or markets; the round has no Python loop.

References
----------
Binance, "Introduction to Futures Insurance Funds" (FAQ 360033525371): liquidation when
collateral falls below maintenance margin; losses of bankrupt positions are paid by the
market's fund, profits of liquidations are credited to it; counterparty liquidation (ADL)
when the fund cannot take the position; BTCUSDT and ETHUSDT have funds of their own.
BitMEX, "BitMEX Insurance Fund: Your Questions Answered" (2020-03): the fund is the last
line of defence before ADL of profitable traders, ranked by profit and leverage; liquidations
filled better than the bankruptcy price add the difference to the fund.
Deribit Knowledge Base, "Insurance Fund" and "Auto Liquidation": the fund covers negative
equity of bankrupt traders; once depleted, losses are socialised among the winning traders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from contagion.exceptions import SchemaError

if TYPE_CHECKING:
    from contagion.dataset import Dataset

__all__ = ["PerpBook", "PerpRound", "PerpState", "initial_perp_state", "perp_round"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class PerpBook:
    """Perpetual open interest in liquidation-price buckets, indexed into ``asset_ids``."""

    asset_ids: tuple[str, ...]
    markets: tuple[str, ...]
    """``protocol_id/market`` per market."""
    market_underlying: IntArray
    """Asset index of each market's underlying."""
    insurance_fund: FloatArray
    """USD per market at the snapshot."""
    market: IntArray
    """Market index per bucket."""
    side: FloatArray
    """+1 long, -1 short, per bucket."""
    liquidation_price: FloatArray
    open_interest: FloatArray
    """Underlying units per bucket."""
    maintenance_margin: FloatArray
    """Maintenance margin rate per bucket (fraction)."""

    def __post_init__(self) -> None:
        for name, dtype in (
            ("market_underlying", np.int64),
            ("insurance_fund", float),
            ("market", np.int64),
            ("side", float),
            ("liquidation_price", float),
            ("open_interest", float),
            ("maintenance_margin", float),
        ):
            object.__setattr__(self, name, np.atleast_1d(np.asarray(getattr(self, name), dtype)))
        n_markets, n = len(self.markets), self.market.shape[0]
        if self.market_underlying.shape != (n_markets,) or self.insurance_fund.shape != (
            n_markets,
        ):
            raise ValueError("market_underlying and insurance_fund need one entry per market")
        for name in ("side", "liquidation_price", "open_interest", "maintenance_margin"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have one entry per bucket ({n})")
        if n and (self.market.min() < 0 or self.market.max() >= n_markets):
            raise ValueError("market indices must point into markets")
        if not np.all(np.abs(self.side) == 1.0):
            raise ValueError("side must be +1 (long) or -1 (short)")

    @property
    def underlying(self) -> IntArray:
        """Asset index per bucket."""
        return self.market_underlying[self.market]

    @property
    def n_assets(self) -> int:
        return len(self.asset_ids)

    @classmethod
    def from_dataset(cls, dataset: Dataset, asset_ids: list[str]) -> PerpBook:
        """The ``perp_markets`` buckets whose underlying is in ``asset_ids``.

        ``insurance_fund_usd`` is repeated on every bucket of a market and taken once.

        Examples
        --------
        >>> from contagion import sample_world
        >>> book = PerpBook.from_dataset(sample_world(positions=2_000), ["0:btc"])
        >>> book.markets, float(book.insurance_fund[0])
        (('cex-perps/BTC-PERP',), 400000000.0)
        """
        index = pd.Index(asset_ids)
        if not index.is_unique:
            raise ValueError("asset_ids must be unique")
        frame = dataset.df("perp_markets")
        position = index.get_indexer(pd.Index(frame["underlying_asset_id"]))
        frame, position = frame[position >= 0], position[position >= 0]
        names = (frame["protocol_id"] + "/" + frame["market"]).to_numpy(dtype=str)
        markets, first, market = np.unique(names, return_index=True, return_inverse=True)
        fund = frame["insurance_fund_usd"].to_numpy(dtype=float)
        for column, values in (("insurance_fund_usd", fund), ("underlying_asset_id", position)):
            bad = np.flatnonzero(values != values[first][market])
            if bad.size:
                raise SchemaError(
                    f"differs between buckets of market {names[bad[0]]}",
                    table="perp_markets",
                    column=column,
                    rows=frame.index[bad].tolist(),
                )
        return cls(
            asset_ids=tuple(asset_ids),
            markets=tuple(str(m) for m in markets),
            market_underlying=position[first],
            insurance_fund=fund[first],
            market=market,
            side=np.where(frame["side"].to_numpy() == "long", 1.0, -1.0),
            liquidation_price=frame["liquidation_price"].to_numpy(dtype=float),
            open_interest=frame["open_interest"].to_numpy(dtype=float),
            maintenance_margin=frame["maintenance_margin"].to_numpy(dtype=float),
        )


@dataclass(frozen=True)
class PerpState:
    """Perpetual books between rounds."""

    open_interest: FloatArray
    """Remaining open interest per bucket (underlying units)."""
    insurance_fund: FloatArray
    """USD per market."""
    adl_usd: FloatArray
    """Loss auto-deleveraged so far per market (USD)."""
    bad_debt_usd: FloatArray
    """Loss neither the fund nor ADL could absorb so far per market (USD)."""


@dataclass(frozen=True)
class PerpRound:
    """One round of forced closes."""

    flow: FloatArray
    """Underlying units traded per asset (positive: bought)."""
    closed_oi: FloatArray
    """Open interest force-closed per bucket (units)."""
    shortfall_usd: FloatArray
    """Loss past the bankruptcy price per market."""
    fund_income_usd: FloatArray
    """Margin left by closes before the bankruptcy price, paid into the fund, per market."""
    fund_draw_usd: FloatArray
    """Shortfall paid by the insurance fund per market."""
    adl_usd: FloatArray
    """Shortfall auto-deleveraged per market."""
    adl_oi: FloatArray
    """Open interest cut by ADL per bucket (units)."""
    bad_debt_usd: FloatArray
    """Shortfall left once the opposite side is gone, per market."""


def _sum_by(index: IntArray, weights: FloatArray, n: int) -> FloatArray:
    return np.asarray(np.bincount(index, weights=weights, minlength=n), dtype=np.float64)


def initial_perp_state(book: PerpBook) -> PerpState:
    """The book's open interest and funds at the snapshot, nothing deleveraged."""
    zeros = np.zeros(len(book.markets))
    return PerpState(book.open_interest.copy(), book.insurance_fund.copy(), zeros, zeros.copy())


def perp_round(
    book: PerpBook, state: PerpState, price: ArrayLike, *, surplus_to_fund: bool = True
) -> tuple[PerpState, PerpRound]:
    """Force-close the buckets ``price`` crosses; settle their losses.

    Parameters
    ----------
    book
        The perpetual book.
    state
        State after the previous round (start from :func:`initial_perp_state`).
    price
        Price per asset this round (the venues' mark price).
    surplus_to_fund
        Margin left by a close before the bankruptcy price goes to the insurance fund
        (Binance, BitMEX); False leaves the fund to pay shortfalls only.

    Returns
    -------
    (PerpState, PerpRound)

    Examples
    --------
    10 BTC long liquidated at 30,000 with 0.4% maintenance margin is bankrupt at 29,880;
    closed at 29,000 it leaves 8,800 USD, which the fund pays:

    >>> book = PerpBook(("BTC",), ("x/BTC-PERP",), [0], [1e6], [0, 0], [1.0, -1.0],
    ...                 [30e3, 40e3], [10.0, 10.0], [0.004, 0.004])
    >>> state, done = perp_round(book, initial_perp_state(book), [29e3])
    >>> float(done.flow[0]), round(float(done.fund_draw_usd[0]), 6)
    (-10.0, 8800.0)
    """
    prices = np.asarray(price, dtype=float)
    if prices.shape != (book.n_assets,):
        raise ValueError(f"price must have one entry per asset ({book.n_assets})")
    n_markets = len(book.markets)
    market_price = prices[book.market_underlying]
    if not np.all(np.isfinite(market_price) & (market_price > 0)):
        raise ValueError("every perpetual underlying needs a positive finite price")
    p = market_price[book.market]
    side, liq, oi = book.side, book.liquidation_price, state.open_interest
    crossed = (oi > 0) & (side * (p - liq) <= 0)
    closed = np.where(crossed, oi, 0.0)
    flow = _sum_by(book.underlying, -side * closed, book.n_assets)

    # Per unit, distance of the fill from the bankruptcy price on the position's good side.
    cushion = side * (p - liq * (1.0 - side * book.maintenance_margin))
    shortfall_b = closed * np.maximum(-cushion, 0.0)
    surplus_b = closed * np.maximum(cushion, 0.0) if surplus_to_fund else np.zeros_like(oi)
    shortfall = _sum_by(book.market, shortfall_b, n_markets)
    income = _sum_by(book.market, surplus_b, n_markets)
    fund = state.insurance_fund + income
    draw = np.minimum(fund, shortfall)
    uncovered = shortfall - draw

    # (market, side) cells: 2m holds shorts, 2m + 1 longs. A side's uncovered loss, in units
    # at the round's price, is taken pro rata from the other side's surviving buckets.
    cell = 2 * book.market + (side > 0)
    by_cell = _sum_by(cell, shortfall_b, 2 * n_markets).reshape(-1, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(shortfall[:, None] > 0, by_cell / shortfall[:, None], 0.0)
    owed_units = share * (uncovered / market_price)[:, None]
    left = oi - closed
    left_by_cell = _sum_by(cell, left, 2 * n_markets).reshape(-1, 2)
    opposite = left_by_cell[:, ::-1]
    # A side left with a sliver of open interest overflows the ratio: the whole of it is cut.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cut = np.where(opposite > 0, np.minimum(owed_units / opposite, 1.0), 0.0)
    cut_b = cut[book.market, (side < 0).astype(np.int64)]  # cut by the other side's losses
    adl_oi = np.where(cut_b >= 1.0, left, left * cut_b)
    beyond = (np.maximum(owed_units - opposite, 0.0) * market_price[:, None]).sum(axis=1)
    adl = np.maximum(uncovered - beyond, 0.0)
    bad_debt = uncovered - adl

    done = PerpRound(
        flow=flow,
        closed_oi=closed,
        shortfall_usd=shortfall,
        fund_income_usd=income,
        fund_draw_usd=draw,
        adl_usd=adl,
        adl_oi=adl_oi,
        bad_debt_usd=bad_debt,
    )
    new = PerpState(
        open_interest=left - adl_oi,
        insurance_fund=fund - draw,
        adl_usd=state.adl_usd + adl,
        bad_debt_usd=state.bad_debt_usd + bad_debt,
    )
    return new, done
