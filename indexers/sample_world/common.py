"""Shared pieces of the sample world: snapshot, identifiers, provenance, tables, exact amounts.

Every on-chain row of the world is stamped with one snapshot, Ethereum block
:data:`SNAPSHOT_BLOCK` at :data:`SNAPSHOT_TIME` (2023-10-31 00:00 UTC, the date of the shipped
Aave v3 configuration). Off-chain rows (chain 0: Deribit options, perpetual futures) carry the
time only. ``source`` says where a row's values come from:

* ``sample-world:<file>``: read from that file shipped in ``contagion/data``;
* ``sample-world:published``: a real contract and parameters taken from a published source
  named in ``docs/sample-world.md`` (Maker executive spells, pool addresses, ...);
* ``sample-world:synthetic``: generated or assumed values (positions, pool balances, ...),
  each assumption stated in ``docs/sample-world.md``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from contagion.schema import TABLES

__all__ = [
    "CHAIN_ID",
    "OFFCHAIN_CHAIN_ID",
    "PUBLISHED",
    "SNAPSHOT_BLOCK",
    "SNAPSHOT_TIME",
    "SYNTHETIC",
    "asset_id",
    "data_source",
    "dequantize",
    "exact_raw",
    "mantissa_unit",
    "offchain_row",
    "onchain_row",
    "quantize",
    "raw_amounts",
    "raw_strings",
    "rows_table",
    "synthetic_address",
]

CHAIN_ID = 1
OFFCHAIN_CHAIN_ID = 0

# Estimated, not read from a node: the Merge block 15,537,394 was produced at 2022-09-15
# 06:42:59 UTC; 35,486,221 s of 12 s slots to 2023-10-31 00:00 UTC with the ~0.8 % of slots
# left empty in 2023 gives 18.47 million (uncertainty about +-10,000 blocks).
SNAPSHOT_BLOCK = 18_470_000
SNAPSHOT_TIME = datetime(2023, 10, 31, tzinfo=UTC)

PUBLISHED = "sample-world:published"
SYNTHETIC = "sample-world:synthetic"

# The finest unit amounts are drawn in: 1e-9 token (or the token's own unit if coarser). It
# keeps the base-unit mantissa of any realistic position inside uint64 (1.8e19 / 1e9 = 1.8e10
# tokens), so raw strings can be made by Arrow casts instead of Python big integers.
_MAX_DRAWN_DECIMALS = 9


def data_source(file: str) -> str:
    """``source`` value of rows read from a data file shipped in ``contagion/data``."""
    return f"sample-world:{file}"


def asset_id(address: str, chain_id: int = CHAIN_ID) -> str:
    """The contract's asset identifier ``"{chain_id}:{address}"`` with a lower-case address."""
    return f"{chain_id}:{address.lower()}"


def synthetic_address(name: str) -> str:
    """A deterministic stand-in address for something the world invents.

    ``"0x" + sha256(name)[:40]``: stable across runs and platforms, and, being a hash, it
    cannot collide with a real contract by accident in any way that matters here.

    >>> synthetic_address("example")
    '0x50d858e0985ecc7f60418aaf0cc5ab587f42c257'
    """
    return "0x" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:40]


def onchain_row(source: str, **fields: Any) -> dict[str, Any]:
    """A row of chain 1 stamped with the snapshot block and time."""
    return {
        "chain_id": CHAIN_ID,
        **fields,
        "source": source,
        "block_number": SNAPSHOT_BLOCK,
        "timestamp": SNAPSHOT_TIME,
    }


def offchain_row(source: str, **fields: Any) -> dict[str, Any]:
    """A row of chain 0 (off-chain venue): no block, the snapshot time."""
    return {
        "chain_id": OFFCHAIN_CHAIN_ID,
        **fields,
        "source": source,
        "block_number": None,
        "timestamp": SNAPSHOT_TIME,
    }


def rows_table(name: str, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Arrow table of contract table ``name`` from row dicts, with the exact contract schema."""
    return pa.Table.from_pylist(list(rows), schema=TABLES[name].schema)


def exact_raw(value: Fraction | Decimal | int | str, decimals: int) -> str:
    """Base-unit integer string of ``value`` whole tokens, rounded half-even to one unit.

    >>> exact_raw("1816.85499606", 8)
    '181685499606'
    >>> exact_raw(Fraction(1, 3), 6)
    '333333'
    """
    scaled = Fraction(Decimal(value)) if isinstance(value, str) else Fraction(value)
    return str(round(scaled * 10**decimals))


def quantize(
    amount: NDArray[np.float64], decimals: NDArray[np.integer[Any]]
) -> tuple[NDArray[np.uint64], NDArray[np.float64]]:
    """Floor whole-token amounts to ``10**-min(decimals, 9)`` token.

    Returns the mantissa (the amount in units of ``10**-min(decimals, 9)`` token, an unsigned
    64-bit integer) and the quantised float amount, exactly ``mantissa / 10**min(decimals, 9)``.
    Flooring (never rounding up) means a quantised position is never worth more than drawn.
    """
    amount = np.asarray(amount, dtype=np.float64)
    kept = np.minimum(np.asarray(decimals, dtype=np.int64), _MAX_DRAWN_DECIMALS)
    if amount.size and (not np.all(np.isfinite(amount)) or amount.min() < 0):
        raise ValueError("amounts must be finite and non-negative")
    scale = np.power(10.0, kept)
    scaled = np.floor(amount * scale)
    if scaled.size and scaled.max() >= 2.0**64:
        raise ValueError("an amount is too large for the uint64 mantissa")
    mantissa = scaled.astype(np.uint64)
    return mantissa, mantissa / scale


def mantissa_unit(decimals: int) -> int:
    """Base units in one unit of a :func:`quantize` mantissa of a token with ``decimals``.

    >>> mantissa_unit(18), mantissa_unit(6)
    (1000000000, 1)
    """
    return 10 ** (decimals - min(decimals, _MAX_DRAWN_DECIMALS))


def dequantize(
    mantissa: NDArray[np.uint64], decimals: NDArray[np.integer[Any]]
) -> NDArray[np.float64]:
    """Whole-token floats of mantissas from :func:`quantize`."""
    kept = np.minimum(np.asarray(decimals, dtype=np.int64), _MAX_DRAWN_DECIMALS)
    result: NDArray[np.float64] = np.asarray(mantissa, dtype=np.uint64) / np.power(10.0, kept)
    return result


def raw_strings(mantissa: NDArray[np.uint64], decimals: NDArray[np.integer[Any]]) -> pa.Array:
    """Base-unit decimal strings of mantissas from :func:`quantize`.

    The string is the mantissa followed by ``decimals - 9`` zeros (none for tokens with 9 or
    fewer decimals), built with Arrow casts and joins rather than Python integers, which keeps
    a million rows well under a second. Zero is written ``"0"``.
    """
    decimals = np.asarray(decimals, dtype=np.int64)
    zeros = decimals - np.minimum(decimals, _MAX_DRAWN_DECIMALS)
    suffixes = pa.array(["0" * z for z in range(int(zeros.max(initial=0)) + 1)])
    digits = pa.array(np.asarray(mantissa, dtype=np.uint64), type=pa.uint64()).cast(pa.string())
    joined = pc.binary_join_element_wise(digits, suffixes.take(pa.array(zeros)), "")
    return pc.if_else(pa.array(np.asarray(mantissa) == 0), pa.scalar("0"), joined)


def raw_amounts(
    amount: NDArray[np.float64], decimals: NDArray[np.integer[Any]]
) -> tuple[pa.Array, NDArray[np.float64]]:
    """Quantise whole-token amounts; return their lossless raw strings and float values.

    ``int(raw) / 10**decimals`` equals the float to float precision (see :func:`quantize`).

    Parameters
    ----------
    amount
        Non-negative whole-token amounts (below 1.8e10 tokens).
    decimals
        ERC-20 decimals of each amount's token.

    Examples
    --------
    >>> raw, value = raw_amounts(np.array([1.5, 0.0, 2.25]), np.array([18, 6, 8]))
    >>> raw.to_pylist()
    ['1500000000000000000', '0', '225000000']
    """
    mantissa, value = quantize(amount, decimals)
    return raw_strings(mantissa, decimals), value
