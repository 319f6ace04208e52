"""Every notebook: committed clean; the release is what nbgrader generates and hides the solutions."""
import filecmp
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

from tlclinic import browser
from tlclinic.lessons import RELEASES as RELEASE_DIR, ROOT, SOLUTIONS, names, release_notebook, source_notebook
from tlclinic.nbgrader_release import release
from tlclinic.notebooks import execute, shown_wrong, stderr_streams

LESSONS = names()
SOURCES = [source_notebook(lesson) for lesson in LESSONS]
RELEASES = [release_notebook(lesson) for lesson in LESSONS]
BRING_YOUR_OWN = RELEASE_DIR / "00-bring-your-own-model.ipynb"  # no lesson: the doctor on the learner's own model


# CI (.ci/run) runs `make demo` after `make e2e`: it executes every solution as this test does and fails a lesson
# whose notebook shows what ``shown_wrong`` finds, so CI asks this test to leave the solutions to it.
SOLUTIONS_RUN_BY_THE_DEMO = os.environ.get("TLCLINIC_SOLUTIONS_RUN_BY_THE_DEMO") == "1"


def test_every_lesson_has_a_source_and_a_release_and_nothing_else_is_there():
    assert LESSONS and all(p.exists() for p in SOURCES + RELEASES)
    for folder in (SOLUTIONS, RELEASE_DIR):
        assert sorted(p.parent.name for p in folder.glob("*/*.ipynb")) == LESSONS, (
            f"{folder.name}/ holds a notebook that is no lesson of tlclinic/lessons/ (or lacks one)")


@pytest.mark.parametrize("path", SOURCES + RELEASES + [BRING_YOUR_OWN], ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"cells {dirty} have outputs or execution counts: clear them before committing"


# A lesson's solution and release run in one worker, one after the other: the release then reads the heavy
# demonstrations the solution computed from the disk (``results.kept``).
@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.xdist_group(p.parent.name))
                                  for p in SOURCES + RELEASES], ids=lambda p: f"{p.parts[-3]}/{p.parent.name}")
@pytest.mark.e2e
def test_runs_headless_the_solution_clean_and_the_release_up_to_its_check(path):
    """What a student's Validate does: the solution passes every cell; the untouched release runs every cell up to
    the visible check, which fails saying why (so Validate fails on it too).  No cell of either shows a stream to
    stderr (TensorFlow's native log, a library's warning), with no TF_CPP_MIN_LOG_LEVEL in the kernel.  Where
    Chromium is installed, tests/test_browser.py runs every release top to bottom in JupyterLab, as a student
    does, and asserts the same of it; a second run here would only repeat it."""
    if path in RELEASES and not browser.missing():
        pytest.skip("run top to bottom in JupyterLab in Chromium by tests/test_browser.py, which asserts the same")
    if path in SOURCES and SOLUTIONS_RUN_BY_THE_DEMO:
        pytest.skip("executed and checked by `make demo`, which CI runs next (TLCLINIC_SOLUTIONS_RUN_BY_THE_DEMO)")
    try:
        nb = execute(path)
    except CellExecutionError as error:
        assert path in RELEASES, f"the solution failed: {error}"
        assert not stderr_streams(error.notebook), stderr_streams(error.notebook)
        nb = nbformat.read(path, as_version=4)
        failed = next(i for i, c in enumerate(nb.cells) if c.source.strip() and c.source in str(error))
        assert nb.cells[failed].metadata.get("nbgrader", {}).get("grade_id") == "self_check", str(error)[-500:]
        assert "AssertionError" in str(error)
        return
    assert path in SOURCES, "the untouched release passed its check"
    assert not shown_wrong(nb), shown_wrong(nb)


@pytest.mark.e2e
def test_bring_your_own_model_runs_headless_and_the_doctor_names_both_bugs_of_its_example():
    nb = execute(BRING_YOUR_OWN)
    assert not stderr_streams(nb), stderr_streams(nb)
    printed = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                      for c in nb.cells for o in c.get("outputs", []))
    assert "softmax-one-unit" in printed and "learning-rate" in printed, printed[-2000:]


@pytest.mark.parametrize("path", RELEASES, ids=lambda p: p.parent.name)
def test_release_holds_no_solution_and_no_hidden_test(path):
    text = path.read_text()
    assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text and "RELEASE AS" not in text


@pytest.mark.e2e
def test_release_is_what_nbgrader_generates_from_the_solutions(tmp_path):
    for lesson in release(tmp_path):
        fresh, committed = tmp_path / lesson, RELEASE_DIR / lesson
        diff = filecmp.dircmp(fresh, committed)
        assert not (diff.diff_files or diff.left_only or diff.right_only), (
            f"notebooks/{lesson} differs from a fresh generation: run `make release` and commit it")


def test_nbgrader_and_formgrader_started_at_the_root_see_every_lesson(monkeypatch):
    """Formgrader (the Nbgrader menu of `make lab`) reads nbgrader_config.py from where JupyterLab starts: the root."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.apps.baseapp import NbGrader

    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")  # nbgrader runs alembic
    app = NbGrader()
    app.load_config_file()
    api = NbGraderAPI(config=app.config)
    assert Path(api.coursedir.root) == ROOT
    assert sorted(api.get_source_assignments()) == LESSONS
    assert all([nb["name"] for nb in api.get_notebooks(lesson)] == [lesson] for lesson in LESSONS)
