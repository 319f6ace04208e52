"""Grade submitted lesson notebooks: one command, a table of points, grades.json and .csv, feedback pages.

    tlclinic-grade SUBMISSIONS [--jobs N] [--min-score F] [--out DIR] [--timeout S] [--no-sandbox]
                               [--shard K/N] [--force]
    tlclinic-grade merge DIR [DIR ...] [--out DIR]
    make grade SUBMISSIONS=path/to/file-or-folder [ARGS="--shard 1/4 --out build/grades-1"]

A submission is a ``.ipynb`` file whose name contains a lesson's name (``<lesson>.ipynb``, the lesson's folder name under ``solutions/``);
the student is the folder it sits in (above the lesson's folder in nbgrader's ``submitted/<student>/<lesson>/``
layout; directly in the folder given, the file's stem).  The submitted file is read, never changed or executed as
it is: its answer cells run in a sandbox that hands back the answer as data, and a verifier in which no student
code runs judges it (how, step by step: ``tlclinic.grader``).  When the machine fails, the submission is tried
once more with twice the time limit; if it fails again its rows get status ``not graded`` with the reason, and the
command exits 3.  A student's own endless loop, crash or exit earns 0.

Beside grades.json and grades.csv, ``--out`` gets ``manifest.json``: which shard the run graded and, for each
submission (by its path in the folder), its student, lesson, content hash and rows.  Grading into the same
``--out`` again reuses the rows of every submission whose hash is unchanged (the notebook, the lesson's source,
the grader's code and versions, ``--timeout`` and the sandbox) and that was graded; ``--force`` regrades all.

``--shard K/N`` grades the students whose name hashes to share K of N (all of a student's lessons together), so
N machines can grade a course; ``merge`` combines their outputs into one, refusing shards that are missing,
given twice, of different N, or that grade the same student's lesson twice.  (To grade a folder named
``merge``, write ``./merge``.)

Exit codes: 0 all graded; 1 some submission below ``--min-score``; 2 usage error (for ``merge``: shards that
do not add up); 3 some submission not graded.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .. import jail
from ..grader.judge import grade_course, rows_of
from ..grader.reports import format_table, say_not_graded, scores, write_reports
from ..grader.shards import (WHOLE, MergeRefused, manifest_entries, merge, parse_shard, read_manifest, root_of,
                             write_manifest)

NOT_GRADED_EXIT = 3


def merge_main(argv: list[str]) -> int:
    """``tlclinic-grade merge DIR [DIR ...] [--out OUT]``: exit 0, 2 (refused) or 3 (some row not graded)."""
    parser = argparse.ArgumentParser(prog="tlclinic-grade merge",
                                     description="combine the --out folders of the shards of one course "
                                                 "(tlclinic-grade FOLDER --shard K/N) into one",
                                     epilog="exit codes: 0 merged, 2 refused (a shard missing, given twice, of "
                                            "another N, or grading a student's lesson another shard grades), "
                                            "3 merged, but a submission is not graded (the machine failed)")
    parser.add_argument("folders", type=Path, nargs="+", metavar="DIR", help="a shard's --out folder")
    parser.add_argument("--out", type=Path, default=Path("build/grades"),
                        help="where the merged grades.json/.csv, manifest.json and feedback/ go")
    args = parser.parse_args(argv)
    try:
        rows = merge(args.folders, args.out)
    except MergeRefused as error:
        parser.error(str(error))
    not_graded = say_not_graded(rows)
    print(f"merged {len(args.folders)} shard(s): {len(scores(rows))} submission(s); wrote "
          f"{args.out / 'grades.json'}, {args.out / 'grades.csv'} and {args.out / 'feedback'}/")
    return NOT_GRADED_EXIT if not_graded else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["merge"]:
        return merge_main(argv[1:])
    parser = argparse.ArgumentParser(prog="tlclinic-grade", description=__doc__.split("\n")[0],
                                     usage="%(prog)s SUBMISSIONS [options]\n       %(prog)s merge DIR [DIR ...] "
                                           "[--out OUT]   (combine the outputs of --shard runs; merge -h)",
                                     epilog="exit codes: 0 all graded, 1 a submission below --min-score, "
                                            "2 usage error, 3 a submission not graded (the machine failed)")
    parser.add_argument("submissions", type=Path, help="a submitted .ipynb, or a folder of them")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="submissions graded at once")
    parser.add_argument("--min-score", type=float, default=None,
                        help="exit 1 when a submission earns less than this share of its points (0 to 1)")
    parser.add_argument("--out", type=Path, default=Path("build/grades"),
                        help="where grades.json/.csv, manifest.json and the feedback pages (feedback/) go; "
                             "a submission unchanged since the last run into it keeps its grade")
    parser.add_argument("--timeout", type=int, default=180,
                        help="seconds the answer's process, and the verifier, may each run (doubled on a retry)")
    parser.add_argument("--no-sandbox", dest="sandboxed", action="store_false",
                        help="run answers without bubblewrap: only for notebooks you trust")
    parser.add_argument("--shard", type=parse_shard, default=WHOLE, metavar="K/N",
                        help="grade only share K of N of the students (all of a student's lessons together), "
                             "for N machines; combine their --out folders with `tlclinic-grade merge`")
    parser.add_argument("--force", action="store_true",
                        help="regrade every submission, even those unchanged since the last run into --out")
    args = parser.parse_args(argv)
    if args.sandboxed:
        try:
            jail.check_available()
        except jail.SandboxUnavailable as error:
            parser.error(str(error))
    start = time.perf_counter()
    previous = {} if args.force else read_manifest(args.out).get("submissions", {})
    subs = grade_course(args.submissions, args.jobs, args.timeout, sandboxed=args.sandboxed, shard=args.shard,
                        previous=previous)
    rows = rows_of(subs)
    write_reports(rows, args.out)
    write_manifest(args.out, args.shard, manifest_entries(subs, root_of(args.submissions)))
    print("\n" + format_table(rows))
    reused = sum(sub.reused for sub in subs)
    print(f"\ngraded {len(scores(rows))} submission(s)" + (f" (shard {args.shard})" if args.shard != WHOLE else "")
          + f" in {time.perf_counter() - start:.1f} s"
          + (f", {reused} of them unchanged since the last run: grades reused (--force regrades)" if reused else "")
          + f"; wrote {args.out / 'grades.json'}, {args.out / 'grades.csv'} and {args.out / 'feedback'}/")
    not_graded = say_not_graded(rows)
    below = {k: v for k, v in scores(rows).items()
             if args.min_score is not None and v < args.min_score and k not in not_graded}
    for (student, lesson), share in below.items():
        print(f"below --min-score {args.min_score}: {student} {lesson} scored {share:.2f}", file=sys.stderr)
    return NOT_GRADED_EXIT if not_graded else 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
