"""Minimising the clearing potential: a damped Newton method with a line search.

The unknowns z are log prices (a module pinning a root's price to another's removes it,
y = T·z + c). At each step the Newton system ``(H + μ·D)·δ = -∇G`` is solved with H the
Hessian of G in the prices carried to log prices, ``diag(p)·(-dE/dp)·diag(p)``, which is
positive semi-definite and makes δ Newton's step on E = 0; a Levenberg-Marquardt term μ·D
(D: each root's depth, or its pools' depth just outside their bands where it has none yet)
keeps δ finite where pools sit inside their bands and slopes are zero, and shrinks after
every full step.

Fee bands make E piecewise smooth: a pool's slope jumps from zero to its depth at the edge
of its band. Three things keep Newton's method going across such kinks:

* the line search: G is convex along the step, so where the full step overshoots, regula
  falsi on the directional derivative (Illinois rule) finds where G stops falling steeply,
  past every kink on the way at once;
* the slope at an edge: a pool within 1 % of its band's edge is given the slope of the side
  where it would trade; when that stalls (the answer lies on the inside) the plain
  one-sided slopes are used again;
* roots whose only moving venue is their own external market are solved exactly (the
  square-root curve has a double root where nothing trades, where Newton is slow).

References
----------
Nocedal, J., Wright, S. (2006). Numerical Optimization, 2nd ed., §3.1 (Armijo's condition),
§10.3 (Levenberg-Marquardt).
Dowell, M., Jarratt, P. (1971). A modified regula falsi method for computing the root of an
equation. BIT 11 (the Illinois rule).
Qi, L., Sun, J. (1993). A nonsmooth version of Newton's method. Math. Programming 58.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from contagion.clearing.excess import Evaluation, ExcessDemand
from contagion.clearing.modules import ModuleStates

__all__ = ["minimise"]

FloatArray = NDArray[np.float64]

_MAX_STEP = 1.0  # largest change of a log price in one step
_MU_START, _MU_MIN, _MU_MAX = 1e-3, 1e-12, 1e12
_MU_PREDICTED = 1e-5  # from a start the previous round's secant predicted
_BACKTRACK = (0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625)
_ARMIJO = 1e-4
_BRACKET_STEPS = 6
_NEAR_EDGE = 0.01  # share of a fee band within which a pool counts as on its edge

_Trial = tuple[Evaluation, FloatArray, FloatArray, float, float]
"""A point, the gradient and Hessian of G over the unknowns, the residual, its scale."""


def _solve(matrix: FloatArray, rhs: FloatArray) -> FloatArray:
    """Solve the Newton system; least squares where it is singular."""
    try:
        step = np.asarray(np.linalg.solve(matrix, rhs), dtype=np.float64)
        if np.all(np.isfinite(step)):
            return step
    except np.linalg.LinAlgError:
        pass
    return np.asarray(np.linalg.lstsq(matrix, rhs, rcond=None)[0], dtype=np.float64)


def minimise(
    rnd: ExcessDemand,
    modules: ModuleStates,
    z: FloatArray,
    tol: float,
    max_iter: int,
    max_log_move: float,
    *,
    predicted: bool = False,
) -> tuple[Evaluation, int]:
    """Minimise the potential over the unknowns z; the last point and iterations used.

    ``predicted``: z is a chord step's prediction (:meth:`ExcessDemand.start`), near the
    answer, where the linear model holds: the damping starts small, so that the first
    step contracts the residual as Newton's does, not by the damping's share."""
    transform, free = modules.reduction()
    gem_in = modules.fixed_flows(rnd.y_start)
    start = rnd.y_start[rnd.roots[free]]
    lo, hi = start - max_log_move, start + max_log_move
    ties = transform != 0
    own = np.argmax(ties, axis=1) if ties.size else np.zeros(len(ties), np.int64)
    plain = (ties.sum(axis=1) == 1) & (ties.sum(axis=0)[own] == 1)

    near_edge = [_NEAR_EDGE]

    def at(z_: FloatArray) -> _Trial:
        """Point, gradient and Hessian of G over z, largest gradient, tolerance scale."""
        point = rnd.evaluate(modules.place(z_, free), gem_in, near_edge=near_edge[0])
        price = np.exp(point.y[rnd.roots])
        grad_y = -point.excess[rnd.roots] * price
        # diag(p)·(-dE/dp)·diag(p): the Hessian of G in p, positive semi-definite, carried
        # to log prices without the term in E (which vanishes at the answer and would make
        # it indefinite far from it); with it the step is Newton's step on E = 0.
        hess_y = -price[:, None] * point.jac
        grad = transform.T @ grad_y
        scale = 1.0 + float(point.gross[rnd.roots] @ price)
        hess = transform.T @ hess_y @ transform
        return point, grad, hess, float(np.max(np.abs(grad), initial=0.0)), scale

    z = np.clip(z, lo, hi)
    here = at(z)
    depth = np.abs(transform).T @ rnd.damping(here[0])
    mu, iterations = (_MU_PREDICTED if predicted else _MU_START), 0
    while here[3] > tol * here[4] and iterations < max_iter:
        iterations += 1
        _, grad, hess, _, _ = here
        step = _solve(hess + mu * np.diag(np.maximum(np.abs(np.diag(hess)), depth)), -grad)
        if not float(grad @ step) < 0.0:
            mu *= 10.0
            if mu > _MU_MAX:
                break
            continue
        step = _shaped(rnd, here[0], step, transform, plain)
        if not np.any(np.abs(step) > 1e-14):
            break  # prices settled to rounding; what is left is the venues' own rounding
        found = _line_search(at, z, step, here, lo, hi, tol)
        if found is None:
            mu *= 10.0
            if mu > _MU_MAX:
                break
            continue
        alpha, found_here = found
        if found_here[3] > 0.9 * here[3]:
            # Stalled: the answer is on the other side of some pool's band edge than the
            # slope it was given; switch between the slope where a pool near its edge
            # would trade and the one where it is.
            near_edge[0] = 0.0 if near_edge[0] else _NEAR_EDGE
            found_here = at(np.clip(z + alpha * step, lo, hi))
        here = found_here
        z = np.clip(z + alpha * step, lo, hi)
        # Trust the model more after a full step, less after a short one.
        mu = max(mu / 10.0, _MU_MIN) if alpha == 1.0 else min(mu * 2.0, _MU_MAX)
        if modules.crossed(here[0].y):
            break  # a module must change state before going on
    return here[0], iterations


def _line_search(
    at: Callable[[FloatArray], _Trial],
    z: FloatArray,
    step: FloatArray,
    here: _Trial,
    lo: FloatArray,
    hi: FloatArray,
    tol: float,
) -> tuple[float, _Trial] | None:
    """A step length along ``step`` that lowers G enough, and the point there, or None.

    The full step is taken when it satisfies Armijo's condition. Otherwise it has usually
    crossed fee bands' edges, where slopes jump from zero to a pool's depth, and overshot:
    G is convex along the ray, so its slope there, φ'(α) = ∇G·step, rises through zero
    between 0 and 1, and regula falsi with the Illinois rule on φ' finds where it no
    longer falls steeply (|φ'| at most half its start), taking every kink on the way at
    once. Halving the step is the last resort.
    """
    point, grad, _, residual, scale = here
    slope0 = float(grad @ step)

    def good(trial: _Trial, alpha: float) -> bool:
        return _acceptable(trial, (point, residual, scale), alpha * slope0, tol)

    full = at(np.clip(z + step, lo, hi))
    if good(full, 1.0):
        return 1.0, full
    a_lo, d_lo, a_hi, d_hi = 0.0, slope0, 1.0, float(full[1] @ step)
    best: tuple[float, _Trial] | None = None
    side = repeats = 0
    for _ in range(_BRACKET_STEPS):
        if not d_hi > 0.0:
            break
        width = a_hi - a_lo
        alpha = a_lo - d_lo * width / (d_hi - d_lo)
        if repeats >= 2:
            # The same end moved twice and halving the other's slope has not told yet: a
            # slope that jumps by orders of magnitude at a kink (a deep pool starting to
            # trade) keeps the secant at one end, creeping 1 % of the bracket a trial;
            # bisect (3 % fewer evaluations over ten ETH crashes, same answers).
            alpha = a_lo + 0.5 * width
        alpha = min(max(alpha, a_lo + 0.01 * width), a_hi - 0.01 * width)
        trial = at(np.clip(z + alpha * step, lo, hi))
        d = float(trial[1] @ step)
        if good(trial, alpha):
            best = (alpha, trial)
            if abs(d) <= 0.5 * abs(slope0):
                return best
        # Illinois: halve the slope kept at the end that stays, so both ends move.
        if d > 0.0:
            a_hi, d_hi = alpha, d
            d_lo = d_lo / 2.0 if side > 0 else d_lo
            repeats = repeats + 1 if side > 0 else 1
            side = 1
        else:
            a_lo, d_lo = alpha, d
            d_hi = d_hi / 2.0 if side < 0 else d_hi
            repeats = repeats + 1 if side < 0 else 1
            side = -1
    if best is not None:
        return best
    for alpha in _BACKTRACK:
        trial = at(np.clip(z + alpha * step, lo, hi))
        if good(trial, alpha):
            return alpha, trial
    return None


def _acceptable(
    trial: _Trial, here: tuple[Evaluation, float, float], decrease: float, tol: float
) -> bool:
    """Armijo's sufficient decrease of G, ``decrease`` being the step's first-order change.

    G sums large terms, and the StableSwap solves round their pools' parts at about 1e-9
    of the USD at stake: where the decrease expected is below that, the residual decides
    (it must fall); a residual that halves, or one within tolerance, is progress anyway.
    """
    t_point, _, _, t_residual, t_scale = trial
    point, residual, scale = here
    if -decrease < 1e-9 * scale:
        return t_residual < residual
    return (
        t_point.potential <= point.potential + _ARMIJO * decrease
        or t_residual <= 0.5 * residual
        or t_residual <= tol * t_scale
    )


def _shaped(
    rnd: ExcessDemand,
    point: Evaluation,
    step: FloatArray,
    transform: FloatArray,
    plain: NDArray[np.bool_],
) -> FloatArray:
    """The step with decoupled roots solved exactly and its largest change capped.

    ``plain`` marks the active roots that are unknowns of their own (no module ties
    another root's price to theirs); only those can be solved on their own. Those no venue
    responds to at all (they can only move to their bound) are capped on their own, lest
    their step shrink everyone else's.
    """
    step = step.copy()
    step_y = transform @ step
    alone_y = rnd.exact_rows(point, step_y, plain)
    alone_y |= plain & ~np.any(point.jac, axis=1)
    alone = np.zeros(len(step), bool)
    columns = np.argmax(transform[alone_y], axis=1)
    step[columns] = step_y[alone_y]
    alone[columns] = True
    largest = float(np.max(np.abs(step[~alone]), initial=0.0))
    step[~alone] *= min(1.0, _MAX_STEP / max(largest, 1e-300))
    step[alone] = np.clip(step[alone], -_MAX_STEP, _MAX_STEP)
    return step
