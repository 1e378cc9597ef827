"""Run every benchmark: ``python -m benchmarks [--repeat N] [--positions N]``."""

from __future__ import annotations

import argparse
import platform

from benchmarks import bench_graph, bench_propagate


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per figure")
    parser.add_argument(
        "--positions", type=int, default=1_000_000, help="lending positions in the benchmark world"
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{platform.python_implementation()} {platform.python_version()}"
    )
    if args.only in (None, "graph"):
        bench_graph.run(positions=args.positions, repeat=args.repeat)
    if args.only in (None, "propagate"):
        bench_propagate.run(positions=args.positions, repeat=args.repeat, batch=args.batch)


if __name__ == "__main__":
    main()
