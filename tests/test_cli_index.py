"""``contagion index``: a real subprocess reading the fixture chain over HTTP (a loopback
server in front of py-evm), resuming after its request budget runs out, and refusing bad
input with exit status 2 and a clear message."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from contagion import load_dataset
from contagion.cli import cli
from indexers.rpc import ProviderTransport

pytest.importorskip("web3")
pytest.importorskip("vyper")
pytest.importorskip("eth_tester")

from evm.chain import FixtureChain, shared_chain
from evm.faults import FaultProxy, fault_proxy

SECRET = "0123456789abcdef0123456789abcdef"
CSV = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "deribit"
    / ("btc-options-2020-05-14.csv")
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contagion.cli", "index", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def chain() -> FixtureChain:
    return shared_chain()


@pytest.fixture(scope="module")
def node(chain: FixtureChain) -> Iterator[FaultProxy]:
    with fault_proxy(ProviderTransport(chain.w3), ["ok"]) as proxy:
        yield proxy


def _comet(
    chain: FixtureChain, node: FaultProxy, out: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return run(
        "compound-v3",
        "--rpc-url",
        f"{node.url}/v3/{SECRET}",
        "--block",
        str(chain.w3.eth.block_number),
        "--out",
        str(out),
        "--address",
        chain.comet,
        "--multicall",
        chain.multicall,
        "--batch-size",
        "8",
        "--strict",
        *extra,
    )


@pytest.fixture(scope="module")
def clean_run(
    chain: FixtureChain, node: FaultProxy, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("clean") / "ds"
    proc = _comet(chain, node, out)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_index_writes_the_dataset_and_never_prints_the_key(
    chain: FixtureChain,
    node: FaultProxy,
    clean_run: tuple[Path, subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    out, proc = clean_run
    assert SECRET not in proc.stdout + proc.stderr and "/v3/***" in proc.stderr
    assert "lending_positions" in proc.stdout and "0 mismatched" in proc.stderr
    ds = load_dataset(out)
    accounts = set(ds.table("lending_positions").column("account").to_pylist())
    assert len(accounts) == len(chain.comet_users)  # 11 borrowers left and the lender
    assert not (out / ".checkpoint").exists()
    # Another source merges into a copy of the folder.
    shutil.copytree(out, tmp_path / "ds")
    proc = run("deribit", "--file", str(CSV), "--out", str(tmp_path / "ds"))
    assert proc.returncode == 0, proc.stderr
    merged = load_dataset(tmp_path / "ds")
    assert merged.table("option_series").num_rows == 310
    assert merged.table("lending_positions").equals(ds.table("lending_positions"))


def test_a_run_stopped_by_its_budget_resumes_to_the_same_rows(
    chain: FixtureChain,
    node: FaultProxy,
    clean_run: tuple[Path, subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    clean_out, clean = clean_run
    first = _comet(chain, node, tmp_path / "ds", "--max-requests", "12")
    assert first.returncode == 2 and "request budget of 12 used up" in first.stderr
    assert "Traceback" not in first.stderr and SECRET not in first.stderr
    assert (tmp_path / "ds" / ".checkpoint").is_dir()
    second = _comet(chain, node, tmp_path / "ds")
    assert second.returncode == 0, second.stderr

    def requests(proc: subprocess.CompletedProcess[str]) -> int:
        line = next(x for x in proc.stderr.splitlines() if " requests (" in x)
        return int(line.split()[0].replace(",", ""))

    assert requests(second) < requests(clean)
    a = load_dataset(clean_out).table("lending_positions").sort_by("account")
    b = load_dataset(tmp_path / "ds").table("lending_positions").sort_by("account")
    assert a.equals(b)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compound-v3", "--rpc-url", "ftp://x", "--block", "1"], "http:// or https://"),
        (["compound-v3", "--block", "1"], "pass --rpc-url"),
        (["aave-v3", "--rpc-url", "NODE", "--block", "1", "--address", "x"], "ROLE=ADDRESS"),
        (["uniswap-v2", "--rpc-url", "NODE", "--block", "1", "--address", "0x12"], "20-byte"),
        (["deribit"], "pass the exported file with --file"),
        (["deribit", "--file", "BADCSV"], "column 'strike'"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    node: FaultProxy, tmp_path: Path, args: list[str], message: str
) -> None:
    bad = tmp_path / "bad.csv"
    lines = CSV.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("strike")] = "lots"
    bad.write_text("\n".join([lines[0], ",".join(row)]) + "\n")
    args = [a.replace("NODE", node.url).replace("BADCSV", str(bad)) for a in args]
    # In process (the subprocess tests above cover the real exit path).
    result = CliRunner().invoke(cli, ["index", *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
