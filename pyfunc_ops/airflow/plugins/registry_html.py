"""The registry view's HTML: plain server-rendered pages and an inline SVG chart.

No JavaScript and no assets to fetch: the view is embedded in Airflow's UI (an iframe of
its navigation entry), renders in one response, and works wherever the API server does.
Every value is escaped; links into Airflow's UI open in the top window.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlencode

from pyfunc_ops.airflow.plugins.registry_data import ModelPage, VersionRow

__all__ = ["chart_svg", "error_page", "model_page_html", "models_page", "version_page"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:16px;color:#1a202c;font-size:14px}
h1{font-size:20px;margin:0 0 12px}h2{font-size:16px;margin:20px 0 8px}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #e2e8f0;
padding:4px 8px;text-align:left;vertical-align:top}th{background:#f7fafc}
code{font-size:12px}.alias{background:#ebf8ff;border-radius:4px;padding:0 4px;margin-right:4px}
.muted{color:#718096}.kv{font-size:12px}a{color:#2b6cb0}nav a{margin-right:8px}
.failed{color:#c53030}.verified{color:#2f855a}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _when(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def _document(title: str, body: str) -> str:
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _kv(mapping: Mapping[str, Any]) -> str:
    if not mapping:
        return '<span class="muted">-</span>'
    items = []
    for key, value in mapping.items():
        shown = f"{value:.6g}" if isinstance(value, float) else value
        items.append(f"{_e(key)}=<b>{_e(shown)}</b>")
    return '<div class="kv">' + "<br>".join(items) + "</div>"


def _model_href(base: str, name: str, **query: Any) -> str:
    params = {k: v for k, v in query.items() if v is not None}
    suffix = f"?{urlencode(params)}" if params else ""
    return f"{base}/models/{quote(name, safe='')}{suffix}"


def _airflow_link(root: str, run: Mapping[str, Any], label: str | None = None) -> str:
    """A link to a task of a DAG run in Airflow's UI (the top window, not the iframe)."""
    dag, run_id, task = (quote(str(run[k]), safe="") for k in ("dag_id", "run_id", "task_id"))
    href = f"{root}/dags/{dag}/runs/{run_id}/tasks/{task}"
    text = label or f"{run['dag_id']} / {run['run_id']} / {run['task_id']}"
    return f'<a class="airflow-link" target="_top" href="{_e(href)}">{_e(text)}</a>'


def models_page(base: str, models: Iterable[Mapping[str, Any]]) -> str:
    rows = []
    for model in models:
        aliases = "".join(
            f'<span class="alias">@{_e(a)} → v{_e(v)}</span>' for a, v in model["aliases"].items()
        )
        rows.append(
            f'<tr><td><a href="{_e(_model_href(base, model["name"]))}">{_e(model["name"])}</a>'
            f"</td><td>{aliases or '-'}</td><td>{_e(model['description'] or '')}</td>"
            f"<td>{_when(model['updated'])}</td></tr>"
        )
    table = (
        '<table id="models"><tr><th>Model</th><th>Aliases</th><th>Description</th>'
        "<th>Updated (UTC)</th></tr>" + "".join(rows) + "</table>"
        if rows
        else '<p class="muted">No registered models in this registry.</p>'
    )
    return _document("Model registry", f"<h1>Model registry</h1>{table}")


def chart_svg(points: list[tuple[int, float]], metric: str, width: int = 720) -> str:
    """``metric`` over the versions, a line with a dot per version (the dots' titles
    name the version and value)."""
    height, left, right, top, bottom = 240, 64, 16, 12, 36
    if not points:
        return f'<p id="metric-chart" class="muted">No version has the metric {_e(metric)}.</p>'
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x0 == x1:
        x0, x1 = x0 - 1, x1 + 1
    if y0 == y1:
        y0, y1 = y0 - 1, y1 + 1

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def sy(y: float) -> float:
        return top + (y1 - y) / (y1 - y0) * (height - top - bottom)

    line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    dots = "".join(
        f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" data-version="{x}">'
        f"<title>v{x}: {y:.6g}</title></circle>"
        for x, y in points
    )
    axes = (
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" '
        f'y2="{height - bottom}" stroke="#a0aec0"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#a0aec0"/>'
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{y1:.4g}</text>'
        f'<text x="{left - 6}" y="{height - bottom}" text-anchor="end">{y0:.4g}</text>'
        f'<text x="{left}" y="{height - 12}">v{min(xs)}</text>'
        f'<text x="{width - right}" y="{height - 12}" text-anchor="end">v{max(xs)}</text>'
        f'<text x="{width / 2:.0f}" y="{height - 2}" text-anchor="middle">version</text>'
    )
    return (
        f'<svg id="metric-chart" role="img" aria-label="{_e(metric)} by version" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-size="11" data-metric="{_e(metric)}" data-points="{len(points)}">'
        f"{axes}"
        f'<polyline fill="none" stroke="#3182ce" stroke-width="1.5" points="{line}"/>'
        f'<g fill="#2b6cb0">{dots}</g></svg>'
    )


def _version_row(base: str, root: str, name: str, row: VersionRow) -> str:
    aliases = "".join(f'<span class="alias">@{_e(a)}</span>' for a in row.aliases)
    registered = _airflow_link(root, row.registered_by) if row.registered_by else "-"
    scored = (
        "<br>".join(
            _airflow_link(root, run, f"{run['dag_id']} / {run['run_id']}") for run in row.scored_by
        )
        or "-"
    )
    href = f"{_model_href(base, name)}/versions/{row.version}"
    digest = f"<code>{_e(row.digest[:19])}…</code>" if row.digest else "-"
    return (
        f'<tr data-version="{row.version}"><td><a href="{_e(href)}">v{row.version}</a></td>'
        f"<td>{aliases}{_e(row.stage) if row.stage != 'None' else ''}</td>"
        f"<td>{digest}</td><td>{_kv(row.params)}</td><td>{_kv(row.metrics or row.evaluation)}</td>"
        f"<td>{_kv(row.tags)}</td><td>{registered}</td><td>{scored}</td>"
        f"<td>{_when(row.created)}</td></tr>"
    )


def model_page_html(base: str, root: str, page: ModelPage) -> str:
    aliases = ", ".join(f"@{_e(a)} → v{_e(v)}" for a, v in page.aliases.items()) or "none"
    choices = " ".join(
        f"<b>{_e(m)}</b>"
        if m == page.metric
        else f'<a href="{_e(_model_href(base, page.name, metric=m))}">{_e(m)}</a>'
        for m in page.chart_metrics
    )
    chart = (
        f"<h2>{_e(page.metric)} by version</h2><nav>{choices}</nav>"
        + chart_svg(page.points, page.metric)
        if page.metric
        else '<p id="metric-chart" class="muted">No evaluation metrics recorded yet '
        "(EvaluateModelOperator records them as version tags).</p>"
    )
    rows = "".join(_version_row(base, root, page.name, row) for row in page.rows)
    pager = ""
    if page.pages > 1:
        links = []
        for number in range(1, page.pages + 1):
            if number == page.page:
                links.append(f"<b>{number}</b>")
            else:
                target = _model_href(base, page.name, page=number, metric=page.metric)
                links.append(f'<a href="{_e(target)}">{number}</a>')
        pager = f'<nav class="pager">Page {" ".join(links)}</nav>'
    body = (
        f'<p><a href="{_e(base)}/">All models</a></p><h1>{_e(page.name)}</h1>'
        f"<p>{_e(page.description or '')}</p><p>{page.total} versions; aliases: {aliases}</p>"
        f"{chart}<h2>Versions</h2>{pager}"
        '<table id="versions"><tr><th>Version</th><th>Aliases / stage</th><th>Digest</th>'
        "<th>Run params</th><th>Run metrics</th><th>Tags</th><th>Registered by</th>"
        f"<th>Scored by</th><th>Created (UTC)</th></tr>{rows}</table>{pager}"
    )
    return _document(f"{page.name} - model registry", body)


def version_page(base: str, root: str, name: str, row: VersionRow, state: str, detail: str) -> str:
    registered = _airflow_link(root, row.registered_by) if row.registered_by else "-"
    scored = "".join(f"<li>{_airflow_link(root, run)}</li>" for run in row.scored_by)
    body = (
        f'<p><a href="{_e(_model_href(base, name))}">{_e(name)}</a></p>'
        f"<h1>{_e(name)} v{row.version}</h1>"
        f'<p>Files: <span id="verify" class="{_e(state)}">{_e(state)}</span> '
        f'<span class="muted">{_e(detail)}</span></p>'
        f"<p>Source: <code>{_e(row.source)}</code></p>"
        f"<p>Digest: <code>{_e(row.digest or '-')}</code></p>"
        f"<p>Run: <code>{_e(row.run_id or '-')}</code>; registered by {registered}</p>"
        f"<h2>Params</h2>{_kv(row.params)}<h2>Metrics</h2>{_kv(row.metrics)}"
        f"<h2>Evaluation</h2>{_kv(row.evaluation)}<h2>Tags</h2>{_kv(row.tags)}"
        f"<h2>Scored by</h2><ul>{scored or '<li>-</li>'}</ul>"
    )
    return _document(f"{name} v{row.version}", body)


def error_page(title: str, message: str) -> str:
    return _document(title, f"<h1>{_e(title)}</h1><p>{_e(message)}</p>")
