"""anvil (Foundry's local Ethereum node, Rust EVM) as a subprocess on a loopback port.

Found at ``.ci/node/node_modules/.bin/anvil`` (``npm install --prefix .ci/node
@foundry-rs/anvil-linux-amd64``, the npm package that ships the binary) or on ``PATH``. It
runs with the same chain id, hardfork and block gas limit as :mod:`evm.ganache`, mining each
transaction at once (its default), from its fixed development mnemonic.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from evm.chain import EVM_VERSION
from evm.node import NODE_MODULES, local_node

BINARY = NODE_MODULES / "anvil"


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

    def command(port: int) -> list[str]:
        return [
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
        ]

    with local_node("anvil", command, timeout) as url:
        yield url
