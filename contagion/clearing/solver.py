"""Market clearing: root prices at which every venue together absorbs the round's net flow.

The unknowns are the log USD prices y of the root assets. Given the round's exogenous net
flow q (root units, positive = buy) and the venues' states at the start of the round, the
solver finds y with, for every root r,

    q_r + Σ_venues absorbed_r(y) = 0,

where every pool is arbitraged to the market price ratios within its fee band
(:mod:`contagion.clearing.arbitrage`, :func:`contagion.amm.stableswap.stableswap_arbitrage`),
each external market sits on its square-root impact curve (:mod:`contagion.clearing.external`)
and each peg stability module trades at its band's edge while its inventory lasts
(:mod:`contagion.clearing.modules`). Pools link roots, so one sale moves every price it
reaches through arbitrage: the excess-demand system of a fire sale across venues (Cont &
Schaanning 2017), solved for all roots at once.

Only *active* roots are unknowns: those with flow, with a moved reference price or impact,
with a pool or module out of its band at the start, and every root linked to them by pools or
modules (a perfectly elastic market, ``depth = inf``, breaks a link: its price is fixed).

Method: the excess demand is minus the gradient of a convex potential G of the prices
(:mod:`contagion.clearing.excess`), which :mod:`contagion.clearing.newton` minimises by a
damped Newton method with a line search on G, started where the previous round's Jacobian
predicts (a chord step) when one is given; the modules' states are settled around it
(:mod:`contagion.clearing.modules`). Prices stay within ``max_log_move`` of the start;
running out of iterations is flagged (or raised), never hidden.

References
----------
Cont, R., Schaanning, E. (2017). Fire sales, indirect contagion and systemic stress testing.
Greenwood, R., Landier, A., Thesmar, D. (2015). Vulnerable banks. J. Financial Economics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from contagion.clearing.excess import Evaluation, ExcessDemand
from contagion.clearing.external import sold_for_impact
from contagion.clearing.modules import ModuleStates
from contagion.clearing.newton import minimise
from contagion.clearing.venues import MarketState, Venues
from contagion.exceptions import ConvergenceError

__all__ = ["Clearing", "QuietClearing", "clear"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Clearing:
    """A cleared round: new state, prices and what every venue absorbed.

    Attributes
    ----------
    state
        The venues after the round (the next round starts from it).
    price
        USD price of each root.
    absorbed
        Root units every venue together took in, per root (= -flow where cleared).
    external_absorbed
        Root units the external markets took in.
    cp_absorbed, cl_absorbed, ss_absorbed
        Token units each pool took in (negative: paid out), shaped like its tokens.
    psm_absorbed
        Token units each module took in, columns (stablecoin, gem).
    cp_fees, cl_fees, ss_fees, psm_fees
        Fees kept per pool and token (token units); per module in Dai.
    active
        Roots whose price was solved for.
    secant
        d excess / d log price over the active roots (root units): the Jacobian at the
        answer with Broyden's update through the round's move, so that it maps the move
        to the excess the round started with. The next round's solve predicts its start
        from it: in a cascade one round's flow looks much like the last.
    iterations, converged, residual
        Newton iterations, whether the residual met the tolerance, and the largest
        remaining excess over roots, USD.
    ref_price, rate
        The reference prices and rates it cleared with.
    """

    state: MarketState
    price: FloatArray
    absorbed: FloatArray
    external_absorbed: FloatArray
    cp_absorbed: FloatArray
    cl_absorbed: FloatArray
    ss_absorbed: FloatArray
    psm_absorbed: FloatArray
    cp_fees: FloatArray
    cl_fees: FloatArray
    ss_fees: FloatArray
    psm_fees: FloatArray
    active: NDArray[np.bool_]
    secant: FloatArray
    iterations: int
    converged: bool
    residual: float
    ref_price: FloatArray
    rate: FloatArray

    def settled(
        self, venues: Venues, state: MarketState, ref_price: FloatArray, rate: FloatArray
    ) -> bool:
        """Whether ``state`` is where this clearing left the venues, with every pool inside
        its band at the prices it starts from: it converged, this is its state, and the
        rates and the pinned roots' prices are those it cleared with (the pools' prices
        are then their own at the end of it)."""
        pinned = venues.pinned
        return (
            self.converged
            and state is self.state
            and np.array_equal(rate, self.rate)
            and np.array_equal(ref_price[pinned], self.ref_price[pinned])
        )


@dataclass(frozen=True)
class QuietClearing:
    """A clearing that moved nothing, kept with its inputs: the same inputs clear the same.

    With no flow, no moved market and every venue inside its band, a round leaves prices
    and venues where they were (:func:`clear`'s first exit). :func:`clear` is a function of
    its inputs, so the next round, if it starts from the state this one returned with the
    same flows, reference prices and rates, has this answer too: a cascade waiting for an
    oracle's heartbeat spends such rounds, and each would otherwise evaluate every venue.
    """

    state: MarketState
    flow: FloatArray
    ref_price: FloatArray
    rate: FloatArray
    result: Clearing

    @classmethod
    def of(
        cls,
        state: MarketState,
        flow: FloatArray,
        ref_price: FloatArray,
        rate: FloatArray,
        result: Clearing,
    ) -> QuietClearing | None:
        """``result`` of clearing ``state`` with these inputs, if it moved nothing."""
        if result.active.any() or not result.state.same_as(state):
            return None
        return cls(result.state, flow.copy(), ref_price.copy(), rate.copy(), result)

    def answer(
        self, state: MarketState, flow: FloatArray, ref_price: FloatArray, rate: FloatArray
    ) -> Clearing | None:
        """The clearing of these inputs if they are this one's, else None."""
        same = (
            state.same_as(self.state)
            and np.array_equal(flow, self.flow)
            and np.array_equal(ref_price, self.ref_price)
            and np.array_equal(rate, self.rate)
        )
        return self.result if same else None


def clear(
    venues: Venues,
    state: MarketState,
    flow: ArrayLike,
    ref_price: ArrayLike,
    rate: ArrayLike,
    *,
    tol: float = 1e-8,
    max_iter: int = 100,
    max_log_move: float = 20.0,
    raise_on_failure: bool = False,
    previous: Clearing | None = None,
) -> Clearing:
    """Clear one round: root prices at which all venues together absorb the net flow.

    Parameters
    ----------
    venues
        The world's venues (:class:`Venues`).
    state
        Their state at the start of the round.
    flow
        Exogenous net flow per root this round, root units (positive = buy).
    ref_price
        Reference price of each root's external market, USD (scenarios move it; pinned
        roots take it as their price).
    rate
        Root units per token, per asset (write-downs lower it).
    tol
        Converged when every root's excess is below ``tol`` times the USD at stake (plus one
        dollar): what went through the round's venues, and the sizes their amounts are
        computed from (a market's cumulative sale, a StableSwap pool's depth), which set
        how finely they round.
    max_iter
        Most Newton iterations.
    max_log_move
        Prices stay within ``exp(±max_log_move)`` of the start of the round.
    raise_on_failure
        Raise :class:`~contagion.exceptions.ConvergenceError` instead of returning an
        unconverged result (which is flagged and carries its residual either way).
    previous
        An earlier round's clearing of the same venues (the last one that solved for
        prices). Its secant Jacobian, over the roots it solved for that are active now,
        predicts this round's start (one Newton step on the start's excess, as a chord
        method takes it), from which Newton's method starts with little damping: in a
        cascade one round's flow looks much like the last, and the solve needs one or two
        steps instead of a dozen. The answer is the same either way (the minimum of a
        convex potential, to ``tol``); only the path to it changes. When ``state`` is where
        it left the venues (:meth:`Clearing.settled`), the pools are inside their bands at
        the start and the search for the unknowns does not evaluate them.

    Returns
    -------
    Clearing
        New state, prices, what every venue absorbed, fees, and the solver's diagnostics.

    Examples
    --------
    Selling 100 ETH into a market 1 M USD deep (2 %) at 2,000 USD, with no pools: the sale
    ends on the square-root curve, a fall of 0.02·√(Q/D) in log price:

    >>> venues = Venues(root=[0], depth_usd=[1e6])
    >>> state = MarketState.initial(venues, [2000.0])
    >>> result = clear(venues, state, [-100.0], [2000.0], [1.0])
    >>> sold = result.state.external_sold_usd[0]
    >>> round(float(result.price[0]), 2), round(float(sold))
    (1982.24, 198814)
    >>> bool(np.isclose(np.log(2000.0 / result.price[0]), 0.02 * np.sqrt(sold / 1e6)))
    True
    """
    n = venues.n_roots
    flow_, ref_ = np.asarray(flow, float), np.asarray(ref_price, float)
    rate_ = np.asarray(rate, float)
    if flow_.shape != (n,) or ref_.shape != (n,) or rate_.shape != venues.root.shape:
        raise ValueError("flow and ref_price need one value per root, rate one per asset")
    if not (np.all(np.isfinite(flow_)) and np.all(ref_ > 0) and np.all(rate_ > 0)):
        raise ValueError("flows must be finite, reference prices and rates positive")
    rnd = ExcessDemand(venues, state, flow_, ref_, rate_)
    # Started where the last clearing left the venues, the pools need no look at the start;
    # the short cut stands when nothing moves or the last round's secant gives the start
    # (the cold start reads the pools' trades there).
    settled = previous is not None and previous.settled(venues, state, ref_, rate_)
    active, at_start = _unknowns(rnd, settled=settled)
    chord = _chord(previous, active)
    if settled and active.any() and chord is None:
        active, at_start = _unknowns(rnd)
    rnd.select(active)
    modules = ModuleStates(rnd)
    if not active.any():
        # No flow, no moved market, every pool and module inside its band: the excess, the
        # potential's gradient, is zero at the start prices, which are therefore its minimum
        # (G is convex). Prices stay; only pools between pinned roots may trade.
        point = rnd.evaluate(rnd.y_start, modules.fixed_flows(rnd.y_start), jacobian=False)
        return _result(rnd, point, 0, True, 0.0, np.zeros((0, 0)))
    _, free = modules.reduction()
    start_flows = modules.fixed_flows(rnd.y_start)
    at_start = rnd.with_modules(at_start, start_flows)
    y, predicted = rnd.start(
        modules.place(rnd.y_start[rnd.roots[free]], free),
        start_flows,
        chord=chord,
        at_start=at_start,
    )
    iterations = 0
    for _ in range(3 * len(modules.order) + 1):
        _, free = modules.reduction()
        point, used = minimise(
            rnd,
            modules,
            y[rnd.roots[free]],
            tol,
            max_iter - iterations,
            max_log_move,
            predicted=predicted and iterations == 0,
        )
        iterations += used
        y = point.y
        gem_in = modules.fixed_flows(y) + modules.pinned_flows(point)
        if not modules.update(y, gem_in):
            break
    # The pools' trades at the last point stand; only the modules' flows are its own.
    final = rnd.with_modules(point, gem_in)
    price = np.exp(y[rnd.roots])
    residual = float(np.max(np.abs(final.excess[rnd.roots] * price), initial=0.0))
    converged = residual <= tol * (1.0 + float(final.gross[rnd.roots] @ price))
    move = (y - rnd.y_start)[rnd.roots]
    secant = _secant(point.jac, move, at_start.excess[rnd.roots])
    result = _result(rnd, final, iterations, converged, residual, secant)
    if raise_on_failure and not converged:
        raise ConvergenceError(
            f"market clearing left {residual:.3g} USD of excess after {iterations} iterations",
            result=result,
        )
    return result


def _unknowns(rnd: ExcessDemand, *, settled: bool = False) -> tuple[NDArray[np.bool_], Evaluation]:
    """The roots to solve for, every root linked to a seed (:meth:`ExcessDemand.seeds`),
    and the evaluation at the start."""
    v = rnd.v
    seeded = np.zeros(int(v.component.max(initial=-1)) + 2, bool)
    seeds, at_start = rnd.seeds(settled=settled)
    seeded[v.component[seeds] + 1] = True
    return seeded[v.component + 1] & ~v.pinned, at_start


def _secant(jacobian: FloatArray, move: FloatArray, start_excess: FloatArray) -> FloatArray:
    """Broyden's update of ``jacobian`` (at the answer) through the round's ``move`` of log
    prices, which took the excess from ``start_excess`` to zero: J + (-E0 - J·s)·sᵀ / sᵀs.

    It keeps J on every direction across the move and takes the slope along it from the
    whole move instead of its end: a round that starts with the excess this one started
    with is predicted to move as this one did, curvature included (Broyden 1965; Nocedal &
    Wright 2006, §11.1). A negligible move leaves J as it is."""
    size = float(move @ move)
    if jacobian.shape != (len(move), len(move)) or not size > 1e-18:
        return jacobian
    result: FloatArray = jacobian + np.outer(-start_excess - jacobian @ move, move) / size
    return result


def _chord(previous: Clearing | None, active: NDArray[np.bool_]) -> FloatArray | None:
    """The previous solve's secant over this round's active roots: its rows and columns
    of the roots active in both; roots it did not solve for get none (the chord step leaves
    them where the start puts them)."""
    if previous is None or not previous.active.any() or not active.any():
        return None
    if np.array_equal(previous.active, active):
        return previous.secant
    common = active & previous.active
    if not common.any():
        return None
    old = (np.cumsum(previous.active) - 1)[common]
    new = (np.cumsum(active) - 1)[common]
    m = int(active.sum())
    chord = np.zeros((m, m))
    chord[np.ix_(new, new)] = previous.secant[np.ix_(old, old)]
    return chord


def _result(
    rnd: ExcessDemand,
    point: Evaluation,
    iterations: int,
    converged: bool,
    residual: float,
    secant: FloatArray,
) -> Clearing:
    """The round's outcome: new state and what each venue absorbed at the last point."""
    v, st = rnd.v, rnd.state
    price = np.exp(point.y)
    # Pinned markets take whatever the other venues leave; others walked their curve.
    pinned_take = -(point.excess - point.ext)
    ext = np.where(rnd.pinned, pinned_take, point.ext)
    walked = sold_for_impact(np.log(rnd.ref) - point.y, rnd.depth)
    sold = np.select(
        [rnd.pinned, rnd.active & (rnd.depth > 0), rnd.depth > 0],
        [
            st.external_sold_usd + pinned_take * rnd.ref,
            walked,
            st.external_sold_usd * (1.0 - v.resilience),
        ],
        0.0,
    )

    def update(old: FloatArray, index: IntArray, new: FloatArray) -> FloatArray:
        out = old.copy()
        out[index] = new
        return out

    cp_new, cp_move = point.cp
    cl_new, cl_move = point.cl
    ss_bal, ss_abs, ss_fee = (
        st.ss_balances.copy(),
        np.zeros_like(st.ss_balances),
        np.zeros_like(st.ss_balances),
    )
    bal, fee, _ = point.ss
    k, width = rnd.ss.index, bal.shape[1]
    ss_abs[k, :width] = bal - st.ss_balances[k, :width]
    ss_bal[k, :width] = bal
    ss_fee[k, :width] = fee
    ss_abs[np.isnan(st.ss_balances)] = np.nan
    gem_in, dai_out = point.gem_in, point.dai_out
    psm_fees = np.where(gem_in > 0, gem_in * v.psm.tin, -gem_in * v.psm.tout)
    state = MarketState(
        root_price=np.where(rnd.active | rnd.pinned, price, st.root_price),
        external_sold_usd=sold,
        cp_reserves=update(st.cp_reserves, rnd.cp.index, cp_new),
        cl_sqrt_price=update(st.cl_sqrt_price, rnd.cl.index, cl_new),
        ss_balances=ss_bal,
        psm_gem=st.psm_gem + gem_in,
        psm_headroom=st.psm_headroom - gem_in,
    )
    zeros2 = np.zeros((len(v.constant_product), 2))
    return Clearing(
        state=state,
        price=state.root_price,
        absorbed=point.excess - rnd.flow + (ext - point.ext),
        external_absorbed=ext,
        cp_absorbed=update(zeros2, rnd.cp.index, cp_move.absorbed),
        cl_absorbed=update(np.zeros((len(v.concentrated), 2)), rnd.cl.index, cl_move.absorbed),
        ss_absorbed=ss_abs,
        psm_absorbed=np.column_stack([-dai_out, gem_in]),
        cp_fees=update(zeros2, rnd.cp.index, cp_move.fees),
        cl_fees=update(np.zeros((len(v.concentrated), 2)), rnd.cl.index, cl_move.fees),
        ss_fees=ss_fee,
        psm_fees=psm_fees,
        active=rnd.active,
        secant=secant,
        iterations=iterations,
        converged=converged,
        residual=residual,
        ref_price=rnd.ref,
        rate=rnd.rate,
    )
