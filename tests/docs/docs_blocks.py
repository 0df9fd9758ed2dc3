"""Finding and classifying the fenced code blocks of README.md and docs/*.md.

The docs test runs every block a reader could copy. What a block is decides how it runs:
a Python block in a fresh interpreter, a Python block that defines a DAG through DagBag,
a shell block command by command. A block is left out only when it says so itself, on its
first line, so the reason stays next to the code a reader sees:

- ``# docs-test: skip (<reason>)``: needs Docker, a cloud account, Spark jars or a long run;
- ``# fragment of <file>``: a piece of a named file, not meant to run alone.

A Python block whose first line is ``# file: <relative path>`` is a module the next blocks
use (a loader module shipped as code, say): it is written to that path in the shared folder
and compiled, not run.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON_LANGS = frozenset({"python", "py", "python3"})
SHELL_LANGS = frozenset({"bash", "sh", "shell", "console"})
# The commands a shell block may run here; anything else needs a skip marker.
RUNNABLE_COMMANDS = frozenset({"pyfunc-ops", "python", "python3", "export"})

# CommonMark: up to 3 spaces of indent (more inside list items is common enough to accept);
# a backtick fence's info string holds no backtick (else it is inline code).
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}(?=[^`]*$)|~{3,})[ \t]*(?P<info>\S*)")
_SKIP = re.compile(r"^#\s*docs-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*$")
_FRAGMENT = re.compile(r"^#\s*fragment of\s+(?P<name>\S.*?)\s*$")
_DAG = re.compile(r"^\s*(@dag\b|with\s+DAG\(|\w+\s*=\s*DAG\()", re.M)
_FILE = re.compile(r"^#\s*file:\s*(?P<name>[\w./-]+\.py)\s*$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language and its text (dedented to the fence)."""

    path: Path
    line: int
    lang: str
    text: str

    @property
    def id(self) -> str:
        """``file:line`` of the opening fence, relative to the repository root."""
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"

    @property
    def kind(self) -> str:
        """``python``, ``dag``, ``module`` (a ``# file:`` block), ``shell`` or ``other``."""
        if self.lang in PYTHON_LANGS:
            if self.module_name() is not None:
                return "module"
            return "dag" if _DAG.search(self.text) else "python"
        if self.lang in SHELL_LANGS:
            return "shell"
        return "other"

    def first_line(self) -> str:
        return next((line.strip() for line in self.text.splitlines() if line.strip()), "")

    def module_name(self) -> str | None:
        """The relative path a ``# file: <path>`` block is written to, if it is one."""
        match = _FILE.match(self.first_line())
        return match["name"] if match else None

    def skip_reason(self) -> str | None:
        """The reason the block's own first line gives for not running it, if any."""
        first = self.first_line()
        if match := _SKIP.match(first):
            return match["reason"].strip()
        if match := _FRAGMENT.match(first):
            return f"fragment of {match['name']}"
        return None


def doc_files(root: Path = ROOT) -> list[Path]:
    """README.md, then docs/*.md in name order."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def extract_blocks(path: Path) -> list[Block]:
    """Every fenced block of one Markdown file, in order."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        lang = opening["info"].lower()
        body: list[str] = []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index][indent:] if lines[index][:indent].isspace() else lines[index])
            index += 1
        start = index - len(body)  # 1-based line number of the opening fence
        blocks.append(Block(path, start, lang, "\n".join(body) + "\n"))
        index += 1
    return blocks


def runnable_blocks(root: Path = ROOT) -> list[Block]:
    """The blocks the docs test runs or skips by marker: Python and shell ones."""
    return [b for p in doc_files(root) for b in extract_blocks(p) if b.kind != "other"]


def shell_commands(block: Block) -> list[str]:
    """The commands of a shell block: continuation lines joined, comments and output dropped.

    In a ``console`` block only lines starting with ``$ `` are commands; the rest is output.
    """
    raw = block.text.splitlines()
    if block.lang == "console":
        raw = [line[2:] for line in raw if line.startswith("$ ")]
    commands: list[str] = []
    pending = ""
    for line in raw:
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        pending += line
        if not _complete(pending):  # an open quote continues on the next line
            pending += "\n"
            continue
        commands.append(pending)
        pending = ""
    if pending:
        commands.append(pending)
    return commands


def _complete(command: str) -> bool:
    try:
        shlex.split(command, comments=True)
    except ValueError:
        return False
    return True


def program(command: str) -> str:
    """The program a command runs (after leading ``VAR=value`` assignments)."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        return command.split()[0]
    while words and _ASSIGNMENT.match(words[0]):
        words.pop(0)
    return words[0] if words else ""


def unrunnable_programs(block: Block) -> list[str]:
    """Programs a shell block runs that the docs test does not (each needs a skip marker)."""
    return [p for p in map(program, shell_commands(block)) if p and p not in RUNNABLE_COMMANDS]
