"""Score a table with this exported Floe model version, without Floe.

    python predict.py INPUT.parquet|INPUT.csv OUTPUT.parquet|OUTPUT.csv [--function NAME]

Every file is checked against the sha256 in MANIFEST.yml before anything is loaded. Needs only
the packages in env/requirements.txt (plus pandas, pyarrow and pyyaml).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent


def verify(manifest: dict) -> None:
    for rel, expected in manifest["files"].items():
        path = (HERE / rel).resolve()
        if HERE not in path.parents:
            sys.exit(f"error: manifest path {rel!r} leaves the export folder")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != expected["sha256"]:
            sys.exit(f"error: {rel} does not match its sha256 in MANIFEST.yml; re-export it")


def load(manifest: dict) -> object:
    spec = manifest["model"]
    path = HERE / spec["path"]
    for code in manifest.get("code_paths", []):
        sys.path.insert(0, str((HERE / code).parent))
    if spec["format"] == "cloudpickle":
        import cloudpickle

        with open(path, "rb") as handle:
            return cloudpickle.load(handle)
    if spec["format"] == "xgboost-ubj":
        import xgboost as xgb

        allowed = {"Booster", "XGBClassifier", "XGBRegressor", "XGBRanker",
                   "XGBRFClassifier", "XGBRFRegressor"}
        if spec["class"] not in allowed:
            sys.exit(f"error: unknown xgboost class {spec['class']!r}")
        model = getattr(xgb, spec["class"])()
        model.load_model(str(path))
        return model
    sys.exit(f"error: predict.py cannot load format {spec['format']!r}; install Floe and use it")


def call(model: Any, method: str, frame: pd.DataFrame) -> np.ndarray:
    if type(model).__name__ == "Booster":
        return np.asarray(model.inplace_predict(frame.to_numpy()))
    data = frame if hasattr(model, "feature_names_in_") else frame.to_numpy()
    return np.asarray(getattr(model, method)(data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--function", default=None)
    args = parser.parse_args()
    manifest = yaml.safe_load((HERE / "MANIFEST.yml").read_text())
    verify(manifest)
    functions = {f["name"]: f for f in manifest["functions"]}
    name = args.function or next(iter(functions))
    if name not in functions:
        sys.exit(f"error: no function {name!r}; choose one of {', '.join(functions)}")
    fn = functions[name]
    reader = pd.read_csv if args.input.endswith(".csv") else pd.read_parquet
    frame = reader(args.input)
    inputs = [f["name"] for f in (fn["signature"] or {}).get("inputs", [])] or list(frame.columns)
    missing = [c for c in inputs if c not in frame.columns]
    if missing:
        sys.exit(f"error: input lacks columns {missing}")
    result = call(load(manifest), fn["target_method"], frame[inputs])
    matrix = result.reshape(-1, 1) if result.ndim == 1 else result
    outputs = [f["name"] for f in (fn["signature"] or {}).get("outputs", [])]
    outputs = outputs or [f"output_feature_{i}" for i in range(matrix.shape[1])]
    for i, col in enumerate(outputs):
        frame[col] = matrix[:, i]
    writer = frame.to_csv if args.output.endswith(".csv") else frame.to_parquet
    writer(args.output, index=False)
    print(f"wrote {len(frame)} rows to {args.output}")


if __name__ == "__main__":
    main()
