"""A version's shipped code (``code_paths=``), imported under a private, per-version scope.

A version's ``code/`` folder never goes on ``sys.path``. Its modules are named by their place
under ``code/`` (``code/mypkg/model.py`` is ``mypkg.model``, ``code/util.py`` is ``util``; a
folder without ``__init__.py`` is a namespace package), and only files the manifest lists,
from the private verified copy the loader made, are ever executed.

``import_scope`` is entered while the version's model is deserialised (a cloudpickle that
names ``mypkg.model.Scorer`` imports it then). For its duration a finder first on
``sys.meta_path`` serves the version's modules; a module under one of its top-level names that
the version does not ship is not found (never taken from elsewhere), and modules of those
names already imported (the caller's own ``mypkg``, another version's) are set aside. On exit
the version's modules leave ``sys.modules`` and what was set aside comes back: they live on
only through the model that refers to them (functions keep their module's globals) and the
``LoadedModel`` that holds them, so no other version and no later ``import`` sees them, and
two versions that ship ``mypkg`` at different contents each run their own. The version's
modules get their own ``__import__`` (in their ``__builtins__``): an ``import`` that one of
their functions runs when it is called, after loading, reopens the version's scope for that
import, so it too gets the version's module.

A version's module never shadows an installed one: a top-level name found in the standard
library or in a ``site-packages`` folder is not served (the installed module is used, and a
warning is logged). Only one scope is open at a time in a process (``LOAD_LOCK``); while one
is open, other threads importing one of its names get the version's module.
"""

from __future__ import annotations

import builtins
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import site
import sys
import sysconfig
import threading
import types
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LOAD_LOCK", "VersionCode", "import_scope"]

log = logging.getLogger(__name__)

# Deserialising and scoped imports change process-wide state (sys.modules, sys.meta_path):
# one load at a time per process. Re-entrant: a handler may load sub-models inside a load.
LOAD_LOCK = threading.RLock()

_CODE = "code/"
_SOURCE = ".py"


@dataclass(frozen=True)
class _Module:
    path: Path | None  # None: a folder without __init__.py (a namespace package)
    is_package: bool
    folder: Path | None = None  # a package's folder, its __path__


@dataclass(frozen=True)
class VersionCode:
    """The modules a version ships under ``code/``, by module name, in its private copy."""

    version_id: str
    modules: Mapping[str, _Module] = field(default_factory=dict)

    @classmethod
    def from_files(cls, version_id: str, local: Path, files: Iterable[str]) -> VersionCode:
        """The modules among ``files`` (manifest paths), found under ``local`` (the verified copy)."""
        modules: dict[str, _Module] = {}
        suffixes = sorted([_SOURCE, *importlib.machinery.EXTENSION_SUFFIXES], key=len, reverse=True)
        for rel in files:
            if not rel.startswith(_CODE):
                continue
            parts = rel[len(_CODE):].split("/")
            suffix = next((s for s in suffixes if parts[-1].endswith(s)), None)
            if suffix is None:
                continue  # a data file: read through __file__, never imported
            stem = parts[-1][: -len(suffix)]
            packages = parts[:-1]
            if not all(p.isidentifier() for p in [*packages, stem]):
                continue
            for depth in range(1, len(packages) + 1):  # every folder above is a package
                name = ".".join(packages[:depth])
                folder = local / "code" / "/".join(packages[:depth])
                modules.setdefault(name, _Module(None, True, folder))
            path = local / rel
            if stem == "__init__" and suffix == _SOURCE and packages:
                modules[".".join(packages)] = _Module(path, True, path.parent)
            elif stem != "__init__":
                modules.setdefault(".".join([*packages, stem]), _Module(path, False))
        return cls(version_id, modules)

    @property
    def top_level(self) -> frozenset[str]:
        return frozenset(name.split(".")[0] for name in self.modules)


class _Scope:
    """One loaded version's modules: served while the scope is open, and kept (out of
    ``sys.modules``) when it is closed; its modules' own imports reopen it when they run."""

    def __init__(self, code: VersionCode, served: frozenset[str]) -> None:
        self.code = code
        self.served = served
        self.imported: dict[str, types.ModuleType] = {}
        self.open_in: int | None = None  # the thread that has the scope open
        # The builtins of the version's modules: the same, but for ``__import__`` (see there).
        self.builtins = dict(builtins.__dict__, __import__=self.import_)

    @contextmanager
    def opened(self) -> Iterator[None]:
        with LOAD_LOCK:
            if self.open_in == threading.get_ident():  # already open on this thread
                yield
                return
            ours = [n for n in list(sys.modules) if n.split(".")[0] in self.served]
            saved = {n: sys.modules.pop(n) for n in ours}
            sys.modules.update(self.imported)
            finder = _VersionFinder(self)
            sys.meta_path.insert(0, finder)
            self.open_in = threading.get_ident()
            try:
                yield
            finally:
                self.open_in = None
                sys.meta_path.remove(finder)
                for name in [n for n in list(sys.modules) if n.split(".")[0] in self.served]:
                    self.imported[name] = sys.modules.pop(name)
                sys.modules.update(saved)

    def import_(
        self,
        name: str,
        globals: Mapping[str, object] | None = None,  # __import__'s own parameter names
        locals: Mapping[str, object] | None = None,
        fromlist: Sequence[str] = (),
        level: int = 0,
    ) -> types.ModuleType:
        """``__import__`` for the version's own modules, so that an ``import`` a function runs
        when it is called (after loading) gets this version's module too, not another's."""
        target = name
        if level > 0:
            package = str((globals or {}).get("__package__") or "")
            target = importlib.util.resolve_name("." * level + name, package)
        if target.split(".")[0] not in self.served:
            return builtins.__import__(name, globals, locals, fromlist, level)
        module = self.imported.get(target)
        if module is not None and self.open_in is None:  # already imported: no lock needed
            if not fromlist:
                return self.imported[target.split(".")[0]] if level == 0 else module
            if all(item == "*" or hasattr(module, item) for item in fromlist):
                return module
        with self.opened():
            return builtins.__import__(name, globals, locals, fromlist, level)


class _Loader(importlib.abc.Loader):
    """Executes one verified source file of a version (or makes an empty namespace package)."""

    def __init__(self, module: _Module, scope: _Scope) -> None:
        self.module = module
        self.scope = scope

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None  # the default module object

    def exec_module(self, module: types.ModuleType) -> None:
        module.__dict__["__builtins__"] = self.scope.builtins
        if self.module.path is None:
            return
        code = compile(self.module.path.read_bytes(), str(self.module.path), "exec",
                       dont_inherit=True)
        exec(code, module.__dict__)  # the version's own code, verified when it was copied


class _VersionFinder(importlib.abc.MetaPathFinder):
    """Serves the modules of one version, and nothing else under their top-level names."""

    def __init__(self, scope: _Scope) -> None:
        self.scope = scope

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.split(".")[0] not in self.scope.served:
            return None
        code = self.scope.code
        module = code.modules.get(fullname)
        if module is None:
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: version {code.version_id} ships "
                f"{fullname.split('.')[0]!r} without it", name=fullname,
            )
        loader = _Loader(module, self.scope)
        if module.path is not None and module.path.suffix != _SOURCE:
            ext = importlib.machinery.ExtensionFileLoader(fullname, str(module.path))
            return importlib.util.spec_from_file_location(fullname, module.path, loader=ext)
        locations = [str(module.folder)] if module.is_package else None
        if module.path is None:
            spec = importlib.machinery.ModuleSpec(fullname, loader, is_package=True)
            spec.submodule_search_locations = locations
            return spec
        return importlib.util.spec_from_file_location(
            fullname, module.path, loader=loader, submodule_search_locations=locations
        )


@contextmanager
def import_scope(code: VersionCode) -> Iterator[dict[str, types.ModuleType]]:
    """Serve ``code``'s modules to the imports made inside the block; yields a dict that, on
    exit, holds the version's modules that were imported (keep it as long as the model)."""
    served = frozenset(name for name in code.top_level if not _is_installed(name, code))
    scope = _Scope(code, served)
    if not served:
        yield scope.imported
        return
    with scope.opened():
        yield scope.imported


def _is_installed(name: str, code: VersionCode) -> bool:
    """Whether top-level module ``name`` is in the standard library or a site-packages folder;
    a version's module of that name is then never served (it would shadow the installed one)."""
    where: str | None = None
    if name in sys.builtin_module_names or name in sys.stdlib_module_names:
        where = "the standard library"
    else:
        spec = importlib.machinery.PathFinder.find_spec(name, _installed_folders())
        spec = spec or _found_by_installed_finders(name)
        if spec is not None:
            where = spec.origin or "a namespace package in site-packages"
    if where is None:
        return False
    log.warning(
        "version %s ships module %r, which is installed here (%s); the installed one is used: "
        "rename the module in code_paths to ship your own", code.version_id, name, where,
    )
    return True


def _found_by_installed_finders(name: str) -> importlib.machinery.ModuleSpec | None:
    """The spec of ``name`` from a finder that an installed package put on ``sys.meta_path``
    (an editable install's, such as Floe's own), not from ``sys.path``."""
    standard = (importlib.machinery.PathFinder, importlib.machinery.BuiltinImporter,
                importlib.machinery.FrozenImporter)
    for finder in list(sys.meta_path):
        if isinstance(finder, _VersionFinder) or finder in standard or isinstance(finder, standard):
            continue
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None or type(finder).__module__.startswith("_pytest"):
            continue  # pytest's assertion rewriter finds anything on sys.path
        try:
            spec: importlib.machinery.ModuleSpec | None = find_spec(name, None)
        except Exception:  # a third-party finder's bug must not stop a load
            log.debug("finder %r failed on %s", finder, name, exc_info=True)
            continue
        if spec is not None:
            return spec
    return None


def _installed_folders() -> list[str]:
    """The standard library's folders and every site-packages folder on ``sys.path``."""
    paths = sysconfig.get_paths()
    folders = [paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths]
    folders += site.getsitepackages()
    folders += [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")]
    return list(dict.fromkeys(folders))
