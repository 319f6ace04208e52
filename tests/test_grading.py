"""The grader, both ways: solutions get full marks, the untouched release and every broken, half-fixed,
crashing or tampering submission gets exactly what it deserves, and none of them stops the batch."""
import json
from pathlib import Path

import nbformat
import pytest

from tlclinic import autograde

ROOT = Path(__file__).resolve().parent.parent
LESSON, LESSON02, LESSON03 = "01-softmax-one-unit", "02-relu-regression-output", "03-learning-rate"
SOURCE, RELEASE = (ROOT / kind / LESSON / f"{LESSON}.ipynb" for kind in ("solutions", "notebooks"))
SOURCE02, RELEASE02 = (ROOT / kind / LESSON02 / f"{LESSON02}.ipynb" for kind in ("solutions", "notebooks"))
SOURCE03, RELEASE03 = (ROOT / kind / LESSON03 / f"{LESSON03}.ipynb" for kind in ("solutions", "notebooks"))
POINTS = {"self_check": 1, "converges": 4}


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _with_head(source):
    def edit(nb):
        _cell(nb, "build_head").source = source
    return edit


TWO_UNITS = _cell(nbformat.read(SOURCE, 4), "build_head").source.replace(
    'layers.Dense(1, activation="sigmoid")', 'layers.Dense(2, activation="softmax")').replace(
    'loss = "binary_crossentropy"', 'loss = "sparse_categorical_crossentropy"', 1)
HALF_FIX = _cell(nbformat.read(RELEASE, 4), "build_head").source.replace(
    'activation="softmax"', 'activation="sigmoid"').replace(
    'loss = "binary_crossentropy"', 'loss = "categorical_crossentropy"')

# student -> (lesson, notebook it starts from, edit, expected points per test, words the first failure must contain)
CASES = {
    "solution": (LESSON, SOURCE, None, {"self_check": 1, "converges": 4}, ""),
    "untouched": (LESSON, RELEASE, None, {"self_check": 1, "converges": 0}, "hardly vary"),
    "two_units": (LESSON, RELEASE, _with_head(TWO_UNITS), {"self_check": 1, "converges": 4}, ""),
    "half_fix": (LESSON, RELEASE, _with_head(HALF_FIX), {"self_check": 1, "converges": 0}, "did not fall"),
    "loops": (LESSON, RELEASE, _with_head("import time\nwhile True:\n    time.sleep(1)"),
              {"self_check": 0, "converges": 0}, "time limit"),
    "dies": (LESSON, RELEASE, _with_head("import os\nos._exit(1)"), {"self_check": 0, "converges": 0},
             "kernel died"),
    "hogs": (LESSON, RELEASE, _with_head("hog = []\nwhile True:\n    hog.append(bytearray(10**8))"),
             {"self_check": 0, "converges": 0}, "MemoryError"),
    "edits_test": (LESSON, RELEASE, lambda nb: setattr(_cell(nb, "converges"), "source", "pass"),
                   {"self_check": 1, "converges": 0}, "hardly vary"),
    "deletes_test": (LESSON, RELEASE, lambda nb: nb.cells.remove(_cell(nb, "converges")),
                     {"self_check": 1, "converges": 0}, "hardly vary"),
    "not_json": (LESSON, None, None, {"self_check": 0, "converges": 0}, "not a valid notebook"),
    "l02_solution": (LESSON02, SOURCE02, None, {"self_check": 1, "converges": 4}, ""),
    "l02_untouched": (LESSON02, RELEASE02, None, {"self_check": 1, "converges": 0}, "produce a negative number"),
    "l03_solution": (LESSON03, SOURCE03, None, {"self_check": 1, "converges": 4}, ""),
    "l03_untouched": (LESSON03, RELEASE03, None, {"self_check": 1, "converges": 0},
                      "did not converge with your optimizer"),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    for student, (lesson, start, edit, _, _) in CASES.items():
        (folder / student).mkdir()
        target = folder / student / f"{lesson}.ipynb"
        if start is None:
            target.write_text('{"cells": [ this is not json')
            continue
        nb = nbformat.read(start, as_version=4)
        if edit:
            edit(nb)
        nbformat.write(nb, target)
    before = {p: p.read_bytes() for p in folder.rglob("*.ipynb")}
    out = tmp_path_factory.mktemp("grades")
    code = autograde.main([str(folder), "--jobs", "2", "--timeout", "120", "--out", str(out), "--min-score", "0.9"])
    return code, out, before


@pytest.mark.xdist_group("grading")
def test_every_submission_gets_exactly_its_expected_points(graded):
    _, out, _ = graded
    rows = json.loads((out / "grades.json").read_text())
    got = {(r["student"], r["test"]): r for r in rows}
    assert {r["student"] for r in rows} == set(CASES)
    for student, (lesson, _, _, expected, words) in CASES.items():
        for test, points in expected.items():
            row = got[student, test]
            assert row["lesson"] == lesson
            assert row["points"] == points, (student, test, row)
            assert row["max_points"] == POINTS[test]
        messages = " ".join(got[student, t]["message"] for t in expected)
        assert words in messages, (student, messages)


@pytest.mark.xdist_group("grading")
def test_reports_min_score_and_untouched_submissions(graded):
    code, out, before = graded
    assert code == 1  # several submissions are below --min-score
    header = (out / "grades.csv").read_text().splitlines()[0]
    assert header == "student,lesson,test,points,max_points,message"
    assert all(p.read_bytes() == data for p, data in before.items()), "a submission was modified"


@pytest.mark.xdist_group("grading")
def test_solutions_and_untouched_releases_run_top_to_bottom_without_an_error(graded):
    """Every lesson's solution runs clean under the grader; its release fails only in the graded convergence cell."""
    _, out, _ = graded
    checked = set()
    for student, (lesson, start, edit, _, _) in CASES.items():
        if edit is not None or start not in (SOURCE, RELEASE, SOURCE02, RELEASE02, SOURCE03, RELEASE03):
            continue
        checked.add((lesson, start.parent.parent.name))
        nb = nbformat.read(out / "autograded" / student / f"{lesson}.ipynb", as_version=4)
        failed = [c.metadata.get("nbgrader", {}).get("grade_id", f"cell {i}") for i, c in enumerate(nb.cells)
                  if any(o.output_type == "error" for o in c.get("outputs", []))]
        assert failed == ([] if start.parent.parent.name == "solutions" else ["converges"]), (student, failed)
        assert "types and shapes are right" in "".join(
            o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert checked == {(lesson, kind) for lesson in autograde.lessons() for kind in ("solutions", "notebooks")}


def test_release_hides_the_hidden_tests_and_the_solution():
    text = RELEASE.read_text()
    assert "check_converges" not in text and "HIDDEN TESTS" not in text
    assert 'Dense(1, activation=\\"softmax\\")' in text and 'activation=\\"sigmoid\\"' not in text


def test_a_file_naming_no_lesson_gets_a_row_saying_so(tmp_path):
    path = tmp_path / "homework.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    [row] = autograde.grade_submission(path, tmp_path)
    assert row.points == 0 and "names no lesson" in row.message and LESSON in row.message
