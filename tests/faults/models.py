"""Tiny models for the fault suite: workflow 2 (a loader module shipped in ``code/``), so
any process can load them without the test modules being importable."""

from __future__ import annotations

from pathlib import Path

LOADER = """\
class _Model:
    def predict(self, df, params=None):
        if (df["x"] == -666).any():
            raise ValueError("the model refuses -666")
        return df["x"] * 2


def _load_pyfunc(path):
    return _Model()
"""


def save_tiny_model(dest: Path, *, extra_files: int = 0, work: Path | None = None) -> Path:
    """Save a model that doubles column ``x`` (and raises on -666) at ``dest``.

    ``extra_files`` adds that many small data files, so a copy has several to interrupt;
    ``work`` is where the sources are written first (default: beside ``dest``).
    """
    from pyfunc_ops.pyfunc import save_model

    work = (work or dest.parent) / f".{dest.name}-src"
    work.mkdir(parents=True, exist_ok=True)
    loader = work / "fault_loader.py"
    loader.write_text(LOADER)
    data = work / "data"
    data.mkdir(exist_ok=True)
    for i in range(extra_files):
        (data / f"part-{i:02d}.bin").write_bytes(bytes([i % 256]) * 2048)
    save_model(
        str(dest),
        loader_module="fault_loader",
        code_path=[str(loader)],
        data_path=str(data),
    )
    return dest
