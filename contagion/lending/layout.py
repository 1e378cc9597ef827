"""Where a lending round finds the positions of the loans it works on.

:class:`LoanGroup`: some loans (sorted) and their positions grouped by loan, laid out once per
round for every step that reads them (liquidation calls, bad debt, absorbs, barks). What
depends on the book alone (vault-shaped loans, market keys) is cached on
:class:`~contagion.world.LendingBook` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from contagion.world import LendingBook

__all__ = ["LoanGroup", "kept"]

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


def kept(keep: NDArray[np.bool_], *arrays: NDArray[Any]) -> tuple[Any, ...]:
    """``arrays`` where ``keep`` holds (the arrays themselves when it holds everywhere)."""
    if keep.all():
        return arrays
    # Integer indices: cheaper than a boolean mask applied to each array.
    idx = np.flatnonzero(keep)
    return tuple(a[idx] for a in arrays)
