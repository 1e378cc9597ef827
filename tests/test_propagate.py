"""The solver end to end: one scenario per contagion channel, convergence and determinism."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

from contagion import (
    ConvergenceError,
    Depeg,
    Mitigations,
    ModelParams,
    OracleFailure,
    PriceShock,
    PropagationResult,
    ProtocolFailure,
    Scenario,
    VolatilitySpike,
    build_engine,
    propagate,
    propagate_many,
    sample_world,
)
from contagion.engine import Engine
from contagion.scenario import CircuitBreaker

AAVE, SPARK = "aave-v3-ethereum", "spark-ethereum"
COMET_USDC, MAKER = "compound-v3-usdc", "maker-cdp"
ETH_USD = "1:0x5f4ec3df9cbd43714fe2740f5e3616155c5b8419"


@lru_cache(maxsize=1)
def engine() -> Engine:
    return build_engine(sample_world(positions=4_000, seed=11))


def _asset(e: Engine, symbol: str) -> str:
    a = e.world.assets
    return a.ids[a.symbols.index(symbol)]


def run(scenario: Scenario, **kwargs: object) -> PropagationResult:
    return propagate(engine(), scenario, **kwargs)  # type: ignore[arg-type]


def liquidated(result: PropagationResult, protocol: str) -> float:
    frame = result.liquidations
    return float(frame.loc[frame["protocol_id"] == protocol, "collateral_usd"].sum())


def test_nothing_happens_without_a_shock() -> None:
    result = run(Scenario(name="calm"))
    assert result.converged
    assert result.total_liquidated_usd == 0.0
    # The snapshot's DAI (0.9999) and USDC (0.99997) prices sit just outside the PSM's
    # zero-fee band, so arbitrage aligns them in round 1; nothing else moves.
    assert np.allclose(result.final_price, result.initial_price, rtol=1e-4)
    assert result.rounds < 10


def test_shared_oracle_liquidates_two_protocols_in_the_same_round() -> None:
    result = run(Scenario(name="eth", shocks=(PriceShock("ETH", -0.3),)))
    assert result.converged
    causes = result.causes
    from_feed = causes[(causes["channel"] == "liquidation") & (causes["src"] == f"feed:{ETH_USD}")]
    weth = _asset(engine(), "WETH")
    first = from_feed.groupby("round")["dst"].apply(set)
    rounds_with_both = [
        r
        for r, dst in first.items()
        if f"market:{AAVE}|{weth}" in dst and f"market:{COMET_USDC}|{weth}" in dst
    ]
    assert rounds_with_both, "ETH/USD should liquidate Aave and Compound in one round"
    assert liquidated(result, AAVE) > 0 and liquidated(result, COMET_USDC) > 0


def test_liquidations_selling_into_thin_markets_liquidate_another_protocol() -> None:
    shock = Scenario(name="eth-20", shocks=(PriceShock("ETH", -0.2),))
    deep = run(shock)
    thin = run(
        replace(shock, params=replace(shock.params, external_depth_scale=0.02)),
        allow_unconverged=True,
    )
    weth = _asset(engine(), "WETH")
    # Thin external markets leave the pools to absorb the liquidation sells: the price falls
    # further than the shock, and protocols untouched in the deep run liquidate.
    assert thin.price_change(weth) < deep.price_change(weth) - 0.01
    assert thin.total_liquidated_usd > deep.total_liquidated_usd
    more = [p for p in thin.protocol_ids if liquidated(thin, p) > liquidated(deep, p) + 1.0]
    assert len(more) >= 2
    absorbed = thin.causes[thin.causes["channel"] == "absorb"]
    assert absorbed["dst"].str.startswith("pool:").any()


def test_thinner_outside_markets_are_thinner_for_liquidators_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The depth liquidators price their slippage with is probed again on the scaled venues:
    a market with no pools scales about as its outside depth, one with pools by less; the
    run hands that depth to every lending round."""
    import importlib

    solver = importlib.import_module("contagion.propagate")  # the module, not the function
    e = build_engine(sample_world(positions=1_000, seed=5))
    base = e.liquidation_depth()
    half = e.liquidation_depth(0.5)
    assert half is e.liquidation_depth(0.5)  # probed once per scale
    held = base > 0
    v = e.venues
    pooled = np.zeros(e.world.assets.n_roots, bool)
    for tokens in (v.constant_product.tokens, v.concentrated.tokens, v.stableswap.tokens):
        pooled[v.root[tokens[tokens >= 0]]] = True
    held &= np.isfinite(base)
    alone = held & ~pooled[e.world.assets.root]
    shared = held & pooled[e.world.assets.root]
    assert alone.any() and shared.any()
    # Half as deep to the probe's sale (valued along the walk, so not exactly half).
    np.testing.assert_allclose(half[alone] / base[alone], 0.5, rtol=0.05)
    # Pools keep their depth: between the two (a module's peg holds whatever the outside).
    assert np.all(half[shared] <= base[shared]) and (half[shared] < base[shared]).any()
    assert np.all(half[shared] / base[shared] > 0.5 * 0.95)

    seen: list[np.ndarray] = []
    real_round = solver.lending_round

    def lending_round(*args: object, **kwargs: object) -> object:
        seen.append(np.asarray(args[5]))
        return real_round(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(solver, "lending_round", lending_round)
    shock = Scenario(name="eth", shocks=(PriceShock("ETH", -0.2),))
    propagate(e, replace(shock, params=replace(shock.params, external_depth_scale=0.5)))
    assert seen and all(np.array_equal(depth, half) for depth in seen)


def test_negative_gex_amplifies_what_positive_gex_damps() -> None:
    btc = _asset(engine(), "BTC")
    base = Scenario(name="btc", shocks=(PriceShock("BTC", -0.1),))
    short = run(replace(base, params=replace(base.params, dealer_sign="short")))
    long = run(replace(base, params=replace(base.params, dealer_sign="long")))
    # Dealers short gamma sell into the fall, dealers long gamma buy it (perpetual
    # liquidations push both runs past the shock itself).
    assert short.price_change(btc) < long.price_change(btc) - 0.01
    short_flow = short.dealers[short.dealers["asset_id"] == btc]["hedge_flow"].sum()
    long_flow = long.dealers[long.dealers["asset_id"] == btc]["hedge_flow"].sum()
    assert short_flow < 0 < long_flow


def test_algorithmic_stablecoin_death_spiral() -> None:
    ust = _asset(engine(), "mUST")
    luna = _asset(engine(), "mLUNA")
    params = ModelParams(round_seconds=3600, max_rounds=24 * 8)
    # May 2022 began with UST losing its peg as LUNA fell: a depeg and a governance-token
    # sell-off start it; redemptions, dilution and the run do the rest.
    trigger = Scenario(
        name="spiral",
        depegs=(Depeg("mUST", price=0.92),),
        shocks=(PriceShock("mLUNA", -0.7),),
        params=params,
    )
    result = run(trigger, allow_unconverged=True)
    prices = result.prices[result.prices["asset_id"] == ust]["price_usd"].to_numpy()
    assert prices.min() < 0.5
    assert result.price_change(luna) < -0.75  # beyond the 70% trigger
    supply = [r.governance_supply.sum() for r in result.records]
    assert supply[-1] > 1.2 * supply[0]  # redemptions mint: dilution
    channels = set(result.causes["channel"])
    assert {"redemption", "run"} <= channels
    # The run's parameters come from the scenario: holders who never run sell nothing.
    calm = run(
        replace(trigger, params=replace(params, run_rate_per_day=0.0)), allow_unconverged=True
    )
    assert "run" not in set(calm.causes["channel"])
    assert {"redemption"} <= set(calm.causes["channel"])


def test_usdc_depeg_reaches_dai_through_the_psm() -> None:
    dai, usdt = _asset(engine(), "DAI"), _asset(engine(), "USDT")
    # The depeg also reaches the modelled UST pool, whose redemptions keep trickling: the run
    # is stopped early rather than followed to its fixed point.
    result = run(
        Scenario(name="svb", depegs=(Depeg("USDC", price=0.88),)),
        max_rounds=30,
        allow_unconverged=True,
    )
    assert result.price_change(dai) < -0.03
    assert abs(result.price_change(usdt)) < 0.01
    psm = result.causes[
        (result.causes["channel"] == "absorb")
        & result.causes["dst"].str.contains("psm", case=False)
    ]
    assert psm["usd"].sum() > 0


def test_usdc_depeg_example_recovers_and_settles_with_its_trough_kept() -> None:
    from contagion.data.scenarios import load_example

    result = run(load_example("usdc-depeg"))
    assert result.converged
    usdc, dai = _asset(engine(), "USDC"), _asset(engine(), "DAI")
    assert result.price_low(usdc) == pytest.approx(
        0.87 / result.initial_price[result.asset_ids.index(usdc)] - 1.0, abs=1e-6
    )
    assert result.final_price[result.asset_ids.index(usdc)] == pytest.approx(1.0)  # par again
    assert result.price_low(dai) < -0.03  # the PSM took DAI down with it
    assert result.price_low(dai) < result.price_change(dai)
    low = result.summary()["price_low"]
    assert low["DAI"] == result.price_low(dai) and "USDC" in low
    assert all(v < 0 for v in low.values())


def _ratio_change(result: PropagationResult, token: str, underlying: str) -> float:
    e = engine()
    return (1.0 + result.price_change(_asset(e, token))) / (
        1.0 + result.price_change(_asset(e, underlying))
    ) - 1.0


def test_staking_tokens_follow_eth_when_liquidation_sales_push_it_down() -> None:
    result = run(Scenario(name="crash", shocks=(PriceShock("ETH", -0.3),)))
    eth = result.price_change(_asset(engine(), "ETH"))
    assert eth < -0.32  # sales took ETH below the shock
    # cbETH and rETH have no pool with ETH in the world: only their outside markets, which
    # trade against ETH, carry them along (without that they stayed at -30 %).
    for token in ("cbETH", "rETH"):
        assert abs(_ratio_change(result, token, "ETH")) < 0.005, token
    # stETH keeps its Curve pool with ETH and a discount of its own from wstETH sales, but
    # is not left above ETH.
    assert _ratio_change(result, "stETH", "ETH") <= 0.0
    peg = result.causes[result.causes["channel"] == "peg"]
    eth_node = f"asset:{_asset(engine(), 'ETH')}"
    followers = {f"asset:{_asset(engine(), t)}" for t in ("stETH", "cbETH", "rETH")}
    assert set(peg["dst"]) == followers
    assert set(peg["src"]) == {eth_node}
    assert (peg["usd"] > 0).all()
    # Only moves beyond the arbitrage's 5 bp band are followed (USD = log move x exposure).
    a = engine().world.assets
    root_of = {f"asset:{a.ids[i]}": a.root[i] for i in range(len(a))}
    exposure = engine().root_exposure_usd[[root_of[n] for n in peg["dst"]]]
    assert not peg.duplicated(["round", "dst"]).any()
    assert (peg["usd"].to_numpy() / exposure > 5e-4).all()


def test_a_staking_token_depeg_is_kept_while_it_follows_eth() -> None:
    result = run(
        Scenario(
            name="crash and rETH depeg",
            shocks=(PriceShock("ETH", -0.3),),
            depegs=(Depeg("rETH", move=-0.35),),
        )
    )
    # The depeg moved rETH 5 points more than ETH's -30 %: the ratio keeps that gap while
    # ETH is pushed further by sales.
    assert _ratio_change(result, "rETH", "ETH") == pytest.approx(0.65 / 0.7 - 1.0, abs=0.01)


def test_receipt_writedown_cascades_into_another_protocol() -> None:
    result = run(
        Scenario(name="aave-fails", protocol_failures=(ProtocolFailure(AAVE, writedown=0.3),))
    )
    frame = result.liquidations
    spark = frame[frame["protocol_id"] == SPARK]
    receipts = {_asset(engine(), "aEthWETH"), _asset(engine(), "aEthUSDC")}
    assert set(spark["collateral_asset_id"]) & receipts
    assert (result.causes["channel"] == "writedown").any()
    oracle = result.causes[
        (result.causes["channel"] == "oracle")
        & result.causes["src"].isin([f"asset:{r}" for r in receipts])
    ]
    assert len(oracle) > 0


def test_frozen_oracle_delays_liquidations_into_bad_debt() -> None:
    shock = Scenario(name="eth-crash", shocks=(PriceShock("ETH", -0.45, over_rounds=10),))
    live = run(shock)
    frozen = run(
        replace(
            shock, oracle_failures=(OracleFailure(ETH_USD, "frozen", from_round=0, to_round=40),)
        )
    )
    first_live = live.liquidations["round"].min()
    first_frozen = frozen.liquidations["round"].min()
    assert first_frozen > first_live
    assert sum(frozen.bad_debt_usd.values()) > sum(live.bad_debt_usd.values())


def test_circuit_breaker_pauses_liquidations() -> None:
    shock = Scenario(name="eth", shocks=(PriceShock("ETH", -0.3),))
    guarded = run(
        replace(
            shock,
            mitigations=Mitigations(circuit_breaker=CircuitBreaker(max_move=0.1, pause_rounds=5)),
        )
    )
    plain = run(shock)
    assert guarded.liquidations["round"].min() > plain.liquidations["round"].min()


def test_unconverged_run_raises_with_the_partial_result() -> None:
    with pytest.raises(ConvergenceError) as info:
        run(Scenario(name="eth", shocks=(PriceShock("ETH", -0.3),)), max_rounds=2)
    partial = info.value.result
    assert isinstance(partial, PropagationResult)
    assert not partial.converged and partial.rounds == 2
    kept = run(
        Scenario(name="eth", shocks=(PriceShock("ETH", -0.3),)),
        max_rounds=2,
        allow_unconverged=True,
    )
    assert not kept.converged


def test_same_seed_same_result() -> None:
    scenario = Scenario(name="eth", shocks=(PriceShock("ETH", -0.25),))
    a = run(scenario, seed=5)
    b = run(scenario, seed=5)
    assert a.summary() == b.summary()
    assert a.causes.equals(b.causes)


def test_larger_shock_liquidates_more() -> None:
    totals = [
        run(Scenario(name=f"eth{m}", shocks=(PriceShock("ETH", m),))).total_liquidated_usd
        for m in (-0.05, -0.15, -0.3)
    ]
    assert totals[0] <= totals[1] <= totals[2]
    assert totals[2] > 0


def test_batch_matches_single_runs() -> None:
    scenarios = [Scenario(name=f"eth{m}", shocks=(PriceShock("ETH", m),)) for m in (-0.1, -0.2)]
    batch = propagate_many(engine(), scenarios)
    for scenario, result in zip(scenarios, batch, strict=True):
        assert result.summary() == run(scenario).summary()


def test_batch_over_worker_processes_gives_the_same_results_in_order() -> None:
    moves = (-0.3, -0.05, -0.2, -0.1)
    scenarios = [Scenario(name=f"eth{m}", shocks=(PriceShock("ETH", m),)) for m in moves]
    here = propagate_many(engine(), scenarios, seed=11)
    forked = propagate_many(engine(), scenarios, seed=11, workers=3)
    assert [r.scenario.name for r in forked] == [s.name for s in scenarios]
    assert [r.seed for r in forked] == [11, 12, 13, 14]
    for a, b in zip(here, forked, strict=True):
        assert a.summary() == b.summary()
        pd.testing.assert_frame_equal(a.prices, b.prices)
        pd.testing.assert_frame_equal(a.causes, b.causes)
    with pytest.raises(ValueError, match="workers"):
        propagate_many(engine(), scenarios, workers=-1)


def test_a_worker_process_hands_back_an_unsettled_run_with_its_result() -> None:
    from contagion.exceptions import ConvergenceError

    tight = ModelParams(max_rounds=2)
    scenarios = [
        Scenario(name=f"eth{m}", shocks=(PriceShock("ETH", m),), params=tight)
        for m in (-0.3, -0.35)
    ]
    with pytest.raises(ConvergenceError) as info:
        propagate_many(engine(), scenarios, allow_unconverged=False, workers=2)
    assert isinstance(info.value.result, PropagationResult)
    assert not info.value.result.converged


def test_a_volatility_spike_alone_makes_dealers_re_hedge() -> None:
    from contagion.data.scenarios import load_example

    # No price moves exogenously: only the deltas shift, by more than a 1 % move would
    # shift them, so dealers trade at once (the band is on the hedge, not only on the price).
    result = run(load_example("vol-spike"))
    hedges = result.causes[(result.causes["channel"] == "hedge") & (result.causes["round"] == 0)]
    assert hedges["usd"].sum() > 1e6
    btc = _asset(engine(), "BTC")
    assert abs(result.price_change(btc)) > 1e-3
    # A spike too small to shift deltas past the band leaves the market alone.
    small = run(Scenario(name="tiny", volatility_spikes=(VolatilitySpike("BTC", iv_points=0.01),)))
    assert small.total_liquidated_usd == 0.0
    assert not (small.causes["channel"] == "hedge").any()


def test_options_amm_buffer_absorbs_dealer_selling() -> None:
    from contagion.scenario import OptionsAmm

    btc = _asset(engine(), "BTC")
    base = Scenario(
        name="btc", shocks=(PriceShock("BTC", -0.1),), params=ModelParams(dealer_sign="short")
    )
    plain = run(base)
    buffered = run(replace(base, mitigations=Mitigations(options_amm=OptionsAmm(5e8))))
    assert buffered.price_change(btc) > plain.price_change(btc)


def test_dynamic_margin_on_volatility_liquidates_earlier() -> None:
    from contagion.scenario import DynamicMargin, VolatilitySpike

    base = Scenario(
        name="eth",
        shocks=(PriceShock("ETH", -0.15),),
        volatility_spikes=(VolatilitySpike("ETH", iv_points=60.0),),
    )
    plain = run(base)
    margin = run(
        replace(
            base,
            mitigations=Mitigations(dynamic_margin=DynamicMargin("volatility", sensitivity=1.0)),
        )
    )
    assert margin.total_liquidated_usd > plain.total_liquidated_usd
