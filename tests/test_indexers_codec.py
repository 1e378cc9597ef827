"""The word-by-word codec of static ABI types against eth_abi, the general codec it stands in
for: the same bytes, the same values, an error wherever eth_abi raises one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError

from indexers.abi import decode_abi, load_abi
from indexers.abi.words import decode_static, encode_static, is_static

TYPES = ["uint256", "uint8", "uint40", "uint128", "int256", "int24", "int16", "bool", "address"]


def _value(kind: str, rng: np.random.Generator) -> Any:
    """A random value of ``kind``, edges of its range drawn often."""
    if kind == "bool":
        return bool(rng.integers(2))
    if kind == "address":
        return "0x" + bytes(rng.integers(0, 256, 20, dtype=np.uint8)).hex()
    bits = int(kind.removeprefix("u").removeprefix("int"))
    low, high = (
        (0, 2**bits - 1) if kind.startswith("u") else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    )
    pick = rng.integers(4)
    if pick == 0:
        return low
    if pick == 1:
        return high
    return low + int.from_bytes(bytes(rng.integers(0, 256, 32, dtype=np.uint8)), "big") % (
        high - low + 1
    )


def test_random_tuples_encode_and_decode_as_eth_abi_does() -> None:
    rng = np.random.default_rng(7)
    for _ in range(400):
        types = [TYPES[i] for i in rng.integers(0, len(TYPES), rng.integers(1, 10))]
        values = [_value(t, rng) for t in types]
        data = encode(types, values)
        assert encode_static(types, values) == data
        assert decode_static(types, data) == decode(types, data) == tuple(values)


@pytest.mark.parametrize(
    ("kind", "word"),
    [
        ("uint8", (256).to_bytes(32, "big")),
        ("uint40", (2**40).to_bytes(32, "big")),
        ("int8", (128).to_bytes(32, "big")),
        ("int8", (-129).to_bytes(32, "big", signed=True)),
        ("bool", (2).to_bytes(32, "big")),
        ("address", b"\x01" + bytes(31)),
        ("bytes4", b"\xab" * 5 + bytes(27)),
    ],
)
def test_dirty_padding_is_refused_like_eth_abi(kind: str, word: bytes) -> None:
    with pytest.raises(DecodingError):
        decode([kind], word)
    with pytest.raises(DecodingError):
        decode_static([kind], word)


def test_short_data_is_refused_and_trailing_bytes_ignored() -> None:
    types = ["uint256", "bool"]
    with pytest.raises(DecodingError):
        decode(types, bytes(63))
    with pytest.raises(DecodingError):
        decode_static(types, bytes(63))
    assert decode_static(types, bytes(64) + b"zz") == decode(types, bytes(64) + b"zz")


def test_values_it_would_have_to_judge_go_to_eth_abi() -> None:
    checksummed = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    cases: list[tuple[list[str], list[object]]] = [
        (["address"], [checksummed]),
        (["uint256"], [True]),
        (["uint8"], [256]),
        (["uint256"], [-1]),
        (["address"], ["0x1234"]),
    ]
    for types, values in cases:
        assert encode_static(types, values) is None
    fn = load_abi("erc20").fn("balanceOf")
    assert fn.encode(checksummed) == fn.encode(checksummed.lower())
    for bad in ("0x1234", True, b"\x01" * 19):
        with pytest.raises(Exception, match="cannot be encoded"):
            encode(["address"], [bad])
        with pytest.raises(Exception, match="cannot be encoded"):
            fn.encode(bad)


def test_dynamic_types_fall_back_and_decode_the_same() -> None:
    assert not is_static(["string"]) and not is_static(["(address,bool,bytes)[]"])
    assert decode_static(["uint256", "string"], bytes(96)) is None
    data = encode(["uint256", "string", "address[]"], [5, "USD Coin", ["0x" + "ab" * 20]])
    assert decode_abi(("uint256", "string", "address[]"), data) == (
        5,
        "USD Coin",
        ("0x" + "ab" * 20,),
    )


def test_get_user_reserve_data_decodes_as_before() -> None:
    fn = load_abi("aave_v3_data_provider").fn("getUserReserveData")
    values = (10**24, 0, 9 * 10**9, 0, 9 * 10**9, 0, 0, 2**40 - 1, True)
    data = encode(list(fn.outputs), list(values))
    assert fn.decode(data) == tuple(decode(list(fn.outputs), data)) == values
    call = fn.encode("0x" + "11" * 20, "0x" + "22" * 20)
    assert call == fn.selector + encode(list(fn.inputs), ["0x" + "11" * 20, "0x" + "22" * 20])
