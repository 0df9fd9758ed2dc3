"""The program a scoring worker runs inside a model's restored environment.

``pyfunc_ops.envs`` builds the environment and starts
``<env>/bin/python -I -m pyfunc_ops.pyfunc.worker_main <model_dir>`` by module name (it
never imports ``pyfunc``); this program loads the model the pyfunc way and hands it to
the serving loop of :mod:`pyfunc_ops.envs.serve`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pyfunc_ops.envs import serve
from pyfunc_ops.pyfunc.load import load_local


def load_raw(model_dir: Path) -> Any:
    """The loaded model's own implementation: the caller enforces the signature."""
    return load_local(model_dir).get_raw_model()


if __name__ == "__main__":
    sys.exit(serve.main(sys.argv, load_raw))
