"""``log_model``: save a model under a run's artifacts and optionally register it.

Shared by every flavor: the flavor's ``save_model`` writes the folder locally, this module
uploads it (``MLmodel`` last) and registers it. The artifact root may be any fsspec URL.

Logged models are immutable: an artifact path that already holds anything is refused
(:class:`~pyfunc_ops.errors.ModelExistsError`), never overwritten. The digest of the
model's manifest is recorded twice, out of reach of the artifact files: as the run tag
``pyfunc_ops.model_digest.<artifact_path>`` (what ``runs:/`` loads verify against) and on
the registered version.
"""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyfunc_ops.config import with_settings
from pyfunc_ops.errors import InvalidParameterError
from pyfunc_ops.models.mlmodel import Model

log = logging.getLogger(__name__)
_ARTIFACT_PATH = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")


@dataclass
class ModelInfo:
    """What ``log_model`` produced: where the model is and how to refer to it."""

    model_uri: str
    run_id: str
    artifact_path: str
    artifact_uri: str
    flavors: dict[str, Any] = field(default_factory=dict)
    model_uuid: str | None = None
    signature: Any = None
    registered_model_name: str | None = None
    registered_model_version: int | None = None
    digest: str | None = None  # "sha256:<hex>" of the model's manifest (None: it has none)


def check_artifact_path(artifact_path: str) -> str:
    """Refuse artifact paths that could escape the run's folder or are not portable."""
    if (
        not isinstance(artifact_path, str)
        or not _ARTIFACT_PATH.match(artifact_path)
        or any(part in (".", "..") for part in artifact_path.split("/"))
    ):
        raise InvalidParameterError(
            f"artifact_path {artifact_path!r} is not a relative path of letters, digits, '_', "
            "'-' and '.' separated by '/'; use e.g. 'model' or 'models/churn'."
        )
    return artifact_path


@with_settings
def log_model_with(
    save: Callable[..., Model],
    artifact_path: str,
    registered_model_name: str | None = None,
    **save_kwargs: Any,
) -> ModelInfo:
    """Run ``save(path=..., mlflow_model=..., **save_kwargs)``, upload, optionally register."""
    from pyfunc_ops import tracking
    from pyfunc_ops.core.names import validate_model_name
    from pyfunc_ops.core.uri import join, runs_uri
    from pyfunc_ops.models.manifest import read_manifest
    from pyfunc_ops.storage.transfer import upload_tree
    from pyfunc_ops.tracking.integrity import run_digest_tag

    check_artifact_path(artifact_path)
    if registered_model_name is not None:
        # Before any run starts or byte is uploaded: a bad name must not leave a logged,
        # unregistered model (and a FAILED run) behind.
        validate_model_name(registered_model_name)
    active = tracking.active_run()
    ctx = contextlib.nullcontext(active) if active is not None else tracking.start_run()
    with ctx as run, tempfile.TemporaryDirectory(prefix="pyfunc-ops-log-") as tmp:
        run_id = run.info.run_id
        model = save_kwargs.pop("mlflow_model", None) or Model()
        model.artifact_path = artifact_path
        model.run_id = run_id
        save(path=Path(tmp) / "model", mlflow_model=model, **save_kwargs)
        manifest = read_manifest(Path(tmp) / "model")
        digest = manifest.digest if manifest is not None else None
        dest = join(run.info.artifact_uri, artifact_path)
        upload_tree(Path(tmp) / "model", dest)  # refuses a destination holding anything
        if digest is not None:
            # What makes runs:/<run_id>/<artifact_path> verifiable: the digest lives in
            # the run store, out of reach of whoever can write the artifact files.
            tracking.TrackingClient().set_tag(run_id, run_digest_tag(artifact_path), digest)
        log.info("Logged model to %s (run %s, digest %s)", dest, run_id, digest or "none")
        info = ModelInfo(
            model_uri=runs_uri(run_id, artifact_path),
            run_id=run_id,
            artifact_path=artifact_path,
            artifact_uri=dest,
            flavors=dict(model.flavors),
            model_uuid=model.model_uuid,
            signature=model.signature,
            digest=digest,
        )
        if registered_model_name is not None:
            version = tracking.TrackingClient().register_model(
                source=dest, name=registered_model_name, run_id=run_id, digest=digest
            )
            info.registered_model_name = registered_model_name
            info.registered_model_version = int(version.version)
            log.info("Registered %s version %s", registered_model_name, version.version)
    return info


def log_model(
    artifact_path: str,
    loader_module: str | None = None,
    data_path: Any = None,
    code_path: Any = None,
    conda_env: Any = None,
    python_model: Any = None,
    artifacts: dict[str, str] | None = None,
    registered_model_name: str | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Log a pyfunc model under the active run (starting one if needed); see ``save_model``."""
    from pyfunc_ops.pyfunc.save import save_model

    return log_model_with(
        save_model,
        artifact_path,
        registered_model_name,
        loader_module=loader_module,
        data_path=data_path,
        code_path=code_path,
        conda_env=conda_env,
        python_model=python_model,
        artifacts=artifacts,
        **kwargs,
    )
