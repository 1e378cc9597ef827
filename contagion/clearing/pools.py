"""Venues by kind, as arrays: constant-product, concentrated-liquidity and StableSwap pools,
and peg stability modules. Token indices refer to the caller's assets; amounts are whole
tokens. Each kind is a frozen dataclass built from plain arrays (lists are converted), whose
identifiers default to ``cp0, cp1, ...``.

References
----------
Adams, Zinsmeister, Robinson (2020). Uniswap v2 Core.
Adams, Zinsmeister, Salem, Keefer, Robinson (2021). Uniswap v3 Core, §6.
Egorov, M. (2019). StableSwap - efficient mechanism for Stablecoin liquidity.
MakerDAO (2020). MIP29: Peg Stability Module (``DssPsm``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from contagion.amm.concentrated import LiquidityBook

__all__ = [
    "MAX_COINS",
    "ConcentratedPools",
    "ConstantProductPools",
    "PegStabilityModules",
    "StableswapPools",
]

MAX_COINS = 4
_KEY_SPAN = 256.0  # wider than any |log sqrt price| of a tick (44.4) plus a decimals shift

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def _floats(values: ArrayLike, shape: tuple[int, ...] | None = None) -> FloatArray:
    out = np.array(values, dtype=float)
    return out.reshape(shape) if shape is not None else out


def _ints(values: ArrayLike, shape: tuple[int, ...]) -> IntArray:
    return np.array(values, dtype=np.int64).reshape(shape)


def _ids(ids: Sequence[str], prefix: str, n: int) -> tuple[str, ...]:
    if ids and len(ids) != n:
        raise ValueError(f"{len(ids)} {prefix} ids for {n} venues")
    return tuple(ids) if ids else tuple(f"{prefix}{k}" for k in range(n))


@dataclass(frozen=True)
class ConstantProductPools:
    """Uniswap v2 pools: ``tokens[k]`` asset indices, starting ``reserves[k]`` (whole tokens)."""

    tokens: IntArray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    reserves: FloatArray = field(default_factory=lambda: np.zeros((0, 2)))
    fee: FloatArray = field(default_factory=lambda: np.zeros(0))
    pool_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(np.atleast_1d(self.fee))
        object.__setattr__(self, "tokens", _ints(self.tokens, (n, 2)))
        object.__setattr__(self, "reserves", _floats(self.reserves, (n, 2)))
        object.__setattr__(self, "fee", _floats(self.fee, (n,)))
        object.__setattr__(self, "pool_ids", _ids(self.pool_ids, "cp", n))
        if np.any(self.reserves <= 0):
            raise ValueError("constant-product reserves must be positive")

    def __len__(self) -> int:
        return len(self.fee)


@dataclass(frozen=True)
class _FlatBooks:
    """All books in flat arrays, searchable at once (one sorted key per pool and boundary)."""

    key: FloatArray
    bounds: FloatArray
    liquidity: FloatArray  # of the interval starting at each boundary (0 after the last)
    below1: FloatArray  # token1 held in the pool's intervals below each boundary
    above0: FloatArray  # token0 held in the pool's intervals from each boundary up
    first: IntArray  # index of each pool's first boundary
    last: IntArray  # index of each pool's last boundary


@dataclass(frozen=True)
class ConcentratedPools:
    """Uniswap v3 pools: tokens, starting sqrt price (√(token1/token0), whole tokens), books."""

    tokens: IntArray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    sqrt_price: FloatArray = field(default_factory=lambda: np.zeros(0))
    fee: FloatArray = field(default_factory=lambda: np.zeros(0))
    books: tuple[LiquidityBook, ...] = ()
    pool_ids: tuple[str, ...] = ()
    flat: _FlatBooks = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.books)
        object.__setattr__(self, "tokens", _ints(self.tokens, (n, 2)))
        object.__setattr__(self, "sqrt_price", _floats(self.sqrt_price, (n,)))
        object.__setattr__(self, "fee", _floats(self.fee, (n,)))
        object.__setattr__(self, "pool_ids", _ids(self.pool_ids, "cl", n))
        object.__setattr__(self, "flat", _flatten(self.books))

    def __len__(self) -> int:
        return len(self.books)

    def amounts(
        self, index: IntArray, sqrt_price: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Token0, token1 held and active liquidity of pools ``index`` at ``sqrt_price``.

        :meth:`LiquidityBook.amounts` over many books at once: one ``searchsorted`` on keys
        ``pool · span + log(boundary)``, which are sorted across all pools.
        """
        flat = self.flat
        first, last = flat.first[index], flat.last[index]
        s = np.clip(sqrt_price, flat.bounds[first], flat.bounds[last])
        k = np.searchsorted(flat.key, index * _KEY_SPAN + np.log(s), side="right") - 1
        k = np.clip(k, first, last - 1)
        liq, lo, hi = flat.liquidity[k], flat.bounds[k], flat.bounds[k + 1]
        token1 = flat.below1[k] + liq * (s - lo)
        token0 = flat.above0[k + 1] + liq * (1.0 / s - 1.0 / hi)
        return token0, token1, liq


def _flatten(books: Sequence[LiquidityBook]) -> _FlatBooks:
    parts: list[list[FloatArray]] = [[], [], [], [], []]
    first, last, at = [], [], 0
    for k, book in enumerate(books):
        b, liq = book.boundaries, book.liquidity
        full1 = liq * (b[1:] - b[:-1])
        full0 = liq * (1.0 / b[:-1] - 1.0 / b[1:])
        parts[0].append(k * _KEY_SPAN + np.log(b))
        parts[1].append(b)
        parts[2].append(np.append(liq, 0.0))
        parts[3].append(np.concatenate([[0.0], np.cumsum(full1)]))
        parts[4].append(np.append(np.cumsum(full0[::-1])[::-1], 0.0))
        first.append(at)
        at += len(b)
        last.append(at - 1)
    flat = [np.concatenate(p) if p else np.zeros(0) for p in parts]
    key, bounds, liquidity, below1, above0 = flat
    first_, last_ = np.array(first, np.int64), np.array(last, np.int64)
    return _FlatBooks(key, bounds, liquidity, below1, above0, first_, last_)


@dataclass(frozen=True)
class StableswapPools:
    """Curve pools of 2-4 coins; ``tokens`` padded with -1 and ``balances`` with NaN."""

    tokens: IntArray = field(default_factory=lambda: np.zeros((0, MAX_COINS), np.int64))
    balances: FloatArray = field(default_factory=lambda: np.zeros((0, MAX_COINS)))
    amp: FloatArray = field(default_factory=lambda: np.zeros(0))
    fee: FloatArray = field(default_factory=lambda: np.zeros(0))
    pool_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(np.atleast_1d(self.fee))
        object.__setattr__(self, "tokens", _ints(self.tokens, (n, MAX_COINS)))
        object.__setattr__(self, "balances", _floats(self.balances, (n, MAX_COINS)))
        object.__setattr__(self, "amp", _floats(self.amp, (n,)))
        object.__setattr__(self, "fee", _floats(self.fee, (n,)))
        object.__setattr__(self, "pool_ids", _ids(self.pool_ids, "ss", n))

    def __len__(self) -> int:
        return len(self.fee)


@dataclass(frozen=True)
class PegStabilityModules:
    """Maker PSMs: ``stable`` (Dai) and ``gem`` asset indices, fees, starting inventory.

    ``gem_balance`` is the gem the module holds; ``headroom`` the Dai it may still mint
    (``line - art``, may be ``inf``).
    """

    stable: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    gem: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    tin: FloatArray = field(default_factory=lambda: np.zeros(0))
    tout: FloatArray = field(default_factory=lambda: np.zeros(0))
    gem_balance: FloatArray = field(default_factory=lambda: np.zeros(0))
    headroom: FloatArray = field(default_factory=lambda: np.zeros(0))
    ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(np.atleast_1d(self.tin))
        for name in ("stable", "gem"):
            object.__setattr__(self, name, _ints(getattr(self, name), (n,)))
        for name in ("tin", "tout", "gem_balance", "headroom"):
            object.__setattr__(self, name, _floats(getattr(self, name), (n,)))
        object.__setattr__(self, "ids", _ids(self.ids, "psm", n))

    def __len__(self) -> int:
        return len(self.tin)
