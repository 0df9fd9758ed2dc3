"""Fan-out output: one Parquet part per input file, a manifest per call, and their check.

``score_files(..., output_mode="parts")`` scores each input file into its own part in the
output folder, for a fan-out in which several calls (e.g. one mapped Airflow task per
group of input files) write into one shared folder and a last step checks the whole.

Names and publication:

* part ``i`` of a call (``i`` = the input's position in the call's sorted input list) is
  ``part-<i:05d>-<input stem>.parquet`` (the stem is the input's file name without its
  data suffix: ``day-3.csv.gz`` gives ``day-3``), so parts are named by the file they
  come from and a mapped task's retry rewrites exactly its own parts;
* each part is written to a hidden temporary name (``.part-....tmp-<random>``, which
  readers and :func:`check_parts` ignore) and renamed when complete: a part is either
  absent or whole;
* each call writes its manifest last: ``_manifest-<key>.json``, where ``key`` is the
  first 16 hex digits of the SHA-256 of the call's sorted input list. Calls with
  different inputs never overwrite each other's manifest; a rerun of the same call
  replaces its own (it deletes it first, so a rerun that fails leaves no stale manifest
  claiming parts it did not finish). A manifest is
  ``{"model_uri", "inputs", "parts": [{"input", "part", "rows", "sha256"}], "rows"}``.

:func:`check_parts` merges every ``_manifest*.json`` in the folder and checks that each
listed part exists with its row count (and, if asked, its SHA-256), that all manifests
name one model, that no part name is claimed for two inputs, and that the expected
inputs are all covered. Two groups whose inputs share a stem at the same position would
claim the same part name: a call refuses that up front when the other group's manifest is
already there, and :func:`check_parts` refuses it in any case.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyfunc_ops.config import with_settings
from pyfunc_ops.core.redact import redact
from pyfunc_ops.core.staging import remove_leftovers, temporary_name
from pyfunc_ops.errors import InputNotFoundError, IntegrityError, InvalidParameterError
from pyfunc_ops.jobs.inputs import SUFFIXES, list_input_files
from pyfunc_ops.jobs.outputs import open_parquet_writer

if TYPE_CHECKING:
    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq

logger = logging.getLogger(__name__)

__all__ = [
    "MANIFEST_PREFIX",
    "IncompletePartsError",
    "PartsWriter",
    "check_parts",
    "manifest_name",
    "part_name",
]

MANIFEST_PREFIX = "_manifest"


class IncompletePartsError(InputNotFoundError):
    """A fan-out output folder lacks a manifest, a part, or the parts of expected inputs."""


def input_stem(path: str) -> str:
    """The input's file name without its data suffix (``a/day-3.csv.gz`` -> ``day-3``)."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    lower = name.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name.rsplit(".", 1)[0] if "." in name[1:] else name


def part_name(index: int, input_path: str) -> str:
    """``part-<index:05d>-<input stem>.parquet``."""
    return f"part-{index:05d}-{input_stem(input_path)}.parquet"


def manifest_name(inputs: Sequence[str]) -> str:
    """``_manifest-<key>.json``: one name per set of inputs (see the module)."""
    key = hashlib.sha256("\n".join(sorted(inputs)).encode()).hexdigest()[:16]
    return f"{MANIFEST_PREFIX}-{key}.json"


class _HashingFile:
    """A write-only file that hashes what passes through it (the part's SHA-256 without
    reading it back)."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.closed = False

    def write(self, data: Any) -> int:
        self.sha256.update(data)
        return int(self._raw.write(data))

    def flush(self) -> None:
        self._raw.flush()

    def tell(self) -> int:
        return int(self._raw.tell())

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        # The ParquetWriter closes its sink; the real file is closed by PartsWriter.
        self.closed = True


@dataclass
class _OpenPart:
    index: int
    input: str
    name: str
    tmp: str
    raw: Any
    sink: _HashingFile
    writer: pq.ParquetWriter | None = None
    rows: int = 0


@dataclass
class PartsWriter:
    """Writes the parts of one call into ``folder`` and, on :meth:`finish`, its manifest.

    ``inputs`` are the call's input files as their URIs (what the manifest records);
    parts are started by the first table or the end of their input, in input order.
    """

    fs: fsspec.AbstractFileSystem
    folder: str
    folder_uri: str
    model_uri: str
    inputs: list[str]
    parts: list[dict[str, Any]] = field(default_factory=list)
    _open: _OpenPart | None = None
    _schema: pa.Schema | None = None

    def __post_init__(self) -> None:
        self.folder = self.folder.rstrip("/")
        if self.fs.isfile(self.folder):
            raise InvalidParameterError(
                f"output_mode='parts' writes a folder of part files, but the output "
                f"{redact(self.folder_uri)!r} is a file; give a folder (it is created if "
                "missing) or use output_mode='file'."
            )
        self.fs.makedirs(self.folder, exist_ok=True)
        remove_leftovers(self.fs, self.folder)  # of calls killed mid-way (their writer gone)
        self.manifest = manifest_name(self.inputs)
        self._refuse_conflicts()
        own = f"{self.folder}/{self.manifest}"
        if self.fs.exists(own):
            # A rerun of this call: its old manifest must not outlive a rerun that fails.
            self.fs.rm(own)

    def _refuse_conflicts(self) -> None:
        mine = {part_name(i, p): p for i, p in enumerate(self.inputs)}
        for path, manifest in _read_manifests(self.fs, self.folder):
            if path.rsplit("/", 1)[-1] == self.manifest:
                continue
            for part in manifest.get("parts", []):
                if part.get("part") in mine and part.get("input") != mine[part["part"]]:
                    raise InvalidParameterError(
                        f"part {part['part']!r} in {redact(self.folder_uri)!r} is already "
                        f"claimed by {redact(str(part.get('input')))!r} (manifest "
                        f"{path.rsplit('/', 1)[-1]}), but this call would write it for "
                        f"{redact(mine[part['part']])!r}; give the groups' input files "
                        "distinct names, or write the groups into different folders."
                    )

    def write(self, index: int, table: pa.Table) -> None:
        """Append ``table`` to the part of input ``index``."""
        part = self._part(index)
        if part.writer is None:
            if self._schema is None:
                self._schema = table.schema
            part.writer = open_parquet_writer(part.sink, table, self._schema)
        part.writer.write_table(table)
        part.rows += table.num_rows

    def end_input(self, index: int) -> None:
        """Input ``index`` is exhausted: publish its part (an empty one if it had no rows)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        part = self._part(index)
        if part.writer is None:
            schema = self._schema if self._schema is not None else pa.schema([])
            pq.write_table(schema.empty_table(), part.sink)
        else:
            part.writer.close()
        part.raw.close()
        final = f"{self.folder}/{part.name}"
        self.fs.mv(part.tmp, final)
        self._open = None
        self.parts.append(
            {
                "input": part.input,
                "part": part.name,
                "rows": part.rows,
                "sha256": part.sink.sha256.hexdigest(),
            }
        )

    def _part(self, index: int) -> _OpenPart:
        if self._open is not None and self._open.index == index:
            return self._open
        if self._open is not None:
            raise RuntimeError(f"part {self._open.index} was not ended before part {index}")
        name = part_name(index, self.inputs[index])
        tmp = f"{self.folder}/{temporary_name(name)}"
        raw = self.fs.open(tmp, "wb")
        self._open = _OpenPart(index, self.inputs[index], name, tmp, raw, _HashingFile(raw))
        return self._open

    def finish(self) -> dict[str, Any]:
        """Write the manifest (last, atomically) and return it."""
        manifest = {
            "model_uri": redact(self.model_uri),
            "inputs": list(self.inputs),
            "parts": self.parts,
            "rows": sum(p["rows"] for p in self.parts),
        }
        tmp = f"{self.folder}/{temporary_name(self.manifest)}"
        with self.fs.open(tmp, "w") as fh:
            json.dump(manifest, fh, indent=2)
        self.fs.mv(tmp, f"{self.folder}/{self.manifest}")
        return manifest

    def abort(self) -> None:
        """Remove the part being written (the parts already published are whole)."""
        part, self._open = self._open, None
        if part is None:
            return
        if part.writer is not None:
            try:
                part.writer.close()
            except OSError as exc:  # the job's own error is what the caller needs
                logger.debug("closing the aborted part %s failed: %s", part.tmp, exc)
        try:
            part.raw.close()  # flushing may fail again (a full disk): remove it anyway
        except OSError as exc:
            logger.debug("closing the aborted part %s failed: %s", part.tmp, exc)
        if self.fs.exists(part.tmp):
            self.fs.rm(part.tmp)


def _read_manifests(fs: fsspec.AbstractFileSystem, folder: str) -> list[tuple[str, dict[str, Any]]]:
    if not fs.isdir(folder):
        return []
    found = []
    for path in sorted(fs.ls(folder, detail=False)):
        name = str(path).rstrip("/").rsplit("/", 1)[-1]
        if name.startswith(MANIFEST_PREFIX) and name.endswith(".json"):
            with fs.open(path, "r") as fh:
                try:
                    found.append((str(path), json.load(fh)))
                except json.JSONDecodeError as exc:
                    raise IntegrityError(
                        f"the manifest {name} in {redact(folder)!r} is not valid JSON ({exc}); "
                        "rerun the scoring call that wrote it."
                    ) from exc
    return found


def _normalise(location: str) -> str:
    from pyfunc_ops.storage.filesystem import get_filesystem

    return get_filesystem(str(location))[1].rstrip("/")


@with_settings
def check_parts(
    output_url: str,
    expected_inputs: str | Sequence[str] | None = None,
    *,
    verify_digests: bool = False,
) -> dict[str, Any]:
    """Check a fan-out folder written by ``score_files(..., output_mode="parts")``.

    Merges every manifest in ``output_url`` (one per scoring call) and checks that each
    part exists with the row count its manifest records (from the Parquet footer; with
    ``verify_digests`` also its SHA-256, which reads every part), that all manifests name
    the same model and that no part is claimed for two inputs. ``expected_inputs`` (a list
    of input files, or one file/folder/glob URL, expanded as the scoring job expands it)
    must all be covered by some manifest.

    Returns ``{"output_uri", "model_uri", "manifests", "parts", "rows"}``; raises
    :class:`IncompletePartsError` naming what is missing, or ``IntegrityError`` when a
    part does not match its manifest.
    """
    import pyarrow.parquet as pq

    from pyfunc_ops.core.uri import is_url
    from pyfunc_ops.storage.filesystem import get_filesystem

    fs, folder = get_filesystem(str(output_url))
    folder = folder.rstrip("/")
    shown = redact(str(output_url))
    manifests = _read_manifests(fs, folder)
    if not manifests:
        raise IncompletePartsError(
            f"no manifest ({MANIFEST_PREFIX}-*.json) in {shown!r}: no scoring call into it "
            "has finished. Check the scoring tasks (and that they wrote output_mode='parts' "
            "to this folder)."
        )
    models = sorted({str(m.get("model_uri")) for _, m in manifests})
    if len(models) > 1:
        raise IntegrityError(
            f"the manifests in {shown!r} name different models {models}: the folder mixes "
            "outputs of several runs. Score into an empty folder."
        )
    owner: dict[str, tuple[str, str]] = {}
    parts: list[dict[str, Any]] = []
    missing: list[str] = []
    for path, manifest in manifests:
        mname = path.rsplit("/", 1)[-1]
        for part in manifest.get("parts", []):
            name = str(part["part"])
            if name in owner and owner[name][0] != part["input"]:
                raise IntegrityError(
                    f"part {name!r} in {shown!r} is claimed for {redact(owner[name][0])!r} "
                    f"({owner[name][1]}) and for {redact(str(part['input']))!r} ({mname}); "
                    "give the groups' input files distinct names and score again."
                )
            owner[name] = (str(part["input"]), mname)
            location = f"{folder}/{name}"
            if not fs.exists(location):
                missing.append(f"{name} (of {redact(str(part['input']))}, {mname})")
                continue
            with fs.open(location, "rb") as fh:
                rows = pq.ParquetFile(fh).metadata.num_rows
            if rows != part["rows"]:
                raise IntegrityError(
                    f"part {name!r} in {shown!r} has {rows} rows, but {mname} records "
                    f"{part['rows']}; it was overwritten or damaged. Score its input again."
                )
            if verify_digests:
                with fs.open(location, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
                if digest != part["sha256"]:
                    raise IntegrityError(
                        f"part {name!r} in {shown!r} has SHA-256 {digest}, but {mname} "
                        f"records {part['sha256']}; score its input again."
                    )
            parts.append(dict(part))
    if missing:
        raise IncompletePartsError(
            f"{len(missing)} part(s) listed in the manifests of {shown!r} are missing: "
            f"{missing}. Score their inputs again."
        )
    if expected_inputs is not None:
        if isinstance(expected_inputs, str):
            in_fs, files, _ = list_input_files(expected_inputs)
            remote = is_url(expected_inputs)
            wanted = [in_fs.unstrip_protocol(f) if remote else f for f in files]
        else:
            wanted = [str(x) for x in expected_inputs]
        covered = {_normalise(str(p["input"])) for p in parts}
        uncovered = [x for x in wanted if _normalise(x) not in covered]
        if uncovered:
            raise IncompletePartsError(
                f"{len(uncovered)} expected input(s) have no part in {shown!r}: "
                f"{[redact(x) for x in uncovered]}. Their scoring call has not finished "
                "(or failed); run it again."
            )
    parts.sort(key=lambda p: (p["part"], p["input"]))
    return {
        "output_uri": fs.unstrip_protocol(folder) if is_url(str(output_url)) else folder,
        "model_uri": models[0],
        "manifests": [p.rsplit("/", 1)[-1] for p, _ in manifests],
        "parts": parts,
        "rows": sum(int(p["rows"]) for p in parts),
    }
