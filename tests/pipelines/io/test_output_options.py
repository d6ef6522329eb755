"""pipelines.io output options on the session's shared local Ray: float columns without
dictionary pages, the configured codec, bounded row groups, and a bad codec refused with its
YAML line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray

from pipelines import OutputSpec, parse_config, write_table
from pipelines.io._sink import ROW_GROUP_BYTES, dictionary_columns, row_group_rows
from registry import InvalidInput
from tests.pipelines.pipeline_data import GOOD

ROWS = 6000
FLOATS = {"x", "prediction", "emb.list.element"}
OTHERS = {"id", "label", "tags.list.element"}


def _scored(batch: pa.Table) -> pa.Table:
    """A model's output: the input with a float32 prediction (the schema is unknown to the
    Dataset until it runs, as after any map_batches)."""
    x = batch.column("x").to_numpy()
    return batch.append_column("prediction", pa.array((x * 0.5).astype(np.float32)))


def _results(rows: int = ROWS) -> ray.data.Dataset:
    rng = np.random.default_rng(3)
    table = pa.table({
        "id": np.arange(rows, dtype=np.int64),
        "x": rng.standard_normal(rows),
        "label": pa.array(["a", "b", "c"] * (rows // 3)),
        "emb": pa.array([[float(i), 0.5] for i in range(rows)], pa.list_(pa.float64())),
        "tags": pa.array([["t"]] * rows, pa.list_(pa.string())),
        "region": pa.array(["EU", "US"] * (rows // 2)),
    })
    return ray.data.from_arrow(table).repartition(3).map_batches(_scored, batch_format="pyarrow")


def _column_chunks(output: Path) -> list[tuple[str, pq.ColumnChunkMetaData, int]]:
    """(file, column chunk, rows of its row group) for every chunk written."""
    found = []
    for path in sorted(output.rglob("*.parquet")):
        meta = pq.ParquetFile(path).metadata
        for i in range(meta.num_row_groups):
            group = meta.row_group(i)
            found += [(path.name, group.column(j), group.num_rows) for j in range(group.num_columns)]
    return found


def _is_dictionary(chunk: pq.ColumnChunkMetaData) -> bool:
    return any("DICTIONARY" in e for e in chunk.encodings) or chunk.has_dictionary_page


@pytest.mark.usefixtures("ray_local")
def test_floats_have_no_dictionary_the_codec_is_the_configs_and_row_groups_are_bounded(
    tmp_path: Path,
) -> None:
    output = tmp_path / "scores"
    spec = OutputSpec(path=str(output), partition_by=["region"], compression="zstd",
                      row_group_size=700)
    result = write_table(_results(), spec, run_id="run-7")

    chunks = _column_chunks(output)
    assert result.rows == ROWS and len(result.files) >= 2
    assert {c.path_in_schema for _, c, _ in chunks} == FLOATS | OTHERS
    assert all(name.startswith("part-run-7.") for name, _, _ in chunks)
    assert [c.path_in_schema for _, c, _ in chunks if c.path_in_schema in FLOATS
            and _is_dictionary(c)] == []
    assert all(_is_dictionary(c) for _, c, _ in chunks if c.path_in_schema in OTHERS)
    assert {c.compression for _, c, _ in chunks} == {"ZSTD"}
    assert max(rows for _, _, rows in chunks) <= 700
    assert pq.read_table(output).num_rows == ROWS


@pytest.mark.usefixtures("ray_local")
def test_the_default_is_snappy_in_row_groups_of_about_32_mib(tmp_path: Path) -> None:
    output = tmp_path / "scores"
    write_table(_results(), OutputSpec(path=str(output)), run_id="run-8")
    chunks = _column_chunks(output)
    assert {c.compression for _, c, _ in chunks} == {"SNAPPY"}
    assert not any(_is_dictionary(c) for _, c, _ in chunks if c.path_in_schema in FLOATS)
    # a small table: one row group per file, as row_group_rows allows 32 MiB
    assert all(rows <= ROWS for _, _, rows in chunks)


def test_row_group_rows_fill_32_mib_within_bounds() -> None:
    wide = pa.table({f"f{i}": np.zeros(10) for i in range(2000)})  # 16,000 bytes a row
    narrow = pa.table({"x": np.zeros(100)})  # 8 bytes a row
    medium = pa.table({f"f{i}": np.zeros(100) for i in range(32)})  # 256 bytes a row
    assert row_group_rows([wide]) == 4096  # 2,097 would fit: at least 4,096
    assert row_group_rows([narrow, narrow]) == 1024**2  # 4M would fit: at most 1,048,576
    assert row_group_rows([medium]) == ROW_GROUP_BYTES // 256 == 131072
    assert row_group_rows([]) == 1024**2


def test_dictionary_columns_are_every_non_float_leaf() -> None:
    schema = pa.schema({
        "id": pa.int64(), "p": pa.float32(), "h": pa.float16(), "s": pa.string(),
        "v": pa.list_(pa.float64(), 4), "t": pa.large_list(pa.string()),
        "st": pa.struct({"a": pa.float64(), "b": pa.int32()}),
        "m": pa.map_(pa.string(), pa.float64()),
        "d": pa.dictionary(pa.int8(), pa.string()),
    })
    assert dictionary_columns(schema) == [
        "id", "s", "t.list.element", "st.b", "m.key_value.key", "d",
    ]


def test_a_bad_codec_is_refused_with_its_line_and_the_allowed_ones() -> None:
    text = GOOD.replace("  mode: overwrite\n", "  mode: overwrite\n  compression: lzo\n")
    with pytest.raises(InvalidInput) as info:
        parse_config(text, source="configs/x.yaml")
    assert ("configs/x.yaml: line 12: output.compression: Input should be 'none', 'snappy', "
            "'lz4', 'zstd', 'gzip' or 'brotli' (got 'lzo')") in info.value.message
    with pytest.raises(InvalidInput, match=r"line 12: output.row_group_size: .*greater than 0"):
        parse_config(GOOD.replace("  mode: overwrite\n", "  mode: overwrite\n  row_group_size: 0\n"))
    cfg = parse_config(GOOD.replace("  mode: overwrite\n", "  mode: overwrite\n  compression: none\n"))
    assert cfg.output.compression == "none"
