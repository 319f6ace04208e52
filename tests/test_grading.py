"""The grader, both ways: valid fixes get full marks; the untouched release, half fixes, crashes and every exploit a
clever student could write get nothing; no submission can touch another; a failing machine is "not graded"."""
import hashlib
import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from tlclinic import crossing, lesson as lesson_module, verdict
from tlclinic.commands import grade as tlclinic_grade
from tlclinic.grader import judge, sandbox, submissions
from tlclinic.lessons import ROOT, discover, release_notebook, source_notebook

LESSONS = discover()
L01, L02, L03, L04 = "01-softmax-one-unit", "02-relu-regression-output", "03-learning-rate", "04-whole-program"
SOURCE = {lesson: source_notebook(lesson) for lesson in LESSONS}
RELEASE = {lesson: release_notebook(lesson) for lesson in LESSONS}
ANSWER_ID = {lesson: module.ANSWER.name for lesson, module in LESSONS.items()}
FULL, NOTHING = {"self_check": 1, "converges": 4}, {"self_check": 0, "converges": 0}

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None,
                                 reason="BUBBLEWRAP MISSING: `apt-get install bubblewrap` (make test installs it as root)")


def _answer(lesson, start=RELEASE):
    nb = nbformat.read(start[lesson], as_version=4)
    return next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == ANSWER_ID[lesson])


BROKEN_HEAD = _answer(L01)
SOLVED_HEAD = _answer(L01, SOURCE)
PROTECTED = [ROOT / "tlclinic" / "verdict.py", SOURCE[L01], Path(LESSONS[L01].__file__)]


def with_answer(source):
    def edit(nb):
        cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") in ANSWER_ID.values())
        cell.source = source
    return edit


def signed(student):
    """An edit that ends the answer cell with a comment naming ``student``: answer cells of their own, each taken
    (the grader takes the same cells once in a run)."""
    def edit(nb):
        cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") in ANSWER_ID.values())
        cell.source += f"\n# {student}"
    return edit


def exploit(extra):
    """The question's broken head, kept, with ``extra`` lines after it in the answer cell."""
    return with_answer(BROKEN_HEAD + "\n\n" + extra)


def edit_cell(grade_id, change):
    def edit(nb):
        change(nb, next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id))
    return edit


def tamper_with_test_cells(nb):
    """Delete the visible check, rename the hidden test's id, give a copy of a test cell 100 points."""
    ids = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    nb.cells.remove(ids["self_check"])
    ids["converges"].metadata["nbgrader"].update(grade_id="mine", points=100)
    copy = nbformat.v4.new_code_cell("print('passed')", metadata={"nbgrader": dict(ids["converges"].metadata["nbgrader"])})
    nb.cells.append(copy)


# What the untouched release of a lesson is told (every other lesson's untouched release must still earn 0).
UNTOUCHED_SAYS = {L01: "softmax over one unit always gives 1.0", L02: "produce a negative number",
                  L03: "did not converge with your optimizer", L04: "fed pixels in [-1, 1]"}

# student -> (lesson, notebook it starts from, edit, expected points, words the messages must contain)
CASES = {
    **{f"solution_{lesson[:2]}": (lesson, SOURCE, None, FULL, "") for lesson in LESSONS},
    **{f"untouched_{lesson[:2]}": (lesson, RELEASE, None, NOTHING, UNTOUCHED_SAYS.get(lesson, "")) for lesson in LESSONS},
    "two_logits": (L01, RELEASE, with_answer(SOLVED_HEAD.replace(
        'layers.Dense(1, activation="sigmoid")', 'layers.Dense(2)').replace(
        'loss = "binary_crossentropy"', 'loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)')),
        FULL, ""),
    # Valid but slow to settle: BatchNorm's moving statistics after 160 steps; the check measures them (issue 13).
    "batchnorm_every_hidden": (L01, RELEASE, with_answer(SOLVED_HEAD.replace(
        'x = layers.Dense(1024, activation="relu")(inputs)\n    x = layers.Dense(512, activation="relu")(x)\n'
        '    x = layers.Dense(32, activation="relu")(x)',
        'x = layers.Dense(1024, activation="relu")(inputs)\n    x = layers.BatchNormalization()(x)\n'
        '    x = layers.Dense(512, activation="relu")(x)\n    x = layers.BatchNormalization()(x)\n'
        '    x = layers.Dense(32, activation="relu")(x)\n    x = layers.BatchNormalization()(x)')), FULL, ""),
    "prints_to_stderr": (L01, SOURCE, edit_cell("build_head", lambda nb, c: setattr(c, "source", c.source.replace(
        "    inputs = keras.Input", "    import sys; print('debug: building', file=sys.stderr)\n    inputs = keras.Input")
    )), FULL, ""),
    "lost_grade_id": (L01, SOURCE, edit_cell("build_head", lambda nb, c: c.metadata.pop("nbgrader")), FULL, ""),
    "half_fix": (L01, RELEASE, with_answer(BROKEN_HEAD.replace('activation="softmax"', 'activation="sigmoid"').replace(
        'loss = "binary_crossentropy"', 'loss = "categorical_crossentropy"')), NOTHING, "did not fall"),
    "lambda_layer": (L01, RELEASE, exploit(
        "_broken = build_head\n"
        "def build_head(input_dim):\n"
        "    inputs = keras.Input((input_dim,))\n"
        "    model = keras.Model(inputs, layers.Lambda(lambda x: x[:, :1])(inputs))\n"
        "    model.compile(optimizer='adam', loss='binary_crossentropy')\n"
        "    return model"), NOTHING, "custom code cannot cross"),
    "exits": (L01, RELEASE, exploit("import os\nos._exit(0)"), NOTHING, "ended the process"),
    "system_exit": (L01, RELEASE, exploit("raise SystemExit(0)"), NOTHING, "SystemExit"),
    "hogs_memory": (L01, RELEASE, with_answer("hog = []\nwhile True:\n    hog.append(bytearray(10**8))"),
                    NOTHING, "MemoryError"),
    "not_json": (L01, None, None, NOTHING, "not a valid notebook"),
    # Faults a student might forge to turn a 0 into "not graded": after the set-up, everything is the student's.
    "forges_a_setup_failure": (L01, RELEASE, exploit(
        "print('the set-up cell failed: ImportError')\nimport os\nos._exit(3)"), NOTHING, "ended the process"),
    "closes_the_pipes": (L01, RELEASE, exploit("import os\nos.closerange(3, 4096)"), NOTHING, "ended the process"),
    # Hogs: each earns 0 and the batch goes on (graded with --jobs 2, beside every other case).
    # A fork bomb ends when its own fork fails (after the set-up the answer may start only jail.SPARE_TASKS), or,
    # on a machine too busy for its children to fill that table first, at the time limit: 0 either way.
    "forks": (L01, RELEASE, exploit("import os\nwhile True:\n    os.fork()"), NOTHING,
              ("BlockingIOError", "ran past the time limit")),
    "fills_tmp": (L01, RELEASE, exploit(
        "for i in range(1024):\n    with open(f'/tmp/fill{i}', 'wb') as f:\n        f.write(b'x' * 2**20)"),
        NOTHING, "No space left on device"),
    "fills_shm": (L01, RELEASE, exploit(
        "for i in range(1024):\n    with open(f'/dev/shm/fill{i}', 'wb') as f:\n        f.write(b'x' * 2**20)"),
        NOTHING, "No space left on device"),
    "writes_a_huge_file": (L01, RELEASE, exploit(
        "with open('/tmp/huge', 'wb') as f:\n    f.write(b'x' * 2**27)"), NOTHING, "File too large"),
    "hogs_memory_through_its_config": (L01, RELEASE, with_answer(SOLVED_HEAD.replace(
        'outputs = layers.Dense(1, activation="sigmoid")(x)',
        'x = layers.RepeatVector(400_000)(x)\n    x = layers.GlobalAveragePooling1D()(x)\n'
        '    outputs = layers.Dense(1, activation="sigmoid")(x)')), NOTHING, "values per example"),
    # Exploits that earned full marks when the verdict came from the student's kernel.
    "patches_the_check": (L01, RELEASE, exploit(
        "from tlclinic import verdict, grading\n"
        "lesson.check_converges = lambda *a, **k: None\n"
        "lesson.assert_converged = lambda *a, **k: None\n"
        "verdict.judge = lambda *a, **k: (True, 'fine')\n"
        "grading.train_student = lambda train, *a, **k: None"), NOTHING, "softmax over one unit"),
    "patches_keras_and_numpy": (L01, RELEASE, exploit(
        "import numpy as np\n"
        "keras.Model.__call__ = lambda self, x, *a, **k: np.zeros((len(x), 1))\n"
        "keras.Model.fit = lambda self, *a, **k: None\n"
        "np.mean = lambda *a, **k: 1.0"), NOTHING, "softmax over one unit"),
    "rebinds_lesson_and_builtins": (L01, RELEASE, exploit(
        "import builtins, types\n"
        "stand_in = types.SimpleNamespace(check=lambda *a, **k: print('passed'), check_converges=lambda *a, **k: 0)\n"
        "lesson = builtins.lesson = stand_in"), NOTHING, "softmax over one unit"),
    "hooks_ipython": (L01, RELEASE, exploit(
        "ip = get_ipython()\n"
        "ip.input_transformers_post.append(lambda lines: ['pass\\n'])\n"
        "ip.set_custom_exc((BaseException,), lambda *a, **k: None)\n"
        "ip.displayhook('graded')\n"
        "print('passed: validation accuracy 0.99')"), NOTHING, "softmax over one unit"),
    "writes_the_workbook": (L01, RELEASE, exploit(
        "import pathlib\n"
        "for path in " + repr([str(p) for p in PROTECTED]) + ":\n"
        "    pathlib.Path(path).write_text('pass')"), NOTHING, "Read-only file system"),
    "tampers_with_test_cells": (L01, RELEASE, tamper_with_test_cells, NOTHING, "softmax over one unit"),
    "l03_rmsprop": (L03, RELEASE, with_answer(
        "import keras\n\ndef make_optimizer():\n    return keras.optimizers.RMSprop(1e-3)"), FULL, ""),
    "l03_patches_fit": (L03, RELEASE, with_answer(
        _answer(L03) + "\n\nkeras.Model.fit = (lambda fit: lambda self, *a, **k: (self.optimizer.learning_rate.assign(1e-3),"
        " fit(self, *a, **k))[1])(keras.Model.fit)"), NOTHING, "did not converge with your optimizer"),
    # The Keras guide's fix for BatchNorm, training=False at the backbone's call, with the layers left trainable.
    "l04_training_false_only": (L04, SOURCE, edit_cell("build_pipeline", lambda nb, c: setattr(c, "source", c.source.replace(
        "            if isinstance(layer, layers.BatchNormalization):\n                layer.trainable = False",
        "            pass")
    )), NOTHING, "BatchNorm statistics"),
}


def write_submissions(folder, cases):
    for student, (lesson, start, edit, _, _) in cases.items():
        (folder / student).mkdir(parents=True)
        target = folder / student / f"{lesson}.ipynb"
        if start is None:
            target.write_text('{"cells": [ this is not json')
            continue
        nb = nbformat.read(start[lesson], as_version=4)
        if edit:
            edit(nb)
        nbformat.write(nb, target)


def digest(paths):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


CANARY = "canary-7f3a9c"  # in the grader's environment and in a home folder's ssh key: must reach no output


def reads_secrets(home, other_submission):
    """An answer that reads every secret it can think of and raises with what it found."""
    targets = ["/etc/shadow", "/etc/gshadow", "/etc/ssh", "/root/.ssh", "/root/.bash_history", "/home",
               str(home / ".ssh" / "id_ed25519"), str(other_submission), str(SOURCE[L01])]
    return exploit(
        "import os, pathlib\n"
        f"targets = {targets!r}\n"
        "found = []\n"
        "for target in targets:\n"
        "    try:\n"
        "        path = pathlib.Path(target)\n"
        "        found.append(f'{target}={sorted(os.listdir(path)) if path.is_dir() else path.read_text()[:60]}')\n"
        "    except OSError:\n"
        "        pass\n"
        f"found += [f'{{k}}={{v}}' for k, v in os.environ.items() if {CANARY!r} in v]\n"
        "raise RuntimeError(f'LEAKED {found}' if found else f'read nothing of {len(targets)} targets')")


@pytest.fixture(scope="session")  # once: its tests share a group (one worker), whatever runs between them
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    home = tmp_path_factory.mktemp("home")
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_ed25519").write_text(f"-----BEGIN OPENSSH PRIVATE KEY----- {CANARY}")
    cases = {**CASES, "reads_secrets": (L01, RELEASE, reads_secrets(home, folder / "solution_01" / f"{L01}.ipynb"),
                                        NOTHING, "read nothing of 9 targets")}
    write_submissions(folder, cases)
    before = digest(list(folder.rglob("*.ipynb")) + PROTECTED)
    out = tmp_path_factory.mktemp("grades")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TLCLINIC_GRADER_TOKEN", CANARY)
        patch.setenv("HOME", str(home))
        code = tlclinic_grade.main([str(folder), "--jobs", "2", "--timeout", "90", "--out", str(out), "--min-score", "0.9"])
    return code, out, before, cases


@pytest.mark.e2e
@needs_bwrap
@pytest.mark.xdist_group("grading")
def test_every_submission_gets_exactly_its_expected_points(graded):
    _, out, _, cases = graded
    rows = json.loads((out / "grades.json").read_text())
    got = {(r["student"], r["test"]): r for r in rows}
    assert {r["student"] for r in rows} == set(cases)
    for student, (lesson, _, _, expected, words) in cases.items():
        for test, points in expected.items():
            row = got[student, test]
            assert (row["lesson"], row["status"], row["points"]) == (lesson, "graded", points), (student, row)
            assert row["max_points"] == FULL[test]
        messages = " ".join(got[student, t]["message"] for t in expected)
        assert any(said in messages for said in ((words,) if isinstance(words, str) else words)), (student, messages)


@pytest.mark.e2e
@needs_bwrap
@pytest.mark.xdist_group("grading")
def test_reports_min_score_feedback_and_leaves_every_file_as_it_was(graded):
    code, out, before, _ = graded
    assert code == 1  # several submissions are below --min-score, none is "not graded"
    header = (out / "grades.csv").read_text().splitlines()[0]
    assert header == "student,lesson,test,points,max_points,message,status"
    assert digest(list(before)) == before, "a submission or a file of the workbook was modified"
    page = (out / "feedback" / "untouched_01" / f"{L01}.html").read_text()
    assert "softmax over one unit always gives 1.0" in page and "0 of 5 points" in page
    assert "check(build_head, seed=1)" not in page and "HIDDEN" not in page


@pytest.mark.e2e
@needs_bwrap
@pytest.mark.xdist_group("grading")
def test_no_secret_reaches_a_grade_a_message_or_a_feedback_page(graded):
    """The answer that read every secret it could found none (its message says so), and no output holds any."""
    _, out, _, _ = graded
    shadow = Path("/etc/shadow")
    secrets = [CANARY] + ([line for line in shadow.read_text().splitlines() if line.strip()][:3]
                          if os.access(shadow, os.R_OK) else [])
    outputs = [path.read_text() for path in out.rglob("*") if path.is_file()]
    assert outputs and not [secret for secret in secrets for text in outputs if secret in text]
    assert "LEAKED" not in " ".join(outputs)


@pytest.mark.e2e
@needs_bwrap
def test_an_attacker_cannot_change_the_grade_of_the_submission_after_it(tmp_path):
    """Graded strictly before its victim (--jobs 1), the attacker tries to overwrite the victim's notebook (the
    solution in its place) and the workbook's check; the victim gets what the untouched release gets: nothing, for
    its one-unit softmax."""
    victim_file = tmp_path / "subs" / "b_victim" / f"{L01}.ipynb"
    attack = exploit(
        "import pathlib, shutil\n"
        "for target, text in [(" + repr(str(victim_file)) + ", pathlib.Path(" + repr(str(SOURCE[L01])) + ").read_text()),\n"
        "                     (" + repr(str(PROTECTED[0])) + ", 'def judge(*a, **k):\\n    return True, \"\"\\n')]:\n"
        "    try:\n"
        "        pathlib.Path(target).write_text(text)\n"
        "    except OSError as error:\n"
        "        print(error)")
    write_submissions(tmp_path / "subs", {"a_attacker": (L01, RELEASE, attack, None, None),
                                          "b_victim": (L01, RELEASE, None, None, None)})
    before = digest([victim_file, *PROTECTED])
    batch = judge.grade_all(tmp_path / "subs", 1, timeout=90, log=lambda *a, **k: None)
    victim = [r for r in batch if r.student == "b_victim"]
    assert [(r.test, r.points, r.status) for r in victim] == [(test, 0, "graded") for test in FULL]
    assert all(UNTOUCHED_SAYS[L01] in r.message for r in victim), victim
    assert digest(list(before)) == before


@pytest.mark.e2e
@needs_bwrap
def test_an_answer_that_never_ends_is_stopped_at_the_limit_and_earns_nothing(tmp_path):
    write_submissions(tmp_path / "subs", {"sleeper": (L01, RELEASE, with_answer(
        "import time\nwhile True:\n    time.sleep(1)"), None, None)})
    rows = judge.grade_all(tmp_path / "subs", 1, timeout=45, log=lambda *a, **k: None)  # set-up fits on a busy machine
    assert [(r.points, r.status) for r in rows] == [(0, "graded")] * len(FULL)
    assert all("ran past the time limit" in r.message for r in rows), rows


def test_a_machine_failure_is_retried_with_twice_the_time_then_not_graded(tmp_path, monkeypatch, capsys):
    """When work the student did not write fails (here: the set-up cell never finishes), no grade is given."""
    limits = []

    def machine_fails(lesson, setup, answer, timeout, hidden, sandboxed):
        limits.append(timeout)
        return sandbox.Outcome(error=f"the lesson's set-up did not finish within {timeout:.0f} s", student_fault=False)

    monkeypatch.setattr(sandbox, "run_answer", machine_fails)
    write_submissions(tmp_path / "subs", {"alice": (L01, SOURCE, None, None, None)})
    code = tlclinic_grade.main([str(tmp_path / "subs"), "--timeout", "7", "--out", str(tmp_path / "out"), "--no-sandbox"])
    assert code == tlclinic_grade.NOT_GRADED_EXIT and limits == [7, 14]
    rows = json.loads((tmp_path / "out" / "grades.json").read_text())
    assert {r["status"] for r in rows} == {"not graded"} and all("within 14 s" in r["message"] for r in rows)
    assert "NOT GRADED (the machine failed, not the student): alice" in capsys.readouterr().err


def test_a_verifier_that_runs_out_of_time_is_retried_alone_then_not_a_zero(tmp_path, monkeypatch):
    calls = []

    def slow(requests, timeout, sandboxed, started=None):
        calls.append((len(requests), timeout))
        return [None] * len(requests), f"the verifier did not finish within {timeout:.0f} s"

    answers = iter(range(10))  # two different answers
    monkeypatch.setattr(sandbox, "run_answer", lambda *a, **k: sandbox.Outcome(crossed={"kind": "head", "n": next(answers)}))
    monkeypatch.setattr(verdict, "_run_verifier", slow)
    write_submissions(tmp_path / "subs", {name: (L01, SOURCE, signed(name), None, None)
                                          for name in ("alice", "bob")})
    rows = judge.grade_all(tmp_path / "subs", 1, timeout=5, log=lambda *a, **k: None, sandboxed=False)
    assert calls == [(2, 10), (1, 10), (1, 10)]  # both in one process (5 s each), then each alone with 10 s
    assert {r.status for r in rows} == {"not graded"} and "verifier did not finish within 10 s" in rows[0].message


@pytest.mark.e2e
def test_answers_judged_one_after_another_in_one_verifier_get_the_verdicts_they_get_alone():
    """One verifier process judges a batch of answers (Keras imported once); what one answer left behind in Keras
    (layer names, seed generators, traced functions) must not change the next one's verdict or its message."""
    from tlclinic.lessons.softmax_one_unit.heads import calibration_answers

    lesson = discover()[L01]
    family = calibration_answers()
    broken = next(answer for answer, ok in family.values() if ok is False)
    valid = next(answer for answer, ok in family.values() if ok)
    valid_request, broken_request = ({"lesson": L01, "answer": crossing.cross(lesson.ANSWER, answer),
                                      "tests": {"check": 0}} for answer in (valid, broken))
    first, second, again = verdict.verify_many([valid_request, broken_request, valid_request], 300)
    [broken_alone] = verdict.verify_many([broken_request], 300)

    def verdict_of(found):
        return {key: value for key, value in found["check"].items() if key != "seconds"}

    assert (first["check"]["passed"], second["check"]["passed"]) == (True, False), (first, second)
    assert verdict_of(again) == verdict_of(first)  # the first answer of a fresh process is judged as alone
    assert verdict_of(second) == verdict_of(broken_alone)


def test_answers_that_crossed_as_the_same_data_are_judged_once(tmp_path, monkeypatch):
    judged = []

    def verifier(requests, timeout, sandboxed, started=None):
        judged.extend(requests)
        return [{test: {"passed": True, "message": "", "seed": seed} for test, seed in r["tests"].items()}
                for r in requests], ""

    answers = iter([{"kind": "head", "model": 1}, {"kind": "head", "model": 1}, {"kind": "head", "model": 2}])
    monkeypatch.setattr(sandbox, "run_answer", lambda *a, **k: sandbox.Outcome(crossed=next(answers)))
    monkeypatch.setattr(verdict, "_run_verifier", verifier)
    write_submissions(tmp_path / "subs", {name: (L01, SOURCE, signed(name), None, None)
                                          for name in ("ann", "ben", "cat")})  # three answers, two configurations
    rows = judge.grade_all(tmp_path / "subs", 1, timeout=5, log=lambda *a, **k: None, sandboxed=False)
    assert [r["answer"]["model"] for r in judged] == [1, 2]
    assert {r.student for r in rows if r.points == r.max_points} == {"ann", "ben", "cat"}


def test_submissions_whose_answer_cells_are_the_same_are_taken_once_and_each_gets_its_rows(tmp_path, monkeypatch):
    """The untouched release handed in twice and the solution once, answers taken two at a time: two answer
    processes, not three, and every submission graded as its own would have been."""
    taken = []

    def run_answer(lesson, setup, answer, timeout, hidden, sandboxed):
        taken.append(tuple(answer))
        if answer == [BROKEN_HEAD]:
            return sandbox.Outcome(error="your answer cell raised NotImplementedError: write build_head", raised=True)
        return sandbox.Outcome(crossed={"kind": "head", "model": len(taken)})

    def verifier(requests, timeout, sandboxed, started=None):
        return [{test: {"passed": True, "message": "", "seed": seed} for test, seed in r["tests"].items()}
                for r in requests], ""

    monkeypatch.setattr(sandbox, "run_answer", run_answer)
    monkeypatch.setattr(verdict, "_run_verifier", verifier)
    write_submissions(tmp_path / "subs", {"ann": (L01, RELEASE, None, None, None),
                                          "ben": (L01, SOURCE, None, None, None),
                                          "cat": (L01, RELEASE, None, None, None)})
    rows = judge.grade_all(tmp_path / "subs", 2, timeout=5, log=lambda *a, **k: None, sandboxed=False)
    assert sorted(taken) == sorted([(BROKEN_HEAD,), (SOLVED_HEAD,)])
    points = {student: sum(r.points for r in rows if r.student == student) for student in ("ann", "ben", "cat")}
    assert points == {"ann": 0, "ben": sum(FULL.values()), "cat": 0}, rows
    assert all("NotImplementedError" in r.message for r in rows if r.student in ("ann", "cat"))


def test_the_verifiers_start_on_free_jobs_before_the_answer_is_taken_and_judge_it_or_are_stopped(
        tmp_path, monkeypatch):
    """With jobs the answers leave free, the verifiers that will judge them start (and import Keras) while the
    sandbox takes the answer; the grader then hands them the answer's tests, one each.  Those not needed (the
    answer ended in the sandbox) are stopped: none is left running.  A class that fills every job starts none
    early: no more processes at once.  Fewer distinct answers than jobs share their tests out among the
    verifiers, each test judged once."""
    calls, started, events, judged = [], [], [], []
    real_start = verdict.jail.start

    def start(*args, **kwargs):
        events.append("verifier started")
        started.append(real_start(*args, **kwargs))
        return started[-1]

    def run_answer(*args, **kwargs):
        events.append("answer taken")
        return outcomes.pop(0)

    def verifier(requests, timeout, sandboxed, process=None):
        calls.append(process)
        judged.extend(test for r in requests for test in r["tests"])
        return [{test: {"passed": True, "message": "", "seed": seed, "seconds": 0.0}
                 for test, seed in r["tests"].items()} for r in requests], ""

    outcomes = [sandbox.Outcome(crossed={"kind": "head"}), sandbox.Outcome(error="your answer cell raised X")]
    monkeypatch.setattr(sandbox, "run_answer", run_answer)
    monkeypatch.setattr(verdict.jail, "start", start)
    monkeypatch.setattr(verdict, "_run_verifier", verifier)
    write_submissions(tmp_path / "subs", {name: (L01, SOURCE, signed(name), None, None)
                                          for name in ("ann", "ben")})  # two answers, each taken
    for student, points in (("ann", 5), ("ben", 0)):
        [sub] = judge.grade_course(tmp_path / "subs" / student / f"{L01}.ipynb", 2, timeout=5,
                                   log=lambda *a, **k: None, sandboxed=False)
        # One answer, two tests: a verifier for each, both started first.
        assert events == ["verifier started", "verifier started", "answer taken"]
        assert calls == (started if points else [])  # the two tests shared between them, or nothing to judge
        assert sorted(judged) == (sorted(FULL) if points else [])
        assert sum(row.points for row in sub.rows) == points, sub.rows
        assert all(verifier.process.poll() is not None for verifier in started)  # none is left running
        calls.clear(), started.clear(), events.clear(), judged.clear()
    outcomes.extend([sandbox.Outcome(crossed={"kind": "head"}), sandbox.Outcome(crossed={"kind": "head"})])
    judge.grade_course(tmp_path / "subs", 2, timeout=5, log=lambda *a, **k: None, sandboxed=False)
    assert events == ["answer taken", "answer taken"] and not started  # a class that fills both jobs
    assert calls == [None, None] and sorted(judged) == sorted(FULL)  # alike answers judged once, tests shared


def test_a_failed_notebook_check_starts_the_next_checks_verifier_and_the_next_check_uses_it(monkeypatch, capsys):
    """A student mends a failed answer and checks again: the verifier of that check was started when the first one
    failed (it imports Keras meanwhile).  A passed check starts none; a spare that ended meanwhile is not used."""
    import types

    from tlclinic.lessons import load

    started, used, verdicts = [], [], {"broken": False, "fixed": True}

    def start(*args, **kwargs):
        started.append(types.SimpleNamespace(process=types.SimpleNamespace(poll=lambda: None), cancel=lambda: None))
        return started[-1]

    def run_verifier(requests, timeout, sandboxed=False, started=None):
        used.append(started)
        [request] = requests
        return [{"check": {"passed": verdicts[request["answer"]], "message": "m", "seed": 0, "seconds": 0.0}}], ""

    lesson = load(L01)
    monkeypatch.setattr(verdict.jail, "start", start)
    monkeypatch.setattr(verdict, "_run_verifier", run_verifier)
    monkeypatch.setattr(verdict, "cross", lambda kind, answer: answer)
    monkeypatch.setattr(verdict, "_SPARE", [])
    with pytest.raises(AssertionError):
        verdict.check(lesson, "broken")
    assert used == [None] and len(started) == 1  # judged by a new process; the next one started
    verdict.check(lesson, "fixed")
    assert used == [None, started[0]] and len(started) == 1  # judged by it; none started after a pass
    with pytest.raises(AssertionError):
        verdict.check(lesson, "broken")
    started[-1].process.poll = lambda: -9  # the spare was stopped from outside
    verdict.check(lesson, "fixed")
    assert used[-1] is None and not verdict._SPARE


def test_the_grader_takes_each_tests_points_and_seed_from_the_source_notebook():
    for lesson, module in LESSONS.items():
        tests = module.graded_tests()
        assert tests["self_check"] == (1, 0) and tests["converges"].points == 4 and tests["converges"].seed != 0
        assert f"lesson.check({ANSWER_ID[lesson]}, seed={tests['converges'].seed})" in SOURCE[lesson].read_text()
        assert f"lesson.check({ANSWER_ID[lesson]})" in RELEASE[lesson].read_text()  # the visible check, seed 0


def test_a_graded_cell_of_any_grade_id_is_graded_at_the_seed_its_check_names(tmp_path):
    nb = nbformat.read(SOURCE[L01], as_version=4)
    extra = nbformat.v4.new_code_cell("### BEGIN HIDDEN TESTS\nlesson.check(build_head, seed=7)\n### END HIDDEN TESTS")
    extra.metadata["nbgrader"] = {"grade": True, "grade_id": "another_seed", "points": 2, "solution": False,
                                  "locked": True}
    nb.cells.append(extra)
    nbformat.write(nb, tmp_path / "source.ipynb")
    tests = lesson_module.graded_tests(tmp_path / "source.ipynb")
    assert tests["another_seed"] == (2, 7) and tests["self_check"] == (1, 0)


def test_unsafe_configs_are_refused_before_anything_is_built():
    with pytest.raises(crossing.Refused, match="only Keras's own"):
        crossing.refuse_unsafe({"module": "os", "class_name": "system", "config": {}})
    with pytest.raises(crossing.Refused, match="custom code"):
        crossing.refuse_unsafe({"layers": [{"module": "keras.layers", "class_name": "Lambda", "config": {}}]})
    with pytest.raises(crossing.Refused, match="custom code"):
        crossing.refuse_unsafe({"module": "keras.layers", "class_name": "Dense", "registered_name": "mine>Dense"})
    crossing.refuse_unsafe({"module": "builtins", "class_name": "function", "config": "binary_crossentropy"})


def test_how_an_answer_is_trained_run_eagerly_or_compiled_by_xla_is_the_graders_choice_not_the_answers():
    """A compile config records ``jit_compile`` as its backend resolved it: an answer crosses without it, and the
    verifier compiles with Keras's defaults whatever the data it receives says."""
    import keras

    def build_head(input_dim, **execution):
        model = keras.Sequential([keras.Input((input_dim,)), keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy", **execution)
        return model

    answer = LESSONS[L01].ANSWER
    crossed = crossing.cross(answer, lambda input_dim: build_head(input_dim, run_eagerly=True, steps_per_execution=4))
    assert not set(crossing.EXECUTION_SETTINGS) & {*crossed["compile"], *crossed["model"]["compile_config"]}
    crossed["compile"].update(run_eagerly=True, jit_compile=True, steps_per_execution=4)  # as a tampered answer
    model = crossing.rebuild(answer, crossed)(16)
    assert (model.run_eagerly, model.steps_per_execution) == (False, 1)
    assert model.jit_compile == build_head(16).jit_compile  # "auto": XLA on JAX, not on TensorFlow's CPU


def every_calibrated_answer_crossed() -> dict:
    """Every lesson's calibrated answers as the sandbox hands them over (this function's source also runs in a
    process of its own); a lesson that trains to name its answers (lesson 03's range test) cannot list them on
    Keras's NumPy backend, and is left out there."""
    import json

    import keras

    from tlclinic import crossing
    from tlclinic.lessons import discover

    crossed = {}
    for name, lesson in discover().items():
        try:
            answers = lesson.calibration_answers()
        except NotImplementedError:
            continue
        for answer, (built, _) in answers.items():
            # Its layers named as in a fresh process, whatever was built before (without the garbage collection
            # that clear_session runs by default: 0.2 s an answer, two thirds of this test's time).
            keras.backend.clear_session(free_memory=False)
            crossed[f"{name}: {answer}"] = crossing.cross(lesson.ANSWER, built)
    return json.loads(json.dumps(crossed))


needs_light_backend = pytest.mark.skipif(not sandbox.light_backend(), reason="JAX, which Keras's NumPy backend "
                                         "needs, is not installed: the sandbox runs on the grader's backend")


@pytest.mark.e2e  # a second process on the sandbox's backend, beside this one: both cores, 10 to 40 s
@needs_light_backend
def test_an_answer_crosses_from_the_sandboxs_backend_as_the_same_data_as_from_the_graders():
    """The sandbox takes the answer on Keras's NumPy backend, the verifier trains it on the grader's: the calibrated
    answers of every lesson that can list them there cross as the same data from both."""
    import inspect
    import subprocess
    import sys

    script = inspect.getsource(every_calibrated_answer_crossed) + (
        "\nimport json, sys\njson.dump(every_calibrated_answer_crossed(), sys.stdout)\n")
    other = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, **sandbox.light_backend()},
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    here = every_calibrated_answer_crossed()  # meanwhile
    there = json.loads(other.communicate(timeout=300)[0])
    assert other.returncode == 0
    assert len({name.split(":")[0] for name in there}) >= len(LESSONS) - 1 and set(there) <= set(here)
    assert there == {name: here[name] for name in there}


@pytest.mark.e2e
@needs_light_backend
def test_the_sandbox_hands_over_every_lessons_solution_and_release_as_it_would_on_the_graders_backend(monkeypatch):
    """Run as the grader runs it (unjailed here): the same crossed data from the light backend as from the
    grader's, for each lesson's solution and untouched release, lesson 03's optimizer included."""
    from concurrent.futures import ThreadPoolExecutor

    def taken(lesson, start):
        setup = submissions.setup_cell(submissions.source_notebook(lesson))
        return sandbox.run_answer(lesson, setup, [_answer(lesson, start)], 300, sandboxed=False)

    cases = [(lesson, start) for lesson in LESSONS for start in (SOURCE, RELEASE)]
    with ThreadPoolExecutor(2) as pool:
        light = list(pool.map(lambda case: taken(*case), cases))
        monkeypatch.setattr(sandbox, "light_backend", dict)  # no light backend: the grader's own
        graders = list(pool.map(lambda case: taken(*case), cases))
    assert all(outcome.crossed is not None for outcome in light), [outcome.error for outcome in light]
    assert [outcome.crossed for outcome in light] == [outcome.crossed for outcome in graders]


def test_release_hides_the_hidden_tests_and_the_solution():
    text = RELEASE[L01].read_text()
    assert "seed=1" not in text and "HIDDEN TESTS" not in text
    assert 'Dense(1, activation=\\"softmax\\")' in text and 'activation=\\"sigmoid\\"' not in text


def test_a_file_naming_no_lesson_gets_a_row_saying_so(tmp_path):
    path = tmp_path / "homework.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    [row] = judge.grade_submission(path, tmp_path)
    assert row.points == 0 and "names no lesson" in row.message and L01 in row.message


def test_the_grader_reads_a_notebooks_cells_as_nbformat_does_and_refuses_what_is_no_notebook(tmp_path):
    """The grader reads notebooks as plain JSON (``notebooks.cells``): every lesson's source and release gives the
    cells nbformat gives; a file that is no notebook in format 4 raises ``ValueError`` (the submission's row says
    "not a valid notebook"); a cell whose nbgrader metadata or grade id is of another type is a cell without a grade id."""
    from tlclinic.notebooks import Cell, cells

    for path in [*SOURCE.values(), *RELEASE.values()]:
        expected = [(c.cell_type, c.source, c.metadata) for c in nbformat.read(path, as_version=4).cells]
        assert [(c.cell_type, c.source, c.metadata) for c in cells(path)] == expected, path
    as_lines = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                "cells": [{"cell_type": "code", "source": ["def build_head(d):\n", "    return d"], "metadata": {}}]}
    (tmp_path / "lines.ipynb").write_text(json.dumps(as_lines))
    assert cells(tmp_path / "lines.ipynb")[0].source == "def build_head(d):\n    return d"
    for bad in ["[]", '{"nbformat": 3, "worksheets": []}', '{"nbformat": 4, "cells": [1]}',
                '{"nbformat": 4, "cells": [{"cell_type": "code", "source": 5, "metadata": {}}]}',
                '{"nbformat": 4, "cells": [{"cell_type": "code", "source": "", "metadata": []}]}']:
        (tmp_path / "bad.ipynb").write_text(bad)
        with pytest.raises(ValueError):
            cells(tmp_path / "bad.ipynb")
    odd = [*cells(RELEASE[L01]), Cell("code", "x = 1", {"nbgrader": "solution"}),
           Cell("code", "x = 2", {"nbgrader": {"grade_id": ["build_head"]}})]
    assert submissions.answer_cells(odd, cells(SOURCE[L01]), ANSWER_ID[L01]) == [BROKEN_HEAD]


def test_the_student_is_named_in_every_layout_a_course_hands_in():
    root = Path("submitted")
    for path, student in [(root / "alice" / f"{L02}.ipynb", "alice"),  # a folder per student
                          (root / "bob" / L02 / f"{L02}.ipynb", "bob"),  # nbgrader's submitted/<student>/<lesson>/
                          (root / f"carol-{L02}.ipynb", "carol")]:  # one folder of files
        assert submissions.identify(path, root) == (student, L02), path


def test_the_answers_process_is_timed_phase_by_phase_for_the_benchmark():
    """The times the jailed process reports feed `make bench` only; missing or garbled ones give no phases."""
    assert sandbox.phase_seconds([12.0, 15.0, 15.5, 16.0], 10.0, 16.25) == dict(
        zip([*sandbox.PHASES, "exit"], [2.0, 3.0, 0.5, 0.5, 0.25]))
    assert sandbox.phase_seconds([12.0, 15.0], 10.0, 99.0) == dict(zip(sandbox.PHASES, [2.0, 3.0]))  # never ended
    assert sandbox.phase_seconds("{not a list", 10.0, 99.0) == {} == sandbox.phase_seconds(None, 0.0, 1.0)


@pytest.mark.e2e
@pytest.mark.backends
@needs_bwrap
@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow",
                    reason="on TensorFlow test_every_submission_gets_exactly_its_expected_points grades these, and more")
def test_on_this_backend_every_solution_earns_full_marks_and_every_untouched_release_nothing(tmp_path):
    """make e2e runs this under KERAS_BACKEND=jax: the sandbox and the verifier on that backend, every lesson."""
    cases = {f"{kind}_{name[:2]}": (name, start, None, points, "")
             for name in LESSONS for kind, start, points in (("solution", SOURCE, FULL), ("release", RELEASE, NOTHING))}
    write_submissions(tmp_path / "in", cases)
    code = tlclinic_grade.main([str(tmp_path / "in"), "--jobs", "2", "--timeout", "120", "--out", str(tmp_path / "out")])
    rows = json.loads((tmp_path / "out" / "grades.json").read_text())
    got = {(r["student"], r["test"]): (r["lesson"], r["status"], r["points"]) for r in rows}
    assert got == {(student, test): (lesson, "graded", points)
                   for student, (lesson, _, _, expected, _) in cases.items() for test, points in expected.items()}
    assert code == 0
