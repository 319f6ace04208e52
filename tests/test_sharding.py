"""Grading a course on N machines and again: N shards plus a merge give the rows one run gives, a merge refuses
shards that do not add up, a second run regrades only what changed, and ``--shard`` refuses what is not K/N.

None of this depends on real training, so the sandbox and the verifier are stood in for by a fake that passes an
answer exactly when it holds the solution's code (the real ones are tested in test_grading.py).
"""
import json
import shutil

import nbformat
import pytest

from test_grading import FULL, L01, L03, RELEASE, SOURCE, signed, write_submissions
from tlclinic import verdict
from tlclinic.commands import grade as tlclinic_grade
from tlclinic.grader import sandbox
from tlclinic.grader.shards import MANIFEST, WHOLE, Shard, parse_shard

# student -> {lesson: the notebook the submission is}; three students hand in two lessons.
COURSE = {
    "ann": {L01: SOURCE, L03: RELEASE},
    "ben": {L01: RELEASE},
    "cat": {L01: SOURCE, L03: SOURCE},
    "dan": {L03: SOURCE},
    "eve": {L01: RELEASE, L03: SOURCE},
    "fay": {L01: SOURCE},
    "gus": {L03: RELEASE},
}
NO_LESSON = "homework"  # hal/homework.ipynb names no lesson: its row names the student "homework"
SUBMITTED = {student: set(lessons) for student, lessons in COURSE.items()} | {NO_LESSON: {"?"}}
ANSWERED = sum(len(lessons) for lessons in COURSE.values())  # the sandbox never sees the file naming no lesson


class FakeMachine:
    """Stands in for the sandbox and the verifier: an answer passes when it holds the solution's code.

    ``answered`` lists each answer the sandbox was asked to run, as ``(lesson, code)``; while ``fails_on`` names
    a lesson, the set-up of that lesson never finishes (a machine failure, not the student's).
    """

    def __init__(self, monkeypatch):
        self.answered: list[tuple[str, str]] = []
        self.fails_on: str | None = None
        monkeypatch.setattr(sandbox, "run_answer", self.run_answer)
        monkeypatch.setattr(verdict, "_run_verifier", self.run_verifier)

    def run_answer(self, lesson, setup, answer, timeout, hidden, sandboxed):
        code = "\n".join(answer)
        self.answered.append((lesson, code))
        if lesson == self.fails_on:
            return sandbox.Outcome(error=f"the lesson's set-up did not finish within {timeout:.0f} s",
                                   student_fault=False)
        return sandbox.Outcome(crossed={"lesson": lesson, "code": code})

    def run_verifier(self, requests, timeout, sandboxed, started=None):
        def verdicts(request):
            passed = "BEGIN SOLUTION" in request["answer"]["code"]
            return {test: {"passed": passed, "message": "" if passed else "did not converge", "seed": seed}
                    for test, seed in request["tests"].items()}
        return [verdicts(r) for r in requests], ""


def write_course(folder):
    """COURSE's submissions under ``folder`` (``<student>/<lesson>.ipynb``, one lesson at a time through
    write_submissions, each student's answer cell signed), and hal's file that names no lesson."""
    for lesson in (L01, L03):
        part = folder.parent / f"{folder.name}-{lesson}"
        write_submissions(part, {student: (lesson, lessons[lesson], signed(student), None, None)
                                 for student, lessons in COURSE.items() if lesson in lessons})
        shutil.copytree(part, folder, dirs_exist_ok=True)
    (folder / "hal").mkdir()
    nbformat.write(nbformat.v4.new_notebook(), folder / "hal" / f"{NO_LESSON}.ipynb")
    return folder


def grade(folder, out, *options):
    return tlclinic_grade.main([str(folder), "--jobs", "1", "--timeout", "5", "--no-sandbox", "--out", str(out),
                           *options])


def merge(*folders, out):
    return tlclinic_grade.main(["merge", *map(str, folders), "--out", str(out)])


def rows(out):
    return json.loads((out / "grades.json").read_text())


def manifest(out):
    return json.loads((out / MANIFEST).read_text())


def points(out):
    """(student, lesson) -> points earned, from an output's grades.json."""
    earned = {}
    for r in rows(out):
        earned[r["student"], r["lesson"]] = earned.get((r["student"], r["lesson"]), 0) + r["points"]
    return earned


def pages(out):
    return {p.relative_to(out).as_posix(): p.read_text() for p in (out / "feedback").rglob("*.html")}


@pytest.fixture
def machine(monkeypatch):
    return FakeMachine(monkeypatch)


@pytest.fixture
def course(tmp_path):
    return write_course(tmp_path / "subs")


def test_two_shards_merged_give_row_for_row_what_one_run_gives(tmp_path, machine, course):
    whole, merged = tmp_path / "whole", tmp_path / "merged"
    assert grade(course, whole) == 0
    assert len(machine.answered) == ANSWERED
    shards = [tmp_path / f"grades-{k}" for k in (1, 2)]
    for k, out in enumerate(shards, 1):
        assert grade(course, out, "--shard", f"{k}/2") == 0
    assert len(machine.answered) == 2 * ANSWERED  # each submission answered in exactly one shard
    assert merge(*shards, out=merged) == 0

    assert rows(merged) == rows(whole)
    assert (merged / "grades.csv").read_text() == (whole / "grades.csv").read_text()
    assert pages(merged) == pages(whole)
    held = [{r["student"] for r in rows(out)} for out in shards]
    assert all(held) and not held[0] & held[1] and held[0] | held[1] == set(SUBMITTED)
    for out in shards:
        lessons = {}
        for r in rows(out):
            lessons.setdefault(r["student"], set()).add(r["lesson"])
        assert lessons == {student: SUBMITTED[student] for student in lessons}  # all of a student's lessons
    assert [manifest(out)["shard"] for out in shards] == ["1/2", "2/2"]
    assert (manifest(merged)["shard"], manifest(merged)["merged"]) == ("1/1", ["1/2", "2/2"])
    full = sum(FULL.values())
    assert points(whole) == {**{(s, lesson): full if start is SOURCE else 0
                                for s, lessons in COURSE.items() for lesson, start in lessons.items()},
                             (NO_LESSON, "?"): 0}


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """The course graded as shards 1/2, 2/2, 1/3 and 3/3, once for the tests that merge them: out folder by
    shard (a test that changes one works on a copy)."""
    tmp = tmp_path_factory.mktemp("shards")
    outs = {shard: tmp / f"grades-{shard.replace('/', 'of')}" for shard in ("1/2", "2/2", "1/3", "3/3")}
    with pytest.MonkeyPatch.context() as monkeypatch:
        FakeMachine(monkeypatch)
        course = write_course(tmp / "subs")
        for shard, out in outs.items():
            assert grade(course, out, "--shard", shard) == 0
    return outs


@pytest.mark.parametrize("given, says", [
    (("1/2", "1/2"), "shard 1/2 given twice"),
    (("1/3", "3/3"), "shard(s) 2/3 missing: given only 1/3"),
    (("1/2", "2/2", "1/3"), "shards of different N"),
])
def test_a_merge_refuses_shards_that_do_not_add_up(tmp_path, shards, capsys, given, says):
    with pytest.raises(SystemExit) as refused:
        merge(*(shards[s] for s in given), out=tmp_path / "merged")
    assert refused.value.code == 2 and says in capsys.readouterr().err
    assert not (tmp_path / "merged").exists()


def test_a_merge_refuses_a_students_lesson_graded_in_two_shards(tmp_path, shards, capsys):
    overlapping = shutil.copytree(shards["2/2"], tmp_path / "grades-2of2")
    first, second = manifest(shards["1/2"]), manifest(overlapping)
    name, entry = next(iter(first["submissions"].items()))
    second["submissions"][name] = entry  # as if shard 2/2 had graded a folder holding it too
    (overlapping / MANIFEST).write_text(json.dumps(second))
    with pytest.raises(SystemExit) as refused:
        merge(shards["1/2"], overlapping, out=tmp_path / "merged")
    err = capsys.readouterr().err
    assert refused.value.code == 2
    assert f"{entry['student']} {entry['lesson']} is graded in two shards: 1/2" in err and "and 2/2" in err


def test_a_merge_refuses_a_folder_without_manifest_and_merging_into_a_shard(tmp_path, shards, capsys):
    (tmp_path / "empty").mkdir()
    for given, out, says in [((tmp_path / "empty",), tmp_path / "merged", "has no manifest.json"),
                             ((shards["1/2"], shards["2/2"]), shards["2/2"], "is one of the folders merged")]:
        with pytest.raises(SystemExit) as refused:
            merge(*given, out=out)
        assert refused.value.code == 2 and says in capsys.readouterr().err


def test_a_second_run_regrades_only_what_changed(tmp_path, machine, course, capsys):
    out = tmp_path / "out"
    shutil.copy(course / "ann" / f"{L01}.ipynb", course / "cat" / f"{L01}.ipynb")  # cat hands in ann's file
    assert grade(course, out) == 0
    first, hashes = rows(out), {name: e["hash"] for name, e in manifest(out)["submissions"].items()}
    assert len(hashes) == ANSWERED + 1  # the file naming no lesson too
    assert hashes[f"ann/{L01}.ipynb"] == hashes[f"cat/{L01}.ipynb"] != hashes[f"ben/{L01}.ipynb"]  # by content

    machine.answered.clear()
    assert grade(course, out) == 0
    assert machine.answered == [] and rows(out) == first
    assert f"{ANSWERED + 1} of them unchanged since the last run: grades reused" in capsys.readouterr().out

    shutil.copy(SOURCE[L03], course / "ann" / f"{L03}.ipynb")  # ann fixes lesson 3
    assert grade(course, out) == 0
    assert [lesson for lesson, _ in machine.answered] == [L03] and "BEGIN SOLUTION" in machine.answered[0][1]
    assert points(out)[("ann", L03)] == sum(FULL.values())
    assert [r for r in rows(out) if (r["student"], r["lesson"]) != ("ann", L03)] == \
           [r for r in first if (r["student"], r["lesson"]) != ("ann", L03)]

    machine.answered.clear()
    assert grade(course, out, "--force") == 0
    assert len(machine.answered) == ANSWERED - 1  # cat's answer cells are ann's: taken once
    machine.answered.clear()
    assert grade(course, out, "--timeout", "6") == 0  # another time limit can change a verdict
    assert len(machine.answered) == ANSWERED - 1


def test_a_submission_not_graded_last_time_is_graded_again(tmp_path, machine, course):
    out = tmp_path / "out"
    machine.fails_on = L03
    assert grade(course, out) == tlclinic_grade.NOT_GRADED_EXIT
    lesson3 = {(s, L03) for s, lessons in COURSE.items() if L03 in lessons}
    assert {(r["student"], r["lesson"]) for r in rows(out) if r["status"] == "not graded"} == lesson3
    assert merge(out, out=tmp_path / "merged") == tlclinic_grade.NOT_GRADED_EXIT  # a merge says so too

    machine.fails_on, machine.answered = None, []
    assert grade(course, out) == 0
    assert [lesson for lesson, _ in machine.answered] == [L03] * len(lesson3)  # the rest reused
    assert {r["status"] for r in rows(out)} == {"graded"}


@pytest.mark.parametrize("given, says", [
    ("0/2", "K must be from 1 to N"), ("3/2", "K must be from 1 to N"), ("1/0", "K must be from 1 to N"),
    ("x", "is not K/N"), ("1/", "is not K/N"), ("-1/2", "is not K/N"), ("1/2/3", "is not K/N"),
])
def test_shard_must_be_k_of_n(tmp_path, capsys, given, says):
    with pytest.raises(SystemExit) as refused:
        tlclinic_grade.main([str(tmp_path), "--no-sandbox", f"--shard={given}"])
    assert refused.value.code == 2
    assert f"argument --shard: {given!r}" in (err := capsys.readouterr().err) and says in err


def test_every_student_is_in_exactly_one_shard_of_n():
    assert parse_shard("2/3") == Shard(2, 3) and str(Shard(2, 3)) == "2/3"
    students = [f"student{i:03d}" for i in range(60)]
    held = [[s for s in students if Shard(k, 3).holds(s)] for k in (1, 2, 3)]
    assert sorted(sum(held, [])) == students and all(len(h) >= 10 for h in held)
    assert all(WHOLE.holds(s) for s in students)
