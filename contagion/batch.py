"""Batch mode: many scenarios on one dataset, compiled once, optionally over several processes.

:func:`propagate_many` compiles the dataset into an :class:`~contagion.engine.Engine` once and
runs every scenario on it. With ``workers > 1`` the scenarios are spread over that many worker
processes forked from the calling one: the engine (hundreds of MB at a million positions) is
shared copy-on-write rather than pickled, each worker runs whole scenarios, and the results
come back in the scenarios' order, identical to a run in one process (every run is
deterministic given its seed). Where the platform cannot fork (Windows, macOS's default
start method) the batch runs in the calling process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Sequence

from contagion.dataset import Dataset
from contagion.engine import Engine, build_engine
from contagion.propagate import propagate
from contagion.result import PropagationResult
from contagion.scenario import Scenario
from contagion.world import World

__all__ = ["propagate_many"]

_Job = tuple[Scenario, int | None]
_SHARED: tuple[Engine, int | None, float | None, bool] | None = None
"""What forked workers read: the engine and the run options (set only around a pool)."""


def _run(job: _Job) -> PropagationResult:
    assert _SHARED is not None, "a batch worker started without its engine"
    engine, max_rounds, tol, allow_unconverged = _SHARED
    scenario, seed = job
    return propagate(
        engine,
        scenario,
        max_rounds=max_rounds,
        tol=tol,
        seed=seed,
        allow_unconverged=allow_unconverged,
    )


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether worker processes can share the compiled engine (POSIX ``fork``)."""
    return "fork" in multiprocessing.get_all_start_methods()


def propagate_many(
    dataset: Dataset | World | Engine,
    scenarios: Iterable[Scenario],
    *,
    max_rounds: int | None = None,
    tol: float | None = None,
    seed: int | None = None,
    allow_unconverged: bool = True,
    workers: int = 1,
) -> list[PropagationResult]:
    """Run many scenarios on one dataset, compiling it once (batch mode).

    Unconverged runs are returned (marked) rather than raised, so one slow scenario does not
    stop a batch; pass ``allow_unconverged=False`` to raise instead. Scenario ``i`` uses seed
    ``seed + i`` when a seed is given.

    Parameters
    ----------
    workers
        Processes running scenarios at once: 1 runs them in this process; more fork that many
        workers sharing the compiled engine (see the module docstring); 0 means one per CPU
        this process may use. Results do not depend on it.

    Examples
    --------
    >>> from contagion import PriceShock, sample_world
    >>> world = sample_world(positions=2_000, seed=3)
    >>> shocks = [Scenario(f"eth{m}", shocks=(PriceShock("ETH", m),)) for m in (-0.1, -0.2)]
    >>> one = propagate_many(world, shocks)
    >>> two = propagate_many(world, shocks, workers=2)
    >>> [r.total_liquidated_usd for r in one] == [r.total_liquidated_usd for r in two]
    True
    """
    if workers < 0:
        raise ValueError("workers must be >= 0 (0: one per CPU)")
    engine = dataset if isinstance(dataset, Engine) else build_engine(dataset)
    jobs: Sequence[_Job] = [
        (s, None if seed is None else seed + i) for i, s in enumerate(scenarios)
    ]
    processes = min(workers or _usable_cpus(), len(jobs))
    global _SHARED
    _SHARED = (engine, max_rounds, tol, allow_unconverged)
    try:
        if processes <= 1 or not can_fork():
            return [_run(job) for job in jobs]
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            return pool.map(_run, jobs, chunksize=1)
    finally:
        _SHARED = None
