"""ganache (an Ethereum node from the npm registry) as a subprocess on a loopback port.

``.ci/run`` installs it into ``.ci/node`` (``npm install --prefix .ci/node ganache@7``).
The node runs with deterministic accounts, the Shanghai hardfork the fixtures are compiled
for, instant mining, and a block gas limit large enough for the fixture deployments.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from evm.chain import EVM_VERSION
from evm.node import NODE_MODULES, local_node

__all__ = ["BINARY", "ganache", "ganache_binary"]

BINARY = NODE_MODULES / "ganache"


def ganache_binary() -> Path | None:
    """The installed ganache, or None (with node itself) when it is absent."""
    if BINARY.exists() and shutil.which("node"):
        return BINARY
    return None


@contextmanager
def ganache(timeout: float = 60.0) -> Iterator[str]:
    """Start ganache on a free loopback port; yield its URL; stop it on exit."""
    binary = ganache_binary()
    if binary is None:
        raise RuntimeError(f"ganache is not installed at {BINARY}")

    def command(port: int) -> list[str]:
        return [
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
        ]

    with local_node("ganache", command, timeout) as url:
        yield url
