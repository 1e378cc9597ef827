"""Reading, validating and writing datasets: the data contract is enforced on every read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from handmade import TS, WETH, small_tables

from contagion import TABLES, Dataset, SchemaError, load_dataset
from contagion.schema import table_spec


def _write(tmp_path: Path, tables: dict[str, pa.Table] | None = None) -> Path:
    return Dataset(tables or small_tables()).write(tmp_path / "ds")


def test_round_trip_keeps_every_value(tmp_path: Path) -> None:
    original = Dataset(small_tables())
    path = original.write(tmp_path / "ds")
    assert sorted(p.name for p in path.iterdir()) == sorted(
        ["chains", "protocols", "assets", "lending_positions"]
    )
    files = list((path / "lending_positions").glob("*.parquet"))
    assert [f.name for f in files] == ["ethereum__lending_positions__18470000_to_18470000.parquet"]
    loaded = load_dataset(path)
    for name in TABLES:
        assert loaded.table(name).equals(original.table(name)), name
    frame = loaded.df("lending_positions")
    assert isinstance(frame, pd.DataFrame)
    assert frame["collateral_amount_raw"].tolist()[0] == "2000000000000000000"
    assert loaded.row_counts()["oracle_feeds"] == 0


def test_raw_amounts_are_lossless_beyond_float_precision(tmp_path: Path) -> None:
    tables = small_tables()
    big = str(2**256 - 1)
    positions = tables["lending_positions"].to_pydict()
    positions["collateral_amount_raw"][0] = big
    tables["lending_positions"] = pa.table(positions)
    loaded = load_dataset(_write(tmp_path, tables))
    assert loaded.table("lending_positions").column("collateral_amount_raw")[0].as_py() == big


def test_missing_column_names_file_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path)
    file = next((path / "lending_positions").glob("*.parquet"))
    pq.write_table(pq.read_table(file).drop_columns(["debt_amount"]), file)
    with pytest.raises(SchemaError) as info:
        load_dataset(path)
    err = info.value
    assert err.table == "lending_positions"
    assert err.column == "debt_amount"
    assert err.file == str(file)
    assert "missing column" in str(err) and str(file) in str(err)


def test_files_written_before_a_column_was_added_read_it_as_null(tmp_path: Path) -> None:
    # lending_markets.target_reserves and reserves joined the contract after datasets were
    # written without them: such files load, the columns null; any other missing column
    # is still an error (above).
    from contagion import sample_world

    path = sample_world(positions=200, seed=1).write(tmp_path / "world")
    files = list((path / "lending_markets").glob("*.parquet"))
    for file in files:
        pq.write_table(pq.read_table(file).drop_columns(["target_reserves", "reserves"]), file)
    markets = load_dataset(path).table("lending_markets")
    assert markets.column("reserves").null_count == markets.num_rows > 0
    assert markets.column("target_reserves").null_count == markets.num_rows
    added = [c.name for c in table_spec("lending_markets").columns if c.null_if_absent]
    assert added == ["target_reserves", "reserves"]
    with pytest.raises(ValueError, match="only a nullable column"):
        type(table_spec("lending_markets").columns[0])(
            "x", pa.float64(), "doc", null_if_absent=True
        )


def test_wrong_type_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path)
    file = next((path / "assets").glob("*.parquet"))
    table = pq.read_table(file)
    idx = table.schema.get_field_index("decimals")
    table = table.set_column(idx, "decimals", pa.array(["18", "6"]))
    pq.write_table(table, file)
    with pytest.raises(SchemaError, match=r"column 'decimals'.*type string, expected int32"):
        load_dataset(path)


def test_negative_amount_names_row(tmp_path: Path) -> None:
    tables = small_tables()
    positions = tables["lending_positions"].to_pydict()
    positions["debt_amount"][2] = -5.0
    path = _write(tmp_path)
    # The bad file is written by hand: Dataset.write would refuse the value itself.
    file = next((path / "lending_positions").glob("*.parquet"))
    pq.write_table(pa.table(positions, schema=TABLES["lending_positions"].schema), file)
    with pytest.raises(SchemaError) as info:
        load_dataset(path)
    assert info.value.column == "debt_amount"
    assert info.value.rows == [2]
    assert "must not be negative" in str(info.value)


@pytest.mark.parametrize("bad", [float("nan"), 0.0, -1.0])
def test_bad_prices_are_rejected(bad: float) -> None:
    tables = small_tables()
    assets = tables["assets"].to_pydict()
    assets["price_usd"][1] = bad
    tables["assets"] = pa.table(assets, schema=TABLES["assets"].schema)
    with pytest.raises(SchemaError) as info:
        Dataset(tables)
    assert info.value.column == "price_usd"
    assert info.value.rows == [1]


def test_unknown_reference_is_rejected() -> None:
    tables = small_tables()
    positions = tables["lending_positions"].to_pydict()
    positions["asset_id"][1] = "1:0xdead"
    tables["lending_positions"] = pa.table(positions)
    with pytest.raises(SchemaError, match=r"unknown assets.asset_id '1:0xdead'"):
        Dataset(tables)


def test_unknown_protocol_is_rejected() -> None:
    tables = small_tables()
    positions = tables["lending_positions"].to_pydict()
    positions["protocol_id"] = ["compound-v9"] * 3
    tables["lending_positions"] = pa.table(positions)
    with pytest.raises(SchemaError) as info:
        Dataset(tables)
    assert info.value.column == "protocol_id"
    assert info.value.rows == [0, 1, 2]


def test_raw_amount_must_be_digits() -> None:
    tables = small_tables()
    positions = tables["lending_positions"].to_pydict()
    positions["debt_amount_raw"][0] = "1e18"
    tables["lending_positions"] = pa.table(positions)
    with pytest.raises(SchemaError, match="decimal digits"):
        Dataset(tables)


def test_duplicate_key_is_rejected() -> None:
    tables = small_tables()
    tables["lending_positions"] = pa.concat_tables(
        [tables["lending_positions"], tables["lending_positions"].slice(0, 1)]
    )
    with pytest.raises(SchemaError, match="duplicate key"):
        Dataset(tables)


def test_choice_column_is_checked() -> None:
    tables = small_tables()
    protocols = tables["protocols"].to_pydict()
    protocols["kind"] = ["bank"]
    tables["protocols"] = pa.table(protocols)
    with pytest.raises(SchemaError, match="must be one of lending"):
        Dataset(tables)


def test_provenance_requires_block_or_timestamp() -> None:
    tables = small_tables()
    chains = tables["chains"].to_pydict()
    chains["block_number"] = [None]
    chains["timestamp"] = [None]
    tables["chains"] = pa.table(chains, schema=TABLES["chains"].schema)
    with pytest.raises(SchemaError, match="provenance"):
        Dataset(tables)


def test_not_parquet_is_a_schema_error(tmp_path: Path) -> None:
    path = _write(tmp_path)
    file = next((path / "assets").glob("*.parquet"))
    file.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(SchemaError, match="not a readable Parquet file") as info:
        load_dataset(path)
    assert info.value.file == str(file)


def test_missing_folder_is_a_schema_error(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="does not exist"):
        load_dataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SchemaError, match="no dataset table folders"):
        load_dataset(tmp_path / "empty")


def test_from_pandas_frames() -> None:
    frames = {name: t.to_pandas() for name, t in small_tables().items()}
    ds = Dataset(frames)
    assert ds.row_counts()["lending_positions"] == 3
    assert ds.table("assets").schema.equals(table_spec("assets").schema)


def test_failed_write_leaves_previous_dataset_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path)
    before = sorted(p.relative_to(path) for p in path.rglob("*"))

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", boom)
    with pytest.raises(OSError, match="disk full"):
        Dataset(small_tables()).write(path)
    assert sorted(p.relative_to(path) for p in path.rglob("*")) == before
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "ds"]
    assert leftovers == []


def test_validation_is_vectorised_on_large_tables() -> None:
    # 200k rows validate through Arrow kernels; a NaN deep inside is still found.
    n = 200_000
    tables = small_tables()
    amounts = np.full(n, 1.5)
    amounts[123_456] = np.nan
    tables["lending_positions"] = pa.table(
        {
            "chain_id": np.ones(n, dtype=np.int64),
            "account": [f"0x{i:040x}" for i in range(n)],
            "protocol_id": ["aave-v3-ethereum"] * n,
            "asset_id": [WETH] * n,
            "collateral_amount_raw": ["1500000000000000000"] * n,
            "collateral_amount": amounts,
            "debt_amount_raw": ["0"] * n,
            "debt_amount": np.zeros(n),
            "used_as_collateral": np.ones(n, dtype=bool),
            "emode_category": np.zeros(n, dtype=np.int32),
            "source": ["test"] * n,
            "block_number": np.full(n, 18_470_000, dtype=np.int64),
            "timestamp": pa.array([TS] * n, pa.timestamp("s", tz="UTC")),
        }
    )
    with pytest.raises(SchemaError) as info:
        Dataset(tables)
    assert info.value.rows == [123_456]
