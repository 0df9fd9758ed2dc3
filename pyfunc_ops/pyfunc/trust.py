"""The trust decision: may loading this model run code the model brings?

One decision per load, taken where the URI is resolved (``load_model``, ``spark_udf``,
``sklearn.load_model``) and handed down: to the loader modules through the load scope of
:mod:`pyfunc_ops.pyfunc.load`, to Spark workers inside the UDF closure, and to
environment workers on their command line. Nothing below re-decides from its own
environment, so a worker never trusts more (or less) than its caller did.

Trust roots (docs/security.md): a local path (whoever can write it can already run code
here) and a registry-reached model whose files matched the recorded digest. Anything else
is untrusted unless the caller opts in: ``trust_remote_code=True``, the environment
variable ``PYFUNC_OPS_TRUST_REMOTE_CODE=1``, the connection extra ``trust_remote_code`` or
the CLI flag ``--trust-remote-code`` (the last three reach here as
``Settings.trust_remote_code``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyfunc_ops import config
from pyfunc_ops.errors import InvalidParameterError, UntrustedModelError
from pyfunc_ops.models.flavors import PYTHON_MODEL_LOADERS, import_flavor, spec_for_loader

if TYPE_CHECKING:
    from pyfunc_ops.pyfunc.localize import ResolvedModel

__all__ = [
    "TRUSTED_LOCAL",
    "TrustDecision",
    "check_trust_parameter",
    "code_reason",
    "decide",
    "decide_for",
    "from_flag",
]

_OPT_IN = (
    "If you trust whoever can write it, opt in with trust_remote_code=True (load_model, "
    "spark_udf, the scoring jobs and operators), --trust-remote-code (CLI), "
    "PYFUNC_OPS_TRUST_REMOTE_CODE=1 or the Airflow connection extra "
    '"trust_remote_code": true; or load it through the registry (models:/ or runs:/), '
    "whose digest is verified, or save it with serialization_format='skops'."
)


@dataclass(frozen=True)
class TrustDecision:
    """Whether code the model brings may run, and why: carried to every loader and worker.

    ``uri`` is the URI the caller gave (for messages); ``root`` says which trust root or
    opt-in applies, or why the model is untrusted.
    """

    trusted: bool
    uri: str
    root: str

    def require(self, reason: str) -> None:
        """Refuse with :class:`UntrustedModelError` unless trusted; ``reason`` names what
        would run (``"it is a pickle"``, ...)."""
        if self.trusted:
            return
        raise UntrustedModelError(
            f"Refusing to load the model at {self.uri!r}: {reason}, yet the model is "
            f"untrusted ({self.root}). {_OPT_IN}"
        )

    def as_flag(self) -> str:
        """The decision as a worker's command-line argument (see :func:`from_flag`)."""
        return "trusted" if self.trusted else "untrusted"


#: A path handed to a loader directly (not through ``load_model``): a local folder.
TRUSTED_LOCAL = TrustDecision(True, "<local folder>", "a local path")


def from_flag(flag: str, uri: str) -> TrustDecision:
    """The decision a worker got on its command line from its caller."""
    if flag not in ("trusted", "untrusted"):
        raise InvalidParameterError(
            f"worker trust flag must be 'trusted' or 'untrusted', got {flag!r}."
        )
    trusted = flag == "trusted"
    return TrustDecision(trusted, uri, "decided by the caller" if trusted else "caller: untrusted")


def check_trust_parameter(value: object, where: str = "trust_remote_code") -> bool | None:
    """``value`` if it is ``None``, ``True`` or ``False``; else an error naming it."""
    if value is None or isinstance(value, bool):
        return value
    raise InvalidParameterError(
        f"{where} must be True, False or None (use the settings), got {value!r}."
    )


def decide(
    uri: object,
    *,
    local: bool,
    via_registry: bool = False,
    verified: bool = False,
    trust_remote_code: bool | None = None,
) -> TrustDecision:
    """The decision for a model reached at ``uri``.

    ``local``: the artifact location is a path on this machine; ``via_registry`` and
    ``verified``: reached through the registry and its files matched the recorded digest.
    ``trust_remote_code`` ``None`` means "use the current settings".
    """
    opt_in = check_trust_parameter(trust_remote_code)
    shown = str(uri)
    if local:
        return TrustDecision(True, shown, "a local path")
    if via_registry and verified:
        return TrustDecision(True, shown, "reached through the registry, digest verified")
    where = (
        "reached through the registry without a verified digest"
        if via_registry
        else "a remote URL not reached through the registry"
    )
    if opt_in is None:
        if config.current_settings().trust_remote_code:
            return TrustDecision(True, shown, f"{where}; trusted by the settings")
        return TrustDecision(False, shown, where)
    if opt_in:
        return TrustDecision(True, shown, f"{where}; trust_remote_code=True")
    return TrustDecision(False, shown, f"{where}; trust_remote_code=False")


def decide_for(
    resolved: ResolvedModel, trust_remote_code: bool | None = None, uri: object = None
) -> TrustDecision:
    """The decision for a model :func:`~pyfunc_ops.pyfunc.localize.resolve_model` found."""
    from pyfunc_ops.core.uri import is_remote

    return decide(
        uri if uri is not None else resolved.uri.raw,
        local=not is_remote(resolved.source),
        via_registry=resolved.via_registry,
        verified=resolved.verified,
        trust_remote_code=trust_remote_code,
    )


def code_reason(flavors: dict[str, dict[str, Any]]) -> str | None:
    """What in the MLmodel's ``flavors`` would run code the model brings, or ``None``.

    Read from the MLmodel alone, so ``load_model`` and ``spark_udf`` refuse an untrusted
    model before anything is built, shipped or imported; the loaders check again where
    they open the file (a loader may be called on a folder directly). A registered flavor
    answers for its own formats (its module's ``code_reason``, see
    :mod:`pyfunc_ops.models.flavors`).
    """
    conf = flavors.get("python_function") or {}
    if conf.get("code"):
        return f"its code folder {conf['code']!r} (python_function 'code') would be imported"
    loader = conf.get("loader_module")
    if loader in PYTHON_MODEL_LOADERS:
        if conf.get("model_code_path") and not conf.get("python_model"):
            # Models from code: loading runs the file, so it is code like a pickle.
            return (
                f"its model code file {conf['model_code_path']!r} (python_function "
                "'model_code_path') would be run"
            )
        return "its python_model is a cloudpickle file, and unpickling runs code"
    spec = spec_for_loader(loader)
    if spec is not None:
        reason: str | None = import_flavor(spec).code_reason(flavors)
        return reason
    return None
