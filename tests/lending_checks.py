"""Shared by the lending tests: small compiled worlds, moved prices, and the comparison of the
vectorised lending round with the per-loan reference implementation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from contagion import Dataset, sample_world
from contagion.engine import Engine, build_engine
from contagion.lending.engine import LendingParams, LendingRound, LendingState, lending_round
from contagion.oracles import FeedState
from contagion.reference import ReferenceLending, ReferenceRound
from contagion.world import LendingBook, World, compile_world


@lru_cache(maxsize=8)
def small_world(positions: int, seed: int) -> tuple[Dataset, World]:
    ds = sample_world(positions=positions, seed=seed)
    return ds, compile_world(ds)


def with_comet_reserves(ds: Dataset, reserves: float | None = None) -> Dataset:
    """``ds`` with every Comet's reserves at ``reserves`` whole base tokens (its base row), or
    at its own ``targetReserves`` when None."""
    markets = ds.table("lending_markets")
    base = pc.and_(
        pc.equal(markets.column("family"), "compound-v3"), pc.equal(markets.column("role"), "base")
    )
    value = markets.column("target_reserves") if reserves is None else pa.scalar(float(reserves))
    column = pc.if_else(base, value, markets.column("reserves"))
    index = markets.schema.get_field_index("reserves")
    edited = markets.set_column(index, markets.schema.field(index), column)
    return Dataset({**ds.tables, "lending_markets": edited})


def eth_moves(world: World, move: float) -> list[float]:
    """A move of every ETH-denominated market (ETH and its staking tokens), others flat."""
    a = world.assets
    eth = {"ETH", "stETH", "cbETH", "rETH"}
    return [move if a.symbols[a.root_assets[r]] in eth else 1.0 for r in range(a.n_roots)]


def moved_prices(world: World, moves: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Market prices, oracle prices per position and their USD form after moving each root."""
    answers = world.dataset.table("oracle_feeds").column("answer").to_numpy()
    a, book = world.assets, world.lending
    root_move = np.array([moves[r % len(moves)] for r in range(a.n_roots)])
    market = a.price * root_move[a.root]
    # Oracles moved like their asset's market; a protocol counting in ETH (Comet WETH market)
    # sees ratios to ETH, which the move of both sides leaves to the same rule.
    oracle = answers[book.feed] * root_move[a.root][book.asset]
    oracle_usd = market[book.asset] * oracle / np.where(oracle > 0, oracle, 1.0)
    return market, oracle, oracle_usd


def assert_round_matches(book: LendingBook, asset_ids: tuple[str, ...], fast: LendingRound,
                         slow: object) -> None:  # fmt: skip
    """The vectorised round liquidated, traded and lost what the reference round did."""
    assert len(fast.liquidations) == len(slow.liquidations)  # type: ignore[attr-defined]
    for i, asset in enumerate(asset_ids):
        flow = slow.flow.get(asset, 0.0)  # type: ignore[attr-defined]
        assert fast.flow[i] == pytest.approx(flow, rel=1e-9, abs=1e-9)
    for j, protocol in enumerate(book.protocol_ids):
        bad = slow.bad_debt_usd[protocol]  # type: ignore[attr-defined]
        assert fast.bad_debt_usd[j] == pytest.approx(bad, rel=1e-9, abs=1e-6)


def run_against_reference(
    seed: int,
    rounds: Sequence[tuple[float | list[float], LendingParams]],
    *,
    positions: int = 600,
    depth: Callable[[int], np.ndarray] = lambda n: np.full(n, 40e6),
    check: Callable[[World, LendingState, LendingState, LendingRound], None] | None = None,
    edit: Callable[[Dataset], Dataset] | None = None,
) -> list[tuple[LendingRound, ReferenceRound]]:
    """The vectorised lending round and the per-loan reference side by side on a small world,
    one round per ``(moves, params)``: ``moves`` per root asset, or one number moving the
    ETH-denominated markets (:func:`eth_moves`). Every round must liquidate, trade and lose
    what the reference does and the final balances must agree; ``check(world, before,
    after, fast)`` adds a check per round; ``edit`` changes the dataset first. Returns each
    round's two answers."""
    ds, world = small_world(positions, seed)
    if edit is not None:
        ds = edit(ds)
        world = compile_world(ds)
    book, a = world.lending, world.assets
    levels = depth(len(a))
    state = LendingState.initial(book, len(a))
    reference = ReferenceLending(ds)
    key = [
        (book.protocol_ids[book.loan_protocol[book.loan[i]]], a.ids[book.asset[i]])
        for i in range(book.n_positions)
    ]
    out = []
    for moves, params in rounds:
        root_moves = eth_moves(world, moves) if isinstance(moves, float | int) else moves
        market, oracle, oracle_usd = moved_prices(world, root_moves)
        before = state.copy()
        state, fast = lending_round(book, state, oracle, oracle_usd, market, levels, params)
        slow = reference.round(
            dict(zip(key, oracle.tolist(), strict=True)),
            dict(zip(key, oracle_usd.tolist(), strict=True)),
            dict(zip(a.ids, market.tolist(), strict=True)),
            dict(zip(a.ids, levels.tolist(), strict=True)),
            params,
        )
        assert_round_matches(book, a.ids, fast, slow)
        if check is not None:
            check(world, before, state, fast)
        out.append((fast, slow))
    assert_balances_match(book, a.ids, state, reference)
    for protocol, reserves in reference.reserves.items():
        i = book.protocol_ids.index(protocol)
        if np.isfinite(reserves):
            assert state.comet_reserves[i] == pytest.approx(reserves, rel=1e-9, abs=1e-6)
        else:
            assert np.isnan(state.comet_reserves[i])
    return out


def assert_balances_match(
    book: LendingBook, asset_ids: tuple[str, ...], state: LendingState, reference: ReferenceLending
) -> None:
    """Every position's collateral and debt equal the reference's balances."""
    balances = reference.balances()
    for i in range(book.n_positions):
        loan = book.loan[i]
        protocol = book.protocol_ids[book.loan_protocol[loan]]
        ref = balances[(protocol, book.loan_account[loan], asset_ids[book.asset[i]])]
        assert state.collateral[i] == pytest.approx(ref[0], rel=1e-9, abs=1e-12)
        assert state.debt[i] == pytest.approx(ref[1], rel=1e-9, abs=1e-12)


def snapshot_health(dataset: Dataset) -> tuple[Engine, LendingRound]:
    """The solver's view of a dataset at its snapshot: its engine and one lending round at
    the feeds' published answers with liquidations off (health factors, nothing traded)."""
    engine = build_engine(dataset)
    book = engine.world.lending
    answers = FeedState.initial(engine.feeds).answer[engine.position_feed]
    _, health = lending_round(
        book,
        LendingState.initial(book, len(engine.world.assets)),
        answers,
        answers,
        engine.world.assets.price,
        engine.liquidation_depth_usd,
        LendingParams(liquidations_enabled=False),
    )
    return engine, health
