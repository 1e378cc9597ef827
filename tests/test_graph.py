"""The exposure graph on the tiny world, checked edge by edge against hand-computed weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd
import pytest
from conftest import (
    AAVE,
    AWETH,
    COMPOUND,
    CURVE,
    DAI,
    ETH_USD,
    LUNA,
    UNI_V2,
    UNI_V3,
    USDC,
    USDC_FIXED,
    USDC_USD,
    UST,
    WETH,
    WSTETH,
    WSTETH_ETH,
    WSTETH_USD,
    tile_positions,
)

import contagion.graph as graph_module
from contagion import Dataset, ExposureGraph, build_graph
from contagion.graph import EDGE_COLUMNS, EDGE_KINDS, NODE_COLUMNS, NODE_KINDS


def asset(a: str) -> str:
    return f"asset:{a}"


def market(p: str, a: str) -> str:
    return f"market:{p}|{a}"


def feed(f: str) -> str:
    return f"feed:{f}"


def pool(p: str) -> str:
    return f"pool:{p}"


def protocol(p: str) -> str:
    return f"protocol:{p}"


BOTH = f"{AAVE}+{COMPOUND}"

# Every edge of the tiny world with its weight worked out by hand from conftest's docstring.
EXPECTED_EDGES: dict[tuple[str, str, str], float] = {
    # collateral_in: Aave WETH 0xa1 10 + 0xa4 2 = 12 x 2000; wstETH 5 x 2300; Compound WETH
    # 3 x 2000, aWETH 4 x 2000. Aave USDC of 0xa3 is supplied but not collateral.
    (asset(WETH), market(AAVE, WETH), "collateral_in"): 24_000.0,
    (asset(WSTETH), market(AAVE, WSTETH), "collateral_in"): 11_500.0,
    (asset(WETH), market(COMPOUND, WETH), "collateral_in"): 6_000.0,
    (asset(AWETH), market(COMPOUND, AWETH), "collateral_in"): 8_000.0,
    # debt_in: Aave USDC 8000 + 1000, WETH 3 x 2000; Compound USDC 5000 + 4000.
    (asset(USDC), market(AAVE, USDC), "debt_in"): 9_000.0,
    (asset(WETH), market(AAVE, WETH), "debt_in"): 6_000.0,
    (asset(USDC), market(COMPOUND, USDC), "debt_in"): 9_000.0,
    # prices_with: collateral + debt of the market the feed prices.
    (feed(ETH_USD), market(AAVE, WETH), "prices_with"): 30_000.0,
    (feed(ETH_USD), market(COMPOUND, WETH), "prices_with"): 6_000.0,
    (feed(ETH_USD), market(COMPOUND, AWETH), "prices_with"): 8_000.0,
    (feed(USDC_USD), market(AAVE, USDC), "prices_with"): 9_000.0,
    (feed(USDC_FIXED), market(COMPOUND, USDC), "prices_with"): 9_000.0,
    (feed(WSTETH_USD), market(AAVE, WSTETH), "prices_with"): 11_500.0,
    (feed(WSTETH_ETH), feed(WSTETH_USD), "prices_with"): 11_500.0,
    (feed(ETH_USD), feed(WSTETH_USD), "prices_with"): 11_500.0,
    # liquidity_in both ways, weighted by the reserve's USD value.
    (asset(USDC), pool(UNI_V2), "liquidity_in"): 200_000.0,
    (asset(WETH), pool(UNI_V2), "liquidity_in"): 200_000.0,
    (asset(WSTETH), pool(UNI_V3), "liquidity_in"): 115_000.0,
    (asset(WETH), pool(UNI_V3), "liquidity_in"): 80_000.0,
    (asset(DAI), pool(CURVE), "liquidity_in"): 300_000.0,
    (asset(USDC), pool(CURVE), "liquidity_in"): 250_000.0,
    (pool(UNI_V2), asset(USDC), "liquidity_in"): 200_000.0,
    (pool(UNI_V2), asset(WETH), "liquidity_in"): 200_000.0,
    (pool(UNI_V3), asset(WSTETH), "liquidity_in"): 115_000.0,
    (pool(UNI_V3), asset(WETH), "liquidity_in"): 80_000.0,
    (pool(CURVE), asset(DAI), "liquidity_in"): 300_000.0,
    (pool(CURVE), asset(USDC), "liquidity_in"): 250_000.0,
    # receipt_of: issuer -> token (visible supply: wstETH 5 lent + 50 pooled = 55 x 2300;
    # aWETH 4 lent x 2000), token -> the other protocol's market taking it as collateral.
    (protocol("lido"), asset(WSTETH), "receipt_of"): 126_500.0,
    (protocol(AAVE), asset(AWETH), "receipt_of"): 8_000.0,
    (asset(WSTETH), market(AAVE, WSTETH), "receipt_of"): 11_500.0,
    (asset(AWETH), market(COMPOUND, AWETH), "receipt_of"): 8_000.0,
    # backs: supply x share x peg; the algorithmic pair both ways.
    (asset(USDC), asset(DAI), "backs"): 300_000.0,
    (asset(WETH), asset(DAI), "backs"): 200_000.0,
    (asset(LUNA), asset(UST), "backs"): 1_000_000.0,
    (asset(UST), asset(LUNA), "backs"): 1_000_000.0,
    # hedges_on: options 100 x 2000 + 50 x 2000; perps (30 + 20) x 2000.
    ("venue:deribit", asset(WETH), "hedges_on"): 400_000.0,
    # part_of: market supply, pool TVL, venue open interest.
    (market(AAVE, WETH), protocol(AAVE), "part_of"): 24_000.0,
    (market(AAVE, USDC), protocol(AAVE), "part_of"): 50_000.0,
    (market(AAVE, WSTETH), protocol(AAVE), "part_of"): 11_500.0,
    (market(COMPOUND, USDC), protocol(COMPOUND), "part_of"): 100_000.0,
    (market(COMPOUND, WETH), protocol(COMPOUND), "part_of"): 6_000.0,
    (market(COMPOUND, AWETH), protocol(COMPOUND), "part_of"): 8_000.0,
    (pool(UNI_V2), protocol("uniswap-v2"), "part_of"): 400_000.0,
    (pool(UNI_V3), protocol("uniswap-v3"), "part_of"): 195_000.0,
    (pool(CURVE), protocol("curve"), "part_of"): 550_000.0,
    ("venue:deribit", protocol("deribit"), "part_of"): 400_000.0,
    # exposed_to: 0xa1 and 0xa2 owe Aave only; 0xa4 owes both; 0xa5 owes Compound only.
    (f"cluster:{AAVE}", protocol(AAVE), "exposed_to"): 14_000.0,
    (f"cluster:{BOTH}", protocol(AAVE), "exposed_to"): 1_000.0,
    (f"cluster:{BOTH}", protocol(COMPOUND), "exposed_to"): 5_000.0,
    (f"cluster:{COMPOUND}", protocol(COMPOUND), "exposed_to"): 4_000.0,
}

EXPECTED_NODE_USD: dict[str, float] = {
    protocol(AAVE): 85_500.0,
    protocol(COMPOUND): 114_000.0,
    protocol("curve"): 550_000.0,
    protocol("maker"): 300_000.0,  # PSM reserves: 500k x 0.6
    protocol("deribit"): 0.0,  # open interest is a claim, not value locked
    market(AAVE, USDC): 50_000.0,
    asset(WETH): 310_000.0,  # (12 + 3 lent + 100 + 40 pooled) x 2000
    asset(USDC): 600_000.0,  # 150k lent + 450k pooled
    asset(DAI): 500_000.0,  # the issuer's supply
    asset(LUNA): 0.0,
    feed(ETH_USD): 55_500.0,  # 30k + 6k + 8k directly, 11.5k through the composite
    feed(WSTETH_ETH): 11_500.0,
    pool(UNI_V3): 195_000.0,
    "venue:deribit": 400_000.0,
    f"cluster:{AAVE}": 14_000.0,
    f"cluster:{BOTH}": 6_000.0,
    f"cluster:{COMPOUND}": 4_000.0,
}


@pytest.fixture(scope="module")
def graph(tiny_dataset: Dataset) -> ExposureGraph:
    return build_graph(tiny_dataset)


def edge_weights(g: ExposureGraph) -> dict[tuple[str, str, str], float]:
    e = g.edges
    return dict(zip(zip(e["src"], e["dst"], e["kind"], strict=True), e["usd"], strict=True))


def test_edges_match_hand_computed_weights(graph: ExposureGraph) -> None:
    got = edge_weights(graph)
    assert set(got) == set(EXPECTED_EDGES)
    for key, usd in EXPECTED_EDGES.items():
        assert got[key] == pytest.approx(usd), key


def test_node_sizes_match_hand_computed_values(graph: ExposureGraph) -> None:
    usd = dict(zip(graph.nodes["node_id"], graph.nodes["usd"], strict=True))
    for node, expected in EXPECTED_NODE_USD.items():
        assert usd[node] == pytest.approx(expected), node


def test_every_kind_is_present_and_counted(graph: ExposureGraph) -> None:
    assert set(graph.nodes["kind"]) == set(NODE_KINDS)
    assert set(graph.edges["kind"]) == set(EDGE_KINDS)
    assert graph.nodes["kind"].value_counts().to_dict() == {
        "protocol": 10,
        "market": 6,
        "asset": 7,
        "oracle_feed": 5,
        "pool": 3,
        "derivative_venue": 1,
        "account_cluster": 3,
    }


def test_structure_invariants(graph: ExposureGraph) -> None:
    nodes, edges = graph.nodes, graph.edges
    assert list(nodes.columns) == list(NODE_COLUMNS)
    assert list(edges.columns) == list(EDGE_COLUMNS)
    assert nodes["node_id"].is_unique
    assert not edges.duplicated(["src", "dst", "kind"]).any()
    ids = set(nodes["node_id"])
    assert set(edges["src"]) <= ids
    assert set(edges["dst"]) <= ids
    prefix = {
        "protocol": "protocol:",
        "market": "market:",
        "asset": "asset:",
        "oracle_feed": "feed:",
        "pool": "pool:",
        "derivative_venue": "venue:",
        "account_cluster": "cluster:",
    }
    assert all(
        n.startswith(prefix[k]) for n, k in zip(nodes["node_id"], nodes["kind"], strict=True)
    )
    assert (nodes["usd"] >= 0).all()
    assert (edges["usd"] > 0).all()
    assert not nodes["source"].isna().any()
    assert not edges["source"].isna().any()


def test_provenance_of_off_chain_edges(graph: ExposureGraph) -> None:
    hedge = graph.edges[graph.edges["kind"] == "hedges_on"].iloc[0]
    assert hedge["chain_id"] == 0
    assert pd.isna(hedge["block_number"])
    assert hedge["source"] == "deribit-csv"
    assert hedge["timestamp"] == pd.Timestamp("2020-05-14 05:41", tz="UTC")
    collateral = graph.edges[graph.edges["kind"] == "collateral_in"].iloc[0]
    assert collateral["block_number"] == 18_470_000


def test_summary_lists_tvl_and_kinds(graph: ExposureGraph) -> None:
    summary = graph.summary()
    json.dumps(summary)
    assert summary["nodes"] == 35
    assert summary["edges"] == len(EXPECTED_EDGES)
    assert list(summary["nodes_by_kind"]) == list(NODE_KINDS)
    assert summary["edges_by_kind"]["collateral_in"] == {"count": 4, "usd": 49_500.0}
    assert summary["edges_by_kind"]["exposed_to"] == {"count": 4, "usd": 24_000.0}
    tvl = {row["protocol_id"]: row for row in summary["tvl"]}
    assert tvl[AAVE]["tvl_usd"] == 85_500.0
    assert tvl[AAVE]["collateral_usd"] == 35_500.0
    assert tvl[AAVE]["debt_usd"] == 15_000.0
    assert tvl[COMPOUND]["debt_usd"] == 9_000.0
    assert tvl["deribit"]["open_interest_usd"] == 400_000.0
    assert summary["tvl"][0]["protocol_id"] == "curve"


def test_networkx_attributes_are_graphml_safe(graph: ExposureGraph) -> None:
    g = graph.to_networkx()
    assert isinstance(g, nx.MultiDiGraph)
    assert g.number_of_nodes() == 35
    assert g.number_of_edges() == len(EXPECTED_EDGES)
    values: list[Any] = [v for _, d in g.nodes(data=True) for v in d.values()]
    values += [v for *_, d in g.edges(keys=True, data=True) for v in d.values()]
    assert {type(v) for v in values} <= {str, int, float}
    # Two kinds between the same pair stay two edges, keyed by kind.
    assert set(g[asset(WETH)][market(AAVE, WETH)]) == {"collateral_in", "debt_in"}
    assert g.nodes["venue:deribit"]["block_number"] == 0
    assert g.nodes[protocol(AAVE)]["kind"] == "protocol"


def _edge_kinds(g: nx.MultiDiGraph) -> list[tuple[str, str, str]]:
    return sorted((u, v, d["kind"]) for u, v, d in g.edges(data=True))


@pytest.mark.parametrize(("fmt", "read"), [("graphml", nx.read_graphml), ("gexf", nx.read_gexf)])
def test_files_round_trip(graph: ExposureGraph, tmp_path: Path, fmt: str, read: Any) -> None:
    target = graph.write(tmp_path / f"exposure.{fmt}")
    back = read(target)
    original = graph.to_networkx()
    assert set(back.nodes) == set(original.nodes)
    assert {n: d["kind"] for n, d in back.nodes(data=True)} == dict(original.nodes(data="kind"))
    assert _edge_kinds(back) == _edge_kinds(original)
    assert back.nodes[protocol(AAVE)]["usd"] == pytest.approx(85_500.0)
    weight = {(u, v, d["kind"]): d["usd"] for u, v, d in back.edges(data=True)}
    assert weight[(asset(WETH), market(AAVE, WETH), "collateral_in")] == pytest.approx(24_000.0)
    assert [p.name for p in tmp_path.iterdir()] == [f"exposure.{fmt}"]


def test_write_format_from_suffix(graph: ExposureGraph, tmp_path: Path) -> None:
    assert graph.write(tmp_path / "g.gexf").read_text().lstrip().startswith("<?xml")
    assert "<gexf" in (tmp_path / "g.gexf").read_text()
    assert "<graphml" in graph.write(tmp_path / "g.xml").read_text()
    with pytest.raises(ValueError, match="unknown graph format"):
        graph.write(tmp_path / "g.dot", format="dot")


def test_failed_write_leaves_no_partial_or_temporary_file(
    graph: ExposureGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "exposure.graphml"
    target.write_text("previous")

    def half_written(g: nx.MultiDiGraph, path: Path) -> None:
        Path(path).write_text("<graphml")
        raise OSError("disk full")

    monkeypatch.setattr(graph_module.nx, "write_graphml", half_written)
    with pytest.raises(OSError, match="disk full"):
        graph.write(target)
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["exposure.graphml"]
    with pytest.raises(OSError, match="disk full"):
        graph.write(tmp_path / "new.graphml")
    assert not (tmp_path / "new.graphml").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["exposure.graphml"]


def test_empty_dataset_gives_an_empty_graph(empty_dataset: Dataset, tmp_path: Path) -> None:
    g = build_graph(empty_dataset)
    assert g.nodes.empty and g.edges.empty
    assert list(g.nodes.columns) == list(NODE_COLUMNS)
    summary = g.summary()
    assert summary["nodes_by_kind"] == dict.fromkeys(NODE_KINDS, 0)
    assert summary["tvl"] == []
    assert nx.read_graphml(g.write(tmp_path / "empty.graphml")).number_of_nodes() == 0
    assert nx.read_gexf(g.write(tmp_path / "empty.gexf")).number_of_nodes() == 0


def test_store_and_dataset_entry_points_agree(tiny_dataset: Dataset) -> None:
    store = tiny_dataset.store()
    from_store = build_graph(store)
    # The caller's store stays open and usable.
    assert store.query("edges_by_kind").num_rows == len(EDGE_KINDS)
    from_dataset = tiny_dataset.graph()
    pd.testing.assert_frame_equal(from_store.edges, from_dataset.edges)
    pd.testing.assert_frame_equal(from_store.nodes, from_dataset.nodes)


def test_tiled_positions_scale_weights_and_keep_clusters() -> None:
    """Twenty copies of the tiny book: the same edges, weights summed over the copies."""
    tiled = tile_positions(12 * 20, seed=3)
    positions = tiled.df("lending_positions")
    assert positions["account"].nunique() == 6 * 20
    g = build_graph(tiled)
    weights = edge_weights(g)
    assert set(weights) == set(EXPECTED_EDGES)
    clusters = g.nodes[g.nodes["kind"] == "account_cluster"].set_index("node_id")
    assert clusters.loc[f"cluster:{BOTH}", "detail"].startswith("20 account(s)")
    price = positions["asset_id"].map({WETH: 2000.0, WSTETH: 2300.0, AWETH: 2000.0, USDC: 1.0})
    lent = positions["collateral_amount"] * price
    collateral = lent[positions["used_as_collateral"]].sum()
    got = sum(v for (_, _, kind), v in weights.items() if kind == "collateral_in")
    assert got == pytest.approx(collateral)
    debt = (positions["debt_amount"] * price).sum()
    assert sum(v for (_, _, k), v in weights.items() if k == "exposed_to") == pytest.approx(debt)
