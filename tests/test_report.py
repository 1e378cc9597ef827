"""Reports: the model drawn from real runs on the tiny world, escaping of untrusted on-chain
text in HTML, Markdown and JSON, atomic writes, and the ``contagion report`` command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from conftest import AAVE, WETH, _tables

from contagion import Dataset
from contagion.exceptions import ContagionError
from contagion.options import black76
from contagion.paths import ContagionPath
from contagion.report import (
    DEFAULT_SECTIONS,
    FORMATS,
    Report,
    ReportContext,
    ReportTable,
    Section,
    build_report,
    collect,
    render_html,
    render_json,
    render_markdown,
    scaled_scenario,
    write_report,
)
from contagion.report.document import format_value
from contagion.report.markdown import md_text
from contagion.report.pathgraph import path_graph_svg
from contagion.scenario import PriceShock, Scenario

HOSTILE_SYMBOL = "<script>alert(1)</script>"
HOSTILE_NAME = "Aave | v3 `tick` *bold* [link](x)"
SCENARIO = Scenario(name="WETH -30%", shocks=(PriceShock(WETH, -0.3),))
SVG = "{http://www.w3.org/2000/svg}"


def hostile_dataset() -> Dataset:
    """The tiny world with WETH's symbol and Aave's name set to hostile on-chain text."""
    tables = _tables()
    assets = tables["assets"]
    symbols = [
        HOSTILE_SYMBOL if a == WETH else s
        for a, s in zip(
            assets.column("asset_id").to_pylist(), assets.column("symbol").to_pylist(), strict=True
        )
    ]
    tables["assets"] = assets.set_column(
        assets.schema.get_field_index("symbol"), "symbol", pa.array(symbols, pa.string())
    )
    protocols = tables["protocols"]
    names = [
        HOSTILE_NAME if p == AAVE else n
        for p, n in zip(
            protocols.column("protocol_id").to_pylist(),
            protocols.column("name").to_pylist(),
            strict=True,
        )
    ]
    tables["protocols"] = protocols.set_column(
        protocols.schema.get_field_index("name"), "name", pa.array(names, pa.string())
    )
    return Dataset(tables)


@pytest.fixture(scope="module")
def ctx() -> ReportContext:
    return collect(hostile_dataset(), SCENARIO, stress_moves=(-0.1, -0.3), scores=0)


@pytest.fixture(scope="module")
def report(ctx: ReportContext) -> Report:
    return build_report(ctx)


# -- formatting and escaping helpers ----------------------------------------------------------


def test_format_value() -> None:
    assert format_value(1_234_567.0, "usd") == "$1.23M"
    assert format_value(-436_500.0, "usd") == "-$436.50k"
    assert format_value(-0.3, "pct") == "-30.00%"
    assert format_value(0.25, "share") == "25.00%"
    assert format_value(float("nan"), "usd") == "-"
    assert format_value(None, "int") == "-"
    assert format_value(12_345.4, "int") == "12,345"
    assert format_value(True, "bool") == "yes"


def test_markdown_text_escapes_html_and_table_syntax() -> None:
    text = md_text(HOSTILE_SYMBOL + " | `x` *y* [a](b)\nnext")
    assert "<" not in text and "&lt;script&gt;" in text
    assert re.search(r"(?<!\\)[|`*\[\]]", text) is None
    assert "\n" not in text


def test_scaled_scenario_keeps_relative_moves() -> None:
    s = Scenario(
        name="two",
        shocks=(PriceShock("ETH", -0.3, correlated={"BTC": 0.8}), PriceShock("BTC", -0.2)),
    )
    t = scaled_scenario(s, -0.1)
    assert t.shocks[0].move == pytest.approx(-0.1)
    ratio = np.log1p(-0.1) / np.log1p(-0.3)
    assert t.shocks[1].move == pytest.approx(np.expm1(np.log1p(-0.2) * ratio))
    assert t.shocks[0].correlated == {"BTC": 0.8}
    fallback = scaled_scenario(Scenario(name="none"), -0.2)
    assert fallback.shocks == (PriceShock("ETH", -0.2),)


def test_collect_rejects_bad_arguments() -> None:
    with pytest.raises(ContagionError, match="stress moves"):
        collect(hostile_dataset(), SCENARIO, stress_moves=(0.1,))
    with pytest.raises(ContagionError, match="paths_k"):
        collect(hostile_dataset(), SCENARIO, paths_k=0)


# -- the model ---------------------------------------------------------------------------------


def test_sections_in_order(report: Report) -> None:
    keys = [s.key for s in report.sections]
    assert keys == [
        "summary",
        "prices",
        "losses",
        "paths",
        "scores",
        "ladder",
        "gex",
        "stress",
        "mitigations",
    ]
    assert [s.key for s in report.sections if s.note] == []


def test_losses_and_headline_match_the_run(ctx: ReportContext, report: Report) -> None:
    run = ctx.result
    assert run.converged and run.total_liquidated_usd > 0
    losses = report.section("losses").tables[0].frame
    assert losses["loss"].sum() == pytest.approx(run.losses["usd"].sum())
    assert (losses["loss"] > 0).all()
    liq = report.section("losses").tables[1].frame
    assert liq["collateral seized"].sum() == pytest.approx(run.liquidations["collateral_usd"].sum())
    assert report.section("summary").data["result"]["total_liquidated_usd"] == pytest.approx(
        run.total_liquidated_usd
    )


def test_price_paths_are_relative_to_the_snapshot(ctx: ReportContext, report: Report) -> None:
    prices = report.section("prices")
    series = prices.data["relative_price"][HOSTILE_SYMBOL]
    assert series[0] == 0.0
    assert min(series) < -0.25  # WETH fell at least its 30% shock
    assert len(series) == ctx.result.rounds + 1


def test_stress_ladder_reuses_the_main_run_and_reports_each_run(
    ctx: ReportContext,
    report: Report,
) -> None:
    assert [m for m, _ in ctx.stress] == [-0.3, -0.1]
    assert ctx.stress[0][1] is ctx.result
    assert ctx.stress[1][1].scenario.shocks[0].move == pytest.approx(-0.1)
    table = report.section("stress").tables[0].frame
    assert list(table["shock"]) == [-0.3, -0.1]
    for (move, run), row in zip(ctx.stress, table.itertuples(index=False), strict=True):
        assert row.losses == pytest.approx(run.losses["usd"].sum())
        assert row.liquidated == pytest.approx(run.total_liquidated_usd)
        assert row.rounds == run.rounds
        # The shocked asset falls at least by the shock (the cascade can only add to it).
        assert row[4] <= move + 1e-9


def test_mitigation_comparison_has_the_baseline_and_each_mitigation(
    ctx: ReportContext,
    report: Report,
) -> None:
    frame = report.section("mitigations").tables[0].frame
    assert frame["mitigation"].iloc[0] == "none (baseline)"
    assert len(frame) == 1 + len(ctx.mitigations) == 3
    assert frame["losses"].iloc[0] == pytest.approx(ctx.result.losses["usd"].sum())
    for (_, run), losses in zip(ctx.mitigations, frame["losses"].iloc[1:], strict=True):
        assert run.scenario.mitigations != ctx.result.scenario.mitigations
        assert losses == pytest.approx(run.losses["usd"].sum())


def test_paths_reconcile_with_total_losses(ctx: ReportContext, report: Report) -> None:
    section = report.section("paths")
    data = section.data
    assert data["attributed_usd"] + data["residual_usd"] == pytest.approx(data["total_loss_usd"])
    assert data["total_loss_usd"] == pytest.approx(ctx.result.losses["usd"].sum())
    table = section.tables[0].frame
    assert len(table) >= 1
    assert table["loss"].is_monotonic_decreasing
    assert table["loss"].sum() <= data["attributed_usd"] * (1 + 1e-9)


def test_gex_section_matches_black76_gamma(ctx: ReportContext, report: Report) -> None:
    """GEX at spot recomputed by hand: sum of sign x gamma x OI x S^2 x 1% over the series."""
    book = ctx.engine.options
    row = report.section("gex").tables[0].frame.iloc[0]
    u = int(book.underlying[0])
    s = float(book.spot[u])
    mine = (book.underlying == u) & (book.expiry_years > 0)
    gamma = black76(
        s, book.strike[mine], book.expiry_years[mine], book.mark_iv[mine], book.is_call[mine]
    ).gamma
    expected = float(
        np.sum(book.dealer_sign[mine] * gamma * book.open_interest[mine] * s * s * 0.01)
    )
    assert row["GEX at spot"] == pytest.approx(expected)
    assert row["spot"] == pytest.approx(2000.0)


def test_ladder_section_sums_the_query(ctx: ReportContext, report: Report) -> None:
    rows = ctx.dataset.store().query("liquidation_ladder", {"asset": WETH}).to_pandas()
    table = report.section("ladder").tables[0].frame
    deepest = rows[rows["price_move"] == rows["price_move"].min()]
    assert table.iloc[-1]["collateral"] == pytest.approx(deepest["collateral_usd"].sum())
    assert table.iloc[-1]["liquidatable accounts"] == deepest["accounts"].sum() > 0


def test_scores_section_shows_components(report: Report) -> None:
    section = report.section("scores")
    top, parts = (t.frame for t in section.tables)
    assert len(top) > 0 and len(parts) > 0
    assert set(parts["component"]) <= set(top["component"])
    assert (top["static score"] >= 0).all()


# -- rendering --------------------------------------------------------------------------------


def test_html_is_self_contained_and_escapes_untrusted_text(report: Report) -> None:
    page = render_html(report)
    assert HOSTILE_SYMBOL not in page
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Aave | v3 `tick` *bold* [link](x)" in page
    assert "default-src 'none'" in page
    for fetch in ("<link", " src=", "@import", "<img", "<iframe"):
        assert fetch not in page
    # References stay inside the page: clip paths and glyph uses point at local ids.
    assert re.findall(r"url\((?!#)", page) == []
    assert re.findall(r"href=\"(?!#)", page) == []
    # Every http(s) string is an XML namespace, never something fetched.
    urls = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


def test_every_chart_is_well_formed_svg_with_the_symbol_as_text(report: Report) -> None:
    figures = [f for s in report.sections for f in s.figures]
    assert len(figures) >= 7
    texts = []
    for figure in figures:
        root = ET.fromstring(figure.svg)
        assert root.tag == f"{SVG}svg"
        texts += ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert any(HOSTILE_SYMBOL in t for t in texts)


def test_path_graph_draws_every_ranked_path(ctx: ReportContext) -> None:
    paths = ctx.paths.paths
    figure = path_graph_svg(paths, ctx.paths.labels)
    root = ET.fromstring(figure.svg)
    nodes = [g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]
    edges = [p for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]
    hops = {
        (p.nodes[i], p.nodes[i + 1], p.rounds[i]) for p in paths for i in range(len(p.channels))
    }
    assert 0 < len(edges) <= len(hops)
    assert len(nodes) >= len({n for p in paths for n in p.nodes})
    assert all(e.find(f"{SVG}title") is not None for e in edges)
    widths = [float(e.get("stroke-width", 0)) for e in edges]
    assert max(widths) == pytest.approx(10.2) and min(widths) >= 1.2


def test_path_graph_merges_shared_hops_and_escapes_labels() -> None:
    """Two paths sharing their first two hops: the shared edges carry both losses."""
    a = ContagionPath(
        ("scenario", "asset:x", "feed:f", "market:p|x"),
        ("shock", "oracle", "liquidation"),
        (0, 1, 1),
        300.0,
        0.75,
    )
    b = ContagionPath(
        ("scenario", "asset:x", "feed:f", "market:q|x"),
        ("shock", "oracle", "liquidation"),
        (0, 1, 1),
        100.0,
        0.25,
    )
    labels = {"asset:x": HOSTILE_SYMBOL, "market:q|x": "q & <b>"}
    root = ET.fromstring(path_graph_svg([a, b], labels).svg)
    edges = {
        e.findtext(f"{SVG}title", "").rsplit(": ", 1)[0]: float(e.get("stroke-width", 0))
        for e in root.iter(f"{SVG}path")
        if e.get("class") == "edge"
    }
    assert len(edges) == 4
    assert edges[f"scenario → {HOSTILE_SYMBOL}"] == pytest.approx(10.2)
    assert edges[f"{HOSTILE_SYMBOL} → feed:f"] == pytest.approx(10.2)
    assert edges[f"feed:f → p {HOSTILE_SYMBOL}"] == pytest.approx(1.2 + 9.0 * 300 / 400)
    assert edges["feed:f → q & <b>"] == pytest.approx(1.2 + 9.0 * 100 / 400)
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert HOSTILE_SYMBOL in texts and "q & <b>" in texts
    nodes = [g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]
    assert len(nodes) == 5


def test_markdown_tables_keep_their_shape(report: Report) -> None:
    text = render_markdown(report)
    assert "<script" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "Aave \\| v3 \\`tick\\` \\*bold\\* \\[link\\](x)" in text
    blocks = re.split(r"\n\n", text)
    tables = [b for b in blocks if b.startswith("| ")]
    assert len(tables) >= 10
    for block in tables:
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in block.splitlines()}
        assert len(widths) == 1, block


def test_json_keeps_untrusted_text_as_data(report: Report) -> None:
    doc = json.loads(render_json(report))
    assert [s["key"] for s in doc["sections"]] == [s.key for s in report.sections]
    prices = next(s for s in doc["sections"] if s["key"] == "prices")
    assert HOSTILE_SYMBOL in prices["data"]["relative_price"]
    assert "NaN" not in render_json(report)


def test_a_new_section_builder_appears_in_every_format(ctx: ReportContext) -> None:
    def tornado(c: ReportContext) -> Section:
        frame = c.result.losses.assign(symbol=HOSTILE_SYMBOL)[["symbol", "usd"]]
        return Section("tornado", "Tornado", ("extra",), (ReportTable("t", frame, {"usd": "usd"}),))

    report = build_report(ctx, sections=(*DEFAULT_SECTIONS[:1], tornado))
    assert [s.key for s in report.sections] == ["summary", "tornado"]
    assert 'id="tornado"' in render_html(report)
    assert "## Tornado" in render_markdown(report)
    assert json.loads(render_json(report))["sections"][1]["key"] == "tornado"
    with pytest.raises(ContagionError, match="distinct keys"):
        build_report(ctx, sections=(tornado, tornado))


# -- writing ----------------------------------------------------------------------------------


def test_write_report_writes_all_formats(report: Report, tmp_path: Path) -> None:
    written = write_report(report, tmp_path / "out")
    assert sorted(p.name for p in written) == sorted(FORMATS.values())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(FORMATS.values())
    with pytest.raises(ContagionError, match="unknown report format"):
        write_report(report, tmp_path / "other", formats=("pdf",))
    assert not (tmp_path / "other").exists()


def test_a_failed_write_leaves_no_partial_report(report: Report, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "report.json").mkdir(parents=True)  # renaming onto a folder fails
    with pytest.raises(OSError):
        write_report(report, out)
    assert sorted(p.name for p in out.iterdir()) == ["report.json"]
    assert not any((out / "report.json").iterdir())


# -- the command line ----------------------------------------------------------------------------


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contagion.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_report_command_writes_the_report(tmp_path: Path) -> None:
    world = tmp_path / "world"
    hostile_dataset().write(world)
    out = tmp_path / "report"
    proc = run(
        "report",
        "--dataset",
        str(world),
        "--shock",
        f"{WETH}=-30%",
        "--stress",
        "-20%",
        "--no-mitigations",
        "--scores",
        "none",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(FORMATS.values())
    doc = json.loads((out / "report.json").read_text())
    stress = next(s for s in doc["sections"] if s["key"] == "stress")
    assert [row["shock"] for row in stress["tables"][0]["rows"]] == [-0.3, -0.2]
    assert "&lt;script&gt;" in (out / "report.html").read_text()


def test_report_command_bad_input_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    world = tmp_path / "world"
    hostile_dataset().write(world)
    out = tmp_path / "report"
    proc = run("report", "--dataset", str(world), "--shock", "NOPE=-30%", "--out", str(out))
    assert proc.returncode == 2
    assert "NOPE" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_sensitivity_section_shows_a_tornado_per_output(ctx: ReportContext) -> None:
    from dataclasses import replace

    from contagion.sensitivity import OUTPUTS, sensitivity

    tornado = sensitivity(
        ctx.engine,
        ctx.result.scenario,
        parameters={"external_depth_scale": (0.5, 1.0, 2.0), "iv_response": (0.0, 0.5, 1.0)},
    )
    built = build_report(replace(ctx, sensitivity=tornado))
    section = next(s for s in built.sections if s.key == "sensitivity")
    assert [t.title for t in section.tables] == list(OUTPUTS)
    assert len(section.figures) == len(OUTPUTS)
    for table in section.tables:
        rows = tornado.frame[tornado.frame["output"] == table.title]
        assert list(table.frame["parameter"]) == list(rows["parameter"])
        assert list(table.frame["swing"]) == pytest.approx(list(rows["swing"]))
    html = render_html(built)
    assert 'id="sensitivity"' in html
    assert html.count("<svg") >= len(OUTPUTS)
    assert "external\\_depth\\_scale" in render_markdown(built)
    # Not computed: the section is left out rather than shown empty.
    assert "sensitivity" not in [s.key for s in build_report(ctx).sections]
