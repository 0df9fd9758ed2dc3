"""The subcommands' handlers: each takes the parsed arguments, calls one library function
and prints what it returns.

The operations themselves live in the library (:mod:`pyfunc_ops.jobs.model_facts`,
``model_copy``, ``run_facts``, ``registry_chores``, ``housekeeping``, the job requests and
:class:`~pyfunc_ops.tracking.TrackingClient`), where an operator or a script can call them
too; what stays here is the wording and layout of the answer. A command that reads the
registry and finds nothing says on stderr which store it read, because "nothing" most
often means "the wrong store".
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from pyfunc_ops import tracking  # cheap: TrackingClient is imported on first use
from pyfunc_ops.cli.options import job_options
from pyfunc_ops.cli.output import (
    emit,
    fmt_optional,
    human_size,
    pairs,
    say_which_store,
    store,
    summary,
    table,
    ts,
    ts_seconds,
)
from pyfunc_ops.core.uri import is_registry_uri
from pyfunc_ops.errors import InvalidParameterError
from pyfunc_ops.jobs.model_facts import NO_SIGNATURE


def _json(data: Any) -> None:
    emit(json.dumps(data, indent=2, default=str))


# -- describe ---------------------------------------------------------------------------
def _digest_line(info: dict[str, Any]) -> str:
    if info["digest"]:
        state = "files verified" if info["verified"] else "files not verified"
        return f"digest:         {info['digest']} ({state})"
    if is_registry_uri(info["model_uri"]):
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


def describe(args: argparse.Namespace) -> None:
    from pyfunc_ops.jobs.model_facts import describe as describe_model

    info = describe_model(args.model_uri)
    if args.json:
        _json(info)
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
        lines.append(f"version tags:   {pairs(info['version_tags'])}")
    run = info.get("run")
    if run is not None:
        if run["found"]:
            lines.append(f"run params:     {pairs(run['params'])}")
            lines.append(f"run metrics:    {pairs(run['metrics'])}")
        else:
            lines.append(f"run params:     - (run {run['run_id']} is not in {store()})")
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
    emit("\n".join(lines))


# -- jobs -------------------------------------------------------------------------------
def predict(args: argparse.Namespace) -> None:
    from pyfunc_ops.jobs.request import make_request
    from pyfunc_ops.jobs.scoring import ScoreFilesRequest, run_score_files

    request = make_request(ScoreFilesRequest, "predict", job_options(args, ScoreFilesRequest))
    result = run_score_files(request)
    emit(
        f"wrote {result.rows_out:,} predictions for {result.rows_in:,} rows to {result.output_uri}"
    )


def evaluate(args: argparse.Namespace) -> None:
    from pyfunc_ops.jobs.evaluation import EvaluateRequest, run_evaluate_model
    from pyfunc_ops.jobs.request import make_request

    request = make_request(EvaluateRequest, "evaluate", job_options(args, EvaluateRequest))
    verdict = run_evaluate_model(request).to_dict()
    if args.json:
        _json(verdict)
        return
    baseline = verdict["baseline"] or {}
    rows = [
        [name, f"{value:.6g}", fmt_optional(baseline.get("metrics", {}).get(name))]
        for name, value in verdict["metrics"].items()
    ]
    emit(table(rows, ["metric", verdict["model_uri"], baseline.get("model_uri", "baseline")]))
    for failure in verdict["failures"]:
        emit(f"failed: {failure}")
    emit(f"verdict: {'passed' if verdict['passed'] else 'failed'} ({verdict['rows']:,} rows)")
    if verdict["report_uri"]:
        emit(f"report: {verdict['report_uri']}")


# -- models -----------------------------------------------------------------------------
def models_list(args: argparse.Namespace) -> None:
    from pyfunc_ops.jobs.registry_chores import list_registered_models

    rows = [
        [
            m.name,
            m.latest_version,
            ",".join(f"{a}->v{v}" for a, v in m.aliases.items()) or None,
            ts(m.last_updated),
        ]
        for m in list_registered_models()
    ]
    if not rows:
        emit("no registered models")
        say_which_store("no registered models")
        return
    emit(table(rows, ["NAME", "LATEST", "ALIASES", "UPDATED"]))


def models_versions(args: argparse.Namespace) -> None:
    from pyfunc_ops.jobs.registry_chores import list_model_versions

    rows = [
        [
            v.version,
            v.current_stage,
            ",".join(v.aliases) or None,
            v.run_id,
            ts(v.creation_timestamp),
            v.digest[:19] if v.digest else "none",
            v.source,
        ]
        for v in list_model_versions(args.name)
    ]
    if not rows:
        emit(f"registered model {args.name!r} has no versions")
        say_which_store(f"no versions of {args.name!r}")
        return
    emit(table(rows, ["VERSION", "STAGE", "ALIASES", "RUN", "CREATED", "DIGEST", "SOURCE"]))


def _alias_set(args: argparse.Namespace) -> None:
    emit(f"{args.name}: alias {args.alias!r} -> version {args.version}")


def models_promote(args: argparse.Namespace) -> None:
    from pyfunc_ops.jobs.registry_chores import promote

    stage = promote(
        args.name,
        args.version,
        alias=args.alias,
        stage=args.stage,
        archive_existing=args.archive_existing,
    )
    if args.alias:
        _alias_set(args)
    else:
        emit(f"{args.name}: version {args.version} -> stage {stage}")


def models_set_alias(args: argparse.Namespace) -> None:
    tracking.TrackingClient().set_registered_model_alias(args.name, args.alias, args.version)
    _alias_set(args)


def models_delete(args: argparse.Namespace) -> None:
    from pyfunc_ops.jobs.registry_chores import delete_registered_model

    count = delete_registered_model(args.name)
    emit(f"deleted registered model {args.name!r} ({count} versions; their files stay)")


def models_rename(args: argparse.Namespace) -> None:
    tracking.TrackingClient().rename_registered_model(args.name, args.new_name)
    emit(f"renamed registered model {args.name!r} to {args.new_name!r}")


def models_delete_version(args: argparse.Namespace) -> None:
    tracking.TrackingClient().delete_model_version(args.name, args.version)
    emit(f"deleted version {args.version} of {args.name!r} (its files stay)")


def _tag_target(args: argparse.Namespace) -> str:
    return f"{args.name!r}" + (f" version {args.version}" if args.version is not None else "")


def models_set_tag(args: argparse.Namespace) -> None:
    from pyfunc_ops.jobs.registry_chores import set_tag

    set_tag(args.name, args.key, args.value, version=args.version)
    emit(f"{_tag_target(args)}: tag {args.key}={args.value}")


def models_delete_tag(args: argparse.Namespace) -> None:
    from pyfunc_ops.jobs.registry_chores import delete_tag

    delete_tag(args.name, args.key, version=args.version)
    emit(f"{_tag_target(args)}: deleted tag {args.key}")


def models_delete_alias(args: argparse.Namespace) -> None:
    tracking.TrackingClient().delete_registered_model_alias(args.name, args.alias)
    emit(f"{args.name}: deleted alias {args.alias!r}")


def models_download(args: argparse.Namespace) -> None:
    from pyfunc_ops.jobs.model_copy import download_model

    folder, digest = download_model(args.model_uri, args.dest)
    emit(f"downloaded {args.model_uri} to {folder} (digest {digest or 'none recorded'})")


def models_copy(args: argparse.Namespace) -> None:
    from pyfunc_ops.jobs.model_copy import copy_model

    result = copy_model(args.model_uri, args.to, name=args.name, artifact_root=args.artifact_root)
    where = result["to"]
    if "version" in result:
        where += f" as {result['name']} version {result['version']}"
    emit(f"copied {args.model_uri} to {where} (digest {result['digest'] or 'none recorded'})")


# -- runs -------------------------------------------------------------------------------
def runs_list(args: argparse.Namespace) -> None:
    from pyfunc_ops.jobs.run_facts import list_runs

    rows = [
        [
            r.info.run_id,
            r.info.run_name,
            r.info.status,
            ts(r.info.start_time),
            ts(r.info.end_time),
            summary(r.data.params),
            summary(r.data.metrics),
        ]
        for r in list_runs(args.limit)
    ]
    if not rows:
        emit("no runs")
        say_which_store("no runs")
        return
    emit(table(rows, ["RUN", "NAME", "STATUS", "STARTED", "ENDED", "PARAMS", "METRICS"]))


def runs_show(args: argparse.Namespace) -> None:
    from pyfunc_ops.jobs.run_facts import run_facts

    facts = run_facts(args.run_id)
    if args.json:
        _json(facts)
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
    emit("\n".join(lines))


# -- cache / env ------------------------------------------------------------------------
def _entry_rows(entries: list[Any], extra: list[list[Any]] | None = None) -> list[list[Any]]:
    return [
        [e.key[:16], human_size(e.size), ts_seconds(e.last_used), *(extra[i] if extra else [])]
        for i, e in enumerate(entries)
    ]


def _prune_limits(args: argparse.Namespace, what: str) -> dict[str, Any]:
    """The prune function's keywords; a prune without a limit is a user error."""
    if args.max_size is None and args.older_than is None:
        raise InvalidParameterError(
            f"{what} prune needs --max-size (e.g. 10G) or --older-than (e.g. 7d), or both; "
            f"see `pyfunc-ops {what} list` for what is there."
        )
    return {"max_bytes": args.max_size, "older_than": args.older_than, "dry_run": args.dry_run}


def _report_pruned(pruned: Any) -> None:
    verb = "would remove" if pruned.dry_run else "removed"
    emit(
        f"{verb} {len(pruned.removed)} entries ({human_size(pruned.freed_bytes)}) "
        f"from {pruned.root}"
    )


def cache_list(args: argparse.Namespace) -> None:
    from pyfunc_ops.jobs.housekeeping import cache_entry_facts, cache_inventory

    cache = cache_inventory()
    entries, root = cache.items, cache.root
    if args.json:
        _json([cache_entry_facts(e) for e in entries])
        return
    if not entries:
        emit(f"the download cache at {root} is empty")
        return
    emit(table(_entry_rows(entries), ["ENTRY", "SIZE", "LAST USED"]))
    budget = cache.budget
    limit = human_size(budget) if budget is not None else "none (PYFUNC_OPS_CACHE_MAX_SIZE)"
    leftovers = sum(1 for e in entries if e.leftover)
    note = f" ({leftovers} left by killed runs: `cache prune` removes them)" if leftovers else ""
    emit(f"{len(entries)} entries{note}, {human_size(cache.total_bytes)} in {root}; budget {limit}")


def cache_prune(args: argparse.Namespace) -> None:
    from pyfunc_ops.jobs.housekeeping import prune_cache

    _report_pruned(prune_cache(**_prune_limits(args, "cache")))


def env_list(args: argparse.Namespace) -> None:
    from pyfunc_ops.jobs.housekeeping import environment_inventory

    inventory = environment_inventory()
    envs = inventory.items
    if args.json:
        _json([e.as_dict() for e in envs])
        return
    if not envs:
        emit(f"no environments in {inventory.root}")
        return
    extra = [[e.manager, e.python, len(e.requirements), ts_seconds(e.built_at)] for e in envs]
    rows = _entry_rows([e.entry for e in envs], extra)
    emit(table(rows, ["ENV", "SIZE", "LAST USED", "MANAGER", "PYTHON", "REQS", "BUILT"]))


def env_prune(args: argparse.Namespace) -> None:
    from pyfunc_ops.jobs.housekeeping import prune_envs

    _report_pruned(prune_envs(**_prune_limits(args, "env")))


def env_build(args: argparse.Namespace) -> None:
    from pyfunc_ops.jobs.housekeeping import build_environment

    folder = build_environment(args.model_uri, args.env_manager)
    emit(f"environment for {args.model_uri}: {folder}")
