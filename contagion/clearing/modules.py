"""Peg stability modules in the clearing: an active set over their states.

A module (Maker's DssPsm) is a constant-sum venue: at the edge of its band it supplies any
amount up to its inventory, so its flow is no function of the price and cannot enter the
excess demand like a pool's. Each module is instead in one of five states:

* ``IN``: the Dai/gem price ratio inside the band, nothing traded;
* ``SELL`` / ``BUY``: the ratio pinned at the upper / lower edge, gem sold in / bought out in
  whatever amount clears the two roots;
* ``SOLD`` / ``BOUGHT``: the headroom / the gem used up, a fixed flow, the ratio free beyond
  the edge.

In a pinned state the child root's log price is the parent's plus a constant (modules form a
forest, :class:`~contagion.clearing.venues.Venues`), so the unknowns shrink to the other
roots, y = T·z + c, and the potential G is minimised over z. The module's flow is then what
clears the child root (found from the leaves up), and the state changes where that flow
leaves its capacity or a free ratio crosses an edge, which a few passes settle.

References
----------
MakerDAO, dss-psm ``DssPsm``: sellGem, buyGem, tin, tout; ``vat.frob`` bounds the module's
debt by its ceiling (the headroom).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from contagion.amm.psm import psm_band, psm_trade_to_price
from contagion.clearing.excess import Evaluation, ExcessDemand

__all__ = ["BOUGHT", "BUY", "IN", "SELL", "SOLD", "ModuleStates"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

IN, SELL, SOLD, BUY, BOUGHT = 0, 1, 2, -1, -2
_ON_EDGE = 1e-12  # log ratio within which a module counts as on its band's edge


class ModuleStates:
    """The states of a round's modules and the reduction of the unknowns they imply."""

    def __init__(self, rnd: ExcessDemand) -> None:
        v, psm = rnd.v, rnd.v.psm
        self.rnd = rnd
        self.stable_r, self.gem_r = v.root[psm.stable], v.root[psm.gem]
        parent = v.psm_parent
        self.parent = parent
        self.child = np.where(parent == self.stable_r, self.gem_r, self.stable_r)
        solved = (parent >= 0) & rnd.active[self.child]
        self.order = np.array([k for k in v.psm_order if solved[k]], np.int64)
        self._solved = np.zeros(len(psm), bool)
        self._solved[self.order] = True
        self.fixed = np.flatnonzero(rnd.pinned[self.stable_r] & rnd.pinned[self.gem_r])
        self.lower, self.upper = psm_band(psm.tin, psm.tout)
        # A child's log price is its parent's plus sign·(log ratio + offset).
        self.sign = np.where(self.child == self.stable_r, 1.0, -1.0)
        self.offset = rnd.log_rate[psm.gem] - rnd.log_rate[psm.stable]
        ratio = rnd.psm_log_ratio(rnd.y_start)[self.order]
        self.state = np.zeros(len(psm), np.int64)
        # A ratio on an edge (to rounding) was pinned there by the last round's trade, which
        # a cascade most likely continues: start from that state rather than from inside.
        self.state[self.order] = np.where(
            ratio >= self.upper[self.order] - _ON_EDGE,
            SELL,
            np.where(ratio <= self.lower[self.order] + _ON_EDGE, BUY, IN),
        )

    @property
    def pinned(self) -> NDArray[np.bool_]:
        return self._solved & (np.abs(self.state) == 1)

    def reduction(self) -> tuple[FloatArray, NDArray[np.bool_]]:
        """T with y[active] = T·z + c, and which active roots are unknowns z themselves."""
        rnd = self.rnd
        merged = np.zeros(rnd.n, bool)
        merged[self.child[self.pinned]] = True
        free = ~merged[rnd.roots]
        full = np.zeros((rnd.n, int(free.sum())))
        full[rnd.roots[free], np.arange(int(free.sum()))] = 1.0
        for k in self.order:  # parents before children
            if self.pinned[k]:
                full[self.child[k]] = full[self.parent[k]]
        return full[rnd.roots], free

    def place(self, z: FloatArray, free: NDArray[np.bool_]) -> FloatArray:
        """Log prices of every root for unknowns z."""
        rnd = self.rnd
        y = rnd.y_start.copy()
        y[rnd.roots[free]] = z
        for k in self.order:
            if self.pinned[k]:
                edge = self.upper[k] if self.state[k] == SELL else self.lower[k]
                y[self.child[k]] = y[self.parent[k]] + self.sign[k] * (edge + self.offset[k])
        return y

    def fixed_flows(self, y: FloatArray) -> FloatArray:
        """Gem sold in by modules whose flow is fixed: used up, or between pinned roots."""
        st, psm = self.rnd.state, self.rnd.v.psm
        gem_in = np.zeros(len(self.state))
        gem_in[self.state == SOLD] = st.psm_headroom[self.state == SOLD]
        gem_in[self.state == BOUGHT] = -st.psm_gem[self.state == BOUGHT]
        f = self.fixed
        if len(f):
            ratio = np.exp(self.rnd.psm_log_ratio(y)[f])
            gem_in[f] = psm_trade_to_price(
                st.psm_gem[f], st.psm_headroom[f], ratio, psm.tin[f], psm.tout[f]
            )
        return gem_in

    def pinned_flows(self, point: Evaluation) -> FloatArray:
        """Gem each pinned module must trade so that its child root clears, leaves first."""
        rnd, psm = self.rnd, self.rnd.v.psm
        excess = point.excess.copy()
        gem_in = np.zeros(len(self.state))
        for k in self.order[::-1]:
            if not self.pinned[k]:
                continue
            c = self.child[k]
            if c == self.gem_r[k]:
                g = -excess[c] / rnd.rate[psm.gem[k]]
            else:  # Dai paid out must equal the child's excess
                dai = excess[c] / rnd.rate[psm.stable[k]]
                g = dai / (1.0 - psm.tin[k]) if dai > 0 else dai / (1.0 + psm.tout[k])
            gem_in[k] = g
            out = g * (1.0 - psm.tin[k]) if g > 0 else g * (1.0 + psm.tout[k])
            excess[self.gem_r[k]] += g * rnd.rate[psm.gem[k]]
            excess[self.stable_r[k]] -= out * rnd.rate[psm.stable[k]]
        return gem_in

    def crossed(self, y: FloatArray) -> bool:
        """Whether a module with a free ratio has it on the wrong side of an edge."""
        k = self.order
        ratio = self.rnd.psm_log_ratio(y)[k]
        state, lower, upper = self.state[k], self.lower[k], self.upper[k]
        return bool(
            np.any((state == IN) & ((ratio > upper + 1e-12) | (ratio < lower - 1e-12)))
            or np.any((state == SOLD) & (ratio < upper))
            or np.any((state == BOUGHT) & (ratio > lower))
        )

    def update(self, y: FloatArray, gem_in: FloatArray) -> bool:
        """Move every inconsistent module to its neighbouring state; True if any moved."""
        st = self.rnd.state
        ratio = self.rnd.psm_log_ratio(y)
        old = self.state.copy()
        for k in self.order:
            s, g = self.state[k], gem_in[k]
            if s == IN and ratio[k] > self.upper[k] + 1e-12:
                self.state[k] = SELL
            elif s == IN and ratio[k] < self.lower[k] - 1e-12:
                self.state[k] = BUY
            elif (s == SELL and g < 0) or (s == BUY and g > 0):
                # With no fee the band is a point: the ratio moves on to the other edge.
                flat = self.lower[k] == self.upper[k]
                self.state[k] = -s if flat else IN
            elif s == SELL and g > st.psm_headroom[k]:
                self.state[k] = SOLD
            elif s == BUY and g < -st.psm_gem[k]:
                self.state[k] = BOUGHT
            elif (s == SOLD and ratio[k] < self.upper[k]) or (
                s == BOUGHT and ratio[k] > self.lower[k]
            ):
                self.state[k] = SELL if s == SOLD else BUY
        return not np.array_equal(old, self.state)
