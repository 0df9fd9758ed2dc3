"""Imports point down the layer order, and no two modules import each other.

The order is written in ``docs/architecture.md`` and the package docstring; this test is
what keeps it true. Every import statement of every module counts (module level,
function level, ``if TYPE_CHECKING:``), because an import hidden in a function still
breaks when code moves, only later and at call time.
"""

from __future__ import annotations

import ast
import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import pyfunc_ops
from pyfunc_ops.models.flavors import flavor_specs

PACKAGE = "pyfunc_ops"
ROOT = Path(pyfunc_ops.__file__).parent

# Lowest first. A module belongs to the layer of the longest prefix that names it; parts
# sharing a layer (airflow, cli) must not import each other either.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("pyfunc_ops",),
    ("pyfunc_ops.errors",),
    ("pyfunc_ops.config",),
    ("pyfunc_ops.core",),
    ("pyfunc_ops.models",),
    ("pyfunc_ops.storage",),
    ("pyfunc_ops.tracking",),
    ("pyfunc_ops.envs",),
    ("pyfunc_ops.pyfunc",),
    # Every flavor module the registry names (one module each, none importing another).
    tuple(spec.module for spec in flavor_specs()),
    ("pyfunc_ops.jobs",),
    ("pyfunc_ops.airflow", "pyfunc_ops.cli"),
)


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module of this package
    where: str  # file:line


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def part_of(module: str) -> tuple[int, str]:
    """(layer index, the prefix that placed it) of ``module``."""
    best: tuple[int, str] | None = None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            placed = module == prefix or module.startswith(prefix + ".")
            if placed and (best is None or len(prefix) > len(best[1])):
                best = (index, prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer; add its prefix to LAYERS")
    return best


def _target(name: str) -> str | None:
    """The module of this package that importing ``name`` loads last (None: not ours)."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    while name not in MODULES:  # ``from pkg.mod import function``: the module is pkg.mod
        name = name.rpartition(".")[0]
    return name


def imports_of(module: str, path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import sub`` imports the submodule when there is one.
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        for name in names:
            target = _target(name)
            if target is not None and target != module:
                where = f"{path.relative_to(ROOT.parent)}:{node.lineno}"
                found.append(Import(module, target, where))
    return found


ALL_IMPORTS = [imp for module, path in MODULES.items() for imp in imports_of(module, path)]


def layer_violations(imports: list[Import]) -> list[str]:
    problems = []
    for imp in imports:
        (src_layer, src_part), (dst_layer, dst_part) = part_of(imp.source), part_of(imp.target)
        if dst_layer > src_layer or (dst_layer == src_layer and src_part != dst_part):
            problems.append(
                f"{imp.where}: {imp.source} imports {imp.target} "
                f"({src_part} -> {dst_part}: layer {src_layer} -> layer {dst_layer})"
            )
    return problems


def import_cycles(imports: list[Import]) -> list[str]:
    """Each strongly connected group of modules (Tarjan), shown with the imports in it."""
    graph: dict[str, list[Import]] = {}
    for imp in imports:
        graph.setdefault(imp.source, []).append(imp)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for imp in graph.get(node, []):
            if imp.target not in index:
                visit(imp.target)
                low[node] = min(low[node], low[imp.target])
            elif imp.target in on_stack:
                low[node] = min(low[node], index[imp.target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [
        "cycle between "
        + ", ".join(sorted(group))
        + ": "
        + "; ".join(
            dict.fromkeys(
                f"{imp.where} ({imp.source} -> {imp.target})"
                for imp in imports
                if imp.source in group and imp.target in group
            )
        )
        for group in groups
    ]


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        part_of(module)


def test_imports_point_down() -> None:
    problems = layer_violations(ALL_IMPORTS)
    assert not problems, "imports that point up the layer order:\n" + "\n".join(problems)


def test_no_import_cycles() -> None:
    cycles = import_cycles(ALL_IMPORTS)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_function_level_and_type_checking_imports_are_read() -> None:
    found = {(i.source, i.target) for i in ALL_IMPORTS}
    # pyfunc/__init__.py imports pyfunc.spark inside spark_udf only.
    assert ("pyfunc_ops.pyfunc", "pyfunc_ops.pyfunc.spark") in found


def test_a_violation_names_the_file_line_and_layers() -> None:
    upward = Import("pyfunc_ops.envs.worker", "pyfunc_ops.pyfunc.load", "pyfunc_ops/envs/x.py:7")
    assert layer_violations([upward]) == [
        "pyfunc_ops/envs/x.py:7: pyfunc_ops.envs.worker imports pyfunc_ops.pyfunc.load "
        "(pyfunc_ops.envs -> pyfunc_ops.pyfunc: layer 7 -> layer 8)"
    ]
    sideways = Import("pyfunc_ops.cli", "pyfunc_ops.airflow.hooks", "pyfunc_ops/cli.py:3")
    assert len(layer_violations([sideways])) == 1
    back = Import("pyfunc_ops.tracking.resolve", "pyfunc_ops.tracking.client", "r.py:1")
    forth = Import("pyfunc_ops.tracking.client", "pyfunc_ops.tracking.resolve", "c.py:2")
    (cycle,) = import_cycles([back, forth])
    assert "r.py:1" in cycle and "c.py:2" in cycle


def test_an_unplaced_module_is_reported() -> None:
    with pytest.raises(AssertionError, match="pyfunc_ops_other is in no layer"):
        part_of("pyfunc_ops_other")


def test_every_layer_prefix_names_a_module() -> None:
    """A prefix naming nothing is stale text that would hide a misplaced module."""
    stale = [prefix for layer in LAYERS for prefix in layer if prefix not in MODULES]
    assert stale == []


ARCHITECTURE = ROOT.parent / "docs" / "architecture.md"
TOP_PARTS = {name.split(".")[1] for name in MODULES if name.count(".") >= 1}


def _names_in_the_doc(text: str) -> set[str]:
    """Every backticked dotted name of the package the page mentions (``jobs.model_facts``,
    ``pyfunc_ops.storage.cache``, ``airflow/operators/base.py``)."""
    names: set[str] = set()
    for token in re.findall(r"`([A-Za-z_][\w./]*)`", text):
        token = token.removesuffix(".py").replace("/", ".").strip(".")
        token = token.removeprefix(PACKAGE + ".")
        if token.split(".")[0] in TOP_PARTS:
            names.add(f"{PACKAGE}.{token}")
    return names


def _exists(name: str) -> bool:
    """A module of the package, or an attribute of one (a function or class)."""
    if name in MODULES:
        return True
    module, _, attribute = name.rpartition(".")
    return module in MODULES and hasattr(importlib.import_module(module), attribute)


def test_the_architecture_page_names_only_what_exists() -> None:
    missing = sorted(n for n in _names_in_the_doc(ARCHITECTURE.read_text()) if not _exists(n))
    assert missing == [], "docs/architecture.md names modules that do not exist"


def test_the_docs_name_only_modules_that_exist() -> None:
    """Every ``pyfunc_ops.x.y`` / ``pyfunc_ops/x/y.py`` that the README and docs/ spell out
    in full is a module of the package or an attribute of one (stale text after a move
    fails here)."""
    pages = [ROOT.parent / "README.md", *sorted((ROOT.parent / "docs").glob("*.md"))]
    missing = []
    for page in pages:
        for token in set(re.findall(rf"\b{PACKAGE}(?:[./]\w+)+(?:\.py)?", page.read_text())):
            name = token.removesuffix(".py").replace("/", ".").strip(".")
            # Tag and folder names (pyfunc_ops.digest, ~/.cache/pyfunc_ops/...) are not ours.
            if name.split(".")[1] in TOP_PARTS and not _exists(name):
                missing.append(f"{page.name}: {token}")
    assert sorted(missing) == []


def test_the_layer_table_names_modules() -> None:
    """The second column of the page's layer table: each backticked name is a module."""
    rows = [line.split("|") for line in ARCHITECTURE.read_text().splitlines()]
    listed = [
        token
        for row in rows
        if len(row) > 3 and row[1].strip().isdigit()
        for token in re.findall(r"`([\w.]+)`", row[2])
    ]
    assert listed, "the layer table was not found"
    missing = [
        t for t in listed if t not in (PACKAGE, "__init__") and f"{PACKAGE}.{t}" not in MODULES
    ]
    assert missing == []


def test_the_page_check_sees_a_stale_name() -> None:
    names = _names_in_the_doc("see `jobs.scoring` and `storage/gone.py`")
    assert f"{PACKAGE}.storage.gone" in names
    assert not _exists(f"{PACKAGE}.storage.gone")
    assert _exists(f"{PACKAGE}.jobs.scoring")
