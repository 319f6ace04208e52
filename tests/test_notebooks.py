"""Every notebook: committed clean, runs headless top to bottom; the release is what nbgrader generates."""
import filecmp
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tlclinic.notebooks import execute, stream_text

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


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.parent.name)
def test_solution_runs_headless_and_passes_its_own_tests(path):
    nb = execute(path)
    assert "types and shapes are right" in stream_text(nb)


@pytest.mark.parametrize("path", RELEASES, ids=lambda p: p.parent.name)
def test_release_runs_headless_from_the_broken_program(path):
    nb = execute(path)
    assert "BEGIN HIDDEN TESTS" not in path.read_text() and "BEGIN SOLUTION" not in path.read_text()
    assert "types and shapes are right" in stream_text(nb)


def test_release_is_what_nbgrader_generates_from_the_solutions(tmp_path):
    for lesson in LESSONS:
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", lesson, "--no-db", "--force",
                        f"--CourseDirectory.release_directory={tmp_path}", "--log-level=ERROR"],
                       cwd=ROOT / "autograde", check=True, capture_output=True)
        fresh, committed = tmp_path / lesson, ROOT / "notebooks" / lesson
        diff = filecmp.dircmp(fresh, committed)
        assert not (diff.diff_files or diff.left_only or diff.right_only), (
            f"notebooks/{lesson} differs from a fresh generation: run `make release` and commit it")
