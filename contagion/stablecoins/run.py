"""One round of an algorithmic coin: redemption arbitrage, the governance token's reference and
the holder run.

See :mod:`contagion.stablecoins` for the rules and references.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from contagion.stablecoins.book import (
    SECONDS_PER_DAY,
    AlgorithmicBook,
    AlgorithmicRound,
    AlgorithmicState,
)
from contagion.stablecoins.market_module import SALE_IMPACT, profitable_pool_swaps

if TYPE_CHECKING:
    pass

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_LEAST_REFERENCE = 1e-9
"""Smallest reference of a governance token relative to its snapshot price."""


@dataclass(frozen=True)
class AlgorithmicParams:
    """Parameters of the holder run (the function is in :mod:`contagion.stablecoins`)."""

    max_run_rate_per_day: float = 1.0
    """Run intensity per day at full depeg and zero coverage (63 % of holders a day)."""
    depeg_saturation: float = 0.25
    """Depeg at which the depeg term saturates (UST's 25 % of 2022-05-09)."""
    covered_run_weight: float = 0.1
    """Share of the full intensity left while coverage ≥ 1."""

    def __post_init__(self) -> None:
        if not (self.max_run_rate_per_day >= 0 and np.isfinite(self.max_run_rate_per_day)):
            raise ValueError("max_run_rate_per_day must be finite and non-negative")
        if not self.depeg_saturation > 0:
            raise ValueError("depeg_saturation must be positive")
        if not 0.0 <= self.covered_run_weight <= 1.0:
            raise ValueError("covered_run_weight must lie in [0, 1]")


def governance_reference(
    book: AlgorithmicBook, state: AlgorithmicState, coin_price: ArrayLike | None = None
) -> FloatArray:
    """Reference price of each coin's governance token relative to the snapshot.

    Market value over supply: the value scales with the market value of the coins holders
    still hold (each at ``coin_price``, never above its peg; None: at the peg) of all the
    coins the token backs, the supply with every token minted.

    Examples
    --------
    >>> book = AlgorithmicBook(("UST", "LUNA"), [0], [1], [1.0], [0.005], [1e6], [100.0],
    ...                        [10.0])
    >>> state = AlgorithmicState(np.array([90.0]), np.array([20.0]), np.array([50.0]))
    >>> float(governance_reference(book, state)[0])  # half the holders left, supply doubled
    0.25
    >>> float(governance_reference(book, state, [0.8])[0])  # and the coin trades at 0.80
    0.2
    """
    n = book.n_assets
    value = book.peg if coin_price is None else np.minimum(np.asarray(coin_price, float), book.peg)
    held = np.bincount(book.governance, weights=state.unsold * value, minlength=n)
    start = np.bincount(book.governance, weights=book.coin_supply * book.peg, minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        demand = np.where(start > 0, held / start, 1.0)[book.governance]
        dilution = np.where(
            state.governance_supply > 0, book.governance_supply / state.governance_supply, 1.0
        )
    # Markets quote a positive price however little is left (the clearing needs one).
    result: FloatArray = np.maximum(demand * dilution, _LEAST_REFERENCE)
    return result


def run_share(
    depeg: ArrayLike,
    coverage: ArrayLike,
    round_seconds: float,
    params: AlgorithmicParams | None = None,
) -> FloatArray:
    """Share of the unsold coins that holders sell in one round.

    ``1 − exp(−λ · round_seconds / 86400)`` with the intensity ``λ`` of :mod:`contagion.stablecoins`.

    Examples
    --------
    >>> round(float(run_share(0.25, 0.5, 86_400)), 4)
    0.4231
    >>> float(run_share(0.0, 0.1, 86_400))
    0.0
    """
    chosen = params or AlgorithmicParams()
    loss = np.clip(np.asarray(depeg, dtype=float) / chosen.depeg_saturation, 0.0, 1.0)
    shortfall = np.clip(1.0 - np.asarray(coverage, dtype=float), 0.0, 1.0)
    weight = chosen.covered_run_weight + (1.0 - chosen.covered_run_weight) * shortfall
    intensity = chosen.max_run_rate_per_day * loss * weight
    share: FloatArray = -np.expm1(-intensity * round_seconds / SECONDS_PER_DAY)
    return share


def algorithmic_round(
    book: AlgorithmicBook,
    state: AlgorithmicState,
    price: ArrayLike,
    round_seconds: float,
    params: AlgorithmicParams | None = None,
    governance_depth_usd: ArrayLike | None = None,
) -> tuple[AlgorithmicState, AlgorithmicRound]:
    """One round of redemption arbitrage and holder selling at the round's market prices.

    Parameters
    ----------
    book
        The algorithmic coins.
    state
        State after the previous round (start from :func:`initial_algorithmic_state`).
    price
        Market price per asset (USD); the protocol's oracle is taken to follow it.
    round_seconds
        Length of the round.
    params
        Run parameters (default :class:`AlgorithmicParams`).
    governance_depth_usd
        Per asset, USD of sells that move its market 2 % at the round's prices; the
        arbitrage sells the governance tokens it receives into that depth (:mod:`contagion.stablecoins`,
        *Arbitrage after the sale*). None: infinite depth, the sale is free.

    Returns
    -------
    (AlgorithmicState, AlgorithmicRound)

    Examples
    --------
    A coin at 0.90 with 86,400 USD of capacity a day redeems 60 coins in a minute, for
    60 × 0.995 USD of governance tokens at 10 USD:

    >>> from contagion.stablecoins import initial_algorithmic_state
    >>> book = AlgorithmicBook(("UST", "LUNA"), [0], [1], [1.0], [0.005], [86_400.0],
    ...                        [1e6], [1e5])
    >>> state, done = algorithmic_round(book, initial_algorithmic_state(book), [0.9, 10.0], 60)
    >>> float(done.burned[0]), round(float(done.minted[0]), 12), float(state.coin_supply[0])
    (60.0, 5.97, 999940.0)
    """
    prices = np.asarray(price, dtype=float)
    if prices.shape != (book.n_assets,):
        raise ValueError(f"price must have one entry per asset ({book.n_assets})")
    if not round_seconds > 0:
        raise ValueError("round_seconds must be positive")
    coin_price, governance_price = prices[book.coin], prices[book.governance]
    if not np.all(np.isfinite(governance_price) & (governance_price > 0)):
        raise ValueError("every governance token needs a positive finite price")
    if not np.all(np.isfinite(coin_price) & (coin_price >= 0)):
        raise ValueError("every algorithmic coin needs a finite non-negative price")

    depth = (
        np.full(book.n_assets, np.inf)
        if governance_depth_usd is None
        else np.asarray(governance_depth_usd, dtype=float)
    )
    if depth.shape != (book.n_assets,) or np.any(np.isnan(depth) | (depth < 0)):
        raise ValueError(
            f"governance_depth_usd must be >= 0, one entry per asset ({book.n_assets})"
        )
    sale_depth = depth[book.governance]
    discount = np.clip(1.0 - coin_price / book.peg, 0.0, 1.0)

    # Capacity is in USD of coins at the peg: the market module swaps at the oracle rate.
    capacity = book.capacity_per_day * round_seconds / SECONDS_PER_DAY / book.peg
    # The last coin is worth swapping while its discount pays the fee and the sale's impact:
    # 1 - d = (1 - fee) * exp(-0.02 sqrt(V / D)) at V = USD of governance tokens sold.
    with np.errstate(divide="ignore", invalid="ignore"):
        sale_cap = sale_depth * (np.log((1.0 - book.fee) / (1.0 - discount)) / SALE_IMPACT) ** 2
    sale_cap = np.where(discount > book.fee, sale_cap, 0.0)
    burned = np.minimum(
        np.minimum(capacity, state.coin_supply), sale_cap / (book.peg * (1.0 - book.fee))
    )
    received = burned * book.peg * (1.0 - book.fee)
    delta = state.pool_delta
    pool = book.has_pool
    if pool.any():
        blocks = np.maximum(1.0, np.floor(round_seconds / book.block_seconds[pool]))
        offered, got, delta_after = profitable_pool_swaps(
            book.base_pool_usd[pool],
            book.recovery_blocks[pool],
            blocks,
            delta[pool],
            discount[pool],
            book.fee[pool],
            sale_depth[pool],
        )
        coins = offered / book.peg[pool]
        # A pool may let through more than is left: the last coins take their share.
        with np.errstate(divide="ignore", invalid="ignore"):
            kept = np.where(coins > 0, np.minimum(1.0, state.coin_supply[pool] / coins), 0.0)
        burned = burned.copy()
        received = received.copy()
        burned[pool], received[pool] = coins * kept, got * kept
        delta = delta.copy()
        delta[pool] = delta_after
    minted = received / governance_price

    liabilities = np.bincount(
        book.governance, weights=state.coin_supply * book.peg, minlength=book.n_assets
    )[book.governance]
    with np.errstate(divide="ignore", invalid="ignore"):
        coverage = np.where(
            liabilities > 0, state.governance_supply * governance_price / liabilities, np.inf
        )
    # Holders see a lost peg beyond the redemption spread, not inside its band.
    depeg = np.clip(1.0 - coin_price / book.peg - book.fee, 0.0, 1.0)
    run_sell = run_share(depeg, coverage, round_seconds, params) * state.unsold

    coin_supply = state.coin_supply - burned
    minted_by_token = np.bincount(book.governance, weights=minted, minlength=book.n_assets)
    bought = np.bincount(book.coin, weights=burned - run_sell, minlength=book.n_assets)
    flows = np.asarray(bought - minted_by_token, dtype=float)
    new = AlgorithmicState(
        coin_supply=coin_supply,
        governance_supply=state.governance_supply + minted_by_token[book.governance],
        unsold=np.minimum(state.unsold - run_sell, coin_supply),
        pool_delta=delta,
    )
    done = AlgorithmicRound(
        flows=flows, minted=minted, burned=burned, run_sell=run_sell, coverage=coverage
    )
    return new, done
