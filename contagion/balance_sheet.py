"""Balance-sheet contagion: the Eisenberg–Noe clearing vector and receipt-token write-downs.

A protocol that cannot meet its obligations pays what it has, and the shortfall is a loss on
the balance sheets of those it owes, which may then fall short in turn. Eisenberg & Noe (2001)
showed that the payments everybody can make at once form a *clearing vector*: the greatest
fixed point of

    p = min(p̄, max(0, e + Πᵀ p − s))

where ``p̄`` is what each node owes the others, ``Π[i, j] = L[i, j] / p̄[i]`` the share of
``i``'s payments that goes to ``j``, ``e`` external assets and ``s`` external liabilities that
are *senior*: paid before any interbank creditor (Elsinger, 2009), so only ``e + inflow − s``
is left for the network and a node whose senior debt eats everything pays nothing to it.

DeFi lending protocols owe their depositors through receipt tokens (Aave's aTokens,
Compound's cTokens). Aave v3 up to v3.2 has no automatic socialisation of bad debt: the
liquidity index that converts aTokens to the underlying never falls, and the unbacked debt
simply stays on insolvent accounts (v3.3 books it as a reserve *deficit* for the Umbrella
stakers to cover, again without touching the index). The claim of an aToken holder is
nevertheless worth only the assets behind it; with all holders treated alike that is a
pro-rata write-down, :func:`receipt_writedown`. When protocols hold each other's receipts
(SparkLend holds Aave aTokens), a write-down at one is a loss at the other, and the
write-downs clear like Eisenberg–Noe payments: :func:`clear_receipt_network` maps the
problem onto the same solver (payments = multiplier × deposits).

The solver is the fictitious default algorithm of Eisenberg & Noe (2001, §3), extended to the
floor at zero that senior debt introduces: start from full payment; each step pins the nodes
that can still pay in full, and solves exactly for the others (whose payment is
``max(0, value)``) by Chandrasekaran's (1970) pivoting for Z-matrix complementarity problems.
The set of full payers only shrinks, so at most ``n + 1`` steps are needed. Where a closed group
of defaulters makes the solution non-unique (EN 2001, Theorem 2 fails), the step falls back to
one monotone iteration from above, which converges to the greatest clearing vector.

References
----------
Eisenberg, L. & Noe, T. H. (2001). Systemic Risk in Financial Systems. Management Science
47(2), 236–249.
Elsinger, H. (2009). Financial Networks, Cross Holdings, and Limited Liability. OeNB Working
Paper 156 (senior debt in the clearing problem).
Chandrasekaran, R. (1970). A special case of the complementary pivot problem. Opsearch 7.
Aave (2022). Aave v3 technical paper; aave-dao/aave-v3-origin, docs/3.3/Aave-v3.3-features.md
("Bad Debt Management": deficits are burned from the account and booked to the reserve).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from contagion.exceptions import ConvergenceError

__all__ = [
    "EisenbergNoe",
    "ReceiptClearing",
    "clear_receipt_network",
    "eisenberg_noe",
    "receipt_writedown",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

_TOL = 1e-12
"""Relative tolerance (to the largest amount) of every fixed-point check."""


@dataclass(frozen=True)
class EisenbergNoe:
    """The clearing vector of a liability network and what it leaves each node."""

    payments: FloatArray
    """Paid by each node to its interbank creditors, in total (``p``)."""
    defaulted: BoolArray
    """Node pays less than it owes (interbank or senior)."""
    senior_paid: FloatArray
    """Paid on the senior external liabilities."""
    equity: FloatArray
    """Value left after every liability is paid (0 for defaulted nodes)."""
    iterations: int
    """Fictitious-default steps (or monotone iterations) until the vector cleared."""


@dataclass(frozen=True)
class ReceiptClearing:
    """Write-downs of receipt tokens when protocols hold each other's receipts."""

    multiplier: FloatArray
    """Exchange-rate multiplier of each protocol's receipts, in [0, 1]."""
    loss_usd: FloatArray
    """Shortfall behind each protocol's receipts: external losses plus receipt losses."""
    receipt_loss_usd: FloatArray
    """Loss each protocol takes on the receipts of others that it holds."""
    iterations: int
    converged: bool
    """False when ``max_iter`` ran out (the multipliers are then an upper bound)."""


def receipt_writedown(bad_debt_usd: ArrayLike, deposits_usd: ArrayLike) -> FloatArray:
    """Exchange-rate multiplier of a receipt token whose protocol carries bad debt.

    Holders absorb the bad debt pro rata: ``max(0, 1 − bad_debt / deposits)``. A protocol
    without deposits has no receipts to write down (1), unless it has bad debt (0).

    Parameters
    ----------
    bad_debt_usd
        Debt no collateral backs, per protocol (USD, ≥ 0).
    deposits_usd
        What the protocol owes its receipt holders, per protocol (USD, ≥ 0).

    Returns
    -------
    numpy.ndarray
        Multiplier in [0, 1] on each receipt's exchange rate.

    References
    ----------
    Aave v3 keeps the liquidity index (the aToken exchange rate) non-decreasing and has no
    automatic bad-debt socialisation (v3.3 only books it as a reserve deficit), so this is
    the economic value of the claim, not an on-chain rate.

    Examples
    --------
    >>> receipt_writedown([0.0, 5.0, 150.0, 1.0], [100.0, 100.0, 100.0, 0.0]).tolist()
    [1.0, 0.95, 0.0, 0.0]
    """
    bad = np.asarray(bad_debt_usd, dtype=float)
    deposits = np.asarray(deposits_usd, dtype=float)
    if np.any(bad < 0) or np.any(deposits < 0):
        raise ValueError("bad debt and deposits must be non-negative")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        kept = np.clip(1.0 - bad / deposits, 0.0, 1.0)
    result: FloatArray = np.where(deposits > 0, kept, np.where(bad > 0, 0.0, 1.0))
    return result


def eisenberg_noe(
    liabilities: ArrayLike,
    external_assets: ArrayLike,
    senior_external_liabilities: ArrayLike | None = None,
    *,
    max_iter: int = 10_000,
) -> EisenbergNoe:
    """The greatest clearing vector of Eisenberg & Noe (2001), with senior external debt.

    Node ``i`` holds ``e[i] + Σ_j Π[j, i] p[j]``; it pays its senior external liabilities
    ``s[i]`` first, then its interbank creditors pro rata to what it owes them:
    ``p = min(p̄, max(0, e + Πᵀ p − s))``, ``p̄ = L·1``.

    Parameters
    ----------
    liabilities
        ``L[i, j]``: what ``i`` owes ``j`` (n × n, non-negative, zero diagonal).
    external_assets
        ``e``: assets outside the network, per node (≥ 0).
    senior_external_liabilities
        ``s``: debt outside the network paid before interbank creditors (≥ 0; default 0).
    max_iter
        Most solver steps; the algorithm needs at most ``n + 1`` in non-degenerate networks.

    Returns
    -------
    EisenbergNoe

    Raises
    ------
    ConvergenceError
        If the clearing vector was not found in ``max_iter`` steps; ``result`` holds the
        last upper bound reached.

    References
    ----------
    Eisenberg & Noe (2001), Systemic Risk in Financial Systems, §2 (clearing vector,
    Theorem 1) and §3 (fictitious default algorithm). Elsinger (2009) for senior debt.

    Examples
    --------
    A three-node cycle; a 10% fall of external assets leaves node 0 one short:

    >>> L = [[0, 4, 0], [0, 0, 3], [2, 0, 0]]
    >>> eisenberg_noe(L, [20, 20, 10], [17, 18, 8]).payments.tolist()
    [4.0, 3.0, 2.0]
    >>> cleared = eisenberg_noe(L, [18, 18, 9], [17, 18, 8])
    >>> cleared.payments.tolist(), cleared.defaulted.tolist()
    ([3.0, 3.0, 2.0], [True, False, False])
    """
    owed_matrix = _square(liabilities, "liabilities")
    n = owed_matrix.shape[0]
    assets = _vector(external_assets, n, "external_assets")
    senior = (
        np.zeros(n)
        if senior_external_liabilities is None
        else _vector(senior_external_liabilities, n, "senior_external_liabilities")
    )
    if np.any(np.diag(owed_matrix) != 0):
        raise ValueError("a node cannot owe itself: the diagonal of liabilities must be 0")
    owed = owed_matrix.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(owed[:, None] > 0, owed_matrix / owed[:, None], 0.0)
    payments, iterations, converged = _clearing_vector(assets - senior, relative.T, owed, max_iter)
    value = assets + relative.T @ payments
    senior_paid = np.clip(value, 0.0, senior)
    tol = _TOL * _scale(assets, senior, owed)
    result = EisenbergNoe(
        payments=payments,
        defaulted=(payments < owed - tol) | (senior_paid < senior - tol),
        senior_paid=senior_paid,
        equity=np.maximum(value - senior - owed, 0.0),
        iterations=iterations,
    )
    if not converged:
        raise ConvergenceError(
            f"Eisenberg-Noe clearing did not settle in {max_iter} steps", result=result
        )
    return result


def clear_receipt_network(
    holdings: ArrayLike,
    deposits: ArrayLike,
    external_losses: ArrayLike,
    *,
    max_iter: int = 10_000,
) -> ReceiptClearing:
    """Receipt write-downs at their fixed point when protocols hold each other's receipts.

    Protocol ``j`` writes its receipts down by ``w[j] = min(1, loss[j] / deposits[j])`` with
    ``loss = external_losses + holdings @ w``: a write-down of receipts ``i`` holds is a loss
    behind ``i``'s own receipts. This is an Eisenberg–Noe network whose payments are
    ``multiplier × deposits``: node ``j`` owes its depositors ``deposits[j]``, of which
    ``holdings[i, j]`` are protocol ``i``; its assets outside the network are
    ``deposits[j] − external_losses[j] − Σ_k holdings[j, k]``. Protocols have no equity
    buffer here: a loss passes straight to depositors (net ``external_losses`` of reserves or
    insurance that absorb it first). The greatest clearing vector is the smallest
    write-down consistent with everybody's losses.

    Parameters
    ----------
    holdings
        ``H[i, j]``: USD of protocol ``j``'s receipts held by protocol ``i`` (n × n, ≥ 0);
        what protocols hold of ``j`` cannot exceed ``deposits[j]``.
    deposits
        What each protocol owes its receipt holders (USD, ≥ 0).
    external_losses
        Bad debt of each protocol from outside the receipt network (USD, ≥ 0).
    max_iter
        Most solver steps.

    Returns
    -------
    ReceiptClearing

    Examples
    --------
    Aave loses 10 M on 100 M of deposits; SparkLend holds 20 M of its aTokens against 50 M of
    its own deposits, so it loses 2 M, and its receipts 4%:

    >>> H = [[0.0, 0.0], [20e6, 0.0]]
    >>> cleared = clear_receipt_network(H, [100e6, 50e6], [10e6, 0.0])
    >>> [round(m, 12) for m in cleared.multiplier.tolist()], cleared.converged
    ([0.9, 0.96], True)
    """
    held = _square(holdings, "holdings")
    n = held.shape[0]
    owed = _vector(deposits, n, "deposits")
    losses = _vector(external_losses, n, "external_losses")
    tol = _TOL * _scale(owed, losses, held.sum(axis=1))
    if np.any(held.sum(axis=0) > owed + tol):
        raise ValueError("protocols cannot hold more of a protocol's receipts than it owes")
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(owed[None, :] > 0, held / owed[None, :], 0.0)
    base = owed - losses - held.sum(axis=1)
    paid, iterations, converged = _clearing_vector(base, share, owed, max_iter)
    with np.errstate(divide="ignore", invalid="ignore"):
        written = np.where(owed > 0, 1.0 - paid / owed, 0.0)
    receipt_loss = held @ written
    loss = losses + receipt_loss
    return ReceiptClearing(
        multiplier=receipt_writedown(loss, owed),
        loss_usd=loss,
        receipt_loss_usd=receipt_loss,
        iterations=iterations,
        converged=converged,
    )


def _clearing_vector(
    base: FloatArray, share: FloatArray, cap: FloatArray, max_iter: int
) -> tuple[FloatArray, int, bool]:
    """Greatest ``p`` with ``p = clip(base + share @ p, 0, cap)``.

    ``share[i, j]`` is the part of ``j``'s payment received by ``i`` (columns sum to ≤ 1).
    Each step keeps an upper bound ``upper`` on the answer (``Φ(upper) ≤ upper``); nodes that
    can pay in full at ``upper`` are pinned at ``cap`` and nodes worth ≤ 0 at 0 (they stay
    so below ``upper``), and the rest is solved exactly. Returns (p, steps, converged).
    """
    tol = _TOL * _scale(base, cap)
    upper = cap.copy()
    for step in range(1, max_iter + 1):
        value = base + share @ upper
        full = (value >= cap) | (cap <= 0)
        zero = ~full & (value <= 0)
        rest = ~full & ~zero
        inflow = base[rest] + share[np.ix_(rest, full)] @ cap[full]
        solved = _least_floor_solution(inflow, share[np.ix_(rest, rest)], tol)
        if solved is None:
            # A closed group of defaulters: the exact step is not unique, so take one
            # monotone step from above, which keeps ``upper`` an upper bound.
            upper = np.clip(value, 0.0, cap)
            if np.array_equal(np.clip(base + share @ upper, 0.0, cap), upper):
                return upper, step, True
            continue
        candidate = np.where(full, cap, 0.0)
        candidate[rest] = solved
        cleared = np.clip(base + share @ candidate, 0.0, cap)
        if np.max(np.abs(cleared - candidate), initial=0.0) <= tol:
            return candidate, step, True
        upper = candidate
    return upper, max_iter, False


def _least_floor_solution(b: FloatArray, m: FloatArray, tol: float) -> FloatArray | None:
    """The solution of ``q = max(0, b + m q)`` by Chandrasekaran's pivoting, or None.

    ``I − m`` is a Z-matrix, so starting from ``q = 0`` and making positive every node whose
    value ``b + m q`` is positive only ever raises ``q`` and ends in at most ``len(b)`` solves
    at the least solution. None when the solution is not unique (a closed group of nodes
    that pay only each other, and whose value could rise together), so the caller can fall
    back to a monotone step.
    """
    k = b.shape[0]
    positive = b > 0
    q = np.zeros(k)
    for _ in range(k + 1):
        if positive.any():
            block = np.eye(int(positive.sum())) - m[np.ix_(positive, positive)]
            try:
                part = np.linalg.solve(block, b[positive])
            except np.linalg.LinAlgError:
                return None
            if not np.all(np.isfinite(part)) or np.any(part < -tol):
                return None
            q = np.zeros(k)
            q[positive] = np.maximum(part, 0.0)
        grow = ~positive & (b + m @ q > 0)
        if not grow.any():
            break
        positive |= grow
    # A larger solution exists only on a set of nodes, each paying >0 or worth exactly 0,
    # that pays only within itself (EN 2001, Theorem 2); rule such a set out.
    free = (q > 0) | (b + m @ q >= -tol)
    return None if _has_closed_group(m[np.ix_(free, free)]) else q


def _has_closed_group(m: FloatArray) -> bool:
    """True if some nodes pay only each other (``m``'s spectral radius is 1).

    Money paid by ``j`` goes to ``i`` with share ``m[i, j]`` and leaves the set with
    ``1 − Σ_i m[i, j]``; the spectral radius is below 1 exactly when every node reaches a
    node that leaks.
    """
    drains = m.sum(axis=0) < 1.0 - 1e-12
    for _ in range(m.shape[0]):
        more = drains | ((m > 0) & drains[:, None]).any(axis=0)
        if np.array_equal(more, drains):
            break
        drains = more
    return not bool(drains.all())


def _scale(*amounts: FloatArray) -> float:
    return max(1.0, *(float(np.max(np.abs(a), initial=0.0)) for a in amounts))


def _square(matrix: ArrayLike, name: str) -> FloatArray:
    values = np.asarray(matrix, dtype=float)
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise ValueError(f"{name} must be a square matrix")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"{name} must be finite and non-negative")
    return values


def _vector(values: ArrayLike, n: int, name: str) -> FloatArray:
    array = np.asarray(values, dtype=float)
    if array.shape != (n,):
        raise ValueError(f"{name} must have one entry per node ({n})")
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{name} must be finite and non-negative")
    return array
