"""Parsing YAML text the same way everywhere: libyaml's safe loader when PyYAML has it.

MLmodel, conda.yaml, python_env.yaml and model_config files are read on every load, the
cached one too. PyYAML's pure-Python loader spent about 3 ms on each small env file, a
tenth of a cached load; libyaml's loader builds the same objects about eight times
faster. Both are *safe* loaders (plain types only), and both raise ``yaml.YAMLError``.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["load_yaml"]

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """The plain Python value of the YAML document ``text`` (``yaml.YAMLError`` if invalid)."""
    return yaml.load(text, Loader=_LOADER)
