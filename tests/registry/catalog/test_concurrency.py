"""Many processes logging versions of one model at once: all succeed, nothing is lost."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from registry import Registry

PROCESSES = 8
VERSIONS_EACH = 12  # 96 versions in all

_WORKER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from sklearn.linear_model import LinearRegression
    from registry import Registry

    catalog_url, artifact_root, worker, count = sys.argv[1:5]
    X = np.arange(20, dtype=float).reshape(10, 2)
    model = LinearRegression().fit(X, X.sum(axis=1))
    reg = Registry(catalog_url=catalog_url, artifact_root=artifact_root)
    for i in range(int(count)):
        name = None if i % 5 == 0 else f"w{worker}_v{i}"  # some generated names too
        reg.log_model(model, model_name="shared", version_name=name, sample_input_data=X[:3])
    """
)


def test_concurrent_processes_log_versions_of_one_model(
    catalog_url: str, artifact_root: Path, tmp_path: Path
) -> None:
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), catalog_url, str(artifact_root), str(w),
             str(VERSIONS_EACH)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for w in range(PROCESSES)
    ]
    failures = []
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        if proc.returncode != 0:
            failures.append(err.decode()[-2000:])
    assert not failures, failures[0]

    reg = Registry(catalog_url=catalog_url, artifact_root=str(artifact_root))
    m = reg.get_model("shared")
    versions = m.versions()
    names = [v.version_name for v in versions]
    assert len(names) == PROCESSES * VERSIONS_EACH
    assert len(set(names)) == len(names)
    assert len({v.id for v in versions}) == len(versions)
    stored = {p.name for p in (artifact_root / "versions").iterdir()}
    assert stored == {v.id for v in versions}  # no orphans, no missing files
    assert m.default == m.first()
    assert reg.show_models()["versions"].str.count(",").tolist() == [len(names) - 1]
