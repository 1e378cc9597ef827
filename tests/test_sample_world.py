"""The embedded default world: real parameters, every contagion link, and the invariants of
its generated state (no account liquidatable at the snapshot, exact amounts, exact pools)."""

from __future__ import annotations

import hashlib
import io
import itertools
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from contagion import Dataset
from contagion.amm.concentrated import LiquidityBook, get_sqrt_ratio_at_tick
from contagion.amm.stableswap import stableswap_price
from contagion.resources import data_text
from contagion.schema import TABLES
from indexers import INDEXERS, get_indexer
from indexers.sample_world import build_sample_world

N = 3_000
ETH_USD = "1:0x5f4ec3df9cbd43714fe2740f5e3616155c5b8419"
WETH = "1:0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
USDC = "1:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
DAI = "1:0x6b175474e89094c44da98b954eedeac495271d0f"
WSTETH = "1:0x7f39c581f595b53c5cb19bd0b3f8da6c935e2ca0"
STETH = "1:0xae7ab96520de3a18e5e111b5eaab095312d7fe84"
ETH = "1:0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
AETHWETH = "1:0x4d5f47fa6a74757f35c14fd3a6ef8e3c9bc514e8"
AAVE = "aave-v3-ethereum"
SPARK = "spark-ethereum"
COMET_USDC = "compound-v3-usdc"
MAKER = "maker-cdp"


@pytest.fixture(scope="module")
def world() -> Dataset:
    return build_sample_world(positions=N, seed=11)


@pytest.fixture(scope="module")
def t(world: Dataset) -> dict[str, pd.DataFrame]:
    return world.to_pandas()


def _one(frame: pd.DataFrame, **where: object) -> pd.Series:
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column] == value).to_numpy()
    assert mask.sum() == 1, f"expected one row where {where}, found {mask.sum()}"
    return frame[mask].iloc[0]


# -- the dataset as a whole --------------------------------------------------------------


def test_every_table_is_filled_and_valid(world: Dataset) -> None:
    counts = world.row_counts()
    assert set(counts) == set(TABLES)
    assert all(n > 0 for n in counts.values()), counts
    Dataset(world.tables)  # validates again from the Arrow tables


def test_same_seed_same_world_other_seed_other_positions() -> None:
    a = build_sample_world(positions=2_000, seed=3)
    b = build_sample_world(positions=2_000, seed=3)
    c = build_sample_world(positions=2_000, seed=4)
    for name in TABLES:
        assert a.table(name).equals(b.table(name)), name
    assert not a.table("lending_positions").equals(c.table("lending_positions"))
    assert not a.table("pool_ticks").equals(c.table("pool_ticks"))
    assert not a.table("perp_markets").equals(c.table("perp_markets"))
    # Real parameters do not depend on the seed; only the aTokens' supply (what the
    # positions supply to Aave) does.
    for name in ("oracle_feeds", "oracle_usage", "lending_markets", "wrappers"):
        assert a.table(name).equals(c.table(name)), name
    assets_a, assets_c = a.table("assets").to_pandas(), c.table("assets").to_pandas()
    receipt = (assets_a["kind"] == "receipt") & assets_a["symbol"].str.startswith("a")
    pd.testing.assert_frame_equal(assets_a[~receipt], assets_c[~receipt])
    assert (assets_a.loc[receipt, "total_supply"] != assets_c.loc[receipt, "total_supply"]).all()


@pytest.mark.parametrize("target", [500, 20_000, 120_000])
def test_positions_scale_to_the_requested_row_count(target: int) -> None:
    rows = build_sample_world(positions=target, seed=5).row_counts()["lending_positions"]
    assert abs(rows - target) <= 0.1 * target


def test_zero_positions_and_negative_positions() -> None:
    assert build_sample_world(positions=0).row_counts()["lending_positions"] == 0
    with pytest.raises(ValueError, match="positions"):
        build_sample_world(positions=-1)


def test_indexer_registry() -> None:
    assert INDEXERS["sample-world"] is build_sample_world
    assert get_indexer("sample-world") is build_sample_world
    with pytest.raises(KeyError, match="sample-world"):
        get_indexer("nope")


def test_provenance_on_and_off_chain(t: dict[str, pd.DataFrame]) -> None:
    snapshot = pd.Timestamp("2023-10-31", tz="UTC")
    for name, frame in t.items():
        on = frame[frame["chain_id"] == 1]
        off = frame[frame["chain_id"] == 0]
        assert (on["block_number"] == 18_470_000).all(), name
        assert off["block_number"].isna().all(), name
        assert (frame["timestamp"] == snapshot).all(), name
    assert set(t["option_series"]["chain_id"]) == {0}
    assert set(t["perp_markets"]["chain_id"]) == {0}


def test_synthetic_rows_are_marked_and_addressed_deterministically(
    t: dict[str, pd.DataFrame],
) -> None:
    assert (t["lending_positions"]["source"] == "sample-world:synthetic").all()
    assets = t["assets"].set_index("symbol")
    for symbol in ("mUST", "mLUNA"):
        expected = "0x" + hashlib.sha256(f"sample-world:{symbol}".encode()).hexdigest()[:40]
        assert assets.loc[symbol, "address"] == expected
        assert assets.loc[symbol, "source"] == "sample-world:synthetic"
        assert "synthetic" in assets.loc[symbol, "name"].lower()


# -- real parameters ------------------------------------------------------------------------


def test_aave_reserves_are_the_real_configuration(t: dict[str, pd.DataFrame]) -> None:
    markets = t["lending_markets"]
    aave = markets[markets["protocol_id"] == AAVE]
    assert len(aave) == 25
    assert (aave["role"] == "reserve").all() and aave["debt_asset_id"].isna().all()
    weth = _one(aave, asset_id=WETH)
    assert (weth["ltv"], weth["liquidation_threshold"]) == (0.805, 0.83)
    assert weth["liquidation_bonus"] == 1.05
    assert weth["liquidation_protocol_fee"] == 0.10
    assert (weth["close_factor"], weth["close_factor_full_hf"]) == (0.5, 0.95)
    assert weth["emode_category"] == 1
    assert (weth["emode_ltv"], weth["emode_liquidation_threshold"]) == (0.90, 0.93)
    assert weth["emode_liquidation_bonus"] == 1.01
    assert (weth["supply_cap"], weth["borrow_cap"]) == (1_800_000, 1_400_000)
    usdc = _one(aave, asset_id=USDC)
    assert (usdc["liquidation_bonus"], usdc["liquidation_protocol_fee"]) == (1.045, 0.20)
    assert usdc["emode_category"] == 0 and pd.isna(usdc["emode_liquidation_threshold"])
    one_inch = _one(aave, market_id="aave-v3-ethereum/1INCH")
    assert one_inch["debt_ceiling"] == 4_500_000.0  # 450000000 with 2 decimals
    gho = _one(aave, market_id="aave-v3-ethereum/GHO")
    assert not gho["usage_as_collateral"] and pd.isna(gho["liquidation_bonus"])
    for column in ("borrow_cf", "liquidate_cf", "liquidation_ratio"):
        assert aave[column].isna().all()


def test_compound_markets_are_the_deployment_configuration(
    t: dict[str, pd.DataFrame],
) -> None:
    comet = t["lending_markets"][t["lending_markets"]["protocol_id"] == COMET_USDC]
    base = _one(comet, role="base")
    assert base["asset_id"] == USDC and base["debt_asset_id"] == USDC
    assert not base["usage_as_collateral"] and base["borrowing_enabled"]
    weth = _one(comet, asset_id=WETH)
    assert weth["role"] == "collateral" and weth["debt_asset_id"] == USDC
    assert (weth["borrow_cf"], weth["liquidate_cf"]) == (0.825, 0.895)
    assert weth["liquidation_factor"] == 0.95 and weth["store_front_price_factor"] == 0.5
    assert set(comet["role"]) == {"base", "collateral"} and len(comet) == 6
    comet_weth = t["lending_markets"][t["lending_markets"]["protocol_id"] == "compound-v3-weth"]
    wsteth = _one(comet_weth, asset_id=WSTETH)
    assert wsteth["supply_cap"] == 64_500 and wsteth["liquidate_cf"] == 0.93


def test_maker_ilks(t: dict[str, pd.DataFrame]) -> None:
    maker = t["lending_markets"][t["lending_markets"]["protocol_id"] == MAKER]
    eth = _one(maker, asset_id=WETH)
    assert (eth["liquidation_ratio"], eth["liquidation_penalty"]) == (1.45, 0.13)
    wsteth = _one(maker, asset_id=WSTETH)
    assert (wsteth["liquidation_ratio"], wsteth["liquidation_penalty"]) == (1.50, 0.13)
    assert (maker["debt_asset_id"] == DAI).all() and (maker["family"] == "cdp").all()


def test_chainlink_settings_and_aave_answers(t: dict[str, pd.DataFrame]) -> None:
    feeds = t["oracle_feeds"].set_index("feed_id")
    eth = feeds.loc[ETH_USD]
    assert eth["kind"] == "chainlink" and eth["description"] == "ETH / USD"
    assert (eth["heartbeat_s"], eth["deviation_bps"]) == (3600, 50.0)
    assert (eth["answer_raw"], eth["decimals"]) == ("181685499606", 8)
    steth = feeds.loc["1:0x86392dc19c0b719886221c78ab11eb8cf5c52812"]
    assert (steth["heartbeat_s"], steth["deviation_bps"]) == (86400, 50.0)
    composites = feeds[feeds["kind"] == "composite"]
    assert composites["heartbeat_s"].isna().all() and composites["deviation_bps"].isna().all()
    assets = t["assets"].set_index("asset_id")
    assert assets.loc[WETH, "price_usd"] == 1816.85499606
    # Every asset Aave prices has the market price Aave's oracle reads, except wstETH, whose
    # Aave adapter ignores the stETH discount.
    usage = t["oracle_usage"][t["oracle_usage"]["protocol_id"] == AAVE]
    answer = usage["feed_id"].map(feeds["answer"])
    price = usage["asset_id"].map(assets["price_usd"])
    off = usage[~np.isclose(answer, price, rtol=1e-12, atol=0)]
    assert list(off["asset_id"]) == [WSTETH]


def test_composite_feeds_are_products_of_their_sources(t: dict[str, pd.DataFrame]) -> None:
    feeds = t["oracle_feeds"].set_index("feed_id")
    composites = feeds[feeds["kind"] == "composite"]
    assert len(composites) >= 6
    for feed_id, row in composites.iterrows():
        sources = list(row["source_feed_ids"])
        assert sources and all(s in feeds.index for s in sources), feed_id
        # Exactly, to the composite's last decimal, from the raw integers.
        product = math.prod(
            Fraction(int(feeds.loc[s, "answer_raw"]), 10 ** int(feeds.loc[s, "decimals"]))
            for s in sources
        )
        unit = 10 ** int(row["decimals"])
        assert abs(product * unit - int(row["answer_raw"])) <= 1, feed_id
    wsteth = composites.loc["1:0x8b6851156023f4f5a66f68bea80851c3d905ac93"]
    assert ETH_USD in list(wsteth["source_feed_ids"])


# -- the contagion links --------------------------------------------------------------------


def test_eth_usd_feed_is_shared_by_lending_protocols(t: dict[str, pd.DataFrame]) -> None:
    usage = t["oracle_usage"]
    lending = set(t["protocols"].query("kind == 'lending'")["protocol_id"])
    readers = set(usage[(usage["feed_id"] == ETH_USD) & (usage["asset_id"] == WETH)]["protocol_id"])
    assert {AAVE, SPARK, COMET_USDC} <= readers and readers <= lending
    priced = t["lending_markets"][["protocol_id", "asset_id"]].merge(
        usage, on=["protocol_id", "asset_id"], how="left"
    )
    assert priced["feed_id"].notna().all(), "every lending market must have a feed"
    held = t["lending_positions"][["protocol_id", "asset_id"]].drop_duplicates()
    held = held.merge(usage, on=["protocol_id", "asset_id"], how="left")
    assert held["feed_id"].notna().all(), "every position must be priced by its protocol"


def test_steth_stableswap_prices_the_wsteth_collateral(t: dict[str, pd.DataFrame]) -> None:
    pools = t["pools"]
    curve = _one(pools, address="0xdc24316b9ae028f1497c275eb9192a3ea0f67022")
    assert curve["kind"] == "stableswap" and list(curve["token_asset_ids"]) == [ETH, STETH]
    reserves = np.array(curve["reserves"])
    assert reserves[1] > reserves[0]  # a slight stETH excess
    price = float(stableswap_price(reserves, curve["amplification"], i=1, j=0)[0])
    feeds = t["oracle_feeds"].set_index("feed_id")
    assert price == pytest.approx(
        feeds.loc["1:0x86392dc19c0b719886221c78ab11eb8cf5c52812", "answer"], rel=1e-9
    )
    wrapper = t["wrappers"].set_index("asset_id").loc[WSTETH]
    assert wrapper["underlying_asset_id"] == STETH and 1.14 < wrapper["exchange_rate"] < 1.15
    positions = t["lending_positions"]
    assert (
        positions[(positions["asset_id"] == WSTETH) & positions["used_as_collateral"]][
            "collateral_amount"
        ].sum()
        > 0
    )


def test_uniswap_v3_pool_is_exact(t: dict[str, pd.DataFrame]) -> None:
    pool = _one(t["pools"], kind="concentrated-liquidity")
    assert list(pool["token_asset_ids"]) == [USDC, WETH] and pool["fee"] == 0.0005
    ticks = t["pool_ticks"][t["pool_ticks"]["pool_id"] == pool["pool_id"]].sort_values("tick")
    net = [int(v) for v in ticks["liquidity_net_raw"]]
    gross = [int(v) for v in ticks["liquidity_gross_raw"]]
    assert sum(net) == 0
    assert all(g >= abs(n) > 0 for g, n in zip(gross, net, strict=True))
    assert (ticks["tick"] % pool["tick_spacing"] == 0).all()
    below = [n for n, tick in zip(net, ticks["tick"], strict=True) if tick <= pool["tick"]]
    assert sum(below) == int(pool["liquidity_raw"]) > 0
    assert all(active >= 0 for active in itertools.accumulate(net))

    sqrt_x96 = int(pool["sqrt_price_x96_raw"])
    assert get_sqrt_ratio_at_tick(int(pool["tick"])) <= sqrt_x96
    assert sqrt_x96 < get_sqrt_ratio_at_tick(int(pool["tick"]) + 1)
    assets = t["assets"].set_index("asset_id")
    usdc_per_weth = Decimal(2**192) / Decimal(sqrt_x96) ** 2 * Decimal(10) ** 12
    world = Decimal(assets.loc[WETH, "price_usd"]) / Decimal(assets.loc[USDC, "price_usd"])
    assert abs(usdc_per_weth / world - 1) < Decimal("1e-15")
    assert pool["sqrt_price"] == pytest.approx(sqrt_x96 / 2**96 * 1e-6, rel=1e-12)
    assert pool["liquidity"] == pytest.approx(int(pool["liquidity_raw"]) / 1e12, rel=1e-12)

    # The reserves are what the ticks' liquidity holds at the current price.
    book = LiquidityBook.from_ticks(ticks["tick"], ticks["liquidity_net"], decimals_shift=-6.0)
    token0, token1 = book.amounts(pool["sqrt_price"])
    assert float(token0) == pytest.approx(pool["reserves"][0], rel=1e-6)
    assert float(token1) == pytest.approx(pool["reserves"][1], rel=1e-6)


def test_constant_product_and_stable_pools_match_world_prices(
    t: dict[str, pd.DataFrame],
) -> None:
    prices = t["assets"].set_index("asset_id")["price_usd"]
    v2 = _one(t["pools"], address="0xa478c2975ab1ea89e8196811f51a7b7ade33eb11")
    assert v2["kind"] == "constant-product" and list(v2["token_asset_ids"]) == [DAI, WETH]
    dai, weth = v2["reserves"]
    assert dai / weth == pytest.approx(prices[WETH] / prices[DAI], rel=1e-9)
    three = _one(t["pools"], address="0xbebc44782c7db0a1a60cb6fe97d0b483032ff1c7")
    assert three["amplification"] == 2000
    tokens = list(three["token_asset_ids"])
    for j in (1, 2):
        price = float(stableswap_price(np.array(three["reserves"]), 2000, i=j, j=0)[0])
        assert price == pytest.approx(prices[tokens[j]] / prices[tokens[0]], rel=1e-9)


def test_dai_is_backed_by_usdc_through_the_psm_and_by_vaults(
    t: dict[str, pd.DataFrame],
) -> None:
    dai = t["stablecoins"][t["stablecoins"]["asset_id"] == DAI].set_index("mechanism")
    psm = dai.loc["psm"]
    assert psm["backing_asset_id"] == USDC and 0.3 <= psm["backing_share"] <= 0.4
    assert t["protocols"].set_index("protocol_id").loc[psm["protocol_id"], "family"] == "psm"
    vaults = t["stablecoins"].query("mechanism == 'cdp'").set_index("backing_asset_id")
    positions = t["lending_positions"].query("protocol_id == @MAKER")
    owed = positions["debt_amount"].sum()
    assert set(vaults.index) == {WETH, WSTETH}
    assert (vaults["backing_share"] * vaults["supply"]).sum() == pytest.approx(owed, rel=1e-9)


def test_algorithmic_coin_with_governance_token_and_pools(t: dict[str, pd.DataFrame]) -> None:
    algo = _one(t["stablecoins"], mechanism="algorithmic")
    assets = t["assets"].set_index("asset_id")
    assert assets.loc[algo["asset_id"], "symbol"] == "mUST"
    assert assets.loc[algo["backing_asset_id"], "symbol"] == "mLUNA"
    assert algo["redemption_limit_usd"] > 0 and algo["redemption_fee"] == 0.005
    pools = t["pools"]
    holds = pools["token_asset_ids"].map(set)
    assert ((pools["kind"] == "stableswap") & holds.map(lambda s: algo["asset_id"] in s)).any()
    gov = (pools["kind"] == "constant-product") & holds.map(
        lambda s: s == {algo["backing_asset_id"], USDC}
    )
    assert gov.sum() == 1


def test_receipt_token_of_aave_is_collateral_in_spark(t: dict[str, pd.DataFrame]) -> None:
    wrapper = t["wrappers"].set_index("asset_id").loc[AETHWETH]
    assert (wrapper["kind"], wrapper["protocol_id"]) == ("receipt", AAVE)
    assert wrapper["underlying_asset_id"] == WETH
    market = _one(t["lending_markets"], protocol_id=SPARK, asset_id=AETHWETH)
    assert market["usage_as_collateral"]
    positions = t["lending_positions"]
    in_spark = positions[(positions["protocol_id"] == SPARK) & (positions["asset_id"] == AETHWETH)]
    assert in_spark["collateral_amount"].sum() > 0
    # Spark's holding of aEthWETH is a supply of WETH in Aave, to the base unit.
    holder = "0x" + hashlib.sha256(b"sample-world:spark-ethereum:aEthWETH-holder").hexdigest()[:40]
    row = _one(positions, protocol_id=AAVE, account=holder)
    assert row["asset_id"] == WETH and not row["used_as_collateral"]
    assert int(row["collateral_amount_raw"]) == sum(
        int(v) for v in in_spark["collateral_amount_raw"]
    )
    # sDAI, the DSR vault share, is collateral in Aave.
    sdai = _one(t["assets"], symbol="sDAI")
    assert t["wrappers"].set_index("asset_id").loc[sdai["asset_id"], "kind"] == "vault"
    assert _one(t["lending_markets"], protocol_id=AAVE, asset_id=sdai["asset_id"])[
        "usage_as_collateral"
    ]


def test_some_borrowers_owe_two_lending_protocols(t: dict[str, pd.DataFrame]) -> None:
    positions = t["lending_positions"]
    debtors = positions[positions["debt_amount"] > 0].groupby("account")["protocol_id"]
    both = debtors.agg(lambda s: {AAVE, COMET_USDC} <= set(s))
    assert both.sum() >= 5


# -- derivatives ----------------------------------------------------------------------------


def test_btc_option_chain_is_the_real_one_moved_to_the_world_date(
    t: dict[str, pd.DataFrame],
) -> None:
    raw = pd.read_csv(io.StringIO(data_text("deribit-btc-options-2020-05-14.csv")))
    options = t["option_series"]
    btc = options[options["underlying_asset_id"] == "0:btc"].copy()
    eth = options[options["underlying_asset_id"] == ETH]
    assert len(btc) == len(raw) == 310 and len(eth) == 310
    assert set(btc["dealer_sign"]) == {-1, 1} and set(eth["dealer_sign"]) == {-1, 1}
    assert (btc.loc[btc["option_type"] == "put", "dealer_sign"] == -1).all()
    btc["instrument"] = btc["source"].str.split("#").str[1]
    merged = btc.merge(raw, left_on="instrument", right_on="instrument_name", suffixes=("", "_raw"))
    assert len(merged) == 310
    np.testing.assert_allclose(
        merged["strike"] / merged["underlying_price"],
        merged["strike_raw"] / merged["underlying_price_raw"],
        rtol=1e-12,
    )
    np.testing.assert_allclose(merged["mark_iv"], merged["mark_iv_raw"] / 100, rtol=1e-12)
    np.testing.assert_allclose(merged["open_interest"], merged["open_interest_raw"])
    snapshot = datetime(2020, 5, 14, 5, 42, 51, tzinfo=UTC)
    before = pd.to_datetime(merged["expiration_timestamp"], unit="ms", utc=True) - snapshot
    after = merged["expiry"] - pd.Timestamp("2023-10-31", tz="UTC")
    assert (abs(after - before) <= timedelta(seconds=1)).all()
    price = t["assets"].set_index("asset_id").loc["0:btc", "price_usd"]
    spot = merged["mark_price"] / merged["mark_price_raw"].where(merged["mark_price_raw"] > 0)
    assert spot.dropna().between(price * 0.999, price * 1.001).all()


def test_perpetuals_both_sides_with_insurance_fund(t: dict[str, pd.DataFrame]) -> None:
    perps = t["perp_markets"]
    prices = t["assets"].set_index("asset_id")["price_usd"]
    assert set(perps["market"]) == {"BTC-PERP", "ETH-PERP"}
    for _, market in perps.groupby("market"):
        assert set(market["side"]) == {"long", "short"}
        assert (market["insurance_fund_usd"] > 0).all()
        assert market["maintenance_margin"].between(0.001, 0.05).all()
        price = prices[market["underlying_asset_id"].iloc[0]]
        longs, shorts = market[market["side"] == "long"], market[market["side"] == "short"]
        assert (longs["liquidation_price"] < price).all()
        assert (shorts["liquidation_price"] > price).all()
        assert longs["open_interest"].sum() == pytest.approx(shorts["open_interest"].sum())


# -- positions ------------------------------------------------------------------------------


def _health(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Each borrower's health at the snapshot, from the tables alone, per protocol rules."""
    feeds = t["oracle_feeds"].set_index("feed_id")["answer"]
    price = t["oracle_usage"].assign(price=lambda u: u["feed_id"].map(feeds))
    markets = t["lending_markets"]
    p = t["lending_positions"].merge(
        price[["protocol_id", "asset_id", "price"]], on=["protocol_id", "asset_id"], how="left"
    )
    p = p.merge(markets, on=["protocol_id", "asset_id"], how="left", suffixes=("", "_m"))
    assert p.loc[p["debt_amount"] > 0, "price"].notna().all()
    emode = (p["emode_category"] > 0) & (p["emode_category"] == p["emode_category_m"])
    weight = np.select(
        [p["family"] == "aave-v3", p["family"] == "compound-v3", p["family"] == "cdp"],
        [
            np.where(emode, p["emode_liquidation_threshold"], p["liquidation_threshold"]),
            p["liquidate_cf"],
            1.0 / p["liquidation_ratio"],
        ],
        default=0.0,
    )
    p["risk"] = np.where(
        p["used_as_collateral"], p["collateral_amount"] * p["price"] * np.nan_to_num(weight), 0.0
    )
    p["owed"] = p["debt_amount"] * p["price"].fillna(0.0)
    per = p.groupby(["protocol_id", "account"]).agg(
        risk=("risk", "sum"), owed=("owed", "sum"), emode=("emode_category", "max")
    )
    per = per[per["owed"] > 0]
    return per.assign(hf=per["risk"] / per["owed"])


def test_no_account_starts_liquidatable(t: dict[str, pd.DataFrame]) -> None:
    health = _health(t)
    assert len(health) > 500
    assert (health["hf"] >= 1.0).all(), health.nsmallest(3, "hf")
    aave = health.loc[AAVE]
    ordinary = aave.loc[aave["emode"] == 0, "hf"]
    assert (ordinary < 1.1).any()  # a thin tail close to liquidation
    assert (ordinary > 1.5).mean() > 0.6  # most borrowers are well collateralised
    assert aave.loc[aave["emode"] == 1, "hf"].median() < 1.3  # e-mode loops run tight
    assert set(health.index.get_level_values(0)) == {
        AAVE,
        SPARK,
        COMET_USDC,
        "compound-v3-weth",
        MAKER,
    }


def test_protocol_rules_hold_for_every_account(t: dict[str, pd.DataFrame]) -> None:
    positions = t["lending_positions"].merge(
        t["lending_markets"], on=["protocol_id", "asset_id"], how="left", suffixes=("", "_m")
    )
    aave = positions[positions["protocol_id"] == AAVE]
    # Isolation mode: the isolated asset is the account's only collateral, and only
    # isolation-borrowable assets are owed.
    isolated_accounts = aave[(aave["debt_ceiling"] > 0) & aave["used_as_collateral"]]["account"]
    iso = aave[aave["account"].isin(isolated_accounts)]
    assert iso.groupby("account")["used_as_collateral"].sum().eq(1).all()
    # E-mode: only category assets are borrowed.
    in_emode = aave[(aave["emode_category"] == 1) & (aave["debt_amount"] > 0)]
    assert len(in_emode) > 0 and (in_emode["emode_category_m"] == 1).all()
    # Compound III lends only its base; Maker only DAI.
    comet = positions[positions["protocol_id"] == COMET_USDC]
    assert set(comet.loc[comet["debt_amount"] > 0, "asset_id"]) == {USDC}
    maker = positions[positions["protocol_id"] == MAKER]
    assert set(maker.loc[maker["debt_amount"] > 0, "asset_id"]) == {DAI}
    # Nobody both supplies and borrows the same asset in one row.
    assert not ((positions["collateral_amount"] > 0) & (positions["debt_amount"] > 0)).any()


def test_raw_and_float_amounts_agree(t: dict[str, pd.DataFrame]) -> None:
    decimals = t["assets"].set_index("asset_id")["decimals"]
    p = t["lending_positions"]
    for column in ("collateral_amount", "debt_amount"):
        exact = [
            int(r) / 10 ** int(d)
            for r, d in zip(p[f"{column}_raw"], p["asset_id"].map(decimals), strict=True)
        ]
        np.testing.assert_allclose(exact, p[column], rtol=1e-12, atol=0)
    for _, pool in t["pools"].iterrows():
        for raw, value, asset in zip(
            pool["reserves_raw"], pool["reserves"], pool["token_asset_ids"], strict=True
        ):
            assert int(raw) / 10 ** int(decimals[asset]) == pytest.approx(value, rel=1e-12)
    for _, feed in t["oracle_feeds"].iterrows():
        assert int(feed["answer_raw"]) / 10 ** feed["decimals"] == pytest.approx(
            feed["answer"], rel=1e-12
        )
    known = t["assets"].dropna(subset=["total_supply_raw"])
    for _, a in known.iterrows():
        assert int(a["total_supply_raw"]) / 10 ** int(a["decimals"]) == pytest.approx(
            a["total_supply"], rel=1e-12
        )


def test_totals_are_realistic_and_within_caps() -> None:
    world = build_sample_world(positions=20_000, seed=2).to_pandas()
    prices = world["assets"].set_index("asset_id")["price_usd"]
    p = world["lending_positions"].assign(price=lambda d: d["asset_id"].map(prices))
    p["supplied_usd"] = p["collateral_amount"] * p["price"]
    p["owed_usd"] = p["debt_amount"] * p["price"]
    usd = p.groupby("protocol_id")[["supplied_usd", "owed_usd"]].sum() / 1e9
    assert 6.0 <= usd.loc[AAVE, "supplied_usd"] <= 7.0
    assert 2.0 <= usd.loc[AAVE, "owed_usd"] <= 3.0
    assert usd.loc[MAKER, "owed_usd"] == pytest.approx(0.95, rel=1e-6)
    tokens = p.groupby(["protocol_id", "asset_id"])[["collateral_amount", "debt_amount"]].sum()
    markets = world["lending_markets"].set_index(["protocol_id", "asset_id"])
    aave = tokens.loc[AAVE].join(markets.loc[AAVE])
    capped = aave[aave["supply_cap"] > 0]
    assert (capped["collateral_amount"] <= capped["supply_cap"]).all()
    capped = aave[aave["borrow_cap"] > 0]
    assert (capped["debt_amount"] <= capped["borrow_cap"]).all()
    lent = aave[aave["debt_amount"] > 0].drop(index="1:0x40d16fc0246ad3160ccc09b8d0d3a2cd28ae6c2f")
    assert (lent["debt_amount"] <= lent["collateral_amount"]).all()  # GHO is minted, not lent


# -- supply and external depth --------------------------------------------------------------

# Tokens without a market of their own (the solver trades them in their root's market) and
# the off-chain dollar: the only assets whose depth is null.
NO_OWN_MARKET = {"WETH", "WBTC", "wstETH", "sDAI", "aEthWETH", "aEthUSDC", "USD"}


def test_supplies_are_positive_where_known(t: dict[str, pd.DataFrame]) -> None:
    assets = t["assets"].set_index("symbol")
    assert assets["total_supply"].isna().sum() == 1 and pd.isna(assets.loc["USD", "total_supply"])
    assert (assets["total_supply"].dropna() > 0).all()
    assert assets.loc["ETH", "total_supply"] == 120_270_000
    assert assets.loc["BTC", "total_supply_raw"] == str(19_530_000 * 10**8)
    # Every stablecoin row carries the coin's supply as in assets.
    supply_by_id = t["assets"].set_index("asset_id")["total_supply"]
    coins = t["stablecoins"]
    assert (coins["supply"] == coins["asset_id"].map(supply_by_id)).all()
    # The modelled Terra: governance tokens worth about 1.5 times the stablecoin supply.
    coverage = assets.loc["mLUNA", "total_supply"] * assets.loc["mLUNA", "price_usd"]
    assert coverage / assets.loc["mUST", "total_supply"] == pytest.approx(1.5, abs=0.05)


def test_supplies_cover_every_holding_in_the_world(t: dict[str, pd.DataFrame]) -> None:
    held = t["lending_positions"].groupby("asset_id")["collateral_amount"].sum()
    pools = t["pools"].explode(["token_asset_ids", "reserves"])
    held = held.add(pools.groupby("token_asset_ids")["reserves"].sum().astype(float), fill_value=0)
    supply = t["assets"].set_index("asset_id")["total_supply"]
    known = held[held.index.map(supply).notna()]
    assert (known <= known.index.map(supply)).all()


def test_atoken_supply_is_what_the_world_supplies_to_aave(t: dict[str, pd.DataFrame]) -> None:
    assets = t["assets"].set_index("asset_id")
    positions = t["lending_positions"]
    for a_token, underlying in (
        (AETHWETH, WETH),
        ("1:0x98c23e9d8f34fefb1b7bd6a91b7ff122f4e16f5c", USDC),
    ):
        assert assets.loc[a_token, "underlying_asset_id"] == underlying
        in_aave = positions[
            (positions["protocol_id"] == AAVE) & (positions["asset_id"] == underlying)
        ]
        assert int(assets.loc[a_token, "total_supply_raw"]) == sum(
            int(v) for v in in_aave["collateral_amount_raw"]
        )


def test_depth_is_null_exactly_where_documented(t: dict[str, pd.DataFrame]) -> None:
    assets = t["assets"].set_index("symbol")
    depth = assets["depth_2pct_usd"]
    assert set(depth[depth.isna()].index) == NO_OWN_MARKET
    # Each of them converts into a root that has a market of its own.
    by_id = t["assets"].set_index("asset_id")
    wrappers = t["wrappers"].set_index("asset_id")["underlying_asset_id"]
    for symbol in NO_OWN_MARKET - {"USD"}:
        asset = assets.loc[symbol, "asset_id"]
        while pd.isna(by_id.loc[asset, "depth_2pct_usd"]):
            asset = wrappers[asset]
        assert by_id.loc[asset, "depth_2pct_usd"] > 0, symbol
    # Orders of magnitude: BTC and ETH in the tens to hundreds of millions, big stablecoins
    # larger still, DeFi tokens at 0.1 % of their market capitalisation.
    assert 30e6 <= depth["ETH"] < depth["BTC"] <= 300e6
    assert min(depth["USDT"], depth["USDC"]) > depth["BTC"]
    for symbol in ("LINK", "CRV", "MKR", "COMP", "mLUNA"):
        cap = assets.loc[symbol, "total_supply"] * assets.loc[symbol, "price_usd"]
        assert depth[symbol] == pytest.approx(0.001 * cap), symbol
    assert depth["CRV"] < 1e6  # Kaiko: CRV's 2 % depth below 1 M USD in 2023
    assert depth["stETH"] > depth["rETH"] and depth["stETH"] > depth["cbETH"]


# -- feed kinds and publishers ------------------------------------------------------------


def test_every_feed_has_its_publisher_and_kind(t: dict[str, pd.DataFrame]) -> None:
    feeds = t["oracle_feeds"].set_index("feed_id")
    protocols = set(t["protocols"]["protocol_id"])
    assert feeds["protocol_id"].notna().all() and set(feeds["protocol_id"]) <= protocols
    chainlink = feeds["kind"] == "chainlink"
    assert (feeds.loc[chainlink, "protocol_id"] == "chainlink").all()
    assert (feeds.loc[~chainlink, "protocol_id"] != "chainlink").all()
    assert feeds.loc[chainlink, ["heartbeat_s", "deviation_bps"]].notna().all().all()
    assert not (feeds["kind"] == "twap").any()
    # Maker's OSMs publish the price of one hour ago.
    delayed = feeds[feeds["kind"] == "delayed"]
    assert set(delayed.index) == {
        "1:0x81fe72b5a8d1a857d176c3e7d5bd2679a9b85763",
        "1:0xfe7a2ac0b945f12089aeeb6ecebf4f384d9f043f",
    }
    assert (delayed["delay_s"] == 3600).all() and (delayed["protocol_id"] == MAKER).all()
    assert delayed["twap_window_s"].isna().all()
    assert feeds.loc[feeds["kind"] != "delayed", "delay_s"].isna().all()
    # Exchange rates are the wrappers' rates, published by their issuers.
    rates = feeds[feeds["kind"] == "exchange-rate"]
    wrappers = t["wrappers"].set_index("asset_id")
    for _, feed in rates.iterrows():
        wrapper = wrappers.loc[feed["base_asset_id"]]
        assert feed["answer"] == pytest.approx(wrapper["exchange_rate"], rel=1e-15)
        assert feed["protocol_id"] == wrapper["protocol_id"]
        assert feed["quote"] == wrapper["underlying_asset_id"]
    symbols = t["assets"].set_index("asset_id")["symbol"]
    assert set(rates["base_asset_id"].map(symbols)) == {
        "wstETH",
        "rETH",
        "sDAI",
        "aEthWETH",
        "aEthUSDC",
    }
    fixed = feeds[feeds["kind"] == "fixed"]
    assert set(fixed.index) == {
        "1:0xd110cac5d8682a3b045d5524a9903e031d70fccd",  # GhoOracle
        "1:comet-weth-base-constant",
        "1:spark-dai-fixed",
        "1:maker-dai-par",
    }


def test_spark_prices_aave_receipts_through_their_exchange_rate(
    t: dict[str, pd.DataFrame],
) -> None:
    feeds = t["oracle_feeds"].set_index("feed_id")
    usage = t["oracle_usage"]
    symbols = t["assets"].set_index("asset_id")["symbol"]
    for a_token, usd_feed in (
        (AETHWETH, ETH_USD),
        (
            "1:0x98c23e9d8f34fefb1b7bd6a91b7ff122f4e16f5c",
            "1:0x8fffffd4afb6115b954bd326cbe7b4ba576818f6",
        ),
    ):
        read = _one(usage, protocol_id=SPARK, asset_id=a_token)["feed_id"]
        composite = feeds.loc[read]
        assert composite["kind"] == "composite"
        sources = list(composite["source_feed_ids"])
        rate = feeds.loc[sources[0]]
        assert (rate["kind"], rate["base_asset_id"], rate["protocol_id"]) == (
            "exchange-rate",
            a_token,
            AAVE,
        )
        assert rate["answer"] == 1.0 and sources[1] == usd_feed
        # The underlying's feed is the one Aave reads for it: a write-down of the aToken or a
        # move of the underlying both reach Spark.
        underlying = _one(t["wrappers"], asset_id=a_token)["underlying_asset_id"]
        assert _one(usage, protocol_id=AAVE, asset_id=underlying)["feed_id"] == usd_feed
        assert composite["answer"] == pytest.approx(feeds.loc[usd_feed, "answer"], rel=1e-12)
        assert symbols[a_token].startswith("aEth")


def test_compound_weth_reads_the_steth_market_for_wsteth(t: dict[str, pd.DataFrame]) -> None:
    feeds = t["oracle_feeds"].set_index("feed_id")
    read = _one(t["oracle_usage"], protocol_id="compound-v3-weth", asset_id=WSTETH)["feed_id"]
    sources = list(feeds.loc[read, "source_feed_ids"])
    assert feeds.loc[read, "kind"] == "composite"
    assert sorted(feeds.loc[s, "kind"] for s in sources) == ["chainlink", "exchange-rate"]
    assert "1:0x86392dc19c0b719886221c78ab11eb8cf5c52812" in sources  # Chainlink STETH/ETH


# -- the benchmark's scale ----------------------------------------------------------------

LONG_TAIL = 30
SERIES = 2_400


@pytest.fixture(scope="module")
def big() -> dict[str, pd.DataFrame]:
    return build_sample_world(
        positions=N, seed=5, long_tail=LONG_TAIL, option_series=SERIES
    ).to_pandas()


def test_benchmark_scale_counts(big: dict[str, pd.DataFrame]) -> None:
    assert len(big["assets"]) == 34 + LONG_TAIL >= 50
    assert len(big["pools"]) == 6 + 18 * LONG_TAIL >= 500
    assert len(big["option_series"]) == SERIES
    assert big["option_series"]["series_id"].is_unique
    rows = len(big["lending_positions"])
    assert abs(rows - N) <= 0.1 * N
    tail = big["assets"][big["assets"]["name"].str.contains("Long-tail")]
    assert len(tail) == LONG_TAIL and (tail["source"] == "sample-world:synthetic").all()
    assert (tail["total_supply"] > 0).all() and (tail["depth_2pct_usd"] > 0).all()
    expected = "0x" + hashlib.sha256(b"sample-world:long-tail:0").hexdigest()[:40]
    assert tail["address"].iloc[0] == expected
    # 18 pools per token: 9 against WETH, 9 against USDC.
    pools = big["pools"].explode("token_asset_ids")
    per_token = pools[pools["token_asset_ids"].isin(tail["asset_id"])].groupby("token_asset_ids")
    assert (per_token.size() == 18).all() and per_token.ngroups == LONG_TAIL


def test_long_tail_listings_copy_real_reserves(big: dict[str, pd.DataFrame]) -> None:
    tail = big["assets"][big["assets"]["name"].str.contains("Long-tail")]["asset_id"]
    markets = big["lending_markets"]
    aave = markets[markets["protocol_id"] == AAVE]
    real = aave[~aave["asset_id"].isin(tail)]
    listed = aave[aave["asset_id"].isin(tail)]
    assert len(listed) == LONG_TAIL and (listed["debt_ceiling"] > 0).all()
    params = ["ltv", "liquidation_threshold", "liquidation_bonus", "liquidation_protocol_fee"]
    real_sets = set(map(tuple, real[params].to_numpy().tolist()))
    assert set(map(tuple, listed[params].to_numpy().tolist())) <= real_sets
    comet = markets[(markets["protocol_id"] == COMET_USDC) & markets["asset_id"].isin(tail)]
    assert len(comet) == LONG_TAIL // 2
    for column, value in (
        ("borrow_cf", 0.65),
        ("liquidate_cf", 0.70),
        ("liquidation_factor", 0.93),
    ):
        assert (comet[column] == value).all(), column
    feeds = big["oracle_feeds"].set_index("feed_id")
    usage = big["oracle_usage"][big["oracle_usage"]["asset_id"].isin(tail)]
    assert len(usage) == LONG_TAIL + LONG_TAIL // 2
    read = feeds.loc[usage["feed_id"]]
    assert (read["kind"] == "chainlink").all() and (read["protocol_id"] == "chainlink").all()
    assert read["heartbeat_s"].isin([3600, 86400]).all()


def test_long_tail_positions_are_isolated_and_healthy(big: dict[str, pd.DataFrame]) -> None:
    tail = set(big["assets"][big["assets"]["name"].str.contains("Long-tail")]["asset_id"])
    positions = big["lending_positions"]
    in_tail = positions[positions["asset_id"].isin(tail)]
    assert set(in_tail["protocol_id"]) == {AAVE, COMET_USDC}
    accounts = positions[
        positions["account"].isin(in_tail["account"]) & (positions["protocol_id"] == AAVE)
    ]
    collateral = accounts[accounts["used_as_collateral"] & (accounts["collateral_amount"] > 0)]
    assert collateral.groupby("account").size().eq(1).all()  # isolation mode
    health = _health(big)
    assert (health["hf"] >= 1.0).all()
    markets = big["lending_markets"].set_index(["protocol_id", "asset_id"])
    supplied = in_tail[in_tail["protocol_id"] == AAVE].groupby("asset_id")["collateral_amount"]
    caps = markets.loc[AAVE].loc[list(supplied.groups), "supply_cap"]
    assert (supplied.sum() <= caps).all()


def test_long_tail_pools_are_exact(big: dict[str, pd.DataFrame]) -> None:
    assets = big["assets"].set_index("asset_id")
    pools = big["pools"].iloc[6:]
    ticks = big["pool_ticks"]
    for _, pool in pools.iterrows():
        a, b = list(pool["token_asset_ids"])
        assert assets.loc[a, "address"] < assets.loc[b, "address"]
        world = assets.loc[a, "price_usd"] / assets.loc[b, "price_usd"]
        if pool["kind"] == "constant-product":
            assert pool["reserves"][1] / pool["reserves"][0] == pytest.approx(world, rel=1e-6)
            continue
        sqrt_x96, tick = int(pool["sqrt_price_x96_raw"]), int(pool["tick"])
        assert get_sqrt_ratio_at_tick(tick) <= sqrt_x96 < get_sqrt_ratio_at_tick(tick + 1)
        shift = (int(assets.loc[a, "decimals"]) - int(assets.loc[b, "decimals"])) / 2
        assert pool["sqrt_price"] ** 2 == pytest.approx(world, rel=1e-12)
        mine = ticks[ticks["pool_id"] == pool["pool_id"]].sort_values("tick")
        net = [int(v) for v in mine["liquidity_net_raw"]]
        assert sum(net) == 0 and (mine["tick"] % pool["tick_spacing"] == 0).all()
        below = sum(n for n, k in zip(net, mine["tick"], strict=True) if k <= tick)
        assert below == int(pool["liquidity_raw"]) > 0
        book = LiquidityBook.from_ticks(mine["tick"], mine["liquidity_net"], decimals_shift=shift)
        token0, token1 = book.amounts(pool["sqrt_price"])
        assert float(token0) == pytest.approx(pool["reserves"][0], rel=1e-6)
        assert float(token1) == pytest.approx(pool["reserves"][1], rel=1e-6)


def test_more_option_series_on_the_same_smile(
    t: dict[str, pd.DataFrame], big: dict[str, pd.DataFrame]
) -> None:
    small, large = t["option_series"], big["option_series"]
    for underlying, chain in large.groupby("underlying_asset_id"):
        real = small[small["underlying_asset_id"] == underlying]
        assert len(chain) == SERIES // 2
        # Total open interest is kept; the real series keep their names.
        assert chain["open_interest"].sum() == pytest.approx(real["open_interest"].sum())
        assert set(real["series_id"]) <= set(chain["series_id"])
        assert chain["mark_iv"].between(real["mark_iv"].min(), real["mark_iv"].max()).all()
        new = chain[chain["source"].str.contains("#smile:")]
        assert (new["dealer_sign"] == np.where(new["option_type"] == "put", -1, 1)).all()
        assert new["expiry"].nunique() > real["expiry"].nunique()
        # New series are priced by Black-76 at their IV; puts and calls agree by parity.
        t_years = (new["expiry"] - pd.Timestamp("2023-10-31", tz="UTC")).dt.total_seconds() / (
            365 * 86400
        )
        assert (t_years > 0).all()
        pairs = new.pivot_table(
            index=["expiry", "strike"],
            columns="option_type",
            values=["mark_price", "underlying_price"],
        ).dropna()
        parity = pairs[("mark_price", "call")] - pairs[("mark_price", "put")]
        forward = pairs[("underlying_price", "call")]
        strike = pairs.index.get_level_values("strike")
        np.testing.assert_allclose(parity, forward - strike, rtol=1e-9, atol=1e-6 * forward.max())


def test_benchmark_arguments_leave_the_default_world_alone() -> None:
    a = build_sample_world(positions=1_000, seed=3)
    b = build_sample_world(positions=1_000, seed=3, long_tail=0, option_series=620)
    for name in TABLES:
        assert a.table(name).equals(b.table(name)), name
    c = build_sample_world(positions=1_000, seed=3, long_tail=4)
    d = build_sample_world(positions=1_000, seed=3, long_tail=4)
    for name in TABLES:
        assert c.table(name).equals(d.table(name)), name
    # The additions come after the default world's rows and leave them as they were.
    for name in ("pools", "pool_ticks", "perp_markets", "option_series", "wrappers"):
        base = a.table(name)
        assert c.table(name).slice(0, base.num_rows).equals(base), name
    with pytest.raises(ValueError, match="option_series"):
        build_sample_world(positions=100, option_series=619)
    with pytest.raises(ValueError, match="long_tail"):
        build_sample_world(positions=100, long_tail=-1)
