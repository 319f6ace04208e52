"""Grade submitted lesson notebooks: one command, a table of points, grades.json and .csv, feedback pages.

    tlclinic-grade SUBMISSIONS [--jobs N] [--min-score F] [--out DIR] [--timeout S] [--no-sandbox]
    make grade SUBMISSIONS=path/to/file-or-folder

A submission is a ``.ipynb`` file whose name contains a lesson's name (``01-softmax-one-unit.ipynb``);
the student is the folder it sits in (or, directly in the folder given, the file's stem).  The submitted file is
read, never changed or executed as it is.  For each submission:

1. the answer cells (the nbgrader solution cells, found by their grade id, or else by the name they define) run
   after the lesson's own set-up cell in a sandboxed process (``sandbox``), which hands back the answer as data;
2. a fresh verifier process (``verdict``), in which no student code runs, rebuilds the answer from that data,
   trains it and checks it at each graded test's seed.  Its verdicts are the grade: nothing the notebook prints
   or stores is read.

Points per test come from the lesson's source (``solutions/``), never from the submission.  When the machine
fails (the set-up cell or the verifier does not finish in time, the sandbox cannot start), the submission is
tried once more with twice the time limit; if it fails again its rows get status ``not graded`` with the
reason, and the command exits 3.  A student's own endless loop, crash or exit earns 0.

Exit codes: 0 all graded; 1 some submission below ``--min-score``; 2 usage error; 3 some submission not graded.
"""
from __future__ import annotations

import argparse
import csv
import html
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from . import sandbox, verdict
from .notebooks import SOLUTIONS

NOT_GRADED_EXIT = 3


@dataclass
class Row:
    student: str
    lesson: str
    test: str
    points: float
    max_points: float
    message: str = ""
    status: str = "graded"  # or "not graded": the machine failed, not the student


def lessons() -> list[str]:
    return sorted(p.name for p in SOLUTIONS.iterdir() if (p / f"{p.name}.ipynb").exists())


def source_notebook(lesson: str) -> nbformat.NotebookNode:
    return nbformat.read(SOLUTIONS / lesson / f"{lesson}.ipynb", as_version=4)


def grade_cells(lesson: str) -> dict[str, float]:
    """The graded cells of a lesson's source: grade_id -> points."""
    meta = (c.metadata.get("nbgrader", {}) for c in source_notebook(lesson).cells)
    return {m["grade_id"]: float(m.get("points", 0)) for m in meta if m.get("grade")}


def setup_cell(source: nbformat.NotebookNode) -> str:
    """The lesson's locked set-up cell (grade id ``setup``), from the source."""
    return next(c.source for c in source.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")


def answer_cells(submitted: nbformat.NotebookNode, source: nbformat.NotebookNode, name: str) -> list[str]:
    """The student's answer: the code of the cells with the source's solution grade ids, in the submitted order.

    A student who lost a cell's metadata (by pasting into a new cell) still has an answer: the last code cell
    that defines ``name``.
    """
    ids = {c.metadata["nbgrader"]["grade_id"] for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}
    code = [c for c in submitted.cells if c.cell_type == "code"]
    found = [c.source for c in code if c.metadata.get("nbgrader", {}).get("grade_id") in ids]
    if found:
        return found
    defining = [c.source for c in code if f"def {name}(" in c.source or f"{name} =" in c.source]
    return defining[-1:]


def identify(path: Path, root: Path) -> tuple[str, str]:
    """(student, lesson) of a submitted notebook."""
    found = [name for name in lessons() if name in path.name]
    if not found:
        raise ValueError(f"{path.name}: the file name names no lesson (one of: {', '.join(lessons())})")
    lesson = max(found, key=len)
    student = path.stem.replace(lesson, "").strip("-_ ") if path.parent == root else path.parent.name
    return student or "student", lesson


@dataclass
class Submission:
    """One submitted notebook on its way through the grader: decided early (``rows``) or answered (``crossed``)."""

    path: Path
    student: str = ""
    lesson: str = "?"
    points: dict | None = None  # grade_id -> points, from the source
    crossed: dict | None = None
    rows: list[Row] | None = None

    def zero(self, message: str, status: str = "graded") -> "Submission":
        self.rows = [Row(self.student, self.lesson, test, 0.0, points, message, status)
                     for test, points in self.points.items()]
        return self

    def conclude(self, found: dict | str) -> list[Row]:
        """Rows from the verifier's verdicts, or "not graded" rows when it failed (``found`` says why)."""
        if isinstance(found, str):
            return self.zero(f"not graded: {found}", status="not graded").rows
        return [Row(self.student, self.lesson, test, points if found[test]["passed"] else 0.0, points,
                    "" if found[test]["passed"] else found[test]["message"]) for test, points in self.points.items()]


def answer(path: Path, root: Path, timeout: int = 180, sandboxed: bool = True) -> Submission:
    """Read a submission and run its answer cells in the sandbox: the answer as data, or rows that end it.

    A machine failure (the set-up cell did not finish) is retried once with twice the time, then "not graded".
    """
    sub = Submission(Path(path))
    try:
        sub.student, sub.lesson = identify(sub.path, Path(root))
    except ValueError as error:
        sub.rows = [Row(sub.path.stem, "?", "(submission)", 0.0, 0.0, str(error))]
        return sub
    sub.points = grade_cells(sub.lesson)
    try:
        submitted = nbformat.read(sub.path, as_version=4)
    except Exception as error:  # any unreadable file is reported the same way
        return sub.zero(f"not a valid notebook: {type(error).__name__}: {str(error).splitlines()[0][:200]}")
    from .lessons import load

    source, name = source_notebook(sub.lesson), load(sub.lesson).ANSWER
    cells = answer_cells(submitted, source, name)
    if not cells:
        return sub.zero(f"no answer cell found: the cell that defines `{name}` is missing")
    # Other submissions are hidden from this one's process (unless the folder holds the workbook itself).
    hidden = [Path(root).resolve()] if not sandbox.ROOT.is_relative_to(Path(root).resolve()) else []
    for limit in (timeout, 2 * timeout):
        with tempfile.TemporaryDirectory(prefix="tlclinic-answer-") as tmp:
            outcome = sandbox.run_answer(sub.lesson, setup_cell(source), cells, Path(tmp) / "out", limit, hidden,
                                         sandboxed)
        if outcome.student_fault:
            break
    else:
        return sub.zero(f"not graded, twice: {outcome.error}", status="not graded")
    if outcome.crossed is None:
        return sub.zero(outcome.error)
    sub.crossed = outcome.crossed
    return sub


def judge_all(subs: list[Submission], jobs: int, timeout: int) -> None:
    """The verifier's verdicts on every answered submission, ``jobs`` verifier processes at a time."""
    waiting = [s for s in subs if s.rows is None]
    chunks = [waiting[i::max(1, jobs)] for i in range(max(1, jobs))]

    def judge_chunk(chunk: list[Submission]) -> None:
        requests = [{"lesson": s.lesson, "answer": s.crossed,
                     "tests": {test: verdict.GRADED_SEEDS[test] for test in s.points}} for s in chunk]
        for sub, found in zip(chunk, verdict.verify_many(requests, timeout)):
            sub.rows = sub.conclude(found)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(judge_chunk, [c for c in chunks if c]))


def grade_submission(path: Path, root: Path, timeout: int = 180, sandboxed: bool = True) -> list[Row]:
    """Grade one submitted notebook; never raises for a bad submission (nor for a failing machine)."""
    sub = answer(path, root, timeout, sandboxed)
    judge_all([sub], 1, timeout)
    return sub.rows


def find_submissions(target: Path) -> list[Path]:
    target = Path(target)
    if target.is_file():
        return [target]
    if not target.is_dir():
        raise SystemExit(f"no such file or folder: {target}")
    found = sorted(p for p in target.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not found:
        raise SystemExit(f"no .ipynb submissions under {target}")
    return found


def grade_all(target: Path, jobs: int, timeout: int = 180, log=print, sandboxed: bool = True) -> list[Row]:
    """Grade every submission under ``target``: answers ``jobs`` at a time, then the verdicts, reporting each."""
    paths = find_submissions(target)
    root = Path(target) if Path(target).is_dir() else Path(target).parent
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        subs = list(pool.map(lambda p: answer(p, root, timeout, sandboxed), paths))
    log(f"answers of {len(subs)} submission(s) taken; judging {sum(s.rows is None for s in subs)}", flush=True)
    judge_all(subs, jobs, timeout)
    for done, sub in enumerate(subs, 1):
        got, out_of = sum(r.points for r in sub.rows), sum(r.max_points for r in sub.rows)
        state = "NOT GRADED" if any(r.status != "graded" for r in sub.rows) else f"{got:g}/{out_of:g}"
        log(f"[{done}/{len(subs)}] {sub.path.relative_to(root)}: {state}", flush=True)
    return [row for sub in subs for row in sub.rows]


def write_reports(rows: list[Row], out: Path) -> None:
    """grades.json, grades.csv, and a feedback page per submission under ``feedback/<student>/<lesson>.html``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "grades.json").write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    with open(out / "grades.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(Row.__annotations__))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    shutil.rmtree(out / "feedback", ignore_errors=True)  # only this run's pages
    for (student, lesson), own in group(rows).items():
        page = out / "feedback" / student / f"{lesson}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(feedback_page(student, lesson, own))


def group(rows: list[Row]) -> dict[tuple[str, str], list[Row]]:
    grouped: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        grouped.setdefault((r.student, r.lesson), []).append(r)
    return grouped


def feedback_page(student: str, lesson: str, rows: list[Row]) -> str:
    """A student's feedback: each test's verdict and message (never the hidden tests' code)."""
    got, out_of = sum(r.points for r in rows), sum(r.max_points for r in rows)
    body = "".join(
        f"<tr><td>{html.escape(r.test)}</td><td>{r.points:g}/{r.max_points:g}</td>"
        f"<td>{'not graded' if r.status != 'graded' else 'passed' if r.points == r.max_points else 'failed'}</td>"
        f"<td>{html.escape(r.message) or 'your answer converged'}</td></tr>" for r in rows)
    return (f"<!doctype html><meta charset='utf-8'><title>{html.escape(lesson)}: {html.escape(student)}</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{border-bottom:1px solid #ccc;"
            "padding:.4em;text-align:left;vertical-align:top}</style>"
            f"<h1>{html.escape(lesson)}</h1><p>{html.escape(student)}: {got:g} of {out_of:g} points.</p>"
            "<table><tr><th>test</th><th>points</th><th>verdict</th><th>message</th></tr>"
            f"{body}</table><p>Each test rebuilds your answer from its Keras config in a fresh process, trains it "
            "from the cached features and checks that it converges; the visible check in your notebook is the "
            "first test, the hidden one repeats it at another seed.</p>")


def format_table(rows: list[Row]) -> str:
    header = ("student", "lesson", "test", "points", "status", "message")
    body = [(r.student, r.lesson, r.test, f"{r.points:g}/{r.max_points:g}", r.status, r.message[:70]) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(line, widths)) for line in [header, *body])


def scores(rows: list[Row]) -> dict[tuple[str, str], float]:
    """(student, lesson) -> share of the points earned, 0 to 1."""
    return {key: (sum(r.points for r in own) / total if (total := sum(r.max_points for r in own)) else 0.0)
            for key, own in group(rows).items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tlclinic-grade", description=__doc__.split("\n")[0],
                                     epilog="exit codes: 0 all graded, 1 a submission below --min-score, "
                                            "2 usage error, 3 a submission not graded (the machine failed)")
    parser.add_argument("submissions", type=Path, help="a submitted .ipynb, or a folder of them")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="submissions graded at once")
    parser.add_argument("--min-score", type=float, default=None,
                        help="exit 1 when a submission earns less than this share of its points (0 to 1)")
    parser.add_argument("--out", type=Path, default=Path("build/grades"),
                        help="where grades.json/.csv and the feedback pages (feedback/) go")
    parser.add_argument("--timeout", type=int, default=180,
                        help="seconds the answer's process, and the verifier, may each run (doubled on a retry)")
    parser.add_argument("--no-sandbox", dest="sandboxed", action="store_false",
                        help="run answers without bubblewrap: only for notebooks you trust")
    args = parser.parse_args(argv)
    if args.sandboxed:
        try:
            sandbox.bwrap_command(Path(tempfile.gettempdir()), [])
        except sandbox.SandboxUnavailable as error:
            parser.error(str(error))
    start = time.perf_counter()
    rows = grade_all(args.submissions, args.jobs, args.timeout, sandboxed=args.sandboxed)
    write_reports(rows, args.out)
    print("\n" + format_table(rows))
    print(f"\ngraded {len(scores(rows))} submission(s) in {time.perf_counter() - start:.1f} s; "
          f"wrote {args.out / 'grades.json'}, {args.out / 'grades.csv'} and {args.out / 'feedback'}/")
    not_graded = {(r.student, r.lesson) for r in rows if r.status != "graded"}
    for student, lesson in sorted(not_graded):
        print(f"NOT GRADED (the machine failed, not the student): {student} {lesson}", file=sys.stderr)
    below = {k: v for k, v in scores(rows).items()
             if args.min_score is not None and v < args.min_score and k not in not_graded}
    for (student, lesson), share in below.items():
        print(f"below --min-score {args.min_score}: {student} {lesson} scored {share:.2f}", file=sys.stderr)
    return NOT_GRADED_EXIT if not_graded else 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
