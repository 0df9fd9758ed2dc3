"""Parse every model URI form into one immutable value, before any I/O happens.

All the places that accept a model location (``load_model``, ``log_model``, the Airflow
operators, the CLI) go through :func:`parse_model_uri`, so a typo is reported once, with
the same message, naming the URI and the forms that would have worked, instead of
surfacing later as a puzzling "file not found" from deep inside a storage backend.

This module only looks at the text: it never touches a filesystem or the registry, and it
imports nothing heavier than the standard library, so it is cheap to call anywhere.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import unquote

from pyfunc_ops.core import names
from pyfunc_ops.errors import InvalidParameterError, InvalidURIError

__all__ = [
    "ACCEPTED_FORMS",
    "SCHEME",
    "ModelURI",
    "canonical_location",
    "is_local",
    "is_models_uri",
    "is_registry_uri",
    "is_remote",
    "is_runs_uri",
    "is_url",
    "join",
    "local_path",
    "models_uri",
    "parse_model_uri",
    "runs_uri",
    "scheme_of",
]

ACCEPTED_FORMS = """\
Accepted model URI forms:
  /absolute/path/to/model            a local folder
  relative/path/to/model             a local folder, relative to the working directory
  file:///absolute/path/to/model     a local folder (also file:/absolute/path)
  <protocol>://<location>            any fsspec protocol, e.g. s3://bucket/key,
                                     gs://bucket/key, memory://model
  runs:/<run_id>/<artifact_path>     an artifact of a tracked run (path optional)
  models:/<name>/<version>           a registered model version (an integer >= 1)
  models:/<name>/<stage>             the latest version in a stage
                                     (None, Staging, Production, Archived)
  models:/<name>/latest              the latest version of a registered model
  models:/<name>@<alias>             the version an alias points to
  models:/<model_id>                 an MLflow 3 logged model (m-<hex>), through a
                                     tracking server
  mlflow-artifacts:/<path>           a tracking server's proxied artifacts (MLflow's
                                     own form; mlflow-artifacts:///<path> too)"""

# RFC 3986 scheme syntax; fsspec protocols follow it (s3, gs, abfs, memory, git+https...).
# The one definition of a scheme: every other pattern that needs one is built from it.
SCHEME = r"[A-Za-z][A-Za-z0-9+.\-]*"
# fsspec URLs, including chained ones such as ``simplecache::s3://bucket/key``.
_FSSPEC_URL = re.compile(rf"^(?P<chain>(?:{SCHEME}::)*)(?P<protocol>{SCHEME})://(?P<rest>.*)$")
# Something that starts like a URI (``word:``) but is none of the forms above.
_SCHEME_PREFIX = re.compile(rf"^(?P<scheme>{SCHEME}):")
# A run id is one path component: letters, digits, '_', '-', '.' (never '.' or '..').
_RUN_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_LOCAL_PROTOCOLS = frozenset({"file", "local"})
# An MLflow 3 logged model id: "m-" and a hex uuid (MLflow writes 32 digits).
_MODEL_ID = re.compile(r"^m-[0-9a-f]{8,64}$")


# MLflow records proxied artifact locations with one slash ("on the configured server").
_MLFLOW_ARTIFACTS_SHORT = re.compile(r"^mlflow-artifacts:(?!//)/*", re.IGNORECASE)


def canonical_location(location: str) -> str:
    """``location`` with MLflow's single-slash ``mlflow-artifacts:/<path>`` written as the
    ``mlflow-artifacts:///<path>`` URL fsspec understands (empty host: the configured
    tracking server); any other location unchanged.

    MLflow itself records this form for proxied artifacts (a version's ``source``, a run's
    artifact URI), so it must be accepted wherever an artifact location is.
    """
    match = _MLFLOW_ARTIFACTS_SHORT.match(location)
    if match is None:
        return location
    return "mlflow-artifacts:///" + location[match.end() :]


@dataclass(frozen=True)
class ModelURI:
    """A parsed model URI.

    ``scheme`` says which of the other fields are meaningful:

    - ``"local"``: ``path`` is an absolute local path.
    - ``"fsspec"``: ``path`` is the full fsspec URL (protocol lower-cased).
    - ``"runs"``: ``run_id`` and ``artifact_path`` (``""`` for the whole run root).
    - ``"models"``: ``name`` and exactly one of ``version``, ``stage``, ``alias`` or
      ``latest=True``; or, for an MLflow 3 logged model, ``model_id`` alone.
    """

    raw: str
    scheme: str
    path: str | None = None
    run_id: str | None = None
    artifact_path: str | None = None
    name: str | None = None
    version: int | None = None
    stage: str | None = None
    alias: str | None = None
    latest: bool = False
    model_id: str | None = None

    def __str__(self) -> str:
        return self.raw

    def canonical(self) -> str:
        """This URI written in its canonical form (what :func:`models_uri` and
        :func:`runs_uri` build; the absolute path or the URL for the other kinds): the
        same value whatever spelling it was parsed from."""
        if self.scheme == "runs":
            return runs_uri(str(self.run_id), self.artifact_path or "")
        if self.scheme == "models":
            if self.model_id is not None:
                return f"models:/{self.model_id}"
            return models_uri(str(self.name), self.version, alias=self.alias, stage=self.stage)
        return str(self.path)


def _invalid(uri: object, problem: str) -> InvalidURIError:
    return InvalidURIError(f"Invalid model URI {uri!r}: {problem}.\n{ACCEPTED_FORMS}")


def _as_text(uri: str | os.PathLike[str]) -> str:
    try:
        text = os.fspath(uri)
    except TypeError:
        raise _invalid(
            uri, f"expected a str or path-like object, found {type(uri).__name__}"
        ) from None
    if not isinstance(text, str):
        raise _invalid(uri, f"expected text, found {type(text).__name__}")
    if not text.strip():
        raise _invalid(uri, "it is empty")
    if "\x00" in text:
        raise _invalid(uri, "it contains a NUL character")
    return text


def _parse_runs(uri: str, rest: str) -> ModelURI:
    # rest is what follows "runs:"; MLflow's form is runs:/<run_id>[/<artifact_path>].
    if not rest.startswith("/") or rest.startswith("//"):
        raise _invalid(uri, "expected 'runs:/<run_id>/<artifact_path>' (exactly one '/')")
    run_id, _, artifact_path = rest[1:].partition("/")
    if not run_id:
        raise _invalid(uri, "the run id is missing")
    if not _RUN_ID.match(run_id):
        raise _invalid(
            uri, f"the run id {run_id!r} is not a single name of letters, digits, '_', '-', '.'"
        )
    parts = [part for part in artifact_path.split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise _invalid(uri, "the artifact path must not contain '.' or '..' components")
    return ModelURI(raw=uri, scheme="runs", run_id=run_id, artifact_path="/".join(parts))


def _check_name(uri: str, name: str) -> str:
    if not name:
        raise _invalid(uri, "the registered model name is missing")
    try:
        return names.validate_model_name(name)
    except InvalidParameterError as exc:
        raise _invalid(uri, str(exc)) from None


def _parse_models(uri: str, rest: str) -> ModelURI:
    # rest is what follows "models:"; forms are /<name>/<suffix> and /<name>@<alias>.
    if not rest.startswith("/") or rest.startswith("//"):
        raise _invalid(uri, "expected 'models:/<name>/<version|stage|latest>' or '@<alias>'")
    parts = rest[1:].split("/")
    if not parts[0]:
        raise _invalid(uri, "the registered model name is missing")
    if len(parts) == 1:
        if _MODEL_ID.match(parts[0]):
            return ModelURI(raw=uri, scheme="models", model_id=parts[0])
        if "@" not in parts[0]:
            raise _invalid(
                uri,
                "a registered model name needs '/<version>', '/<stage>', '/latest' or "
                "'@<alias>' (a logged model id is 'm-' and hex digits)",
            )
        name, _, alias = parts[0].partition("@")
        _check_name(uri, name)
        if not alias:
            raise _invalid(uri, "the alias after '@' is missing")
        try:
            names.validate_alias(alias, name)
        except InvalidParameterError as exc:
            raise _invalid(uri, str(exc)) from None
        return ModelURI(raw=uri, scheme="models", name=name, alias=alias)
    if len(parts) != 2:
        raise _invalid(uri, "expected exactly two components after 'models:/'")
    name, suffix = parts
    if "@" in name:
        raise _invalid(uri, "an alias URI has no '/<suffix>' after '@<alias>'")
    _check_name(uri, name)
    if not suffix:
        raise _invalid(uri, "the version, stage or 'latest' after the name is missing")
    if names.is_version_number(suffix):
        try:
            version = names.validate_version(suffix, name)
        except InvalidParameterError as exc:
            raise _invalid(uri, str(exc)) from None
        return ModelURI(raw=uri, scheme="models", name=name, version=version)
    if suffix.lower() == "latest":
        return ModelURI(raw=uri, scheme="models", name=name, latest=True)
    stage = names.find_stage(suffix)
    if stage is None:
        raise _invalid(
            uri,
            f"{suffix!r} is neither a version number, 'latest' nor a stage "
            f"({', '.join(names.STAGES)})",
        )
    return ModelURI(raw=uri, scheme="models", name=name, stage=stage)


def _parse_file(uri: str, rest: str) -> ModelURI:
    # rest is what follows "file:" (or "local:"): //<host>/<path> or /<path>.
    if rest.startswith("//"):
        host, slash, path = rest[2:].partition("/")
        if host not in ("", "localhost"):
            raise _invalid(
                uri,
                f"file URIs name a local path, found host {host!r}; use file:///absolute/path",
            )
        path = slash + path
    else:
        path = rest
    if not path.startswith("/"):
        raise _invalid(uri, "a file URI needs an absolute path, e.g. file:///data/model")
    local = unquote(path)
    return ModelURI(raw=uri, scheme="local", path=os.path.abspath(local))


def parse_model_uri(uri: str | os.PathLike[str]) -> ModelURI:
    """Parse ``uri`` into a :class:`ModelURI`, or raise :class:`InvalidURIError`.

    Relative paths are made absolute against the current working directory now, so the
    result does not change meaning if the process later changes directory. A leading
    ``~`` is expanded. Anything shaped like ``word:...`` that is none of the accepted
    forms is rejected rather than taken as a relative path, because it is far more
    likely a mistyped URI (``s3:/bucket``) than a folder named with a colon; write
    ``./name:with:colons`` for the latter.
    """
    text = _as_text(uri)
    match = _FSSPEC_URL.match(canonical_location(text))
    if match:
        protocol = match["protocol"].lower()
        if not match["rest"].strip("/"):
            raise _invalid(text, f"the {protocol}:// URL names no location after '://'")
        if not match["chain"] and protocol in _LOCAL_PROTOCOLS:
            return _parse_file(text, text[len(protocol) + 1 :])
        if protocol in ("runs", "models"):
            raise _invalid(text, f"{protocol} URIs take a single '/': '{protocol}:/...'")
        chain = match["chain"].lower()
        return ModelURI(raw=text, scheme="fsspec", path=f"{chain}{protocol}://{match['rest']}")
    if text.startswith("://") or text.startswith("::"):
        raise _invalid(text, "the protocol before '://' is missing")
    prefix = _SCHEME_PREFIX.match(text)
    # One-letter "schemes" are Windows drive letters (C:\models), i.e. local paths.
    if prefix and len(prefix["scheme"]) > 1:
        scheme = prefix["scheme"].lower()
        rest = text[len(scheme) + 1 :]
        if scheme == "runs":
            return _parse_runs(text, rest)
        if scheme == "models":
            return _parse_models(text, rest)
        if scheme in _LOCAL_PROTOCOLS:
            return _parse_file(text, rest)
        raise _invalid(
            text,
            f"it starts with {scheme + ':'!r} but is not '{scheme}://...'; for a local "
            f"folder whose name contains ':' write './{text}'",
        )
    return ModelURI(raw=text, scheme="local", path=os.path.abspath(os.path.expanduser(text)))


def is_local(uri: str | os.PathLike[str] | ModelURI) -> bool:
    """Whether ``uri`` names a local path (plain, relative or ``file:``), without I/O."""
    parsed = uri if isinstance(uri, ModelURI) else parse_model_uri(uri)
    return parsed.scheme == "local"


# A location (not a model URI): an fsspec URL, possibly chained, or a plain local path.
_URL = re.compile(rf"^(?:{SCHEME}::)*(?P<protocol>{SCHEME})://")


def is_url(location: str) -> bool:
    """Whether ``location`` is a ``protocol://`` URL (``file://`` and chained
    ``simplecache::s3://`` ones included, and MLflow's ``mlflow-artifacts:/``) rather
    than a plain local path."""
    return bool(_URL.match(canonical_location(location)))


def is_remote(location: str, *, any_scheme: bool = False) -> bool:
    """Whether reading ``location`` needs fsspec: a URL other than a plain ``file://`` or
    ``local://`` one. Remote models are fetched into the cache; local ones are used in
    place.

    ``any_scheme=True`` asks "is this anything but a local folder?": then every
    ``<scheme>:/...`` form other than ``file:`` and ``local:`` counts too (``runs:/``,
    ``models:/``, a mistyped ``s3:/bucket``), as a destination to write a folder to must.
    """
    location = canonical_location(location)
    match = _URL.match(location)
    if not match:
        if not any_scheme:
            return False
        scheme = scheme_of(location)
        rest = location[len(scheme) + 1 :] if scheme else ""
        return scheme is not None and rest.startswith("/") and scheme not in _LOCAL_PROTOCOLS
    chained = match.group(0) != f"{match['protocol']}://"
    return chained or match["protocol"].lower() not in _LOCAL_PROTOCOLS


def scheme_of(text: str | os.PathLike[str] | ModelURI) -> str | None:
    """The lower-cased scheme ``text`` starts with (``models`` for ``models:/m/1``, ``s3``
    for ``s3://b/k``), ``None`` for a plain path. A one-letter "scheme" is a Windows drive
    letter (``C:\\models``), i.e. a path."""
    value = text.raw if isinstance(text, ModelURI) else text
    try:
        value = os.fspath(value)
    except TypeError:
        return None
    if not isinstance(value, str):
        return None
    match = _SCHEME_PREFIX.match(value)
    if match is None or len(match["scheme"]) < 2:
        return None
    return match["scheme"].lower()


def is_runs_uri(uri: str | os.PathLike[str] | ModelURI) -> bool:
    """Whether ``uri`` is written in the ``runs:/`` form (a tracked run's artifact), by its
    text alone: no parsing, no I/O."""
    return scheme_of(uri) == "runs"


def is_models_uri(uri: str | os.PathLike[str] | ModelURI) -> bool:
    """Whether ``uri`` is written in the ``models:/`` form (the model registry), by its text
    alone: no parsing, no I/O."""
    return scheme_of(uri) == "models"


def is_registry_uri(uri: str | os.PathLike[str] | ModelURI) -> bool:
    """Whether ``uri`` goes through the tracking store: ``runs:/`` or ``models:/``."""
    return scheme_of(uri) in ("runs", "models")


def models_uri(
    name: str,
    version: int | str | None = None,
    *,
    alias: str | None = None,
    stage: str | None = None,
) -> str:
    """The ``models:/`` URI of registered model ``name``: ``models:/<name>/<version>``,
    ``models:/<name>@<alias>``, ``models:/<name>/<stage>``, or ``models:/<name>/latest``
    when none of the three is given. At most one of them may be."""
    chosen = {"version": version, "alias": alias, "stage": stage}
    given = [key for key, value in chosen.items() if value is not None]
    if len(given) > 1:
        raise InvalidParameterError(
            f"models_uri: give at most one of version, alias or stage; got {given}."
        )
    if alias is not None:
        return f"models:/{name}@{alias}"
    if version is not None:
        return f"models:/{name}/{version}"
    return f"models:/{name}/{stage if stage is not None else 'latest'}"


def runs_uri(run_id: str, artifact_path: str = "") -> str:
    """The ``runs:/`` URI of ``artifact_path`` in run ``run_id`` (the run's root without
    one)."""
    return f"runs:/{run_id}/{artifact_path}" if artifact_path else f"runs:/{run_id}"


def local_path(location: str) -> str:
    """The local path a location that :func:`is_remote` says is local names.

    ``file://`` and ``local://`` are stripped as fsspec's local filesystem does (without
    percent-decoding), so a path read back here is the one fsspec wrote to.
    """
    match = _URL.match(location)
    if match and not is_remote(location):
        return location[match.end() :]
    return location


def join(location: str, *parts: str) -> str:
    """Join path components onto a local path or a URL, always with ``/`` for URLs.

    Leading and trailing slashes of ``parts`` are ignored (a part never restarts the path
    at the root, unlike :func:`os.path.join`) and empty parts are skipped. Artifact roots
    are fsspec URLs as often as local paths, so this is the one join for both.
    """
    location = canonical_location(location)
    cleaned = [part.strip("/") for part in parts if part and part.strip("/")]
    if not cleaned:
        return location
    if is_url(location):
        base = location if location.endswith("/") else location + "/"
        return base + "/".join(cleaned)
    return os.path.join(location, *cleaned)
