"""Loading a ``.keras`` file without running code from it (see registry.handlers.tensorflow):
its config scanned for what Keras's safe mode refuses and for classes Keras does not own, and
the load run in Keras's scope that forces safe mode on, whatever the process enabled."""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from registry.errors import IntegrityError, InvalidInput

__all__ = ["first_cause", "innermost", "keras_config", "load_keras", "refuse_unsafe"]

log = logging.getLogger(__name__)

# Config classes that safe mode refuses (code, or files read from elsewhere); ``__lambda__``
# is a Python lambda serialised as a function (an activation, say).
_UNSAFE = {"Lambda", "TFSMLayer", "__lambda__"}


def keras_config(path: Path) -> Any:
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise IntegrityError(f"{path.name} is not a Keras 3 .keras archive ({exc}); it was not "
                             "written by this handler") from exc


def _configs(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every serialised object in a Keras config (a dict with a ``class_name``), nested ones
    included but those inside an unsafe one (a Lambda layer's function)."""
    if isinstance(node, Mapping):
        if isinstance(node.get("class_name"), str):
            yield node
            if node["class_name"] in _UNSAFE:
                return
        for value in node.values():
            yield from _configs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _configs(value)


def refuse_unsafe(config: Any, what: str) -> None:
    """Refuse the layers safe mode refuses, and objects whose class Keras does not own: the
    file holds only their name, so loading them needs their code (the Keras registry)."""
    unsafe, custom = set(), set()
    for obj in _configs(config):
        name, module = obj["class_name"], obj.get("module")
        registered = str(obj.get("registered_name") or "")
        if name in _UNSAFE:
            layer = obj.get("config")
            named = layer.get("name") if isinstance(layer, Mapping) else None
            unsafe.add(f"a {name} layer {named!r}" if named else "a Python lambda")
        elif name.startswith("__"):
            continue  # a tensor, a type spec, a tuple: data, not a class
        elif ">" in registered or not (module == "builtins" or str(module).split(".")[0] == "keras"):
            custom.add(registered or f"{module}.{name}")
    if unsafe:
        raise InvalidInput(
            f"the {what} holds {', '.join(sorted(unsafe))}, which Keras's safe_mode refuses to "
            "load: they hold Python bytecode (a Lambda layer's function, a lambda) or read files "
            "from elsewhere (TFSMLayer), and Floe loads .keras files with safe_mode=True; write "
            "the computation as a Keras layer (keras.ops), or wrap the model in a CustomModel")
    if custom:
        raise InvalidInput(
            f"the {what} holds objects of classes Keras does not own ({', '.join(sorted(custom))});"
            " a .keras file stores only their name and loading needs their code registered in "
            "the process: build it from Keras's own layers, or wrap it in a CustomModel")


def first_cause(exc: BaseException) -> str:
    """The innermost error's first sentence: Keras wraps the one that names the object (say
    "Could not locate function 'f'") in one per enclosing layer."""
    exc = innermost(exc)
    return f"{type(exc).__name__}: {str(exc).strip().split('. ')[0].splitlines()[0]}"


def innermost(exc: BaseException) -> BaseException:
    while (inner := exc.__cause__ or exc.__context__) is not None:
        exc = inner
    return exc


def _safe_mode() -> AbstractContextManager[Any]:
    """Keras's scope that forces safe mode for a load: without it, a process that called
    ``keras.config.enable_unsafe_deserialization()`` for its own models would load every
    version unsafely, whatever ``safe_mode=True`` says. Keras exports no name for it; where
    it moves, ``refuse_unsafe`` still refuses the layers known to run code."""
    try:
        from keras.src.saving.serialization_lib import SafeModeScope
    except ImportError:  # pragma: no cover - another Keras layout
        log.warning("keras has no SafeModeScope here: relying on safe_mode=True and the scan")
        return nullcontext()
    scope: AbstractContextManager[Any] = SafeModeScope(True)
    return scope


def load_keras(path: Path, device: str) -> Any:
    import keras
    import tensorflow as tf

    with _safe_mode(), tf.device(device):
        try:
            return keras.saving.load_model(str(path), compile=False, safe_mode=True)
        except (TypeError, ValueError) as exc:  # Keras wraps the refusal in a TypeError a layer
            if "safe_mode=False" not in str(innermost(exc)):
                raise
            raise InvalidInput(f"Keras's safe_mode refuses {path.name} ({first_cause(exc)}); "
                               "Floe loads .keras files in safe mode only: log the model "
                               "without what it names") from exc
