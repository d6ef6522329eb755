"""Score a table with this exported Floe model version, without Floe.

    python predict.py INPUT.parquet|INPUT.csv OUTPUT.parquet|OUTPUT.csv [--function NAME]

Every file is checked against the sha256 in MANIFEST.yml before anything is loaded. Needs only
the packages in env/requirements.txt (plus pandas, pyarrow and pyyaml). Without --function,
the version's one function runs (the automatically added ``explain`` does not count, and
needs Floe); with several, name one.

Floe writes this file into every FULL export (``registry/artifacts/exported_predict.py``):
it holds one small loader per format Floe logs, and Floe refuses a FULL export of any other
format (``LOADABLE_FORMATS``), so what is exported runs.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

__all__ = ["EXPLAIN", "LOADABLE_FORMATS", "choose_function", "main"]

HERE = Path(__file__).resolve().parent
EXPLAIN = "explain"  # Floe's automatically added function (SHAP): not run here

_XGBOOST_CLASSES = ("Booster", "XGBClassifier", "XGBRegressor", "XGBRanker",
                    "XGBRFClassifier", "XGBRFRegressor")
_LIGHTGBM_CLASSES = ("Booster", "LGBMClassifier", "LGBMRegressor", "LGBMRanker")


class ExportError(Exception):
    """A problem this script reports as one ``error:`` line."""


def verify(manifest: Mapping[str, Any]) -> None:
    for rel, expected in manifest["files"].items():
        path = (HERE / rel).resolve()
        if HERE not in path.parents:
            raise ExportError(f"manifest path {rel!r} leaves the export folder")
        if not path.is_file():
            raise ExportError(f"{rel} is missing; export the version again")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != expected["sha256"]:
            raise ExportError(f"{rel} does not match its sha256 in MANIFEST.yml; re-export it")


# -- loaders: one per format Floe's handlers write ---------------------------------------------


def _load_cloudpickle(path: Path, spec: Mapping[str, Any]) -> object:
    import cloudpickle

    with open(path, "rb") as handle:
        return cloudpickle.load(handle)


def _load_xgboost(path: Path, spec: Mapping[str, Any]) -> object:
    import xgboost as xgb

    if spec["class"] not in _XGBOOST_CLASSES:
        raise ExportError(f"unknown xgboost class {spec['class']!r}")
    model = getattr(xgb, spec["class"])()
    model.load_model(str(path))
    return model


def _load_lightgbm(path: Path, spec: Mapping[str, Any]) -> object:
    """A Booster from LightGBM's text format; a wrapper rebuilt around it as Floe's LightGBM
    handler does (``registry/handlers/lightgbm.py``)."""
    import lightgbm as lgb

    cls = spec["class"]
    if cls not in _LIGHTGBM_CLASSES:
        raise ExportError(f"unknown LightGBM class {cls!r}")
    booster = lgb.Booster(model_file=str(path))
    if cls == "Booster":
        return booster
    model: Any = getattr(lgb, cls)()
    model.set_params(**dict(spec.get("params", {})))
    model._Booster = booster
    model._n_features = booster.num_feature()
    model._n_features_in = int(spec["n_features_in"])
    model._fitted_with_feature_names = bool(spec.get("fitted_with_feature_names", False))
    model._best_iteration = int(spec.get("best_iteration", -1))
    objective = spec.get("objective")  # None: a custom objective; predictions are raw scores
    model._objective = objective if objective is not None else _no_objective
    if "classes" in spec:
        from lightgbm.compat import _LGBMLabelEncoder

        dtype = spec.get("classes_dtype")
        classes = np.asarray(spec["classes"], dtype=np.dtype(dtype) if dtype else None)
        model._le = _LGBMLabelEncoder().fit(classes)
        model._classes = model._le.classes_
        model._n_classes = len(classes)
        model._class_map = dict(zip(classes.tolist(), range(len(classes)), strict=True))
    model.fitted_ = True
    return model


def _no_objective(*args: object) -> None:
    raise ExportError("the model was trained with a custom objective, which is not exported")


def _load_torchscript(path: Path, spec: Mapping[str, Any]) -> object:
    import torch

    model = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
    model.eval()
    return model


def _load_torch_pickle(path: Path, spec: Mapping[str, Any]) -> object:
    import torch

    model = torch.load(path, map_location="cpu", weights_only=False)  # hash checked first
    model.eval()
    return model


LOADERS: dict[str, Callable[[Path, Mapping[str, Any]], object]] = {
    "cloudpickle": _load_cloudpickle,
    "xgboost-ubj": _load_xgboost,
    "lightgbm-text": _load_lightgbm,
    "torchscript": _load_torchscript,
    "torch-cloudpickle": _load_torch_pickle,
}
LOADABLE_FORMATS = frozenset(LOADERS)


def load(manifest: Mapping[str, Any]) -> object:
    spec = manifest["model"]
    for code in manifest.get("code_paths") or []:
        sys.path.append(str((HERE / code).parent))  # after installed packages: never shadows
    loader = LOADERS.get(spec["format"])
    if loader is None:
        raise ExportError(f"predict.py cannot load format {spec['format']!r}; use Floe")
    return loader(HERE / spec["path"], spec)


# -- calling: what each handler's Predictor.predict does (Floe is not importable here) -------


def call(framework: str, model: Any, method: str, frame: pd.DataFrame) -> np.ndarray:
    if framework == "torch":
        return _call_torch(model, method, frame)
    if framework == "lightgbm":
        return _call_lightgbm(model, method, frame)
    if type(model).__name__ == "Booster":  # xgboost's
        return np.asarray(model.inplace_predict(frame.to_numpy()))
    if framework == "xgboost":
        return np.asarray(getattr(model, method)(frame))
    data = frame if hasattr(model, "feature_names_in_") else frame.to_numpy()
    return np.asarray(getattr(model, method)(data))


def _call_lightgbm(model: Any, method: str, frame: pd.DataFrame) -> np.ndarray:
    is_booster = type(model).__name__ == "Booster"
    booster = model if is_booster else model.booster_
    data: Any
    if booster.pandas_categorical:
        text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
                and not isinstance(frame[c].dtype, pd.CategoricalDtype)]
        data = frame.astype(dict.fromkeys(text, "category")) if text else frame
    else:
        data = frame.to_numpy() if is_booster else frame
    return np.asarray(getattr(model, method)(data))


def _call_torch(model: Any, method: str, frame: pd.DataFrame) -> np.ndarray:
    import torch

    dtype = next((t.dtype for t in model.parameters() if t.is_floating_point()), None)
    dtype = dtype or torch.get_default_dtype()
    array = frame.to_numpy()
    if array.dtype.kind == "f":
        as_numpy = {torch.float16: np.float16, torch.float64: np.float64}.get(dtype, np.float32)
        tensor = torch.from_numpy(np.array(array, dtype=as_numpy)).to(dtype=dtype)
    else:
        tensor = torch.from_numpy(np.array(array))
    with torch.inference_mode():
        out = model(tensor) if method == "forward" else getattr(model, method)(tensor)
    if out.dtype == torch.bfloat16:
        out = out.float()
    return np.asarray(out.detach().cpu().numpy())


# -- the command -----------------------------------------------------------------------------


def choose_function(
    functions: Mapping[str, Mapping[str, Any]], name: str | None
) -> Mapping[str, Any]:
    """The function to run: ``name`` (exact, else case-insensitive), or without a name the one
    function other than explain; several is an error listing them."""
    names = sorted(functions)
    if name is None:
        candidates = [n for n in names if n.lower() != EXPLAIN]
        if len(candidates) != 1:
            raise ExportError(
                f"this version has {len(candidates)} functions ({', '.join(candidates)}); "
                "choose one with --function NAME"
            )
        name = candidates[0]
    found = functions.get(name) or {n.lower(): f for n, f in functions.items()}.get(name.lower())
    if found is None:
        raise ExportError(f"no function {name!r}; choose one of {', '.join(names)}")
    if str(found["name"]).lower() == EXPLAIN:
        raise ExportError("explain needs Floe (and shap); run it with Floe: mv.run(X, "
                          "function_name='explain')")
    return found


def score(manifest: Mapping[str, Any], frame: pd.DataFrame, name: str | None) -> pd.DataFrame:
    functions = {str(f["name"]): f for f in manifest["functions"]}
    fn = choose_function(functions, name)
    signature = fn.get("signature") or {}
    inputs = [f["name"] for f in signature.get("inputs", [])] or list(frame.columns)
    missing = [c for c in inputs if c not in frame.columns]
    if missing:
        raise ExportError(f"input lacks columns {', '.join(missing)}")
    result = call(str(manifest["framework"]), load(manifest), fn["target_method"], frame[inputs])
    matrix = result.reshape(-1, 1) if result.ndim == 1 else result
    if matrix.ndim != 2 or matrix.shape[0] != len(frame):
        raise ExportError(f"the model returned shape {result.shape} for {len(frame)} rows")
    outputs = [f["name"] for f in signature.get("outputs", [])]
    outputs = outputs or [f"output_feature_{i}" for i in range(matrix.shape[1])]
    out = frame.copy()
    for i, col in enumerate(outputs):
        out[col] = matrix[:, i]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--function", default=None)
    args = parser.parse_args(argv)
    try:
        manifest = yaml.safe_load((HERE / "MANIFEST.yml").read_text())
        verify(manifest)
        reader = pd.read_csv if args.input.endswith(".csv") else pd.read_parquet
        out = score(manifest, reader(args.input), args.function)
    except ExportError as exc:
        sys.exit(f"error: {exc}")
    if args.output.endswith(".csv"):
        out.to_csv(args.output, index=False)
    else:
        out.to_parquet(args.output, index=False)
    print(f"wrote {len(out)} rows to {args.output}")


if __name__ == "__main__":
    main()
