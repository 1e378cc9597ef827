"""anvil (Foundry's local Ethereum node, Rust EVM) as a subprocess on a loopback port.

Found at ``.ci/node/node_modules/.bin/anvil`` (``npm install --prefix .ci/node
@foundry-rs/anvil-linux-amd64``, the npm package that ships the binary) or on ``PATH``. It
runs with the same chain id, hardfork and block gas limit as :mod:`evm.ganache`, mining each
transaction at once (its default), from its fixed development mnemonic.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from evm.chain import EVM_VERSION
from evm.ganache import ROOT, answers, free_port

BINARY = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "anvil"


def anvil_binary() -> Path | None:
    """The installed anvil, or None."""
    if BINARY.exists():
        return BINARY
    found = shutil.which("anvil")
    return Path(found) if found else None


@contextmanager
def anvil(timeout: float = 60.0) -> Iterator[str]:
    """Start anvil on a free loopback port; yield its URL; stop it on exit."""
    binary = anvil_binary()
    if binary is None:
        raise RuntimeError(f"anvil is not installed at {BINARY} nor on PATH")
    port = free_port()
    proc = subprocess.Popen(
        [
            str(binary),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--chain-id",
            "1337",
            "--hardfork",
            EVM_VERSION,
            "--gas-limit",
            str(0x3938700),
            "--silent",
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
                raise RuntimeError(f"anvil exited with {proc.returncode}: {err}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"anvil did not answer on {url} within {timeout} s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
