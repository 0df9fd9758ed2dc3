"""Confinement: every path a model names, walks or unpacks stays inside the model folder.

A model folder comes from other people, jobs and tools. Its ``MLmodel`` names files
(``data``, ``code``, ``python_model``, artifact paths, ``pickled_model``, environment
files), the folder may hold symlinks, and a shipped archive names its entries. Any of
them could point at ``/etc/passwd``, ``../../other_model`` or a link cycle. The three
helpers here are the only way the rest of pyfunc_ops turns such names into paths:

* :func:`confine` resolves one name from the ``MLmodel`` (or a file it includes);
* :func:`iter_tree` lists a folder's files for upload, hashing and zipping;
* :func:`safe_extract_zip` unpacks an archive.

Each refuses with a :class:`~pyfunc_ops.errors.ModelFormatError` that names the offending
key, link or entry, the folder, and what to do. Hard links cannot be told apart from
regular files and are treated as such (their content is copied, hashed and verified like
any other file).
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from pyfunc_ops.errors import ModelFormatError, ModelNotFoundError

__all__ = ["confine", "iter_tree", "safe_extract_zip"]

_FIX = (
    "Every path a model names must be relative to its folder and stay inside it: fix the "
    "model (or save it again with pyfunc_ops) and do not load it as it is."
)


def _show(value: object, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...'"


def _resolve(path: Path) -> Path:
    """``path`` resolved without requiring it to exist; link cycles raise ``OSError``."""
    try:
        return path.resolve(strict=False)
    except RuntimeError as exc:  # Python < 3.13 reports a symlink loop as RuntimeError
        raise OSError(str(exc)) from exc


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def confine(
    root: str | os.PathLike[str],
    relative: object,
    *,
    key: str,
    mlmodel_path: str | os.PathLike[str] | None = None,
) -> Path:
    """The resolved path of ``relative`` inside the resolved model folder ``root``.

    ``relative`` is a value read from the ``MLmodel`` under ``key`` (e.g.
    ``"python_function.data"``, ``"artifacts.vocab.path"``) or from a file it names (then
    say so in ``key``, e.g. ``"requirements.txt -r include"``). It must be a non-empty
    string without NUL bytes, not absolute (POSIX or Windows form), and after resolving
    ``..`` and symlinks it must lie inside ``root``. The path need not exist: the caller
    checks that, with its own message. ``mlmodel_path`` is the file the value was read
    from, for the message (default ``<root>/MLmodel``).

    Raises :class:`ModelFormatError` naming the key, its value and the folder.
    """
    root_path = _resolve(Path(root).absolute())
    source = Path(mlmodel_path) if mlmodel_path is not None else root_path / "MLmodel"

    def refuse(problem: str) -> ModelFormatError:
        return ModelFormatError(
            f"{source}: key {key!r} has the value {_show(relative)}, which {problem} "
            f"(model folder {root_path}). {_FIX}"
        )

    if not isinstance(relative, str):
        raise refuse(f"is a {type(relative).__name__}, not a relative path string")
    if not relative.strip():
        raise refuse("is empty, not a relative path")
    if "\0" in relative:
        raise refuse("contains a NUL byte")
    if PurePosixPath(relative).is_absolute() or PureWindowsPath(relative).anchor:
        raise refuse("is an absolute path")
    try:
        resolved = _resolve(root_path / relative)
    except OSError as exc:
        raise refuse(f"cannot be resolved ({exc.strerror or exc}; a symlink cycle?)") from exc
    if not _inside(resolved, root_path):
        raise refuse(f"leaves the model folder (it resolves to {resolved})")
    return resolved


def iter_tree(root: str | os.PathLike[str]) -> list[str]:
    """Every file under ``root`` as a sorted list of relative POSIX paths.

    Symlinks whose target stays inside ``root`` are followed (a linked file or folder is
    listed under the link's name, as a copy of the tree would hold it). Refused with
    :class:`ModelFormatError`: a symlink whose target leaves ``root`` (naming the link and
    its target), a dangling symlink, a link cycle (the walk ends instead of looping), and
    anything that is neither a file nor a folder (FIFOs, sockets, devices would block or
    break a copy). A missing ``root`` is :class:`ModelNotFoundError`.
    """
    given = Path(root)
    try:
        real_root = _resolve(given.absolute())
    except OSError as exc:
        raise ModelFormatError(
            f"Model folder {given} cannot be resolved ({exc}); it is a symlink cycle."
        ) from exc
    if not real_root.is_dir():
        if real_root.exists():
            raise ModelFormatError(
                f"Expected a model folder at {given}, found a file; pass the folder that "
                "holds the MLmodel file."
            )
        raise ModelNotFoundError(f"No model folder at {given}: it does not exist.")
    files: list[str] = []
    _walk(real_root, PurePosixPath(), real_root, (real_root,), files, given)
    return sorted(files)


def _walk(
    directory: Path,
    relative: PurePosixPath,
    root: Path,
    ancestors: tuple[Path, ...],
    files: list[str],
    shown_root: Path,
) -> None:
    with os.scandir(directory) as scan:
        entries = sorted(scan, key=lambda entry: entry.name)
    for entry in entries:
        name = relative / entry.name
        # The common case first, from the directory listing alone (no stat call): a plain
        # file or folder that is not a link.
        if not entry.is_symlink():
            if entry.is_file(follow_symlinks=False):
                files.append(name.as_posix())
                continue
            if entry.is_dir(follow_symlinks=False):
                # ``directory`` is always a resolved path, so this one is too.
                real = Path(entry.path)
                _walk(real, name, root, (*ancestors, real), files, shown_root)
                continue
        path = Path(entry.path)
        if entry.is_symlink():
            target = os.readlink(path)
            try:
                real = path.resolve(strict=True)
            except FileNotFoundError as exc:
                raise ModelFormatError(
                    f"Model folder {shown_root}: the symlink {name.as_posix()!r} points to "
                    f"{target!r}, which does not exist. Remove the link or copy the file in."
                ) from exc
            except (OSError, RuntimeError) as exc:
                raise ModelFormatError(
                    f"Model folder {shown_root}: the symlink {name.as_posix()!r} -> {target!r} "
                    "is part of a link cycle. Remove the link."
                ) from exc
            if not _inside(real, root):
                raise ModelFormatError(
                    f"Model folder {shown_root}: the symlink {name.as_posix()!r} points to "
                    f"{target!r} ({real}), outside the folder. A model must hold its files: "
                    "replace the link with a copy of what it points to."
                )
        else:
            real = path
        mode = real.stat().st_mode
        if stat.S_ISDIR(mode):
            if real in ancestors:
                raise ModelFormatError(
                    f"Model folder {shown_root}: {name.as_posix()!r} links back to its own "
                    f"parent folder {real} (a link cycle). Remove the link."
                )
            _walk(real, name, root, (*ancestors, real), files, shown_root)
        elif stat.S_ISREG(mode):
            files.append(name.as_posix())
        else:
            raise ModelFormatError(
                f"Model folder {shown_root}: {name.as_posix()!r} is neither a file nor a "
                "folder (a FIFO, socket or device). Remove it from the model."
            )


def _entry_problem(name: str) -> str | None:
    """Why the archive entry ``name`` may not be unpacked, or ``None``."""
    if "\0" in name:
        return "contains a NUL byte"
    if name.startswith(("/", "\\")) or PureWindowsPath(name).anchor:
        return "is an absolute path"
    if ".." in name.replace("\\", "/").split("/"):
        return "contains a '..' component"
    return None


def safe_extract_zip(zip_path: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Unpack the archive ``zip_path`` into the folder ``target``; return ``target``.

    Every entry is checked before anything is written; one bad entry refuses the whole
    archive with :class:`ModelFormatError` naming it: an absolute name, a ``..`` component,
    a NUL byte, a symlink entry, a name that appears twice, or a destination that an
    existing symlink in ``target`` would send outside it.
    """
    archive = Path(zip_path)
    target_path = Path(target)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelFormatError(
            f"Cannot unpack {archive}: it is not a readable zip archive ({exc}). Build it "
            "again from the model folder."
        ) from exc
    with zf:
        real_target = _resolve(target_path.absolute())
        seen: set[str] = set()
        infos = zf.infolist()
        for info in infos:
            name = info.filename

            def refuse(problem: str, name: str = name) -> ModelFormatError:
                return ModelFormatError(
                    f"Archive {archive}: the entry {_show(name)} {problem}, so it would not "
                    f"land inside {target_path}; nothing was unpacked. Rebuild the archive "
                    "from the model folder; do not use this one."
                )

            problem = _entry_problem(name)
            if problem:
                raise refuse(problem)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise refuse("is a symlink")
            normalized = PurePosixPath(name).as_posix().rstrip("/")
            if normalized in seen:
                raise refuse("appears twice")
            seen.add(normalized)
            try:
                destination = _resolve(real_target / normalized)
            except OSError as exc:
                raise refuse(f"cannot be resolved ({exc})") from exc
            if not _inside(destination, real_target):
                raise refuse(f"resolves to {destination} through a symlink in the target")
        real_target.mkdir(parents=True, exist_ok=True)
        for info in infos:
            zf.extract(info, real_target)
    return target_path
