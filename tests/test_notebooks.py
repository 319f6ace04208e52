"""Every notebook: committed clean; the release is what nbgrader generates and hides the solutions."""
import filecmp
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest


ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "solutions").glob("*/*.ipynb"))
RELEASES = sorted((ROOT / "notebooks").glob("*/*.ipynb"))
LESSONS = [p.parent.name for p in SOURCES]


def test_every_lesson_has_a_source_and_a_release():
    assert LESSONS and [p.parent.name for p in RELEASES] == LESSONS


@pytest.mark.parametrize("path", SOURCES + RELEASES, ids=lambda p: f"{p.parts[-3]}/{p.parent.name}")
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"cells {dirty} have outputs or execution counts: clear them before committing"


# Executing every solution and release top to bottom is done once, by the grader: test_grading grades each
# lesson's solution and untouched release and checks every cell of the notebooks it executed.


@pytest.mark.parametrize("path", RELEASES, ids=lambda p: p.parent.name)
def test_release_holds_no_solution_and_no_hidden_test(path):
    text = path.read_text()
    assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text and "RELEASE AS" not in text


def test_release_is_what_nbgrader_generates_from_the_solutions(tmp_path):
    for lesson in LESSONS:
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", lesson, "--no-db", "--force",
                        f"--CourseDirectory.release_directory={tmp_path}", "--log-level=ERROR"],
                       cwd=ROOT / "autograde", check=True, capture_output=True)
        fresh, committed = tmp_path / lesson, ROOT / "notebooks" / lesson
        diff = filecmp.dircmp(fresh, committed)
        assert not (diff.diff_files or diff.left_only or diff.right_only), (
            f"notebooks/{lesson} differs from a fresh generation: run `make release` and commit it")
