"""Custom models: your own Python class, with named artifact files and sub-models.

    from registry import CustomModel, ModelContext, inference_api

    class Scorer(CustomModel):
        def __init__(self, context: ModelContext) -> None:
            super().__init__(context)
            self.threshold = json.loads(Path(context.path("config")).read_text())["threshold"]

        @inference_api
        def predict(self, X: pd.DataFrame) -> pd.DataFrame:
            p = self.context.model_ref("clf").predict_proba(X)[:, 1]
            return pd.DataFrame({"score": p, "label": p > self.threshold})

    ctx = ModelContext(artifacts={"config": "config.json"}, models={"clf": clf})
    reg.log_model(Scorer(ctx), model_name="scorer", sample_input_data=X[:10])

``@inference_api`` marks each method that becomes a function: it takes one pandas DataFrame
(the signature's input columns) and returns a DataFrame whose columns name the outputs, one row
per input row. ``@partitioned_api`` marks a method that batch inference calls once per
partition, with all of that partition's rows.

When logged, each sub-model is saved by its own handler (an xgboost model in xgboost's format,
not pickled) and each artifact is copied into the version. The model object is pickled with
its context, sub-models and artifact paths stored as references: ``__init__`` is not called
again at load, and ``self.context`` (and any sub-model or ``context.path`` string kept in an
attribute) then points at the loaded sub-models and the version's own copies of the files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Literal, TypeVar

from registry.errors import InvalidInput, NotFound

__all__ = [
    "ApiKind",
    "CustomModel",
    "ModelContext",
    "api_methods",
    "inference_api",
    "partitioned_api",
]

ApiKind = Literal["inference", "partitioned"]
Method = TypeVar("Method", bound=Callable[..., object])
_MARKER = "_floe_api"


def inference_api(method: Method) -> Method:
    """Make ``method`` a function of the logged model (called on the whole batch)."""
    return _mark(method, "inference", "inference_api")


def partitioned_api(method: Method) -> Method:
    """Make ``method`` a partitioned function: batch inference calls it once per partition,
    with all of that partition's rows."""
    return _mark(method, "partitioned", "partitioned_api")


def _mark(method: Method, kind: ApiKind, decorator: str) -> Method:
    if not callable(method):
        raise InvalidInput(
            f"@{decorator} decorates a method, not a {type(method).__name__}; put it on a "
            "`def` in your CustomModel subclass"
        )
    setattr(method, _MARKER, kind)
    return method


def api_methods(cls: type) -> dict[str, ApiKind]:
    """The decorated methods of ``cls`` in definition order, base classes' first; a method
    overridden without a decorator is not one."""
    names: dict[str, None] = {}
    for klass in reversed(cls.__mro__):
        names.update(dict.fromkeys(vars(klass)))
    out: dict[str, ApiKind] = {}
    for name in names:
        kind = getattr(getattr(cls, name, None), _MARKER, None)
        if kind in ("inference", "partitioned"):
            out[name] = kind
    return out


class ModelContext:
    """The named artifacts (local files or folders) and sub-models a custom model uses.

    Names are shared by artifacts and models (``context[name]`` gives either), and each is a
    plain folder name. ``path(name)`` is an artifact's local path: where it was given when the
    model is built, the version's own copy once it is loaded.
    """

    def __init__(
        self,
        *,
        artifacts: Mapping[str, str | Path] | None = None,
        models: Mapping[str, object] | None = None,
    ) -> None:
        artifacts = dict(artifacts or {})
        models = dict(models or {})
        problems = []
        for name in [*artifacts, *models]:
            if not _is_plain_name(name):
                problems.append(f"{name!r} is not a plain name (letters, digits, '_', '-', '.')")
        for name in sorted(set(artifacts) & set(models)):
            problems.append(f"{name!r} names both an artifact and a model")
        for name, path in artifacts.items():
            if not isinstance(path, str | Path) or not Path(path).expanduser().exists():
                problems.append(f"artifact {name!r}: {path!r} is not an existing file or folder")
        for name, model in models.items():
            if model is None:
                problems.append(f"model {name!r} is None")
        if problems:
            raise InvalidInput(
                f"invalid ModelContext: {'; '.join(problems)}; give each artifact an existing "
                "path and each name once"
            )
        # Kept as str objects: path() hands out these very objects, so a model that keeps one
        # in an attribute is re-pointed at the version's copy when it is loaded.
        self._artifacts: dict[str, str] = {
            name: str(Path(path).expanduser().resolve()) for name, path in artifacts.items()
        }
        self._models: dict[str, object] = models

    @property
    def artifacts(self) -> Mapping[str, str]:
        """Artifact names to local paths."""
        return dict(self._artifacts)

    @property
    def model_refs(self) -> Mapping[str, object]:
        """Sub-model names to model objects."""
        return dict(self._models)

    def path(self, name: str) -> str:
        """The local path of artifact ``name``."""
        try:
            return self._artifacts[name]
        except KeyError:
            raise NotFound(
                f"this ModelContext has no artifact {name!r}; its artifacts are: "
                f"{_names(self._artifacts)} (pass it in ModelContext(artifacts=...))"
            ) from None

    def model_ref(self, name: str) -> object:
        """Sub-model ``name``: the object given, or once loaded the object its handler loaded."""
        try:
            return self._models[name]
        except KeyError:
            raise NotFound(
                f"this ModelContext has no model {name!r}; its models are: "
                f"{_names(self._models)} (pass it in ModelContext(models=...))"
            ) from None

    def __getitem__(self, name: str) -> object:
        """An artifact's path or a sub-model, by name."""
        if name in self._artifacts:
            return self._artifacts[name]
        if name in self._models:
            return self._models[name]
        raise NotFound(
            f"this ModelContext has no artifact or model {name!r}; it has: "
            f"{_names({**self._artifacts, **self._models})}"
        )

    def __contains__(self, name: object) -> bool:
        return name in self._artifacts or name in self._models

    def __iter__(self) -> Iterator[str]:
        yield from self._artifacts
        yield from self._models

    def __repr__(self) -> str:
        return f"ModelContext(artifacts={self._artifacts!r}, models={sorted(self._models)!r})"


class CustomModel:
    """Base class of custom models; decorate the methods that become functions.

    ``__init__`` takes the context (artifacts and sub-models) and keeps it as ``self.context``.
    It runs once, where the model is built: a loaded model is unpickled, not re-initialised.
    """

    def __init__(self, context: ModelContext | None = None) -> None:
        if context is not None and not isinstance(context, ModelContext):
            raise InvalidInput(
                f"a CustomModel takes a ModelContext, not a {type(context).__name__}; build one "
                "with ModelContext(artifacts={...}, models={...})"
            )
        self.context = context if context is not None else ModelContext()

    def __repr__(self) -> str:
        return f"{type(self).__qualname__}({self.context!r})"


def _is_plain_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and all(c.isalnum() or c in "_-." for c in name)
    )


def _names(mapping: Mapping[str, object]) -> str:
    return ", ".join(sorted(mapping)) or "(none)"
