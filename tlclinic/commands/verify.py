"""The verifier's process: judge each crossed answer read on stdin, in the jail, with no student code.

    python -m tlclinic.commands.verify --result-fd R --setup-fd S [limits]      (started by tlclinic.verdict)

Reads a JSON list of ``{"lesson": name, "answer": <crossed data>, "tests": {grade_id: seed}}`` and sends, per
request, one line ``{grade_id: {"passed", "message", "seed", "seconds"}}`` on the result pipe.
"""
from __future__ import annotations

import json
import sys
import time

from .. import jail


def main(inside: jail.Inside) -> int:
    """Judge each request read from stdin in turn, sending one line of verdicts per request on the result pipe."""
    from ..console import silenced_native_stderr
    from ..grading import one_answer
    from ..lessons import load
    from ..verdict import judge

    with silenced_native_stderr():
        import keras  # noqa: F401  (TensorFlow's start-up lines go nowhere)
    # Keras is imported (by tlclinic's own start too) before the requests are read: the grader starts the verifier
    # while it still takes the answers (``verdict.verifiers_started``).
    requests = json.loads(sys.stdin.buffer.read())
    for request in requests:
        lesson, verdicts = load(request["lesson"]), {}
        with one_answer():  # its training step traced once for all its tests' seeds
            for test, seed in request["tests"].items():
                start = time.perf_counter()
                passed, message = judge(lesson, request["answer"], int(seed))
                verdicts[test] = {"passed": passed, "message": message, "seed": int(seed),
                                  "seconds": time.perf_counter() - start}
        inside.send(verdicts)
    return 0


if __name__ == "__main__":
    jail.exit_now(main(jail.enter(sys.argv[1:])))
