"""The command line's options, each written once: its flags, help, type and default.

Two tables. :data:`OPTIONS` holds the options of the registry, run, cache and environment
subcommands, keyed by the flag as typed (``"name"``, ``"--json"``); a subcommand lists the
keys it takes. :func:`job_flags` holds one flag per field of the job request types
(``ScoreFilesRequest``, ``EvaluateRequest``), keyed by the field: its ``dest`` is the
field, its default is the request's (shown in the help, never restated), and an absent
flag is absent from the parsed arguments, so the request type's default applies. A new
request field without a flag here fails the parser's build, not a user.
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from pyfunc_ops.cli.arguments import duration_arg, json_object_arg, size_arg
from pyfunc_ops.envs import ENV_MANAGERS
from pyfunc_ops.jobs.housekeeping import build_environment
from pyfunc_ops.jobs.run_facts import list_runs

__all__ = ["OPTIONS", "Option", "add_job_flags", "default_of", "job_flags", "job_options"]

MODEL_URI_HELP = "path, URL, runs:/RUN/PATH or models:/NAME/..."


@dataclass(frozen=True)
class Option:
    """One option: ``flags`` as argparse takes them, then argparse's keywords. ``help``
    may name ``{what}`` (what a prune removes: entries, environments)."""

    flags: tuple[str, ...]
    help: str
    type: Callable[[str], Any] | None = None
    default: Any = None
    choices: Sequence[str] | None = None
    metavar: str | None = None
    nargs: str | None = None
    action: str | None = None
    const: Any = None
    required: bool = False

    def add(self, parser: Any, *, dest: str | None = None, what: str = "") -> argparse.Action:
        keywords: dict[str, Any] = {"help": self.help.replace("{what}", what)}
        for name in ("type", "default", "choices", "metavar", "nargs", "action", "const"):
            value = getattr(self, name)
            if value is not None:
                keywords[name] = list(value) if name == "choices" else value
        if self.required:
            keywords["required"] = True
        if dest is not None:
            keywords["dest"] = dest
        return parser.add_argument(*self.flags, **keywords)


def default_of(function: Callable[..., Any], parameter: str) -> Any:
    """The default of ``function``'s ``parameter``: a library function's default is the
    command's, read rather than restated."""
    return inspect.signature(function).parameters[parameter].default


def _positional(name: str, help: str, type: Callable[[str], Any] | None = None) -> Option:
    return Option((name,), help, type=type)


def _switch(flag: str, help: str) -> Option:
    return Option((flag,), help, action="store_true")


OPTIONS: Mapping[str, Option] = {
    "model_uri": _positional("model_uri", MODEL_URI_HELP),
    "name": _positional("name", "the registered model"),
    "new_name": _positional("new_name", "its new name"),
    "version": _positional("version", "the version number", int),
    "alias": _positional("alias", "e.g. champion"),
    "key": _positional("key", "the tag's key"),
    "value": _positional("value", "the tag's value"),
    "dest": _positional("dest", "a new or empty local folder"),
    "run_id": _positional("run_id", "the run's id (see `pyfunc-ops runs list`)"),
    "--json": _switch("--json", "machine-readable output"),
    "--alias": Option(("--alias",), "e.g. champion"),
    "--stage": Option(("--stage",), "None, Staging, Production or Archived"),
    "--archive-existing": _switch(
        "--archive-existing", "with --stage: archive the versions already in that stage"
    ),
    "--version": Option(("--version",), "a version's tag instead of the model's", type=int),
    "--to": Option(
        ("--to",),
        "a tracking URI (sqlite:///..., postgresql://..., http(s)://...): logged in a "
        "new run there and registered; anything else is a folder or fsspec URL the files "
        "are copied to (it must be empty)",
        metavar="TRACKING_URI_OR_URL",
        required=True,
    ),
    "--name": Option(
        ("--name",),
        "the registered model name in the target registry (default: the source's)",
    ),
    "--artifact-root": Option(
        ("--artifact-root",),
        "with a SQL tracking URI: where that registry's runs keep their files "
        "(default: PYFUNC_OPS_ARTIFACT_ROOT)",
        metavar="URL",
    ),
    "--limit": Option(
        ("--limit",),
        "how many runs to show at most",
        type=int,
        default=default_of(list_runs, "limit"),
    ),
    "--max-size": Option(
        ("--max-size",),
        "remove the least recently used {what} until the rest fit, e.g. 10G or 500M",
        type=size_arg,
        metavar="SIZE",
    ),
    "--older-than": Option(
        ("--older-than",),
        "remove {what} not used for longer than AGE, e.g. 7d or 12h",
        type=duration_arg,
        metavar="AGE",
    ),
    "--dry-run": _switch("--dry-run", "show what would go, remove nothing"),
    "--env-manager": Option(
        ("--env-manager",),
        "how to build it (uv is a spelling of virtualenv)",
        default=default_of(build_environment, "env_manager"),
        choices=[m for m in ENV_MANAGERS if m != "local"],
    ),
}


@cache
def job_flags() -> Mapping[str, Option]:
    """One flag per job request field, keyed by the field (its ``dest``); no defaults:
    the request's are shown in the help by :func:`add_job_flags`."""
    from pyfunc_ops.jobs.evaluation import BASELINE_METRICS
    from pyfunc_ops.jobs.inputs import FORMATS
    from pyfunc_ops.jobs.metrics import MODEL_TYPES
    from pyfunc_ops.jobs.scoring import OUTPUT_MODES

    return {
        "model_uri": Option(("-m", "--model-uri"), f"the model: {MODEL_URI_HELP}"),
        "input_url": Option(("-i", "--input"), "input file, folder or glob (any fsspec URL)"),
        "output_url": Option(("-o", "--output"), "output Parquet file (any fsspec URL)"),
        "data_url": Option(("-d", "--data"), "labelled data, a file, folder or glob (any URL)"),
        "target": Option(("--target",), "the label column"),
        "model_type": Option(("--model-type",), "what the model predicts", choices=MODEL_TYPES),
        "input_format": Option(
            ("--input-format",),
            "input format (default: from the file extension; json means JSON lines)",
            choices=FORMATS,
        ),
        "batch_size": Option(("--batch-size",), "rows per batch, bounds memory", type=int),
        "env_manager": Option(
            ("--env-manager",), "where the model runs", choices=list(ENV_MANAGERS)
        ),
        "keep_columns": Option(
            ("--keep-input",),
            "copy the input columns to the output",
            action="store_const",
            const="all",
        ),
        "key_column": Option(("--key-column",), "copy this input column to the output"),
        "columns": Option(
            ("--columns",),
            "the input columns the model receives (default: all; evaluate: all but --target)",
            nargs="+",
            metavar="COLUMN",
        ),
        "trust_remote_code": _switch(
            "--trust-remote-code",
            "let a model from an untrusted URL run its own code (pickles, code/); "
            "default: PYFUNC_OPS_TRUST_REMOTE_CODE. See docs/security.md",
        ),
        "skops_trusted_types": Option(
            ("--skops-trusted-types",),
            "extra skops types you trust for this model (never read from the model file), "
            "e.g. sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
            nargs="+",
            metavar="TYPE",
        ),
        "params": Option(
            ("--params",),
            "parameters for every predict call, a JSON object, e.g. '{\"threshold\": 0.5}' "
            "(default: none)",
            type=json_object_arg("parameter names to values", '{"threshold": 0.5}'),
            metavar="JSON",
        ),
        "output_mode": Option(
            ("--output-mode",),
            "file: one Parquet file at --output; parts: --output is a folder, one "
            "part-<i>-<input stem>.parquet per input file plus a _manifest-<key>.json",
            choices=OUTPUT_MODES,
        ),
        "custom_metrics": Option(
            ("--custom-metric",),
            "a metric function (y_true, y_pred) -> number; repeatable",
            action="append",
            metavar="MODULE:FUNCTION",
        ),
        "thresholds": Option(
            ("--thresholds",),
            "metric -> {threshold, min_absolute_change, min_relative_change, "
            "greater_is_better} (MLflow's MetricThreshold)",
            type=json_object_arg("metric names to thresholds", '{"r2_score": {"threshold": 0.8}}'),
            metavar="JSON",
        ),
        "baseline_model_uri": Option(
            ("--baseline",), "the model to compare with, e.g. models:/NAME@champion", metavar="URI"
        ),
        "baseline_metrics": Option(
            ("--baseline-metrics",),
            "evaluate the baseline on the same data or use its recorded metrics",
            choices=BASELINE_METRICS,
        ),
        "on_failure": Option(
            ("--on-failure",),
            "fail: exit code 1 when a threshold is not met; continue: exit 0",
            choices=["fail", "continue"],
        ),
        "log_to_run": Option(("--no-log",), "record nothing on the run", action="store_false"),
        "report_url": Option(
            ("--report-url",),
            "where the report goes (default: the run's artifacts)",
            metavar="URL",
        ),
        "plot": Option(("--no-plot",), "no PNG plot", action="store_false"),
    }


def _help_with_default(help: str, default: Any) -> str:
    if default is None or isinstance(default, bool):
        return help  # None, False and True say nothing a reader needs
    shown = f"{default:,}" if isinstance(default, int) else str(default)
    return f"{help} (default: {shown})"


def add_job_flags(
    parser: Any, request_type: type[Any], choices: Mapping[str, Sequence[str]] | None = None
) -> None:
    """One flag per field of ``request_type`` (``dest`` = the field), required when the
    field has no default, the request's default named in the help. ``choices`` narrows a
    flag's choices for this command."""
    from pyfunc_ops.jobs.request import field_names, option_defaults, required_fields

    flags, defaults = job_flags(), option_defaults(request_type)
    required = set(required_fields(request_type))
    for name in field_names(request_type):
        if name not in flags:
            raise LookupError(
                f"{request_type.__name__}.{name} has no flag: add one to cli.options.job_flags()"
            )
        option = flags[name]
        if choices and name in choices:
            option = replace(option, choices=choices[name])
        option = replace(
            option,
            help=_help_with_default(option.help, defaults.get(name)),
            required=name in required,
        )
        option.add(parser, dest=name)


def job_options(args: argparse.Namespace, request_type: type[Any]) -> dict[str, Any]:
    """The request fields a job subcommand's flags set. Each flag's ``dest`` is the field's
    name and an absent optional flag is absent here (the subparser suppresses defaults), so
    the request type's defaults are the command's defaults."""
    from pyfunc_ops.jobs.request import field_names

    return {name: getattr(args, name) for name in field_names(request_type) if hasattr(args, name)}
