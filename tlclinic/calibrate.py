"""Run every lesson's graded check over many seeds: fixed heads must always pass, broken ones never.

    python -m tlclinic.calibrate [--seeds 20]      (make calibrate)
"""
from __future__ import annotations

import argparse
import os
import sys

from .grading import format_calibration
from .lessons import relu_regression_output, softmax_one_unit

LESSONS = {
    "01-softmax-one-unit": (softmax_one_unit.calibrate, "val accuracy"),
    "02-relu-regression-output": (relu_regression_output.calibrate, "val Huber loss"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tlclinic.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("lessons", nargs="*", default=list(LESSONS), metavar="LESSON")
    args = parser.parse_args(argv)
    ok = True
    for lesson in args.lessons:
        run, metric = LESSONS[lesson]
        rows = run(range(args.seeds))
        print(f"\n## {lesson} ({args.seeds} seeds)\n\n{format_calibration(rows, metric)}", flush=True)
        for row in rows:
            if not row.as_expected:
                ok = False
                print(f"NOT AS EXPECTED: {row.head}: " + "; ".join(row.failures[:3]), file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("TQDM_DISABLE", "1")
    sys.exit(main())
