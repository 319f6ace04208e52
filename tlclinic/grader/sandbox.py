"""Run a submission's answer cells where they can harm nothing, and bring back only data.

The grader never runs a submitted notebook as it is.  It takes the lesson's own set-up cell (from the source,
so a student cannot change it) and the student's answer cells, and runs them in a fresh Python process in the
grader's jail (``jail``: bubblewrap, an unprivileged user of its own, nothing of ``/etc`` but what Python needs,
the solutions, the grades, the submissions and the git history hidden, a bounded private /tmp, no network, its
own process tree, bounded memory, processes and files).  The process calls the answer once and hands its Keras
config (``crossing.cross``) back over a pipe; the verdict is reached elsewhere (``verdict``).

The process runs Keras on its NumPy backend (``LIGHT_BACKEND``), whatever the grader's: an answer crosses as the
same data on every backend (``crossing.EXECUTION_SETTINGS``), and Keras on NumPy loads in half the time of Keras
on TensorFlow and builds a model at once (on JAX, each new operation is compiled first).  NumPy's backend cannot
train, so an answer that fails there is taken again on the grader's backend before its error counts.  The verifier
trains it on the grader's backend.

Whose fault a failure is comes from the jail's set-up pipe, which the process writes and closes after the
lesson's set-up cell and before the first answer cell: nothing the student's code does can take it back.

    python -m tlclinic.grader.sandbox LESSON    (what runs inside; the grader starts it, the cells on stdin)
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import jail

LIMITS = jail.Limits(memory=3 * 2**30)  # every lesson grades under 1.75 GiB (lesson 04, the heaviest, measured)
PHASES = ("start and imports", "set-up cell", "answer cells", "answer crossed to data")
# Keras on NumPy, without TensorFlow loaded (the package loads it on import otherwise): building and serialising
# a model is all the process does with Keras.  Keras's NumPy backend borrows a few operations from JAX.
LIGHT_BACKEND = {"KERAS_BACKEND": "numpy", "JAX_PLATFORMS": "cpu", "TLCLINIC_WITHOUT_TENSORFLOW": "1"}


def light_backend() -> dict[str, str]:
    """``LIGHT_BACKEND`` where JAX is installed (the NumPy backend needs it); else none."""
    return LIGHT_BACKEND if importlib.util.find_spec("jax") else {}


@dataclass
class Outcome:
    """What came back from the answer's process: the crossed answer, or why there is none, and whose fault."""

    crossed: dict | None = None
    error: str = ""
    student_fault: bool = True  # False: the machine failed (the set-up cell did not finish): not the student's doing
    raised: bool = False  # the answer's own code raised (and handed over its error): not a crash, a limit or a kill
    seconds: dict = field(default_factory=dict)  # phase -> seconds, as the process reported them (bench only)


def run_answer(lesson: str, setup: str, answer: list[str], timeout: float, hidden: list[Path] = (),
               sandboxed: bool = True) -> Outcome:
    """Run the lesson's ``setup`` cell and the student's ``answer`` cells in a fresh, jailed process: on the light
    backend first, where there is one, and again on the grader's when they raised there or the set-up failed.

    A process past ``timeout`` is killed: after the set-up cell finished, that is the student's answer running too
    long; before, the machine's.
    """
    cells = json.dumps({"setup": setup, "answer": answer}).encode()
    if light := light_backend():
        taken = _take(lesson, cells, timeout, hidden, sandboxed, light)
        if taken.crossed is not None or (taken.student_fault and not taken.raised):
            return taken  # crossed, or stopped by a limit, a crash or an exit: the same on any backend
    return _take(lesson, cells, timeout, hidden, sandboxed, {})


def _take(lesson: str, cells: bytes, timeout: float, hidden: list[Path], sandboxed: bool,
          environment: dict[str, str]) -> Outcome:
    """One jailed process, its ``environment`` set, running the cells: what it handed over."""
    finished = jail.run("tlclinic.grader.sandbox", [lesson], cells, timeout, LIMITS, list(hidden), sandboxed,
                        environment)
    if not finished.setup_done:
        if finished.timed_out:
            return Outcome(error=f"the lesson's set-up did not finish within {timeout:.0f} s", student_fault=False)
        tail = [line for line in finished.log.splitlines() if line.strip()][-1:] or ["no output"]
        return Outcome(error=f"the lesson's set-up failed (exit {finished.returncode}): {tail[0][:200]}",
                       student_fault=False)
    message = _last_message(finished.result)
    outcome = _outcome(finished, message, timeout)
    outcome.seconds = phase_seconds(message.get("ends"), finished.started, finished.started + finished.seconds)
    return outcome


def _last_message(result: bytes) -> dict:
    """The last JSON object on the result pipe ({} when there is none: the process never handed one over)."""
    for line in reversed(result.decode(errors="replace").splitlines()):
        try:
            found = json.loads(line)
        except ValueError:
            continue
        if isinstance(found, dict):
            return found
    return {}


def _outcome(finished: jail.Finished, message: dict, timeout: float) -> Outcome:
    """What the student's part of the process left (``message``: the last it handed over): its crossed answer, or
    why there is none (all the student's)."""
    if finished.timed_out:
        return Outcome(error=f"your answer cell ran past the time limit ({timeout:.0f} s) and was stopped")
    if finished.overflowed:
        return Outcome(error=f"your answer handed over more than {jail.MAX_RESULT // 2**20} MB and was stopped")
    if isinstance(message.get("answer"), dict):
        return Outcome(crossed=message["answer"])
    if "error" in message:
        return Outcome(error=str(message["error"])[:400], raised=True)
    if any(sign in finished.log for sign in jail.MEMORY_SIGNS) or finished.returncode in (-9, 137, -6, 134):
        return Outcome(error=f"your answer's process died (out of memory: the limit is {LIMITS.memory // 2**30} GiB, "
                             "or killed) before handing over its answer")
    return Outcome(error=f"your answer cell ended the process (exit code {finished.returncode}) before it handed "
                         "over its answer")


def phase_seconds(ends: list | None, spawned: float, ended: float) -> dict:
    """Seconds of each of ``PHASES`` (and of the exit) from the times the process reported; {} for none."""
    try:
        ends = [float(end) for end in ends]
    except (TypeError, ValueError):
        return {}
    starts = [spawned, *ends]
    seconds = {phase: end - start for phase, start, end in zip(PHASES, starts, ends)}
    return {**seconds, "exit": ended - starts[len(seconds)]} if len(seconds) == len(PHASES) else seconds


def _inside(inside: jail.Inside) -> int:
    """In the jail: the set-up cell, then (the set-up pipe closed) the answer cells, then the answer crossed to
    data and handed over on the result pipe."""
    ends = [time.time()]
    cells = json.loads(sys.stdin.buffer.read())
    sys.stdin.close()
    from IPython.core.interactiveshell import InteractiveShell

    from ..crossing import cross
    from ..lessons import load

    lesson = inside.arguments[0]
    shell = InteractiveShell.instance()
    result = shell.run_cell(cells["setup"], store_history=False)
    if not result.success:
        print(f"the set-up cell failed: {result.error_before_exec or result.error_in_exec!r}")
        return 3
    answer_kind = load(lesson).ANSWER
    name = answer_kind.name
    ends.append(time.time())
    inside.setup_done()  # from here on, whatever happens is the student's answer's doing

    def hand_over(**message) -> int:
        inside.hand_over({**message, "ends": ends})
        return 0

    for source in cells["answer"]:
        result = shell.run_cell(source, store_history=False)
        error = result.error_before_exec or result.error_in_exec
        if error is not None:
            return hand_over(error=f"your answer cell raised {type(error).__name__}: {str(error)[:300]}")
    ends.append(time.time())
    if name not in shell.user_ns:
        return hand_over(error=f"your answer cells define no `{name}`")
    try:
        with _serialised_without_loading_tensorflow():
            crossed = cross(answer_kind, shell.user_ns[name])
    except BaseException as error:  # the student's function runs here: anything may come out of it
        return hand_over(error=f"calling {name} failed: {type(error).__name__}: {str(error)[:300]}")
    ends.append(time.time())
    return hand_over(answer=crossed)


@contextlib.contextmanager
def _serialised_without_loading_tensorflow():
    """Keras's serialisation asks whether TensorFlow is installed, and so loads it (2 s), to recognise its shapes
    and dtypes; while TensorFlow is not loaded (the light backend, and an answer that never imported it) nothing
    can be one, so for the block Keras is told it is not there."""
    try:
        from keras.src.utils.module_utils import tensorflow
    except ImportError:  # another Keras: it may load TensorFlow, which is slower, not wrong
        yield
        return
    if "tensorflow" in sys.modules or tensorflow._available is not None:
        yield
        return
    tensorflow._available = False
    try:
        yield
    finally:
        tensorflow._available = None


if __name__ == "__main__":
    jail.exit_now(_inside(jail.enter(sys.argv[1:])))
