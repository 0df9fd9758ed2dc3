"""The Airflow Asset of a scoring output, and how a scoring task emits its event.

A scoring operator's output file is an Asset, so a DAG can be scheduled on fresh
predictions; the event's extra names the model version that wrote them. When the output
URL is only known at run time (templated), the operator's outlet is the asset alias
``pyfunc-ops-predictions`` and the run attaches the event to the output's Asset through
it. Asset URIs follow the OpenLineage dataset naming of
:func:`~pyfunc_ops.airflow.operators.lineage.lineage_dataset_name`, so lineage and
scheduling name an output the same way. (The Assets of registered models live in
:mod:`pyfunc_ops.airflow.assets`.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pyfunc_ops.airflow.operators.lineage import lineage_dataset_name

__all__ = ["OUTPUT_ASSET_ALIAS", "emit_output_event", "output_asset", "output_outlets"]

# The asset alias of scoring outputs whose URL is only known at run time (templated).
OUTPUT_ASSET_ALIAS = "pyfunc-ops-predictions"


def output_asset(url: str) -> Any:
    """The Asset of a scoring output: its URL (``file://`` + absolute path when local;
    an ``s3a://`` output is the same ``s3://`` object)."""
    from airflow.sdk import Asset

    namespace, name = lineage_dataset_name(url)
    if namespace == "file":
        return Asset(f"file://{name}")
    return Asset(f"{namespace}/{name}")


def output_outlets(output_url: Any) -> list[Any]:
    """Default outlets of a scoring operator: the output's Asset when ``output_url`` is
    known when the DAG is parsed, else the asset alias ``pyfunc-ops-predictions``
    through which the run attaches the event to the output's Asset."""
    from airflow.sdk import AssetAlias

    from pyfunc_ops.airflow.assets import is_templated

    if isinstance(output_url, str) and output_url and not is_templated(output_url):
        return [output_asset(output_url)]
    return [AssetAlias(OUTPUT_ASSET_ALIAS)]


def emit_output_event(
    context: Mapping[str, Any], outlets: Sequence[Any], output_uri: str, model: Mapping[str, Any]
) -> Any:
    """Attach ``{"output_uri", "model_uri", "name", "version", "digest"}`` to the event of
    the output's Asset, directly or through the ``pyfunc-ops-predictions`` alias; returns
    the Asset (``None``: no outlet of this task stands for it)."""
    from pyfunc_ops.airflow.assets import attach_event

    asset = output_asset(output_uri)
    extra = {
        "output_uri": output_uri,
        **{k: model.get(k) for k in ("model_uri", "name", "version", "digest")},
    }
    events = context.get("outlet_events")
    if events is None:  # called outside a task run (no event accessors): nothing to attach
        return None
    return asset if attach_event(events, outlets, asset, OUTPUT_ASSET_ALIAS, extra) else None
