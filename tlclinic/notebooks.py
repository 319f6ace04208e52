"""Run notebooks headless, as the demo and the benchmark do (the grader runs them through nbgrader)."""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

CELL_TIMEOUT_S = 300


def execute(path: Path, cwd: Path | None = None, timeout: int = CELL_TIMEOUT_S) -> nbformat.NotebookNode:
    """Execute a notebook top to bottom in a fresh kernel; a failing cell raises ``CellExecutionError``."""
    nb = nbformat.read(path, as_version=4)
    # The kernel's own log (e.g. "Kernel is running over TCP without encryption") is not for the reader.
    NotebookClient(nb, timeout=timeout, kernel_name="python3", extra_arguments=["--IPKernelApp.log_level=ERROR"],
                   resources={"metadata": {"path": str(cwd or Path(path).parent)}}).execute()
    return nb
