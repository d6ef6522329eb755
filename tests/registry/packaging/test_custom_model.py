"""Custom models: artifacts, sub-models, decorated functions, shipped code, safe loading."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from registry import (
    CustomModel,
    IntegrityError,
    InvalidInput,
    ModelContext,
    ModelError,
    NotFound,
    Registry,
    inference_api,
    partitioned_api,
)
from tests.models import breast_cancer, iris, iris_classifier


class Thresholded(CustomModel):
    """Reads its config in __init__ and its label names at predict time, through the context."""

    def __init__(self, context: ModelContext) -> None:
        super().__init__(context)
        self.threshold = json.loads(Path(context.path("config")).read_text())["threshold"]

    @inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        proba = self.context.model_ref("clf").predict_proba(X)
        names = Path(self.context.path("labels"), "names.txt").read_text().split()
        best = proba.argmax(axis=1)
        return pd.DataFrame(
            {"label": np.asarray(names)[best], "is_confident": proba.max(axis=1) > self.threshold}
        )

    @inference_api
    def score(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"p_max": self.context["clf"].predict_proba(X).max(axis=1)})


class Partitioned(CustomModel):
    @inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"n": np.ones(len(X), dtype=np.int64)})

    @partitioned_api
    def summarize(self, X: pd.DataFrame) -> pd.DataFrame:
        """One row per partition, from all of its rows."""
        return pd.DataFrame({"rows": [len(X)], "mean_petal_length": [X["petal_length"].mean()]})


class WrapsBooster(CustomModel):
    def __init__(self, context: ModelContext) -> None:
        super().__init__(context)
        self.booster = context.model_ref("xgb")  # a sub-model kept in an attribute

    @inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"p": self.booster.predict_proba(X)[:, 1]})


class NoFunctions(CustomModel):
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return X


class ReturnsText(CustomModel):
    @inference_api
    def predict(self, X: pd.DataFrame) -> str:
        return "oops"


@pytest.fixture
def thresholded(tmp_path: Path) -> tuple[Thresholded, pd.DataFrame]:
    config = tmp_path / "train" / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"threshold": 0.9}))
    labels = tmp_path / "train" / "labels"
    (labels / "extra").mkdir(parents=True)
    (labels / "names.txt").write_text("setosa versicolor virginica")
    (labels / "extra" / "README").write_text("a nested file, copied with its folder")
    clf, X = iris_classifier()
    ctx = ModelContext(artifacts={"config": config, "labels": labels}, models={"clf": clf})
    return Thresholded(ctx), X


def test_artifacts_and_sub_model_round_trip(
    reg: Registry, artifact_root: Path, thresholded: tuple[Thresholded, pd.DataFrame]
) -> None:
    model, X = thresholded
    mv = reg.log_model(model, model_name="m", version_name="v1", sample_input_data=X[:10])
    root = artifact_root / "versions" / mv.id
    stored = {p.relative_to(root).as_posix() for p in (root / "model").rglob("*") if p.is_file()}
    assert stored == {
        "model/model.pkl",
        "model/artifacts/config/config.json",
        "model/artifacts/labels/labels/names.txt",
        "model/artifacts/labels/labels/extra/README",
        "model/models/clf/model.pkl",
    }
    manifest = yaml.safe_load((root / "MANIFEST.yml").read_text())
    assert (manifest["framework"], manifest["task"]) == ("custom", "UNKNOWN")
    section = manifest["model"]
    assert section["models"]["clf"]["framework"] == "sklearn"
    assert section["models"]["clf"]["spec"]["path"] == "model/models/clf/model.pkl"

    loaded = mv.load()
    assert isinstance(loaded, Thresholded) and loaded.threshold == 0.9
    # The version's own copy: in the private verified copy it was loaded from, not the root.
    config_copy = Path(loaded.context.path("config"))
    assert config_copy.read_bytes() == (root / "model/artifacts/config/config.json").read_bytes()
    assert config_copy.as_posix().endswith("model/artifacts/config/config.json")
    assert root not in config_copy.parents
    assert loaded.context.model_ref("clf") is loaded.context["clf"]
    for function in ("predict", "score"):
        expected = getattr(model, function)(X)
        out = mv.run(X, function_name=function)
        pd.testing.assert_frame_equal(out[list(expected.columns)], expected)


def test_show_functions_lists_each_decorated_method_with_its_outputs(
    reg: Registry, thresholded: tuple[Thresholded, pd.DataFrame]
) -> None:
    model, X = thresholded
    mv = reg.log_model(model, model_name="m", version_name="v1", sample_input_data=X[:10])
    functions = {f.name: f for f in mv.show_functions()}
    assert sorted(functions) == ["predict", "score"]
    for f in functions.values():
        assert f.signature is not None and not f.is_partitioned
        assert [i.name for i in f.signature.inputs] == list(X.columns)
    predict_outputs = functions["predict"].signature.outputs  # type: ignore[union-attr]
    assert [(o.name, o.dtype.value) for o in predict_outputs] == [
        ("label", "STRING"), ("is_confident", "BOOL")
    ]
    assert [o.name for o in functions["score"].signature.outputs] == ["p_max"]  # type: ignore[union-attr]


def test_partitioned_api_is_recorded_and_called_once_per_partition(reg: Registry) -> None:
    X, y = iris()
    mv = reg.log_model(Partitioned(), model_name="m", version_name="v1", sample_input_data=X[:10])
    functions = {f.name: f for f in mv.show_functions()}
    assert {name: f.is_partitioned for name, f in functions.items()} == {
        "predict": False, "summarize": True
    }
    outputs = functions["summarize"].signature.outputs  # type: ignore[union-attr]
    assert [o.name for o in outputs] == ["rows", "mean_petal_length"]
    out = mv.run(X.assign(species=y), function_name="summarize", partition_column="species")
    expected = X.groupby(y)["petal_length"].mean()
    assert out["species"].tolist() == [0, 1, 2] and out["rows"].tolist() == [50, 50, 50]
    np.testing.assert_allclose(out["mean_petal_length"], expected.to_numpy())


def test_xgboost_sub_model_is_saved_natively_not_pickled(
    tmp_path: Path, artifact_root: Path
) -> None:
    import xgboost as xgb

    X, y = breast_cancer()
    booster = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y)
    model = WrapsBooster(ModelContext(models={"xgb": booster}))
    reg = Registry(catalog_url=f"sqlite:///{tmp_path}/c.db", artifact_root=str(artifact_root))
    mv = reg.log_model(model, model_name="m", version_name="v1", sample_input_data=X[:10])

    root = artifact_root / "versions" / mv.id
    assert (root / "model/models/xgb/model.ubj").is_file()
    assert [p.relative_to(root).as_posix() for p in root.rglob("*.pkl")] == ["model/model.pkl"]
    assert b"xgboost" not in (root / "model/model.pkl").read_bytes()
    section = yaml.safe_load((root / "MANIFEST.yml").read_text())["model"]["models"]["xgb"]
    assert section["framework"] == "xgboost"
    assert section["spec"]["path"] == "model/models/xgb/model.ubj"

    loaded = mv.load()
    assert isinstance(loaded, WrapsBooster)
    assert loaded.booster is loaded.context.model_ref("xgb")  # the reference was re-bound
    np.testing.assert_allclose(mv.run(X)["p"], booster.predict_proba(X)[:, 1], rtol=1e-6)


def test_a_custom_model_nests_in_another(tmp_path: Path) -> None:
    from registry.handlers.custom import CustomHandler

    clf, X = iris_classifier()
    inner = Partitioned(ModelContext(models={"clf": clf}))
    outer = Partitioned(ModelContext(models={"inner": inner}))
    assert set(CustomHandler().distributions_for(outer)) == {
        "cloudpickle", "pandas", "numpy", "scikit-learn"
    }
    reg = Registry(catalog_url=f"sqlite:///{tmp_path}/c.db", artifact_root=str(tmp_path / "a"))
    mv = reg.log_model(outer, model_name="m", version_name="v1", sample_input_data=X[:10])
    root = tmp_path / "a" / "versions" / mv.id
    assert (root / "model/models/inner/model.pkl").is_file()
    assert (root / "model/models/inner/models/clf/model.pkl").is_file()
    loaded = mv.load()
    assert isinstance(loaded, Partitioned)
    loaded_clf = loaded.context.model_ref("inner").context.model_ref("clf")  # type: ignore[attr-defined]
    assert (loaded_clf.predict(X) == clf.predict(X)).all()


def test_manifest_records_the_sub_models_frameworks(
    tmp_path: Path, thresholded: tuple[Thresholded, pd.DataFrame]
) -> None:
    model, X = thresholded
    reg = Registry(catalog_url=f"sqlite:///{tmp_path}/c.db", artifact_root=str(tmp_path / "a"))
    mv = reg.log_model(model, model_name="m", version_name="v1", sample_input_data=X[:10])
    manifest = yaml.safe_load((tmp_path / "a" / "versions" / mv.id / "MANIFEST.yml").read_text())
    assert "scikit-learn" in manifest["env"]["frameworks"]


@pytest.mark.parametrize("tampered", ["model/model.pkl", "model/models/clf/model.pkl"])
def test_a_tampered_pickle_is_refused_before_unpickling(
    reg: Registry,
    artifact_root: Path,
    tmp_path: Path,
    thresholded: tuple[Thresholded, pd.DataFrame],
    tampered: str,
) -> None:
    model, X = thresholded
    mv = reg.log_model(model, model_name="m", version_name="v1", sample_input_data=X[:10])
    marker = tmp_path / "pwned"
    payload = textwrap.dedent(
        f"""
        import os, pickle
        class Evil:
            def __reduce__(self):
                return (os.system, ("touch {marker}",))
        pickle.dump(Evil(), open({str(artifact_root / "versions" / mv.id / tampered)!r}, "wb"))
        """
    )
    subprocess.run([sys.executable, "-c", payload], check=True)
    with pytest.raises(IntegrityError, match=rf"{tampered} \(sha256 differs\)"):
        mv.load()
    assert not marker.exists()


def test_a_model_without_functions_is_refused(reg: Registry) -> None:
    _, X = iris_classifier()
    with pytest.raises(InvalidInput, match="@inference_api"):
        reg.log_model(NoFunctions(), model_name="m", sample_input_data=X[:10])


def test_a_function_returning_no_frame_names_the_method(reg: Registry) -> None:
    _, X = iris_classifier()
    with pytest.raises(ModelError, match="ReturnsText.predict returned a str.*DataFrame"):
        reg.log_model(ReturnsText(), model_name="m", sample_input_data=X[:10])


def test_model_context_reports_every_problem_and_names_what_it_has(tmp_path: Path) -> None:
    clf, _ = iris_classifier()
    with pytest.raises(InvalidInput) as info:
        ModelContext(
            artifacts={"a/b": tmp_path, "missing": tmp_path / "nope", "clf": tmp_path},
            models={"clf": clf},
        )
    message = info.value.message
    assert "'a/b' is not a plain name" in message
    assert "'missing'" in message and "not an existing file" in message
    assert "'clf' names both an artifact and a model" in message
    ctx = ModelContext(artifacts={"config": tmp_path}, models={"clf": clf})
    assert "config" in ctx and "clf" in ctx and list(ctx) == ["config", "clf"]
    with pytest.raises(NotFound, match="its artifacts are: config"):
        ctx.path("settings")
    with pytest.raises(NotFound, match="its models are: clf"):
        ctx.model_ref("xgb")
    with pytest.raises(InvalidInput, match="ModelContext"):
        CustomModel({"clf": clf})  # type: ignore[arg-type]


def test_code_that_was_not_shipped_is_named_with_the_fix(
    reg: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "src" / "ghostpkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "model_code.py").write_text(
        "import pandas as pd\nfrom registry import CustomModel, inference_api\n\n"
        "class Ghost(CustomModel):\n    @inference_api\n"
        "    def predict(self, X: pd.DataFrame) -> pd.DataFrame:\n"
        "        return X.iloc[:, :1]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    from ghostpkg.model_code import Ghost  # type: ignore[import-not-found]

    _, X = iris_classifier()
    mv = reg.log_model(Ghost(), model_name="m", version_name="v1", sample_input_data=X[:10])
    monkeypatch.delitem(sys.modules, "ghostpkg.model_code")
    monkeypatch.delitem(sys.modules, "ghostpkg")
    shutil.rmtree(tmp_path / "src")
    with pytest.raises(ModelError, match=r"needs module 'ghostpkg'.*code_paths=.*ext_modules="):
        mv.load()


# -- shipped code: log in one process, load in a fresh one that never imported the code -----

MODEL_CODE = '''
import json
from pathlib import Path

import pandas as pd

from registry import CustomModel, ModelContext, inference_api


class Scaled(CustomModel):
    def __init__(self, context: ModelContext) -> None:
        super().__init__(context)
        self.config_path = context.path("config")  # read at predict time, after loading too
        self.clf = context.model_ref("clf")

    @inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        factor = json.loads(Path(self.config_path).read_text())["factor"]
        return pd.DataFrame({"scaled": self.clf.predict(X) * factor})
'''

LOG_SCRIPT = '''
import sys
import pandas as pd
from sklearn.linear_model import LogisticRegression
from registry import ModelContext, Registry
import mypkg.model_code as code

catalog, root, data, config, package, mode, expected = sys.argv[1:]
X = pd.read_parquet(data)
y = X.pop("target")
clf = LogisticRegression(max_iter=500).fit(X, y)
model = code.Scaled(ModelContext(artifacts={"config": config}, models={"clf": clf}))
shipped = {"code_paths": [package]} if mode == "code_paths" else {"ext_modules": [code]}
reg = Registry(catalog_url=catalog, artifact_root=root)
reg.log_model(model, model_name="m", version_name="v1", sample_input_data=X[:10], **shipped)
model.predict(X).to_parquet(expected)
'''

LOAD_SCRIPT = '''
import importlib.util
import sys
import pandas as pd
from registry import Registry

catalog, root, data, out = sys.argv[1:]
assert importlib.util.find_spec("mypkg") is None, "mypkg must not be importable here"
X = pd.read_parquet(data).drop(columns="target")
mv = Registry(catalog_url=catalog, artifact_root=root).get_model("m").version("v1")
model = mv.load()
assert type(model).__name__ == "Scaled", type(model)
mv.run(X)[["scaled"]].to_parquet(out)
'''


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["code_paths", "ext_modules"])
def test_shipped_code_loads_in_a_fresh_process(tmp_path: Path, mode: str) -> None:
    package = tmp_path / "src" / "mypkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "model_code.py").write_text(MODEL_CODE)
    config = tmp_path / "train" / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"factor": 10}))
    data = tmp_path / "iris.parquet"
    features, target = iris()
    features.assign(target=target).to_parquet(data)
    catalog, root = f"sqlite:///{tmp_path}/c.db", str(tmp_path / "artifacts")
    expected, out = tmp_path / "expected.parquet", tmp_path / "out.parquet"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    _python(
        LOG_SCRIPT,
        catalog, root, str(data), str(config), str(package), mode, str(expected),
        cwd=tmp_path, env={**env, "PYTHONPATH": str(tmp_path / "src")},
    )
    shutil.rmtree(tmp_path / "src")  # neither the code nor the artifact stays where it was
    shutil.rmtree(tmp_path / "train")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _python(LOAD_SCRIPT, catalog, root, str(data), str(out), cwd=elsewhere, env=env)

    result, want = pd.read_parquet(out), pd.read_parquet(expected)
    assert want["scaled"].isin([0, 10, 20]).all() and want["scaled"].nunique() == 3
    pd.testing.assert_frame_equal(result, want)


def _python(script: str, *args: str, cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
