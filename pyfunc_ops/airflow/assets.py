"""Airflow Assets that stand for registered models and their aliases.

An operator that registers a version of model ``name`` emits an event for the asset
``pyfunc-ops://models/<name>``; one that points alias ``a`` at a version also emits one
for ``pyfunc-ops://models/<name>@a``, and one that moves a version to stage ``s`` for
``pyfunc-ops://models/<name>/<s>``. A scoring DAG is scheduled on exactly the change it
cares about::

    @dag(schedule=[model_asset("churn", alias="champion")])

Each event's ``extra`` is ``{"name", "version", "model_uri", "requested_uri", "digest"}``
plus ``"alias"`` or ``"stage"``; ``model_uri`` is pinned (``models:/<name>/<version>``).
When the model name (or alias, stage) is only known at run time (a templated argument),
the operator's outlet is the asset alias ``pyfunc-ops-models`` and the events are attached
to the same assets through it, so scheduling on the asset works either way.

Changes made outside Airflow (the CLI, a notebook, the MLflow UI) reach the same schedule
through an asset watcher (:func:`model_watcher`, a
:class:`~pyfunc_ops.airflow.triggers.registry_event.RegistryEventTrigger` in the
triggerer)::

    champion = model_asset("churn", alias="champion",
                           watchers=[model_watcher("churn", alias="champion")])

    @dag(schedule=[champion])

Its events' ``extra`` is ``{"from_trigger": True, "payload": {...}}``, the payload holding
the same keys (``model_uri`` pinned to the new version).

An evaluation (``EvaluateModelOperator``) emits an event for
``pyfunc-ops://evaluations/<name>`` (:func:`evaluation_asset`) whose extra is the verdict:
``{"passed", "model_uri", "name", "version", "metrics", "baseline", ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from airflow.sdk import Asset, AssetAlias, AssetWatcher

from pyfunc_ops.core.uri import is_models_uri
from pyfunc_ops.errors import InvalidParameterError

ASSET_SCHEME = "pyfunc-ops"
MODEL_ASSET_ALIAS = "pyfunc-ops-models"
EVALUATION_ASSET_ALIAS = "pyfunc-ops-evaluations"


def model_asset(
    name: str,
    *,
    alias: str | None = None,
    stage: str | None = None,
    watchers: Sequence[AssetWatcher] = (),
) -> Asset:
    """The asset of registered model ``name`` (or of one of its aliases or stages);
    ``watchers`` (see :func:`model_watcher`) make the triggerer emit its events."""
    if alias and stage:
        raise InvalidParameterError(
            f"model_asset({name!r}): give alias or stage, not both; got alias={alias!r} and "
            f"stage={stage!r} (an asset stands for the model, one alias or one stage)"
        )
    uri = f"{ASSET_SCHEME}://models/{quote(str(name), safe='')}"
    if alias:
        uri += f"@{quote(str(alias), safe='')}"
    elif stage:
        uri += f"/{quote(str(stage).capitalize(), safe='')}"
    return Asset(uri, watchers=list(watchers)) if watchers else Asset(uri)


def evaluation_asset(name: str) -> Asset:
    """The asset of the evaluations of registered model ``name``: each evaluation's verdict
    is an event of it (a model's own asset stays "a version was registered")."""
    return Asset(f"{ASSET_SCHEME}://evaluations/{quote(str(name), safe='')}")


def evaluation_outlets(model_uri: Any) -> list[Asset | AssetAlias]:
    """Default outlets of an evaluation of ``model_uri``: the evaluations asset of its
    registered model when a ``models:/`` URI names it at parse time, else the asset alias
    ``pyfunc-ops-evaluations`` (the run attaches the event to the model's asset through
    it, or to none when the model is not registered)."""
    text = str(model_uri or "")
    if is_models_uri(text) and not is_templated(text):
        from pyfunc_ops.core.uri import parse_model_uri

        name = parse_model_uri(text).name
        if name:
            return [evaluation_asset(name)]
    return [AssetAlias(EVALUATION_ASSET_ALIAS)]


def emit_evaluation_event(
    context: Mapping[str, Any], outlets: Sequence[Any], verdict: dict[str, Any]
) -> Asset | None:
    """Attach the ``verdict`` to the event of its model's evaluations asset, directly or
    through the ``pyfunc-ops-evaluations`` alias; ``None`` when no outlet stands for it
    (an unregistered model)."""
    if not verdict.get("name"):
        return None
    asset = evaluation_asset(verdict["name"])
    attached = attach_event(
        context["outlet_events"], outlets, asset, EVALUATION_ASSET_ALIAS, verdict
    )
    return asset if attached else None


def model_watcher(
    name: str,
    *,
    alias: str | None = None,
    stage: str | None = None,
    pyfunc_ops_conn_id: str | None = None,
    poll_interval: float = 60.0,
) -> AssetWatcher:
    """An asset watcher that fires when the ``alias`` of registered model ``name`` moves,
    the newest version in ``stage`` changes, or (neither given) a new version appears,
    whoever made the change; give it to :func:`model_asset` with the same ``alias`` or
    ``stage``. ``poll_interval`` is how often the triggerer asks the registry."""
    from pyfunc_ops.airflow.triggers.registry_event import RegistryEventTrigger

    connection = {"pyfunc_ops_conn_id": pyfunc_ops_conn_id} if pyfunc_ops_conn_id else {}
    trigger = RegistryEventTrigger(
        name=name, alias=alias, stage=stage, poll_interval=poll_interval, **connection
    )
    target = f"@{trigger.alias}" if trigger.alias else f"/{trigger.stage or 'versions'}"
    return AssetWatcher(name=f"pyfunc-ops-{trigger.name}{target}", trigger=trigger)


def is_templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def model_outlets(
    name: str | None, *, alias: str | None = None, stage: str | None = None
) -> list[Asset | AssetAlias]:
    """Default outlets of an operator that registers ``name`` or promotes it to ``alias``
    or ``stage`` (the asset alias when any of them is templated)."""
    if not name:
        return []
    if any(is_templated(v) for v in (name, alias, stage)):
        return [AssetAlias(MODEL_ASSET_ALIAS)]
    assets = [model_asset(name)]
    if alias or stage:
        assets.append(model_asset(name, alias=alias, stage=stage))
    return list(assets)


def emit_model_event(
    context: Mapping[str, Any], outlets: Sequence[Any], extra: dict[str, Any]
) -> list[Asset]:
    """Attach ``extra`` to the events of the model's assets (the model's, and its alias's or
    stage's when ``extra`` has one) that are among ``outlets``, directly or through the
    ``pyfunc-ops-models`` alias. Returns the assets that got an event."""
    wanted = [model_asset(extra["name"])]
    if extra.get("alias") or extra.get("stage"):
        wanted.append(
            model_asset(extra["name"], alias=extra.get("alias"), stage=extra.get("stage"))
        )
    events = context["outlet_events"]
    return [a for a in wanted if attach_event(events, outlets, a, MODEL_ASSET_ALIAS, extra)]


def attach_event(
    events: Any, outlets: Sequence[Any], asset: Asset, alias: str, extra: Mapping[str, Any]
) -> bool:
    """Attach ``extra`` to the event of ``asset`` when it is one of ``outlets``, else
    through the asset alias ``alias`` when that is one; ``False`` when neither is (the
    task's outlets do not stand for ``asset``). ``events`` is the task's
    ``outlet_events``."""
    if any(isinstance(o, Asset) and o.uri == asset.uri for o in outlets):
        events[asset].extra.update(extra)
        return True
    if any(isinstance(o, AssetAlias) and o.name == alias for o in outlets):
        events[AssetAlias(alias)].add(asset, extra=dict(extra))
        return True
    return False
