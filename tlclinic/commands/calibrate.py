"""Run every lesson's graded check over many seeds: valid fixes must always pass, broken answers never.

    python -m tlclinic.commands.calibrate [--seeds 20] [--write [--fresh]] [--chunk 10] [LESSON ...]   (make calibrate)

Each answer goes through the check as the verifier receives it (crossed to data and rebuilt), a few seeds at a
time (``--chunk``).  With ``--write`` each lesson's table is written to ``calibration/<family>.md`` in the lesson's
folder (``onednn-0``, ``onednn-1``, ``jax-cpu``...: ``tlclinic.calibration`` says more), every seed's numbers
beside it in ``<family>.json``, and the README's generated rows are rewritten from the tables, after every chunk,
so a calibration never leaves the repository stale and one stopped part-way keeps what it measured.

A table already written under the same kernels and libraries is carried on from the seeds it holds: its last
seed is trained again first, and only if every answer gives the same verdict and final training loss (to
``calibration.REPRODUCED``) are its seeds kept; otherwise (the code changed its numbers) the lesson starts
afresh and says why.  A table that cannot be carried on is not replaced by one of fewer seeds: the command says
what to run instead.  ``--fresh`` starts afresh regardless.
"""
from __future__ import annotations

import argparse
import datetime
import sys
import time

from ..calibration import (Held, describe_family, differences, format_calibration, merged, read_held, seeds_in,
                           table_path, versions, write_table)
from ..lessons import discover, select
from .readme import write_readme


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def carried_on(lesson, fresh: bool, seeds: int) -> Held | None:
    """The lesson's table held under this process's kernels, if its last seed still trains as it holds; None to
    start afresh.  A table that cannot be carried on and holds more than ``seeds`` seeds is not replaced by a
    smaller one unless ``fresh``: ``ValueError`` says what to run."""
    path = table_path(lesson)
    held, why = (None, "--fresh") if fresh else read_held(path)
    if held is not None and held.seeds:
        last = held.seeds - 1
        start = time.perf_counter()
        found = differences(held, lesson.calibrate(range(last, held.seeds)))
        if not found:
            print(f"{lesson.NAME}: carrying on from the {held.seeds} seeds held in {path.name} (seed "
                  f"{last} trained again as it holds, {_minutes(time.perf_counter() - start)})", flush=True)
            return held
        why = f"seed {last} no longer trains as the table holds: " + "; ".join(found[:3])
    if not fresh and (had := seeds_in(path)) > seeds:
        raise ValueError(f"{lesson.NAME}: {path.name} holds {had} seeds and cannot be carried on ({why}); run "
                         f"--seeds {had} to measure them again, or --fresh to replace them with {seeds}")
    if why:
        print(f"{lesson.NAME}: starting afresh: {why}", flush=True)
    return None


def main(argv: list[str] | None = None) -> int:
    lessons = discover()
    parser = argparse.ArgumentParser(prog="python -m tlclinic.commands.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0 to N-1 (default 20)")
    parser.add_argument("--write", action="store_true",
                        help="write each table into its lesson's folder, and the README's rows from the tables, "
                             "after every chunk, carrying on from the seeds a table already holds")
    parser.add_argument("--fresh", action="store_true", help="with --write: ignore the seeds a table holds")
    parser.add_argument("--chunk", type=int, default=10, help="seeds trained between two writes (default 10)")
    parser.add_argument("lessons", nargs="*", metavar="LESSON", help=f"default: all of {', '.join(lessons)}")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.chunk < 1:
        parser.error("--seeds and --chunk must be at least 1")
    ok = True
    for name in select(args.lessons, parser.error):
        lesson = lessons[name]
        try:
            held = (carried_on(lesson, args.fresh, args.seeds) if args.write else None) or Held([], versions(), 0.0)
        except ValueError as refused:
            print(f"NOT CALIBRATED: {refused}", file=sys.stderr)
            ok = False
            continue
        text = ""
        while held.seeds < args.seeds or not text:
            part = range(held.seeds, min(held.seeds + args.chunk, args.seeds))
            start = time.perf_counter()
            if part:
                held = Held(merged(held.rows, lesson.calibrate(part)), held.versions,
                            held.seconds + time.perf_counter() - start)
            n = held.seeds
            heading = (f"## {name}: seeds 0 to {n - 1}, {describe_family(held.versions['family'])}\n\n"
                       f"`python -m tlclinic.commands.calibrate --seeds {max(n, args.seeds)} --write {name}`: "
                       f"{held.seconds:.0f} s of wall time over its sittings, written {datetime.date.today()}"
                       + (f", {args.seeds} seeds asked: the same command carries on" if n < args.seeds else "") + ".")
            if args.write:
                text = write_table(table_path(lesson), held, heading, lesson.CALIBRATION_METRIC,
                                   lesson.CALIBRATION_ALSO)
                for changed in write_readme():
                    print(f"README.md: rewrote the generated part {changed!r}", flush=True)
            else:
                table = format_calibration(held.rows, lesson.CALIBRATION_METRIC, lesson.CALIBRATION_ALSO)
                text = f"{heading}\n\n{table}\n"
            if part:
                left = (args.seeds - n) * (time.perf_counter() - start) / len(part)
                print(f"{name}: seeds 0 to {n - 1} of {args.seeds} ({_minutes(held.seconds)} so far"
                      + (f", about {_minutes(left)} to go" if left else "") + ")", flush=True)
        print(f"\n{text}", flush=True)
        for row in held.rows:
            if not row.as_expected:
                ok = False
                wrong = (f"seed {seed}: {why}" for seed, why in row.failures.items()) if row.should_pass else (
                    f"passed at seed {seed}" for seed in row.seeds if seed not in row.failures)
                print(f"NOT AS EXPECTED: {row.head}: " + "; ".join(list(wrong)[:3]), file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
