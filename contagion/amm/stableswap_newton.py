"""Newton's method on the StableSwap arbitrage equations, many pools at once.

The float side of :mod:`contagion.amm.stableswap`: the invariant D of many pools
(:func:`float_d`, the contracts' ``get_D`` iteration in floats) and the trade that brings each
pool to market prices (:func:`arbitrage`). Pools of two to four coins are padded to a common
width; a coin that does not trade, and a padding slot, keeps its balance through an identity
row, so every pool's system has the same size and one stacked inverse gives every pool's
Newton step. Each pool still follows its own path: its own step length, convergence test and
set of traded coins, as if it were solved alone.

References
----------
Egorov, M. (2019). StableSwap - efficient mechanism for Stablecoin liquidity.
Curve Finance, StableSwap3Pool.vy: get_D, get_y, exchange (fee on the output, kept in the
balances).
Deuflhard, P. (2004). Newton Methods for Nonlinear Problems. Springer, §3.2 (the natural
monotonicity test).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["ArbitragePools", "arbitrage", "float_d"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_MAX_ITER = 255
_ARB_TOL = 1e-12
_ROUNDING_FLOOR = 1e-10


def float_d(x: FloatArray, ann: FloatArray) -> FloatArray:
    """D for many pools at once; x has shape (pools, coins), NaN where a pool has fewer."""
    has = np.isfinite(x)
    n = has.sum(axis=1)
    xs = np.where(has, x, 1.0)
    s = np.where(has, x, 0.0).sum(axis=1)
    d = s.copy()
    for _ in range(_MAX_ITER):
        d_p = d.copy()
        for k in range(x.shape[1]):
            d_p = np.where(has[:, k], d_p * d / (xs[:, k] * n), d_p)
        d_new = (ann * s + d_p * n) * d / ((ann - 1.0) * d + (n + 1) * d_p)
        if np.all(np.abs(d_new - d) <= 1e-12 * np.maximum(d_new, 1.0)):
            return np.asarray(d_new, dtype=np.float64)
        d = d_new
    raise ArithmeticError("StableSwap D did not converge")


class ArbitragePools:
    """Pools at their starting balances: what their arbitrage needs that no price changes.

    ``balances`` has shape (pools, width), NaN beyond each pool's coins; ``amp`` is the
    on-chain ``A()`` (the contracts use Ann = A()·n) and ``fee`` a fraction, per pool.
    """

    __slots__ = (
        "ann",
        "d0",
        "gamma",
        "h",
        "has",
        "hasf",
        "lam0",
        "log_d0",
        "log_nn",
        "marginal0",
        "n",
        "x0",
    )

    def __init__(self, balances: FloatArray, amp: FloatArray, fee: FloatArray) -> None:
        self.has = np.isfinite(balances)
        self.hasf = self.has.astype(float)
        self.n = self.hasf.sum(axis=1)
        self.ann = amp * self.n
        self.x0 = np.where(self.has, balances, 1.0)
        self.lam0 = np.log(self.x0)
        self.gamma = 1.0 - fee
        self.h = -np.log1p(-fee)  # the no-arbitrage band's width in log price
        self.log_nn = self.n * np.log(self.n)
        self.d0 = float_d(balances, self.ann)
        self.log_d0 = np.log(self.d0)
        self.marginal0 = self.marginal(self.lam0, self.log_d0)

    def take(self, rows: IntArray) -> ArbitragePools:
        """The pools ``rows``."""
        out = object.__new__(ArbitragePools)
        for name in self.__slots__:
            setattr(out, name, getattr(self, name)[rows])
        return out

    def marginal(self, lam: FloatArray, log_d: FloatArray) -> FloatArray:
        """log(∂F/∂x_k) of each coin at log balances lam on the invariant of D = exp(log_d):
        log marginal prices up to a constant per pool."""
        rho = np.exp(self.n * log_d - self.log_nn - _sum(lam))
        return np.asarray(np.log(self.ann[:, None] + rho[:, None] * np.exp(log_d[:, None] - lam)))


# Row reductions called as ufunc methods: the same sums and extrema as ``a.sum(axis=1)`` and
# friends without their Python wrappers, which cost more than the work on a few pools.
_add, _maximum, _minimum = np.add.reduce, np.maximum.reduce, np.minimum.reduce
_all, _any = np.logical_and.reduce, np.logical_or.reduce


def _sum(values: FloatArray) -> FloatArray:
    return np.asarray(_add(values, axis=1))


def _masked(values: FloatArray, mask: BoolArray, reduce: str) -> FloatArray:
    """max, min or mean over the coins in ``mask`` of each pool."""
    if reduce == "mean":
        return np.asarray(_add(np.where(mask, values, 0.0), axis=1) / _add(mask, axis=1))
    if reduce == "max":
        return np.asarray(_maximum(np.where(mask, values, -np.inf), axis=1))
    return np.asarray(_minimum(np.where(mask, values, np.inf), axis=1))


def _inverse(matrix: FloatArray) -> FloatArray:
    """Inverses of stacked small matrices; NaN for a singular one."""
    try:
        return np.asarray(np.linalg.inv(matrix), dtype=np.float64)
    except np.linalg.LinAlgError:
        out = np.full(matrix.shape, np.nan)
        for k, one in enumerate(matrix):
            try:
                out[k] = np.linalg.inv(one)
            except np.linalg.LinAlgError:
                continue
        return out


def _apply(inverse: FloatArray, vector: FloatArray) -> FloatArray:
    return np.asarray(np.matmul(inverse, vector[:, :, None])[:, :, 0])


class _System:
    """The equations of pools for given traded coins, with what does not move precomputed.

    For the coins that trade (``side`` +1: sold into the pool, -1: bought from it), divided
    by Ann or in log price so that all are O(1):

    * the new balances x lie on their own invariant: F(x, D₁) = 0 (row ``width``);
    * a coin sold into the pool ends at log(marginal / market price) = c + h/2 and a coin
      bought from it at c - h/2, h = -log(1 - fee) (its own row). Curve takes the fee on the
      output, so selling coin i for coin j pays (1 - fee) times the marginal price: traded
      pairs end on the edge of the no-arbitrage band and every other pair inside it;
    * the gross trade keeps the original invariant: F(u, D₀) = 0 with u = x for inputs and
      u = x₀ - (x₀ - x)/(1 - fee) for outputs, whose fee stays in the pool (row
      ``width + 1``).

    The unknowns are the log balances, log D₁ and the level c; coins that do not trade, and
    padding slots, have identity rows (their balances stay).
    """

    def __init__(self, pools: ArbitragePools, log_price: FloatArray, side: IntArray) -> None:
        count, width = side.shape
        self.pools, self.side, self.width = pools, side, width
        self.moved = side != 0
        moved = self.moved.astype(float)
        self.sell = side < 0
        self.target = log_price + side * pools.h[:, None] / 2.0
        self.du = np.where(self.sell, 1.0 / pools.gamma[:, None], 1.0) * moved
        self.base = np.zeros((count, width + 2, width + 2))
        diagonal = np.arange(width)
        self.base[:, diagonal, diagonal] = 1.0 - moved
        self.base[:, :width, width + 1] = -moved
        self.coupling = -(1.0 + np.eye(width)) * (moved[:, :, None] * moved[:, None, :])
        self.movedf = moved
        # What the residual and Jacobian read on every call, computed once.
        self.gamma = pools.gamma[:, None]
        self.ann = pools.ann[:, None]
        self.log_rho_u0 = pools.n * pools.log_d0 - pools.log_nn
        self.n1 = pools.n[:, None] + 1.0

    def level(self, lam: FloatArray, log_d: FloatArray) -> FloatArray:
        """The c that fits the traded coins' gaps best (their mean)."""
        return _masked(self.pools.marginal(lam, log_d) - self.target, self.moved, "mean")

    def residual(
        self, lam: FloatArray, log_d: FloatArray, c: FloatArray
    ) -> tuple[FloatArray, BoolArray, tuple[FloatArray, ...]]:
        """Residuals, which pools' gross trades stay within their balances, and the parts
        the Jacobian reuses."""
        p, width = self.pools, self.width
        x = np.exp(lam)
        u = np.where(self.sell, p.x0 - (p.x0 - x) / self.gamma, x)
        positive = u > 0.0
        ok = _all(positive, axis=1)
        u = np.where(positive, u, 1.0)
        inv_d = np.exp(-log_d)
        sum_x = _sum(x * p.hasf)
        rho = np.exp(p.n * log_d - p.log_nn - _sum(lam))
        rho_u = np.exp(self.log_rho_u0 - _sum(np.log(u)))
        v = rho[:, None] * np.exp(log_d[:, None] - lam)  # ∂F/∂x_k - Ann
        residual = np.empty((len(x), width + 2))
        gap = np.log(self.ann + v) - self.target - c[:, None]
        residual[:, :width] = np.where(self.moved, gap, 0.0)
        residual[:, width] = sum_x * inv_d - 1.0 + (1.0 - rho) / p.ann
        residual[:, width + 1] = _sum(u * p.hasf) / p.d0 - 1.0 + (1.0 - rho_u) / p.ann
        return residual, ok, (x, u, inv_d, sum_x, rho, rho_u, v)

    def jacobian(self, parts: tuple[FloatArray, ...]) -> FloatArray:
        x, u, inv_d, sum_x, rho, rho_u, v = parts
        p, width = self.pools, self.width
        ratio = v / (self.ann + v) * self.movedf
        jac = self.base.copy()
        jac[:, :width, :width] += self.coupling * ratio[:, :, None]
        jac[:, :width, width] = self.n1 * ratio
        jac[:, width, :width] = (x * inv_d[:, None] + (rho / p.ann)[:, None]) * self.movedf
        jac[:, width, width] = -sum_x * inv_d - p.n * rho / p.ann
        slope_u = 1.0 / p.d0[:, None] + rho_u[:, None] / (self.ann * u)
        jac[:, width + 1, :width] = slope_u * x * self.du
        return jac


_Solved = tuple[FloatArray, FloatArray, FloatArray, BoolArray, FloatArray]
"""Log balances, log D₁, c, which pools converged, and the inverse of each pool's Jacobian
at its last point (where it converged: what :func:`_sensitivity` needs for the same traded
coins)."""


def _guess(pools: ArbitragePools, log_price: FloatArray, side: IntArray) -> FloatArray:
    """Log balances from the one-dimensional problem that ignores the fee kept in the pool.

    Marginal prices proportional to the targets mean Ann + K/x_k = λ·P̃_k for the traded
    coins (P̃ the target moved half a fee band to its side), so x_k = K/(λ·P̃_k - Ann);
    K = D^(n+1)/(nⁿ·Πx) then has a closed form in λ and the invariant with D = D₀ is one
    equation, monotone in ζ = log(λ·min P̃ - Ann), solved by Newton's method kept inside a
    bracket. Newton on the full system is erratic from the starting balances (the curve is
    nearly flat near the peg and steep away from it) and converges in a few steps from here.
    """
    moved = side != 0
    ann, n = pools.ann[:, None], pools.n
    m = moved.sum(axis=1)
    shifted = log_price + side * pools.h[:, None] / 2.0
    target = np.where(moved, np.exp(shifted - _masked(shifted, moved, "min")[:, None]), 1.0)
    fixed = ~moved & pools.has
    fixed_sum = np.where(fixed, pools.x0, 0.0).sum(axis=1)
    log_const = (n + 1.0) * pools.log_d0 - pools.log_nn - np.where(fixed, pools.lam0, 0.0).sum(1)
    d = pools.d0
    scale = pools.ann * d

    def phi(zeta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        a = np.where(moved, (ann + np.exp(zeta)[:, None]) * target - ann, 1.0)
        k = np.exp((log_const + np.log(a).sum(axis=1)) / (m + 1))
        x = k[:, None] / a
        per = np.where(moved, target / a, 0.0)
        dlogk = per.sum(axis=1) / (m + 1)
        held = np.where(moved, x, 0.0).sum(axis=1) + fixed_sum
        value = pools.ann * held + d - pools.ann * d - k
        slope = pools.ann * np.where(moved, x * (dlogk[:, None] - per), 0.0).sum(axis=1)
        slope -= k * dlogk
        return value / scale, slope * np.exp(zeta) / scale, x

    # φ falls from +∞ to -∞ as ζ grows: bracket the root, then Newton kept inside it.
    lo, hi = np.log(n) - 2.0, np.log(n) + 2.0
    while np.any(low := phi(lo)[0] < 0.0):
        lo = np.where(low, lo - 4.0, lo)
    while np.any(high := phi(hi)[0] > 0.0):
        hi = np.where(high, hi + 4.0, hi)
    zeta = 0.5 * (lo + hi)
    running = np.ones(len(zeta), bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(_MAX_ITER):
            value, slope, _ = phi(zeta)
            lo = np.where(running & (value > 0.0), zeta, lo)
            hi = np.where(running & ~(value > 0.0), zeta, hi)
            step = np.where(slope < 0.0, -value / slope, np.inf)
            inside = (lo < zeta + step) & (zeta + step < hi)
            zeta = np.where(running, np.where(inside, zeta + step, 0.5 * (lo + hi)), zeta)
            running &= ~((np.abs(step) < 1e-12) | (hi - lo < 1e-12))
            if not running.any():
                break
    return np.where(moved, np.log(phi(zeta)[2]), pools.lam0)


def _solve(system: _System, lam: FloatArray) -> _Solved:
    """Damped Newton from log balances ``lam``, every pool on its own path.

    A step of more than e in a balance leaves the region where the linear model holds; it
    is cut back, then halved until the natural monotonicity test passes: the next Newton
    correction, with this Jacobian, must be smaller than this one. Its measure is affine
    invariant, unlike the residual's norm, whose rows (invariant and log price) scale very
    differently (Deuflhard 2004, §3.2).
    """
    p, width = system.pools, system.width
    lam = np.where(system.moved, lam, p.lam0)
    log_d = p.log_d0.copy()
    with np.errstate(all="ignore"):
        c = system.level(lam, log_d)
        residual, ok, parts = system.residual(lam, log_d, c)
        running, done = ok.copy(), np.zeros(len(lam), bool)
        # Every pass inverts every pool's Jacobian at its current point; a pool leaves the
        # loop at a point whose inverse was the last taken (its step settled there, or no
        # trial from it was accepted).
        inverse = np.full((len(lam), width + 2, width + 2), np.nan)
        for _ in range(_MAX_ITER):
            if not running.any():
                break
            inverse = _inverse(system.jacobian(parts))
            step = -_apply(inverse, residual)
            abs_step = np.abs(step)
            size = _maximum(abs_step, axis=1)
            settled = running & (size <= _ARB_TOL)
            done |= settled
            running &= ~settled & np.isfinite(size)
            t = np.minimum(1.0, 1.0 / np.maximum(_maximum(abs_step[:, :-1], axis=1), 1e-300))
            trying = running.copy()
            small = np.sqrt(_sum(residual**2)) <= _ROUNDING_FLOOR
            new_lam, new_d, new_c = lam.copy(), log_d.copy(), c.copy()
            while trying.any():
                trial = (lam + t[:, None] * step[:, :width], log_d + t * step[:, width])
                trial_c = c + t * step[:, width + 1]
                found, inside, trial_parts = system.residual(*trial, trial_c)
                following = _maximum(np.abs(_apply(inverse, found)), axis=1)
                accept = trying & inside & (following <= (1.0 - t / 4.0) * size)
                if accept.all():
                    # Every pool takes its trial (the usual case): no row-wise copies.
                    new_lam, new_d, new_c, residual = trial[0], trial[1], trial_c, found
                    parts = trial_parts
                    break
                new_lam[accept], new_d[accept] = trial[0][accept], trial[1][accept]
                new_c[accept], residual[accept] = trial_c[accept], found[accept]
                for part, value in zip(parts, trial_parts, strict=True):
                    part[accept] = value[accept]
                trying &= ~accept
                t = np.where(trying, t / 2.0, t)
                rounding = trying & (t < 1e-2) & small  # only rounding error is left
                failed = trying & ~rounding & (t < 1e-9)
                done |= rounding
                running &= ~(rounding | failed)
                trying &= ~(rounding | failed)
            lam, log_d, c = new_lam, new_d, new_c
    return lam, log_d, c, done, inverse


def _settle(
    pools: ArbitragePools, log_price: FloatArray, side: IntArray, solved: _Solved
) -> tuple[IntArray, _Solved]:
    """Adjust each pool's traded coins until consistent; not ``ok`` where a side runs empty
    or the set does not settle."""
    lam, log_d, c = solved[0].copy(), solved[1].copy(), solved[2].copy()
    ok, inverse = solved[3].copy(), solved[4].copy()
    side = side.copy()
    pending = ok.copy()
    h = pools.h[:, None]
    for attempt in range(4 * lam.shape[1] + 1):
        gap = pools.marginal(lam, log_d) - log_price - c[:, None]
        # An untouched coin must be inside the band; a traded one must trade its own way.
        enter = pools.has & (side == 0) & (np.abs(gap) > h / 2.0 + _ARB_TOL)
        new_side = np.where(enter, np.where(gap > 0.0, 1, -1), side)
        new_side = np.where((side != 0) & (side * (lam - pools.lam0) < 0.0), 0, new_side)
        pending &= _any(new_side != side, axis=1)
        two_sided = _any(new_side == 1, axis=1) & _any(new_side == -1, axis=1)
        failed = pending & (~two_sided | (attempt >= 4 * pools.n))
        ok &= ~failed
        pending &= ~failed
        if not pending.any():
            break
        rows = np.flatnonzero(pending)
        sub, prices, s = pools.take(rows), log_price[rows], new_side[rows]
        lam[rows], log_d[rows], c[rows], good, inverse[rows] = _solve(
            _System(sub, prices, s), _guess(sub, prices, s)
        )
        side[rows] = s
        ok[rows] = good
        pending[rows] = good
    return side, (lam, log_d, c, ok, inverse)


def _sensitivity(
    pools: ArbitragePools,
    log_price: FloatArray,
    side: IntArray,
    lam: FloatArray,
    log_d: FloatArray,
    near_edge: float,
    wanted: bool = True,
    inverse: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Balances, d balances / d log prices by the implicit-function theorem (the traded
    coins held fixed; coins within ``near_edge`` of the band of trading counted as traded;
    zero unless ``wanted``), and the gaps log(marginal / market price) less their mean.

    ``inverse``: per pool, the inverse Jacobian its solve ended with (NaN where none); a pool
    whose coins counted as traded are those it traded has the same system at the same point,
    and that inverse is used as it is instead of being taken again."""
    has, h = pools.has, pools.h[:, None]
    gaps = pools.marginal(lam, log_d) - log_price
    near = side
    if near_edge:
        top = gaps >= _masked(gaps, has, "min")[:, None] + h * (1.0 - near_edge)
        bottom = gaps <= _masked(gaps, has, "max")[:, None] - h * (1.0 - near_edge)
        near = np.where(side != 0, side, np.where(top & ~bottom, 1, np.where(bottom & ~top, -1, 0)))
        near = np.where(has, near, 0)
    x = np.where(side != 0, np.exp(lam), pools.x0)
    count, width = lam.shape
    sensitivity = np.zeros((count, width, width))
    rows = np.flatnonzero(_any(near == 1, axis=1) & _any(near == -1, axis=1))
    if len(rows) and wanted:
        shape = (len(rows), width + 2, width + 2)
        inv = np.full(shape, np.nan) if inverse is None else inverse[rows]
        moved = near[rows] != 0
        # A pool whose solve ended where these coins trade has the system below at this very
        # point: the inverse its solve ended with is this one.
        ok = _all(moved == (side[rows] != 0), axis=1) & _all(np.isfinite(inv), axis=(1, 2))
        fresh = np.flatnonzero(~ok)
        if len(fresh):
            sub = rows[fresh]
            system = _System(pools.take(sub), log_price[sub], near[sub])
            _, ok_f, parts = system.residual(
                lam[sub], log_d[sub], system.level(lam[sub], log_d[sub])
            )
            jac = np.where(ok_f[:, None, None], system.jacobian(parts), np.eye(width + 2))
            inv[fresh], ok[fresh] = _inverse(jac), ok_f
        # d(unknowns)/d(log price): each traded coin's gap equation has -1 on its price.
        d_unknowns = inv[:, :width, :width] * moved[:, None, :]
        use = moved[:, :, None] & ok[:, None, None]
        sensitivity[rows] = np.where(use, x[rows][:, :, None] * d_unknowns, 0.0)
    return x, sensitivity, gaps - _masked(gaps, has, "mean")[:, None]


def _warm_start(
    pools: ArbitragePools, gaps0: FloatArray, earlier: IntArray, start: FloatArray
) -> tuple[IntArray, FloatArray]:
    """Traded coins and starting balances from an earlier answer for nearby prices.

    The coins an arbitrageur sells into a pool are those it prices furthest above the
    market, the coins bought those furthest below. The earlier answer (``earlier``: +1 sold,
    -1 bought, 0 untouched) gives how many of each; they are given to the coins in the order
    of this call's gaps ``gaps0``, after mirroring the earlier answer when it traded this
    call's dearest and cheapest coins the other way (a solver probes prices on both sides of
    a pool's own). A coin keeps its earlier balance where it trades the same way, the
    mirror image about its starting balance where it trades the other way (as close to the
    answer), and its starting balance otherwise. The active-set loop corrects what this
    gets wrong; it only decides where Newton's method starts.
    """
    count, width = earlier.shape
    has = pools.has
    pick = np.arange(count)
    top = np.argmax(np.where(has, gaps0, -np.inf), axis=1)
    bottom = np.argmin(np.where(has, gaps0, np.inf), axis=1)
    flip = (earlier[pick, top] == -1) & (earlier[pick, bottom] == 1)
    oriented = np.where(flip[:, None], -earlier, earlier)
    sold, bought = _add(oriented == 1, axis=1), _add(oriented == -1, axis=1)
    ranked = np.argsort(np.where(has, -gaps0, np.inf), axis=1, kind="stable")
    rank = np.empty_like(ranked)
    rank[pick[:, None], ranked] = np.arange(width)[None, :]
    last = _add(has, axis=1) - bought
    warm = np.where(rank < sold[:, None], 1, np.where(has & (rank >= last[:, None]), -1, 0))
    with np.errstate(invalid="ignore"):
        mirrored = 2.0 * pools.x0 - start
        guess = np.where(warm == earlier, start, np.where(warm == -earlier, mirrored, pools.x0))
        guess = np.where(guess > 0.0, guess, pools.x0)
    return warm.astype(np.int64), guess


def arbitrage(
    pools: ArbitragePools,
    log_price: FloatArray,
    start: FloatArray | None = None,
    near_edge: float = 0.0,
    sensitivity: bool = True,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Balances, fees, sensitivity (zero unless asked for) and gaps of every pool
    arbitraged to ``log_price``.

    Which coins trade is found by an active-set loop per pool: from the answer ``start``
    (balances for nearby prices, NaN rows for none) where it trades both ways (its coins
    reassigned by this call's prices, :func:`_warm_start`), else from the coins priced
    furthest above and below the market. See
    :func:`contagion.amm.stableswap.stableswap_arbitrage`.
    """
    count, width = pools.x0.shape
    has = pools.has
    log_price = np.where(has, log_price, 0.0)
    gaps0 = pools.marginal0 - log_price
    spread = _masked(gaps0, has, "max") - _masked(gaps0, has, "min")
    side = np.zeros((count, width), np.int64)
    lam, log_d = pools.lam0.copy(), pools.log_d0.copy()
    inverse = np.full((count, width + 2, width + 2), np.nan)
    todo = spread > pools.h + _ARB_TOL
    if start is not None and todo.any():
        with np.errstate(invalid="ignore"):
            apart = has & (np.abs(start - pools.x0) > 1e-9 * pools.x0)
        earlier = np.where(apart, np.sign(start - pools.x0), 0).astype(np.int64)
        warm, guess = _warm_start(pools, gaps0, earlier, start)
        rows = np.flatnonzero(todo & _any(warm == 1, axis=1) & _any(warm == -1, axis=1))
        if len(rows):
            sub, prices, s = pools.take(rows), log_price[rows], warm[rows]
            lam_w = np.where(s != 0, np.log(np.where(s != 0, guess[rows], 1.0)), sub.lam0)
            s, (lam_w, d_w, _, ok, inv_w) = _settle(
                sub, prices, s, _solve(_System(sub, prices, s), lam_w)
            )
            side[rows[ok]], lam[rows[ok]], log_d[rows[ok]] = s[ok], lam_w[ok], d_w[ok]
            inverse[rows[ok]] = inv_w[ok]
            todo[rows[ok]] = False
    rows = np.flatnonzero(todo)
    if len(rows):
        sub, prices = pools.take(rows), log_price[rows]
        s = np.zeros((len(rows), width), np.int64)
        s[np.arange(len(rows)), np.argmax(np.where(sub.has, gaps0[rows], -np.inf), axis=1)] = 1
        s[np.arange(len(rows)), np.argmin(np.where(sub.has, gaps0[rows], np.inf), axis=1)] = -1
        solved = _solve(_System(sub, prices, s), _guess(sub, prices, s))
        s, (lam_c, d_c, _, ok, inv_c) = _settle(sub, prices, s, solved)
        if not ok.all():
            raise ArithmeticError("StableSwap arbitrage did not converge")
        side[rows], lam[rows], log_d[rows], inverse[rows] = s, lam_c, d_c, inv_c
    x, slopes, gaps = _sensitivity(
        pools, log_price, side, lam, log_d, near_edge, sensitivity, inverse
    )
    gamma = pools.gamma[:, None]
    fees = np.where(side < 0, (pools.x0 - x) * (1.0 - gamma) / gamma, 0.0)
    pad = np.where(has, 0.0, np.nan)
    return x + pad, fees + pad, slopes, gaps + pad
