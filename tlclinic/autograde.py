"""Grade submitted lesson notebooks: one command, a table of points, grades.json and .csv, feedback pages.

    tlclinic-grade SUBMISSIONS [--jobs N] [--min-score F] [--out DIR] [--timeout S] [--no-sandbox]
                               [--shard K/N] [--force]
    tlclinic-grade merge DIR [DIR ...] [--out DIR]
    make grade SUBMISSIONS=path/to/file-or-folder [ARGS="--shard 1/4 --out build/grades-1"]

A submission is a ``.ipynb`` file whose name contains a lesson's name (``<lesson>.ipynb``, the lesson's folder name under ``solutions/``);
the student is the folder it sits in (above the lesson's folder in nbgrader's ``submitted/<student>/<lesson>/``
layout; directly in the folder given, the file's stem).  The submitted file is
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
import csv
import hashlib
import html
import importlib
import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import keras
import nbformat

from . import __version__, jail, sandbox, verdict
from .console import quiet, silenced_native_stderr
from .lessons import load, names, source_notebook as source_path
from .results import identity as results_identity

NOT_GRADED_EXIT = 3
MANIFEST = "manifest.json"


@dataclass
class Row:
    student: str
    lesson: str
    test: str
    points: float
    max_points: float
    message: str = ""
    status: str = "graded"  # or "not graded": the machine failed, not the student


def source_notebook(lesson: str) -> nbformat.NotebookNode:
    return nbformat.read(source_path(lesson), as_version=4)


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


def lesson_named(path: Path) -> str | None:
    """The lesson a submission's file name names (the longest that fits), or None."""
    found = [name for name in names() if name in path.name]
    return max(found, key=len) if found else None


def identify(path: Path, root: Path) -> tuple[str, str]:
    """(student, lesson) of a submitted notebook: ``<student>/<lesson>.ipynb``, nbgrader's
    ``<student>/<lesson>/<lesson>.ipynb``, or ``<student>-<lesson>.ipynb`` directly in ``root``."""
    lesson = lesson_named(path)
    if lesson is None:
        raise ValueError(f"{path.name}: the file name names no lesson (one of: {', '.join(names())})")
    folder = path.parent.parent if path.parent.name == lesson and path.parent != root else path.parent
    student = path.stem.replace(lesson, "").strip("-_ ") if folder == root else folder.name
    return student or "student", lesson


def student_of(path: Path, root: Path) -> str:
    """The student a submission's rows name: ``identify``'s, or the file's stem for a file naming no lesson."""
    return identify(path, root)[0] if lesson_named(path) else path.stem


class Shard(NamedTuple):
    """Share ``k`` of ``n`` of a course's submissions, by student; ``1/1`` is the whole course."""

    k: int
    n: int

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"

    def holds(self, student: str) -> bool:
        """Whether ``student``'s submissions are in this share: a hash of the name, the same on every machine
        and every run (Python's ``hash`` of a string is not)."""
        return int(hashlib.sha256(student.encode()).hexdigest(), 16) % self.n == self.k - 1


WHOLE = Shard(1, 1)


def parse_shard(text: str) -> Shard:
    """``K/N`` with 1 <= K <= N (``--shard``, and a manifest's ``shard``); ``ArgumentTypeError`` otherwise."""
    k, slash, n = text.partition("/")
    if not (slash and k.isdigit() and n.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not K/N (share K of N, e.g. 1/2)")
    if not 1 <= int(k) <= int(n):
        raise argparse.ArgumentTypeError(f"{text!r}: K must be from 1 to N (e.g. 1/{max(int(n), 2)})")
    return Shard(int(k), int(n))


@dataclass
class Submission:
    """One submitted notebook on its way through the grader: decided early (``rows``) or answered (``crossed``)."""

    path: Path
    student: str = ""
    lesson: str = "?"
    points: dict | None = None  # grade_id -> points, from the source
    crossed: dict | None = None
    rows: list[Row] | None = None
    key: str = ""  # the content hash that decides whether a later run may reuse the rows
    reused: bool = False  # the rows are the last run's, the submission unchanged since
    seconds: dict | None = None  # the answer's process, phase by phase (``sandbox.PHASES``; for make bench)

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
        sub.student = student_of(sub.path, Path(root))
        sub.rows = [Row(sub.student, "?", "(submission)", 0.0, 0.0, str(error))]
        return sub
    sub.points = grade_cells(sub.lesson)
    try:
        submitted = nbformat.read(sub.path, as_version=4)
    except Exception as error:  # any unreadable file is reported the same way
        return sub.zero(f"not a valid notebook: {type(error).__name__}: {str(error).splitlines()[0][:200]}")
    source, name = source_notebook(sub.lesson), load(sub.lesson).ANSWER
    cells = answer_cells(submitted, source, name)
    if not cells:
        return sub.zero(f"no answer cell found: the cell that defines `{name}` is missing")
    # Other submissions are hidden from this one's process (unless the folder holds the workbook itself).
    hidden = [Path(root).resolve()] if not jail.ROOT.is_relative_to(Path(root).resolve()) else []
    for limit in (timeout, 2 * timeout):
        outcome = sandbox.run_answer(sub.lesson, setup_cell(source), cells, limit, hidden, sandboxed)
        if outcome.student_fault:
            break
    else:
        return sub.zero(f"not graded, twice: {outcome.error}", status="not graded")
    if outcome.crossed is None:
        return sub.zero(outcome.error)
    sub.crossed, sub.seconds = outcome.crossed, outcome.seconds
    return sub


def judge_all(subs: list[Submission], jobs: int, timeout: int, sandboxed: bool = True) -> None:
    """The verifier's verdicts on every answered submission, ``jobs`` verifier processes at a time.

    A verdict depends only on the lesson, the crossed answer and the seed (training is deterministic for them),
    so answers that crossed as the same data are judged once: a class whose students hand in the untouched
    release, or the same fix, pays for it once.  The verifiers run jailed, read-only: what their checks read
    from disk (datasets, feature caches) is prepared here first.
    """
    for lesson in sorted({s.lesson for s in subs if s.rows is None} if sandboxed else ()):
        with silenced_native_stderr(), quiet():
            load(lesson).prepare()
    alike: dict[str, list[Submission]] = {}
    for sub in (s for s in subs if s.rows is None):
        tests = {test: verdict.GRADED_SEEDS[test] for test in sub.points}
        key = json.dumps([sub.lesson, sub.crossed, tests], sort_keys=True)
        alike.setdefault(key, []).append(sub)
    groups = list(alike.values())
    chunks = [groups[i::max(1, jobs)] for i in range(max(1, jobs))]

    def judge_chunk(chunk: list[list[Submission]]) -> None:
        requests = [{"lesson": group[0].lesson, "answer": group[0].crossed,
                     "tests": {test: verdict.GRADED_SEEDS[test] for test in group[0].points}} for group in chunk]
        for group, found in zip(chunk, verdict.verify_many(requests, timeout, sandboxed)):
            for sub in group:
                sub.rows = sub.conclude(found)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(judge_chunk, [c for c in chunks if c]))


def grade_submission(path: Path, root: Path, timeout: int = 180, sandboxed: bool = True) -> list[Row]:
    """Grade one submitted notebook; never raises for a bad submission (nor for a failing machine)."""
    sub = answer(path, root, timeout, sandboxed)
    judge_all([sub], 1, timeout, sandboxed)
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


def root_of(target: Path) -> Path:
    """The folder submissions' paths are relative to (and a student's folder sits in)."""
    return Path(target) if Path(target).is_dir() else Path(target).parent


def relative(path: Path, root: Path) -> str:
    """A submission's name in the manifest: its path in the folder graded, the same on every machine."""
    return path.relative_to(root).as_posix()


def grading_identity(timeout: int, sandboxed: bool) -> str:
    """What every submission's grade depends on besides its notebook and its lesson's source: the grader's code
    and the lessons' (hashed, as kept results are), the weights, data, Keras and its backend's versions, and the
    options that can change a verdict (``--timeout``, the sandbox)."""
    backend = keras.backend.backend()
    parts = {"kept results": results_identity(), "tlclinic": __version__,
             backend: importlib.import_module(backend).__version__, "timeout": timeout, "sandboxed": sandboxed}
    return json.dumps(parts, sort_keys=True)


def submission_key(path: Path, identity: str) -> str:
    """The content hash of a submission: its notebook, its lesson's source notebook, and ``identity``."""
    digest = hashlib.sha256(identity.encode())
    if lesson := lesson_named(path):
        digest.update(source_path(lesson).read_bytes())
    digest.update(path.read_bytes())
    return digest.hexdigest()


def reusable(path: Path, key: str, entry: dict | None) -> Submission | None:
    """The last run's rows for a submission, when it had the same content hash and every row was graded
    (a machine that failed last time gets another try)."""
    if entry is None or entry["hash"] != key or any(r["status"] != "graded" for r in entry["rows"]):
        return None
    return Submission(path, entry["student"], entry["lesson"], rows=[Row(**r) for r in entry["rows"]], key=key,
                      reused=True)


def grade_course(target: Path, jobs: int, timeout: int = 180, log=print, sandboxed: bool = True,
                 shard: Shard = WHOLE, previous: dict | None = None) -> list[Submission]:
    """Grade the submissions under ``target`` that ``shard`` holds: answers ``jobs`` at a time, then the
    verdicts, reporting each.  A submission that ``previous`` (the last run's manifest entries) records with the
    same content hash, every row graded, is not graded again: it keeps its rows."""
    root = root_of(target)
    paths = [p for p in find_submissions(target) if shard.holds(student_of(p, root))]
    identity, previous = grading_identity(timeout, sandboxed), previous or {}
    keys = {p: submission_key(p, identity) for p in paths}
    kept = {p: sub for p in paths if (sub := reusable(p, keys[p], previous.get(relative(p, root))))}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        fresh = list(pool.map(lambda p: answer(p, root, timeout, sandboxed), [p for p in paths if p not in kept]))
    log(f"answers of {len(fresh)} submission(s) taken; judging {sum(s.rows is None for s in fresh)}"
        + (f"; {len(kept)} unchanged since the last run, their grades reused" if kept else ""), flush=True)
    judge_all(fresh, jobs, timeout, sandboxed)
    answered = {sub.path: sub for sub in fresh}
    subs = [kept[p] if p in kept else answered[p] for p in paths]
    for done, sub in enumerate(subs, 1):
        sub.key = keys[sub.path]
        got, out_of = sum(r.points for r in sub.rows), sum(r.max_points for r in sub.rows)
        state = "NOT GRADED" if any(r.status != "graded" for r in sub.rows) else f"{got:g}/{out_of:g}"
        log(f"[{done}/{len(subs)}] {relative(sub.path, root)}: {state}{' (unchanged)' if sub.reused else ''}",
            flush=True)
    return subs


def grade_all(target: Path, jobs: int, timeout: int = 180, log=print, sandboxed: bool = True) -> list[Row]:
    """The rows of every submission under ``target``, all graded afresh."""
    return rows_of(grade_course(target, jobs, timeout, log, sandboxed))


def rows_of(subs: list[Submission]) -> list[Row]:
    return [row for sub in subs for row in sub.rows]


def read_manifest(out: Path) -> dict:
    """The manifest an earlier run wrote in ``out`` (empty when there is none)."""
    path = Path(out) / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


def manifest_entries(subs: list[Submission], root: Path) -> dict[str, dict]:
    """Each submission by its path in the folder: its student, lesson, content hash and rows."""
    return {relative(sub.path, root): {"student": sub.student, "lesson": sub.lesson, "hash": sub.key,
                                       "rows": [asdict(r) for r in sub.rows]} for sub in subs}


def write_manifest(out: Path, shard: Shard, entries: dict[str, dict], merged: list[str] | None = None) -> None:
    """``manifest.json``: the shard graded (``merged``: the shards a merge combined) and every submission's entry.

    grades.json stays the plain list of rows its readers expect; what a later run or a merge needs is here.
    """
    manifest = {"shard": str(shard), **({"merged": merged} if merged else {}), "submissions": entries}
    (Path(out) / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")


def write_reports(rows: list[Row], out: Path) -> None:
    """grades.json, grades.csv, and a feedback page per submission under ``feedback/<student>/<lesson>.html``."""
    write_grades(rows, out)
    shutil.rmtree(out / "feedback", ignore_errors=True)  # only this run's pages
    for (student, lesson), own in group(rows).items():
        page = out / "feedback" / student / f"{lesson}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(feedback_page(student, lesson, own))


def write_grades(rows: list[Row], out: Path) -> None:
    """grades.json (a list of rows) and grades.csv (a row per test) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "grades.json").write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    with open(out / "grades.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(Row.__annotations__))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)


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
            "and checks that it converges; the visible check in your notebook is the first test, the hidden one "
            "repeats it at another seed.</p>")


def format_table(rows: list[Row]) -> str:
    header = ("student", "lesson", "test", "points", "status", "message")
    body = [(r.student, r.lesson, r.test, f"{r.points:g}/{r.max_points:g}", r.status, r.message[:70]) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(line, widths)) for line in [header, *body])


def scores(rows: list[Row]) -> dict[tuple[str, str], float]:
    """(student, lesson) -> share of the points earned, 0 to 1."""
    return {key: (sum(r.points for r in own) / total if (total := sum(r.max_points for r in own)) else 0.0)
            for key, own in group(rows).items()}


def say_not_graded(rows: list[Row]) -> set[tuple[str, str]]:
    """The (student, lesson) of each submission the machine failed to grade, each named on stderr."""
    not_graded = {(r.student, r.lesson) for r in rows if r.status != "graded"}
    for student, lesson in sorted(not_graded):
        print(f"NOT GRADED (the machine failed, not the student): {student} {lesson}", file=sys.stderr)
    return not_graded


class MergeRefused(ValueError):
    """Shard outputs that do not add up to one course: missing, given twice, of different N, or overlapping."""


@dataclass
class ShardOutput:
    """One shard's ``--out`` folder, as its manifest describes it."""

    folder: Path
    shard: Shard
    submissions: dict[str, dict]


def read_shard(folder: Path) -> ShardOutput:
    """A shard's output folder: which shard it is and its submissions, from its manifest."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise MergeRefused(f"{folder} has no {MANIFEST}: it is not the --out folder of a tlclinic-grade run")
    manifest = json.loads(path.read_text())
    try:
        shard = parse_shard(manifest["shard"])
    except argparse.ArgumentTypeError as error:
        raise MergeRefused(f"{path}: shard {error}") from error
    return ShardOutput(Path(folder), shard, manifest["submissions"])


def check_shards(outputs: list[ShardOutput]) -> None:
    """Refuse shards of different N, a shard given twice, or a shard of the N missing."""
    if len({o.shard.n for o in outputs}) > 1:
        raise MergeRefused("shards of different N: " + ", ".join(f"{o.folder} is {o.shard}" for o in outputs))
    seen: dict[Shard, Path] = {}
    for o in outputs:
        if o.shard in seen:
            raise MergeRefused(f"shard {o.shard} given twice: {seen[o.shard]} and {o.folder}")
        seen[o.shard] = o.folder
    n = outputs[0].shard.n
    if missing := [str(Shard(k, n)) for k in range(1, n + 1) if Shard(k, n) not in seen]:
        raise MergeRefused(f"shard(s) {', '.join(missing)} missing: given only "
                           + ", ".join(f"{o.shard} ({o.folder})" for o in outputs))


def combine(outputs: list[ShardOutput]) -> dict[str, dict]:
    """Every shard's submissions as one manifest's, in the order one run over the whole folder gives; refuses a
    student's lesson graded in two shards (shards of different folders, or of a folder that changed)."""
    combined: dict[str, dict] = {}
    graded_in: dict[tuple[str, str], ShardOutput] = {}
    for o in outputs:
        for name, entry in o.submissions.items():
            first = graded_in.setdefault((entry["student"], entry["lesson"]), o)
            if first is not o:
                raise MergeRefused(f"{entry['student']} {entry['lesson']} is graded in two shards: "
                                   f"{first.shard} ({first.folder}) and {o.shard} ({o.folder})")
            combined[name] = entry
    return dict(sorted(combined.items(), key=lambda item: PurePosixPath(item[0])))


def merge(folders: list[Path], out: Path) -> list[Row]:
    """One course's grades in ``out`` from its shards' outputs: grades.json, grades.csv, the feedback pages
    (copied) and a manifest of the whole course (shard ``1/1``: a run over the whole folder into ``out`` reuses
    the rows of what did not change).  Its rows."""
    if any(Path(f).resolve() == Path(out).resolve() for f in folders):
        raise MergeRefused(f"--out {out} is one of the folders merged: give another")
    outputs = [read_shard(f) for f in folders]
    check_shards(outputs)
    entries = combine(outputs)
    rows = [Row(**r) for entry in entries.values() for r in entry["rows"]]
    write_grades(rows, out)
    shutil.rmtree(out / "feedback", ignore_errors=True)  # only the merged shards' pages
    for o in outputs:
        if (o.folder / "feedback").is_dir():
            shutil.copytree(o.folder / "feedback", out / "feedback", dirs_exist_ok=True)
    write_manifest(out, WHOLE, entries, merged=[str(shard) for shard in sorted(o.shard for o in outputs)])
    return rows


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
