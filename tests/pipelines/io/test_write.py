"""pipelines.io._write on real files, S3 (moto) and the session's shared local Ray: the atomic
commit, write modes, a failed run, and an output that overlaps its input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
import pyarrow.fs as pafs
import pytest
import ray

from pipelines import (
    Filter,
    InputSpec,
    OutputSpec,
    check_output_path,
    list_input_files,
    read_table,
    write_table,
)
from registry import AlreadyExists, InvalidInput
from tests.pipelines.io import (
    HIVE,
    REGIONS,
    assert_same_rows,
    collect,
    fail_on_high_ids,
    leftovers,
    reference,
    snapshot,
    with_score,
    write_events,
)
from tests.s3server import S3Server


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
        ds.map_batches(with_score, batch_format="pyarrow"),
        OutputSpec(path=str(output), partition_by=["date", "region"]),
        run_id="run-1",
    )

    expr = pc.field("date").isin(["2026-11-01", "2026-11-03"]) & (pc.field("f2") < 0.8)
    want = with_score(reference(table, expr, spec.columns))
    got = reference(output, None, None)
    assert_same_rows(got, want)
    assert result.rows == want.num_rows
    assert result.partitions == [
        {"date": d, "region": r} for d in ("2026-11-01", "2026-11-03") for r in REGIONS
    ]
    on_disk = sorted(str(p) for p in output.rglob("*.parquet"))
    assert result.files == on_disk
    assert all(Path(f).name.startswith("part-run-1.") for f in on_disk)
    assert (output / "_SUCCESS").exists() and leftovers(output) == []


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
    assert_same_rows(collect(back), reference(table, expr, None))


@pytest.mark.usefixtures("ray_local")
def test_modes_refuse_replace_and_append(tmp_path: Path) -> None:
    output = tmp_path / "out"
    first = pa.table({"id": np.arange(10), "day": ["a"] * 5 + ["b"] * 5})
    second = pa.table({"id": np.arange(100, 106), "day": ["b"] * 6})
    spec = OutputSpec(path=str(output), partition_by=["day"])
    assert write_table(ray.data.from_arrow(first), spec, run_id="r1").rows == 10
    before = snapshot(output)

    # error_if_exists refuses before any work: the Dataset would fail if it ran
    poisoned = ray.data.from_arrow(second).map_batches(fail_on_high_ids, batch_format="pyarrow")
    with pytest.raises(AlreadyExists, match="output.mode: overwrite") as info:
        write_table(poisoned, spec, run_id="r2")
    assert str(output) in info.value.message and "append" in info.value.message
    assert snapshot(output) == before and leftovers(output) == []

    overwrite = spec.model_copy(update={"mode": "overwrite"})
    for _ in range(2):  # a re-run replaces, never duplicates
        write_table(ray.data.from_arrow(second), overwrite, run_id="r3")
        assert_same_rows(reference(output, None, ["id", "day"]), second)

    append = spec.model_copy(update={"mode": "append"})
    write_table(ray.data.from_arrow(first), append, run_id="r4")
    write_table(ray.data.from_arrow(first), append, run_id="r4")  # same run: replaces its files
    assert_same_rows(reference(output, None, ["id", "day"]), pa.concat_tables([second, first]))
    assert leftovers(output) == []

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
    before = snapshot(output)
    # several blocks: the first ones are written to staging before the failing one raises
    blocks = [pa.table({"id": np.arange(i, i + 50)}) for i in range(0, 200, 50)]
    failing = ray.data.from_arrow(blocks).map_batches(fail_on_high_ids, batch_format="pyarrow")
    with pytest.raises(Exception, match="scoring failed on purpose"):
        write_table(failing, OutputSpec(path=str(output), mode="overwrite"), run_id="r2")
    assert snapshot(output) == before
    assert leftovers(output) == []


def test_output_must_not_overlap_input(tmp_path: Path) -> None:
    source = InputSpec(path=str(tmp_path / "lake" / "events"))
    for bad in ("lake/events", "lake/events/scores", "lake"):
        with pytest.raises(InvalidInput, match="separate directory"):
            check_output_path(OutputSpec(path=str(tmp_path / bad)), inputs=[source])
    check_output_path(OutputSpec(path=str(tmp_path / "lake" / "scores")), inputs=[source])
    with pytest.raises(InvalidInput, match="no parent directory"):
        check_output_path(OutputSpec(path="/"))


@pytest.mark.usefixtures("ray_local")
def test_object_store_read_and_commit(s3_server: S3Server, s3_prefix: str, tmp_path: Path) -> None:
    """On S3 (moto) the same API works; the commit copies, then deletes what it replaces."""
    local = write_events(tmp_path / "events")
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
    assert_same_rows(back, reference(local, pc.field("date") == "2026-11-03", None))
