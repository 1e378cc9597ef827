"""Where a lending round finds the positions of the loans it works on.

* :class:`LoanGroup`: some loans (sorted) and their positions grouped by loan, laid out once
  per round for every step that reads them (liquidation calls, bad debt, absorbs, barks).
* :class:`BookLayout`: per book, the two positions of every two-position loan with exactly
  one position used as collateral (a CDP vault: its collateral and its debt), and the width
  of the book's market keys. Derived from the book alone, once per book, like the book's own
  per-loan arrays; a step that finds all its loans laid out as vaults reads two positions
  per loan instead of grouping them.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from contagion.world import LendingBook

__all__ = ["BookLayout", "LoanGroup"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class LoanGroup:
    """Sorted loans and their positions grouped by loan."""

    loans: IntArray
    pos: IntArray
    """The loans' positions, grouped by loan in ``loans`` order."""
    size: IntArray
    starts: IntArray
    """Where each loan's positions start in ``pos``."""
    local: IntArray
    """Per position in ``pos``, the index of its loan in ``loans``."""
    rank: IntArray
    """Per position in ``pos``, its place among its loan's positions (0 first)."""

    @classmethod
    def of(cls, book: LendingBook, loans: IntArray) -> LoanGroup:
        size = book.loan_size[loans]
        starts = np.cumsum(size) - size
        local = np.repeat(np.arange(len(loans), dtype=np.int64), size)
        rank = np.arange(len(local), dtype=np.int64)
        rank -= starts[local]
        # As ``book.positions_of``, sharing the repeat with ``local``.
        pos = book.loan_start[loans][local] + rank
        return cls(loans, pos, size, starts, local, rank)

    def largest(self, values: FloatArray) -> IntArray:
        """Per loan, the position with the largest positive value (-1 if none; the first such
        position on ties); ``values`` are those of ``pos``.

        A loan has a handful of positions: they are laid out as the columns of a matrix
        padded with ``-inf``, one row per rank, and scanned rank by rank. A NaN makes the
        loan's maximum NaN, which is not positive, as a segmented ``np.maximum`` gives."""
        k = len(self.loans)
        if len(self.pos) == 0:
            return np.full(k, -1, dtype=np.int64)
        width = int(self.size.max())
        flat = np.full(width * k, -np.inf)
        flat[self.rank * k + self.local] = values
        ranks = flat.reshape(width, k)
        best = ranks.max(axis=0)
        # The first rank reaching the maximum: scan from the last rank to the first.
        at = np.zeros(k, dtype=np.int64)
        for r in range(width - 1, -1, -1):
            at = np.where(ranks[r] == best, r, at)
        chosen: IntArray = np.where(best > 0, self.pos[self.starts + at], -1)
        return chosen


@dataclass(frozen=True)
class BookLayout:
    """Index arrays of a book derived once per book and kept while the book lives.

    Vaults: per loan, its first and second position when it has exactly two positions and
    one of them is used as collateral (-1 otherwise), and which one that is.
    """

    vault_first: IntArray
    vault_second: IntArray
    vault_collateral: IntArray
    """The used position of a vault-shaped loan (-1 for other loans)."""
    market_width: int
    """The asset count the book's market keys (``protocol * width + asset``) are built on."""

    @classmethod
    def of(cls, book: LendingBook) -> BookLayout:
        """The book's layout (derived on first use)."""
        key = id(book)
        layout = _LAYOUTS.get(key)
        if layout is None:
            layout = cls._derive(book)
            _LAYOUTS[key] = layout
            weakref.finalize(book, _LAYOUTS.pop, key, None)
        return layout

    @classmethod
    def _derive(cls, book: LendingBook) -> BookLayout:
        n = book.n_loans
        first = np.full(n, -1, dtype=np.int64)
        second = np.full(n, -1, dtype=np.int64)
        collateral = np.full(n, -1, dtype=np.int64)
        width = int(book.asset.max()) + 1 if book.n_positions else 1
        if n == 0:
            return cls(first, second, collateral, width)
        used = np.bincount(book.loan, book.used, n)
        vault = np.flatnonzero((book.loan_size == 2) & (used == 1))
        a = book.loan_start[vault]
        first[vault], second[vault] = a, a + 1
        collateral[vault] = np.where(book.used[a], a, a + 1)
        return cls(first, second, collateral, width)

    def vaults(self, loans: IntArray) -> bool:
        """Whether every one of ``loans`` is vault-shaped."""
        return bool((self.vault_collateral[loans] >= 0).all())

    def position_of_market(
        self, book: LendingBook, protocol: IntArray, asset: IntArray
    ) -> IntArray:
        """:meth:`LendingBook.position_of_market` without counting the book's assets again."""
        keys, first = book.market_position
        want = protocol * self.market_width + asset
        result: IntArray = first[np.clip(np.searchsorted(keys, want), 0, len(keys) - 1)]
        return result


_LAYOUTS: dict[int, BookLayout] = {}
