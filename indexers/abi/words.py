"""Static ABI types encoded and decoded word by word, without the general codec's machinery.

A value of a static ("head-only") type is one 32-byte word in the Solidity ABI: ``uint<M>``
and ``int<M>`` big-endian (two's complement), ``address`` right-aligned in 20 bytes,
``bool`` as 0 or 1, ``bytes<M>`` left-aligned (Solidity ABI specification, "Formal
Specification of the Encoding"). Most reads an indexer makes, arguments and results alike,
are tuples of such words: ``getUserReserveData(address,address)`` returns nine of them. The
general codec (``eth_abi``) builds and validates a decoder tree per call, which costs more
than a fast node needs to answer; these functions do the same work with slicing and
``int.from_bytes`` and keep ``eth_abi``'s strict checks (non-zero padding, a bool that is
neither 0 nor 1, too little data) with its exception types.

Each function returns None for a type list it does not cover (dynamic types, tuples,
arrays), so the caller falls back to ``eth_abi``; :func:`encode_static` does the same for an
argument it would need to interpret (a checksummed or byte-string address).

Reference: https://docs.soliditylang.org/en/latest/abi-spec.html
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from eth_abi.exceptions import InsufficientDataBytes, NonEmptyPaddingBytes

__all__ = ["decode_static", "encode_static", "is_static"]

_INT = re.compile(r"(u?)int(\d*)$")
_FIXED_BYTES = re.compile(r"bytes(\d+)$")
_LOWER_HEX_ADDRESS = re.compile(r"0x[0-9a-f]{40}$")
_Decoder = Callable[[bytes], Any]
_Encoder = Callable[[Any], "bytes | None"]


def _uint_decoder(bits: int) -> _Decoder:
    limit = 1 << bits

    def decode(word: bytes) -> int:
        value = int.from_bytes(word, "big")
        if value >= limit:
            raise NonEmptyPaddingBytes(f"Padding bytes were not empty: {word[: 32 - bits // 8]!r}")
        return value

    return decode


def _int_decoder(bits: int) -> _Decoder:
    low, high = -(1 << (bits - 1)), 1 << (bits - 1)

    def decode(word: bytes) -> int:
        value = int.from_bytes(word, "big", signed=True)
        if not low <= value < high:
            raise NonEmptyPaddingBytes(f"Padding bytes were not empty: {word[: 32 - bits // 8]!r}")
        return value

    return decode


def _decode_bool(word: bytes) -> bool:
    value = int.from_bytes(word, "big")
    if value > 1:
        raise NonEmptyPaddingBytes(f"Boolean must be either 0x0 or 0x1.  Got: {word[-1:]!r}")
    return value == 1


def _decode_address(word: bytes) -> str:
    if any(word[:12]):
        raise NonEmptyPaddingBytes(f"Padding bytes were not empty: {word[:12]!r}")
    return "0x" + word[12:].hex()


def _bytes_decoder(size: int) -> _Decoder:
    def decode(word: bytes) -> bytes:
        if any(word[size:]):
            raise NonEmptyPaddingBytes(f"Padding bytes were not empty: {word[size:]!r}")
        return word[:size]

    return decode


def _uint_encoder(bits: int) -> _Encoder:
    limit = 1 << bits

    def encode(value: Any) -> bytes | None:
        if type(value) is not int or not 0 <= value < limit:
            return None
        return value.to_bytes(32, "big")

    return encode


def _int_encoder(bits: int) -> _Encoder:
    low, high = -(1 << (bits - 1)), 1 << (bits - 1)

    def encode(value: Any) -> bytes | None:
        if type(value) is not int or not low <= value < high:
            return None
        return value.to_bytes(32, "big", signed=True)

    return encode


def _encode_bool(value: Any) -> bytes | None:
    if type(value) is not bool:
        return None
    return int(value).to_bytes(32, "big")


def _encode_address(value: Any) -> bytes | None:
    # Lower-case hex only: a mixed-case string must pass eth_abi's checksum validation.
    if type(value) is not str or not _LOWER_HEX_ADDRESS.match(value):
        return None
    return bytes(12) + bytes.fromhex(value[2:])


@cache
def _codec(kind: str) -> tuple[_Decoder, _Encoder | None] | None:
    """Decoder and encoder of one static type (None if not static or not covered)."""
    if kind == "address":
        return _decode_address, _encode_address
    if kind == "bool":
        return _decode_bool, _encode_bool
    m = _INT.match(kind)
    if m is not None:
        bits = int(m.group(2) or 256)
        if not (8 <= bits <= 256 and bits % 8 == 0):
            return None
        if m.group(1):
            return _uint_decoder(bits), _uint_encoder(bits)
        return _int_decoder(bits), _int_encoder(bits)
    m = _FIXED_BYTES.match(kind)
    if m is not None and 1 <= int(m.group(1)) <= 32:
        return _bytes_decoder(int(m.group(1))), None
    return None


@cache
def _codecs(types: tuple[str, ...]) -> tuple[tuple[_Decoder, _Encoder | None], ...] | None:
    found = [_codec(t) for t in types]
    if any(c is None for c in found):
        return None
    return tuple(c for c in found if c is not None)


def is_static(types: Sequence[str]) -> bool:
    """Whether every type of ``types`` is one these functions handle.

    >>> is_static(["address", "uint40", "bool"]), is_static(["bytes"])
    (True, False)
    """
    return _codecs(tuple(types)) is not None


def decode_static(types: Sequence[str], data: bytes) -> tuple[Any, ...] | None:
    """Values of ``types`` at the head of ``data`` (None if a type is not static).

    Raises ``eth_abi``'s ``InsufficientDataBytes`` when ``data`` is shorter than the head and
    ``NonEmptyPaddingBytes`` where its strict decoder would; trailing bytes are ignored, as
    there.

    >>> decode_static(["uint8", "bool"], bytes(31) + b"\\x07" + bytes(31) + b"\\x01")
    (7, True)
    """
    codecs = _codecs(tuple(types))
    if codecs is None:
        return None
    need = 32 * len(codecs)
    if len(data) < need:
        raise InsufficientDataBytes(f"Tried to read {need} bytes, only got {len(data)} bytes.")
    return tuple(dec(data[32 * i : 32 * i + 32]) for i, (dec, _) in enumerate(codecs))


def encode_static(types: Sequence[str], values: Sequence[Any]) -> bytes | None:
    """The head of ``values`` as ``types``, or None where the general codec must decide
    (a type that is not static, a value out of range or of another Python type, an address
    that is not lower-case hex), so its validation and errors apply unchanged.

    >>> encode_static(["uint256"], [1]).hex()[-4:]
    '0001'
    >>> encode_static(["uint8"], [256]) is None
    True
    """
    codecs = _codecs(tuple(types))
    if codecs is None or len(values) != len(codecs):
        return None
    out = []
    for (_, enc), value in zip(codecs, values, strict=True):
        word = enc(value) if enc is not None else None
        if word is None:
            return None
        out.append(word)
    return b"".join(out)
