"""The Deribit importer on the real book-summary export, and its errors on bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from contagion import load_dataset
from contagion.exceptions import SchemaError
from indexers.base import write_tables
from indexers.deribit import import_deribit, read_book_summary
from indexers.sample_world.reference import load_reference

CSV = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "deribit"
    / ("btc-options-2020-05-14.csv")
)


@pytest.fixture(scope="module")
def export() -> pd.DataFrame:
    if not CSV.exists():
        pytest.skip(f"shared data file {CSV.name} is absent")
    return pd.read_csv(CSV)


def test_import_gives_one_series_per_instrument_in_usd(
    export: pd.DataFrame, tmp_path: Path
) -> None:
    write_tables(tmp_path / "ds", import_deribit(CSV))
    series = load_dataset(tmp_path / "ds").table("option_series").to_pandas()
    assert len(series) == len(export) == 310
    row = series.set_index("series_id").loc["BTC-26JUN20-8000-C"]
    src = export.set_index("instrument_name").loc["BTC-26JUN20-8000-C"]
    assert row["strike"] == 8000.0 and row["option_type"] == "call" and row["dealer_sign"] == 1
    assert row["mark_iv"] == pytest.approx(src["mark_iv"] / 100)
    assert row["mark_price"] == pytest.approx(src["mark_price"] * src["index_price"])
    assert row["open_interest"] == src["open_interest"] == 771.0
    assert row["expiry"] == pd.Timestamp(int(src["expiration_timestamp"]), unit="ms", tz="UTC")
    assert row["underlying_asset_id"] == "0:btc"
    assert (series.loc[series["option_type"] == "put", "dealer_sign"] == -1).all()
    assert series["open_interest"].sum() == pytest.approx(export["open_interest"].sum())


def test_sample_world_reads_the_export_through_the_importer(export: pd.DataFrame) -> None:
    shipped = load_reference().deribit
    mine = read_book_summary(CSV)
    pd.testing.assert_frame_equal(shipped, mine)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("strike", "abc", "'abc' is not a number"),
        ("open_interest", "-1", "is < 0"),
        ("option_type", "straddle", "is not call or put"),
        ("instrument_name", "BTC-26JUN20-8000", "COIN-EXPIRY-STRIKE-C|P"),
        ("index_price", "0", "must be > 0"),
    ],
)
def test_bad_value_names_file_line_and_column(
    export: pd.DataFrame, tmp_path: Path, column: str, value: str, message: str
) -> None:
    bad = export.astype({column: object})
    bad.loc[6, column] = value
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(SchemaError) as info:
        import_deribit(path)
    text = str(info.value)
    assert str(path) in text and f"column {column!r}" in text and message in text
    assert "line 8 of the file" in text  # header is line 1, row 6 is line 8


def test_missing_column_and_unreadable_file(export: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "no-iv.csv"
    export.drop(columns=["mark_iv"]).to_csv(path, index=False)
    with pytest.raises(SchemaError, match="missing column"):
        import_deribit(path)
    with pytest.raises(SchemaError, match="not a readable CSV"):
        import_deribit(tmp_path / "absent.csv")
