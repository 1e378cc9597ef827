"""Contagion paths: proportional flow tracing, k-best paths and their reconciliation."""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contagion import Dataset, propagate, sample_world
from contagion.engine import Engine, build_engine
from contagion.paths import PathRanking, path_labels, rank_paths
from contagion.result import PropagationResult
from contagion.scenario import Depeg, PriceShock, ProtocolFailure, Scenario
from contagion.tracing import TimedEdges, best_paths, route_load, trace

WETH = "1:0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
AAVE = "aave-v3-ethereum"
UST = "1:0x3ab96fa5f5e7c49a30c909911a27c5ec3d283d6e"


def edges(rows: list[tuple[int, int, int, int, float, float]], n: int) -> TimedEdges:
    src, dst, read, write, usd, loss = (np.array(c) for c in zip(*rows, strict=True))
    return TimedEdges(
        src.astype(np.int64),
        dst.astype(np.int64),
        read.astype(np.int64),
        write.astype(np.int64),
        usd.astype(float),
        loss.astype(float),
        n,
    )


def test_tracing_shares_a_loss_among_inflows_by_their_usd() -> None:
    # 0 = scenario, 1 = an asset it moves, 2 = a market the asset and an unexplained move (3)
    # feed, 4 = where the market's loss lands. The market's 10 of loss is half the asset's
    # (50 of 100 USD reached it from the asset) and half the unexplained move's.
    g = edges(
        [
            (0, 1, 0, 0, 100.0, 0.0),
            (1, 2, 1, 1, 50.0, 0.0),
            (3, 2, 1, 1, 50.0, 0.0),
            (2, 4, 2, 2, 10.0, 10.0),
            # Read before anything reached it: the asset sends nothing it did not have.
            (1, 4, 0, 0, 7.0, 0.0),
        ],
        5,
    )
    t = trace(g)
    assert t.by_origin() == pytest.approx({0: 5.0, 3: 5.0})
    found = best_paths(t, 0, k=5)
    assert len(found) == 1
    assert found[0].edges == (0, 1, 3)
    assert found[0].load == pytest.approx(10.0 * 50.0 / 100.0)
    assert route_load(t, [np.array([0]), np.array([1]), np.array([3])]) == pytest.approx(5.0)


def test_a_node_passes_on_only_what_reached_it_before() -> None:
    # The asset is hit at time 0 and time 5; a loss read at time 3 comes only from the first.
    g = edges(
        [
            (0, 1, 0, 0, 30.0, 0.0),
            (2, 1, 5, 5, 90.0, 0.0),
            (1, 3, 3, 3, 1.0, 4.0),
            (1, 4, 9, 9, 1.0, 8.0),
        ],
        5,
    )
    t = trace(g)
    # 4 at time 3: all from the scenario; 8 at time 9: 30/120 from it, 90/120 from node 2.
    assert t.by_origin() == pytest.approx({0: 4.0 + 8.0 * 30 / 120, 2: 8.0 * 90 / 120})


def test_a_small_inflow_keeps_its_precision_beside_large_ones() -> None:
    # Node 6 receives one cent; the millions that reached node 5 sort before it. Its inflow
    # is the cent exactly, so the dollar lost downstream traces back whole.
    g = edges(
        [
            (0, 5, 2, 2, 97_152.0, 0.0),
            (1, 5, 2, 2, 1e6, 0.0),
            (2, 5, 2, 2, 1e6, 0.0),
            (0, 6, 2, 2, 0.01, 0.0),
            (6, 12, 3, 3, 1.0, 1.0),
        ],
        13,
    )
    t = trace(g)
    assert t.inflow[4] == 0.01
    assert t.by_origin() == {0: 1.0}


@st.composite
def layered_dags(draw: st.DrawFn) -> TimedEdges:
    layers = draw(st.integers(2, 5))
    width = draw(st.integers(1, 4))
    node = {(0, 0): 0}
    for layer in range(1, layers):
        for j in range(width):
            node[(layer, j)] = len(node)
    rows = []
    for layer in range(1, layers):
        for j in range(width):
            sources = [(lo, i) for lo in range(layer) for i in range(width) if (lo, i) in node]
            picked = draw(st.lists(st.sampled_from(sources), min_size=0, max_size=3, unique=True))
            for lo, i in picked:
                usd = draw(st.floats(0.01, 1e6))
                loss = draw(st.sampled_from([0.0, 0.0, draw(st.floats(0.01, 1e6))]))
                rows.append((node[(lo, i)], node[(layer, j)], layer, layer, usd, loss))
    if not rows:
        rows.append((0, 1, 1, 1, 1.0, 1.0)) if len(node) > 1 else None
    if not rows:
        return edges([(0, 0, 0, 0, 1.0, 1.0)], 1)
    return edges(rows, len(node))


def _all_paths(g: TimedEdges, origin: int) -> list[tuple[tuple[int, ...], float]]:
    """Every timed path from ``origin`` to a loss with its load, by brute force."""
    t = trace(g)
    out: list[tuple[tuple[int, ...], float]] = []

    def walk(chain: tuple[int, ...], weight: float) -> None:
        last = chain[-1]
        if g.loss[last] > 0:
            out.append((chain, weight * g.loss[last]))
        for f in range(len(g)):
            if g.src[f] == g.dst[last] and g.read[f] > g.write[last]:
                walk((*chain, f), weight * g.usd[last] / t.inflow[f])

    for e in range(len(g)):
        if g.src[e] == origin and t.inflow[e] <= 0:
            walk((e,), 1.0)
    return out


@settings(max_examples=60, deadline=None)
@given(layered_dags())
def test_attribution_conserves_usd_on_random_layered_dags(g: TimedEdges) -> None:
    t = trace(g)
    assert sum(t.by_origin().values()) == pytest.approx(float(g.loss.sum()), rel=1e-9)
    brute = _all_paths(g, 0)
    assert sum(load for _, load in brute) == pytest.approx(
        t.by_origin().get(0, 0.0), rel=1e-9, abs=1e-9
    )
    best = best_paths(t, 0, k=4)
    loads = [p.load for p in best]
    assert loads == sorted(loads, reverse=True)
    expected = sorted((load for _, load in brute), reverse=True)[:4]
    assert loads == pytest.approx(expected, rel=1e-9)


# -- runs of the solver --------------------------------------------------------------------


def test_hand_built_world_returns_its_one_path_with_the_hand_computed_loss(
    tiny_dataset: Dataset,
) -> None:
    # The tiny world's pools are shallow: a 50% ETH shock empties them and ETH ends near 0.
    # Its only loss is the perpetual longs' (30 ETH, liquidation price 1600, maintenance
    # margin 5%): they go bankrupt at 1600 x 0.95 = 1520 and are closed near 0, so the
    # insurance fund pays 30 x 1520. Lending accounts are absorbed at dust prices first.
    result = propagate(tiny_dataset, Scenario(name="eth", shocks=(PriceShock("WETH", -0.5),)))
    assert result.price_change(WETH) < -0.999
    ranking = rank_paths(result, k=5, labels=path_labels(tiny_dataset))
    top = ranking.paths[0]
    assert top.nodes == (
        "scenario",
        f"asset:{WETH}",
        f"venue:deribit|{WETH}",
        "loss:insurance_fund|deribit/ETH-PERPETUAL",
    )
    assert top.channels == ("shock", "underlying", "insurance_fund")
    assert top.loss_usd == pytest.approx(30 * 1600 * 0.95, rel=1e-6)
    assert ranking.residual_usd == pytest.approx(0.0, abs=1e-3)
    text = top.describe(ranking.labels)
    assert text.startswith("WETH -50% -> ")
    assert "insurance fund of deribit/ETH-PERPETUAL pays" in text


@lru_cache(maxsize=1)
def default_engine() -> Engine:
    return build_engine(sample_world())


@lru_cache(maxsize=4)
def default_run(name: str) -> PropagationResult:
    scenarios = {
        "eth": Scenario(name="eth", shocks=(PriceShock("WETH", -0.3),)),
        "aave-fails": Scenario(
            name="aave-fails", protocol_failures=(ProtocolFailure(AAVE, writedown=0.3),)
        ),
        "usdc": Scenario(name="usdc", depegs=(Depeg("USDC", price=0.9),)),
    }
    return propagate(default_engine(), scenarios[name], max_rounds=40, allow_unconverged=True)


@pytest.mark.parametrize("name", ["eth", "aave-fails", "usdc"])
def test_paths_reconcile_with_the_run_losses(name: str) -> None:
    result = default_run(name)
    ranking = rank_paths(result, k=10, min_share=0.0)
    total = float(result.losses["usd"].sum())
    assert total > 0
    assert ranking.total_loss_usd == pytest.approx(total, rel=1e-12)
    assert ranking.attributed_usd + ranking.residual_usd == pytest.approx(total, rel=1e-12)
    assert ranking.residual_usd == pytest.approx(
        sum(usd for _, usd, _ in ranking.residual_by_origin), abs=1e-9 * total
    )
    assert ranking.attributed_usd >= 0 and ranking.residual_usd >= -1e-6 * total
    assert sum(p.loss_usd for p in ranking.paths) <= ranking.attributed_usd * (1 + 1e-9)
    assert all(p.nodes[0] == "scenario" for p in ranking.paths)
    if name == "usdc":
        # Its one loss, the modelled UST's depeg, is reached by arbitrage through pools,
        # which records no cause: it is all residual, reported at the assets it moved.
        assert {node for node, _, _ in ranking.residual_by_origin} >= {"asset:" + UST}
    else:
        assert ranking.paths
    losses = [p.loss_usd for p in ranking.paths]
    assert losses == sorted(losses, reverse=True)
    routes = [(p.nodes, p.channels) for p in ranking.paths]
    assert len(set(routes)) == len(routes)


def test_shock_losses_are_mostly_traced_to_the_shock() -> None:
    ranking = rank_paths(default_run("eth"))
    assert ranking.attributed_usd > 0.99 * ranking.total_loss_usd
    # The write-down of a failed protocol reaches other protocols through its receipt token.
    failed = rank_paths(default_run("aave-fails"), k=20, min_share=0.0)
    assert any("writedown" in p.channels for p in failed.paths)


def test_a_protocol_failure_is_a_loss_of_its_receipt_holders_traced_to_the_scenario() -> None:
    result = default_run("aave-fails")
    losses = result.losses
    row = losses[(losses["protocol_id"] == AAVE) & (losses["channel"] == "writedown")]
    # 30 % of what Aave's receipt tokens stood for, less the round's own bad debt.
    causes = result.causes
    written = causes.loc[(causes["channel"] == "writedown") & (causes["round"] == 0), "usd"].sum()
    assert float(row["usd"].iloc[0]) == pytest.approx(written, rel=1e-9)
    assert written > 1e8
    ranking = rank_paths(result, k=20, min_share=0.0)
    top = ranking.paths[0]
    assert top.channels == ("scenario", "writedown")
    assert top.nodes[-1] == f"loss:writedown|{AAVE}"
    assert top.loss_usd == pytest.approx(written, rel=1e-9)
    assert "receipt-token holders lose the write-down" in top.describe()


def test_frames_and_json_are_complete() -> None:
    ranking = rank_paths(default_run("eth"), k=5, labels=path_labels(default_engine().dataset))
    frame = ranking.to_frame()
    assert list(frame.columns) == [
        "rank",
        "loss_usd",
        "share",
        "path",
        "nodes",
        "channels",
        "rounds",
    ]
    assert frame["rank"].tolist() == list(range(1, len(frame) + 1))
    assert (frame["share"] <= 1).all()
    doc = ranking.to_dict()
    assert doc["total_loss_usd"] == ranking.total_loss_usd
    assert len(doc["paths"]) == len(ranking.paths)
    assert all(" -> " in p["path"] for p in doc["paths"])


def test_same_run_same_ranking() -> None:
    a = rank_paths(default_run("eth"), k=8)
    b = rank_paths(default_run("eth"), k=8)
    assert a.to_dict() == b.to_dict()
    assert isinstance(a, PathRanking)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="min_share"):
        rank_paths(default_run("eth"), min_share=1.5)
    with pytest.raises(ValueError, match="k must"):
        rank_paths(default_run("eth"), k=-1)


def test_top_k_is_a_prefix_of_a_longer_ranking() -> None:
    five = rank_paths(default_run("eth"), k=5, min_share=0.0).paths
    ten = rank_paths(default_run("eth"), k=10, min_share=0.0).paths
    assert [p.loss_usd for p in ten[:3]] == pytest.approx([p.loss_usd for p in five[:3]])
    assert list(itertools.islice((p.nodes for p in ten), 3)) == [p.nodes for p in five[:3]]
