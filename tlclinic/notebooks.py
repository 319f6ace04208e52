"""Notebooks read as the grader reads them (``cells``), and run headless as the demo and the benchmark run them."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import nbformat

CELL_TIMEOUT_S = 300


@dataclass(frozen=True)
class Cell:
    cell_type: str
    source: str
    metadata: dict = field(default_factory=dict)


def cells(path: Path) -> list[Cell]:
    """The cells of a notebook file in format 4, read as plain JSON; raises ``ValueError`` for a file that is not
    one.  (``nbformat.read`` would also load its schema validator, about a second of every grading command's
    start, only to log what it finds.)"""
    notebook = json.loads(Path(path).read_bytes())
    if not isinstance(notebook, dict) or notebook.get("nbformat") != 4 or not isinstance(notebook.get("cells"), list):
        raise ValueError("not a notebook in format 4 (a JSON object with a list of cells)")
    found = []
    for cell in notebook["cells"]:
        source = cell.get("source", "") if isinstance(cell, dict) else None
        source = "".join(source) if isinstance(source, list) and all(isinstance(s, str) for s in source) else source
        metadata = cell.get("metadata", {}) if isinstance(cell, dict) else None
        if not isinstance(source, str) or not isinstance(metadata, dict) or not isinstance(cell.get("cell_type"), str):
            raise ValueError("a cell without a cell type, a source of text or a metadata object")
        found.append(Cell(cell["cell_type"], source, metadata))
    return found


# What a solution's visible check prints when it passes, and what no output a person reads may carry.
PASSED = "passed (seed 0, judged in a fresh process)"
NOISE = ("cuInit", "cudart_stub", "absl", "oneDNN custom operations", "Kernel is running over TCP", "retracing")
# Set by make and the tests, never by a person's JupyterLab: a kernel started here gets neither, so that what keeps
# TensorFlow's native log out of the cells is the package alone (and ipykernel, which under pytest leaves out of
# the cells what native code writes to file descriptors 1 and 2, shows it as it would to a person).
NOT_A_PERSONS = ("TF_CPP_MIN_LOG_LEVEL", "PYTEST_CURRENT_TEST")


def stderr_streams(nb) -> list[str]:
    """Each stream to stderr among an executed notebook's outputs (a red box in JupyterLab): "cell <index>: <text>"."""
    return [f"cell {index}: {output.text}" for index, cell in enumerate(nb.cells) for output in cell.get("outputs", [])
            if output.output_type == "stream" and output.name == "stderr"]


def shown_wrong(nb) -> list[str]:
    """What a person would find wrong in a solution executed whole: each stream to stderr, start-up noise among
    the outputs, or no visible check that passed."""
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    return (stderr_streams(nb) + [f"start-up noise: {word}" for word in NOISE if word in printed]
            + ([] if PASSED in printed else [f"no cell printed {PASSED!r}"]))


def execute(path: Path, cwd: Path | None = None, timeout: int = CELL_TIMEOUT_S) -> nbformat.NotebookNode:
    """Execute a notebook top to bottom in a fresh kernel, started as a person's JupyterLab starts it (without
    ``NOT_A_PERSONS``); a failing cell raises ``CellExecutionError``, whose ``notebook`` holds the outputs of the
    cells that ran."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    # The kernel's own log (e.g. "Kernel is running over TCP without encryption") is not for the reader.
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(cwd or Path(path).parent)}})
    try:
        client.execute(env={k: v for k, v in os.environ.items() if k not in NOT_A_PERSONS})
    except CellExecutionError as error:
        error.notebook = nb
        raise
    return nb
