"""The evaluation report: a JSON summary and a PNG plot (residuals of a regressor, the
confusion matrix of a classifier), written to any fsspec URL.

matplotlib is needed for the plot only, and only when it is drawn: install
``pyfunc-ops[evaluate]`` (or pass ``plot=False`` to the evaluation).
"""

from __future__ import annotations

import io
import json
from typing import Any

from pyfunc_ops.errors import LoaderError

__all__ = ["PLOT_FILE", "REPORT_FILE", "plot_png", "write_report"]

REPORT_FILE = "report.json"
PLOT_FILE = "plot.png"
# A scatter of more points draws no more information, only takes longer to render.
_MAX_POINTS = 5_000


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise LoaderError(
            "the evaluation plot needs matplotlib, which is not installed; install "
            "'pyfunc-ops[evaluate]' (or matplotlib), or evaluate with plot=False "
            "(--no-plot on the command line)."
        ) from None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_png(model_type: str, y_true: Any, y_pred: Any, title: str) -> bytes:
    """The report's plot as PNG bytes: residuals against predictions for a regressor (at
    most 5,000 evenly spaced points), the confusion matrix for a classifier."""
    import numpy as np

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 4.5), dpi=100)
    try:
        if model_type == "regressor":
            truth = np.asarray(y_true, dtype=float)
            predicted = np.asarray(y_pred, dtype=float)
            step = max(1, len(truth) // _MAX_POINTS)
            residuals = (truth - predicted)[::step]
            axes.scatter(predicted[::step], residuals, s=6, alpha=0.5)
            axes.axhline(0.0, color="black", linewidth=1)
            axes.set_xlabel("prediction")
            axes.set_ylabel("residual (label - prediction)")
        else:
            from sklearn.metrics import confusion_matrix

            labels = sorted(set(np.unique(y_true)) | set(np.unique(y_pred)), key=str)
            matrix = confusion_matrix(y_true, y_pred, labels=labels)
            axes.imshow(matrix, cmap="Blues")
            ticks = range(len(labels))
            axes.set_xticks(list(ticks), [str(v) for v in labels])
            axes.set_yticks(list(ticks), [str(v) for v in labels])
            for (row, column), count in np.ndenumerate(matrix):
                axes.text(column, row, str(count), ha="center", va="center")
            axes.set_xlabel("predicted label")
            axes.set_ylabel("true label")
        axes.set_title(title)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)


def write_report(folder_url: str, report: dict[str, Any], png: bytes | None) -> dict[str, str]:
    """Write ``report.json`` (and ``plot.png``) into ``folder_url``; returns their URLs
    as ``{"report_uri", "plot_uri"}``. A later evaluation of the same run replaces them."""
    from pyfunc_ops.core.uri import is_url
    from pyfunc_ops.jobs.inputs import is_local_filesystem
    from pyfunc_ops.storage.filesystem import get_filesystem

    fs, folder = get_filesystem(folder_url)
    folder = folder.rstrip("/")
    if is_local_filesystem(fs):
        fs.makedirs(folder, exist_ok=True)
    files = {"report_uri": (REPORT_FILE, json.dumps(report, indent=2, default=str).encode())}
    if png is not None:
        files["plot_uri"] = (PLOT_FILE, png)
    written = {}
    for key, (name, data) in files.items():
        path = f"{folder}/{name}"
        fs.pipe_file(path, data)
        written[key] = fs.unstrip_protocol(path) if is_url(folder_url) else path
    return written
