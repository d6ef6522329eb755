"""Floe's quickstart: train, log, alias, list, load, run and explain a model, then the main
job: score a Hive-partitioned table on Ray through the YAML pipeline configs/quickstart.yaml;
last, serve the champion over HTTP on Ray Serve and ask it in three wire formats.

    python examples/quickstart.py        (what `make run` does)

Uses FLOE_HOME (default ~/.floe): an SQLite catalog, a local artifact root and the tables under
FLOE_HOME/data and FLOE_HOME/out; Ray runs locally (and is shut down at the end). No server
is needed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xgboost as xgb
from rich.console import Console
from rich.table import Table
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import accuracy_score, confusion_matrix
from sklearn.model_selection import train_test_split

from registry import NotFound, Registry
from registry.cli import main as floe
from registry.settings import default_artifact_root, default_catalog_url, floe_home

console = Console()
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"
CLINICS = ("NORTH", "SOUTH", "EAST", "WEST")
MONTHS = ("2026-09", "2026-10", "2026-11")


def _table(title: str, frame: pd.DataFrame) -> Table:
    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    return table


def main() -> None:
    console.rule("[bold]Floe quickstart")
    console.print(f"FLOE_HOME  {floe_home()}")
    console.print(f"catalog    {default_catalog_url()}")
    console.print(f"artifacts  {default_artifact_root()}")

    console.print("\n[bold]1. train[/] an xgboost classifier on scikit-learn's breast cancer set")
    data = load_breast_cancer(as_frame=True)
    X = data.data.rename(columns=lambda c: c.replace(" ", "_"))
    X_train, X_test, y_train, y_test = train_test_split(
        X, data.target, test_size=0.25, random_state=0
    )
    clf = xgb.XGBClassifier(n_estimators=50, max_depth=3, learning_rate=0.2)
    clf.fit(X_train, y_train)
    accuracy = accuracy_score(y_test, clf.predict(X_test))
    console.print(f"   test accuracy {accuracy:.3f}")

    reg = Registry(database_name="ML", schema_name="REGISTRY")
    try:
        reg.delete_model("breast_cancer")
        console.print("   (removed the model a previous quickstart left)")
    except NotFound:
        pass

    console.print("\n[bold]2. log[/] it as BREAST_CANCER version V1, then a second version V2")
    mv1 = reg.log_model(
        clf,
        model_name="breast_cancer",
        version_name="v1",
        comment="xgboost, 50 trees",
        metrics={"accuracy": accuracy},
        sample_input_data=X_train.head(20),
        conda_dependencies=["xgboost"],
    )
    mv1.set_metric("confusion_matrix", confusion_matrix(y_test, clf.predict(X_test)))
    clf2 = xgb.XGBClassifier(n_estimators=120, max_depth=4, learning_rate=0.1).fit(
        X_train, y_train
    )
    mv2 = reg.log_model(
        clf2,
        model_name="breast_cancer",
        version_name="v2",
        comment="xgboost, 120 trees",
        metrics={"accuracy": accuracy_score(y_test, clf2.predict(X_test))},
        sample_input_data=X_train.head(20),
    )
    console.print(f"   logged {mv1} and {mv2}")

    console.print("\n[bold]3. govern[/]: alias, default version, tag, comment")
    model = reg.get_model("breast_cancer")
    mv2.set_alias("champion")
    model.default = "v2"
    model.set_tag("team", "oncology")
    model.comment = "Breast cancer classifier (quickstart)"
    console.print(f"   CHAMPION -> {model.version('champion').version_name}, "
                  f"DEFAULT -> {model.default.version_name}, tags {model.show_tags()}")

    console.print()
    console.print(_table("4. models  (reg.show_models())", reg.show_models()[
        ["created_on", "name", "versions", "default_version_name", "aliases", "comment"]
    ]))
    versions = model.show_versions()
    versions["metrics"] = versions["metadata"].map(
        lambda m: {k: v for k, v in json.loads(m)["metrics"].items() if k == "accuracy"}
    )
    console.print(_table(
        "   versions  (model.show_versions())",
        versions[["created_on", "name", "aliases", "is_default_version", "functions", "metrics"]],
    ))

    console.print("\n[bold]5. load[/] the champion back and [bold]run[/] it")
    champion = reg.get_model("breast_cancer").version("champion")
    loaded = champion.load()
    assert np.allclose(loaded.predict_proba(X_test), clf2.predict_proba(X_test))
    console.print(f"   load() -> {type(loaded).__name__}, predictions equal the trained object's")
    scored = champion.run(X_test.head(5), function_name="predict_proba")
    console.print(_table(
        "   champion.run(X_test.head(5), function_name='predict_proba')",
        scored[["mean_radius", "mean_texture", "output_feature_0", "output_feature_1"]]
        .astype(float).round(4),
    ))
    console.print("\n[bold]6. explain[/] the champion's predictions (SHAP, log-odds)")
    explained = champion.run(X_test.head(3), function_name="explain")
    shap_columns = [c for c in explained.columns if c.endswith("_explanation")]
    contributions = explained[shap_columns].astype(float)
    contributions.columns = [c.removesuffix("_explanation") for c in shap_columns]
    table = Table(title="   top features per row  (champion.run(..., function_name='explain'))",
                  title_justify="left")
    for column in ("row", "P(benign)", "pushes towards benign", "pushes towards malignant"):
        table.add_column(column)
    probabilities = scored["output_feature_1"].astype(float)
    for i, (_, row) in enumerate(contributions.iterrows()):
        ranked = row.sort_values()
        up = ", ".join(f"{k} {v:+.2f}" for k, v in ranked[::-1][:3].items() if v > 0)
        down = ", ".join(f"{k} {v:+.2f}" for k, v in ranked[:3].items() if v < 0)
        table.add_row(str(i), f"{probabilities.iloc[i]:.3f}", up or "-", down or "-")
    console.print(table)

    console.print()
    listed = reg.list_artifacts("floe://model/breast_cancer/versions/champion/")
    console.print(_table("7. artifacts  (floe://model/breast_cancer/versions/champion/)",
                         listed[["name", "size", "sha256"]].assign(
                             sha256=listed["sha256"].str[:16] + "…")))

    console.print("\n[bold]8. the main job[/]: score a partitioned table on Ray with a YAML "
                  "pipeline")
    data, out = floe_home() / "data", floe_home() / "out"
    rows = _write_patients(X, data / "patients", rows_per_file=4_000)
    console.print(f"   wrote {rows:,} rows to {data / 'patients'} "
                  f"(clinic=*/month=*, {len(CLINICS) * len(MONTHS) * 2} files)")
    console.print(f"   floe pipeline run {CONFIG.relative_to(Path.cwd()) if CONFIG.is_relative_to(Path.cwd()) else CONFIG}")
    os.environ.setdefault("FLOE_DATA", str(data))
    os.environ.setdefault("FLOE_OUT", str(out))
    status = floe(["pipeline", "run", str(CONFIG)])
    if status != 0:
        sys.exit(status)
    scored = pd.read_parquet(out / "patient_scores")
    by_clinic = (scored.groupby("clinic", observed=True)["output_feature_1"]
                 .agg(rows="size", mean_p_benign="mean").reset_index())
    console.print(_table("   scores by clinic  (pd.read_parquet of the output)",
                         by_clinic.round(3)))
    _serve(X.iloc[:2])
    console.rule(f"[bold green]done[/]  (run again any time; everything is under "
                 f"{floe_home()})")


def _serve(rows: pd.DataFrame) -> None:
    """Step 9: the champion behind HTTP, asked once in each wire format, then shut down."""
    import httpx
    import ray
    from ray import serve as ray_serve

    import serve

    console.print("\n[bold]9. serve[/] the champion over HTTP on Ray Serve")
    if ray.is_initialized():  # the pipeline's; the front starts its own, quieter one
        ray.shutdown()
    try:
        url = serve.start(port=_free_port())
        console.print(f"   floe serve start  -> the front answers at {url}")
        doc = serve.deploy("breast_cancer@champion", num_cpus=0.5)
        console.print(f"   floe serve deploy breast_cancer@champion  -> serves {doc['version']}")
        base = f"{url}/models/breast_cancer/versions/champion"
        values = rows.to_numpy().tolist()
        snowflake = httpx.post(f"{base}/predict", json={
            "data": [[i, *row] for i, row in enumerate(values)]}, timeout=60).json()
        mlflow = httpx.post(f"{base}/invocations", json={"dataframe_split": {
            "columns": list(rows.columns), "data": values}}, timeout=60).json()
        oip = httpx.post(f"{url}/v2/models/breast_cancer/versions/champion/infer", json={
            "inputs": [{"name": c, "datatype": "FP64", "shape": [len(rows)],
                        "data": rows[c].tolist()} for c in rows.columns]}, timeout=60).json()
        table = Table(title="   the same two rows in three formats", title_justify="left")
        table.add_column("format")
        table.add_column("request")
        table.add_column("answer")
        table.add_row("Snowflake", "POST .../predict {data: [[i, f1..f30]]}",
                      json.dumps(snowflake["data"]))
        table.add_row("MLflow", "POST .../invocations {dataframe_split}",
                      json.dumps(mlflow["predictions"]))
        table.add_row("Open Inference", "POST /v2/.../infer",
                      json.dumps({o["name"]: o["data"] for o in oip["outputs"]}))
        console.print(table)
    finally:
        if ray.is_initialized():
            ray_serve.shutdown()
            ray.shutdown()
        console.print("   shut down Serve and Ray")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_patients(X: pd.DataFrame, root: Path, *, rows_per_file: int) -> int:
    """A Hive-partitioned table of patients: clinic=*/month=*/part-N.parquet (replaced)."""
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(7)
    total = 0
    for clinic in CLINICS:
        for month in MONTHS:
            folder = root / f"clinic={clinic}" / f"month={month}"
            folder.mkdir(parents=True)
            for part in range(2):
                sample = X.sample(rows_per_file, replace=True, random_state=rng.integers(1 << 31))
                noisy = sample * rng.normal(1.0, 0.02, size=sample.shape)
                pq.write_table(pa.Table.from_pandas(noisy, preserve_index=False),
                               folder / f"part-{part}.parquet")
                total += rows_per_file
    return total


if __name__ == "__main__":
    main()
