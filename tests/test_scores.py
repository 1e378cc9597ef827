"""Dependency scores on the tiny world, worked out by hand (see conftest for the world)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import AAVE, COMPOUND, ETH_USD, UNI_V2, UNI_V3, WETH

from contagion import Dataset, propagate
from contagion.amm import get_y
from contagion.scores import default_scenario_set, pool_depths, score_dependencies

LIDO = "lido"


@pytest.fixture(scope="module")
def static(tiny_dataset: Dataset):  # type: ignore[no-untyped-def]
    return score_dependencies(tiny_dataset, simulate=False)


def value(scores, component: str, score: str, part: str) -> float:  # type: ignore[no-untyped-def]
    rows = scores.parts(component, score)
    return float(rows.loc[rows["part"] == part, "value"].sum())


def test_pool_depth_follows_each_curve(tiny_dataset: Dataset) -> None:
    depths = pool_depths(tiny_dataset).set_index(["pool_id", "token_index"])
    # Uniswap v2, 100 WETH: x (1 / sqrt(0.98) - 1) / (1 - fee).
    assert depths.loc[(UNI_V2, 2), "depth"] == pytest.approx(100 * (0.98**-0.5 - 1) / 0.997)
    # Uniswap v3 in its active range (ticks 1000..1800), L = 1000, sqrt price sqrt(1.15).
    s = 1.15**0.5
    token0 = 1000 * (1 / (s * 0.98**0.5) - 1 / s) / (1 - 0.0001)
    assert depths.loc[(UNI_V3, 1), "depth"] == pytest.approx(token0, rel=1e-9)
    # Curve: after the sale the finite-difference price of DAI in USDC is 2% lower.
    curve = depths.xs("1:0x5a6a4d54456819380173272a5e8e9b9904bdf41b")
    sold = curve.loc[1, "depth"] * (1 - 0.0004)
    xp = [300_000 * 10**18, 250_000 * 10**18]

    def price(dai: int) -> float:
        h = 10**18
        return (get_y(0, 1, dai, xp, 200) - get_y(0, 1, dai + h, xp, 200)) / h

    assert price(xp[0] + int(sold * 10**18)) / price(xp[0]) == pytest.approx(0.98, abs=1e-6)


def test_static_scores_by_hand(static) -> None:  # type: ignore[no-untyped-def]
    feed = f"feed:{ETH_USD}"
    # Aave: WETH collateral 24,000 + WETH debt 6,000 + wstETH (composite) 11,500; Compound:
    # WETH 6,000 + aEthWETH 8,000.
    assert value(static, feed, "oracle_concentration", f"priced for {AAVE}") == 41_500
    assert value(static, feed, "static", "oracle_concentration") == 55_500
    # Compound's a5 (3 WETH against 4,000 USDC at liquidateCF 0.895) goes under at -30%:
    # 4,200 USD of WETH, sold into the two WETH pools pro rata to their WETH (100 and 40).
    assert value(static, f"asset:{WETH}", "static", "liquidations_at_shock") == pytest.approx(4_200)
    assert value(static, f"pool:{UNI_V2}", "static", "pool_dependency") == pytest.approx(3_000)
    assert value(static, f"pool:{UNI_V3}", "static", "pool_dependency") == pytest.approx(1_200)
    assert value(
        static, f"protocol:{AAVE}", "receipt_exposure", f"{COMPOUND} holds aEthWETH as collateral"
    ) == pytest.approx(8_000)


def test_debtrank_of_protocols_by_hand(static) -> None:  # type: ignore[no-untyped-def]
    # Buffers: Aave's borrowers' cushion 35,500 - 15,000; Compound's 14,000 - 9,000.
    # Economic values (TVL): Aave 85,500, Compound 114,000. Aave's default wipes out Compound
    # (8,000 of aEthWETH against a 5,000 cushion); Lido's costs Aave 11,500 / 20,500 of its
    # buffer, which Aave passes on in full to Compound.
    assert value(
        static, f"protocol:{AAVE}", "debtrank", f"distress of {COMPOUND}"
    ) == pytest.approx(114_000)
    share = 11_500 / 20_500
    assert value(static, f"protocol:{LIDO}", "debtrank", f"distress of {AAVE}") == pytest.approx(
        share * 85_500
    )
    assert value(
        static, f"protocol:{LIDO}", "debtrank", f"distress of {COMPOUND}"
    ) == pytest.approx(share * 114_000)


def test_every_score_is_the_sum_of_its_usd_parts(static) -> None:  # type: ignore[no-untyped-def]
    parts = static.components
    usd = parts[parts["unit"] == "usd"]
    measures = usd[~usd["score"].isin(["static", "systemic_importance", "vulnerability"])]
    by_measure = measures.groupby(["component", "score"])["value"].sum()
    totals = usd[usd["score"] == "static"].set_index(["component", "part"])["value"]
    assert by_measure.to_numpy() == pytest.approx(totals.reindex(by_measure.index).to_numpy())
    frame = static.frame.set_index("component")
    per_component = totals.groupby(level=0).sum()
    assert frame.loc[per_component.index, "static_score"].to_numpy() == pytest.approx(
        per_component.to_numpy()
    )
    assert static.frame["rank"].tolist() == list(range(1, len(static.frame) + 1))
    assert np.isnan(static.frame["systemic_importance_usd"]).all()
    assert set(static.frame["kind"]) == {"feed", "pool", "protocol", "asset"}
    doc = json.loads(json.dumps(static.to_dict()))
    assert doc["scores"][0]["systemic_importance_usd"] is None


def test_systemic_importance_is_loss_over_a_baseline(tiny_dataset: Dataset) -> None:
    chosen = [s for s in default_scenario_set(tiny_dataset) if s.name == f"feed:{ETH_USD}"]
    assert len(chosen) == 1
    scores = score_dependencies(tiny_dataset, scenarios=chosen)
    ran = propagate(tiny_dataset, chosen[0], allow_unconverged=True, seed=0)
    bad_debt = ran.bad_debt_usd[COMPOUND]
    assert bad_debt > 0
    row = scores.frame.set_index("component")
    assert row.loc[f"feed:{ETH_USD}", "systemic_importance_usd"] == pytest.approx(bad_debt)
    assert row.loc[f"protocol:{COMPOUND}", "vulnerability_usd"] == pytest.approx(bad_debt)
    assert row.loc[f"feed:{ETH_USD}", "rank"] == 1
    assert scores.scenarios == (f"feed:{ETH_USD}",)


def test_default_scenarios_name_graph_nodes(tiny_dataset: Dataset) -> None:
    names = [s.name for s in default_scenario_set(tiny_dataset, per_kind=1)]
    assert [n.split(":", 1)[0] for n in names] == ["asset", "feed", "protocol", "asset"]
    with pytest.raises(ValueError, match="shock"):
        default_scenario_set(tiny_dataset, shock=0.3)


def test_an_empty_dataset_scores_nothing() -> None:
    scores = score_dependencies(Dataset({}))
    assert scores.frame.empty and scores.components.empty
    assert scores.scenarios == ()


def test_score_command_writes_json_and_markdown(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from contagion.cli import cli

    out = tmp_path / "scores.json"
    world = ["--positions", "500", "--seed", "2"]
    done = CliRunner().invoke(
        cli, ["score", "--static", *world, "--format", "json", "--out", str(out)]
    )
    assert done.exit_code == 0, done.output
    doc = json.loads(out.read_text())
    assert doc["scores"][0]["rank"] == 1 and doc["components"]
    shown = CliRunner().invoke(
        cli, ["score", "--static", *world, "--format", "markdown", "--top", "3"]
    )
    assert shown.exit_code == 0 and shown.output.count("\n| ") == 4
    bad = CliRunner().invoke(cli, ["score", "--dataset", str(tmp_path / "missing")])
    assert bad.exit_code == 2 and "does not exist" in bad.output
