"""Everything worth knowing about one model, as plain data: ``describe``.

Where the model lives, its flavors and what loading it would run, its signature and
environment, its files and digest, and, for a registered version, the registry's facts and
its run's params and metrics. ``pyfunc-ops describe`` prints this; an operator or a review
script can read the same dictionary (it is JSON-ready).
"""

from __future__ import annotations

import json
from typing import Any

from pyfunc_ops.jobs.run_facts import run_summary

__all__ = ["NO_SIGNATURE", "describe", "flavor_facts"]

NO_SIGNATURE = (
    "saved without a signature; inputs are not checked and every input column reaches the model"
)


def describe(model_uri: str) -> dict[str, Any]:
    """Everything worth knowing about a model, as plain data."""
    from pyfunc_ops.models import env as env_files
    from pyfunc_ops.models.mlmodel import PYFUNC_FLAVOR, Model
    from pyfunc_ops.pyfunc.localize import resolve_model
    from pyfunc_ops.tracking.client import pin_model_uri

    # A models:/ URI is resolved once, so the registry facts and the files shown belong
    # to the same version even if an alias moves meanwhile; the files are loaded through
    # that version's number, so they are verified against its digest.
    pinned, version = pin_model_uri(model_uri)
    resolved = resolve_model(pinned)
    model_dir = resolved.path
    model = Model.load(model_dir)
    pyfunc_conf = model.flavors.get(PYFUNC_FLAVOR, {})
    files = sorted(p for p in model_dir.rglob("*") if p.is_file())
    python_env = env_files.read_python_env(model_dir) or {}
    sig = model.signature
    info: dict[str, Any] = {
        "model_uri": model_uri,
        # Where the model lives (what a colleague can open), not this machine's cache.
        "source": resolved.source,
        "local_path": str(model_dir),
        "model_uuid": model.model_uuid,
        "created": model.utc_time_created,
        "run_id": model.run_id,
        "flavors": sorted(model.flavors),
        "flavor": flavor_facts(model.flavors),
        "loader_module": pyfunc_conf.get("loader_module"),
        # Always an object: the redaction takes a bare value under a key named like
        # "signature" for a secret (URL signatures), so absence is stated in "warnings".
        "warnings": [] if sig is not None else [NO_SIGNATURE],
        "signature": {
            "inputs": json.loads(sig.inputs.to_json()) if sig and sig.inputs else None,
            "outputs": json.loads(sig.outputs.to_json()) if sig and sig.outputs else None,
        },
        "environment": {
            "python_version": python_env.get("python") or model.python_version,
            "requirements": env_files.read_requirements(model_dir),
        },
        "size_bytes": sum(p.stat().st_size for p in files),
        "files": [p.relative_to(model_dir).as_posix() for p in files],
        "digest": resolved.digest,
        "verified": resolved.verified,
    }
    run_id = model.run_id
    if version is not None:
        info["registry"] = {
            "name": version.name,
            "version": version.version,
            "stage": version.current_stage,
            "aliases": list(version.aliases),
            "digest": version.digest,
        }
        info["version_tags"] = dict(sorted(version.tags.items()))
        info["description"] = version.description
        run_id = version.run_id or run_id
    elif resolved.uri.scheme == "runs":
        run_id = resolved.uri.run_id or run_id
    if resolved.via_registry:
        info["run"] = run_summary(run_id)
    return info


def flavor_facts(flavors: dict[str, Any]) -> dict[str, Any] | None:
    """The registered flavor of the model, its framework version and what loading runs
    (so a reviewer sees "runs a pickle" before anyone loads it)."""
    from pyfunc_ops.models.flavors import spec_for_model
    from pyfunc_ops.pyfunc.trust import code_reason

    spec = spec_for_model(flavors)
    conf = flavors.get(spec.name) or {} if spec is not None else {}
    version = next((v for k, v in conf.items() if k.endswith("_version") and v), None)
    reason = code_reason(flavors)
    return {
        "name": spec.name if spec is not None else "python_function",
        "framework_version": version,
        "runs_code": reason is not None,
        "runs_code_because": reason,
    }
