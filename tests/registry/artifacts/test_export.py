"""Export: a plain export holds no ``predict.py``; with ``ExportMode.FULL`` every format Floe logs
runs from the export's ``predict.py`` in a process that cannot import Floe, and gives what
``mv.run`` gives; what cannot run is refused at export.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import torch
import xgboost as xgb
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeRegressor
from torch import nn

from registry import CustomModel, ExportMode, InvalidInput, ModelVersion, Registry, inference_api
from tests.models import iris, iris_classifier

# Each case starts processes and trains a model: once, on SQLite (the catalog plays no part).
sqlite_only = pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)

# Runs predict.py with Floe made unimportable (``import registry`` raises ImportError), in
# isolated mode (-I: no PYTHON* variables, no user site, no script folder on sys.path).
WITHOUT_FLOE = (
    "import runpy, sys; sys.modules['registry'] = None; sys.argv = sys.argv[1:]; "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


def predict(export: Path, data: pd.DataFrame, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    data.to_parquet(source)
    out.unlink(missing_ok=True)
    return subprocess.run(
        [sys.executable, "-I", "-c", WITHOUT_FLOE, str(export / "predict.py"), str(source),
         str(out), *args],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )


def assert_same_as_run(
    mv: ModelVersion, data: pd.DataFrame, tmp_path: Path, function: str | None, *,
    default: str | None = None,
) -> None:
    """predict.py with ``--function function`` (none when None: the default, ``default``)
    writes what ``mv.run`` returns."""
    export = mv.export(tmp_path / "export", export_mode=ExportMode.FULL)
    done = predict(export, data, tmp_path, *(["--function", function] if function else []))
    assert done.returncode == 0, done.stderr
    got = pd.read_parquet(tmp_path / "out.parquet")
    expected = mv.run(data, function_name=function or default)
    assert list(got.columns) == list(expected.columns)
    for column in expected.columns:
        np.testing.assert_allclose(
            got[column].to_numpy(dtype=float), expected[column].to_numpy(dtype=float),
            rtol=1e-5, atol=1e-6, err_msg=column,
        )


def test_floe_cannot_be_imported_where_predict_runs(tmp_path: Path) -> None:
    """The runner is able to fail: a script that imports Floe fails under it."""
    (tmp_path / "predict.py").write_text("import registry\n")
    done = predict(tmp_path, pd.DataFrame({"a": [1]}), tmp_path)
    assert done.returncode != 0 and "import of registry halted" in done.stderr


@sqlite_only
@pytest.mark.parametrize("function", ["predict", "predict_proba"])
def test_sklearn(reg: Registry, tmp_path: Path, function: str) -> None:
    X, y = iris()
    model = make_pipeline(StandardScaler(), DecisionTreeRegressor(max_depth=3)).fit(X, y)
    clf, _ = iris_classifier()
    chosen = clf if function == "predict_proba" else model
    mv = reg.log_model(chosen, model_name="m", sample_input_data=X[:5])
    assert_same_as_run(mv, X, tmp_path, function)


@sqlite_only
@pytest.mark.parametrize("kind", ["booster", "classifier"])
def test_xgboost(reg: Registry, tmp_path: Path, kind: str) -> None:
    X, y = iris()
    if kind == "booster":
        model: object = xgb.train({"max_depth": 2}, xgb.DMatrix(X, label=y), num_boost_round=5)
        function = None  # predict and explain: the one that is not explain runs by default
    else:
        model = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y)
        function = "predict_proba"
    mv = reg.log_model(model, model_name="m", sample_input_data=X[:5])
    if kind == "booster":
        assert sorted(f.name for f in mv.show_functions()) == ["explain", "predict"]
    assert_same_as_run(mv, X, tmp_path, function, default="predict")


@sqlite_only
@pytest.mark.parametrize("kind", ["booster", "classifier", "regressor"])
def test_lightgbm(reg: Registry, tmp_path: Path, kind: str) -> None:
    X, y = iris()
    small = {"n_estimators": 5, "num_leaves": 4, "min_child_samples": 5, "verbose": -1}
    function: str | None = "predict"
    if kind == "booster":
        model: object = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1,
                                   "num_leaves": 4}, lgb.Dataset(X, y), num_boost_round=5)
    elif kind == "classifier":
        labels = np.array(["setosa", "versicolor", "virginica"])[y]
        model = lgb.LGBMClassifier(**small).fit(X, labels)
        function = "predict_proba"
    else:
        model = lgb.LGBMRegressor(**small).fit(X, y.astype(float))
    mv = reg.log_model(model, model_name="m", sample_input_data=X[:5])
    assert_same_as_run(mv, X, tmp_path, function)
    if kind == "classifier":  # the rebuilt wrapper maps classes back to their labels
        export = tmp_path / "export"
        done = predict(export, X, tmp_path, "--function", "predict")
        assert done.returncode == 0, done.stderr
        expected = mv.run(X, function_name="predict")
        got = pd.read_parquet(tmp_path / "out.parquet")
        assert got.iloc[:, -1].tolist() == expected.iloc[:, -1].tolist()


@sqlite_only
@pytest.mark.parametrize("scripted", [False, True])
def test_torch(reg: Registry, tmp_path: Path, scripted: bool) -> None:
    X, _ = iris()
    torch.manual_seed(0)
    net: nn.Module = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    if scripted:
        net = torch.jit.script(net)
    mv = reg.log_model(net, model_name="m", sample_input_data=X[:5])
    assert_same_as_run(mv, X, tmp_path, None)  # forward is the one function


class Doubler(CustomModel):
    @inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"out": X.iloc[:, 0] * 2})


@sqlite_only
def test_custom_models_are_refused_at_export(reg: Registry, tmp_path: Path) -> None:
    X, _ = iris()
    mv = reg.log_model(Doubler(), model_name="m", sample_input_data=X[:5])
    with pytest.raises(InvalidInput, match="CustomModel's pickle refers to Floe.*ExportMode.MODEL"):
        mv.export(tmp_path / "full", export_mode=ExportMode.FULL)
    assert not (tmp_path / "full").exists()  # refused before anything is written
    assert (mv.export(tmp_path / "plain") / "MANIFEST.yml").is_file()


@sqlite_only
def test_several_functions_need_a_choice(reg: Registry, tmp_path: Path) -> None:
    clf, X = iris_classifier()
    mv = reg.log_model(clf, model_name="m", sample_input_data=X[:5])
    export = mv.export(tmp_path / "export", export_mode=ExportMode.FULL)
    # The first function ran silently before.
    done = predict(export, X, tmp_path)
    assert done.returncode != 0
    assert "functions (decision_function, predict, predict_log_proba, predict_proba)" in done.stderr
    assert "choose one with --function NAME" in done.stderr
    assert not (tmp_path / "out.parquet").exists()
    done = predict(export, X, tmp_path, "--function", "PREDICT")  # names are case-insensitive
    assert done.returncode == 0, done.stderr
    done = predict(export, X, tmp_path, "--function", "explain")
    assert done.returncode != 0 and "explain needs Floe" in done.stderr


def test_export_model_and_full(logged, tmp_path: Path) -> None:
    _reg, mv, clf, X = logged
    plain = mv.export(tmp_path / "plain")
    assert (plain / "MANIFEST.yml").is_file() and (plain / "model" / "model.pkl").is_file()
    assert (plain / "env" / "conda.yml").is_file()
    assert not (plain / "predict.py").exists()
    with pytest.raises(InvalidInput, match="not empty"):
        mv.export(tmp_path / "plain")

    full = mv.export(tmp_path / "full", export_mode=ExportMode.FULL)
    assert (full / "predict.py").is_file() and (full / "README.md").is_file()
    X.to_parquet(tmp_path / "in.parquet")
    subprocess.run(
        [sys.executable, str(full / "predict.py"), str(tmp_path / "in.parquet"),
         str(tmp_path / "out.parquet"), "--function", "predict"],
        check=True, capture_output=True, cwd=tmp_path,
    )
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out["output_feature_0"].tolist() == clf.predict(X).tolist()
    (full / "model" / "model.pkl").write_bytes(b"tampered")
    result = subprocess.run(
        [sys.executable, str(full / "predict.py"), str(tmp_path / "in.parquet"),
         str(tmp_path / "out2.parquet")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode != 0 and "sha256" in result.stderr
