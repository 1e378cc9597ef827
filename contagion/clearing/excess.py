"""The excess demand of one round at given prices, its Jacobian and its potential.

:class:`ExcessDemand` fixes a round's inputs (venues, start state, flow, reference prices,
rates), the unknown roots and the venues they reach, and evaluates at any log prices y, with
given peg-stability-module flows, what every venue absorbs (:class:`Evaluation`): the excess
``E = flow + absorbed`` per root, ``dE/dy`` over the unknowns, and the potential G.

Every venue's response is the gradient of a convex function of the prices. An arbitrageur
facing a pool maximises the value taken out, π(P) = max over feasible trades Δ of -P·Δ, and by
Danskin's theorem ∇π = -Δ* (Angeris et al. 2022); an external market's walk along its impact
curve has the potential ψ of :func:`~contagion.clearing.external.walk_value`. So

    G(p) = Σ π_pools(p) + Σ ψ_roots(p) - flow·p,        ∇_y G = -p ⊙ E,

is convex in the prices p and its minimum is the clearing: the solver can judge its steps by
G, which falls along every Newton direction (the Hessian is positive semi-definite), even
where a pool's slope jumps at the edge of its fee band.

References
----------
Angeris, G., Chitra, T., Evans, A., Boyd, S. (2022). Optimal routing for constant function
market makers. ACM EC '22 (the arbitrage problem's value is convex in prices).
Danskin, J. M. (1967). The Theory of Max-Min. Springer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from contagion.amm.psm import psm_dai_out, psm_trade_to_price
from contagion.amm.stableswap import StableswapArbitrage
from contagion.clearing.arbitrage import PoolMove, concentrated_move, constant_product_move
from contagion.clearing.external import ImpactCurves, impact, impact_for_units
from contagion.clearing.venues import MarketState, Venues

__all__ = ["SEED_TOL", "Evaluation", "ExcessDemand"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

SEED_TOL = 1e-12
"""Relative excess below which a root counts as balanced (rounding, not flow)."""


def _sum_by(index: IntArray, values: FloatArray, n: int) -> FloatArray:
    """Sums of ``values`` per ``index`` in [0, n) (float even when there are none)."""
    return np.bincount(index, values, n).astype(float, copy=False)


@dataclass(frozen=True)
class Evaluation:
    """Everything evaluated at one set of prices (internal to a round)."""

    y: FloatArray  # log price of every root
    excess: FloatArray  # per root, root units
    gross: FloatArray  # per root, Σ|flows| through its venues (the size rounding scales with)
    jac: FloatArray  # d excess / d y over the active roots
    potential: float  # G, relative to the start prices
    ext: FloatArray  # units the external markets took this round
    ext_slope: FloatArray  # their d units / d log move
    slack: FloatArray  # per root, log move its pools allow before one trades (inf: none)
    cp: tuple[FloatArray, PoolMove]
    cl: tuple[FloatArray, PoolMove]
    ss: tuple[FloatArray, FloatArray, FloatArray]  # balances, fees, gaps of the pools reached
    gem_in: FloatArray
    dai_out: FloatArray


class _PairPools:
    """Two-token pools of one kind reached by the unknowns, with their Jacobian layout."""

    def __init__(self, rnd: ExcessDemand, tokens: IntArray, index: IntArray) -> None:
        self.index = index
        self.tokens = tokens[index]
        self.roots = rnd.v.root[self.tokens]
        self.rate = rnd.rate[self.tokens]
        self.log_rate = rnd.log_rate[self.tokens]
        m = len(rnd.roots)
        pos = rnd.pos[self.roots]
        # Absorbed token i depends on log(P0/P1) = y[root0] - y[root1] + log rates.
        flat = [pos[:, i] * m + pos[:, j] for j in (0, 1) for i in (0, 1)]
        ok = [(pos[:, i] >= 0) & (pos[:, j] >= 0) for j in (0, 1) for i in (0, 1)]
        self.flat = np.concatenate(flat)
        self.ok = np.concatenate(ok)
        self.size = m * m

    def log_price(self, y: FloatArray) -> FloatArray:
        lp = y[self.roots] + self.log_rate
        return np.asarray(lp[:, 0] - lp[:, 1])

    def add(
        self, excess: FloatArray, gross: FloatArray, jac: FloatArray | None, move: PoolMove
    ) -> None:
        units = move.absorbed * self.rate
        n = len(excess)
        excess += _sum_by(self.roots.ravel(), units.ravel(), n)
        gross += _sum_by(self.roots.ravel(), np.abs(units).ravel(), n)
        if jac is not None and self.size:
            slope = move.slope * self.rate
            val = np.concatenate([slope[:, 0], slope[:, 1], -slope[:, 0], -slope[:, 1]])
            jac += _sum_by(self.flat[self.ok], val[self.ok], self.size).reshape(jac.shape)

    def edge(self, n: int, move: PoolMove) -> FloatArray:
        return _sum_by(self.roots.ravel(), (move.edge * self.rate).ravel(), n)


class _StableswapPools:
    """StableSwap pools reached by the unknowns, their coins' roots and Jacobian layout."""

    def __init__(self, rnd: ExcessDemand, reach: NDArray[np.bool_]) -> None:
        v, st = rnd.v, rnd.state
        tokens = v.stableswap.tokens
        reached = np.where(tokens >= 0, reach[v.root[np.maximum(tokens, 0)]], False)
        self.index = np.flatnonzero(reached.any(axis=1))
        width = int((tokens[self.index] >= 0).sum(axis=1).max(initial=2))
        self.tokens = tokens[self.index, :width]
        self.has = self.tokens >= 0
        coins = np.maximum(self.tokens, 0)
        self.roots = v.root[coins]
        self.rate = np.where(self.has, rnd.rate[coins], 0.0)
        self.log_rate = rnd.log_rate[coins]
        self.balances = st.ss_balances[self.index, :width]
        amp, fee = v.stableswap.amp[self.index], v.stableswap.fee[self.index]
        self.pools = rnd.stableswap(self.index, width) if len(self.index) else None
        # The pools' balances are solved to 1e-12 in log price, which their depth (at most
        # Ann·balance per unit of log price) turns into rounding of the amounts.
        n = self.has.sum(axis=1, keepdims=True)
        self.rounding = np.where(self.has, 1e-3 * n * amp[:, None] * self.balances, 0.0) * self.rate
        self.band = -np.log1p(-fee)
        m = len(rnd.roots)
        rows = rnd.pos[self.roots]
        pair = self.has[:, :, None] & self.has[:, None, :] & (rows[:, :, None] >= 0)
        pair &= rows[:, None, :] >= 0
        self.pair = pair
        self.flat = (rows[:, :, None] * m + rows[:, None, :])[pair]
        self.size = m * m

    def trade(
        self,
        rnd: ExcessDemand,
        y: FloatArray,
        excess: FloatArray,
        gross: FloatArray,
        jac: FloatArray | None,
        slack: FloatArray,
        near_edge: float,
    ) -> tuple[FloatArray, FloatArray, FloatArray, float]:
        """Arbitrage every pool to log prices y, adding what they absorb to ``excess``,
        ``gross``, ``jac`` and ``slack``; balances, fees, gaps and their potential's part."""
        if self.pools is None:
            empty = np.zeros((0, self.has.shape[1]))
            return empty, empty, empty, 0.0
        has = self.has
        log_p = np.where(has, y[self.roots] + self.log_rate, -np.inf)
        prices = np.exp(log_p - log_p.max(axis=1, keepdims=True))
        start = rnd.ss_start[self.index, : has.shape[1]]
        trade = self.pools.trade(
            np.where(has, prices, 1.0),
            start=start,
            near_edge=near_edge,
            sensitivity=jac is not None,
        )
        rnd.ss_start[self.index, : has.shape[1]] = trade.balances
        absorbed = np.where(has, trade.balances - self.balances, 0.0)
        units = absorbed * self.rate
        excess += _sum_by(self.roots[has], units[has], len(excess))
        gross += _sum_by(self.roots[has], (np.abs(units) + self.rounding)[has], len(gross))
        spread = np.nanmax(trade.gaps, axis=1) - np.nanmin(trade.gaps, axis=1)
        room = np.broadcast_to(np.maximum(self.band - spread, 0.0)[:, None], has.shape)
        np.minimum.at(slack, self.roots[has], room[has])
        if jac is not None:
            sens = (trade.sensitivity * self.rate[:, :, None])[self.pair]
            jac += _sum_by(self.flat, sens, self.size).reshape(jac.shape)
        token_price = np.exp(y[self.roots]) * self.rate
        potential = float(np.sum(token_price * absorbed))
        return trade.balances, np.where(has, trade.fees, 0.0), trade.gaps, potential


class ExcessDemand:
    """One round's problem: its fixed inputs, the unknowns and the evaluation."""

    def __init__(
        self,
        venues: Venues,
        state: MarketState,
        flow: FloatArray,
        ref: FloatArray,
        rate: FloatArray,
    ) -> None:
        self.v, self.state, self.flow, self.ref = venues, state, flow, ref
        self.rate, self.log_rate = rate, np.log(rate)
        self.n = venues.n_roots
        depth = venues.depth_usd
        self.depth = np.where(np.isfinite(depth) & (depth > 0), depth, 0.0)
        self.pinned = venues.pinned
        self.l0 = impact(state.external_sold_usd * (1.0 - venues.resilience), self.depth)
        self.curves = ImpactCurves(ref, self.depth, self.l0)
        self.units0 = self.curves.units0
        self.y_start = np.where(self.pinned, np.log(ref), np.log(state.root_price))
        self.price_start = np.exp(self.y_start)
        # Each StableSwap pool's last answer this round: the next solve starts there.
        self.ss_start = np.full(venues.stableswap.balances.shape, np.nan)
        self._stableswap: dict[tuple[bytes, int], StableswapArbitrage] = {}
        self.active = np.zeros(self.n, bool)
        self.roots = np.zeros(0, np.int64)

    def stableswap(self, index: IntArray, width: int) -> StableswapArbitrage:
        """The StableSwap pools ``index`` (their first ``width`` coins) at the round's start
        balances: built once a round for each set of pools (their invariants are solved
        on construction)."""
        key = (index.tobytes(), width)
        if key not in self._stableswap:
            ss = self.v.stableswap
            self._stableswap[key] = StableswapArbitrage(
                self.state.ss_balances[index, :width], ss.amp[index], ss.fee[index]
            )
        return self._stableswap[key]

    def select(self, active: NDArray[np.bool_]) -> None:
        """Fix the unknowns (active roots) and the venues they reach (kept when they are
        the ones already fixed: the start's search fixes every root that may move)."""
        if len(self.roots) and np.array_equal(active, self.active):
            return
        v = self.v
        self.active = active
        self.roots = np.flatnonzero(active)
        self.pos = np.full(self.n, -1, np.int64)
        self.pos[self.roots] = np.arange(len(self.roots))
        reach = active | self.pinned
        cp_tok, cl_tok = v.constant_product.tokens, v.concentrated.tokens
        self.cp = _PairPools(self, cp_tok, np.flatnonzero(reach[v.root[cp_tok]].any(axis=1)))
        self.cl = _PairPools(self, cl_tok, np.flatnonzero(reach[v.root[cl_tok]].any(axis=1)))
        self.ss = _StableswapPools(self, reach)
        # What the pools start the round from, read once for every evaluation.
        self.cp_reserves = self.state.cp_reserves[self.cp.index]
        self.cp_fee = v.constant_product.fee[self.cp.index]
        self.cl_sqrt_price = self.state.cl_sqrt_price[self.cl.index]
        self.cl_amounts = v.concentrated.amounts(self.cl.index, self.cl_sqrt_price)[:2]

    def psm_log_ratio(self, y: FloatArray) -> FloatArray:
        """log(P_stable / P_gem) of every module at log prices y."""
        psm = self.v.psm
        stable = y[self.v.root[psm.stable]] + self.log_rate[psm.stable]
        return np.asarray(stable - y[self.v.root[psm.gem]] - self.log_rate[psm.gem])

    def evaluate(
        self, y: FloatArray, gem_in: FloatArray, *, jacobian: bool = True, near_edge: float = 0.0
    ) -> Evaluation:
        """Excess, Jacobian and potential at log prices y, modules trading ``gem_in``.

        ``near_edge``: pools that close to their band's edge (share of the band) get the
        slope of the side where they would trade (see :func:`constant_product_move`).
        """
        v, m = self.v, len(self.roots)
        p = np.exp(y)
        excess, gross, potential, ext, slope = self._markets(y, p)
        jac = np.zeros((m, m)) if jacobian else None
        if jac is not None:
            jac[np.arange(m), np.arange(m)] -= slope[self.roots]
        token_price = p[v.root] * self.rate
        cp = constant_product_move(self.cp_reserves, self.cp_fee, self.cp.log_price(y), near_edge)
        cl = concentrated_move(
            v.concentrated,
            self.cl.index,
            self.cl_sqrt_price,
            self.cl.log_price(y),
            near_edge,
            self.cl_amounts,
        )
        slack = np.full(self.n, np.inf)
        for pairs, move in ((self.cp, cp[1]), (self.cl, cl[1])):
            pairs.add(excess, gross, jac, move)
            potential -= float(np.sum(token_price[pairs.tokens] * move.absorbed))
            room = np.maximum(move.band - np.abs(move.gap), 0.0)
            np.minimum.at(slack, pairs.roots.ravel(), np.repeat(room, 2))
        ss = self.ss.trade(self, y, excess, gross, jac, slack, near_edge)
        potential -= ss[3]
        pools = Evaluation(
            y, excess, gross, jac if jac is not None else np.zeros((0, 0)), potential, ext,
            slope, slack, cp, cl, ss[:3], np.zeros(len(v.psm)), np.zeros(len(v.psm)),
        )  # fmt: skip
        return self.with_modules(pools, gem_in)

    def _markets(
        self, y: FloatArray, p: FloatArray
    ) -> tuple[FloatArray, FloatArray, float, FloatArray, FloatArray]:
        """The flow and the external markets at log prices y (prices p): excess, gross,
        potential, the units the markets took and their slopes."""
        excess = self.flow.copy()
        gross = np.abs(self.flow)
        potential = -float(self.flow @ (p - self.price_start))
        # External markets: units walked along the impact curve since the start.
        lm = np.log(self.ref) - y
        units, slope = self.curves.units(lm)
        ext = np.where(self.pinned, 0.0, units - self.units0)
        excess += ext
        gross += np.abs(units) + np.abs(self.units0)  # the difference rounds at their size
        walk = self.curves.walk(lm)
        potential += float(np.where(self.pinned, 0.0, walk).sum())
        return excess, gross, potential, ext, slope

    def with_modules(self, point: Evaluation, gem_in: FloatArray) -> Evaluation:
        """``point`` with the modules trading ``gem_in`` instead of what it has them trade.

        A module's flow is an input, not a function of the prices (its state fixes it), and
        enters the excess, the gross flows and the potential linearly: the pools need no
        new evaluation for other module flows at the same prices.
        """
        if np.array_equal(gem_in, point.gem_in):
            return point
        psm = self.v.psm
        excess, gross = point.excess.copy(), point.gross.copy()
        potential = point.potential
        dai_out = psm_dai_out(gem_in, psm.tin, psm.tout)
        trades = [(1.0, gem_in, dai_out)]
        if point.gem_in.any():
            trades.insert(0, (-1.0, point.gem_in, point.dai_out))
        for sign, gem, dai in trades:
            for amount, tok in ((gem, psm.gem), (-dai, psm.stable)):
                roots, rate = self.v.root[tok], self.rate[tok]
                u = amount * rate
                excess += sign * _sum_by(roots, u, self.n)
                gross += sign * _sum_by(roots, np.abs(u), self.n)
                moved = np.exp(point.y[roots]) * rate - self.price_start[roots] * rate
                potential -= sign * float(moved @ amount)  # linear in prices: only the move
        return replace(
            point, excess=excess, gross=gross, potential=potential, gem_in=gem_in, dai_out=dai_out
        )

    def start(
        self,
        y: FloatArray,
        gem_in: FloatArray,
        chord: FloatArray | None = None,
        at_start: Evaluation | None = None,
    ) -> tuple[FloatArray, bool]:
        """Start prices: each root with an external market placed where that market alone
        absorbs what reaches it, first its own excess, then, for roots untouched so far,
        what the pools pass on from the roots already moved (at zero impact the curve is
        flat and Newton would have no slope to follow).

        Given ``chord``, a Jacobian over the active roots from an earlier solve of the same
        venues (the last round's, at its answer), the start is instead one step of Newton's
        method with it from the start prices (a chord step): where the venues respond as
        they did then, the step lands near the answer. The step is capped at a change of
        one in any log price, as the solver caps its own. Returns the start and whether it
        is the chord step's.

        ``at_start``: an evaluation at the round's start prices (:meth:`seeds` makes one),
        whose pools' trades stand for those at ``y`` in the first step (the two differ at
        most by a module's pinned ratio rounded); only the modules' flows are exchanged."""
        m = len(self.roots)
        first = None if at_start is None else self.with_modules(at_start, gem_in)
        if chord is not None and chord.shape == (m, m) and m:
            point = first if first is not None else self.evaluate(y, gem_in, jacobian=False)
            excess = point.excess[self.roots]
            step = np.linalg.lstsq(chord, -excess, rcond=None)[0]
            if np.all(np.isfinite(step)):
                y = y.copy()
                y[self.roots] += np.clip(step, -1.0, 1.0)
                return y, True
        waiting = self.active & (self.depth > 0)
        for _ in range(2):
            point = first if first is not None else self.evaluate(y, gem_in, jacobian=False)
            first = None
            target = self.units0 - (point.excess - point.ext)
            move = waiting & (np.abs(point.excess) > SEED_TOL * (1.0 + point.gross))
            lm = impact_for_units(target, self.ref, self.depth)
            y = np.where(move, np.log(self.ref) - lm, y)
            waiting &= ~move
        return y, False

    def exact_rows(
        self, point: Evaluation, step: FloatArray, eligible: NDArray[np.bool_]
    ) -> NDArray[np.bool_]:
        """Solve exactly the roots whose only moving venue is their external market.

        Such a row is decoupled from the others in the Jacobian, and where its answer is no
        trade at all (pools in band, no flow) it is a double root of the square-root curve,
        on which Newton's method converges only linearly; inverting the curve lands on it.
        Only where every pool of the root stays inside its band over the move: one that
        would start trading couples the row again (its slope jumps at the band's edge).
        ``step`` (log prices of the active roots) is changed in place.
        """
        jac = point.jac
        diag = np.diag(jac)
        others = np.abs(jac).sum(axis=1) - np.abs(diag)
        alone = eligible & (self.depth[self.roots] > 0) & (others == 0)
        alone &= diag + point.ext_slope[self.roots] == 0
        if not alone.any():
            return alone
        r = self.roots[alone]
        target = self.units0[r] - (point.excess[r] - point.ext[r])
        lm = impact_for_units(target, self.ref[r], self.depth[r])
        exact = step.copy()
        exact[alone] = np.log(self.ref[r]) - lm - point.y[r]
        reach = float(np.max(np.abs(exact), initial=0.0))
        alone &= np.abs(exact) + reach < point.slack[self.roots]
        step[alone] = exact[alone]
        return alone

    def damping(self, point: Evaluation) -> FloatArray:
        """Each active root's depth just outside its bands, USD per log price."""
        depth = self.cp.edge(self.n, point.cp[1]) + self.cl.edge(self.n, point.cl[1])
        depth += self.depth / (self.ref * 0.01)  # the impact curve's slope near a 2 % move
        ss = self.ss
        depth += _sum_by(ss.roots[ss.has], 0.5 * ss.balances[ss.has], self.n)
        usd = depth * np.exp(point.y)
        floor = 1e-12 * (1.0 + np.abs(self.flow) * np.exp(point.y))
        return np.maximum(usd, floor)[self.roots]

    def seeds(self, *, settled: bool = False) -> tuple[NDArray[np.bool_], Evaluation]:
        """Roots that must move: flow, a moved market, a pool or module out of its band; and
        the evaluation at the start prices (every venue, modules traded to their bands)
        that found the out-of-band ones.

        ``settled``: the start is where a converged clearing left these venues, at these
        prices and rates, so every pool is inside its band (to the arbitrage's rounding):
        the pools trade nothing at the start and are not evaluated; the evaluation has the
        flow, the external markets and the modules, and no pool trades."""
        st, psm = self.state, self.v.psm
        ratio = np.exp(self.psm_log_ratio(self.y_start))
        gem_in = psm_trade_to_price(st.psm_gem, st.psm_headroom, ratio, psm.tin, psm.tout)
        if settled:
            point = self.with_modules(self._untraded(self.y_start), gem_in)
        else:
            self.select(~self.pinned)
            point = self.evaluate(self.y_start, gem_in, jacobian=False)
        moved = np.abs(np.log(self.ref) - self.y_start - self.l0) > SEED_TOL
        seeds = (
            (self.flow != 0)
            | ((self.depth > 0) & moved)
            | (np.abs(point.excess) > SEED_TOL * (1.0 + point.gross))
        ) & ~self.pinned
        return seeds, point

    def _untraded(self, y: FloatArray) -> Evaluation:
        """The flow and the external markets at y with every pool left as it is."""
        v = self.v
        excess, gross, potential, ext, slope = self._markets(y, np.exp(y))
        none = np.zeros((0, 2))
        still = PoolMove(none, none, none, none, np.zeros(0), np.zeros(0))
        width = v.stableswap.balances.shape[1]
        ss = (np.zeros((0, width)), np.zeros((0, width)), np.zeros((0, width)))
        return Evaluation(
            y, excess, gross, np.zeros((0, 0)), potential, ext, slope,
            np.full(self.n, np.inf), (none, still), (none, still), ss,
            np.zeros(len(v.psm)), np.zeros(len(v.psm)),
        )  # fmt: skip
