"""The flavor registry: which module of ours reads and writes each framework's models.

One line per flavor (fsspec's lazy registry of backends is the model): the flavor key an
MLmodel uses (also MLflow's module name, ``mlflow.<key>``), the dotted path of our module
serving it, the framework's import name and what to ``pip install`` when it is missing, and
the top-level modules whose objects the flavor saves (to pick a flavor for an object). A
flavor module is imported on first use only, so importing pyfunc_ops stays cheap, and a
new flavor is one module plus one line here: the loader mapping (:mod:`pyfunc_ops.pyfunc.
compat`), the trust check (:mod:`pyfunc_ops.pyfunc.trust`), packaging, ``describe`` and the
layer test all read this table.

Every flavor module offers ``save_model``, ``log_model``, ``load_model``, ``_load_pyfunc``
(MLflow's names and parameters) and ``code_reason(flavors)``: what in an MLmodel's flavor
sections would run code when loaded (a pickle), or ``None`` for a format that builds its
objects from data only.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType, ModuleType
from typing import Any

from pyfunc_ops.errors import LoaderError


@dataclass(frozen=True)
class FlavorSpec:
    """One registry line: see the module docstring."""

    name: str
    module: str
    framework: str
    install: str
    object_modules: tuple[str, ...]
    #: the distribution whose version the flavor section records (default: ``install``).
    dist: str = ""

    @property
    def mlflow_loader(self) -> str:
        """The ``loader_module`` MLflow writes for this flavor (and so do we)."""
        return f"mlflow.{self.name}"

    @property
    def distribution(self) -> str:
        return self.dist or self.install.split()[0]


_SPECS = (
    FlavorSpec("sklearn", "pyfunc_ops.sklearn", "sklearn", "scikit-learn", ("sklearn",)),
    FlavorSpec("xgboost", "pyfunc_ops.xgboost", "xgboost", "xgboost", ("xgboost",)),
    FlavorSpec("lightgbm", "pyfunc_ops.lightgbm", "lightgbm", "lightgbm", ("lightgbm",)),
    FlavorSpec("catboost", "pyfunc_ops.catboost", "catboost", "catboost", ("catboost",)),
    FlavorSpec(
        "statsmodels", "pyfunc_ops.statsmodels", "statsmodels", "statsmodels", ("statsmodels",)
    ),
    FlavorSpec("onnx", "pyfunc_ops.onnx", "onnxruntime", "onnx onnxruntime", ("onnx",), "onnx"),
    FlavorSpec("spark", "pyfunc_ops.spark", "pyspark", "pyspark", ("pyspark",)),
    FlavorSpec("pytorch", "pyfunc_ops.pytorch", "torch", "torch", ("torch",)),
    FlavorSpec("keras", "pyfunc_ops.keras", "keras", "keras", ("keras",)),
)

#: flavor key -> spec; read-only to the outside.
FLAVORS: Mapping[str, FlavorSpec] = MappingProxyType({s.name: s for s in _SPECS})

#: Loader module names older pyfunc_ops versions wrote -> the flavor now serving them.
LEGACY_LOADERS: Mapping[str, str] = MappingProxyType({"pyfunc_ops.sklearn": "sklearn"})

#: The loader modules of custom ``PythonModel`` models (ours is the served module).
PYTHON_MODEL_MODULE = "pyfunc_ops.pyfunc.model"
PYTHON_MODEL_LOADERS: frozenset[str] = frozenset(
    {PYTHON_MODEL_MODULE, "mlflow.pyfunc.model", "mlflow.pyfunc.loaders.code_model"}
)
#: What a PythonModel model's MLmodel names (MLflow's name, so stock MLflow loads it).
PYTHON_MODEL_LOADER = "mlflow.pyfunc.model"


def spec_for_loader(loader: object) -> FlavorSpec | None:
    """The flavor serving the loader module ``loader`` (MLflow's, ours, or a legacy name)."""
    if not isinstance(loader, str):
        return None
    name = LEGACY_LOADERS.get(loader)
    if name is None and loader.startswith("mlflow."):
        name = loader[len("mlflow.") :]
    if name is None:
        name = next((s.name for s in _SPECS if s.module == loader), None)
    return FLAVORS.get(name) if name else None


def loader_target(loader: str) -> str:
    """The module that serves ``loader``: ours for a registered flavor or a PythonModel."""
    if loader in PYTHON_MODEL_LOADERS:
        return PYTHON_MODEL_MODULE
    spec = spec_for_loader(loader)
    return spec.module if spec is not None else loader


def spec_for_model(flavors: Mapping[str, Any]) -> FlavorSpec | None:
    """The registered flavor of an MLmodel's ``flavors``: the one its python_function loader
    names, else the first registered flavor key it has."""
    conf = flavors.get("python_function") or {}
    spec = spec_for_loader(conf.get("loader_module")) if isinstance(conf, dict) else None
    if spec is not None:
        return spec
    return next((FLAVORS[k] for k in flavors if k in FLAVORS), None)


def spec_for_object(obj: object) -> FlavorSpec | None:
    """The flavor that saves ``obj``: the first class of its MRO defined in a framework."""
    for cls in type(obj).__mro__:
        top = (getattr(cls, "__module__", "") or "").split(".")[0]
        for spec in _SPECS:
            if top in spec.object_modules:
                return spec
    return None


def import_flavor(spec: FlavorSpec) -> ModuleType:
    """Our module for ``spec`` (cheap: a flavor module imports its framework on use)."""
    return importlib.import_module(spec.module)


def import_framework(flavor: str, module: str | None = None) -> ModuleType:
    """Import ``module`` (default: the flavor's framework), or raise a :class:`LoaderError`
    that names the package to install."""
    spec = FLAVORS[flavor]
    name = module or spec.framework
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise LoaderError(
            f"The {flavor} flavor needs the Python package {spec.install!r}, which cannot be "
            f"imported here ({exc}). Install it: pip install {spec.install}"
        ) from exc


def framework_version(spec: FlavorSpec) -> str | None:
    """The installed version of the flavor's framework, or ``None``."""
    try:
        return importlib.metadata.version(spec.distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def flavor_specs() -> Iterator[FlavorSpec]:
    """Every registered flavor, in registry order."""
    return iter(_SPECS)
