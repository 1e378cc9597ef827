"""ganache (an Ethereum node from the npm registry) as a subprocess on a loopback port.

``.ci/run`` installs it into ``.ci/node`` (``npm install --prefix .ci/node ganache@7``).
The node runs with deterministic accounts, the Shanghai hardfork the fixtures are compiled
for, instant mining, and a block gas limit large enough for the fixture deployments.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from evm.chain import EVM_VERSION

ROOT = Path(__file__).resolve().parents[2]
BINARY = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "ganache"


def ganache_binary() -> Path | None:
    """The installed ganache, or None (with node itself) when it is absent."""
    if BINARY.exists() and shutil.which("node"):
        return BINARY
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(url: str) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            return b"result" in response.read()
    except OSError:
        return False


@contextmanager
def ganache(timeout: float = 60.0) -> Iterator[str]:
    """Start ganache on a free loopback port; yield its URL; stop it on exit."""
    binary = ganache_binary()
    if binary is None:
        raise RuntimeError(f"ganache is not installed at {BINARY}")
    port = free_port()
    proc = subprocess.Popen(
        [
            str(binary),
            "--server.host",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--wallet.deterministic",
            "--chain.hardfork",
            EVM_VERSION,
            "--chain.chainId",
            "1337",
            "--miner.instamine",
            "eager",
            "--miner.blockGasLimit",
            "0x3938700",
            "--logging.quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not answers(url):
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"ganache exited with {proc.returncode}: {err}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"ganache did not answer on {url} within {timeout} s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
