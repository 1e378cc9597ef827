"""Run the benchmarks: ``python -m benchmarks [--only graph|propagate|indexers] [--repeat N]``."""

from __future__ import annotations

import argparse
import platform

from benchmarks import bench_graph, bench_indexers, bench_propagate


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per figure")
    parser.add_argument(
        "--positions", type=int, default=1_000_000, help="lending positions in the benchmark world"
    )
    parser.add_argument(
        "--only", choices=["graph", "propagate", "indexers"], default=None, help="run one benchmark"
    )
    parser.add_argument("--batch", type=int, default=1_000, help="scenarios in the batch benchmark")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="processes of the batch benchmark's parallel run (0: one per CPU)",
    )
    parser.add_argument(
        "--accounts", type=int, default=1_500, help="extra Aave borrowers in the indexer benchmark"
    )
    parser.add_argument(
        "--node",
        choices=[*bench_indexers.NODES, "all"],
        default="all",
        help="local node(s) of the indexer benchmark (each one installed, by default)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=2, help="Multicall3 requests in flight when indexing"
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{platform.python_implementation()} {platform.python_version()}"
    )
    if args.only in (None, "graph"):
        bench_graph.run(positions=args.positions, repeat=args.repeat)
    if args.only in (None, "propagate"):
        bench_propagate.run(
            positions=args.positions, repeat=args.repeat, batch=args.batch, workers=args.workers
        )
    if args.only in (None, "indexers"):
        nodes = bench_indexers.NODES if args.node == "all" else (args.node,)
        bench_indexers.run(accounts=args.accounts, concurrency=args.concurrency, nodes=nodes)


if __name__ == "__main__":
    main()
