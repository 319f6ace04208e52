"""The verdict on a student's answer, reached in a process where no student code has run.

The answer crosses to the verifier as data (``tlclinic.crossing``): the lesson's ``Answer`` turns it into Keras
configs on the student's side; here, in a fresh process, the same ``Answer`` rebuilds it from the data alone in
Keras's safe mode, after the data was refused if it names anything outside Keras or asks for more than the grader
trains, and the lesson's ``check_converges`` trains and judges it.

Patching the package, Keras, NumPy, builtins or IPython in the notebook changes nothing here: whatever the
student's code did, only the data arrives, and the data is what is trained and judged.

The verifier's process is ``python -m tlclinic.commands.verify`` (run jailed by ``verify_many``).  It reads a list
of ``{"lesson": ..., "answer": <crossed data>, "tests": {grade_id: seed}}`` on stdin and sends a line of
``{grade_id: {"passed": bool, "message": str, "seed": int, "seconds": float}}`` per request on its result pipe.
``check`` (what the notebooks call, through ``Lesson.check``) and the grader both run it.
"""
from __future__ import annotations

import atexit
import contextlib
import json
import sys
from typing import Any, Iterator

from . import jail
from .crossing import Refused, cross, rebuild

VERIFIER = "tlclinic.commands.verify"  # the verifier's process: python -m VERIFIER

# The verifier's memory: every lesson's solution is judged within 1.75 GiB (the heaviest, measured); a
# configuration that needs more than this was made to (``verify_many`` gives it 0).
LIMITS = jail.Limits(memory=3 * 2**30)
MEMORY = "memory: "  # the start of a verifier failure that was its running out of memory


def judge(lesson, crossed: dict, seed: int) -> tuple[bool, str]:
    """(passed, message) of ``lesson``'s check on the crossed answer at ``seed``; runs only trusted code."""
    from .console import gist, quiet

    try:
        with quiet():
            answer = rebuild(lesson.ANSWER, crossed)
        result = lesson.check_converges(answer, seed)
    except Refused as error:
        return False, f"your answer could not be graded: {error}"
    except AssertionError as error:
        return False, str(error)
    except Exception as error:  # a config Keras cannot rebuild: report it like a failed check
        return False, f"your answer could not be rebuilt from its config: {type(error).__name__}: {gist(error)}"
    return True, lesson.summary(result)


@contextlib.contextmanager
def verifiers_started(count: int, sandboxed: bool = False) -> Iterator[list[jail.Started]]:
    """``count`` verifier processes started now, importing Keras while the grader still takes the answers they
    will judge (each given to ``verify_many(..., started=)``); any not used by the end is stopped."""
    started = []
    try:
        started.extend(jail.start(VERIFIER, [], LIMITS, [], sandboxed) for _ in range(count))
        yield started
    finally:
        for verifier in started:
            verifier.cancel()


def _run_verifier(requests: list[dict], timeout: float, sandboxed: bool = False,
                  started: jail.Started | None = None) -> tuple[list[dict | None], str]:
    """One verifier process (``started``, or a new one) over ``requests``: their verdicts (None for any it did not
    finish), and why not (``MEMORY``-prefixed when it ran out of the memory ``LIMITS`` gives it)."""
    started = started or jail.start(VERIFIER, [], LIMITS, [], sandboxed)
    finished = started.finish(json.dumps(requests).encode(), timeout)
    found = [json.loads(line) for line in finished.result.decode().splitlines() if line.strip()][:len(requests)]
    why = ""
    if finished.timed_out:
        why = f"the verifier did not finish within {timeout:.0f} s"
    elif len(found) < len(requests):
        lines = [line for line in finished.log.splitlines() if line.strip()]
        memory = any(sign in finished.log for sign in jail.MEMORY_SIGNS)
        why = (MEMORY if memory else "") + f"the verifier failed (exit {finished.returncode}): " + (
            lines[-1][:200] if lines else "no output")
    return found + [None] * (len(requests) - len(found)), why


def verify_many(requests: list[dict], timeout: float, sandboxed: bool = False,
                started: jail.Started | None = None) -> list[dict | str]:
    """Each request ``{"lesson", "answer", "tests": {grade_id: seed}}`` -> grade_id -> verdict, or a string saying
    why the machine could not judge it.

    One fresh process judges them in turn (``timeout`` seconds each, summed), so Keras is imported once for many
    answers; any request it did not finish is tried again alone with twice the time.  An answer that makes the
    verifier run out of its memory alone, twice, fails every test: its configuration asked for more than the
    grader gives any answer (the memory of every valid answer is well inside ``LIMITS``).  ``started``: a verifier
    already started (``verifiers_started``), for the first process.
    """
    results: list[dict | str | None] = list(_run_verifier(requests, timeout * len(requests), sandboxed, started)[0])
    for index, found in enumerate(results):
        if found is None:
            again, why = _run_verifier([requests[index]], 2 * timeout, sandboxed)
            results[index] = again[0] if again[0] is not None else why
            if why.startswith(MEMORY):
                message = (f"your answer could not be graded: training it needs more than the "
                           f"{LIMITS.memory // 2**30} GiB of memory the grader gives an answer")
                results[index] = {test: {"passed": False, "message": message, "seed": int(seed), "seconds": 0.0}
                                  for test, seed in requests[index]["tests"].items()}
    return results


def verify(lesson: str, crossed: dict, tests: dict[str, int], timeout: float | None = None,
           started: jail.Started | None = None) -> dict:
    """grade_id -> {"passed", "message", "seed"} for one crossed answer, judged in a fresh process (``started``,
    or a new one).

    Raises ``RuntimeError`` when the verifier failed or ran past ``timeout``.
    """
    [found], why = _run_verifier([{"lesson": lesson, "answer": crossed, "tests": tests}], timeout or 600,
                                 started=started)
    if found is None:
        raise RuntimeError(why)
    return found


_SPARE: list[jail.Started] = []  # a verifier started after a failed check, importing Keras for the next one


def spare_verifier() -> jail.Started | None:
    """The verifier a failed check started for the next one, if it is still waiting (else None)."""
    spare = _SPARE.pop() if _SPARE else None
    if spare is not None and spare.process.poll() is not None:  # it ended (stopped from outside): not usable
        spare.cancel()
        return None
    return spare


def start_spare_verifier() -> None:
    """Start a verifier for this process's next check, stopped when the process exits if never used."""
    if not _SPARE:
        _SPARE.append(jail.start(VERIFIER, [], LIMITS, [], False))


@atexit.register
def _stop_spare_verifier() -> None:
    for spare in _SPARE:
        spare.cancel()


def check(lesson, answer: Any, seed: int = 0) -> None:
    """The notebooks' convergence check (``Lesson.check``): the answer crosses to a fresh process as data and is
    judged there by ``lesson``'s check.

    Prints the verdict; raises ``AssertionError`` with the reason when the answer does not converge.  What the
    answer prints to stderr while it is called is shown on stdout (a test cell with stderr output fails).  A
    failed check starts the next check's verifier at once, so that it imports Keras while the student mends the
    answer: the check run again waits for the training, not for a process start too.
    """
    with contextlib.redirect_stderr(sys.stdout):
        try:
            crossed = cross(lesson.ANSWER, answer)
        except Exception as error:  # the student's function raised: say so, as the grader does
            raise AssertionError(f"calling your answer failed: {type(error).__name__}: {error}") from None
    verdict = verify(lesson.NAME, crossed, {"check": seed}, started=spare_verifier())["check"]
    if not verdict["passed"]:
        start_spare_verifier()
        raise AssertionError(verdict["message"])
    print(f"passed (seed {seed}, judged in a fresh process): {verdict['message']}")

