"""Benchmark: exposure graph from a Parquet dataset of 1,000,000 positions.

The dataset is built once (not timed) and cached in ``benchmarks/.data``. Each timed run
reads and validates every Parquet file, builds the graph relations in DuckDB and the
networkx graph, in a fresh process state as far as Python allows (new Dataset, new DuckDB).
Figures are the median and range of ``repeat`` runs.
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from contagion import load_dataset, sample_world

DATA = Path(__file__).resolve().parent / ".data"


def _timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def _dataset(positions: int, seed: int = 7) -> Path:
    path = DATA / f"world-{positions}-{seed}"
    if not path.exists():
        start = time.perf_counter()
        sample_world(positions=positions, seed=seed).write(path)
        print(
            f"built and wrote the {positions:,}-position world in "
            f"{time.perf_counter() - start:.1f} s (not part of the figures)"
        )
    return path


def run(positions: int = 1_000_000, repeat: int = 5) -> dict[str, tuple[float, float, float]]:
    """Time load+validate, graph build, networkx export; print and return the figures."""
    path = _dataset(positions)
    dataset = load_dataset(path)
    n = dataset.row_counts()["lending_positions"]
    figures = {
        "read + validate Parquet": _timed(lambda: load_dataset(path), repeat),
        "graph relations (DuckDB)": _timed(lambda: dataset.graph(), repeat),
        "graph relations + networkx": _timed(lambda: dataset.graph().to_networkx(), repeat),
        "total: Parquet -> graph": _timed(lambda: load_dataset(path).graph().to_networkx(), repeat),
    }
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"\nexposure graph, {n:,} positions, {os.cpu_count()} cores, {repeat} runs")
    print("| step | median s | min s | max s |\n|---|---|---|---|")
    for name, (med, lo, hi) in figures.items():
        print(f"| {name} | {med:.2f} | {lo:.2f} | {hi:.2f} |")
    print(f"peak resident memory: {peak_gib:.2f} GiB")
    return figures
