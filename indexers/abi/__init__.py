"""The protocols' real mainnet ABIs (the subsets the indexers use), read from JSON files here.

Each ``<contract>.json`` is a standard Solidity/Vyper ABI list copied from the verified
mainnet contract (Etherscan): Aave v3 ``Pool``, ``AaveProtocolDataProvider`` and
``AaveOracle``; Compound III ``Comet``; Multicall3; Chainlink ``EACAggregatorProxy``;
Uniswap v2 ``UniswapV2Pair``; Uniswap v3 ``UniswapV3Pool``; Curve ``StableSwap3Pool``;
ERC-20. Selectors and event topics are computed from the canonical signatures
(``keccak256("name(type,...)")``), never typed in, and a test checks each against the
signature written out by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from typing import Any

from eth_abi import decode, encode
from eth_utils import keccak

from indexers.abi.words import decode_static, encode_static

__all__ = ["Abi", "Event", "Function", "decode_abi", "load_abi"]


def _canonical(param: dict[str, Any]) -> str:
    """ABI type string of one parameter, tuples expanded: ``(address,bool,bytes)[]``."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


@dataclass(frozen=True)
class Function:
    """A contract function: selector, argument and result types."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    output_names: tuple[str, ...]

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(self.inputs)})"

    @cached_property
    def selector(self) -> bytes:
        return keccak(text=self.signature)[:4]

    def encode(self, *args: Any) -> bytes:
        """Call data: selector and ABI-encoded arguments."""
        head = encode_static(self.inputs, args)
        if head is None:
            head = encode(list(self.inputs), list(args))
        return self.selector + head

    def decode(self, data: bytes) -> tuple[Any, ...]:
        """The decoded return values (a tuple, one item per output)."""
        return decode_abi(self.outputs, data)


@dataclass(frozen=True)
class Event:
    """A contract event: topic and how to decode a log of it."""

    name: str
    types: tuple[str, ...]
    names: tuple[str, ...]
    indexed: tuple[bool, ...]

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(self.types)})"

    @cached_property
    def topic(self) -> str:
        """``topics[0]`` of its logs, as 0x-prefixed hex."""
        return "0x" + keccak(text=self.signature).hex()

    def decode(self, log: dict[str, Any]) -> dict[str, Any]:
        """Field values of one ``eth_getLogs`` entry by name (addresses lower case)."""
        topics = [bytes.fromhex(str(t).removeprefix("0x")) for t in log["topics"][1:]]
        data = bytes.fromhex(str(log["data"]).removeprefix("0x"))
        plain = tuple(t for t, i in zip(self.types, self.indexed, strict=True) if not i)
        values = iter(decode_abi(plain, data)) if plain else iter(())
        out: dict[str, Any] = {}
        topic_iter = iter(topics)
        for name, kind, is_indexed in zip(self.names, self.types, self.indexed, strict=True):
            value = decode_abi((kind,), next(topic_iter))[0] if is_indexed else next(values)
            out[name] = value.lower() if kind == "address" else value
        return out


def decode_abi(types: tuple[str, ...], data: bytes) -> tuple[Any, ...]:
    """``types`` decoded from ``data``: word by word where every type is static
    (:mod:`indexers.abi.words`), else by ``eth_abi``; the same values and errors either way."""
    values = decode_static(types, data)
    if values is None:
        values = tuple(decode(list(types), data))
    return values


class Abi:
    """The functions and events of one contract ABI."""

    def __init__(self, name: str, entries: list[dict[str, Any]]) -> None:
        self.name = name
        self.functions: dict[str, Function] = {}
        self.events: dict[str, Event] = {}
        for e in entries:
            if e.get("type") == "function":
                self.functions[e["name"]] = Function(
                    e["name"],
                    tuple(_canonical(p) for p in e["inputs"]),
                    tuple(_canonical(p) for p in e["outputs"]),
                    tuple(p.get("name", "") for p in e["outputs"]),
                )
            elif e.get("type") == "event":
                self.events[e["name"]] = Event(
                    e["name"],
                    tuple(_canonical(p) for p in e["inputs"]),
                    tuple(p["name"] for p in e["inputs"]),
                    tuple(bool(p.get("indexed")) for p in e["inputs"]),
                )

    def fn(self, name: str) -> Function:
        try:
            return self.functions[name]
        except KeyError:
            raise KeyError(f"{self.name} ABI has no function {name!r}") from None

    def event(self, name: str) -> Event:
        try:
            return self.events[name]
        except KeyError:
            raise KeyError(f"{self.name} ABI has no event {name!r}") from None

    @property
    def entries(self) -> list[dict[str, Any]]:
        """The ABI list as read from its file (for web3 contracts in tests and tools)."""
        return _entries(self.name)


@cache
def _entries(name: str) -> list[dict[str, Any]]:
    text = resources.files("indexers.abi").joinpath(f"{name}.json").read_text(encoding="utf-8")
    entries: list[dict[str, Any]] = json.loads(text)
    return entries


@cache
def load_abi(name: str) -> Abi:
    """The ABI shipped as ``indexers/abi/<name>.json`` (e.g. ``"comet"``)."""
    return Abi(name, _entries(name))
