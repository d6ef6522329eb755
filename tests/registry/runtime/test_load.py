"""The one load path: what is deserialised is what was hashed, a version's code stays its own,
the environment is checked wherever a model is deserialised, and ``load()`` returns a fresh,
verified object every time."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from registry import EnvironmentMismatch, IntegrityError, ModelVersion, Registry
from registry.artifacts.store import ArtifactStore
from registry.packaging.environment import EnvironmentWarning
from registry.runtime.load import clear_loaded_models, load_payload, read_payload
from tests.models import iris_classifier

RACE_S = 3.0
RACE_MAX_LOADS = 500


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def sqlite_reg(tmp_path: Path, root: Path) -> Registry:
    return Registry(catalog_url=f"sqlite:///{tmp_path / 'c.db'}", artifact_root=str(root))


@pytest.fixture(autouse=True)
def _fresh_run_cache() -> Iterator[None]:
    clear_loaded_models()
    yield
    clear_loaded_models()


class _Tripwire:
    """Unpickling this creates ``path``: proof that planted bytes were deserialised."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def _stored(root: Path, mv: ModelVersion, rel: str) -> Path:
    return root / "versions" / mv.id / rel


def _log_iris(reg: Registry, version: str = "v1", **kwargs: object) -> ModelVersion:
    clf, X = iris_classifier()
    return reg.log_model(clf, model_name="iris", version_name=version, sample_input_data=X[:5],
                         **kwargs)  # type: ignore[arg-type]


# -- 1. the bytes deserialised are the bytes hashed ------------------------------------------


# Another process (an attacker with write access to the artifact root, not bound by this
# process's GIL) atomically replaces the stored file by a planted pickle and back, in a loop.
SWAPPER = """
import os, sys
stored, good, evil, tmp = sys.argv[1:]
print("swapping", flush=True)
while True:
    for src in (evil, good):
        os.link(src, tmp)
        os.replace(tmp, stored)
"""


@contextmanager
def _swapping(stored: Path, good: Path, evil: Path) -> Iterator[None]:
    tmp = good.with_name("swapping")
    proc = subprocess.Popen([sys.executable, "-c", SWAPPER, str(stored), str(good), str(evil),
                             str(tmp)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "swapping\n"
        yield
    finally:
        proc.kill()
        proc.wait()
        os.replace(good, stored)  # the good bytes back, whatever the swapper left


@pytest.mark.parametrize("path", ["load", "run"])
def test_a_file_swapped_during_loads_is_never_deserialised(
    sqlite_reg: Registry, root: Path, tmp_path: Path, path: str
) -> None:
    clf, X = iris_classifier()
    mv = _log_iris(sqlite_reg)
    expected = clf.predict(X)
    stored = _stored(root, mv, "model/model.pkl")
    marker = tmp_path / "planted-pickle-ran"
    swap_dir = tmp_path / "swap"
    swap_dir.mkdir()
    good, evil = swap_dir / "good", swap_dir / "evil"
    good.write_bytes(stored.read_bytes())
    evil.write_bytes(pickle.dumps(_Tripwire(marker)))

    def load_once() -> np.ndarray:
        clear_loaded_models()  # the run path caches: deserialise again each time
        if path == "load":
            return np.asarray(mv.load().predict(X))  # type: ignore[attr-defined]
        return mv.run(X, function_name="predict")["output_feature_0"].to_numpy()

    loaded = refused = 0
    with _swapping(stored, good, evil):
        deadline = time.monotonic() + RACE_S
        while time.monotonic() < deadline and loaded + refused < RACE_MAX_LOADS:
            try:
                predicted = load_once()
            except IntegrityError as exc:
                assert "model/model.pkl (sha256 differs)" in exc.message
                refused += 1
                continue
            assert not marker.exists(), "a planted pickle was deserialised"
            np.testing.assert_array_equal(predicted, expected)
            loaded += 1
    assert not marker.exists(), "a planted pickle was deserialised"
    assert loaded + refused > 0
    np.testing.assert_array_equal(load_once(), expected)


# -- 2. a version's code: only what the manifest lists, in its own scope ---------------------

PACKAGE = "floe_scoped_pkg"
MODEL_CODE = '''
import pandas as pd

from registry import CustomModel, inference_api

FACTOR = {factor}


class Scaler(CustomModel):
    @inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        from .helpers import OFFSET  # imported when called, after loading: the version's own

        return pd.DataFrame({{"out": X.iloc[:, 0] * FACTOR + OFFSET}})
'''


def _write_package(src: Path, factor: int) -> Path:
    package = src / PACKAGE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "model_code.py").write_text(MODEL_CODE.format(factor=factor))
    (package / "helpers.py").write_text(f"OFFSET = {factor}\n")
    return package


@contextmanager
def _importable(src: Path) -> Iterator[None]:
    """``PACKAGE`` importable from ``src`` inside the block only, as a user's own code is."""
    sys.path.insert(0, str(src))
    try:
        yield
    finally:
        sys.path.remove(str(src))
        for name in [n for n in sys.modules if n.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def _log_scaler(
    reg: Registry, src: Path, version: str, factor: int, extra_code: Sequence[Path] = ()
) -> ModelVersion:
    package = _write_package(src, factor)
    _, X = iris_classifier()
    with _importable(src):
        from floe_scoped_pkg.model_code import Scaler  # type: ignore[import-not-found]

        return reg.log_model(Scaler(), model_name="scaler", version_name=version,
                             sample_input_data=X[:5], code_paths=[package, *extra_code])


def _run_out(mv: ModelVersion, X: pd.DataFrame) -> np.ndarray:
    return mv.run(X)["out"].to_numpy()


def test_two_versions_shipping_one_module_name_each_run_their_own(
    sqlite_reg: Registry, tmp_path: Path
) -> None:
    _, X = iris_classifier()
    v1 = _log_scaler(sqlite_reg, tmp_path / "src1", "v1", factor=10)
    v2 = _log_scaler(sqlite_reg, tmp_path / "src2", "v2", factor=100)
    assert importlib.util.find_spec(PACKAGE) is None  # only the versions ship it now

    first = X.iloc[:, 0].to_numpy()
    for mv, factor in ((v1, 10), (v2, 100), (v1, 10)):
        np.testing.assert_allclose(_run_out(mv, X), (first + 1) * factor)
        model: Callable[[pd.DataFrame], pd.DataFrame] = mv.load().predict  # type: ignore[attr-defined]
        np.testing.assert_allclose(model(X)["out"].to_numpy(), (first + 1) * factor)
    # Nothing of either version is left importable or in sys.modules.
    assert not [n for n in sys.modules if n.split(".")[0] == PACKAGE]
    assert importlib.util.find_spec(PACKAGE) is None

    # The caller's own module of that name (factor 1000) neither leaks in nor is replaced.
    clear_loaded_models()
    _write_package(tmp_path / "mine", factor=1000)
    with _importable(tmp_path / "mine"):
        import floe_scoped_pkg.model_code as own  # type: ignore[import-not-found]

        np.testing.assert_allclose(_run_out(v1, X), (first + 1) * 10)
        assert sys.modules["floe_scoped_pkg.model_code"] is own and own.FACTOR == 1000
        assert "floe_scoped_pkg.helpers" not in sys.modules  # v1's lazy import stayed its own


def test_a_version_module_named_like_an_installed_one_never_shadows_it(
    sqlite_reg: Registry, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "shipped-module-ran"
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    names = ["colorsys"]  # the standard library
    if importlib.util.find_spec("isympy") is not None:
        names.append("isympy")  # a module installed in site-packages
    for name in names:
        (shipped / f"{name}.py").write_text(f"open({str(marker)!r}, 'w')\n")
        monkeypatch.delitem(sys.modules, name, raising=False)
    _, X = iris_classifier()
    mv = _log_scaler(sqlite_reg, tmp_path / "src", "v1", factor=2,
                     extra_code=[shipped / f"{name}.py" for name in names])

    np.testing.assert_allclose(_run_out(mv, X), (X.iloc[:, 0].to_numpy() + 1) * 2)
    mv.load()
    import colorsys

    assert Path(colorsys.__file__).parent == Path(os.__file__).parent
    for name in names:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None
        assert Path(spec.origin).parent != shipped and str(root) not in spec.origin
    assert not marker.exists(), "a version's module shadowed an installed one"


def test_a_file_planted_in_code_is_refused_and_never_imported(
    sqlite_reg: Registry, root: Path, tmp_path: Path
) -> None:
    _, X = iris_classifier()
    mv = _log_scaler(sqlite_reg, tmp_path / "src", "v1", factor=2)
    other = _log_iris(sqlite_reg, "v9")
    marker = tmp_path / "planted-module-ran"
    planted = f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"
    _stored(root, mv, "code/shap.py").write_text(planted)
    _stored(root, mv, f"code/{PACKAGE}/extra.py").write_text(planted)

    fix = r"code/floe_scoped_pkg/extra.py \(not in the manifest\), code/shap.py \(not in the manifest\).*delete the files Floe did not write"
    with pytest.raises(IntegrityError, match=fix):
        mv.load()
    with pytest.raises(IntegrityError, match=fix):
        mv.run(X)
    out = other.run(X, function_name="explain")  # imports shap
    assert len(out) == len(X)
    assert not marker.exists(), "a planted module was imported"


# -- 3. the environment is checked wherever a model is deserialised --------------------------


def test_run_refuses_another_environment_and_force_runs_it_with_a_warning(
    sqlite_reg: Registry,
) -> None:
    clf, X = iris_classifier()
    mv = _log_iris(sqlite_reg, python_version="3.10")

    with pytest.raises(EnvironmentMismatch, match=r"Python 3\.10 \(logged\).*run\(.*force=True\)"):
        mv.run(X, function_name="predict")
    with pytest.warns(EnvironmentWarning, match=r"force=True.*Python 3\.10"):
        out = mv.run(X, function_name="predict", force=True)
    np.testing.assert_array_equal(out["output_feature_0"].to_numpy(), clf.predict(X))
    with pytest.raises(EnvironmentMismatch, match="force=True"):  # force applies to one call
        mv.run(X, function_name="predict")
    with pytest.warns(EnvironmentWarning):
        assert mv.load(force=True) is not None


def test_a_worker_checks_the_environment_it_loads_in(sqlite_reg: Registry, root: Path) -> None:
    clf, X = iris_classifier()
    mv = _log_iris(sqlite_reg, python_version="3.10")
    manifest_sha256 = hashlib.sha256(_stored(root, mv, "MANIFEST.yml").read_bytes()).hexdigest()
    with pytest.warns(EnvironmentWarning):
        payload = read_payload(ArtifactStore(str(root)), version_id=mv.id,
                               manifest_sha256=manifest_sha256, label=str(mv), force=True)

    with pytest.raises(EnvironmentMismatch, match=r"Python 3\.10 \(logged\)"):
        load_payload(payload, {})  # what an actor does, without force
    with pytest.warns(EnvironmentWarning):
        loaded = load_payload(payload, {}, force=True)
    np.testing.assert_array_equal(loaded.model.predict(X), clf.predict(X))  # type: ignore[attr-defined]


def test_a_worker_refuses_shipped_bytes_that_differ(sqlite_reg: Registry, root: Path) -> None:
    mv = _log_iris(sqlite_reg)
    manifest_sha256 = hashlib.sha256(_stored(root, mv, "MANIFEST.yml").read_bytes()).hexdigest()
    payload = read_payload(ArtifactStore(str(root)), version_id=mv.id,
                           manifest_sha256=manifest_sha256, label=str(mv), force=False)
    payload["files"]["model/model.pkl"] = pickle.dumps("planted")
    payload["files"]["code/extra.py"] = b"raise SystemExit\n"
    with pytest.raises(IntegrityError, match=r"shipped to a worker.*model/model.pkl \(sha256 differs\), code/extra.py \(not in the manifest\).*re-run the job"):
        load_payload(payload, {})


# -- 4. load() returns an object of its own, verified at every call --------------------------


def test_mutating_what_load_returned_changes_no_run(sqlite_reg: Registry) -> None:
    clf, X = iris_classifier()
    mv = _log_iris(sqlite_reg)
    expected = clf.predict(X)
    np.testing.assert_array_equal(mv.run(X, function_name="predict")["output_feature_0"], expected)

    mine = mv.load()
    mine.coef_[:] = 0.0  # type: ignore[attr-defined]
    mine.intercept_[:] = [0.0, 0.0, 1.0]  # type: ignore[attr-defined]
    assert (mine.predict(X) == 2).all()  # type: ignore[attr-defined]
    np.testing.assert_array_equal(mv.run(X, function_name="predict")["output_feature_0"], expected)
    again = mv.load()
    assert again is not mine
    np.testing.assert_array_equal(again.predict(X), expected)  # type: ignore[attr-defined]


def test_a_file_corrupted_after_a_first_load_is_refused_by_the_next(
    sqlite_reg: Registry, root: Path, tmp_path: Path
) -> None:
    mv = _log_iris(sqlite_reg)
    assert mv.load() is not None
    marker = tmp_path / "planted-pickle-ran"
    _stored(root, mv, "model/model.pkl").write_bytes(pickle.dumps(_Tripwire(marker)))

    with pytest.raises(IntegrityError, match=r"model/model.pkl \(sha256 differs\).*restore"):
        mv.load()
    assert not marker.exists()
