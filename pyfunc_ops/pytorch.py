"""The PyTorch flavor: save, log and load a ``torch.nn.Module``; a pyfunc ``loader_module``.

Two formats, as MLflow 3.18 writes them under ``data/``:

- ``pt2`` (the default outside Databricks, as in MLflow): ``torch.export`` traces the module
  with the ``input_example`` into an ``ExportedProgram`` saved by ``torch.export.save`` as
  ``data/model.pt2``. The archive is a graph (JSON) plus raw tensor bytes, so it can load
  from an untrusted place. ``torch.export.load`` itself is not so careful (it unpickles
  some records with ``weights_only=False``, loads compiled AOTInductor libraries, and hands
  shape expressions to ``sympy.sympify``, an ``eval``), so before an untrusted archive is
  handed to it every record is checked to be one of what a plain export writes: JSON with
  operator names under ``torch.ops`` and shape expressions from a small grammar, raw tensor
  bytes, short text, or a ``torch.save`` file whose pickle references tensor-building
  globals only (read with ``pickletools``, never unpickled). Anything else needs trust.
- ``pickle`` (``serialization_format="pickle"``): ``torch.save`` of the whole module as
  ``data/model.pth`` with the pickle module named in ``data/pickle_module_info.txt``
  (MLflow's cloudpickle shim by default). Unpickling runs code, so it needs trust.

MLflow's MLmodel does not record which of the two a model is (the ``pytorch`` section and
python_function look the same); we add ``serialization_format`` to the ``pytorch`` section
of what we write (stock MLflow ignores it) so ``code_reason`` can tell from the MLmodel
alone, and the loaders decide from the files for models MLflow wrote.

The pyfunc wrapper predicts as MLflow's: a DataFrame becomes a float32 tensor and the
result a DataFrame on the input's index; an ndarray goes in as it is and comes back as an
ndarray; the model must return one tensor.
"""

from __future__ import annotations

import io
import json
import logging
import os
import pickle
import pickletools
import re
import sys
import types
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyfunc_ops.errors import InvalidParameterError, ModelFormatError, SerializationError

if TYPE_CHECKING:
    from pyfunc_ops.models.model import Model
    from pyfunc_ops.pyfunc.flavor_support import OpenedFlavor
    from pyfunc_ops.pyfunc.trust import TrustDecision

log = logging.getLogger(__name__)

FLAVOR_NAME = "pytorch"
SERIALIZATION_FORMATS = ("pt2", "pickle")
DEFAULT_SERIALIZATION_FORMAT = "pt2"
#: What ``read_native`` (``package_model(estimator_path=...)``) takes as a PyTorch file.
NATIVE_SUFFIXES: tuple[str, ...] = (".pt2", ".pth", ".pt")

_DATA = "data"
_PT2_FILE = "model.pt2"
_PTH_FILE = "model.pth"
_PICKLE_INFO_FILE = "pickle_module_info.txt"
#: The pickle module MLflow saves with (cloudpickle behind torch.save's interface); a model
#: we write names it too, so stock MLflow unpickles it with its own module.
MLFLOW_PICKLE_MODULE = "mlflow.pytorch.pickle_module"
#: Pickle modules a ``pickle_module_info.txt`` may name (the name is imported at load).
_PICKLE_MODULES = (MLFLOW_PICKLE_MODULE, "pickle", "cloudpickle", "dill")


def _torch() -> Any:
    from pyfunc_ops.models.flavors import import_framework

    return import_framework(FLAVOR_NAME)


def _pin(dist: str) -> str:
    """``dist==<installed version>`` without a local label (``2.5.0``, not ``2.5.0+cu121``:
    what an index serves, as MLflow pins it)."""
    import importlib.metadata

    try:
        return f"{dist}=={importlib.metadata.version(dist).split('+')[0]}"
    except importlib.metadata.PackageNotFoundError:
        return dist


def get_default_pip_requirements() -> list[str]:
    """What a saved model's ``requirements.txt`` lists by default: MLflow's pin,
    cloudpickle (MLflow's pickle module uses it) and torch."""
    from pyfunc_ops.models import env as env_files

    return [*env_files.default_pip_requirements(), _pin("torch")]


def code_reason(flavors: dict[str, Any]) -> str | None:
    """A ``pickle`` model runs code when loaded. MLflow records no format: such a model is
    judged where its file is opened (``model.pth`` is a pickle; see the module docstring)."""
    conf = flavors.get(FLAVOR_NAME) or {}
    if conf.get("serialization_format") == "pickle":
        return f"its PyTorch model is a pickle file ({_PTH_FILE}), and unpickling runs code"
    return None


# --------------------------------------------------------------------------- saving


def _pickle_module() -> types.ModuleType:
    """cloudpickle behind ``torch.save``'s ``pickle_module`` interface, under MLflow's name
    (torch.save takes ``Pickler`` from it; cloudpickle's own ``Pickler`` is the plain one)."""
    import cloudpickle

    shim = types.ModuleType(MLFLOW_PICKLE_MODULE)
    shim.__dict__.update({k: v for k, v in vars(cloudpickle).items() if not k.startswith("__")})
    shim.Pickler = cloudpickle.CloudPickler  # type: ignore[attr-defined]
    shim.Unpickler = pickle.Unpickler  # type: ignore[attr-defined]
    shim.load = pickle.load  # type: ignore[attr-defined]
    shim.loads = pickle.loads  # type: ignore[attr-defined]
    return shim


def _example_tensors(torch: Any, input_example: Any) -> tuple[list[Any], bool]:
    """The example as a list of tensors, and whether it is a single ndarray (the one case
    MLflow writes a python_function flavor and an input example for)."""
    import numpy as np

    items = (
        [input_example]
        if isinstance(input_example, (np.ndarray, torch.Tensor))
        else list(input_example)
        if isinstance(input_example, (list, tuple))
        else None
    )
    if not items or not all(isinstance(v, (np.ndarray, torch.Tensor)) for v in items):
        raise InvalidParameterError(
            "serialization_format='pt2' needs input_example: a numpy array or torch tensor, or "
            "a list/tuple of them (torch.export traces the model by running forward on it), "
            f"got {type(input_example).__name__}. Pass one, or save with "
            "serialization_format='pickle'."
        )
    tensors = [torch.from_numpy(v) if isinstance(v, np.ndarray) else v for v in items]
    single_array = len(items) == 1 and isinstance(items[0], np.ndarray)
    return tensors, single_array


def _pt2_signature(
    torch: Any, model: Any, tensors: list[Any], signature: Any, single_array: bool
) -> Any:
    """The signature a pt2 save records: the caller's, else (a single ndarray example, as
    MLflow infers it) tensor specs of the example and of the model's output on it."""
    from pyfunc_ops.models.signature import ModelSignature, infer_signature

    if signature is None and single_array:
        with torch.no_grad():
            out = model(tensors[0])
        output = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else None
        signature = infer_signature(tensors[0].numpy(), output)
    inputs = signature.inputs if isinstance(signature, ModelSignature) else None
    if inputs is None or not inputs.inputs or not inputs.is_tensor:
        raise InvalidParameterError(
            "serialization_format='pt2' needs a signature whose inputs are tensor specs (one "
            "per example tensor), or a single numpy array as input_example to infer it from; "
            f"got {signature!r}. Pass signature=..., or save with serialization_format='pickle'."
        )
    if len(inputs.inputs) != len(tensors):
        raise InvalidParameterError(
            f"The signature declares {len(inputs.inputs)} input tensor(s) but input_example "
            f"has {len(tensors)}; give one example tensor per signature input."
        )
    return signature


def _export(torch: Any, model: Any, tensors: list[Any], specs: Sequence[Any], dest: Path) -> None:
    """``torch.export`` the module with a free dimension wherever the signature has -1."""
    from torch.export import Dim

    dynamic: list[dict[int, Any] | None] = []
    for spec, tensor in zip(specs, tensors, strict=True):
        dims: dict[int, Any] = {}
        for i, size in enumerate(spec.shape):
            if size != -1:
                continue
            if hasattr(Dim, "AUTO"):
                dims[i] = Dim.AUTO  # the exporter specializes a size-1 example dimension
            elif tensor.shape[i] > 1:
                dims[i] = Dim(f"dim_{i}")
        dynamic.append(dims or None)
    try:
        program = torch.export.export(model, tuple(tensors), dynamic_shapes=dynamic)
    except Exception as exc:  # torch.export raises many types for untraceable code
        raise SerializationError(
            f"torch.export cannot trace the {type(model).__name__} with the input example "
            f"({type(exc).__name__}: {str(exc).strip()[:500]}). Fix the model or the example, "
            "or save with serialization_format='pickle'."
        ) from exc
    torch.export.save(program, str(dest))


def save_model(
    pytorch_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    mlflow_model: Model | None = None,
    code_paths: list[str | os.PathLike[str]] | None = None,
    pickle_module: Any = None,
    signature: Any = None,
    input_example: Any = None,
    extra_files: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    metadata: dict[str, Any] | None = None,
    export_model: bool = False,
    serialization_format: str | None = None,
    **kwargs: Any,
) -> Model:
    """Save a ``torch.nn.Module`` to the local folder ``path`` in MLflow 3.18's layout.

    ``serialization_format``: ``"pt2"`` (the default; needs ``input_example``, a numpy array
    or tensor or a list of them, and a tensor signature, inferred from a single array) or
    ``"pickle"`` (``torch.save`` of the module with ``pickle_module``, MLflow's cloudpickle
    shim by default; ``kwargs`` go to ``torch.save``). ``export_model=True`` is MLflow's
    older spelling of ``"pt2"``. ``metadata`` goes to the MLmodel's ``metadata``.
    ``extra_files`` is not supported (MLflow's ``requirements_file`` sections are
    deprecated); pass files with ``code_paths``.
    """
    from pyfunc_ops.pyfunc.flavor_support import add_sections
    from pyfunc_ops.pyfunc.save import StagedModel, write_model

    torch = _torch()
    fmt = serialization_format or DEFAULT_SERIALIZATION_FORMAT
    if export_model and serialization_format == "pickle":
        raise InvalidParameterError(
            "export_model=True and serialization_format='pickle' contradict each other; pass "
            "serialization_format only ('pt2' or 'pickle')."
        )
    if fmt not in SERIALIZATION_FORMATS:
        raise InvalidParameterError(
            f"serialization_format {fmt!r} is not supported; use 'pt2' (the default, safe to "
            "load from untrusted places) or 'pickle'."
        )
    if not isinstance(pytorch_model, torch.nn.Module):
        raise InvalidParameterError(
            f"pytorch.save_model takes a torch.nn.Module, got "
            f"{type(pytorch_model).__module__}.{type(pytorch_model).__qualname__}."
        )
    if extra_files:
        raise InvalidParameterError(
            "extra_files is not supported by pyfunc_ops.pytorch; ship files with code_paths."
        )
    from pyfunc_ops.pyfunc.validate import check_metadata

    check_metadata(metadata)
    example_to_save = input_example
    pyfunc = True
    if fmt == "pt2":
        if isinstance(pytorch_model, torch.jit.ScriptModule):
            raise InvalidParameterError(
                "A TorchScript module cannot be exported as pt2; save it with "
                "serialization_format='pickle'."
            )
        tensors, single_array = _example_tensors(torch, input_example)
        signature = _pt2_signature(torch, pytorch_model, tensors, signature, single_array)
        # As MLflow: a tensor or several example tensors give no python_function flavor
        # (pyfunc feeds one array), and such an example is not written as input example.
        pyfunc = single_array
        example_to_save = input_example if single_array else None
    elif pickle_module is not None and not isinstance(
        getattr(pickle_module, "__name__", None), str
    ):
        raise InvalidParameterError(
            f"pickle_module must be a module (such as cloudpickle), got {pickle_module!r}."
        )

    def write_pytorch(staged: StagedModel) -> None:
        data = staged.path / _DATA
        data.mkdir()
        module_name = getattr(pickle_module, "__name__", None) or MLFLOW_PICKLE_MODULE
        if fmt == "pt2":
            _export(torch, pytorch_model, tensors, signature.inputs.inputs, data / _PT2_FILE)
        else:
            (data / _PICKLE_INFO_FILE).write_text(module_name)
            target = str(data / _PTH_FILE)
            if isinstance(pytorch_model, torch.jit.ScriptModule):
                torch.jit.save(pytorch_model, target)
            else:
                torch.save(
                    pytorch_model, target, pickle_module=pickle_module or _pickle_module(), **kwargs
                )
        if pyfunc:
            add_sections(
                staged,
                FLAVOR_NAME,
                _DATA,
                {"pickle_module_name": module_name, "config": {"device": None}},
            )
        staged.model.add_flavor(
            FLAVOR_NAME,
            model_data=_DATA,
            pytorch_version=str(torch.__version__),
            code=staged.code,
            serialization_format=fmt,
        )

    return write_model(
        path,
        write_pytorch,
        mlflow_model,
        code_paths,
        signature,
        example_to_save,
        conda_env,
        pip_requirements,
        extra_pip_requirements,
        get_default_pip_requirements(),
        metadata=metadata,
    )


def log_model(
    pytorch_model: Any,
    artifact_path: str,
    registered_model_name: str | None = None,
    **kwargs: Any,
) -> Any:
    """Log a module under the active run (started if needed); optionally register it.
    ``kwargs`` are :func:`save_model`'s."""
    from pyfunc_ops.pyfunc.log import log_model_with

    return log_model_with(
        save_model, artifact_path, registered_model_name, pytorch_model=pytorch_model, **kwargs
    )


# --------------------------------------------------------------------------- pt2 checks

#: Short text records torch.export.save writes and never unpickles.
_TEXT_RECORDS = frozenset(
    {"version", "archive_format", "archive_version", "byteorder", "serialization_id"}
)
# At most one newline and ASCII only: no room for pickle opcodes.
_TEXT_CONTENT = re.compile(rb"[A-Za-z0-9._-]{1,64}\n?")
# Globals a torch.save of plain tensors references; nothing else may appear in an untrusted
# archive's pickles (each only builds a tensor, a storage or an ordered dict).
_TENSOR_GLOBALS = frozenset(
    {
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter",
        "collections.OrderedDict",
        "torch.storage.UntypedStorage",
        "torch.UntypedStorage",
        "torch.Size",
        *(
            f"torch.{kind}Storage"
            for kind in (
                "Float",
                "Double",
                "Half",
                "BFloat16",
                "Long",
                "Int",
                "Short",
                "Char",
                "Byte",
                "Bool",
                "ComplexFloat",
                "ComplexDouble",
            )
        ),
    }
)
_STRING_OPS = frozenset(
    {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE"}
    | {"BINUNICODE8"}
)
_MEMO_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})
_REFUSED_OPS = frozenset({"INST", "OBJ", "EXT1", "EXT2", "EXT4"})
# Graph operator names: torch.ops.<namespace>.<op>[.<overload>] (each part resolved with
# getattr from ``torch``, so no dunder may appear), or Python's operator and math functions.
_TARGET = re.compile(r"^(torch\.ops|_operator|math)(\.[A-Za-z0-9_]+)+$")
# What a shape expression (read with sympy.sympify, an eval) may contain: sympy's
# constructors torch writes, assumption keywords, symbol names, numbers.
_EXPR_WORDS = frozenset(
    {
        "Symbol",
        "Integer",
        "Rational",
        "Float",
        "Add",
        "Mul",
        "Pow",
        "Max",
        "Min",
        "Abs",
        "Eq",
        "Ne",
        "Lt",
        "Le",
        "Gt",
        "Ge",
        "And",
        "Or",
        "Not",
        "True",
        "False",
        "None",
        "oo",
        "floor",
        "ceiling",
        "sqrt",
        "positive",
        "negative",
        "nonnegative",
        "nonpositive",
        "integer",
        "real",
        "finite",
        "zero",
        "nonzero",
        "even",
        "odd",
        "FloorDiv",
        "ModularIndexing",
        "Where",
        "PythonMod",
        "Mod",
        "CleanDiv",
        "CeilToInt",
        "FloorToInt",
        "CeilDiv",
        "LShift",
        "RShift",
        "PowByNatural",
        "FloatPow",
        "FloatTrueDiv",
        "IntTrueDiv",
        "IsNonOverlappingAndDenseIndicator",
        "TruncToFloat",
        "TruncToInt",
        "RoundToInt",
        "RoundDecimal",
        "ToFloat",
        "Identity",
    }
)
_EXPR_NUMBER = re.compile(r"(?<![A-Za-z_0-9])\d+(\.\d+)?([eE][-+]?\d+)?")
_EXPR_QUOTED = re.compile(r"'[A-Za-z0-9_]*'|\"[A-Za-z0-9_]*\"")
_EXPR_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPR_SYMBOL = re.compile(r"^[a-z]+[0-9]+$")
_EXPR_REST = re.compile(r"^[\s+\-*/%(),=<>!]*$")


def _pickle_globals(data: bytes) -> set[str]:
    """The ``module.name`` globals a pickle stream references, read without unpickling it.
    A stream whose globals cannot be read statically raises ``ValueError`` (fail closed)."""
    found: set[str] = set()
    recent: list[str] = []
    for opcode, arg, _ in pickletools.genops(data):
        name = opcode.name
        if name in _REFUSED_OPS:
            raise ValueError(f"opcode {name}")
        if name == "GLOBAL":
            module, _, attr = str(arg).partition(" ")
            found.add(f"{module}.{attr}")
        elif name == "STACK_GLOBAL":
            if len(recent) < 2:
                raise ValueError("STACK_GLOBAL without literal operands")
            found.add(f"{recent[-2]}.{recent[-1]}")
            recent = []
        elif name in _STRING_OPS:
            recent.append(str(arg))
        elif name not in _MEMO_OPS:
            recent = []
    return found


def _check_torch_save(content: bytes) -> str | None:
    """Why a ``torch.save`` record may run code when loaded, or ``None``."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            pickles = [n for n in archive.namelist() if n.endswith(".pkl")]
            if not pickles:
                return "it is not a torch.save file of tensors"
            for member in pickles:
                extra = _pickle_globals(archive.read(member)) - _TENSOR_GLOBALS
                if extra:
                    return f"its pickle references {sorted(extra)}"
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        return f"it is neither JSON, raw tensor data nor a readable tensor pickle ({exc})"
    return None


def _walk_json(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of a JSON document, depth first."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k), v
            yield from _walk_json(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _walk_json(v, key)


def _bad_expression(text: str) -> bool:
    """Whether a shape expression holds anything but what torch writes (see _EXPR_WORDS)."""
    rest = _EXPR_QUOTED.sub(" ", _EXPR_NUMBER.sub(" ", text))
    for word in _EXPR_WORD.findall(rest):
        if word not in _EXPR_WORDS and not _EXPR_SYMBOL.match(word):
            return True
    return not _EXPR_REST.match(_EXPR_WORD.sub(" ", rest))


def _check_graph_json(document: Any) -> str | None:
    """Why a JSON record would make ``torch.export.load`` run code, or ``None``."""
    for key, value in _walk_json(document):
        if key == "nodes" and isinstance(value, list):
            for node in value:
                target = node.get("target") if isinstance(node, dict) else None
                if target is None:
                    continue
                if not isinstance(target, str) or "__" in target or not _TARGET.match(target):
                    return f"its graph calls {target!r}, which is not a torch operator"
        elif key == "expr_str" and isinstance(value, str) and _bad_expression(value):
            return f"its shape expression {value[:80]!r} is not one torch writes"
        elif key == "range_constraints" and isinstance(value, dict):
            bad = next((k for k in value if _bad_expression(str(k))), None)
            if bad is not None:
                return f"its shape expression {bad[:80]!r} is not one torch writes"
    return None


def _raw_tensor_records(archive: zipfile.ZipFile) -> set[str]:
    """Records the payload configs declare raw tensor bytes (read without unpickling)."""
    raw: set[str] = set()
    pickled: set[str] = set()
    config = re.compile(r"(^|/)data/(weights|constants)/[^/]+_config\.json$")
    for name in archive.namelist():
        if not config.search(name):
            continue
        try:
            entries = json.loads(archive.read(name)).get("config") or {}
        except (ValueError, AttributeError):
            continue
        folder = name.rsplit("/", 1)[0]
        for entry in entries.values() if isinstance(entries, dict) else ():
            path_name = entry.get("path_name") if isinstance(entry, dict) else None
            if not isinstance(path_name, str) or "/" in path_name:
                continue
            record = f"{folder}/{path_name}"
            if entry.get("use_pickle") is False and path_name.startswith(("weight_", "tensor_")):
                raw.add(record)
            else:
                pickled.add(record)
    return raw - pickled


def pt2_code_reason(path: Path) -> str | None:
    """Why loading the pt2 archive ``path`` with ``torch.export.load`` could run code the
    archive brings, or ``None`` when it holds only what a plain export writes."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SerializationError(
            f"{path}: not a pt2 archive (a zip file written by torch.export.save): {exc}. "
            "Restore the file, or save the model again."
        ) from exc
    with archive:
        raw = _raw_tensor_records(archive)
        for info in archive.infolist():
            name = info.filename
            if info.is_dir() or name in raw:
                continue
            if "/aotinductor/" in f"/{name}" or name.endswith((".so", ".dll", ".dylib")):
                return f"its record {name!r} is compiled AOTInductor code"
            content = archive.read(info)
            if name.rsplit("/", 1)[-1] in _TEXT_RECORDS and _TEXT_CONTENT.fullmatch(content):
                continue
            try:
                document = json.loads(content.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                why = _check_torch_save(content)
            else:
                why = _check_graph_json(document)
            if why is not None:
                return f"its record {name!r}: {why}"
    return None


# --------------------------------------------------------------------------- loading


def _model_data(opened: OpenedFlavor) -> Path:
    """The folder of the model files: the flavor's ``model_data`` (``data``)."""
    folder: Path = opened.file(opened.conf.get("model_data", _DATA), f"{FLAVOR_NAME}.model_data")
    if not folder.is_dir():
        raise ModelFormatError(
            f"{opened.path / 'MLmodel'}: {FLAVOR_NAME}.model_data names {folder.name!r}, "
            "which is not a folder. Save the model again."
        )
    return folder


def _pickle_module_named(name: str, where: Path) -> Any:
    """The module a pickle model names (only pickle-compatible modules are imported)."""
    import importlib

    if name not in _PICKLE_MODULES:
        raise ModelFormatError(
            f"{where}: names the pickle module {name!r}; only {list(_PICKLE_MODULES)} are "
            "imported to read a PyTorch model. Save the model again."
        )
    if name in (MLFLOW_PICKLE_MODULE, "cloudpickle"):
        # cloudpickle has no ``Unpickler`` (torch.load needs one); its files are pickle's.
        return _pickle_module()
    return importlib.import_module(name)


def _load_pickled(folder: Path, trust: TrustDecision, device: str | None) -> Any:
    torch = _torch()
    path = folder / _PTH_FILE
    trust.require(f"its PyTorch model is a pickle file ({path.name}), and unpickling runs code")
    info = folder / _PICKLE_INFO_FILE
    name = info.read_text().strip() if info.is_file() else MLFLOW_PICKLE_MODULE
    module = _pickle_module_named(name, info)
    location = device or "cpu"
    try:
        model = torch.load(
            str(path), pickle_module=module, weights_only=False, map_location=location
        )
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, IndexError) as exc:
        raise SerializationError(
            f"{path}: torch cannot read this PyTorch model ({type(exc).__name__}: "
            f"{str(exc).strip()[:300]}). Restore the file, or save the model again."
        ) from exc
    except (AttributeError, ModuleNotFoundError) as exc:
        raise SerializationError(
            f"{path}: the pickled model needs code that is not importable here ({exc}). Install "
            "the package defining the model's class, or ship it with code_paths."
        ) from exc
    model.eval()
    return model


def _load_exported(path: Path, trust: TrustDecision, device: str | None) -> Any:
    torch = _torch()
    if not trust.trusted:
        reason = pt2_code_reason(path)
        if reason is not None:
            trust.require(f"its pt2 archive {path.name} is not a plain export ({reason})")
    try:
        program = torch.export.load(str(path))
    except Exception as exc:  # torch raises many types for a damaged archive
        raise SerializationError(
            f"{path}: torch {torch.__version__} cannot read this pt2 archive "
            f"({type(exc).__name__}: {str(exc).strip()[:300]}). Restore the file, or save the "
            "model again (pt2 archives need the torch version that wrote them, or newer)."
        ) from exc
    module = program.module()
    if device:
        target = torch.device(device).type
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.device.type != target:
                raise InvalidParameterError(
                    f"{path}: the exported program holds tensors on {tensor.device.type!r}, "
                    f"so it cannot run on {target!r}; save the model moved to {target!r} "
                    f"(model.to({target!r})) or load it on {tensor.device.type!r}."
                )
    return module


def _load_from(folder: Path, trust: TrustDecision, device: str | None = None) -> Any:
    """The module in the ``data`` folder: ``model.pth`` (a pickle) else ``model.pt2``."""
    if (folder / _PTH_FILE).exists():
        return _load_pickled(folder, trust, device)
    if (folder / _PT2_FILE).is_file():
        return _load_exported(folder / _PT2_FILE, trust, device)
    raise ModelFormatError(
        f"{folder}: holds neither {_PT2_FILE} nor {_PTH_FILE}; this is not a PyTorch model "
        "folder MLflow or pyfunc_ops wrote. Restore the files, or save the model again."
    )


def load_model(
    model_uri: str | os.PathLike[str],
    dst_path: str | os.PathLike[str] | None = None,
    *,
    trust_remote_code: bool | None = None,
    device: str | None = None,
) -> Any:
    """Load the ``torch.nn.Module`` itself from any model URI.

    A pt2 model loads from an untrusted place (its archive is checked first, see the module
    docstring) and comes back as ``ExportedProgram.module()``, as in MLflow; a pickled one
    needs ``trust_remote_code=True`` there. ``device``: where to put the module (a pt2
    program cannot move, so it must match). ``dst_path`` is accepted for MLflow's
    signature and ignored (models are cached by pyfunc_ops).
    """
    from pyfunc_ops.pyfunc.flavor_support import open_for_load

    opened = open_for_load(model_uri, FLAVOR_NAME, trust_remote_code)
    module = _load_from(_model_data(opened), opened.trust, device)
    if device and (_model_data(opened) / _PTH_FILE).exists():
        module.to(device)
    return module


def read_native(path: str | os.PathLike[str]) -> Any:
    """A PyTorch file as its module: ``.pt2`` (``torch.export.save``) or ``.pth``/``.pt``
    (``torch.save`` of a whole module, a pickle: only for a file of your own). For
    ``package_model(estimator_path=...)``."""
    from pyfunc_ops.pyfunc.trust import TRUSTED_LOCAL

    target = Path(path)
    if not target.is_file():
        raise InvalidParameterError(f"{target}: no such PyTorch model file.")
    if target.suffix == ".pt2":
        return _load_exported(target, TRUSTED_LOCAL, None)
    torch = _torch()
    try:
        model = torch.load(str(target), weights_only=False, map_location="cpu")
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError) as exc:
        raise SerializationError(f"{target}: torch cannot read this file ({exc}).") from exc
    if not isinstance(model, torch.nn.Module):
        raise SerializationError(
            f"{target}: holds a {type(model).__name__}, not a torch.nn.Module (a state dict "
            "needs its model class: build the module, load_state_dict, and pass the module)."
        )
    model.eval()
    return model


class _PyTorchWrapper:
    """The pyfunc inference API over a module, predicting as MLflow's wrapper does."""

    def __init__(self, pytorch_model: Any, device: str) -> None:
        self.pytorch_model = pytorch_model
        self.device = device

    def get_raw_model(self) -> Any:
        return self.pytorch_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import numpy as np

        # A DataFrame exists only once pandas is imported: an ndarray caller (a pt2 model's
        # usual input) does not pay pandas' import on its first call.
        pd = sys.modules.get("pandas")
        is_frame = pd is not None and isinstance(data, pd.DataFrame)
        torch = _torch()
        if params and "device" in params:
            raise InvalidParameterError(
                "'device' is not an inference parameter; choose it at load time: "
                "pyfunc.load_model(uri, model_config={'device': 'cuda'})."
            )
        if is_frame:
            values = data.to_numpy(dtype=np.float32)
        elif isinstance(data, np.ndarray):
            values = data
        else:
            raise InvalidParameterError(
                f"The PyTorch model takes a pandas DataFrame or a numpy ndarray, got "
                f"{type(data).__name__}."
            )
        with torch.no_grad():
            preds = self.pytorch_model(torch.from_numpy(values).to(self.device), **(params or {}))
            if not isinstance(preds, torch.Tensor):
                raise InvalidParameterError(
                    f"The PyTorch model returned a {type(preds).__name__}; the pyfunc flavor "
                    "needs a model returning a single tensor."
                )
            array = preds.to("cpu").numpy()
        if pd is not None and is_frame:
            return pd.DataFrame(array, index=data.index)
        return array


def _device(model_config: Any) -> str:
    """The device to score on: the load-time ``model_config['device']``, else CUDA when
    available, else the CPU (as MLflow chooses)."""
    device = model_config.get("device") if isinstance(model_config, dict) else None
    if device is not None and not isinstance(device, str):
        raise InvalidParameterError(
            f"model_config['device'] must be a device name such as 'cpu' or 'cuda', got {device!r}."
        )
    if device:
        return device
    return "cuda" if _torch().cuda.is_available() else "cpu"


def _load_pyfunc(path: str, model_config: Any = None) -> _PyTorchWrapper:
    """Loader entry point: ``path`` is the ``data`` folder (``python_function.data``) or the
    model folder; ``model_config`` may name the ``device``."""
    from pyfunc_ops.pyfunc.flavor_support import open_for_pyfunc

    opened = open_for_pyfunc(path, FLAVOR_NAME)
    device = _device(model_config)
    module = _load_from(_model_data(opened), opened.trust, device)
    if (_model_data(opened) / _PTH_FILE).exists():
        module.to(device)
    return _PyTorchWrapper(module, device)


__all__ = [
    "FLAVOR_NAME",
    "NATIVE_SUFFIXES",
    "SERIALIZATION_FORMATS",
    "code_reason",
    "get_default_pip_requirements",
    "load_model",
    "log_model",
    "pt2_code_reason",
    "read_native",
    "save_model",
]
