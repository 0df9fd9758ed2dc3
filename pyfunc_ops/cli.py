"""The ``pyfunc-ops`` command: describe and score models, browse the registry and runs.

User errors (anything raised as a ``PyfuncOpsError``) end with a one-line message and exit
code 1, never a traceback; ``--debug`` (anywhere on the command line) shows the traceback
when you need it. Everything printed, and every log line, goes through
:mod:`pyfunc_ops.core.redact`, so passwords in tracking URIs or URLs never reach a terminal
or a CI log.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import datetime, timezone
from typing import Any

from pyfunc_ops.core.redact import install_log_redaction, redact
from pyfunc_ops.errors import PyfuncOpsError

log = logging.getLogger("pyfunc_ops.cli")


def _emit(text: str) -> None:
    sys.stdout.write(redact(text) + "\n")


def _ts(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [header] + [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )


# -- describe ---------------------------------------------------------------------------
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
        "local_path": str(model_dir),
        "model_uuid": model.model_uuid,
        "created": model.utc_time_created,
        "run_id": model.run_id,
        "flavors": sorted(model.flavors),
        "loader_module": pyfunc_conf.get("loader_module"),
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
    if version is not None:
        info["registry"] = {
            "name": version.name,
            "version": version.version,
            "stage": version.current_stage,
            "aliases": list(version.aliases),
            "digest": version.digest,
        }
    return info


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


def _cmd_describe(args: argparse.Namespace) -> None:
    info = describe(args.model_uri)
    if args.json:
        _emit(json.dumps(info, indent=2, default=str))
        return
    lines = [
        f"model:          {info['model_uri']}",
        f"local path:     {info['local_path']}",
        f"flavors:        {', '.join(info['flavors'])}",
        f"loader module:  {info['loader_module']}",
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
    lines.append(_digest_line(info))
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
        # An empty list most often means "the wrong store": say which one was read, on
        # stderr so that stdout stays the plain answer scripts parse.
        sys.stderr.write(
            redact(
                f"pyfunc-ops: read the registry at {client.tracking_uri}; to read another "
                "one, set PYFUNC_OPS_TRACKING_URI (e.g. postgresql://user@host/db or a "
                "SQLite file path)\n"
            )
        )
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


def _cmd_runs_list(args: argparse.Namespace) -> None:
    runs = _client().search_runs(max_results=args.limit)
    rows = [
        [
            r.info.run_id,
            r.info.run_name,
            r.info.status,
            _ts(r.info.start_time),
            _ts(r.info.end_time),
        ]
        for r in runs
    ]
    _emit(_table(rows, ["RUN", "NAME", "STATUS", "STARTED", "ENDED"]) if rows else "no runs")


# -- parser -----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyfunc-ops",
        description="Describe and score pyfunc models; browse the model registry and runs. "
        "Configuration: PYFUNC_OPS_TRACKING_URI, PYFUNC_OPS_ARTIFACT_ROOT, AWS_* variables.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "describe",
        help="show a model's flavors, signature, environment, files",
        description="Show a model's flavors, signature, environment, files.",
    )
    p.add_argument("model_uri", help="path, file://, s3://..., runs:/RUN/PATH or models:/NAME/...")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_describe)

    _add_predict(sub)

    models = sub.add_parser(
        "models", help="the model registry", description="The model registry."
    ).add_subparsers(dest="models_command", required=True, metavar="SUBCOMMAND")
    p = models.add_parser(
        "list", help="list registered models", description="List registered models."
    )
    p.set_defaults(func=_cmd_models_list)
    p = models.add_parser(
        "versions",
        help="list the versions of a registered model",
        description="List the versions of a registered model.",
    )
    p.add_argument("name")
    p.set_defaults(func=_cmd_models_versions)
    p = models.add_parser(
        "promote",
        help="point an alias at a version, or move it to a stage",
        description="Point an alias at a version, or move it to a stage.",
    )
    p.add_argument("name")
    p.add_argument("version", type=int)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--alias", help="e.g. champion")
    target.add_argument("--stage", help="None, Staging, Production or Archived")
    p.add_argument(
        "--archive-existing",
        action="store_true",
        help="with --stage: archive the versions already in that stage",
    )
    p.set_defaults(func=_cmd_models_promote)

    runs = sub.add_parser(
        "runs", help="tracking runs", description="Tracking runs."
    ).add_subparsers(dest="runs_command", required=True, metavar="SUBCOMMAND")
    p = runs.add_parser(
        "list", help="list runs, newest first", description="List runs, newest first."
    )
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=_cmd_runs_list)
    return parser


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


def _split_debug(argv: list[str]) -> tuple[list[str], bool]:
    """``argv`` without ``--debug``, and whether it was there: the flag works before or
    after the subcommand (``pyfunc-ops models list --debug``), where users type it."""
    rest = [arg for arg in argv if arg != "--debug"]
    return rest, len(rest) != len(argv)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv, debug = _split_debug(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    args.debug = debug
    install_log_redaction("pyfunc_ops")
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
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
