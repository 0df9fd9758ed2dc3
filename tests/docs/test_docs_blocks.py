"""Every code block of README.md and docs/*.md runs as written.

Blocks of one file run in order in one shared temporary folder (cwd, PYFUNC_OPS_HOME with
its registry and artifacts, AIRFLOW_HOME), so a later block may use what an earlier one
saved or registered; a test selecting one block runs the earlier ones of its file first.

- a Python block runs in a fresh interpreter of this virtual environment;
- a Python block defining a DAG is written to a dags folder and parsed with Airflow's
  DagBag (import errors fail it; ``dag.test()`` would need the DAG serialized from a bundle
  per block, too slow here);
- a ``# file: <path>`` block is written there (and compiled) for the next blocks to use;
- a shell block runs with this environment's ``bin`` first on PATH and may run only
  ``pyfunc-ops``, ``python`` and ``export``.

A block that cannot run here says so on its first line (``# docs-test: skip (<reason>)``
or ``# fragment of <file>``); see docs_blocks.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from docs_blocks import Block, extract_blocks, runnable_blocks, shell_commands, unrunnable_programs

BLOCK_TIMEOUT = 180
_BIN = str(Path(sys.executable).parent)
_DAGBAG_CHECK = """
import sys
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
if bag.import_errors:
    for path, error in bag.import_errors.items():
        print(f"{path}: {error}", file=sys.stderr)
    sys.exit(1)
if not bag.dags:
    sys.exit("the block defines no DAG (was the decorated function called?)")
print(sorted(bag.dags))
"""


@dataclass
class FileRun:
    """The shared folder of one Markdown file's blocks and which of them have run."""

    folder: Path
    outcomes: dict[int, str | None] = field(default_factory=dict)  # line -> failure or None

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PYFUNC_OPS_", "AIRFLOW_CONN_", "MLFLOW_"))
            or k == "PYFUNC_OPS_ENV_DIR"
        }
        home = self.folder / "pyfunc_ops_home"
        env.update(
            PATH=f"{_BIN}{os.pathsep}{env.get('PATH', '')}",
            PYFUNC_OPS_HOME=str(home),
            PYFUNC_OPS_TRACKING_URI=f"sqlite:///{home / 'tracking.db'}",
            PYFUNC_OPS_ARTIFACT_ROOT=str(home / "artifacts"),
            PYFUNC_OPS_CACHE_DIR=str(home / "cache"),
            AIRFLOW_HOME=str(self.folder / "airflow_home"),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__UNIT_TEST_MODE="True",
            AIRFLOW__CORE__DAGS_FOLDER=str(self.folder / "dags"),
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{self.folder / 'airflow.db'}",
            AWS_EC2_METADATA_DISABLED="true",
            PYTHONDONTWRITEBYTECODE="1",
        )
        return env


_RUNS: dict[Path, FileRun] = {}
_BLOCKS = runnable_blocks()


def _file_run(block: Block, factory: pytest.TempPathFactory) -> FileRun:
    if block.path not in _RUNS:
        _RUNS[block.path] = FileRun(factory.mktemp(block.path.stem.lower() + "-blocks"))
    return _RUNS[block.path]


def _run(args: list[str], run: FileRun, label: str) -> str | None:
    """Run one process in the file's folder; None on success, else what went wrong."""
    try:
        done = subprocess.run(
            args,
            cwd=run.folder,
            env=run.env(),
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"{label} took more than {BLOCK_TIMEOUT} s (mark it `# docs-test: skip (...)`)"
    if done.returncode == 0:
        return None
    tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
    return f"{label} exited with {done.returncode}:\n{tail}"


def _execute(block: Block, run: FileRun) -> str | None:
    """Run one block; None on success, else the failure message."""
    if block.kind == "python":
        script = run.folder / f"_block_{block.line}.py"
        script.write_text(block.text)
        return _run([sys.executable, str(script)], run, f"python block {block.id}")
    if block.kind == "module":
        target = run.folder / str(block.module_name())
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.text)
        return _run(
            [sys.executable, "-m", "py_compile", str(target)], run, f"module block {block.id}"
        )
    if block.kind == "dag":
        dags = run.folder / "dags" / f"block_{block.line}"
        dags.mkdir(parents=True, exist_ok=True)
        (dags / f"{block.path.stem.lower()}_{block.line}.py").write_text(block.text)
        return _run([sys.executable, "-c", _DAGBAG_CHECK, str(dags)], run, f"DAG block {block.id}")
    others = unrunnable_programs(block)
    if others:
        return (
            f"shell block {block.id} runs {sorted(set(others))}, which this test does not run; "
            "make it pyfunc-ops/python commands or add a first line "
            "`# docs-test: skip (<reason>)`"
        )
    script = "set -euo pipefail\n" + "\n".join(shell_commands(block)) + "\n"
    return _run(["bash", "-c", script], run, f"shell block {block.id}")


def _ensure_ran(block: Block, run: FileRun) -> str | None:
    """Run the block after every earlier runnable block of its file (once each)."""
    for earlier in _BLOCKS:
        if earlier.path != block.path or earlier.line > block.line:
            continue
        if earlier.skip_reason() is not None or earlier.line in run.outcomes:
            continue
        run.outcomes[earlier.line] = _execute(earlier, run)
    failure = run.outcomes[block.line]
    if failure is None:
        return None
    return failure


def _is_slow(block: Block) -> bool:
    """Airflow imports, the registry and several CLI processes take seconds each."""
    if block.kind == "dag" or re.search(r"\b(airflow|tracking|log_model)\b", block.text):
        return True
    return block.kind == "shell" and len(shell_commands(block)) > 2


def _param(block: Block) -> object:
    marks = [pytest.mark.slow] if _is_slow(block) else []
    return pytest.param(block, id=block.id, marks=marks)


@pytest.mark.parametrize("block", [_param(b) for b in _BLOCKS])
def test_block_runs_as_written(block: Block, tmp_path_factory: pytest.TempPathFactory) -> None:
    reason = block.skip_reason()
    if reason is not None:
        pytest.skip(f"{block.id}: {reason}")
    run = _file_run(block, tmp_path_factory)
    failure = _ensure_ran(block, run)
    if failure is not None:
        earlier = [line for line, outcome in run.outcomes.items() if outcome and line < block.line]
        note = f" (earlier blocks of this file failed too: lines {earlier})" if earlier else ""
        pytest.fail(failure + note, pytrace=False)


def test_every_doc_file_is_covered() -> None:
    """The runner sees README.md and every docs/*.md, and finds blocks in them."""
    files = {b.path.name for b in _BLOCKS}
    assert "README.md" in files
    assert len(files) >= 5, files


def test_markers_and_kinds(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "text\n"
        "```python\n# docs-test: skip (needs Docker)\nimport docker\n```\n"
        "```python\n# fragment of dags/x.py\nx = 1\n```\n"
        "```python\nfrom airflow.sdk import dag\n\n@dag()\ndef d(): ...\n\nd()\n```\n"
        "  ```console\n  $ pyfunc-ops models list --json\n  no models\n  ```\n"
        "```bash\nFOO=1 docker compose up  # comment\n```\n"
        "```python\n# file: pkg/mod.py\nX = 1\n```\n"
        "```text\nnot run\n```\n"
    )
    blocks = extract_blocks(doc)
    assert [(b.line, b.kind) for b in blocks] == [
        (2, "python"),
        (6, "python"),
        (10, "dag"),
        (18, "shell"),
        (22, "shell"),
        (25, "module"),
        (29, "other"),
    ]
    assert blocks[5].module_name() == "pkg/mod.py"
    assert blocks[0].skip_reason() == "needs Docker"
    assert blocks[1].skip_reason() == "fragment of dags/x.py"
    assert blocks[2].skip_reason() is None
    assert shell_commands(blocks[3]) == ["pyfunc-ops models list --json"]
    assert unrunnable_programs(blocks[3]) == []
    assert unrunnable_programs(blocks[4]) == ["docker"]
