"""Run notebooks headless, as the demo and the benchmark do (the grader runs them through nbgrader)."""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

CELL_TIMEOUT_S = 300


def execute(path: Path, cwd: Path | None = None, timeout: int = CELL_TIMEOUT_S) -> nbformat.NotebookNode:
    """Execute a notebook top to bottom in a fresh kernel; a failing cell raises ``CellExecutionError``, whose
    ``notebook`` holds the outputs of the cells that ran."""
    nb = nbformat.read(path, as_version=4)
    # The kernel's own log (e.g. "Kernel is running over TCP without encryption") is not for the reader.
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(cwd or Path(path).parent)}})
    try:
        client.execute()
    except CellExecutionError as error:
        error.notebook = nb
        raise
    return nb
