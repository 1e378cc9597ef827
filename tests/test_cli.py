"""The command line as a user runs it: real processes, exit statuses, files left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from handmade import small_tables

from contagion import Dataset, load_dataset
from contagion.resources import list_queries


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contagion.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default world at a small size, built through the CLI and written as Parquet."""
    out = tmp_path_factory.mktemp("cli") / "world"
    proc = run("build", "--out", str(out), "--positions", "3000", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout
    return out


def test_build_writes_a_valid_dataset(world: Path) -> None:
    ds = load_dataset(world)
    assert ds.row_counts()["lending_positions"] > 2000
    assert not [p for p in world.parent.iterdir() if p.name.startswith(".")]


def test_demo_prints_summary_and_writes_outputs(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = run("demo", "--out", str(out), "--positions", "3000", "--no-report")
    assert proc.returncode == 0, proc.stderr
    for text in ("aave-v3-ethereum", "compound-v3-usdc", "collateral_in", "prices_with"):
        assert text in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["edges_by_kind"]["collateral_in"]["usd"] > 0
    g = nx.read_graphml(out / "exposure-graph.graphml")
    kinds = {d["kind"] for _, d in g.nodes(data=True)}
    assert {"protocol", "market", "asset", "oracle_feed", "pool"} <= kinds
    assert load_dataset(out / "dataset").row_counts()["lending_positions"] > 2000


# Every shipped query runs in process on the sample world and an empty dataset
# (tests/test_analysis_queries.py); here the analysis queries run as a user types them.
@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("liquidation_ladder", ("-p", "asset=ETH")),
        ("shallow_pools", ("-p", "shock=-0.3")),
        ("gex_by_strike", ("-p", "underlying=BTC")),
        ("largest_positions", ("-p", "max_distance=0.1")),
        ("multi_protocol_accounts", ()),
        ("shared_oracles", ()),
    ],
)
def test_analysis_queries_run_from_the_cli(world: Path, name: str, params: tuple[str, ...]) -> None:
    assert name in list_queries()
    proc = run("query", name, *params, "--dataset", str(world), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert isinstance(rows, list)
    assert rows, f"{name} returned no rows on the sample world"


def test_query_formats(world: Path, tmp_path: Path) -> None:
    sql = "select symbol, price_usd from assets where symbol = $sym"
    proc = run("query", "--sql", sql, "-p", "sym=WETH", "--format", "csv", "--dataset", str(world))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "symbol,price_usd"
    assert lines[1].startswith("WETH,1816.85")
    target = tmp_path / "assets.parquet"
    proc = run(
        "query",
        "--sql",
        "select * from assets",
        "--format",
        "parquet",
        "-o",
        str(target),
        "--dataset",
        str(world),
    )
    assert proc.returncode == 0, proc.stderr
    assert pq.read_table(target).num_rows == load_dataset(world).row_counts()["assets"]


def test_query_list_shows_parameters() -> None:
    proc = run("query", "--list")
    assert proc.returncode == 0
    for name in list_queries():
        assert name in proc.stdout


def test_graph_export_gexf(world: Path, tmp_path: Path) -> None:
    target = tmp_path / "g.gexf"
    proc = run("graph", "--export", str(target), "--dataset", str(world))
    assert proc.returncode == 0, proc.stderr
    g = nx.read_gexf(target)
    assert g.number_of_nodes() > 50


def _bad_dataset(tmp_path: Path, table: str, mutate: str) -> tuple[Path, Path]:
    path = Dataset(small_tables()).write(tmp_path / "ds")
    file = next((path / table).glob("*.parquet"))
    data = pq.read_table(file)
    if mutate == "drop":
        data = data.drop_columns(["debt_amount"])
        pq.write_table(data, file)
    elif mutate == "negative":
        cols = data.to_pydict()
        cols["debt_amount"][1] = -1500.0
        pq.write_table(pa.table(cols, schema=data.schema), file)
    else:
        file.write_bytes(b"not a parquet file at all")
    return path, file


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        ("drop", "missing column"),
        ("negative", "must not be negative"),
        ("garbage", "not a readable Parquet file"),
    ],
)
def test_bad_input_exits_2_naming_file_and_column(
    tmp_path: Path, mutate: str, expected: str
) -> None:
    path, file = _bad_dataset(tmp_path, "lending_positions", mutate)
    out = tmp_path / "out.csv"
    proc = run(
        "query", "--sql", "select 1", "--dataset", str(path), "--format", "csv", "-o", str(out)
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert expected in proc.stderr
    assert str(file) in proc.stderr.replace("\n", "")
    if mutate != "garbage":
        assert "debt_amount" in proc.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_unknown_query_and_bad_param_exit_2(world: Path) -> None:
    proc = run("query", "no_such_query", "--dataset", str(world))
    assert proc.returncode == 2
    assert "unknown query 'no_such_query'" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run("query", "largest_positions", "-p", "limit=many", "--dataset", str(world))
    assert proc.returncode == 2
    assert "expects BIGINT" in proc.stderr


def test_bad_sql_exits_2_without_traceback(world: Path) -> None:
    proc = run("query", "--sql", "select * from no_such_table", "--dataset", str(world))
    assert proc.returncode == 2
    assert "no_such_table" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_symbols_are_not_interpreted_as_markup(tmp_path: Path) -> None:
    tables = small_tables()
    assets = tables["assets"].to_pydict()
    assets["symbol"][0] = "[bold red]WETH[/]"
    tables["assets"] = pa.table(assets, schema=tables["assets"].schema)
    path = Dataset(tables).write(tmp_path / "ds")
    proc = run("query", "--sql", "select symbol from assets", "--dataset", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "[bold red]WETH[/]" in proc.stdout


def test_shock_settles_and_writes_its_tables(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run("shock", "--shock", "WETH=-30%", "--positions", "3000", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "settled after" in proc.stdout
    causes = proc.stdout[proc.stdout.index("Largest causes") :]
    # Nodes by name (symbols, feed descriptions), not by id.
    assert "ETH / USD" in causes
    assert "asset:1:" not in causes and "feed:1:" not in causes
    summary = json.loads((out / "summary.json").read_text())
    assert summary["converged"] is True
    assert summary["total_liquidated_usd"] > 0
    for name in ("prices", "liquidations", "causes", "losses"):
        assert (out / f"{name}.csv").stat().st_size > 0


def test_shock_that_does_not_settle_exits_3(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run(
        "shock",
        "--shock",
        "WETH=-30%",
        "--positions",
        "3000",
        "--max-rounds",
        "2",
        "--out",
        str(out),
    )
    assert proc.returncode == 3
    assert "not settled" in proc.stderr
    assert json.loads((out / "summary.json").read_text())["converged"] is False


def test_bad_scenario_file_exits_2_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[shocks]]\nasset = "WETH"\nmove = "abc"\n')
    out = tmp_path / "run"
    proc = run("shock", "--scenario", str(bad), "--positions", "3000", "--out", str(out))
    assert proc.returncode == 2
    assert "shocks[0].move" in proc.stderr and str(bad) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_shock_lists_the_shipped_examples() -> None:
    proc = run("shock", "--list-examples")
    assert proc.returncode == 0
    assert "usdc-depeg" in proc.stdout and "eth-crash" in proc.stdout


def test_paths_ranks_and_reconciles(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "paths.json"
    proc = run(
        "paths", "--shock", "WETH=-30%", "--dataset", str(world), "--top", "3",
        "--format", "json", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    ranking = json.loads(out.read_text())
    paths = ranking["paths"]
    assert 1 <= len(paths) <= 3
    assert paths[0]["nodes"][0] == "scenario"
    assert [p["loss_usd"] for p in paths] == sorted((p["loss_usd"] for p in paths), reverse=True)
    assert ranking["attributed_usd"] + ranking["residual_usd"] == pytest.approx(
        ranking["total_loss_usd"], rel=1e-9
    )
    assert sum(p["loss_usd"] for p in paths) <= ranking["attributed_usd"] * (1 + 1e-9)
    table = run("paths", "--shock", "WETH=-30%", "--dataset", str(world), "--top", "2")
    assert table.returncode == 0, table.stderr
    assert "->" in table.stdout


def test_paths_bad_top_exits_2_without_traceback(world: Path) -> None:
    proc = run("paths", "--shock", "WETH=-30%", "--dataset", str(world), "--top", "0")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "--top" in proc.stderr
