"""Run every lesson's graded check over many seeds: valid fixes must always pass, broken answers never.

    python -m tlclinic.commands.calibrate [--seeds 20] [--write] [LESSON ...]      (make calibrate)

Each answer goes through the check as the verifier receives it (crossed to data and rebuilt).  With ``--write``
each lesson's table is written to ``calibration/<family>.md`` in the lesson's folder (``onednn-0``, ``onednn-1``,
``jax-cpu``...: ``tlclinic.calibration`` says more), every seed's metrics beside it in ``<family>.json``, and the README's generated rows are
rewritten from the tables, so a calibration never leaves the repository stale.
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import time

from ..calibration import describe_family, format_calibration, numerics_family, table_path
from ..lessons import discover, select
from .readme import write_readme


def main(argv: list[str] | None = None) -> int:
    lessons = discover()
    parser = argparse.ArgumentParser(prog="python -m tlclinic.commands.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--write", action="store_true",
                        help="write each table into its lesson's folder, and the README's rows from the tables")
    parser.add_argument("lessons", nargs="*", metavar="LESSON", help=f"default: all of {', '.join(lessons)}")
    args = parser.parse_args(argv)
    ok = True
    for name in select(args.lessons, parser.error):
        lesson = lessons[name]
        start = time.perf_counter()
        rows = lesson.calibrate(range(args.seeds))
        table = format_calibration(rows, lesson.CALIBRATION_METRIC, lesson.CALIBRATION_ALSO)
        family = numerics_family()
        heading = (f"## {name}: seeds 0 to {args.seeds - 1}, {describe_family(family)}\n\n"
                   f"`python -m tlclinic.commands.calibrate --seeds {args.seeds} {name}` on {datetime.date.today()}, "
                   f"{time.perf_counter() - start:.0f} s.")
        print(f"\n{heading}\n\n{table}", flush=True)
        if args.write:
            path = table_path(lesson)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{heading}\n\n{table}\n")
            path.with_suffix(".json").write_text(json.dumps(
                {"seeds": args.seeds, "family": family, "rows": [
                    {"head": r.head, "should_pass": r.should_pass, "passed": r.passed, "values": r.values,
                     "also_values": r.also_values} for r in rows]}, indent=1) + "\n")
        for row in rows:
            if not row.as_expected:
                ok = False
                print(f"NOT AS EXPECTED: {row.head}: " + "; ".join(row.failures[:3]), file=sys.stderr)
    if args.write:
        for part in write_readme():
            print(f"README.md: rewrote the generated part {part!r}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
