"""What a grading run hands out: grades.json and grades.csv, a feedback page per submission, the table printed,
each submission's share of its points, and the submissions the machine failed to grade named on stderr."""
from __future__ import annotations

import csv
import html
import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

from .submissions import Row


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
