"""Every shipped query: runs on the tiny and the empty dataset, honours its header, binds values."""

from __future__ import annotations

import pyarrow as pa
import pytest
from conftest import AAVE, COMPOUND, ETH_USD, WETH

from contagion import Dataset, QueryError
from contagion.resources import list_queries
from contagion.store import Store, query_spec

QUERIES = list_queries()
GRAPH_RELATIONS = {
    "asset_prices",
    "position_values",
    "graph_nodes",
    "graph_edges",
    "protocol_tvl",
    "edges_by_kind",
    "largest_positions",
    "shared_oracles",
}


@pytest.fixture(scope="module")
def store(tiny_dataset: Dataset) -> Store:
    return tiny_dataset.store()


@pytest.fixture(scope="module")
def empty_store(empty_dataset: Dataset) -> Store:
    return empty_dataset.store()


def rows(table: pa.Table) -> list[dict[str, object]]:
    return table.to_pylist()


def test_the_graph_relations_are_shipped() -> None:
    assert set(QUERIES) >= GRAPH_RELATIONS


@pytest.mark.parametrize("name", QUERIES)
def test_header_declares_title_grain_and_key(name: str) -> None:
    spec = query_spec(name)
    assert spec.title and spec.grain and spec.key
    assert all(p.default is not None for p in spec.params), "defaults let every query run bare"


@pytest.mark.parametrize("name", QUERIES)
def test_query_runs_on_tiny_dataset_with_a_unique_key(store: Store, name: str) -> None:
    table = store.query(name)
    spec = query_spec(name)
    assert set(spec.key) <= set(table.column_names)
    keys = table.select(list(spec.key)).to_pylist()
    assert len({tuple(k.values()) for k in keys}) == table.num_rows
    assert table.num_rows > 0


@pytest.mark.parametrize("name", QUERIES)
def test_query_runs_on_empty_dataset(empty_store: Store, name: str) -> None:
    table = empty_store.query(name)
    assert table.num_rows == 0
    assert set(query_spec(name).key) <= set(table.column_names)


def test_staging_relations_keep_one_row_per_input_row(store: Store, tiny_dataset: Dataset) -> None:
    counts = tiny_dataset.row_counts()
    assert store.query("asset_prices").num_rows == counts["assets"]
    values = store.query("position_values")
    assert values.num_rows == counts["lending_positions"]
    by_key = {(r["account"], r["protocol_id"], r["asset_id"]): r for r in rows(values)}
    a1 = by_key[("0xa1", AAVE, WETH)]
    assert a1["collateral_usd"] == 20_000.0
    assert a1["debt_usd"] == 0.0


def test_protocol_tvl(store: Store) -> None:
    tvl = {r["protocol_id"]: r for r in rows(store.query("protocol_tvl"))}
    assert tvl[AAVE]["supplied_usd"] == 85_500.0
    assert tvl[COMPOUND]["tvl_usd"] == 114_000.0
    assert tvl["uniswap-v2"]["pool_tvl_usd"] == 400_000.0
    assert tvl["maker"]["psm_reserves_usd"] == 300_000.0
    assert tvl["maker"]["stablecoin_supply_usd"] == 500_000.0
    assert tvl["terra"]["tvl_usd"] == 0.0


def test_edges_and_nodes_by_kind(store: Store) -> None:
    edges = {r["kind"]: r for r in rows(store.query("edges_by_kind"))}
    assert edges["backs"] == {"kind": "backs", "edges": 4, "usd": 2_500_000.0}
    nodes = {r["kind"]: r["nodes"] for r in rows(store.query("nodes_by_kind"))}
    assert nodes["account_cluster"] == 3


def test_largest_positions_limit_and_order(store: Store) -> None:
    top = rows(store.query("largest_positions", {"limit": 2}))
    assert [(r["account"], r["protocol_id"], r["debt_usd"]) for r in top] == [
        ("0xa1", AAVE, 8_000.0),
        ("0xa2", AAVE, 6_000.0),
    ]
    assert top[0]["loan_to_value"] == pytest.approx(0.4)
    # A command-line string is converted to the declared BIGINT.
    assert store.query("largest_positions", {"limit": "3"}).num_rows == 3
    lenders = rows(store.query("largest_positions"))
    assert lenders[-1]["loan_to_value"] is None


def test_shared_oracles_follow_composite_feeds(store: Store) -> None:
    shared = rows(store.query("shared_oracles"))
    assert [r["feed_id"] for r in shared] == [ETH_USD]
    eth = shared[0]
    assert eth["protocols"] == 2
    assert eth["markets"] == 4
    assert eth["markets_via_composite"] == 1
    assert eth["priced_usd"] == 55_500.0
    assert store.query("shared_oracles", {"min_protocols": 1}).num_rows == 5
    assert store.query("shared_oracles", {"min_protocols": 3}).num_rows == 0


def test_multi_protocol_clusters(store: Store) -> None:
    (both,) = rows(store.query("multi_protocol_clusters"))
    assert both["cluster"] == f"{AAVE}+{COMPOUND}"
    assert both["debt_usd"] == 6_000.0
    assert both["collateral_usd"] == 12_000.0


def test_protocol_dependencies(store: Store) -> None:
    deps = rows(store.query("protocol_dependencies", {"protocol_id": COMPOUND}))
    kinds = {r["kind"] for r in deps}
    assert kinds == {"collateral_in", "debt_in", "prices_with", "receipt_of", "exposed_to"}
    assert all(r["kind"] != "part_of" for r in deps)


def test_string_parameters_are_values_not_sql(store: Store) -> None:
    evil = "x'); drop table assets; --"
    assert store.query("protocol_dependencies", {"protocol_id": evil}).num_rows == 0
    assert store.sql("select count(*) as n from assets").column("n")[0].as_py() == 7
    like = "aave%"
    assert store.query("protocol_dependencies", {"protocol_id": like}).num_rows == 0


def test_unknown_query_and_bad_parameters_raise_query_error(store: Store) -> None:
    with pytest.raises(QueryError, match="unknown query"):
        store.query("graph_nodes; drop table assets")
    with pytest.raises(QueryError, match="expects BIGINT"):
        store.query("largest_positions", {"limit": "twenty"})
    with pytest.raises(QueryError, match="expects BIGINT"):
        store.query("shared_oracles", {"min_protocols": "2; drop table assets"})
    with pytest.raises(QueryError, match="has no parameter"):
        store.query("largest_positions", {"top": 5})
    with pytest.raises(QueryError, match="failed"):
        store.query("largest_positions", {"limit": -1})


def test_materialized_relations_match_their_views(tiny_dataset: Dataset) -> None:
    fresh = Store(tiny_dataset)
    before = fresh.query("graph_edges")
    fresh.materialize("market_totals", "cluster_exposure")
    fresh.materialize("market_totals")
    assert fresh.query("graph_edges").equals(before)
    assert fresh.sql("select count(*) as n from market_totals").column("n")[0].as_py() == 6
    with pytest.raises(QueryError, match="unknown query"):
        fresh.materialize("no_such_relation")
    with pytest.raises(QueryError, match="has parameters"):
        fresh.materialize("largest_positions")
