"""DebtRank and the impact measures of NetworkRiskMeasures: distress spreading over exposures.

Matrix convention (NetworkRiskMeasures' "assets" network): ``exposures[i, j]`` is what node
``i`` has lent to, deposited with or invested in node ``j`` — what ``i`` loses if ``j``
defaults. ``buffers[i]`` is ``i``'s capital (equity) buffer. The **impact matrix** is

    V[j, i] = min(1, exposures[i, j] / buffers[i]),

the share of ``i``'s buffer wiped out by ``j``'s default (row: the defaulting node; column:
the node hit). Its transpose is the vulnerability matrix. The *binary* impact matrix keeps
only the links that alone exhaust a buffer: ``V[j, i] = 1`` where
``exposures[i, j] ≥ buffers[i]``, else 0.

**DebtRank** (Battiston et al., 2012). Each node has a distress ``h ∈ [0, 1]`` (1: default)
and a state: undistressed, distressed or inactive. Starting from ``h(1) = h0`` (distressed
where positive), every step

    h_i(t) = min(1, h_i(t−1) + Σ_{j distressed at t−1} V[j, i] · h_j(t−1)),

then the nodes distressed at ``t−1`` become inactive and every other node with ``h > 0``
becomes distressed: a node passes its distress on once, so loops do not reverberate. With
relative economic values ``v`` (weights summing to 1), the DebtRank of the shock is the
additional stress ``R = Σ_j v_j (h_j(T) − h_j(1))``; the DebtRank of a node is ``R`` when it
alone starts in default. Because a node passes on the distress it has when it is first hit,
a larger *set* of initially distressed nodes can end with less stress (tested); for a fixed
set the final stress grows with the size of the shock. (NetworkRiskMeasures'
``debt_rank_shock`` does not cap the impact matrix at 1, only the stress; this module follows
the paper.)

**Impact susceptibility, fluidity and diffusion** (Silva, Souza & Tabak, 2015, as
NetworkRiskMeasures 0.1.x implements them), from the binary impact matrix by default and its
communicability ``C = exp(V)`` (Estrada & Hatano, 2008) with the diagonal set to 0:

* susceptibility of ``j``: ``Σ_i C[i, j] / Σ_i V[i, j]`` — the weighted number of contagion
  paths reaching ``j`` over its direct ones (0 for a node no one can impact); > 1 means ``j``
  is vulnerable to nodes beyond its neighbours. With weights: ``w_j Σ_i C[i, j]``;
* fluidity: the mean susceptibility;
* diffusion of ``q``: with ``C_q`` the communicability once ``q``'s row of ``V`` is removed,
  ``D = max(C − C_q, 0)``, and ``k_q = Σ_j V[q, j]``, *start* = ``Σ_j D[q, j] / k_q``,
  *intermediate* = ``Σ_{i≠q} Σ_j D[i, j] / k_q`` and *total* their sum (0 when ``k_q = 0``).
  With weights, ``D @ w`` replaces the row sums divided by ``k_q``.

References
----------
Battiston, S., Puliga, M., Kaushik, R., Tasca, P. & Caldarelli, G. (2012). DebtRank: Too
Central to Fail? Financial Networks, the FED and Systemic Risk. Scientific Reports 2, 541.
Silva, T. C., Souza, S. R. S. & Tabak, B. M. (2015). Monitoring vulnerability and impact
diffusion in financial networks. Banco Central do Brasil, Working Paper 392.
Estrada, E. & Hatano, N. (2008). Communicability in complex networks. Phys. Rev. E 77.
Cinelli, C. & Silva, T. C. NetworkRiskMeasures: Risk Measures for (Financial) Networks,
R package (CRAN); its tests give the three-node vector used here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.linalg import expm

__all__ = [
    "DebtRank",
    "ImpactDiffusion",
    "debtrank",
    "debtrank_centrality",
    "impact_diffusion",
    "impact_fluidity",
    "impact_matrix",
    "impact_susceptibility",
]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class DebtRank:
    """Outcome of a DebtRank propagation."""

    stress: FloatArray
    """Final distress ``h(T)`` per node, in [0, 1] (1: default)."""
    additional_stress: FloatArray
    """``h(T) − h(1)`` per node: the distress the network added."""
    debtrank: float
    """``Σ v_j (h_j(T) − h_j(1))``: the weighted additional stress, in [0, 1]."""
    additional_defaults: int
    """Nodes at ``h = 1`` at the end that were not at the start."""
    rounds: int
    """Propagation steps until no node was distressed."""


@dataclass(frozen=True)
class ImpactDiffusion:
    """Impact diffusion per node (Silva, Souza & Tabak, 2015)."""

    start: FloatArray
    """Paths the node starts that vanish without it."""
    intermediate: FloatArray
    """Paths through the node, started by others, that vanish without it."""
    total: FloatArray


def impact_matrix(exposures: ArrayLike, buffers: ArrayLike, *, binary: bool = False) -> FloatArray:
    """``V[j, i] = min(1, exposures[i, j] / buffers[i])``: share of ``i``'s buffer ``j`` wipes out.

    Parameters
    ----------
    exposures
        ``W[i, j]``: what ``i`` loses if ``j`` defaults (n × n, ≥ 0, zero diagonal).
    buffers
        Capital buffer per node (≥ 0; a node without one is wiped out by any exposure).
    binary
        Keep only the links that alone exhaust a buffer (``W[i, j] ≥ buffers[i]``), as 1.

    Returns
    -------
    numpy.ndarray
        The impact matrix (row: defaulting node, column: node hit).

    Examples
    --------
    >>> impact_matrix([[0, 1], [10, 0]], [2, 5]).tolist()
    [[0.0, 1.0], [0.5, 0.0]]
    """
    weights = np.asarray(exposures, dtype=float)
    if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
        raise ValueError("exposures must be a square matrix")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("exposures must be finite and non-negative")
    if np.any(np.diag(weights) != 0):
        raise ValueError("a node cannot be exposed to itself: the diagonal must be 0")
    capital = _per_node(buffers, weights.shape[0], "buffers")
    if np.any(capital < 0):
        raise ValueError("buffers must be non-negative")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(weights > 0, weights / capital[:, None], 0.0)
    vulnerability = (ratio >= 1.0).astype(float) if binary else np.minimum(ratio, 1.0)
    impact: FloatArray = vulnerability.T.copy()
    return impact


def debtrank(
    exposures: ArrayLike,
    buffers: ArrayLike,
    initial_distress: ArrayLike,
    *,
    weights: ArrayLike | None = None,
) -> DebtRank:
    """Propagate an initial distress with DebtRank (Battiston et al., 2012).

    Parameters
    ----------
    exposures
        ``W[i, j]``: what ``i`` loses if ``j`` defaults.
    buffers
        Capital buffer per node.
    initial_distress
        ``h0`` per node in [0, 1]: the share of its buffer each node has lost at the start.
    weights
        Relative economic value per node (e.g. total assets); normalised to sum to 1.
        Default: equal.

    Returns
    -------
    DebtRank

    References
    ----------
    Battiston et al. (2012), DebtRank: Too Central to Fail?, Scientific Reports 2, 541 —
    the distress dynamics (their eq. for ``h_i(t)`` and the three states) and ``R``.

    Examples
    --------
    ``c`` is hit in full; ``b`` loses 0.6 of its buffer, passes 0.5 × 0.6 to ``a``, which
    passes 0.3 back to ``b``:

    >>> W = [[0, 1, 0], [10, 0, 3], [3, 2, 0]]
    >>> done = debtrank(W, [2, 5, 2], [0, 0, 1])
    >>> [round(h, 12) for h in done.stress.tolist()], round(done.debtrank, 12)
    ([0.3, 0.9, 1.0], 0.4)
    """
    impact = impact_matrix(exposures, buffers)
    n = impact.shape[0]
    start = _per_node(initial_distress, n, "initial_distress")
    if np.any(start < 0) or np.any(start > 1):
        raise ValueError("initial_distress must lie in [0, 1]")
    value = _economic_value(weights, n)
    final, rounds = _propagate(impact, start[None, :])
    stress = final[0]
    added = stress - start
    return DebtRank(
        stress=stress,
        additional_stress=added,
        debtrank=float(added @ value),
        additional_defaults=int(np.sum(stress >= 1.0) - np.sum(start >= 1.0)),
        rounds=rounds,
    )


def debtrank_centrality(
    exposures: ArrayLike,
    buffers: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    shock: float = 1.0,
) -> FloatArray:
    """DebtRank of every node: the additional stress when it alone starts with ``shock``.

    ``R_i = Σ_j v_j h_j(T) − v_i · shock`` (Battiston et al., 2012, with ψ = ``shock``); all
    ``n`` scenarios run together.

    Examples
    --------
    >>> W = [[0, 1, 0], [10, 0, 3], [3, 2, 0]]
    >>> [round(r, 12) for r in debtrank_centrality(W, [2, 5, 2]).tolist()]
    [0.666666666667, 0.5, 0.4]
    """
    impact = impact_matrix(exposures, buffers)
    n = impact.shape[0]
    if not 0.0 <= shock <= 1.0:
        raise ValueError("shock must lie in [0, 1]")
    value = _economic_value(weights, n)
    start = np.eye(n) * shock
    final, _ = _propagate(impact, start)
    centrality: FloatArray = (final - start) @ value
    return centrality


def impact_susceptibility(
    exposures: ArrayLike,
    buffers: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    binary: bool = True,
) -> FloatArray:
    """Impact susceptibility per node: contagion paths reaching it over its direct ones.

    ``s_j = Σ_i C[i, j] / Σ_i V[i, j]`` with ``C = exp(V)``, diagonal 0 (0 where nothing
    impacts ``j``); with ``weights``, ``s_j = w_j Σ_i C[i, j]``.

    Examples
    --------
    The NetworkRiskMeasures example (a → b 1; b → a 10, b → c 3; c → a 3, c → b 2):

    >>> W = [[0, 1, 0], [10, 0, 3], [3, 2, 0]]
    >>> [round(s, 12) for s in impact_susceptibility(W, [2, 5, 2]).tolist()]
    [0.0, 1.0, 1.25]
    """
    impact = impact_matrix(exposures, buffers, binary=binary)
    paths = _communicability(impact).sum(axis=0)
    if weights is not None:
        susceptibility: FloatArray = paths * _per_node(weights, impact.shape[0], "weights")
        return susceptibility
    direct = impact.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        result: FloatArray = np.where(direct > 0, paths / direct, 0.0)
    return result


def impact_fluidity(
    exposures: ArrayLike,
    buffers: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    binary: bool = True,
) -> float:
    """Impact fluidity of the network: the mean impact susceptibility.

    Examples
    --------
    >>> W = [[0, 1, 0], [10, 0, 3], [3, 2, 0]]
    >>> round(impact_fluidity(W, [2, 5, 2]), 12)
    0.75
    """
    susceptibility = impact_susceptibility(exposures, buffers, weights=weights, binary=binary)
    return float(susceptibility.mean()) if susceptibility.size else 0.0


def impact_diffusion(
    exposures: ArrayLike,
    buffers: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    binary: bool = True,
) -> ImpactDiffusion:
    """Impact diffusion per node: the paths that vanish when it stops propagating.

    All ``n`` "node removed" communicabilities are computed in one batched ``expm``.

    Examples
    --------
    >>> W = [[0, 1, 0], [10, 0, 3], [3, 2, 0]]
    >>> diffusion = impact_diffusion(W, [2, 5, 2])
    >>> parts = diffusion.start, diffusion.intermediate, diffusion.total
    >>> [[round(x, 12) for x in part.tolist()] for part in parts]
    [[1.25, 1.0, 0.0], [0.0, 0.5, 0.0], [1.25, 1.5, 0.0]]
    """
    impact = impact_matrix(exposures, buffers, binary=binary)
    n = impact.shape[0]
    full = _communicability(impact)
    without = np.repeat(impact[None, :, :], n, axis=0)
    without[np.arange(n), np.arange(n), :] = 0.0
    removed = _communicability(without)
    lost = np.maximum(full[None, :, :] - removed, 0.0)
    out_degree = impact.sum(axis=1)
    if weights is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            per_row = lost.sum(axis=2) / out_degree[:, None]
    else:
        per_row = lost @ _per_node(weights, n, "weights")
    active = out_degree > 0
    start = np.where(active, np.diagonal(per_row), 0.0)
    intermediate = np.where(active, per_row.sum(axis=1) - np.diagonal(per_row), 0.0)
    return ImpactDiffusion(start=start, intermediate=intermediate, total=start + intermediate)


def _propagate(impact: FloatArray, start: FloatArray) -> tuple[FloatArray, int]:
    """DebtRank dynamics for a batch of scenarios (rows of ``start``); at most n steps."""
    stress = start.copy()
    distressed = stress > 0
    inactive = np.zeros_like(distressed)
    rounds = 0
    while distressed.any():
        rounds += 1
        stress = np.minimum(1.0, stress + np.where(distressed, stress, 0.0) @ impact)
        inactive |= distressed
        distressed = (stress > 0) & ~inactive
    return stress, rounds


def _communicability(impact: FloatArray) -> FloatArray:
    """``exp(V)`` with the diagonal set to 0; ``V`` may be a stack of matrices."""
    paths: FloatArray = np.asarray(expm(impact), dtype=float)
    n = impact.shape[-1]
    paths[..., np.arange(n), np.arange(n)] = 0.0
    return paths


def _economic_value(weights: ArrayLike | None, n: int) -> FloatArray:
    if weights is None:
        return np.full(n, 1.0 / n) if n else np.zeros(0)
    value = _per_node(weights, n, "weights")
    if np.any(value < 0) or value.sum() <= 0:
        raise ValueError("weights must be non-negative with a positive sum")
    normalised: FloatArray = value / value.sum()
    return normalised


def _per_node(values: ArrayLike, n: int, name: str) -> FloatArray:
    array = np.asarray(values, dtype=float)
    if array.shape != (n,):
        raise ValueError(f"{name} must have one entry per node ({n})")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite")
    return array
