"""The ``pyfunc-ops`` command: describe, score, copy and download models; manage the
registry, runs, the download cache and built environments.

User errors (anything raised as a ``PyfuncOpsError``) end with a one-line message and exit
code 1, never a traceback; ``--debug`` (anywhere on the command line) shows the traceback
when you need it. Everything printed, and every log line, goes through
:mod:`pyfunc_ops.core.redact`, so passwords in tracking URIs or URLs never reach a terminal
or a CI log.

The global flags (``--tracking-uri``, ``-v``, ``--progress``, ``--debug``) work before or
after the subcommand. ``--tracking-uri`` is applied as a :func:`~pyfunc_ops.config.use_settings`
scope, never through ``os.environ``. Logs are WARNING and above unless ``-v`` (INFO) or
``--debug`` (DEBUG): a command's answer is what it prints on stdout. A command that reads
the registry and finds nothing says on stderr which store it read, because "nothing"
most often means "the wrong store".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pyfunc_ops.core.crashpoints import crash_point
from pyfunc_ops.core.redact import install_log_redaction, redact
from pyfunc_ops.errors import (
    IntegrityError,
    InvalidParameterError,
    ModelExistsError,
    PyfuncOpsError,
)
from pyfunc_ops.models.writer import staged_directory

log = logging.getLogger("pyfunc_ops.cli")


def _emit(text: str) -> None:
    sys.stdout.write(redact(text) + "\n")


def _note(text: str) -> None:
    """A remark for the human on stderr (stdout stays the answer scripts parse)."""
    sys.stderr.write(redact(f"pyfunc-ops: {text}") + "\n")


def _ts(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _ts_seconds(seconds: float | None) -> str:
    return _ts(int(seconds * 1000) if seconds else None)


def _table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [header] + [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}T"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """Seconds in ``text``: ``90``, ``90s``, ``30m``, ``12h``, ``7d``, ``2w``."""
    match = _DURATION.match(str(text))
    if match is None:
        raise InvalidParameterError(
            f"duration {text!r} is not a duration; expected a number with an optional unit "
            "s, m, h, d or w, e.g. 12h or 7d."
        )
    return float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()]


def _size_arg(text: str) -> int:
    from pyfunc_ops.config import parse_size

    try:
        return parse_size(text)
    except InvalidParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _duration_arg(text: str) -> float:
    try:
        return parse_duration(text)
    except InvalidParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _store() -> str:
    """The tracking URI the commands read (redacted when printed)."""
    from pyfunc_ops import config

    return config.tracking_uri()


def _say_which_store(what: str) -> None:
    # An empty answer most often means "the wrong store": say which one was read, on
    # stderr so that stdout stays the plain answer scripts parse.
    _note(
        f"{what}: read the registry at {_store()}; to read another one, pass "
        "--tracking-uri or set PYFUNC_OPS_TRACKING_URI (e.g. postgresql://user@host/db, "
        "sqlite:///path/to/tracking.db or http://mlflow-server:5000)"
    )


# -- describe ---------------------------------------------------------------------------
def _run_facts(run_id: str | None) -> dict[str, Any] | None:
    """The params, metrics and tags of ``run_id`` in the current store (None: no run id);
    a run kept in another store is reported as such, not as an error."""
    from pyfunc_ops.errors import ResourceNotFoundError

    if not run_id:
        return None
    try:
        run = _client().get_run(run_id)
    except ResourceNotFoundError:
        return {"run_id": run_id, "found": False, "params": {}, "metrics": {}}
    return {
        "run_id": run_id,
        "found": True,
        "name": run.info.run_name,
        "status": run.info.status,
        "params": dict(sorted(run.data.params.items())),
        "metrics": dict(sorted(run.data.metrics.items())),
    }


NO_SIGNATURE = (
    "saved without a signature; inputs are not checked and every input column reaches the model"
)


def describe(model_uri: str) -> dict[str, Any]:
    """Everything worth knowing about a model, as plain data."""
    from pyfunc_ops.models import env as env_files
    from pyfunc_ops.models.model import PYFUNC_FLAVOR, Model
    from pyfunc_ops.pyfunc.resolve import resolve_model
    from pyfunc_ops.tracking.resolve import resolve_model_version

    # A models:/ URI is resolved once, so the registry facts and the files shown belong
    # to the same version even if an alias moves meanwhile; the files are loaded through
    # that version's number, so they are verified against its digest.
    version = resolve_model_version(model_uri) if model_uri.startswith("models:/") else None
    resolved = resolve_model(
        f"models:/{version.name}/{version.version}" if version is not None else model_uri
    )
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
        "flavor": _flavor_facts(model.flavors),
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
        info["run"] = _run_facts(run_id)
    return info


def _flavor_facts(flavors: dict[str, Any]) -> dict[str, Any] | None:
    """The registered flavor of the model, its framework version and what loading runs."""
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


def _digest_line(info: dict[str, Any]) -> str:
    if info["digest"]:
        state = "files verified" if info["verified"] else "files not verified"
        return f"digest:         {info['digest']} ({state})"
    if info["model_uri"].startswith(("models:/", "runs:/")):
        return (
            "digest:         none recorded (no pyfunc_ops manifest, e.g. written by MLflow): "
            "files not verified"
        )
    return "digest:         - (a path or URL, not through the registry: not verified)"


def _flavor_line(flavor: dict[str, Any] | None) -> str:
    if flavor is None:
        return "flavor:         -"
    version = f" {flavor['framework_version']}" if flavor["framework_version"] else ""
    runs = (
        f"loading runs code: {flavor['runs_code_because']}"
        if flavor["runs_code"]
        else "loading runs no code of the model"
    )
    return f"flavor:         {flavor['name']}{version} ({runs})"


def _pairs(mapping: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in mapping.items()) or "-"


def _cmd_describe(args: argparse.Namespace) -> None:
    info = describe(args.model_uri)
    if args.json:
        _emit(json.dumps(info, indent=2, default=str))
        return
    lines = [
        f"model:          {info['model_uri']}",
        f"source:         {info['source']}",
        f"flavors:        {', '.join(info['flavors'])}",
        f"loader module:  {info['loader_module']}",
        _flavor_line(info["flavor"]),
        f"created:        {info['created'] or '-'}",
        f"run:            {info['run_id'] or '-'}",
        f"python:         {info['environment']['python_version']}",
        f"requirements:   {', '.join(info['environment']['requirements']) or '-'}",
        f"size:           {info['size_bytes']:,} bytes in {len(info['files'])} files",
    ]
    if "registry" in info:
        reg = info["registry"]
        lines.append(
            f"registry:       {reg['name']} v{reg['version']} stage={reg['stage']} "
            f"aliases={','.join(reg['aliases']) or '-'}"
        )
        lines.append(f"version tags:   {_pairs(info['version_tags'])}")
    run = info.get("run")
    if run is not None:
        if run["found"]:
            lines.append(f"run params:     {_pairs(run['params'])}")
            lines.append(f"run metrics:    {_pairs(run['metrics'])}")
        else:
            lines.append(f"run params:     - (run {run['run_id']} is not in {_store()})")
    lines.append(_digest_line(info))
    if NO_SIGNATURE in info["warnings"]:
        # Not "signature: none": the redaction would take that for a secret's value.
        lines.append(f"no signature    ({NO_SIGNATURE})")
    else:
        for part in ("inputs", "outputs"):
            cols = info["signature"][part]
            if cols:
                desc = ", ".join(f"{c.get('name', '?')}:{c.get('type')}" for c in cols)
                lines.append(f"{part + ':':<16}{desc}")
    lines.append("files:")
    lines.extend(f"  {name}" for name in info["files"])
    _emit("\n".join(lines))


# -- predict ----------------------------------------------------------------------------
def job_options(args: argparse.Namespace, request_type: type[Any]) -> dict[str, Any]:
    """The request fields a job subcommand's flags set. Each flag's ``dest`` is the field's
    name and an absent optional flag is absent here (the subparser suppresses defaults), so
    the request type's defaults are the command's defaults."""
    from pyfunc_ops.jobs.request import field_names

    return {name: getattr(args, name) for name in field_names(request_type) if hasattr(args, name)}


def _cmd_predict(args: argparse.Namespace) -> None:
    from pyfunc_ops.jobs.request import make_request
    from pyfunc_ops.jobs.scoring import ScoreFilesRequest, run_score_files

    request = make_request(ScoreFilesRequest, "predict", job_options(args, ScoreFilesRequest))
    result = run_score_files(request)
    _emit(
        f"wrote {result.rows_out:,} predictions for {result.rows_in:,} rows to {result.output_uri}"
    )


# -- evaluate ---------------------------------------------------------------------------
def _cmd_evaluate(args: argparse.Namespace) -> None:
    from pyfunc_ops.jobs.evaluation import EvaluateRequest, run_evaluate_model
    from pyfunc_ops.jobs.request import make_request

    request = make_request(EvaluateRequest, "evaluate", job_options(args, EvaluateRequest))
    verdict = run_evaluate_model(request).to_dict()
    if args.json:
        _emit(json.dumps(verdict, indent=2, default=str))
        return
    baseline = verdict["baseline"] or {}
    rows = [
        [name, f"{value:.6g}", _fmt_optional(baseline.get("metrics", {}).get(name))]
        for name, value in verdict["metrics"].items()
    ]
    _emit(_table(rows, ["metric", verdict["model_uri"], baseline.get("model_uri", "baseline")]))
    for failure in verdict["failures"]:
        _emit(f"failed: {failure}")
    _emit(f"verdict: {'passed' if verdict['passed'] else 'failed'} ({verdict['rows']:,} rows)")
    if verdict["report_uri"]:
        _emit(f"report: {verdict['report_uri']}")


def _fmt_optional(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _thresholds_arg(text: str) -> dict[str, Any]:
    """``--thresholds``: a JSON object of metric -> threshold fields (usage error if not)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(
            f"not valid JSON ({exc.msg} at position {exc.pos}): {text!r}; give an object such "
            'as \'{"r2_score": {"threshold": 0.8}}\' (quote it for the shell)'
        ) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"must be a JSON object of metric names to thresholds, got {type(value).__name__}"
        )
    return value


def _add_evaluate(sub: Any) -> None:
    """``evaluate``: one flag per field of ``EvaluateRequest`` (``dest`` = the field)."""
    from pyfunc_ops.jobs.evaluation import BASELINE_METRICS
    from pyfunc_ops.jobs.metrics import MODEL_TYPES
    from pyfunc_ops.jobs.scoring import FORMATS

    p = _sub(
        sub,
        "evaluate",
        "evaluate a model on labelled data and check metric thresholds against a baseline",
        "pyfunc-ops evaluate -m models:/churn/7 -d s3://b/holdout/ --target label "
        "--model-type classifier --baseline models:/churn@champion "
        '--thresholds \'{"f1_score": {"min_absolute_change": 0.01}}\'',
        argument_default=argparse.SUPPRESS,
    )
    p.epilog = (
        "Exit code 1 when a threshold is not met (the metrics are recorded on the model's\n"
        "run first); --on-failure continue exits 0 and prints the verdict.\n\n" + p.epilog
    )
    p.add_argument("-m", "--model-uri", dest="model_uri", required=True, help="model to evaluate")
    p.add_argument("-d", "--data", dest="data_url", required=True, help="labelled data (any URL)")
    p.add_argument("--target", dest="target", required=True, help="the label column")
    p.add_argument(
        "--model-type", dest="model_type", choices=list(MODEL_TYPES), help="default regressor"
    )
    p.add_argument(
        "--columns", dest="columns", nargs="+", metavar="COLUMN", help="model input columns"
    )
    p.add_argument(
        "--input-format", dest="input_format", choices=list(FORMATS), help="default: by name"
    )
    p.add_argument("--batch-size", dest="batch_size", type=int, help="rows per batch")
    p.add_argument(
        "--custom-metric",
        dest="custom_metrics",
        action="append",
        metavar="MODULE:FUNCTION",
        help="a metric function (y_true, y_pred) -> number; repeatable",
    )
    p.add_argument(
        "--thresholds",
        dest="thresholds",
        type=_thresholds_arg,
        metavar="JSON",
        help="metric -> {threshold, min_absolute_change, min_relative_change, "
        "greater_is_better} (MLflow's MetricThreshold)",
    )
    p.add_argument(
        "--baseline", dest="baseline_model_uri", metavar="URI", help="e.g. models:/NAME@champion"
    )
    p.add_argument(
        "--baseline-metrics",
        dest="baseline_metrics",
        choices=list(BASELINE_METRICS),
        help="evaluate the baseline on the same data (default) or use its recorded metrics",
    )
    p.add_argument(
        "--on-failure", dest="on_failure", choices=["fail", "continue"], help="default fail"
    )
    p.add_argument(
        "--no-log", dest="log_to_run", action="store_false", help="record nothing on the run"
    )
    p.add_argument(
        "--report-url", dest="report_url", metavar="URL", help="default: the run's artifacts"
    )
    p.add_argument("--no-plot", dest="plot", action="store_false", help="no PNG plot")
    p.add_argument("--env-manager", dest="env_manager", choices=["local", "virtualenv", "uv"])
    p.add_argument(
        "--trust-remote-code",
        dest="trust_remote_code",
        action="store_true",
        help="let a model from an untrusted URL run its own code; see docs/security.md",
    )
    p.add_argument(
        "--json", dest="json", action="store_true", default=False, help="print the verdict as JSON"
    )
    p.set_defaults(func=_cmd_evaluate)


# -- models / runs ----------------------------------------------------------------------
def _client() -> Any:
    from pyfunc_ops.tracking import TrackingClient

    return TrackingClient()


def _cmd_models_list(args: argparse.Namespace) -> None:
    client = _client()
    models = client.search_registered_models()
    rows = []
    for m in models:
        latest = max((int(v.version) for v in m.latest_versions or []), default=None)
        aliases = ",".join(f"{a}->v{v}" for a, v in sorted((m.aliases or {}).items()))
        rows.append([m.name, latest, aliases or None, _ts(m.last_updated_timestamp)])
    if not rows:
        _emit("no registered models")
        _say_which_store("no registered models")
        return
    _emit(_table(rows, ["NAME", "LATEST", "ALIASES", "UPDATED"]))


def _cmd_models_versions(args: argparse.Namespace) -> None:
    client = _client()
    client.get_registered_model(args.name)  # an unknown name is an error, not an empty table
    versions = client.search_model_versions(name=args.name)
    rows = [
        [
            v.version,
            v.current_stage,
            ",".join(v.aliases) or None,
            v.run_id,
            _ts(v.creation_timestamp),
            v.digest[:19] if v.digest else "none",
            v.source,
        ]
        for v in sorted(versions, key=lambda v: int(v.version), reverse=True)
    ]
    if not rows:
        _emit(f"registered model {args.name!r} has no versions")
        _say_which_store(f"no versions of {args.name!r}")
        return
    _emit(_table(rows, ["VERSION", "STAGE", "ALIASES", "RUN", "CREATED", "DIGEST", "SOURCE"]))


def _cmd_models_promote(args: argparse.Namespace) -> None:
    client = _client()
    if args.alias:
        client.set_registered_model_alias(args.name, args.alias, args.version)
        _emit(f"{args.name}: alias {args.alias!r} -> version {args.version}")
    else:
        mv = client.transition_model_version_stage(
            args.name, args.version, args.stage, archive_existing_versions=args.archive_existing
        )
        _emit(f"{args.name}: version {args.version} -> stage {mv.current_stage}")


def _cmd_models_set_alias(args: argparse.Namespace) -> None:
    _client().set_registered_model_alias(args.name, args.alias, args.version)
    _emit(f"{args.name}: alias {args.alias!r} -> version {args.version}")


def _cmd_models_delete(args: argparse.Namespace) -> None:
    client = _client()
    count = len(client.search_model_versions(name=args.name))
    client.delete_registered_model(args.name)
    _emit(f"deleted registered model {args.name!r} ({count} versions; their files stay)")


def _cmd_models_rename(args: argparse.Namespace) -> None:
    _client().rename_registered_model(args.name, args.new_name)
    _emit(f"renamed registered model {args.name!r} to {args.new_name!r}")


def _cmd_models_delete_version(args: argparse.Namespace) -> None:
    _client().delete_model_version(args.name, args.version)
    _emit(f"deleted version {args.version} of {args.name!r} (its files stay)")


def _tag_target(args: argparse.Namespace) -> str:
    return f"{args.name!r}" + (f" version {args.version}" if args.version is not None else "")


def _cmd_models_set_tag(args: argparse.Namespace) -> None:
    client = _client()
    if args.version is None:
        client.set_registered_model_tag(args.name, args.key, args.value)
    else:
        client.set_model_version_tag(args.name, args.version, args.key, args.value)
    _emit(f"{_tag_target(args)}: tag {args.key}={args.value}")


def _cmd_models_delete_tag(args: argparse.Namespace) -> None:
    client = _client()
    if args.version is None:
        client.delete_registered_model_tag(args.name, args.key)
    else:
        client.delete_model_version_tag(args.name, args.version, args.key)
    _emit(f"{_tag_target(args)}: deleted tag {args.key}")


def _cmd_models_delete_alias(args: argparse.Namespace) -> None:
    _client().delete_registered_model_alias(args.name, args.alias)
    _emit(f"{args.name}: deleted alias {args.alias!r}")


def download_model(model_uri: str, dest: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """Copy the files of ``model_uri`` (verified against its digest when it has one) into
    the new or empty local folder ``dest``; returns the folder and the digest."""
    from pyfunc_ops.pyfunc.resolve import resolve_model

    target = Path(dest)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ModelExistsError(
            f"Cannot download {model_uri!r} into {str(target)!r}: it is a file or a folder "
            "that is not empty. Name a new or empty folder."
        )
    resolved = resolve_model(model_uri)
    # Staged: copied under a hidden name beside ``dest`` and renamed when complete, so a
    # killed download leaves no half a model there (and its leftover is removed next time).
    with staged_directory(target, "download the model into") as tmp:
        shutil.copytree(resolved.path, tmp, dirs_exist_ok=True, copy_function=_copy_file)
    return target, resolved.digest


def _copy_file(source: str, dest: str) -> Any:
    result = shutil.copy2(source, dest)
    crash_point("download.mid_copy")
    return result


def _cmd_models_download(args: argparse.Namespace) -> None:
    folder, digest = download_model(args.model_uri, args.dest)
    _emit(f"downloaded {args.model_uri} to {folder} (digest {digest or 'none recorded'})")


def _check_copy(url: str, digest: str) -> None:
    """Download what landed at ``url`` and hash every file against ``digest``."""
    from pyfunc_ops.models.manifest import verify
    from pyfunc_ops.storage.transfer import download_tree

    with tempfile.TemporaryDirectory(prefix="pyfunc-ops-copy-check-") as tmp:
        download_tree(url, tmp)
        verify(tmp, digest, full_hash=True)


def _copy_to_url(local: Path, url: str, digest: str | None) -> str:
    """Upload ``local`` to the empty location ``url`` and check what landed there."""
    from pyfunc_ops.storage.transfer import upload_tree

    upload_tree(local, url)  # refuses a location that holds anything
    if digest is not None:
        _check_copy(url, digest)
    return url


def copy_model(
    model_uri: str, to: str, *, name: str | None = None, artifact_root: str | None = None
) -> dict[str, Any]:
    """Copy ``model_uri`` to another registry (``to`` is a tracking URI: logged there in a
    new run and registered under the same name, or ``name``) or to a plain storage
    location (``to`` is a folder or fsspec URL). The files are copied byte for byte, so
    the digest stays the same; the copy is checked against it before this returns."""
    from pyfunc_ops.config import current_settings, use_settings
    from pyfunc_ops.pyfunc.resolve import resolve_model
    from pyfunc_ops.tracking.resolve import resolve_model_version

    version = resolve_model_version(model_uri) if model_uri.startswith("models:/") else None
    to_registry = _is_tracking_uri(to)
    if not to_registry and name is not None:
        raise InvalidParameterError(
            f"--name names the registered model in the target registry, but {to!r} is a "
            "storage location. Pass a tracking URI (sqlite:///..., postgresql://..., "
            "http(s)://...) to register the copy, or leave --name out."
        )
    target_name = name or (version.name if version is not None else None)
    if to_registry and target_name is None:
        raise InvalidParameterError(
            f"copying {model_uri!r} to the registry at {redact(to)!r} needs a registered model "
            "name: pass --name, or copy a models:/ URI (its name is kept)"
        )
    resolved = resolve_model(
        f"models:/{version.name}/{version.version}" if version is not None else model_uri
    )
    digest = resolved.digest
    if not to_registry:
        return {"to": _copy_to_url(resolved.path, to, digest), "digest": digest}
    assert target_name is not None
    changes: dict[str, Any] = {"tracking_uri": to}
    if artifact_root is not None:
        changes["artifact_root"] = artifact_root
    with use_settings(current_settings().with_changes(**changes)):
        copied = _log_copy(resolved.path, target_name, version)
        if digest is not None and copied.digest == digest:
            # Read back what landed (not the local cache, which holds the same digest).
            _check_copy(copied.source, digest)
    if digest is not None and copied.digest != digest:
        raise IntegrityError(
            f"the copy of {model_uri!r} registered as {copied.name} version {copied.version} "
            f"has digest {copied.digest}, not {digest}; delete that version and copy again"
        )
    return {
        "to": to,
        "name": copied.name,
        "version": copied.version,
        "source": copied.source,
        "digest": copied.digest,
    }


def _is_tracking_uri(text: str) -> bool:
    """A registry (SQLAlchemy URL or MLflow server) rather than a storage location."""
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    return scheme in ("http", "https") or scheme.split("+", 1)[0] in (
        "sqlite",
        "postgresql",
        "postgres",
        "mysql",
    )


def _log_copy(folder: Path, name: str, version: Any) -> Any:
    """Log ``folder`` unchanged as the ``model`` artifact of a new run in the current
    store and register it as a new version of ``name``, with the source version's tags."""
    from pyfunc_ops.models.model import Model
    from pyfunc_ops.pyfunc.log import log_model_with

    def copy_files(path: Path, mlflow_model: Any = None, **_: Any) -> Model:
        # Byte for byte (the MLmodel keeps the source's run id): that is what keeps the
        # manifest, and so the digest, the same.
        shutil.copytree(folder, path)
        return Model.load(path)

    info = log_model_with(copy_files, "model", registered_model_name=name)
    client = _client()
    number = info.registered_model_version
    if version is not None:
        for key, value in version.tags.items():
            client.set_model_version_tag(name, number, key, value)
        if version.description:
            client.update_model_version(name, number, version.description)
    return client.get_model_version(name, number)


def _cmd_models_copy(args: argparse.Namespace) -> None:
    result = copy_model(args.model_uri, args.to, name=args.name, artifact_root=args.artifact_root)
    if "version" in result:
        _emit(
            f"copied {args.model_uri} to {result['to']} as {result['name']} version "
            f"{result['version']} (digest {result['digest'] or 'none recorded'})"
        )
    else:
        _emit(
            f"copied {args.model_uri} to {result['to']} "
            f"(digest {result['digest'] or 'none recorded'})"
        )


def _summary(mapping: dict[str, Any], limit: int = 40) -> str | None:
    text = ",".join(f"{k}={v}" for k, v in sorted(mapping.items()))
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _cmd_runs_list(args: argparse.Namespace) -> None:
    runs = _client().search_runs(max_results=args.limit)
    rows = [
        [
            r.info.run_id,
            r.info.run_name,
            r.info.status,
            _ts(r.info.start_time),
            _ts(r.info.end_time),
            _summary(r.data.params),
            _summary(r.data.metrics),
        ]
        for r in runs
    ]
    if not rows:
        _emit("no runs")
        _say_which_store("no runs")
        return
    header = ["RUN", "NAME", "STATUS", "STARTED", "ENDED", "PARAMS", "METRICS"]
    _emit(_table(rows, header))


def run_facts(run_id: str) -> dict[str, Any]:
    """A run's info, params, metrics, tags and artifact files, as plain data."""
    from pyfunc_ops.storage.transfer import list_tree

    run = _client().get_run(run_id)
    facts: dict[str, Any] = {
        "run_id": run.info.run_id,
        "name": run.info.run_name,
        "status": run.info.status,
        "started": _ts(run.info.start_time),
        "ended": _ts(run.info.end_time),
        "artifact_uri": run.info.artifact_uri,
        "params": dict(sorted(run.data.params.items())),
        "metrics": dict(sorted(run.data.metrics.items())),
        "tags": dict(sorted(run.data.tags.items())),
    }
    try:
        tree = list_tree(run.info.artifact_uri)
        facts["artifacts"] = {
            path: int(i.get("size") or 0) for path, i in sorted(tree.files.items())
        }
    except (PyfuncOpsError, OSError) as exc:
        # No artifacts logged yet is normal; any other reason is shown, not fatal.
        facts["artifacts"] = {}
        facts["artifacts_error"] = redact(str(exc)).splitlines()[0] if str(exc) else None
    return facts


def _cmd_runs_show(args: argparse.Namespace) -> None:
    facts = run_facts(args.run_id)
    if args.json:
        _emit(json.dumps(facts, indent=2, default=str))
        return
    lines = [
        f"run:        {facts['run_id']}",
        f"name:       {facts['name']}",
        f"status:     {facts['status']}",
        f"started:    {facts['started']}",
        f"ended:      {facts['ended']}",
        f"artifacts:  {facts['artifact_uri']}",
    ]
    for title in ("params", "metrics", "tags"):
        lines.append(f"{title}:" + ("" if facts[title] else " -"))
        lines.extend(f"  {k} = {v}" for k, v in facts[title].items())
    lines.append("artifact files:" + ("" if facts["artifacts"] else " -"))
    lines.extend(f"  {path}  ({size:,} bytes)" for path, size in facts["artifacts"].items())
    _emit("\n".join(lines))


# -- cache / env ------------------------------------------------------------------------
def _entries_table(entries: list[Any], extra: list[list[Any]] | None = None) -> list[list[Any]]:
    return [
        [e.key[:16], _human_size(e.size), _ts_seconds(e.last_used), *(extra[i] if extra else [])]
        for i, e in enumerate(entries)
    ]


def _check_prune_args(args: argparse.Namespace, what: str) -> None:
    if args.max_size is None and args.older_than is None:
        raise InvalidParameterError(
            f"{what} prune needs --max-size (e.g. 10G) or --older-than (e.g. 7d), or both; "
            f"see `pyfunc-ops {what} list` for what is there."
        )


def _cmd_cache_list(args: argparse.Namespace) -> None:
    from pyfunc_ops import config
    from pyfunc_ops.storage.cache import list_entries

    root = config.cache_dir()
    entries = list(reversed(list_entries(root)))  # most recently used first
    if args.json:
        payload = [
            {
                "key": e.key,
                "path": str(e.path),
                "size_bytes": e.size,
                "last_used": e.last_used,
                "leftover": e.leftover,
            }
            for e in entries
        ]
        _emit(json.dumps(payload, indent=2))
        return
    if not entries:
        _emit(f"the download cache at {root} is empty")
        return
    _emit(_table(_entries_table(entries), ["ENTRY", "SIZE", "LAST USED"]))
    budget = config.current_settings().cache_max_bytes
    total = sum(e.size for e in entries)
    limit = _human_size(budget) if budget is not None else "none (PYFUNC_OPS_CACHE_MAX_SIZE)"
    leftovers = sum(1 for e in entries if e.leftover)
    note = f" ({leftovers} left by killed runs: `cache prune` removes them)" if leftovers else ""
    _emit(f"{len(entries)} entries{note}, {_human_size(total)} in {root}; budget {limit}")


def _report_pruned(removed: list[Any], sizes: list[int], dry_run: bool, where: Path) -> None:
    verb = "would remove" if dry_run else "removed"
    _emit(f"{verb} {len(removed)} entries ({_human_size(sum(sizes))}) from {where}")


def _cmd_cache_prune(args: argparse.Namespace) -> None:
    from pyfunc_ops import config
    from pyfunc_ops.storage.cache import evict, list_entries

    _check_prune_args(args, "cache")
    root = config.cache_dir()
    removed = evict(
        list_entries(root),
        max_bytes=args.max_size,
        older_than=args.older_than,
        dry_run=args.dry_run,
    )
    for entry in removed:
        log.info("%s %s", "Would remove" if args.dry_run else "Removed", entry.path)
    _report_pruned(removed, [e.size for e in removed], args.dry_run, root)


def _cmd_env_list(args: argparse.Namespace) -> None:
    from pyfunc_ops import config
    from pyfunc_ops.envs.manage import list_environments

    root = config.env_dir()
    envs = list(reversed(list_environments(root)))
    if args.json:
        _emit(json.dumps([e.as_dict() for e in envs], indent=2))
        return
    if not envs:
        _emit(f"no environments in {root}")
        return
    extra = [[e.manager, e.python, len(e.requirements), _ts_seconds(e.built_at)] for e in envs]
    rows = _entries_table([e.entry for e in envs], extra)
    _emit(_table(rows, ["ENV", "SIZE", "LAST USED", "MANAGER", "PYTHON", "REQS", "BUILT"]))


def _cmd_env_prune(args: argparse.Namespace) -> None:
    from pyfunc_ops import config
    from pyfunc_ops.envs.manage import prune_environments

    _check_prune_args(args, "env")
    removed = prune_environments(
        max_bytes=args.max_size, older_than=args.older_than, dry_run=args.dry_run
    )
    _report_pruned(removed, [e.entry.size for e in removed], args.dry_run, config.env_dir())


def _cmd_env_build(args: argparse.Namespace) -> None:
    from pyfunc_ops.envs import check_env_manager
    from pyfunc_ops.envs.builder import get_environment
    from pyfunc_ops.pyfunc.resolve import resolve_model

    manager = check_env_manager(args.env_manager)
    if manager == "local":
        raise InvalidParameterError(
            "env build needs --env-manager virtualenv, uv or conda: 'local' scores in this "
            "interpreter and builds nothing."
        )
    folder = get_environment(resolve_model(args.model_uri).path, manager)
    _emit(f"environment for {args.model_uri}: {folder}")


# -- parser -----------------------------------------------------------------------------
class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown (except the uninformative None/False), epilog examples kept as typed."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False) or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """Every (sub)command's parser: one help format (subparsers inherit the class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines) + "\n\n" + _GLOBALS_NOTE


_GLOBALS_NOTE = (
    "The global flags --tracking-uri, -v, --progress and --debug work anywhere on the\n"
    "command line; see `pyfunc-ops --help`."
)

PREDICT_EPILOG = _examples(
    "pyfunc-ops predict -m models:/churn@champion -i s3://bucket/in/ -o s3://bucket/out/",
    "pyfunc-ops predict -m ./model -i in.csv -o scores.parquet --key-column id --columns a b",
).replace(
    "\n\nThe global",
    "\n\n--key-column is copied to the output; --columns lists exactly the input columns\n"
    "the model receives (list the key there too if the model needs it). --keep-input\n"
    "copies every input column.\n\nThe global",
)


def _sub(parent: Any, name: str, summary: str, *examples: str, **kwargs: Any) -> Any:
    return parent.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog=_examples(*examples) if examples else _GLOBALS_NOTE,
        **kwargs,
    )


def _prune_flags(p: Any, what: str) -> None:
    p.add_argument(
        "--max-size",
        type=_size_arg,
        metavar="SIZE",
        help=f"remove the least recently used {what} until the rest fit, e.g. 10G or 500M",
    )
    p.add_argument(
        "--older-than",
        type=_duration_arg,
        metavar="AGE",
        help=f"remove {what} not used for longer than AGE, e.g. 7d or 12h",
    )
    p.add_argument("--dry-run", action="store_true", help="show what would go, remove nothing")


def build_parser() -> argparse.ArgumentParser:
    from pyfunc_ops.core.versions import package_version

    parser = _Parser(
        prog="pyfunc-ops",
        description="Describe, score, copy and download pyfunc models; manage the model "
        "registry, runs, the download cache and built environments. Configuration: "
        "PYFUNC_OPS_TRACKING_URI, PYFUNC_OPS_ARTIFACT_ROOT, PYFUNC_OPS_CACHE_DIR, "
        "PYFUNC_OPS_CACHE_MAX_SIZE, PYFUNC_OPS_ENV_DIR, AWS_* variables.",
        epilog="examples:\n"
        "  pyfunc-ops models list --tracking-uri sqlite:///out/tracking.db\n"
        "  pyfunc-ops describe models:/churn@champion\n"
        "  pyfunc-ops predict -m models:/churn/3 -i in.parquet -o out.parquet -v\n\n"
        "Global flags (--tracking-uri, -v, --progress, --debug) work before or after the\n"
        "subcommand. Run `pyfunc-ops COMMAND --help` for a command's flags and examples.",
    )
    parser.add_argument("--version", action="version", version=f"pyfunc-ops {package_version()}")
    parser.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="the registry and runs to use (SQLAlchemy URL or http(s) URL of an MLflow "
        "server); default: PYFUNC_OPS_TRACKING_URI, else ~/.pyfunc_ops/tracking.db",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show INFO logs")
    parser.add_argument(
        "--progress",
        action="store_true",
        help="show progress bars even when stderr is not a terminal",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _sub(
        sub,
        "describe",
        "show a model's source, flavors, signature, environment, registry facts and files",
        "pyfunc-ops describe models:/churn@champion",
        "pyfunc-ops describe runs:/<run_id>/model --json",
    )
    p.add_argument("model_uri", help="path, file://, s3://..., runs:/RUN/PATH or models:/NAME/...")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_describe)

    _add_predict(sub)
    sub.choices["predict"].epilog = PREDICT_EPILOG
    _add_evaluate(sub)

    _add_models(sub)
    _add_runs(sub)
    _add_cache(sub)
    _add_env(sub)
    return parser


def _add_models(sub: Any) -> None:
    models = _sub(sub, "models", "the model registry", "pyfunc-ops models list").add_subparsers(
        dest="models_command", required=True, metavar="SUBCOMMAND"
    )
    p = _sub(models, "list", "list registered models", "pyfunc-ops models list")
    p.set_defaults(func=_cmd_models_list)
    p = _sub(
        models,
        "versions",
        "list the versions of a registered model",
        "pyfunc-ops models versions churn",
    )
    p.add_argument("name", help="the registered model")
    p.set_defaults(func=_cmd_models_versions)
    p = _sub(
        models,
        "set-alias",
        "point an alias at a version (what `promote --alias` does, in MLflow's argument order)",
        "pyfunc-ops models set-alias churn champion 3",
    )
    p.add_argument("name", help="the registered model")
    p.add_argument("alias", help="e.g. champion")
    p.add_argument("version", type=int, help="the version number")
    p.set_defaults(func=_cmd_models_set_alias)
    p = _sub(
        models,
        "promote",
        "point an alias at a version, or move it to a stage",
        "pyfunc-ops models promote churn 3 --alias champion",
        "pyfunc-ops models promote churn 3 --stage Production --archive-existing",
    )
    p.add_argument("name", help="the registered model")
    p.add_argument("version", type=int, help="the version number")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--alias", help="e.g. champion")
    target.add_argument("--stage", help="None, Staging, Production or Archived")
    p.add_argument(
        "--archive-existing",
        action="store_true",
        help="with --stage: archive the versions already in that stage",
    )
    p.set_defaults(func=_cmd_models_promote)
    p = _sub(
        models,
        "delete",
        "delete a registered model with all its versions, tags and aliases (files stay)",
        "pyfunc-ops models delete churn-old",
    )
    p.add_argument("name", help="the registered model")
    p.set_defaults(func=_cmd_models_delete)
    p = _sub(
        models,
        "rename",
        "rename a registered model (its versions, tags and aliases move along)",
        "pyfunc-ops models rename churn churn-v2",
    )
    p.add_argument("name", help="the registered model")
    p.add_argument("new_name", help="its new name")
    p.set_defaults(func=_cmd_models_rename)
    p = _sub(
        models,
        "delete-version",
        "delete one version of a registered model (its files stay)",
        "pyfunc-ops models delete-version churn 2",
    )
    p.add_argument("name", help="the registered model")
    p.add_argument("version", type=int, help="the version number")
    p.set_defaults(func=_cmd_models_delete_version)
    for command, summary, example, func in (
        (
            "set-tag",
            "set a tag on a registered model, or with --version on one version",
            "pyfunc-ops models set-tag churn team risk --version 3",
            _cmd_models_set_tag,
        ),
        (
            "delete-tag",
            "delete a tag of a registered model, or with --version of one version",
            "pyfunc-ops models delete-tag churn team --version 3",
            _cmd_models_delete_tag,
        ),
    ):
        p = _sub(models, command, summary, example)
        p.add_argument("name", help="the registered model")
        p.add_argument("key", help="the tag's key")
        if command == "set-tag":
            p.add_argument("value", help="the tag's value")
        p.add_argument("--version", type=int, help="a version's tag instead of the model's")
        p.set_defaults(func=func)
    p = _sub(
        models,
        "delete-alias",
        "delete an alias of a registered model",
        "pyfunc-ops models delete-alias churn champion",
    )
    p.add_argument("name", help="the registered model")
    p.add_argument("alias", help="e.g. champion")
    p.set_defaults(func=_cmd_models_delete_alias)
    p = _sub(
        models,
        "download",
        "copy a model's files into a local folder (verified against its digest)",
        "pyfunc-ops models download models:/churn@champion ./churn-model",
    )
    p.add_argument("model_uri", help="path, URL, runs:/RUN/PATH or models:/NAME/...")
    p.add_argument("dest", help="a new or empty local folder")
    p.set_defaults(func=_cmd_models_download)
    p = _sub(
        models,
        "copy",
        "copy a model to another registry or storage location, digest preserved",
        "pyfunc-ops models copy models:/churn/3 --to postgresql://user@db/registry",
        "pyfunc-ops models copy models:/churn/3 --to http://mlflow:5000",
        "pyfunc-ops models copy models:/churn/3 --to s3://archive/churn/v3",
    )
    p.add_argument("model_uri", help="path, URL, runs:/RUN/PATH or models:/NAME/...")
    p.add_argument(
        "--to",
        required=True,
        metavar="TRACKING_URI_OR_URL",
        help="a tracking URI (sqlite:///..., postgresql://..., http(s)://...): logged in a "
        "new run there and registered; anything else is a folder or fsspec URL the files "
        "are copied to (it must be empty)",
    )
    p.add_argument(
        "--name",
        help="the registered model name in the target registry (default: the source's)",
    )
    p.add_argument(
        "--artifact-root",
        metavar="URL",
        help="with a SQL tracking URI: where that registry's runs keep their files "
        "(default: PYFUNC_OPS_ARTIFACT_ROOT)",
    )
    p.set_defaults(func=_cmd_models_copy)


def _add_runs(sub: Any) -> None:
    runs = _sub(sub, "runs", "tracking runs", "pyfunc-ops runs list").add_subparsers(
        dest="runs_command", required=True, metavar="SUBCOMMAND"
    )
    p = _sub(
        runs,
        "list",
        "list runs, newest first",
        "pyfunc-ops runs list --limit 20",
    )
    p.add_argument("--limit", type=int, default=50, help="how many runs to show at most")
    p.set_defaults(func=_cmd_runs_list)
    p = _sub(
        runs,
        "show",
        "show a run's params, metrics, tags and artifact files",
        "pyfunc-ops runs show 3f2a...",
        "pyfunc-ops runs show 3f2a... --json",
    )
    p.add_argument("run_id", help="the run's id (see `pyfunc-ops runs list`)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_runs_show)


def _add_cache(sub: Any) -> None:
    cache = _sub(
        sub,
        "cache",
        "the local download cache of remote models (PYFUNC_OPS_CACHE_DIR)",
        "pyfunc-ops cache list",
    ).add_subparsers(dest="cache_command", required=True, metavar="SUBCOMMAND")
    p = _sub(cache, "list", "list cache entries, most recently used first", "pyfunc-ops cache list")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_cache_list)
    p = _sub(
        cache,
        "prune",
        "remove cache entries by size or age (entries in use are kept)",
        "pyfunc-ops cache prune --max-size 10G",
        "pyfunc-ops cache prune --older-than 7d --dry-run",
    )
    _prune_flags(p, "entries")
    p.set_defaults(func=_cmd_cache_prune)


def _add_env(sub: Any) -> None:
    env = _sub(
        sub,
        "env",
        "environments built for models (PYFUNC_OPS_ENV_DIR)",
        "pyfunc-ops env list",
    ).add_subparsers(dest="env_command", required=True, metavar="SUBCOMMAND")
    p = _sub(
        env, "list", "list built environments, most recently used first", "pyfunc-ops env list"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_env_list)
    p = _sub(
        env,
        "prune",
        "remove environments by size or age (one being built is kept)",
        "pyfunc-ops env prune --older-than 30d",
        "pyfunc-ops env prune --max-size 20G --dry-run",
    )
    _prune_flags(p, "environments")
    p.set_defaults(func=_cmd_env_prune)
    p = _sub(
        env,
        "build",
        "build (or find) a model's environment ahead of scoring",
        "pyfunc-ops env build models:/churn@champion",
        "pyfunc-ops env build ./model --env-manager conda",
    )
    p.add_argument("model_uri", help="path, URL, runs:/RUN/PATH or models:/NAME/...")
    p.add_argument(
        "--env-manager",
        default="virtualenv",
        choices=["virtualenv", "uv", "conda"],
        help="how to build it (uv is a spelling of virtualenv)",
    )
    p.set_defaults(func=_cmd_env_build)


def _add_predict(sub: Any) -> None:
    """``predict``: one flag per field of ``ScoreFilesRequest`` (``dest`` = the field), no
    defaults of its own; ``tests/test_cli.py`` checks every field has a flag."""
    from pyfunc_ops.jobs.request import option_defaults
    from pyfunc_ops.jobs.scoring import FORMATS, ScoreFilesRequest

    defaults = option_defaults(ScoreFilesRequest)
    p = sub.add_parser(
        "predict",
        help="score Parquet, CSV or JSON-lines input in batches",
        description="Score Parquet, CSV or JSON-lines input in batches.",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument(
        "-m", "--model-uri", dest="model_uri", required=True, help="the model to score with"
    )
    p.add_argument(
        "-i",
        "--input",
        dest="input_url",
        required=True,
        help="input file, folder or glob (any fsspec URL)",
    )
    p.add_argument(
        "-o",
        "--output",
        dest="output_url",
        required=True,
        help="output Parquet file (any fsspec URL)",
    )
    p.add_argument(
        "--input-format",
        dest="input_format",
        choices=list(FORMATS),
        help="input format (default: from the file extension; json means JSON lines)",
    )
    p.add_argument(
        "--batch-size",
        dest="batch_size",
        type=int,
        help=f"rows per batch (bounds memory; default {defaults['batch_size']:,})",
    )
    p.add_argument(
        "--env-manager",
        dest="env_manager",
        choices=["local", "virtualenv", "uv", "conda"],
        help=f"where the model runs (default {defaults['env_manager']})",
    )
    p.add_argument(
        "--keep-input",
        dest="keep_columns",
        action="store_const",
        const="all",
        help="copy the input columns to the output",
    )
    p.add_argument("--key-column", dest="key_column", help="copy this input column to the output")
    p.add_argument(
        "--columns",
        dest="columns",
        nargs="+",
        metavar="COLUMN",
        help="the input columns the model receives (default: all)",
    )
    p.add_argument(
        "--trust-remote-code",
        dest="trust_remote_code",
        action="store_true",
        help="let a model from an untrusted URL run its own code (pickles, code/); "
        "default: PYFUNC_OPS_TRUST_REMOTE_CODE. See docs/security.md",
    )
    p.add_argument(
        "--skops-trusted-types",
        dest="skops_trusted_types",
        nargs="+",
        metavar="TYPE",
        help="extra skops types you trust for this model (never read from the model file), "
        "e.g. sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    )

    def json_object(text: str) -> dict[str, Any]:
        # argparse shows an ArgumentTypeError's message as is (exit 2, no traceback).
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(
                f"not valid JSON ({exc.msg} at position {exc.pos}): {text!r}; give an object "
                "such as '{\"threshold\": 0.5}' (quote it for the shell)"
            ) from None
        if not isinstance(value, dict):
            raise argparse.ArgumentTypeError(
                f"must be a JSON object of parameter names to values, got "
                f"{type(value).__name__} {text!r}; e.g. " + "'{\"threshold\": 0.5}'"
            )
        return value

    p.add_argument(
        "--params",
        dest="params",
        type=json_object,
        metavar="JSON",
        help="parameters for every predict call, a JSON object, e.g. '{\"threshold\": 0.5}' "
        "(default: none)",
    )
    p.add_argument(
        "--output-mode",
        dest="output_mode",
        choices=["file", "parts"],
        help="file: one Parquet file at --output; parts: --output is a folder, one "
        "part-<i>-<input stem>.parquet per input file plus a _manifest-<key>.json "
        f"(default {defaults['output_mode']})",
    )
    p.set_defaults(func=_cmd_predict)


_GLOBAL_SWITCHES = {
    "--debug": "debug",
    "-v": "verbose",
    "--verbose": "verbose",
    "--progress": "progress",
}


def _split_globals(argv: list[str]) -> tuple[list[str], dict[str, Any]]:
    """``argv`` without the global flags, and their values: ``--debug``, ``-v``,
    ``--progress`` and ``--tracking-uri URI`` work before or after the subcommand
    (``pyfunc-ops models list --debug``), where users type them. Everything after ``--``
    is left alone."""
    found: dict[str, Any] = {}
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--":
            rest.append(arg)
            rest.extend(args)
            break
        if arg in _GLOBAL_SWITCHES:
            found[_GLOBAL_SWITCHES[arg]] = True
        elif arg == "--tracking-uri":
            value = next(args, None)
            found["tracking_uri"] = value  # None: reported as a usage error by main()
        elif arg.startswith("--tracking-uri="):
            found["tracking_uri"] = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return rest, found


@contextlib.contextmanager
def _applied(args: argparse.Namespace) -> Iterator[None]:
    """The global flags as scopes: ``--tracking-uri`` (settings) and ``--progress``."""
    from pyfunc_ops.config import current_settings, use_settings
    from pyfunc_ops.core.progress import forced_bars

    with contextlib.ExitStack() as stack:
        if args.tracking_uri:
            stack.enter_context(
                use_settings(current_settings().with_changes(tracking_uri=args.tracking_uri))
            )
        stack.enter_context(forced_bars(True if args.progress else None))
        yield


def _configure_logging(args: argparse.Namespace) -> None:
    install_log_redaction("pyfunc_ops")
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # basicConfig does nothing when the root logger has handlers (a host application, a
    # test runner): the package's level is what -v and --debug decide either way.
    logging.getLogger("pyfunc_ops").setLevel(level)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv, found = _split_globals(list(sys.argv[1:] if argv is None else argv))
    if "tracking_uri" in found and found["tracking_uri"] is None:
        parser.error("argument --tracking-uri: expected one argument")
    args = parser.parse_args(argv)
    for name, value in found.items():
        setattr(args, name, value)
    _configure_logging(args)
    try:
        with _applied(args):
            args.func(args)
    except (PyfuncOpsError, OSError) as exc:
        # OSError: storage and file problems a backend did not wrap (permissions, ...).
        if args.debug or os.environ.get("PYFUNC_OPS_DEBUG"):
            raise
        text = redact(str(exc)).strip()
        first_line = text.splitlines()[0] if text else type(exc).__name__
        sys.stderr.write(f"pyfunc-ops: error: {first_line}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("pyfunc-ops: interrupted\n")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
