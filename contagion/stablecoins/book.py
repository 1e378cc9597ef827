"""Algorithmic coins and their governance tokens in array form, and their state between rounds."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from contagion.exceptions import SchemaError

if TYPE_CHECKING:
    from contagion.dataset import Dataset

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

SECONDS_PER_DAY = 86_400.0
ASSUMED_COVERAGE = 1.5
"""Governance market value / coin supply assumed when the governance supply is unknown.

LUNA was worth about 1.5 times UST's supply in early May 2022 (roughly 80 USD × 350 M LUNA
against 18.7 B UST; approximate market figures)."""


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
    base_pool_usd: FloatArray = field(default_factory=lambda: np.empty(0))
    """Virtual pool depth ``BasePool`` in USD at the peg (NaN: the coin has a daily limit)."""
    recovery_blocks: FloatArray = field(default_factory=lambda: np.empty(0))
    """``PoolRecoveryPeriod``: blocks over which the pool deviation decays (NaN: no pool)."""
    block_seconds: FloatArray = field(default_factory=lambda: np.empty(0))
    """Seconds per block of the coin's chain (NaN: no pool)."""

    def __post_init__(self) -> None:
        k = int(np.atleast_1d(np.asarray(self.coin)).shape[0])
        for name in ("base_pool_usd", "recovery_blocks", "block_seconds"):
            value = np.atleast_1d(np.asarray(getattr(self, name), dtype=float))
            object.__setattr__(self, name, np.full(k, np.nan) if value.size == 0 else value)
        for name, dtype in (
            ("coin", np.int64),
            ("governance", np.int64),
            ("peg", float),
            ("fee", float),
            ("capacity_per_day", float),
            ("coin_supply", float),
            ("governance_supply", float),
            ("base_pool_usd", float),
            ("recovery_blocks", float),
            ("block_seconds", float),
        ):
            object.__setattr__(self, name, np.atleast_1d(np.asarray(getattr(self, name), dtype)))
        k = self.coin.shape[0]
        for name in ("governance", "peg", "fee", "capacity_per_day", "coin_supply"):
            if getattr(self, name).shape != (k,):
                raise ValueError(f"{name} must have one entry per coin ({k})")
        for name in ("governance_supply", "base_pool_usd", "recovery_blocks", "block_seconds"):
            if getattr(self, name).shape != (k,):
                raise ValueError(f"{name} must have one entry per coin ({k})")
        pool = self.has_pool
        if np.any(self.base_pool_usd[pool] <= 0) or not np.all(
            np.isfinite(self.base_pool_usd)[pool]
        ):
            raise ValueError("base_pool_usd must be positive and finite (NaN: no pool)")
        if not np.all(self.recovery_blocks[pool] >= 1) or not np.all(self.block_seconds[pool] > 0):
            raise ValueError("a virtual pool needs recovery_blocks >= 1 and block_seconds > 0")
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

    @property
    def has_pool(self) -> NDArray[np.bool_]:
        """Coins redeemed through a virtual pool (the rest have a daily limit)."""
        return ~np.isnan(self.base_pool_usd)

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
    pool_delta: FloatArray = field(default_factory=lambda: np.empty(0))
    """Virtual pool deviation ``TerraPoolDelta`` per coin, USD at the peg (0 without a pool)."""

    def __post_init__(self) -> None:
        if np.asarray(self.pool_delta).size == 0:
            object.__setattr__(self, "pool_delta", np.zeros_like(self.coin_supply))


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
        pool_delta=np.zeros_like(book.coin_supply),
    )


def change_redemption(
    book: AlgorithmicBook,
    coin: int,
    *,
    redemption_limit_usd: float | None = None,
    redemption_fee: float | None = None,
    base_pool_usd: float | None = None,
    recovery_blocks: float | None = None,
    block_seconds: float | None = None,
) -> AlgorithmicBook:
    """``book`` with one coin's redemption parameters changed (a governance decision).

    ``coin`` is the coin's asset index; parameters left at None keep their value. Giving a
    ``base_pool_usd`` switches the coin to the virtual-pool rule, which then needs its
    ``recovery_blocks`` and ``block_seconds``; a NaN ``base_pool_usd`` switches it back to its
    daily limit.

    Examples
    --------
    Terra's proposal 1164 doubled BasePool and halved PoolRecoveryPeriod:

    >>> book = AlgorithmicBook(("UST", "LUNA"), [0], [1], [1.0], [0.005], [293e6], [18.7e9],
    ...                        [350e6], [67.5e6], [36], [6.0])
    >>> after = change_redemption(book, 0, base_pool_usd=135e6, recovery_blocks=18)
    >>> float(after.base_pool_usd[0]), float(after.recovery_blocks[0]), float(after.fee[0])
    (135000000.0, 18.0, 0.005)
    """
    rows = np.flatnonzero(book.coin == coin)
    if rows.size != 1:
        raise ValueError(f"asset index {coin} is not an algorithmic coin of the book")
    i = int(rows[0])
    changed: dict[str, FloatArray] = {}
    for name, value in (
        ("capacity_per_day", redemption_limit_usd),
        ("fee", redemption_fee),
        ("base_pool_usd", base_pool_usd),
        ("recovery_blocks", recovery_blocks),
        ("block_seconds", block_seconds),
    ):
        if value is not None:
            column = np.array(getattr(book, name), dtype=float)
            column[i] = value
            changed[name] = column
    return replace(book, **changed)  # type: ignore[arg-type]
