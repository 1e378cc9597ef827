"""Proportional flow tracing on a time-stamped causal graph, and its k best paths.

The graph's edges are cause records: ``src -> dst`` worth ``usd``, read from ``src`` at time
``read`` and delivered to ``dst`` at time ``write >= read``; an edge may also carry a
``loss`` (USD lost where it ends). A node is a stock: what leaves it at time ``t`` is made of
everything that reached it before ``t``, in proportion to the USD of those inflows. This is
the proportional-sharing principle of Bialek's tracing of power flows (J. Bialek, "Tracing the
flow of electricity", IEE Proc. Gener. Transm. Distrib. 143(4), 1996; Kirschen, Allan &
Strbac, "Contributions of individual generators to loads and flows", IEEE Trans. Power Syst.
12(1), 1997), read with time as in the round-layered DAG of a propagation run: the node
``(t, x)`` takes its inflows before ``t``, so cycles of the exposure graph (a sale lowering
the price that triggered it) unroll into a DAG.

A timed path ``e1, ..., en`` (``dst(ei) = src(ei+1)``, ``write(ei) < read(ei+1)``) carries

    loss(en) * prod_i usd(ei) / inflow(src(ei+1), read(ei+1))

where ``inflow(x, t)`` is the USD that reached ``x`` before ``t``. The fractions at a node sum
to one, so the paths' loads add up exactly to the losses: every USD lost is traced back to an
*origin*, an edge leaving a node that had no inflow yet (the scenario, or a move the records
do not explain). :func:`trace` computes, by dynamic programming over time (never enumerating
paths), the loss carried by every edge and the best single path from every edge;
:func:`best_paths` extracts the k heaviest paths from one origin node by a best-first search
whose bound is that exact best completion, so each path popped complete is the next heaviest.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["TimedEdges", "TracedPath", "Tracing", "best_paths", "route_load", "trace"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class TimedEdges:
    """Edges of a causal graph with read and write times (see the module docstring)."""

    src: IntArray
    dst: IntArray
    read: IntArray
    write: IntArray
    usd: FloatArray
    loss: FloatArray
    n_nodes: int

    def __post_init__(self) -> None:
        n = len(self.src)
        for name in ("dst", "read", "write", "usd", "loss"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"edges: {name} has {len(getattr(self, name))} rows, src {n}")
        if n and bool((self.write < self.read).any()):
            raise ValueError("edges: an edge is written before it is read")
        if n and not bool((self.usd > 0).all() and np.isfinite(self.usd).all()):
            raise ValueError("edges: usd must be positive and finite")
        if n and not bool((self.loss >= 0).all() and np.isfinite(self.loss).all()):
            raise ValueError("edges: loss must be non-negative and finite")
        if n and int(max(self.src.max(), self.dst.max())) >= self.n_nodes:
            raise ValueError("edges: a node id is out of range")

    def __len__(self) -> int:
        return len(self.src)


@dataclass(frozen=True, eq=False)
class Tracing:
    """What :func:`trace` computed, one value per edge.

    Attributes
    ----------
    inflow
        USD that reached the edge's source before the edge was read (0 for an origin edge).
    carried
        Loss carried by the edge: its own loss plus its share of every loss downstream.
    best
        Load of the heaviest single path that starts with the edge (per unit of the path's
        weight before it, i.e. as if the edge were an origin).
    """

    edges: TimedEdges
    inflow: FloatArray
    carried: FloatArray
    best: FloatArray

    @property
    def origin(self) -> NDArray[np.bool_]:
        """Edges leaving a node that had no inflow yet: where traced losses end."""
        result: NDArray[np.bool_] = self.inflow <= 0
        return result

    def by_origin(self) -> dict[int, float]:
        """Loss traced back to each origin node (the values add up to the total loss)."""
        o = self.origin
        totals = np.bincount(
            self.edges.src[o], weights=self.carried[o], minlength=self.edges.n_nodes
        )
        return {int(i): float(totals[i]) for i in np.flatnonzero(totals > 0)}


def _inflow_before(edges: TimedEdges) -> FloatArray:
    """USD reaching each edge's source strictly before the edge's read time (vectorised)."""
    if len(edges) == 0:
        return np.zeros(0)
    span = int(max(edges.read.max(), edges.write.max())) + 2
    key_in = edges.dst * span + edges.write
    order = np.argsort(key_in, kind="stable")
    sorted_key = key_in[order]
    usd = edges.usd[order]
    # Running sums restarted at each node: a difference of one running sum over all nodes
    # would lose a small inflow to the rounding of the large ones sorted before it.
    within = np.empty(len(usd))
    heads = np.flatnonzero(np.diff(edges.dst[order], prepend=-1))
    for lo, hi in zip(heads, [*heads[1:], len(usd)], strict=True):
        within[lo:hi] = np.cumsum(usd[lo:hi])
    upto = np.searchsorted(sorted_key, edges.src * span + edges.read, side="left")
    start = np.searchsorted(sorted_key, edges.src * span, side="left")
    result: FloatArray = np.where(upto > start, within[np.maximum(upto - 1, 0)], 0.0)
    return result


def trace(edges: TimedEdges) -> Tracing:
    """Carried loss and best completion of every edge, by one backward sweep over time.

    ``carried(e) = loss(e) + usd(e) * sum(carried(f) / inflow(f))`` over the edges ``f``
    leaving ``dst(e)`` after ``e`` arrived; ``best`` is the same recursion with ``max``. The
    sweep visits each distinct time once (newest first); at each, edges written then are
    finished and edges read then are added to their source's running sum and maximum.
    """
    inflow = _inflow_before(edges)
    n = len(edges)
    carried = np.zeros(n)
    best = np.zeros(n)
    if n == 0:
        return Tracing(edges, inflow, carried, best)
    acc_sum = np.zeros(edges.n_nodes)
    acc_max = np.zeros(edges.n_nodes)
    by_write = np.argsort(-edges.write, kind="stable")
    by_read = np.argsort(-edges.read, kind="stable")
    write_sorted = edges.write[by_write]
    read_sorted = edges.read[by_read]
    times = np.unique(np.concatenate([edges.read, edges.write]))[::-1]
    w_lo = np.searchsorted(-write_sorted, -times, side="left")
    w_hi = np.searchsorted(-write_sorted, -times, side="right")
    r_lo = np.searchsorted(-read_sorted, -times, side="left")
    r_hi = np.searchsorted(-read_sorted, -times, side="right")
    with np.errstate(divide="ignore", invalid="ignore"):
        per_inflow = np.where(inflow > 0, 1.0 / np.where(inflow > 0, inflow, 1.0), 0.0)
    for i in range(len(times)):
        done = by_write[w_lo[i] : w_hi[i]]
        if len(done):
            d = edges.dst[done]
            carried[done] = edges.loss[done] + edges.usd[done] * acc_sum[d]
            best[done] = np.maximum(edges.loss[done], edges.usd[done] * acc_max[d])
        read = by_read[r_lo[i] : r_hi[i]]
        if len(read):
            s = edges.src[read]
            acc_sum += np.bincount(
                s, weights=carried[read] * per_inflow[read], minlength=edges.n_nodes
            )
            np.maximum.at(acc_max, s, best[read] * per_inflow[read])
    return Tracing(edges, inflow, carried, best)


@dataclass(frozen=True)
class TracedPath:
    """One timed path: its edges in order and the loss it carries."""

    edges: tuple[int, ...]
    load: float


def best_paths(
    tracing: Tracing, origin: int, *, k: int, floor: float = 0.0, max_pops: int = 200_000
) -> list[TracedPath]:
    """The ``k`` heaviest timed paths from ``origin`` to a loss, heaviest first.

    A best-first search over partial paths, each ranked by its weight so far times the exact
    best completion of its last edge (:attr:`Tracing.best`), so the bound is tight and the
    first complete paths popped are the heaviest (an A* search with an exact heuristic, which
    finds the k best paths of a DAG like Eppstein's algorithm without building its heap of
    sidetracks). Partial paths whose bound is below ``floor`` are dropped; ``max_pops`` caps
    the work on pathological graphs (the paths found so far are returned).
    """
    e = tracing.edges
    if k <= 0 or len(e) == 0:
        return []
    out_order = np.lexsort((e.read, e.src))
    out_src = e.src[out_order]
    out_read = e.read[out_order]
    node_lo = np.searchsorted(out_src, np.arange(e.n_nodes), side="left")
    node_hi = np.searchsorted(out_src, np.arange(e.n_nodes), side="right")
    with np.errstate(divide="ignore", invalid="ignore"):
        per_inflow = np.where(tracing.inflow > 0, 1.0 / tracing.inflow, 0.0)

    heap: list[tuple[float, int, int, float, tuple[int, ...], bool]] = []
    counter = 0
    starts = out_order[node_lo[origin] : node_hi[origin]]
    for edge in starts[tracing.inflow[starts] <= 0]:
        bound = float(tracing.best[edge])
        if bound > floor:
            heapq.heappush(heap, (-bound, counter, int(edge), 1.0, (int(edge),), False))
            counter += 1
    found: list[TracedPath] = []
    pops = 0
    while heap and len(found) < k and pops < max_pops:
        neg, _, edge, weight, chain, complete = heapq.heappop(heap)
        pops += 1
        if complete:
            found.append(TracedPath(chain, -neg))
            continue
        if e.loss[edge] > 0 and weight * e.loss[edge] > floor:
            heapq.heappush(heap, (-weight * e.loss[edge], counter, edge, weight, chain, True))
            counter += 1
        node = int(e.dst[edge])
        lo = node_lo[node] + int(
            np.searchsorted(out_read[node_lo[node] : node_hi[node]], e.write[edge], side="right")
        )
        succ = out_order[lo : node_hi[node]]
        if len(succ) == 0:
            continue
        step = weight * e.usd[edge] * per_inflow[succ]
        bound = step * tracing.best[succ]
        keep = np.flatnonzero(bound > floor)
        for j in keep[np.argsort(-bound[keep], kind="stable")]:
            f = int(succ[j])
            heapq.heappush(heap, (-float(bound[j]), counter, f, float(step[j]), (*chain, f), False))
            counter += 1
    return found


def route_load(tracing: Tracing, hops: list[IntArray]) -> float:
    """Loss carried by a route over all its timings: the sum of the loads of every timed path
    whose ``i``-th edge is one of ``hops[i]`` (a forward dynamic programme along the route)."""
    e = tracing.edges
    if not hops:
        return 0.0
    first = hops[0]
    weight = np.where(tracing.inflow[first] <= 0, 1.0, 0.0)
    current = first
    for nxt in hops[1:]:
        order = np.argsort(e.write[current], kind="stable")
        written = e.write[current][order]
        cum = np.concatenate([[0.0], np.cumsum((weight * e.usd[current])[order])])
        upto = np.searchsorted(written, e.read[nxt], side="left")
        with np.errstate(divide="ignore", invalid="ignore"):
            weight = np.where(tracing.inflow[nxt] > 0, cum[upto] / tracing.inflow[nxt], 0.0)
        current = nxt
    return float((weight * e.loss[current]).sum())
