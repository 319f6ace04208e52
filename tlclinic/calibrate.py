"""Run every lesson's graded check over many seeds: valid fixes must always pass, broken answers never.

    python -m tlclinic.calibrate [--seeds 20] [--write] [LESSON ...]      (make calibrate)

Each answer goes through the check as the verifier receives it (crossed to its Keras config and rebuilt).
With ``--write`` each lesson's table is written to ``docs/calibration/<lesson>.onednn-<0|1>.md``, named by the
TensorFlow CPU kernel family it ran under (``TF_ENABLE_ONEDNN_OPTS``; unset means 1 on x86).
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

from .grading import format_calibration
from .lessons import LESSONS, load, select
from .notebooks import ROOT

CALIBRATION_DIR = ROOT / "docs" / "calibration"


def kernel_family() -> str:
    return os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tlclinic.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--write", action="store_true", help="write each table under docs/calibration/")
    parser.add_argument("lessons", nargs="*", metavar="LESSON", help=f"default: all of {', '.join(LESSONS)}")
    args = parser.parse_args(argv)
    args.lessons = select(args.lessons, parser.error)
    ok = True
    for lesson in args.lessons:
        module = load(lesson)
        start = time.perf_counter()
        rows = module.calibrate(range(args.seeds))
        table = format_calibration(rows, module.CALIBRATION_METRIC, getattr(module, "CALIBRATION_ALSO", ""))
        heading = (f"## {lesson}: seeds 0 to {args.seeds - 1}, TF_ENABLE_ONEDNN_OPTS={kernel_family()}\n\n"
                   f"`python -m tlclinic.calibrate --seeds {args.seeds} {lesson}` on {datetime.date.today()}, "
                   f"{time.perf_counter() - start:.0f} s.")
        print(f"\n{heading}\n\n{table}", flush=True)
        if args.write:
            CALIBRATION_DIR.mkdir(parents=True, exist_ok=True)
            (CALIBRATION_DIR / f"{lesson}.onednn-{kernel_family()}.md").write_text(f"{heading}\n\n{table}\n")
        for row in rows:
            if not row.as_expected:
                ok = False
                print(f"NOT AS EXPECTED: {row.head}: " + "; ".join(row.failures[:3]), file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
