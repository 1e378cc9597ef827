"""Concentrated-liquidity pools (Uniswap v3): ticks, sqrt prices and swaps across ranges.

Prices are token1 per token0. Inside a tick interval with active liquidity L the pool behaves
like a constant-product pool with virtual reserves, so moving the sqrt price from √P to √P'
takes ``Δtoken1 = L·(√P' − √P)`` and ``Δtoken0 = L·(1/√P' − 1/√P)``; crossing an initialized
tick adds its ``liquidityNet`` (Uniswap v3 whitepaper, eq. 6.13-6.16 and section 6.3).

:func:`get_sqrt_ratio_at_tick` is the exact Q64.96 integer of ``TickMath.getSqrtRatioAtTick``;
:class:`LiquidityBook` is the float form over all initialized ticks of one pool, answering
"how much of each token does the pool hold at sqrt price s" in O(log ticks) per query, which
is what market clearing and arbitrage need. Float amounts are in whole tokens and L in
whole-token units (``L_raw / 10**((decimals0 + decimals1) / 2)``), so the same formulas hold.

References
----------
Adams, Zinsmeister, Salem, Keefer, Robinson (2021). Uniswap v3 Core.
Uniswap v3 TickMath.sol and SqrtPriceMath.sol.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "MAX_TICK",
    "MIN_TICK",
    "LiquidityBook",
    "get_sqrt_ratio_at_tick",
    "tick_to_sqrt_price",
]

MIN_TICK = -887272
MAX_TICK = 887272
_Q32 = 1 << 32
_MAX_UINT256 = (1 << 256) - 1

# TickMath.getSqrtRatioAtTick: 1/sqrt(1.0001)^(2^i) in Q128.128, one per bit of |tick|.
_TICK_FACTORS = (
    (0x2, 0xFFF97272373D413259A46990580E213A),
    (0x4, 0xFFF2E50F5F656932EF12357CF3C7FDCC),
    (0x8, 0xFFE5CACA7E10E4E61C3624EAA0941CD0),
    (0x10, 0xFFCB9843D60F6159C9DB58835C926644),
    (0x20, 0xFF973B41FA98C081472E6896DFB254C0),
    (0x40, 0xFF2EA16466C96A3843EC78B326B52861),
    (0x80, 0xFE5DEE046A99A2A811C461F1969C3053),
    (0x100, 0xFCBE86C7900A88AEDCFFC83B479AA3A4),
    (0x200, 0xF987A7253AC413176F2B074CF7815E54),
    (0x400, 0xF3392B0822B70005940C7A398E4B70F3),
    (0x800, 0xE7159475A2C29B7443B29C7FA6E889D9),
    (0x1000, 0xD097F3BDFD2022B8845AD8F792AA5825),
    (0x2000, 0xA9F746462D870FDF8A65DC1F90E061E5),
    (0x4000, 0x70D869A156D2A1B890BB3DF62BAF32F7),
    (0x8000, 0x31BE135F97D08FD981231505542FCFA6),
    (0x10000, 0x9AA508B5B7A84E1C677DE54F3E99BC9),
    (0x20000, 0x5D6AF8DEDB81196699C329225EE604),
    (0x40000, 0x2216E584F5FA1EA926041BEDFE98),
    (0x80000, 0x48A170391F7DC42444E8FA2),
)


def get_sqrt_ratio_at_tick(tick: int) -> int:
    """sqrt(1.0001^tick) · 2^96 rounded up, exactly as TickMath.getSqrtRatioAtTick.

    >>> get_sqrt_ratio_at_tick(0) == 2**96
    True
    >>> get_sqrt_ratio_at_tick(MIN_TICK)
    4295128739
    """
    abs_tick = abs(tick)
    if abs_tick > MAX_TICK:
        raise ValueError(f"tick {tick} outside [{MIN_TICK}, {MAX_TICK}]")
    ratio = 0xFFFCB933BD6FAD37AA2D162D1A594001 if abs_tick & 0x1 else 1 << 128
    for bit, factor in _TICK_FACTORS:
        if abs_tick & bit:
            ratio = (ratio * factor) >> 128
    if tick > 0:
        ratio = _MAX_UINT256 // ratio
    return (ratio >> 32) + (0 if ratio % _Q32 == 0 else 1)


def tick_to_sqrt_price(tick: ArrayLike) -> NDArray[np.float64]:
    """Float sqrt price of ticks: 1.0001^(tick/2) (token1 per token0, raw units)."""
    result: NDArray[np.float64] = np.power(1.0001, np.asarray(tick, dtype=float) / 2.0)
    return result


@dataclass(frozen=True)
class LiquidityBook:
    """The liquidity of one concentrated pool over all its initialized ticks (float).

    Parameters
    ----------
    boundaries
        Sorted sqrt prices of the initialized ticks (n + 1 values, whole-token units).
    liquidity
        Active liquidity in each of the n intervals between consecutive boundaries.
    """

    boundaries: NDArray[np.float64]
    liquidity: NDArray[np.float64]

    @classmethod
    def from_ticks(
        cls, ticks: ArrayLike, liquidity_net: ArrayLike, decimals_shift: float = 0.0
    ) -> LiquidityBook:
        """Build from initialized ticks and their liquidityNet (as in ``pool_ticks``).

        ``decimals_shift`` is ``(decimals0 - decimals1) / 2``: whole-token sqrt prices are raw
        ones times ``10**decimals_shift``.
        """
        t = np.asarray(ticks, dtype=float)
        net = np.asarray(liquidity_net, dtype=float)
        order = np.argsort(t, kind="stable")
        t, net = t[order], net[order]
        active = np.cumsum(net)[:-1]
        if len(t) < 2:
            raise ValueError("a concentrated pool needs at least two initialized ticks")
        bounds = tick_to_sqrt_price(t) * 10.0**decimals_shift
        return cls(bounds, np.maximum(active, 0.0))

    def _cum(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        a, b, liq = self.boundaries[:-1], self.boundaries[1:], self.liquidity
        full1 = liq * (b - a)
        full0 = liq * (1.0 / a - 1.0 / b)
        below1 = np.concatenate([[0.0], np.cumsum(full1)])  # token1 in intervals below k
        above0 = np.concatenate([np.cumsum(full0[::-1])[::-1], [0.0]])  # token0 from k up
        return below1, above0

    def amounts(self, sqrt_price: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Token0 and token1 the pool holds (in range) when its sqrt price is ``sqrt_price``."""
        s = np.clip(np.asarray(sqrt_price, dtype=float), self.boundaries[0], self.boundaries[-1])
        below1, above0 = self._cum()
        k = np.clip(
            np.searchsorted(self.boundaries, s, side="right") - 1, 0, len(self.liquidity) - 1
        )
        liq = self.liquidity[k]
        a, b = self.boundaries[k], self.boundaries[k + 1]
        token1 = below1[k] + liq * (s - a)
        token0 = above0[k + 1] + liq * (1.0 / s - 1.0 / b)
        return token0, token1

    def sqrt_price_for_token1(self, token1: ArrayLike) -> NDArray[np.float64]:
        """Sqrt price at which the pool holds ``token1`` of token1 (inverse of amounts)."""
        y = np.asarray(token1, dtype=float)
        below1, _ = self._cum()
        k = np.clip(np.searchsorted(below1, y, side="right") - 1, 0, len(self.liquidity) - 1)
        liq = self.liquidity[k]
        a = self.boundaries[k]
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(liq > 0, a + (y - below1[k]) / liq, a)
        result: NDArray[np.float64] = np.clip(s, self.boundaries[0], self.boundaries[-1])
        return result

    def sqrt_price_for_token0(self, token0: ArrayLike) -> NDArray[np.float64]:
        """Sqrt price at which the pool holds ``token0`` of token0."""
        x = np.asarray(token0, dtype=float)
        _, above0 = self._cum()
        # above0 decreases with k: find the interval whose range of token0 contains x.
        k = np.clip(np.searchsorted(-above0, -x, side="left") - 1, 0, len(self.liquidity) - 1)
        liq = self.liquidity[k]
        b = self.boundaries[k + 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.where(liq > 0, 1.0 / b + (x - above0[k + 1]) / liq, 1.0 / b)
            s = 1.0 / inv
        result: NDArray[np.float64] = np.clip(s, self.boundaries[0], self.boundaries[-1])
        return result

    def swap(
        self, sqrt_price: float, amount_in: float, zero_for_one: bool, fee: float
    ) -> tuple[float, float]:
        """Swap ``amount_in`` (fee on input) from the current sqrt price across ticks.

        Returns ``(amount_out, new_sqrt_price)``; the whole input is used unless the book's
        last tick is reached, where the price stops (the remainder is not filled).
        """
        x0, y0 = self.amounts(sqrt_price)
        net_in = amount_in * (1.0 - fee)
        if zero_for_one:
            s_new = float(self.sqrt_price_for_token0(float(x0) + net_in))
            _, y1 = self.amounts(s_new)
            return float(y0 - y1), s_new
        s_new = float(self.sqrt_price_for_token1(float(y0) + net_in))
        x1, _ = self.amounts(s_new)
        return float(x0 - x1), s_new
