"""A busy machine may make grading slower, never change a grade (`make stress`; not part of `make test`).

The same submissions, the solution and the untouched release of every lesson, are graded on the machine as it is
and again with four busy processes per core running beside the grader; every row must come out the same.
"""
import os
import subprocess
import sys

import pytest

from test_grading import FULL, RELEASE, SOURCE, needs_bwrap, write_submissions
from tlclinic.grader import judge

BUSY_PER_CORE = 4
BUSY_SECONDS = 1800  # each busy process ends by itself after this, whatever happens to the test


@pytest.mark.slow
@needs_bwrap
def test_an_oversubscribed_machine_gives_the_same_grades_as_an_idle_one(tmp_path):
    cases = {f"{kind}_{lesson[:2]}": (lesson, start, None, None, None)
             for lesson in SOURCE for kind, start in (("solution", SOURCE), ("release", RELEASE))}
    write_submissions(tmp_path / "subs", cases)
    grade = lambda: [(r.student, r.test, r.points, r.status, r.message)  # noqa: E731
                     for r in judge.grade_all(tmp_path / "subs", 2, log=print)]
    idle = grade()
    busy = [subprocess.Popen([sys.executable, "-c", f"import time\nend = time.time() + {BUSY_SECONDS}\n"
                              "while time.time() < end:\n    pass"]) for _ in range(BUSY_PER_CORE * os.cpu_count())]
    try:
        loaded = grade()
    finally:
        for process in busy:
            process.kill()
    assert loaded == idle
    assert {status for _, _, _, status, _ in idle} == {"graded"}
    assert sum(points for student, _, points, _, _ in idle if student.startswith("solution")) == sum(FULL.values()) * len(SOURCE)
    assert sum(points for student, _, points, _, _ in idle if student.startswith("release")) == 0
