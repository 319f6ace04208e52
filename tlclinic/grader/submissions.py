"""A submission read and its answer taken: who and which lesson it is, its answer cells, and the answer run in the
sandbox (``sandbox``) after the lesson's own set-up cell, handed back as data for the verifier to judge (``judge``).

A submission's rows (``Row``, one per graded test) are what every later step reads and writes."""
from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import jail
from ..lessons import load, names, source_notebook as source_path
from ..notebooks import Cell, cells as read_cells
from . import sandbox


@dataclass
class Row:
    student: str
    lesson: str
    test: str
    points: float
    max_points: float
    message: str = ""
    status: str = "graded"  # or "not graded": the machine failed, not the student


def source_notebook(lesson: str) -> list[Cell]:
    return read_cells(source_path(lesson))


def grade_cells(lesson: str) -> dict[str, float]:
    """The graded cells of a lesson's source: grade_id -> points."""
    return {test: graded.points for test, graded in load(lesson).graded_tests().items()}


def setup_cell(source: list[Cell]) -> str:
    """The lesson's locked set-up cell (grade id ``setup``), from the source."""
    return next(c.source for c in source if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")


def answer_cells(submitted: list[Cell], source: list[Cell], name: str) -> list[str]:
    """The student's answer: the code of the cells with the source's solution grade ids, in the submitted order.

    A student who lost a cell's metadata (by pasting into a new cell) still has an answer: the last code cell
    that defines ``name``.
    """
    ids = {c.metadata["nbgrader"]["grade_id"] for c in source if c.metadata.get("nbgrader", {}).get("solution")}
    code = [c for c in submitted if c.cell_type == "code"]
    found = [c.source for c in code if grade_id(c) in ids]
    if found:
        return found
    defining = [c.source for c in code if f"def {name}(" in c.source or f"{name} =" in c.source]
    return defining[-1:]


def grade_id(cell: Cell) -> str | None:
    """A submitted cell's nbgrader grade id, or None (the metadata is the student's: it may hold anything)."""
    nbgrader = cell.metadata.get("nbgrader")
    found = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return found if isinstance(found, str) else None


def lesson_named(path: Path) -> str | None:
    """The lesson a submission's file name names (the longest that fits), or None."""
    found = [name for name in names() if name in path.name]
    return max(found, key=len) if found else None


def identify(path: Path, root: Path) -> tuple[str, str]:
    """(student, lesson) of a submitted notebook: ``<student>/<lesson>.ipynb``, nbgrader's
    ``<student>/<lesson>/<lesson>.ipynb``, or ``<student>-<lesson>.ipynb`` directly in ``root``."""
    lesson = lesson_named(path)
    if lesson is None:
        raise ValueError(f"{path.name}: the file name names no lesson (one of: {', '.join(names())})")
    folder = path.parent.parent if path.parent.name == lesson and path.parent != root else path.parent
    student = path.stem.replace(lesson, "").strip("-_ ") if folder == root else folder.name
    return student or "student", lesson


def student_of(path: Path, root: Path) -> str:
    """The student a submission's rows name: ``identify``'s, or the file's stem for a file naming no lesson."""
    return identify(path, root)[0] if lesson_named(path) else path.stem


@dataclass
class Submission:
    """One submitted notebook on its way through the grader: decided early (``rows``) or answered (``crossed``)."""

    path: Path
    student: str = ""
    lesson: str = "?"
    points: dict | None = None  # grade_id -> points, from the source
    crossed: dict | None = None
    rows: list[Row] | None = None
    key: str = ""  # the content hash that decides whether a later run may reuse the rows
    reused: bool = False  # the rows are the last run's, the submission unchanged since
    seconds: dict | None = None  # for make bench: the answer's process by phase (``sandbox.PHASES``), each test's

    def zero(self, message: str, status: str = "graded") -> "Submission":
        self.rows = [Row(self.student, self.lesson, test, 0.0, points, message, status)
                     for test, points in self.points.items()]
        return self

    def conclude(self, found: dict | str) -> list[Row]:
        """Rows from the verifier's verdicts, or "not graded" rows when it failed (``found`` says why)."""
        if isinstance(found, str):
            return self.zero(f"not graded: {found}", status="not graded").rows
        return [Row(self.student, self.lesson, test, points if found[test]["passed"] else 0.0, points,
                    "" if found[test]["passed"] else found[test]["message"]) for test, points in self.points.items()]


class Taken:
    """The answers one grading run has taken, by what their process was given: the lesson, its set-up cell and the
    answer cells.  Submissions whose answer cells are the same to the byte (the untouched release, a shared fix)
    are run once: the others get that run's outcome, as they would from a run of their own, since nothing else
    of a submission reaches its process.  Safe to share between the threads that take answers side by side: a
    thread asking for cells another is running waits for that run."""

    def __init__(self):
        self._lock, self._runs = threading.Lock(), {}

    def outcome(self, key: tuple, take: Callable[[], sandbox.Outcome]) -> sandbox.Outcome:
        """``take()``'s outcome for ``key``, run by the first to ask."""
        with self._lock:
            first = key not in self._runs
            run = self._runs.setdefault(key, Future())
        if first:
            try:
                run.set_result(take())
            except BaseException as error:
                run.set_exception(error)
                raise
        return run.result()


def answer(path: Path, root: Path, timeout: int = 180, sandboxed: bool = True, taken: Taken | None = None
           ) -> Submission:
    """Read a submission and run its answer cells in the sandbox: the answer as data, or rows that end it.

    A machine failure (the set-up cell did not finish) is retried once with twice the time, then "not graded".
    ``taken``: the answers taken so far in this run, so that the same cells run once (``Taken``).
    """
    sub = Submission(Path(path))
    try:
        sub.student, sub.lesson = identify(sub.path, Path(root))
    except ValueError as error:
        sub.student = student_of(sub.path, Path(root))
        sub.rows = [Row(sub.student, "?", "(submission)", 0.0, 0.0, str(error))]
        return sub
    sub.points = grade_cells(sub.lesson)
    try:
        submitted = read_cells(sub.path)
    except Exception as error:  # any unreadable file is reported the same way
        return sub.zero(f"not a valid notebook: {type(error).__name__}: {str(error).splitlines()[0][:200]}")
    source, name = source_notebook(sub.lesson), load(sub.lesson).ANSWER.name
    cells = answer_cells(submitted, source, name)
    if not cells:
        return sub.zero(f"no answer cell found: the cell that defines `{name}` is missing")
    # Other submissions are hidden from this one's process (unless the folder holds the workbook itself).
    hidden = [Path(root).resolve()] if not jail.ROOT.is_relative_to(Path(root).resolve()) else []
    setup = setup_cell(source)

    def take() -> sandbox.Outcome:
        """The outcome of the answer's process: once more with twice the time when the machine failed."""
        for limit in (timeout, 2 * timeout):
            outcome = sandbox.run_answer(sub.lesson, setup, cells, limit, hidden, sandboxed)
            if outcome.student_fault:
                break
        return outcome

    outcome = (taken or Taken()).outcome((sub.lesson, setup, tuple(cells)), take)
    if not outcome.student_fault:
        return sub.zero(f"not graded, twice: {outcome.error}", status="not graded")
    if outcome.crossed is None:
        return sub.zero(outcome.error)
    sub.crossed, sub.seconds = outcome.crossed, outcome.seconds
    return sub
