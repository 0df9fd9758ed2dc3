"""The program a scoring worker runs inside a model's restored environment.

``pyfunc_ops.envs`` builds the environment and starts
``<env>/bin/python -I -m pyfunc_ops.pyfunc.worker_main <model_dir> <trust> [skops types]``
by module name (it never imports ``pyfunc``); this program loads the model the pyfunc way
and hands it to the serving loop of :mod:`pyfunc_ops.envs.serve`.

``<trust>`` is the caller's trust decision (``trusted`` or ``untrusted``), which the worker
obeys: it never decides again from its own environment or from the local path it got
(a model fetched from an untrusted URL lives in a local cache folder too). Without it
(an older caller) the worker refuses code the model brings.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

from pyfunc_ops.envs import serve
from pyfunc_ops.pyfunc.load import load_local
from pyfunc_ops.pyfunc.trust import TrustDecision, from_flag


def load_raw(
    model_dir: Path, trust: TrustDecision | None = None, skops_trusted_types: tuple[str, ...] = ()
) -> Any:
    """The loaded model's own implementation: the caller enforces the signature."""
    decision = trust if trust is not None else from_flag("untrusted", str(model_dir))
    model = load_local(model_dir, trust=decision, skops_trusted_types=skops_trusted_types)
    return model.get_raw_model()


def loader_for(argv: list[str]) -> Any:
    """``load_raw`` bound to the decisions on the command line (after the model folder)."""
    model_dir = argv[1] if len(argv) > 1 else ""
    flag = argv[2] if len(argv) > 2 else "untrusted"
    trust = from_flag(flag, model_dir)
    return functools.partial(load_raw, trust=trust, skops_trusted_types=tuple(argv[3:]))


if __name__ == "__main__":
    sys.exit(serve.main(sys.argv, loader_for(sys.argv)))
