"""The grader's jail: what a jailed process can read, who it runs as, what it may use, and the channel that says
whose fault a failure is.  (The grader's end-to-end fixtures in test_grading.py run every exploit through it.)"""
import json
import os
import shutil

import keras
import pytest
from keras import layers

from tlclinic import crossing, jail, verdict
from tlclinic.grader import sandbox

L01 = "01-softmax-one-unit"
SETUP = "x = 1"  # the lesson's set-up cell stands in: the jailed process still imports the lesson to find its answer
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None,
                                 reason="BUBBLEWRAP MISSING: `apt-get install bubblewrap` (make test installs it as root)")


def raised(answer_cell: str, timeout: float = 120, sandboxed: bool = True) -> sandbox.Outcome:
    return sandbox.run_answer(L01, SETUP, [answer_cell], timeout, sandboxed=sandboxed)


# What a jailed process may find in /etc and in its environment (besides what TensorFlow and JAX set for
# themselves when they are imported, by these prefixes).
ETC = {*jail.ETC, "passwd", "group"}
ENVIRONMENT = {*jail.KEPT_ENVIRONMENT, *sandbox.LIGHT_BACKEND, "HOME", "MPLCONFIGDIR", "USER", "LOGNAME", "PWD",
               "TLCLINIC_UID", "TF_CPP_MIN_LOG_LEVEL", "TQDM_DISABLE", "PYTHONDONTWRITEBYTECODE"}
LIBRARIES_SET = ("TF", "TPU_", "HDF5_", "ENABLE_RUNTIME_")


@needs_bwrap
def test_a_jailed_answer_runs_as_its_own_user_with_nothing_to_read_and_bounded_resources(monkeypatch):
    """Bounded resources include the processes: after the set-up the answer's user may run the process's threads
    and ``jail.SPARE_TASKS`` more (a few threads of the set-up's may be counted apart), enough for TensorFlow's
    thread pools should the answer run its ops, not the set-up's ``Limits.processes``: a fork bomb is stopped
    sooner (the children here are never reaped: each one counts)."""
    for name in ("TLCLINIC_GRADER_TOKEN", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "TF_GRADER_SECRET"):
        monkeypatch.setenv(name, "canary-in-the-environment")
    outcome = raised(  # the answer reports what it sees in its error message (300 characters at most)
        "import json, os, resource\n"
        "threads, forked = len(os.listdir('/proc/self/task')), 0\n"
        "import tensorflow as tf\n"
        "product = float(tf.matmul(tf.ones((8, 8)), tf.ones((8, 8)))[0, 0])\n"
        "try:\n    while True:\n        if os.fork() == 0:\n            os._exit(0)\n        forked += 1\n"
        "except BlockingIOError:\n    pass\n"
        "status = dict(line.split(':', 1) for line in open('/proc/self/status').read().splitlines())\n"
        "raise RuntimeError(json.dumps([os.getuid(), status['CapEff'].strip(), status['NoNewPrivs'].strip(),\n"
        f"    sorted(set(os.listdir('/etc')) - {ETC!r}),\n"
        f"    sorted(k for k in set(os.environ) - {ENVIRONMENT!r} if not k.startswith({LIBRARIES_SET!r})),\n"
        "    sorted(os.listdir('/root')), [resource.getrlimit(r)[0] for r in (resource.RLIMIT_NPROC, resource.RLIMIT_DATA)],\n"
        "    product, threads, forked,\n"
        "    os.statvfs('/tmp').f_blocks * os.statvfs('/tmp').f_frsize,\n"
        "    [k for k, v in os.environ.items() if 'canary' in v]]))")
    assert outcome.student_fault and outcome.error.startswith("your answer cell raised RuntimeError: "), outcome
    uid, capabilities, no_new_privs, etc, environment, root, limits, product, threads, forked, tmp, canaries = (
        json.loads(outcome.error.split(": ", 1)[1]))
    assert uid != 0 and capabilities == "0000000000000000" and no_new_privs == "1"
    assert etc == [] and environment == []  # no shadow, no ssh, no grader's variable
    assert canaries == []  # not even under a name TensorFlow's prefix hides
    assert root in ([], [".pyenv"])  # only the Python installation, where it lives under /root: no .ssh
    assert limits == [threads + jail.SPARE_TASKS, sandbox.LIMITS.memory] and tmp == jail.Limits(0).tmp
    assert product == 8.0 and 0 < forked <= threads + jail.SPARE_TASKS < jail.Limits(0).processes


@needs_bwrap
def test_after_the_set_up_every_failure_is_the_students_whatever_it_deletes_or_prints():
    """The set-up pipe was written and closed before the answer ran: an exit that claims a set-up failure, closing
    every descriptor, or a crash are the student's (0), never "not graded"."""
    for cell in ["print('the set-up cell failed: ImportError')\nimport os\nos._exit(3)",
                 "import os\nos.closerange(3, 4096)\nraise SystemExit(1)",
                 "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)"]:
        outcome = raised(cell)
        assert outcome.student_fault and outcome.crossed is None, (cell, outcome)
        assert "ended the process" in outcome.error or "died" in outcome.error, (cell, outcome)


def test_a_jailed_process_starts_with_no_python_code_between_fork_and_exec():
    """No ``preexec_fn``: Python's at-fork hooks do not run when the grader starts a process, so a grader grading
    with threads cannot deadlock there, and JAX, which warns of that deadlock from such a hook, prints nothing in a
    notebook that runs a check.  ``enter`` sets the limits inside instead (the test above reads them there)."""
    forks = {"watching": False, "seen": 0}

    def seen() -> None:
        forks["seen"] += forks["watching"]

    os.register_at_fork(before=seen)  # hooks cannot be removed: it counts only while watched
    forks["watching"] = True
    try:
        started = jail.start(verdict.VERIFIER, [], verdict.LIMITS, [], sandboxed=False)  # the hooks run in fork()
    finally:
        forks["watching"] = False
    started.cancel()
    assert started.process.pid > 0 and forks["seen"] == 0


def test_a_set_up_that_fails_or_never_ends_is_the_machines():
    failed = sandbox.run_answer(L01, "raise ImportError('no such lesson')", ["x = 1"], 120, sandboxed=False)
    assert not failed.student_fault and "set-up failed" in failed.error and "no such lesson" in failed.error
    slow = sandbox.run_answer(L01, "import time\ntime.sleep(60)", ["x = 1"], 3, sandboxed=False)
    assert not slow.student_fault and "did not finish within 3 s" in slow.error


TRAINS_WHILE_IT_BUILDS = """
import keras, numpy as np
def build_head(input_dim):
    model = keras.Sequential([keras.Input((input_dim,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(np.zeros((4, input_dim)), np.zeros(4), verbose=0)
    return model
"""


@pytest.mark.skipif(not sandbox.light_backend(), reason="JAX is not installed: no light backend to fall back from")
def test_an_answer_that_fails_on_the_light_backend_is_taken_again_on_the_graders():
    """Keras's NumPy backend cannot train: an answer that trains while it builds fails there, and is taken on the
    grader's backend before its error would count."""
    cells = json.dumps({"setup": SETUP, "answer": [TRAINS_WHILE_IT_BUILDS]}).encode()
    light = sandbox._take(L01, cells, 120, [], False, sandbox.light_backend())
    assert light.raised and light.crossed is None and "NotImplementedError" in light.error
    outcome = raised(TRAINS_WHILE_IT_BUILDS, sandboxed=False)
    assert outcome.crossed is not None and outcome.crossed["model"]["class_name"] == "Sequential"


def test_an_answer_that_hands_over_too_much_is_stopped(monkeypatch):
    monkeypatch.setattr(jail, "MAX_RESULT", 2**16)
    outcome = raised("import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'x' * 2**17)\n"
                     "    except OSError:\n        pass\nwhile True:\n    pass", timeout=60, sandboxed=False)
    assert outcome.student_fault and "handed over more than" in outcome.error


def _head(*hidden, inputs=(256,)):
    model = keras.Sequential([keras.Input(inputs), *hidden, layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    crossed = {"kind": "head", "model": keras.saving.serialize_keras_object(model), "compile": model.get_compile_config()}
    return json.loads(json.dumps(crossed))  # as it crosses


def test_a_configuration_too_large_to_train_is_refused_from_its_data_before_anything_is_built():
    crossing.refuse_too_large(_head(layers.Dense(1024, activation="relu")))  # the question's size: fine
    huge_units = json.loads(json.dumps(_head(layers.Dense(8))).replace('"units": 8,', '"units": 2000000,'))
    with pytest.raises(crossing.Refused, match="units = 2,000,000"):
        crossing.refuse_too_large(huge_units)
    with pytest.raises(crossing.Refused, match="weights"):
        crossing.refuse_too_large(_head(layers.Dense(5000), layers.Dense(2000)))  # 11 million weights, small numbers
    with pytest.raises(crossing.Refused, match="values per example"):
        crossing.refuse_too_large(_head(layers.Flatten(), inputs=(2048, 2048)))


def test_a_layer_whose_output_is_too_large_is_refused_before_it_trains():
    crossed = _head(layers.RepeatVector(400_000), layers.GlobalAveragePooling1D())
    crossing.refuse_too_large(crossed)  # no number or weight is too large...
    with pytest.raises(crossing.Refused, match="repeat_vector outputs"):
        crossing.rebuild(crossing.HeadAnswer("build_head", 256), crossed)(256)  # ...but one layer's output is


def test_a_sandbox_that_cannot_start_says_what_to_do(tmp_path, monkeypatch):
    """Where AppArmor refuses bubblewrap its namespaces (Ubuntu 24.04 runners), the grader says how to allow them."""
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with pytest.raises(jail.SandboxUnavailable, match="uid map: Permission denied.*apparmor_restrict_unprivileged"):
        jail.check_available()


def test_a_submission_folder_inside_a_private_one_is_masked_with_it(tmp_path):
    """Grading ``solutions/<lesson>/``'s notebook: its folder is hidden already (bubblewrap cannot make it there)."""
    inside, outside = jail.ROOT / "solutions" / next(iter(sorted((jail.ROOT / "solutions").iterdir()))).name, tmp_path
    command = jail.bwrap_command([inside, outside])
    masked = [command[i + 1] for i, arg in enumerate(command) if arg == "--tmpfs"]
    assert str(jail.ROOT / "solutions") in masked and str(outside) in masked and str(inside) not in masked
