"""ERC-20 metadata read in batches, and the rows of the ``assets`` table built from it.

Symbols and names are untrusted on-chain text: they are stored as read (decoded leniently)
and must be escaped by whatever displays them. Some old tokens (MKR, SAI) return
``bytes32`` instead of ``string``; both forms are decoded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode

from indexers.abi import decode_abi, load_abi
from indexers.base import IndexContext, Meta
from indexers.errors import IndexerError
from indexers.rpc.multicall import Call
from indexers.sample_world.common import asset_id

__all__ = ["Token", "amount", "asset_row", "read_tokens", "uint"]

_ERC20 = load_abi("erc20")


@dataclass(frozen=True)
class Token:
    """An ERC-20 as read at the run's block."""

    address: str
    symbol: str
    name: str
    decimals: int
    total_supply: int


def _text(data: bytes | None) -> str:
    if not data:
        return ""
    try:
        return str(decode(["string"], data)[0])
    except Exception:
        return data[:32].rstrip(b"\0").decode("utf-8", errors="replace")


def uint(data: bytes | None, what: str) -> int:
    """One ``uint256`` return value; IndexerError naming ``what`` if the call failed."""
    if data is None or len(data) < 32:
        raise IndexerError(f"{what}: call reverted or returned no data")
    return int.from_bytes(data[:32], "big")


def read_tokens(
    ctx: IndexContext, addresses: Iterable[str], stage: str = "tokens"
) -> dict[str, Token]:
    """Symbol, name, decimals and total supply of each token, by lower-case address."""
    unique = sorted({a.lower() for a in addresses})
    fns = [_ERC20.fn(n) for n in ("symbol", "name", "decimals", "totalSupply")]
    calls = [Call(a, f.encode()) for a in unique for f in fns]
    out = ctx.read(stage, calls)
    tokens: dict[str, Token] = {}
    for i, a in enumerate(unique):
        sym, name, dec, supply = out[4 * i : 4 * i + 4]
        tokens[a] = Token(
            address=a,
            symbol=_text(sym),
            name=_text(name),
            decimals=uint(dec, f"decimals() of token {a}"),
            total_supply=uint(supply, f"totalSupply() of token {a}"),
        )
    return tokens


def amount(raw: int, decimals: int) -> tuple[str, float]:
    """Lossless decimal string and whole-token float of a base-unit amount."""
    return str(raw), raw / 10**decimals


def asset_row(
    meta: Meta,
    token: Token,
    price_usd: float,
    *,
    kind: str = "erc20",
    underlying: str | None = None,
    depth_2pct_usd: float | None = None,
) -> dict[str, Any]:
    """One ``assets`` row of ``token`` at ``price_usd``."""
    supply_raw, supply = amount(token.total_supply, token.decimals)
    return meta.row(
        asset_id=asset_id(token.address, meta.chain_id),
        address=token.address,
        symbol=token.symbol,
        name=token.name,
        kind=kind,
        decimals=token.decimals,
        underlying_asset_id=asset_id(underlying, meta.chain_id) if underlying else None,
        price_usd=price_usd,
        total_supply_raw=supply_raw,
        total_supply=supply,
        depth_2pct_usd=depth_2pct_usd,
    )


def decode_all(types: Sequence[str], data: bytes | None, what: str) -> tuple[Any, ...]:
    """Decoded return values; IndexerError naming ``what`` if the call failed."""
    if data is None:
        raise IndexerError(f"{what}: call reverted")
    try:
        return decode_abi(tuple(types), data)
    except Exception as exc:
        raise IndexerError(f"{what}: undecodable return data ({exc})") from None


def lower(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k.lower(): v for k, v in values.items()}
