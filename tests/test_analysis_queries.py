"""Analysis queries checked against independent pandas and numpy computations.

Every shipped query runs with its defaults on the sample world and on an empty dataset; each
analysis query is recomputed here from the raw tables (not from another query's output).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from contagion import Dataset, QueryError, sample_world
from contagion.options import black76, gamma_exposure
from contagion.resources import list_queries
from contagion.store import Store, query_spec

SECONDS_PER_YEAR = 365 * 24 * 3600


@pytest.fixture(scope="module")
def world() -> Dataset:
    return sample_world(positions=3_000, seed=3)


@pytest.fixture(scope="module")
def store(world: Dataset) -> Store:
    return world.store()


@pytest.fixture(scope="module")
def empty() -> Store:
    return Dataset({}).store()


@pytest.mark.parametrize("name", list_queries())
def test_every_query_runs_on_the_sample_world_and_an_empty_dataset(
    store: Store, empty: Store, name: str
) -> None:
    spec = query_spec(name)
    table = store.query(name)
    assert set(spec.key) <= set(table.column_names)
    keys = table.select(list(spec.key)).to_pylist()
    assert len({tuple(k.values()) for k in keys}) == table.num_rows
    assert empty.query(name).num_rows == 0


# -- independent recomputations -----------------------------------------------------------


def _roots(world: Dataset) -> dict[str, str]:
    """Price root of every asset: follow vault, receipt and LST-over-LST wrappers."""
    wrappers = world.df("wrappers").set_index("asset_id")
    follows = {
        a: row.underlying_asset_id
        for a, row in wrappers.iterrows()
        if row.kind in ("vault", "receipt")
        or (row.kind == "lst" and wrappers["kind"].get(row.underlying_asset_id) == "lst")
    }
    roots = {}
    for asset in world.df("assets")["asset_id"]:
        root = asset
        while root in follows:
            root = follows[root]
        roots[asset] = root
    return roots


def _weighted_positions(world: Dataset) -> pd.DataFrame:
    pos = world.df("lending_positions")
    markets = world.df("lending_markets")
    price = world.df("assets").set_index("asset_id")["price_usd"]
    df = pos.merge(markets, on=["protocol_id", "asset_id"], how="left", suffixes=("", "_m"))
    emode = (df["emode_category"] > 0) & (df["emode_category_m"] == df["emode_category"])
    lt = np.where(emode, df["emode_liquidation_threshold"], df["liquidation_threshold"])
    weight = np.select(
        [df["family"] == "aave-v3", df["family"] == "compound-v3", df["family"] == "cdp"],
        [lt, df["liquidate_cf"], 1.0 / df["liquidation_ratio"]],
        0.0,
    )
    used = df["used_as_collateral"].to_numpy(bool)
    df["coll"] = np.where(used, df["collateral_amount"] * df["asset_id"].map(price), 0.0)
    df["lv"] = df["coll"] * np.where(used, np.nan_to_num(weight), 0.0)
    df["debt"] = df["debt_amount"] * df["asset_id"].map(price)
    df["root"] = df["asset_id"].map(_roots(world))
    return df


def _liquidatable(df: pd.DataFrame, root: str, move: float) -> pd.DataFrame:
    """Books tied to ``root`` by collateral, healthy now and liquidatable at ``move``."""
    tied = df.loc[(df["root"] == root) & (df["lv"] > 0), ["protocol_id", "account"]]
    books = df.merge(tied.drop_duplicates(), on=["protocol_id", "account"])
    scale = np.where(books["root"] == root, 1.0 + move, 1.0)
    books = books.assign(
        lv_now=books["lv"],
        debt_now=books["debt"],
        lv_at=books["lv"] * scale,
        debt_at=books["debt"] * scale,
        shocked=np.where(books["root"] == root, books["coll"] * scale, 0.0),
    )
    per = books.groupby(["protocol_id", "account"])[
        ["lv_now", "debt_now", "lv_at", "debt_at", "shocked"]
    ].sum()
    hit = (per["lv_now"] >= per["debt_now"]) & (per["lv_at"] < per["debt_at"])
    return per[hit]


def test_liquidation_ladder_matches_a_position_level_recount(store: Store, world: Dataset) -> None:
    df = _weighted_positions(world)
    eth = "1:0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
    ladder = store.query("liquidation_ladder", {"asset": "WETH"}).to_pandas()
    assert set(ladder["root_asset_id"]) == {eth}, "WETH moves with its root, ETH"
    assert sorted(ladder["price_move"].round(6).unique()) == pytest.approx(
        sorted(-0.05 * np.arange(1, 13))
    )
    checked = 0
    for move in (-0.1, -0.3, -0.6):
        expected = (
            _liquidatable(df, eth, move).groupby("protocol_id")["shocked"].agg(["sum", "size"])
        )
        got = ladder[np.isclose(ladder["price_move"], move)].set_index("protocol_id")
        for protocol_id, row in got.iterrows():
            want = expected.loc[protocol_id] if protocol_id in expected.index else None
            assert row["accounts"] == (0 if want is None else want["size"])
            assert row["shocked_collateral_usd"] == pytest.approx(
                0.0 if want is None else want["sum"], rel=1e-9, abs=1e-6
            )
            checked += row["accounts"]
    assert checked > 0
    by_protocol = ladder.groupby("protocol_id")
    assert (by_protocol["accounts"].diff().dropna() >= 0).all(), "deeper falls add books"
    assert (by_protocol["new_accounts"].sum() == by_protocol["accounts"].last()).all()


def test_liquidation_ladder_grid_parameters(store: Store) -> None:
    ladder = store.query(
        "liquidation_ladder",
        {"asset": "ETH", "first_move": "-0.1", "last_move": "-0.3", "step": "0.1"},
    ).to_pandas()
    assert sorted(ladder["price_move"].round(9).unique()) == [-0.3, -0.2, -0.1]
    with pytest.raises(QueryError, match="step must be positive"):
        store.query("liquidation_ladder", {"step": "0"})


def test_shallow_pools_match_reserves_and_recounted_flow(store: Store, world: Dataset) -> None:
    shock = -0.3
    df = _weighted_positions(world)
    roots = _roots(world)
    price = world.df("assets").set_index("asset_id")["price_usd"]
    pools = world.df("pools")
    tokens = pools[["pool_id", "kind", "fee", "token_asset_ids", "reserves"]].explode(
        ["token_asset_ids", "reserves"]
    )
    tokens["reserve_usd"] = tokens["reserves"].astype(float) * tokens["token_asset_ids"].map(price)
    tokens["root"] = tokens["token_asset_ids"].map(roots)
    got = store.query("shallow_pools", {"shock": shock}).to_pandas()
    assert len(got) > 0
    for root, rows in got.groupby("root_asset_id"):
        flow = _liquidatable(df, root, shock)["shocked"].sum()
        reserve = tokens.loc[tokens["root"] == root, "reserve_usd"].sum() * (1 + shock)
        assert rows["root_flow_usd"].iloc[0] == pytest.approx(flow, rel=1e-9)
        assert rows["flow_to_reserve"].to_numpy() == pytest.approx(flow / reserve, rel=1e-9)
        assert rows["flow_usd"].sum() == pytest.approx(flow, rel=1e-9)
    cp = got[got["pool_kind"] == "constant-product"].iloc[0]
    fee = pools.set_index("pool_id").loc[cp["pool_id"], "fee"]
    f = cp["flow_to_reserve"]
    assert cp["cp_price_move"] == pytest.approx(1 / ((1 + (1 - fee) * f) * (1 + f)) - 1)
    assert got.loc[got["pool_kind"] != "constant-product", "cp_price_move"].isna().all()
    listed = store.query("shallow_pools", {"min_ratio": "1"}).to_pandas()
    assert (listed["flow_to_reserve"] >= 1).all()
    assert len(listed) < len(got)


def test_gex_by_strike_matches_black76(store: Store, world: Dataset) -> None:
    series = world.df("option_series")
    price = world.df("assets").set_index("asset_id")["price_usd"]
    spot = series["underlying_asset_id"].map(price).to_numpy(float)
    snapshot = series["timestamp"].max()
    t = (series["expiry"] - snapshot).dt.total_seconds().to_numpy() / SECONDS_PER_YEAR
    live = t > 0
    greeks = black76(
        spot,
        series["strike"],
        np.where(live, t, 0.0),
        series["mark_iv"],
        series["option_type"] == "call",
    )
    signs = np.where(live, series["dealer_sign"].to_numpy(float), 0.0)
    series["gex"] = gamma_exposure(greeks.gamma, series["open_interest"], spot, signs)
    expected = series.groupby(["protocol_id", "underlying_asset_id", "expiry", "strike"])[
        "gex"
    ].sum()
    got = store.query("gex_by_strike").to_pandas()
    got = got.set_index(["protocol_id", "underlying_asset_id", "expiry", "strike"])["gex_usd"]
    assert len(got) == len(expected) > 10
    joined = pd.concat([expected, got], axis=1, join="inner")
    assert len(joined) == len(expected)
    assert joined["gex_usd"].to_numpy() == pytest.approx(
        joined["gex"].to_numpy(), rel=1e-7, abs=1e-6
    )
    btc = store.query("gex_by_strike", {"underlying": "BTC"}).to_pandas()
    assert set(btc["symbol"]) == {"BTC"} and len(btc) > 0


def test_collateral_concentration_matches_pandas(store: Store, world: Dataset) -> None:
    df = _weighted_positions(world)
    df = df[df["coll"] > 0]
    per_asset = df.groupby(["protocol_id", "asset_id"])["coll"].sum()
    share = per_asset / per_asset.groupby(level=0).transform("sum")
    hhi = (share**2).groupby(level=0).sum()
    held = df.groupby(["protocol_id", "asset_id", "account"])["coll"].sum()
    top3 = held.groupby(level=[0, 1]).apply(lambda s: s.nlargest(3).sum()) / per_asset
    got = store.query("collateral_concentration", {"top_accounts": 3}).to_pandas()
    got = got.set_index(["protocol_id", "asset_id"])
    assert len(got) == len(per_asset)
    assert got["collateral_usd"].sort_index().to_numpy() == pytest.approx(
        per_asset.sort_index().to_numpy()
    )
    assert got["share"].sort_index().to_numpy() == pytest.approx(share.sort_index().to_numpy())
    assert got["top_accounts_share"].sort_index().to_numpy() == pytest.approx(
        top3.sort_index().to_numpy()
    )
    for protocol_id, value in hhi.items():
        assert got.loc[protocol_id, "protocol_hhi"].to_numpy() == pytest.approx(value)


def test_multi_protocol_accounts_and_distance_to_liquidation(store: Store, world: Dataset) -> None:
    df = _weighted_positions(world)
    books = df.groupby(["account", "protocol_id"])[["coll", "lv", "debt"]].sum()
    protocols = books.groupby(level=0).size()
    several = protocols[protocols >= 2]
    got = (
        store.query("multi_protocol_accounts", {"limit": 100_000}).to_pandas().set_index("account")
    )
    assert set(got.index) == set(several.index) and len(got) > 0
    assert got["protocols"].to_dict() == several.to_dict()
    debt = books["debt"].groupby(level=0).sum()
    assert got["debt_usd"].to_numpy() == pytest.approx(debt[got.index].to_numpy())

    owing = books[books["debt"] > 0]
    distance = (1 - owing["debt"] / owing["lv"]).clip(lower=0)
    near = store.query("largest_positions", {"limit": 100_000, "max_distance": 0.1}).to_pandas()
    expected = distance[distance <= 0.1]
    assert len(near) == len(expected) > 0
    pairs = pd.MultiIndex.from_frame(near[["account", "protocol_id"]])
    assert near["distance_to_liquidation"].to_numpy() == pytest.approx(
        expected.reindex(pairs).to_numpy()
    )
    assert (np.diff(near["debt_usd"].to_numpy()) <= 0).all(), "largest first"


def test_protocol_exposures_and_shared_oracle_groups(store: Store, world: Dataset) -> None:
    df = _weighted_positions(world)
    wrappers = world.df("wrappers").set_index("asset_id")["protocol_id"]
    df["issuer"] = df["asset_id"].map(wrappers)
    held = df[df["issuer"].notna() & (df["issuer"] != df["protocol_id"]) & (df["coll"] > 0)]
    expected = held.groupby(["protocol_id", "issuer", "asset_id"])["coll"].sum()
    got = store.query("protocol_exposures").to_pandas()
    wrapped = got[(got["channel"] == "collateral") & got["asset_id"].isin(wrappers.index)]
    got_sum = wrapped.set_index(["holder_protocol_id", "issuer_protocol_id", "asset_id"])["usd"]
    assert got_sum.sort_index().to_numpy() == pytest.approx(expected.sort_index().to_numpy())

    shared = store.query("shared_oracles").to_pandas()
    assert len(shared) > 0
    usage = world.df("oracle_usage")
    markets = df.groupby(["protocol_id", "asset_id"])[["coll", "debt"]].sum().sum(axis=1)
    total = markets.reindex(pd.MultiIndex.from_frame(usage[["protocol_id", "asset_id"]])).sum()
    assert shared["share"].to_numpy() == pytest.approx(shared["priced_usd"].to_numpy() / total)


def test_string_parameters_are_bound_not_spliced(store: Store) -> None:
    hostile = "x' or '1'='1"
    assert store.query("liquidation_ladder", {"asset": hostile}).num_rows == 0
    assert store.query("gex_by_strike", {"underlying": hostile}).num_rows == 0
    assert store.query("liquidation_ladder", {"asset": "*"}).num_rows > 0
