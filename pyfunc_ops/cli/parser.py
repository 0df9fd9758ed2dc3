"""The ``pyfunc-ops`` parser, built from two tables: the subcommands below (name, summary,
examples, the options they take, the handler) and the options of
:mod:`pyfunc_ops.cli.options` (flags, help, types, defaults, each written once). The job
subcommands (``predict``, ``evaluate``) take one flag per field of their request type.

Every (sub)command's ``--help`` shows its defaults and examples; the handlers are looked up
in :mod:`pyfunc_ops.cli.commands` each time the parser is built.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from pyfunc_ops.cli import commands
from pyfunc_ops.cli.options import OPTIONS, add_job_flags

__all__ = ["COMMANDS", "Command", "build_parser"]


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


_GLOBALS_NOTE = (
    "The global flags --tracking-uri, -v, --progress and --debug work anywhere on the\n"
    "command line; see `pyfunc-ops --help`."
)


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines) + "\n\n" + _GLOBALS_NOTE


PREDICT_EPILOG = _examples(
    "pyfunc-ops predict -m models:/churn@champion -i s3://bucket/in/ -o s3://bucket/out/",
    "pyfunc-ops predict -m ./model -i in.csv -o scores.parquet --key-column id --columns a b",
).replace(
    "\n\nThe global",
    "\n\n--key-column is copied to the output; --columns lists exactly the input columns\n"
    "the model receives (list the key there too if the model needs it). --keep-input\n"
    "copies every input column.\n\nThe global",
)

EVALUATE_NOTE = (
    "Exit code 1 when a threshold is not met (the metrics are recorded on the model's\n"
    "run first); --on-failure continue exits 0 and prints the verdict.\n\n"
)


def _sub(parent: Any, name: str, summary: str, *examples: str, **kwargs: Any) -> Any:
    return parent.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog=_examples(*examples) if examples else _GLOBALS_NOTE,
        **kwargs,
    )


@dataclass(frozen=True)
class Command:
    """A subcommand: ``path`` under the top level (``("models", "copy")``), its summary
    and examples, the keys of :data:`~pyfunc_ops.cli.options.OPTIONS` it takes (a tuple
    among them: a required choice of exactly one), ``what`` a prune removes, and the name of
    its handler in :mod:`pyfunc_ops.cli.commands`."""

    path: tuple[str, ...]
    summary: str
    examples: tuple[str, ...]
    handler: str
    options: tuple[str | tuple[str, ...], ...] = ()
    what: str = ""


# The command groups: name, summary, example.
GROUPS = (
    ("models", "the model registry", "pyfunc-ops models list"),
    ("runs", "tracking runs", "pyfunc-ops runs list"),
    (
        "cache",
        "the local download cache of remote models (PYFUNC_OPS_CACHE_DIR)",
        "pyfunc-ops cache list",
    ),
    ("env", "environments built for models (PYFUNC_OPS_ENV_DIR)", "pyfunc-ops env list"),
)

_PRUNE = ("--max-size", "--older-than", "--dry-run")

COMMANDS = (
    Command(
        ("describe",),
        "show a model's source, flavors, signature, environment, registry facts and files",
        (
            "pyfunc-ops describe models:/churn@champion",
            "pyfunc-ops describe runs:/<run_id>/model --json",
        ),
        "describe",
        ("model_uri", "--json"),
    ),
    Command(
        ("models", "list"), "list registered models", ("pyfunc-ops models list",), "models_list"
    ),
    Command(
        ("models", "versions"),
        "list the versions of a registered model",
        ("pyfunc-ops models versions churn",),
        "models_versions",
        ("name",),
    ),
    Command(
        ("models", "set-alias"),
        "point an alias at a version (what `promote --alias` does, in MLflow's argument order)",
        ("pyfunc-ops models set-alias churn champion 3",),
        "models_set_alias",
        ("name", "alias", "version"),
    ),
    Command(
        ("models", "promote"),
        "point an alias at a version, or move it to a stage",
        (
            "pyfunc-ops models promote churn 3 --alias champion",
            "pyfunc-ops models promote churn 3 --stage Production --archive-existing",
        ),
        "models_promote",
        ("name", "version", ("--alias", "--stage"), "--archive-existing"),
    ),
    Command(
        ("models", "delete"),
        "delete a registered model with all its versions, tags and aliases (files stay)",
        ("pyfunc-ops models delete churn-old",),
        "models_delete",
        ("name",),
    ),
    Command(
        ("models", "rename"),
        "rename a registered model (its versions, tags and aliases move along)",
        ("pyfunc-ops models rename churn churn-v2",),
        "models_rename",
        ("name", "new_name"),
    ),
    Command(
        ("models", "delete-version"),
        "delete one version of a registered model (its files stay)",
        ("pyfunc-ops models delete-version churn 2",),
        "models_delete_version",
        ("name", "version"),
    ),
    Command(
        ("models", "set-tag"),
        "set a tag on a registered model, or with --version on one version",
        ("pyfunc-ops models set-tag churn team risk --version 3",),
        "models_set_tag",
        ("name", "key", "value", "--version"),
    ),
    Command(
        ("models", "delete-tag"),
        "delete a tag of a registered model, or with --version of one version",
        ("pyfunc-ops models delete-tag churn team --version 3",),
        "models_delete_tag",
        ("name", "key", "--version"),
    ),
    Command(
        ("models", "delete-alias"),
        "delete an alias of a registered model",
        ("pyfunc-ops models delete-alias churn champion",),
        "models_delete_alias",
        ("name", "alias"),
    ),
    Command(
        ("models", "download"),
        "copy a model's files into a local folder (verified against its digest)",
        ("pyfunc-ops models download models:/churn@champion ./churn-model",),
        "models_download",
        ("model_uri", "dest"),
    ),
    Command(
        ("models", "copy"),
        "copy a model to another registry or storage location, digest preserved",
        (
            "pyfunc-ops models copy models:/churn/3 --to postgresql://user@db/registry",
            "pyfunc-ops models copy models:/churn/3 --to http://mlflow:5000",
            "pyfunc-ops models copy models:/churn/3 --to s3://archive/churn/v3",
        ),
        "models_copy",
        ("model_uri", "--to", "--name", "--artifact-root"),
    ),
    Command(
        ("runs", "list"),
        "list runs, newest first",
        ("pyfunc-ops runs list --limit 20",),
        "runs_list",
        ("--limit",),
    ),
    Command(
        ("runs", "show"),
        "show a run's params, metrics, tags and artifact files",
        ("pyfunc-ops runs show 3f2a...", "pyfunc-ops runs show 3f2a... --json"),
        "runs_show",
        ("run_id", "--json"),
    ),
    Command(
        ("cache", "list"),
        "list cache entries, most recently used first",
        ("pyfunc-ops cache list",),
        "cache_list",
        ("--json",),
    ),
    Command(
        ("cache", "prune"),
        "remove cache entries by size or age (entries in use are kept)",
        (
            "pyfunc-ops cache prune --max-size 10G",
            "pyfunc-ops cache prune --older-than 7d --dry-run",
        ),
        "cache_prune",
        _PRUNE,
        what="entries",
    ),
    Command(
        ("env", "list"),
        "list built environments, most recently used first",
        ("pyfunc-ops env list",),
        "env_list",
        ("--json",),
    ),
    Command(
        ("env", "prune"),
        "remove environments by size or age (one being built is kept)",
        (
            "pyfunc-ops env prune --older-than 30d",
            "pyfunc-ops env prune --max-size 20G --dry-run",
        ),
        "env_prune",
        _PRUNE,
        what="environments",
    ),
    Command(
        ("env", "build"),
        "build (or find) a model's environment ahead of scoring",
        (
            "pyfunc-ops env build models:/churn@champion",
            "pyfunc-ops env build ./model --env-manager conda",
        ),
        "env_build",
        ("model_uri", "--env-manager"),
    ),
)


def _add_command(parent: Any, command: Command) -> None:
    p = _sub(parent, command.path[-1], command.summary, *command.examples)
    for key in command.options:
        if isinstance(key, tuple):  # a required choice of exactly one
            group = p.add_mutually_exclusive_group(required=True)
            for one in key:
                OPTIONS[one].add(group)
        else:
            OPTIONS[key].add(p, what=command.what)
    p.set_defaults(func=getattr(commands, command.handler))


def _add_jobs(sub: Any) -> None:
    """``predict`` and ``evaluate``: one flag per field of their request type, no defaults
    of their own (an absent flag leaves the request's default)."""
    from pyfunc_ops.jobs.evaluation import EvaluateRequest
    from pyfunc_ops.jobs.scoring import ScoreFilesRequest

    p = sub.add_parser(
        "predict",
        help="score Parquet, CSV or JSON-lines input in batches",
        description="Score Parquet, CSV or JSON-lines input in batches.",
        epilog=PREDICT_EPILOG,
        argument_default=argparse.SUPPRESS,
    )
    add_job_flags(p, ScoreFilesRequest)
    p.set_defaults(func=commands.predict)

    p = _sub(
        sub,
        "evaluate",
        "evaluate a model on labelled data and check metric thresholds against a baseline",
        "pyfunc-ops evaluate -m models:/churn/7 -d s3://b/holdout/ --target label "
        "--model-type classifier --baseline models:/churn@champion "
        '--thresholds \'{"f1_score": {"min_absolute_change": 0.01}}\'',
        argument_default=argparse.SUPPRESS,
    )
    p.epilog = EVALUATE_NOTE + p.epilog
    # conda is not offered for evaluate (it never was)
    add_job_flags(p, EvaluateRequest, choices={"env_manager": ("local", "virtualenv", "uv")})
    p.add_argument(
        "--json", dest="json", action="store_true", default=False, help="print the verdict as JSON"
    )
    p.set_defaults(func=commands.evaluate)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (built per call, so a handler patched in a test is seen)."""
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
    for command in COMMANDS:
        if len(command.path) == 1:
            _add_command(sub, command)
    _add_jobs(sub)
    for name, summary, example in GROUPS:
        group = _sub(sub, name, summary, example).add_subparsers(
            dest=f"{name}_command", required=True, metavar="SUBCOMMAND"
        )
        for command in COMMANDS:
            if command.path[0] == name:
                _add_command(group, command)
    return parser
