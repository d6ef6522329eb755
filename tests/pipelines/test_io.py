"""pipelines.io on real files and the session's shared local Ray: partition pruning, the
atomic commit, write modes, and recovery from a crash in the middle of a commit."""

from __future__ import annotations

import datetime
import hashlib
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as pds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
import ray
from pydantic import ValidationError

from pipelines import (
    Filter,
    InputSpec,
    OutputSpec,
    check_output_path,
    list_input_files,
    read_table,
    write_table,
)
from registry import AlreadyExists, InvalidInput, NotFound
from tests.ray_fixtures import ray_local  # noqa: F401
from tests.s3server import S3Server, s3_prefix_fixture, s3_server_fixture  # noqa: F401

DATES = ["2026-11-01", "2026-11-02", "2026-11-03"]
REGIONS = ["EU", "US"]
ROWS_PER_FILE = 20
HIVE = pds.HivePartitioning.discover(infer_dictionary=False)


def _write_table(root: Path, fmt: str = "parquet") -> Path:
    """date=D/region=R/part-N files: 3 dates x 2 regions x 2 files, ``id`` unique."""
    rng = np.random.default_rng(7)
    next_id = 0
    for date in DATES:
        for region in REGIONS:
            folder = root / f"date={date}" / f"region={region}"
            folder.mkdir(parents=True)
            for n in range(2):
                ids = np.arange(next_id, next_id + ROWS_PER_FILE)
                next_id += ROWS_PER_FILE
                part = pa.table(
                    {
                        "id": ids,
                        "f1": rng.random(len(ids)),
                        "f2": rng.normal(size=len(ids)),
                        "bucket": ids % 3,
                    }
                )
                if fmt == "parquet":
                    pq.write_table(part, folder / f"part-{n}.parquet")
                else:
                    pacsv.write_csv(part, folder / f"part-{n}.csv")
    return root


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared input table; tests must not modify it (copy it first)."""
    return _write_table(tmp_path_factory.mktemp("in") / "events")


def _reference(
    root: Path, expr: pc.Expression | None, columns: list[str] | None, fmt: str = "parquet"
) -> pa.Table:
    """The in-process read: pyarrow.dataset over the whole directory."""
    return pds.dataset(root, format=fmt, partitioning=HIVE).to_table(filter=expr, columns=columns)


def _collect(ds: ray.data.Dataset) -> pa.Table:
    return pa.concat_tables(ray.get(ds.to_arrow_refs()))


def _assert_same_rows(got: pa.Table, want: pa.Table) -> None:
    assert sorted(got.column_names) == sorted(want.column_names)
    got = got.select(sorted(got.column_names)).sort_by("id")
    want = want.select(sorted(want.column_names)).sort_by("id").cast(got.schema)
    assert got.num_rows == want.num_rows > 0
    assert got.equals(want)


def _snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` and its sha256: to compare a tree byte for byte."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _leftovers(output: Path) -> list[str]:
    return sorted(p.name for p in output.parent.iterdir() if p.name.startswith(f".{output.name}."))


def _score(batch: pa.Table) -> pa.Table:
    score = pc.add(pc.multiply(batch["f1"], 2.0), batch["f2"])
    return batch.append_column("score", score)


def _fail_on_high_ids(batch: pa.Table) -> pa.Table:
    if pc.any(pc.greater_equal(batch["id"], 100)).as_py():
        raise RuntimeError("scoring failed on purpose")
    return batch


# ------------------------------------------------------------------------------ specs


def test_specs_validate_and_default_to_error_if_exists() -> None:
    out = OutputSpec(path="out")
    assert (out.mode, out.format, out.partition_by) == ("error_if_exists", "parquet", None)
    spec = InputSpec.model_validate(
        {
            "path": "t",
            "filters": [
                {"column": "date", "op": ">=", "value": datetime.date(2026, 11, 2)},
                {"column": "region", "op": "in", "value": ["EU"]},
            ],
        }
    )
    assert (spec.format, spec.partitioning) == ("parquet", "hive")
    with pytest.raises(ValidationError, match="use op: in"):
        Filter(column="region", op="==", value=["EU", "US"])
    with pytest.raises(ValidationError, match=r"write value: \['EU'\]"):
        Filter(column="region", op="in", value="EU")
    with pytest.raises(ValidationError, match="extra"):
        InputSpec.model_validate({"path": "t", "colums": ["id"]})
    with pytest.raises(ValidationError, match="more than once"):
        InputSpec(path="t", columns=["id", "id"])
    with pytest.raises(ValidationError, match="mode"):
        OutputSpec.model_validate({"path": "o", "mode": "upsert"})
    with pytest.raises(ValidationError, match="frozen"):
        out.mode = "overwrite"  # type: ignore[misc]


# ------------------------------------------------------------------------------ reading


def test_partition_filters_select_files_without_opening_any(table: Path) -> None:
    spec = InputSpec(
        path=str(table),
        filters=[
            # YAML's unquoted 2026-11-02 is a date; it compares with the hive string as ISO text
            Filter(column="date", op=">=", value=datetime.date(2026, 11, 2)),
            Filter(column="region", op="not in", value=["EU"]),
        ],
    )
    assert list_input_files(spec) == [
        str(table / f"date={d}/region=US/part-{n}.parquet") for d in DATES[1:] for n in (0, 1)
    ]
    assert len(list_input_files(InputSpec(path=str(table)))) == 12
    assert list_input_files(InputSpec(path=str(table / "date=2026-11-01/region=EU/part-0.parquet")))


def test_bad_inputs_name_every_problem(table: Path) -> None:
    with pytest.raises(NotFound, match="check input.path"):
        list_input_files(InputSpec(path=str(table / "nope")))
    with pytest.raises(NotFound, match="check the filter values"):
        list_input_files(
            InputSpec(path=str(table), filters=[Filter(column="region", op="==", value="APAC")])
        )
    with pytest.raises(InvalidInput, match="give a string value"):
        list_input_files(
            InputSpec(path=str(table), filters=[Filter(column="region", op="==", value=3)])
        )
    unpartitioned = InputSpec(path=str(table), partitioning=None, columns=["id", "region"])
    with pytest.raises(InvalidInput, match="no column 'region'"):
        list_input_files(unpartitioned)
    bad = InputSpec(
        path=str(table),
        columns=["id", "nope"],
        filters=[Filter(column="missing", op=">", value=1), Filter(column="f1", op=">", value="x")],
    )
    with pytest.raises(InvalidInput, match="fix input.columns or input.filters") as info:
        list_input_files(bad)
    message = info.value.message
    assert "'nope', 'missing'" in message and "f1 > 'x'" in message and "give a double" in message


@pytest.mark.usefixtures("ray_local")
def test_unmatched_files_are_never_opened(table: Path, tmp_path: Path) -> None:
    root = _write_table(tmp_path / "events")  # the same seed: a copy of ``table``
    corrupt = root / "date=2026-11-01/region=EU/part-0.parquet"
    corrupt.write_bytes(b"this is not parquet")
    matching = InputSpec(
        path=str(root),
        columns=["id", "f1", "date", "region"],
        filters=[
            Filter(column="region", op="==", value="US"),
            Filter(column="f1", op=">", value=0.5),
        ],
    )
    assert str(corrupt) not in list_input_files(matching)
    expr = (pc.field("region") == "US") & (pc.field("f1") > 0.5)
    _assert_same_rows(_collect(read_table(matching)), _reference(table, expr, matching.columns))
    with pytest.raises(InvalidInput, match="magic bytes") as info:  # the unfiltered read opens it
        _collect(read_table(InputSpec(path=str(root))))
    assert "readable table file" in info.value.message


@pytest.mark.usefixtures("ray_local")
def test_distributed_run_equals_in_process_run(table: Path, tmp_path: Path) -> None:
    spec = InputSpec(
        path=str(table),
        columns=["id", "f1", "f2", "date", "region"],
        filters=[
            Filter(column="date", op="in", value=["2026-11-01", "2026-11-03"]),
            Filter(column="f2", op="<", value=0.8),
        ],
    )
    ds = read_table(spec)
    assert ds.schema().names == ["id", "f1", "f2", "date", "region"]
    output = tmp_path / "scores"
    result = write_table(
        ds.map_batches(_score, batch_format="pyarrow"),
        OutputSpec(path=str(output), partition_by=["date", "region"]),
        run_id="run-1",
    )

    expr = pc.field("date").isin(["2026-11-01", "2026-11-03"]) & (pc.field("f2") < 0.8)
    want = _score(_reference(table, expr, spec.columns))
    got = _reference(output, None, None)
    _assert_same_rows(got, want)
    assert result.rows == want.num_rows
    assert result.partitions == [
        {"date": d, "region": r} for d in ("2026-11-01", "2026-11-03") for r in REGIONS
    ]
    on_disk = sorted(str(p) for p in output.rglob("*.parquet"))
    assert result.files == on_disk
    assert all(Path(f).name.startswith("part-run-1.") for f in on_disk)
    assert (output / "_SUCCESS").exists() and _leftovers(output) == []


@pytest.mark.usefixtures("ray_local")
def test_csv_read_with_partition_pruning(tmp_path: Path) -> None:
    root = _write_table(tmp_path / "csv", fmt="csv")
    spec = InputSpec(
        path=str(root),
        format="csv",
        columns=["id", "f1", "bucket", "region"],
        filters=[
            Filter(column="region", op="==", value="EU"),
            Filter(column="bucket", op="!=", value=0),
        ],
    )
    assert len(list_input_files(spec)) == 6
    expr = (pc.field("region") == "EU") & (pc.field("bucket") != 0)
    _assert_same_rows(_collect(read_table(spec)), _reference(root, expr, spec.columns, fmt="csv"))


# ------------------------------------------------------------------------------ writing


@pytest.mark.usefixtures("ray_local")
def test_write_by_other_keys_and_read_back(table: Path, tmp_path: Path) -> None:
    output = tmp_path / "by_bucket"
    result = write_table(
        read_table(
            InputSpec(path=str(table), filters=[Filter(column="date", op="==", value="2026-11-02")])
        ),
        OutputSpec(path=str(output), partition_by=["bucket"]),
        run_id="r1",
    )
    assert result.partitions == [{"bucket": "0"}, {"bucket": "1"}, {"bucket": "2"}]
    assert {p.name for p in output.iterdir() if p.is_dir()} == {"bucket=0", "bucket=1", "bucket=2"}
    back = read_table(
        InputSpec(path=str(output), filters=[Filter(column="bucket", op=">=", value=1)])
    )
    assert back.schema().types[back.schema().names.index("bucket")] == pa.int64()
    expr = (pc.field("date") == "2026-11-02") & (pc.field("bucket") >= 1)
    _assert_same_rows(_collect(back), _reference(table, expr, None))


@pytest.mark.usefixtures("ray_local")
def test_modes_refuse_replace_and_append(tmp_path: Path) -> None:
    output = tmp_path / "out"
    first = pa.table({"id": np.arange(10), "day": ["a"] * 5 + ["b"] * 5})
    second = pa.table({"id": np.arange(100, 106), "day": ["b"] * 6})
    spec = OutputSpec(path=str(output), partition_by=["day"])
    assert write_table(ray.data.from_arrow(first), spec, run_id="r1").rows == 10
    before = _snapshot(output)

    # error_if_exists refuses before any work: the Dataset would fail if it ran
    poisoned = ray.data.from_arrow(second).map_batches(_fail_on_high_ids, batch_format="pyarrow")
    with pytest.raises(AlreadyExists, match="output.mode: overwrite") as info:
        write_table(poisoned, spec, run_id="r2")
    assert str(output) in info.value.message and "append" in info.value.message
    assert _snapshot(output) == before and _leftovers(output) == []

    overwrite = spec.model_copy(update={"mode": "overwrite"})
    for _ in range(2):  # a re-run replaces, never duplicates
        write_table(ray.data.from_arrow(second), overwrite, run_id="r3")
        _assert_same_rows(_reference(output, None, ["id", "day"]), second)

    append = spec.model_copy(update={"mode": "append"})
    write_table(ray.data.from_arrow(first), append, run_id="r4")
    write_table(ray.data.from_arrow(first), append, run_id="r4")  # same run: replaces its files
    _assert_same_rows(_reference(output, None, ["id", "day"]), pa.concat_tables([second, first]))
    assert _leftovers(output) == []

    with pytest.raises(InvalidInput, match=r"partitioned by \['day'\], this append by \[\]"):
        write_table(
            ray.data.from_arrow(first), OutputSpec(path=str(output), mode="append"), run_id="r5"
        )
    with pytest.raises(InvalidInput, match="run_id"):
        write_table(ray.data.from_arrow(first), overwrite, run_id="../escape")
    with pytest.raises(InvalidInput, match="which the results do not have"):
        write_table(
            ray.data.from_arrow(first),
            OutputSpec(path=str(tmp_path / "o2"), partition_by=["nope"]),
            run_id="r6",
        )


@pytest.mark.usefixtures("ray_local")
def test_failed_run_leaves_previous_output_intact(tmp_path: Path) -> None:
    output = tmp_path / "out"
    write_table(
        ray.data.from_arrow(pa.table({"id": np.arange(5)})),
        OutputSpec(path=str(output)),
        run_id="r1",
    )
    before = _snapshot(output)
    # several blocks: the first ones are written to staging before the failing one raises
    blocks = [pa.table({"id": np.arange(i, i + 50)}) for i in range(0, 200, 50)]
    failing = ray.data.from_arrow(blocks).map_batches(_fail_on_high_ids, batch_format="pyarrow")
    with pytest.raises(Exception, match="scoring failed on purpose"):
        write_table(failing, OutputSpec(path=str(output), mode="overwrite"), run_id="r2")
    assert _snapshot(output) == before
    assert _leftovers(output) == []


@pytest.mark.usefixtures("ray_local")
def test_crash_between_the_two_renames_is_recovered(tmp_path: Path) -> None:
    """The state a run killed mid-commit leaves: output renamed aside, staging complete."""
    output = _write_table(tmp_path / "out")
    before = _snapshot(output)
    staging = tmp_path / ".out.floe-staging-r9"
    (staging / "x=1").mkdir(parents=True)
    pq.write_table(pa.table({"id": [1]}), staging / "x=1" / "part-r9.00000.parquet")
    os.rename(output, tmp_path / ".out.floe-old-r9")

    assert len(list_input_files(InputSpec(path=str(output)))) == 12  # a read recovers first
    assert _snapshot(output) == before and _leftovers(output) == []

    # a commit that finished but did not delete the old copy: the next writer deletes it
    (tmp_path / ".out.floe-old-r8").mkdir()
    with pytest.raises(AlreadyExists, match=r"already holds 12 data file\(s\).*choose another output\.path"):
        write_table(ray.data.from_items([{"id": 1}]), OutputSpec(path=str(output)), run_id="r10")
    assert _leftovers(output) == [] and _snapshot(output) == before


def test_output_must_not_overlap_input(tmp_path: Path) -> None:
    source = InputSpec(path=str(tmp_path / "lake" / "events"))
    for bad in ("lake/events", "lake/events/scores", "lake"):
        with pytest.raises(InvalidInput, match="separate directory"):
            check_output_path(OutputSpec(path=str(tmp_path / bad)), inputs=[source])
    check_output_path(OutputSpec(path=str(tmp_path / "lake" / "scores")), inputs=[source])
    with pytest.raises(InvalidInput, match="no parent directory"):
        check_output_path(OutputSpec(path="/"))


def test_an_overlap_is_refused_however_the_locations_are_spelled(tmp_path: Path) -> None:
    """``file:///data/../data/iris`` over ``/data/iris`` replaced the whole input table: every
    spelling of the same place, and every nesting in either direction, is refused."""
    events = tmp_path / "lake" / "events"
    (events / "region=EU").mkdir(parents=True)
    (tmp_path / "link").symlink_to(events, target_is_directory=True)
    (tmp_path / "lake-link").symlink_to(tmp_path / "lake", target_is_directory=True)
    uri = f"file://{tmp_path}"
    same_or_nested = [
        f"{uri}/lake/../lake/events",  # the reported case
        f"{uri}/lake/events/",
        f"{uri}//lake//events",
        f"{uri}/lake/./events/scores",
        f"{uri}/lake/ev%65nts",
        f"{uri}/lake",  # the input is inside the output
        f"{uri}/lake/events/region=EU",
        str(tmp_path / "link"),  # a symlink to the input directory
        f"{uri}/link",
        f"{uri}/link/scores",
        f"{uri}/lake-link/events",
        f"{tmp_path}/lake-link/../lake/events/",
    ]
    for written_as in ("plain", "uri"):
        path = str(events) if written_as == "plain" else f"{uri}/x/../lake/events/"
        source = InputSpec(path=path)
        for bad in same_or_nested:
            with pytest.raises(InvalidInput, match=r"overlaps input .* separate directory"):
                check_output_path(OutputSpec(path=bad, mode="overwrite"), inputs=[source])
    # a bind mount or any other second name of the input directory: found by its inode
    source = InputSpec(path=f"{uri}/link/")
    with pytest.raises(InvalidInput, match="overlaps input"):
        check_output_path(OutputSpec(path=str(events / "scores")), inputs=[source])
    for fine in (f"{uri}/lake/scores", f"{uri}/lake/events2", str(tmp_path / "lake-link" / "x")):
        check_output_path(OutputSpec(path=fine), inputs=[InputSpec(path=f"{uri}/link")])


def test_a_uri_that_does_not_parse_is_an_invalid_input() -> None:
    """``urlsplit`` raised a bare ValueError while the message was being built."""
    for path in ("s3://[bad/x", "s3://user:se[cret@bucket/x"):
        with pytest.raises(InvalidInput, match="cannot open input path .*give a local path or a URI") as info:
            list_input_files(InputSpec(path=path))
        assert "cret" not in info.value.message


def test_an_object_store_overlap_is_refused_however_the_key_is_spelled() -> None:
    options = "?region=us-east-1"
    source = InputSpec(path=f"s3://lake/tables/events{options}")
    for bad in ("s3://lake/tables/events/", "s3://lake//tables/x/../events", "s3://LAKE/tables",
                "s3://lake/tables/./events/scores",
                "s3://lake/tables/events?region=eu-west-1&endpoint_override=127.0.0.1:9&scheme=http"):
        output = bad if "?" in bad else bad + options
        with pytest.raises(InvalidInput, match="overlaps input"):
            check_output_path(OutputSpec(path=output, mode="overwrite"), inputs=[source])
    for fine in ("s3://lake/tables/events2", "s3://other/tables/events", "s3://lake/scores/x"):
        check_output_path(OutputSpec(path=fine + options), inputs=[source])


@pytest.mark.usefixtures("ray_local")
def test_object_store_read_and_commit(s3_server: S3Server, s3_prefix: str, tmp_path: Path) -> None:
    """On S3 (moto) the same API works; the commit copies, then deletes what it replaces."""
    local = _write_table(tmp_path / "events")
    client = s3_server.client()
    for path in sorted(local.rglob("*.parquet")):
        key = f"{s3_prefix}/events/{path.relative_to(local).as_posix()}"
        client.put_object(Bucket=s3_server.bucket, Key=key, Body=path.read_bytes())

    # Keys in the URI: the Ray workers started before the fixture set AWS_* in this process
    def uri(prefix: str) -> str:
        return s3_server.root(prefix).replace("s3://", "s3://testing:testing@", 1)

    root = uri(f"{s3_prefix}/events")
    spec = InputSpec(path=root, filters=[Filter(column="date", op="==", value="2026-11-03")])
    files = list_input_files(spec)
    assert files == [
        f"s3://{s3_server.bucket}/{s3_prefix}/events/date=2026-11-03/region={r}/part-{n}.parquet"
        for r in REGIONS
        for n in (0, 1)
    ]
    out = OutputSpec(path=uri(f"{s3_prefix}/scores"), partition_by=["region"], mode="overwrite")
    for run_id in ("r1", "r2"):
        result = write_table(read_table(spec), out, run_id=run_id)
    keys = [k for k in s3_server.keys(f"{s3_prefix}/scores") if not k.endswith("/")]  # dir markers
    assert keys == sorted(
        [f"{s3_prefix}/scores/_SUCCESS"]
        + [f.removeprefix(f"s3://{s3_server.bucket}/") for f in result.files]
    )
    assert all("part-r2." in k for k in keys if k.endswith(".parquet"))  # r1's are deleted
    assert not any(".floe-staging-" in k for k in s3_server.keys(s3_prefix))
    fs, path = pafs.FileSystem.from_uri(out.path)
    back = pds.dataset(path, filesystem=fs, partitioning=HIVE).to_table()
    _assert_same_rows(back, _reference(local, pc.field("date") == "2026-11-03", None))
