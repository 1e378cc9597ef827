"""Deribit option chains: the book-summary export (``public/get_book_summary_by_currency``
joined with each instrument's ticker, as ``deribit_data_collector`` writes it) into
``option_series``.

Columns read (per row, one instrument): ``instrument_name`` (``BTC-26JUN20-9000-C``),
``option_type`` (call / put), ``expiration_timestamp`` and ``timestamp`` (milliseconds since
the epoch), ``strike`` and ``underlying_price`` (USD), ``index_price`` (USD),
``open_interest`` (units of the underlying coin), ``mark_price`` (in the underlying coin:
Deribit quotes options inversely) and ``mark_iv`` (percent). Every other column is ignored.

Transform: ``mark_price`` becomes USD as ``mark_price * index_price``; ``mark_iv`` a fraction;
the underlying is the off-chain coin the instrument name starts with (``0:btc``, ``0:eth``,
priced at the median ``index_price``); dealers are long calls and short puts
(``dealer_sign`` +1 / -1), the convention behind published gamma-exposure estimates
(customers buy puts and overwrite calls). Each row keeps its own observation time.

Bad input raises :class:`~contagion.exceptions.SchemaError` naming the file, the row (its
line in the file) and the column.

References
----------
Deribit API v2: ``public/get_book_summary_by_currency``, ``public/ticker`` (field meanings).
SqueezeMetrics (2017). Gamma Exposure (GEX) white paper (dealer positioning convention).
"""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from contagion.exceptions import SchemaError
from contagion.schema import TABLES
from indexers.sample_world.common import OFFCHAIN_CHAIN_ID, rows_table

__all__ = [
    "BOOK_SUMMARY_COLUMNS",
    "DEALER_SIGN",
    "DERIBIT_PROTOCOL",
    "import_deribit",
    "option_series_table",
    "read_book_summary",
]

DERIBIT_PROTOCOL = "deribit"
DEALER_SIGN = {"call": 1, "put": -1}
BOOK_SUMMARY_COLUMNS = (
    "instrument_name",
    "option_type",
    "expiration_timestamp",
    "timestamp",
    "strike",
    "underlying_price",
    "index_price",
    "open_interest",
    "mark_price",
    "mark_iv",
)
_NUMERIC = BOOK_SUMMARY_COLUMNS[2:]
_POSITIVE = ("expiration_timestamp", "timestamp", "strike", "underlying_price", "index_price")
_COINS = {"BTC": ("Bitcoin", 8), "ETH": ("Ether", 18)}


def read_book_summary(source: str | os.PathLike[str], *, text: str | None = None) -> pd.DataFrame:
    """The checked option rows of a book-summary CSV, sorted by instrument name.

    Parameters
    ----------
    source
        The file (read unless ``text`` is given; always the name used in errors).
    text
        The file's content, when it was read already (e.g. from package data).

    Raises
    ------
    SchemaError
        Naming the file, row (line in the file) and column of the first bad value: a
        missing column, a non-numeric or negative number, an unknown option type, an
        instrument name that is not ``COIN-EXPIRY-STRIKE-C|P``.
    """
    name = str(source)
    try:
        raw = text if text is not None else Path(source).read_text(encoding="utf-8")
        frame = pd.read_csv(io.StringIO(raw), dtype={"instrument_name": str, "option_type": str})
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SchemaError(f"not a readable CSV file ({exc})", file=name) from None
    missing = [c for c in BOOK_SUMMARY_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"missing column(s) {', '.join(missing)} of a Deribit book summary",
            file=name,
            column=missing[0],
        )
    if frame.empty:
        raise SchemaError("no option rows", file=name)
    frame = frame[list(BOOK_SUMMARY_COLUMNS)].copy()
    line = np.arange(len(frame)) + 2  # the header is line 1

    def fail(column: str, mask: np.ndarray, what: str) -> None:
        i = int(np.flatnonzero(mask)[0])
        value = frame[column].iloc[i]
        raise SchemaError(
            f"{value!r} {what} (line {line[i]} of the file, instrument "
            f"{frame['instrument_name'].iloc[i]!r})",
            file=name,
            column=column,
            rows=[int(line[i])],
        )

    for column in _NUMERIC:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = (values.isna() | ~np.isfinite(values.astype(float))).to_numpy()
        if bad.any():
            fail(column, bad, "is not a number")
        frame[column] = values.astype(float)
        negative = (values < 0) if column not in _POSITIVE else (values <= 0)
        if negative.to_numpy().any():
            fail(column, negative.to_numpy(), "must be > 0" if column in _POSITIVE else "is < 0")
    kind = frame["option_type"].fillna("")
    bad_kind = ~kind.isin(list(DEALER_SIGN)).to_numpy()
    if bad_kind.any():
        fail("option_type", bad_kind, "is not call or put")
    parts = frame["instrument_name"].fillna("").str.split("-")
    coin = parts.str[0]
    suffix = parts.str[-1].map({"C": "call", "P": "put"})
    bad_name = (
        (frame["instrument_name"].fillna("").str.count("-") != 3)
        | ~coin.isin(list(_COINS))
        | (suffix != kind)
    ).to_numpy()
    if bad_name.any():
        fail(
            "instrument_name",
            bad_name,
            f"is not COIN-EXPIRY-STRIKE-C|P of a known coin ({', '.join(_COINS)}) "
            "matching option_type",
        )
    duplicate = frame["instrument_name"].duplicated().to_numpy()
    if duplicate.any():
        fail("instrument_name", duplicate, "appears twice")
    frame["expiration_timestamp"] = frame["expiration_timestamp"].astype(np.int64)
    frame["timestamp"] = frame["timestamp"].astype(np.int64)
    return frame.sort_values("instrument_name", kind="stable").reset_index(drop=True)


def snapshot_time(chain: pd.DataFrame) -> datetime:
    """When the chain was read: the median of its rows' millisecond timestamps."""
    seconds = round(float(chain["timestamp"].median()) / 1000.0)
    return datetime.fromtimestamp(seconds, tz=UTC)


def underlying_id(coin: str) -> str:
    """The off-chain asset of a Deribit currency: ``0:btc``, ``0:eth``."""
    return f"{OFFCHAIN_CHAIN_ID}:{coin.lower()}"


def option_series_table(chain: pd.DataFrame, source: str) -> pa.Table:
    """``option_series`` rows of checked book-summary rows (see the module docstring)."""
    n = len(chain)
    coin = chain["instrument_name"].str.split("-").str[0]
    frame = pd.DataFrame(
        {
            "chain_id": np.full(n, OFFCHAIN_CHAIN_ID, dtype=np.int64),
            "series_id": chain["instrument_name"].to_numpy(),
            "protocol_id": DERIBIT_PROTOCOL,
            "underlying_asset_id": coin.map(underlying_id).to_numpy(),
            "expiry": pd.to_datetime(chain["expiration_timestamp"], unit="ms", utc=True),
            "strike": chain["strike"].to_numpy(),
            "option_type": chain["option_type"].to_numpy(),
            "open_interest": chain["open_interest"].to_numpy(),
            "mark_iv": chain["mark_iv"].to_numpy() / 100.0,
            "mark_price": chain["mark_price"].to_numpy() * chain["index_price"].to_numpy(),
            "underlying_price": chain["underlying_price"].to_numpy(),
            "dealer_sign": chain["option_type"].map(DEALER_SIGN).to_numpy(dtype=np.int8),
            "source": [f"{source}#{i}" for i in chain["instrument_name"]],
            "block_number": pd.array([None] * n, dtype="Int64"),
            "timestamp": pd.to_datetime(chain["timestamp"], unit="ms", utc=True).dt.floor("s"),
        }
    )
    return pa.Table.from_pandas(frame, schema=TABLES["option_series"].schema, preserve_index=False)


def import_deribit(path: str | os.PathLike[str]) -> dict[str, pa.Table]:
    """The tables of one book-summary export: ``option_series`` and what it refers to
    (``chains`` row of the off-chain venues, the ``deribit`` protocol, the underlying coins
    priced at their median index price)."""
    chain = read_book_summary(path)
    source = f"deribit:{Path(path).name}"
    when = snapshot_time(chain)
    common = {"source": source, "block_number": None, "timestamp": when}
    coin = chain["instrument_name"].str.split("-").str[0]
    assets = []
    for c in sorted(set(coin)):
        label, decimals = _COINS[c]
        price = float(chain.loc[coin == c, "index_price"].median())
        assets.append(
            {
                "chain_id": OFFCHAIN_CHAIN_ID,
                "asset_id": underlying_id(c),
                "address": c.lower(),
                "symbol": c,
                "name": label,
                "kind": "native",
                "decimals": decimals,
                "underlying_asset_id": None,
                "price_usd": price,
                "total_supply_raw": None,
                "total_supply": None,
                "depth_2pct_usd": None,
                **common,
            }
        )
    chains = [{"chain_id": OFFCHAIN_CHAIN_ID, "name": "offchain", "native_symbol": "-", **common}]
    protocol = {
        "chain_id": OFFCHAIN_CHAIN_ID,
        "protocol_id": DERIBIT_PROTOCOL,
        "name": "Deribit",
        "kind": "derivative",
        "family": "deribit",
        "address": None,
        **common,
    }
    return {
        "chains": rows_table("chains", chains),
        "protocols": rows_table("protocols", [protocol]),
        "assets": rows_table("assets", assets),
        "option_series": option_series_table(chain, source),
    }
