"""Algorithmic stablecoins: redemption arbitrage into the governance token, and a holder run.

**Redemption (Terra's market module).** A coin such as UST is redeemable at the protocol for
one peg-dollar of newly minted governance token (LUNA) valued at its oracle price, less a
spread. Below ``peg · (1 − fee)`` an arbitrageur buys the coin in the market, swaps it at the
protocol (the coin is burned, the governance token minted) and sells the governance tokens.
Each round this module emits that buy flow of the coin and sell flow of the governance token:
``burned`` coins, ``minted = burned · peg · (1 − fee) / governance price``. Terra's market
module priced the swap at the oracle rate through *virtual* constant-product pools
(``BasePool``; the pool deviation ``TerraPoolDelta`` recovers toward 0 by
``delta / PoolRecoveryPeriod`` every block), charging ``max(MinStabilitySpread, CP spread)``:
swaps were cheap up to a daily volume and prohibitive beyond it. The module models that as
the dataset's ``redemption_fee`` (the minimum spread) up to ``redemption_limit_usd`` a day
(``× round_seconds / 86400`` per round), used in full whenever the coin trades below the
threshold — arbitrageurs compete for the capacity, as they did in May 2022. Expansion (minting
coins above the peg) is not modelled. Minting dilutes: the governance supply grows.

**Holder run.** Each round holders who have not sold yet sell the share

    1 − exp(−λ · round_seconds / 86400),
    λ = max_run_rate_per_day · min(1, depeg / depeg_saturation)
        · (covered_run_weight + (1 − covered_run_weight) · clip(1 − coverage, 0, 1)),

with ``depeg = max(0, 1 − price / peg)`` and ``coverage`` = governance market value / coin
supply at the peg (coins sharing a governance token share its value). ``λ`` is an intensity
per day, so the share compounds consistently across round lengths. The shape is a modelling
choice: the urge to leave grows with the loss holders see and saturates once the coin is
plainly broken; while coverage ≥ 1 redemption could make every holder whole, so only a
residual run (``covered_run_weight``) remains, but below 1 it cannot, the first to leave are
paid, and the run grows to its full intensity as coverage goes to 0. UST's daily closes
(stablecoins-daily-2020-12-29_2023-07-30.csv, column ``terrausd``) show the pattern: 0.995 on
2022-05-07, 0.754 on 2022-05-09, a partial recovery to 0.86 on 05-10, then 0.129 on 05-13,
while LUNA went from a market value of roughly 1.5 times UST's 18.7 B supply to a small
fraction of it: a depeg with credible backing was survivable, the same depeg without it was
not, and once it was gone the market had to absorb most of the supply within four days. The
defaults are set to that order of magnitude, not fitted to the event: at a 25 % depeg and
coverage 0.5, ``λ = 0.55`` a day, so 89 % of holders have sold after four days; at a 0.5 %
depeg and coverage 1.5 they sell 0.2 % a day.

Backing of PSM coins and liquid-staking tokens is handled by market clearing, not here.

References
----------
Terra Money (2019–2022). Terra Core, ``x/market`` module specification: Swap Fees, Market
Making Algorithm (constant product on virtual pools), Virtual Liquidity Pools, EndBlock
(ReplenishPools); keeper ``ComputeSwap`` (spread = max(MinStabilitySpread, CP spread)).
Kereiakes, E., Kwon, D., Di Maggio, M. & Platias, N. (2019). Terra Money: Stability and
Adoption (whitepaper): contraction by burning Terra for Luna.
Diamond, D. W. & Dybvig, P. H. (1983). Bank Runs, Deposit Insurance, and Liquidity (first
movers are paid in full when the backing cannot cover all claims).
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

__all__ = [
    "ASSUMED_COVERAGE",
    "AlgorithmicBook",
    "AlgorithmicParams",
    "AlgorithmicRound",
    "AlgorithmicState",
    "algorithmic_round",
    "initial_algorithmic_state",
    "run_share",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

SECONDS_PER_DAY = 86_400.0

ASSUMED_COVERAGE = 1.5
"""Governance market value / coin supply assumed when the governance supply is unknown.

LUNA was worth about 1.5 times UST's supply in early May 2022 (roughly 80 USD × 350 M LUNA
against 18.7 B UST; approximate market figures)."""


@dataclass(frozen=True)
class AlgorithmicParams:
    """Parameters of the holder run (see the module docstring for the function)."""

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


@dataclass(frozen=True)
class AlgorithmicBook:
    """Algorithmic coins and their governance tokens, indexed into ``asset_ids``."""

    asset_ids: tuple[str, ...]
    coin: IntArray
    """Asset index of each coin."""
    governance: IntArray
    """Asset index of each coin's governance token (its ``backing_asset_id``)."""
    peg: FloatArray
    fee: FloatArray
    """Redemption spread (fraction)."""
    capacity_per_day: FloatArray
    """USD of coins redeemable per day (inf: unlimited)."""
    coin_supply: FloatArray
    governance_supply: FloatArray
    """Governance tokens outstanding at the snapshot (the same for coins sharing one)."""

    def __post_init__(self) -> None:
        for name, dtype in (
            ("coin", np.int64),
            ("governance", np.int64),
            ("peg", float),
            ("fee", float),
            ("capacity_per_day", float),
            ("coin_supply", float),
            ("governance_supply", float),
        ):
            object.__setattr__(self, name, np.atleast_1d(np.asarray(getattr(self, name), dtype)))
        k = self.coin.shape[0]
        for name in ("governance", "peg", "fee", "capacity_per_day", "coin_supply"):
            if getattr(self, name).shape != (k,):
                raise ValueError(f"{name} must have one entry per coin ({k})")
        if self.governance_supply.shape != (k,):
            raise ValueError(f"governance_supply must have one entry per coin ({k})")
        indices = np.concatenate([self.coin, self.governance])
        if indices.size and (indices.min() < 0 or indices.max() >= self.n_assets):
            raise ValueError("coin and governance indices must point into asset_ids")
        if np.unique(self.coin).size != k:
            raise ValueError("each coin may appear once")
        if np.any(self.peg <= 0) or np.any(self.fee < 0) or np.any(self.fee >= 1):
            raise ValueError("pegs must be positive and fees in [0, 1)")
        if np.any(self.capacity_per_day < 0) or np.any(self.coin_supply < 0):
            raise ValueError("capacities and supplies must be non-negative")
        if np.any(self.governance_supply < 0):
            raise ValueError("governance supplies must be non-negative")

    @property
    def n_assets(self) -> int:
        return len(self.asset_ids)

    @classmethod
    def from_dataset(
        cls,
        dataset: Dataset,
        asset_ids: list[str],
        *,
        assumed_coverage: float = ASSUMED_COVERAGE,
    ) -> AlgorithmicBook:
        """The algorithmic ``stablecoins`` rows whose coin is in ``asset_ids``.

        The governance supply is the governance token's ``assets.total_supply``; where that
        is null, the supply worth ``assumed_coverage`` times the supply (at the peg) of the
        coins it backs at its ``price_usd``.

        Examples
        --------
        >>> from contagion import sample_world
        >>> world = sample_world(positions=2_000)
        >>> book = AlgorithmicBook.from_dataset(world, world.df("assets")["asset_id"].tolist())
        >>> float(book.capacity_per_day[0]), float(book.fee[0]), float(book.coin_supply[0])
        (28050000.0, 0.005, 1870000000.0)
        """
        index = pd.Index(asset_ids)
        if not index.is_unique:
            raise ValueError("asset_ids must be unique")
        frame = dataset.df("stablecoins")
        frame = frame[frame["mechanism"] == "algorithmic"]
        frame = frame[index.get_indexer(pd.Index(frame["asset_id"])) >= 0]
        repeated = frame["asset_id"].duplicated(keep=False).to_numpy()
        if repeated.any():
            raise SchemaError(
                "an algorithmic coin has more than one algorithmic backing row",
                table="stablecoins",
                column="asset_id",
                rows=frame.index[repeated].tolist(),
            )
        governance = index.get_indexer(pd.Index(frame["backing_asset_id"]))
        if np.any(governance < 0):
            missing = frame["backing_asset_id"][governance < 0].iloc[0]
            raise ValueError(f"governance token {missing} is not in asset_ids")
        assets = dataset.df("assets").set_index("asset_id")
        backing = assets.loc[frame["backing_asset_id"]]
        peg = frame["peg_usd"].to_numpy(dtype=float)
        supply = frame["supply"].to_numpy(dtype=float)
        liabilities = np.bincount(governance, weights=supply * peg, minlength=len(asset_ids))
        assumed = assumed_coverage * liabilities[governance] / backing["price_usd"].to_numpy()
        known = backing["total_supply"].to_numpy(dtype=float)
        return cls(
            asset_ids=tuple(asset_ids),
            coin=index.get_indexer(pd.Index(frame["asset_id"])),
            governance=governance,
            peg=peg,
            fee=frame["redemption_fee"].to_numpy(dtype=float),
            capacity_per_day=frame["redemption_limit_usd"].fillna(np.inf).to_numpy(dtype=float),
            coin_supply=supply,
            governance_supply=np.where(np.isnan(known), assumed, known),
        )


@dataclass(frozen=True)
class AlgorithmicState:
    """Supplies between rounds, per coin."""

    coin_supply: FloatArray
    governance_supply: FloatArray
    """Of each coin's governance token, including everything minted so far."""
    unsold: FloatArray
    """Coins still held by holders who have not run (≤ ``coin_supply``)."""


@dataclass(frozen=True)
class AlgorithmicRound:
    """What one round of redemptions and selling did."""

    flows: FloatArray
    """Tokens per asset: positive bought, negative sold."""
    minted: FloatArray
    """Governance tokens minted per coin (and sold)."""
    burned: FloatArray
    """Coins bought by arbitrageurs and burned, per coin."""
    run_sell: FloatArray
    """Coins sold by running holders, per coin."""
    coverage: FloatArray
    """Governance market value / coin supply at the peg, at the start of the round."""


def initial_algorithmic_state(book: AlgorithmicBook) -> AlgorithmicState:
    """Supplies at the snapshot; nobody has run yet."""
    return AlgorithmicState(
        coin_supply=book.coin_supply.copy(),
        governance_supply=book.governance_supply.copy(),
        unsold=book.coin_supply.copy(),
    )


def run_share(
    depeg: ArrayLike,
    coverage: ArrayLike,
    round_seconds: float,
    params: AlgorithmicParams | None = None,
) -> FloatArray:
    """Share of the unsold coins that holders sell in one round.

    ``1 − exp(−λ · round_seconds / 86400)`` with the intensity ``λ`` of the module docstring.

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

    Returns
    -------
    (AlgorithmicState, AlgorithmicRound)

    Examples
    --------
    A coin at 0.90 with 86,400 USD of capacity a day redeems 60 coins in a minute, for
    60 × 0.995 USD of governance tokens at 10 USD:

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

    # Capacity is in USD of coins at the peg: the market module swaps at the oracle rate.
    capacity = book.capacity_per_day * round_seconds / SECONDS_PER_DAY / book.peg
    arbitrage = coin_price < book.peg * (1.0 - book.fee)
    burned = np.where(arbitrage, np.minimum(capacity, state.coin_supply), 0.0)
    minted = burned * book.peg * (1.0 - book.fee) / governance_price

    liabilities = np.bincount(
        book.governance, weights=state.coin_supply * book.peg, minlength=book.n_assets
    )[book.governance]
    with np.errstate(divide="ignore", invalid="ignore"):
        coverage = np.where(
            liabilities > 0, state.governance_supply * governance_price / liabilities, np.inf
        )
    depeg = np.clip(1.0 - coin_price / book.peg, 0.0, 1.0)
    run_sell = run_share(depeg, coverage, round_seconds, params) * state.unsold

    coin_supply = state.coin_supply - burned
    minted_by_token = np.bincount(book.governance, weights=minted, minlength=book.n_assets)
    bought = np.bincount(book.coin, weights=burned - run_sell, minlength=book.n_assets)
    flows = np.asarray(bought - minted_by_token, dtype=float)
    new = AlgorithmicState(
        coin_supply=coin_supply,
        governance_supply=state.governance_supply + minted_by_token[book.governance],
        unsold=np.minimum(state.unsold - run_sell, coin_supply),
    )
    done = AlgorithmicRound(
        flows=flows, minted=minted, burned=burned, run_sell=run_sell, coverage=coverage
    )
    return new, done
