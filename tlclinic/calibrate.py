"""Run every lesson's graded check over many seeds: fixed heads must always pass, broken ones never.

    python -m tlclinic.calibrate [--seeds 20] [LESSON ...]      (make calibrate)
"""
from __future__ import annotations

import argparse
import sys

from .grading import format_calibration
from .lessons import LESSONS, load, select


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tlclinic.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("lessons", nargs="*", metavar="LESSON", help=f"default: all of {', '.join(LESSONS)}")
    args = parser.parse_args(argv)
    args.lessons = select(args.lessons, parser.error)
    ok = True
    for lesson in args.lessons:
        module = load(lesson)
        rows = module.calibrate(range(args.seeds))
        table = format_calibration(rows, module.CALIBRATION_METRIC)
        print(f"\n## {lesson} ({args.seeds} seeds)\n\n{table}", flush=True)
        for row in rows:
            if not row.as_expected:
                ok = False
                print(f"NOT AS EXPECTED: {row.head}: " + "; ".join(row.failures[:3]), file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
