"""``python -m pyfunc_ops.cli``: the ``pyfunc-ops`` command without the console script
(what subprocess tests and a bare virtualenv use)."""

from __future__ import annotations

import sys

from pyfunc_ops.cli.entry import main

if __name__ == "__main__":
    sys.exit(main())
