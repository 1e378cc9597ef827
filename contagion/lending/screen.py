"""Health screening: evaluate only the loans whose health factor can have fallen below 1.

A loan's health factor is a ratio of price-weighted sums,

    HF = sum_c collateral_c * p_c * w_c  /  sum_d debt_d * p_d,

so if, since a full evaluation at reference prices, every oracle price moved by a factor in
``[rho_min, rho_max]`` and every collateral weight by at least ``m_min`` (dynamic margin), and
the loan's balances did not change, then

    HF_now >= HF_ref * m_min * rho_min / rho_max.

Loans with ``HF_ref * m_min * rho_min / rho_max >= 1`` cannot be liquidatable and are skipped;
the rest (sorted by ``HF_ref`` once per full evaluation, so selecting them is a binary search)
plus every loan whose balances changed since (liquidated, absorbed, auctioned) are evaluated
exactly. Nothing in a round adds debt (liquidations repay it, absorbs and barks clear it), so
a loan found without debt has an infinite health factor for good and is not evaluated again;
nor is one the lending round wrote off (debt and no collateral left: a health factor of 0).
Only loans with ``HF_ref <= 1 / (1 - band)`` can ever be selected before the next reset, so
only they are sorted; a round that selects the same loans as the round before (no price moved,
no loan touched for the first time) reuses that round's selection and the layout of its
positions. When the bound gets loose (prices moved by more than ``band`` since the reference)
the next round evaluates every loan and resets the reference. The result is the same as evaluating
every loan every round: the bound only decides what need not be looked at.

The screen works at the level of oracle feeds: the protocol's price of a position is its feed's
answer, so the price ratios are read at one representative position per feed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from contagion.world import LendingBook

__all__ = ["HealthScreen", "PositionPrices"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class PositionPrices:
    """Per-position oracle prices, gathered from feed answers only where they are read.

    ``prices[idx]`` is ``answer[position_feed[idx]]`` times, when ``quote_usd`` is given, the
    quote asset's USD price: the same values as the full per-position array without building
    it for a million positions each round.
    """

    answer: FloatArray
    position_feed: IntArray
    quote_usd: FloatArray | None = None

    def __getitem__(self, idx: IntArray | slice) -> FloatArray:
        feed = self.position_feed[idx]
        values: FloatArray = self.answer[feed]
        if self.quote_usd is not None:
            values = values * self.quote_usd[feed]
        return values

    def __len__(self) -> int:
        return len(self.position_feed)


@dataclass
class HealthScreen:
    """Remembers the last full evaluation of every loan's health and what moved since.

    Parameters
    ----------
    band
        Largest relative spread of oracle moves (``1 - m_min * rho_min / rho_max``) before
        the screen asks for a full evaluation again. Wider, the screen resets less often
        and sorts more loans when it does (those with ``HF <= 1 / (1 - band)``); which loans
        a round evaluates depends only on the moves. 10 % was the fastest of 5, 10 and 20 %
        on the million-position ETH crash (a cascade's first rounds move prices by several
        percent each).
    """

    band: float = 0.1
    _hf: FloatArray | None = None
    _order: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _sorted_hf: FloatArray = field(default_factory=lambda: np.zeros(0))
    _probe: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _probe_price: FloatArray = field(default_factory=lambda: np.zeros(0))
    _margin: FloatArray | None = None
    _dirty: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    _retired: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Loans whose health cannot change any more (no debt; debt and nothing to seize)."""
    _selected: tuple[int, IntArray] | None = None
    """The last selection: how many loans of ``_order`` it took, and the loans."""
    _layout: tuple[IntArray, IntArray, IntArray] | None = None
    """Positions of the last selection, grouped by loan, and the index of each one's loan."""

    def candidates(
        self,
        book: LendingBook,
        oracle_price: FloatArray | PositionPrices,
        margin_scale: FloatArray | None,
    ) -> IntArray | None:
        """Sorted loans to evaluate this round, or None for a full evaluation."""
        if self._hf is None:
            return None
        now = oracle_price[self._probe]
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = now / self._probe_price
        known = np.isfinite(rho) & (rho > 0)
        if not known.all():
            return None
        factor = float(rho.min() / rho.max()) if len(rho) else 1.0
        if margin_scale is not None:
            ref = self._margin if self._margin is not None else np.ones(len(margin_scale))
            factor *= float(np.min(margin_scale / ref)) if len(ref) else 1.0
        if factor < 1.0 - self.band:
            return None
        k = int(np.searchsorted(self._sorted_hf, 1.0 / factor, side="right"))
        if self._selected is not None and self._selected[0] == k:
            return self._selected[1]
        chosen = np.zeros(book.n_loans, dtype=bool)
        head = self._order[:k]
        chosen[head] = True
        chosen |= self._dirty
        chosen &= ~self._retired
        loans = np.flatnonzero(chosen)
        self._selected, self._layout = (k, loans), None
        return loans

    def layout(self, book: LendingBook, loans: IntArray) -> tuple[IntArray, IntArray]:
        """Positions of ``loans`` (sorted) grouped by loan, and the index in ``loans`` of each
        one's loan: kept while the selection stays the same."""
        if self._layout is None or self._layout[0] is not loans:
            owner = np.repeat(np.arange(len(loans), dtype=np.int64), book.loan_size[loans])
            self._layout = (loans, book.positions_of(loans), owner)
        return self._layout[1], self._layout[2]

    def health(self, candidates: IntArray, exact: FloatArray) -> FloatArray:
        """Per loan: ``exact`` for the candidates, the reference value (>= 1 now) elsewhere.

        Candidates found without debt (``exact`` infinite) are retired: their health cannot
        fall again."""
        assert self._hf is not None
        self.retire(candidates[np.isposinf(exact) & self._dirty[candidates]], np.inf)
        hf = self._hf.copy()
        hf[candidates] = exact
        return hf

    def retire(self, loans: IntArray, health: float) -> None:
        """Loans whose health factor is ``health`` for good: no longer evaluated (until the
        next reset, which is told of them again)."""
        if self._hf is None or len(loans) == 0:
            return
        self._hf[loans] = health
        self._dirty[loans] = False
        self._retired[loans] = True
        self._selected = self._layout = None

    def reset(
        self,
        book: LendingBook,
        hf: FloatArray,
        oracle_price: FloatArray | PositionPrices,
        margin_scale: FloatArray | None,
        retired: NDArray[np.bool_] | None = None,
    ) -> None:
        """Take a full evaluation as the new reference; ``retired`` loans (whose health
        cannot change any more) are not evaluated until the next one."""
        if len(self._probe) == 0 and book.n_positions:
            self._probe = book.feed_position
        self._hf = hf.copy()
        # Selections ask for HF_ref <= 1 / factor with factor >= 1 - band: only those loans
        # need an order (in loan order among equals, as a stable sort of all would give).
        limit = 1.0 / (1.0 - self.band) if self.band < 1.0 else np.inf
        near = np.flatnonzero(hf <= limit)
        self._order = near[np.argsort(hf[near], kind="stable")].astype(np.int64)
        self._sorted_hf = hf[self._order]
        self._selected = self._layout = None
        self._probe_price = np.asarray(oracle_price[self._probe], dtype=float)
        self._margin = None if margin_scale is None else margin_scale.copy()
        self._dirty = np.zeros(book.n_loans, dtype=bool)
        self._retired = np.isposinf(hf) if retired is None else np.isposinf(hf) | retired

    def touched(self, loans: IntArray) -> None:
        """Loans whose balances changed: evaluated every round until the next reset."""
        if self._hf is not None and len(loans) and not self._dirty[loans].all():
            self._dirty[loans] = True
            self._selected = self._layout = None
