"""Which digest pins a model that the tracking store knows about.

A digest is only worth something if it is recorded somewhere the model's files cannot
rewrite. Two such places exist:

* a registered version's ``digest`` column, taken when the version is registered: the
  digest ``log_model`` computed when it saved the model, or else the sha256 of the
  manifest found at the source at that moment;
* for ``runs:/<run_id>/<path>``, the run tag :func:`run_digest_tag` that ``log_model``
  sets when it uploads the model. A model uploaded to a run's artifacts without
  ``log_model`` (or by MLflow) has no tag, so its ``runs:/`` URI carries no digest and
  loads unverified. The manifest file next to the model is never trusted on its own: who
  can rewrite the files can rewrite it too.
"""

from __future__ import annotations

import logging

from pyfunc_ops.core.redact import redact
from pyfunc_ops.core.uri import join
from pyfunc_ops.errors import StorageError
from pyfunc_ops.models.manifest import MANIFEST_FILE_NAME, parse_manifest

__all__ = ["RUN_DIGEST_TAG_PREFIX", "run_digest_tag", "source_digest"]

#: Run tags ``pyfunc_ops.model_digest.<artifact_path>`` hold the digest of each model
#: ``log_model`` logged under that run.
RUN_DIGEST_TAG_PREFIX = "pyfunc_ops.model_digest."

log = logging.getLogger(__name__)


def run_digest_tag(artifact_path: str) -> str:
    """The run tag key holding the digest of the model logged at ``artifact_path``."""
    return RUN_DIGEST_TAG_PREFIX + artifact_path.strip("/")


def source_digest(source: str) -> str | None:
    """The digest of the manifest stored with the model at ``source``, ``None`` if it has
    none (a model MLflow wrote). One read of one small file; no listing.

    A manifest that is not valid is :class:`~pyfunc_ops.errors.ModelFormatError`: a
    version must not be registered with a digest nobody can verify against. A source that
    cannot be read (store down, no credentials here) gives ``None`` with a warning: the
    version is then registered without a digest, which fails safe (it loads unverified,
    hence untrusted when remote) instead of blocking the registration.
    """
    from pyfunc_ops.storage.transfer import read_file

    location = join(source, MANIFEST_FILE_NAME)
    try:
        data = read_file(location)
    except StorageError as exc:
        log.warning(
            "Could not read the manifest of %s to record its digest (%s); registering it "
            "without a digest, so loading it will not verify its files",
            redact(source),
            type(exc).__name__,
        )
        return None
    if data is None:
        return None
    return parse_manifest(data, source=location).digest
