"""Benchmark: the propagation solver on the performance world, fast path vs reference.

* one scenario (ETH -30%) on 1,000,000 positions, >= 50 assets, >= 500 pools and >= 2,000
  option series (``build_sample_world(positions, long_tail=30, option_series=2_400)``),
  cascaded to its fixed point: median wall time of ``repeat`` runs and peak memory;
* one lending round, vectorised engine vs the per-loan reference implementation, on the
  same input, and the round after with the health screen: three pairs, each the engine's
  median of ``repeat`` runs (as the round loop runs it, updating balances in place, each
  run on its own copy of the start state made before the clock starts) and one reference
  round on a reference built afresh (a few seconds; built, not timed, for every run, since a
  round liquidates); the speed-up is the median of the pairs' ratios;
* a batch of scenarios on 100,000 positions (``propagate_many``), in one process and over
  ``workers`` processes (0: one per CPU).

Worlds are built once per process and not timed.
"""

from __future__ import annotations

import copy
import os
import resource
import statistics
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from contagion import PriceShock, Scenario, build_engine, propagate, propagate_many, sample_world
from contagion.lending.engine import LendingParams, LendingState, lending_round
from contagion.lending.screen import HealthScreen, PositionPrices
from contagion.reference import ReferenceLending

_T = TypeVar("_T")


def _timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    return _timed_on(lambda: None, lambda _: fn(), repeat)


def _timed_on(
    setup: Callable[[], _T], fn: Callable[[_T], object], repeat: int
) -> tuple[float, float, float]:
    """Median, min and max time of ``fn(setup())``, ``setup`` not timed."""
    times = []
    for _ in range(repeat):
        arg = setup()
        start = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def _scenario(move: float) -> Scenario:
    return Scenario(name=f"eth{move:+.0%}", shocks=(PriceShock("ETH", move),))


def run(
    positions: int = 1_000_000,
    repeat: int = 3,
    batch: int = 1_000,
    batch_positions: int = 100_000,
    workers: int = 0,
) -> None:
    start = time.perf_counter()
    world = sample_world(positions=positions, long_tail=30, option_series=2_400)
    engine = build_engine(world)
    rows = world.row_counts()
    print(
        f"performance world: {rows['lending_positions']:,} positions, {rows['assets']} assets, "
        f"{rows['pools']} pools, {rows['option_series']:,} option series "
        f"(built and compiled in {time.perf_counter() - start:.1f} s, not timed)"
    )
    result = propagate(engine, _scenario(-0.3), allow_unconverged=True)
    med, lo, hi = _timed(lambda: propagate(engine, _scenario(-0.3), allow_unconverged=True), repeat)
    print(
        f"| ETH -30% to fixed point ({result.rounds} rounds, converged={result.converged}) "
        f"| {med:.2f} s | {lo:.2f}-{hi:.2f} s |"
    )

    book, a = engine.world.lending, engine.world.assets
    move = np.where(np.isin(a.symbols, ["ETH", "stETH", "cbETH", "rETH"])[a.root_assets], 0.7, 1.0)[
        a.root
    ]
    market = a.price * move
    answers = engine.feeds.initial
    oracle = answers[engine.position_feed] * move[book.asset]
    state = LendingState.initial(book, len(a))
    depth = engine.liquidation_depth_usd
    params = LendingParams()
    market_usd = market[book.asset]
    key = [
        (book.protocol_ids[book.loan_protocol[book.loan[i]]], a.ids[book.asset[i]])
        for i in range(book.n_positions)
    ]
    ref_oracle = dict(zip(key, oracle.tolist(), strict=True))
    ref_usd = dict(zip(key, market[book.asset].tolist(), strict=True))
    ref_market = dict(zip(a.ids, market.tolist(), strict=True))
    ref_depth = dict(zip(a.ids, depth.tolist(), strict=True))

    # The round after: ETH 1% lower again. The health screen evaluates only the loans whose
    # health can have crossed 1 since the shock round's full evaluation; the reference
    # implementation re-prices every loan every round, as in the shock round.
    feed_move = np.ones(len(answers))
    feed_move[engine.position_feed] = move[book.asset]
    screen = HealthScreen()
    first = PositionPrices(answers * feed_move, engine.position_feed)
    after, _ = lending_round(
        book, state, first, market[book.asset], market, depth, params, screen=screen
    )
    again = np.where(move < 1.0, 0.99, 1.0)
    feed_again = feed_move.copy()
    feed_again[engine.position_feed] *= again[book.asset]
    second = PositionPrices(answers * feed_again, engine.position_feed)
    candidates = screen.candidates(book, second, None)
    market_again = market * again
    market_again_usd = market_again[book.asset]

    # Paired: each pair times the vectorised rounds (median of ``repeat``, each on its own
    # copy of the start state, balances updated in place as the round loop does) and one
    # reference round on a reference built afresh (a round liquidates: every timed run
    # starts from the same input); the speed-up is the median of the pairs' ratios.
    pairs = []
    for _ in range(3):
        fast = _timed_on(
            state.copy,
            lambda st: lending_round(
                book, st, oracle, market_usd, market, depth, params, in_place=True
            ),
            repeat,
        )[0]
        screened = _timed_on(
            lambda: (after.copy(), copy.deepcopy(screen)),
            lambda start: lending_round(
                book, start[0], second, market_again_usd, market_again, depth, params,
                screen=start[1], in_place=True,
            ),
            repeat,
        )[0]  # fmt: skip
        slow = _timed_on(
            lambda: ReferenceLending(world),
            lambda ref: ref.round(ref_oracle, ref_usd, ref_market, ref_depth, params),
            1,
        )[0]
        pairs.append((fast, screened, slow))
    fast_s, screened_s, slow_s = (np.array(column) for column in zip(*pairs, strict=True))
    slow_med = float(np.median(slow_s))
    evaluated = book.n_loans if candidates is None else len(candidates)
    for what, timed in (
        ("one lending round, vectorised", fast_s),
        (
            f"next lending round (ETH -1% more), health screen: {evaluated:,} of "
            f"{book.n_loans:,} loans evaluated",
            screened_s,
        ),
    ):
        ratios = slow_s / timed
        print(
            f"| {what} | {np.median(timed) * 1e3:.1f} ms | reference {slow_med:.2f} s "
            f"({slow_s.min():.2f}-{slow_s.max():.2f} s) | speed-up {np.median(ratios):.0f}x "
            f"(pairs: {ratios.min():.0f}-{ratios.max():.0f}x) |"
        )

    small = build_engine(sample_world(positions=batch_positions))
    scenarios = [_scenario(-m) for m in np.linspace(0.01, 0.5, batch)]
    for processes in sorted({1, workers or os.cpu_count() or 1}):
        start = time.perf_counter()
        results = propagate_many(small, scenarios, workers=processes)
        took = time.perf_counter() - start
        settled = sum(r.converged for r in results)
        print(
            f"| batch: {batch:,} scenarios on {batch_positions:,} positions, "
            f"{processes} process{'es' if processes > 1 else ''} | {took:.1f} s | "
            f"{settled:,} settled |"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"peak resident memory: {peak:.2f} GiB")
