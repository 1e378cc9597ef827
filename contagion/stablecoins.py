"""Algorithmic stablecoins: redemption arbitrage into the governance token, and a holder run.

**Redemption (Terra's market module).** A coin such as UST is redeemable at the protocol for
one peg-dollar of newly minted governance token (LUNA) valued at its oracle price, less a
spread. Below ``peg · (1 − spread)`` an arbitrageur buys the coin in the market, swaps it at the
protocol (the coin is burned, the governance token minted) and sells the governance tokens.
Each round this module emits that buy flow of the coin and sell flow of the governance token.
Expansion (minting coins above the peg) is not modelled. Minting dilutes: the governance
supply grows. The swap's capacity follows one of two rules:

* **Virtual pool** (coins with a ``base_pool_usd``; Terra's rule, ``x/market`` of Terra Core,
  ``ComputeSwap``, ``ApplySwapToPool`` and ``ReplenishPools``). The module prices a swap of
  ``x`` USD of coins through a constant-product pool of virtual depth ``B`` (``BasePool``)
  whose coin side has grown by ``δ`` (``TerraPoolDelta``)::

      received = x · min(1 − MinStabilitySpread, B² / ((B + δ)(B + δ + x)))

  i.e. the spread is ``max(MinStabilitySpread, 1 − B² / ((B + δ)(B + δ + x)))``; the swap adds
  ``x`` to ``δ``, and every block ends with ``δ ← δ − δ / PoolRecoveryPeriod``. Constant
  product is path-independent, so the arbitrageurs' many small swaps in a block add up to one
  swap. They swap while the marginal spread ``1 − B² / (B + δ)²`` is below the coin's discount
  ``d = 1 − price / peg``, which stops the pool at ``δ* = B · (1/√(1 − d) − 1)``: the first
  block of a round fills ``δ`` up to ``δ*``, and each later block swaps what the last block's
  recovery freed, ``δ* / PoolRecoveryPeriod``. The deeper the discount, the more the module
  lets through, at a higher spread; there is no hard daily limit.
* **Daily limit** (coins without a pool, e.g. a dataset's ``redemption_limit_usd``): up to the
  limit a day (``× round_seconds / 86400`` a round) at the flat ``redemption_fee``, used in full
  whenever the coin trades below ``peg · (1 − fee)``. ``inf`` means unlimited.

Governance changes the module's parameters (:func:`change_redemption`; a scenario schedules
them as ``redemption_changes``).

**Arbitrage after the sale.** The arbitrageur is paid in governance tokens at the oracle price
and must sell them. Into a market ``D`` USD deep (USD of sells that move it 2 %, scaling with
the token's price: books hold tokens, so a token that lost 90 % has a tenth of its USD depth),
the last of ``V`` USD sold in a round fetches ``exp(−0.02 · sqrt(V / D))`` of the oracle
price (the square-root law, :mod:`contagion.clearing.external`). The last coin swapped must
still pay: ``price / peg ≤ (1 − spread) · exp(−0.02 · sqrt(V / D))``
(:func:`profitable_pool_swaps`; with a daily limit the same condition caps the amount in
closed form). While the governance token's market is deep this changes little; once its value
collapses the minted tokens cannot be sold, arbitrage stops supporting the coin, and the coin
is left to its holders' run: in May 2022 the market module kept minting LUNA while UST fell,
into a LUNA market that could take ever less of it.

**Governance token reference.** Outside markets price the governance token through its
market value over its supply. The value is the token's claim on the coin's franchise (the
seigniorage and fees of the coins in use, Kereiakes et al. 2019; UST as perpetual convertible
debt backed by LUNA, Liu, Makarov & Schoar 2023): it scales with the market value of the coins
holders still hold (``unsold``, each at its market price, never above the peg), and is shared
by a supply that grows with every mint. :func:`governance_reference` gives the reference price
relative to the snapshot,
``(unsold · min(price, peg) / (supply · peg) at the snapshot) · (governance supply at the
snapshot / governance supply)``; the minted tokens are also sold into the market's finite
depth by the clearing step. Valuing the coins at their market price is the two-token design's
reflexive link: a lower coin price lowers the token that backs it, hence the coverage, hence
the coin (the deleveraging spiral of Klages-Mundt & Minca 2021); valued at the peg, the
token's market value would stay a fixed multiple of the coins left and a run could never
outgrow its backing.

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
(ReplenishPools); keeper ``ComputeSwap`` (spread = max(MinStabilitySpread, CP spread)) and
``ApplySwapToPool`` (terra-money/core, ``x/market/keeper/swap.go``, ``x/market/abci.go``).
Terra governance proposal 1164 (May 2022): BasePool 50 M to 100 M SDR, PoolRecoveryPeriod 36
to 18 blocks ("minting capacity from 293 M to about 1.2 B USD a day").
Liu, J., Makarov, I. & Schoar, A. (2023). Anatomy of a Run: The Terra Luna Crash. NBER Working
Paper 31160.
Kereiakes, E., Kwon, D., Di Maggio, M. & Platias, N. (2019). Terra Money: Stability and
Adoption (whitepaper): contraction by burning Terra for Luna.
Klages-Mundt, A. & Minca, A. (2021). (In)Stability for the Blockchain: Deleveraging Spirals
and Stablecoin Attacks. Cryptoeconomic Systems 1(2).
Diamond, D. W. & Dybvig, P. H. (1983). Bank Runs, Deposit Insurance, and Liquidity (first
movers are paid in full when the backing cannot cover all claims).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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
    "change_redemption",
    "governance_reference",
    "initial_algorithmic_state",
    "profitable_pool_swaps",
    "run_share",
    "virtual_pool_swaps",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

SECONDS_PER_DAY = 86_400.0
SALE_IMPACT = 0.02
"""Relative impact of selling a market's 2 % depth (the square-root law's scale)."""
_LEAST_REFERENCE = 1e-9
"""Smallest reference of a governance token relative to its snapshot price."""

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


def virtual_pool_swaps(
    base_pool: ArrayLike,
    recovery_blocks: ArrayLike,
    n_blocks: ArrayLike,
    delta: ArrayLike,
    discount: ArrayLike,
    min_spread: ArrayLike,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Arbitrage through Terra's virtual pool over ``n_blocks`` blocks (module docstring).

    Arbitrageurs swap coins for governance tokens while the marginal spread is below the
    coin's ``discount``: each block they fill the pool deviation up to
    ``δ* = B · (1/√(1 − d) − 1)``, then ``EndBlock`` lets ``δ / PoolRecoveryPeriod`` of it
    recover. Swaps start in the first block whose deviation is at or below ``δ*`` (the
    deviation left by earlier rounds may exceed it), and none happen while the discount is
    within ``min_spread``.

    Parameters
    ----------
    base_pool
        ``BasePool`` (USD at the peg).
    recovery_blocks
        ``PoolRecoveryPeriod`` (blocks).
    n_blocks
        Blocks in the round.
    delta
        ``TerraPoolDelta`` at the start of the round (USD at the peg).
    discount
        ``1 − price / peg`` of the coin.
    min_spread
        ``MinStabilitySpread``.

    Returns
    -------
    (offered, received, delta)
        USD of coins swapped (at the peg), USD of governance tokens received (at the oracle
        price, after the spread), and ``TerraPoolDelta`` after the round's last ``EndBlock``.

    Examples
    --------
    A pool of 100 with a 10-block recovery, a coin at 0.75 (δ* = 100·(1/√0.75 − 1) = 15.47)
    over 3 blocks: 15.47 in the first block, 1.547 in each of the next two.

    >>> offered, received, delta = virtual_pool_swaps(100.0, 10, 3, 0.0, 0.25, 0.005)
    >>> round(float(offered), 4), round(float(delta), 4)
    (18.5641, 13.923)
    """
    b, r, n, d0, disc, m = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (base_pool, recovery_blocks, n_blocks, delta,
                                               discount, min_spread))
    )  # fmt: skip
    q = 1.0 - 1.0 / r
    swapping = disc > m
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        target = np.where(
            swapping, b * (1.0 / np.sqrt(np.clip(1.0 - disc, 1e-300, None)) - 1.0), 0.0
        )
        # Blocks before the deviation left by earlier rounds has recovered down to the target.
        wait = np.where(
            d0 > target,
            np.ceil(
                np.log(np.where(target > 0, target / d0, 1.0)) / np.log(np.where(q > 0, q, 0.5))
            ),
            0.0,
        )
    wait = np.where(q <= 0, np.minimum(wait, 1.0), wait)  # recovery in one block
    active = swapping & (target > 0) & (wait < n)
    start = d0 * q ** np.where(active, wait, 0.0)
    first = np.where(active, np.maximum(target - start, 0.0), 0.0)
    steady_blocks = np.where(active, n - wait - 1.0, 0.0)
    step = target / r
    cp = b * b
    with np.errstate(divide="ignore", invalid="ignore"):
        got_first = np.minimum(first * (1.0 - m), cp / (b + start) - cp / (b + target))
        got_step = np.minimum(step * (1.0 - m), cp / (b + target * q) - cp / (b + target))
    offered = first + steady_blocks * step
    received = np.where(active, got_first + steady_blocks * got_step, 0.0)
    after = np.where(active, target * q, d0 * q**n)
    return (
        np.asarray(offered, dtype=float),
        np.asarray(np.maximum(received, 0.0), dtype=float),
        np.asarray(after, dtype=float),
    )


def profitable_pool_swaps(
    base_pool: ArrayLike,
    recovery_blocks: ArrayLike,
    n_blocks: ArrayLike,
    delta: ArrayLike,
    discount: ArrayLike,
    min_spread: ArrayLike,
    sale_depth_usd: ArrayLike,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """:func:`virtual_pool_swaps` by arbitrageurs who sell what they receive into a market.

    The governance tokens received are sold into a market ``sale_depth_usd`` deep (USD of
    sells that move it 2 %), whose marginal price after ``V`` USD of sales is
    ``exp(-0.02 · sqrt(V / D))`` of the oracle's (the square-root law of
    :mod:`contagion.clearing.external`). Arbitrage stops where the last coin stops paying:
    the pool fills as :func:`virtual_pool_swaps` does for the *effective* discount
    ``d' = 1 − (1 − d) / exp(-0.02 · sqrt(V(d') / D))``, ``V(d')`` being what those swaps
    receive. ``d'`` falls as ``V`` grows, so the root is unique; it is found by bisection.
    An infinite depth gives :func:`virtual_pool_swaps` exactly.

    Examples
    --------
    A coin at 0.75 whose governance token trades in a market 1 % of the pool deep swaps far
    less than with a free sale:

    >>> free, _, _ = virtual_pool_swaps(100.0, 10, 3, 0.0, 0.25, 0.005)
    >>> costly, _, _ = profitable_pool_swaps(100.0, 10, 3, 0.0, 0.25, 0.005, 1.0)
    >>> round(float(free), 2), round(float(costly), 2)
    (18.56, 13.81)
    """
    b, r, n, d0, disc, m, depth = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (base_pool, recovery_blocks, n_blocks, delta,
                                               discount, min_spread, sale_depth_usd))
    )  # fmt: skip
    free = np.isposinf(depth)
    low, high = np.minimum(m, disc), disc.copy()
    for _ in range(60):
        mid = 0.5 * (low + high)
        _, got, _ = virtual_pool_swaps(b, r, n, d0, mid, m)
        with np.errstate(divide="ignore", invalid="ignore"):
            kept = np.exp(-SALE_IMPACT * np.sqrt(np.where(depth > 0, got / depth, np.inf)))
            implied = np.where(kept > 0, 1.0 - (1.0 - disc) / kept, -np.inf)
        too_far = mid > implied
        high = np.where(too_far, mid, high)
        low = np.where(too_far, low, mid)
    effective = np.where(free, disc, low)
    return virtual_pool_swaps(b, r, n, d0, effective, m)


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
        arbitrage sells the governance tokens it receives into that depth (module docstring,
        *Arbitrage after the sale*). None: infinite depth, the sale is free.

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
        pool_delta=delta,
    )
    done = AlgorithmicRound(
        flows=flows, minted=minted, burned=burned, run_sell=run_sell, coverage=coverage
    )
    return new, done
