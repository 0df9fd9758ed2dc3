"""Airflow Assets that stand for registered models.

An operator that registers or promotes a version of model ``name`` emits an event for the
asset ``pyfunc-ops://models/<name>``, so a scoring DAG can be scheduled on it::

    @dag(schedule=[model_asset("churn")])

When the model name is only known at run time (a templated argument), the operator's outlet
is the asset alias ``pyfunc-ops-models`` instead and the event is attached to the model's
asset through it; schedule on the asset itself either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from airflow.sdk import Asset, AssetAlias

ASSET_SCHEME = "pyfunc-ops"
MODEL_ASSET_ALIAS = "pyfunc-ops-models"


def model_asset(name: str) -> Asset:
    """The asset of registered model ``name``: ``pyfunc-ops://models/<name>``."""
    return Asset(f"{ASSET_SCHEME}://models/{quote(str(name), safe='')}")


def is_templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def model_outlets(name: str | None) -> list[Asset | AssetAlias]:
    """Outlets for an operator that registers/promotes ``name`` (known at parse time or
    templated)."""
    if not name:
        return []
    if is_templated(name):
        return [AssetAlias(MODEL_ASSET_ALIAS)]
    return [model_asset(name)]


def emit_model_event(context: Mapping[str, Any], outlets: list[Any], extra: dict[str, Any]) -> None:
    """Attach ``extra`` to the event of ``extra['name']``'s asset, through whichever of the
    asset or the alias is among the task's ``outlets`` (nothing when neither is)."""
    asset = model_asset(extra["name"])
    alias = AssetAlias(MODEL_ASSET_ALIAS)
    events = context["outlet_events"]
    if any(isinstance(o, Asset) and o.uri == asset.uri for o in outlets):
        events[asset].extra.update(extra)
    elif any(isinstance(o, AssetAlias) and o.name == alias.name for o in outlets):
        events[alias].add(asset, extra=extra)
