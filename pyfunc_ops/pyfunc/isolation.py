"""Per-model code isolation: each loaded model's ``code/`` modules are private to it.

The format puts a model's ``code/`` folder on ``sys.path``, so two models whose ``code/``
both hold ``model_utils.py`` share one ``sys.modules["model_utils"]``: the second model
silently runs the first one's module (an open problem in MLflow itself). Here the folder
never goes on ``sys.path``. Instead:

* a :class:`CodeScope` per loaded model knows its code folders and the modules imported
  from them;
* one meta-path finder (first on ``sys.meta_path``, installed once) answers a top-level
  import only while a scope is *active* in the current context, and only for names found
  in that scope's folders; submodules of those packages follow;
* when the scope is left, its modules are taken out of ``sys.modules`` under their plain
  names and kept under private ones (``_pyfunc_ops_code_<n>.<name>``), so the next model
  imports its own ``model_utils``.

A scope is active while the model is loaded (its loader module is imported, its pickle
unpickled: a cloudpickle that refers to ``model_utils.f`` resolves to this model's module)
and around each ``predict`` (a lazy ``import model_utils`` inside ``predict`` gets this
model's module again, from the scope's cache). Modules keep their plain ``__name__``:
objects defined in them pickle by reference as before, which is what MLflow writes too.

A module of the same name the *caller* imported before (its own ``model_utils`` or
``utils``, from its working directory or project) is set aside for as long as the scope
is active and put back when it is left: ``import model_utils`` in the model gets the
model's, and the caller keeps its own. Modules of the standard library and of installed
packages (site-packages) are never set aside: a ``code/`` folder does not replace them
for anyone, as before.

Limits: ``sys.modules`` is process-wide, so two threads predicting at the same moment
with two models whose ``predict`` imports a same-named module *lazily* may see each
other's entry during that call; module-level imports (the usual case) are bound once at
load and are unaffected.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib.abc
import importlib.machinery
import itertools
import os
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any

__all__ = ["CodeScope", "isolate_predict"]

_PREFIX = "_pyfunc_ops_code_"
_ACTIVE: contextvars.ContextVar[CodeScope | None] = contextvars.ContextVar(
    "pyfunc_ops_code_scope", default=None
)
_COUNTER = itertools.count(1)
_INSTALL_LOCK = threading.Lock()
# Loads that import a model's code swap plain names in ``sys.modules``: one at a time.
_LOAD_LOCK = threading.RLock()


class _CachedLoader(importlib.abc.Loader):
    """Hands back a module the scope imported before (a repeated, lazy import)."""

    def __init__(self, module: ModuleType) -> None:
        self._module = module

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return self._module

    def exec_module(self, module: ModuleType) -> None:
        """Already executed when it was first imported."""


class _ScopeFinder(importlib.abc.MetaPathFinder):
    """Finds the active scope's modules in its code folders (never anything else)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        scope = _ACTIVE.get()
        if scope is None:
            return None
        return scope.find_spec(fullname, path, target)


_FINDER = _ScopeFinder()


def _install_finder() -> None:
    with _INSTALL_LOCK:
        if _FINDER not in sys.meta_path:
            sys.meta_path.insert(0, _FINDER)


def _provided_names(roots: Sequence[str]) -> frozenset[str]:
    """Top-level module names the code folders ``roots`` hold (files and packages)."""
    suffixes = tuple(importlib.machinery.all_suffixes())
    names: set[str] = set()
    for root in roots:
        try:
            entries = list(os.scandir(root))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir() and entry.name.isidentifier():
                names.add(entry.name)
            elif entry.name.endswith(suffixes):
                stem = entry.name.partition(".")[0]
                if stem.isidentifier():
                    names.add(stem)
    return frozenset(names)


@functools.cache
def _installed_roots() -> tuple[str, ...]:
    """Folders of the standard library and installed packages (never set aside)."""
    paths = sysconfig.get_paths()
    keys = ("stdlib", "platstdlib", "purelib", "platlib")
    return tuple(os.path.realpath(paths[k]) + os.sep for k in keys if k in paths)


def _is_installed(module: ModuleType) -> bool:
    """Whether ``module`` is built in, from the standard library or an installed package."""
    file = getattr(module, "__file__", None)
    if not file:
        return True  # built-in, frozen or a namespace package: not the caller's own file
    return os.path.realpath(file).startswith(_installed_roots())


class CodeScope:
    """The code folders of one loaded model and the modules imported from them."""

    def __init__(self, roots: Sequence[str], label: str) -> None:
        self.roots = [str(r) for r in roots]
        self.label = label
        self.prefix = f"{_PREFIX}{next(_COUNTER)}"
        self._top: set[str] = set()  # top-level names this scope answered for
        self._seen: set[str] = set()  # every module name it answered for
        self.modules: dict[str, ModuleType] = {}  # plain name -> module, once left
        self._provides = _provided_names(self.roots)
        _install_finder()

    def __repr__(self) -> str:
        return f"CodeScope({self.label!r}, prefix={self.prefix!r})"

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None
    ) -> importlib.machinery.ModuleSpec | None:
        top = fullname.partition(".")[0]
        cached = self.modules.get(fullname)
        if cached is not None:
            return importlib.machinery.ModuleSpec(
                fullname, _CachedLoader(cached), origin=getattr(cached, "__file__", None)
            )
        if "." in fullname:
            if top not in self._top:
                return None
            spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        else:
            spec = importlib.machinery.PathFinder.find_spec(fullname, self.roots, target)
            if spec is not None:
                self._top.add(top)
        if spec is not None:
            self._seen.add(fullname)
        return spec

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Make this model's modules importable under their plain names for the block."""
        token = _ACTIVE.set(self)
        shadowed: dict[str, ModuleType] = {}
        self._set_aside_callers_modules(shadowed)
        for name, module in self.modules.items():
            previous = sys.modules.get(name)
            if previous is not None and previous is not module:
                shadowed[name] = previous
            sys.modules[name] = module
        try:
            yield
        finally:
            _ACTIVE.reset(token)
            self._leave(shadowed)

    def _set_aside_callers_modules(self, shadowed: dict[str, ModuleType]) -> None:
        """Take the caller's own modules that this model's code also provides out of
        ``sys.modules`` (into ``shadowed``, restored on leaving), so the model's import
        reaches the finder instead of the caller's module."""
        if not self._provides:
            return
        for name in [n for n in sys.modules if n.partition(".")[0] in self._provides]:
            module = sys.modules.get(name)
            if module is None or name in self.modules or _is_installed(module):
                continue
            if getattr(module, "__name__", "").startswith(_PREFIX):
                continue
            shadowed[name] = module
            del sys.modules[name]

    def _leave(self, shadowed: dict[str, ModuleType]) -> None:
        for name in self._seen | set(self.modules):
            module = sys.modules.get(name)
            if module is None:
                continue
            if name in self.modules and module is not self.modules[name]:
                continue  # another model's entry arrived meanwhile: leave it
            self.modules[name] = module
            sys.modules[f"{self.prefix}.{name}"] = module
            del sys.modules[name]
        sys.modules.update(shadowed)

    @contextlib.contextmanager
    def loading(self) -> Iterator[None]:
        """Active, and the only scope importing code now (the load of this model)."""
        with _LOAD_LOCK, self.active():
            yield


def active_scope() -> CodeScope | None:
    """The scope active in this context (while a model with code loads or predicts)."""
    return _ACTIVE.get()


def _wrap(scope: CodeScope, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def in_scope(*args: Any, **kwargs: Any) -> Any:
        if _ACTIVE.get() is scope:
            return method(*args, **kwargs)
        with scope.active():
            return method(*args, **kwargs)

    return in_scope


def isolate_predict(impl: Any, scope: CodeScope) -> Any:
    """Run ``impl.predict`` (and ``predict_stream``) with ``scope`` active.

    The bound methods are replaced on the instance, so ``impl`` keeps its type (callers
    look at ``get_raw_model()``); an object that refuses new attributes is returned
    unchanged (its module-level imports were resolved at load already).
    """
    for name in ("predict", "predict_stream"):
        method = getattr(impl, name, None)
        if method is None:
            continue
        try:
            setattr(impl, name, _wrap(scope, method))
        except (AttributeError, TypeError):
            return impl
    return impl
