"""``floe metrics/tags/comment``: values the catalog cannot store fail with one clear line."""

from __future__ import annotations

from registry import Registry
from tests.models import iris_classifier
from tests.registry.cli.conftest import Shell


def test_an_over_long_metric_name_is_one_line_without_sql(reg: Registry, sh: Shell) -> None:
    clf, X = iris_classifier()
    reg.log_model(clf, model_name="iris", version_name="v1", sample_input_data=X[:5])
    # PostgreSQL: "error: DataError: (psycopg.errors.StringDataRightTruncation) ... [SQL: ...";
    # SQLite stored the name.
    assert sh.error("metrics", "set", "iris", "v1", "x" * 300, "1") == (
        "error: metric name is 300 characters long, at most 255 are allowed; shorten it"
    )
    assert reg.get_model("iris").version("v1").show_metrics() == {}
