"""Atomic model directories: a save is complete or absent, never half-written.

A model is assembled in a hidden temporary sibling of its destination and renamed into
place at the end (a rename within one folder is atomic on POSIX). A failure anywhere
removes the temporary folder and leaves the destination as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from pyfunc_ops.core.crashpoints import crash_point
from pyfunc_ops.core.oserrors import os_errors
from pyfunc_ops.core.staging import LOCAL_FOLDERS, remove_leftovers, temporary_name
from pyfunc_ops.errors import ModelExistsError


def check_destination(path: str | os.PathLike[str]) -> Path:
    """Refuse a destination that exists and is not an empty folder."""
    dest = Path(path).absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ModelExistsError(
            f"Cannot save a model to {str(dest)!r}: it already exists and is not an empty "
            "folder. Choose a new path, or delete the existing one first."
        )
    return dest


@contextlib.contextmanager
def staged_directory(
    path: str | os.PathLike[str], action: str = "save the model to"
) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``path`` when the block succeeds.

    The temporary is hidden, in ``path``'s own folder, and named after the process that
    writes it (:mod:`pyfunc_ops.core.staging`): a leftover of a killed run is recognised
    and removed by the next one. A full disk or an unwritable folder anywhere in the
    block is a :class:`~pyfunc_ops.errors.StorageError` naming ``path`` (``action``
    says what was being done), never a raw ``OSError`` or ``shutil.Error``.
    """
    dest = check_destination(path)
    with os_errors(action, dest):
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(LOCAL_FOLDERS, str(dest.parent), dest.name)
        tmp = dest.parent / temporary_name(dest.name)
        tmp.mkdir(mode=0o755)
        try:
            yield tmp
            crash_point("save.before_publish")
            check_destination(dest)  # someone may have written there while we were busy
            if dest.exists():
                dest.rmdir()
            os.rename(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def copy_into(source: str | os.PathLike[str], dest_dir: Path) -> Path:
    """Copy a local file or folder into ``dest_dir``, keeping its base name."""
    src = Path(source)
    target = dest_dir / src.name
    if src.is_dir():
        shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        shutil.copy2(src, target)
    return target
