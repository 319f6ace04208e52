"""Grade submitted lesson notebooks with nbgrader: one command, a table of points, grades.json and .csv.

    tlclinic-grade SUBMISSIONS [--jobs N] [--min-score F] [--out DIR] [--timeout S]
    make grade SUBMISSIONS=path/to/file-or-folder

A submission is a ``.ipynb`` file whose name contains a lesson's name (``01-softmax-one-unit.ipynb``);
the student is the folder it sits in (or, directly in the folder given, the file's stem).  Each submission is
graded in its own temporary nbgrader course (the student's file is copied, never changed): the lesson's source
is released there, the submission autograded, and the points of every graded cell read from the gradebook.
A submission that is not notebook JSON, kills its kernel, runs past the time limit or exhausts its memory gets
rows that say so, with 0 points, and the others are graded all the same.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from .notebooks import ROOT, SOLUTIONS

CONFIG = ROOT / "autograde" / "nbgrader_config.py"
MEMORY_LIMIT_BYTES = 6 * 2**30  # per submission (kernel included)


@dataclass
class Row:
    student: str
    lesson: str
    test: str
    points: float
    max_points: float
    message: str = ""


def lessons() -> list[str]:
    return sorted(p.name for p in SOLUTIONS.iterdir() if (p / f"{p.name}.ipynb").exists())


def grade_cells(lesson: str) -> dict[str, float]:
    """The graded cells of a lesson's source: grade_id -> points."""
    nb = nbformat.read(SOLUTIONS / lesson / f"{lesson}.ipynb", as_version=4)
    meta = (c.metadata.get("nbgrader", {}) for c in nb.cells)
    return {m["grade_id"]: float(m.get("points", 0)) for m in meta if m.get("grade")}


def identify(path: Path, root: Path) -> tuple[str, str]:
    """(student, lesson) of a submitted notebook."""
    found = [name for name in lessons() if name in path.name]
    if not found:
        raise ValueError(f"{path.name}: the file name names no lesson (one of: {', '.join(lessons())})")
    lesson = max(found, key=len)
    student = path.stem.replace(lesson, "").strip("-_ ") if path.parent == root else path.parent.name
    return student or "student", lesson


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))


def _nbgrader(course: Path, *args: str, timeout: float) -> subprocess.CompletedProcess:
    # nbgrader runs the `alembic` command of its own environment: put that environment's bin first on PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "TF_CPP_MIN_LOG_LEVEL": "2", "TQDM_DISABLE": "1"}
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=timeout, preexec_fn=_limit_memory)


def _failure_reason(log: str) -> str:
    for needle, reason in (("DeadKernelError", "the kernel died (crashed, killed, or out of memory)"),
                           ("MemoryError", "the notebook ran out of memory"),
                           ("CellTimeoutError", "a cell ran past the time limit")):
        if needle in log:
            return reason
    lines = [line for line in log.splitlines() if line.strip()]
    return "nbgrader could not grade it: " + (lines[-1][:200] if lines else "no output")


def _cell_messages(nb: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> why a graded cell failed (empty when it passed), naming an earlier cell that failed first."""
    messages, earlier = {}, ""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        error = f"{errors[0].ename}: {errors[0].evalue}".strip()[:300] if errors else ""
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            messages[meta["grade_id"]] = f"{error} (after: {earlier})" if error and earlier else error
        elif error and not earlier:
            timed_out = "Timeout" in error or "KeyboardInterrupt" in error  # nbgrader interrupts a cell at its limit
            reason = "ran past the time limit" if timed_out else f"raised {error}"
            earlier = f"cell {index} {reason}"
    return messages


def grade_submission(path: Path, root: Path, cell_timeout: int = 180, keep: Path | None = None) -> list[Row]:
    """Autograde one submitted notebook in a temporary course; never raises for a bad submission.

    With ``keep``, the autograded notebook (every cell's outputs, hidden tests included) is copied to
    ``keep/<student>/<lesson>.ipynb``.
    """
    path, root = Path(path), Path(root)
    try:
        student, lesson = identify(path, root)
    except ValueError as error:
        return [Row(path.stem, "?", "(submission)", 0.0, 0.0, str(error))]
    cells = grade_cells(lesson)
    zero = lambda message: [Row(student, lesson, t, 0.0, m, message) for t, m in cells.items()]  # noqa: E731
    try:
        nbformat.validate(nbformat.read(path, as_version=4))
    except Exception as error:  # any unreadable file is reported the same way
        return zero(f"not a valid notebook: {type(error).__name__}: {str(error).splitlines()[0][:200]}")

    with tempfile.TemporaryDirectory(prefix="tlclinic-grade-") as tmp:
        course = Path(tmp)
        shutil.copytree(SOLUTIONS / lesson, course / "source" / lesson)
        submitted = course / "submitted" / student / lesson
        submitted.mkdir(parents=True)
        shutil.copy(path, submitted / f"{lesson}.ipynb")
        (course / "nbgrader_config.py").write_text(
            f"c = get_config()\nload_subconfig({str(CONFIG)!r})\n"
            f"c.CourseDirectory.root = {str(course)!r}\n"
            "c.CourseDirectory.source_directory = 'source'\nc.CourseDirectory.release_directory = 'release'\n"
            f"c.CourseDirectory.db_url = 'sqlite:///{course}/gradebook.db'\n"
            f"c.Execute.timeout = {int(cell_timeout)}\n")
        overall = cell_timeout * (len(nbformat.read(path, as_version=4).cells) + 2)
        try:
            made = _nbgrader(course, "generate_assignment", lesson, "--force", timeout=300)
            if made.returncode:
                return zero("could not release the lesson: " + _failure_reason(made.stderr + made.stdout))
            graded = _nbgrader(course, "autograde", lesson, f"--student={student}", "--create", "--force",
                               timeout=overall)
        except subprocess.TimeoutExpired:
            return zero(f"grading ran past {overall} s and was stopped")
        log = graded.stderr + graded.stdout
        autograded = course / "autograded" / student / lesson / f"{lesson}.ipynb"
        if graded.returncode or not autograded.exists():
            return zero(_failure_reason(log))
        messages = _cell_messages(nbformat.read(autograded, as_version=4))
        if keep is not None:
            (keep / student).mkdir(parents=True, exist_ok=True)
            shutil.copy(autograded, keep / student / f"{lesson}.ipynb")
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
            rows = []
            for test, max_points in cells.items():
                grade = gb.find_grade(test, lesson, lesson, student)
                rows.append(Row(student, lesson, test, float(grade.score), max_points, messages.get(test, "")))
        return rows


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


def grade_all(target: Path, jobs: int, cell_timeout: int = 180, log=print, keep: Path | None = None) -> list[Row]:
    """Grade every submission under ``target``, ``jobs`` at a time, reporting each as it finishes."""
    paths = find_submissions(target)
    root = Path(target) if Path(target).is_dir() else Path(target).parent
    results: dict[Path, list[Row]] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(grade_submission, p, root, cell_timeout, keep): p for p in paths}
        for done, future in enumerate(as_completed(futures), 1):
            path = futures[future]
            rows = results[path] = future.result()
            got, out_of = sum(r.points for r in rows), sum(r.max_points for r in rows)
            log(f"[{done}/{len(paths)}] {path.relative_to(root)}: {got:g}/{out_of:g}", flush=True)
    return [row for p in paths for row in results[p]]


def write_reports(rows: list[Row], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "grades.json").write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    with open(out / "grades.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(rows[0])) if rows else list(Row.__annotations__))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)


def format_table(rows: list[Row]) -> str:
    header = ("student", "lesson", "test", "points", "message")
    body = [(r.student, r.lesson, r.test, f"{r.points:g}/{r.max_points:g}", r.message[:70]) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(line, widths)) for line in [header, *body])


def scores(rows: list[Row]) -> dict[tuple[str, str], float]:
    """(student, lesson) -> share of the points earned, 0 to 1."""
    totals: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        t = totals.setdefault((r.student, r.lesson), [0.0, 0.0])
        t[0] += r.points
        t[1] += r.max_points
    return {key: (got / out_of if out_of else 0.0) for key, (got, out_of) in totals.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tlclinic-grade", description=__doc__.split("\n")[0])
    parser.add_argument("submissions", type=Path, help="a submitted .ipynb, or a folder of them")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="submissions graded at once")
    parser.add_argument("--min-score", type=float, default=None,
                        help="exit 1 when a submission earns less than this share of its points (0 to 1)")
    parser.add_argument("--out", type=Path, default=Path("build/grades"),
                        help="where grades.json/.csv and the autograded notebooks (autograded/) go")
    parser.add_argument("--timeout", type=int, default=180, help="seconds a cell may run")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    shutil.rmtree(args.out / "autograded", ignore_errors=True)  # only this run's notebooks
    rows = grade_all(args.submissions, args.jobs, args.timeout, keep=args.out / "autograded")
    write_reports(rows, args.out)
    print("\n" + format_table(rows))
    print(f"\ngraded {len(scores(rows))} submission(s) in {time.perf_counter() - start:.1f} s; "
          f"wrote {args.out / 'grades.json'}, {args.out / 'grades.csv'} and {args.out / 'autograded'}/")
    below = {k: v for k, v in scores(rows).items() if args.min_score is not None and v < args.min_score}
    for (student, lesson), share in below.items():
        print(f"below --min-score {args.min_score}: {student} {lesson} scored {share:.2f}", file=sys.stderr)
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
